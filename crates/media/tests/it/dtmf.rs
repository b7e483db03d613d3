//! RFC 4733 receive and send: end-bit redundancy, duplicates, loss, reordering, new sources.

use hotline_media::dtmf::{digit_of, event_of, DtmfEvent, DtmfReceiver, DtmfSender, EventPayload};

/// The packets a sender emits for one digit, as (timestamp, payload).
fn packets(digit: char, ts: u32, ms: u32) -> Vec<(u32, [u8; 4])> {
    let mut s = DtmfSender::new(digit, ts, ms, 20, 8000).unwrap();
    let mut v = Vec::new();
    while let Some(p) = s.next_packet() {
        v.push((p.timestamp, p.payload));
    }
    v
}

fn digits(events: &[DtmfEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            DtmfEvent::Digit { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect()
}

fn ends(events: &[DtmfEvent]) -> Vec<(char, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            DtmfEvent::End {
                digit, duration, ..
            } => Some((*digit, *duration)),
            _ => None,
        })
        .collect()
}

#[test]
fn payload_round_trip_and_rfc_example() {
    // RFC 4733 §2.3 layout: event 5, E bit, volume 10, duration 800.
    let p = EventPayload::parse(&[5, 0x8a, 0x03, 0x20]).unwrap();
    assert_eq!(
        p,
        EventPayload {
            event: 5,
            end: true,
            volume: 10,
            duration: 800
        }
    );
    assert_eq!(p.to_bytes(), [5, 0x8a, 0x03, 0x20]);
    assert_eq!(EventPayload::parse(&[1, 2, 3]), None);
    for (i, c) in "0123456789*#ABCD".chars().enumerate() {
        assert_eq!(event_of(c), Some(i as u8));
        assert_eq!(digit_of(i as u8), Some(c));
    }
    assert_eq!(event_of('x'), None);
    assert_eq!(digit_of(16), None);
}

#[test]
fn sender_marks_first_and_repeats_end_three_times() {
    let v = packets('7', 1000, 100);
    // 100 ms at 20 ms: durations 160..800, then the end packet twice more.
    let durations: Vec<u16> = v
        .iter()
        .map(|(_, p)| u16::from_be_bytes([p[2], p[3]]))
        .collect();
    assert_eq!(durations, vec![160, 320, 480, 640, 800, 800, 800]);
    let ends: Vec<bool> = v.iter().map(|(_, p)| p[1] & 0x80 != 0).collect();
    assert_eq!(ends, vec![false, false, false, false, true, true, true]);
    assert!(v.iter().all(|(ts, p)| *ts == 1000 && p[0] == 7));
    let mut s = DtmfSender::new('7', 0, 100, 20, 8000).unwrap();
    assert!(s.next_packet().unwrap().marker);
    assert!(!s.next_packet().unwrap().marker);
    assert!(DtmfSender::new('x', 0, 100, 20, 8000).is_none());
}

#[test]
fn one_digit_per_event_with_duplicates_and_redundant_ends() {
    let mut r = DtmfReceiver::new();
    let mut out = Vec::new();
    let mut now = 0;
    for (ts, p) in packets('5', 8000, 120) {
        // Every packet arrives twice.
        r.on_packet(now, 42, ts, &p, &mut out);
        r.on_packet(now, 42, ts, &p, &mut out);
        now += 20;
    }
    assert_eq!(digits(&out), "5");
    assert_eq!(ends(&out), vec![('5', 960)]);
}

#[test]
fn same_key_twice_is_two_digits() {
    let mut r = DtmfReceiver::new();
    let mut out = Vec::new();
    for (ts, p) in packets('1', 0, 100)
        .into_iter()
        .chain(packets('1', 1600, 100))
    {
        r.on_packet(0, 1, ts, &p, &mut out);
    }
    assert_eq!(digits(&out), "11");
}

#[test]
fn start_lost_end_lost_and_all_ends_lost() {
    // Start packets lost: the digit is still reported once, at the first packet seen.
    let mut r = DtmfReceiver::new();
    let mut out = Vec::new();
    for (ts, p) in packets('9', 0, 100).into_iter().skip(3) {
        r.on_packet(0, 1, ts, &p, &mut out);
    }
    assert_eq!(digits(&out), "9");
    assert_eq!(ends(&out), vec![('9', 800)]);

    // Only end packets arrive.
    let mut out = Vec::new();
    for (ts, p) in packets('3', 4000, 100).into_iter().skip(4) {
        r.on_packet(0, 1, ts, &p, &mut out);
    }
    assert_eq!(digits(&out), "3");

    // Every end packet lost: the next event ends it, or the timeout does.
    let mut out = Vec::new();
    for (ts, p) in packets('4', 8000, 100).into_iter().take(4) {
        r.on_packet(1000, 1, ts, &p, &mut out);
    }
    for (ts, p) in packets('6', 9600, 100).into_iter().take(2) {
        r.on_packet(1100, 1, ts, &p, &mut out);
    }
    assert_eq!(digits(&out), "46");
    assert_eq!(ends(&out), vec![('4', 640)]);
    r.on_tick(1500, &mut out);
    assert_eq!(ends(&out).len(), 1, "not yet");
    r.on_tick(1100 + hotline_media::dtmf::END_TIMEOUT_MS, &mut out);
    assert_eq!(ends(&out), vec![('4', 640), ('6', 320)]);
}

#[test]
fn late_copies_of_an_ended_event_and_reordering() {
    let mut r = DtmfReceiver::new();
    let mut out = Vec::new();
    let first = packets('2', 0, 100);
    let second = packets('8', 1600, 100);
    for (ts, p) in &first[..5] {
        r.on_packet(0, 7, *ts, p, &mut out);
    }
    for (ts, p) in &second[..2] {
        r.on_packet(0, 7, *ts, p, &mut out);
    }
    // The first event's last end copies arrive after the second started.
    for (ts, p) in &first[5..] {
        r.on_packet(0, 7, *ts, p, &mut out);
    }
    for (ts, p) in &second[2..] {
        r.on_packet(0, 7, *ts, p, &mut out);
    }
    assert_eq!(digits(&out), "28");
}

#[test]
fn new_source_and_timestamp_jump() {
    let mut r = DtmfReceiver::new();
    let mut out = Vec::new();
    for (ts, p) in packets('A', 100, 60) {
        r.on_packet(0, 1, ts, &p, &mut out);
    }
    // Same timestamp from another SSRC (the far end restarted): a new press.
    for (ts, p) in packets('A', 100, 60) {
        r.on_packet(0, 2, ts, &p, &mut out);
    }
    // A timestamp far ahead (a jump): new press.
    for (ts, p) in packets('#', 4_000_000_000, 60) {
        r.on_packet(0, 2, ts, &p, &mut out);
    }
    assert_eq!(digits(&out), "AA#");
}

#[test]
fn garbage_is_ignored() {
    let mut r = DtmfReceiver::new();
    let mut out = Vec::new();
    r.on_packet(0, 1, 0, &[], &mut out);
    r.on_packet(0, 1, 0, &[200, 0x80, 0, 160], &mut out);
    assert!(out.is_empty());
}

#[test]
fn long_event_segments_are_one_press() {
    // §2.5.1.3: past 0xFFFF the sender starts a new segment at timestamp + 0xFFFF.
    let mut r = DtmfReceiver::new();
    let mut out = Vec::new();
    let seg1 = EventPayload {
        event: 0,
        end: false,
        volume: 10,
        duration: 0xffff,
    };
    let seg2 = EventPayload {
        event: 0,
        end: true,
        volume: 10,
        duration: 800,
    };
    r.on_packet(0, 1, 0, &seg1.to_bytes(), &mut out);
    r.on_packet(0, 1, 0xffff, &seg2.to_bytes(), &mut out);
    assert_eq!(digits(&out), "0");
    assert_eq!(ends(&out), vec![('0', 0xffff + 800)]);
}
