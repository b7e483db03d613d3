//! Handles. The engine addresses everything by the ids the store gave it (an interaction id is a
//! contact id), never by reference.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id!(
    /// An agent (the store's agent id).
    AgentId
);
id!(
    /// A queue (the store's queue id).
    QueueId
);
id!(
    /// A contact waiting for or served by an agent: the interaction's id.
    ContactId
);
id!(
    /// A client company. Callback de-duplication never crosses tenants.
    TenantId
);
