//! Live figures for wallboards, built on demand by [`crate::Engine::snapshot`].
//!
//! Definitions (the same in reports):
//! - *answered*: an agent took the contact; a callback counts when the customer is reached, with
//!   its wait measured from the original arrival (the time spent waiting for the call back counts).
//! - *abandoned*: the customer left before an agent took the contact, or a callback could not
//!   reach them after the last attempt. Abandons within the queue's `short_abandon` time are
//!   counted apart as *short* (a mis-dial) and left out of the service level. A callback request
//!   is neither: the contact keeps waiting.
//! - *service level*: answered within the threshold ÷ (answered + abandoned), for today.

use crate::engine::{AgentState, Presence};
use crate::estimate::Estimate;
use crate::ids::{AgentId, QueueId, TenantId};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub at: Time,
    pub day_started: Time,
    pub queues: Vec<QueueFigures>,
    pub agents: Vec<AgentFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueFigures {
    pub queue: QueueId,
    pub tenant: TenantId,
    /// Contacts waiting for an agent now (not counting offers out or parked callbacks).
    pub waiting: usize,
    /// The same by channel (channels with nobody waiting are left out).
    pub waiting_by_channel: Vec<(hotline_model::Channel, usize)>,
    /// Callbacks not yet reached, waiting or between attempts.
    pub callbacks_waiting: usize,
    pub oldest_wait: Option<Duration>,
    pub arrived: u64,
    pub answered: u64,
    pub answered_in_service_level: u64,
    pub abandoned: u64,
    pub abandoned_short: u64,
    pub overflowed: u64,
    pub callbacks_requested: u64,
    pub callbacks_reached: u64,
    pub callbacks_failed: u64,
    pub average_answer_ms: Option<u64>,
    pub average_handle_ms: Option<u64>,
    /// 0–1; empty before the first answer or abandon of the day.
    pub service_level: Option<f64>,
    /// The queue's members by visible state (states with nobody are left out).
    pub agents_by_state: Vec<(AgentState, usize)>,
    /// What a contact arriving now would be told.
    pub estimated_wait: Estimate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentFigures {
    pub agent: AgentId,
    pub tenant: TenantId,
    pub state: AgentState,
    pub presence: Presence,
    pub time_in_state: Duration,
    pub contacts: usize,
}
