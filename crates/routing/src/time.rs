//! The engine's only clock: wall time in milliseconds since the Unix epoch, given with each input.
//!
//! Wall time (not a monotonic instant) because decisions are stored and the engine is rebuilt from
//! them after a restart: an arrival time must mean the same thing in the next process.

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Time(u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub const fn from_millis(ms: u64) -> Time {
        Time(ms)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating (a far deadline, never a wrap-around).
    pub fn plus(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    pub(crate) fn millis_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Time::from_millis(1_000);
        assert_eq!(t.plus(Duration::from_secs(2)).as_millis(), 3_000);
        assert_eq!(t.since(Time::from_millis(4_000)), Duration::ZERO);
        assert_eq!(
            Time::from_millis(u64::MAX)
                .plus(Duration::from_secs(1))
                .as_millis(),
            u64::MAX
        );
    }
}
