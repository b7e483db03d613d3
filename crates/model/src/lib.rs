//! The Hotline domain model, shared by storage, API and (later) channels and routing.
//!
//! - [`enums`]: closed vocabularies (roles, channels, interaction states...) with stable wire names.
//! - [`records`]: the entities as the rest of the system sees them (tenant, agent, customer, ...).
//! - [`phone`] / [`email`]: normalisation of customer identifiers (E.164, lower-cased e-mail).
//! - [`redact`]: masking of personal data (phone numbers, e-mail addresses) in free text, for logs.
//! - [`validate`]: field checks shared by every entry point.
//!
//! Architecture invariant: this crate does no IO and knows nothing about SQL, HTTP or tokio.

pub mod call;
pub mod email;
pub mod enums;
pub mod phone;
pub mod records;
pub mod redact;
pub mod validate;

pub use call::CallControl;
pub use enums::{Channel, Direction, IdentifierKind, InteractionState, MonitorMode, Role};
pub use records::*;

/// Why a value offered to the domain was refused. `field` names the input, `message` says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
