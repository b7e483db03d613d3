//! E-mail: see the crate's note.

#[cfg(feature = "service")]
pub mod imap;
pub mod inbound;
pub mod outbound;
pub mod policy;
#[cfg(feature = "service")]
pub mod service;
#[cfg(feature = "service")]
pub mod smtp;
pub mod smtpd;
#[cfg(feature = "service")]
pub mod tls;

#[cfg(feature = "service")]
pub use service::{EmailService, Outgoing, SendError};
