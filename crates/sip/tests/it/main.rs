//! hotline-sip integration tests: one binary (see ../../../../ARCHITECTURE.md).

mod digest;
mod message;
mod registrar;
mod rfc4475;
mod transaction;
