//! Call control from the agent's desk (what `POST /interactions/{id}/control` and
//! `/transfer` ask through `Dialer::control`) on calls routed to baresip phones: hold and
//! resume, a consultation with another agent that becomes a conference and then an attended
//! transfer (three parties mixed by Hotline, checked by what each one heard), blind transfers
//! to a queue and to a specialist's number, and hang-up.

use std::path::Path;
use std::time::Duration;

use hotline_media::inband::tone_share;
use hotline_model::CallControl;
use hotline_routing::engine::AgentState;
use hotline_telephony::Notice;
use hotline_telephony::TransferError;
use hotline_testkit::{CUSTOMER, SCENARIO};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::agents::{
    assert_in_order, centre, conversation_recording, kinds, next_notice, position, recorded_sides,
    sipp_result, Centre,
};
use crate::media::stereo;
use crate::require;
use crate::transfers::{company, specialist};

pub(crate) fn peers() -> bool {
    require("sipp").is_some() && require("espeak-ng").is_some() && require("baresip").is_some()
}

/// The share of `freq` in each second of `audio` that is not silence.
pub(crate) fn seconds_with(audio: &[i16], freq: f64, share: f64) -> usize {
    audio
        .chunks_exact(8_000)
        .filter(|s| tone_share(s, freq) > share)
        .count()
}

/// How many events of `kind` the timeline has.
async fn count(c: &Centre, interaction: i64, kind: &str) -> usize {
    c.events(interaction)
        .await
        .iter()
        .filter(|(k, _)| k == kind)
        .count()
}

async fn wait_count(c: &Centre, interaction: i64, kind: &str, n: usize) {
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        while count(c, interaction, kind).await < n {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if done.is_err() {
        panic!(
            "not {n} × {kind} within 30 s; the timeline:\n{}",
            c.dump(interaction).await
        );
    }
}

/// The carrier's caller (440 Hz from 6.2 s) in the demo flow, answered by 1001's phone: the
/// desk's notices from before the offer on, SIPp and its run folder, the interaction.
pub(crate) async fn answered_by_1001(
    c: &Centre,
) -> (
    broadcast::Receiver<Notice>,
    tokio::process::Child,
    std::path::PathBuf,
    i64,
) {
    c.available("1001").await;
    let mut notices = c.w.sip.notices();
    let (sipp, run) = c.dial(SCENARIO, 6_200, 100);
    let pop = next_notice(&mut notices, "contact.offered").await;
    assert_eq!(pop.agent_id, Some(c.agents["1001"]));
    let interaction = pop.data["interaction_id"].as_i64().expect("interaction");
    c.wait_for(interaction, "call.answered", 20).await;
    (notices, sipp, run, interaction)
}

/// What routing says an agent is doing.
pub(crate) async fn routing_state(c: &Centre, extension: &str) -> AgentState {
    let snapshot = c.acd.snapshot().await.expect("snapshot");
    snapshot
        .agents
        .iter()
        .find(|a| a.agent == hotline_routing::AgentId(c.agents[extension]))
        .expect("the agent is known to routing")
        .state
}

fn refused(r: Result<(), TransferError>) -> bool {
    matches!(r, Err(TransferError::Refused(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_consults_another_agent_joins_the_caller_in_conference_and_hands_over() {
    if !peers() {
        return;
    }
    let c = centre().await;
    let first = c.phone("1001", 1000.0, true).await;
    let second = c.phone("1002", 700.0, true).await;
    let (mut notices, sipp, run, interaction) = answered_by_1001(&c).await;
    // 1002 is ready: while consulted (and after taking the call over) routing must count them
    // busy, or it would ring them with another call.
    c.available("1002").await;
    let desk = c.w.sip.dialer();
    // Nothing to resume, join or hand over yet.
    assert!(refused(
        desk.control(interaction, CallControl::Resume).await
    ));
    assert!(refused(
        desk.control(interaction, CallControl::Conference).await
    ));
    assert!(refused(
        desk.control(interaction, CallControl::CompleteTransfer)
            .await
    ));
    assert!(refused(
        desk.control(interaction, CallControl::ConsultAgent(c.agents["1001"]))
            .await
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The agent asks 1002 while the caller waits with music.
    desk.control(interaction, CallControl::ConsultAgent(c.agents["1002"]))
        .await
        .expect("consultation");
    let state = next_notice(&mut notices, "contact.call_state").await;
    assert_eq!(state.agent_id, Some(c.agents["1001"]));
    assert_eq!(state.data["held"], true);
    assert_eq!(state.data["consult"]["state"], "ringing");
    c.wait_for(interaction, "call.consult_answered", 20).await;
    assert_eq!(
        routing_state(&c, "1002").await,
        AgentState::Busy,
        "consulted"
    );
    assert!(refused(desk.control(interaction, CallControl::Hold).await));
    tokio::time::sleep(Duration::from_secs(4)).await;
    // The three talk.
    desk.control(interaction, CallControl::Conference)
        .await
        .expect("conference");
    c.wait_for(interaction, "call.conference_started", 5).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    // The first agent leaves; the caller and 1002 talk on, then 1002 hangs up.
    desk.control(interaction, CallControl::CompleteTransfer)
        .await
        .expect("handed over");
    let ended = next_notice(&mut notices, "contact.ended").await;
    assert_eq!(ended.agent_id, Some(c.agents["1001"]));
    assert_eq!(ended.data["by"], "transferred");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        routing_state(&c, "1002").await,
        AgentState::Busy,
        "on the call handed over"
    );
    second.command("hangup", "").await;
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!(
            "the caller's call did not end cleanly:\n{e}\nthe timeline:\n{}",
            c.dump(interaction).await
        );
    }
    let done = c.finished(interaction).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    // The call is over: 1002 is free for routing again.
    let mut free = false;
    for _ in 0..50 {
        if routing_state(&c, "1002").await == AgentState::Available {
            free = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(free, "1002 is available again after the call");
    let events = c.events(interaction).await;
    assert_in_order(
        &events,
        &[
            "call.answered",
            "call.consult_dialling",
            "call.consult_answered",
            "call.conference_started",
            "call.transferred",
            "call.outside_hung_up",
            "call.ended",
        ],
    );
    let moved = &events[position(&events, "call.transferred")].1;
    assert_eq!(moved["kind"], "attended");
    assert_eq!(moved["to_agent_id"], c.agents["1002"]);
    assert_eq!(moved["conference"], true);
    // Routing let the first agent go (wrap-up) when they left, not at the call's end.
    assert!(position(&events, "routing.ended") < position(&events, "call.outside_hung_up"));

    // One recording: the caller on the left throughout; on the right the others mixed:
    // both agents in the consultation and the conference, then 1002 alone.
    let (_, right) = recorded_sides(&events);
    let both = right
        .chunks_exact(8_000)
        .filter(|s| tone_share(s, 1000.0) > 0.25 && tone_share(s, 700.0) > 0.25)
        .count();
    assert!(both >= 6, "both agents heard together for {both} s");
    let tail = &right[right.len() - 24_000..right.len() - 8_000];
    assert!(tone_share(tail, 700.0) > 0.8, "1002 alone at the end");
    assert!(tone_share(tail, 1000.0) < 0.05, "the first agent has left");

    // What each phone heard: the first agent heard 1002 in the consultation (and the caller
    // in the conference); 1002 heard the first agent, then the caller with them, then the
    // caller alone.
    let first = first.stop().await;
    let second = second.stop().await;
    let heard1 = first.heard();
    assert!(
        seconds_with(&heard1, 700.0, 0.25) >= 5,
        "the first agent heard 1002"
    );
    let heard2 = second.heard();
    assert!(
        seconds_with(&heard2, 1000.0, 0.25) >= 5,
        "1002 heard the first agent"
    );
    let conference = heard2
        .chunks_exact(8_000)
        .filter(|s| tone_share(s, 1000.0) > 0.2 && tone_share(s, 440.0) > 0.2)
        .count();
    assert!(
        conference >= 3,
        "1002 heard both in the conference: {conference} s"
    );
    assert!(
        seconds_with(&heard2, 440.0, 0.8) >= 2,
        "1002 heard the caller alone after the hand-over"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_holds_resumes_and_moves_the_call_to_a_queue_then_to_a_specialists_number() {
    if !peers() {
        return;
    }
    let c = centre().await;
    let port = company(&c).await;
    let first = c.phone("1001", 1000.0, true).await;
    let second = c.phone("1002", 700.0, true).await;
    let (mut notices, sipp, run, interaction) = answered_by_1001(&c).await;
    let desk = c.w.sip.dialer();
    tokio::time::sleep(Duration::from_secs(2)).await;
    desk.control(interaction, CallControl::Hold)
        .await
        .expect("hold");
    assert!(refused(desk.control(interaction, CallControl::Hold).await));
    let state = next_notice(&mut notices, "contact.call_state").await;
    assert_eq!(state.data["held"], true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    desk.control(interaction, CallControl::Resume)
        .await
        .expect("resume");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // To the queue: 1002 is free, the first agent goes to wrap-up.
    c.available("1002").await;
    let queues = c.w.store.list_queues(c.w.tenant).await.expect("queues");
    let cards = queues[0].id;
    assert!(refused(
        desk.control(interaction, CallControl::TransferToQueue(999_999))
            .await
    ));
    desk.control(interaction, CallControl::TransferToQueue(cards))
        .await
        .expect("to the queue");
    let pop = next_notice(&mut notices, "contact.offered").await;
    assert_eq!(pop.agent_id, Some(c.agents["1002"]));
    assert_eq!(pop.data["transferred_from"], c.agents["1001"]);
    wait_count(&c, interaction, "call.answered", 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // 1002 puts the caller through to the company's specialist, who answers, talks and
    // hangs up.
    let (answering, answering_run) = specialist(&c, port, CUSTOMER, "specialist");
    tokio::time::sleep(Duration::from_millis(300)).await;
    desk.control(
        interaction,
        CallControl::TransferToNumber("+74955550100".into()),
    )
    .await
    .expect("to the number");
    if let Err(e) = sipp_result(answering, &answering_run).await {
        panic!(
            "the specialist's side failed:\n{e}\nthe timeline:\n{}",
            c.dump(interaction).await
        );
    }
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!(
            "the caller's call did not end cleanly:\n{e}\nthe timeline:\n{}",
            c.dump(interaction).await
        );
    }
    let done = c.finished(interaction).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    let events = c.events(interaction).await;
    assert_in_order(
        &events,
        &[
            "call.answered",
            "call.held",
            "call.resumed",
            "call.transferred",
            "call.transfer_dialling",
            "call.outside_hung_up",
            "call.ended",
        ],
    );
    let moves: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "call.transferred")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(moves.len(), 2, "{:?}", kinds(&events));
    assert_eq!(moves[0]["to_queue_id"], cards);
    assert_eq!(moves[0]["by"], "api");
    assert_eq!(moves[1]["kind"], "outside");
    assert_eq!(moves[1]["number"], "+74955550100");
    assert_eq!(moves[1]["from_agent_id"], c.agents["1002"]);
    let held = &events[position(&events, "call.held")].1;
    assert_eq!(held["by"], "api");
    // Each agent's part ended in routing when they let the call go.
    let ended = events.iter().filter(|(k, _)| k == "routing.ended").count();
    assert_eq!(ended, 2, "{:?}", kinds(&events));
    // The recording: the first agent, the second, then the specialist's 1000 Hz.
    let rec = conversation_recording(&events);
    let (_, right) = stereo(Path::new(rec["path"].as_str().expect("path")));
    assert!(seconds_with(&right, 700.0, 0.8) >= 2, "1002 is heard");
    let _ = first.stop().await;
    let _ = second.stop().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_hangs_up() {
    if !peers() {
        return;
    }
    let c = centre().await;
    let first = c.phone("1001", 1000.0, true).await;
    let (mut notices, sipp, run, interaction) = answered_by_1001(&c).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.w.sip
        .dialer()
        .control(interaction, CallControl::HangUp)
        .await
        .expect("hang-up");
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!(
            "the caller was not hung up on:\n{e}\nthe timeline:\n{}",
            c.dump(interaction).await
        );
    }
    let done = c.finished(interaction).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    let ended = c.wait_for(interaction, "call.ended", 10).await;
    assert_eq!(ended["by"], "agent");
    let hung = c.wait_for(interaction, "call.agent_hung_up", 5).await;
    assert_eq!(hung["by"], "api");
    // The phone was hung up on too, and the call is gone from the desk's reach.
    let notice = next_notice(&mut notices, "contact.ended").await;
    assert_eq!(notice.data["by"], "agent");
    assert!(matches!(
        c.w.sip
            .dialer()
            .control(interaction, CallControl::Hold)
            .await,
        Err(TransferError::NotLive)
    ));
    let _ = first.stop().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_listens_then_whispers_then_barges_in_and_leaves() {
    if !peers() {
        return;
    }
    let c = centre().await;
    let agent = c.phone("1001", 1000.0, true).await;
    // The supervisor's own phone (their agent record, 1002), saying 700 Hz.
    let supervisor = c.phone("1002", 700.0, true).await;
    let sup = c.agents["1002"];
    let (_notices, sipp, run, interaction) = answered_by_1001(&c).await;
    // The supervisor takes calls too: routing must count them busy while they monitor.
    c.available("1002").await;
    let desk = c.w.sip.dialer();
    use hotline_model::MonitorMode::{Barge, Listen, Whisper};
    let monitor =
        |supervisor, mode| desk.control(interaction, CallControl::Monitor { supervisor, mode });
    // Nobody to let go yet; an agent does not monitor their own call.
    assert!(refused(
        desk.control(interaction, CallControl::StopMonitor { supervisor: sup })
            .await
    ));
    assert!(refused(monitor(c.agents["1001"], Listen).await));
    tokio::time::sleep(Duration::from_secs(2)).await;

    monitor(sup, Listen).await.expect("listen");
    c.wait_for(interaction, "call.monitor_started", 20).await;
    assert_eq!(
        routing_state(&c, "1002").await,
        AgentState::Busy,
        "a supervisor on a call is offered nothing"
    );
    // One supervisor at a time.
    assert!(refused(monitor(c.agents["1001"], Barge).await));
    tokio::time::sleep(Duration::from_secs(4)).await;
    monitor(sup, Whisper).await.expect("whisper");
    tokio::time::sleep(Duration::from_secs(4)).await;
    monitor(sup, Barge).await.expect("barge");
    tokio::time::sleep(Duration::from_secs(4)).await;
    desk.control(interaction, CallControl::StopMonitor { supervisor: sup })
        .await
        .expect("supervisor let go");
    let ended = c.wait_for(interaction, "call.monitor_ended", 10).await;
    assert_eq!(ended["by"], "api");
    tokio::time::sleep(Duration::from_secs(3)).await;
    desk.control(interaction, CallControl::HangUp)
        .await
        .expect("hang-up");
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!(
            "the caller's call did not end cleanly:\n{e}\nthe timeline:\n{}",
            c.dump(interaction).await
        );
    }
    c.finished(interaction).await;
    let events = c.events(interaction).await;
    assert_in_order(
        &events,
        &[
            "call.answered",
            "call.monitor_dialling",
            "call.monitor_started",
            "call.monitor_mode",
            "call.monitor_ended",
            "call.ended",
        ],
    );
    // Each leg's figures, the supervisor's under its own name.
    let legs: Vec<&str> = events
        .iter()
        .filter(|(k, _)| k == "call.quality")
        .filter_map(|(_, v)| v["leg"].as_str())
        .collect();
    assert!(
        legs.contains(&"supervisor") && legs.contains(&"caller") && legs.contains(&"agent"),
        "{legs:?}"
    );
    let modes: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "call.monitor_mode")
        .map(|(_, v)| &v["mode"])
        .collect();
    assert_eq!(modes, ["whisper", "barge"]);
    let mut free = false;
    for _ in 0..50 {
        if routing_state(&c, "1002").await == AgentState::Available {
            free = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(free, "the supervisor is available again once they left");

    // The supervisor heard the caller and the agent together all along (~12 s); the agent
    // heard the supervisor only from the whisper on (~8 s), not while they listened.
    let heard_sup = supervisor.stop().await.heard();
    let both = heard_sup
        .chunks_exact(8_000)
        .filter(|s| tone_share(s, 440.0) > 0.2 && tone_share(s, 1000.0) > 0.2)
        .count();
    assert!(both >= 10, "the supervisor heard both for {both} s");
    let heard_agent = agent.stop().await.heard();
    let coached = seconds_with(&heard_agent, 700.0, 0.2);
    assert!(
        (5..=10).contains(&coached),
        "the agent heard the supervisor for {coached} s (whisper and barge: ~8 s)"
    );
    // The recording holds the supervisor only when somebody heard them (whisper, barge).
    let (_, right) = recorded_sides(&events);
    let recorded = seconds_with(&right, 700.0, 0.2);
    assert!(
        (5..=10).contains(&recorded),
        "the supervisor recorded for {recorded} s (whisper and barge: ~8 s)"
    );
    assert!(
        seconds_with(&right, 1000.0, 0.3) >= 15,
        "the agent recorded throughout"
    );
    c.stop().await;
}
