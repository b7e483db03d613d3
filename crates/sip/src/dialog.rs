//! Dialogs (RFC 3261 §12–15), sans-IO: the state two user agents share once an INVITE has a
//! tagged answer. A [`Dialog`] knows its identifiers, the route set and remote target, both
//! CSeq spaces, whether an INVITE or UPDATE is in progress either way (for 491 glare), and the
//! session timer of RFC 4028 when one was agreed.
//!
//! It builds in-dialog requests ([`Dialog::request`], [`Dialog::ack`]) without a Via (the
//! transport's business) and judges incoming ones ([`Dialog::on_request`]), answering with the
//! code the RFC asks (500 for an old CSeq, 491 or 500 with Retry-After for an overlapping
//! INVITE).

use crate::headers::NameAddr;
use crate::message::Message;
use crate::name::{HeaderName, Method};
use crate::transaction::Time;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE that made the dialog.
    Uac,
    /// We answered it.
    Uas,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// A provisional answer with a tag; no 2xx yet.
    Early,
    Confirmed,
    Terminated,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("the message lacks what a dialog needs: {0}")]
    Message(&'static str),
}

/// Why an in-dialog request is refused, with the answer to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    /// Seconds for a Retry-After header (RFC 3261 §14.2).
    pub retry_after: Option<u32>,
}

impl Refusal {
    /// The answer to the refused request (with its Retry-After, if any).
    pub fn response(&self, request: &Message) -> Message {
        let mut r = crate::response::response_to(request, self.code, None, None);
        if let Some(after) = self.retry_after {
            r.push(HeaderName::RetryAfter, after.to_string().into_bytes());
        }
        r
    }
}

/// An offer/answer exchange in progress (INVITE or UPDATE), by whom and with which CSeq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    method: PendingMethod,
    seq: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PendingMethod {
    Invite,
    Update,
}

/// RFC 4028 session timer of one dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    /// Seconds.
    pub interval: u32,
    /// When the session was last refreshed (ms).
    pub refreshed_at: Time,
}

impl SessionTimer {
    /// When the session ends unless refreshed (RFC 4028 §10: the interval less min(32 s,
    /// interval/3)), whoever the refresher is.
    pub fn expiry(&self) -> Time {
        let interval = Time::from(self.interval) * 1000;
        self.refreshed_at + interval - (32_000).min(interval / 3)
    }
}

/// What a dialog makes of the final answer to a request of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseOutcome {
    Fine,
    /// 491: try again no sooner than this many ms from now (RFC 3261 §14.1).
    RetryAfter(Time),
    /// 481 or 408 to an in-dialog request: the dialog is gone (§12.2.1.2).
    Terminated,
}

#[derive(Clone, Debug)]
pub struct Dialog {
    pub role: Role,
    pub state: DialogState,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our From (as UAC) or To (as UAS) value, tag included.
    pub local_header: String,
    pub remote_header: String,
    /// Where in-dialog requests go: the peer's Contact URI.
    pub remote_target: String,
    /// Route values (`<uri;lr>`), in the order requests carry them.
    pub route_set: Vec<String>,
    /// Our Contact value.
    pub local_contact: String,
    pub local_seq: u32,
    pub remote_seq: Option<u32>,
    ours: Option<Pending>,
    theirs: Option<Pending>,
    pub session: Option<SessionTimer>,
}

fn contact_uri(m: &Message) -> Option<String> {
    let v = m.value(&HeaderName::Contact)?;
    let first = crate::text::split_commas(v)?.first()?.trim().to_string();
    let na = NameAddr::parse(&first)?;
    Some(na.uri.to_string())
}

fn tag_of(value: Option<&str>) -> Option<String> {
    NameAddr::parse(value?)?.tag().map(str::to_string)
}

fn route_values(m: &Message) -> Vec<String> {
    m.list(&HeaderName::RecordRoute)
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.trim().to_string())
        .collect()
}

impl Dialog {
    /// The UAC side, from our INVITE and a tagged answer to it (101–299).
    pub fn uac(invite: &Message, response: &Message) -> Result<Dialog, DialogError> {
        let code = response.status().unwrap_or(0);
        if !(101..300).contains(&code) {
            return Err(DialogError::Message("a 101-299 answer"));
        }
        let call_id = invite
            .call_id()
            .map_err(|_| DialogError::Message("Call-ID"))?;
        let local_header = invite
            .value(&HeaderName::From)
            .ok_or(DialogError::Message("From"))?;
        let local_tag = tag_of(Some(local_header)).ok_or(DialogError::Message("From tag"))?;
        let remote_header = response
            .value(&HeaderName::To)
            .ok_or(DialogError::Message("To"))?;
        let remote_tag = tag_of(Some(remote_header)).ok_or(DialogError::Message("To tag"))?;
        let remote_target = contact_uri(response)
            .or_else(|| invite.request_uri().map(str::to_string))
            .ok_or(DialogError::Message("Contact"))?;
        let mut route_set = route_values(response);
        route_set.reverse();
        Ok(Dialog {
            role: Role::Uac,
            state: if code < 200 {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            call_id: call_id.to_string(),
            local_tag,
            remote_tag,
            local_header: local_header.to_string(),
            remote_header: remote_header.to_string(),
            remote_target,
            route_set,
            local_contact: invite.value(&HeaderName::Contact).unwrap_or("").to_string(),
            local_seq: invite.cseq().map(|c| c.seq).unwrap_or(1),
            remote_seq: None,
            ours: Some(Pending {
                method: PendingMethod::Invite,
                seq: invite.cseq().map(|c| c.seq).unwrap_or(1),
            })
            .filter(|_| code < 200),
            theirs: None,
            session: None,
        })
    }

    /// The UAS side, from the INVITE we answer with `local_tag`; `local_seq` starts our own
    /// CSeq space (any value below 2**31).
    pub fn uas(
        invite: &Message,
        local_tag: &str,
        local_contact: &str,
        local_seq: u32,
    ) -> Result<Dialog, DialogError> {
        let call_id = invite
            .call_id()
            .map_err(|_| DialogError::Message("Call-ID"))?;
        let remote_header = invite
            .value(&HeaderName::From)
            .ok_or(DialogError::Message("From"))?;
        let remote_tag = tag_of(Some(remote_header)).ok_or(DialogError::Message("From tag"))?;
        let to = invite
            .value(&HeaderName::To)
            .ok_or(DialogError::Message("To"))?;
        let remote_target = contact_uri(invite).ok_or(DialogError::Message("Contact"))?;
        let seq = invite.cseq().map_err(|_| DialogError::Message("CSeq"))?.seq;
        Ok(Dialog {
            role: Role::Uas,
            state: DialogState::Early,
            call_id: call_id.to_string(),
            local_tag: local_tag.to_string(),
            remote_tag,
            local_header: format!("{to};tag={local_tag}"),
            remote_header: remote_header.to_string(),
            remote_target,
            route_set: route_values(invite),
            local_contact: local_contact.to_string(),
            local_seq: local_seq & 0x7fff_ffff,
            remote_seq: Some(seq),
            ours: None,
            theirs: Some(Pending {
                method: PendingMethod::Invite,
                seq,
            }),
            session: None,
        })
    }

    /// The UAC's dialog took a later answer to its INVITE: a 2xx confirms it and fixes the
    /// remote target and route set (§13.2.2.4); a non-2xx final ends an early dialog.
    pub fn on_invite_response(&mut self, response: &Message) {
        let code = response.status().unwrap_or(0);
        if self.role != Role::Uac || self.state != DialogState::Early {
            return;
        }
        match code {
            200..=299 => {
                self.state = DialogState::Confirmed;
                self.ours = None;
                if let Some(t) = contact_uri(response) {
                    self.remote_target = t;
                }
                let mut routes = route_values(response);
                routes.reverse();
                self.route_set = routes;
                self.remote_header = response
                    .value(&HeaderName::To)
                    .unwrap_or(&self.remote_header)
                    .to_string();
            }
            300..=699 => self.state = DialogState::Terminated,
            _ => {}
        }
    }

    /// Whether an in-dialog request or response belongs here: Call-ID and both tags.
    pub fn matches_request(&self, request: &Message) -> bool {
        request.call_id().ok() == Some(self.call_id.as_str())
            && tag_of(request.value(&HeaderName::To)).as_deref() == Some(self.local_tag.as_str())
            && tag_of(request.value(&HeaderName::From)).as_deref() == Some(self.remote_tag.as_str())
    }

    /// A request for this dialog (not ACK, not CANCEL), CSeq taken from our space. Via is
    /// the sender's to add. Target-refresh requests carry our Contact.
    pub fn request(&mut self, method: Method) -> Message {
        self.local_seq = self.local_seq.wrapping_add(1) & 0x7fff_ffff;
        let seq = self.local_seq;
        match method {
            Method::Invite => {
                self.ours = Some(Pending {
                    method: PendingMethod::Invite,
                    seq,
                })
            }
            Method::Update => {
                self.ours = Some(Pending {
                    method: PendingMethod::Update,
                    seq,
                })
            }
            _ => {}
        }
        let mut m = self.skeleton(method.clone(), seq);
        if matches!(
            method,
            Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
        ) && !self.local_contact.is_empty()
        {
            m.push(HeaderName::Contact, self.local_contact.clone().into_bytes());
        }
        m
    }

    /// The ACK of a 2xx to our INVITE with CSeq `seq` (§13.2.2.4): a new transaction of its own.
    pub fn ack(&self, seq: u32) -> Message {
        self.skeleton(Method::Ack, seq)
    }

    fn skeleton(&self, method: Method, seq: u32) -> Message {
        // Loose routing (§12.2.1.1): the remote target as Request-URI and the route set as
        // Route; a strict router first in the set gets the Request-URI instead.
        let strict = self.route_set.first().and_then(|r| {
            let na = NameAddr::parse(r)?;
            let lr = na.uri.as_sip().is_some_and(|u| u.params.has("lr"));
            (!lr).then(|| na.uri.to_string())
        });
        let (ruri, routes): (String, Vec<String>) = match strict {
            Some(first) => {
                let mut rest: Vec<String> = self.route_set.iter().skip(1).cloned().collect();
                rest.push(format!("<{}>", self.remote_target));
                (first, rest)
            }
            None => (self.remote_target.clone(), self.route_set.clone()),
        };
        let mut m = Message::request(method.clone(), &ruri);
        for r in routes {
            m.push(HeaderName::Route, r.into_bytes());
        }
        m.push(HeaderName::MaxForwards, &b"70"[..])
            .push(HeaderName::From, self.local_header.clone().into_bytes())
            .push(HeaderName::To, self.remote_header.clone().into_bytes())
            .push(HeaderName::CallId, self.call_id.clone().into_bytes())
            .push(HeaderName::CSeq, format!("{seq} {method}").into_bytes());
        m
    }

    /// Judges a request that matched this dialog (not ACK or CANCEL: those belong to their
    /// INVITE). On success the request is taken: CSeq recorded, target refreshed, an
    /// INVITE/UPDATE marked in progress, BYE ending the dialog.
    pub fn on_request(&mut self, request: &Message) -> Result<(), Refusal> {
        let cseq = request.cseq().map_err(|_| Refusal {
            code: 400,
            retry_after: None,
        })?;
        if let Some(last) = self.remote_seq {
            // §12.2.2: lower than the last one is out of order.
            if cseq.seq < last {
                return Err(Refusal {
                    code: 500,
                    retry_after: None,
                });
            }
        }
        let pending = match cseq.method {
            Method::Invite => Some(PendingMethod::Invite),
            Method::Update => Some(PendingMethod::Update),
            _ => None,
        };
        if let Some(kind) = pending {
            // §14.2 and RFC 3311 §5.2: an INVITE, or an offer in an UPDATE, while our own
            // exchange is in progress is glare (491); their INVITE while their last one is
            // still open is refused with 500 and a Retry-After.
            if self.ours.is_some() && (kind == PendingMethod::Invite || !request.body().is_empty())
            {
                return Err(Refusal {
                    code: 491,
                    retry_after: None,
                });
            }
            if self.theirs.is_some() && kind == PendingMethod::Invite {
                return Err(Refusal {
                    code: 500,
                    retry_after: Some(retry_seconds(cseq.seq)),
                });
            }
        }
        self.remote_seq = Some(cseq.seq);
        if let Some(method) = pending {
            if self.theirs.is_none() {
                self.theirs = Some(Pending {
                    method,
                    seq: cseq.seq,
                });
            }
            if let Some(t) = contact_uri(request) {
                self.remote_target = t;
            }
        }
        if cseq.method == Method::Bye {
            self.state = DialogState::Terminated;
        }
        Ok(())
    }

    /// We sent the final answer to their INVITE or UPDATE with CSeq `seq`.
    pub fn answered(&mut self, seq: u32, code: u16) {
        if code >= 200 && self.theirs.is_some_and(|p| p.seq == seq) {
            self.theirs = None;
        }
        if (200..300).contains(&code) && self.state == DialogState::Early && self.role == Role::Uas
        {
            self.state = DialogState::Confirmed;
        }
        if code >= 300 && self.state == DialogState::Early && self.role == Role::Uas {
            self.state = DialogState::Terminated;
        }
    }

    /// The final answer to a request of ours in this dialog. `jitter` is a random number
    /// (the caller's generator) that spreads 491 retries.
    pub fn on_response(
        &mut self,
        method: &Method,
        seq: u32,
        code: u16,
        jitter: u64,
    ) -> ResponseOutcome {
        if code < 200 {
            return ResponseOutcome::Fine;
        }
        if self.ours.is_some_and(|p| p.seq == seq) {
            self.ours = None;
        }
        match code {
            491 => {
                // §14.1: the owner of the Call-ID (the UAC) waits 2.1–4 s, the other 0–2 s,
                // in 10 ms steps.
                let (base, span) = match self.role {
                    Role::Uac => (2_100, 190),
                    Role::Uas => (0, 200),
                };
                ResponseOutcome::RetryAfter(base + (jitter % (span + 1)) * 10)
            }
            481 | 408 if *method != Method::Bye => {
                self.state = DialogState::Terminated;
                ResponseOutcome::Terminated
            }
            _ => {
                if *method == Method::Bye {
                    self.state = DialogState::Terminated;
                }
                ResponseOutcome::Fine
            }
        }
    }

    /// Takes the session timer a 2xx agreed on (RFC 4028 §7.4, §9): `Session-Expires`.
    /// Without the header there is no timer. Who refreshes does not matter here: the dialog
    /// only keeps when the session ends unless a refresh comes either way.
    pub fn apply_session(&mut self, ok: &Message, now: Time) {
        let Ok(Some(se)) = ok.session_expires() else {
            self.session = None;
            return;
        };
        self.session = Some(SessionTimer {
            interval: se.interval.max(1),
            refreshed_at: now,
        });
    }

    /// The session was refreshed (a 2xx to a re-INVITE or UPDATE either way).
    pub fn refreshed(&mut self, now: Time) {
        if let Some(s) = &mut self.session {
            s.refreshed_at = now;
        }
    }
}

/// Retry-After seconds for a 500 to an overlapping INVITE: 0–10 (§14.2), spread by CSeq.
fn retry_seconds(seq: u32) -> u32 {
    seq % 11
}
