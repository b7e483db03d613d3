//! Hotline's SIP stack, sans-IO: bytes and time go in, bytes and deadlines come out. No sockets,
//! no clock, no async runtime (the telephony shell drives it).
//!
//! - [`parse`]: framing of datagrams and streams into [`Message`]s; never panics.
//! - [`message`]: the message, its header lines (printed byte-exact while unchanged), builders.
//! - [`name`]: header names (compact forms) and methods.
//! - [`headers`]: typed header values decoded on demand (Via, name-addr, CSeq, auth, ...).
//! - [`uri`], [`params`]: SIP and other URIs, parameters.
//! - [`check`]: the UAS request checks of RFC 3261 §8.2 (the RFC 4475 answers).
//! - [`digest`]: digest authentication, server (nonces, stale, replay) and client.
//! - [`registrar`]: bindings of extensions to contacts (RFC 3261 §10.3).
//! - [`registration`]: our own registration with a carrier, kept alive (RFC 3261 §10.2).
//! - [`response`]: responses built from requests.
//! - [`transaction`]: the four transaction machines (RFC 3261 §17, RFC 6026), timers as deadlines.
//! - [`dialog`]: UAC/UAS dialogs: route sets, CSeq rules, glare (491), session timers.
//! - [`b2bua`]: pairs an inbound and an outbound leg and carries signalling between them.
//! - [`refer`]: what a REFER asks for: its target, and the dialog an attended transfer replaces.
//! - [`status`]: reason phrases.

pub mod b2bua;
pub mod check;
pub mod dialog;
pub mod digest;
pub mod headers;
pub mod message;
pub mod name;
pub mod params;
pub mod parse;
pub mod refer;
pub mod registrar;
pub mod registration;
pub mod response;
pub mod status;
mod text;
pub mod transaction;
pub mod uri;

pub use check::{check_request, check_response, Capabilities, Rejection};
pub use headers::{AuthParams, CSeq, Contacts, HeaderError, MediaType, NameAddr, Via};
pub use message::{Defect, Header, Message, StartLine};
pub use name::{HeaderName, Method};
pub use params::Params;
pub use parse::{parse_bytes, parse_datagram, ParseError, StreamItem, StreamParser};
pub use text::{escape, quote, unescape};
pub use uri::{Host, SipUri, Uri};
