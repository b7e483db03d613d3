//! Our registration with a carrier: challenge answered once, refresh before expiry, a wrong
//! password fails (and is retried later), a stale nonce is answered again.

use hotline_sip::b2bua::Credentials;
use hotline_sip::digest::{Algorithm, DigestServer, Ha1, Verdict};
use hotline_sip::registration::{
    Registration, RegistrationOutcome, RegistrationState, RETRY_AFTER_FAILURE,
};
use hotline_sip::response::response_to;
use hotline_sip::HeaderName;

fn registration(password: &str) -> Registration {
    Registration::new(
        "sip:acme@carrier.example",
        "sip:carrier.example:5060",
        "<sip:acme@192.0.2.1:5060>",
        Credentials {
            username: "acme".into(),
            password: password.into(),
        },
        600,
        "hl0-reg",
        "tag1",
    )
}

/// The carrier: challenges without credentials, checks them, grants 300 s.
fn carrier(d: &mut DigestServer, now: u64, req: &hotline_sip::Message) -> hotline_sip::Message {
    let creds = req.authorization(false).expect("parses");
    let verdict = d.verify(
        now,
        &creds,
        "REGISTER",
        req.request_uri().expect("uri"),
        |_| {
            Some(Ha1 {
                md5: Some(Algorithm::Md5.ha1("acme", "carrier", "right")),
                sha256: None,
            })
        },
    );
    match verdict {
        Verdict::Authorized { .. } => {
            let mut ok = response_to(req, 200, None, Some("c"));
            ok.push(
                HeaderName::Contact,
                &b"<sip:acme@192.0.2.1:5060>;expires=300"[..],
            );
            ok
        }
        Verdict::Challenge { stale, .. } => {
            let mut r = response_to(req, 401, None, Some("c"));
            for c in d.challenges(now, stale) {
                r.push(HeaderName::WwwAuthenticate, c.into_bytes());
            }
            r
        }
        Verdict::Malformed => response_to(req, 400, None, Some("c")),
    }
}

#[test]
fn registers_refreshes_and_answers_a_stale_nonce() {
    let mut d = DigestServer::new("carrier", [1; 32], 100_000);
    let mut r = registration("right");
    assert_eq!(r.due(), Some(0));
    let first = r.request("cn1");
    assert_eq!(r.due(), None, "nothing due while a REGISTER is out");
    let challenge = carrier(&mut d, 0, &first);
    assert_eq!(r.on_response(0, &challenge), RegistrationOutcome::Again);
    let second = r.request("cn2");
    assert!(second.value(&HeaderName::Authorization).is_some());
    let ok = carrier(&mut d, 10, &second);
    assert_eq!(
        r.on_response(10, &ok),
        RegistrationOutcome::Registered { expires: 300 }
    );
    assert_eq!(r.state, RegistrationState::Registered { until: 300_010 });
    // Refreshed at 80 % of what the carrier granted.
    assert_eq!(r.due(), Some(240_010));
    // By then the nonce is stale: the carrier says so, and the answer is given again.
    let refresh = r.request("cn3");
    let stale = carrier(&mut d, 240_010, &refresh);
    assert!(stale
        .value(&HeaderName::WwwAuthenticate)
        .is_some_and(|v| v.contains("stale=true")));
    assert_eq!(r.on_response(240_010, &stale), RegistrationOutcome::Again);
    let again = r.request("cn4");
    let ok = carrier(&mut d, 240_020, &again);
    assert!(matches!(
        r.on_response(240_020, &ok),
        RegistrationOutcome::Registered { .. }
    ));
}

#[test]
fn a_wrong_password_fails_after_one_answer_and_retries_later() {
    let mut d = DigestServer::new("carrier", [1; 32], 100_000);
    let mut r = registration("wrong");
    let first = r.request("cn1");
    let challenge = carrier(&mut d, 0, &first);
    assert_eq!(r.on_response(0, &challenge), RegistrationOutcome::Again);
    let second = r.request("cn2");
    let refused = carrier(&mut d, 5, &second);
    assert_eq!(refused.status(), Some(401));
    assert_eq!(
        r.on_response(5, &refused),
        RegistrationOutcome::Failed { code: 401 }
    );
    assert_eq!(r.due(), Some(5 + RETRY_AFTER_FAILURE));
    // An answer to someone else's REGISTER is not ours.
    let mut other = response_to(&second, 200, None, None);
    other.set(HeaderName::CallId, &b"another"[..]);
    assert_eq!(r.on_response(6, &other), RegistrationOutcome::Ignored);
    r.on_timeout(7);
    assert_eq!(r.state, RegistrationState::Failed { code: 408 });
}
