//! Property tests: random sequences of inputs against a small reference model.
//!
//! The reference knows the rules in their plainest form (a list of contacts, a list of agents,
//! eligibility and order computed from scratch every time). It follows the engine's events and,
//! for every offer, checks that the engine chose a contact the agent may take and that no contact
//! the agent could have taken was ahead of it in the global order. After every step it checks the
//! invariants: capacity, one agent per contact, nothing lost, no idle agent beside a waiting
//! contact it could take, nothing past its deadline, and that its own view of every contact agrees
//! with the engine's.

use crate::{Sim, T0};
use hotline_routing::engine::{ContactState, Observation, Presence};
use hotline_routing::{
    AgentId, Capacity, Channel, ContactId, ContactSpec, Event, Overflow, QueueConfig, QueueId,
    Requirement, Strategy as Pick, TenantId, Time, WideningStep,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const SKILLS: [&str; 3] = ["ru", "cards", "vip"];

fn queue_configs() -> Vec<QueueConfig> {
    let mut q1 = QueueConfig::new(QueueId(1), TenantId(1));
    q1.channels = vec![Channel::Voice, Channel::Chat];
    q1.aging_per_minute = 1;
    q1.requirements = vec![Requirement::new("ru", 3)];
    q1.widening = vec![
        WideningStep {
            after: Duration::from_secs(20),
            max_proficiency: 2,
            drop: vec![],
        },
        WideningStep {
            after: Duration::from_secs(40),
            max_proficiency: 1,
            drop: vec!["vip".into()],
        },
    ];
    q1.strategy = Pick::MostProficient;
    let mut q2 = QueueConfig::new(QueueId(2), TenantId(1));
    q2.channels = vec![Channel::Voice, Channel::Chat];
    q2.base_priority = 1;
    q2.max_wait = Some(Duration::from_secs(45));
    q2.overflow = Overflow::Queue(QueueId(3));
    q2.strategy = Pick::RoundRobin;
    q2.wrap_up = Duration::from_secs(3);
    let mut q3 = QueueConfig::new(QueueId(3), TenantId(1));
    q3.channels = vec![Channel::Voice, Channel::Chat];
    q3.aging_per_minute = 3;
    q3.max_wait = Some(Duration::from_secs(120));
    q3.strategy = Pick::LeastOccupied;
    q3.callback_max_attempts = 2;
    q3.callback_retry_interval = Duration::from_secs(15);
    for q in [&mut q1, &mut q2, &mut q3] {
        q.offer_timeout = Duration::from_secs(8);
        q.callback_retry_interval = Duration::from_secs(15);
    }
    vec![q1, q2, q3]
}

struct AgentDef {
    id: i64,
    skills: Vec<(&'static str, u8)>,
    queues: Vec<i64>,
    capacity: Capacity,
}

fn agent_defs() -> Vec<AgentDef> {
    let cap = |chat| Capacity {
        voice: 1,
        chat,
        email: 1,
        form: 1,
    };
    vec![
        AgentDef {
            id: 1,
            skills: vec![("ru", 5), ("cards", 4), ("vip", 5)],
            queues: vec![1, 2, 3],
            capacity: cap(2),
        },
        AgentDef {
            id: 2,
            skills: vec![("ru", 2), ("cards", 2)],
            queues: vec![1, 3],
            capacity: cap(3),
        },
        AgentDef {
            id: 3,
            skills: vec![("ru", 1)],
            queues: vec![2, 3],
            capacity: cap(1),
        },
        AgentDef {
            id: 4,
            skills: vec![("ru", 4), ("vip", 1)],
            queues: vec![1, 2],
            capacity: cap(2),
        },
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Arrive {
        queue: i64,
        chat: bool,
        priority: i32,
        need: Option<(usize, u8)>,
    },
    Presence {
        agent: i64,
        which: u8,
    },
    Accept(usize),
    Decline(usize),
    Abandon(usize),
    End(usize),
    WrapDone(usize),
    Callback {
        pick: usize,
        number: u8,
    },
    CallbackOutcome {
        pick: usize,
        reached: bool,
    },
    Vanish {
        agent: i64,
    },
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1i64..=3, any::<bool>(), 0i32..3, proptest::option::of((0usize..3, 1u8..=5)))
            .prop_map(|(queue, chat, priority, need)| Op::Arrive { queue, chat, priority, need }),
        3 => (1i64..=4, 0u8..6).prop_map(|(agent, which)| Op::Presence { agent, which }),
        4 => any::<usize>().prop_map(Op::Accept),
        1 => any::<usize>().prop_map(Op::Decline),
        1 => any::<usize>().prop_map(Op::Abandon),
        3 => any::<usize>().prop_map(Op::End),
        1 => any::<usize>().prop_map(Op::WrapDone),
        1 => (any::<usize>(), 0u8..3).prop_map(|(pick, number)| Op::Callback { pick, number }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, reached)| Op::CallbackOutcome { pick, reached }),
        1 => (1i64..=4).prop_map(|agent| Op::Vanish { agent }),
        4 => (0u64..25_000).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone, PartialEq)]
enum RState {
    Waiting,
    Parked(Time),
    Offered(i64),
    Serving(i64),
}

#[derive(Debug, Clone)]
struct RContact {
    queue: i64,
    channel: Channel,
    priority: i64,
    own: Vec<(String, u8)>,
    arrived: Time,
    queued_at: Time,
    seq: u64,
    state: RState,
    excluded: BTreeSet<i64>,
    callback: bool,
}

#[derive(Debug, Clone)]
struct RAgent {
    presence: Presence,
    /// contact → channel, for everything held (offers, contacts, wrap-ups).
    items: BTreeMap<i64, Channel>,
}

struct Reference {
    queues: Vec<QueueConfig>,
    defs: Vec<AgentDef>,
    contacts: BTreeMap<i64, RContact>,
    agents: BTreeMap<i64, RAgent>,
    ever: BTreeSet<i64>,
    finished: BTreeSet<i64>,
    seq: u64,
}

impl Reference {
    fn queue(&self, id: i64) -> &QueueConfig {
        self.queues.iter().find(|q| q.id.0 == id).unwrap()
    }

    fn def(&self, id: i64) -> &AgentDef {
        self.defs.iter().find(|a| a.id == id).unwrap()
    }

    /// Needs at `now`, after widening: skill → minimum level.
    fn needs(&self, c: &RContact, now: Time) -> BTreeMap<String, u8> {
        let q = self.queue(c.queue);
        let mut needs: BTreeMap<String, u8> = BTreeMap::new();
        for r in &q.requirements {
            let e = needs.entry(r.skill.clone()).or_insert(0);
            *e = (*e).max(r.min_proficiency);
        }
        for (s, l) in &c.own {
            let e = needs.entry(s.clone()).or_insert(0);
            *e = (*e).max(*l);
        }
        let waited = now.since(c.queued_at);
        if let Some(step) = q.widening.iter().rev().find(|s| s.after <= waited) {
            needs.retain(|s, _| !step.drop.contains(s));
            for l in needs.values_mut() {
                *l = (*l).min(step.max_proficiency);
            }
        }
        needs
    }

    fn has_room(&self, agent: i64, channel: Channel) -> bool {
        let a = &self.agents[&agent];
        if a.presence != Presence::Available {
            return false;
        }
        let same = a.items.values().filter(|c| **c == channel).count();
        let cap = self.def(agent).capacity;
        let limit = match channel {
            Channel::Voice => cap.voice,
            Channel::Chat => cap.chat,
            Channel::Email => cap.email,
            Channel::Form => cap.form,
        };
        let other_kind = a
            .items
            .values()
            .any(|c| (*c == Channel::Voice) != (channel == Channel::Voice));
        same < usize::from(limit) && !other_kind
    }

    fn eligible(&self, agent: i64, id: i64, now: Time) -> bool {
        let c = &self.contacts[&id];
        if c.state != RState::Waiting || c.excluded.contains(&agent) {
            return false;
        }
        let def = self.def(agent);
        if !def.queues.contains(&c.queue) || !self.has_room(agent, c.channel) {
            return false;
        }
        self.needs(c, now).iter().all(|(s, l)| {
            def.skills
                .iter()
                .find(|(n, _)| n == s)
                .map(|(_, v)| *v)
                .unwrap_or(0)
                >= *l
        })
    }

    /// (score, arrival, seq): smaller tuple = served first, after negating the score.
    fn rank(&self, id: i64, now: Time) -> (i64, Time, u64) {
        let c = &self.contacts[&id];
        let q = self.queue(c.queue);
        let waited_ms = now.as_millis() as i64 - c.arrived.as_millis() as i64;
        let score = (i64::from(q.base_priority) + c.priority) * 60_000
            + i64::from(q.aging_per_minute) * waited_ms;
        (-score, c.arrived, c.seq)
    }

    fn apply(&mut self, e: &Event, now: Time) -> Result<(), String> {
        self.unpark(now);
        match e {
            Event::Queued {
                contact,
                queue,
                channel,
                priority,
                requirements,
                arrived_at,
                at,
                ..
            } => {
                self.seq += 1;
                self.ever.insert(contact.0);
                self.contacts.insert(
                    contact.0,
                    RContact {
                        queue: queue.0,
                        channel: *channel,
                        priority: i64::from(*priority),
                        own: requirements
                            .iter()
                            .map(|r| (r.skill.clone(), r.min_proficiency))
                            .collect(),
                        arrived: *arrived_at,
                        queued_at: *at,
                        seq: self.seq,
                        state: RState::Waiting,
                        excluded: BTreeSet::new(),
                        callback: false,
                    },
                );
            }
            Event::Offered { contact, agent, .. } => {
                let (x, a) = (contact.0, agent.0);
                if !self.eligible(a, x, now) {
                    return Err(format!(
                        "contact {x} offered to agent {a} who may not take it"
                    ));
                }
                let rx = self.rank(x, now);
                for (y, c) in &self.contacts {
                    if *y != x
                        && c.state == RState::Waiting
                        && self.eligible(a, *y, now)
                        && self.rank(*y, now) < rx
                    {
                        return Err(format!("agent {a} offered {x} while {y} was ahead of it"));
                    }
                }
                self.contacts.get_mut(&x).unwrap().state = RState::Offered(a);
                let ch = self.contacts[&x].channel;
                self.agents.get_mut(&a).unwrap().items.insert(x, ch);
            }
            Event::Accepted { contact, agent, .. } => {
                self.contacts.get_mut(&contact.0).unwrap().state = RState::Serving(agent.0);
            }
            Event::Declined { contact, agent, .. } => {
                let c = self.contacts.get_mut(&contact.0).unwrap();
                c.state = RState::Waiting;
                c.excluded.insert(agent.0);
                self.agents
                    .get_mut(&agent.0)
                    .unwrap()
                    .items
                    .remove(&contact.0);
            }
            Event::Missed { contact, agent, .. } | Event::Withdrawn { contact, agent, .. } => {
                if let Some(c) = self.contacts.get_mut(&contact.0) {
                    c.state = RState::Waiting;
                }
                self.agents
                    .get_mut(&agent.0)
                    .unwrap()
                    .items
                    .remove(&contact.0);
            }
            Event::Abandoned { contact, .. } | Event::Cancelled { contact, .. } => {
                self.contacts.remove(&contact.0);
                self.finished.insert(contact.0);
            }
            Event::Ended { contact, .. } => {
                // The agent keeps the slot through wrap-up (or releases it in WrapUpEnded).
                self.contacts.remove(&contact.0);
                self.finished.insert(contact.0);
            }
            Event::WrapUpEnded { agent, contact, .. } => {
                self.agents
                    .get_mut(&agent.0)
                    .unwrap()
                    .items
                    .remove(&contact.0);
            }
            Event::Overflowed {
                contact, to, at, ..
            } => match to {
                Some(q) => {
                    let c = self.contacts.get_mut(&contact.0).unwrap();
                    c.queue = q.0;
                    c.queued_at = *at;
                }
                None => {
                    self.contacts.remove(&contact.0);
                    self.finished.insert(contact.0);
                }
            },
            Event::CallbackRequested { contact, .. } => {
                self.contacts.get_mut(&contact.0).unwrap().callback = true;
            }
            Event::CallbackMerged { contact, .. } => {
                self.contacts.remove(&contact.0);
                self.finished.insert(contact.0);
            }
            Event::CallbackReached { contact, .. } => {
                self.contacts.get_mut(&contact.0).unwrap().callback = false;
            }
            Event::CallbackUnreached {
                contact, retry_at, ..
            } => {
                let agent = match self.contacts[&contact.0].state {
                    RState::Serving(a) => a,
                    ref s => return Err(format!("unreached callback {contact} was {s:?}")),
                };
                self.agents
                    .get_mut(&agent)
                    .unwrap()
                    .items
                    .remove(&contact.0);
                if let Some(t) = retry_at {
                    self.contacts.get_mut(&contact.0).unwrap().state = RState::Parked(*t);
                } else {
                    self.contacts.remove(&contact.0);
                    self.finished.insert(contact.0);
                }
            }
            Event::AgentState {
                agent, presence, ..
            } => {
                self.agents.get_mut(&agent.0).unwrap().presence = presence.clone();
            }
            Event::Widened { .. } | Event::WrapUp { .. } | Event::Reconciled { .. } => {}
        }
        Ok(())
    }

    /// A parked callback waits again from its retry time.
    fn unpark(&mut self, now: Time) {
        for c in self.contacts.values_mut() {
            if matches!(c.state, RState::Parked(t) if t <= now) {
                c.state = RState::Waiting;
            }
        }
    }

    fn check(&self, sim: &Sim) -> Result<(), String> {
        let now = sim.now;
        // The wallboard's waiting contacts by channel add up to its waiting contacts.
        for q in sim.engine.snapshot(now).queues {
            let by_channel: usize = q.waiting_by_channel.iter().map(|(_, n)| n).sum();
            if by_channel != q.waiting {
                return Err(format!(
                    "queue {:?}: waiting {} but {by_channel} by channel",
                    q.queue, q.waiting
                ));
            }
        }
        // Nothing lost: every contact ever seen is held or finished, never both.
        for id in &self.ever {
            let held = sim.engine.contact_state(ContactId(*id)).is_some();
            let done = self.finished.contains(id);
            if held == done {
                return Err(format!(
                    "contact {id}: held by the engine = {held}, finished = {done}"
                ));
            }
        }
        // The reference and the engine agree on every contact.
        for (id, c) in &self.contacts {
            let s = sim.engine.contact_state(ContactId(*id)).unwrap();
            let same = match (&c.state, &s) {
                (RState::Waiting, ContactState::Waiting { queue }) => queue.0 == c.queue,
                (RState::Parked(t), ContactState::Parked { until, .. }) => t == until,
                (RState::Offered(a), ContactState::Offered { agent, expires_at }) => {
                    if *expires_at <= now {
                        return Err(format!("offer of {id} past its deadline"));
                    }
                    agent.0 == *a
                }
                (RState::Serving(a), ContactState::Serving { agent }) => agent.0 == *a,
                _ => false,
            };
            if !same {
                return Err(format!(
                    "contact {id}: reference {:?}, engine {s:?}",
                    c.state
                ));
            }
        }
        let mut holders: BTreeMap<i64, i64> = BTreeMap::new();
        for (aid, a) in &self.agents {
            let view = sim.engine.agent_view(AgentId(*aid)).unwrap();
            if view.presence != a.presence {
                return Err(format!(
                    "agent {aid}: presence {:?} vs {:?}",
                    view.presence, a.presence
                ));
            }
            // Capacity, and a call never shares an agent with anything.
            for ch in [Channel::Voice, Channel::Chat] {
                let n = view.items.iter().filter(|i| i.1 == ch).count();
                let cap = self.def(*aid).capacity;
                let limit = if ch == Channel::Voice {
                    cap.voice
                } else {
                    cap.chat
                };
                if n > usize::from(limit) {
                    return Err(format!(
                        "agent {aid} holds {n} {ch} contacts, capacity {limit}"
                    ));
                }
            }
            let voice = view.items.iter().any(|i| i.1 == Channel::Voice);
            if voice && view.items.len() > 1 {
                return Err(format!("agent {aid} holds a call and something else"));
            }
            // No contact held by two agents.
            for (c, _, _) in &view.items {
                if let Some(other) = holders.insert(c.0, *aid) {
                    return Err(format!("contact {} held by agents {other} and {aid}", c.0));
                }
            }
            if view.deadline.is_some_and(|d| d <= now) {
                return Err(format!("agent {aid} past its deadline"));
            }
            let mine: BTreeSet<i64> = view.items.iter().map(|i| i.0 .0).collect();
            let theirs: BTreeSet<i64> = a.items.keys().copied().collect();
            if mine != theirs {
                return Err(format!(
                    "agent {aid}: engine holds {mine:?}, reference {theirs:?}"
                ));
            }
        }
        // Work-conserving: no waiting contact an available agent with room could take.
        for id in self.contacts.keys() {
            for aid in self.agents.keys() {
                let reference = self.eligible(*aid, *id, now);
                let engine = sim.engine.could_offer(AgentId(*aid), ContactId(*id));
                if reference != engine {
                    return Err(format!("agent {aid} / contact {id}: reference eligible {reference}, engine {engine}"));
                }
                if reference {
                    return Err(format!(
                        "contact {id} waits while agent {aid} could take it"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn run(ops: &[Op]) -> Result<(), String> {
    let mut sim = Sim::new();
    let mut r = Reference {
        queues: queue_configs(),
        defs: agent_defs(),
        contacts: BTreeMap::new(),
        agents: BTreeMap::new(),
        ever: BTreeSet::new(),
        finished: BTreeSet::new(),
        seq: 0,
    };
    for q in queue_configs() {
        sim.engine.set_queue(sim.now, q).unwrap();
    }
    for d in agent_defs() {
        sim.agent_with(d.id, &d.skills, &d.queues, |a| {
            a.capacity = Some(d.capacity)
        });
        r.agents.insert(
            d.id,
            RAgent {
                presence: Presence::Offline,
                items: BTreeMap::new(),
            },
        );
    }
    let mut next_id = 1i64;
    let mut seen = 0usize;
    for (step, op) in ops.iter().enumerate() {
        let now = sim.now;
        let pick = |filter: &dyn Fn(&ContactState) -> bool, k: usize| -> Option<ContactId> {
            let mut v: Vec<ContactId> = sim
                .engine
                .contacts()
                .filter(|(_, s)| filter(s))
                .map(|(c, _)| c)
                .collect();
            v.sort();
            (!v.is_empty()).then(|| v[k % v.len()])
        };
        match op {
            Op::Arrive {
                queue,
                chat,
                priority,
                need,
            } => {
                let mut s = ContactSpec::new(
                    ContactId(next_id),
                    QueueId(*queue),
                    if *chat { Channel::Chat } else { Channel::Voice },
                );
                next_id += 1;
                s.priority = *priority;
                if let Some((skill, level)) = need {
                    s.requirements = vec![Requirement::new(SKILLS[*skill], *level)];
                }
                sim.engine
                    .handle_contact(now, s)
                    .map_err(|e| e.to_string())?;
            }
            Op::Presence { agent, which } => {
                let p = match which {
                    0 => Presence::Offline,
                    1 => Presence::NotReady("break".into()),
                    _ => Presence::Available,
                };
                sim.engine.handle_presence(now, AgentId(*agent), p).unwrap();
            }
            Op::Accept(k) => {
                if let Some(c) = pick(&|s| matches!(s, ContactState::Offered { .. }), *k) {
                    sim.engine.handle_offer_accepted(now, c).unwrap();
                }
            }
            Op::Decline(k) => {
                if let Some(c) = pick(&|s| matches!(s, ContactState::Offered { .. }), *k) {
                    sim.engine.handle_offer_declined(now, c).unwrap();
                }
            }
            Op::Abandon(k) => {
                if let Some(c) = pick(&|_| true, *k) {
                    sim.engine.handle_abandoned(now, c).unwrap();
                }
            }
            Op::End(k) => {
                if let Some(c) = pick(&|s| matches!(s, ContactState::Serving { .. }), *k) {
                    sim.engine.handle_contact_ended(now, c).unwrap();
                }
            }
            Op::WrapDone(k) => {
                let mut wraps = Vec::new();
                for a in 1..=4 {
                    for (c, _, phase) in sim.engine.agent_view(AgentId(a)).unwrap().items {
                        if matches!(phase, hotline_routing::engine::ItemPhase::WrapUp { .. }) {
                            wraps.push((a, c));
                        }
                    }
                }
                if !wraps.is_empty() {
                    let (a, c) = wraps[k % wraps.len()];
                    sim.engine.handle_wrap_up_done(now, AgentId(a), c).unwrap();
                }
            }
            Op::Callback { pick: k, number } => {
                let waiting = |s: &ContactState| matches!(s, ContactState::Waiting { .. });
                if let Some(c) = pick(&waiting, *k) {
                    if !r.contacts[&c.0].callback {
                        sim.engine
                            .handle_callback_request(now, c, format!("+7916555000{number}"))
                            .unwrap();
                    }
                }
            }
            Op::CallbackOutcome { pick: k, reached } => {
                let serving: Vec<ContactId> = {
                    let mut v: Vec<ContactId> = sim
                        .engine
                        .contacts()
                        .filter(|(c, s)| {
                            matches!(s, ContactState::Serving { .. }) && r.contacts[&c.0].callback
                        })
                        .map(|(c, _)| c)
                        .collect();
                    v.sort();
                    v
                };
                if !serving.is_empty() {
                    let c = serving[k % serving.len()];
                    if *reached {
                        sim.engine.handle_callback_reached(now, c).unwrap();
                    } else {
                        sim.engine.handle_callback_unreached(now, c).unwrap();
                    }
                }
            }
            Op::Vanish { agent } => {
                sim.engine
                    .handle_observation(now, AgentId(*agent), Observation::default())
                    .unwrap();
            }
            Op::Advance(ms) => {
                // Step through every deadline, checking at each.
                let target = now.plus(Duration::from_millis(*ms));
                loop {
                    let next = sim.engine.poll_timeout().filter(|t| *t <= target);
                    sim.now = next.unwrap_or(target).max(sim.now);
                    sim.engine.handle_timeout(sim.now);
                    settle(&mut sim, &mut r, &mut seen).map_err(|m| {
                        format!(
                            "step {step} ({op:?}) at +{}ms: {m}",
                            sim.now.as_millis() - T0
                        )
                    })?;
                    if next.is_none() {
                        break;
                    }
                }
                continue;
            }
        }
        settle(&mut sim, &mut r, &mut seen).map_err(|m| {
            format!(
                "step {step} ({op:?}) at +{}ms: {m}",
                sim.now.as_millis() - T0
            )
        })?;
    }
    Ok(())
}

/// Drains the engine, lets the reference follow (and check) every new event, then checks the
/// invariants.
fn settle(sim: &mut Sim, r: &mut Reference, seen: &mut usize) -> Result<(), String> {
    sim.drain();
    for e in &sim.events[*seen..] {
        r.apply(e, sim.now)?;
    }
    *seen = sim.events.len();
    r.unpark(sim.now);
    r.check(sim)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_the_reference_model(ops in proptest::collection::vec(op(), 1..150)) {
        if let Err(m) = run(&ops) {
            return Err(TestCaseError::fail(m));
        }
    }
}
