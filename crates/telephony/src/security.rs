//! The security log: one line per refused or failed request, on the `hotline::security` target,
//! in a fixed format that `contrib/fail2ban/hotline-sip.conf` matches:
//!
//! ```text
//! SIP security: event=<event> src=<ip>:<port> transport=<udp|tcp> method=<METHOD> user=<extension or -> detail=<word>
//! ```
//!
//! `user` is the extension a REGISTER claimed (an internal number, not a customer's); caller
//! numbers and URIs never appear.

use hotline_sip::transaction::Peer;

pub fn log(event: &str, from: &Peer, method: &str, user: Option<&str>, detail: &str) {
    let (src, transport) = (from.addr, transport_name(from));
    let user: String = user
        .map(|u| {
            u.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .take(32)
                .collect()
        })
        .filter(|u: &String| !u.is_empty())
        .unwrap_or_else(|| "-".to_string());
    let method: String = method
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    tracing::warn!(
        target: "hotline::security",
        "SIP security: event={event} src={src} transport={transport} method={method} user={user} detail={detail}"
    );
}

/// `udp` or `tcp`, as the log and the registrations' `source` write it.
pub fn transport_name(peer: &Peer) -> &'static str {
    if peer.transport.reliable() {
        "tcp"
    } else {
        "udp"
    }
}

/// Messages per second allowed from one address (token bucket, burst twice the rate). Over it,
/// messages are dropped unanswered and one `rate_limited` line is logged per burst. Trunks'
/// addresses are not limited (a carrier legitimately sends thousands per second).
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: std::collections::HashMap<std::net::IpAddr, Bucket>,
}

struct Bucket {
    tokens: f64,
    at: std::time::Instant,
    /// Whether this run of drops has been logged.
    logged: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Dropped; `first` of a run (log it).
    No {
        first: bool,
    },
}

impl RateLimiter {
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(per_second),
            burst: f64::from(per_second) * 2.0,
            buckets: std::collections::HashMap::new(),
        }
    }

    pub fn admit(&mut self, ip: std::net::IpAddr, now: std::time::Instant) -> Admit {
        if self.rate <= 0.0 {
            return Admit::Yes;
        }
        if self.buckets.len() > 100_000 {
            // Forget addresses whose bucket would be full again anyway.
            let full = std::time::Duration::from_secs_f64(self.burst / self.rate);
            self.buckets.retain(|_, b| now.duration_since(b.at) < full);
        }
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at: now,
            logged: false,
        });
        let elapsed = now.duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.logged = false;
            Admit::Yes
        } else {
            let first = !b.logged;
            b.logged = true;
            Admit::No { first }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_flood_is_cut_to_the_rate_and_logged_once_per_run() {
        let mut l = RateLimiter::new(10);
        let ip = "192.0.2.1".parse().expect("ip");
        let other = "192.0.2.2".parse().expect("ip");
        let t0 = Instant::now();
        let verdicts: Vec<Admit> = (0..100).map(|_| l.admit(ip, t0)).collect();
        let admitted = verdicts.iter().filter(|v| **v == Admit::Yes).count();
        assert_eq!(admitted, 20, "the burst, then nothing");
        assert_eq!(
            verdicts[20],
            Admit::No { first: true },
            "the first drop is logged"
        );
        assert_eq!(
            l.admit(ip, t0),
            Admit::No { first: false },
            "the rest are not"
        );
        assert_eq!(l.admit(other, t0), Admit::Yes, "per address");
        // A second later ten more are allowed.
        let t1 = t0 + Duration::from_secs(1);
        let admitted = (0..100).filter(|_| l.admit(ip, t1) == Admit::Yes).count();
        assert_eq!(admitted, 10);
        // A new run of drops after admitted messages is logged again.
        let t2 = t1 + Duration::from_millis(100);
        assert_eq!(l.admit(ip, t2), Admit::Yes);
        assert_eq!(l.admit(ip, t2), Admit::No { first: true });
        assert_eq!(RateLimiter::new(0).admit(ip, t0), Admit::Yes);
    }
}
