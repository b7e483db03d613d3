//! One integration test binary for the routing engine.
//!
//! - `scenarios`: one behaviour per test, driven through the [`Sim`] helper;
//! - `model`: property tests against a small reference model, invariants after every step;
//! - `day`: seeded "day in the life" simulations;
//! - `erlang`: the simulated single queue against Erlang C;
//! - `restore`: events → JSON → journal → a fresh engine.

mod day;
mod erlang;
mod model;
mod restore;
mod scenarios;

use hotline_routing::engine::Presence;
use hotline_routing::{
    AgentConfig, AgentId, Channel, Command, ContactId, ContactSpec, Engine, EngineConfig, Event,
    QueueConfig, QueueId, TenantId, Time,
};
use std::time::Duration;

pub const T0: u64 = 1_800_000_000_000;

/// An engine with a virtual clock that records everything it says.
pub struct Sim {
    pub engine: Engine,
    pub now: Time,
    pub commands: Vec<Command>,
    pub events: Vec<Event>,
}

impl Default for Sim {
    fn default() -> Sim {
        Sim::new()
    }
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with(EngineConfig::default())
    }

    pub fn with(cfg: EngineConfig) -> Sim {
        Sim {
            engine: Engine::new(cfg).unwrap(),
            now: Time::from_millis(T0),
            commands: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn drain(&mut self) {
        while let Some(c) = self.engine.poll_command() {
            self.commands.push(c);
        }
        while let Some(e) = self.engine.poll_event() {
            self.events.push(e);
        }
    }

    pub fn queue(&mut self, id: i64, f: impl FnOnce(&mut QueueConfig)) {
        let mut q = QueueConfig::new(QueueId(id), TenantId(1));
        f(&mut q);
        self.engine.set_queue(self.now, q).unwrap();
        self.drain();
    }

    pub fn agent(&mut self, id: i64, skills: &[(&str, u8)], queues: &[i64]) {
        self.agent_with(id, skills, queues, |_| {});
    }

    pub fn agent_with(
        &mut self,
        id: i64,
        skills: &[(&str, u8)],
        queues: &[i64],
        f: impl FnOnce(&mut AgentConfig),
    ) {
        let mut a = AgentConfig::new(AgentId(id), TenantId(1));
        a.skills = skills.iter().map(|(s, l)| (s.to_string(), *l)).collect();
        a.queues = queues.iter().map(|q| QueueId(*q)).collect();
        f(&mut a);
        self.engine.set_agent(self.now, a).unwrap();
        self.drain();
    }

    pub fn ready(&mut self, agent: i64) {
        self.engine
            .handle_presence(self.now, AgentId(agent), Presence::Available)
            .unwrap();
        self.drain();
    }

    pub fn arrive(&mut self, id: i64, queue: i64, channel: Channel) {
        self.arrive_with(id, queue, channel, |_| {});
    }

    pub fn arrive_with(
        &mut self,
        id: i64,
        queue: i64,
        channel: Channel,
        f: impl FnOnce(&mut ContactSpec),
    ) {
        let mut s = ContactSpec::new(ContactId(id), QueueId(queue), channel);
        f(&mut s);
        self.engine.handle_contact(self.now, s).unwrap();
        self.drain();
    }

    /// Moves the clock, stopping at every deadline on the way.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now.plus(d);
        while let Some(next) = self.engine.poll_timeout() {
            if next > target {
                break;
            }
            self.now = self.now.max(next);
            self.engine.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
        self.engine.handle_timeout(self.now);
        self.drain();
    }

    pub fn secs(&mut self, s: u64) {
        self.advance(Duration::from_secs(s));
    }

    /// Offers made since the last call, as (contact, agent), and forgets them.
    pub fn take_offers(&mut self) -> Vec<(i64, i64)> {
        let offers = self
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Offer { contact, agent, .. } => Some((contact.0, agent.0)),
                _ => None,
            })
            .collect();
        self.commands.clear();
        offers
    }

    pub fn accept(&mut self, contact: i64) {
        self.engine
            .handle_offer_accepted(self.now, ContactId(contact))
            .unwrap();
        self.drain();
    }

    pub fn end(&mut self, contact: i64) {
        self.engine
            .handle_contact_ended(self.now, ContactId(contact))
            .unwrap();
        self.drain();
    }

    pub fn events_of(&self, contact: i64) -> Vec<&'static str> {
        self.events
            .iter()
            .filter(|e| e.contact() == Some(ContactId(contact)))
            .map(|e| e.kind())
            .collect()
    }
}

/// SplitMix64: a small seeded generator for simulations (the engine itself takes no randomness).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Exponentially distributed with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}
