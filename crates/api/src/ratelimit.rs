//! Log-in throttling: after N failures for one user name, or from one client address, within a
//! window, further attempts are refused until the window has passed. A success clears the name.
//! Time is an input, so the rule is tested without sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginLimiter {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when any of `keys` is locked out at `now`.
    pub fn check(&self, keys: &[String], now: Instant) -> Option<u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for key in keys {
            if let Some(list) = map.get_mut(key) {
                list.retain(|t| now.duration_since(*t) < self.window);
                if list.len() as u32 >= self.max_failures {
                    let oldest = list.first().copied().unwrap_or(now);
                    let secs = self
                        .window
                        .saturating_sub(now.duration_since(oldest))
                        .as_secs()
                        .max(1);
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait
    }

    pub fn record_failure(&self, keys: &[String], now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory under a spray of user names: forget expired entries when the map grows.
        if map.len() > 100_000 {
            map.retain(|_, list| {
                list.last()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in keys {
            map.entry(key.clone()).or_default().push(now);
        }
    }

    pub fn record_success(&self, user_key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_failures_and_unlocks_after_window() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let keys = vec!["user:olga".to_string(), "ip:127.0.0.1".to_string()];
        for i in 0..3 {
            assert_eq!(l.check(&keys, t0), None);
            l.record_failure(&keys, t0 + Duration::from_secs(i));
        }
        assert_eq!(l.check(&keys, t0 + Duration::from_secs(10)), Some(50));
        // Another name from the same address is locked too.
        assert!(l
            .check(
                &["user:ivan".into(), "ip:127.0.0.1".into()],
                t0 + Duration::from_secs(10)
            )
            .is_some());
        assert_eq!(l.check(&keys, t0 + Duration::from_secs(63)), None);
        l.record_success("user:olga");
        assert_eq!(l.check(&keys[..1], t0 + Duration::from_secs(10)), None);
    }
}
