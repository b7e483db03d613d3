//! The binary as shipped, end to end on the voice path: `hotline serve --demo` with SIP and
//! RTP on 127.0.0.1, an agent logged in over the API with their WebSocket open, a carrier's
//! caller (SIPp) through the demo flow into the cards queue. The agent's desk receives the
//! screen pop (the card and what the caller did in the IVR) over the WebSocket; the caller
//! then gives up and the call is stored as abandoned.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PASSWORD: &str = "voice-test-password";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn have(binary: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && std::env::var("HOTLINE_REQUIRE_SIP_PEERS").is_ok_and(|v| v == "1") {
        panic!("{binary} is required (HOTLINE_REQUIRE_SIP_PEERS=1) but not installed");
    }
    found
}

/// One HTTP/1.1 request with a JSON body; the status and the JSON answer.
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let (status, text) =
        hotline_testkit::http::request(port, method, path, token, body.as_deref()).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn login(port: u16, user: &str) -> String {
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": user, "password": PASSWORD})),
    );
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// The agent's live events.
struct Ws(hotline_testkit::ws::Client);

impl Ws {
    fn connect(port: u16, token: &str) -> Ws {
        Ws(hotline_testkit::ws::Client::connect(port, token).unwrap())
    }

    fn wait_for(&mut self, kind: &str, seconds: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while let Some(m) = self.0.next(deadline) {
            let m: Value = serde_json::from_str(&m).unwrap_or(Value::Null);
            if m["kind"] == kind {
                return m;
            }
        }
        panic!("no {kind} on the WebSocket within {seconds} s");
    }
}

/// Hotline, killed if the test fails before stopping it.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn terminate(mut child: Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_carrier_call_pops_the_agents_desk_over_the_websocket() {
    if !have("sipp") || !have("espeak-ng") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (port, sip) = (free_port(), free_port());
    let rtp = (free_port() & !1).min(65000);
    let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["serve", "--demo", "--http", &format!("127.0.0.1:{port}")])
        .args(["--sip", &format!("127.0.0.1:{sip}")])
        .args(["--rtp-ports", &format!("{rtp}-{}", rtp + 40)])
        .arg("--data-dir")
        .arg(dir.path())
        .env("HOTLINE_ADMIN_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(Some(child));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "hotline did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));

    // The administrator connects the carrier and keeps the line open round the clock.
    let admin = login(port, "admin");
    let carrier = free_port();
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/sip/trunks",
        Some(&admin),
        Some(json!({"name": "carrier", "host": "127.0.0.1", "port": carrier})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(
        port,
        "PUT",
        "/api/v1/calendars",
        Some(&admin),
        Some(json!({"source": "calendars:\n  support:\n    hours: { daily: 24h }\n"})),
    );
    assert_eq!(status, 200, "{body}");

    // agent1 opens the desk and becomes available.
    let agent = login(port, "agent1");
    let (_, me) = http(port, "GET", "/api/v1/auth/me", Some(&agent), None);
    let agent_id = me["agent"]["id"].as_i64().expect("agent1 is an agent");
    let mut ws = Ws::connect(port, &agent);
    ws.wait_for("hello", 5);
    let (status, body) = http(
        port,
        "PUT",
        &format!("/api/v1/agents/{agent_id}/presence"),
        Some(&agent),
        Some(json!({"presence": "available"})),
    );
    assert_eq!(status, 200, "{body}");
    // The dial plan (the new trunk) is reread every 5 s.
    std::thread::sleep(Duration::from_secs(6));

    // The caller presses 2 (cards) and, nobody answering, hangs up after 14 s.
    let run = dir.path().join("sipp");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        run.join("caller.xml"),
        hotline_testkit::hanging_up_caller(14_000),
    )
    .unwrap();
    hotline_testkit::dtmf_pcap(&run.join("keys.pcap"), 30, &[(6_000, '2')]);
    let sipp = Command::new("sipp")
        .args([
            "-sf",
            "caller.xml",
            &format!("127.0.0.1:{sip}"),
            "-s",
            "8800",
        ])
        .args(["-i", "127.0.0.1", "-p", &carrier.to_string(), "-m", "1"])
        .args(["-mp", &((free_port() & !1).to_string())])
        .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
        .current_dir(&run)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pop = ws.wait_for("contact.offered", 40);
    let data = &pop["data"];
    assert_eq!(data["channel"], "voice");
    assert_eq!(data["queue"]["name"], "Карты / Cards");
    assert_eq!(data["caller"]["number"], "+74951234567");
    assert!(
        data["ivr"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "menu_choice" && s["digit"] == "2"),
        "{data}"
    );
    let interaction = data["interaction_id"].as_i64().unwrap();
    let out = sipp.wait_with_output().unwrap();
    assert!(out.status.success(), "sipp: {}", output_text(&out));

    // The call is stored as abandoned, with its steps.
    let deadline = Instant::now() + Duration::from_secs(15);
    let stored = loop {
        let (_, i) = http(
            port,
            "GET",
            &format!("/api/v1/interactions/{interaction}"),
            Some(&agent),
            None,
        );
        if i["interaction"]["state"] == "abandoned" {
            break i;
        }
        assert!(Instant::now() < deadline, "not abandoned: {i}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let kinds: Vec<&str> = stored["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for k in [
        "call.arrived",
        "routing.queued",
        "call.offered",
        "routing.abandoned",
        "call.ended",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    // The pop was timed: offer to WebSocket, in the metrics.
    let (status, metrics) =
        hotline_testkit::http::request(port, "GET", "/metrics", None, None).unwrap();
    assert_eq!(status, 200);
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("hotline_screen_pop_seconds_count "))
        .unwrap_or_else(|| panic!("no screen-pop timing in:\n{metrics}"));
    assert_eq!(count.trim(), "1");
    let logs = terminate(child.0.take().unwrap());
    assert!(
        !logs.contains("74951234567"),
        "the caller's number never reaches the log"
    );
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
