//! Estimated wait: how long until an agent takes this contact, with a range and the parts it was
//! computed from, so a supervisor (or a test) can check it.
//!
//! With `ahead` contacts in front and agents completing work at a combined rate `μ` (the sum over
//! the agents who can take the contact of capacity ÷ their measured handle time, each agent's
//! rate shared equally between the queues with people waiting that they serve), the contact is
//! taken at the `(ahead + 1)`-th completion. For exponential handle times that wait is
//! Erlang-distributed: mean `(ahead + 1) / μ`, standard deviation `√(ahead + 1) / μ`. The range
//! is the mean ± 1.28 standard deviations (≈ 80 % of outcomes), never below zero.

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// 1-based position in the queue (what a caller hears: "you are number 3").
    pub position: usize,
    /// Expected wait; empty when no agent who could take the contact is logged in.
    pub expected: Option<Duration>,
    pub low: Option<Duration>,
    pub high: Option<Duration>,
    pub parts: EstimateParts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstimateParts {
    pub ahead: usize,
    /// Logged-in agents able to take the contact.
    pub agents: usize,
    /// Combined completions per hour of those agents, shares applied.
    pub completions_per_hour: f64,
    /// Their average measured handle time (or the queue's default until measured).
    pub average_handle_time: Duration,
}

const Z80: f64 = 1.2816;

pub(crate) fn build(ahead: usize, agents: usize, rate_per_ms: f64, handle_ms: f64) -> Estimate {
    let parts = EstimateParts {
        ahead,
        agents,
        completions_per_hour: rate_per_ms * 3_600_000.0,
        average_handle_time: Duration::from_millis(handle_ms.max(0.0) as u64),
    };
    if agents == 0 || rate_per_ms <= 0.0 {
        return Estimate {
            position: ahead + 1,
            expected: None,
            low: None,
            high: None,
            parts,
        };
    }
    let k = (ahead + 1) as f64;
    let mean = k / rate_per_ms;
    let sd = k.sqrt() / rate_per_ms;
    let ms = |x: f64| Duration::from_millis(x.max(0.0).round() as u64);
    Estimate {
        position: ahead + 1,
        expected: Some(ms(mean)),
        low: Some(ms(mean - Z80 * sd)),
        high: Some(ms(mean + Z80 * sd)),
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_in_line_with_two_agents_of_three_minutes() {
        // Two agents, 180 s each: 1 completion per 90 s. Third in line: 3 completions, 270 s.
        let e = build(2, 2, 2.0 / 180_000.0, 180_000.0);
        assert_eq!(e.position, 3);
        assert_eq!(e.expected, Some(Duration::from_secs(270)));
        let (low, high) = (e.low.unwrap().as_secs_f64(), e.high.unwrap().as_secs_f64());
        assert!(
            (low - (270.0 - 1.2816 * 90.0 * 3f64.sqrt())).abs() < 0.01,
            "{low}"
        );
        assert!(
            (high - (270.0 + 1.2816 * 90.0 * 3f64.sqrt())).abs() < 0.01,
            "{high}"
        );
        assert!((e.parts.completions_per_hour - 40.0).abs() < 1e-9);
    }

    #[test]
    fn no_agents_no_estimate() {
        let e = build(5, 0, 0.0, 180_000.0);
        assert_eq!(e.position, 6);
        assert_eq!(e.expected, None);
    }
}
