//! The dial plan over the API: admins only, passwords write-only, tenants apart, clear errors.

use axum::http::StatusCode;
use serde_json::json;

use crate::TestApp;

#[tokio::test]
async fn admins_manage_trunks_numbers_and_routes() {
    let t = TestApp::new().await;
    let admin = t.login("a-admin").await;
    let r = t
        .post(
            "/api/v1/sip/trunks",
            &admin,
            json!({"name": "carrier", "host": "192.0.2.10", "username": "acme",
                   "password": "s3cret", "register": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["port"], 5060);
    assert_eq!(r.body["transport"], "udp");
    assert_eq!(r.body["has_password"], true);
    assert!(r.body.get("password").is_none(), "write-only");
    let trunk = r.body["id"].as_i64().unwrap();

    let r = t
        .post(
            "/api/v1/sip/numbers",
            &admin,
            json!({"number": "74951234567", "kind": "extension", "target": "1001"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let number = r.body["id"].as_i64().unwrap();
    let r = t
        .post(
            "/api/v1/sip/routes",
            &admin,
            json!({"prefix": "8", "trunk_id": trunk, "strip": 1, "prepend": "+7"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    let list = t.get("/api/v1/sip/trunks", &admin).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));
    assert_eq!(
        t.get("/api/v1/sip/numbers", &admin).await.body[0]["number"],
        "74951234567"
    );
    assert_eq!(
        t.get("/api/v1/sip/routes", &admin).await.body[0]["prepend"],
        "+7"
    );

    // Bad input: a clear error with a stable code.
    let r = t
        .post(
            "/api/v1/sip/trunks",
            &admin,
            json!({"name": "x", "host": "192.0.2.11", "transport": "sctp"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let r = t
        .post(
            "/api/v1/sip/numbers",
            &admin,
            json!({"number": "74951234567", "kind": "extension", "target": "1002"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    let r = t
        .post(
            "/api/v1/sip/routes",
            &admin,
            json!({"prefix": "9", "trunk_id": trunk, "strip": 40}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);

    // Supervisors and agents do not see the plan; another tenant cannot touch it.
    let sup = t.login("a-super").await;
    assert_eq!(
        t.get("/api/v1/sip/trunks", &sup).await.status,
        StatusCode::FORBIDDEN
    );
    let other = t.login("b-admin").await;
    assert_eq!(
        t.get("/api/v1/sip/trunks", &other)
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let r = t
        .post(
            "/api/v1/sip/routes",
            &other,
            json!({"prefix": "7", "trunk_id": trunk}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(
        t.delete(&format!("/api/v1/sip/numbers/{number}"), &other)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Deleting the trunk takes its routes with it.
    assert_eq!(
        t.delete(&format!("/api/v1/sip/trunks/{trunk}"), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get("/api/v1/sip/routes", &admin)
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        t.delete(&format!("/api/v1/sip/numbers/{number}"), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}
