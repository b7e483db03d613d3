//! The ring against real sockets on 127.0.0.1.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hotline_uring::{Event, Packet, Ring, SocketId};

fn bound() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind")
}

fn peer() -> UdpSocket {
    let s = bound();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Waits (at most 5 s) until `want` takes an event; the others are kept in `seen`.
fn wait_for<T>(
    ring: &mut Ring,
    seen: &mut Vec<Event>,
    mut want: impl FnMut(&mut Ring, Event) -> Result<T, Event>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        ring.wait(Duration::from_millis(100)).expect("wait");
        while let Some(e) = ring.next_event() {
            match want(ring, e) {
                Ok(t) => return t,
                Err(e) => seen.push(e),
            }
        }
    }
    panic!("nothing wanted within 5 s; seen {seen:?}");
}

/// A ring of `buffers` holding one socket (added with `token`): the ring, the socket's id
/// and address, and a peer to send to it from.
fn one_socket(buffers: u16, token: u64) -> (Ring, SocketId, SocketAddr, UdpSocket) {
    let mut ring = Ring::new(buffers).expect("io_uring");
    let a = bound();
    let a_addr = a.local_addr().unwrap();
    let id = ring.add(a, token).unwrap();
    (ring, id, a_addr, peer())
}

fn packet(ring: &mut Ring, seen: &mut Vec<Event>) -> (u64, SocketId, SocketAddr, Packet) {
    wait_for(ring, seen, |_, e| match e {
        Event::Packet {
            token,
            socket,
            from,
            packet,
        } => Ok((token, socket, from, packet)),
        other => Err(other),
    })
}

#[test]
fn relays_a_datagram_rewritten_in_place_from_the_other_socket() {
    relay_through(Ring::new(64).expect("io_uring"));
}

/// One socket registered with the kernel, the other used by its descriptor.
#[test]
fn sockets_beyond_the_registered_table_work_by_descriptor() {
    relay_through(Ring::with_registered_files(64, 1).expect("io_uring"));
}

fn relay_through(mut ring: Ring) {
    let (a, b) = (bound(), bound());
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let id_a = ring.add(a, 10).unwrap();
    let id_b = ring.add(b, 11).unwrap();
    let (x, y) = (peer(), peer());
    let mut seen = Vec::new();
    for round in 0..200u32 {
        x.send_to(&round.to_be_bytes(), a_addr).unwrap();
        let (token, socket, from, p) = packet(&mut ring, &mut seen);
        assert_eq!((token, socket, from), (10, id_a, x.local_addr().unwrap()));
        assert_eq!(p.len(), 4);
        let data = ring.data(&p);
        assert_eq!(data, round.to_be_bytes());
        data[0] = 0xee;
        ring.send(id_b, p, 4, y.local_addr().unwrap()).unwrap();
        let mut got = [0u8; 16];
        // The send goes out at the next wait.
        ring.wait(Duration::from_millis(1)).unwrap();
        let (n, src) = y.recv_from(&mut got).expect("relayed");
        assert_eq!(src, b_addr, "sent from the other socket");
        let mut want = round.to_be_bytes();
        want[0] = 0xee;
        assert_eq!(&got[..n], want);
    }
    // 200 packets through 64 buffers: every buffer came back.
    assert_eq!(ring.stats().received, 200);
    assert_eq!(ring.stats().sent, 200);
    assert_eq!(ring.stats().out_of_buffers, 0);
    assert!(seen.is_empty(), "{seen:?}");
}

#[test]
fn out_of_buffers_loses_only_what_did_not_fit_and_receiving_resumes() {
    let (mut ring, id, a_addr, x) = one_socket(4, 1);
    // Six datagrams, four buffers, none given back yet.
    for i in 0..6u8 {
        x.send_to(&[i], a_addr).unwrap();
    }
    let mut held = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..4 {
        held.push(packet(&mut ring, &mut seen).3);
    }
    for p in held.drain(..) {
        ring.release(p);
    }
    // The receive that ran out of buffers is armed again: what waited in the socket comes,
    // then new datagrams.
    x.send_to(&[9], a_addr).unwrap();
    let mut got = Vec::new();
    while got.last() != Some(&9) {
        let (_, socket, _, p) = packet(&mut ring, &mut seen);
        assert_eq!(socket, id);
        got.push(ring.data(&p)[0]);
        ring.release(p);
    }
    assert!(ring.stats().out_of_buffers >= 1, "{:?}", ring.stats());
    // The kernel kept the two that found no buffer in the socket: nothing was lost.
    assert_eq!(got, [4, 5, 9]);
}

#[test]
fn a_removed_socket_comes_back_after_its_sends_and_a_waker_wakes() {
    let (mut ring, id, a_addr, x) = one_socket(16, 7);
    x.send_to(b"hi", a_addr).unwrap();
    let mut seen = Vec::new();
    let (_, _, from, p) = packet(&mut ring, &mut seen);
    ring.send(id, p, 2, from).unwrap();
    ring.remove(id).unwrap();
    let socket = wait_for(&mut ring, &mut seen, |_, e| match e {
        Event::Removed { token: 7, socket } => Ok(socket),
        other => Err(other),
    });
    assert_eq!(socket.local_addr().unwrap(), a_addr);
    let mut got = [0u8; 4];
    assert_eq!(
        x.recv(&mut got).unwrap(),
        2,
        "the send queued before removal went out"
    );
    assert_eq!(ring.sockets(), 0);
    assert_eq!(
        ring.stats().receive_errors,
        0,
        "a cancelled receive is no error"
    );
    // Nothing more is received on it through the ring.
    x.send_to(b"late", a_addr).unwrap();
    ring.wait(Duration::from_millis(100)).unwrap();
    assert!(ring.next_event().is_none());
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(
        socket.recv(&mut got).unwrap(),
        4,
        "the socket works on its own again"
    );
    drop(socket);
    UdpSocket::bind(a_addr).expect("the port is free once the socket given back is closed");

    let waker = ring.waker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        waker.wake();
    });
    let start = Instant::now();
    wait_for(&mut ring, &mut seen, |_, e| match e {
        Event::Woken => Ok(()),
        other => Err(other),
    });
    assert!(start.elapsed() < Duration::from_secs(4));
    t.join().unwrap();
    assert!(seen.is_empty(), "{seen:?}");
}

#[test]
fn ipv6_sources_and_destinations() {
    let Ok(a) = UdpSocket::bind("[::1]:0") else {
        return; // no IPv6 loopback on this machine
    };
    let mut ring = Ring::new(16).expect("io_uring");
    let a_addr = a.local_addr().unwrap();
    let id = ring.add(a, 3).unwrap();
    let x = UdpSocket::bind("[::1]:0").unwrap();
    x.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    x.send_to(b"v6", a_addr).unwrap();
    let mut seen = Vec::new();
    let (_, _, from, p) = packet(&mut ring, &mut seen);
    assert_eq!(from, x.local_addr().unwrap());
    ring.send(id, p, 2, from).unwrap();
    ring.wait(Duration::from_millis(1)).unwrap();
    let mut got = [0u8; 4];
    let (n, src) = x.recv_from(&mut got).unwrap();
    assert_eq!((&got[..n], src), (&b"v6"[..], a_addr));
}

#[test]
fn a_batched_wait_gathers_what_came_within_its_time() {
    let (mut ring, _, a_addr, x) = one_socket(64, 1);
    for i in 0..3u8 {
        x.send_to(&[i], a_addr).unwrap();
    }
    // Asking for more completions than will come: the wait ends at its timeout with all three.
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < 3 && start.elapsed() < Duration::from_secs(5) {
        ring.wait_for(1000, Duration::from_millis(50)).unwrap();
        while let Some(e) = ring.next_event() {
            if let Event::Packet { packet, .. } = e {
                got.push(ring.data(&packet)[0]);
                ring.release(packet);
            }
        }
    }
    assert_eq!(got, [0, 1, 2]);
    assert!(
        start.elapsed() >= Duration::from_millis(40),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_wait_for_any_number_of_completions_lasts_until_its_timeout() {
    // The relay asks for "as many as come" (a huge count). The kernel takes the count as an
    // int: past i32::MAX it was negative there and every such wait returned at once, so a
    // busy relay thread spun instead of gathering a batch per wake-up.
    let (mut ring, _, a_addr, x) = one_socket(64, 1);
    for count in [usize::MAX, usize::MAX >> 1, u32::MAX as usize, 1 << 31] {
        x.send_to(&[7], a_addr).unwrap();
        let start = Instant::now();
        let mut got = 0;
        while got == 0 && start.elapsed() < Duration::from_secs(5) {
            ring.wait_for(count, Duration::from_millis(50)).unwrap();
            while let Some(e) = ring.next_event() {
                if let Event::Packet { packet, .. } = e {
                    got += 1;
                    ring.release(packet);
                }
            }
        }
        assert_eq!(got, 1, "count {count}");
        assert!(
            start.elapsed() >= Duration::from_millis(40),
            "count {count}: the wait ended after {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_connected_socket_hears_only_its_peer_sends_without_an_address_and_is_given_back_open() {
    // Bound to a port it names, as the media engine's sockets are (see `Ring::connect`).
    let mut ring = Ring::new(16).expect("io_uring");
    let a_addr = bound().local_addr().unwrap();
    let id = ring.add(UdpSocket::bind(a_addr).expect("bind"), 3).unwrap();
    let x = peer();
    let stranger = peer();
    let x_addr = x.local_addr().unwrap();
    ring.connect(id, Some(x_addr)).unwrap();
    let mut seen = Vec::new();
    let mut got = [0u8; 16];
    for round in 0..20u8 {
        // The stranger writes first: were it heard, its datagram would come first.
        stranger.send_to(&[0xee, round], a_addr).unwrap();
        x.send_to(&[0x01, round], a_addr).unwrap();
        let (token, socket, from, p) = packet(&mut ring, &mut seen);
        assert_eq!((token, socket, from), (3, id, x_addr));
        assert_eq!(ring.data(&p), &[0x01, round]);
        ring.send(id, p, 2, x_addr).unwrap();
        ring.wait(Duration::from_millis(1)).unwrap();
        assert_eq!(x.recv_from(&mut got).unwrap(), (2, a_addr));
        assert_eq!(&got[..2], &[0x01, round], "sent back, without an address");
    }
    assert!(seen.is_empty(), "only the peer is heard: {seen:?}");
    // A send elsewhere still names its destination.
    x.send_to(b"to y", a_addr).unwrap();
    let (_, _, _, p) = packet(&mut ring, &mut seen);
    ring.send(id, p, 4, stranger.local_addr().unwrap()).unwrap();
    ring.wait(Duration::from_millis(1)).unwrap();
    assert_eq!(stranger.recv(&mut got).unwrap(), 4);

    // Unconnected, it hears anyone again.
    ring.connect(id, None).unwrap();
    stranger.send_to(b"now", a_addr).unwrap();
    let (_, _, from, p) = packet(&mut ring, &mut seen);
    assert_eq!(from, stranger.local_addr().unwrap());
    ring.release(p);

    // Given back unconnected, even when it was connected at removal.
    ring.connect(id, Some(x_addr)).unwrap();
    ring.remove(id).unwrap();
    let socket = wait_for(&mut ring, &mut seen, |_, e| match e {
        Event::Removed { token: 3, socket } => Ok(socket),
        other => Err(other),
    });
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stranger.send_to(b"back", a_addr).unwrap();
    assert_eq!(
        socket.recv_from(&mut got).unwrap().1,
        stranger.local_addr().unwrap()
    );
    assert_eq!(ring.stats().receive_errors, 0);
}

#[test]
fn a_connected_socket_told_its_peer_is_gone_goes_on_receiving() {
    let (mut ring, id, a_addr, x) = one_socket(16, 4);
    let x_addr = x.local_addr().unwrap();
    ring.connect(id, Some(x_addr)).unwrap();
    let mut seen = Vec::new();
    x.send_to(b"hello", a_addr).unwrap();
    let (_, _, _, p) = packet(&mut ring, &mut seen);
    // The peer closes its port; what is sent to it comes back as "port unreachable", which
    // the kernel reports on the connected socket (ECONNREFUSED) and ends its receive.
    drop(x);
    ring.send(id, p, 5, x_addr).unwrap();
    for _ in 0..3 {
        ring.wait(Duration::from_millis(50)).unwrap();
        while let Some(e) = ring.next_event() {
            seen.push(e);
        }
    }
    assert_eq!(ring.stats().peer_errors, 1, "{:?}", ring.stats());
    // The peer comes back on the same port (a phone restarting): it is heard.
    let x = UdpSocket::bind(x_addr).expect("the peer's port again");
    x.send_to(b"again", a_addr).unwrap();
    let (_, _, from, p) = packet(&mut ring, &mut seen);
    assert_eq!(from, x_addr);
    assert_eq!(ring.data(&p), b"again");
    ring.release(p);
    assert_eq!(ring.stats().receive_errors, 0, "{:?}", ring.stats());
}
