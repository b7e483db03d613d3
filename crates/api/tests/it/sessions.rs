//! Log-in, cookies, tokens, roles, throttling, live events, metrics.

use crate::{TestApp, PASSWORD};
use axum::body::Body;
use axum::extract::ws::Message;
use axum::http::{header, Method, Request, StatusCode};
use futures_util::StreamExt;
use hotline_api::events::{pump, Audience, LiveEvent};
use hotline_api::ApiConfig;
use hotline_model::Role;
use serde_json::json;

#[tokio::test]
async fn login_sets_a_safe_cookie_and_the_cookie_authenticates() {
    let t = TestApp::new().await;
    let r = t
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "A-Admin", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["user"]["role"], "admin");
    let cookie = r
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("hotline_session=hls_"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let req = Request::get("/api/v1/auth/me")
        .header(header::COOKIE, format!("theme=dark; {session}"))
        .body(Body::empty())
        .unwrap();
    let me = t.raw(req).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["username"], "a-admin");
    assert_eq!(me.body["tenant"]["slug"], "a");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_no_token_are_refused_alike() {
    let t = TestApp::new().await;
    let wrong = t
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "a-admin", "password": "nope-nope"})),
        )
        .await;
    let unknown = t
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "ghost", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(
        t.call(Method::GET, "/api/v1/customers", None, None)
            .await
            .code(),
        "unauthorized"
    );
    assert_eq!(
        t.call(Method::GET, "/api/v1/customers", Some("hls_forged"), None)
            .await
            .code(),
        "unauthorized"
    );
    let req = Request::get("/api/v1/customers")
        .header(header::AUTHORIZATION, "Basic YTpi")
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.raw(req).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logins_are_rate_limited() {
    let t = TestApp::with_config(ApiConfig {
        login_max_failures: 3,
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        let r = t
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "a-agent", "password": "guess-guess"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = t
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "a-agent", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "even the right password waits"
    );
    assert!(r.headers.get(header::RETRY_AFTER).is_some());
    // Another user is not locked out by someone guessing at a-agent.
    t.login("a-super").await;
}

#[tokio::test]
async fn logout_and_logout_everywhere() {
    let t = TestApp::new().await;
    let one = t.login("a-agent").await;
    let two = t.login("a-agent").await;
    let r = t
        .call(Method::POST, "/api/v1/auth/logout", Some(&one), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        t.get("/api/v1/auth/me", &one).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(t.get("/api/v1/auth/me", &two).await.status, StatusCode::OK);
    let three = t.login("a-agent").await;
    assert_eq!(
        t.call(Method::POST, "/api/v1/auth/logout-all", Some(&two), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    for token in [&two, &three] {
        assert_eq!(
            t.get("/api/v1/auth/me", token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn api_tokens_work_until_revoked() {
    let t = TestApp::new().await;
    let admin = t.login("a-admin").await;
    let r = t
        .post("/api/v1/tokens", &admin, json!({"name": "CRM sync"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let id = r.body["token"]["id"].as_i64().unwrap();
    assert_eq!(
        t.get("/api/v1/customers", &secret).await.status,
        StatusCode::OK
    );
    let listed = t.get("/api/v1/tokens", &admin).await;
    assert!(
        !listed.body.to_string().contains(&secret),
        "secrets are shown once only"
    );
    assert_eq!(
        t.delete(&format!("/api/v1/tokens/{id}"), &admin)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        t.get("/api/v1/customers", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn roles_are_checked_on_every_route() {
    let t = TestApp::new().await;
    let (admin, sup, agent) = (
        t.login("a-admin").await,
        t.login("a-super").await,
        t.login("a-agent").await,
    );
    let queue = json!({"name": "Cards", "channels": ["voice"]});
    assert_eq!(
        t.post("/api/v1/queues", &agent, queue.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.post("/api/v1/queues", &sup, queue.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let q = t.post("/api/v1/queues", &admin, queue).await;
    assert_eq!(q.status, StatusCode::CREATED);
    assert_eq!(
        t.get("/api/v1/queues", &agent).await.status,
        StatusCode::OK,
        "agents read the catalogue"
    );
    assert_eq!(
        t.get("/api/v1/users", &agent).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(t.get("/api/v1/users", &sup).await.status, StatusCode::OK);
    let user = json!({"username": "new-agent", "display_name": "New", "role": "agent", "password": PASSWORD});
    assert_eq!(
        t.post("/api/v1/users", &sup, user.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let u = t.post("/api/v1/users", &admin, user).await;
    assert_eq!(u.status, StatusCode::CREATED);
    let uid = u.body["id"].as_i64().unwrap();
    let a = t.post("/api/v1/agents", &admin, json!({"user_id": uid, "extension": "1001", "skills": [{"name": "cards", "proficiency": 3}], "sip_password": "sip-pass-1"})).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.body["sip_password_set"], true);
    assert!(!a.body.to_string().contains("sip-pass-1"));
    let aid = a.body["id"].as_i64().unwrap();
    let skills = json!({"skills": [{"name": "cards", "proficiency": 5}]});
    assert_eq!(
        t.patch(&format!("/api/v1/agents/{aid}"), &agent, skills.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.patch(&format!("/api/v1/agents/{aid}"), &sup, skills)
            .await
            .status,
        StatusCode::OK,
        "supervisors change skills"
    );
    assert_eq!(
        t.patch(
            &format!("/api/v1/agents/{aid}"),
            &sup,
            json!({"sip_password": "other-pass-2"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.patch("/api/v1/tenant", &sup, json!({"name": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.get("/api/v1/tokens", &sup).await.status,
        StatusCode::FORBIDDEN
    );
    let c = t
        .post("/api/v1/customers", &agent, json!({"name": "Клиент"}))
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "agents create customers");
    let cid = c.body["id"].as_i64().unwrap();
    assert_eq!(
        t.delete(&format!("/api/v1/customers/{cid}"), &agent)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.post(
            &format!("/api/v1/customers/{cid}/merge"),
            &agent,
            json!({"absorb_id": cid})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.delete(&format!("/api/v1/customers/{cid}"), &sup)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // An agent may not change an interaction assigned to another agent.
    let i = t
        .post(
            "/api/v1/interactions",
            &sup,
            json!({"channel": "chat", "agent_id": aid}),
        )
        .await;
    let iid = i.body["interaction"]["id"].as_i64().unwrap();
    assert_eq!(
        t.patch(
            &format!("/api/v1/interactions/{iid}"),
            &agent,
            json!({"notes": "x"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let mine = t.login("new-agent").await;
    assert_eq!(
        t.patch(
            &format!("/api/v1/interactions/{iid}"),
            &mine,
            json!({"notes": "мои заметки"})
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        t.patch(
            &format!(
                "/api/v1/users/{}",
                t.get("/api/v1/auth/me", &admin).await.body["user"]["id"]
            ),
            &admin,
            json!({"role": "agent"})
        )
        .await
        .code(),
        "cannot_demote_self"
    );
}

#[tokio::test]
async fn live_events_are_filtered_by_tenant_and_role() {
    let (tx, _) = tokio::sync::broadcast::channel::<LiveEvent>(16);
    let agent7 = Audience {
        tenant_id: 1,
        role: Role::Agent,
        agent_id: Some(7),
    };
    let supervisor = Audience {
        tenant_id: 1,
        role: Role::Supervisor,
        agent_id: None,
    };
    let events = [
        LiveEvent::new(1, Some(7), "interaction.created", json!({"id": 1})),
        LiveEvent::new(1, Some(8), "interaction.created", json!({"id": 2})),
        LiveEvent::new(2, Some(7), "interaction.created", json!({"id": 3})),
        LiveEvent::new(1, None, "customer.updated", json!({"id": 4})),
    ];
    let wanted = |a: Audience| {
        events
            .iter()
            .filter(|e| a.wants(e))
            .map(|e| e.data["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(wanted(agent7), [1]);
    assert_eq!(wanted(supervisor), [1, 2, 4]);

    // The pump forwards exactly the wanted events, then stops when the client closes.
    let (out_tx, mut out_rx) = futures_channel::mpsc::unbounded::<Message>();
    let (in_tx, in_rx) = futures_channel::mpsc::unbounded::<Result<Message, std::io::Error>>();
    let task = tokio::spawn(pump(
        agent7,
        tx.subscribe(),
        out_tx,
        in_rx,
        futures_util::stream::pending::<String>(),
        None,
    ));
    let hello = out_rx.next().await.unwrap();
    assert!(matches!(&hello, Message::Text(t) if t.contains("hello")));
    for e in &events {
        tx.send(e.clone()).unwrap();
    }
    let got = out_rx.next().await.unwrap();
    let Message::Text(text) = got else {
        panic!("text expected")
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["data"]["id"].as_i64()),
        (Some("interaction.created"), Some(1))
    );
    assert!(v.get("tenant_id").is_none(), "routing fields stay internal");
    in_tx.unbounded_send(Ok(Message::Close(None))).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        out_rx.next().await.is_none(),
        "nothing unwanted was sent, and the stream ended"
    );
}

#[tokio::test]
async fn changes_are_published_to_the_live_stream() {
    let t = TestApp::new().await;
    let mut rx = t.state.events.subscribe();
    let sup = t.login("a-super").await;
    let i = t
        .post("/api/v1/interactions", &sup, json!({"channel": "voice"}))
        .await;
    let iid = i.body["interaction"]["id"].as_i64().unwrap();
    t.patch(
        &format!("/api/v1/interactions/{iid}"),
        &sup,
        json!({"state": "queued"}),
    )
    .await;
    let first = rx.recv().await.unwrap();
    assert_eq!(first.kind, "interaction.created");
    let second = rx.recv().await.unwrap();
    assert_eq!(second.kind, "interaction.updated");
    assert_eq!(second.data["events"][0]["data"]["to"], "queued");
}

#[tokio::test]
async fn health_and_metrics() {
    let t = TestApp::new().await;
    let h = t.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (h.status, h.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let token = t.login("a-agent").await;
    t.get("/api/v1/customers?q=%2B79165550102", &token).await;
    let m = t.call(Method::GET, "/metrics", None, None).await;
    let text = m.body.as_str().unwrap();
    assert!(text.contains("hotline_http_requests_total{method=\"GET\",route=\"/api/v1/customers\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("hotline_http_request_duration_seconds"));
    assert!(
        !text.contains("9165550102"),
        "query strings never become labels"
    );
    t.store.close().await;
    let h = t.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(h.status, StatusCode::SERVICE_UNAVAILABLE);
}
