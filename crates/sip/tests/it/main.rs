//! hotline-sip integration tests: one binary (see ../../../../ARCHITECTURE.md).

mod b2bua;
mod digest;
mod message;
mod registrar;
mod registration;
mod rfc4475;
mod transaction;
