//! Our own registration with a carrier (RFC 3261 §10.2), sans-IO: REGISTER, the digest answer
//! to its challenge, refresh before the granted expiry, retry after a failure.

use crate::b2bua::Credentials;
use crate::headers::AuthParams;
use crate::message::Message;
use crate::name::{HeaderName, Method};
use crate::transaction::Time;

/// How long to wait after a failure before trying again (ms).
pub const RETRY_AFTER_FAILURE: Time = 60_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not yet tried, or waiting to retry.
    Unregistered,
    /// A REGISTER is out.
    Waiting,
    /// Registered until this time (ms).
    Registered { until: Time },
    /// The carrier refused (code); retried later.
    Failed { code: u16 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationOutcome {
    /// Send [`Registration::request`] again now (answering a challenge).
    Again,
    Registered {
        expires: u32,
    },
    Failed {
        code: u16,
    },
    /// Not an answer to our REGISTER.
    Ignored,
}

#[derive(Clone, Debug)]
pub struct Registration {
    /// Address-of-record, `sip:user@domain`.
    pub aor: String,
    /// The registrar's Request-URI, `sip:domain[:port]`.
    pub registrar: String,
    /// Our Contact value, `<sip:user@host:port>`.
    pub contact: String,
    pub credentials: Credentials,
    /// Seconds asked for.
    pub expires: u32,
    call_id: String,
    from_tag: String,
    cseq: u32,
    challenge: Option<(AuthParams, bool)>,
    nc: u32,
    challenged_once: bool,
    pub state: RegistrationState,
    next_at: Time,
}

impl Registration {
    pub fn new(
        aor: &str,
        registrar: &str,
        contact: &str,
        credentials: Credentials,
        expires: u32,
        call_id: &str,
        from_tag: &str,
    ) -> Registration {
        Registration {
            aor: aor.to_string(),
            registrar: registrar.to_string(),
            contact: contact.to_string(),
            credentials,
            expires: expires.max(60),
            call_id: call_id.to_string(),
            from_tag: from_tag.to_string(),
            cseq: 0,
            challenge: None,
            nc: 0,
            challenged_once: false,
            state: RegistrationState::Unregistered,
            next_at: 0,
        }
    }

    /// When a REGISTER is next due (none while one is out).
    pub fn due(&self) -> Option<Time> {
        (self.state != RegistrationState::Waiting).then_some(self.next_at)
    }

    /// The next REGISTER (Via is the sender's to add); `cnonce` should be random.
    pub fn request(&mut self, cnonce: &str) -> Message {
        self.cseq += 1;
        self.state = RegistrationState::Waiting;
        let mut m = Message::request(Method::Register, &self.registrar);
        m.push(HeaderName::MaxForwards, &b"70"[..])
            .push(
                HeaderName::From,
                format!("<{}>;tag={}", self.aor, self.from_tag).into_bytes(),
            )
            .push(HeaderName::To, format!("<{}>", self.aor).into_bytes())
            .push(HeaderName::CallId, self.call_id.clone().into_bytes())
            .push(
                HeaderName::CSeq,
                format!("{} REGISTER", self.cseq).into_bytes(),
            )
            .push(HeaderName::Contact, self.contact.clone().into_bytes())
            .push(HeaderName::Expires, self.expires.to_string().into_bytes());
        if let Some((challenge, proxy)) = &self.challenge {
            self.nc += 1;
            if let Some(value) = crate::digest::authorization(
                challenge,
                "REGISTER",
                &self.registrar,
                &self.credentials.username,
                &self.credentials.password,
                cnonce,
                self.nc,
            ) {
                let name = if *proxy {
                    HeaderName::ProxyAuthorization
                } else {
                    HeaderName::Authorization
                };
                m.push(name, value.into_bytes());
            }
        }
        m
    }

    /// A final answer to our REGISTER.
    pub fn on_response(&mut self, now: Time, response: &Message) -> RegistrationOutcome {
        if response.call_id().ok() != Some(self.call_id.as_str()) {
            return RegistrationOutcome::Ignored;
        }
        let code = response.status().unwrap_or(500);
        if code < 200 {
            return RegistrationOutcome::Ignored;
        }
        match code {
            200..=299 => {
                self.challenged_once = false;
                // The binding the registrar granted for our Contact, else Expires, else ours.
                let granted = response
                    .contacts()
                    .ok()
                    .and_then(|c| match c {
                        crate::headers::Contacts::List(list) => list
                            .iter()
                            .find(|c| self.contact.contains(&c.uri.to_string()))
                            .and_then(|c| c.expires()),
                        crate::headers::Contacts::Star => None,
                    })
                    .or_else(|| response.expires().ok().flatten())
                    .unwrap_or(self.expires)
                    .max(1);
                let until = now + Time::from(granted) * 1000;
                self.state = RegistrationState::Registered { until };
                // Refresh at 80 % of a long interval, at half of a short one.
                let ms = Time::from(granted) * 1000;
                let refresh = if granted > 60 { ms * 8 / 10 } else { ms / 2 };
                self.next_at = now + refresh;
                RegistrationOutcome::Registered { expires: granted }
            }
            401 | 407 => {
                let proxy = code == 407;
                let stale = response.challenges(proxy).ok().and_then(|c| {
                    c.into_iter()
                        .find(|c| c.scheme.eq_ignore_ascii_case("Digest"))
                });
                let fresh_nonce = stale.as_ref().is_some_and(|c| {
                    c.get("stale")
                        .is_some_and(|s| s.eq_ignore_ascii_case("true"))
                });
                // One answer per challenge; a second challenge right after ours means the
                // credentials are wrong (unless it only says the nonce went stale).
                if stale.is_none() || (self.challenged_once && !fresh_nonce) {
                    self.challenged_once = false;
                    return self.failed(now, code);
                }
                self.challenged_once = true;
                self.challenge = stale.map(|c| (c, proxy));
                self.nc = 0;
                RegistrationOutcome::Again
            }
            423 => {
                if let Ok(Some(min)) = response.min_expires() {
                    self.expires = min.max(self.expires);
                    return RegistrationOutcome::Again;
                }
                self.failed(now, code)
            }
            _ => self.failed(now, code),
        }
    }

    /// No answer at all (Timer F).
    pub fn on_timeout(&mut self, now: Time) {
        self.failed(now, 408);
    }

    fn failed(&mut self, now: Time, code: u16) -> RegistrationOutcome {
        self.state = RegistrationState::Failed { code };
        self.next_at = now + RETRY_AFTER_FAILURE;
        RegistrationOutcome::Failed { code }
    }
}
