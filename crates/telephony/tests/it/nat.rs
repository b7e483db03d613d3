//! A bridged leg behind NAT, on both relays: while its phone is heard, nobody else's packets
//! reach the other side (on the relay threads the kernel drops them: the leg's socket is
//! connected to the phone); when the phone's NAT mapping changes (its packets come from a new
//! port, the old one falls silent), the new source takes over after
//! `RELATCH_AFTER_MS`, both ways.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline_media::sdp::{Codec, Direction, Negotiated};
use hotline_media::session::RELATCH_AFTER_MS;
use tokio::net::UdpSocket;

fn negotiated(remote: SocketAddr) -> Negotiated {
    Negotiated {
        codec: Codec::Pcmu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        ptime: 20,
        remote: Some(remote),
        remote_rtcp: None,
        direction: Direction::SendRecv,
    }
}

/// The SSRCs of what waits on `socket`.
fn drain(socket: &UdpSocket) -> Vec<u32> {
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Ok(n) = socket.try_recv(&mut buf) {
        if n >= 12 {
            out.push(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]));
        }
    }
    out
}

async fn bound() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_is_held_by_its_phone_and_follows_it_to_a_new_port_on_the_relay_threads() {
    nat_rebinding(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_is_held_by_its_phone_and_follows_it_to_a_new_port_on_the_runtime() {
    nat_rebinding(false).await;
}

async fn nat_rebinding(io_uring: bool) {
    let dir = tempfile::tempdir().expect("dir");
    let media = crate::loopback_media(io_uring, dir.path());
    // Phone A, first from its old mapping, then from a new one; phone B; a stranger.
    let (a_old, a_new, b, stranger) = (bound().await, bound().await, bound().await, bound().await);
    let [(pa, to_a), (pb, to_b)] = crate::bridge_ports(&media);
    let bridge = media.start_bridge(
        (pa, negotiated(a_old.local_addr().expect("addr"))),
        (pb, negotiated(b.local_addr().expect("addr"))),
        "nat",
    );
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    // One second of both phones talking, and a stranger writing to A's port all along. The
    // stranger's socket is connected, so it is told when the kernel refuses its datagrams.
    stranger.connect(to_a).await.expect("connect");
    let (mut at_b, mut at_a_old, mut refused) = (Vec::new(), 0usize, 0usize);
    for seq in 0..50u16 {
        tick.tick().await;
        a_old
            .send_to(&crate::pcmu_packet(0xaaaa, seq), to_a)
            .await
            .expect("send");
        match stranger.send(&crate::pcmu_packet(0x5555, seq)).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
            other => {
                other.expect("the stranger's send");
            }
        }
        b.send_to(&crate::pcmu_packet(0xbbbb, seq), to_b)
            .await
            .expect("send");
        at_b.extend(drain(&b));
        at_a_old += drain(&a_old).len();
    }
    assert!(
        at_b.iter().filter(|&&s| s == 0xaaaa).count() >= 40,
        "{at_b:?}"
    );
    assert!(!at_b.contains(&0x5555), "the stranger was relayed");
    assert!(at_a_old >= 40, "A heard {at_a_old}");
    // On the relay threads A's socket is connected to A once latched: the kernel turns the
    // stranger away ("port unreachable"). The runtime reads and drops its datagrams itself.
    if io_uring {
        assert!(refused > 0, "the kernel never refused the stranger");
    } else {
        assert_eq!(refused, 0);
    }

    // A's mapping changes: its packets now come from another port (marked 0xaaab here).
    let moved = Instant::now();
    let (mut b_heard_new, mut new_heard_b) = (None, None);
    let mut seq = 50u16;
    while (b_heard_new.is_none() || new_heard_b.is_none())
        && moved.elapsed() < Duration::from_secs(5)
    {
        tick.tick().await;
        a_new
            .send_to(&crate::pcmu_packet(0xaaab, seq), to_a)
            .await
            .expect("send");
        b.send_to(&crate::pcmu_packet(0xbbbb, seq), to_b)
            .await
            .expect("send");
        seq = seq.wrapping_add(1);
        if b_heard_new.is_none() && drain(&b).contains(&0xaaab) {
            b_heard_new = Some(moved.elapsed());
        }
        if new_heard_b.is_none() && drain(&a_new).contains(&0xbbbb) {
            new_heard_b = Some(moved.elapsed());
        }
    }
    let relatch = Duration::from_millis(RELATCH_AFTER_MS);
    let b_heard_new = b_heard_new.expect("B hears A from its new port within 5 s");
    let new_heard_b = new_heard_b.expect("A's new port hears B within 5 s");
    for (what, when) in [
        ("B heard A's new port", b_heard_new),
        ("A's new port heard B", new_heard_b),
    ] {
        assert!(
            when >= relatch - Duration::from_millis(100)
                && when < relatch + Duration::from_millis(900),
            "{what} after {when:?}: the old source must be silent {relatch:?} first"
        );
    }
    bridge.stop();
    assert_eq!(media.phases_on_relay_threads(), u64::from(io_uring));
}
