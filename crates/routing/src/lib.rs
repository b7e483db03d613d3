//! The routing engine (ACD): who serves whom, and when.
//!
//! Pure and deterministic: no sockets, no clock, no randomness. The shell feeds inputs with the
//! current wall time (`handle_*`), then drains [`Engine::poll_command`] (what the channel layer
//! must do: ring an agent, withdraw an offer, send a contact elsewhere) and [`Engine::poll_event`]
//! (every decision, for the interaction timeline), and sleeps until [`Engine::poll_timeout`].
//!
//! - [`time`]: `Time`, milliseconds of wall time, the only clock the engine knows.
//! - [`config`]: queues, agents, capacity rules, widening steps, strategies; validated.
//! - [`engine`]: the state machine; `order` (the global order of waiting contacts),
//!   `select` (agent selection strategies), `timers` (one deadline heap) are its parts.
//! - [`estimate`]: estimated wait with its range and the parts it came from.
//! - [`erlang`]: Erlang C, for the cross-check and for staffing reports.
//! - [`snapshot`]: the read-only live figures for wallboards.
//! - [`event`]: decisions as serialisable events; [`restore`] folds stored events back into the
//!   state a restarted engine needs.

pub mod config;
pub mod engine;
pub mod erlang;
pub mod error;
pub mod estimate;
pub mod event;
pub mod ids;
mod order;
pub mod restore;
mod select;
mod skills;
pub mod snapshot;
pub mod time;
mod timers;

pub use config::{
    AgentConfig, Capacity, CapacityRules, EngineConfig, Overflow, QueueConfig, Requirement,
    Strategy, WideningStep,
};
pub use engine::{AgentState, Command, ContactSpec, ContactState, Engine, Observation};
pub use error::RoutingError;
pub use estimate::Estimate;
pub use event::Event;
pub use hotline_model::Channel;
pub use ids::{AgentId, ContactId, QueueId, TenantId};
pub use time::Time;
