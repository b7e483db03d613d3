use crate::ids::{AgentId, ContactId, QueueId};

/// Why the engine refused an input. A refused input changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("unknown contact {0}")]
    UnknownContact(ContactId),
    #[error("contact {0} is already known")]
    DuplicateContact(ContactId),
    #[error("queue {queue} does not accept {channel} contacts")]
    ChannelNotAccepted {
        queue: QueueId,
        channel: hotline_model::Channel,
    },
    #[error("contact {contact} is {state}; {what} is not possible now")]
    WrongState {
        contact: ContactId,
        state: &'static str,
        what: &'static str,
    },
    #[error("agent {agent} is {state}; {what} is not possible now")]
    AgentWrongState {
        agent: AgentId,
        state: &'static str,
        what: &'static str,
    },
}
