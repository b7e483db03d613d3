//! Skill names interned to small integers, and requirement sets interned so that contacts with the
//! same needs share one place in a queue.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SkillId(pub(crate) u32);

/// Sorted by skill; one entry per skill.
pub(crate) type Levels = Vec<(SkillId, u8)>;

#[derive(Debug, Default)]
pub(crate) struct SkillTable {
    ids: HashMap<String, SkillId>,
    names: Vec<String>,
}

impl SkillTable {
    pub(crate) fn intern(&mut self, name: &str) -> SkillId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = SkillId(u32::try_from(self.names.len()).expect("fewer than 2^32 skill names"));
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }

    #[cfg(test)]
    pub(crate) fn name(&self, id: SkillId) -> &str {
        &self.names[id.0 as usize]
    }

    /// Interns `(name, level)` pairs into sorted levels; a skill named twice keeps its highest.
    pub(crate) fn levels<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a str, u8)>) -> Levels {
        let mut out: Levels = pairs
            .into_iter()
            .map(|(n, l)| (self.intern(n), l))
            .collect();
        out.sort_unstable();
        let mut merged: Levels = Vec::with_capacity(out.len());
        for (s, l) in out {
            match merged.last_mut() {
                Some((ls, ll)) if *ls == s => *ll = (*ll).max(l),
                _ => merged.push((s, l)),
            }
        }
        merged
    }
}

/// The proficiency of an agent in a skill, 0 when the agent lacks it.
pub(crate) fn level(skills: &Levels, skill: SkillId) -> u8 {
    match skills.binary_search_by_key(&skill, |(s, _)| *s) {
        Ok(i) => skills[i].1,
        Err(_) => 0,
    }
}

/// Whether `skills` meet every `(skill, min)` in `needs`.
pub(crate) fn meets(skills: &Levels, needs: &Levels) -> bool {
    needs.iter().all(|(s, min)| level(skills, *s) >= *min)
}

/// Sum of the agent's proficiency in the skills asked for (for "most proficient").
pub(crate) fn proficiency_score(skills: &Levels, needs: &Levels) -> u32 {
    needs
        .iter()
        .map(|(s, _)| u32::from(level(skills, *s)))
        .sum()
}

/// Union of two sorted level lists, keeping the higher level of a skill in both.
pub(crate) fn merge(a: &Levels, b: &Levels) -> Levels {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                out.push((x.0, x.1.max(y.1)));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                out.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// The skills of a list as bits, for ids below 64 (higher ids are checked by `meets` alone).
pub(crate) fn mask(levels: &Levels) -> u64 {
    levels
        .iter()
        .filter(|(s, _)| s.0 < 64)
        .fold(0, |m, (s, _)| m | (1u64 << s.0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ReqSetId(pub(crate) u32);

#[derive(Debug, Default)]
pub(crate) struct ReqSets {
    ids: HashMap<Levels, ReqSetId>,
    sets: Vec<Levels>,
}

impl ReqSets {
    pub(crate) fn intern(&mut self, set: Levels) -> ReqSetId {
        if let Some(id) = self.ids.get(&set) {
            return *id;
        }
        let id =
            ReqSetId(u32::try_from(self.sets.len()).expect("fewer than 2^32 requirement sets"));
        self.ids.insert(set.clone(), id);
        self.sets.push(set);
        id
    }

    pub(crate) fn intern_ref(&mut self, set: &Levels) -> ReqSetId {
        match self.ids.get(set) {
            Some(id) => *id,
            None => self.intern(set.clone()),
        }
    }

    pub(crate) fn get(&self, id: ReqSetId) -> &Levels {
        &self.sets[id.0 as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_merge_and_check() {
        let mut t = SkillTable::default();
        let agent = t.levels([("ru", 5), ("cards", 2), ("ru", 3)]);
        assert_eq!(agent.len(), 2);
        assert_eq!(level(&agent, t.intern("ru")), 5);
        let need = t.levels([("cards", 2)]);
        assert!(meets(&agent, &need));
        let need = t.levels([("cards", 3)]);
        assert!(!meets(&agent, &need));
        let need = t.levels([("loans", 1)]);
        assert!(!meets(&agent, &need));
        let merged = merge(
            &t.levels([("ru", 2), ("vip", 1)]),
            &t.levels([("ru", 4), ("cards", 1)]),
        );
        assert_eq!(merged, t.levels([("ru", 4), ("vip", 1), ("cards", 1)]));
        assert_eq!(mask(&merged).count_ones(), 3);
        let cards = t.intern("cards");
        assert_eq!(t.name(cards), "cards");
    }
}
