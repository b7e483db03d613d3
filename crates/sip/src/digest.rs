//! Digest authentication (RFC 7616 / RFC 2617 as SIP uses it, RFC 8760 for SHA-256), both sides.
//!
//! Server: [`DigestServer`] makes challenges with nonces that carry their issue time and a keyed
//! hash (no per-challenge state), verifies credentials against a stored HA1, says `stale=true`
//! for an expired nonce, and refuses a nonce-count it has already seen for that nonce (replay).
//! An unknown user and a wrong password get the same answer after the same work.
//! Client: [`authorization`] answers a provider's challenge (trunk registration, test peers).

use std::collections::HashMap;

use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::headers::AuthParams;
use crate::text::quote;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn parse(s: Option<&str>) -> Option<Algorithm> {
        match s {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hash(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data)),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
        }
    }

    /// HA1 = H(username:realm:password), what the store keeps instead of the password.
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hash(format!("{username}:{realm}:{password}").as_bytes())
    }
}

/// What a server decides about a request's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials prove the user: go on.
    Authorized { username: String },
    /// Answer 401/407 with fresh challenges (`stale`: the nonce had expired, the password was
    /// right, the client may retry without asking its user).
    Challenge { stale: bool, failure: Failure },
    /// The Authorization header is malformed: answer 400.
    Malformed,
}

/// Why a request was challenged; for the security log, never for the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    NoCredentials,
    UnknownUser,
    WrongPassword,
    StaleNonce,
    ForgedNonce,
    Replay,
    OtherRealm,
    UnsupportedAlgorithm,
}

/// The stored secrets of one user: HA1 per algorithm (either may be missing).
#[derive(Clone, Debug, Default)]
pub struct Ha1 {
    pub md5: Option<String>,
    pub sha256: Option<String>,
}

impl Ha1 {
    fn get(&self, algorithm: Algorithm) -> Option<&str> {
        match algorithm {
            Algorithm::Md5 => self.md5.as_deref(),
            Algorithm::Sha256 => self.sha256.as_deref(),
        }
    }
}

pub struct DigestServer {
    realm: String,
    key: [u8; 32],
    nonce_lifetime_ms: u64,
    /// Highest nonce-count seen per live nonce (replay protection); trimmed as nonces expire.
    counts: HashMap<String, (u64, u32)>,
    max_tracked: usize,
    preference: Vec<Algorithm>,
    /// Makes every nonce unique: phones challenged in the same millisecond get different
    /// ones, so one's nonce-count never looks like a replay of another's.
    issued: std::sync::atomic::AtomicU64,
}

impl DigestServer {
    /// `key` must be random (the shell draws it at start); `nonce_lifetime_ms` is how long a
    /// challenge stays usable (a REGISTER refresh after that gets `stale=true`).
    pub fn new(realm: &str, key: [u8; 32], nonce_lifetime_ms: u64) -> DigestServer {
        DigestServer {
            realm: realm.to_string(),
            key,
            nonce_lifetime_ms,
            counts: HashMap::new(),
            max_tracked: 100_000,
            preference: vec![Algorithm::Md5],
            issued: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn nonce_mac(&self, issued_ms: u64, serial: u64) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(issued_ms.to_be_bytes());
        h.update(serial.to_be_bytes());
        h.update(self.realm.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    /// A fresh nonce: its issue time, a serial number, and a keyed hash of both.
    pub fn nonce(&self, now_ms: u64) -> String {
        let serial = self
            .issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{now_ms:x}.{serial:x}.{}", self.nonce_mac(now_ms, serial))
    }

    /// The challenges offered, in order (RFC 8760: the server's preference first). The default
    /// is MD5 alone: SIPp 3.6 reads only the first challenge and knows only MD5, and libre-based
    /// phones (baresip 1.0) give up on the whole answer when any challenge names an algorithm
    /// they lack. Credentials with either algorithm are verified whatever is offered.
    pub fn set_preference(&mut self, algorithms: Vec<Algorithm>) {
        if !algorithms.is_empty() {
            self.preference = algorithms;
        }
    }

    /// The WWW-Authenticate (or Proxy-Authenticate) values to send, in the preferred order.
    pub fn challenges(&self, now_ms: u64, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now_ms);
        self.preference
            .iter()
            .map(|a| {
                format!(
                    "Digest realm={}, nonce={}, algorithm={}, qop=\"auth\"{}",
                    quote(&self.realm),
                    quote(&nonce),
                    a.as_str(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Checks the credentials of a request. `lookup` finds a user's HA1s; `method` and the
    /// request-URI are the request's own.
    pub fn verify(
        &mut self,
        now_ms: u64,
        credentials: &[AuthParams],
        method: &str,
        request_uri: &str,
        lookup: impl FnOnce(&str) -> Option<Ha1>,
    ) -> Verdict {
        let challenge = |failure| Verdict::Challenge {
            stale: false,
            failure,
        };
        // Among several credentials, the one for our realm counts (RFC 3261 §22.4).
        let Some(c) = credentials.iter().find(|c| {
            c.scheme.eq_ignore_ascii_case("Digest") && c.get("realm") == Some(self.realm.as_str())
        }) else {
            let other = credentials
                .iter()
                .any(|c| c.scheme.eq_ignore_ascii_case("Digest"));
            return challenge(if other {
                Failure::OtherRealm
            } else {
                Failure::NoCredentials
            });
        };
        let (Some(username), Some(nonce), Some(uri), Some(response)) = (
            c.get("username"),
            c.get("nonce"),
            c.get("uri"),
            c.get("response"),
        ) else {
            return Verdict::Malformed;
        };
        let Some(algorithm) = Algorithm::parse(c.get("algorithm")) else {
            return challenge(Failure::UnsupportedAlgorithm);
        };
        let qop = c.get("qop");
        let (nc, cnonce) = match qop {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = c.get("nc").and_then(|n| {
                    (n.len() == 8)
                        .then(|| u32::from_str_radix(n, 16).ok())
                        .flatten()
                });
                match (nc, c.get("cnonce")) {
                    (Some(nc), Some(cn)) if nc > 0 => (Some(nc), Some(cn)),
                    _ => return Verdict::Malformed,
                }
            }
            Some(_) => return Verdict::Malformed,
            None => (None, None),
        };
        if !uri_matches(uri, request_uri) {
            return Verdict::Malformed;
        }
        // The nonce must be ours; its age decides stale.
        let mut parts = nonce.splitn(3, '.');
        let fields = (parts.next(), parts.next(), parts.next());
        let Some(issued) = (match fields {
            (Some(t), Some(serial), Some(mac)) => u64::from_str_radix(t, 16)
                .ok()
                .zip(u64::from_str_radix(serial, 16).ok())
                .filter(|&(t, serial)| constant_eq(mac, &self.nonce_mac(t, serial)))
                .map(|(t, _)| t),
            _ => None,
        }) else {
            return challenge(Failure::ForgedNonce);
        };
        let expired = issued > now_ms || now_ms - issued > self.nonce_lifetime_ms;

        // Same work whether or not the user exists: a dummy secret for the unknown ones.
        let found = lookup(username);
        let ha1 = found
            .as_ref()
            .and_then(|h| h.get(algorithm))
            .map(str::to_string)
            .unwrap_or_else(|| algorithm.ha1(username, &self.realm, &hex::encode(self.key)));
        let ha2 = algorithm.hash(format!("{method}:{uri}").as_bytes());
        let expected = match (nc, cnonce) {
            (Some(nc), Some(cnonce)) => {
                algorithm.hash(format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}").as_bytes())
            }
            _ => algorithm.hash(format!("{ha1}:{nonce}:{ha2}").as_bytes()),
        };
        let right = constant_eq(&response.to_ascii_lowercase(), &expected) && found.is_some();
        if !right {
            return challenge(if found.is_some() {
                Failure::WrongPassword
            } else {
                Failure::UnknownUser
            });
        }
        if expired {
            return Verdict::Challenge {
                stale: true,
                failure: Failure::StaleNonce,
            };
        }
        // Replay: each nonce-count once, increasing (without qop: the nonce once).
        let count = nc.unwrap_or(1);
        match self.counts.get(nonce) {
            Some(&(_, seen)) if count <= seen => return challenge(Failure::Replay),
            _ => {}
        }
        if self.counts.len() >= self.max_tracked {
            let lifetime = self.nonce_lifetime_ms;
            self.counts
                .retain(|_, (issued, _)| now_ms.saturating_sub(*issued) <= lifetime);
        }
        if self.counts.len() < self.max_tracked {
            self.counts.insert(nonce.to_string(), (issued, count));
            Verdict::Authorized {
                username: username.to_string(),
            }
        } else {
            // Full of live nonces (a flood): refuse to track more rather than forget replays.
            Verdict::Challenge {
                stale: true,
                failure: Failure::StaleNonce,
            }
        }
    }
}

fn uri_matches(digest_uri: &str, request_uri: &str) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    match (
        crate::uri::Uri::parse(digest_uri),
        crate::uri::Uri::parse(request_uri),
    ) {
        (Ok(crate::uri::Uri::Sip(a)), Ok(crate::uri::Uri::Sip(b))) => a.equivalent(&b),
        _ => false,
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A client's answer to a challenge: the Authorization (or Proxy-Authorization) value.
/// `cnonce` should be random; `nc` counts the uses of this nonce from 1.
/// Our answer to a 401 or 407 for a request of ours (`method` to `uri`): the header to add
/// (Authorization or Proxy-Authorization) and its value; `None` when the answer carries no
/// digest challenge we can meet.
pub fn answer_challenge(
    response: &crate::Message,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
) -> Option<(crate::HeaderName, String)> {
    let proxy = response.status() == Some(407);
    let challenge = response
        .challenges(proxy)
        .ok()?
        .into_iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("Digest"))?;
    let value = authorization(&challenge, method, uri, username, password, cnonce, 1)?;
    let name = if proxy {
        crate::HeaderName::ProxyAuthorization
    } else {
        crate::HeaderName::Authorization
    };
    Some((name, value))
}

pub fn authorization(
    challenge: &AuthParams,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Option<String> {
    if !challenge.scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let realm = challenge.get("realm")?;
    let nonce = challenge.get("nonce")?;
    let algorithm = Algorithm::parse(challenge.get("algorithm"))?;
    let auth_qop = challenge
        .get("qop")
        .is_some_and(|q| q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")));
    let ha1 = algorithm.ha1(username, realm, password);
    let ha2 = algorithm.hash(format!("{method}:{uri}").as_bytes());
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, algorithm={}",
        quote(username),
        quote(realm),
        quote(nonce),
        quote(uri),
        algorithm.as_str()
    );
    let response = if auth_qop {
        out.push_str(&format!(
            ", qop=auth, nc={nc:08x}, cnonce={}",
            quote(cnonce)
        ));
        algorithm.hash(format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}").as_bytes())
    } else {
        algorithm.hash(format!("{ha1}:{nonce}:{ha2}").as_bytes())
    };
    out.push_str(&format!(", response={}", quote(&response)));
    if let Some(opaque) = challenge.get("opaque") {
        out.push_str(&format!(", opaque={}", quote(opaque)));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example_response() {
        // RFC 2617 §3.5 (HTTP, qop=auth): Mufasa / Circle Of Life.
        let ha1 = Algorithm::Md5.ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        let ha2 = Algorithm::Md5.hash(b"GET:/dir/index.html");
        let r = Algorithm::Md5.hash(
            format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}")
                .as_bytes(),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc_7616_sha256_example() {
        // RFC 7616 §3.9.1: the SHA-256 response for Mufasa.
        let ha1 = Algorithm::Sha256.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        let ha2 = Algorithm::Sha256.hash(b"GET:/dir/index.html");
        let r = Algorithm::Sha256.hash(
            format!(
                "{ha1}:7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:{ha2}"
            )
            .as_bytes(),
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }
}
