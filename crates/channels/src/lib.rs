//! Hotline's written channels.
//!
//! - [`email`]: mailboxes read over IMAP (IDLE) and answered over SMTP. `email::inbound`
//!   (bytes → a parsed, sanitised mail: threading ids, ticket, machine-sent or not, the mail a
//!   bounce reports on), `email::policy` (RFC 3834: when an acknowledgement may go, a limit
//!   per sender) and `email::outbound` (a reply with its threading headers) do no IO;
//!   `email::imap`, `email::smtp` and `email::service` are the async shell.

#[cfg(feature = "service")]
pub mod chat;
#[cfg(feature = "service")]
mod desk;
pub mod email;
#[cfg(feature = "service")]
pub use desk::Notice;
