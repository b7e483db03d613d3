//! Calls through the demo flow into a queue and on to agents' phones, with routing (the ACD)
//! running as in the binary: SIPp is the carrier (G.711 with a tone, RFC 2833 keys), baresip
//! the agents' phones (registered with digest). Each test reads the interaction's timeline,
//! not only the SIP messages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hotline_acd::{Acd, Input};
use hotline_media::inband::tone_share;
use hotline_routing::engine::{AgentState, Presence};
use hotline_routing::AgentId;
use hotline_store::dialplan::NewSipTrunk;
use hotline_store::{NewCustomer, NewQueue};
use hotline_telephony::Notice;
use serde_json::Value;
use tokio::sync::broadcast;

use tokio::process::Child;

use crate::media::{media_world, phone_answering, sipp_carrier, stereo, tone_file, Phone};
use crate::{free_port, require, World};
use hotline_testkit::{audio_pcap, dtmf_pcap, hanging_up_caller, CUSTOMER, SCENARIO};

/// A contact centre: the demo flow on 8800, the cards queue, routing started and attached,
/// a known caller.
pub(crate) struct Centre {
    pub w: World,
    pub files: tempfile::TempDir,
    pub acd: Acd,
    pub agents: HashMap<String, i64>,
    pub customer: i64,
    pub trunk_port: u16,
}

/// The demo line on a world: a carrier trunk (where SIPp calls from: its port), calendars
/// open round the clock (tests do not depend on the hour), the demo flow on 8800, and a
/// known caller (+7 495 123-45-67: their id).
pub async fn demo_line(w: &World) -> (u16, i64) {
    let t = w.tenant;
    let trunk_port = free_port();
    w.store
        .create_trunk(t, &NewSipTrunk::peer("carrier", "127.0.0.1", trunk_port))
        .await
        .expect("trunk");
    w.store
        .set_calendars(t, "calendars:\n  support:\n    hours: { daily: 24h }\n")
        .await
        .expect("calendars");
    w.store
        .save_flow(t, "demo", hotline_store::demo::DEMO_FLOW)
        .await
        .expect("flow");
    let customer = w
        .store
        .create_customer(
            t,
            &NewCustomer {
                name: "Анна Смирнова".into(),
                phones: vec!["+7 495 123-45-67".into()],
                ..Default::default()
            },
        )
        .await
        .expect("customer")
        .id;
    w.store
        .create_number(t, "8800", "flow", "demo")
        .await
        .expect("number");
    (trunk_port, customer)
}

pub(crate) async fn centre() -> Centre {
    let (w, files) = media_world().await;
    let t = w.tenant;
    w.store
        .create_queue(
            t,
            &NewQueue {
                name: "Карты / Cards".into(),
                channels: vec![hotline_model::Channel::Voice],
                service_level_seconds: 20,
                service_level_target: 80,
                priority: 0,
                wrap_up_seconds: 2,
                disposition_required: false,
            },
        )
        .await
        .expect("queue");
    let (trunk_port, customer) = demo_line(&w).await;
    w.sip.reload_plan().await.expect("plan");
    let agents = w
        .store
        .list_agents(t)
        .await
        .expect("agents")
        .into_iter()
        .map(|a| (a.extension, a.id))
        .collect();
    // Routing as the binary runs it: its commands for voice contacts go to the SIP service.
    let (commands, mut rx) = tokio::sync::mpsc::channel(1024);
    let acd = Acd::start(w.store.clone(), commands)
        .await
        .expect("routing starts");
    assert!(w.sip.attach_routing(acd.link()));
    let port = w.sip.routing_port();
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            port.command(c);
        }
    });
    Centre {
        w,
        files,
        acd,
        agents,
        customer,
        trunk_port,
    }
}

impl Centre {
    pub async fn available(&self, ext: &str) {
        self.acd
            .input(Input::Presence {
                agent: AgentId(self.agents[ext]),
                presence: Presence::Available,
            })
            .await
            .expect("presence");
    }

    /// A carrier's call to 8800 by SIPp running `scenario` for at most `seconds`; with
    /// its run folder (for its error log).
    pub(crate) fn dial(&self, scenario: &str, tone_from: u32, seconds: u32) -> (Child, PathBuf) {
        let run = self.caller(scenario, tone_from);
        let sipp = sipp_carrier(
            &run,
            &["-sf", "caller.xml"],
            &self.w,
            self.trunk_port,
            "8800",
            seconds,
        );
        (sipp, run)
    }

    /// An agent's phone playing a tone of `freq` Hz, registered; answering by itself or not.
    pub async fn phone(&self, ext: &str, freq: f64, auto: bool) -> Phone {
        let tone = tone_file(self.files.path(), &format!("{freq}.wav"), freq, 90);
        let phone = phone_answering(&self.w, ext, &tone, auto);
        self.w.wait_registered(ext, 1).await;
        phone
    }

    /// The caller's SIPp run folder with its scenario and audio: '2' (cards) pressed during
    /// the menu, a 440 Hz tone from `tone_from` ms on.
    pub fn caller(&self, scenario: &str, tone_from: u32) -> PathBuf {
        let run = self.files.path().join("sipp");
        std::fs::create_dir_all(&run).expect("dir");
        std::fs::write(run.join("caller.xml"), scenario).expect("scenario");
        audio_pcap(
            &run.join("keys.pcap"),
            75,
            &[(6_000, '2')],
            Some((tone_from, 440.0)),
        );
        run
    }

    pub async fn events(&self, interaction: i64) -> Vec<(String, Value)> {
        self.w
            .store
            .list_events(self.w.tenant, interaction)
            .await
            .expect("events")
            .into_iter()
            .map(|e| (e.kind, e.data))
            .collect()
    }

    /// Waits until the interaction's timeline has `kind` (or panics with the timeline).
    pub async fn wait_for(&self, interaction: i64, kind: &str, seconds: u64) -> Value {
        let found = tokio::time::timeout(Duration::from_secs(seconds), async {
            loop {
                if let Some((_, d)) = self
                    .events(interaction)
                    .await
                    .into_iter()
                    .find(|(k, _)| k == kind)
                {
                    return d;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        match found {
            Ok(d) => d,
            Err(_) => panic!(
                "no {kind} within {seconds} s; the timeline:\n{}",
                self.dump(interaction).await
            ),
        }
    }

    pub async fn dump(&self, interaction: i64) -> String {
        self.events(interaction)
            .await
            .into_iter()
            .map(|(k, d)| format!("{k} {d}\n"))
            .collect()
    }

    /// The agent's state as routing sees it.
    pub async fn routing_state(&self, ext: &str) -> AgentState {
        let agent = AgentId(self.agents[ext]);
        let snapshot = self.acd.snapshot().await.expect("snapshot");
        snapshot
            .agents
            .iter()
            .find(|a| a.agent == agent)
            .map(|a| a.state)
            .expect("the agent in routing")
    }

    /// The id of the newest interaction (the call just made).
    pub async fn newest(&self) -> i64 {
        self.w
            .store
            .list_interactions(
                self.w.tenant,
                &hotline_store::InteractionFilter {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .expect("list")
            .items
            .first()
            .expect("the call's interaction")
            .id
    }

    /// Serves `source` (a flow) on `number`.
    pub async fn line(&self, number: &str, name: &str, source: &str) {
        let t = self.w.tenant;
        self.w.store.save_flow(t, name, source).await.expect("flow");
        self.w
            .store
            .create_number(t, number, "flow", name)
            .await
            .expect("number");
        self.w.sip.reload_plan().await.expect("plan");
    }

    /// The newest interaction, once it is final.
    pub async fn finished(&self, interaction: i64) -> hotline_model::Interaction {
        let done = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let i = self
                    .w
                    .store
                    .get_interaction(self.w.tenant, interaction)
                    .await
                    .expect("interaction");
                if i.state.is_final() {
                    return i;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        match done {
            Ok(i) => i,
            Err(_) => panic!(
                "the interaction did not end; the timeline:\n{}",
                self.dump(interaction).await
            ),
        }
    }

    pub async fn stop(self) {
        self.w.sip.stop().await;
        self.acd.stop().await;
    }
}

/// SIPp as the customer behind the carrier (`CUSTOMER` in `run`), listening on the trunk's
/// port.
pub(crate) fn sipp_customer(run: &Path, port: u16) -> Child {
    let mp = free_port() & !1;
    tokio::process::Command::new("sipp")
        .args(["-sf", "customer.xml", "-i", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args([
            "-mp",
            &mp.to_string(),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "60s",
        ])
        .args(["-timeout_error", "-trace_err"])
        .current_dir(run)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp starts")
}

pub(crate) async fn next_notice(rx: &mut broadcast::Receiver<Notice>, kind: &str) -> Notice {
    tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            match rx.recv().await {
                Ok(n) if n.kind == kind => return n,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("notices closed: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} notice within 40 s"))
}

pub(crate) fn kinds(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(k, _)| k.as_str()).collect()
}

/// Each kind is on the timeline, after the one before it.
pub(crate) fn assert_in_order(events: &[(String, Value)], order: &[&str]) {
    for pair in order.windows(2) {
        assert!(
            position(events, pair[0]) < position(events, pair[1]),
            "{} before {}: {:?}",
            pair[0],
            pair[1],
            kinds(events)
        );
    }
}

/// The call's one conversation recording as (left, right), checking the caller (440 Hz on
/// the left) is heard in it to the end.
pub(crate) fn recorded_sides(events: &[(String, Value)]) -> (Vec<i16>, Vec<i16>) {
    let rec = conversation_recording(events);
    let (left, right) = stereo(Path::new(rec["path"].as_str().expect("path")));
    let caller_tail = &left[left.len() - 24_000..left.len() - 8_000];
    assert!(
        tone_share(caller_tail, 440.0) > 0.8,
        "the caller throughout"
    );
    (left, right)
}

/// The conversation's recording event.
pub(crate) fn conversation_recording(events: &[(String, Value)]) -> Value {
    events
        .iter()
        .find(|(k, d)| k == "call.recording" && d["part"] == "conversation")
        .map(|(_, d)| d.clone())
        .unwrap_or_else(|| panic!("no conversation recording in {:?}", kinds(events)))
}

pub(crate) fn position(events: &[(String, Value)], kind: &str) -> usize {
    events
        .iter()
        .position(|(k, _)| k == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(events)))
}

pub async fn sipp_result(child: tokio::process::Child, run: &Path) -> Result<(), String> {
    let out = tokio::time::timeout(Duration::from_secs(110), child.wait_with_output())
        .await
        .map_err(|_| "sipp did not end".to_string())?
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let errors = std::fs::read_dir(run)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    Err(format!(
        "{}\n{}\n{errors}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_caller_reaches_the_agents_phone_with_a_screen_pop_and_both_are_recorded() {
    if require("sipp").is_none() || require("espeak-ng").is_none() || require("baresip").is_none() {
        return;
    }
    let c = centre().await;
    let phone = c.phone("1001", 1000.0, true).await;
    c.available("1001").await;
    let mut notices = c.w.sip.notices();
    let (sipp, run) = c.dial(SCENARIO, 6_200, 100);

    // The screen pop reaches the agent's desk with the card and the IVR path.
    let pop = next_notice(&mut notices, "contact.offered").await;
    assert_eq!(pop.agent_id, Some(c.agents["1001"]));
    let interaction = pop.data["interaction_id"].as_i64().expect("interaction");
    assert_eq!(pop.data["known"], true);
    assert_eq!(pop.data["card"]["customer"]["id"], c.customer);
    assert_eq!(pop.data["caller"]["number"], "+74951234567");
    assert_eq!(pop.data["queue"]["name"], "Карты / Cards");
    let ivr = pop.data["ivr"].as_array().expect("ivr trace");
    assert!(
        ivr.iter()
            .any(|s| s["kind"] == "menu_choice" && s["digit"] == "2"),
        "{ivr:?}"
    );

    // The phone answers by itself; they talk, the agent holds the caller for a moment (the
    // caller hears music), takes the call back, and hangs up.
    c.wait_for(interaction, "call.answered", 20).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    phone.command("hold", "").await;
    c.wait_for(interaction, "call.held", 10).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    phone.command("resume", "").await;
    c.wait_for(interaction, "call.resumed", 10).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    phone.command("hangup", "").await;
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!(
            "the caller's call did not end cleanly:\n{e}\nthe timeline:\n{}\nthe phone said:\n{}",
            c.dump(interaction).await,
            phone.log().await
        );
    }
    let done = c.finished(interaction).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    assert_eq!(done.agent_id, Some(c.agents["1001"]));
    assert_eq!(done.customer_id, Some(c.customer));
    let conversation = c
        .wait_for(interaction, "call.ended", 10)
        .await
        .get("by")
        .cloned();
    assert_eq!(conversation, Some(Value::from("agent")));

    // The record: every step in the order it happened.
    let events = c.events(interaction).await;
    assert_in_order(
        &events,
        &[
            "call.arrived",
            "ivr.menu_choice",
            "routing.queued",
            "call.offered",
            "call.answered",
            "call.held",
            "call.resumed",
            "call.agent_hung_up",
            "call.ended",
        ],
    );
    position(&events, "routing.offered");
    position(&events, "routing.accepted");
    position(&events, "routing.ended");
    // Each leg's figures are on the record: the caller's (SIPp sends no RTCP) and the
    // agent's, whose phone's own RTCP reports were read.
    let figures = |leg: &str| {
        events
            .iter()
            .find(|(k, v)| k == "call.quality" && v["leg"] == leg)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no call.quality for the {leg}:\n{events:?}"))
    };
    let (caller, agent) = (figures("caller"), figures("agent"));
    assert!(caller["packets_received"].as_u64() > Some(500), "{caller}");
    assert!(caller["reports_sent"].as_u64() >= Some(2), "{caller}");
    assert!(agent["packets_received"].as_u64() > Some(400), "{agent}");
    assert!(agent["remote"]["reports"].as_u64() >= Some(1), "{agent}");
    let rec = conversation_recording(&events);
    let path = rec["path"].as_str().expect("path");
    assert_eq!(done.recording_ref.as_deref(), Some(path));
    assert_eq!(
        std::fs::metadata(path).expect("file").len(),
        rec["bytes"].as_u64().expect("bytes")
    );
    assert!(
        rec["duration_ms"].as_u64().expect("duration") >= 5_000,
        "{rec}"
    );
    // The caller's 440 Hz on the left, the agent's 1000 Hz on the right.
    let (left, right) = stereo(Path::new(path));
    let (l, r) = (&left[16_000..40_000], &right[16_000..40_000]);
    assert!(
        tone_share(l, 440.0) > 0.8,
        "caller: {}",
        tone_share(l, 440.0)
    );
    assert!(
        tone_share(l, 1000.0) < 0.01,
        "no agent on the caller's side"
    );
    assert!(
        tone_share(r, 1000.0) > 0.8,
        "agent: {}",
        tone_share(r, 1000.0)
    );
    assert!(tone_share(r, 440.0) < 0.01, "no caller on the agent's side");
    // While held, the right channel is the music the caller heard, not the agent.
    let held_at = 6_000 + 1_500;
    let held = &right[held_at * 8..(held_at + 1_500) * 8];
    assert!(
        tone_share(held, 1000.0) < 0.05,
        "the agent is not heard on hold: {}",
        tone_share(held, 1000.0)
    );
    assert!(
        held.iter().map(|x| i64::from(*x).abs()).sum::<i64>() / held.len() as i64 > 100,
        "music is heard on hold"
    );
    let back = &right[right.len() - 24_000..right.len() - 8_000];
    assert!(
        tone_share(back, 1000.0) > 0.8,
        "the agent again after resume"
    );
    // And the agent's phone heard the caller.
    let phone = phone.stop().await;
    let heard = phone.heard();
    let tail = &heard[heard.len().saturating_sub(24_000)..heard.len().saturating_sub(8_000)];
    assert!(
        tone_share(tail, 440.0) > 0.8,
        "the agent heard the caller: {}",
        tone_share(tail, 440.0)
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_in_the_queue_is_abandoned() {
    if require("sipp").is_none() || require("espeak-ng").is_none() {
        return;
    }
    // Nobody is available: the caller waits with music, then gives up.
    let c = centre().await;
    let run = c.caller(&hanging_up_caller(14_000), 60_000);
    let sipp = sipp_carrier(&run, &["-sf", "caller.xml"], &c.w, c.trunk_port, "8800", 60);
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!("the caller's call did not end cleanly:\n{e}");
    }
    let interaction = c.newest().await;
    let done = c.finished(interaction).await;
    assert_eq!(done.state, hotline_model::InteractionState::Abandoned);
    let abandoned = c.wait_for(interaction, "routing.abandoned", 10).await;
    assert!(
        abandoned["waited_ms"].as_u64().expect("waited") >= 5_000,
        "{abandoned}"
    );
    let events = c.events(interaction).await;
    assert!(position(&events, "ivr.queued") < position(&events, "routing.abandoned"));
    assert!(!kinds(&events).contains(&"call.offered"));
    let ended = c.wait_for(interaction, "ivr.ended", 5).await;
    assert_eq!(ended["outcome"], "abandoned");
    // Routing holds nothing of the call any more.
    let snapshot = c.acd.snapshot().await.expect("snapshot");
    assert!(
        snapshot.queues.iter().all(|q| q.waiting == 0),
        "{:?}",
        snapshot.queues
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_who_does_not_answer_is_passed_over_for_the_next() {
    if require("sipp").is_none() || require("espeak-ng").is_none() || require("baresip").is_none() {
        return;
    }
    let c = centre().await;
    // 1001 rings and rings; 1002 answers by itself.
    let silent = c.phone("1001", 1000.0, false).await;
    let answering = c.phone("1002", 1000.0, true).await;
    // 1001 has waited longest, so routing offers it the call first.
    c.available("1001").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.available("1002").await;
    let mut notices = c.w.sip.notices();
    let (sipp, run) = c.dial(SCENARIO, 6_200, 100);
    let first = next_notice(&mut notices, "contact.offered").await;
    assert_eq!(first.agent_id, Some(c.agents["1001"]));
    let interaction = first.data["interaction_id"].as_i64().expect("interaction");
    // The offer times out (20 s): the desk is told, and the next agent gets the call.
    let gone = next_notice(&mut notices, "contact.withdrawn").await;
    assert_eq!(gone.agent_id, Some(c.agents["1001"]));
    let second = next_notice(&mut notices, "contact.offered").await;
    assert_eq!(second.agent_id, Some(c.agents["1002"]));
    let answered = c.wait_for(interaction, "call.answered", 20).await;
    assert_eq!(answered["agent_id"], c.agents["1002"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    answering.command("hangup", "").await;
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!(
            "the caller's call did not end cleanly:\n{e}\nthe timeline:\n{}",
            c.dump(interaction).await
        );
    }
    let done = c.finished(interaction).await;
    assert_eq!(done.agent_id, Some(c.agents["1002"]));
    let events = c.events(interaction).await;
    let missed = position(&events, "routing.missed");
    assert_eq!(events[missed].1["agent"], c.agents["1001"]);
    assert!(missed < position(&events, "call.ringing_stopped"));
    assert!(missed < position(&events, "call.answered"));
    let offered: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "call.offered")
        .map(|(_, d)| &d["agent_id"])
        .collect();
    assert_eq!(
        offered,
        [
            &Value::from(c.agents["1001"]),
            &Value::from(c.agents["1002"])
        ]
    );
    // The agent who missed the call is not ready now (routing's rule), not offered again.
    let snapshot = c.acd.snapshot().await.expect("snapshot");
    let missed_agent = snapshot
        .agents
        .iter()
        .find(|a| a.agent == AgentId(c.agents["1001"]))
        .expect("agent in the snapshot");
    assert_eq!(
        missed_agent.state,
        hotline_routing::engine::AgentState::NotReady
    );
    let _ = silent.stop().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_transfer_the_caller_from_the_phone_and_from_the_desk() {
    if require("sipp").is_none() || require("espeak-ng").is_none() || require("baresip").is_none() {
        return;
    }
    let c = centre().await;
    let first = c.phone("1001", 1000.0, true).await;
    let second = c.phone("1002", 700.0, true).await;
    c.available("1001").await;
    let mut notices = c.w.sip.notices();
    let (sipp, run) = c.dial(SCENARIO, 6_200, 100);
    let pop = next_notice(&mut notices, "contact.offered").await;
    assert_eq!(pop.agent_id, Some(c.agents["1001"]));
    let interaction = pop.data["interaction_id"].as_i64().expect("interaction");
    c.wait_for(interaction, "call.answered", 20).await;
    // The second agent comes online while the first talks; the first transfers to 1002.
    c.available("1002").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    first
        .command(
            "transfer",
            &format!("sip:1002@127.0.0.1:{}", c.w.addr().port()),
        )
        .await;
    let pop = next_notice(&mut notices, "contact.offered").await;
    assert_eq!(pop.agent_id, Some(c.agents["1002"]));
    assert_eq!(pop.data["transferred_from"], c.agents["1001"]);
    assert_eq!(pop.data["card"]["customer"]["id"], c.customer);
    let answered = loop {
        let events = c.events(interaction).await;
        let answers: Vec<Value> = events
            .iter()
            .filter(|(k, _)| k == "call.answered")
            .map(|(_, d)| d.clone())
            .collect();
        if answers.len() == 2 {
            break answers;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(answered[1]["agent_id"], c.agents["1002"]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // The second agent's desk sends the caller back to the first (as the API does); a
    // transfer to the agent already on the call is refused.
    let desk = c.w.sip.dialer();
    assert!(matches!(
        desk.transfer(interaction, c.agents["1002"]).await,
        Err(hotline_telephony::TransferError::Refused(_))
    ));
    desk.transfer(interaction, c.agents["1001"])
        .await
        .expect("transfer under way");
    let answered = loop {
        let events = c.events(interaction).await;
        let answers: Vec<Value> = events
            .iter()
            .filter(|(k, _)| k == "call.answered")
            .map(|(_, d)| d.clone())
            .collect();
        if answers.len() == 3 {
            break answers;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(answered[2]["agent_id"], c.agents["1001"]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    first.command("hangup", "").await;
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!(
            "the caller's call did not end cleanly:\n{e}\nthe timeline:\n{}\nthe first phone said:\n{}",
            c.dump(interaction).await,
            first.log().await
        );
    }
    let done = c.finished(interaction).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    assert_eq!(done.agent_id, Some(c.agents["1001"]));
    let events = c.events(interaction).await;
    let moved = position(&events, "call.transferred");
    assert_eq!(events[moved].1["from_agent_id"], c.agents["1001"]);
    assert_eq!(events[moved].1["to_agent_id"], c.agents["1002"]);
    assert_eq!(events[moved].1["by"], "phone");
    let back: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "call.transferred")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(back.len(), 2, "{back:?}");
    assert_eq!(back[1]["by"], "api");
    assert_eq!(back[1]["to_agent_id"], c.agents["1001"]);
    // The first agent's part ended in routing (their wrap-up), the second's began after.
    assert!(position(&events, "routing.ended") > position(&events, "routing.accepted"));
    let requeued = events
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k == "routing.queued")
        .map(|(i, _)| i)
        .nth(1)
        .unwrap_or_else(|| panic!("queued again: {:?}", kinds(&events)));
    assert!(moved < requeued);
    assert_eq!(events[requeued].1["preferred_agent"], c.agents["1002"]);
    // One conversation recording: the first agent's tone, the second's, the first's again
    // on the right.
    let rec = events
        .iter()
        .filter(|(k, d)| k == "call.recording" && d["part"] == "conversation")
        .map(|(_, d)| d.clone())
        .collect::<Vec<_>>();
    assert_eq!(rec.len(), 1, "{rec:?}");
    let (left, right) = stereo(Path::new(rec[0]["path"].as_str().expect("path")));
    assert!(
        tone_share(&right[8_000..24_000], 1000.0) > 0.8,
        "first agent"
    );
    assert!(
        right
            .chunks_exact(8_000)
            .any(|second| tone_share(second, 700.0) > 0.8),
        "the second agent is heard"
    );
    let tail = &right[right.len() - 24_000..right.len() - 8_000];
    assert!(
        tone_share(tail, 1000.0) > 0.8,
        "the first agent again: {}",
        tone_share(tail, 1000.0)
    );
    let caller_tail = &left[left.len() - 24_000..left.len() - 8_000];
    assert!(
        tone_share(caller_tail, 440.0) > 0.8,
        "the caller throughout"
    );
    let _ = first.stop().await;
    let _ = second.stop().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_to_call_rings_the_agent_then_the_customer() {
    if require("sipp").is_none() || require("baresip").is_none() {
        return;
    }
    let c = centre().await;
    let t = c.w.tenant;
    // The carrier takes numbers starting +7 (the centre's trunk, where SIPp listens).
    let trunk =
        c.w.store
            .list_trunks(t)
            .await
            .expect("trunks")
            .into_iter()
            .next()
            .expect("the carrier trunk")
            .id;
    c.w.store
        .create_route(t, "+7", trunk, 0, "")
        .await
        .expect("route");
    c.w.sip.reload_plan().await.expect("plan");
    let phone = c.phone("1001", 1000.0, true).await;
    c.available("1001").await;
    let run = c.files.path().join("customer");
    std::fs::create_dir_all(&run).expect("dir");
    std::fs::write(run.join("customer.xml"), CUSTOMER).expect("scenario");
    audio_pcap(&run.join("keys.pcap"), 20, &[], Some((0, 440.0)));
    let customer = sipp_customer(&run, c.trunk_port);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A number as an agent types it; the customer is recognised by it.
    let dialer = c.w.sip.dialer();
    let interaction = dialer
        .click_to_call(hotline_telephony::outbound::ClickToCall {
            tenant_id: t,
            agent_id: c.agents["1001"],
            number: "8 (495) 123-45-67".into(),
            customer_id: None,
        })
        .await
        .expect("the call is placed");
    // While it lasts, routing counts the agent busy: nothing is offered to their phone.
    c.wait_for(interaction, "call.answered", 30).await;
    assert_eq!(c.routing_state("1001").await, AgentState::Busy);
    if let Err(e) = sipp_result(customer, &run).await {
        panic!(
            "the customer's side failed:\n{e}\nthe timeline:\n{}\nthe phone said:\n{}",
            c.dump(interaction).await,
            phone.log().await
        );
    }
    let done = c.finished(interaction).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    assert_eq!(done.direction, hotline_model::Direction::Outbound);
    assert_eq!(done.customer_id, Some(c.customer));
    assert_eq!(done.agent_id, Some(c.agents["1001"]));
    let hung = c.wait_for(interaction, "call.hung_up", 10).await;
    assert_eq!(hung["by"], "customer");
    assert_eq!(c.routing_state("1001").await, AgentState::Available);
    let events = c.events(interaction).await;
    assert_in_order(
        &events,
        &[
            "call.click_to_call",
            "call.agent_answered",
            "call.customer_ringing",
            "call.answered",
            "call.hung_up",
            "call.ended",
        ],
    );
    assert_eq!(events[0].1["channel"], "voice");
    // Stored before the call's end (the interaction is final by now).
    let rec = conversation_recording(&events);
    let path = rec["path"].as_str().expect("path");
    assert_eq!(done.recording_ref.as_deref(), Some(path));
    // The agent on the left (Hotline's own peer here), the customer on the right.
    let (left, right) = stereo(Path::new(path));
    assert!(tone_share(&left[8_000..32_000], 1000.0) > 0.8, "agent");
    assert!(tone_share(&right[8_000..32_000], 440.0) > 0.8, "customer");
    let _ = phone.stop().await;
    c.stop().await;
}

/// Calls to +7… go out through the centre's carrier trunk (where SIPp listens).
async fn route_out(c: &Centre) {
    let t = c.w.tenant;
    let trunk = c.w.store.list_trunks(t).await.expect("trunks")[0].id;
    c.w.store
        .create_route(t, "+7", trunk, 0, "")
        .await
        .expect("route");
    c.w.sip.reload_plan().await.expect("plan");
}

/// The customer of a placed call who talks until Hotline hangs up (CUSTOMER up to its pause,
/// then waits for the BYE).
fn customer_hung_up_on() -> String {
    let talk = CUSTOMER
        .split("<pause milliseconds=\"8000\"/>")
        .next()
        .expect("the customer scenario pauses before its BYE");
    format!(
        "{talk}<recv request=\"BYE\"/>\n  <send>\n    <![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]>\n  </send>\n  <Reference variables=\"all,all2,all3,ftag,furi,curi\"/>\n</scenario>\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_hangs_up_a_call_the_agent_placed_and_refuses_what_only_the_phone_can_do() {
    if require("sipp").is_none() || require("baresip").is_none() {
        return;
    }
    let c = centre().await;
    let t = c.w.tenant;
    route_out(&c).await;
    let phone = c.phone("1001", 1000.0, true).await;
    c.available("1001").await;
    let run = c.files.path().join("customer");
    std::fs::create_dir_all(&run).expect("dir");
    std::fs::write(run.join("customer.xml"), customer_hung_up_on()).expect("scenario");
    audio_pcap(&run.join("keys.pcap"), 20, &[], Some((0, 440.0)));
    let customer = sipp_customer(&run, c.trunk_port);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut notices = c.w.sip.notices();
    let dialer = c.w.sip.dialer();
    let interaction = dialer
        .click_to_call(hotline_telephony::outbound::ClickToCall {
            tenant_id: t,
            agent_id: c.agents["1001"],
            number: "+74951234567".into(),
            customer_id: None,
        })
        .await
        .expect("the call is placed");
    // The desk is told when the customer answers.
    let answered = tokio::time::timeout(Duration::from_secs(30), async {
        while !kinds(&c.events(interaction).await).contains(&"call.answered") {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if answered.is_err() {
        panic!(
            "the customer did not answer: {:?}\n{}",
            sipp_result(customer, &run).await,
            c.dump(interaction).await
        );
    }
    let connected = next_notice(&mut notices, "contact.connected").await;
    assert_eq!(connected.data["interaction_id"], interaction);
    assert_eq!(connected.data["direction"], "outbound");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Hold would put the agent (whose leg carries Hotline's end) on music: refused, clearly.
    match dialer
        .control(interaction, hotline_model::CallControl::Hold)
        .await
    {
        Err(hotline_telephony::TransferError::Refused(why)) => {
            assert!(why.contains("phone"), "{why}")
        }
        other => panic!("hold on a placed call: {other:?}"),
    }
    // A supervisor cannot join a placed call yet, and is told so.
    let monitor = hotline_model::CallControl::Monitor {
        supervisor: c.agents["1002"],
        mode: hotline_model::MonitorMode::Listen,
    };
    match dialer.control(interaction, monitor).await {
        Err(hotline_telephony::TransferError::Refused(why)) => {
            assert!(why.contains("monitored"), "{why}")
        }
        other => panic!("monitoring a placed call: {other:?}"),
    }
    // Nor can the phone transfer it yet: its REFER is accepted (202), then refused at once
    // (NOTIFY with 501), not left waiting; the call goes on (the desk hangs it up below).
    phone
        .command(
            "transfer",
            &format!("sip:1002@127.0.0.1:{}", c.w.addr().port()),
        )
        .await;
    let refused = c.wait_for(interaction, "call.transfer_refused", 10).await;
    assert_eq!(refused["by"], "phone");
    assert_eq!(refused["kind"], "blind");
    assert_eq!(refused["target"], "1002");
    dialer
        .control(interaction, hotline_model::CallControl::HangUp)
        .await
        .expect("the desk hangs up");
    if let Err(e) = sipp_result(customer, &run).await {
        panic!(
            "the customer did not get the BYE:\n{e}\nthe timeline:\n{}",
            c.dump(interaction).await
        );
    }
    let done = c.finished(interaction).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    let hung = c.wait_for(interaction, "call.hung_up", 10).await;
    assert_eq!(hung["by"], "agent");
    let by = c.wait_for(interaction, "call.agent_hung_up", 5).await;
    assert_eq!(by["by"], "api");
    // The call is gone: the desk's next word is not for a live call.
    assert!(dialer
        .control(interaction, hotline_model::CallControl::HangUp)
        .await
        .is_err());
    let log = phone.log().await;
    assert!(
        log.contains("transfer failed: 501"),
        "the phone was told its transfer was refused:\n{log}"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_asks_for_a_callback_and_is_called_back_when_an_agent_is_free() {
    if require("sipp").is_none() || require("espeak-ng").is_none() || require("baresip").is_none() {
        return;
    }
    let c = centre().await;
    let t = c.w.tenant;
    route_out(&c).await;
    let phone = c.phone("1001", 1000.0, true).await;
    let mut notices = c.w.sip.notices();
    // Nobody is free: the caller keys 2 (cards), then 1 in the queue for a callback; the
    // flow confirms and hangs up.
    let run = c.files.path().join("sipp");
    std::fs::create_dir_all(&run).expect("dir");
    std::fs::write(run.join("caller.xml"), SCENARIO).expect("scenario");
    dtmf_pcap(&run.join("keys.pcap"), 60, &[(6_000, '2'), (10_000, '1')]);
    let sipp = sipp_carrier(&run, &["-sf", "caller.xml"], &c.w, c.trunk_port, "8800", 60);
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!("the caller's call did not end cleanly:\n{e}");
    }
    let interaction =
        c.w.store
            .list_interactions(
                t,
                &hotline_store::InteractionFilter {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .expect("list")
            .items[0]
            .id;
    let requested = c.wait_for(interaction, "call.callback_requested", 10).await;
    assert_eq!(requested["number"], "+74951234567");
    c.wait_for(interaction, "routing.callback_requested", 10)
        .await;
    let waiting =
        c.w.store
            .get_interaction(t, interaction)
            .await
            .expect("interaction");
    assert_eq!(waiting.state, hotline_model::InteractionState::Queued);

    // The customer's side of the carrier answers when called back.
    let customer_run = c.files.path().join("customer");
    std::fs::create_dir_all(&customer_run).expect("dir");
    std::fs::write(customer_run.join("customer.xml"), CUSTOMER).expect("scenario");
    audio_pcap(&customer_run.join("keys.pcap"), 20, &[], Some((0, 440.0)));
    let customer = sipp_customer(&customer_run, c.trunk_port);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // An agent becomes free: routing offers the callback, the desk pops, Hotline dials.
    c.available("1001").await;
    let pop = next_notice(&mut notices, "contact.offered").await;
    assert_eq!(pop.data["interaction_id"], interaction);
    assert_eq!(pop.data["callback"], true);
    assert_eq!(pop.data["card"]["customer"]["id"], c.customer);
    if let Err(e) = sipp_result(customer, &customer_run).await {
        panic!(
            "the customer's side failed:\n{e}\nthe timeline:\n{}\nthe phone said:\n{}",
            c.dump(interaction).await,
            phone.log().await
        );
    }
    let done = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let i =
                c.w.store
                    .get_interaction(t, interaction)
                    .await
                    .expect("interaction");
            if i.state == hotline_model::InteractionState::Closed {
                return i;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not closed"));
    assert_eq!(done.agent_id, Some(c.agents["1001"]));
    let events = c.events(interaction).await;
    assert_in_order(
        &events,
        &[
            "call.callback_requested",
            "callback.started",
            "routing.accepted",
            "call.customer_ringing",
            "routing.callback_reached",
            "call.hung_up",
            "routing.ended",
        ],
    );
    let rec = conversation_recording(&events);
    let (left, right) = stereo(Path::new(rec["path"].as_str().expect("path")));
    assert!(tone_share(&left[8_000..32_000], 1000.0) > 0.8, "agent");
    assert!(tone_share(&right[8_000..32_000], 440.0) > 0.8, "customer");
    let _ = phone.stop().await;
    c.stop().await;
}
