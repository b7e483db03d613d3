//! A carrier's call (SIPp with G.711 and RFC 2833 keys from a generated pcap) through the demo
//! flow: recognised by number and greeted by name, keys an order number, the flow looks it
//! up in the built-in table and says its status, then says goodbye and hangs up. The
//! interaction's timeline and recording are checked, not only the SIP messages.

use std::time::Duration;

use serde_json::json;

use hotline_testkit::{dtmf_pcap, SCENARIO};

use crate::agents::{demo_line, sipp_result};
use crate::media::{media_world, sipp_carrier};
use crate::require;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_checks_an_order_through_the_demo_flow() {
    if require("sipp").is_none() || require("espeak-ng").is_none() {
        return;
    }
    let (w, files) = media_world().await;
    let t = w.tenant;
    w.store
        .put_lookup_rows(
            t,
            "orders",
            &[("123456".into(), json!({"status_text": "карта готова"}))],
        )
        .await
        .expect("orders");
    let (port, customer) = demo_line(&w).await;
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
    if let Err(e) = sipp_result(child, &run).await {
        panic!("sipp failed (Hotline must hang up after the goodbye):\n{e}");
    }

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
    assert_eq!(list.customer_id, Some(customer));
    assert_eq!(list.state, hotline_model::InteractionState::Closed);
    let events = w.store.list_events(t, list.id).await.expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let find = |kind: &str| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} in {kinds:?}"))
    };
    assert_eq!(find("call.arrived").data["customer_id"], customer);
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
