//! The 49 RFC 4475 torture messages: what Hotline's UAS checks answer to each, per the RFC's
//! own discussion of every message. Requests that pass the checks go on to the transaction user
//! (`Pass`); the ones that fail are answered with the status given; responses that cannot be
//! matched to a transaction are dropped.

use hotline_sip::{
    check_request, check_response, parse_datagram, Capabilities, HeaderName, Message, Uri,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A well-formed request: on to the transaction user.
    Pass,
    /// A request answered with this status by the checks.
    Answer(u16),
    /// A well-formed response.
    Response,
    /// A response (or something) that cannot be used: dropped without an answer.
    Drop,
}
use Expect::*;

const CORPUS: &[(&str, Expect)] = &[
    // §3.1.1 valid messages
    ("wsinv", Pass),
    ("intmeth", Answer(501)), // a valid message with a method nobody implements
    ("esc01", Pass),
    ("escnull", Pass),
    ("esc02", Answer(501)), // RE%47IST%45R is not REGISTER
    ("lwsdisp", Pass),
    ("longreq", Pass),
    ("dblreq", Pass),
    ("semiuri", Pass),
    ("transports", Pass),
    ("mpart01", Answer(405)), // MESSAGE: a known method Hotline does not take
    ("unreason", Response),
    ("noreason", Response),
    // §3.1.2 invalid messages
    ("badinv01", Answer(400)),
    ("clerr", Answer(400)),
    ("ncl", Answer(400)),
    ("scalar02", Answer(400)),
    ("scalarlg", Drop),
    ("quotbal", Answer(400)),
    ("ltgtruri", Answer(400)),
    ("lwsruri", Answer(400)),
    ("lwsstart", Answer(400)),
    ("trws", Answer(400)),
    ("escruri", Answer(400)),
    ("baddate", Pass), // §3.1.2.12: the Date is not needed, so it is ignored
    ("regbadct", Answer(400)),
    ("badaspec", Answer(400)),
    ("baddn", Answer(400)),
    ("badvers", Answer(505)),
    ("mismatch01", Answer(400)),
    ("mismatch02", Answer(400)), // 400, not 501 (§3.1.2.18)
    ("bigcode", Drop),
    // §3.2 transaction layer
    ("badbranch", Answer(400)),
    // §3.3 application layer
    ("insuf", Answer(400)),
    ("unkscm", Answer(416)),
    ("novelsc", Answer(416)),
    ("unksm2", Pass),
    ("bext01", Answer(420)),
    ("invut", Answer(415)),
    ("regaut01", Pass), // the registrar answers 401 with its own challenge
    ("multi01", Answer(400)),
    ("mcl01", Answer(400)),
    ("bcast", Response), // well-formed; it matches no transaction and goes nowhere
    ("zeromf", Pass),    // §3.3.11: an endpoint processes it; only forwarding answers 483
    ("cparam01", Pass),
    ("cparam02", Pass),
    ("regescrt", Pass),
    ("sdp01", Answer(406)),
    // §3.4 backward compatibility
    ("inv2543", Pass),
];

fn load(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/rfc4475/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn outcome(data: &[u8]) -> (Expect, Option<Message>) {
    let Ok(msg) = parse_datagram(data) else {
        return (Drop, None);
    };
    if !msg.is_request() {
        return (
            if check_response(&msg).is_ok() {
                Response
            } else {
                Drop
            },
            Some(msg),
        );
    }
    match check_request(&msg, &Capabilities::default()) {
        Ok(()) => (Pass, Some(msg)),
        Err(rejection) => {
            let answer = rejection.response(&msg, Some("hl1"));
            (Answer(rejection.code), Some(answer))
        }
    }
}

#[test]
fn every_message_is_in_the_table() {
    let mut files: Vec<String> =
        std::fs::read_dir(format!("{}/tests/data/rfc4475", env!("CARGO_MANIFEST_DIR")))
            .expect("corpus folder")
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .into_string()
                    .ok()?
                    .strip_suffix(".dat")
                    .map(str::to_string)
            })
            .collect();
    files.sort();
    let mut listed: Vec<String> = CORPUS.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
    assert_eq!(files.len(), 49);
}

#[test]
fn each_message_gets_the_answer_the_rfc_gives() {
    let mut wrong = Vec::new();
    for &(name, expect) in CORPUS {
        let (got, answer) = outcome(&load(name));
        if got != expect {
            wrong.push(format!("{name}: expected {expect:?}, got {got:?}"));
            continue;
        }
        if let (Answer(code), Some(answer)) = (got, answer) {
            // The answer is a well-formed response that goes back the way the request came.
            let wire = answer.to_bytes();
            let back = parse_datagram(&wire)
                .unwrap_or_else(|e| panic!("{name}: answer does not parse: {e}"));
            assert_eq!(back.status(), Some(code), "{name}");
            let request = parse_datagram(&load(name)).expect("parsed above");
            assert_eq!(
                back.count(&HeaderName::Via),
                request.count(&HeaderName::Via),
                "{name}: Via copied"
            );
            assert_eq!(
                back.value(&HeaderName::CallId),
                request.value(&HeaderName::CallId),
                "{name}: Call-ID copied"
            );
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn answers_carry_what_the_rfc_asks_for() {
    let answer = |name: &str| outcome(&load(name)).1.expect("answered");
    let a = answer("bext01");
    let unsupported = a.option_tags(HeaderName::Unsupported).expect("Unsupported");
    assert_eq!(
        unsupported,
        ["nothingSupportsThis", "nothingSupportsThisEither"],
        "Proxy-Require is not a UAS's business"
    );
    assert!(answer("invut")
        .value(&HeaderName::Accept)
        .is_some_and(|v| v.contains("application/sdp")));
    assert!(answer("sdp01").value(&HeaderName::Accept).is_some());
    assert!(answer("intmeth")
        .value(&HeaderName::Allow)
        .is_some_and(|v| v.contains("INVITE")));
    assert!(answer("mpart01").value(&HeaderName::Allow).is_some());
    assert_eq!(answer("badvers").status(), Some(505));
    // A To tag is added to final answers that had none.
    assert_eq!(answer("insuf").status(), Some(400));
    assert!(answer("bext01").to_header().expect("To").tag().is_some());
}

#[test]
fn valid_messages_decode_to_what_they_mean() {
    let m = parse_datagram(&load("wsinv")).expect("wsinv");
    assert_eq!(m.max_forwards(), Ok(Some(68)));
    assert_eq!(m.cseq().expect("cseq").seq, 9);
    assert_eq!(m.to_header().expect("to").tag(), Some("1918181833n"));
    assert_eq!(
        m.from_header().expect("from").display.as_deref(),
        Some("J Rosenberg \\\"")
    );
    let vias = m.vias().expect("vias");
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[2].host.to_string(), "192.168.255.111");
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(m.body().len(), 150);
    assert!(m
        .value(&HeaderName::Other("NewFangledHeader".into()))
        .is_some_and(|v| v.contains("newfangled value")));

    let m = parse_datagram(&load("esc01")).expect("esc01");
    let uri = request_uri(&m);
    assert_eq!(
        uri.as_sip().and_then(|u| u.user_text()).as_deref(),
        Some("sips:user@example.com")
    );
    assert_eq!(
        m.to_header()
            .expect("to")
            .uri
            .as_sip()
            .and_then(|u| u.user_text())
            .as_deref(),
        Some("user")
    );

    let m = parse_datagram(&load("escnull")).expect("escnull");
    match m.contacts().expect("contacts") {
        hotline_sip::Contacts::List(l) => {
            assert_eq!(l.len(), 2);
            assert_eq!(
                l[1].uri.as_sip().and_then(|u| u.user_unescaped()),
                Some(vec![0, 0])
            );
        }
        other => panic!("{other:?}"),
    }

    // Bytes after the Content-Length in a datagram are ignored: one REGISTER, no INVITE.
    let m = parse_datagram(&load("dblreq")).expect("dblreq");
    assert_eq!(m.method(), Some(&hotline_sip::Method::Register));
    assert!(m.body().is_empty());

    let m = parse_datagram(&load("semiuri")).expect("semiuri");
    let uri = request_uri(&m);
    assert_eq!(
        uri.as_sip().and_then(|u| u.user.clone()).as_deref(),
        Some("user;par=u%40example.net")
    );

    let m = parse_datagram(&load("unreason")).expect("unreason");
    assert_eq!(m.status(), Some(200));
    let m = parse_datagram(&load("noreason")).expect("noreason");
    assert_eq!(m.status(), Some(100));

    let m = parse_datagram(&load("longreq")).expect("longreq");
    assert_eq!(
        m.vias().expect("vias").len(),
        34,
        "28 Via lines, one of them holding 7 values"
    );
    assert!(m
        .from_header()
        .expect("from")
        .tag()
        .is_some_and(|t| t.len() > 150));

    let m = parse_datagram(&load("inv2543")).expect("inv2543");
    assert_eq!(m.top_via().expect("via").branch(), None);
    assert_eq!(m.from_header().expect("from").tag(), None);
}

fn request_uri(m: &Message) -> Uri {
    Uri::parse(m.request_uri().expect("a request with a text URI")).expect("uri")
}

#[test]
fn every_message_prints_back_byte_exact() {
    for &(name, _) in CORPUS {
        let data = load(name);
        let Ok((msg, used)) = hotline_sip::parse_bytes(bytes_of(&data), false) else {
            continue;
        };
        if msg.defect().is_some() {
            continue;
        }
        let declared = msg
            .value(&HeaderName::ContentLength)
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n != msg.body().len())
            || declared.is_none() && !msg.body().is_empty()
        {
            continue;
        }
        assert_eq!(msg.to_bytes().as_ref(), &data[..used], "{name}");
    }
}

fn bytes_of(data: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(data)
}
