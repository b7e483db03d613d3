//! SIP message benchmark: parse time of a typical INVITE with SDP (what a phone or a carrier
//! sends), the typed decoding a transaction needs (top Via branch, CSeq, Call-ID, From/To tags),
//! and printing.
//!
//! `cargo bench -p hotline-sip` (`-- --rounds N`). Every operation is timed; p50/p99 printed.

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::hint::black_box;
use std::time::Instant;

use hotline_sip::parse_datagram;

const INVITE: &[u8] = b"INVITE sip:+74951234567@hotline.example.com;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:+74951234567@hotline.example.com;user=phone>\r\n\
From: \"Ivan Petrov\" <sip:+79165550102@carrier.example.net>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.carrier.example.net\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+79165550102@192.0.2.10:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n\
Supported: timer\r\n\
User-Agent: CarrierSBC/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 234\r\n\
\r\n\
v=0\r\n\
o=- 2890844526 2890844526 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn measure(name: &str, rounds: usize, mut f: impl FnMut()) {
    for _ in 0..rounds / 10 {
        f();
    }
    let mut ns = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        f();
        ns.push(t.elapsed().as_nanos() as u64);
    }
    ns.sort_unstable();
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64;
    println!(
        "{name:<48} mean {:>7.0} ns  p50 {:>6} ns  p99 {:>6} ns",
        mean,
        percentile(&ns, 0.5),
        percentile(&ns, 0.99)
    );
}

fn main() {
    let mut rounds = 200_000;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rounds") {
        rounds = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(rounds);
    }
    assert_eq!(
        INVITE.len() - INVITE.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4,
        234
    );
    println!(
        "typical INVITE with SDP: {} bytes, {rounds} rounds",
        INVITE.len()
    );
    measure("parse (framing, header lines, body)", rounds, || {
        black_box(parse_datagram(black_box(INVITE)).unwrap());
    });
    measure(
        "parse + top Via, CSeq, Call-ID, From/To tags",
        rounds,
        || {
            let m = parse_datagram(black_box(INVITE)).unwrap();
            let via = m.top_via().unwrap();
            black_box(via.branch());
            black_box(m.cseq().unwrap());
            black_box(m.call_id().unwrap());
            black_box(m.from_header().unwrap().tag().map(str::len));
            black_box(m.to_header().unwrap().tag().map(str::len));
        },
    );
    measure(
        "parse + full request check (RFC 3261 §8.2)",
        rounds,
        || {
            let m = parse_datagram(black_box(INVITE)).unwrap();
            black_box(
                hotline_sip::check_request(&m, &hotline_sip::Capabilities::default()).is_ok(),
            );
        },
    );
    let m = parse_datagram(INVITE).unwrap();
    measure("print (unchanged message)", rounds, || {
        black_box(m.to_bytes());
    });
}
