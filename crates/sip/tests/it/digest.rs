//! Digest authentication: a server and a client in virtual time.

use hotline_sip::digest::{authorization, Algorithm, DigestServer, Failure, Ha1, Verdict};
use hotline_sip::AuthParams;

const REALM: &str = "demo";
const URI: &str = "sip:127.0.0.1:5060";

fn server() -> DigestServer {
    let mut s = DigestServer::new(REALM, [7; 32], 300_000);
    s.set_preference(vec![Algorithm::Sha256, Algorithm::Md5]);
    s
}

fn lookup(user: &str) -> Option<Ha1> {
    (user == "1001").then(|| Ha1 {
        md5: Some(Algorithm::Md5.ha1("1001", REALM, "secret")),
        sha256: Some(Algorithm::Sha256.ha1("1001", REALM, "secret")),
    })
}

fn answer(
    s: &DigestServer,
    now: u64,
    which: usize,
    user: &str,
    password: &str,
    nc: u32,
) -> AuthParams {
    let challenge = AuthParams::parse(&s.challenges(now, false)[which]).expect("challenge parses");
    let value =
        authorization(&challenge, "REGISTER", URI, user, password, "c0ffee", nc).expect("digest");
    AuthParams::parse(&value).expect("authorization parses")
}

#[test]
fn right_password_passes_with_either_algorithm() {
    let mut s = server();
    for which in [0, 1] {
        // A nonce per challenge: the same nonce and count twice would be a replay.
        let creds = answer(&s, 1_000 + which as u64, which, "1001", "secret", 1);
        assert_eq!(
            s.verify(2_000, &[creds], "REGISTER", URI, lookup),
            Verdict::Authorized {
                username: "1001".into()
            }
        );
    }
    assert!(s.challenges(0, false)[0].contains("algorithm=SHA-256"));
    assert!(s.challenges(0, false)[1].contains("algorithm=MD5"));
    let plain = DigestServer::new(REALM, [7; 32], 300_000);
    assert_eq!(
        plain.challenges(0, false).len(),
        1,
        "MD5 alone by default, for old phones"
    );
    assert!(plain.challenges(0, false)[0].contains("algorithm=MD5"));
}

/// Two answers to one challenge (the same nonce), with nonce-counts `a` and `b`.
fn answers_to_one_challenge(
    s: &DigestServer,
    now: u64,
    a: u32,
    b: u32,
) -> (AuthParams, AuthParams) {
    let challenge = AuthParams::parse(&s.challenges(now, false)[0]).expect("challenge parses");
    let with = |nc| {
        let v = authorization(&challenge, "REGISTER", URI, "1001", "secret", "c0ffee", nc)
            .expect("digest");
        AuthParams::parse(&v).expect("authorization parses")
    };
    (with(a), with(b))
}

#[test]
fn phones_challenged_in_the_same_millisecond_get_their_own_nonces() {
    let mut s = server();
    let lookup_two = |user: &str| {
        (user == "1001" || user == "1002").then(|| Ha1 {
            md5: Some(Algorithm::Md5.ha1(user, REALM, "secret")),
            sha256: Some(Algorithm::Sha256.ha1(user, REALM, "secret")),
        })
    };
    let one = answer(&s, 1_000, 0, "1001", "secret", 1);
    let two = answer(&s, 1_000, 0, "1002", "secret", 1);
    assert_ne!(one.get("nonce"), two.get("nonce"));
    for creds in [one, two] {
        assert!(matches!(
            s.verify(1_001, &[creds], "REGISTER", URI, lookup_two),
            Verdict::Authorized { .. }
        ));
    }
}

#[test]
fn replayed_nonce_count_is_refused_and_a_higher_one_passes() {
    let mut s = server();
    let (first, second) = answers_to_one_challenge(&s, 1_000, 1, 2);
    assert!(matches!(
        s.verify(1_100, std::slice::from_ref(&first), "REGISTER", URI, lookup),
        Verdict::Authorized { .. }
    ));
    assert_eq!(
        s.verify(1_200, &[first], "REGISTER", URI, lookup),
        Verdict::Challenge {
            stale: false,
            failure: Failure::Replay
        }
    );
    assert!(matches!(
        s.verify(1_300, &[second], "REGISTER", URI, lookup),
        Verdict::Authorized { .. }
    ));
}

#[test]
fn expired_nonce_is_stale_only_with_the_right_password() {
    let mut s = server();
    let right = answer(&s, 1_000, 0, "1001", "secret", 1);
    assert_eq!(
        s.verify(1_000 + 300_001, &[right], "REGISTER", URI, lookup),
        Verdict::Challenge {
            stale: true,
            failure: Failure::StaleNonce
        }
    );
    let wrong = answer(&s, 1_000, 0, "1001", "guess", 1);
    assert_eq!(
        s.verify(1_000 + 300_001, &[wrong], "REGISTER", URI, lookup),
        Verdict::Challenge {
            stale: false,
            failure: Failure::WrongPassword
        }
    );
    assert!(s.challenges(5, true)[0].ends_with("stale=true"));
}

#[test]
fn unknown_user_and_wrong_password_look_the_same() {
    let mut s = server();
    let unknown = answer(&s, 1_000, 0, "1999", "secret", 1);
    let wrong = answer(&s, 1_000, 0, "1001", "nope", 1);
    let a = s.verify(1_100, &[unknown], "REGISTER", URI, lookup);
    let b = s.verify(1_100, &[wrong], "REGISTER", URI, lookup);
    // The wire answer (a fresh, non-stale challenge) is the same; only the log reason differs.
    let wire = |v: &Verdict| match v {
        Verdict::Challenge { stale, .. } => Some(*stale),
        _ => None,
    };
    assert_eq!(wire(&a), Some(false));
    assert_eq!(wire(&a), wire(&b));
    assert_eq!(
        a,
        Verdict::Challenge {
            stale: false,
            failure: Failure::UnknownUser
        }
    );
}

#[test]
fn forged_and_foreign_credentials_are_challenged() {
    let mut s = server();
    let mut forged = answer(&s, 1_000, 0, "1001", "secret", 1);
    for (n, v) in forged.params.iter_mut() {
        if n == "nonce" {
            *v = "18b.00000000000000000000000000000000".into();
        }
    }
    assert_eq!(
        s.verify(1_100, &[forged], "REGISTER", URI, lookup),
        Verdict::Challenge {
            stale: false,
            failure: Failure::ForgedNonce
        }
    );
    let mut other = DigestServer::new("elsewhere", [1; 32], 300_000);
    other.set_preference(vec![Algorithm::Sha256]);
    let foreign = answer(&other, 1_000, 0, "1001", "secret", 1);
    assert_eq!(
        s.verify(1_100, &[foreign], "REGISTER", URI, lookup),
        Verdict::Challenge {
            stale: false,
            failure: Failure::OtherRealm
        }
    );
    assert_eq!(
        s.verify(1_100, &[], "REGISTER", URI, lookup),
        Verdict::Challenge {
            stale: false,
            failure: Failure::NoCredentials
        }
    );
    let scheme = AuthParams::parse("NoOneKnowsThisScheme opaque-data=here").expect("parses");
    assert_eq!(
        s.verify(1_100, &[scheme], "REGISTER", URI, lookup),
        Verdict::Challenge {
            stale: false,
            failure: Failure::NoCredentials
        }
    );
    // Credentials for another request-URI are malformed for this one.
    let creds = answer(&s, 1_000, 0, "1001", "secret", 1);
    assert_eq!(
        s.verify(
            1_100,
            &[creds],
            "REGISTER",
            "sip:elsewhere.example.com",
            lookup
        ),
        Verdict::Malformed
    );
}
