//! The reference model the property tests share: ranges covering `0..=u64::MAX` in a
//! `BTreeMap`, stored with the kernel's NULL coalescing (a NULL store is widened over the
//! empty ranges it touches; non-NULL neighbours are never merged). Each test file adds the
//! queries it checks in an `impl Model` block of its own.
// Every test file includes this module and uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use proptest::prelude::*;

pub const MAX: u64 = u64::MAX;

/// What a model range holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Slot {
    Empty,
    /// The reserved zero entry: occupies space, loads as `None`.
    Zero,
    Val(u64),
}

impl Slot {
    pub fn val(self) -> Option<u64> {
        match self {
            Slot::Val(v) => Some(v),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Model {
    /// first -> (last, slot); covers 0..=MAX, no two adjacent Empty ranges.
    pub map: BTreeMap<u64, (u64, Slot)>,
    /// The tree's cyclic-allocation "wrapped" flag (the kernel's MT_FLAGS_ALLOC_WRAPPED).
    pub wrapped: bool,
}

impl Model {
    pub fn new() -> Self {
        let mut map = BTreeMap::new();
        map.insert(0, (MAX, Slot::Empty));
        Model {
            map,
            wrapped: false,
        }
    }

    /// The range holding `i`.
    pub fn containing(&self, i: u64) -> (u64, u64, Slot) {
        let (f, (l, s)) = self.map.range(..=i).next_back().unwrap();
        (*f, *l, *s)
    }

    fn split_at(&mut self, at: u64) {
        if at == 0 {
            return;
        }
        let (f, l, s) = self.containing(at);
        if f == at {
            return;
        }
        self.map.insert(f, (at - 1, s));
        self.map.insert(at, (l, s));
    }

    /// Stores `slot` over `[first, last]`; returns what was at `first` before.
    pub fn store(&mut self, first: u64, last: u64, slot: Slot) -> Slot {
        assert!(first <= last);
        let old = self.containing(first).2;
        self.split_at(first);
        if last < MAX {
            self.split_at(last + 1);
        }
        let keys: Vec<u64> = self.map.range(first..=last).map(|(k, _)| *k).collect();
        for k in keys {
            self.map.remove(&k);
        }
        let (mut f, mut l) = (first, last);
        if slot == Slot::Empty {
            if f > 0 {
                let (pf, _, ps) = self.containing(f - 1);
                if ps == Slot::Empty {
                    self.map.remove(&pf);
                    f = pf;
                }
            }
            if l < MAX {
                if let Some(&(nl, Slot::Empty)) = self.map.get(&(l + 1)) {
                    self.map.remove(&(l + 1));
                    l = nl;
                }
            }
        }
        self.map.insert(f, (l, slot));
        old
    }

    /// Every range in order.
    pub fn ranges(&self) -> impl DoubleEndedIterator<Item = (u64, u64, Slot)> + '_ {
        self.map.iter().map(|(f, (l, s))| (*f, *l, *s))
    }

    /// The empty ranges in order.
    pub fn holes(&self) -> impl DoubleEndedIterator<Item = (u64, u64)> + '_ {
        self.ranges()
            .filter(|r| r.2 == Slot::Empty)
            .map(|(f, l, _)| (f, l))
    }
}

/// Keys over the whole index space, weighted towards the edges, the middle and powers of two,
/// where node bounds and off-by-one mistakes live.
pub fn huge_key() -> BoxedStrategy<u64> {
    prop_oneof![
        3 => 0u64..64,
        3 => (MAX - 63)..=MAX,
        2 => any::<u64>(),
        1 => (0u64..64).prop_map(|d| MAX / 2 - 32 + d),
        1 => (0u32..64).prop_map(|s| 1u64 << s),
    ]
    .boxed()
}
