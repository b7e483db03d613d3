//! Registrar: bindings, expiry, `*`, ordering, limits; the RFC 4475 REGISTER messages.

use hotline_sip::parse_datagram;
use hotline_sip::registrar::{contact_values, Limits, Outcome, Registrar};

fn register(
    call_id: &str,
    cseq: u32,
    contacts: &[&str],
    expires: Option<u32>,
) -> hotline_sip::Message {
    let mut text = format!(
        "REGISTER sip:demo SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK{cseq}\r\nFrom: <sip:1001@demo>;tag=f\r\nTo: <sip:1001@demo>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n"
    );
    for c in contacts {
        text.push_str(&format!("Contact: {c}\r\n"));
    }
    if let Some(e) = expires {
        text.push_str(&format!("Expires: {e}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    parse_datagram(text.as_bytes()).expect("parses")
}

fn ok(o: Outcome) -> Vec<hotline_sip::registrar::Binding> {
    match o {
        Outcome::Ok { bindings, .. } => bindings,
        other => panic!("{other:?}"),
    }
}

#[test]
fn bind_refresh_query_and_remove() {
    let mut r = Registrar::new(Limits::default());
    let b = ok(r.register(
        0,
        "1001@demo",
        &register(
            "c1",
            1,
            &["<sip:1001@10.0.0.7:5060>;q=0.5", "<sip:1001@10.0.0.8>"],
            Some(600),
        ),
        "udp:10.0.0.7:5060",
    ));
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].contact, "sip:1001@10.0.0.8", "q=1 before q=0.5");
    assert_eq!(b[1].q, 500);
    assert_eq!(b[0].expires_at, 600_000);
    // A query (no Contact) changes nothing and reports everything.
    match r.register(
        1_000,
        "1001@demo",
        &register("c1", 2, &[], None),
        "udp:10.0.0.7:5060",
    ) {
        Outcome::Ok { bindings, changed } => assert!(bindings.len() == 2 && !changed),
        other => panic!("{other:?}"),
    }
    // A refresh with a per-contact expiry; values come back in seconds left.
    let b = ok(r.register(
        10_000,
        "1001@demo",
        &register("c1", 3, &["<sip:1001@10.0.0.8>;expires=120"], None),
        "udp:10.0.0.7:5060",
    ));
    let values = contact_values(10_000, &b);
    assert!(
        values.contains(&"<sip:1001@10.0.0.8>;expires=120".to_string()),
        "{values:?}"
    );
    // expires=0 removes one; `*` with Expires: 0 removes all.
    let b = ok(r.register(
        20_000,
        "1001@demo",
        &register("c1", 4, &["<sip:1001@10.0.0.8>;expires=0"], None),
        "udp:10.0.0.7:5060",
    ));
    assert_eq!(b.len(), 1);
    let b = ok(r.register(
        30_000,
        "1001@demo",
        &register("c1", 5, &["*"], Some(0)),
        "udp:10.0.0.7:5060",
    ));
    assert!(b.is_empty());
    assert_eq!(r.aor_count(), 0);
}

#[test]
fn limits_and_ordering() {
    let mut r = Registrar::new(Limits {
        min_expires: 60,
        max_expires: 3_600,
        default_expires: 3_600,
        max_contacts: 2,
    });
    assert_eq!(
        r.register(0, "a", &register("c", 1, &["<sip:a@h>"], Some(30)), "s"),
        Outcome::IntervalTooBrief { min_expires: 60 }
    );
    assert_eq!(
        r.register(0, "a", &register("c", 1, &["*"], None), "s"),
        Outcome::Bad("Contact: * needs Expires: 0")
    );
    let b = ok(r.register(
        0,
        "a",
        &register("c", 5, &["<sip:a@h>"], Some(999_999)),
        "s",
    ));
    assert_eq!(b[0].expires_at, 3_600_000, "capped at the maximum");
    assert_eq!(
        r.register(1, "a", &register("c", 5, &["<sip:a@h>"], None), "s"),
        Outcome::OutOfOrder
    );
    assert_eq!(
        r.register(1, "a", &register("c", 4, &["<sip:a@h>"], None), "s"),
        Outcome::OutOfOrder
    );
    // Another Call-ID may replace the binding whatever its CSeq.
    assert!(matches!(
        r.register(2, "a", &register("other", 1, &["<sip:a@h>"], None), "s"),
        Outcome::Ok { changed: true, .. }
    ));
    assert_eq!(
        r.register(
            3,
            "a",
            &register("x", 1, &["<sip:a@h2>", "<sip:a@h3>"], None),
            "s"
        ),
        Outcome::TooManyContacts
    );
    // A failed request changed nothing.
    assert_eq!(r.lookup(4, "a").len(), 1);
}

#[test]
fn expiry_and_restore() {
    let mut r = Registrar::new(Limits::default());
    ok(r.register(0, "a", &register("c", 1, &["<sip:a@h>"], Some(60)), "s"));
    ok(r.register(0, "b", &register("c", 1, &["<sip:b@h>"], Some(120)), "s"));
    assert_eq!(r.next_expiry(), Some(60_000));
    assert_eq!(r.expire(60_000), ["a"]);
    assert!(r.lookup(60_000, "a").is_empty());
    let kept = r.lookup(60_000, "b");
    let mut again = Registrar::new(Limits::default());
    again.restore(100_000, "b", kept.clone());
    assert_eq!(again.lookup(100_000, "b"), kept);
    again.restore(130_000, "b", kept);
    assert_eq!(again.aor_count(), 0, "expired bindings are not restored");
}

#[test]
fn rfc4475_register_messages_bind() {
    for name in ["cparam01", "cparam02", "regescrt"] {
        let data = std::fs::read(format!(
            "{}/tests/data/rfc4475/{name}.dat",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("corpus");
        let m = parse_datagram(&data).expect("parses");
        let mut r = Registrar::new(Limits::default());
        let b = ok(r.register(0, "aor", &m, "udp:192.0.2.1:5060"));
        assert!(!b.is_empty(), "{name}");
    }
}
