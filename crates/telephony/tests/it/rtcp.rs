//! RTCP on a bridge's legs, with two scripted peers on 127.0.0.1: each peer gets Hotline's
//! sender reports on its RTCP port (the stream it receives, with a block about its own), a
//! peer's answer gives the leg its round trip, and each leg's figures come out when the
//! session ends. Both relays: the io_uring threads and the runtime.

use std::net::SocketAddr;
use std::time::Duration;

use hotline_media::rtcp::{self, Report, ReportBlock};
use hotline_media::sdp::{Codec, Direction, Negotiated};
use hotline_telephony::media::MediaEvent;
use tokio::net::UdpSocket;

/// A peer's RTP and RTCP sockets on an even port and the one above it.
async fn peer() -> (UdpSocket, UdpSocket) {
    for _ in 0..100 {
        let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let port = rtp.local_addr().expect("addr").port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)).await {
            return (rtp, rtcp);
        }
    }
    panic!("no free even/odd port pair");
}

fn negotiated(rtp: &UdpSocket) -> Negotiated {
    let at = rtp.local_addr().expect("addr");
    Negotiated {
        codec: Codec::Pcmu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        ptime: 20,
        remote: Some(at),
        remote_rtcp: Some(SocketAddr::new(at.ip(), at.port() + 1)),
        direction: Direction::SendRecv,
    }
}

/// Every report waiting on a peer's RTCP socket, with where it came from.
fn reports(rtcp: &UdpSocket) -> Vec<(Report, SocketAddr)> {
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Ok((n, from)) = rtcp.try_recv_from(&mut buf) {
        let parsed = Report::parse_compound(&buf[..n]).expect("Hotline's RTCP parses");
        out.extend(parsed.into_iter().map(|r| (r, from)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_leg_reports_and_learns_its_round_trip_on_the_relay_threads() {
    rtcp_per_leg(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_leg_reports_and_learns_its_round_trip_on_the_runtime() {
    rtcp_per_leg(false).await;
}

async fn rtcp_per_leg(io_uring: bool) {
    let dir = tempfile::tempdir().expect("dir");
    let media = crate::loopback_media(io_uring, dir.path());
    let mut events = media.subscribe();
    let (a_rtp, a_rtcp) = peer().await;
    let (b_rtp, b_rtcp) = peer().await;
    let [(pa, to_a), (pb, to_b)] = crate::bridge_ports(&media);
    let bridge = media.start_bridge((pa, negotiated(&a_rtp)), (pb, negotiated(&b_rtp)), "rtcp");
    let (mut to_peer_a, mut to_peer_b) = (Vec::new(), Vec::new());
    let mut relayed = [0u32; 2];
    let mut buf = [0u8; 1500];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    // Seven seconds of both peers talking: Hotline's first report comes within about three,
    // the next within six more.
    for seq in 0..350u16 {
        tick.tick().await;
        a_rtp
            .send_to(&crate::pcmu_packet(0xaaaa, seq), to_a)
            .await
            .expect("send");
        b_rtp
            .send_to(&crate::pcmu_packet(0xbbbb, seq), to_b)
            .await
            .expect("send");
        while a_rtp.try_recv_from(&mut buf).is_ok() {
            relayed[0] += 1;
        }
        while b_rtp.try_recv_from(&mut buf).is_ok() {
            relayed[1] += 1;
        }
        // Peer A answers every sender report at once, echoing it; peer B sends no RTCP.
        for (r, from) in reports(&a_rtcp) {
            if let Some(s) = r.sender {
                let rr = Report {
                    ssrc: 0xaaaa,
                    sender: None,
                    blocks: vec![ReportBlock {
                        ssrc: r.ssrc,
                        fraction_lost: 0,
                        cumulative_lost: 0,
                        extended_max: u32::from(seq),
                        jitter: 0,
                        last_sr: rtcp::ntp_middle(s.ntp),
                        delay_since_last_sr: 0,
                    }],
                };
                let mut out = [0u8; 100];
                let n = rr.write(&mut out).expect("fits");
                a_rtcp.send_to(&out[..n], from).await.expect("send");
            }
            to_peer_a.push((r, from));
        }
        to_peer_b.extend(reports(&b_rtcp));
    }
    bridge.stop();
    let mut quality = [None, None];
    tokio::time::timeout(Duration::from_secs(10), async {
        while quality.iter().any(Option::is_none) {
            if let Ok(MediaEvent::Quality {
                caller, quality: q, ..
            }) = events.recv().await
            {
                quality[usize::from(!caller)] = Some(q);
            }
        }
    })
    .await
    .expect("both legs' figures when the session ends");
    let [Some(qa), Some(qb)] = quality else {
        unreachable!()
    };
    assert!(relayed.iter().all(|&n| n > 300), "relayed {relayed:?}");
    // What each peer got: sender reports from the RTCP port above its leg's RTP port,
    // under the SSRC of the stream it receives (the other peer's), with a block about its own.
    for (got, hotline, mine, theirs) in [
        (&to_peer_a, to_a, 0xaaaa, 0xbbbb),
        (&to_peer_b, to_b, 0xbbbb, 0xaaaa),
    ] {
        assert!(!got.is_empty(), "a report within 7 s");
        for (r, from) in got {
            assert_eq!(from.port(), hotline.port() + 1);
            assert_eq!(r.ssrc, theirs);
            let s = r
                .sender
                .expect("an SR: Hotline relays the other peer's audio to it");
            assert!(s.packets > 0 && s.octets == s.packets * 160, "{s:?}");
            let b = r.blocks.first().expect("a block about the peer's stream");
            assert_eq!((b.ssrc, b.cumulative_lost), (mine, 0));
        }
    }
    assert!(qa.packets_received > 300 && qb.packets_received > 300);
    assert_eq!((qa.packets_lost, qb.packets_lost), (0, 0));
    assert!(qa.reports_sent >= 1 && qb.reports_sent >= 1);
    assert!(qa.remote.reports >= 1, "peer A's answers were read: {qa:?}");
    let rtt = qa.remote.rtt_ms.expect("a round trip from A's echo");
    assert!(rtt < 100, "loopback round trip {rtt} ms");
    assert_eq!(qb.remote.reports, 0, "B sent no RTCP: {qb:?}");
    assert_eq!(qb.remote.rtt_ms, None);
    assert_eq!(media.phases_on_relay_threads(), u64::from(io_uring));
}
