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

/// The operator (the first tenant: the outsourcing centre) creates client companies, each
/// with its first administrator; nobody else may list or touch tenants.
#[tokio::test]
async fn the_operator_creates_client_companies_and_nobody_else_sees_them() {
    use crate::PASSWORD;
    let t = TestApp::new().await;
    let op = t.login("a-admin").await;
    let r = t.get("/api/v1/tenants", &op).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["tenant"]["slug"], "a");
    assert_eq!(list[0]["tenant"]["operator"], true);
    assert_eq!(list[1]["tenant"]["operator"], false);
    assert_eq!(list[1]["users"], 3);
    for who in ["b-admin", "a-super", "a-agent"] {
        let token = t.login(who).await;
        let r = t.get("/api/v1/tenants", &token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}");
    }
    let b = t.login("b-admin").await;
    assert_eq!(t.get("/api/v1/tenants", &b).await.code(), "operator_only");

    let new = |slug: &str, username: &str| {
        json!({"name": "Интернет-магазин «Ромашка»", "slug": slug, "default_region": "RU",
            "timezone": "Asia/Yekaterinburg",
            "admin": {"username": username, "display_name": "Админ Ромашки", "password": PASSWORD}})
    };
    let r = t
        .post("/api/v1/tenants", &op, new("shop", "shop-admin"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let shop = r.body["tenant"]["id"].as_i64().unwrap();
    assert_eq!(r.body["admin"]["role"], "admin");
    assert_eq!(r.body["tenant"]["operator"], false);
    let r = t
        .post("/api/v1/tenants", &b, new("shop2", "shop2-admin"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .post("/api/v1/tenants", &op, new("shop", "other-admin"))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "slug_taken"));
    let r = t
        .post("/api/v1/tenants", &op, new("shop3", "shop-admin"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "username_taken")
    );
    let mut bad = new("shop4", "shop4-admin");
    bad["default_region"] = json!("XX");
    let r = t.post("/api/v1/tenants", &op, bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["field"], "default_region");

    // The client company's administrator logs in to their own tenant, alone in it.
    let sa = t.login("shop-admin").await;
    let r = t.get("/api/v1/tenant", &sa).await;
    assert_eq!(
        (r.body["slug"].as_str(), r.body["timezone"].as_str()),
        (Some("shop"), Some("Asia/Yekaterinburg"))
    );
    let r = t.get("/api/v1/users", &sa).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(
        t.get("/api/v1/tenants", &sa).await.status,
        StatusCode::FORBIDDEN
    );
    // They set it up like any tenant: a queue of their own, unseen by the operator's desk.
    let r = t
        .post(
            "/api/v1/queues",
            &sa,
            json!({"name": "Заказы", "channels": ["voice"], "service_level_seconds": 20,
                "service_level_target": 80, "priority": 0, "wrap_up_seconds": 0,
                "disposition_required": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = t.get("/api/v1/queues", &op).await;
    assert!(r
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|q| q["name"] != "Заказы"));

    // The operator renames it; nobody else may.
    let uri = format!("/api/v1/tenants/{shop}");
    let r = t.patch(&uri, &op, json!({"name": "Ромашка"})).await;
    assert_eq!(
        (r.status, r.body["name"].as_str()),
        (StatusCode::OK, Some("Ромашка"))
    );
    assert_eq!(
        t.patch(&uri, &sa, json!({"name": "x"})).await.status,
        StatusCode::FORBIDDEN
    );
    let r = t
        .patch("/api/v1/tenants/999999", &op, json!({"name": "x"}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t.get("/api/v1/tenants", &op).await;
    let shop_row = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["tenant"]["id"] == shop)
        .unwrap()
        .clone();
    assert_eq!(
        (shop_row["users"].as_i64(), shop_row["queues"].as_i64()),
        (Some(1), Some(1))
    );
}
