//! What a peer or a file can hand the media core never panics: SDP offers and answers (and
//! anchoring them), WAV files, RFC 4733 payloads, and datagrams into a bridge and an endpoint
//! (as RTP and as RTCP).
#![no_main]
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hotline_media::dtmf::DtmfReceiver;
use hotline_media::sdp::{self, Codec, Direction, LocalMedia, Negotiated};
use hotline_media::session::{Bridge, Endpoint, Leg};
use hotline_media::wav;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let local = LocalMedia {
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 20000,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        dtmf_payload_type: 101,
        ptime: 20,
        direction: Direction::SendRecv,
        session_id: 1,
        session_version: 1,
    };
    if let Ok((_, body)) = sdp::answer(data, &local) {
        sdp::SessionDescription::parse(body.as_bytes()).expect("our answer parses");
    }
    let _ = sdp::accept_answer(data, &local);
    if let Ok(parsed) = sdp::SessionDescription::parse(data) {
        let _ = sdp::anchor(&parsed, IpAddr::V4(Ipv4Addr::LOCALHOST), 1, 1, 1);
    }
    let _ = wav::read(data);

    let mut rx = DtmfReceiver::new();
    let mut digits = Vec::new();
    for (i, c) in data.chunks(8).enumerate() {
        let ts = c.first().copied().unwrap_or(0).into();
        rx.on_packet(i as u64 * 20, 1, ts, c, &mut digits);
    }
    let n = Negotiated {
        codec: Codec::Pcmu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        ptime: 20,
        remote: Some(SocketAddr::from(([127, 0, 0, 1], 9))),
        remote_rtcp: Some(SocketAddr::from(([127, 0, 0, 1], 10))),
        direction: Direction::SendRecv,
    };
    let mut pcma = n;
    pcma.codec = Codec::Pcma;
    pcma.payload_type = 8;
    let mut bridge = Bridge::new(Leg::new(n, 0, 1), Leg::new(pcma, 0, 2));
    bridge.record(0, 0);
    let mut endpoint = Endpoint::new(Leg::new(pcma, 0, 3), 0, 3);
    endpoint.detect_inband();
    let from = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut events = Vec::new();
    for (i, c) in data.chunks(200).enumerate() {
        let mut buf = c.to_vec();
        let _ = bridge.relay(i & 1, i as u64 * 20, from, &mut buf, &mut digits);
        endpoint.receive(i as u64 * 20, from, c, &mut events);
        // The same bytes as RTCP on the leg's RTCP port, and a report written after.
        let now = i as u64 * 20;
        let _ = endpoint.leg.on_rtcp(now, now << 20, from, c);
        let mut out = [0u8; 1500];
        let _ = endpoint.leg.rtcp_report(now, now << 20, &mut out);
    }
});
