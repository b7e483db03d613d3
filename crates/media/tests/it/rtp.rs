use hotline_media::rtcp::{Report, ReportBlock, SenderInfo};
use hotline_media::rtp::*;
use proptest::prelude::*;

fn packet(seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 12 + payload.len()];
    let n = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: ts,
        ssrc,
    }
    .write(payload, &mut buf)
    .expect("fits");
    buf.truncate(n);
    buf
}

#[test]
fn packets_round_trip_and_odd_ones_parse() {
    let p = packet(65535, 0xFFFF_FF00, 0xDEAD_BEEF, &[0xFF; 160]);
    let r = RtpPacket::parse(&p).expect("parses");
    assert_eq!(
        (r.sequence, r.timestamp, r.ssrc),
        (65535, 0xFFFF_FF00, 0xDEAD_BEEF)
    );
    assert_eq!(r.payload.len(), 160);
    assert!(!r.marker && r.payload_type == 0);

    // Two CSRCs, an extension of one word, and 3 bytes of padding.
    let mut odd = vec![0xB2, 0x80 | 101, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
    odd.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
    odd.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]);
    odd.extend_from_slice(&[9, 9, 9, 9]);
    odd.extend_from_slice(&[0, 0, 3]);
    let r = RtpPacket::parse(&odd).expect("parses");
    assert!(r.marker);
    assert_eq!(r.payload_type, 101);
    assert_eq!(r.csrc_count, 2);
    assert_eq!(r.extension, Some((0xBEDE, &[1u8, 2, 3, 4][..])));
    assert_eq!(r.payload, &[9, 9, 9, 9]);

    assert_eq!(RtpPacket::parse(&odd[..11]), Err(RtpError::TooShort));
    let mut v1 = odd.clone();
    v1[0] = 0x40;
    assert_eq!(RtpPacket::parse(&v1), Err(RtpError::Version));
    assert_eq!(RtpPacket::parse(&odd[..20]), Err(RtpError::Truncated));
    let mut pad = packet(1, 1, 1, &[1, 2]);
    pad[0] |= 0x20;
    *pad.last_mut().expect("byte") = 9;
    assert_eq!(RtpPacket::parse(&pad), Err(RtpError::Padding));
    assert!(RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 0,
        timestamp: 0,
        ssrc: 0
    }
    .write(&[0; 160], &mut [0u8; 100])
    .is_err());
}

proptest! {
    #[test]
    fn parsing_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = RtpPacket::parse(&data);
        let _ = Report::parse_compound(&data);
    }
}

#[test]
fn serial_arithmetic_wraps() {
    assert!(seq_after(0, 65535));
    assert!(seq_after(10, 65530));
    assert!(!seq_after(65530, 10));
    assert!(!seq_after(5, 5));
    assert!(ts_after(5, u32::MAX - 5));
    assert!(!ts_after(u32::MAX - 5, 5));
}

/// Feeds packets `seqs` (20 ms apart, arriving on time) to fresh statistics.
fn feed(seqs: &[u16]) -> (ReceiveStats, Vec<Arrival>) {
    let mut s = ReceiveStats::new();
    let arrivals = seqs
        .iter()
        .map(|&q| {
            let ts = u32::from(q).wrapping_mul(160);
            s.on_packet(7, q, ts, ts.wrapping_add(1000))
        })
        .collect();
    (s, arrivals)
}

#[test]
fn statistics_count_loss_across_the_wrap() {
    let seqs: Vec<u16> = (65000u32..65000 + 1000)
        .map(|q| (q % 65536) as u16)
        .filter(|q| q % 10 != 7) // every tenth packet lost
        .collect();
    let (mut s, arrivals) = feed(&seqs);
    assert_eq!(arrivals[0], Arrival::Probation);
    assert_eq!(arrivals[1], Arrival::Restart);
    assert!(matches!(arrivals[2], Arrival::InOrder(_)));
    assert_eq!(s.extended_max(), 65536 + (65000 + 999 - 65536));
    // Counted from the second packet (the first is the source's probation).
    assert_eq!(s.expected(), 999);
    assert_eq!(s.cumulative_lost(), 99);
    // 99 of 999: 25/256 ≈ 9.8 %.
    assert_eq!(s.fraction_lost(), 25);
    assert_eq!(s.fraction_lost(), 0, "nothing new since the last report");
    assert_eq!(s.jitter(), 0, "packets on time");
}

#[test]
fn late_duplicate_and_reordered_packets_are_told_apart() {
    let (s, arrivals) = feed(&[1, 2, 3, 5, 4, 5, 6]);
    assert_eq!(arrivals[3], Arrival::InOrder(5));
    assert_eq!(arrivals[4], Arrival::Late(4));
    assert_eq!(arrivals[5], Arrival::Late(5), "a duplicate");
    assert_eq!(arrivals[6], Arrival::InOrder(6));
    assert_eq!(s.expected(), 5);
    // Six counted (the duplicate too): RFC 3550 lets loss go negative.
    assert_eq!(s.cumulative_lost(), -1);
}

#[test]
fn a_jump_is_trusted_only_when_followed_and_a_new_ssrc_restarts() {
    let (s, arrivals) = feed(&[100, 101, 102, 20000, 103, 104]);
    assert_eq!(arrivals[3], Arrival::Probation, "a lone jump is ignored");
    assert_eq!(arrivals[4], Arrival::InOrder(103));
    assert_eq!(s.expected(), 4);
    let (_, arrivals) = feed(&[100, 101, 102, 20000, 20001, 20002]);
    assert_eq!(
        arrivals[4],
        Arrival::Restart,
        "a jump followed by its successor"
    );
    assert_eq!(arrivals[5], Arrival::InOrder(20002));
    let mut s = ReceiveStats::new();
    for q in 0..5u16 {
        s.on_packet(1, q, u32::from(q) * 160, u32::from(q) * 160);
    }
    assert_eq!(
        s.on_packet(2, 9000, 0, 0),
        Arrival::Probation,
        "SSRC change"
    );
    assert_eq!(s.on_packet(2, 9001, 160, 160), Arrival::Restart);
    assert_eq!(s.ssrc(), Some(2));
    assert_eq!(s.expected(), 1);
}

#[test]
fn jitter_follows_rfc3550_a8() {
    let mut s = ReceiveStats::new();
    // Arrival alternates 0 and +40 timestamp units late: |D| = 40 each time after the first.
    let mut last = 0;
    for q in 0..400u16 {
        let ts = u32::from(q) * 160;
        let late = if q % 2 == 0 { 0 } else { 40 };
        s.on_packet(9, q, ts, ts + late);
        last = s.jitter();
    }
    // J converges to |D| = 40.
    assert!((38..=40).contains(&last), "jitter {last}");
}

#[test]
fn reports_round_trip_in_a_compound_packet() {
    let (mut stats, _) = feed(&(0..50u16).filter(|q| *q != 20).collect::<Vec<_>>());
    let block = ReportBlock::from_stats(&mut stats, 0x1234_5678, 65536).expect("a source");
    assert_eq!(block.cumulative_lost, 1);
    let sr = Report {
        ssrc: 42,
        sender: Some(SenderInfo {
            ntp: 0xE000_0000_8000_0000,
            rtp_timestamp: 8000,
            packets: 50,
            octets: 8000,
        }),
        blocks: vec![block],
    };
    let rr = Report {
        ssrc: 43,
        sender: None,
        blocks: vec![ReportBlock {
            cumulative_lost: -3,
            ..block
        }],
    };
    let mut buf = [0u8; 256];
    let n = sr.write(&mut buf).expect("fits");
    let m = rr.write(&mut buf[n..]).expect("fits");
    // An SDES in between is skipped.
    let sdes = [0x81, 202, 0, 1, 0, 0, 0, 42];
    let mut compound = buf[..n].to_vec();
    compound.extend_from_slice(&sdes);
    compound.extend_from_slice(&buf[n..n + m]);
    let parsed = Report::parse_compound(&compound).expect("parses");
    assert_eq!(parsed, vec![sr, rr]);
    assert!(Report::parse_compound(&compound[..compound.len() - 2]).is_err());
    assert!(is_rtcp(&compound) && !is_rtcp(&packet(1, 1, 1, &[0])));
}
