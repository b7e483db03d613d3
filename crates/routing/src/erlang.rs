//! Erlang C: the queueing-theory model of one queue with Poisson arrivals, exponential handle
//! times and `agents` servers (M/M/c). Used to cross-check the engine in simulation and, in
//! reports, to forecast the staff a load needs.
//!
//! `traffic` is the offered load in erlangs: arrivals per second × average handle time in
//! seconds.

/// Erlang B blocking probability, by the stable recursion `B(0) = 1`,
/// `B(n) = A·B(n−1) / (n + A·B(n−1))`.
pub fn erlang_b(traffic: f64, agents: u32) -> f64 {
    let mut b = 1.0;
    for n in 1..=agents {
        b = traffic * b / (f64::from(n) + traffic * b);
    }
    b
}

/// Probability that a contact has to wait (Erlang C). 1 when the load is at or over capacity.
pub fn erlang_c(traffic: f64, agents: u32) -> f64 {
    let n = f64::from(agents);
    if traffic <= 0.0 {
        return 0.0;
    }
    if traffic >= n {
        return 1.0;
    }
    let b = erlang_b(traffic, agents);
    n * b / (n - traffic * (1.0 - b))
}

/// Share of contacts answered within `threshold_s` seconds.
pub fn service_level(traffic: f64, agents: u32, handle_s: f64, threshold_s: f64) -> f64 {
    let n = f64::from(agents);
    if traffic >= n {
        return 0.0;
    }
    1.0 - erlang_c(traffic, agents) * (-(n - traffic) * threshold_s / handle_s).exp()
}

/// Average wait of all contacts (answered ones included at zero), in seconds.
pub fn average_speed_of_answer(traffic: f64, agents: u32, handle_s: f64) -> f64 {
    let n = f64::from(agents);
    if traffic >= n {
        return f64::INFINITY;
    }
    erlang_c(traffic, agents) * handle_s / (n - traffic)
}

/// The fewest agents that reach `target` (0–1) service level within `threshold_s`.
pub fn agents_for_service_level(traffic: f64, handle_s: f64, threshold_s: f64, target: f64) -> u32 {
    let mut n = traffic.floor().max(0.0) as u32 + 1;
    while service_level(traffic, n, handle_s, threshold_s) < target {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values() {
        // Reference: 10 erlangs on 11 agents waits with probability 0.6821 (standard tables),
        // 100 calls/30 min of 180 s = 10 E; 13 agents give 80/20 service level ≈ 0.8 .
        assert!(
            (erlang_c(10.0, 11) - 0.6821).abs() < 1e-3,
            "{}",
            erlang_c(10.0, 11)
        );
        assert!(
            (erlang_b(10.0, 10) - 0.2146).abs() < 1e-3,
            "{}",
            erlang_b(10.0, 10)
        );
        assert_eq!(agents_for_service_level(10.0, 180.0, 20.0, 0.8), 14);
        let sl13 = service_level(10.0, 13, 180.0, 20.0);
        let sl14 = service_level(10.0, 14, 180.0, 20.0);
        assert!(sl13 < 0.8 && sl14 >= 0.8, "{sl13} {sl14}");
        assert_eq!(erlang_c(0.0, 3), 0.0);
        assert_eq!(erlang_c(5.0, 5), 1.0);
        assert!(
            average_speed_of_answer(10.0, 11, 180.0) > average_speed_of_answer(10.0, 12, 180.0)
        );
    }
}
