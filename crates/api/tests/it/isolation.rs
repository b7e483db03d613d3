//! A user of tenant A gets 404 for tenant B's objects, on every route that takes an id.

use crate::TestApp;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn tenants_never_see_each_other() {
    let t = TestApp::new().await;
    let a = t.login("a-admin").await;
    let b = t.login("b-admin").await;
    let customer = t
        .post(
            "/api/v1/customers",
            &a,
            json!({"name": "Секретный клиент", "phones": ["+79165550102"]}),
        )
        .await
        .body;
    let cid = customer["id"].as_i64().unwrap();
    let queue = t
        .post(
            "/api/v1/queues",
            &a,
            json!({"name": "A queue", "channels": ["voice"]}),
        )
        .await
        .body;
    let qid = queue["id"].as_i64().unwrap();
    let disp = t
        .post(
            "/api/v1/dispositions",
            &a,
            json!({"code": "sale", "name": "Sale"}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let script = t
        .post(
            "/api/v1/scripts",
            &a,
            json!({"title": "A script", "queue_id": qid}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let users = t.get("/api/v1/users", &a).await.body;
    let uid = users[2]["id"].as_i64().unwrap();
    let agent = t
        .post(
            "/api/v1/agents",
            &a,
            json!({"user_id": uid, "extension": "1001"}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let inter = t
        .post(
            "/api/v1/interactions",
            &a,
            json!({"channel": "voice", "customer_id": cid}),
        )
        .await
        .body["interaction"]["id"]
        .as_i64()
        .unwrap();
    let token = t
        .post("/api/v1/tokens", &a, json!({"name": "A token"}))
        .await
        .body["token"]["id"]
        .as_i64()
        .unwrap();

    let gets = [
        format!("/api/v1/customers/{cid}"),
        format!("/api/v1/customers/{cid}/card"),
        format!("/api/v1/queues/{qid}"),
        format!("/api/v1/scripts/{script}"),
        format!("/api/v1/users/{uid}"),
        format!("/api/v1/agents/{agent}"),
        format!("/api/v1/interactions/{inter}"),
        format!("/api/v1/interactions/{inter}/events"),
    ];
    for uri in &gets {
        assert_eq!(
            t.get(uri, &a).await.status,
            StatusCode::OK,
            "{uri} for its own tenant"
        );
        let r = t.get(uri, &b).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{uri} for the other tenant"
        );
    }
    let writes = [
        t.patch(
            &format!("/api/v1/customers/{cid}"),
            &b,
            json!({"name": "hijack"}),
        )
        .await,
        t.post(
            &format!("/api/v1/customers/{cid}/identifiers"),
            &b,
            json!({"kind": "phone", "value": "+79165550199"}),
        )
        .await,
        t.delete(&format!("/api/v1/customers/{cid}"), &b).await,
        t.patch(&format!("/api/v1/queues/{qid}"), &b, json!({"priority": 9}))
            .await,
        t.delete(&format!("/api/v1/queues/{qid}"), &b).await,
        t.patch(
            &format!("/api/v1/dispositions/{disp}"),
            &b,
            json!({"active": false}),
        )
        .await,
        t.delete(&format!("/api/v1/scripts/{script}"), &b).await,
        t.patch(
            &format!("/api/v1/agents/{agent}"),
            &b,
            json!({"skills": []}),
        )
        .await,
        t.patch(
            &format!("/api/v1/users/{uid}"),
            &b,
            json!({"active": false}),
        )
        .await,
        t.patch(
            &format!("/api/v1/interactions/{inter}"),
            &b,
            json!({"notes": "x"}),
        )
        .await,
        t.post(
            &format!("/api/v1/interactions/{inter}/events"),
            &b,
            json!({"kind": "x"}),
        )
        .await,
        t.delete(&format!("/api/v1/tokens/{token}"), &b).await,
    ];
    for r in writes {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    // References across tenants are refused as if the object did not exist.
    let r = t
        .post(
            "/api/v1/interactions",
            &b,
            json!({"channel": "voice", "customer_id": cid}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("customer_id"))
    );
    let b_customer = t
        .post("/api/v1/customers", &b, json!({"name": "B"}))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        t.post(
            &format!("/api/v1/customers/{b_customer}/merge"),
            &b,
            json!({"absorb_id": cid})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // Lists and the screen pop stay within the tenant.
    assert_eq!(
        t.get("/api/v1/customers/lookup?phone=%2B79165550102", &b)
            .await
            .code(),
        "customer_not_found"
    );
    assert_eq!(
        t.get("/api/v1/customers?q=Секретный", &b).await.body["total"],
        0
    );
    assert_eq!(t.get("/api/v1/interactions", &b).await.body["total"], 0);
    assert_eq!(t.get("/api/v1/queues", &b).await.body, json!([]));
    assert_eq!(t.get("/api/v1/agents", &b).await.body, json!([]));
    assert_eq!(
        t.get("/api/v1/users", &b)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // And nothing was changed by the attempts.
    assert_eq!(
        t.get(&format!("/api/v1/customers/{cid}"), &a).await.body,
        customer
    );
}
