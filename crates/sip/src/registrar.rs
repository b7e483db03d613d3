//! Registrar logic (RFC 3261 §10.3), sans-IO: bindings of an address-of-record to contacts with
//! expiry times, `*` unregistration, Call-ID/CSeq ordering, Min-Expires, a cap on contacts.
//! The shell authenticates first, persists what [`Registrar::register`] reports as changed, and
//! restores the table at start with [`Registrar::restore`].

use std::collections::HashMap;

use crate::headers::{Contacts, NameAddr};
use crate::message::Message;
use crate::transaction::Time;
use crate::uri::Uri;

/// One contact bound to an address-of-record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI as the phone sent it (where to send requests for this AOR).
    pub contact: String,
    /// Absolute expiry, ms on the caller's clock (wall-clock ms when persisted).
    pub expires_at: Time,
    /// Preference 0–1000.
    pub q: u16,
    pub call_id: String,
    pub cseq: u32,
    /// Where the REGISTER really came from ("udp:198.51.100.7:40211"): behind NAT this, not
    /// the Contact, is how the phone is reached.
    pub source: String,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_contacts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_expires: 60,
            max_expires: 3_600,
            default_expires: 3_600,
            max_contacts: 10,
        }
    }
}

/// The answer to a REGISTER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 200: the AOR's bindings now (a query or an update); `changed` when they must be stored.
    Ok {
        bindings: Vec<Binding>,
        changed: bool,
    },
    /// 423 with Min-Expires.
    IntervalTooBrief { min_expires: u32 },
    /// 400 (malformed Contact, `*` with other contacts or a non-zero expiry).
    Bad(&'static str),
    /// 403: more contacts than allowed.
    TooManyContacts,
    /// 500: a request older than what is bound (same Call-ID, CSeq not higher).
    OutOfOrder,
}

#[derive(Default)]
pub struct Registrar {
    limits: Limits,
    table: HashMap<String, Vec<Binding>>,
}

impl Registrar {
    pub fn new(limits: Limits) -> Registrar {
        Registrar {
            limits,
            table: HashMap::new(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Puts back what was stored (expired bindings are dropped).
    pub fn restore(&mut self, now: Time, aor: &str, bindings: Vec<Binding>) {
        let live: Vec<Binding> = bindings
            .into_iter()
            .filter(|b| b.expires_at > now)
            .collect();
        if live.is_empty() {
            self.table.remove(aor);
        } else {
            self.table.insert(aor.to_string(), live);
        }
    }

    /// The live bindings of an AOR, best first (q, then latest).
    pub fn lookup(&self, now: Time, aor: &str) -> Vec<Binding> {
        let mut live: Vec<Binding> = self
            .table
            .get(aor)
            .map(|b| b.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        live.sort_by(|a, b| b.q.cmp(&a.q).then(b.expires_at.cmp(&a.expires_at)));
        live
    }

    /// Drops expired bindings; returns the AORs that changed (to store).
    pub fn expire(&mut self, now: Time) -> Vec<String> {
        let mut changed = Vec::new();
        self.table.retain(|aor, bindings| {
            let before = bindings.len();
            bindings.retain(|b| b.expires_at > now);
            if bindings.len() != before {
                changed.push(aor.clone());
            }
            !bindings.is_empty()
        });
        changed
    }

    /// Every live binding (for keep-alive pings).
    pub fn live(&self, now: Time) -> Vec<Binding> {
        self.table
            .values()
            .flatten()
            .filter(|b| b.expires_at > now)
            .cloned()
            .collect()
    }

    /// The next time a binding expires.
    pub fn next_expiry(&self) -> Option<Time> {
        self.table.values().flatten().map(|b| b.expires_at).min()
    }

    /// Applies an authenticated REGISTER for `aor` that came from `source`.
    pub fn register(&mut self, now: Time, aor: &str, request: &Message, source: &str) -> Outcome {
        let (Ok(call_id), Ok(cseq)) = (request.call_id(), request.cseq()) else {
            return Outcome::Bad("Call-ID and CSeq");
        };
        let header_expires = match request.expires() {
            Ok(e) => e,
            Err(_) => return Outcome::Bad("Expires"),
        };
        let contacts = if request.header(&crate::name::HeaderName::Contact).is_none() {
            Contacts::List(Vec::new())
        } else {
            match request.contacts() {
                Ok(c) => c,
                Err(_) => return Outcome::Bad("Contact"),
            }
        };
        let mut current: Vec<Binding> = self.lookup(now, aor);
        let before = current.clone();
        match contacts {
            Contacts::Star => {
                if header_expires != Some(0) {
                    return Outcome::Bad("Contact: * needs Expires: 0");
                }
                if current
                    .iter()
                    .any(|b| b.call_id == call_id && b.cseq >= cseq.seq)
                {
                    return Outcome::OutOfOrder;
                }
                current.clear();
            }
            Contacts::List(list) => {
                // Check everything before changing anything.
                let mut updates: Vec<(NameAddr, u32)> = Vec::with_capacity(list.len());
                for c in list {
                    if !matches!(c.uri, Uri::Sip(_)) {
                        return Outcome::Bad("Contact must be a sip: or sips: URI");
                    }
                    let asked = c
                        .expires()
                        .or(header_expires)
                        .unwrap_or(self.limits.default_expires);
                    if asked != 0 && asked < self.limits.min_expires {
                        return Outcome::IntervalTooBrief {
                            min_expires: self.limits.min_expires,
                        };
                    }
                    let e = asked.min(self.limits.max_expires);
                    updates.push((c, e));
                }
                for (c, expires) in updates {
                    let uri = c.uri.to_string();
                    let existing = current
                        .iter()
                        .position(|b| same_contact(&b.contact, &c.uri));
                    if let Some(i) = existing {
                        if current[i].call_id == call_id && current[i].cseq >= cseq.seq {
                            return Outcome::OutOfOrder;
                        }
                        current.remove(i);
                    }
                    if expires > 0 {
                        current.push(Binding {
                            contact: uri,
                            expires_at: now + u64::from(expires) * 1_000,
                            q: c.q().unwrap_or(1000),
                            call_id: call_id.to_string(),
                            cseq: cseq.seq,
                            source: source.to_string(),
                        });
                    }
                }
                if current.len() > self.limits.max_contacts {
                    return Outcome::TooManyContacts;
                }
            }
        }
        current.sort_by(|a, b| b.q.cmp(&a.q).then(b.expires_at.cmp(&a.expires_at)));
        let changed = current != before;
        if current.is_empty() {
            self.table.remove(aor);
        } else {
            self.table.insert(aor.to_string(), current.clone());
        }
        Outcome::Ok {
            bindings: current,
            changed,
        }
    }

    pub fn aor_count(&self) -> usize {
        self.table.len()
    }
}

fn same_contact(stored: &str, uri: &Uri) -> bool {
    match (Uri::parse(stored), uri) {
        (Ok(Uri::Sip(a)), Uri::Sip(b)) => a.equivalent(b),
        (Ok(a), b) => &a == b,
        _ => false,
    }
}

/// The 200's Contact header values: every binding with the seconds it has left.
pub fn contact_values(now: Time, bindings: &[Binding]) -> Vec<String> {
    bindings
        .iter()
        .map(|b| {
            format!(
                "<{}>;expires={}",
                b.contact,
                b.expires_at.saturating_sub(now).div_ceil(1_000)
            )
        })
        .collect()
}
