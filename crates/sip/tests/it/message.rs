//! Framing over streams, building and printing, and the parser's totality on any input.

use hotline_sip::{
    parse_datagram, HeaderName, Message, Method, ParseError, StreamItem, StreamParser,
};
use proptest::prelude::*;

const OPTIONS: &[u8] = b"OPTIONS sip:1001@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
From: <sip:probe@127.0.0.1>;tag=a\r\n\
To: <sip:1001@127.0.0.1>\r\n\
Call-ID: c1\r\n\
CSeq: 1 OPTIONS\r\n\
X-Odd-Header  :   kept   as   written\r\n\
Content-Length: 5\r\n\
\r\n\
hello";

fn take(p: &mut StreamParser) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(item) = p.next_item().expect("frames") {
        if let StreamItem::Message(m) = item {
            out.push(m);
        }
    }
    out
}

#[test]
fn stream_split_anywhere_and_coalesced() {
    let mut two = OPTIONS.to_vec();
    two.extend_from_slice(OPTIONS);
    // Every split point of two coalesced messages yields the same two messages.
    for cut in 0..two.len() {
        let mut p = StreamParser::new();
        p.feed(&two[..cut]);
        let mut got = take(&mut p);
        p.feed(&two[cut..]);
        got.extend(take(&mut p));
        assert_eq!(got.len(), 2, "cut at {cut}");
        for m in &got {
            assert_eq!(m.body().as_ref(), b"hello");
            assert_eq!(m.to_bytes().as_ref(), OPTIONS);
        }
        assert_eq!(p.buffered(), 0);
    }
}

#[test]
fn stream_keepalive_and_garbage() {
    let mut p = StreamParser::new();
    p.feed(b"\r\n\r\n");
    assert!(matches!(p.next_item(), Ok(Some(StreamItem::Ping))));
    p.feed(OPTIONS);
    assert!(matches!(p.next_item(), Ok(Some(StreamItem::Message(_)))));
    // A stream message without Content-Length is framed with an empty body and flagged.
    p.feed(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n\r\n");
    match p.next_item() {
        Ok(Some(StreamItem::Message(m))) => {
            assert_eq!(m.defect(), Some(hotline_sip::Defect::MissingContentLength))
        }
        other => panic!("{other:?}"),
    }
    // A header section that never ends is cut off at the size limit.
    let mut p = StreamParser::new();
    p.feed(b"OPTIONS sip:a@b SIP/2.0\r\n");
    for _ in 0..7000 {
        p.feed(b"X-Pad: 0123456789\r\n");
    }
    assert_eq!(p.next_item().err(), Some(ParseError::TooLarge));
    // Not SIP at all: framed like a request, and the checks refuse it.
    let mut p = StreamParser::new();
    p.feed(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    match p.next_item() {
        Ok(Some(StreamItem::Message(m))) => {
            assert_eq!(
                hotline_sip::check_request(&m, &Default::default()).map_err(|r| r.code),
                Err(400)
            );
        }
        other => panic!("{other:?}"),
    }
    let mut p = StreamParser::new();
    p.feed(b"\x16\x03\x01 binary\r\n\r\n");
    assert!(p.next_item().is_err());
}

#[test]
fn built_messages_print_and_parse_back() {
    let mut m = Message::request(Method::Invite, "sip:1001@127.0.0.1:5060");
    m.push(
        HeaderName::Via,
        "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport",
    )
    .push(HeaderName::MaxForwards, "70")
    .push(
        HeaderName::From,
        "\"Hotline\" <sip:hotline@127.0.0.1>;tag=x1",
    )
    .push(HeaderName::To, "<sip:1001@127.0.0.1>")
    .push(HeaderName::CallId, "call-1")
    .push(HeaderName::CSeq, "1 INVITE")
    .set_body("application/sdp", &b"v=0\r\n"[..]);
    let wire = m.to_bytes();
    let back = parse_datagram(&wire).expect("parses");
    assert_eq!(back.value(&HeaderName::ContentLength), Some("5"));
    assert_eq!(
        back.content_type().expect("ct").map(|c| c.subtype),
        Some("sdp".into())
    );
    assert_eq!(back.to_bytes(), wire);
    // Changing a header rewrites only that line; Content-Length follows the body.
    let mut edited = back.clone();
    edited
        .set(HeaderName::MaxForwards, "69")
        .set_body("application/sdp", &b"v=0\r\ns=-\r\n"[..]);
    let text = String::from_utf8(edited.to_bytes().to_vec()).expect("utf-8");
    assert!(
        text.contains("Max-Forwards: 69\r\n") && text.contains("Content-Length: 10\r\n"),
        "{text}"
    );
    assert_eq!(edited.count(&HeaderName::ContentLength), 1);
}

#[test]
fn compact_forms_and_case() {
    let m = parse_datagram(
        b"REGISTER sip:h SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@h>;tag=1\r\nt: <sip:a@h>\r\ni: x\r\ncseq: 1 REGISTER\r\nm: <sip:a@1.2.3.4>;expires=60\r\nk: path, timer\r\nL: 0\r\n\r\n",
    )
    .expect("parses");
    assert_eq!(m.call_id(), Ok("x"));
    assert_eq!(
        m.option_tags(HeaderName::Supported).expect("k"),
        ["path", "timer"]
    );
    assert!(hotline_sip::check_request(&m, &Default::default()).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// No input makes the parser, the typed decoders or the checks panic.
    #[test]
    fn total_on_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&data);
    }

    /// Nor do mutations of a real message (closer to what a fuzzer finds).
    #[test]
    fn total_on_mutated_messages(edits in proptest::collection::vec((0usize..OPTIONS.len(), any::<u8>()), 1..12), cut in 0usize..OPTIONS.len()) {
        let mut data = OPTIONS.to_vec();
        for (at, b) in edits {
            data[at] = b;
        }
        data.truncate(cut.max(1));
        exercise(&data);
        let mut p = StreamParser::new();
        p.feed(&data);
        while let Ok(Some(_)) = p.next_item() {}
    }
}

fn exercise(data: &[u8]) {
    if let Ok(m) = parse_datagram(data) {
        let _ = hotline_sip::check_request(&m, &Default::default());
        let _ = hotline_sip::check_response(&m);
        let _ = (
            m.vias(),
            m.contacts(),
            m.routes(),
            m.record_routes(),
            m.authorization(false),
            m.challenges(true),
        );
        let _ = (
            m.reasons(),
            m.session_expires(),
            m.accept(),
            m.allow(),
            m.expires(),
        );
        let _ = parse_datagram(&m.to_bytes());
    }
}
