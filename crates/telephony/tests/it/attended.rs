//! An attended transfer from the agent's phone (RFC 5589 §7), with linphone as the phone: the
//! agent holds the caller, calls a colleague through Hotline, talks, then the phone sends
//! REFER with Replaces. Hotline takes the colleague's leg over from that consultation call,
//! offers it the caller's media, tells the phone it worked (NOTIFY 200) and lets it go.

use std::time::Duration;

use hotline_media::inband::tone_share;
use hotline_routing::engine::AgentState;

use crate::agents::{assert_in_order, centre, next_notice, position, recorded_sides, sipp_result};
use crate::controls::{answered_by_1001, peers, routing_state, seconds_with};
use crate::linphone::Linphone;
use crate::media::tone_file;
use crate::require;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_consults_a_colleague_from_the_phone_and_puts_the_caller_through() {
    if !peers() || require("linphonec").is_none() {
        return;
    }
    let c = centre().await;
    let tone = tone_file(c.files.path(), "1000-linphone.wav", 1000.0, 90);
    let mut first = Linphone::start(&c.w, "1001", &tone).await;
    let second = c.phone("1002", 700.0, true).await;
    let (mut notices, sipp, run, interaction) = answered_by_1001(&c).await;
    c.available("1002").await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The agent holds the caller (music) and calls 1002 through Hotline.
    first.send("pause 1").await;
    c.wait_for(interaction, "call.held", 10).await;
    let port = c.w.addr().port();
    first.send(&format!("call sip:1002@127.0.0.1:{port}")).await;
    if !first.wait_for(&["Call 2", "connected"], 20).await {
        panic!(
            "1002 did not answer the consultation:\n{}",
            first.stop().await
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A transfer naming a dialog Hotline does not have changes nothing (covered in the SIP
    // core's tests); this one names the consultation.
    first.send("transfer 1 --to-call 2").await;
    let ended = next_notice(&mut notices, "contact.ended").await;
    assert_eq!(ended.agent_id, Some(c.agents["1001"]));
    assert_eq!(ended.data["by"], "transferred");
    c.wait_for(interaction, "call.transferred", 20).await;
    // The phone heard it worked and let both its calls go.
    let gone = first.wait_for(&["Call 1", "ended"], 15).await
        && first.wait_for(&["Call 2", "ended"], 15).await;
    if !gone {
        panic!("the phone kept a call:\n{}", first.stop().await);
    }
    assert_eq!(
        routing_state(&c, "1002").await,
        AgentState::Busy,
        "on the call put through"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    second.command("hangup", "").await;
    if let Err(e) = sipp_result(sipp, &run).await {
        panic!(
            "the caller's call did not end cleanly:\n{e}\nthe timeline:\n{}\nthe phone:\n{}",
            c.dump(interaction).await,
            first.stop().await
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
            "call.transfer_requested",
            "call.transferred",
            "call.outside_hung_up",
            "call.ended",
        ],
    );
    let moved = &events[position(&events, "call.transferred")].1;
    assert_eq!(moved["kind"], "attended");
    assert_eq!(moved["by"], "phone");
    assert_eq!(moved["from_agent_id"], c.agents["1001"]);
    assert_eq!(moved["to_agent_id"], c.agents["1002"]);
    // Routing let the first agent go (wrap-up) when the caller was put through.
    assert!(position(&events, "routing.ended") < position(&events, "call.outside_hung_up"));

    // The recording: the caller on the left throughout, the first agent on the right before
    // the transfer, 1002 after it.
    let (_, right) = recorded_sides(&events);
    assert!(
        seconds_with(&right, 1000.0, 0.5) >= 2,
        "the first agent before the transfer"
    );
    let tail = &right[right.len() - 24_000..right.len() - 8_000];
    assert!(tone_share(tail, 700.0) > 0.8, "1002 after it");
    // 1002 heard the first agent in the consultation, then the caller.
    let second = second.stop().await;
    let heard = second.heard();
    assert!(
        seconds_with(&heard, 1000.0, 0.5) >= 2,
        "1002 heard the first agent"
    );
    assert!(
        seconds_with(&heard, 440.0, 0.8) >= 2,
        "1002 heard the caller"
    );
    let _ = first.stop().await;
    c.stop().await;
}
