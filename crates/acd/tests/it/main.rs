//! The routing shell against a real store (SQLite file): decisions land on the interaction
//! timeline and in the agents' log, and a new shell on the same store picks up where the old
//! one stopped — who was logged in, who was waiting for a callback, which chats an agent holds.

use hotline_acd::{Acd, Input};
use hotline_model::{Channel, Direction, InteractionState, Role, Skill};
use hotline_routing::engine::{AgentState, Presence};
use hotline_routing::snapshot::{QueueFigures, Snapshot};
use hotline_routing::{AgentId, Command, ContactId, ContactSpec, QueueId};
use hotline_store::{
    ConnectOptions, NewAgent, NewInteraction, NewQueue, NewTenant, NewUser, Store,
};
use std::time::Duration;
use tokio::sync::mpsc;

struct World {
    store: Store,
    _dir: tempfile::TempDir,
    tenant: i64,
    queue: i64,
    agents: Vec<i64>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let t = store
        .create_tenant(&NewTenant {
            name: "Acme".into(),
            slug: "acme".into(),
            default_region: "RU".into(),
            timezone: "Europe/Moscow".into(),
        })
        .await
        .unwrap();
    let q = store
        .create_queue(
            t.id,
            &NewQueue {
                name: "Support".into(),
                channels: vec![Channel::Voice, Channel::Chat],
                service_level_seconds: 20,
                service_level_target: 80,
                priority: 0,
                wrap_up_seconds: 0,
                disposition_required: false,
            },
        )
        .await
        .unwrap();
    let mut agents = Vec::new();
    for (i, name) in ["anna", "boris"].iter().enumerate() {
        let u = store
            .create_user(
                t.id,
                &NewUser {
                    username: (*name).into(),
                    display_name: (*name).into(),
                    role: Role::Agent,
                    password: "long-enough-password".into(),
                },
            )
            .await
            .unwrap();
        let a = store
            .create_agent(
                t.id,
                &NewAgent {
                    user_id: u.id,
                    extension: format!("10{i}1"),
                    skills: vec![Skill {
                        name: "ru".into(),
                        proficiency: 5,
                    }],
                    sip_password: None,
                },
            )
            .await
            .unwrap();
        agents.push(a.id);
    }
    World {
        store,
        _dir: dir,
        tenant: t.id,
        queue: q.id,
        agents,
    }
}

async fn interaction(w: &World, channel: Channel) -> i64 {
    let new = NewInteraction {
        channel,
        direction: Direction::Inbound,
        state: InteractionState::Queued,
        customer_id: None,
        queue_id: Some(w.queue),
        agent_id: None,
        subject: None,
        notes: String::new(),
        created_at: None,
    };
    w.store
        .create_interaction(w.tenant, &new, "system")
        .await
        .unwrap()
        .0
        .id
}

/// A new interaction enters routing in the world's queue.
async fn arrive(acd: &Acd, w: &World, channel: Channel) -> i64 {
    let id = interaction(w, channel).await;
    let spec = ContactSpec::new(ContactId(id), QueueId(w.queue), channel);
    acd.input(Input::Contact(spec)).await.unwrap();
    id
}

async fn timeline(w: &World, interaction: i64) -> Vec<String> {
    let events = w.store.list_events(w.tenant, interaction).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

fn figures(snap: &Snapshot, queue: i64) -> &QueueFigures {
    snap.queues
        .iter()
        .find(|q| q.queue == QueueId(queue))
        .unwrap()
}

async fn next_offer(rx: &mut mpsc::Receiver<Command>) -> (i64, i64) {
    loop {
        let cmd = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a command in time")
            .expect("open");
        if let Command::Offer { contact, agent, .. } = cmd {
            return (contact.0, agent.0);
        }
    }
}

#[tokio::test]
async fn decisions_are_stored_and_a_new_shell_rebuilds_from_them() {
    let w = world().await;
    let (anna, boris) = (AgentId(w.agents[0]), AgentId(w.agents[1]));
    let (tx, mut rx) = mpsc::channel(64);
    let acd = Acd::start(w.store.clone(), tx).await.unwrap();
    acd.input(Input::Presence {
        agent: anna,
        presence: Presence::Available,
    })
    .await
    .unwrap();
    acd.input(Input::Presence {
        agent: boris,
        presence: Presence::NotReady("lunch".into()),
    })
    .await
    .unwrap();
    // A chat: offered to Anna, accepted, kept open across the restart.
    let chat = arrive(&acd, &w, Channel::Chat).await;
    assert_eq!(next_offer(&mut rx).await, (chat, anna.0));
    acd.input(Input::OfferAccepted(ContactId(chat)))
        .await
        .unwrap();
    // A caller waits, asks for a callback and hangs up; a second caller just waits.
    let caller = arrive(&acd, &w, Channel::Voice).await;
    acd.input(Input::CallbackRequest {
        contact: ContactId(caller),
        number: "+79165550102".into(),
    })
    .await
    .unwrap();
    let waiting_call = arrive(&acd, &w, Channel::Voice).await;
    // Bad input is refused with the engine's reason and changes nothing.
    let err = acd
        .input(Input::OfferAccepted(ContactId(caller)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("waiting"), "{err}");
    let estimate = acd
        .estimate(ContactId(waiting_call))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(estimate.position, 2);
    acd.stop().await;

    // The timeline holds every decision about the chat, in order.
    let kinds = timeline(&w, chat).await;
    assert_eq!(
        kinds,
        vec![
            "created",
            "routing.queued",
            "routing.offered",
            "routing.accepted"
        ]
    );
    let log = w.store.agent_events(w.tenant, boris.0).await.unwrap();
    assert_eq!(
        log.last().unwrap().data["presence"],
        serde_json::json!({"kind": "not_ready", "reason": "lunch"})
    );

    // A new shell on the same store.
    let (tx, mut rx) = mpsc::channel(64);
    let acd = Acd::start(w.store.clone(), tx).await.unwrap();
    let snap = acd.snapshot().await.unwrap();
    let state = |a: AgentId| snap.agents.iter().find(|f| f.agent == a).unwrap().clone();
    assert_eq!(state(anna).presence, Presence::Available);
    assert_eq!(
        (state(anna).state, state(anna).contacts),
        (AgentState::Busy, 1),
        "the chat is still Anna's"
    );
    assert_eq!(state(boris).presence, Presence::NotReady("lunch".into()));
    let q = figures(&snap, w.queue);
    assert_eq!(
        (q.waiting, q.callbacks_waiting),
        (1, 1),
        "the callback waits; the call died with the old process"
    );
    // It carries on: the chat ends, Anna is free and the callback comes to her with its number.
    acd.input(Input::Ended(ContactId(chat))).await.unwrap();
    let cmd = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    match cmd {
        Command::Offer {
            contact,
            agent,
            callback_number,
            ..
        } => {
            assert_eq!((contact.0, agent), (caller, anna));
            assert_eq!(callback_number.as_deref(), Some("+79165550102"));
        }
        other => panic!("expected the callback offer, got {other:?}"),
    }
    acd.input(Input::OfferAccepted(ContactId(caller)))
        .await
        .unwrap();
    acd.input(Input::CallbackReached(ContactId(caller)))
        .await
        .unwrap();
    acd.input(Input::Ended(ContactId(caller))).await.unwrap();
    let snap = acd.snapshot().await.unwrap();
    let q = figures(&snap, w.queue);
    assert_eq!((q.callbacks_reached, q.answered), (1, 1));
    acd.stop().await;
    let kinds = timeline(&w, caller).await;
    assert_eq!(
        kinds,
        vec![
            "created",
            "routing.queued",
            "routing.callback_requested",
            "routing.offered",
            "routing.accepted",
            "routing.callback_reached",
            "routing.ended"
        ]
    );
    // A third start finds nothing left of the finished contacts.
    let (tx, _rx) = mpsc::channel(64);
    let acd = Acd::start(w.store.clone(), tx).await.unwrap();
    let snap = acd.snapshot().await.unwrap();
    assert!(snap
        .queues
        .iter()
        .all(|q| q.waiting == 0 && q.callbacks_waiting == 0));
    acd.stop().await;
}

#[tokio::test]
async fn deadlines_run_in_real_time() {
    let w = world().await;
    let anna = AgentId(w.agents[0]);
    let (tx, mut rx) = mpsc::channel(64);
    let acd = Acd::start(w.store.clone(), tx).await.unwrap();
    acd.input(Input::Presence {
        agent: anna,
        presence: Presence::Available,
    })
    .await
    .unwrap();
    // Wrap-up of 1 s set on the queue; the shell reloads it from the store.
    w.store
        .update_queue(
            w.tenant,
            w.queue,
            &hotline_store::QueuePatch {
                wrap_up_seconds: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    acd.reload().await.unwrap();
    let first = interaction(&w, Channel::Voice).await;
    let second = interaction(&w, Channel::Voice).await;
    for c in [first, second] {
        acd.input(Input::Contact(ContactSpec::new(
            ContactId(c),
            QueueId(w.queue),
            Channel::Voice,
        )))
        .await
        .unwrap();
    }
    assert_eq!(next_offer(&mut rx).await, (first, anna.0));
    acd.input(Input::OfferAccepted(ContactId(first)))
        .await
        .unwrap();
    acd.input(Input::Ended(ContactId(first))).await.unwrap();
    // The second call is offered when the wrap-up timer fires, with no input from anyone.
    let started = std::time::Instant::now();
    assert_eq!(next_offer(&mut rx).await, (second, anna.0));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "offered only after the wrap-up"
    );
    acd.stop().await;
}
