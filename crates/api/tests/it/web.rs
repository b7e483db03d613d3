//! The web channels over the API: sites (admins), templates, and what company pages call
//! without logging in — CORS and the origin check, chats opened and talked in (through the
//! chat service as the visitor's WebSocket drives it), messages left, forms (message or
//! callback, the honeypot, the limit per address).

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use hotline_api::ApiConfig;
use hotline_channels::chat::ToVisitor;
use hotline_routing::Command;
use serde_json::json;

use crate::presence::make_agent;
use crate::{Reply, TestApp};

const PAGE: &str = "https://shop.example";

async fn queue(t: &TestApp, admin: &str, name: &str, channels: &[&str]) -> i64 {
    let r = t
        .post(
            "/api/v1/queues",
            admin,
            json!({"name": name, "channels": channels, "service_level_seconds": 60,
                "service_level_target": 80, "priority": 0, "wrap_up_seconds": 30,
                "disposition_required": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

/// A public request from a page of `origin`.
async fn public(
    t: &TestApp,
    method: Method,
    uri: &str,
    origin: &str,
    content_type: &str,
    body: String,
) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::ORIGIN, origin)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    t.raw(req).await
}

/// A tenant's interactions of one channel.
async fn of_channel(
    t: &TestApp,
    tenant: i64,
    channel: hotline_model::Channel,
) -> hotline_store::Page<hotline_model::Interaction> {
    t.store
        .list_interactions(
            tenant,
            &hotline_store::InteractionFilter {
                channel: Some(channel),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// A JSON post from a page of `origin`.
async fn post_json(t: &TestApp, uri: &str, origin: &str, body: serde_json::Value) -> Reply {
    public(
        t,
        Method::POST,
        uri,
        origin,
        "application/json",
        body.to_string(),
    )
    .await
}

async fn site(t: &TestApp, admin: &str, body: serde_json::Value) -> serde_json::Value {
    let r = t.post("/api/v1/sites", admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

#[tokio::test]
async fn sites_are_an_admins_and_pages_only_of_their_origins_use_them() {
    let t = TestApp::new().await;
    let admin = t.login("a-admin").await;
    let chat = queue(&t, &admin, "Чат", &["chat"]).await;
    let voice = queue(&t, &admin, "Звонки", &["voice"]).await;
    // A queue that takes no chats cannot hold a site's chats.
    let r = t
        .post(
            "/api/v1/sites",
            &admin,
            json!({"name": "x", "origins": [PAGE], "chat_queue_id": voice}),
        )
        .await;
    assert_eq!(r.code(), "queue_not_chat", "{}", r.body);
    let r = t
        .post(
            "/api/v1/sites",
            &admin,
            json!({"name": "x", "origins": ["shop.example"], "chat_queue_id": chat}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let agent = t.login("a-agent").await;
    let r = t
        .post(
            "/api/v1/sites",
            &agent,
            json!({"name": "x", "origins": [PAGE]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let s = site(
        &t,
        &admin,
        json!({"name": "Магазин", "origins": [PAGE], "chat_queue_id": chat, "greeting": "Привет"}),
    )
    .await;
    let key = s["key"].as_str().unwrap();
    let b = t.login("b-admin").await;
    assert_eq!(t.get("/api/v1/sites", &b).await.body, json!([]));

    // From the site's page: the widget's first question, with CORS naming the page.
    let uri = format!("/api/v1/public/sites/{key}");
    let r = public(&t, Method::GET, &uri, PAGE, "text/plain", String::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["greeting"], "Привет");
    assert_eq!(r.body["chat"], true);
    assert_eq!(r.body["online"], false, "nobody is logged in");
    assert_eq!(r.body["messages"], false, "no mailbox");
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], PAGE);
    // The preflight of a JSON post.
    let r = public(
        &t,
        Method::OPTIONS,
        &format!("{uri}/chats"),
        PAGE,
        "text/plain",
        String::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .contains("content-type"));
    // Another page: refused, whatever it asks.
    let r = public(
        &t,
        Method::GET,
        &uri,
        "https://evil.example",
        "text/plain",
        String::new(),
    )
    .await;
    assert_eq!(r.code(), "origin_not_allowed");
    let r = public(
        &t,
        Method::POST,
        &format!("{uri}/chats"),
        "https://evil.example",
        "application/json",
        json!({"name": "x"}).to_string(),
    )
    .await;
    assert_eq!(r.code(), "origin_not_allowed");
    let r = public(
        &t,
        Method::GET,
        "/api/v1/public/sites/hlw_nope",
        PAGE,
        "text/plain",
        String::new(),
    )
    .await;
    assert_eq!(r.code(), "unknown_site");
    // The widget's script is served to any page.
    let r = t.call(Method::GET, "/chat/widget.js", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.as_str().unwrap().contains("hotline-chat"));

    // A site turned off answers no more.
    let r = t
        .delete(&format!("/api/v1/sites/{}", s["id"]), &admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = public(&t, Method::GET, &uri, PAGE, "text/plain", String::new()).await;
    assert_eq!(r.code(), "unknown_site");
}

/// A chat queue, a site (any origin) whose chats go to it, and agent a-agent (1001) logged
/// in on a break: a chat opened now waits.
struct OnBreak {
    agent_id: i64,
    chat_q: i64,
    key: String,
    /// The agent's session.
    me: String,
}

async fn on_break(t: &TestApp) -> OnBreak {
    let (admin, agent_id) = make_agent(t, "a-agent", "1001").await;
    let chat_q = queue(t, &admin, "Чат", &["chat"]).await;
    let s = site(
        t,
        &admin,
        json!({"name": "Магазин", "origins": ["*"], "chat_queue_id": chat_q}),
    )
    .await;
    let me = t.login("a-agent").await;
    let r = t
        .put(
            &format!("/api/v1/agents/{agent_id}/presence"),
            &me,
            json!({"presence": "not_ready"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    OnBreak {
        agent_id,
        chat_q,
        key: s["key"].as_str().unwrap().to_string(),
        me,
    }
}

#[tokio::test]
async fn a_chat_is_offered_taken_and_talked_in_each_message_stored_once() {
    let mut t = TestApp::new().await;
    let mut commands = std::mem::replace(&mut t.routing_commands, tokio::sync::mpsc::channel(1).1);
    let t = t;
    let OnBreak {
        agent_id,
        chat_q,
        key,
        me,
    } = on_break(&t).await;
    let key = key.as_str();
    // Someone who could answer is logged in (on a break): the widget offers a chat.
    let r = public(
        &t,
        Method::GET,
        &format!("/api/v1/public/sites/{key}"),
        PAGE,
        "text/plain",
        String::new(),
    )
    .await;
    assert_eq!(r.body["online"], true, "{}", r.body);

    // Bad pre-chat forms are refused field by field.
    let chats = format!("/api/v1/public/sites/{key}/chats");
    let r = post_json(&t, &chats, PAGE, json!({"name": " "})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = post_json(
        &t,
        &chats,
        PAGE,
        json!({"name": "Олег", "email": "не адрес"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = post_json(
        &t,
        &chats,
        PAGE,
        json!({"name": "Олег", "email": "oleg@example.ru", "text": "Здравствуйте"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();

    let chat = t.state.chat.clone().unwrap();
    let mut widget = chat.attach(&token, 0).await.unwrap();
    assert_eq!(widget.missed.len(), 1);
    assert_eq!(widget.missed[0].text, "Здравствуйте");
    assert!(widget.agent.is_none() && !widget.ended);
    let id = widget.session.interaction_id;
    // Waiting: the widget hears its place (the service looks every 2 s).
    let told = tokio::time::timeout(std::time::Duration::from_secs(10), widget.events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(told, ToVisitor::Queue { position: 1, .. }),
        "{told:?}"
    );

    // The wallboard shows it waiting, as a chat.
    let sup = t.login("a-super").await;
    let board = t.get("/api/v1/wallboard", &sup).await;
    let q = board.body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue_id"] == chat_q)
        .unwrap()
        .clone();
    assert_eq!(
        (q["waiting"].clone(), q["waiting_by_channel"].clone()),
        (json!(1), json!({"chat": 1})),
        "{q}"
    );

    // The agent comes back; routing offers the chat; the agent takes it.
    let r = t
        .put(
            &format!("/api/v1/agents/{agent_id}/presence"),
            &me,
            json!({"presence": "available"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Some(Command::Offer { contact, .. }) = commands.recv().await {
                assert_eq!(contact.0, id);
                return;
            }
        }
    })
    .await
    .unwrap();
    let r = t
        .post(&format!("/api/v1/interactions/{id}/accept"), &me, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let joined = widget.events.recv().await.unwrap();
    assert!(matches!(joined, ToVisitor::Agent { .. }), "{joined:?}");

    // The agent writes, types; the widget hears both.
    let r = t
        .post(&format!("/api/v1/interactions/{id}/typing"), &me, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(matches!(
        widget.events.recv().await.unwrap(),
        ToVisitor::Typing { .. }
    ));
    let r = t
        .post(
            &format!("/api/v1/interactions/{id}/messages"),
            &me,
            json!({"text": "Чем помочь?"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["direction"], "outbound");
    let ToVisitor::Message { message } = widget.events.recv().await.unwrap() else {
        panic!("a message")
    };
    assert_eq!(
        (message.from, message.text.as_str()),
        ("agent", "Чем помочь?")
    );

    // The visitor's message, sent twice (a reconnect in between), is stored once.
    let s = widget.session.clone();
    let first = chat
        .visitor_says(&s, "w-1", "Карта не пришла", vec![])
        .await
        .unwrap();
    let again = chat
        .visitor_says(&s, "w-1", "Карта не пришла", vec![])
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    let r = t
        .get(&format!("/api/v1/interactions/{id}/messages"), &me)
        .await;
    let texts: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body_text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec!["Здравствуйте", "Чем помочь?", "Карта не пришла"]
    );
    // A widget coming back after the second message gets what follows it.
    let back = chat
        .attach(&token, r.body[1]["id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(back.missed.len(), 1);
    assert_eq!(back.agent.as_deref(), Some("a agent"));

    // Typing on a call or someone else's chat is refused.
    let other = t.login("b-agent").await;
    let r = t
        .post(
            &format!("/api/v1/interactions/{id}/typing"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The agent finishes: the widget hears the end; nothing more is taken.
    let r = t
        .post(&format!("/api/v1/interactions/{id}/finish"), &me, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    loop {
        match widget.events.recv().await.unwrap() {
            ToVisitor::Ended { by } => {
                assert_eq!(by, "agent");
                break;
            }
            _ => continue,
        }
    }
    let e = chat
        .visitor_says(&s, "w-2", "Ещё вопрос", vec![])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ended"), "{e}");
    let r = t
        .post(
            &format!("/api/v1/interactions/{id}/messages"),
            &me,
            json!({"text": "поздно"}),
        )
        .await;
    assert_eq!(r.code(), "chat_ended", "{}", r.body);
}

#[tokio::test]
async fn forms_become_requests_or_callbacks_and_bots_and_floods_are_kept_out() {
    let t = TestApp::with_config(ApiConfig {
        public_max_requests: 5,
        ..Default::default()
    })
    .await;
    let admin = t.login("a-admin").await;
    let forms = queue(&t, &admin, "Формы", &["form", "voice", "email"]).await;
    let s = site(
        &t,
        &admin,
        json!({"name": "Банк", "origins": [PAGE], "form_queue_id": forms, "chat_queue_id": null}),
    )
    .await;
    let key = s["key"].as_str().unwrap();
    let uri = format!("/api/v1/public/sites/{key}/forms");
    let tenant = t.store.get_tenant_by_slug("a").await.unwrap().id;

    // "Contact us", as a plain HTML form posts it.
    let body = "name=%D0%98%D1%80%D0%B8%D0%BD%D0%B0&email=irina%40example.ru&subject=%D0%92%D0%BA%D0%BB%D0%B0%D0%B4&text=%D0%9F%D1%80%D0%BE%D1%86%D0%B5%D0%BD%D1%82%D1%8B%3F";
    let r = public(
        &t,
        Method::POST,
        &uri,
        PAGE,
        "application/x-www-form-urlencoded",
        body.into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let found = of_channel(&t, tenant, hotline_model::Channel::Form).await;
    assert_eq!(found.items.len(), 1);
    let form = &found.items[0];
    assert_eq!(form.subject.as_deref(), Some("Вклад"));
    assert_eq!(form.queue_id, Some(forms));
    let msgs = t.store.list_messages(tenant, form.id).await.unwrap();
    assert_eq!(
        (msgs[0].body_text.as_str(), msgs[0].from_addr.as_str()),
        ("Проценты?", "irina@example.ru")
    );
    let routed = t
        .acd
        .contact_state(hotline_routing::ContactId(form.id))
        .await
        .unwrap();
    assert!(routed.is_some(), "routing holds the form");

    // A bot fills the hidden field: answered as taken, nothing stored.
    let r = post_json(
        &t,
        &uri,
        PAGE,
        json!({"name": "Bot", "text": "buy", "website": "http://spam"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // "Call me back": a callback booked in the queue for anyone.
    let r = post_json(&t, &uri, PAGE, json!({"kind": "callback", "name": "Ирина", "phone": "8 (916) 555-12-34", "text": "после 18:00"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let cbs = t
        .store
        .list_callbacks(
            tenant,
            &hotline_store::CallbackFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cbs.len(), 1);
    assert_eq!(cbs[0].number, "+79165551234");
    assert!(cbs[0].note.contains("после 18:00"));
    let r = post_json(&t, &uri, PAGE, json!({"kind": "callback", "name": "Ирина"})).await;
    assert_eq!(r.code(), "phone_required");
    let r = post_json(&t, &uri, PAGE, json!({"kind": "fax", "name": "Ирина"})).await;
    assert_eq!(r.code(), "invalid_kind", "{}", r.body);
    // A sixth request from this address in the window is one too many.
    let r = post_json(&t, &uri, PAGE, json!({"name": "Ирина", "text": "ещё"})).await;
    assert_eq!(r.code(), "rate_limited", "{}", r.body);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    let found = of_channel(&t, tenant, hotline_model::Channel::Form).await;
    assert_eq!(found.items.len(), 1, "the bot's form was not stored");
}

#[tokio::test]
async fn a_message_is_left_when_nobody_can_chat_and_templates_are_shared() {
    let t = TestApp::new().await;
    let admin = t.login("a-admin").await;
    let chat_q = queue(&t, &admin, "Чат", &["chat", "email"]).await;
    let s = site(
        &t,
        &admin,
        json!({"name": "Банк", "origins": [PAGE], "chat_queue_id": chat_q}),
    )
    .await;
    let key = s["key"].as_str().unwrap().to_string();
    let uri = format!("/api/v1/public/sites/{key}/messages");
    let body =
        json!({"name": "Анна", "email": "anna@example.ru", "text": "Перезвоните мне"}).to_string();
    // No mailbox to answer from: refused clearly.
    let r = public(
        &t,
        Method::POST,
        &uri,
        PAGE,
        "application/json",
        body.clone(),
    )
    .await;
    assert_eq!(r.code(), "no_mailbox", "{}", r.body);
    let r = t
        .post("/api/v1/email-accounts", &admin, json!({"queue_id": chat_q, "address": "web@bank.ru",
            "imap_host": "127.0.0.1", "imap_user": "web", "imap_password": "x", "smtp_host": "127.0.0.1"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let acc = r.body["id"].as_i64().unwrap();
    let s2 = site(&t, &admin, json!({"name": "Банк 2", "origins": [PAGE], "chat_queue_id": chat_q, "email_account_id": acc})).await;
    let uri = format!(
        "/api/v1/public/sites/{}/messages",
        s2["key"].as_str().unwrap()
    );
    let r = post_json(
        &t,
        &uri,
        PAGE,
        json!({"name": "Анна", "text": "без адреса"}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an address to answer to is needed: {}",
        r.body
    );
    let r = public(&t, Method::POST, &uri, PAGE, "application/json", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let tenant = t.store.get_tenant_by_slug("a").await.unwrap().id;
    let mails = of_channel(&t, tenant, hotline_model::Channel::Email).await;
    assert_eq!(mails.items.len(), 1);
    let m = t
        .store
        .list_messages(tenant, mails.items[0].id)
        .await
        .unwrap();
    assert_eq!(
        m[0].account_id,
        Some(acc),
        "answered through the site's mailbox"
    );

    // Templates: supervisors write them, every agent reads them, per tenant.
    let sup = t.login("a-super").await;
    let agent = t.login("a-agent").await;
    let r = t
        .post(
            "/api/v1/templates",
            &agent,
            json!({"name": "x", "body": "y"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .post(
            "/api/v1/templates",
            &sup,
            json!({"name": "Привет", "body": "Здравствуйте, {name}!", "channel": "chat"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = t
        .post(
            "/api/v1/templates",
            &sup,
            json!({"name": "Факс", "body": "y", "channel": "fax"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = t.get("/api/v1/templates", &agent).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let b = t.login("b-agent").await;
    assert_eq!(t.get("/api/v1/templates", &b).await.body, json!([]));
}

#[tokio::test]
async fn a_visitor_who_never_comes_back_after_a_restart_has_abandoned() {
    let t = TestApp::new().await;
    // The agent is logged in but on a break: the chat waits.
    let OnBreak { key, .. } = on_break(&t).await;
    let r = post_json(
        &t,
        &format!("/api/v1/public/sites/{key}/chats"),
        PAGE,
        json!({"name": "Олег", "text": "Есть кто?"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token = r.body["token"].as_str().unwrap();
    let session = t.store.chat_by_token(token).await.unwrap().unwrap();
    let tenant = session.tenant_id;
    // The chat service restarts; the visitor closed the page meanwhile and never returns.
    t.state.chat.clone().unwrap().stop();
    let files = tempfile::tempdir().unwrap();
    let again = hotline_channels::chat::ChatService::start_with(
        t.store.clone(),
        t.acd.link(),
        files.path().to_path_buf(),
        std::time::Duration::from_secs(1),
    );
    let mut state = None;
    for _ in 0..100 {
        let i = t
            .store
            .get_interaction(tenant, session.interaction_id)
            .await
            .unwrap();
        state = Some(i.state);
        if i.state == hotline_model::InteractionState::Abandoned {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, Some(hotline_model::InteractionState::Abandoned));
    let ended = t.store.chat_by_token(token).await.unwrap().unwrap();
    assert!(ended.ended_at.is_some(), "the chat is ended too");
    let waiting = t
        .acd
        .link()
        .contact_state(hotline_routing::ContactId(session.interaction_id))
        .await
        .unwrap();
    assert_eq!(waiting, None, "routing no longer holds it");
    again.stop();
}
