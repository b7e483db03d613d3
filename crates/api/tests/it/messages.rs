//! Written channels over the API: mailboxes (admins only, write-only passwords, per tenant),
//! an e-mail offered by routing taken, passed on and finished from the desk, its messages,
//! and the clear refusals around them (no mail service, a voice contact, not offered).

use axum::http::StatusCode;
use hotline_routing::{Command, ContactId, ContactSpec, QueueId};
use serde_json::json;

use crate::presence::make_agent;
use crate::TestApp;

async fn email_queue(t: &TestApp, admin: &str, channels: &[&str]) -> i64 {
    let r = t
        .post(
            "/api/v1/queues",
            admin,
            json!({"name": format!("Почта {channels:?}"), "channels": channels, "service_level_seconds": 3600,
                "service_level_target": 80, "priority": 0, "wrap_up_seconds": 60,
                "disposition_required": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

fn account(queue: i64, address: &str) -> serde_json::Value {
    json!({"queue_id": queue, "address": address, "imap_host": "127.0.0.1", "imap_user": address,
        "imap_password": "secret", "smtp_host": "127.0.0.1"})
}

#[tokio::test]
async fn mailboxes_are_an_admins_and_stay_in_their_tenant() {
    let t = TestApp::new().await;
    let admin = t.login("a-admin").await;
    let mail = email_queue(&t, &admin, &["email"]).await;
    let voice = email_queue(&t, &admin, &["voice"]).await;

    let agent = t.login("a-agent").await;
    let r = t.get("/api/v1/email-accounts", &agent).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = t
        .post(
            "/api/v1/email-accounts",
            &admin,
            account(voice, "support@bank.ru"),
        )
        .await;
    assert_eq!(r.code(), "queue_not_email", "{}", r.body);
    let r = t
        .post(
            "/api/v1/email-accounts",
            &admin,
            account(mail, "not an address"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = t
        .post(
            "/api/v1/email-accounts",
            &admin,
            account(mail, "Support@Bank.ru"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["address"], "support@bank.ru");
    // TLS unless told otherwise: STARTTLS on the usual ports.
    assert_eq!(r.body["imap_port"], 143);
    assert_eq!(r.body["imap_security"], "starttls");
    assert_eq!(r.body["smtp_port"], 587);
    assert_eq!(r.body["smtp_security"], "starttls");
    assert_eq!(r.body["done_folder"], "Hotline");
    assert!(r.body.get("imap_password").is_none() && r.body.get("smtp_password").is_none());
    let id = r.body["id"].as_i64().unwrap();
    let r = t
        .post(
            "/api/v1/email-accounts",
            &admin,
            account(mail, "support@bank.ru"),
        )
        .await;
    assert_eq!(r.code(), "already_exists", "{}", r.body);
    let r = t.get("/api/v1/email-accounts", &admin).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert!(!r.body.to_string().contains("secret"), "{}", r.body);

    // The other tenant sees none of it and cannot use this tenant's queue.
    let other = t.login("b-admin").await;
    let r = t.get("/api/v1/email-accounts", &other).await;
    assert_eq!(r.body, json!([]));
    let r = t
        .post("/api/v1/email-accounts", &other, account(mail, "x@bank.ru"))
        .await;
    assert_eq!(r.code(), "invalid_queue", "{}", r.body);
    let r = t
        .delete(&format!("/api/v1/email-accounts/{id}"), &other)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = t
        .delete(&format!("/api/v1/email-accounts/{id}"), &admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = t.get("/api/v1/email-accounts", &admin).await;
    assert_eq!(r.body, json!([]));
    // Implicit TLS on 993/465; a CA that is not one is refused.
    let mut tls = account(mail, "tls@bank.ru");
    tls["imap_port"] = json!(993);
    tls["smtp_port"] = json!(465);
    let r2 = t.post("/api/v1/email-accounts", &admin, tls.clone()).await;
    assert_eq!(r2.status, StatusCode::CREATED, "{}", r2.body);
    assert_eq!(
        (
            r2.body["imap_security"].as_str(),
            r2.body["smtp_security"].as_str()
        ),
        (Some("tls"), Some("tls"))
    );
    tls["address"] = json!("ca@bank.ru");
    tls["tls_ca_pem"] =
        json!("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
    let r2 = t.post("/api/v1/email-accounts", &admin, tls.clone()).await;
    assert_eq!(r2.code(), "invalid_ca", "{}", r2.body);
    tls["tls_ca_pem"] = json!("");
    tls["smtp_security"] = json!("ssl");
    let r2 = t.post("/api/v1/email-accounts", &admin, tls).await;
    assert_eq!(r2.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r2.body);
}

#[tokio::test]
async fn an_offered_email_is_taken_answered_and_finished_from_the_desk() {
    let mut t = TestApp::new().await;
    let mut commands = std::mem::replace(&mut t.routing_commands, tokio::sync::mpsc::channel(1).1);
    let t = t;
    let (admin, agent_id) = make_agent(&t, "a-agent", "1001").await;
    let queue = email_queue(&t, &admin, &["email"]).await;
    let r = t
        .post(
            "/api/v1/email-accounts",
            &admin,
            account(queue, "support@bank.ru"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let acc = r.body["id"].as_i64().unwrap();
    let tenant = t.store.get_tenant_by_slug("a").await.unwrap().id;

    // A mail as the e-mail service stores it, handed to routing.
    let ingested = t
        .store
        .ingest_email(
            tenant,
            &hotline_store::InboundEmail {
                account_id: acc,
                dedupe_key: "mid:c1@mail.ru".into(),
                message_id: Some("c1@mail.ru".into()),
                from_addr: "ivan@mail.ru".into(),
                from_name: "Иван".into(),
                subject: "Карта".into(),
                body_text: "Заблокирована".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let hotline_store::Ingested::New { interaction, .. } = ingested else {
        panic!("new")
    };
    let id = interaction.id;
    t.acd
        .input(hotline_acd::Input::Contact(ContactSpec::new(
            ContactId(id),
            QueueId(queue),
            hotline_model::Channel::Email,
        )))
        .await
        .unwrap();

    let me = t.login("a-agent").await;
    // Not offered yet: nothing to take.
    let r = t
        .post(&format!("/api/v1/interactions/{id}/accept"), &me, json!({}))
        .await;
    assert_eq!(r.code(), "not_offered", "{}", r.body);
    let r = t
        .put(
            &format!("/api/v1/agents/{agent_id}/presence"),
            &me,
            json!({"presence": "available"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let offered = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Some(Command::Offer { contact, agent, .. }) = commands.recv().await {
                return (contact, agent);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(offered, (ContactId(id), hotline_routing::AgentId(agent_id)));

    // Another agent of the tenant cannot take it; the other tenant cannot see it.
    let sup = t.login("a-super").await;
    let r = t
        .post(
            &format!("/api/v1/interactions/{id}/accept"),
            &sup,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let b = t.login("b-agent").await;
    let r = t
        .get(&format!("/api/v1/interactions/{id}/messages"), &b)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    let r = t
        .post(&format!("/api/v1/interactions/{id}/accept"), &me, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "active");
    assert_eq!(r.body["agent_id"], agent_id);
    let r = t
        .post(
            &format!("/api/v1/interactions/{id}/decline"),
            &me,
            json!({}),
        )
        .await;
    assert_eq!(r.code(), "not_offered", "taken already: {}", r.body);

    let r = t
        .get(&format!("/api/v1/interactions/{id}/messages"), &me)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body[0]["body_text"], "Заблокирована");
    assert_eq!(r.body[0]["direction"], "inbound");

    // Bad replies are refused before anything is sent or stored (sending itself is the
    // e-mail test's, against real mail servers: crates/hotline/tests/email.rs).
    let r = t
        .post(
            &format!("/api/v1/interactions/{id}/messages"),
            &me,
            json!({"text": "  "}),
        )
        .await;
    assert_eq!(r.code(), "text_required", "{}", r.body);
    let r = t
        .post(
            &format!("/api/v1/interactions/{id}/messages"),
            &me,
            json!({"text": "x", "attachments": [{"name": "a.pdf", "data_base64": "%%%"}]}),
        )
        .await;
    assert_eq!(r.code(), "invalid_attachment", "{}", r.body);
    assert_eq!(t.store.list_messages(tenant, id).await.unwrap().len(), 1);

    let r = t
        .post(&format!("/api/v1/interactions/{id}/finish"), &me, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "closed");
    let r = t
        .get(&format!("/api/v1/agents/{agent_id}/state"), &me)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.to_string().contains("wrap"),
        "wrap-up follows: {}",
        r.body
    );
    let r = t
        .post(&format!("/api/v1/interactions/{id}/finish"), &me, json!({}))
        .await;
    assert_eq!(r.code(), "not_serving", "{}", r.body);

    // A call is not taken here.
    let r = t
        .post("/api/v1/interactions", &me, json!({"channel": "voice"}))
        .await;
    let call = r.body["interaction"]["id"].as_i64().unwrap();
    let r = t
        .post(
            &format!("/api/v1/interactions/{call}/accept"),
            &me,
            json!({}),
        )
        .await;
    assert_eq!(r.code(), "voice_contact", "{}", r.body);
    let r = t
        .post(
            &format!("/api/v1/interactions/{call}/messages"),
            &me,
            json!({"text": "x"}),
        )
        .await;
    assert_eq!(r.code(), "not_email", "{}", r.body);
    // No such file here.
    let r = t.get("/api/v1/attachments/1", &me).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}
