//! What the engine is told about the centre: queues, agents, capacity. Validated on the way in, so
//! the engine never meets a rule it cannot follow (a widening that narrows, an overflow cycle).

use crate::error::RoutingError;
use crate::ids::{AgentId, QueueId, TenantId};
use hotline_model::Channel;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Number of channel kinds; capacities and rules are indexed by [`channel_index`].
pub const CHANNELS: usize = 4;

pub(crate) fn channel_index(c: Channel) -> usize {
    match c {
        Channel::Voice => 0,
        Channel::Chat => 1,
        Channel::Email => 2,
        Channel::Form => 3,
    }
}

/// A skill a contact needs: `skill` with at least `min_proficiency` (1–5).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Requirement {
    pub skill: String,
    pub min_proficiency: u8,
}

impl Requirement {
    pub fn new(skill: impl Into<String>, min_proficiency: u8) -> Requirement {
        Requirement {
            skill: skill.into(),
            min_proficiency,
        }
    }
}

/// One ring of the bullseye: from `after` (measured from the moment the contact entered the
/// queue) no requirement asks for more than `max_proficiency`, and the skills in `drop` are not
/// asked for at all. Steps only ever widen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WideningStep {
    pub after: Duration,
    pub max_proficiency: u8,
    #[serde(default)]
    pub drop: Vec<String>,
}

/// Where a contact goes when it has waited `max_wait` in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "queue")]
pub enum Overflow {
    /// Into another queue, keeping its arrival time (and so its place in the global order).
    Queue(QueueId),
    /// Out of routing: the shell decides (voicemail, a message, the flow's next node).
    Exit,
}

/// How a queue picks among several agents free to take a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle the longest (since their last contact on any channel ended).
    LongestIdle,
    /// The highest total proficiency in the skills the contact needs; ties by longest idle.
    MostProficient,
    /// The fewest contacts in hand (across channels); ties by longest idle.
    LeastOccupied,
    /// The next member after the one last chosen, in the queue's member order.
    RoundRobin,
}

/// Per-queue settings. Priority is in points; aging adds `aging_per_minute` points for every
/// minute a contact has waited since it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueConfig {
    pub id: QueueId,
    pub tenant: TenantId,
    pub channels: Vec<Channel>,
    pub base_priority: i32,
    pub aging_per_minute: i32,
    pub service_level_threshold: Duration,
    /// Abandons within this time are "short" and left out of the service level.
    pub short_abandon: Duration,
    pub requirements: Vec<Requirement>,
    pub widening: Vec<WideningStep>,
    pub max_wait: Option<Duration>,
    pub overflow: Overflow,
    pub strategy: Strategy,
    /// How long a contact with a preferred agent waits for that agent alone.
    pub preferred_timeout: Duration,
    pub offer_timeout: Duration,
    pub wrap_up: Duration,
    /// Handle time assumed for estimates until agents have been measured.
    pub default_handle_time: Duration,
    pub callback_max_attempts: u32,
    pub callback_retry_interval: Duration,
}

impl QueueConfig {
    /// A queue with the usual defaults: voice, 20 s service level, FIFO by arrival, longest idle.
    pub fn new(id: QueueId, tenant: TenantId) -> QueueConfig {
        QueueConfig {
            id,
            tenant,
            channels: vec![Channel::Voice],
            base_priority: 0,
            aging_per_minute: 0,
            service_level_threshold: Duration::from_secs(20),
            short_abandon: Duration::from_secs(5),
            requirements: Vec::new(),
            widening: Vec::new(),
            max_wait: None,
            overflow: Overflow::Exit,
            strategy: Strategy::LongestIdle,
            preferred_timeout: Duration::from_secs(20),
            offer_timeout: Duration::from_secs(20),
            wrap_up: Duration::from_secs(10),
            default_handle_time: Duration::from_secs(180),
            callback_max_attempts: 3,
            callback_retry_interval: Duration::from_secs(300),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), RoutingError> {
        let bad = |m: String| {
            Err(RoutingError::InvalidConfig(format!(
                "queue {}: {m}",
                self.id
            )))
        };
        if self.channels.is_empty() {
            return bad("accepts no channel".into());
        }
        if !(-1_000_000..=1_000_000).contains(&self.base_priority) {
            return bad("base priority must be within ±1,000,000".into());
        }
        if !(0..=10_000).contains(&self.aging_per_minute) {
            return bad("aging must be 0–10,000 points per minute".into());
        }
        for r in &self.requirements {
            check_requirement(r).or_else(&bad)?;
        }
        let mut last_after = Duration::ZERO;
        let mut last_cap = 5u8;
        for (i, s) in self.widening.iter().enumerate() {
            if i > 0 && s.after <= last_after {
                return bad("widening steps must come at increasing times".into());
            }
            if !(1..=5).contains(&s.max_proficiency) || s.max_proficiency > last_cap {
                return bad("widening steps may only lower the proficiency asked (5 → 1)".into());
            }
            if i > 0 {
                let prev = &self.widening[i - 1];
                if prev.drop.iter().any(|d| !s.drop.contains(d)) {
                    return bad("a skill dropped by one widening step stays dropped".into());
                }
            }
            last_after = s.after;
            last_cap = s.max_proficiency;
        }
        if self.offer_timeout.is_zero() {
            return bad("offer timeout must be positive".into());
        }
        if self.max_wait.is_some_and(|w| w.is_zero()) {
            return bad("maximum wait must be positive".into());
        }
        if self.callback_max_attempts == 0 {
            return bad("callbacks need at least one attempt".into());
        }
        Ok(())
    }
}

pub(crate) fn check_requirement(r: &Requirement) -> Result<(), String> {
    if r.skill.trim().is_empty() {
        return Err("a requirement needs a skill name".into());
    }
    if !(1..=5).contains(&r.min_proficiency) {
        return Err(format!("proficiency for {:?} must be 1–5", r.skill));
    }
    Ok(())
}

/// How many contacts of each channel an agent may hold at once (offers, contacts in progress and
/// wrap-ups all count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub voice: u8,
    pub chat: u8,
    pub email: u8,
    pub form: u8,
}

impl Capacity {
    pub(crate) fn get(&self, c: Channel) -> u8 {
        match c {
            Channel::Voice => self.voice,
            Channel::Chat => self.chat,
            Channel::Email => self.email,
            Channel::Form => self.form,
        }
    }
}

impl Default for Capacity {
    fn default() -> Capacity {
        Capacity {
            voice: 1,
            chat: 3,
            email: 5,
            form: 5,
        }
    }
}

/// Capacity for everyone, and what may be offered while an agent holds what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityRules {
    pub default: Capacity,
    /// `(holding, offered)` pairs that are refused: while an agent holds a contact of the first
    /// channel, contacts of the second are not offered.
    pub blocked: Vec<(Channel, Channel)>,
}

impl Default for CapacityRules {
    /// A call is exclusive: nothing is offered during a call and no call during other work.
    /// Chats, e-mails and forms mix within their own limits.
    fn default() -> CapacityRules {
        let mut blocked = Vec::new();
        for other in [Channel::Chat, Channel::Email, Channel::Form] {
            blocked.push((Channel::Voice, other));
            blocked.push((other, Channel::Voice));
        }
        CapacityRules {
            default: Capacity::default(),
            blocked,
        }
    }
}

impl CapacityRules {
    pub(crate) fn matrix(&self) -> [[bool; CHANNELS]; CHANNELS] {
        let mut m = [[true; CHANNELS]; CHANNELS];
        for (holding, offered) in &self.blocked {
            m[channel_index(*holding)][channel_index(*offered)] = false;
        }
        m
    }
}

/// An agent as routing sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    pub id: AgentId,
    pub tenant: TenantId,
    /// Skill name → proficiency 1–5.
    pub skills: Vec<(String, u8)>,
    /// The queues this agent serves, in no particular order.
    pub queues: Vec<QueueId>,
    /// Overrides the centre-wide capacity.
    pub capacity: Option<Capacity>,
}

impl AgentConfig {
    pub fn new(id: AgentId, tenant: TenantId) -> AgentConfig {
        AgentConfig {
            id,
            tenant,
            skills: Vec::new(),
            queues: Vec::new(),
            capacity: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), RoutingError> {
        for (name, p) in &self.skills {
            check_requirement(&Requirement::new(name.clone(), *p))
                .map_err(|m| RoutingError::InvalidConfig(format!("agent {}: {m}", self.id)))?;
        }
        Ok(())
    }
}

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    pub capacity: CapacityRules,
    /// Not-ready reason given to an agent who let an offer time out.
    pub missed_reason: String,
    /// Weight of the newest handle time in each agent's moving average (0–1).
    pub handle_time_smoothing: f64,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            capacity: CapacityRules::default(),
            missed_reason: "missed".into(),
            handle_time_smoothing: 0.1,
        }
    }
}
