//! Flows, calendars and lookup tables over the API: checked before saving, versioned, per tenant.

use axum::http::StatusCode;
use serde_json::json;

use crate::TestApp;

const FLOW: &str = "flow: main\nstart: hi\nnodes:\n  hi:\n    condition: \"open('support')\"\n    then: q\n    else: bye\n  q:\n    queue: Support\n  bye:\n    hangup: Пока\n";
const CALENDARS: &str = "calendars:\n  support:\n    hours: { mon-fri: \"09:00-18:00\" }\n";

#[tokio::test]
async fn flows_are_checked_versioned_and_per_tenant() {
    let t = TestApp::new().await;
    let admin = t.login("a-admin").await;
    // The flow names a queue and a calendar the tenant does not have yet: both are reported.
    let r = t
        .put("/api/v1/flows/main", &admin, json!({"source": FLOW}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.code(), "flow_invalid");
    let problems = r.body["error"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0]["line"], 5);
    assert_eq!(problems[0]["file"], "main.yaml");
    assert!(problems[0]["message"]
        .as_str()
        .unwrap()
        .contains("no calendar named 'support'"));
    assert_eq!(problems[1]["line"], 9);

    let r = t
        .put("/api/v1/calendars", &admin, json!({"source": CALENDARS}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .post(
            "/api/v1/queues",
            &admin,
            json!({"name": "Support", "channels": ["voice"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let r = t
        .put("/api/v1/flows/main", &admin, json!({"source": FLOW}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["version"], 1);
    let r = t
        .put(
            "/api/v1/flows/main",
            &admin,
            json!({"source": FLOW.replace("Пока", "До свидания")}),
        )
        .await;
    assert_eq!(r.body["version"], 2);
    assert!(t.get("/api/v1/flows/main", &admin).await.body["source"]
        .as_str()
        .unwrap()
        .contains("До свидания"));
    assert!(
        t.get("/api/v1/flows/main?version=1", &admin).await.body["source"]
            .as_str()
            .unwrap()
            .contains("Пока")
    );
    let v = t.get("/api/v1/flows/main/versions", &admin).await;
    assert_eq!(v.body.as_array().map(Vec::len), Some(2));
    let list = t.get("/api/v1/flows", &admin).await;
    assert_eq!(list.body[0]["name"], "main");
    assert_eq!(list.body[0]["version"], 2);

    // A number leads to it.
    let r = t
        .post(
            "/api/v1/sip/numbers",
            &admin,
            json!({"number": "8800", "kind": "flow", "target": "main"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // The file's own name must match.
    let r = t
        .put("/api/v1/flows/other", &admin, json!({"source": FLOW}))
        .await;
    assert_eq!(r.code(), "flow_name_mismatch");
    let r = t
        .put("/api/v1/flows/bad%20name", &admin, json!({"source": FLOW}))
        .await;
    assert_eq!(r.code(), "validation_failed");

    // Checking without saving.
    let r = t
        .post(
            "/api/v1/flows/check",
            &admin,
            json!({"source": "flow: x\nstart: a\nnodes:\n  a:\n    play: hi\n"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["valid"], false);
    assert_eq!(r.body["problems"][0]["line"], 4);

    // Supervisors read, agents do not, other tenants see nothing.
    let sup = t.login("a-super").await;
    assert_eq!(
        t.get("/api/v1/flows/main", &sup).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.put("/api/v1/flows/main", &sup, json!({"source": FLOW}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let agent = t.login("a-agent").await;
    assert_eq!(
        t.get("/api/v1/flows", &agent).await.status,
        StatusCode::FORBIDDEN
    );
    let other = t.login("b-admin").await;
    assert_eq!(
        t.get("/api/v1/flows/main", &other).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/api/v1/flows", &other)
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

#[tokio::test]
async fn calendars_and_lookup_tables() {
    let t = TestApp::new().await;
    let admin = t.login("a-admin").await;
    assert_eq!(
        t.get("/api/v1/calendars", &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let r = t
        .put("/api/v1/calendars", &admin, json!({"source": "calendars:\n  x:\n    timezone: Nowhere/City\n    hours: { mon: \"9-18\" }\n"}))
        .await;
    assert_eq!(r.code(), "calendars_invalid");
    let lines: Vec<i64> = r.body["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4]);

    let r = t
        .put(
            "/api/v1/lookup-tables/orders",
            &admin,
            json!({"rows": {"123456": {"status": "готова"}, "234567": {"status": "в пути"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["rows"], 2);
    let r = t.get("/api/v1/lookup-tables/orders/123456", &admin).await;
    assert_eq!(r.body["status"], "готова");
    assert_eq!(
        t.get("/api/v1/lookup-tables/orders/999", &admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = t
        .put(
            "/api/v1/lookup-tables/orders",
            &admin,
            json!({"rows": {"1": 5}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let other = t.login("b-admin").await;
    assert_eq!(
        t.get("/api/v1/lookup-tables/orders/123456", &other)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
