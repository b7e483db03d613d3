//! After a restart the engine is rebuilt from its stored events: events → JSON (as the store
//! keeps them) → journal → a fresh engine, which must hold the same agents and contacts in the
//! same order and carry on as the old one would have.

use crate::Sim;
use hotline_routing::engine::Presence;
use hotline_routing::restore::Journal;
use hotline_routing::{AgentId, Channel, ContactId, ContactState, Event, QueueId};
use std::time::Duration;

fn configure(sim: &mut Sim) {
    sim.queue(1, |q| {
        q.channels = vec![Channel::Voice, Channel::Chat, Channel::Email];
        q.callback_retry_interval = Duration::from_secs(60);
    });
    sim.queue(2, |q| {
        q.channels = vec![Channel::Chat];
        q.base_priority = 5;
    });
    sim.agent(1, &[], &[1, 2]);
    sim.agent(2, &[], &[1]);
    sim.agent(3, &[], &[1]);
}

#[test]
fn a_restarted_engine_has_the_same_agents_and_waiting_contacts() {
    let mut sim = Sim::new();
    configure(&mut sim);
    sim.ready(1);
    sim.engine
        .handle_presence(sim.now, AgentId(2), Presence::NotReady("lunch".into()))
        .unwrap();
    sim.drain();
    // Agent 1 takes one chat and keeps it; the rest wait.
    sim.arrive(1, 1, Channel::Chat);
    assert_eq!(sim.take_offers(), vec![(1, 1)]);
    sim.accept(1);
    sim.engine
        .handle_presence(sim.now, AgentId(1), Presence::NotReady("training".into()))
        .unwrap();
    sim.drain();
    // Contact 6's callback was attempted once and missed: parked.
    sim.arrive(6, 1, Channel::Voice);
    sim.engine
        .handle_callback_request(sim.now, ContactId(6), "+79164445566".into())
        .unwrap();
    sim.ready(3);
    assert_eq!(sim.take_offers(), vec![(6, 3)]);
    sim.accept(6);
    sim.engine
        .handle_callback_unreached(sim.now, ContactId(6))
        .unwrap();
    sim.engine
        .handle_presence(sim.now, AgentId(3), Presence::Offline)
        .unwrap();
    sim.drain();
    sim.arrive(2, 1, Channel::Voice); // a waiting call: lost with the process
    sim.secs(5);
    sim.arrive(3, 1, Channel::Voice);
    sim.engine
        .handle_callback_request(sim.now, ContactId(3), "+79161112233".into())
        .unwrap();
    sim.arrive(4, 1, Channel::Email);
    sim.arrive(5, 2, Channel::Chat);
    assert_eq!(sim.take_offers(), vec![]);
    let before_order = sim.engine.waiting_order(sim.now);

    // What the store holds: JSON per event.
    let stored: Vec<String> = sim
        .events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let mut journal = Journal::new();
    for s in &stored {
        let e: Event = serde_json::from_str(s).unwrap();
        journal.apply(&e);
    }
    let restore = journal.finish();

    let mut fresh = Sim::new();
    fresh.now = sim.now.plus(Duration::from_secs(20));
    configure(&mut fresh);
    fresh.engine.restore(fresh.now, &restore).unwrap();
    fresh.drain();

    // Who was logged in, ready or not.
    for a in 1..=3 {
        let (old, new) = (
            sim.engine.agent_view(AgentId(a)).unwrap(),
            fresh.engine.agent_view(AgentId(a)).unwrap(),
        );
        assert_eq!(old.presence, new.presence, "agent {a}");
    }
    // The waiting call is gone; chats, e-mails and callbacks are back in the same order.
    assert_eq!(fresh.engine.contact_state(ContactId(2)), None);
    let expected: Vec<ContactId> = before_order
        .into_iter()
        .filter(|c| *c != ContactId(2))
        .collect();
    assert_eq!(fresh.engine.waiting_order(fresh.now), expected);
    assert!(matches!(
        fresh.engine.contact_state(ContactId(6)),
        Some(ContactState::Parked { .. })
    ));
    assert_eq!(
        fresh.engine.contact_state(ContactId(1)),
        Some(ContactState::Serving { agent: AgentId(1) })
    );
    // It carries on: the first agent ready takes the first in line of the queues they serve
    // (contact 5 of queue 2, priority 5, is first overall but agent 2 serves queue 1 only), and
    // the parked callback comes back at its time.
    assert_eq!(expected, vec![ContactId(5), ContactId(3), ContactId(4)]);
    fresh.ready(2);
    assert_eq!(fresh.take_offers(), vec![(3, 2)]);
    assert!(
        fresh
            .events
            .iter()
            .all(|e| !matches!(e, Event::Queued { .. })),
        "restoring records nothing twice"
    );
    fresh.secs(40);
    assert!(matches!(
        fresh.engine.contact_state(ContactId(6)),
        Some(ContactState::Waiting { queue: QueueId(1) })
    ));
    // Callback de-duplication survives too.
    fresh.arrive(7, 1, Channel::Voice);
    fresh
        .engine
        .handle_callback_request(fresh.now, ContactId(7), "+79164445566".into())
        .unwrap();
    fresh.drain();
    assert!(fresh.events.iter().any(|e| matches!(
        e,
        Event::CallbackMerged {
            contact: ContactId(7),
            into: ContactId(6),
            ..
        }
    )));
}

#[test]
fn a_scheduled_callback_survives_a_restart_with_its_time_and_its_agent() {
    let mut sim = Sim::new();
    configure(&mut sim);
    let due = sim.now.plus(Duration::from_secs(600));
    sim.arrive_with(1, 1, Channel::Voice, |s| {
        s.callback_number = Some("+79160000003".into());
        s.preferred_agent = Some(AgentId(2));
        s.preferred_for = Some(Duration::from_secs(300));
        s.not_before = Some(due);
    });
    sim.arrive_with(2, 1, Channel::Voice, |s| {
        s.callback_number = Some("+79160000004".into());
        s.not_before = Some(due);
    });
    sim.engine.handle_cancelled(sim.now, ContactId(2)).unwrap();
    sim.drain();
    let mut journal = Journal::new();
    for e in &sim.events {
        let stored = serde_json::to_string(e).unwrap();
        journal.apply(&serde_json::from_str(&stored).unwrap());
    }
    let restore = journal.finish();
    let mut fresh = Sim::new();
    fresh.now = sim.now.plus(Duration::from_secs(60));
    configure(&mut fresh);
    fresh.engine.restore(fresh.now, &restore).unwrap();
    fresh.drain();
    assert_eq!(
        fresh.engine.contact_state(ContactId(2)),
        None,
        "cancelled stays cancelled"
    );
    assert_eq!(
        fresh.engine.contact_state(ContactId(1)),
        Some(ContactState::Parked {
            queue: QueueId(1),
            until: due
        })
    );
    fresh.ready(1);
    fresh.ready(2);
    fresh.ready(3);
    assert_eq!(fresh.take_offers(), vec![]);
    fresh.secs(540);
    // Due: its agent is free and takes it; before that, nobody did.
    assert_eq!(fresh.take_offers(), vec![(1, 2)]);
}
