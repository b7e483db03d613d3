//! The SIP parser, typed decoders and request checks never panic, on datagrams and on streams;
//! whatever parses prints to bytes that parse again to the same message.
#![no_main]
use hotline_sip::{check_request, check_response, parse_datagram, Capabilities, StreamParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = parse_datagram(data) {
        let _ = check_request(&m, &Capabilities::default());
        let _ = check_response(&m);
        let _ = (m.vias(), m.contacts(), m.routes(), m.record_routes(), m.authorization(false));
        let _ = (m.challenges(true), m.reasons(), m.session_expires(), m.accept(), m.allow());
        let _ = (m.expires(), m.max_forwards(), m.content_type(), m.from_header(), m.to_header());
        if let Some(v) = m.value(&hotline_sip::HeaderName::ReferTo) {
            let _ = hotline_sip::refer::ReferTo::parse(v);
        }
        if let Some(uri) = m.request_uri() {
            if let Ok(u) = hotline_sip::Uri::parse(uri) {
                let _ = hotline_sip::Uri::parse(&u.to_string());
            }
        }
        let printed = m.to_bytes();
        let again = parse_datagram(&printed).expect("a printed message parses");
        assert_eq!(again.to_bytes(), printed, "printing is stable");
    }
    // The bytes as a Refer-To or Replaces value of their own.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hotline_sip::refer::ReferTo::parse(text);
        let _ = hotline_sip::refer::Replaces::parse(text);
    }
    // The same bytes as a stream, in two pieces.
    let mut p = StreamParser::new();
    let half = data.len() / 2;
    p.feed(&data[..half]);
    while let Ok(Some(_)) = p.next_item() {}
    p.feed(&data[half..]);
    while let Ok(Some(_)) = p.next_item() {}
});
