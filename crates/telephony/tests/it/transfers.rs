//! What a flow does for a caller besides queueing: transfers without an agent in between (to
//! a company specialist's outside number, dialled through the tenant's route to the company's
//! trunk, bridged and recorded; when the specialist is busy, to a named agent through
//! routing), and a voicemail that becomes an interaction of its own for the queue's agents.

use std::path::Path;

use hotline_media::inband::tone_share;
use hotline_store::dialplan::NewSipTrunk;
use hotline_testkit::{audio_pcap, hanging_up_caller, CUSTOMER, SCENARIO};

use crate::agents::{
    assert_in_order, centre, conversation_recording, kinds, next_notice, position, sipp_customer,
    sipp_result, Centre,
};
use crate::free_port;
use crate::media::{sipp_carrier, stereo};
use crate::require;

/// Calls to 8802: a word, then the specialist (+7 495 555-01-00 on the company's trunk); if
/// that fails, agent 1002; if that fails too, an apology.
const SPECIALIST_FLOW: &str = "\
flow: specialist
start: hi
nodes:
  hi:
    play: Соединяю со специалистом.
    next: outside
  outside:
    transfer: { number: \"8 (495) 555-01-00\" }
    timeout: 20s
    on_failure: manager
  manager:
    transfer: { agent: \"1002\" }
    timeout: 20s
    on_failure: sorry
  sorry:
    play: Все заняты, перезвоните позже.
    next: bye
  bye:
    hangup: true
";

/// The specialist's phone is busy.
const BUSY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="busy specialist">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]>
  </send>
  <recv request="ACK"/>
</scenario>
"#;

/// The company's trunk (where SIPp plays the specialist: its port) and a route to it for
/// the company's numbers.
pub(crate) async fn company(c: &Centre) -> u16 {
    let t = c.w.tenant;
    let port = free_port();
    let trunk =
        c.w.store
            .create_trunk(t, &NewSipTrunk::peer("company", "127.0.0.1", port))
            .await
            .expect("trunk")
            .id;
    c.w.store
        .create_route(t, "+7495555", trunk, 0, "")
        .await
        .expect("route");
    c.line("8802", "specialist", SPECIALIST_FLOW).await;
    port
}

pub(crate) fn specialist(
    c: &Centre,
    port: u16,
    scenario: &str,
    name: &str,
) -> (tokio::process::Child, std::path::PathBuf) {
    let run = c.files.path().join(name);
    std::fs::create_dir_all(&run).expect("dir");
    std::fs::write(run.join("customer.xml"), scenario).expect("scenario");
    audio_pcap(&run.join("keys.pcap"), 12, &[], Some((0, 1000.0)));
    (sipp_customer(&run, port), run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_transfers_to_a_specialist_and_to_an_agent_when_the_specialist_is_busy() {
    if require("sipp").is_none() || require("baresip").is_none() || require("espeak-ng").is_none() {
        return;
    }
    let c = centre().await;
    let port = company(&c).await;

    // The specialist answers: the caller talks to them, recorded; the specialist hangs up.
    let (answering, answering_run) = specialist(&c, port, CUSTOMER, "specialist");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let run = c.caller(SCENARIO, 0);
    let caller = sipp_carrier(&run, &["-sf", "caller.xml"], &c.w, c.trunk_port, "8802", 60);
    if let Err(e) = sipp_result(answering, &answering_run).await {
        panic!("the specialist's side failed:\n{e}");
    }
    if let Err(e) = sipp_result(caller, &run).await {
        panic!("the caller's side failed:\n{e}");
    }
    let first = c.newest().await;
    let done = c.finished(first).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    assert_eq!(done.agent_id, None, "no agent took part");
    c.wait_for(first, "call.outside_hung_up", 10).await;
    let events = c.events(first).await;
    assert_in_order(
        &events,
        &[
            "ivr.transfer_started",
            "call.transfer_dialling",
            "call.transfer_ringing",
            "call.transferred",
            "ivr.answered",
            "call.outside_hung_up",
            "call.ended",
        ],
    );
    let dialled = &events[position(&events, "call.transfer_dialling")].1;
    assert_eq!(
        dialled["number"], "+74955550100",
        "normalised with the tenant's region"
    );
    let ended = c.wait_for(first, "ivr.ended", 5).await;
    assert_eq!(ended["outcome"], "transferred");
    assert!(
        !kinds(&events).contains(&"routing.queued"),
        "routing takes no part"
    );
    // The caller's 440 Hz on the left, the specialist's 1000 Hz on the right.
    let rec = conversation_recording(&events);
    let path = rec["path"].as_str().expect("path");
    assert_eq!(done.recording_ref.as_deref(), Some(path));
    let (left, right) = stereo(Path::new(path));
    assert!(left.len() > 40_000, "{} samples", left.len());
    assert!(tone_share(&left[8_000..32_000], 440.0) > 0.8, "caller");
    assert!(
        tone_share(&right[8_000..32_000], 1000.0) > 0.8,
        "specialist"
    );

    // The specialist is busy: the flow goes on to agent 1002, offered through routing; the
    // caller talks to them and hangs up.
    let phone = c.phone("1002", 700.0, true).await;
    c.available("1002").await;
    let (busy, busy_run) = specialist(&c, port, BUSY, "busy");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let run = c.caller(&hanging_up_caller(14_000), 0);
    let caller = sipp_carrier(&run, &["-sf", "caller.xml"], &c.w, c.trunk_port, "8802", 60);
    if let Err(e) = sipp_result(busy, &busy_run).await {
        panic!("the busy specialist's side failed:\n{e}");
    }
    if let Err(e) = sipp_result(caller, &run).await {
        panic!(
            "the caller's side failed:\n{e}\nthe phone said:\n{}",
            phone.log().await
        );
    }
    let second = c.newest().await;
    assert_ne!(second, first);
    let done = c.finished(second).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    assert_eq!(done.agent_id, Some(c.agents["1002"]));
    let events = c.events(second).await;
    assert_in_order(
        &events,
        &[
            "call.transfer_dialling",
            "call.transfer_failed",
            "ivr.transfer_failed",
            "routing.queued",
            "call.transfer_routed",
            "call.offered",
            "call.answered",
            "ivr.answered",
            "call.caller_hung_up",
            "routing.ended",
        ],
    );
    let failed = &events[position(&events, "call.transfer_failed")].1;
    assert_eq!(failed["code"], 486);
    let queued = &events[position(&events, "routing.queued")].1;
    assert_eq!(queued["preferred_agent"], c.agents["1002"]);
    let ended = c.wait_for(second, "ivr.ended", 5).await;
    assert_eq!(ended["outcome"], "transferred");
    let rec = conversation_recording(&events);
    let (left, right) = stereo(Path::new(rec["path"].as_str().expect("path")));
    assert!(tone_share(&left[8_000..24_000], 440.0) > 0.8, "caller");
    assert!(tone_share(&right[8_000..24_000], 700.0) > 0.8, "agent");
    let _ = phone.stop().await;
    c.stop().await;
}

/// Calls to 8803: a message for the cards queue.
const MESSAGE_FLOW: &str = "\
flow: message
start: vm
nodes:
  vm:
    voicemail: Оставьте сообщение.
    max: 30s
    queue: Карты / Cards
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_left_after_the_prompt_becomes_an_interaction_for_the_queue() {
    if require("sipp").is_none() || require("espeak-ng").is_none() {
        return;
    }
    let c = centre().await;
    let t = c.w.tenant;
    c.line("8803", "message", MESSAGE_FLOW).await;
    let mut notices = c.w.sip.notices();
    // The caller speaks (440 Hz) from the start and hangs up 9 s in: the message is what
    // comes after the prompt.
    let run = c.caller(&hanging_up_caller(9_000), 0);
    let caller = sipp_carrier(&run, &["-sf", "caller.xml"], &c.w, c.trunk_port, "8803", 60);
    if let Err(e) = sipp_result(caller, &run).await {
        panic!("the caller's side failed:\n{e}");
    }
    let notice = next_notice(&mut notices, "voicemail.received").await;
    assert_eq!(notice.agent_id, None, "for the tenant's desks");
    let message = notice.data["interaction_id"].as_i64().expect("id");
    let call = c.wait_for(message, "voicemail.left", 5).await["call_interaction_id"]
        .as_i64()
        .expect("the call");
    assert_ne!(call, message);

    // The call: closed as a voicemail, with where its message went.
    let done = c.finished(call).await;
    assert_eq!(done.state, hotline_model::InteractionState::Closed);
    let ended = c.wait_for(call, "ivr.ended", 5).await;
    assert_eq!(ended["outcome"], "voicemail", "left, not abandoned");
    let left = c.wait_for(call, "call.voicemail_left", 5).await;
    assert_eq!(left["voicemail_interaction_id"], message);
    assert_in_order(
        &c.events(call).await,
        &[
            "call.voicemail_started",
            "ivr.voicemail_recorded",
            "call.voicemail_left",
        ],
    );

    // The message: queued for the cards queue, the caller's card on it, its own audio.
    let m =
        c.w.store
            .get_interaction(t, message)
            .await
            .expect("the message");
    assert_eq!(m.state, hotline_model::InteractionState::Queued);
    assert_eq!(m.channel, hotline_model::Channel::Voice);
    assert_eq!(m.customer_id, Some(c.customer));
    let queues = c.w.store.list_queues(t).await.expect("queues");
    assert_eq!(m.queue_id, Some(queues[0].id));
    let path = m.recording_ref.expect("its recording");
    let bytes = std::fs::read(&path).expect("the message's file");
    let audio = hotline_media::wav::read(&bytes).expect("a WAV");
    assert_eq!(bytes[22], 1, "mono: the caller alone");
    let seconds = audio.samples.len() as f64 / 8000.0;
    assert!((4.0..9.0).contains(&seconds), "{seconds} s");
    let mid = audio.samples.len() / 2;
    assert!(
        tone_share(&audio.samples[mid - 4_000..mid + 4_000], 440.0) > 0.8,
        "the caller's voice"
    );
    assert_eq!(
        notice.data["duration_ms"].as_u64(),
        Some((audio.samples.len() / 8) as u64)
    );
    c.stop().await;
}
