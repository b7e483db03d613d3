//! When Hotline may acknowledge a mail automatically (RFC 3834): never to a machine (an
//! auto-reply, a bounce, a list, bulk mail), never to ourselves, never to a reply that joined
//! a conversation, and at most `max` times per sender in `window` — the last guard against a
//! responder that ignores every header. Time is an input (milliseconds); no IO.

use std::collections::{HashMap, VecDeque};

#[derive(Debug)]
pub struct AckPolicy {
    max: usize,
    window_ms: u64,
    sent: HashMap<String, VecDeque<u64>>,
}

/// Why no acknowledgement goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAck {
    Machine(&'static str),
    NoSender,
    Ourselves,
    Reply,
    RateLimited,
}

impl AckPolicy {
    pub fn new(max: usize, window_ms: u64) -> Self {
        AckPolicy {
            max,
            window_ms,
            sent: HashMap::new(),
        }
    }

    /// Decides, and counts the acknowledgement when it may go.
    pub fn decide(
        &mut self,
        now_ms: u64,
        sender: &str,
        own_addresses: &[&str],
        machine: Option<&'static str>,
        new_request: bool,
    ) -> Result<(), NoAck> {
        if let Some(why) = machine {
            return Err(NoAck::Machine(why));
        }
        if sender.is_empty() {
            return Err(NoAck::NoSender);
        }
        if own_addresses.contains(&sender) {
            return Err(NoAck::Ourselves);
        }
        if !new_request {
            return Err(NoAck::Reply);
        }
        let window = self.window_ms;
        let q = self.sent.entry(sender.to_string()).or_default();
        while q
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window)
        {
            q.pop_front();
        }
        if q.len() >= self.max {
            return Err(NoAck::RateLimited);
        }
        q.push_back(now_ms);
        if self.sent.len() > 10_000 {
            self.sent
                .retain(|_, q| q.back().is_some_and(|t| now_ms.saturating_sub(*t) < window));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_an_hour_per_sender_and_never_to_machines() {
        let mut p = AckPolicy::new(3, 3_600_000);
        let own = ["support@example.test"];
        for i in 0..3 {
            assert_eq!(p.decide(i, "a@b.ru", &own, None, true), Ok(()));
        }
        assert_eq!(
            p.decide(10, "a@b.ru", &own, None, true),
            Err(NoAck::RateLimited)
        );
        assert_eq!(p.decide(10, "c@b.ru", &own, None, true), Ok(()));
        assert_eq!(p.decide(3_600_001, "a@b.ru", &own, None, true), Ok(()));
        assert_eq!(
            p.decide(20, "x@b.ru", &own, Some("auto-submitted"), true),
            Err(NoAck::Machine("auto-submitted"))
        );
        assert_eq!(
            p.decide(20, "support@example.test", &own, None, true),
            Err(NoAck::Ourselves)
        );
        assert_eq!(p.decide(20, "y@b.ru", &own, None, false), Err(NoAck::Reply));
        assert_eq!(p.decide(20, "", &own, None, true), Err(NoAck::NoSender));
    }
}
