//! A carrier's call (SIPp with G.711 and RFC 2833 keys from a generated pcap) through the demo
//! flow: recognised by number and greeted by name, keys an order number, the flow looks it
//! up in the built-in table and says its status, then says goodbye and hangs up. The
//! interaction's timeline and recording are checked, not only the SIP messages.

use std::path::Path;
use std::time::Duration;

use hotline_store::dialplan::NewSipTrunk;
use hotline_store::NewCustomer;
use serde_json::json;

use crate::media::{media_world, sipp_carrier};
use crate::{free_port, require};

/// Writes a pcap of one RTP stream (PCMU silence every 20 ms for `seconds`) with RFC 4733
/// key presses at the given times (ms): 100 ms each, the end packet sent three times.
pub fn dtmf_pcap(path: &Path, seconds: u32, keys: &[(u32, char)]) {
    audio_pcap(path, seconds, keys, None)
}

/// As [`dtmf_pcap`], with a tone of `freq` Hz instead of silence from `from_ms` on.
pub fn audio_pcap(path: &Path, seconds: u32, keys: &[(u32, char)], tone: Option<(u32, f64)>) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    let mut seq: u16 = 1000;
    let ssrc: u32 = 0x1234_5678;
    let mut packet =
        |at_ms: u32, pt: u8, marker: bool, ts: u32, payload: &[u8], out: &mut Vec<u8>| {
            let mut rtp = vec![0x80, pt | if marker { 0x80 } else { 0 }];
            rtp.extend_from_slice(&seq.to_be_bytes());
            seq = seq.wrapping_add(1);
            rtp.extend_from_slice(&ts.to_be_bytes());
            rtp.extend_from_slice(&ssrc.to_be_bytes());
            rtp.extend_from_slice(payload);
            let udp_len = 8 + rtp.len();
            let ip_len = 20 + udp_len;
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x08, 0x00]);
            frame.extend_from_slice(&[
                0x45,
                0,
                (ip_len >> 8) as u8,
                ip_len as u8,
                0,
                0,
                0x40,
                0,
                64,
                17,
                0,
                0,
            ]);
            frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
            frame.extend_from_slice(&6000u16.to_be_bytes());
            frame.extend_from_slice(&6002u16.to_be_bytes());
            frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
            frame.extend_from_slice(&[0, 0]);
            frame.extend_from_slice(&rtp);
            out.extend_from_slice(&(at_ms / 1000).to_le_bytes());
            out.extend_from_slice(&((at_ms % 1000) * 1000).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&frame);
        };
    let silence = [0xffu8; 160];
    let mut t = 0;
    while t < seconds * 1000 {
        let ts = t * 8;
        match keys.iter().find(|(at, _)| t >= *at && t < at + 100) {
            Some(&(at, key)) => {
                let event = hotline_media::dtmf::event_of(key).expect("a key");
                let duration = ((t - at) / 20 + 1) * 160;
                let end = t + 20 >= at + 100;
                let flags = if end { 0x80 } else { 0 } | 10;
                let payload = [event, flags, (duration >> 8) as u8, duration as u8];
                let copies = if end { 3 } else { 1 };
                for _ in 0..copies {
                    packet(t, 101, t == at, at * 8, &payload, &mut out);
                }
            }
            None => match tone {
                Some((from, freq)) if t >= from => {
                    let samples: Vec<i16> = (0..160)
                        .map(|i| {
                            let n = f64::from(ts + i);
                            (8000.0 * (2.0 * std::f64::consts::PI * freq * n / 8000.0).sin()) as i16
                        })
                        .collect();
                    let mut payload = [0u8; 160];
                    hotline_media::g711::encode_ulaw(&samples, &mut payload);
                    packet(t, 0, false, ts, &payload, &mut out)
                }
                _ => packet(t, 0, false, ts, &silence, &mut out),
            },
        }
        t += 20;
    }
    std::fs::write(path, out).expect("pcap");
}

pub const SCENARIO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="caller with keys">
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+74951234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:caller@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+74951234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:caller@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]>
  </send>
  <nop>
    <action>
      <exec play_pcap_audio="keys.pcap"/>
    </action>
  </nop>
  <recv request="BYE" timeout="80000"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]>
  </send>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_checks_an_order_through_the_demo_flow() {
    if require("sipp").is_none() || require("espeak-ng").is_none() {
        return;
    }
    let (w, files) = media_world().await;
    let t = w.tenant;
    let port = free_port();
    w.store
        .create_trunk(t, &NewSipTrunk::peer("carrier", "127.0.0.1", port))
        .await
        .expect("trunk");
    // Open round the clock, so the test does not depend on the hour it runs at.
    w.store
        .set_calendars(t, "calendars:\n  support:\n    hours: { daily: 24h }\n")
        .await
        .expect("calendars");
    w.store
        .save_flow(t, "demo", hotline_store::demo::DEMO_FLOW)
        .await
        .expect("flow");
    w.store
        .put_lookup_rows(
            t,
            "orders",
            &[("123456".into(), json!({"status_text": "карта готова"}))],
        )
        .await
        .expect("orders");
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
        .expect("customer");
    w.store
        .create_number(t, "8800", "flow", "demo")
        .await
        .expect("number");
    w.sip.reload_plan().await.expect("plan");

    let run = files.path().join("sipp");
    std::fs::create_dir_all(&run).expect("dir");
    std::fs::write(run.join("caller.xml"), SCENARIO).expect("scenario");
    // '1' during the menu, then the order number during its prompt.
    let keys = [
        (6_000, '1'),
        (10_000, '1'),
        (10_400, '2'),
        (10_800, '3'),
        (11_200, '4'),
        (11_600, '5'),
        (12_000, '6'),
    ];
    dtmf_pcap(&run.join("keys.pcap"), 70, &keys);
    let child = sipp_carrier(&run, &["-sf", "caller.xml"], &w, port, "8800", 90);
    let out = tokio::time::timeout(Duration::from_secs(100), child.wait_with_output())
        .await
        .expect("sipp ends")
        .expect("sipp runs");
    let errors = std::fs::read_dir(&run)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        out.status.success(),
        "sipp failed (Hotline must hang up after the goodbye):\n{}\n{}\n{errors}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The interaction: found by the caller's number, closed, recorded.
    let filter = hotline_store::InteractionFilter {
        limit: 10,
        ..Default::default()
    };
    let list = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let page = w.store.list_interactions(t, &filter).await.expect("list");
            if let Some(i) = page.items.first() {
                if i.state.is_final() && i.recording_ref.is_some() {
                    return i.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let list = match list {
        Ok(i) => i,
        Err(_) => {
            let page = w.store.list_interactions(t, &filter).await.expect("list");
            let mut dump = format!("{:?}\n", page.items);
            if let Some(i) = page.items.first() {
                for e in w.store.list_events(t, i.id).await.expect("events") {
                    dump.push_str(&format!("{} {}\n", e.kind, e.data));
                }
            }
            panic!("the interaction is not closed with its recording:\n{dump}");
        }
    };
    assert_eq!(list.customer_id, Some(customer.id));
    assert_eq!(list.state, hotline_model::InteractionState::Closed);
    let events = w.store.list_events(t, list.id).await.expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let find = |kind: &str| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} in {kinds:?}"))
    };
    assert_eq!(find("call.arrived").data["customer_id"], customer.id);
    assert_eq!(find("call.arrived").data["flow_version"], 1);
    let greeting = &find("ivr.played").data["speech"][0]["text"];
    assert_eq!(greeting, "Здравствуйте, Анна! Вы позвонили в Демо-банк.");
    assert_eq!(find("ivr.menu_choice").data["digit"], "1");
    assert_eq!(find("ivr.collected").data["digits"], "123456");
    find("ivr.lookup_found");
    let said: Vec<String> = events
        .iter()
        .filter(|e| e.kind == "ivr.played")
        .map(|e| {
            e.data["speech"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(
        said.contains(&"Заявка 123456: карта готова.".to_string()),
        "{said:#?}"
    );
    assert_eq!(find("ivr.ended").data["outcome"], "completed");
    let rec = find("call.recording");
    let path = rec.data["path"].as_str().expect("path");
    assert_eq!(
        std::fs::metadata(path).expect("recording file").len(),
        rec.data["bytes"].as_u64().expect("bytes")
    );
    assert!(rec.data["duration_ms"].as_u64().expect("duration") > 15_000);
    assert_eq!(list.recording_ref.as_deref(), Some(path));
    // Steps are stored in the order they happened.
    let at = |k: &str| kinds.iter().position(|x| *x == k).expect(k);
    assert!(at("call.arrived") < at("ivr.menu_choice"));
    assert!(at("ivr.menu_choice") < at("ivr.collected"));
    assert!(at("ivr.collected") < at("ivr.lookup_found"));
    assert!(at("ivr.lookup_found") < at("ivr.ended"));
    w.sip.stop().await;
}
