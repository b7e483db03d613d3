//! E-mail end to end against real mail servers: Debian's postfix (SMTP) and dovecot (IMAP with
//! IDLE, LMTP delivery) on loopback ports, and `hotline serve --demo` reading the support
//! mailbox. A customer writes; the mail is stored, acknowledged with its ticket number and
//! offered to the agent's desk; the agent takes it and answers through the API; the answer
//! lands in the customer's mailbox threaded under their mail; the customer's reply joins the
//! same interaction; a closed one is reopened by the next reply; a reply to an unknown
//! address comes back as a bounce on the message. Then: HTML with scripts is cleaned,
//! malformed MIME is kept, a 20 MB attachment arrives whole, an auto-responder gets no
//! acknowledgement and a responder ignoring every header gets at most three; mail that
//! arrives while Hotline is down is stored once after it starts again, and every stored mail
//! has left the inbox.

mod common;

use std::time::{Duration, Instant};

use common::{have, http, login, Demo};
use hotline_testkit::mail::{MailServers, DOMAIN, PASSWORD};
use serde_json::{json, Value};

const REQUIRE: &str = "HOTLINE_REQUIRE_MAIL_PEERS";

struct Ws(hotline_testkit::ws::Client);

impl Ws {
    fn wait_for(&mut self, seconds: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while let Some(m) = self.0.next(deadline) {
            let m: Value = serde_json::from_str(&m).unwrap_or(Value::Null);
            if pred(&m) {
                return m;
            }
        }
        panic!("no such event on the WebSocket within {seconds} s");
    }
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines()
        .take_while(|l| !l.is_empty() && *l != "\r")
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim())
}

fn text(m: &[u8]) -> String {
    String::from_utf8_lossy(m).into_owned()
}

/// Polls until `f` gives something, or fails after `seconds`.
fn eventually<T>(seconds: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {seconds} s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn messages(port: u16, token: &str, id: i64) -> Vec<Value> {
    let (status, body) = http(
        port,
        "GET",
        &format!("/api/v1/interactions/{id}/messages"),
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// The customer's e-mail interactions, newest first.
fn interactions_of(port: u16, token: &str, email: &str) -> Vec<Value> {
    let (status, body) = http(
        port,
        "GET",
        &format!("/api/v1/customers/lookup?email={email}"),
        Some(token),
        None,
    );
    if status != 200 {
        return Vec::new();
    }
    let Some(cid) = body["customer"]["id"].as_i64() else {
        return Vec::new();
    };
    let (_, page) = http(
        port,
        "GET",
        &format!("/api/v1/interactions?customer_id={cid}&channel=email&limit=200"),
        Some(token),
        None,
    );
    page["items"].as_array().cloned().unwrap_or_default()
}

/// The demo's queue for cards (it takes e-mail and chats).
fn cards_queue(port: u16, token: &str) -> i64 {
    let (_, queues) = http(port, "GET", "/api/v1/queues", Some(token), None);
    queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "Карты / Cards")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// Hotline's log-ins to the support mailbox and its submissions went over TLS.
fn over_tls(mail: &MailServers) {
    let imap = eventually(20, "Hotline's IMAP log-in", || {
        let log = mail.imap_log();
        log.contains("Login: user=<support@").then_some(log)
    });
    let logins: Vec<&str> = imap
        .lines()
        .filter(|l| l.contains("Login: user=<support@"))
        .collect();
    assert!(
        logins.iter().all(|l| l.contains("TLS")),
        "every log-in under TLS: {logins:?}"
    );
    assert!(
        mail.log().contains("TLS connection established from"),
        "replies submitted under TLS: {}",
        mail.log()
    );
}

/// The support mailbox connected over TLS: IMAP by `imap` (`starttls` on the IMAP port, `tls`
/// on the IMAPS port), SMTP with STARTTLS; the test CA trusted.
fn connect_mailbox(demo: &Demo, mail: &MailServers, imap: &str) -> String {
    let admin = login(demo.http, "admin");
    let cards = cards_queue(demo.http, &admin);
    let (status, body) = http(
        demo.http,
        "POST",
        "/api/v1/email-accounts",
        Some(&admin),
        Some(json!({
            "queue_id": cards,
            "address": format!("support@{DOMAIN}"),
            "display_name": "Банк — поддержка",
            "imap_host": "127.0.0.1",
            "imap_port": if imap == "tls" { mail.imaps_port } else { mail.imap_port },
            "imap_user": format!("support@{DOMAIN}"), "imap_password": PASSWORD,
            "smtp_host": "127.0.0.1", "smtp_port": mail.smtp_port,
            "imap_security": imap, "smtp_security": "starttls", "tls_ca_pem": mail.ca_pem,
        })),
    );
    assert_eq!(status, 201, "{body}");
    assert!(
        body.get("imap_password").is_none(),
        "passwords are write-only: {body}"
    );
    admin
}

#[test]
fn mail_is_routed_answered_threaded_and_nothing_is_lost() {
    if !have("postfix", REQUIRE) || !have("dovecot", REQUIRE) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(mail) = mail_servers(
        &dir.path().join("mx"),
        &["support", "customer", "robot", "loop"],
        None,
    ) else {
        return;
    };
    let data = dir.path().join("hotline");
    let demo = Demo::start(&data);
    let port = demo.http;
    let admin = connect_mailbox(&demo, &mail, "starttls");

    let agent = login(port, "agent1");
    let (_, me) = http(port, "GET", "/api/v1/auth/me", Some(&agent), None);
    let agent_id = me["agent"]["id"].as_i64().unwrap();
    let mut ws = Ws(hotline_testkit::ws::Client::connect(port, &agent).unwrap());
    ws.wait_for(5, |m| m["kind"] == "hello");
    let (status, body) = http(
        port,
        "PUT",
        &format!("/api/v1/agents/{agent_id}/presence"),
        Some(&agent),
        Some(json!({"presence": "available"})),
    );
    assert_eq!(status, 200, "{body}");

    // 1. The customer writes (Cyrillic subject and name, HTML with a script).
    let customer = format!("customer@{DOMAIN}");
    let support = format!("support@{DOMAIN}");
    let first = format!(
        "From: =?UTF-8?B?0JjQstCw0L0g0J/QtdGC0YDQvtCy?= <{customer}>\r\nTo: {support}\r\n\
Subject: =?UTF-8?B?0JrQsNGA0YLQsCDQt9Cw0LHQu9C+0LrQuNGA0L7QstCw0L3QsA==?=\r\n\
Message-ID: <c1@{DOMAIN}>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nМоя карта заблокирована.\r\n\
--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p onmouseover=\"x()\">Моя карта <b>заблокирована</b>.<script>alert(1)</script></p>\r\n\
--alt--\r\n"
    );
    mail.send(&customer, &[&support], first.as_bytes()).unwrap();
    let pop = ws.wait_for(60, |m| m["kind"] == "contact.offered");
    let data_ = &pop["data"];
    assert_eq!(data_["channel"], "email", "{pop}");
    assert_eq!(data_["subject"], "Карта заблокирована", "{pop}");
    assert_eq!(data_["from"]["address"], customer.as_str());
    assert!(data_["card"]["customer"]["name"] == "Иван Петров", "{pop}");
    let id = data_["interaction_id"].as_i64().unwrap();
    let tag = format!("[#{id}]");

    // The acknowledgement reached the customer: the ticket, marked as automatic, threaded.
    let acks = mail.wait_for("customer", 1, 30, |m| text(m).contains(&tag));
    assert_eq!(acks.len(), 1, "one acknowledgement");
    let ack = text(&acks[0]);
    assert_eq!(
        header(&ack, "Auto-Submitted"),
        Some("auto-replied"),
        "{ack}"
    );
    assert_eq!(
        header(&ack, "In-Reply-To"),
        Some(format!("<c1@{DOMAIN}>").as_str()),
        "{ack}"
    );

    // 2. The agent takes it; the HTML they are shown carries no script or handler.
    let (status, body) = http(
        port,
        "POST",
        &format!("/api/v1/interactions/{id}/accept"),
        Some(&agent),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "active");
    assert_eq!(body["agent_id"], agent_id);
    let list = messages(port, &agent, id);
    let html = list[0]["body_html"].as_str().unwrap();
    assert!(html.contains("<b>заблокирована</b>"), "{html}");
    assert!(
        !html.contains("script") && !html.contains("onmouseover"),
        "{html}"
    );
    assert!(list[0]["body_text"]
        .as_str()
        .unwrap()
        .contains("Моя карта заблокирована"));

    // 3. The agent answers; the answer lands in the customer's mailbox under their mail.
    let (status, sent) = http(
        port,
        "POST",
        &format!("/api/v1/interactions/{id}/messages"),
        Some(&agent),
        Some(
            json!({"text": "Здравствуйте! Карта разблокирована.\n\n> Моя карта заблокирована.",
                    "html": "<p>Здравствуйте! Карта <i>разблокирована</i>.</p><script>x()</script>"}),
        ),
    );
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["status"], "sent", "{sent}");
    assert!(!sent["body_html"].as_str().unwrap().contains("script"));
    let reply_id = sent["message_id"].as_str().unwrap().to_string();
    let replies = mail.wait_for("customer", 1, 30, |m| {
        text(m).contains(&reply_id) && !text(m).contains("Auto-Submitted")
    });
    assert_eq!(replies.len(), 1, "the agent's answer arrives once");
    let reply = text(&replies[0]);
    assert_eq!(
        header(&reply, "In-Reply-To"),
        Some(format!("<c1@{DOMAIN}>").as_str()),
        "{reply}"
    );
    assert!(
        header(&reply, "References")
            .unwrap()
            .contains(&format!("<c1@{DOMAIN}>")),
        "{reply}"
    );
    assert!(
        reply.contains(&tag),
        "the ticket is in the subject: {reply}"
    );

    // 4. The customer answers that: it joins the same interaction and the desk hears of it.
    let second = format!(
        "From: {customer}\r\nTo: {support}\r\nSubject: Re: Карта заблокирована {tag}\r\n\
Message-ID: <c2@{DOMAIN}>\r\nIn-Reply-To: <{reply_id}>\r\nReferences: <c1@{DOMAIN}> <{reply_id}>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nСпасибо, работает!\r\n"
    );
    mail.send(&customer, &[&support], second.as_bytes())
        .unwrap();
    ws.wait_for(60, |m| {
        m["kind"] == "email.received" && m["data"]["interaction_id"] == id
    });
    let list = messages(port, &agent, id);
    let kinds: Vec<(&str, bool)> = list
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["auto"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("inbound", false),
            ("outbound", true),
            ("outbound", false),
            ("inbound", false)
        ],
        "{list:?}"
    );
    assert_eq!(
        interactions_of(port, &agent, &customer).len(),
        1,
        "one request, one interaction"
    );

    // 5. A reply to an address that does not exist bounces back onto the message.
    let (status, lost) = http(
        port,
        "POST",
        &format!("/api/v1/interactions/{id}/messages"),
        Some(&agent),
        Some(json!({"text": "копия", "to": [format!("nobody@{DOMAIN}")]})),
    );
    assert_eq!(status, 201, "{lost}");
    let lost_id = lost["id"].as_i64().unwrap();
    eventually(60, "the bounce", || {
        messages(port, &agent, id)
            .into_iter()
            .find(|m| m["id"] == lost_id && m["status"] == "bounced")
    });
    ws.wait_for(30, |m| {
        m["kind"] == "email.bounced" && m["data"]["interaction_id"] == id
    });
    assert_eq!(
        interactions_of(port, &agent, &customer).len(),
        1,
        "a bounce opens nothing"
    );

    // 6. The agent finishes; the customer's next mail reopens the same interaction.
    let (status, body) = http(
        port,
        "POST",
        &format!("/api/v1/interactions/{id}/finish"),
        Some(&agent),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "closed");
    let third = format!(
        "From: {customer}\r\nTo: {support}\r\nSubject: Re: {tag} снова\r\nMessage-ID: <c3@{DOMAIN}>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nОпять заблокирована.\r\n"
    );
    mail.send(&customer, &[&support], third.as_bytes()).unwrap();
    eventually(60, "the reopened interaction", || {
        let (_, d) = http(
            port,
            "GET",
            &format!("/api/v1/interactions/{id}"),
            Some(&agent),
            None,
        );
        (d["interaction"]["state"] != "closed").then_some(())
    });
    let (_, d) = http(
        port,
        "GET",
        &format!("/api/v1/interactions/{id}"),
        Some(&agent),
        None,
    );
    let events: Vec<&str> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"reopened"), "{events:?}");
    assert!(events.contains(&"email.bounced"), "{events:?}");
    assert_eq!(interactions_of(port, &agent, &customer).len(), 1);

    // 7. Malformed MIME (a boundary never closed, a broken encoded word) is kept.
    let broken = format!(
        "From: {customer}\r\nTo: {support}\r\nSubject: =?UTF-8?B?broken?= сломано\r\nMessage-ID: <c4@{DOMAIN}>\r\n\
Content-Type: multipart/mixed; boundary=\"Z\"\r\n\r\n--Z\r\nContent-Type: text/plain\r\n\r\nтекст без конца\r\n"
    );
    mail.send(&customer, &[&support], broken.as_bytes())
        .unwrap();
    let broken_id = eventually(60, "the malformed mail", || {
        interactions_of(port, &agent, &customer)
            .into_iter()
            .find(|i| i["id"] != id)
            .and_then(|i| i["id"].as_i64())
    });
    let m = messages(port, &agent, broken_id);
    assert!(
        m[0]["body_text"]
            .as_str()
            .unwrap()
            .contains("текст без конца"),
        "{m:?}"
    );

    // 8. A 20 MB attachment arrives whole and is served back byte for byte.
    let big: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let b64 = base64_lines(&big);
    let with_file = format!(
        "From: {customer}\r\nTo: {support}\r\nSubject: выписка\r\nMessage-ID: <c5@{DOMAIN}>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"F\"\r\n\r\n--F\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nвыписка во вложении\r\n\
--F\r\nContent-Type: application/pdf; name=\"vypiska.pdf\"\r\nContent-Disposition: attachment; filename=\"vypiska.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{b64}--F--\r\n"
    );
    mail.send(&customer, &[&support], with_file.as_bytes())
        .unwrap();
    let att = eventually(120, "the 20 MB mail", || {
        interactions_of(port, &agent, &customer)
            .into_iter()
            .find_map(|i| {
                let ms = messages(port, &agent, i["id"].as_i64()?);
                ms.first()?["attachments"].as_array()?.first().cloned()
            })
    });
    assert_eq!(att["name"], "vypiska.pdf");
    assert_eq!(att["size"], big.len());
    let (status, bytes) = hotline_testkit::http::request_bytes(
        port,
        "GET",
        &format!("/api/v1/attachments/{}", att["id"]),
        Some(&agent),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(
        bytes == big,
        "the attachment came back changed ({} bytes)",
        bytes.len()
    );

    // 9. An auto-responder is never acknowledged; a responder that ignores every header is
    //    acknowledged at most three times.
    let robot = format!("robot@{DOMAIN}");
    let auto = format!(
        "From: {robot}\r\nTo: {support}\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\
Message-ID: <r1@{DOMAIN}>\r\n\r\nI am away.\r\n"
    );
    mail.send(&robot, &[&support], auto.as_bytes()).unwrap();
    let looping = format!("loop@{DOMAIN}");
    for n in 0..5 {
        let m = format!(
            "From: {looping}\r\nTo: {support}\r\nSubject: ticket {n}\r\nMessage-ID: <l{n}@{DOMAIN}>\r\n\r\nnew request {n}\r\n"
        );
        mail.send(&looping, &[&support], m.as_bytes()).unwrap();
    }
    eventually(60, "the robots' mail stored", || {
        (interactions_of(port, &admin, &robot).len() == 1
            && interactions_of(port, &admin, &looping).len() == 5)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        mail.delivered("robot").is_empty(),
        "an auto-reply is never answered"
    );
    assert_eq!(
        mail.delivered("loop").len(),
        3,
        "three acknowledgements an hour per sender"
    );

    // 10. Mail that arrives while Hotline is down is stored once when it is back.
    let before = interactions_of(port, &agent, &customer).len();
    drop(ws);
    let log = demo.stop();
    assert!(!log.contains(&customer), "addresses never reach the log");
    for n in 0..3 {
        let m = format!(
            "From: {customer}\r\nTo: {support}\r\nSubject: пока вы спали {n}\r\nMessage-ID: <down{n}@{DOMAIN}>\r\n\r\nтекст {n}\r\n"
        );
        mail.send(&customer, &[&support], m.as_bytes()).unwrap();
    }
    let demo = Demo::start(&data);
    let agent = login(demo.http, "agent1");
    let after = eventually(60, "the mail sent while down", || {
        let n = interactions_of(demo.http, &agent, &customer).len();
        (n >= before + 3).then_some(n)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(interactions_of(demo.http, &agent, &customer).len(), after);
    assert_eq!(after, before + 3, "each mail once");
    // Everything stored has left the inbox for the done folder.
    let inbox = mail.dir.join(format!("mail/support@{DOMAIN}/Maildir"));
    let left: usize = ["new", "cur"]
        .iter()
        .map(|d| {
            std::fs::read_dir(inbox.join(d))
                .map(|r| r.count())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(left, 0, "stored mail is moved out of INBOX");
    over_tls(&mail);
    let log = demo.stop();
    assert!(!log.contains(&customer), "addresses never reach the log");
}

fn base64_lines(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 38 + 8);
    for line in bytes.chunks(57) {
        for c in line.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            out.push(T[(n >> 18) as usize & 63] as char);
            out.push(T[(n >> 12) as usize & 63] as char);
            out.push(if c.len() > 1 {
                T[(n >> 6) as usize & 63] as char
            } else {
                '='
            });
            out.push(if c.len() > 2 {
                T[n as usize & 63] as char
            } else {
                '='
            });
        }
        out.push_str("\r\n");
    }
    out
}

/// The widget's next frame of type `what` (others skipped), within 10 s.
fn next(widget: &mut hotline_testkit::ws::Client, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let frame = widget.next(deadline).unwrap_or_else(|| panic!("no {what}"));
        let v: Value = serde_json::from_str(&frame).unwrap();
        if v["type"] == what {
            return v;
        }
    }
}

/// postfix and dovecot for `users`; `None` (the test is skipped) when they cannot run here
/// and are not required.
fn mail_servers(
    dir: &std::path::Path,
    users: &[&str],
    relay: Option<(&str, u16)>,
) -> Option<MailServers> {
    match MailServers::start_relaying(dir, users, relay) {
        Ok(m) => Some(m),
        Err(e) if std::env::var(REQUIRE).is_ok_and(|v| v == "1") => panic!("mail servers: {e}"),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// The text of a delivered mail, decoded as Hotline reads mail.
fn body_of(m: &[u8]) -> String {
    hotline_channels::email::inbound::parse(m).body_text
}

#[test]
fn what_web_visitors_leave_is_answered_by_mail_and_chat_transcripts_are_mailed() {
    if !have("postfix", REQUIRE) || !have("dovecot", REQUIRE) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(mail) = mail_servers(&dir.path().join("mx"), &["support", "visitor"], None) else {
        return;
    };
    let demo = Demo::start(&dir.path().join("hotline"));
    let port = demo.http;
    let admin = connect_mailbox(&demo, &mail, "tls");
    let (_, accounts) = http(port, "GET", "/api/v1/email-accounts", Some(&admin), None);
    let account = accounts[0]["id"].as_i64().unwrap();
    let cards = cards_queue(port, &admin);
    let (status, site) = http(
        port,
        "POST",
        "/api/v1/sites",
        Some(&admin),
        Some(
            json!({"name": "Банк", "origins": ["*"], "chat_queue_id": cards, "email_account_id": account}),
        ),
    );
    assert_eq!(status, 201, "{site}");
    let key = site["key"].as_str().unwrap();
    let visitor = format!("visitor@{DOMAIN}");

    // Nobody could chat: the visitor leaves a message; the answer reaches their mailbox.
    let (status, body) = http(
        port,
        "POST",
        &format!("/api/v1/public/sites/{key}/messages"),
        None,
        Some(
            json!({"name": "Ольга", "email": visitor, "text": "Когда откроется отделение на Тверской?"}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let left = eventually(10, "the message stored", || {
        interactions_of(port, &admin, &visitor).first().cloned()
    });
    let id = left["id"].as_i64().unwrap();
    let (status, sent) = http(
        port,
        "POST",
        &format!("/api/v1/interactions/{id}/messages"),
        Some(&admin),
        Some(json!({"text": "Отделение открывается в 9:00."})),
    );
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["status"], "sent", "{sent}");
    let answers = mail.wait_for("visitor", 1, 30, |m| body_of(m).contains("в 9:00"));
    assert_eq!(answers.len(), 1, "the answer arrives: {}", mail.log());
    assert!(text(&answers[0]).contains(&format!("[#{id}]")));

    // A chat whose visitor asks for the transcript when leaving.
    let (status, opened) = http(
        port,
        "POST",
        &format!("/api/v1/public/sites/{key}/chats"),
        None,
        Some(json!({"name": "Ольга", "email": visitor, "text": "Привет из чата"})),
    );
    assert_eq!(status, 201, "{opened}");
    let mut widget = hotline_testkit::ws::Client::connect_to(port, "/api/v1/public/chat").unwrap();
    widget
        .send(&json!({"type": "hello", "token": opened["token"], "after": 0}).to_string())
        .unwrap();
    let welcome = next(&mut widget, "welcome");
    assert_eq!(welcome["messages"][0]["text"], "Привет из чата");
    assert_eq!(welcome["transcript"], true);
    widget
        .send(
            &json!({"type": "message", "client_id": "w1", "text": "Второе сообщение"}).to_string(),
        )
        .unwrap();
    let ack = next(&mut widget, "ack");
    assert_eq!(ack["client_id"], "w1");
    widget
        .send(&json!({"type": "end", "transcript": true}).to_string())
        .unwrap();
    next(&mut widget, "ended");
    let transcripts = mail.wait_for("visitor", 1, 30, |m| {
        body_of(m).contains("Второе сообщение")
    });
    assert_eq!(
        transcripts.len(),
        1,
        "the transcript arrives: {}",
        mail.log()
    );
    let t = body_of(&transcripts[0]);
    assert!(t.find("Привет из чата") < t.find("Второе сообщение"), "{t}");
    assert_eq!(
        header(&text(&transcripts[0]), "Auto-Submitted"),
        Some("auto-replied")
    );
    over_tls(&mail);
    let log = demo.stop();
    assert!(!log.contains(&visitor), "addresses never reach the log");
}

#[test]
fn the_companys_mail_server_delivers_straight_to_hotline_over_smtp() {
    if !have("postfix", REQUIRE) || !have("dovecot", REQUIRE) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Postfix relays `direct.test` to Hotline's SMTP listener.
    let smtp = common::free_port();
    let Some(mail) = mail_servers(
        &dir.path().join("mx"),
        &["customer"],
        Some(("direct.test", smtp)),
    ) else {
        return;
    };
    let demo = Demo::start_with_env(
        &dir.path().join("hotline"),
        &[("HOTLINE_SMTP", format!("127.0.0.1:{smtp}"))],
    );
    let port = demo.http;
    let admin = login(port, "admin");
    let cards = cards_queue(port, &admin);
    // A mailbox with no IMAP server: its mail comes by direct delivery only.
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/email-accounts",
        Some(&admin),
        Some(
            json!({"queue_id": cards, "address": "support@direct.test", "display_name": "Поддержка",
            "smtp_host": "127.0.0.1", "smtp_port": mail.smtp_port, "smtp_security": "starttls",
            "tls_ca_pem": mail.ca_pem, "auto_ack": false}),
        ),
    );
    assert_eq!(status, 201, "{body}");

    let customer = format!("customer@{DOMAIN}");
    let m = format!(
        "From: {customer}\r\nTo: support@direct.test\r\nSubject: =?UTF-8?B?0J/RgNGP0LzQsNGPINC00L7RgdGC0LDQstC60LA=?=\r\n\
Message-ID: <direct1@{DOMAIN}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nПисьмо без IMAP.\r\n.точка в начале строки\r\n"
    );
    mail.send(&customer, &["support@direct.test"], m.as_bytes())
        .unwrap();
    let found = eventually(30, "the delivered mail stored", || {
        interactions_of(port, &admin, &customer).first().cloned()
    });
    assert_eq!(found["subject"], "Прямая доставка", "{found}");
    let stored = messages(port, &admin, found["id"].as_i64().unwrap());
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0]["body_text"]
            .as_str()
            .unwrap()
            .contains(".точка в начале строки"),
        "dot-stuffing undone: {}",
        stored[0]
    );
    // Mail for an address Hotline does not serve is refused; the company's server bounces it.
    mail.send(
        &customer,
        &["nobody@direct.test"],
        m.replace("direct1", "direct2").as_bytes(),
    )
    .unwrap();
    let bounces = mail.wait_for("customer", 1, 30, |b| {
        text(b).contains("nobody@direct.test") && text(b).contains("550")
    });
    assert_eq!(bounces.len(), 1, "a bounce: {}", mail.log());
    assert_eq!(interactions_of(port, &admin, &customer).len(), 1);
    assert!(
        mail.log()
            .contains(&format!("relay=127.0.0.1[127.0.0.1]:{smtp}")),
        "{}",
        mail.log()
    );
    let log = demo.stop();
    assert!(!log.contains(&customer), "addresses never reach the log");
}
