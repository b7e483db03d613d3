//! The binary as shipped, end to end on the voice path: `hotline serve --demo` with SIP and
//! RTP on 127.0.0.1, an agent logged in over the API with their WebSocket open, a carrier's
//! caller (SIPp) through the demo flow into the cards queue. The agent's desk receives the
//! screen pop (the card and what the caller did in the IVR) over the WebSocket; the caller
//! then gives up and the call is stored as abandoned.

mod common;

use std::time::{Duration, Instant};

use common::{have, http, login, output_text, sipp_caller, Demo};
use serde_json::{json, Value};

const REQUIRE: &str = "HOTLINE_REQUIRE_SIP_PEERS";

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

#[test]
fn a_carrier_call_pops_the_agents_desk_over_the_websocket() {
    if !have("sipp", REQUIRE) || !have("espeak-ng", REQUIRE) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let port = demo.http;
    let carrier = demo.connect_carrier();

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
    let sipp = sipp_caller(&run, demo.sip, carrier, "8800");
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
    let logs = demo.stop();
    assert!(
        !logs.contains("74951234567"),
        "the caller's number never reaches the log"
    );
}
