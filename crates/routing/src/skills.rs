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
        let cards = t.intern("cards");
        assert_eq!(t.name(cards), "cards");
    }
}
