//! The one global order of waiting contacts, across every queue.
//!
//! A contact's *effective priority* at time `t` is
//! `queue base priority + contact priority + queue aging per minute × minutes since arrival`.
//! Contacts are served highest effective priority first; among equals, earliest arrival first
//! (arrival in the centre, kept through overflow, widening and callbacks); among those, the order
//! in which the engine first saw them. This is the same order for contacts of one queue and of
//! different queues competing for the same agent.
//!
//! Inside one queue every contact ages at the same rate, so the order never changes with time:
//! `score(t) = (base + priority) × 60,000 − aging × arrival_ms + aging × t_ms` differs between two
//! contacts of one queue by a constant. Each group of contacts with the same queue and needs is
//! therefore one sorted set keyed by the time-free part `k`; across groups, only the heads are
//! compared, at the current time.

use crate::ids::ContactId;
use crate::time::Time;
use std::cmp::Ordering;

/// Scaled priority: points × 60,000 (one point per minute of aging is one unit per millisecond).
pub(crate) const SCALE: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OrderKey {
    /// `(base + priority) × SCALE − aging × arrival_ms`.
    pub(crate) k: i64,
    pub(crate) arrived: Time,
    pub(crate) seq: u64,
    pub(crate) contact: ContactId,
}

impl OrderKey {
    pub(crate) fn new(
        priority: i64,
        aging_per_minute: i64,
        arrived: Time,
        seq: u64,
        contact: ContactId,
    ) -> OrderKey {
        let k = priority
            .saturating_mul(SCALE)
            .saturating_sub(aging_per_minute.saturating_mul(arrived.millis_i64()));
        OrderKey {
            k,
            arrived,
            seq,
            contact,
        }
    }

    /// Scaled effective priority at `now`.
    pub(crate) fn score(&self, aging_per_minute: i64, now: Time) -> i64 {
        self.k
            .saturating_add(aging_per_minute.saturating_mul(now.millis_i64()))
    }
}

/// "Served first" is `Less`: higher `k`, then earlier arrival, then earlier sequence.
impl Ord for OrderKey {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .k
            .cmp(&self.k)
            .then(self.arrived.cmp(&other.arrived))
            .then(self.seq.cmp(&other.seq))
            .then(self.contact.cmp(&other.contact))
    }
}

impl PartialOrd for OrderKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two contacts of possibly different queues at `now`: `Less` is served first.
pub(crate) fn global_cmp(
    a: &OrderKey,
    a_aging: i64,
    b: &OrderKey,
    b_aging: i64,
    now: Time,
) -> Ordering {
    b.score(b_aging, now)
        .cmp(&a.score(a_aging, now))
        .then(a.arrived.cmp(&b.arrived))
        .then(a.seq.cmp(&b.seq))
        .then(a.contact.cmp(&b.contact))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(prio: i64, aging: i64, arrived: u64, seq: u64) -> OrderKey {
        OrderKey::new(
            prio,
            aging,
            Time::from_millis(arrived),
            seq,
            ContactId(seq as i64),
        )
    }

    #[test]
    fn order_within_a_queue_does_not_change_with_time() {
        // Aging 1 point per minute: a contact of priority 0 that arrived 2 minutes before a
        // priority-1 contact is ahead of it at any later time.
        let old = key(0, 1, 0, 1);
        let vip = key(1, 1, 120_000, 2);
        assert!(old < vip);
        for t in [120_000, 500_000, 10_000_000] {
            assert_eq!(
                global_cmp(&old, 1, &vip, 1, Time::from_millis(t)),
                Ordering::Less
            );
        }
        // Equal effective priority: the earlier arrival goes first.
        let a = key(0, 1, 0, 3);
        let b = key(1, 1, 60_000, 4);
        assert_eq!(a.k, b.k);
        assert!(a < b);
    }

    #[test]
    fn across_queues_aging_overtakes_base_priority() {
        // Queue A: base 10, no aging. Queue B: base 0, 2 points per minute.
        let a = key(10, 0, 0, 1);
        let b = key(0, 2, 0, 2);
        assert_eq!(
            global_cmp(&a, 0, &b, 2, Time::from_millis(60_000)),
            Ordering::Less
        );
        // At 5 minutes both are at 10 points: the tie goes to arrival, then sequence.
        assert_eq!(
            global_cmp(&a, 0, &b, 2, Time::from_millis(300_000)),
            Ordering::Less
        );
        assert_eq!(
            global_cmp(&a, 0, &b, 2, Time::from_millis(300_001)),
            Ordering::Greater
        );
    }
}
