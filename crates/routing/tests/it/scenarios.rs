//! One behaviour per test.

use crate::{Sim, T0};
use hotline_routing::engine::{AgentState, ItemPhase, Observation, Presence};
use hotline_routing::{
    AgentId, Capacity, Channel, Command, ContactId, ContactState, Event, Overflow, QueueId,
    Requirement, Strategy, Time, WideningStep,
};
use std::time::Duration;

fn state(sim: &Sim, agent: i64) -> AgentState {
    sim.engine.agent_view(AgentId(agent)).unwrap().state
}

#[test]
fn skills_and_proficiency_decide_who_may_take_a_contact() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.requirements = vec![Requirement::new("cards", 2)]);
    sim.agent(1, &[("cards", 5), ("en", 3)], &[1]);
    sim.agent(2, &[("cards", 3), ("ru", 4)], &[1]);
    sim.agent(3, &[("ru", 5)], &[1]);
    sim.ready(1);
    sim.ready(2);
    sim.ready(3);
    // Needs Russian at 4 on top of the queue's cards ≥ 2: only agent 2 qualifies.
    sim.arrive_with(10, 1, Channel::Voice, |s| {
        s.requirements = vec![Requirement::new("ru", 4)]
    });
    assert_eq!(sim.take_offers(), vec![(10, 2)]);
    // Agent 3 lacks cards, so an ordinary contact goes to agent 1, not 3.
    sim.arrive(11, 1, Channel::Voice);
    assert_eq!(sim.take_offers(), vec![(11, 1)]);
    sim.arrive(12, 1, Channel::Voice);
    assert_eq!(sim.take_offers(), vec![]);
    assert!(!sim.engine.could_offer(AgentId(3), ContactId(12)));
}

#[test]
fn voice_is_exclusive_and_chats_fill_up_to_capacity() {
    let mut sim = Sim::new();
    sim.queue(1, |q| {
        q.channels = vec![Channel::Voice, Channel::Chat, Channel::Email]
    });
    sim.agent_with(1, &[], &[1], |a| {
        a.capacity = Some(Capacity {
            voice: 1,
            chat: 2,
            email: 1,
            form: 1,
        })
    });
    sim.ready(1);
    sim.arrive(1, 1, Channel::Chat);
    sim.arrive(2, 1, Channel::Chat);
    sim.arrive(3, 1, Channel::Chat);
    sim.arrive(4, 1, Channel::Email);
    sim.arrive(5, 1, Channel::Voice);
    // Two chats (capacity) and the e-mail (chats and e-mail mix); no third chat, no call.
    assert_eq!(sim.take_offers(), vec![(1, 1), (2, 1), (4, 1)]);
    for c in [1, 2, 4] {
        sim.accept(c);
    }
    sim.end(1);
    sim.secs(10); // wrap-up of the chat holds its slot until it ends
    assert_eq!(sim.take_offers(), vec![(3, 1)]);
    // The call waits until every chat and e-mail is done: a call is exclusive both ways.
    sim.accept(3);
    for c in [2, 3, 4] {
        sim.end(c);
    }
    assert_eq!(sim.take_offers(), vec![]);
    sim.secs(10);
    assert_eq!(sim.take_offers(), vec![(5, 1)]);
    sim.accept(5);
    sim.arrive(6, 1, Channel::Chat);
    assert_eq!(
        sim.take_offers(),
        vec![],
        "nothing is offered during a call"
    );
}

#[test]
fn global_order_is_priority_with_aging_then_arrival_across_queues() {
    let mut sim = Sim::new();
    // Queue 1: base 10, no aging. Queue 2: base 0, ages 2 points per minute.
    sim.queue(1, |q| q.base_priority = 10);
    sim.queue(2, |q| q.aging_per_minute = 2);
    sim.agent(1, &[], &[1, 2]);
    sim.arrive(1, 2, Channel::Voice); // t=0, queue 2: 0 → 2/min
    sim.secs(60);
    sim.arrive(2, 1, Channel::Voice); // t=60: 10 points
    sim.arrive_with(3, 2, Channel::Voice, |s| s.priority = 5); // t=60: 5 → ages
    sim.arrive(4, 1, Channel::Voice); // t=60: 10 points, after contact 2
                                      // At t=60: c1=2, c2=10, c3=5, c4=10 → 2, 4 (FIFO among equals), 3, 1.
    assert_eq!(
        sim.engine.waiting_order(sim.now),
        vec![2, 4, 3, 1]
            .into_iter()
            .map(ContactId)
            .collect::<Vec<_>>()
    );
    // At t=360 (5 minutes later): c1 = 12, c3 = 15, c2 = c4 = 10 → 3, 1, 2, 4.
    sim.secs(300);
    assert_eq!(
        sim.engine.waiting_order(sim.now),
        vec![3, 1, 2, 4]
            .into_iter()
            .map(ContactId)
            .collect::<Vec<_>>()
    );
    // The agent is served in exactly that order.
    sim.ready(1);
    let mut served = Vec::new();
    for _ in 0..4 {
        let offers = sim.take_offers();
        assert_eq!(offers.len(), 1);
        let c = offers[0].0;
        served.push(c);
        sim.accept(c);
        sim.end(c);
        sim.secs(10);
    }
    assert_eq!(served, vec![3, 1, 2, 4]);
}

#[test]
fn bullseye_widens_over_time_then_overflows_keeping_the_place() {
    let mut sim = Sim::new();
    sim.queue(2, |q| q.base_priority = 0);
    sim.queue(1, |q| {
        q.requirements = vec![Requirement::new("cards", 4), Requirement::new("en", 3)];
        q.widening = vec![
            WideningStep {
                after: Duration::from_secs(30),
                max_proficiency: 2,
                drop: vec![],
            },
            WideningStep {
                after: Duration::from_secs(60),
                max_proficiency: 1,
                drop: vec!["en".into()],
            },
        ];
        q.max_wait = Some(Duration::from_secs(90));
        q.overflow = Overflow::Queue(QueueId(2));
    });
    sim.agent(1, &[("cards", 2), ("en", 5)], &[1]);
    sim.agent(2, &[("cards", 1)], &[1]);
    sim.agent(3, &[], &[2]);
    sim.ready(1);
    sim.ready(2);
    sim.arrive(1, 1, Channel::Voice);
    sim.secs(29);
    assert_eq!(sim.take_offers(), vec![], "≥ 4 for the first 30 s");
    sim.secs(1);
    assert_eq!(sim.take_offers(), vec![(1, 1)], "≥ 2 from 30 s");
    sim.accept(1);
    sim.arrive(2, 1, Channel::Voice);
    sim.secs(59);
    assert_eq!(sim.take_offers(), vec![]);
    sim.secs(1);
    assert_eq!(
        sim.take_offers(),
        vec![(2, 2)],
        "any agent with the skill from 60 s, language dropped"
    );
    sim.accept(2);
    assert!(sim.events_of(2).contains(&"routing.widened"));
    // Overflow: contact 3 waits 90 s, then moves to queue 2 with its arrival time kept, so it is
    // ahead of contact 4 who arrived in queue 2 directly after it.
    sim.arrive(3, 1, Channel::Voice);
    sim.secs(1);
    sim.arrive(4, 2, Channel::Voice);
    sim.secs(89);
    assert_eq!(
        sim.engine.contact_state(ContactId(3)),
        Some(ContactState::Waiting { queue: QueueId(2) })
    );
    assert_eq!(
        sim.engine.waiting_order(sim.now),
        vec![ContactId(3), ContactId(4)]
    );
    sim.ready(3);
    assert_eq!(sim.take_offers(), vec![(3, 3)]);
}

#[test]
fn overflow_without_a_queue_hands_the_contact_back() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.max_wait = Some(Duration::from_secs(60)));
    sim.arrive(1, 1, Channel::Voice);
    sim.secs(60);
    assert!(sim.commands.contains(&Command::Overflow {
        contact: ContactId(1),
        from: QueueId(1)
    }));
    assert_eq!(sim.engine.contact_state(ContactId(1)), None);
    let f = &sim.engine.snapshot(sim.now).queues[0];
    assert_eq!((f.overflowed, f.waiting), (1, 0));
}

#[test]
fn strategies_choose_among_free_agents() {
    for (strategy, expected) in [
        (Strategy::LongestIdle, 2),
        (Strategy::MostProficient, 3),
        (Strategy::LeastOccupied, 2),
        (Strategy::RoundRobin, 1),
    ] {
        let mut sim = Sim::new();
        sim.queue(1, |q| {
            q.channels = vec![Channel::Chat];
            q.strategy = strategy;
            q.requirements = vec![Requirement::new("cards", 1)];
        });
        sim.queue(9, |q| q.channels = vec![Channel::Chat]);
        sim.agent(1, &[("cards", 2)], &[1, 9]);
        sim.agent(2, &[("cards", 1)], &[1]);
        sim.agent(3, &[("cards", 5)], &[1]);
        sim.ready(2);
        sim.secs(1);
        sim.ready(1);
        sim.ready(3);
        // Agent 1 holds a chat of another queue: it is the most occupied.
        sim.arrive(100, 9, Channel::Chat);
        assert_eq!(sim.take_offers(), vec![(100, 1)]);
        sim.accept(100);
        sim.secs(1);
        // Agent 3 has been idle as long as agent 1 but agent 2 longer.
        sim.arrive(1, 1, Channel::Chat);
        assert_eq!(sim.take_offers(), vec![(1, expected)], "{strategy:?}");
    }
}

#[test]
fn least_occupied_looks_at_load_longest_idle_at_time() {
    for (strategy, expected) in [(Strategy::LongestIdle, 1), (Strategy::LeastOccupied, 2)] {
        let mut sim = Sim::new();
        sim.queue(1, |q| {
            q.channels = vec![Channel::Chat];
            q.strategy = strategy;
        });
        sim.agent(1, &[], &[1]);
        sim.agent(2, &[], &[1]);
        sim.ready(1);
        sim.secs(1);
        sim.ready(2);
        // Agent 1 (idle longer) gets the first two chats, agent 2 one.
        for c in 1..=3 {
            sim.arrive(c, 1, Channel::Chat);
            sim.accept(c);
        }
        let mut held = [0, 0];
        for (_, a) in sim.take_offers() {
            held[(a - 1) as usize] += 1;
        }
        assert_eq!(
            held,
            [2, 1],
            "{strategy:?}: longest idle first, then the other"
        );
        sim.arrive(4, 1, Channel::Chat);
        assert_eq!(sim.take_offers(), vec![(4, expected)], "{strategy:?}");
    }
}

#[test]
fn round_robin_rotates() {
    let mut sim = Sim::new();
    sim.queue(1, |q| {
        q.strategy = Strategy::RoundRobin;
        q.channels = vec![Channel::Chat];
    });
    for a in 1..=3 {
        sim.agent(a, &[], &[1]);
        sim.ready(a);
    }
    let mut got = Vec::new();
    for c in 1..=6 {
        sim.arrive(c, 1, Channel::Chat);
        got.extend(sim.take_offers().into_iter().map(|(_, a)| a));
    }
    assert_eq!(got, vec![1, 2, 3, 1, 2, 3]);
}

#[test]
fn preferred_agent_first_then_anyone_after_the_timeout() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.preferred_timeout = Duration::from_secs(15));
    sim.agent(1, &[], &[1]);
    sim.agent(2, &[], &[1]);
    sim.ready(1);
    // The preferred agent (the one who served this customer last) is busy.
    sim.arrive(1, 1, Channel::Voice);
    assert_eq!(sim.take_offers(), vec![(1, 1)]);
    sim.accept(1);
    sim.ready(2);
    sim.arrive_with(2, 1, Channel::Voice, |s| {
        s.preferred_agent = Some(AgentId(1))
    });
    assert_eq!(
        sim.take_offers(),
        vec![],
        "agent 2 is free but the customer waits for agent 1"
    );
    sim.secs(15);
    assert_eq!(sim.take_offers(), vec![(2, 2)]);
    // And when the preferred agent is free, they get it at once.
    sim.accept(2);
    sim.end(1);
    sim.secs(10);
    sim.arrive_with(3, 1, Channel::Voice, |s| {
        s.preferred_agent = Some(AgentId(1))
    });
    assert_eq!(sim.take_offers(), vec![(3, 1)]);
}

#[test]
fn an_unanswered_offer_makes_the_agent_not_ready_and_the_contact_keeps_its_place() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.offer_timeout = Duration::from_secs(20));
    sim.agent(1, &[], &[1]);
    sim.agent(2, &[], &[1]);
    sim.ready(1);
    sim.arrive(1, 1, Channel::Voice);
    assert_eq!(sim.take_offers(), vec![(1, 1)]);
    assert_eq!(state(&sim, 1), AgentState::Reserved);
    sim.secs(1);
    sim.arrive(2, 1, Channel::Voice);
    sim.secs(19);
    assert!(sim.commands.contains(&Command::Withdraw {
        contact: ContactId(1),
        agent: AgentId(1)
    }));
    let v = sim.engine.agent_view(AgentId(1)).unwrap();
    assert_eq!(
        (v.state, v.presence),
        (AgentState::NotReady, Presence::NotReady("missed".into()))
    );
    assert_eq!(
        sim.engine.waiting_order(sim.now),
        vec![ContactId(1), ContactId(2)],
        "place kept"
    );
    sim.ready(2);
    assert_eq!(sim.take_offers(), vec![(1, 2)]);
    assert_eq!(
        sim.events_of(1),
        vec![
            "routing.queued",
            "routing.offered",
            "routing.missed",
            "routing.offered"
        ]
    );
}

#[test]
fn a_declined_contact_goes_to_someone_else_first() {
    let mut sim = Sim::new();
    sim.queue(1, |_| {});
    sim.agent(1, &[], &[1]);
    sim.agent(2, &[], &[1]);
    sim.ready(1);
    sim.arrive(1, 1, Channel::Voice);
    assert_eq!(sim.take_offers(), vec![(1, 1)]);
    sim.engine
        .handle_offer_declined(sim.now, ContactId(1))
        .unwrap();
    sim.drain();
    assert_eq!(
        sim.take_offers(),
        vec![],
        "not offered to the agent who declined it"
    );
    assert_eq!(state(&sim, 1), AgentState::Available);
    sim.ready(2);
    assert_eq!(sim.take_offers(), vec![(1, 2)]);
}

#[test]
fn wrap_up_is_visible_extendable_and_ends_by_itself() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.wrap_up = Duration::from_secs(30));
    sim.agent(1, &[], &[1]);
    sim.ready(1);
    sim.arrive(1, 1, Channel::Voice);
    assert_eq!(sim.take_offers(), vec![(1, 1)]);
    sim.accept(1);
    sim.secs(100);
    sim.end(1);
    let v = sim.engine.agent_view(AgentId(1)).unwrap();
    assert_eq!(v.state, AgentState::WrapUp);
    assert_eq!(v.deadline, Some(sim.now.plus(Duration::from_secs(30))));
    sim.arrive(2, 1, Channel::Voice);
    sim.secs(20);
    let until = sim
        .engine
        .handle_wrap_up_extend(sim.now, AgentId(1), ContactId(1), Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        until,
        Time::from_millis(T0 + 160_000),
        "30 s more than the end it had"
    );
    sim.secs(39);
    assert_eq!(sim.take_offers(), vec![]);
    sim.secs(1);
    assert_eq!(sim.take_offers(), vec![(2, 1)]);
    // Ended early by the agent.
    sim.accept(2);
    sim.end(2);
    sim.engine
        .handle_wrap_up_done(sim.now, AgentId(1), ContactId(2))
        .unwrap();
    sim.drain();
    assert_eq!(state(&sim, 1), AgentState::Available);
    // Every visible state change was an event, wrap-up included.
    let states: Vec<AgentState> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            Event::AgentState { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    assert!(states
        .windows(2)
        .any(|w| w == [AgentState::Busy, AgentState::WrapUp]));
}

#[test]
fn callbacks_keep_their_place_merge_duplicates_and_give_up_after_the_attempts() {
    let mut sim = Sim::new();
    sim.queue(1, |q| {
        q.callback_max_attempts = 2;
        q.callback_retry_interval = Duration::from_secs(120);
        q.wrap_up = Duration::ZERO;
    });
    sim.agent(1, &[], &[1]);
    sim.arrive(1, 1, Channel::Voice);
    sim.secs(10);
    sim.arrive(2, 1, Channel::Voice);
    sim.secs(10);
    sim.engine
        .handle_callback_request(sim.now, ContactId(1), "+79165550102".into())
        .unwrap();
    sim.drain();
    // The same number asks again from a later call: merged into the first, which keeps its place.
    sim.arrive(3, 1, Channel::Voice);
    sim.engine
        .handle_callback_request(sim.now, ContactId(3), "+79165550102".into())
        .unwrap();
    sim.drain();
    assert!(sim.events.contains(&Event::CallbackMerged {
        contact: ContactId(3),
        into: ContactId(1),
        at: sim.now
    }));
    assert_eq!(sim.engine.contact_state(ContactId(3)), None);
    assert_eq!(
        sim.engine.waiting_order(sim.now),
        vec![ContactId(1), ContactId(2)]
    );
    sim.ready(1);
    assert!(sim.commands.iter().any(|c| matches!(c, Command::Offer { contact: ContactId(1), callback_number: Some(n), .. } if n == "+79165550102")));
    sim.take_offers();
    sim.accept(1);
    sim.engine
        .handle_callback_unreached(sim.now, ContactId(1))
        .unwrap();
    sim.drain();
    // The agent is free at once and takes the next caller; the callback is parked.
    assert_eq!(sim.take_offers(), vec![(2, 1)]);
    assert!(matches!(
        sim.engine.contact_state(ContactId(1)),
        Some(ContactState::Parked { .. })
    ));
    sim.accept(2);
    sim.end(2);
    sim.secs(120);
    assert_eq!(sim.take_offers(), vec![(1, 1)]);
    sim.accept(1);
    sim.engine
        .handle_callback_unreached(sim.now, ContactId(1))
        .unwrap();
    sim.drain();
    assert_eq!(
        sim.engine.contact_state(ContactId(1)),
        None,
        "two attempts, then given up"
    );
    let f = &sim.engine.snapshot(sim.now).queues[0];
    assert_eq!(
        (
            f.callbacks_requested,
            f.callbacks_failed,
            f.callbacks_reached
        ),
        (2, 1, 0)
    );
    assert_eq!(
        (f.answered, f.abandoned),
        (1, 1),
        "a failed callback counts as abandoned, a request does not"
    );
}

#[test]
fn a_reached_callback_counts_as_answered_with_its_whole_wait() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.service_level_threshold = Duration::from_secs(20));
    sim.agent(1, &[], &[1]);
    sim.arrive(1, 1, Channel::Voice);
    sim.secs(5);
    sim.engine
        .handle_callback_request(sim.now, ContactId(1), "+74951234567".into())
        .unwrap();
    sim.secs(300);
    sim.ready(1);
    sim.accept(1);
    sim.engine
        .handle_callback_reached(sim.now, ContactId(1))
        .unwrap();
    sim.drain();
    let f = &sim.engine.snapshot(sim.now).queues[0];
    assert_eq!(
        (f.answered, f.answered_in_service_level, f.callbacks_reached),
        (1, 0, 1)
    );
    assert_eq!(f.average_answer_ms, Some(305_000));
    assert_eq!(f.service_level, Some(0.0));
}

#[test]
fn a_form_callback_request_enters_as_a_callback() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.channels = vec![Channel::Voice, Channel::Form]);
    sim.arrive_with(1, 1, Channel::Form, |s| {
        s.callback_number = Some("+79990001122".into())
    });
    sim.arrive_with(2, 1, Channel::Form, |s| {
        s.callback_number = Some("+79990001122".into())
    });
    assert_eq!(sim.engine.contact_count(), 1);
    assert!(sim.events_of(2).contains(&"routing.callback_merged"));
}

#[test]
fn service_level_abandons_and_agents_by_state() {
    let mut sim = Sim::new();
    sim.queue(1, |q| {
        q.service_level_threshold = Duration::from_secs(20);
        q.short_abandon = Duration::from_secs(5);
    });
    sim.agent(1, &[], &[1]);
    sim.agent(2, &[], &[1]);
    sim.ready(1);
    sim.arrive(1, 1, Channel::Voice); // answered at once
    sim.accept(1);
    sim.arrive(2, 1, Channel::Voice);
    sim.secs(3);
    sim.engine.handle_abandoned(sim.now, ContactId(2)).unwrap(); // short
    sim.arrive(3, 1, Channel::Voice);
    sim.secs(40);
    sim.engine.handle_abandoned(sim.now, ContactId(3)).unwrap(); // counts
    sim.arrive(4, 1, Channel::Voice);
    sim.secs(30);
    sim.ready(2);
    sim.accept(4); // answered after 30 s: outside the service level
    sim.arrive(5, 1, Channel::Voice);
    sim.secs(7);
    sim.drain();
    let snap = sim.engine.snapshot(sim.now);
    let f = &snap.queues[0];
    assert_eq!(
        (
            f.answered,
            f.answered_in_service_level,
            f.abandoned,
            f.abandoned_short
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(f.service_level, Some(1.0 / 3.0));
    assert_eq!(
        (f.waiting, f.oldest_wait),
        (1, Some(Duration::from_secs(7)))
    );
    assert_eq!(f.agents_by_state, vec![(AgentState::Busy, 2)]);
    let a2 = snap.agents.iter().find(|a| a.agent == AgentId(2)).unwrap();
    assert_eq!(a2.time_in_state, Duration::from_secs(7));
    sim.engine.reset_day(sim.now);
    assert_eq!(sim.engine.snapshot(sim.now).queues[0].answered, 0);
}

#[test]
fn estimates_come_from_position_and_measured_handle_times() {
    let mut sim = Sim::new();
    sim.queue(1, |q| {
        q.wrap_up = Duration::ZERO;
        q.default_handle_time = Duration::from_secs(300);
    });
    sim.agent(1, &[], &[1]);
    sim.agent(2, &[], &[1]);
    // Nobody logged in: no estimate, but a position.
    sim.arrive(1, 1, Channel::Voice);
    let e = sim.engine.estimate(ContactId(1)).unwrap();
    assert_eq!((e.position, e.expected), (1, None));
    sim.engine.handle_abandoned(sim.now, ContactId(1)).unwrap();
    // Both agents measured at 120 s per call.
    sim.ready(1);
    sim.ready(2);
    for c in [10, 11] {
        sim.arrive(c, 1, Channel::Voice);
        sim.accept(c);
    }
    sim.secs(120);
    sim.end(10);
    sim.end(11);
    for c in [10, 11] {
        sim.arrive(c + 10, 1, Channel::Voice);
        sim.accept(c + 10);
    }
    for c in 30..34 {
        sim.arrive(c, 1, Channel::Voice);
    }
    // Third in line, two agents at 120 s: one completion per 60 s, 3 completions: 180 s.
    let e = sim.engine.estimate(ContactId(32)).unwrap();
    assert_eq!(e.position, 3);
    assert_eq!(e.parts.agents, 2);
    assert_eq!(e.parts.average_handle_time, Duration::from_secs(120));
    assert_eq!(e.expected, Some(Duration::from_secs(180)));
    assert!(e.low.unwrap() < e.expected.unwrap() && e.expected.unwrap() < e.high.unwrap());
    // The estimate moves as things change: someone ahead leaves.
    sim.engine.handle_abandoned(sim.now, ContactId(30)).unwrap();
    let e = sim.engine.estimate(ContactId(32)).unwrap();
    assert_eq!(
        (e.position, e.expected),
        (2, Some(Duration::from_secs(120)))
    );
    let q = &sim.engine.snapshot(sim.now).queues[0];
    assert_eq!(q.estimated_wait.position, 4);
}

#[test]
fn reconciliation_follows_what_the_channel_layer_sees() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.channels = vec![Channel::Voice, Channel::Chat]);
    sim.agent(1, &[], &[1]);
    sim.agent(2, &[], &[1]);
    sim.ready(1);
    sim.arrive(1, 1, Channel::Voice);
    assert_eq!(sim.take_offers(), vec![(1, 1)]);
    // The phone stopped ringing without us being told: the contact goes back, first in line.
    let seen = Observation {
        reachable: true,
        ringing: vec![],
        active: vec![],
    };
    sim.engine
        .handle_observation(sim.now, AgentId(1), seen)
        .unwrap();
    sim.drain();
    assert!(sim.events.iter().any(|e| matches!(
        e,
        Event::Reconciled {
            contact: Some(ContactId(1)),
            ..
        }
    )));
    // It is offered again (to the same agent, who is still available).
    assert_eq!(sim.take_offers(), vec![(1, 1)]);
    // The phone says the call is connected though we missed the answer.
    let seen = Observation {
        reachable: true,
        ringing: vec![],
        active: vec![ContactId(1)],
    };
    sim.engine
        .handle_observation(sim.now, AgentId(1), seen)
        .unwrap();
    sim.drain();
    assert_eq!(state(&sim, 1), AgentState::Busy);
    // The browser vanished and the call is gone: logged out, wrap-up for the call.
    sim.engine
        .handle_observation(sim.now, AgentId(1), Observation::default())
        .unwrap();
    sim.drain();
    let v = sim.engine.agent_view(AgentId(1)).unwrap();
    assert_eq!(v.presence, Presence::Offline);
    assert!(matches!(
        v.items[..],
        [(ContactId(1), Channel::Voice, ItemPhase::WrapUp { .. })]
    ));
    sim.secs(10);
    assert_eq!(state(&sim, 1), AgentState::Offline);
}

#[test]
fn logging_out_takes_offers_back_and_work_in_hand_goes_on() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.channels = vec![Channel::Chat]);
    sim.agent(1, &[], &[1]);
    sim.ready(1);
    sim.arrive(1, 1, Channel::Chat);
    sim.arrive(2, 1, Channel::Chat);
    sim.accept(1);
    sim.engine
        .handle_presence(sim.now, AgentId(1), Presence::Offline)
        .unwrap();
    sim.drain();
    assert_eq!(
        sim.engine.contact_state(ContactId(2)),
        Some(ContactState::Waiting { queue: QueueId(1) })
    );
    assert_eq!(
        sim.engine.contact_state(ContactId(1)),
        Some(ContactState::Serving { agent: AgentId(1) })
    );
    assert_eq!(state(&sim, 1), AgentState::Busy);
    sim.end(1);
    sim.secs(10);
    assert_eq!(state(&sim, 1), AgentState::Offline);
}

#[test]
fn bad_input_is_refused_without_changing_anything() {
    use hotline_routing::{ContactSpec, QueueConfig, RoutingError, TenantId};
    let mut sim = Sim::new();
    sim.queue(1, |_| {});
    let mut q = QueueConfig::new(QueueId(2), TenantId(1));
    q.widening = vec![
        WideningStep {
            after: Duration::from_secs(30),
            max_proficiency: 2,
            drop: vec![],
        },
        WideningStep {
            after: Duration::from_secs(20),
            max_proficiency: 1,
            drop: vec![],
        },
    ];
    assert!(matches!(
        sim.engine.set_queue(sim.now, q),
        Err(RoutingError::InvalidConfig(_))
    ));
    let spec = ContactSpec::new(ContactId(1), QueueId(1), Channel::Chat);
    assert!(matches!(
        sim.engine.handle_contact(sim.now, spec),
        Err(RoutingError::ChannelNotAccepted { .. })
    ));
    let spec = ContactSpec::new(ContactId(1), QueueId(7), Channel::Voice);
    assert_eq!(
        sim.engine.handle_contact(sim.now, spec),
        Err(RoutingError::UnknownQueue(QueueId(7)))
    );
    sim.arrive(1, 1, Channel::Voice);
    let spec = ContactSpec::new(ContactId(1), QueueId(1), Channel::Voice);
    assert_eq!(
        sim.engine.handle_contact(sim.now, spec),
        Err(RoutingError::DuplicateContact(ContactId(1)))
    );
    assert!(matches!(
        sim.engine.handle_offer_accepted(sim.now, ContactId(1)),
        Err(RoutingError::WrongState { .. })
    ));
    assert!(matches!(
        sim.engine.handle_contact_ended(sim.now, ContactId(9)),
        Err(RoutingError::UnknownContact(_))
    ));
    let mut spec = ContactSpec::new(ContactId(2), QueueId(1), Channel::Voice);
    spec.callback_number = Some("  ".into());
    assert!(matches!(
        sim.engine.handle_contact(sim.now, spec),
        Err(RoutingError::InvalidConfig(_))
    ));
    // A restore naming a queue that does not exist is refused whole.
    let mut restore = hotline_routing::restore::Restore::default();
    for (id, queue) in [(3, 1), (4, 7)] {
        restore
            .contacts
            .push(hotline_routing::restore::RestoredContact {
                spec: ContactSpec::new(ContactId(id), QueueId(queue), Channel::Chat),
                queue: QueueId(queue),
                queued_at: sim.now,
                callback_number: None,
                callback_attempts: 0,
                parked_until: None,
                serving_agent: None,
            });
    }
    assert_eq!(
        sim.engine.restore(sim.now, &restore),
        Err(RoutingError::UnknownQueue(QueueId(7)))
    );
    assert_eq!(sim.engine.contact_count(), 1);
}

#[test]
fn an_agents_own_call_takes_their_capacity_until_it_ends() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.channels = vec![Channel::Voice, Channel::Chat]);
    sim.agent(1, &[], &[1]);
    sim.agent(2, &[], &[1]);
    sim.ready(1);
    sim.ready(2);
    let direct = |sim: &mut Sim, agent: i64, active: bool| {
        sim.engine
            .handle_direct(sim.now, AgentId(agent), Channel::Voice, active)
            .unwrap();
        sim.drain();
    };
    // Agent 1 is ringing for contact 10 when they start a call of their own: the offer is
    // taken back and goes to agent 2; agent 1 is busy.
    sim.arrive(10, 1, Channel::Voice);
    assert_eq!(sim.take_offers(), vec![(10, 1)]);
    direct(&mut sim, 1, true);
    assert!(sim
        .commands
        .iter()
        .any(|c| matches!(c, Command::Withdraw { contact, agent } if *contact == ContactId(10) && *agent == AgentId(1))));
    assert_eq!(sim.take_offers(), vec![(10, 2)]);
    assert_eq!(state(&sim, 1), AgentState::Busy);
    sim.accept(10);
    // Nothing is offered to agent 1 during their call, nor a chat (a call is exclusive).
    sim.arrive(11, 1, Channel::Voice);
    sim.arrive(12, 1, Channel::Chat);
    assert_eq!(sim.take_offers(), vec![]);
    assert!(!sim.engine.could_offer(AgentId(1), ContactId(11)));
    // The call ends: agent 1 is available and takes the oldest waiting contact.
    sim.secs(30);
    direct(&mut sim, 1, false);
    assert_eq!(sim.take_offers(), vec![(11, 1)]);
    // An end without a start is harmless.
    sim.accept(11);
    sim.end(11);
    direct(&mut sim, 2, false);
    assert!(sim
        .engine
        .handle_direct(sim.now, AgentId(99), Channel::Voice, true)
        .is_err());
}

#[test]
fn a_scheduled_callback_waits_for_its_time_then_for_its_agent_then_for_anyone() {
    let mut sim = Sim::new();
    sim.queue(1, |q| q.preferred_timeout = Duration::from_secs(15));
    sim.agent(1, &[], &[1]);
    sim.agent(2, &[], &[1]);
    sim.ready(1);
    sim.ready(2);
    // Agent 1 promises to call back in an hour and keeps it to themselves for ten minutes.
    let due = sim.now.plus(Duration::from_secs(3600));
    sim.arrive_with(1, 1, Channel::Voice, |s| {
        s.callback_number = Some("+79160000001".into());
        s.preferred_agent = Some(AgentId(1));
        s.preferred_for = Some(Duration::from_secs(600));
        s.not_before = Some(due);
    });
    assert_eq!(
        sim.engine.contact_state(ContactId(1)),
        Some(ContactState::Parked {
            queue: QueueId(1),
            until: due
        })
    );
    assert_eq!(
        sim.take_offers(),
        vec![],
        "both agents are free, but it is not time"
    );
    // The same customer calls in meanwhile, finds nobody free and asks for a callback from
    // the queue: a separate request (neither is merged into the other).
    for a in [1, 2] {
        sim.engine
            .handle_presence(sim.now, AgentId(a), Presence::NotReady("break".into()))
            .unwrap();
    }
    sim.arrive(3, 1, Channel::Voice);
    sim.engine
        .handle_callback_request(sim.now, ContactId(3), "+79160000001".into())
        .unwrap();
    sim.drain();
    assert!(!sim.events_of(3).contains(&"routing.callback_merged"));
    assert!(!sim.events_of(1).contains(&"routing.callback_merged"));
    sim.ready(1);
    sim.ready(2);
    let offers = sim.take_offers();
    assert_eq!(offers.len(), 1);
    let (_, agent) = offers[0];
    assert_eq!(offers[0].0, 3, "only the queue's callback is offered now");
    sim.accept(3);
    sim.engine
        .handle_callback_reached(sim.now, ContactId(3))
        .unwrap();
    if agent == 2 {
        // Make agent 1 the busy one for what follows.
        sim.end(3);
        sim.secs(60);
        sim.arrive(4, 1, Channel::Voice);
        assert_eq!(sim.take_offers(), vec![(4, 1)]);
        sim.accept(4);
    }
    // At its time agent 1 is busy with contact 3: agent 2 is free, yet it waits for agent 1.
    sim.secs(3600);
    assert_eq!(sim.take_offers(), vec![]);
    assert!(matches!(
        sim.engine.contact_state(ContactId(1)),
        Some(ContactState::Waiting { .. })
    ));
    // Beyond the queue's 15 s, still agent 1's: the callback's own ten minutes count.
    sim.secs(60);
    assert_eq!(sim.take_offers(), vec![]);
    sim.secs(540);
    assert_eq!(
        sim.take_offers(),
        vec![(1, 2)],
        "after ten minutes anyone may call"
    );
    // Its wait counts from its time, not from when it was promised.
    sim.accept(1);
    sim.engine
        .handle_callback_reached(sim.now, ContactId(1))
        .unwrap();
    sim.drain();
    let waited = sim.events.iter().find_map(|e| match e {
        Event::CallbackReached {
            contact: ContactId(1),
            waited_ms,
            ..
        } => Some(*waited_ms),
        _ => None,
    });
    assert_eq!(waited, Some(600_000));
}

#[test]
fn a_scheduled_callback_can_be_cancelled_and_only_callbacks_are_scheduled() {
    let mut sim = Sim::new();
    sim.agent(1, &[], &[1]);
    sim.queue(1, |_| {});
    let due = sim.now.plus(Duration::from_secs(60));
    let refused = sim.engine.handle_contact(sim.now, {
        let mut s = hotline_routing::ContactSpec::new(ContactId(1), QueueId(1), Channel::Voice);
        s.not_before = Some(due);
        s
    });
    assert!(
        refused.is_err(),
        "a call cannot wait for a time without a number to call"
    );
    assert_eq!(sim.engine.contact_state(ContactId(1)), None);
    sim.arrive_with(2, 1, Channel::Voice, |s| {
        s.callback_number = Some("+79160000002".into());
        s.not_before = Some(due);
    });
    sim.engine.handle_cancelled(sim.now, ContactId(2)).unwrap();
    sim.drain();
    assert_eq!(sim.engine.contact_state(ContactId(2)), None);
    assert!(sim.events_of(2).contains(&"routing.cancelled"));
    sim.ready(1);
    sim.secs(120);
    assert_eq!(
        sim.take_offers(),
        vec![],
        "a cancelled callback never comes back"
    );
    let snap = sim.engine.snapshot(sim.now);
    let q = snap.queues.iter().find(|q| q.queue == QueueId(1)).unwrap();
    assert_eq!(q.abandoned, 0, "cancelling is not the customer abandoning");
    // A contact being served is the conversation's to end.
    sim.arrive(3, 1, Channel::Voice);
    assert_eq!(sim.take_offers(), vec![(3, 1)]);
    sim.accept(3);
    assert!(sim.engine.handle_cancelled(sim.now, ContactId(3)).is_err());
}
