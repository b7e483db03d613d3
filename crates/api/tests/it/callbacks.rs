//! Callbacks booked for a time: from the desk, the agent's own list, cancelling; routing holds
//! each until its time and then offers it to its agent first.

use axum::http::StatusCode;
use hotline_routing::{AgentId, Command, ContactId, ContactState};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::presence::make_agent;
use crate::TestApp;

fn in_secs(s: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::seconds(s))
        .format(&Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn an_agent_books_lists_and_cancels_their_callbacks() {
    let mut t = TestApp::new().await;
    // Routing's commands, taken out so the app can be used while waiting for them.
    let mut commands = std::mem::replace(&mut t.routing_commands, tokio::sync::mpsc::channel(1).1);
    let t = t;
    let (admin, agent_id) = make_agent(&t, "a-agent", "1001").await;
    let r = t
        .post(
            "/api/v1/queues",
            &admin,
            json!({"name": "Карты", "channels": ["voice"], "service_level_seconds": 20,
                "service_level_target": 80, "priority": 0, "wrap_up_seconds": 0,
                "disposition_required": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let queue = r.body["id"].as_i64().unwrap();
    let me = t.login("a-agent").await;
    let r = t
        .post(
            "/api/v1/customers",
            &me,
            json!({"name": "Ольга", "phones": ["8 916 555-01-02"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let customer = r.body["id"].as_i64().unwrap();
    let r = t
        .post(
            "/api/v1/interactions",
            &me,
            json!({"channel": "voice", "customer_id": customer, "queue_id": queue}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let origin = r.body["interaction"]["id"].as_i64().unwrap();

    // Promised during a contact: its customer, queue and the customer's phone are the defaults.
    let r = t
        .post(
            "/api/v1/callbacks",
            &me,
            json!({"interaction_id": origin, "due_at": in_secs(3600), "note": "Ответ по заявке"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let later = r.body["interaction_id"].as_i64().unwrap();
    assert_eq!(r.body["agent_id"], agent_id);
    assert_eq!(r.body["number"], "+79165550102");
    assert_eq!(r.body["queue_id"], queue);
    assert_eq!(r.body["customer_name"], "Ольга");
    assert_eq!(r.body["state"], "queued");
    assert_eq!(r.body["origin_interaction_id"], origin);
    match t.acd.contact_state(ContactId(later)).await.unwrap() {
        Some(ContactState::Parked { .. }) => {}
        other => panic!("a callback waits for its time in routing, not {other:?}"),
    }

    // Another one, soon, to a typed number; the agent is ready, so it is offered to them.
    let r = t
        .put(
            &format!("/api/v1/agents/{agent_id}/presence"),
            &me,
            json!({"presence": "available"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .post(
            "/api/v1/callbacks",
            &me,
            json!({"customer_id": customer, "queue_id": queue, "number": "+7 (495) 123-45-67",
                "due_at": in_secs(1)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let soon = r.body["interaction_id"].as_i64().unwrap();
    assert_eq!(r.body["number"], "+74951234567");

    // Mine, earliest first.
    let r = t.get("/api/v1/callbacks", &me).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ids: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["interaction_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![soon, later]);

    let offer = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match commands.recv().await {
                Some(Command::Offer {
                    contact,
                    agent,
                    callback_number,
                    ..
                }) if contact == ContactId(soon) => break (agent, callback_number),
                Some(_) => continue,
                None => panic!("routing stopped"),
            }
        }
    })
    .await
    .expect("the callback is offered when due");
    assert_eq!(offer, (AgentId(agent_id), Some("+74951234567".into())));

    // Cancelled while its offer rings: the offer is withdrawn, the callback closed.
    let r = t.delete(&format!("/api/v1/callbacks/{soon}"), &me).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "closed");
    let withdrawn = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let Some(Command::Withdraw { contact, .. }) = commands.recv().await {
                if contact == ContactId(soon) {
                    break;
                }
            }
        }
    })
    .await;
    assert!(withdrawn.is_ok(), "the ringing offer is taken back");
    assert_eq!(t.acd.contact_state(ContactId(soon)).await.unwrap(), None);
    let r = t.delete(&format!("/api/v1/callbacks/{soon}"), &me).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "callback_finished")
    );
    let r = t.get("/api/v1/callbacks", &me).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = t.get("/api/v1/callbacks?all=true", &me).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    let events = t
        .get(&format!("/api/v1/interactions/{soon}/events"), &me)
        .await;
    let kinds: Vec<&str> = events
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "callback.scheduled",
        "routing.queued",
        "routing.offered",
        "routing.cancelled",
        "callback.cancelled",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }

    // A supervisor sees the agent's list; the other tenant sees nothing and cancels nothing.
    let sup = t.login("a-super").await;
    let r = t
        .get(&format!("/api/v1/callbacks?agent_id={agent_id}"), &sup)
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{}", r.body);
    let other = t.login("b-super").await;
    let r = t.get("/api/v1/callbacks", &other).await;
    assert_eq!(r.body.as_array().unwrap().len(), 0);
    let r = t
        .delete(&format!("/api/v1/callbacks/{later}"), &other)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // An agent asks only for their own.
    let r = t
        .get(
            &format!("/api/v1/callbacks?agent_id={}", agent_id + 1000),
            &me,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // What is refused, with the field at fault.
    let bad = [
        (
            json!({"queue_id": queue, "customer_id": customer, "due_at": in_secs(-3600)}),
            "due_in_past",
            "due_at",
        ),
        (
            json!({"queue_id": queue, "customer_id": customer, "due_at": in_secs(100 * 86400)}),
            "due_too_far",
            "due_at",
        ),
        (
            json!({"queue_id": queue, "customer_id": customer, "due_at": "завтра"}),
            "invalid_time",
            "due_at",
        ),
        (
            json!({"customer_id": customer, "due_at": in_secs(60)}),
            "queue_required",
            "queue_id",
        ),
        (
            json!({"queue_id": queue, "due_at": in_secs(60)}),
            "number_required",
            "number",
        ),
        (
            json!({"queue_id": queue, "number": "12", "due_at": in_secs(60)}),
            "invalid_phone",
            "number",
        ),
        (
            json!({"queue_id": queue, "customer_id": customer, "anyone": true, "agent_id": agent_id, "due_at": in_secs(60)}),
            "unexpected_agent",
            "agent_id",
        ),
    ];
    for (body, code, field) in bad {
        let r = t.post("/api/v1/callbacks", &me, body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, code),
            "{body} → {}",
            r.body
        );
        assert_eq!(r.body["error"]["field"], field);
    }
    // Another agent's callback is a supervisor's to book.
    let (_, other_agent) = make_agent(&t, "a-super", "1002").await;
    let body = json!({"queue_id": queue, "customer_id": customer, "agent_id": other_agent, "due_at": in_secs(60)});
    let r = t.post("/api/v1/callbacks", &me, body.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t.post("/api/v1/callbacks", &sup, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["agent_id"], other_agent);
    // The queue's: no agent.
    let r = t
        .post(
            "/api/v1/callbacks",
            &me,
            json!({"queue_id": queue, "customer_id": customer, "anyone": true, "due_at": in_secs(60)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["agent_id"].is_null());

    // The agent cancels the later one: routing forgets it.
    let r = t.delete(&format!("/api/v1/callbacks/{later}"), &me).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(t.acd.contact_state(ContactId(later)).await.unwrap(), None);
}
