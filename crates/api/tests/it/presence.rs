//! Agents' presence goes to routing: an agent sets their own, a supervisor anyone's in the
//! tenant, nobody another tenant's; routing's view is what the API said.

use axum::http::StatusCode;
use hotline_routing::engine::{AgentState, Presence};
use hotline_routing::AgentId;
use serde_json::json;

use crate::TestApp;

async fn agent_state(t: &TestApp, id: i64) -> (AgentState, Presence) {
    let s = t.acd.snapshot().await.unwrap();
    let a = s
        .agents
        .iter()
        .find(|a| a.agent == AgentId(id))
        .expect("the agent is known to routing");
    (a.state, a.presence.clone())
}

/// Makes `username` of tenant a an agent with `extension` (by the admin, over the API); the
/// admin's token and the agent's id.
pub(crate) async fn make_agent(t: &TestApp, username: &str, extension: &str) -> (String, i64) {
    let admin = t.login("a-admin").await;
    let users = t.get("/api/v1/users", &admin).await;
    let user = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == username)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = t
        .post(
            "/api/v1/agents",
            &admin,
            json!({"user_id": user, "extension": extension}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (admin, r.body["id"].as_i64().unwrap())
}

#[tokio::test]
async fn presence_reaches_routing_with_the_right_permissions() {
    let t = TestApp::new().await;
    // Created after routing started: the first presence makes routing read agents again.
    let (_, id) = make_agent(&t, "a-agent", "1001").await;
    let uri = format!("/api/v1/agents/{id}/presence");

    let me = t.login("a-agent").await;
    let r = t.put(&uri, &me, json!({"presence": "available"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["presence"], "available");
    assert_eq!(
        agent_state(&t, id).await,
        (AgentState::Available, Presence::Available)
    );

    let r = t
        .put(
            &uri,
            &me,
            json!({"presence": "not_ready", "reason": "обед"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["reason"], "обед");
    assert_eq!(
        agent_state(&t, id).await,
        (AgentState::NotReady, Presence::NotReady("обед".into()))
    );

    // A supervisor of the tenant may log the agent out; the other tenant cannot see them.
    let sup = t.login("a-super").await;
    let r = t.put(&uri, &sup, json!({"presence": "offline"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(agent_state(&t, id).await.0, AgentState::Offline);
    let other = t.login("b-super").await;
    let r = t.put(&uri, &other, json!({"presence": "available"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(agent_state(&t, id).await.0, AgentState::Offline);

    // Bad input: clear errors, nothing changed.
    let r = t.put(&uri, &me, json!({"presence": "asleep"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = t
        .put(
            &uri,
            &me,
            json!({"presence": "not_ready", "reason": "x".repeat(65)}),
        )
        .await;
    assert_eq!(r.code(), "invalid_reason", "{}", r.body);
    let r = t
        .put(
            "/api/v1/agents/999999/presence",
            &sup,
            json!({"presence": "available"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(agent_state(&t, id).await.0, AgentState::Offline);
}

#[tokio::test]
async fn an_agent_cannot_set_another_agents_presence() {
    let t = TestApp::new().await;
    let (_, id) = make_agent(&t, "a-super", "1002").await;
    let agent = t.login("a-agent").await;
    let r = t
        .put(
            &format!("/api/v1/agents/{id}/presence"),
            &agent,
            json!({"presence": "available"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[tokio::test]
async fn click_to_call_checks_its_request_before_dialling() {
    let t = TestApp::new().await;
    let (admin, agent) = make_agent(&t, "a-agent", "1001").await;
    let me = t.login("a-agent").await;
    for bad in ["", "   ", &"9".repeat(41)] {
        let r = t.post("/api/v1/calls", &me, json!({"number": bad})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.code(), "invalid_phone");
    }
    // An admin who is not an agent must name one; an agent cannot dial for another.
    let r = t
        .post("/api/v1/calls", &admin, json!({"number": "+74951234567"}))
        .await;
    assert_eq!(r.code(), "agent_required", "{}", r.body);
    let r = t
        .post(
            "/api/v1/calls",
            &me,
            json!({"number": "+74951234567", "agent_id": agent + 1000}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = t
        .post(
            "/api/v1/calls",
            &me,
            json!({"number": "+74951234567", "customer_id": 424242}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // Another tenant's agent is not found.
    let other = t.login("b-super").await;
    let r = t
        .post(
            "/api/v1/calls",
            &other,
            json!({"number": "+74951234567", "agent_id": agent}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn a_transfer_is_checked_before_it_reaches_telephony() {
    let t = TestApp::new().await;
    let (admin, agent) = make_agent(&t, "a-agent", "1001").await;
    let (_, other) = make_agent(&t, "a-super", "1002").await;
    let closed = voice_call(&t, &admin, agent, "closed").await;
    let me = t.login("a-agent").await;
    let uri = format!("/api/v1/interactions/{closed}/transfer");
    // A finished call cannot move; an unknown target or interaction is not found.
    let r = t.post(&uri, &me, json!({"agent_id": other})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.code(), "not_transferable");
    let r = t.post(&uri, &me, json!({"agent_id": 999_999})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = t
        .post(
            "/api/v1/interactions/999999/transfer",
            &me,
            json!({"agent_id": other}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // Only the agent on the call (or a supervisor) may move it.
    let theirs = voice_call(&t, &admin, other, "active").await;
    let r = t
        .post(
            &format!("/api/v1/interactions/{theirs}/transfer"),
            &me,
            json!({"agent_id": agent}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[tokio::test]
async fn call_control_names_one_target_and_a_real_number() {
    let t = TestApp::new().await;
    let (admin, agent) = make_agent(&t, "a-agent", "1001").await;
    let (_, other) = make_agent(&t, "a-super", "1002").await;
    let live = voice_call(&t, &admin, agent, "active").await;
    let me = t.login("a-agent").await;
    let transfer = format!("/api/v1/interactions/{live}/transfer");
    let control = format!("/api/v1/interactions/{live}/control");
    // A transfer names exactly one target, each checked.
    for (body, status, code) in [
        (
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "one_target_required",
        ),
        (
            json!({"agent_id": other, "number": "+74955550100"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "one_target_required",
        ),
        (
            json!({"queue_id": 999_999}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"number": "hello"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
        ),
        (
            json!({"number": "+7495\u{0}5550100"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
        ),
    ] {
        let r = t.post(&transfer, &me, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.code(), code, "{body}");
    }
    for (body, status, code) in [
        (
            json!({"action": "consult"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "one_target_required",
        ),
        (
            json!({"action": "hold", "number": "+74955550100"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unexpected_target",
        ),
        (
            json!({"action": "consult", "agent_id": 999_999}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"action": "dance"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        let r = t.post(&control, &me, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.code(), code, "{body}");
    }
    // Someone else's call is not this agent's to control.
    let theirs = voice_call(&t, &admin, other, "active").await;
    let r = t
        .post(
            &format!("/api/v1/interactions/{theirs}/control"),
            &me,
            json!({"action": "hang_up"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

/// A voice interaction of `agent` in `state`, made by `admin`: its id.
async fn voice_call(t: &TestApp, admin: &str, agent: i64, state: &str) -> i64 {
    let r = t
        .post(
            "/api/v1/interactions",
            admin,
            json!({"channel": "voice", "state": state, "agent_id": agent}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["interaction"]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn monitoring_is_for_supervisors_with_a_phone() {
    let t = TestApp::new().await;
    let (admin, agent) = make_agent(&t, "a-agent", "1001").await;
    let live = voice_call(&t, &admin, agent, "active").await;
    let uri = format!("/api/v1/interactions/{live}/monitor");
    // An agent may not listen in, even to their own call.
    let me = t.login("a-agent").await;
    let r = t.post(&uri, &me, json!({"mode": "listen"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = t.delete(&uri, &me).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // A supervisor without a phone of their own is told to get one.
    let boss = t.login("a-super").await;
    let r = t.post(&uri, &boss, json!({"mode": "listen"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.code(), "no_phone");
    // With one: the mode is checked, then the call (a finished one cannot be monitored).
    // What a live call does with it is telephony's test (controls.rs).
    make_agent(&t, "a-super", "1002").await;
    let r = t.post(&uri, &boss, json!({"mode": "shout"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.code(), "invalid_body");
    let closed = voice_call(&t, &admin, agent, "closed").await;
    let r = t
        .post(
            &format!("/api/v1/interactions/{closed}/monitor"),
            &boss,
            json!({"mode": "barge"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.code(), "not_transferable");
    let r = t
        .post(
            "/api/v1/interactions/999999/monitor",
            &boss,
            json!({"mode": "listen"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // Another tenant's supervisor does not find the call.
    let other = t.login("b-super").await;
    let r = t.post(&uri, &other, json!({"mode": "listen"})).await;
    assert!(
        matches!(
            r.status,
            StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY
        ),
        "{}",
        r.body
    );
}
