//! The range model both the property tests (`tests/`) and the fuzz targets (`maple-cli`'s
//! `fuzz_checks`, which includes this file by path) check the tree against: ranges covering
//! `0..=u64::MAX` in a `BTreeMap`, stored with the kernel's NULL coalescing (a NULL store is
//! widened over the empty ranges it touches; non-NULL neighbours are never merged). It needs
//! only `std` and `maple_tree::Error`, so that either side can include it.

use std::collections::BTreeMap;

use maple_tree::Error;

/// The last index.
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
    /// The entry's value, if it holds one.
    pub fn val(self) -> Option<u64> {
        match self {
            Slot::Val(v) => Some(v),
            _ => None,
        }
    }
}

/// The model tree.
#[derive(Clone, Debug)]
pub struct Model {
    /// first -> (last, slot); covers `0..=MAX`, no two adjacent `Empty` ranges.
    pub map: BTreeMap<u64, (u64, Slot)>,
    /// The tree's cyclic-allocation "wrapped" flag (the kernel's MT_FLAGS_ALLOC_WRAPPED).
    pub wrapped: bool,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
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

    /// Splits the range holding `at` so that a range starts at `at` (what cutting an entry
    /// at `at` does to the tree).
    pub fn split_at(&mut self, at: u64) {
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

    /// Whether `[first, last]` is wholly empty.
    pub fn insert_ok(&self, first: u64, last: u64) -> bool {
        let (_, l, s) = self.containing(first);
        s == Slot::Empty && l >= last
    }

    /// The stored entries as `(first, last, value)`.
    pub fn entries(&self) -> Vec<(u64, u64, u64)> {
        self.ranges()
            .filter_map(|(f, l, s)| s.val().map(|v| (f, l, v)))
            .collect()
    }

    /// Entries meeting `[lo, hi]`, whole.
    pub fn intersecting(&self, lo: u64, hi: u64) -> Vec<(u64, u64, u64)> {
        if lo > hi {
            return Vec::new();
        }
        let start = self.containing(lo).0;
        self.map
            .range(start..=hi)
            .filter_map(|(f, (l, s))| s.val().map(|v| (*f, *l, v)))
            .collect()
    }

    /// First entry starting in `(after, max]`.
    pub fn next_val(&self, after: u64, max: u64) -> Option<(u64, u64, u64)> {
        if after >= max {
            return None;
        }
        self.map
            .range(after + 1..=max)
            .find_map(|(f, (l, s))| s.val().map(|v| (*f, *l, v)))
    }

    /// Last entry ending in `[min, before)`.
    pub fn prev_val(&self, before: u64, min: u64) -> Option<(u64, u64, u64)> {
        if before <= min {
            return None;
        }
        self.map
            .range(..before)
            .rev()
            .take_while(|(_, (l, _))| *l >= min)
            .find_map(|(f, (l, s))| s.val().map(|v| (*f, *l, v)))
    }

    /// The empty ranges meeting `[lo, hi]`, clipped to it (what `gaps(lo..=hi)` yields).
    pub fn gaps_in(&self, lo: u64, hi: u64) -> Vec<(u64, u64)> {
        if lo > hi {
            return Vec::new();
        }
        let start = self.containing(lo).0;
        self.map
            .range(start..=hi)
            .filter(|(_, (_, s))| *s == Slot::Empty)
            .map(|(f, (l, _))| ((*f).max(lo), (*l).min(hi)))
            .collect()
    }

    fn check_window(lo: u64, hi: u64, size: u64) -> Result<(), Error> {
        if size == 0 || lo > hi || hi - lo < size - 1 {
            return Err(Error::Invalid);
        }
        Ok(())
    }

    /// Lowest fitting hole part inside `[lo, hi]` (`mas_empty_area`).
    pub fn area(&self, lo: u64, hi: u64, size: u64) -> Result<(u64, u64), Error> {
        Self::check_window(lo, hi, size)?;
        for (a, b) in self.gaps_in(lo, hi) {
            if b - a >= size - 1 {
                return Ok((a, a + (size - 1)));
            }
        }
        Err(Error::Busy)
    }

    /// Highest fitting hole part inside `[lo, hi]` (`mas_empty_area_rev`).
    pub fn area_rev(&self, lo: u64, hi: u64, size: u64) -> Result<(u64, u64), Error> {
        Self::check_window(lo, hi, size)?;
        for (a, b) in self.gaps_in(lo, hi).into_iter().rev() {
            if b - a >= size - 1 {
                return Ok((b - (size - 1), b));
            }
        }
        Err(Error::Busy)
    }

    /// The kernel's `mas_alloc_cyclic` decision, `Ok((index, wrapped))`; updates `next` and
    /// the wrapped flag as the tree does (the caller stores the entry).
    pub fn cyclic(&mut self, lo: u64, hi: u64, next: &mut u64) -> Result<(u64, bool), Error> {
        let start = lo.max(*next);
        let mut r = self.area(start, hi, 1);
        let mut wrapped = false;
        if r.is_ok() && self.wrapped {
            self.wrapped = false;
            wrapped = true;
        }
        if r.is_err() && start > lo {
            r = self.area(lo, hi, 1);
            if r.is_ok() {
                wrapped = true;
            }
        }
        let (i, _) = r?;
        *next = i.wrapping_add(1);
        if *next == 0 {
            self.wrapped = true;
        }
        Ok((i, wrapped))
    }
}
