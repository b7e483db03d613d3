//! Agent selection strategies: which of several agents free for a contact gets it.
//! "Idle" is since the agent last held nothing. Ties always fall back to the agent idle the longest, then to the queue's member order, so the
//! choice is deterministic.

use crate::config::Strategy;
use crate::engine::Engine;
use crate::skills::{proficiency_score, Levels};
use crate::time::Time;

/// Returns the chosen agent and its position in `members`.
pub(crate) fn pick(
    engine: &Engine,
    strategy: Strategy,
    members: &[usize],
    rr_next: usize,
    needs: &Levels,
    eligible: impl Fn(usize) -> bool,
) -> Option<(usize, usize)> {
    if members.is_empty() {
        return None;
    }
    if strategy == Strategy::RoundRobin {
        let n = members.len();
        return (0..n)
            .map(|i| (rr_next + i) % n)
            .find(|pos| eligible(members[*pos]))
            .map(|pos| (members[pos], pos));
    }
    // Smaller is better: (strategy's measure, idle since, position).
    let mut best: Option<((i64, Time, usize), usize)> = None;
    for (pos, &ai) in members.iter().enumerate() {
        if !eligible(ai) {
            continue;
        }
        let (idle_since, load, skills) = engine.select_facts(ai);
        let measure = match strategy {
            // Someone holding nothing before anyone holding a chat or an e-mail.
            Strategy::LongestIdle | Strategy::RoundRobin => i64::from(load > 0),
            Strategy::MostProficient => -i64::from(proficiency_score(skills, needs)),
            Strategy::LeastOccupied => load as i64,
        };
        let rank = (measure, idle_since, pos);
        if best.as_ref().is_none_or(|(b, _)| rank < *b) {
            best = Some((rank, ai));
        }
    }
    best.map(|((_, _, pos), ai)| (ai, pos))
}
