//! What the web workplace asks of the API: the wallboard (supervisors, own tenant only), an
//! agent's routing state, leaving wrap-up (a required disposition first), recordings (only
//! files under the recordings folder), and the page itself with its files.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::TestApp;

/// tenant a's agent user made an agent (1001); the admin's token and the agent's id.
async fn agent(t: &TestApp) -> (String, i64) {
    crate::presence::make_agent(t, "a-agent", "1001").await
}

async fn queue(t: &TestApp, admin: &str, name: &str, required: bool) -> i64 {
    let r = t
        .post(
            "/api/v1/queues",
            admin,
            json!({"name": name, "channels": ["voice"], "service_level_seconds": 20, "service_level_target": 80,
                "priority": 0, "wrap_up_seconds": 30, "disposition_required": required}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

/// An interaction created by `token` over the API; its id.
async fn new_interaction(t: &TestApp, token: &str, body: Value) -> i64 {
    let r = t.post("/api/v1/interactions", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["interaction"]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn the_wallboard_is_for_supervisors_and_shows_their_tenant() {
    let t = TestApp::new().await;
    let (admin, id) = agent(&t).await;
    let q = queue(&t, &admin, "Cards", false).await;
    let b_admin = t.login("b-admin").await;
    queue(&t, &b_admin, "Other tenant's queue", false).await;
    let me = t.login("a-agent").await;
    let r = t
        .put(
            &format!("/api/v1/agents/{id}/presence"),
            &me,
            json!({"presence": "available"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    assert_eq!(
        t.get("/api/v1/wallboard", &me).await.status,
        StatusCode::FORBIDDEN
    );
    let sup = t.login("a-super").await;
    let r = t.get("/api/v1/wallboard", &sup).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let queues = r.body["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 1, "{}", r.body);
    assert_eq!(queues[0]["queue_id"], q);
    assert_eq!(queues[0]["waiting"], 0);
    assert_eq!(queues[0]["agents_by_state"]["available"], 1, "{}", r.body);
    let agents = r.body["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["state"], "available");
    assert_eq!(agents[0]["extension"], "1001");

    // The agent's own state; another's is a supervisor's business.
    let r = t.get(&format!("/api/v1/agents/{id}/state"), &me).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "available");
    let other = t.login("a-admin").await;
    assert_eq!(
        t.get(&format!("/api/v1/agents/{id}/state"), &other)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        t.get(&format!("/api/v1/agents/{id}/state"), &b_admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn wrap_up_ends_only_with_a_disposition_where_the_queue_asks_for_one() {
    let t = TestApp::new().await;
    let (admin, id) = agent(&t).await;
    let q = queue(&t, &admin, "Cards", true).await;
    let call = new_interaction(
        &t,
        &admin,
        json!({"channel": "voice", "queue_id": q, "agent_id": id, "state": "closed"}),
    )
    .await;
    let me = t.login("a-agent").await;
    let uri = format!("/api/v1/agents/{id}/wrap-up");

    let r = t
        .post(&uri, &me, json!({"interaction_id": call, "action": "done"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "disposition_required")
    );
    let r = t
        .post(
            &uri,
            &me,
            json!({"interaction_id": call, "action": "extend", "seconds": 0}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_seconds")
    );

    // Someone else's contact is not this agent's to wrap up.
    let foreign = new_interaction(&t, &admin, json!({"channel": "voice", "queue_id": q})).await;
    let r = t
        .post(
            &uri,
            &me,
            json!({"interaction_id": foreign, "action": "done"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "not_this_agents_contact")
    );

    // With a disposition the request reaches routing (which has no wrap-up for it: refused).
    let d = t
        .post(
            "/api/v1/dispositions",
            &admin,
            json!({"code": "info", "name": "Info"}),
        )
        .await;
    let r = t
        .patch(
            &format!("/api/v1/interactions/{call}"),
            &me,
            json!({"disposition_id": d.body["id"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .post(&uri, &me, json!({"interaction_id": call, "action": "done"}))
        .await;
    assert_ne!(r.code(), "disposition_required", "{}", r.body);
}

#[tokio::test]
async fn only_files_under_the_recordings_folder_are_served() {
    let t = TestApp::new().await;
    let (admin, id) = agent(&t).await;
    let wav = t.recordings.join("call.wav");
    std::fs::write(&wav, hotline_wav()).unwrap();
    let outside = t.recordings.parent().unwrap().join("secret.wav");
    std::fs::write(&outside, b"RIFF....WAVE").unwrap();
    let mut ids = Vec::new();
    for path in [&wav, &outside] {
        let i = new_interaction(&t, &admin, json!({"channel": "voice", "agent_id": id})).await;
        let r = t
            .patch(
                &format!("/api/v1/interactions/{i}"),
                &admin,
                json!({"recording_ref": path.display().to_string()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        ids.push(i);
    }
    let sup = t.login("a-super").await;
    let r = t
        .get(&format!("/api/v1/interactions/{}/recording", ids[0]), &sup)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "audio/wav");
    let size = std::fs::metadata(&wav).unwrap().len().to_string();
    assert_eq!(r.headers["content-length"], size.as_str());
    assert_eq!(r.headers["accept-ranges"], "bytes");
    // The player seeks: one byte range is served as 206 with exactly those bytes.
    let ranged = |range: &str| {
        axum::http::Request::get(format!("/api/v1/interactions/{}/recording", ids[0]))
            .header("authorization", format!("Bearer {sup}"))
            .header("range", range)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let whole = std::fs::read(&wav).unwrap();
    let r = t.raw(ranged("bytes=40-47")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers["content-range"],
        format!("bytes 40-47/{}", whole.len()).as_str()
    );
    assert_eq!(r.headers["content-length"], "8");
    assert_eq!(
        r.body,
        Value::String(String::from_utf8_lossy(&whole[40..48]).into())
    );
    let r = t.raw(ranged("bytes=-4")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers["content-length"], "4");
    let r = t.raw(ranged(&format!("bytes={}-", whole.len()))).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
    );
    assert_eq!(
        r.headers["content-range"],
        format!("bytes */{}", whole.len()).as_str()
    );
    let r = t.raw(ranged("bytes=0-1,5-9")).await;
    assert_eq!(r.status, StatusCode::OK, "several ranges: the whole file");
    let r = t
        .get(&format!("/api/v1/interactions/{}/recording", ids[1]), &sup)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "no_recording")
    );
    // The agent who handled the call may listen; another tenant does not see it.
    let me = t.login("a-agent").await;
    assert_eq!(
        t.get(&format!("/api/v1/interactions/{}/recording", ids[0]), &me)
            .await
            .status,
        StatusCode::OK
    );
    let b = t.login("b-super").await;
    assert_eq!(
        t.get(&format!("/api/v1/interactions/{}/recording", ids[0]), &b)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

fn hotline_wav() -> Vec<u8> {
    // 44-byte header and 0.1 s of silence, 8 kHz mono 16-bit.
    let data = vec![0u8; 1600];
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    v
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_a_strict_policy() {
    let t = TestApp::new().await;
    let page = t.raw(Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    for (file, kind) in [
        ("app.js", "text/javascript"),
        ("desk.js", "text/javascript"),
        ("app.css", "text/css"),
    ] {
        let r = t
            .raw(
                Request::get(format!("/assets/{file}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{file}");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{file}"
        );
    }
    let r = t
        .raw(
            Request::get("/assets/../Cargo.toml")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t
        .raw(
            Request::get("/assets/nothing.js")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
}

/// Every word of the interface exists in both languages.
#[test]
fn russian_and_english_have_the_same_words() {
    let source = include_str!("../../../../web/i18n.js");
    let keys = |name: &str| -> std::collections::BTreeSet<String> {
        let start = source.find(&format!("const {name} = {{")).unwrap();
        let end = start + source[start..].find("\n};").unwrap();
        source[start..end]
            .split('\'')
            .collect::<Vec<_>>()
            .chunks(2)
            .filter_map(|c| c.get(1).map(|s| s.to_string()))
            .filter(|s| s.contains('.') || ["save", "saved", "cancel"].contains(&s.as_str()))
            .filter(|k| source[start..end].contains(&format!("'{k}':")))
            .collect()
    };
    let (en, ru) = (keys("en"), keys("ru"));
    assert!(en.len() > 100, "{}", en.len());
    let missing: Vec<&String> = en.symmetric_difference(&ru).collect();
    assert!(missing.is_empty(), "in one language only: {missing:?}");
}
