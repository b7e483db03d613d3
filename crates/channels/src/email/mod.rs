//! E-mail: see the crate's note.

pub mod imap;
pub mod inbound;
pub mod outbound;
pub mod policy;
pub mod service;
pub mod smtp;

pub use service::{EmailService, Outgoing, SendError};
