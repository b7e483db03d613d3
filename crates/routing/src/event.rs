//! Every decision the engine takes, as a record the shell stores on the interaction's timeline
//! (contact events) or the agent's log (agent events). [`crate::restore::Journal`] folds them back.

use crate::config::Requirement;
use crate::engine::{AgentState, Presence};
use crate::ids::{AgentId, ContactId, QueueId, TenantId};
use crate::time::Time;
use hotline_model::Channel;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The agent's visible state changed (also when only the presence or reason changed).
    AgentState {
        agent: AgentId,
        tenant: TenantId,
        state: AgentState,
        presence: Presence,
        at: Time,
    },
    /// A contact entered routing.
    Queued {
        contact: ContactId,
        tenant: TenantId,
        queue: QueueId,
        channel: Channel,
        priority: i32,
        requirements: Vec<Requirement>,
        preferred_agent: Option<AgentId>,
        arrived_at: Time,
        /// How long the preferred agent alone may take it, when not the queue's setting.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preferred_for_ms: Option<u64>,
        /// A scheduled callback: parked until then.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<Time>,
        at: Time,
    },
    /// The contact's needs widened (stage 0: the preferred agent's time is over; n: after the
    /// n-th widening step).
    Widened {
        contact: ContactId,
        stage: u8,
        at: Time,
    },
    /// Maximum wait reached: into `to`, or out of routing when `to` is empty.
    Overflowed {
        contact: ContactId,
        from: QueueId,
        to: Option<QueueId>,
        at: Time,
    },
    Offered {
        contact: ContactId,
        agent: AgentId,
        expires_at: Time,
        at: Time,
    },
    Accepted {
        contact: ContactId,
        agent: AgentId,
        waited_ms: u64,
        at: Time,
    },
    Declined {
        contact: ContactId,
        agent: AgentId,
        at: Time,
    },
    /// The offer timed out; the agent went not-ready.
    Missed {
        contact: ContactId,
        agent: AgentId,
        at: Time,
    },
    /// The offer was taken back (caller left, agent logged out, channel said it stopped ringing).
    Withdrawn {
        contact: ContactId,
        agent: AgentId,
        at: Time,
    },
    Abandoned {
        contact: ContactId,
        waited_ms: u64,
        short: bool,
        at: Time,
    },
    Ended {
        contact: ContactId,
        agent: AgentId,
        at: Time,
    },
    /// Wrap-up started or was extended; it ends at `until` unless the agent ends it first.
    WrapUp {
        agent: AgentId,
        contact: ContactId,
        until: Time,
        at: Time,
    },
    WrapUpEnded {
        agent: AgentId,
        contact: ContactId,
        at: Time,
    },
    CallbackRequested {
        contact: ContactId,
        number: String,
        at: Time,
    },
    /// A second request for the same number: `contact` is closed into `into`, which keeps the
    /// better of the two places.
    CallbackMerged {
        contact: ContactId,
        into: ContactId,
        at: Time,
    },
    CallbackReached {
        contact: ContactId,
        agent: AgentId,
        waited_ms: u64,
        at: Time,
    },
    /// An attempt failed; another comes at `retry_at`, or none when it is empty (given up).
    CallbackUnreached {
        contact: ContactId,
        attempt: u32,
        retry_at: Option<Time>,
        at: Time,
    },
    /// Taken out of routing before anyone served it, not by the customer (a scheduled callback
    /// cancelled): it counts neither as answered nor as abandoned.
    Cancelled { contact: ContactId, at: Time },
    /// The channel layer saw something other than what the engine believed; what was corrected.
    Reconciled {
        agent: AgentId,
        contact: Option<ContactId>,
        what: String,
        at: Time,
    },
}

/// Kinds after which a contact is finished with routing (the agent's wrap-up may follow).
pub const FINISHED_KINDS: &[&str] = &[
    "routing.ended",
    "routing.abandoned",
    "routing.callback_merged",
    "routing.overflowed_out",
    "routing.callback_failed",
    "routing.cancelled",
];

impl Event {
    /// The contact (interaction) this event belongs to, if any.
    pub fn contact(&self) -> Option<ContactId> {
        match self {
            Event::AgentState { .. } => None,
            Event::Reconciled { contact, .. } => *contact,
            Event::Queued { contact, .. }
            | Event::Widened { contact, .. }
            | Event::Overflowed { contact, .. }
            | Event::Offered { contact, .. }
            | Event::Accepted { contact, .. }
            | Event::Declined { contact, .. }
            | Event::Missed { contact, .. }
            | Event::Withdrawn { contact, .. }
            | Event::Abandoned { contact, .. }
            | Event::Ended { contact, .. }
            | Event::WrapUp { contact, .. }
            | Event::WrapUpEnded { contact, .. }
            | Event::CallbackRequested { contact, .. }
            | Event::CallbackMerged { contact, .. }
            | Event::CallbackReached { contact, .. }
            | Event::CallbackUnreached { contact, .. }
            | Event::Cancelled { contact, .. } => Some(*contact),
        }
    }

    /// When the decision was taken.
    pub fn at(&self) -> Time {
        match self {
            Event::AgentState { at, .. }
            | Event::Queued { at, .. }
            | Event::Widened { at, .. }
            | Event::Overflowed { at, .. }
            | Event::Offered { at, .. }
            | Event::Accepted { at, .. }
            | Event::Declined { at, .. }
            | Event::Missed { at, .. }
            | Event::Withdrawn { at, .. }
            | Event::Abandoned { at, .. }
            | Event::Ended { at, .. }
            | Event::WrapUp { at, .. }
            | Event::WrapUpEnded { at, .. }
            | Event::CallbackRequested { at, .. }
            | Event::CallbackMerged { at, .. }
            | Event::CallbackReached { at, .. }
            | Event::CallbackUnreached { at, .. }
            | Event::Cancelled { at, .. }
            | Event::Reconciled { at, .. } => *at,
        }
    }

    /// A stable name, e.g. `routing.offered`, for the timeline's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::AgentState { .. } => "routing.agent_state",
            Event::Queued { .. } => "routing.queued",
            Event::Widened { .. } => "routing.widened",
            Event::Overflowed { to: Some(_), .. } => "routing.overflowed",
            Event::Overflowed { to: None, .. } => "routing.overflowed_out",
            Event::Offered { .. } => "routing.offered",
            Event::Accepted { .. } => "routing.accepted",
            Event::Declined { .. } => "routing.declined",
            Event::Missed { .. } => "routing.missed",
            Event::Withdrawn { .. } => "routing.withdrawn",
            Event::Abandoned { .. } => "routing.abandoned",
            Event::Ended { .. } => "routing.ended",
            Event::WrapUp { .. } => "routing.wrap_up",
            Event::WrapUpEnded { .. } => "routing.wrap_up_ended",
            Event::CallbackRequested { .. } => "routing.callback_requested",
            Event::CallbackMerged { .. } => "routing.callback_merged",
            Event::CallbackReached { .. } => "routing.callback_reached",
            Event::CallbackUnreached {
                retry_at: Some(_), ..
            } => "routing.callback_unreached",
            Event::CallbackUnreached { retry_at: None, .. } => "routing.callback_failed",
            Event::Cancelled { .. } => "routing.cancelled",
            Event::Reconciled { .. } => "routing.reconciled",
        }
    }
}
