//! Bad input: every refusal is a 4xx in the one JSON shape, and nothing is written.

use crate::TestApp;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;

async fn customer_count(t: &TestApp, token: &str) -> i64 {
    t.get("/api/v1/customers?limit=1", token).await.body["total"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn malformed_bodies_get_stable_codes_and_write_nothing() {
    let t = TestApp::new().await;
    let token = t.login("a-admin").await;
    let before = customer_count(&t, &token).await;
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = Request::post("/api/v1/customers")
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        req.body(Body::from(body)).unwrap()
    };
    let cases = [
        (
            send("{\"name\": ", Some("application/json")),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            send("not json", Some("application/json")),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            send("{\"name\": 5}", Some("application/json")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            send(
                "{\"name\": \"x\", \"vip\": \"yes\"}",
                Some("application/json"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            send(
                "{\"name\": \"x\", \"nmae\": \"typo\"}",
                Some("application/json"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            send("{\"name\": \"x\"}", None),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            send("{\"name\": \"x\"}", Some("text/plain")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            send("{\"name\": \"\"}", Some("application/json")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            send("{\"name\": \"x\\u0000y\"}", Some("application/json")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            send(
                "{\"name\": \"x\", \"phones\": [\"12\"]}",
                Some("application/json"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            send(
                "{\"name\": \"x\", \"emails\": [\"nobody\"]}",
                Some("application/json"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            send(
                "{\"name\": \"x\", \"custom_fields\": {\"a\": [1]}}",
                Some("application/json"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (req, status, code) in cases {
        let r = t.raw(req).await;
        assert_eq!((r.status, r.code()), (status, code), "{}", r.body);
        assert!(r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let r = t
        .post(
            "/api/v1/customers",
            &token,
            json!({"name": "x", "phones": ["12"]}),
        )
        .await;
    assert_eq!(r.body["error"]["field"], "phones");
    assert_eq!(
        customer_count(&t, &token).await,
        before,
        "refused input wrote nothing"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let t = TestApp::new().await;
    let token = t.login("a-admin").await;
    let big = format!("{{\"name\": \"{}\"}}", "я".repeat(600_000));
    let req = Request::post("/api/v1/customers")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .unwrap();
    let r = t.raw(req).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    assert_eq!(customer_count(&t, &token).await, 0);
}

#[tokio::test]
async fn unknown_enum_values_bad_pagination_and_bad_paths() {
    let t = TestApp::new().await;
    let token = t.login("a-admin").await;
    let r = t
        .post("/api/v1/interactions", &token, json!({"channel": "fax"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("voice"),
        "the message lists what is accepted"
    );
    for uri in [
        "/api/v1/customers?limit=0",
        "/api/v1/customers?limit=201",
        "/api/v1/customers?offset=-1",
        "/api/v1/interactions?limit=1000",
    ] {
        assert_eq!(
            t.get(uri, &token).await.code(),
            "invalid_pagination",
            "{uri}"
        );
    }
    assert_eq!(
        t.get("/api/v1/customers?limit=ten", &token).await.code(),
        "invalid_query"
    );
    assert_eq!(
        t.get("/api/v1/interactions?state=lost", &token)
            .await
            .code(),
        "invalid_query"
    );
    assert_eq!(
        t.get("/api/v1/interactions?from=yesterday", &token)
            .await
            .code(),
        "invalid_query"
    );
    assert_eq!(
        t.get("/api/v1/customers?q=%00", &token).await.code(),
        "invalid_query"
    );
    assert_eq!(
        t.get("/api/v1/customers/abc", &token).await.code(),
        "invalid_path"
    );
    assert_eq!(
        t.get("/api/v1/customers/99999999999999999999", &token)
            .await
            .code(),
        "invalid_path"
    );
    assert_eq!(
        t.get("/api/v1/customers/424242", &token).await.code(),
        "not_found"
    );
    assert_eq!(
        t.get("/api/v1/customers/lookup", &token).await.code(),
        "invalid_query"
    );
    assert_eq!(
        t.get("/api/v1/customers/lookup?phone=abc", &token)
            .await
            .code(),
        "validation_failed"
    );
    assert_eq!(
        t.get("/api/v1/customers/lookup?phone=%2B79165550199", &token)
            .await
            .code(),
        "customer_not_found"
    );
    assert_eq!(
        t.call(Method::GET, "/api/v2/nothing", None, None)
            .await
            .code(),
        "not_found"
    );
    assert_eq!(
        t.call(Method::PUT, "/api/v1/customers", Some(&token), None)
            .await
            .code(),
        "method_not_allowed"
    );
    let r = t
        .patch("/api/v1/interactions/1", &token, json!({"state": "closed"}))
        .await;
    assert_eq!(r.code(), "not_found");
}

#[tokio::test]
async fn phone_numbers_as_people_type_them_reach_one_customer() {
    let t = TestApp::new().await;
    let token = t.login("a-agent").await;
    let r = t.post("/api/v1/customers", &token, json!({"name": "Иванов Иван", "phones": ["8 (916) 555-01-02"], "emails": ["Ivan@Example.ru"]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["identifiers"][0]["value"], "+79165550102");
    let id = r.body["id"].as_i64().unwrap();
    for typed in [
        "%2B7%20916%205550102",
        "9165550102",
        "8%20(916)%20555-01-02",
    ] {
        let card = t
            .get(&format!("/api/v1/customers/lookup?phone={typed}"), &token)
            .await;
        assert_eq!(card.status, StatusCode::OK, "{typed}: {}", card.body);
        assert_eq!(card.body["customer"]["id"], id);
    }
    let by_mail = t
        .get("/api/v1/customers/lookup?email=IVAN%40example.RU", &token)
        .await;
    assert_eq!(by_mail.body["customer"]["id"], id);
    // The same number for another customer is a conflict, reported as such.
    let dup = t
        .post(
            "/api/v1/customers",
            &token,
            json!({"name": "Другой", "phones": ["+7 916 555 01 02"]}),
        )
        .await;
    assert_eq!(
        (dup.status, dup.code()),
        (StatusCode::CONFLICT, "identifier_taken")
    );
    // The screen pop carries the cross-channel timeline.
    let call = t
        .post(
            "/api/v1/interactions",
            &token,
            json!({"channel": "voice", "customer_id": id}),
        )
        .await;
    let iid = call.body["interaction"]["id"].as_i64().unwrap();
    t.post(
        &format!("/api/v1/interactions/{iid}/events"),
        &token,
        json!({"kind": "ivr_step", "data": {"node": "menu", "digits": "2"}}),
    )
    .await;
    t.post(
        "/api/v1/interactions",
        &token,
        json!({"channel": "email", "customer_id": id, "subject": "Выписка"}),
    )
    .await;
    let card = t
        .get("/api/v1/customers/lookup?phone=89165550102", &token)
        .await;
    let timeline = card.body["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(
        timeline[0]["interaction"]["channel"], "email",
        "newest first"
    );
    assert_eq!(timeline[1]["events"][1]["data"]["digits"], "2");
}
