//! The routing state machine.
//!
//! Invariants, kept after every input (and checked by `tests/it/model.rs` after every step):
//! - an agent holds at most its capacity per channel, and nothing the capacity rules forbid;
//! - a contact is in exactly one place: waiting (in one queue group or one agent's preferred
//!   set), parked (a callback between attempts), offered to one agent, or served by one agent;
//! - no waiting contact could be offered to an agent who is available with room for it (every
//!   change that frees an agent or widens a contact is followed by a match);
//! - every state with a deadline (offer, wrap-up, widening step, maximum wait, callback retry) has
//!   a timer armed; `handle_timeout` leaves nothing past its deadline.

use crate::config::{
    channel_index, AgentConfig, Capacity, EngineConfig, Overflow, QueueConfig, Requirement,
    Strategy, CHANNELS,
};
use crate::error::RoutingError;
use crate::estimate::{self, Estimate};
use crate::event::Event;
use crate::ids::{AgentId, ContactId, IdMap, QueueId, TenantId};
use crate::order::{global_cmp, OrderKey};
use crate::restore::Restore;
use crate::skills::{meets, Levels, ReqSetId, ReqSets, SkillId, SkillTable};
use crate::snapshot::{AgentFigures, QueueFigures, Snapshot};
use crate::time::Time;
use crate::timers::{Owner, Timers};
use hotline_model::Channel;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// What an agent has said about themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum Presence {
    Offline,
    Available,
    NotReady(String),
}

/// What a wallboard shows for an agent: the presence, overridden by the work in hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Offline,
    Available,
    NotReady,
    /// An offer is out and the agent has not answered yet.
    Reserved,
    Busy,
    WrapUp,
}

impl AgentState {
    pub const ALL: [AgentState; 6] = [
        AgentState::Offline,
        AgentState::Available,
        AgentState::NotReady,
        AgentState::Reserved,
        AgentState::Busy,
        AgentState::WrapUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Offline => "offline",
            AgentState::Available => "available",
            AgentState::NotReady => "not_ready",
            AgentState::Reserved => "reserved",
            AgentState::Busy => "busy",
            AgentState::WrapUp => "wrap_up",
        }
    }
}

/// A contact entering routing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactSpec {
    pub id: ContactId,
    pub queue: QueueId,
    pub channel: Channel,
    /// Added to the queue's base priority.
    pub priority: i32,
    /// Needs beyond the queue's own (from the flow or CRM data: language, product, VIP).
    pub requirements: Vec<Requirement>,
    /// Offered to this agent alone for the queue's preferred timeout (last agent, account owner).
    pub preferred_agent: Option<AgentId>,
    /// When the contact reached the centre; defaults to now. Waits and aging count from here.
    pub arrived_at: Option<Time>,
    /// The contact is a callback request from the start (a web form "call me back").
    pub callback_number: Option<String>,
    /// How long `preferred_agent` alone may take it, instead of the queue's preferred timeout
    /// (an agent's own scheduled callback waits longer for them).
    #[serde(default)]
    pub preferred_for: Option<Duration>,
    /// A scheduled callback ("call me tomorrow at ten"): parked until then, and its wait, aging
    /// and preferred agent's time count from then. Only a callback can be scheduled; it is never
    /// merged with another request for the same number.
    #[serde(default)]
    pub not_before: Option<Time>,
}

impl ContactSpec {
    pub fn new(id: ContactId, queue: QueueId, channel: Channel) -> ContactSpec {
        ContactSpec {
            id,
            queue,
            channel,
            priority: 0,
            requirements: Vec::new(),
            preferred_agent: None,
            arrived_at: None,
            callback_number: None,
            preferred_for: None,
            not_before: None,
        }
    }
}

/// Where a contact is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ContactState {
    Waiting {
        queue: QueueId,
    },
    /// A callback between attempts; it keeps its place and comes back at `until`.
    Parked {
        queue: QueueId,
        until: Time,
    },
    Offered {
        agent: AgentId,
        expires_at: Time,
    },
    Serving {
        agent: AgentId,
    },
}

/// What the channel layer really sees for one agent, for reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The agent's phone is registered / the workplace is connected.
    pub reachable: bool,
    /// Contacts ringing at the agent.
    pub ringing: Vec<ContactId>,
    /// Contacts the agent is connected to.
    pub active: Vec<ContactId>,
}

/// What the channel layer must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Ring the agent (for a callback: ring the agent, then dial `callback_number`). Report the
    /// answer with `handle_offer_accepted`, a refusal with `handle_offer_declined`; silence times
    /// out at `expires_at`.
    Offer {
        contact: ContactId,
        agent: AgentId,
        channel: Channel,
        expires_at: Time,
        callback_number: Option<String>,
    },
    /// Stop offering (stop ringing).
    Withdraw { contact: ContactId, agent: AgentId },
    /// The contact waited its maximum in `from` and has no overflow queue: it leaves routing and
    /// the shell sends it on (voicemail, a message, the flow's next node).
    Overflow { contact: ContactId, from: QueueId },
}

/// One piece of work an agent holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum ItemPhase {
    Offered { expires_at: Time },
    Active { since: Time },
    WrapUp { until: Time },
}

/// Read-only view of an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentView {
    pub id: AgentId,
    pub state: AgentState,
    pub presence: Presence,
    pub since: Time,
    pub items: Vec<(ContactId, Channel, ItemPhase)>,
    pub capacity: Capacity,
    /// The earliest deadline of the agent's state (offer expiry or wrap-up end).
    pub deadline: Option<Time>,
}

#[derive(Debug)]
struct Step {
    after: Duration,
    cap: u8,
    drop: Vec<SkillId>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct QueueStats {
    pub(crate) arrived: u64,
    pub(crate) answered: u64,
    pub(crate) answered_in_sl: u64,
    pub(crate) abandoned: u64,
    pub(crate) abandoned_short: u64,
    pub(crate) overflowed: u64,
    pub(crate) callbacks_requested: u64,
    pub(crate) callbacks_reached: u64,
    pub(crate) callbacks_failed: u64,
    pub(crate) wait_answered_ms: u64,
    pub(crate) handled: u64,
    pub(crate) handle_ms: u64,
}

#[derive(Debug)]
struct Queue {
    cfg: QueueConfig,
    aging: i64,
    needs: Levels,
    steps: Vec<Step>,
    members: Vec<usize>,
    groups: IdMap<(usize, ReqSetId, u8), usize>,
    group_list: Vec<usize>,
    rr_next: usize,
    waiting: usize,
    parked: usize,
    stats: QueueStats,
}

/// Contacts of one queue, one channel, one set of needs at one widening stage.
#[derive(Debug)]
struct Group {
    channel: Channel,
    needs: Levels,
    /// Skills asked for, as bits (ids below 64): an agent missing one is skipped at once.
    mask: u64,
    set: BTreeSet<OrderKey>,
}

#[derive(Debug, Clone, Copy)]
struct Item {
    contact: ContactId,
    channel: Channel,
    queue: usize,
    phase: ItemPhase,
    accepted_at: Time,
}

#[derive(Debug)]
struct Agent {
    id: AgentId,
    tenant: TenantId,
    skills: Levels,
    mask: u64,
    queues: Vec<usize>,
    capacity: Capacity,
    presence: Presence,
    state: AgentState,
    since: Time,
    items: Vec<Item>,
    idle_since: Time,
    handle_ewma_ms: [Option<f64>; CHANNELS],
    generation: u32,
    preferred: BTreeSet<OrderKey>,
    removed: bool,
    /// Contacts in hand that routing did not give, per channel (an agent's own outbound
    /// call, a direct call): they take capacity like routed ones.
    direct: [u8; CHANNELS],
}

impl Agent {
    fn figures(&self, now: Time) -> AgentFigures {
        AgentFigures {
            agent: self.id,
            tenant: self.tenant,
            state: self.state,
            presence: self.presence.clone(),
            time_in_state: now.since(self.since),
            contacts: self.items.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Preferred,
    Ring(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Nowhere,
    Group(usize),
    Preferred(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CState {
    Waiting,
    Parked { until: Time },
    Offered { agent: usize, expires_at: Time },
    Serving { agent: usize },
}

#[derive(Debug)]
struct Callback {
    number: String,
    attempts: u32,
}

#[derive(Debug)]
struct Contact {
    tenant: TenantId,
    queue: usize,
    channel: Channel,
    priority: i32,
    own_needs: Vec<Requirement>,
    reqset: ReqSetId,
    preferred: Option<usize>,
    preferred_for: Option<Duration>,
    arrived: Time,
    queued_at: Time,
    seq: u64,
    key: OrderKey,
    stage: Stage,
    place: Place,
    state: CState,
    callback: Option<Callback>,
    generation: u32,
    hops: usize,
}

/// The routing engine. See the crate documentation for how a shell drives it.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    rules: [[bool; CHANNELS]; CHANNELS],
    skills: SkillTable,
    reqsets: ReqSets,
    queues: Vec<Queue>,
    queue_ix: IdMap<QueueId, usize>,
    groups: Vec<Group>,
    agents: Vec<Agent>,
    agent_ix: IdMap<AgentId, usize>,
    contacts: IdMap<ContactId, Contact>,
    /// Agents a contact must not be offered to again (they declined it).
    excluded: IdMap<ContactId, Vec<usize>>,
    callbacks: HashMap<(TenantId, String), ContactId>,
    pending_agents: Vec<usize>,
    pending_contacts: Vec<ContactId>,
    /// Queues agents were told to serve before the queue was configured.
    pending_membership: HashMap<QueueId, Vec<AgentId>>,
    timers: Timers,
    seq: u64,
    commands: VecDeque<Command>,
    events: VecDeque<Event>,
    day_started: Time,
}

fn cidx(c: Channel) -> usize {
    channel_index(c)
}

/// Whole milliseconds, saturating (for figures and events).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a wallboard shows: the work in hand overrides the presence.
fn visible_state(a: &Agent) -> AgentState {
    let has = |f: fn(&ItemPhase) -> bool| a.items.iter().any(|i| f(&i.phase));
    if has(|p| matches!(p, ItemPhase::Offered { .. })) {
        AgentState::Reserved
    } else if has(|p| matches!(p, ItemPhase::Active { .. })) || a.direct.iter().any(|n| *n > 0) {
        AgentState::Busy
    } else if has(|p| matches!(p, ItemPhase::WrapUp { .. })) {
        AgentState::WrapUp
    } else {
        match a.presence {
            Presence::Offline => AgentState::Offline,
            Presence::Available => AgentState::Available,
            Presence::NotReady(_) => AgentState::NotReady,
        }
    }
}

/// How an offer came back from an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TakeBack {
    /// Routing took it back; `tell_channel` when the channel must stop ringing.
    Withdrawn { tell_channel: bool },
    /// Nobody answered in time.
    Missed,
    /// The agent refused it.
    Declined,
}

impl Engine {
    pub fn new(cfg: EngineConfig) -> Result<Engine, RoutingError> {
        if !(0.0..=1.0).contains(&cfg.handle_time_smoothing) || cfg.handle_time_smoothing == 0.0 {
            return Err(RoutingError::InvalidConfig(
                "handle time smoothing must be in (0, 1]".into(),
            ));
        }
        Ok(Engine {
            rules: cfg.capacity.matrix(),
            cfg,
            skills: SkillTable::default(),
            reqsets: ReqSets::default(),
            queues: Vec::new(),
            queue_ix: IdMap::default(),
            groups: Vec::new(),
            agents: Vec::new(),
            agent_ix: IdMap::default(),
            contacts: IdMap::default(),
            excluded: IdMap::default(),
            callbacks: HashMap::new(),
            pending_membership: HashMap::new(),
            pending_agents: Vec::new(),
            pending_contacts: Vec::new(),
            timers: Timers::default(),
            seq: 0,
            commands: VecDeque::new(),
            events: VecDeque::new(),
            day_started: Time::ZERO,
        })
    }

    // ----- configuration -------------------------------------------------------------------

    /// Adds or replaces a queue. Contacts already waiting in it are re-sorted under the new rules
    /// (their arrival times, and so their places among equals, are kept).
    pub fn set_queue(&mut self, now: Time, cfg: QueueConfig) -> Result<(), RoutingError> {
        cfg.validate()?;
        if let Overflow::Queue(target) = cfg.overflow {
            if target == cfg.id {
                return Err(RoutingError::InvalidConfig(format!(
                    "queue {} overflows into itself",
                    cfg.id
                )));
            }
        }
        let needs = self.skills.levels(
            cfg.requirements
                .iter()
                .map(|r| (r.skill.as_str(), r.min_proficiency)),
        );
        let steps = cfg
            .widening
            .iter()
            .map(|s| Step {
                after: s.after,
                cap: s.max_proficiency,
                drop: s.drop.iter().map(|d| self.skills.intern(d)).collect(),
            })
            .collect();
        let aging = i64::from(cfg.aging_per_minute);
        match self.queue_ix.get(&cfg.id).copied() {
            Some(qi) => {
                let q = &mut self.queues[qi];
                if q.cfg.tenant != cfg.tenant {
                    return Err(RoutingError::InvalidConfig(format!(
                        "queue {} cannot move to another tenant",
                        cfg.id
                    )));
                }
                q.cfg = cfg;
                q.aging = aging;
                q.needs = needs;
                q.steps = steps;
                // Groups depend on the needs and steps: start them afresh and re-place everyone.
                q.groups.clear();
                q.group_list.clear();
                let ids: Vec<ContactId> = self
                    .contacts
                    .iter()
                    .filter(|(_, c)| c.queue == qi)
                    .map(|(id, _)| *id)
                    .collect();
                for id in &ids {
                    let was_placed = self.unplace(*id);
                    let c = self.contacts.get_mut(id).expect("listed above");
                    let q = &self.queues[qi];
                    c.reqset = Self::reqset_for(
                        &mut self.skills,
                        &mut self.reqsets,
                        &q.needs,
                        &c.own_needs,
                    );
                    c.key = OrderKey::new(
                        i64::from(q.cfg.base_priority) + i64::from(c.priority),
                        q.aging,
                        c.arrived,
                        c.seq,
                        *id,
                    );
                    if was_placed {
                        self.place(now, *id);
                    }
                    self.arm_contact(*id);
                }
                for id in ids {
                    self.match_contact(id);
                }
            }
            None => {
                let qi = self.queues.len();
                self.queue_ix.insert(cfg.id, qi);
                self.queues.push(Queue {
                    cfg,
                    aging,
                    needs,
                    steps,
                    members: Vec::new(),
                    groups: IdMap::default(),
                    group_list: Vec::new(),
                    rr_next: 0,
                    waiting: 0,
                    parked: 0,
                    stats: QueueStats::default(),
                });
                // Agents configured before their queue existed.
                let qid = self.queues[qi].cfg.id;
                for ai in 0..self.agents.len() {
                    if self.agents[ai].removed {
                        continue;
                    }
                    if self.agent_serves(ai, qid) {
                        self.agents[ai].queues.push(qi);
                        self.queues[qi].members.push(ai);
                    }
                }
                self.pending_membership.remove(&qid);
                for ai in self.queues[qi].members.clone() {
                    self.match_agent(ai);
                }
            }
        }
        self.flush(now);
        Ok(())
    }

    /// Membership of a queue configured after the agent comes from the pending list.
    fn agent_serves(&self, ai: usize, q: QueueId) -> bool {
        let a = &self.agents[ai];
        a.tenant == self.queues[self.queue_ix[&q]].cfg.tenant
            && self
                .pending_membership
                .get(&q)
                .is_some_and(|v| v.contains(&a.id))
    }

    /// Takes an agent out of routing. Refused while they hold work.
    pub fn remove_agent(&mut self, now: Time, agent: AgentId) -> Result<(), RoutingError> {
        let ai = self.agent(agent)?;
        if !self.agents[ai].items.is_empty() {
            return Err(self.wrong_state(ai, "removing the agent"));
        }
        self.set_presence(now, ai, Presence::Offline);
        // Contacts waiting for this agent alone stop waiting for them.
        let preferred: Vec<ContactId> = self.agents[ai]
            .preferred
            .iter()
            .map(|k| k.contact)
            .collect();
        for qi in std::mem::take(&mut self.agents[ai].queues) {
            self.queues[qi].members.retain(|m| *m != ai);
        }
        for list in self.pending_membership.values_mut() {
            list.retain(|a| *a != agent);
        }
        self.agents[ai].removed = true;
        for id in preferred {
            self.unplace(id);
            self.place(now, id);
            self.arm_contact(id);
            self.match_contact(id);
        }
        self.flush(now);
        Ok(())
    }

    /// Adds or replaces an agent (skills, queues, capacity). Their presence and work are kept.
    pub fn set_agent(&mut self, now: Time, cfg: AgentConfig) -> Result<(), RoutingError> {
        cfg.validate()?;
        let skills = self
            .skills
            .levels(cfg.skills.iter().map(|(n, l)| (n.as_str(), *l)));
        let capacity = cfg.capacity.unwrap_or(self.cfg.capacity.default);
        let ai = match self.agent_ix.get(&cfg.id).copied() {
            Some(ai) => {
                if self.agents[ai].tenant != cfg.tenant {
                    return Err(RoutingError::InvalidConfig(format!(
                        "agent {} cannot move to another tenant",
                        cfg.id
                    )));
                }
                let a = &mut self.agents[ai];
                a.mask = crate::skills::mask(&skills);
                a.skills = skills;
                a.capacity = capacity;
                a.removed = false;
                ai
            }
            None => {
                let ai = self.agents.len();
                self.agent_ix.insert(cfg.id, ai);
                self.agents.push(Agent {
                    id: cfg.id,
                    tenant: cfg.tenant,
                    mask: crate::skills::mask(&skills),
                    skills,
                    queues: Vec::new(),
                    capacity,
                    presence: Presence::Offline,
                    state: AgentState::Offline,
                    since: now,
                    items: Vec::new(),
                    idle_since: now,
                    handle_ewma_ms: [None; CHANNELS],
                    generation: 0,
                    preferred: BTreeSet::new(),
                    removed: false,
                    direct: [0; CHANNELS],
                });
                ai
            }
        };
        // Membership: drop the old, add the new; queues not known yet are remembered.
        for qi in std::mem::take(&mut self.agents[ai].queues) {
            self.queues[qi].members.retain(|m| *m != ai);
        }
        for list in self.pending_membership.values_mut() {
            list.retain(|a| *a != cfg.id);
        }
        let mut queues = Vec::new();
        for qid in &cfg.queues {
            match self.queue_ix.get(qid) {
                Some(qi) if self.queues[*qi].cfg.tenant == cfg.tenant => {
                    if !queues.contains(qi) {
                        queues.push(*qi);
                        self.queues[*qi].members.push(ai);
                    }
                }
                Some(_) => {
                    return Err(RoutingError::InvalidConfig(format!(
                        "agent {} cannot serve queue {qid} of another tenant",
                        cfg.id
                    )))
                }
                None => self
                    .pending_membership
                    .entry(*qid)
                    .or_default()
                    .push(cfg.id),
            }
        }
        self.agents[ai].queues = queues;
        self.match_agent(ai);
        self.flush(now);
        Ok(())
    }

    // ----- agents --------------------------------------------------------------------------

    /// The agent logs in, becomes ready, goes not-ready with a reason, or logs out. Offers out
    /// are taken back (the contacts keep their places); work in hand goes on.
    pub fn handle_presence(
        &mut self,
        now: Time,
        agent: AgentId,
        presence: Presence,
    ) -> Result<(), RoutingError> {
        let ai = self.agent(agent)?;
        self.set_presence(now, ai, presence);
        self.flush(now);
        Ok(())
    }

    fn set_presence(&mut self, now: Time, ai: usize, presence: Presence) {
        let a = &mut self.agents[ai];
        let becomes_ready = presence == Presence::Available && a.presence != Presence::Available;
        a.presence = presence.clone();
        if becomes_ready && a.items.is_empty() {
            a.idle_since = now;
        }
        if presence != Presence::Available {
            self.withdraw_offers(now, ai);
        }
        self.refresh_agent(now, ai, true);
        if presence == Presence::Available {
            self.match_agent(ai);
        }
    }

    /// The agent started (`active`) or finished a contact routing did not give them: their
    /// own outbound call, a call put through to them directly. It takes capacity like a
    /// routed one (a call is exclusive: nothing else is offered meanwhile, and offers out on
    /// channels it does not mix with are taken back); when the last one ends, the agent is
    /// idle again and matched.
    pub fn handle_direct(
        &mut self,
        now: Time,
        agent: AgentId,
        channel: Channel,
        active: bool,
    ) -> Result<(), RoutingError> {
        let ai = self.agent(agent)?;
        let ci = cidx(channel);
        if active {
            let a = &mut self.agents[ai];
            a.direct[ci] = a.direct[ci].saturating_add(1);
            let a = &self.agents[ai];
            let in_hand = usize::from(a.direct[ci])
                + a.items
                    .iter()
                    .filter(|i| {
                        i.channel == channel && !matches!(i.phase, ItemPhase::Offered { .. })
                    })
                    .count();
            let over = in_hand >= usize::from(a.capacity.get(channel));
            let clashing: Vec<ContactId> = a
                .items
                .iter()
                .filter(|i| matches!(i.phase, ItemPhase::Offered { .. }))
                .filter(|i| !self.rules[ci][cidx(i.channel)] || (i.channel == channel && over))
                .map(|i| i.contact)
                .collect();
            for cid in clashing {
                self.take_back_offer(now, cid, ai, TakeBack::Withdrawn { tell_channel: true });
            }
        } else {
            let a = &mut self.agents[ai];
            a.direct[ci] = a.direct[ci].saturating_sub(1);
            if a.items.is_empty() && a.direct.iter().all(|n| *n == 0) {
                a.idle_since = now;
            }
            self.match_agent(ai);
        }
        self.refresh_agent(now, ai, false);
        self.flush(now);
        Ok(())
    }

    fn withdraw_offers(&mut self, now: Time, ai: usize) {
        let offered: Vec<ContactId> = self.agents[ai]
            .items
            .iter()
            .filter(|i| matches!(i.phase, ItemPhase::Offered { .. }))
            .map(|i| i.contact)
            .collect();
        for cid in offered {
            self.take_back_offer(now, cid, ai, TakeBack::Withdrawn { tell_channel: true });
        }
    }

    /// The agent is done with wrap-up before its timer.
    pub fn handle_wrap_up_done(
        &mut self,
        now: Time,
        agent: AgentId,
        contact: ContactId,
    ) -> Result<(), RoutingError> {
        let ai = self.agent(agent)?;
        let pos = self
            .item_pos(ai, contact)
            .filter(|p| matches!(self.agents[ai].items[*p].phase, ItemPhase::WrapUp { .. }));
        let Some(pos) = pos else {
            return Err(self.wrong_state(ai, "ending this wrap-up"));
        };
        self.end_wrap_up(now, ai, pos);
        self.refresh_agent(now, ai, false);
        self.arm_agent(ai);
        self.match_agent(ai);
        self.flush(now);
        Ok(())
    }

    /// More time to finish notes; the wallboard sees the new end.
    pub fn handle_wrap_up_extend(
        &mut self,
        now: Time,
        agent: AgentId,
        contact: ContactId,
        extra: Duration,
    ) -> Result<Time, RoutingError> {
        let ai = self.agent(agent)?;
        let found =
            self.item_pos(ai, contact)
                .and_then(|pos| match self.agents[ai].items[pos].phase {
                    ItemPhase::WrapUp { until } => Some((pos, until)),
                    _ => None,
                });
        let Some((pos, until)) = found else {
            return Err(self.wrong_state(ai, "extending this wrap-up"));
        };
        let until = until.max(now).plus(extra);
        self.wrap_up_until(now, ai, pos, contact, until);
        Ok(until)
    }

    /// What the channel layer really sees for an agent; the engine corrects itself to match.
    pub fn handle_observation(
        &mut self,
        now: Time,
        agent: AgentId,
        seen: Observation,
    ) -> Result<(), RoutingError> {
        let ai = self.agent(agent)?;
        if !seen.reachable && self.agents[ai].presence != Presence::Offline {
            self.events.push_back(Event::Reconciled {
                agent,
                contact: None,
                what: "agent unreachable: logged out".into(),
                at: now,
            });
            self.set_presence(now, ai, Presence::Offline);
        }
        let items: Vec<Item> = self.agents[ai].items.clone();
        for it in &items {
            match it.phase {
                ItemPhase::Offered { .. } if seen.active.contains(&it.contact) => {
                    self.events.push_back(Event::Reconciled {
                        agent,
                        contact: Some(it.contact),
                        what: "answered".into(),
                        at: now,
                    });
                    self.accept(now, it.contact, ai);
                }
                ItemPhase::Offered { .. } if !seen.ringing.contains(&it.contact) => {
                    self.events.push_back(Event::Reconciled {
                        agent,
                        contact: Some(it.contact),
                        what: "not ringing: offer taken back".into(),
                        at: now,
                    });
                    let why = TakeBack::Withdrawn {
                        tell_channel: false,
                    };
                    self.take_back_offer(now, it.contact, ai, why);
                }
                ItemPhase::Active { .. } if !seen.active.contains(&it.contact) => {
                    self.events.push_back(Event::Reconciled {
                        agent,
                        contact: Some(it.contact),
                        what: "not connected: ended".into(),
                        at: now,
                    });
                    self.end_contact(now, it.contact);
                }
                _ => {}
            }
        }
        for c in &seen.active {
            if !items.iter().any(|i| i.contact == *c) {
                self.events.push_back(Event::Reconciled {
                    agent,
                    contact: Some(*c),
                    what: "connected to a contact routing did not give: ignored".into(),
                    at: now,
                });
            }
        }
        self.refresh_agent(now, ai, false);
        self.match_agent(ai);
        self.flush(now);
        Ok(())
    }

    // ----- contacts ------------------------------------------------------------------------

    /// A contact enters routing. It is offered at once if an agent can take it.
    pub fn handle_contact(&mut self, now: Time, mut spec: ContactSpec) -> Result<(), RoutingError> {
        if self.contacts.contains_key(&spec.id) {
            return Err(RoutingError::DuplicateContact(spec.id));
        }
        let qi = self.queue(spec.queue)?;
        if !self.queues[qi].cfg.channels.contains(&spec.channel) {
            return Err(RoutingError::ChannelNotAccepted {
                queue: spec.queue,
                channel: spec.channel,
            });
        }
        if spec
            .callback_number
            .as_ref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(RoutingError::InvalidConfig(
                "a callback needs a number".into(),
            ));
        }
        for r in &spec.requirements {
            crate::config::check_requirement(r).map_err(RoutingError::InvalidConfig)?;
        }
        if !(-1_000_000..=1_000_000).contains(&spec.priority) {
            return Err(RoutingError::InvalidConfig(
                "contact priority must be within ±1,000,000".into(),
            ));
        }
        // A time already past is simply now: the callback is due at once.
        let scheduled = spec.not_before.filter(|t| *t > now);
        spec.not_before = scheduled;
        if scheduled.is_some() && spec.callback_number.is_none() {
            return Err(RoutingError::InvalidConfig(
                "only a callback can be scheduled".into(),
            ));
        }
        let arrived = match scheduled {
            Some(at) => at,
            None => spec.arrived_at.unwrap_or(now).min(now),
        };
        spec.arrived_at = Some(arrived);
        let id = spec.id;
        self.events.push_back(Event::Queued {
            contact: id,
            tenant: self.queues[qi].cfg.tenant,
            queue: spec.queue,
            channel: spec.channel,
            priority: spec.priority,
            requirements: spec.requirements.clone(),
            preferred_agent: spec.preferred_agent,
            arrived_at: arrived,
            preferred_for_ms: spec.preferred_for.map(millis),
            not_before: scheduled,
            at: now,
        });
        self.queues[qi].stats.arrived += 1;
        let callback_number = spec.callback_number.take();
        if let (Some(until), Some(number)) = (scheduled, &callback_number) {
            self.insert_contact(now, qi, spec, until, None);
            self.schedule(id, qi, until, number.clone(), 0);
            self.events.push_back(Event::CallbackRequested {
                contact: id,
                number: number.clone(),
                at: now,
            });
            self.queues[qi].stats.callbacks_requested += 1;
            self.flush(now);
            return Ok(());
        }
        self.insert_contact(now, qi, spec, now, None);
        if let Some(number) = callback_number {
            self.request_callback(now, id, number);
        }
        if self.contacts.contains_key(&id) {
            self.match_contact(id);
        }
        self.flush(now);
        Ok(())
    }

    fn insert_contact(
        &mut self,
        now: Time,
        qi: usize,
        spec: ContactSpec,
        queued_at: Time,
        callback: Option<Callback>,
    ) {
        self.seq += 1;
        let q = &self.queues[qi];
        let arrived = spec.arrived_at.unwrap_or(now);
        // A preferred agent of another tenant (or unknown) is no preference.
        let preferred = spec
            .preferred_agent
            .and_then(|a| self.agent_ix.get(&a).copied())
            .filter(|ai| self.agents[*ai].tenant == q.cfg.tenant);
        let reqset = Self::reqset_for(
            &mut self.skills,
            &mut self.reqsets,
            &q.needs,
            &spec.requirements,
        );
        let key = OrderKey::new(
            i64::from(q.cfg.base_priority) + i64::from(spec.priority),
            q.aging,
            arrived,
            self.seq,
            spec.id,
        );
        let contact = Contact {
            tenant: q.cfg.tenant,
            queue: qi,
            channel: spec.channel,
            priority: spec.priority,
            own_needs: spec.requirements,
            reqset,
            preferred,
            preferred_for: spec.preferred_for,
            arrived,
            queued_at,
            seq: self.seq,
            key,
            stage: Stage::Ring(0),
            place: Place::Nowhere,
            state: CState::Waiting,
            callback,
            generation: 0,
            hops: 0,
        };
        self.contacts.insert(spec.id, contact);
        self.place(now, spec.id);
        self.arm_contact(spec.id);
    }

    fn reqset_for(
        skills: &mut SkillTable,
        reqsets: &mut ReqSets,
        queue: &Levels,
        own: &[Requirement],
    ) -> ReqSetId {
        if own.is_empty() {
            return reqsets.intern_ref(queue);
        }
        let own = skills.levels(own.iter().map(|r| (r.skill.as_str(), r.min_proficiency)));
        reqsets.intern(crate::skills::merge(queue, &own))
    }

    /// The caller hung up (or the chat was closed) before an agent took it.
    pub fn handle_abandoned(&mut self, now: Time, contact: ContactId) -> Result<(), RoutingError> {
        let c = self.contact(contact)?;
        match c.state {
            CState::Serving { .. } => return self.handle_contact_ended(now, contact),
            CState::Offered { agent, .. } => {
                let why = TakeBack::Withdrawn { tell_channel: true };
                self.take_back_offer(now, contact, agent, why);
                self.abandon(now, contact);
                self.match_agent(agent);
            }
            CState::Waiting | CState::Parked { .. } => self.abandon(now, contact),
        }
        self.flush(now);
        Ok(())
    }

    fn abandon(&mut self, now: Time, contact: ContactId) {
        self.unplace(contact);
        let c = self.contacts.remove(&contact).expect("caller checked");
        self.forget(contact, &c);
        let q = &mut self.queues[c.queue];
        let waited = now.since(c.arrived);
        let short = c.callback.is_none() && waited < q.cfg.short_abandon;
        if short {
            q.stats.abandoned_short += 1;
        } else {
            q.stats.abandoned += 1;
        }
        let waited_ms = millis(waited);
        self.events.push_back(Event::Abandoned {
            contact,
            waited_ms,
            short,
            at: now,
        });
    }

    fn forget(&mut self, id: ContactId, c: &Contact) {
        self.excluded.remove(&id);
        if let Some(cb) = &c.callback {
            self.unregister_callback(c.tenant, &cb.number, id);
        }
    }

    /// The number no longer has a pending callback (unless a later one took it over).
    fn unregister_callback(&mut self, tenant: TenantId, number: &str, id: ContactId) {
        let key = (tenant, number.to_string());
        if self.callbacks.get(&key) == Some(&id) {
            self.callbacks.remove(&key);
        }
    }

    /// The agent answered the offer.
    pub fn handle_offer_accepted(
        &mut self,
        now: Time,
        contact: ContactId,
    ) -> Result<(), RoutingError> {
        let c = self.contact(contact)?;
        let CState::Offered { agent, .. } = c.state else {
            return Err(self.wrong(contact, "accepting an offer"));
        };
        self.accept(now, contact, agent);
        self.flush(now);
        Ok(())
    }

    fn accept(&mut self, now: Time, contact: ContactId, ai: usize) {
        let c = self.contacts.get_mut(&contact).expect("caller checked");
        c.state = CState::Serving { agent: ai };
        let is_callback = c.callback.is_some();
        let waited = now.since(c.arrived);
        let qi = c.queue;
        self.arm_contact(contact);
        if let Some(pos) = self.item_pos(ai, contact) {
            let it = &mut self.agents[ai].items[pos];
            it.phase = ItemPhase::Active { since: now };
            it.accepted_at = now;
        }
        let agent = self.agents[ai].id;
        let waited_ms = millis(waited);
        if !is_callback {
            self.count_answer(qi, waited);
        }
        self.events.push_back(Event::Accepted {
            contact,
            agent,
            waited_ms,
            at: now,
        });
        self.refresh_agent(now, ai, false);
    }

    fn count_answer(&mut self, qi: usize, waited: Duration) {
        let q = &mut self.queues[qi];
        q.stats.answered += 1;
        q.stats.wait_answered_ms += millis(waited);
        if waited <= q.cfg.service_level_threshold {
            q.stats.answered_in_sl += 1;
        }
    }

    /// The agent refused the offer: the contact keeps its place and is not offered to them again.
    pub fn handle_offer_declined(
        &mut self,
        now: Time,
        contact: ContactId,
    ) -> Result<(), RoutingError> {
        let c = self.contact(contact)?;
        let CState::Offered { agent, .. } = c.state else {
            return Err(self.wrong(contact, "declining an offer"));
        };
        self.excluded.entry(contact).or_default().push(agent);
        self.take_back_offer(now, contact, agent, TakeBack::Declined);
        self.match_agent(agent);
        self.flush(now);
        Ok(())
    }

    /// The conversation is over (hang-up, chat closed, e-mail answered). Wrap-up starts.
    pub fn handle_contact_ended(
        &mut self,
        now: Time,
        contact: ContactId,
    ) -> Result<(), RoutingError> {
        let c = self.contact(contact)?;
        if !matches!(c.state, CState::Serving { .. }) {
            return Err(self.wrong(contact, "ending it"));
        }
        if c.callback.is_some() {
            // A callback that ends before the customer was reached is an unreached attempt.
            return self.handle_callback_unreached(now, contact);
        }
        self.end_contact(now, contact);
        self.flush(now);
        Ok(())
    }

    fn end_contact(&mut self, now: Time, contact: ContactId) {
        let c = self.contacts.remove(&contact).expect("caller checked");
        let CState::Serving { agent: ai } = c.state else {
            unreachable!("end_contact is only called for a contact being served")
        };
        self.forget(contact, &c);
        let agent = self.agents[ai].id;
        self.events.push_back(Event::Ended {
            contact,
            agent,
            at: now,
        });
        if let Some(pos) = self.item_pos(ai, contact) {
            let wrap = self.queues[c.queue].cfg.wrap_up;
            if wrap.is_zero() {
                self.end_wrap_up(now, ai, pos);
            } else {
                self.wrap_up_until(now, ai, pos, contact, now.plus(wrap));
            }
        }
        self.refresh_agent(now, ai, false);
        self.match_agent(ai);
    }

    /// The agent's item `pos` (for `contact`) is in wrap-up until `until`; the wallboard is told.
    fn wrap_up_until(&mut self, now: Time, ai: usize, pos: usize, contact: ContactId, until: Time) {
        self.agents[ai].items[pos].phase = ItemPhase::WrapUp { until };
        self.events.push_back(Event::WrapUp {
            agent: self.agents[ai].id,
            contact,
            until,
            at: now,
        });
        self.arm_agent(ai);
    }

    fn wrong_state(&self, ai: usize, what: &'static str) -> RoutingError {
        RoutingError::AgentWrongState {
            agent: self.agents[ai].id,
            state: self.agents[ai].state.as_str(),
            what,
        }
    }

    fn end_wrap_up(&mut self, now: Time, ai: usize, pos: usize) {
        let it = self.release_item(now, ai, pos);
        let handled = now.since(it.accepted_at);
        let ms = handled.as_millis() as f64;
        let alpha = self.cfg.handle_time_smoothing;
        let a = &mut self.agents[ai];
        let slot = &mut a.handle_ewma_ms[cidx(it.channel)];
        *slot = Some(match *slot {
            Some(prev) => prev + alpha * (ms - prev),
            None => ms,
        });
        let q = &mut self.queues[it.queue];
        q.stats.handled += 1;
        q.stats.handle_ms += millis(handled);
        if matches!(it.phase, ItemPhase::WrapUp { .. }) {
            self.events.push_back(Event::WrapUpEnded {
                agent: a.id,
                contact: it.contact,
                at: now,
            });
        }
    }

    /// A waiting or parked contact is taken out of routing by the centre, not the customer
    /// (a scheduled callback cancelled). An offer out is withdrawn; a contact being served is
    /// refused (it is the conversation's to end).
    pub fn handle_cancelled(&mut self, now: Time, contact: ContactId) -> Result<(), RoutingError> {
        let c = self.contact(contact)?;
        match c.state {
            CState::Serving { .. } => return Err(self.wrong(contact, "cancelling")),
            CState::Offered { agent, .. } => {
                let why = TakeBack::Withdrawn { tell_channel: true };
                self.take_back_offer(now, contact, agent, why);
                self.cancel(now, contact);
                self.match_agent(agent);
            }
            CState::Waiting | CState::Parked { .. } => self.cancel(now, contact),
        }
        self.flush(now);
        Ok(())
    }

    fn cancel(&mut self, now: Time, contact: ContactId) {
        self.unplace(contact);
        let c = self.contacts.remove(&contact).expect("caller checked");
        if matches!(c.state, CState::Parked { .. }) {
            self.queues[c.queue].parked -= 1;
        }
        self.forget(contact, &c);
        self.events.push_back(Event::Cancelled { contact, at: now });
    }

    /// A callback parked until `until` (scheduled, or restored between attempts).
    fn schedule(&mut self, id: ContactId, qi: usize, until: Time, number: String, attempts: u32) {
        self.unplace(id);
        let c = self.contacts.get_mut(&id).expect("inserted");
        c.callback = Some(Callback { number, attempts });
        c.state = CState::Parked { until };
        self.queues[qi].parked += 1;
        self.arm_contact(id);
    }

    // ----- callbacks -----------------------------------------------------------------------

    /// A waiting customer leaves and asks to be called back on `number`. They keep their place;
    /// a second request for the same number (same tenant) is merged into the first.
    pub fn handle_callback_request(
        &mut self,
        now: Time,
        contact: ContactId,
        number: String,
    ) -> Result<(), RoutingError> {
        let c = self.contact(contact)?;
        if c.state != CState::Waiting || c.callback.is_some() {
            return Err(self.wrong(contact, "asking for a callback"));
        }
        if number.trim().is_empty() {
            return Err(RoutingError::InvalidConfig(
                "a callback needs a number".into(),
            ));
        }
        self.request_callback(now, contact, number);
        self.flush(now);
        Ok(())
    }

    fn request_callback(&mut self, now: Time, contact: ContactId, number: String) {
        let (tenant, qi) = {
            let c = &self.contacts[&contact];
            (c.tenant, c.queue)
        };
        self.queues[qi].stats.callbacks_requested += 1;
        self.events.push_back(Event::CallbackRequested {
            contact,
            number: number.clone(),
            at: now,
        });
        let key = (tenant, number.clone());
        let (survivor, loser) = match self.callbacks.get(&key).copied() {
            None => (contact, None),
            Some(other) => {
                let o = &self.contacts[&other];
                let n = &self.contacts[&contact];
                let other_movable = matches!(o.state, CState::Waiting | CState::Parked { .. });
                let new_ahead = global_cmp(
                    &n.key,
                    self.queues[n.queue].aging,
                    &o.key,
                    self.queues[o.queue].aging,
                    now,
                ) == Ordering::Less;
                if other_movable && new_ahead {
                    (contact, Some(other))
                } else {
                    (other, Some(contact))
                }
            }
        };
        self.contacts
            .get_mut(&contact)
            .expect("caller checked")
            .callback = Some(Callback {
            number,
            attempts: 0,
        });
        if let Some(loser) = loser {
            self.unplace(loser);
            let c = self.contacts.remove(&loser).expect("known contact");
            if matches!(c.state, CState::Parked { .. }) {
                self.queues[c.queue].parked -= 1;
            }
            self.excluded.remove(&loser);
            self.events.push_back(Event::CallbackMerged {
                contact: loser,
                into: survivor,
                at: now,
            });
            if survivor == contact {
                // The survivor inherits the attempts already made for this number.
                let attempts = c.callback.map(|cb| cb.attempts).unwrap_or(0);
                if let Some(cb) = self
                    .contacts
                    .get_mut(&contact)
                    .and_then(|c| c.callback.as_mut())
                {
                    cb.attempts = attempts;
                }
            }
        }
        self.callbacks.insert(key, survivor);
    }

    /// The customer answered the callback: this is when the contact counts as answered.
    pub fn handle_callback_reached(
        &mut self,
        now: Time,
        contact: ContactId,
    ) -> Result<(), RoutingError> {
        let c = self.contact(contact)?;
        let CState::Serving { agent } = c.state else {
            return Err(self.wrong(contact, "reaching the callback"));
        };
        if c.callback.is_none() {
            return Err(self.wrong(contact, "reaching a callback (it is not one)"));
        }
        let waited = now.since(c.arrived);
        let qi = c.queue;
        let c = self.contacts.get_mut(&contact).expect("checked");
        let cb = c.callback.take().expect("checked");
        let tenant = c.tenant;
        self.unregister_callback(tenant, &cb.number, contact);
        self.count_answer(qi, waited);
        self.queues[qi].stats.callbacks_reached += 1;
        let waited_ms = millis(waited);
        self.events.push_back(Event::CallbackReached {
            contact,
            agent: self.agents[agent].id,
            waited_ms,
            at: now,
        });
        self.flush(now);
        Ok(())
    }

    /// The customer did not answer the callback. It is tried again later, keeping its place,
    /// until the queue's attempts are used up; then it counts as abandoned.
    pub fn handle_callback_unreached(
        &mut self,
        now: Time,
        contact: ContactId,
    ) -> Result<(), RoutingError> {
        let c = self.contact(contact)?;
        let CState::Serving { agent: ai } = c.state else {
            return Err(self.wrong(contact, "reporting an unreached callback"));
        };
        if c.callback.is_none() {
            return Err(self.wrong(contact, "reporting an unreached callback (it is not one)"));
        }
        let qi = c.queue;
        // The agent is free again at once: the attempt is not a conversation to wrap up.
        if let Some(pos) = self.item_pos(ai, contact) {
            self.release_item(now, ai, pos);
        }
        let c = self.contacts.get_mut(&contact).expect("checked");
        let cb = c.callback.as_mut().expect("checked");
        cb.attempts += 1;
        let attempt = cb.attempts;
        let q = &self.queues[qi];
        if attempt < q.cfg.callback_max_attempts {
            let until = now.plus(q.cfg.callback_retry_interval);
            c.state = CState::Parked { until };
            self.queues[qi].parked += 1;
            self.events.push_back(Event::CallbackUnreached {
                contact,
                attempt,
                retry_at: Some(until),
                at: now,
            });
            self.arm_contact(contact);
        } else {
            let c = self.contacts.remove(&contact).expect("checked");
            self.forget(contact, &c);
            let stats = &mut self.queues[qi].stats;
            stats.callbacks_failed += 1;
            stats.abandoned += 1;
            self.events.push_back(Event::CallbackUnreached {
                contact,
                attempt,
                retry_at: None,
                at: now,
            });
        }
        self.refresh_agent(now, ai, false);
        self.match_agent(ai);
        self.flush(now);
        Ok(())
    }

    // ----- time ----------------------------------------------------------------------------

    /// The earliest deadline; call `handle_timeout` at (or after) it.
    pub fn poll_timeout(&mut self) -> Option<Time> {
        while let Some((at, owner, generation)) = self.timers.peek() {
            if self.timer_live(owner, generation) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    fn timer_live(&self, owner: Owner, generation: u32) -> bool {
        match owner {
            Owner::Contact(id) => self
                .contacts
                .get(&id)
                .is_some_and(|c| c.generation == generation),
            Owner::Agent(ai) => self
                .agents
                .get(ai)
                .is_some_and(|a| a.generation == generation),
        }
    }

    /// Everything due at or before `now`: offers time out, wrap-ups end, contacts widen,
    /// overflow, and parked callbacks come back.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some((at, owner, generation)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.timer_live(owner, generation) {
                continue;
            }
            match owner {
                Owner::Contact(id) => self.contact_due(now, id),
                Owner::Agent(ai) => self.agent_due(now, ai),
            }
        }
        self.flush(now);
    }

    fn contact_due(&mut self, now: Time, id: ContactId) {
        let c = &self.contacts[&id];
        match c.state {
            CState::Offered {
                agent: ai,
                expires_at,
            } if expires_at <= now => {
                self.take_back_offer(now, id, ai, TakeBack::Missed);
                let reason = self.cfg.missed_reason.clone();
                self.set_presence(now, ai, Presence::NotReady(reason));
            }
            CState::Parked { until } if until <= now => {
                let qi = c.queue;
                self.queues[qi].parked -= 1;
                self.contacts.get_mut(&id).expect("present").state = CState::Waiting;
                self.place(now, id);
                self.arm_contact(id);
                self.match_contact(id);
            }
            CState::Waiting => {
                let q = &self.queues[c.queue];
                if q.cfg.max_wait.is_some_and(|w| c.queued_at.plus(w) <= now) {
                    self.overflow(now, id);
                    return;
                }
                let stage = self.stage_at(id, now);
                if stage != self.contacts[&id].stage {
                    self.unplace(id);
                    self.place(now, id);
                    let stage_no = match self.contacts[&id].stage {
                        Stage::Preferred => 0,
                        Stage::Ring(r) => r,
                    };
                    self.events.push_back(Event::Widened {
                        contact: id,
                        stage: stage_no,
                        at: now,
                    });
                    self.arm_contact(id);
                    self.match_contact(id);
                } else {
                    self.arm_contact(id);
                }
            }
            _ => self.arm_contact(id),
        }
    }

    fn overflow(&mut self, now: Time, id: ContactId) {
        self.unplace(id);
        let c = &self.contacts[&id];
        let from_qi = c.queue;
        let from = self.queues[from_qi].cfg.id;
        self.queues[from_qi].stats.overflowed += 1;
        let target = match self.queues[from_qi].cfg.overflow {
            Overflow::Queue(t) => self.queue_ix.get(&t).copied().filter(|ti| {
                let tq = &self.queues[*ti];
                tq.cfg.channels.contains(&c.channel)
                    && tq.cfg.tenant == c.tenant
                    && c.hops < self.queues.len()
            }),
            Overflow::Exit => None,
        };
        match target {
            Some(ti) => {
                let (aging, base) = (self.queues[ti].aging, self.queues[ti].cfg.base_priority);
                let needs = self.queues[ti].needs.clone();
                let c = self.contacts.get_mut(&id).expect("present");
                c.queue = ti;
                c.queued_at = now;
                c.hops += 1;
                c.key = OrderKey::new(
                    i64::from(base) + i64::from(c.priority),
                    aging,
                    c.arrived,
                    c.seq,
                    id,
                );
                let own = c.own_needs.clone();
                let reqset = Self::reqset_for(&mut self.skills, &mut self.reqsets, &needs, &own);
                self.contacts.get_mut(&id).expect("present").reqset = reqset;
                self.queues[ti].stats.arrived += 1;
                self.events.push_back(Event::Overflowed {
                    contact: id,
                    from,
                    to: Some(self.queues[ti].cfg.id),
                    at: now,
                });
                self.place(now, id);
                self.arm_contact(id);
                self.match_contact(id);
            }
            None => {
                let c = self.contacts.remove(&id).expect("present");
                self.forget(id, &c);
                self.events.push_back(Event::Overflowed {
                    contact: id,
                    from,
                    to: None,
                    at: now,
                });
                self.commands
                    .push_back(Command::Overflow { contact: id, from });
            }
        }
    }

    fn agent_due(&mut self, now: Time, ai: usize) {
        loop {
            let pos = self.agents[ai]
                .items
                .iter()
                .position(|i| matches!(i.phase, ItemPhase::WrapUp { until } if until <= now));
            match pos {
                Some(p) => self.end_wrap_up(now, ai, p),
                None => break,
            }
        }
        self.refresh_agent(now, ai, false);
        self.arm_agent(ai);
        self.match_agent(ai);
    }

    /// Starts a new day for the "today" figures (the shell calls it at the tenant's midnight).
    pub fn reset_day(&mut self, now: Time) {
        for q in &mut self.queues {
            q.stats = QueueStats::default();
        }
        self.day_started = now;
    }

    // ----- outputs -------------------------------------------------------------------------

    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----- getters -------------------------------------------------------------------------

    pub fn contact_state(&self, id: ContactId) -> Option<ContactState> {
        let c = self.contacts.get(&id)?;
        let queue = self.queues[c.queue].cfg.id;
        Some(match c.state {
            CState::Waiting => ContactState::Waiting { queue },
            CState::Parked { until } => ContactState::Parked { queue, until },
            CState::Offered { agent, expires_at } => ContactState::Offered {
                agent: self.agents[agent].id,
                expires_at,
            },
            CState::Serving { agent } => ContactState::Serving {
                agent: self.agents[agent].id,
            },
        })
    }

    /// Every contact the engine holds, in no particular order.
    pub fn contacts(&self) -> impl Iterator<Item = (ContactId, ContactState)> + '_ {
        self.contacts
            .keys()
            .filter_map(|id| self.contact_state(*id).map(|s| (*id, s)))
    }

    pub fn contact_count(&self) -> usize {
        self.contacts.len()
    }

    pub fn agent_view(&self, id: AgentId) -> Option<AgentView> {
        let ai = *self.agent_ix.get(&id)?;
        let a = &self.agents[ai];
        let mut deadline: Option<Time> = None;
        for it in &a.items {
            let d = match it.phase {
                ItemPhase::Offered { expires_at } => Some(expires_at),
                ItemPhase::WrapUp { until } => Some(until),
                ItemPhase::Active { .. } => None,
            };
            if let Some(d) = d {
                deadline = Some(deadline.map_or(d, |x| x.min(d)));
            }
        }
        Some(AgentView {
            id,
            state: a.state,
            presence: a.presence.clone(),
            since: a.since,
            items: a
                .items
                .iter()
                .map(|i| (i.contact, i.channel, i.phase))
                .collect(),
            capacity: a.capacity,
            deadline,
        })
    }

    pub fn agent_ids(&self) -> impl Iterator<Item = AgentId> + '_ {
        self.agents.iter().filter(|a| !a.removed).map(|a| a.id)
    }

    /// Waiting contacts (not parked) in the global order at `now`; for tests and tools, O(n log n).
    pub fn waiting_order(&self, now: Time) -> Vec<ContactId> {
        let mut v: Vec<(&OrderKey, i64)> = self
            .contacts
            .values()
            .filter(|c| c.state == CState::Waiting)
            .map(|c| (&c.key, self.queues[c.queue].aging))
            .collect();
        v.sort_by(|a, b| global_cmp(a.0, a.1, b.0, b.1, now));
        v.into_iter().map(|(k, _)| k.contact).collect()
    }

    /// Whether `agent` could be offered `contact` right now (availability, capacity, rules,
    /// skills at the contact's current stage, membership or preference, not declined).
    pub fn could_offer(&self, agent: AgentId, contact: ContactId) -> bool {
        let (Some(ai), Some(c)) = (self.agent_ix.get(&agent), self.contacts.get(&contact)) else {
            return false;
        };
        if c.state != CState::Waiting
            || !self.can_take(*ai, c.channel)
            || self.is_excluded(contact, *ai)
        {
            return false;
        }
        match c.place {
            Place::Preferred(p) => p == *ai,
            Place::Group(g) => {
                self.agents[*ai].queues.contains(&c.queue)
                    && meets(&self.agents[*ai].skills, &self.groups[g].needs)
            }
            Place::Nowhere => false,
        }
    }

    /// How many timer entries are held (live and stale); for the benchmark's memory report.
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    pub fn estimate(&self, contact: ContactId) -> Option<Estimate> {
        let c = self.contacts.get(&contact)?;
        if !matches!(c.state, CState::Waiting | CState::Parked { .. }) {
            return None;
        }
        let q = &self.queues[c.queue];
        // Contacts of this queue ahead in the global order.
        let mut ahead = 0usize;
        for &g in &q.group_list {
            ahead += self.groups[g].set.range(..c.key).count();
        }
        for &m in &q.members {
            ahead += self.agents[m]
                .preferred
                .range(..c.key)
                .filter(|k| self.contacts[&k.contact].queue == c.queue)
                .count();
        }
        let needs = match c.place {
            Place::Group(g) => &self.groups[g].needs,
            _ => self.reqsets.get(c.reqset),
        };
        Some(self.estimate_for(c.queue, c.channel, needs, ahead))
    }

    fn estimate_for(&self, qi: usize, channel: Channel, needs: &Levels, ahead: usize) -> Estimate {
        let q = &self.queues[qi];
        let ci = cidx(channel);
        let default_ms = q.cfg.default_handle_time.as_millis() as f64;
        let mut agents = 0usize;
        let mut rate_per_ms = 0.0f64;
        let mut handle_sum = 0.0f64;
        for &m in &q.members {
            let a = &self.agents[m];
            if a.presence == Presence::Offline || !meets(&a.skills, needs) {
                continue;
            }
            let cap = f64::from(a.capacity.get(channel));
            if cap == 0.0 {
                continue;
            }
            // An agent serving several queues with people waiting gives each an equal share.
            let busy_queues = a
                .queues
                .iter()
                .filter(|qj| self.queues[**qj].waiting > 0)
                .count()
                .max(1);
            let handle = a.handle_ewma_ms[ci].unwrap_or(default_ms).max(1.0);
            agents += 1;
            handle_sum += handle;
            rate_per_ms += cap / handle / busy_queues as f64;
        }
        estimate::build(
            ahead,
            agents,
            rate_per_ms,
            if agents > 0 {
                handle_sum / agents as f64
            } else {
                default_ms
            },
        )
    }

    /// The live figures: per queue and per agent.
    pub fn snapshot(&self, now: Time) -> Snapshot {
        self.snapshot_of(now, None)
    }

    /// The figures of one tenant's queues and agents (a wallboard's view), the same as
    /// [`Engine::snapshot`] gives for them, without computing every other tenant's.
    pub fn snapshot_of(&self, now: Time, tenant: Option<TenantId>) -> Snapshot {
        let wanted = |t: TenantId| tenant.is_none_or(|w| w == t);
        // One pass over the contacts, not one per queue.
        let mut callbacks_waiting = vec![0usize; self.queues.len()];
        let mut by_channel = vec![[0usize; crate::config::CHANNELS]; self.queues.len()];
        for c in self.contacts.values() {
            if c.callback.is_some() && matches!(c.state, CState::Waiting | CState::Parked { .. }) {
                callbacks_waiting[c.queue] += 1;
            }
            if c.state == CState::Waiting {
                by_channel[c.queue][crate::config::channel_index(c.channel)] += 1;
            }
        }
        let mut queues = Vec::with_capacity(self.queues.len());
        for (qi, q) in self.queues.iter().enumerate() {
            if !wanted(q.cfg.tenant) {
                continue;
            }
            let mut oldest: Option<Time> = None;
            for &g in &q.group_list {
                for k in &self.groups[g].set {
                    oldest = Some(oldest.map_or(k.arrived, |o| o.min(k.arrived)));
                }
            }
            for &m in &q.members {
                for k in &self.agents[m].preferred {
                    if self.contacts[&k.contact].queue == qi {
                        oldest = Some(oldest.map_or(k.arrived, |o| o.min(k.arrived)));
                    }
                }
            }
            let mut by_state = [0usize; 6];
            for &m in &q.members {
                let s = self.agents[m].state;
                by_state[AgentState::ALL
                    .iter()
                    .position(|x| *x == s)
                    .expect("all states listed")] += 1;
            }
            let s = &q.stats;
            let channel = q.cfg.channels[0];
            queues.push(QueueFigures {
                queue: q.cfg.id,
                tenant: q.cfg.tenant,
                waiting: q.waiting,
                waiting_by_channel: [Channel::Voice, Channel::Chat, Channel::Email, Channel::Form]
                    .into_iter()
                    .map(|ch| (ch, by_channel[qi][crate::config::channel_index(ch)]))
                    .filter(|(_, n)| *n > 0)
                    .collect(),
                callbacks_waiting: callbacks_waiting[qi],
                oldest_wait: oldest.map(|o| now.since(o)),
                arrived: s.arrived,
                answered: s.answered,
                answered_in_service_level: s.answered_in_sl,
                abandoned: s.abandoned,
                abandoned_short: s.abandoned_short,
                overflowed: s.overflowed,
                callbacks_requested: s.callbacks_requested,
                callbacks_reached: s.callbacks_reached,
                callbacks_failed: s.callbacks_failed,
                average_answer_ms: s.wait_answered_ms.checked_div(s.answered),
                average_handle_ms: s.handle_ms.checked_div(s.handled),
                service_level: {
                    let denom = s.answered + s.abandoned;
                    (denom > 0).then(|| s.answered_in_sl as f64 / denom as f64)
                },
                agents_by_state: AgentState::ALL
                    .iter()
                    .copied()
                    .zip(by_state)
                    .filter(|(_, n)| *n > 0)
                    .collect(),
                estimated_wait: self.estimate_for(qi, channel, &q.needs, q.waiting),
            });
        }
        let agents = self
            .agents
            .iter()
            .filter(|a| !a.removed && wanted(a.tenant))
            .map(|a| a.figures(now))
            .collect();
        Snapshot {
            at: now,
            day_started: self.day_started,
            queues,
            agents,
        }
    }

    /// One agent's figures (the agent's own desk), without a whole snapshot.
    pub fn agent_figures(&self, now: Time, agent: AgentId) -> Option<AgentFigures> {
        let ai = self.agent(agent).ok()?;
        Some(self.agents[ai].figures(now))
    }

    // ----- restore -------------------------------------------------------------------------

    /// Rebuilds the state a restart lost: who was logged in, who was waiting (callbacks, chats,
    /// e-mails), which non-voice contacts agents still hold. Queues and agents must be configured
    /// first. Emits no events for what it restores (they are already stored); decisions taken
    /// afterwards (offers to the agents now free) are emitted as usual.
    pub fn restore(&mut self, now: Time, r: &Restore) -> Result<(), RoutingError> {
        // Everything is checked first: a refused restore changes nothing.
        for (agent, _, _) in &r.agents {
            self.agent(*agent)?;
        }
        let mut ids = std::collections::HashSet::new();
        for rc in &r.contacts {
            self.queue(rc.queue)?;
            if let Some(a) = rc.serving_agent {
                self.agent(a)?;
            }
            if self.contacts.contains_key(&rc.spec.id) || !ids.insert(rc.spec.id) {
                return Err(RoutingError::DuplicateContact(rc.spec.id));
            }
        }
        for (agent, presence, since) in &r.agents {
            let a = &mut self.agents[self.agent_ix[agent]];
            a.presence = presence.clone();
            a.since = *since;
            a.idle_since = *since;
        }
        for rc in &r.contacts {
            let (id, qi) = (rc.spec.id, self.queue_ix[&rc.queue]);
            let callback = rc.callback_number.as_ref().map(|number| Callback {
                number: number.clone(),
                attempts: rc.callback_attempts,
            });
            // A scheduled callback is never merged, so it is not the number's pending one.
            if let Some(number) = rc
                .callback_number
                .as_ref()
                .filter(|_| rc.spec.not_before.is_none())
            {
                self.callbacks
                    .insert((self.queues[qi].cfg.tenant, number.clone()), id);
            }
            // A scheduled callback not yet due keeps its time; its preferred agent's time
            // starts then.
            let queued_at = match rc.spec.not_before {
                Some(t) if t > now => t,
                _ => rc.queued_at.min(now),
            };
            self.insert_contact(now, qi, rc.spec.clone(), queued_at, callback);
            if let Some(ai) = rc.serving_agent.map(|a| self.agent_ix[&a]) {
                self.unplace(id);
                let c = self.contacts.get_mut(&id).expect("inserted");
                c.state = CState::Serving { agent: ai };
                let channel = c.channel;
                self.agents[ai].items.push(Item {
                    contact: id,
                    channel,
                    queue: qi,
                    phase: ItemPhase::Active { since: now },
                    accepted_at: now,
                });
                self.arm_contact(id);
            } else if let Some(until) = rc.parked_until.filter(|u| *u > now) {
                self.unplace(id);
                self.contacts.get_mut(&id).expect("inserted").state = CState::Parked { until };
                self.queues[qi].parked += 1;
                self.arm_contact(id);
            }
        }
        for ai in 0..self.agents.len() {
            self.agents[ai].state = visible_state(&self.agents[ai]);
            self.match_agent(ai);
        }
        self.flush(now);
        Ok(())
    }

    // ----- internals -----------------------------------------------------------------------

    fn agent(&self, id: AgentId) -> Result<usize, RoutingError> {
        self.agent_ix
            .get(&id)
            .copied()
            .filter(|ai| !self.agents[*ai].removed)
            .ok_or(RoutingError::UnknownAgent(id))
    }

    fn queue(&self, id: QueueId) -> Result<usize, RoutingError> {
        self.queue_ix
            .get(&id)
            .copied()
            .ok_or(RoutingError::UnknownQueue(id))
    }

    /// A contact the caller names, or the error saying it is unknown.
    fn contact(&self, contact: ContactId) -> Result<&Contact, RoutingError> {
        self.contacts
            .get(&contact)
            .ok_or(RoutingError::UnknownContact(contact))
    }

    fn wrong(&self, contact: ContactId, what: &'static str) -> RoutingError {
        let state = match self.contacts.get(&contact).map(|c| c.state) {
            Some(CState::Waiting) => "waiting",
            Some(CState::Parked { .. }) => "parked",
            Some(CState::Offered { .. }) => "offered",
            Some(CState::Serving { .. }) => "being served",
            None => "gone",
        };
        RoutingError::WrongState {
            contact,
            state,
            what,
        }
    }

    fn item_pos(&self, ai: usize, contact: ContactId) -> Option<usize> {
        self.agents[ai]
            .items
            .iter()
            .position(|i| i.contact == contact)
    }

    fn is_excluded(&self, contact: ContactId, ai: usize) -> bool {
        !self.excluded.is_empty() && self.excluded.get(&contact).is_some_and(|v| v.contains(&ai))
    }

    fn can_take(&self, ai: usize, channel: Channel) -> bool {
        let a = &self.agents[ai];
        if a.presence != Presence::Available || a.removed {
            return false;
        }
        let mut counts = a.direct;
        for it in &a.items {
            counts[cidx(it.channel)] = counts[cidx(it.channel)].saturating_add(1);
        }
        let ci = cidx(channel);
        if counts[ci] >= a.capacity.get(channel) {
            return false;
        }
        (0..CHANNELS).all(|h| counts[h] == 0 || self.rules[h][ci])
    }

    fn stage_at(&self, id: ContactId, now: Time) -> Stage {
        let c = &self.contacts[&id];
        let q = &self.queues[c.queue];
        let waited = now.since(c.queued_at);
        if let Some(p) = c.preferred {
            if waited < c.preferred_for.unwrap_or(q.cfg.preferred_timeout)
                && !self.is_excluded(id, p)
                && !self.agents[p].removed
            {
                return Stage::Preferred;
            }
        }
        let ring = q.steps.iter().take_while(|s| s.after <= waited).count();
        Stage::Ring(u8::try_from(ring).unwrap_or(u8::MAX))
    }

    fn group_for(&mut self, qi: usize, channel: Channel, reqset: ReqSetId, ring: u8) -> usize {
        if let Some(g) = self.queues[qi].groups.get(&(cidx(channel), reqset, ring)) {
            return *g;
        }
        let q = &self.queues[qi];
        let mut needs: Levels = Vec::new();
        for (skill, min) in self.reqsets.get(reqset) {
            let mut min = *min;
            let mut dropped = false;
            if ring > 0 {
                let step = &q.steps[usize::from(ring) - 1];
                min = min.min(step.cap);
                dropped = step.drop.contains(skill);
            }
            if !dropped {
                needs.push((*skill, min));
            }
        }
        let g = self.groups.len();
        let mask = crate::skills::mask(&needs);
        self.groups.push(Group {
            channel,
            mask,
            needs,
            set: BTreeSet::new(),
        });
        let q = &mut self.queues[qi];
        q.groups.insert((cidx(channel), reqset, ring), g);
        q.group_list.push(g);
        g
    }

    /// Puts a waiting contact where agents will find it, for its stage at `now`.
    fn place(&mut self, now: Time, id: ContactId) {
        let stage = self.stage_at(id, now);
        let c = &self.contacts[&id];
        let (qi, channel, reqset, key, preferred) =
            (c.queue, c.channel, c.reqset, c.key, c.preferred);
        let place = match stage {
            Stage::Preferred => {
                let p = preferred.expect("preferred stage has a preferred agent");
                self.agents[p].preferred.insert(key);
                Place::Preferred(p)
            }
            Stage::Ring(r) => {
                let g = self.group_for(qi, channel, reqset, r);
                self.groups[g].set.insert(key);
                Place::Group(g)
            }
        };
        let c = self.contacts.get_mut(&id).expect("present");
        c.stage = stage;
        c.place = place;
        self.queues[qi].waiting += 1;
    }

    /// Takes a contact out of its waiting place; returns whether it had one.
    fn unplace(&mut self, id: ContactId) -> bool {
        let c = self.contacts.get_mut(&id).expect("present");
        let place = std::mem::replace(&mut c.place, Place::Nowhere);
        let (key, qi) = (c.key, c.queue);
        match place {
            Place::Nowhere => return false,
            Place::Group(g) => {
                self.groups[g].set.remove(&key);
            }
            Place::Preferred(p) => {
                self.agents[p].preferred.remove(&key);
            }
        }
        self.queues[qi].waiting -= 1;
        true
    }

    fn arm_contact(&mut self, id: ContactId) {
        let c = self.contacts.get_mut(&id).expect("present");
        c.generation = c.generation.wrapping_add(1);
        let q = &self.queues[c.queue];
        let deadline = match c.state {
            CState::Offered { expires_at, .. } => Some(expires_at),
            CState::Parked { until } => Some(until),
            CState::Serving { .. } => None,
            CState::Waiting => {
                let mut d = q.cfg.max_wait.map(|w| c.queued_at.plus(w));
                let next = match c.stage {
                    Stage::Preferred => Some(
                        c.queued_at
                            .plus(c.preferred_for.unwrap_or(q.cfg.preferred_timeout)),
                    ),
                    Stage::Ring(r) => q
                        .steps
                        .get(usize::from(r))
                        .map(|s| c.queued_at.plus(s.after)),
                };
                if let Some(n) = next {
                    d = Some(d.map_or(n, |x| x.min(n)));
                }
                d
            }
        };
        if let Some(d) = deadline {
            self.timers.arm(d, Owner::Contact(id), c.generation);
        }
    }

    fn arm_agent(&mut self, ai: usize) {
        let a = &mut self.agents[ai];
        a.generation = a.generation.wrapping_add(1);
        let d = a
            .items
            .iter()
            .filter_map(|i| match i.phase {
                ItemPhase::WrapUp { until } => Some(until),
                _ => None,
            })
            .min();
        if let Some(d) = d {
            self.timers.arm(d, Owner::Agent(ai), a.generation);
        }
    }

    /// Recomputes the visible state; records a change (or any change when `always`).
    fn refresh_agent(&mut self, now: Time, ai: usize, always: bool) {
        let a = &mut self.agents[ai];
        let state = visible_state(a);
        if state != a.state || always {
            if state != a.state {
                a.since = now;
            }
            a.state = state;
            self.events.push_back(Event::AgentState {
                agent: a.id,
                tenant: a.tenant,
                state,
                presence: a.presence.clone(),
                at: now,
            });
        }
    }

    /// Frees one item of an agent's; an agent left with nothing is idle from now.
    fn release_item(&mut self, now: Time, ai: usize, pos: usize) -> Item {
        let a = &mut self.agents[ai];
        let it = a.items.remove(pos);
        if a.items.is_empty() {
            a.idle_since = now;
        }
        it
    }

    /// Takes an offer back from the agent: the contact waits again in its old place, the
    /// decision is recorded (and the channel told to stop ringing where it must be), and the
    /// contact looks for an agent again.
    fn take_back_offer(&mut self, now: Time, contact: ContactId, ai: usize, why: TakeBack) {
        if let Some(pos) = self.item_pos(ai, contact) {
            self.release_item(now, ai, pos);
        }
        let c = self
            .contacts
            .get_mut(&contact)
            .expect("offered contact is known");
        c.state = CState::Waiting;
        self.place(now, contact);
        self.arm_contact(contact);
        self.refresh_agent(now, ai, false);
        let agent = self.agents[ai].id;
        if matches!(
            why,
            TakeBack::Missed | TakeBack::Withdrawn { tell_channel: true }
        ) {
            self.commands
                .push_back(Command::Withdraw { contact, agent });
        }
        self.events.push_back(match why {
            TakeBack::Withdrawn { .. } => Event::Withdrawn {
                contact,
                agent,
                at: now,
            },
            TakeBack::Missed => Event::Missed {
                contact,
                agent,
                at: now,
            },
            TakeBack::Declined => Event::Declined {
                contact,
                agent,
                at: now,
            },
        });
        self.match_contact(contact);
    }

    fn offer(&mut self, now: Time, contact: ContactId, ai: usize) {
        self.unplace(contact);
        let c = self
            .contacts
            .get_mut(&contact)
            .expect("waiting contact is known");
        let q = &self.queues[c.queue];
        let expires_at = now.plus(q.cfg.offer_timeout);
        c.state = CState::Offered {
            agent: ai,
            expires_at,
        };
        let (channel, qi) = (c.channel, c.queue);
        let callback_number = c.callback.as_ref().map(|cb| cb.number.clone());
        self.arm_contact(contact);
        self.agents[ai].items.push(Item {
            contact,
            channel,
            queue: qi,
            phase: ItemPhase::Offered { expires_at },
            accepted_at: now,
        });
        let agent = self.agents[ai].id;
        self.commands.push_back(Command::Offer {
            contact,
            agent,
            channel,
            expires_at,
            callback_number,
        });
        self.events.push_back(Event::Offered {
            contact,
            agent,
            expires_at,
            at: now,
        });
        self.refresh_agent(now, ai, false);
    }

    /// Asks for a contact-driven match once the current input's changes are all made.
    fn match_contact(&mut self, id: ContactId) {
        self.pending_contacts.push(id);
    }

    /// Asks for an agent-driven match once the current input's changes are all made.
    fn match_agent(&mut self, ai: usize) {
        self.pending_agents.push(ai);
    }

    /// Runs the matches the last input asked for. Agents first (each takes the first contact in
    /// the global order it can serve; agents freed together go longest idle first), then the
    /// contacts that became available, in the global order, each choosing by its queue's
    /// strategy among the agents still free. Done after all of an input's changes, so that two
    /// things due at the same millisecond are matched as if they happened together.
    fn flush(&mut self, now: Time) {
        while !self.pending_agents.is_empty() || !self.pending_contacts.is_empty() {
            let mut agents = std::mem::take(&mut self.pending_agents);
            agents.sort_unstable();
            agents.dedup();
            agents.sort_by_key(|ai| (self.agents[*ai].idle_since, *ai));
            for &ai in &agents {
                self.match_agent_now(now, ai);
            }
            let mut contacts: Vec<ContactId> = std::mem::take(&mut self.pending_contacts);
            contacts.sort_unstable();
            contacts.dedup();
            contacts.retain(|id| {
                self.contacts
                    .get(id)
                    .is_some_and(|c| c.state == CState::Waiting)
            });
            contacts.sort_by(|a, b| {
                let (ca, cb) = (&self.contacts[a], &self.contacts[b]);
                global_cmp(
                    &ca.key,
                    self.queues[ca.queue].aging,
                    &cb.key,
                    self.queues[cb.queue].aging,
                    now,
                )
            });
            for &id in &contacts {
                self.match_contact_now(now, id);
            }
            // Matching asks for no further matches, so the buffers go back for the next input
            // instead of being allocated again.
            agents.clear();
            contacts.clear();
            if self.pending_agents.is_empty() {
                self.pending_agents = agents;
            }
            if self.pending_contacts.is_empty() {
                self.pending_contacts = contacts;
            }
        }
    }

    /// Contact-driven: offers a waiting contact to the best agent free for it, if any.
    fn match_contact_now(&mut self, now: Time, id: ContactId) {
        let Some(c) = self.contacts.get(&id) else {
            return;
        };
        if c.state != CState::Waiting {
            return;
        }
        let chosen = match c.place {
            Place::Nowhere => None,
            Place::Preferred(p) => {
                (self.can_take(p, c.channel) && !self.is_excluded(id, p)).then_some(p)
            }
            Place::Group(g) => self.select_agent(id, c.queue, c.channel, g),
        };
        if let Some(ai) = chosen {
            self.offer(now, id, ai);
        }
    }

    fn select_agent(
        &mut self,
        id: ContactId,
        qi: usize,
        channel: Channel,
        g: usize,
    ) -> Option<usize> {
        let q = &self.queues[qi];
        let needs = &self.groups[g].needs;
        let eligible = |ai: usize| {
            self.can_take(ai, channel)
                && meets(&self.agents[ai].skills, needs)
                && !self.is_excluded(id, ai)
        };
        let pick =
            crate::select::pick(self, q.cfg.strategy, &q.members, q.rr_next, needs, eligible);
        if let Some((ai, pos)) = pick {
            if q.cfg.strategy == Strategy::RoundRobin {
                self.queues[qi].rr_next = pos + 1;
            }
            return Some(ai);
        }
        None
    }

    pub(crate) fn select_facts(&self, ai: usize) -> (Time, usize, &Levels) {
        let a = &self.agents[ai];
        (a.idle_since, a.items.len(), &a.skills)
    }

    /// Agent-driven: while the agent has room, offers them the first contact in the global order
    /// they can take.
    fn match_agent_now(&mut self, now: Time, ai: usize) {
        while let Some(id) = self.best_contact_for(now, ai) {
            self.offer(now, id, ai);
        }
    }

    fn best_contact_for(&self, now: Time, ai: usize) -> Option<ContactId> {
        let a = &self.agents[ai];
        if a.presence != Presence::Available || a.removed {
            return None;
        }
        let takes = [Channel::Voice, Channel::Chat, Channel::Email, Channel::Form]
            .map(|c| self.can_take(ai, c));
        if !takes.iter().any(|t| *t) {
            return None;
        }
        let mut best: Option<(OrderKey, i64)> = None;
        let mut consider = |key: &OrderKey, aging: i64| {
            let better = match &best {
                None => true,
                Some((bk, ba)) => global_cmp(key, aging, bk, *ba, now) == Ordering::Less,
            };
            if better {
                best = Some((*key, aging));
            }
        };
        for key in &a.preferred {
            let c = &self.contacts[&key.contact];
            if takes[cidx(c.channel)] && !self.is_excluded(key.contact, ai) {
                consider(key, self.queues[c.queue].aging);
            }
        }
        for &qi in &a.queues {
            let q = &self.queues[qi];
            if q.waiting == 0 {
                continue;
            }
            for &g in &q.group_list {
                let grp = &self.groups[g];
                if grp.set.is_empty()
                    || !takes[cidx(grp.channel)]
                    || grp.mask & !a.mask != 0
                    || !meets(&a.skills, &grp.needs)
                {
                    continue;
                }
                let head = if self.excluded.is_empty() {
                    grp.set.first()
                } else {
                    grp.set.iter().find(|k| !self.is_excluded(k.contact, ai))
                };
                if let Some(key) = head {
                    consider(key, q.aging);
                }
            }
        }
        best.map(|(k, _)| k.contact)
    }
}
