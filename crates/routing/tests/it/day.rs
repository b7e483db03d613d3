//! "A day in the life": eight hours of a small centre in virtual time, with seeded random
//! arrivals on three channels, agents who answer, miss, take breaks and wrap up, callers who
//! give up or ask for a callback. At the end every contact is accounted for, every queue's
//! figures add up, and the same seed gives the same day, event for event.

use crate::{Rng, Sim};
use hotline_routing::engine::{ItemPhase, Presence};
use hotline_routing::{
    AgentId, Channel, Command, ContactId, ContactState, Event, Overflow, QueueId, Requirement,
    Time, WideningStep,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Act {
    Arrival,
    Answer(i64),
    End(i64),
    Patience(i64),
    CallbackOutcome(i64),
    BreakStart(i64),
    BreakEnd(i64),
    BackFromMiss(i64),
}

const HOUR: u64 = 3_600_000;

fn setup(sim: &mut Sim, rng: &mut Rng) {
    sim.queue(3, |q| {
        q.channels = vec![Channel::Voice, Channel::Chat, Channel::Email];
        q.aging_per_minute = 2;
        q.wrap_up = Duration::from_secs(10);
    });
    sim.queue(1, |q| {
        q.max_wait = Some(Duration::from_secs(240));
        q.overflow = Overflow::Queue(QueueId(3));
        q.requirements = vec![Requirement::new("sales", 2)];
        q.wrap_up = Duration::from_secs(15);
    });
    sim.queue(2, |q| {
        q.channels = vec![Channel::Voice, Channel::Chat];
        q.requirements = vec![Requirement::new("tech", 3)];
        q.widening = vec![WideningStep {
            after: Duration::from_secs(60),
            max_proficiency: 1,
            drop: vec![],
        }];
        q.wrap_up = Duration::from_secs(20);
    });
    sim.queue(4, |q| {
        q.base_priority = 50;
        q.preferred_timeout = Duration::from_secs(20);
    });
    for a in 1..=24 {
        let mut skills = vec![("sales", 1 + rng.below(5) as u8)];
        if rng.below(2) == 0 {
            skills.push(("tech", 1 + rng.below(5) as u8));
        }
        let mut queues = vec![3];
        queues.push(1 + rng.below(2) as i64);
        if a <= 4 {
            queues.push(4);
        }
        sim.agent(a, &skills, &queues);
        sim.ready(a);
    }
}

/// Runs one day; returns every event the engine emitted.
fn day(seed: u64) -> (Vec<Event>, Sim) {
    let mut sim = Sim::new();
    let mut rng = Rng::new(seed);
    setup(&mut sim, &mut rng);
    let start = sim.now.as_millis();
    let close = start + 8 * HOUR;
    let mut plan: BinaryHeap<Reverse<(u64, Act)>> = BinaryHeap::new();
    plan.push(Reverse((start, Act::Arrival)));
    for a in 1..=24 {
        for _ in 0..2 {
            plan.push(Reverse((start + rng.below(8 * HOUR), Act::BreakStart(a))));
        }
    }
    let mut next_id = 0i64;
    let mut channel_of: BTreeMap<i64, Channel> = BTreeMap::new();
    let mut all_events = Vec::new();
    loop {
        let engine_next = sim.engine.poll_timeout().map(|t| t.as_millis());
        let plan_next = plan.peek().map(|Reverse((t, _))| *t);
        let t = match (engine_next, plan_next) {
            (None, None) => break,
            (Some(e), Some(p)) => e.min(p),
            (Some(e), None) => e,
            (None, Some(p)) => p,
        };
        sim.now = Time::from_millis(t.max(sim.now.as_millis()));
        sim.engine.handle_timeout(sim.now);
        while plan
            .peek()
            .is_some_and(|Reverse((pt, _))| *pt <= sim.now.as_millis())
        {
            let Reverse((_, act)) = plan.pop().expect("peeked");
            let now = sim.now;
            match act {
                Act::Arrival => {
                    if now.as_millis() >= close {
                        continue;
                    }
                    next_id += 1;
                    // Busier mid-day: rate follows the hour.
                    let hour = (now.as_millis() - start) / HOUR;
                    let mean_gap = [
                        30_000.0, 16_000.0, 11_000.0, 9_000.0, 11_000.0, 14_000.0, 20_000.0,
                        30_000.0,
                    ][hour as usize];
                    plan.push(Reverse((
                        now.as_millis() + rng.exp(mean_gap).round() as u64 + 1,
                        Act::Arrival,
                    )));
                    let r = rng.below(100);
                    let (queue, channel) = match r {
                        0..=39 => (1, Channel::Voice),
                        40..=59 => (2, Channel::Voice),
                        60..=74 => (2, Channel::Chat),
                        75..=84 => (3, Channel::Email),
                        85..=94 => (3, Channel::Chat),
                        _ => (4, Channel::Voice),
                    };
                    channel_of.insert(next_id, channel);
                    let preferred = (queue == 4).then(|| AgentId(1 + rng.below(4) as i64));
                    sim.arrive_with(next_id, queue, channel, |s| {
                        s.preferred_agent = preferred;
                        s.priority = rng.below(3) as i32;
                    });
                    if channel == Channel::Voice {
                        plan.push(Reverse((
                            now.as_millis() + rng.exp(150_000.0) as u64 + 1,
                            Act::Patience(next_id),
                        )));
                    }
                }
                Act::Patience(c) => {
                    if let Some(ContactState::Waiting { .. }) =
                        sim.engine.contact_state(ContactId(c))
                    {
                        if rng.below(4) == 0 {
                            let number = format!("+7916{:07}", rng.below(8));
                            sim.engine
                                .handle_callback_request(now, ContactId(c), number)
                                .unwrap();
                        } else {
                            sim.engine.handle_abandoned(now, ContactId(c)).unwrap();
                        }
                    }
                }
                Act::Answer(c) => {
                    if let Some(ContactState::Offered { .. }) =
                        sim.engine.contact_state(ContactId(c))
                    {
                        sim.engine.handle_offer_accepted(now, ContactId(c)).unwrap();
                        let mean = match channel_of[&c] {
                            Channel::Voice => 200_000.0,
                            Channel::Chat => 400_000.0,
                            _ => 300_000.0,
                        };
                        plan.push(Reverse((
                            now.as_millis() + rng.exp(mean) as u64 + 1,
                            Act::End(c),
                        )));
                        plan.push(Reverse((now.as_millis() + 5_000, Act::CallbackOutcome(c))));
                    }
                }
                Act::CallbackOutcome(c) => {
                    // Only callbacks hear from the dialler; the engine refuses anything else.
                    if sim
                        .engine
                        .handle_callback_reached(now, ContactId(c))
                        .is_err()
                    {
                        continue;
                    }
                }
                Act::End(c) => {
                    if let Some(ContactState::Serving { .. }) =
                        sim.engine.contact_state(ContactId(c))
                    {
                        if rng.below(5) == 0 {
                            // Sometimes the callback's customer was not reached after all.
                            let _ = sim.engine.handle_callback_unreached(now, ContactId(c));
                        }
                        if let Some(ContactState::Serving { .. }) =
                            sim.engine.contact_state(ContactId(c))
                        {
                            sim.engine.handle_contact_ended(now, ContactId(c)).unwrap();
                        }
                    }
                }
                Act::BreakStart(a) => {
                    sim.engine
                        .handle_presence(now, AgentId(a), Presence::NotReady("break".into()))
                        .unwrap();
                    plan.push(Reverse((now.as_millis() + 15 * 60_000, Act::BreakEnd(a))));
                }
                Act::BreakEnd(a) | Act::BackFromMiss(a) => {
                    if now.as_millis() < close + HOUR {
                        sim.engine
                            .handle_presence(now, AgentId(a), Presence::Available)
                            .unwrap();
                    }
                }
            }
        }
        sim.drain();
        for cmd in std::mem::take(&mut sim.commands) {
            if let Command::Offer { contact, agent, .. } = cmd {
                if rng.below(20) == 0 {
                    // Missed: the engine makes the agent not-ready; they come back after a minute.
                    plan.push(Reverse((
                        sim.now.as_millis() + 80_000,
                        Act::BackFromMiss(agent.0),
                    )));
                } else {
                    plan.push(Reverse((
                        sim.now.as_millis() + 1_000 + rng.below(5_000),
                        Act::Answer(contact.0),
                    )));
                }
            }
        }
        // Nothing stays past its deadline.
        for a in 1..=24 {
            let v = sim.engine.agent_view(AgentId(a)).unwrap();
            assert!(
                v.deadline.is_none_or(|d| d > sim.now),
                "agent {a} past its deadline"
            );
            for (_, _, p) in &v.items {
                if let ItemPhase::Offered { expires_at } = p {
                    assert!(*expires_at > sim.now);
                }
            }
        }
        all_events.append(&mut sim.events);
    }
    (all_events, sim)
}

#[test]
fn a_day_in_the_life_adds_up() {
    let (events, sim) = day(2026);
    assert_eq!(
        sim.engine.contact_count(),
        0,
        "the day ends with nobody left waiting"
    );
    // Every contact ends exactly once; the figures of each queue add up.
    let mut queue_of: BTreeMap<ContactId, QueueId> = BTreeMap::new();
    let mut finished: BTreeMap<ContactId, &'static str> = BTreeMap::new();
    let mut merged_from: BTreeMap<QueueId, u64> = BTreeMap::new();
    let mut offers = 0;
    for e in &events {
        match e {
            Event::Queued { contact, queue, .. } => {
                queue_of.insert(*contact, *queue);
            }
            Event::Overflowed {
                contact,
                to: Some(q),
                ..
            } => {
                queue_of.insert(*contact, *q);
            }
            Event::Offered { .. } => offers += 1,
            Event::CallbackMerged { contact, .. } => {
                *merged_from.entry(queue_of[contact]).or_default() += 1;
            }
            _ => {}
        }
        let end = match e {
            Event::Ended { .. } => Some("ended"),
            Event::Abandoned { .. } => Some("abandoned"),
            Event::Overflowed { to: None, .. } => Some("overflowed"),
            Event::CallbackMerged { .. } => Some("merged"),
            Event::CallbackUnreached { retry_at: None, .. } => Some("unreached"),
            _ => None,
        };
        if let Some(end) = end {
            let c = e.contact().unwrap();
            assert!(finished.insert(c, end).is_none(), "contact {c} ended twice");
        }
    }
    assert_eq!(
        finished.len(),
        queue_of.len(),
        "every contact that arrived is accounted for"
    );
    let snap = sim.engine.snapshot(sim.now);
    // A wallboard's view of one tenant and an agent's own figures are the same numbers.
    let tenant = snap.queues[0].tenant;
    assert_eq!(sim.engine.snapshot_of(sim.now, Some(tenant)), snap);
    let nobody = sim
        .engine
        .snapshot_of(sim.now, Some(hotline_routing::TenantId(tenant.0 + 1)));
    assert!(nobody.queues.is_empty() && nobody.agents.is_empty());
    for a in &snap.agents {
        assert_eq!(sim.engine.agent_figures(sim.now, a.agent).as_ref(), Some(a));
    }
    let mut total_answered = 0;
    for f in &snap.queues {
        let out = f.answered
            + f.abandoned
            + f.abandoned_short
            + f.overflowed
            + merged_from.get(&f.queue).copied().unwrap_or(0);
        assert_eq!(f.arrived, out, "queue {}: {f:?}", f.queue);
        total_answered += f.answered;
    }
    let kinds = |k: &str| events.iter().filter(|e| e.kind() == k).count();
    eprintln!(
        "day: {} contacts, {offers} offers, {total_answered} answered, {} abandoned, {} missed, {} callbacks ({} merged), {} overflowed, {} widened",
        queue_of.len(),
        kinds("routing.abandoned"),
        kinds("routing.missed"),
        kinds("routing.callback_requested"),
        kinds("routing.callback_merged"),
        kinds("routing.overflowed"),
        kinds("routing.widened"),
    );
    // The day exercised what it is meant to.
    for k in [
        "routing.missed",
        "routing.callback_requested",
        "routing.callback_merged",
        "routing.callback_reached",
        "routing.callback_unreached",
        "routing.widened",
        "routing.overflowed",
        "routing.wrap_up",
    ] {
        assert!(kinds(k) > 0, "no {k} in the day");
    }
    assert!(queue_of.len() > 1000);
}

#[test]
fn the_same_seed_gives_the_same_day() {
    let a = serde_json::to_string(&day(7).0).unwrap();
    let b = serde_json::to_string(&day(7).0).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, serde_json::to_string(&day(8).0).unwrap());
}
