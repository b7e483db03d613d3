//! SDP offer/answer (RFC 3264): codec choice, telephone-event, ptime, directions and hold.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hotline_media::sdp::{
    accept_answer, anchor, answer, offer, Codec, Direction, LocalMedia, SdpError,
    SessionDescription,
};

fn local(port: u16) -> LocalMedia {
    LocalMedia {
        address: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        port,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        dtmf_payload_type: 101,
        ptime: 20,
        direction: Direction::SendRecv,
        session_id: 1,
        session_version: 1,
    }
}

const BARESIP: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 9 8 0 96\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:30\r\na=sendrecv\r\n";

#[test]
fn answer_takes_the_offerers_first_codec_we_have() {
    let (n, body) = answer(BARESIP.as_bytes(), &local(20000)).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(n.payload_type, 8);
    assert_eq!(n.dtmf_payload_type, Some(96));
    assert_eq!(n.ptime, 30);
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.remote, Some("192.0.2.10:4000".parse().unwrap()));
    let a = SessionDescription::parse(body.as_bytes()).unwrap();
    let m = a.audio().unwrap();
    assert_eq!(m.port, 20000);
    assert_eq!(m.formats, vec!["8", "96"]);
    assert_eq!(a.connection, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert!(body.contains("a=fmtp:96 0-16\r\n"));
    assert!(body.contains("a=ptime:30\r\n"));
    assert!(body.ends_with("a=sendrecv\r\n"));
}

#[test]
fn static_types_without_rtpmap_and_media_level_connection() {
    let o = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n";
    let (n, _) = answer(o.as_bytes(), &local(1)).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.dtmf_payload_type, None);
    assert_eq!(n.ptime, 20);
    assert_eq!(n.remote, Some("10.0.0.2:5004".parse().unwrap()));
}

#[test]
fn directions_mirror_and_hold() {
    for (offered, expect) in [
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
        ("sendrecv", Direction::SendRecv),
    ] {
        let o = BARESIP.replace("a=sendrecv", &format!("a={offered}"));
        assert_eq!(
            answer(o.as_bytes(), &local(1)).unwrap().0.direction,
            expect,
            "{offered}"
        );
    }
    // RFC 2543 hold: c=0.0.0.0, nothing to send to.
    let o = BARESIP.replace("c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0");
    let (n, body) = answer(o.as_bytes(), &local(1)).unwrap();
    assert_eq!(n.remote, None);
    assert_eq!(n.direction, Direction::RecvOnly);
    assert!(body.contains("a=recvonly"));
    // Session-level direction applies to the stream.
    let o = BARESIP
        .replace("a=sendrecv\r\n", "")
        .replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n");
    assert_eq!(
        answer(o.as_bytes(), &local(1)).unwrap().0.direction,
        Direction::Inactive
    );
}

#[test]
fn refusals() {
    let g722 = BARESIP.replace("9 8 0 96", "9 96");
    assert_eq!(
        answer(g722.as_bytes(), &local(1)).unwrap_err(),
        SdpError::NoCommonCodec
    );
    let video = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n";
    assert_eq!(
        answer(video.as_bytes(), &local(1)).unwrap_err(),
        SdpError::NoAudio
    );
    let no_c = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
    assert_eq!(
        answer(no_c.as_bytes(), &local(1)).unwrap_err(),
        SdpError::NoConnection
    );
    assert!(matches!(
        answer(b"v=0\r\nm=audio x RTP/AVP 0\r\n", &local(1)),
        Err(SdpError::Malformed(2))
    ));
    assert!(matches!(
        answer(b"garbage", &local(1)),
        Err(SdpError::Malformed(1))
    ));
    // PCMU at another clock rate is not our PCMU.
    let wide = BARESIP
        .replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:8 PCMA/16000")
        .replace("9 8 0 96", "8 96");
    assert_eq!(
        answer(wide.as_bytes(), &local(1)).unwrap_err(),
        SdpError::NoCommonCodec
    );
}

#[test]
fn our_offer_and_its_answer() {
    let ours = offer(&local(30000));
    let o = SessionDescription::parse(ours.as_bytes()).unwrap();
    assert_eq!(o.audio().unwrap().formats, vec!["0", "8", "101"]);
    // The peer answers with PCMA only, recvonly (it holds us).
    let their = "v=0\r\no=- 5 5 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
m=audio 7000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n";
    let n = accept_answer(their.as_bytes(), &local(30000)).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(n.dtmf_payload_type, Some(101));
    assert_eq!(n.direction, Direction::SendOnly);
    assert_eq!(n.remote, Some(SocketAddr::from(([10, 1, 1, 1], 7000))));
    let rejected = their.replace("m=audio 7000", "m=audio 0");
    assert!(accept_answer(rejected.as_bytes(), &local(1)).is_err());
}

#[test]
fn anchoring_moves_the_stream_to_us() {
    let a = anchor(
        &SessionDescription::parse(BARESIP.as_bytes()).unwrap(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        40000,
        9,
        3,
    )
    .unwrap();
    let s = SessionDescription::parse(a.as_bytes()).unwrap();
    let m = s.audio().unwrap();
    assert_eq!(m.port, 40000);
    assert_eq!(s.connection, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(m.formats, vec!["8", "0", "96"], "G722 dropped, order kept");
    assert!(!a.contains("G722"));
    assert!(a.contains("a=fmtp:96 0-15"));
    assert_eq!(s.session_id, 9);
    // An old-style hold keeps meaning hold once the address is ours.
    let hold = BARESIP.replace("c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0");
    let a = anchor(
        &SessionDescription::parse(hold.as_bytes()).unwrap(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        40000,
        9,
        4,
    )
    .unwrap();
    assert!(a.contains("a=sendonly"), "{a}");
}

#[test]
fn parse_never_panics_on_junk() {
    let mut seed = 1u64;
    for _ in 0..2000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut body = BARESIP.as_bytes().to_vec();
        let at = (seed >> 33) as usize % body.len();
        body[at] = (seed >> 20) as u8;
        body.truncate((seed >> 40) as usize % (body.len() + 1));
        let _ = SessionDescription::parse(&body);
        let _ = answer(&body, &local(1));
        if let Ok(parsed) = SessionDescription::parse(&body) {
            let _ = anchor(&parsed, IpAddr::V4(Ipv4Addr::LOCALHOST), 1, 1, 1);
        }
    }
}
