//! One heap of deadlines. Entries are never removed: each carries the generation of its owner at
//! the time it was armed, and a stale entry is dropped when it surfaces.

use crate::ids::ContactId;
use crate::time::Time;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Owner {
    Contact(ContactId),
    Agent(usize),
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Time, Owner, u32)>>,
}

impl Timers {
    pub(crate) fn arm(&mut self, at: Time, owner: Owner, generation: u32) {
        self.heap.push(Reverse((at, owner, generation)));
    }

    /// The earliest entry, stale or not.
    pub(crate) fn peek(&self) -> Option<(Time, Owner, u32)> {
        self.heap.peek().map(|Reverse(e)| *e)
    }

    pub(crate) fn pop(&mut self) -> Option<(Time, Owner, u32)> {
        self.heap.pop().map(|Reverse(e)| e)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
