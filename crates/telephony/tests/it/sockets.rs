//! Raw sockets against the running service: OPTIONS, TCP framing and pings, RFC 4475 answers
//! over the wire, rport, scanners dropped, brute force banned, the same answers for existing and
//! missing extensions.

use std::time::Duration;

use hotline_sip::{parse_datagram, HeaderName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::world;

fn options(call: &str, ua: &str) -> String {
    format!(
        "OPTIONS sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{call};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: {call}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A REGISTER for `ext` (CSeq `cseq`), with an Authorization answering `challenge` with
/// `password` when given.
fn register(
    ext: &str,
    call: &str,
    cseq: u32,
    answer: Option<(&hotline_sip::AuthParams, &str)>,
) -> String {
    let auth = answer
        .map(|(c, pw)| {
            let value = hotline_sip::digest::authorization(
                c,
                "REGISTER",
                "sip:127.0.0.1",
                ext,
                pw,
                "cn",
                1,
            )
            .expect("digest");
            format!("Authorization: {value}\r\n")
        })
        .unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{call}{cseq}\r\nFrom: <sip:{ext}@127.0.0.1>;tag=r\r\nTo: <sip:{ext}@127.0.0.1>\r\nCall-ID: {call}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{ext}@127.0.0.1:9>\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

async fn ask(
    sock: &UdpSocket,
    to: std::net::SocketAddr,
    data: &[u8],
) -> Option<hotline_sip::Message> {
    sock.send_to(data, to).await.expect("send");
    let mut buf = vec![0u8; 65_536];
    match tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(parse_datagram(&buf[..n]).expect("our answer parses")),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_rport_and_the_rfc4475_answers_over_udp() {
    let w = world(|_| {}).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local = sock.local_addr().expect("addr");
    let r = ask(&sock, w.addr(), options("o1", "test").as_bytes())
        .await
        .expect("an answer");
    assert_eq!(r.status(), Some(200));
    assert!(r
        .value(&HeaderName::Allow)
        .is_some_and(|a| a.contains("INVITE")));
    let via = r.top_via().expect("via");
    assert_eq!(
        via.rport(),
        Some(Some(local.port())),
        "rport filled in (RFC 3581)"
    );
    assert_eq!(via.received(), Some("127.0.0.1"));
    for (name, code) in [
        ("badvers", 505),
        ("unkscm", 416),
        ("bext01", 420),
        ("invut", 415),
        ("insuf", 400),
        ("intmeth", 501),
        ("mismatch01", 400),
    ] {
        let data = std::fs::read(format!(
            "{}/../sip/tests/data/rfc4475/{name}.dat",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("corpus");
        let r = ask(&sock, w.addr(), &data)
            .await
            .unwrap_or_else(|| panic!("{name}: no answer"));
        assert_eq!(r.status(), Some(code), "{name}");
    }
    w.sip.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_split_and_coalesced_messages_and_pings() {
    let w = world(|_| {}).await;
    let mut s = TcpStream::connect(w.sip.tcp_addr()).await.expect("connect");
    let one = options("t1", "test").replace("UDP", "TCP");
    let two = options("t2", "test").replace("UDP", "TCP");
    // The first message in two pieces, the second glued to the end of the first; then a ping.
    let all = format!("{one}{two}");
    let (a, b) = all.as_bytes().split_at(37);
    s.write_all(a).await.expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b).await.expect("write");
    s.write_all(b"\r\n\r\n").await.expect("ping");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut parser = hotline_sip::StreamParser::new();
    let mut answers = Vec::new();
    let mut pong = false;
    while (answers.len() < 2 || !pong) && tokio::time::Instant::now() < deadline {
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "answer in time; so far: {:?}",
                    String::from_utf8_lossy(&got)
                )
            })
            .expect("read");
        got.extend_from_slice(&buf[..n]);
        parser.feed(&buf[..n]);
        while let Ok(Some(item)) = parser.next_item() {
            if let hotline_sip::StreamItem::Message(m) = item {
                answers.push(m);
            }
        }
        // The pong is one CRLF, before, between or after the answers: whatever is not them.
        let answered: usize = answers.iter().map(|m| m.to_bytes().len()).sum();
        pong = got.len() == answered + 2;
    }
    assert_eq!(answers.len(), 2);
    let ids: Vec<_> = answers
        .iter()
        .map(|m| m.call_id().expect("call-id").to_string())
        .collect();
    assert!(ids.contains(&"t1".to_string()) && ids.contains(&"t2".to_string()));
    w.sip.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanners_are_dropped_and_extensions_cannot_be_told_apart() {
    let w = world(|_| {}).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    assert!(
        ask(
            &sock,
            w.addr(),
            options("s1", "friendly-scanner").as_bytes()
        )
        .await
        .is_none(),
        "scanner answered"
    );
    // REGISTER without credentials: the same answer for an agent's extension and a missing one.
    let real = ask(&sock, w.addr(), register("1001", "r1", 1, None).as_bytes())
        .await
        .expect("answer");
    let missing = ask(&sock, w.addr(), register("9999", "r2", 1, None).as_bytes())
        .await
        .expect("answer");
    assert_eq!((real.status(), missing.status()), (Some(401), Some(401)));
    assert_eq!(
        real.count(&HeaderName::WwwAuthenticate),
        missing.count(&HeaderName::WwwAuthenticate)
    );
    w.sip.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_auth_failures_ban_the_address() {
    let w = world(|c| c.ban_after = 3).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    for i in 0..3 {
        // A syntactically right answer with the wrong password.
        let call = format!("b{i}");
        let challenge = ask(&sock, w.addr(), register("1001", &call, 1, None).as_bytes())
            .await
            .expect("401");
        let c = challenge.challenges(false).expect("challenges");
        let second = register("1001", &call, 2, Some((&c[0], "guess")));
        let r = ask(&sock, w.addr(), second.as_bytes())
            .await
            .expect("answer");
        assert_eq!(r.status(), Some(401));
    }
    // Banned now: not even OPTIONS is answered.
    assert!(
        ask(&sock, w.addr(), options("after-ban", "test").as_bytes())
            .await
            .is_none()
    );
    w.sip.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha256_digest_registers_when_offered() {
    use hotline_sip::digest::Algorithm;
    let w = world(|c| c.digest_algorithms = vec![Algorithm::Sha256, Algorithm::Md5]).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let challenge = ask(&sock, w.addr(), register("1001", "sha", 1, None).as_bytes())
        .await
        .expect("401");
    let c = challenge.challenges(false).expect("challenges");
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].get("algorithm"), Some("SHA-256"));
    let second = register("1001", "sha", 2, Some((&c[0], crate::PASSWORD)));
    let ok = ask(&sock, w.addr(), second.as_bytes())
        .await
        .expect("answer");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        w.wait_registered("1001", 1).await[0].contact,
        "sip:1001@127.0.0.1:9"
    );
    w.sip.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_phones_get_options_keepalives_at_their_nat_address() {
    let w = world(|c| c.keepalive = Duration::from_millis(500)).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let challenge = ask(&sock, w.addr(), register("1001", "ka", 1, None).as_bytes())
        .await
        .expect("401");
    let c = challenge.challenges(false).expect("challenge");
    let ok = ask(
        &sock,
        w.addr(),
        register("1001", "ka", 2, Some((&c[0], crate::PASSWORD))).as_bytes(),
    )
    .await
    .expect("200");
    assert_eq!(ok.status(), Some(200));
    // The Contact says port 9; the OPTIONS comes to where the REGISTER came from.
    let mut buf = vec![0u8; 65_536];
    let mut pings = 0;
    for _ in 0..10 {
        let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_secs(3), sock.recv_from(&mut buf)).await
        else {
            break;
        };
        let m = parse_datagram(&buf[..n]).expect("parses");
        if m.method() == Some(&hotline_sip::Method::Options) {
            assert_eq!(m.request_uri(), Some("sip:1001@127.0.0.1:9"));
            let answer = hotline_sip::response::response_to(&m, 200, None, Some("ph"));
            sock.send_to(&answer.to_bytes(), from)
                .await
                .expect("answer");
            pings += 1;
            if pings == 2 {
                break;
            }
        }
    }
    assert_eq!(pings, 2, "two keep-alives in a few seconds");
}
