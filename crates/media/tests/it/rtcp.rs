//! RTCP between Hotline's end of a leg and a peer, in virtual time: sender and receiver
//! reports with the right counts, loss and jitter; round trip from an echoed SR; report
//! intervals; symmetric RTCP latching; strangers refused.

use std::net::SocketAddr;

use hotline_media::rtcp::{self, Report, ReportBlock, Reporter, INTERVAL_MS};
use hotline_media::rtp::{ReceiveStats, RtpPacket};
use hotline_media::sdp::{self, Codec, Direction, Negotiated};
use hotline_media::session::{Endpoint, Leg};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// 2026-11-24 00:00 UTC in NTP seconds, then `ms` later, as a 32.32 NTP timestamp.
fn ntp(ms: u64) -> u64 {
    let secs = 3_973_190_400u64 + ms / 1000;
    let frac = ((ms % 1000) << 32) / 1000;
    (secs << 32) | frac
}

fn negotiated(remote: &str, rtcp: Option<&str>) -> Negotiated {
    Negotiated {
        codec: Codec::Pcmu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        ptime: 20,
        remote: Some(addr(remote)),
        remote_rtcp: rtcp.map(addr),
        direction: Direction::SendRecv,
    }
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut b = vec![0u8; 172];
    let h = hotline_media::rtp::RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc,
    };
    let n = h.write(&[0xff; 160], &mut b).unwrap();
    b.truncate(n);
    b
}

/// Hotline plays to a phone for 30 s while the phone sends 20 ms packets, every tenth lost
/// and arriving 40 ms after it was sent; Hotline's reports reach the phone 40 ms later too
/// and the phone answers each SR at once with an RR (the network's round trip: 80 ms).
#[test]
fn hotline_reports_what_it_sends_and_hears_and_learns_the_round_trip() {
    let phone = addr("10.0.0.1:4000");
    let phone_rtcp = addr("10.0.0.1:4001");
    let mut ep = Endpoint::new(
        Leg::new(negotiated("10.0.0.1:4000", Some("10.0.0.1:4001")), 0, 11),
        0,
        7,
    );
    let mut phone_stats = ReceiveStats::new();
    let mut buf = [0u8; 1500];
    let mut events = Vec::new();
    let mut digits_sent_ssrc = None;
    let mut reports = Vec::new();
    for now in 0..30_000u64 {
        // The phone's audio, sent at `now - 40`.
        if now >= 40 && (now - 40) % 20 == 0 {
            let seq = ((now - 40) / 20) as u16;
            if seq % 10 != 9 {
                ep.receive(now, phone, &rtp(seq, 0xabcd), &mut events);
            }
        }
        while let Some((n, to)) = ep.transmit(now, &mut buf, &mut events) {
            assert_eq!(to, phone);
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            digits_sent_ssrc = Some(p.ssrc);
            // The phone hears every packet, 40 ms late (its clock: timestamp units).
            phone_stats.on_packet(p.ssrc, p.sequence, p.timestamp, ((now + 40) * 8) as u32);
        }
        if let Some((n, to)) = ep.leg.rtcp_report(now, ntp(now), &mut buf) {
            assert_eq!(to, phone_rtcp);
            let parsed = Report::parse_compound(&buf[..n]).expect("a compound that parses");
            assert_eq!(parsed.len(), 1, "one report, then the SDES (skipped)");
            // Then an SDES with the CNAME (16 random hex digits).
            let first = (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1) * 4;
            assert_eq!(buf[first + 1], 202, "SDES follows");
            assert_eq!((buf[first + 8], buf[first + 9]), (1, 16), "a CNAME item");
            assert!(buf[first + 10..first + 26]
                .iter()
                .all(u8::is_ascii_hexdigit));
            reports.push((now, parsed[0].clone()));
            let r = &parsed[0];
            // The phone takes the SR 40 ms later and answers at once.
            if let Some(s) = &r.sender {
                let at = now + 40;
                let block =
                    ReportBlock::from_stats(&mut phone_stats, rtcp::ntp_middle(s.ntp), 0).unwrap();
                let rr = Report {
                    ssrc: 0xabcd,
                    sender: None,
                    blocks: vec![block],
                };
                let mut out = [0u8; 200];
                let m = rr.write(&mut out).unwrap();
                assert!(ep.leg.on_rtcp(at + 40, ntp(at + 40), phone_rtcp, &out[..m]));
            }
        }
    }
    // About every 5 s (randomized), the first sooner.
    assert!((4..=14).contains(&reports.len()), "{}", reports.len());
    let low = INTERVAL_MS / 2 * 10_000 / 12_183;
    let high = INTERVAL_MS * 3 / 2 * 10_000 / 12_183;
    assert!(reports[0].0 <= INTERVAL_MS * 3 / 4 * 10_000 / 12_183 + 1);
    for w in reports.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!((low..=high + 1).contains(&gap), "gap {gap}");
    }
    // Every one an SR under the SSRC Hotline sends with, counting what was sent.
    let (at, last) = reports.last().unwrap();
    let s = last.sender.expect("Hotline sends audio: an SR");
    assert_eq!(Some(last.ssrc), digits_sent_ssrc);
    assert_eq!(u64::from(s.packets), at / 20 + 1);
    assert_eq!(u64::from(s.octets), (at / 20 + 1) * 160);
    assert_eq!(s.ntp, ntp(*at));
    // Its block is about the phone's stream: a tenth lost, no jitter (steady delay).
    let b = last.blocks[0];
    assert_eq!(b.ssrc, 0xabcd);
    assert!((24..=27).contains(&b.fraction_lost), "{}", b.fraction_lost);
    assert!(b.cumulative_lost > 0);
    assert_eq!(b.jitter, 0);
    let q = ep.leg.quality();
    assert_eq!(q.reports_sent as usize, reports.len());
    assert!(q.packets_lost >= 140 && q.packets_lost <= 150, "{q:?}");
    assert!(q.packets_received > 1300, "{q:?}");
    // The phone's answers: 80 ms round trip, nothing lost of ours.
    assert_eq!(q.remote.reports as usize, reports.len());
    assert_eq!(q.remote.rtt_ms, Some(80));
    assert_eq!(q.remote.fraction_lost, 0.0);
    assert_eq!(q.remote.cumulative_lost, 0);
}

#[test]
fn a_receiver_sends_rr_and_the_peers_sr_is_echoed_with_the_delay_since() {
    let peer = addr("192.0.2.7:30000");
    let mut leg = Leg::new(negotiated("192.0.2.7:30000", None), 0, 3);
    let mut d = Vec::new();
    // The peer's SR arrives before any report of ours; its RTP too.
    let sr = Report {
        ssrc: 0x55,
        sender: Some(rtcp::SenderInfo {
            ntp: ntp(1000) ^ 0x1234_0000,
            rtp_timestamp: 8000,
            packets: 50,
            octets: 8000,
        }),
        blocks: vec![],
    };
    let mut b = [0u8; 200];
    let n = sr.write(&mut b).unwrap();
    // Symmetric RTCP: the report comes from a port other than RTP's + 1 (a NAT).
    let nat = addr("192.0.2.7:61002");
    assert!(leg.on_rtcp(1000, ntp(1000), nat, &b[..n]));
    for seq in 0..100u16 {
        leg.receive(1000 + u64::from(seq) * 20, peer, &rtp(seq, 0x55), &mut d);
    }
    let mut out = [0u8; 300];
    let mut sent = None;
    for now in 1000..10_000 {
        if let Some(r) = leg.rtcp_report(now, ntp(now), &mut out) {
            sent = Some((now, r));
            break;
        }
    }
    let (at, (n, to)) = sent.expect("a report within the first interval");
    assert_eq!(to, nat, "reports go where the peer's RTCP comes from");
    let r = &Report::parse_compound(&out[..n]).unwrap()[0];
    assert!(r.sender.is_none(), "Hotline sent nothing: an RR");
    let block = r.blocks[0];
    assert_eq!(block.ssrc, 0x55);
    assert_eq!(block.last_sr, rtcp::ntp_middle(ntp(1000) ^ 0x1234_0000));
    let dlsr_ms = u64::from(block.delay_since_last_sr) * 1000 / 65536;
    assert!(
        dlsr_ms.abs_diff(at - 1000) <= 1,
        "{dlsr_ms} vs {}",
        at - 1000
    );
    assert_eq!(block.cumulative_lost, 0);
}

#[test]
fn rtcp_from_another_host_or_garbage_is_refused() {
    let mut leg = Leg::new(negotiated("10.0.0.1:4000", Some("10.0.0.1:4001")), 0, 5);
    let rr = Report {
        ssrc: 1,
        sender: None,
        blocks: vec![],
    };
    let mut b = [0u8; 64];
    let n = rr.write(&mut b).unwrap();
    assert!(!leg.on_rtcp(10, ntp(10), addr("203.0.113.9:4001"), &b[..n]));
    assert!(!leg.on_rtcp(10, ntp(10), addr("10.0.0.1:4001"), &[0x80, 200, 0, 9, 1]));
    assert_eq!(leg.rtcp.rejected, 2);
    let mut out = [0u8; 200];
    let to = (0..10_000)
        .find_map(|now| leg.rtcp_report(now, ntp(now), &mut out))
        .map(|(_, to)| to);
    assert_eq!(
        to,
        Some(addr("10.0.0.1:4001")),
        "the SDP's address, not the stranger's"
    );
}

#[test]
fn a_new_source_toward_the_peer_starts_the_sender_counts_again() {
    let mut r = Reporter::new(0, 1);
    for i in 0..10 {
        r.on_sent(i * 20, 7, i as u32 * 160, 160);
    }
    for i in 0..3 {
        r.on_sent(200 + i * 20, 8, i as u32 * 160, 160);
    }
    let mut stats = ReceiveStats::new();
    let mut out = [0u8; 200];
    let n = (0..10_000)
        .find_map(|now| r.report(now.max(260), ntp(now), &mut stats, &mut out))
        .unwrap();
    let rep = &Report::parse_compound(&out[..n]).unwrap()[0];
    assert_eq!(rep.ssrc, 8);
    let s = rep.sender.unwrap();
    assert_eq!((s.packets, s.octets), (3, 480));
    assert!(rep.blocks.is_empty(), "nothing heard yet: no block");
}

#[test]
fn the_peers_rtcp_address_comes_from_its_sdp() {
    let local = sdp::LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port: 20000,
        codecs: vec![Codec::Pcmu],
        dtmf_payload_type: 101,
        ptime: 20,
        direction: Direction::SendRecv,
        session_id: 1,
        session_version: 1,
    };
    let offer = |extra: &str| {
        format!(
            "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 0\r\n{extra}"
        )
    };
    let (n, _) = sdp::answer(offer("").as_bytes(), &local).unwrap();
    assert_eq!(n.remote_rtcp, Some(addr("198.51.100.1:40001")));
    let (n, _) = sdp::answer(offer("a=rtcp:40111\r\n").as_bytes(), &local).unwrap();
    assert_eq!(n.remote_rtcp, Some(addr("198.51.100.1:40111")));
    let (n, _) = sdp::answer(
        offer("a=rtcp:53020 IN IP4 126.16.64.4\r\n").as_bytes(),
        &local,
    )
    .unwrap();
    assert_eq!(n.remote_rtcp, Some(addr("126.16.64.4:53020")));
    // Anchoring: Hotline takes RTCP on its own port above RTP, so neither side is told to mux.
    let parsed =
        sdp::SessionDescription::parse(offer("a=rtcp-mux\r\na=rtcp:40000\r\n").as_bytes()).unwrap();
    let anchored = sdp::anchor(&parsed, "127.0.0.1".parse().unwrap(), 20000, 1, 1).unwrap();
    assert!(!anchored.contains("rtcp"), "{anchored}");
}
