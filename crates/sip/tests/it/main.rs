//! hotline-sip integration tests: one binary (see ../../../../ARCHITECTURE.md).

mod message;
mod rfc4475;
