//! The web workplace end to end, in a real browser: `hotline serve --demo`, agent1's phone
//! and the supervisor's (baresip, answering by themselves), a carrier's caller (SIPp) and
//! Debian's chromium driven by playwright-core (`web/tests/desk.mjs`). The agent logs in and
//! goes ready, steps away; the call waits and the supervisor's wallboard shows it; the agent
//! comes back and the caller's card is on screen within a second of the offer; the agent
//! writes a note, reloads the page mid-call (nothing is lost), sets a disposition; the
//! timeline shows it; the wallboard showed the agent busy; the supervisor listens in, then
//! whispers, from the live call's page (their phone joins) and leaves; wrap-up is finished
//! from the page; the supervisor plays the recording. Every screen is photographed in both languages (`target/screenshots`, or
//! `HOTLINE_SCREENSHOTS`); no request may fail and no console error may appear.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{
    have, http, login, output_text, playwright, repo, script_exit, sipp_caller, tail, Demo,
    Running, PASSWORD,
};
use serde_json::json;

const REQUIRE_SIP: &str = "HOTLINE_REQUIRE_SIP_PEERS";
const REQUIRE_BROWSER: &str = "HOTLINE_REQUIRE_BROWSER";

#[test]
fn an_agent_takes_a_call_in_the_browser_and_the_supervisor_watches() {
    if !have("sipp", REQUIRE_SIP)
        || !have("baresip", REQUIRE_SIP)
        || !have("espeak-ng", REQUIRE_SIP)
        || !have("chromium", REQUIRE_BROWSER)
        || !have("node", REQUIRE_BROWSER)
        || !playwright(REQUIRE_BROWSER)
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(&dir.path().join("data"));
    let carrier = demo.connect_carrier();

    // The caller is a known customer who wrote an e-mail last week.
    let admin = login(demo.http, "admin");
    let customer = "Анна Тестова";
    let (status, created) = http(
        demo.http,
        "POST",
        "/api/v1/customers",
        Some(&admin),
        Some(
            json!({"name": customer, "company": "ООО Ромашка", "vip": true, "tags": ["gold"],
            "custom_fields": {"contract": "K-1001"}, "phones": ["+7 495 123-45-67"]}),
        ),
    );
    assert_eq!(status, 201, "{created}");
    let (status, body) = http(
        demo.http,
        "POST",
        "/api/v1/interactions",
        Some(&admin),
        Some(
            json!({"channel": "email", "customer_id": created["id"], "state": "closed",
            "subject": "Где моя карта?", "notes": "Ответили письмом"}),
        ),
    );
    assert_eq!(status, 201, "{body}");

    // A VIP's call needs the `vip` skill (the demo flow): agent1 is trained for it.
    let (_, agents) = http(demo.http, "GET", "/api/v1/agents", Some(&admin), None);
    let agent1 = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["extension"] == "1001")
        .expect("agent 1001");
    let mut skills = agent1["skills"].as_array().unwrap().clone();
    skills.push(json!({"name": "vip", "proficiency": 4}));
    let (status, body) = http(
        demo.http,
        "PATCH",
        &format!("/api/v1/agents/{}", agent1["id"]),
        Some(&admin),
        Some(json!({ "skills": skills })),
    );
    assert_eq!(status, 200, "{body}");

    // The supervisor listens in from the interaction's page: Hotline rings their own phone,
    // so they get an agent record (extension 1009; no skills, offline: offered no calls).
    let (_, users) = http(demo.http, "GET", "/api/v1/users", Some(&admin), None);
    let supervisor = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "supervisor")
        .expect("the demo's supervisor");
    let (status, body) = http(
        demo.http,
        "POST",
        "/api/v1/agents",
        Some(&admin),
        Some(json!({"user_id": supervisor["id"], "extension": "1009", "sip_password": PASSWORD})),
    );
    assert_eq!(status, 201, "{body}");

    // agent1's phone and the supervisor's, answering by themselves.
    let _phone = phone(&dir.path().join("phone"), "1001", 400.0, demo.sip);
    let _supervisor_phone = phone(
        &dir.path().join("supervisor-phone"),
        "1009",
        700.0,
        demo.sip,
    );
    // The trunk is in the dial plan within 5 s; the phone registers meanwhile.
    std::thread::sleep(Duration::from_secs(6));

    // The caller: '2' (cards) at 6 s, then waits; hangs up 62 s after Hotline answered.
    let run = dir.path().join("sipp");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        run.join("caller.xml"),
        hotline_testkit::hanging_up_caller(62_000),
    )
    .unwrap();
    hotline_testkit::audio_pcap(
        &run.join("keys.pcap"),
        72,
        &[(6_000, '2')],
        Some((1_000, 440.0)),
    );

    let shots = std::env::var("HOTLINE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("target/screenshots"));
    let mut browser = Running(Some(
        Command::new("node")
            .arg(repo().join("web/tests/desk.mjs"))
            .env("HOTLINE_URL", format!("http://127.0.0.1:{}", demo.http))
            .env("HOTLINE_PASSWORD", PASSWORD)
            .env("HOTLINE_CUSTOMER", customer)
            .env("HOTLINE_EARLIER", "Где моя карта?")
            .env("HOTLINE_SCREENSHOTS", &shots)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    ));
    let (lines_tx, lines) = mpsc::channel();
    let out = browser.0.as_mut().unwrap().stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(420);
    let mut caller = None;
    let mut transcript = Vec::new();
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                eprintln!("browser: {line}");
                transcript.push(line.clone());
                if line == "CALL" {
                    caller = Some(Running(Some(sipp_caller(&run, demo.sip, carrier, "8800"))));
                } else if let Some(r) = line.strip_prefix("RESULT ") {
                    break serde_json::from_str::<serde_json::Value>(r).unwrap();
                }
            }
            Err(_) => panic!(
                "the browser test did not finish:\n{}\nHotline's log:\n{}",
                transcript.join("\n"),
                tail(&demo.log_text())
            ),
        }
    };
    // The script exits after its result; a script that does not is killed, not waited on.
    let status = script_exit(browser.0.take().unwrap());
    assert!(
        status.success(),
        "{}\nHotline's log:\n{}",
        transcript.join("\n"),
        tail(&demo.log_text())
    );
    assert!(
        result["pop_ms"].as_i64().is_some_and(|ms| ms < 1000),
        "{result}"
    );
    let sipp = caller
        .and_then(|mut c| c.0.take())
        .expect("the caller was started");
    let out = sipp.wait_with_output().unwrap();
    assert!(out.status.success(), "sipp: {}", output_text(&out));
    for name in [
        "login-ru",
        "desk-contact-ru",
        "desk-contact-en",
        "wallboard-busy-ru",
        "desk-hold-ru",
        "desk-connection-lost-ru",
        "interaction-en",
        "admin-flows-en",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "screenshot {name} in {}",
            shots.display()
        );
    }
    let logs = demo.stop();
    assert!(
        !logs.contains("74951234567"),
        "the caller's number never reaches the log"
    );
}

/// A baresip phone registered as `extension`, answering by itself and saying `tone` Hz.
fn phone(dir: &Path, extension: &str, tone: f64, sip: u16) -> Running {
    std::fs::create_dir_all(dir).unwrap();
    hotline_testkit::tone_wav(&dir.join("voice.wav"), tone, 120);
    let modules = hotline_testkit::baresip::modules().expect("baresip modules");
    let (sip_port, ctrl) = (common::free_port(), common::free_port());
    std::fs::write(
        dir.join("config"),
        hotline_testkit::baresip::config(modules, sip_port, ctrl, &dir.join("voice.wav"), dir),
    )
    .unwrap();
    std::fs::write(
        dir.join("accounts"),
        hotline_testkit::baresip::account(extension, sip, PASSWORD, true),
    )
    .unwrap();
    Running(Some(
        Command::new("baresip")
            .arg("-f")
            .arg(dir)
            .args(["-t", "300"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ))
}
