//! Shared workloads for the maple-tree criterion benches (`benches/`).
//!
//! Every structure holds `n` ranges `[10 i, 10 i + 5]` with value `i`, unless a bench
//! punches holes into it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::Criterion;
use maple_tree::{MapleTree, TreeKind, Value};
use nodit::interval::ii;
use nodit::{Interval, NoditMap};
use rangemap::RangeInclusiveMap;

/// The sizes the tree-operation and gap benches use.
pub const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

/// Criterion settings that keep the whole suite to a few minutes.
pub fn quick_criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

/// The workload generator shared with the `maple` command (`fastrand`, seeded).
pub use fastrand::Rng;

/// `(first, last, value)` of range `i`.
pub fn range_of(i: u64) -> (u64, u64, u64) {
    (10 * i, 10 * i + 5, i)
}

/// The tree with `n` ranges, stored in ascending order.
pub fn maple(n: usize, kind: TreeKind) -> MapleTree<Value> {
    let mut t = MapleTree::with_kind(kind);
    for i in 0..n as u64 {
        let (f, l, v) = range_of(i);
        let _ = t.store_range(f..=l, Value::new(v));
    }
    t
}

/// A std `BTreeMap<first, (last, value)>` with `n` ranges.
pub fn btree(n: usize) -> BTreeMap<u64, (u64, u64)> {
    (0..n as u64)
        .map(|i| {
            let (f, l, v) = range_of(i);
            (f, (l, v))
        })
        .collect()
}

/// The value at `x` in a BTreeMap range map.
pub fn btree_load(m: &BTreeMap<u64, (u64, u64)>, x: u64) -> Option<u64> {
    match m.range(..=x).next_back() {
        Some((_, &(l, v))) if l >= x => Some(v),
        _ => None,
    }
}

/// A `rangemap::RangeInclusiveMap` with `n` ranges.
pub fn rangemap(n: usize) -> RangeInclusiveMap<u64, u64> {
    let mut m = RangeInclusiveMap::new();
    for i in 0..n as u64 {
        let (f, l, v) = range_of(i);
        m.insert(f..=l, v);
    }
    m
}

/// A `nodit::NoditMap` with `n` ranges.
pub fn nodit(n: usize) -> NoditMap<u64, Interval<u64>, u64> {
    let mut m = NoditMap::new();
    for i in 0..n as u64 {
        let (f, l, v) = range_of(i);
        let _ = m.insert_strict(ii(f, l), v);
    }
    m
}

/// Ranges of `n` slots with random runs erased: returns the kept `(first, last)` ranges
/// (ascending) and the sizes of all holes inside `[0, 10 n)`, largest first.
pub fn holey_ranges(n: usize, seed: u64) -> (Vec<(u64, u64)>, Vec<u64>) {
    let mut rng = Rng::with_seed(seed);
    let mut kept = Vec::with_capacity(n);
    let mut i = 0u64;
    while i < n as u64 {
        if rng.u64(..10) == 0 {
            i += 1 + rng.u64(..8); // erase a run of 1..=8 ranges
            continue;
        }
        let (f, l, _) = range_of(i);
        kept.push((f, l));
        i += 1;
    }
    let mut holes = Vec::with_capacity(kept.len() + 1);
    let mut next = 0u64;
    for &(f, l) in &kept {
        if f > next {
            holes.push(f - next);
        }
        next = l + 1;
    }
    if 10 * n as u64 > next {
        holes.push(10 * n as u64 - next);
    }
    holes.sort_unstable_by(|a, b| b.cmp(a));
    (kept, holes)
}

/// Highest hole of `size` in `[lo, hi]` by a backwards linear scan of a BTreeMap range
/// map (what a structure without gap tracking has to do).
pub fn btree_gap_rev(m: &BTreeMap<u64, (u64, u64)>, lo: u64, hi: u64, size: u64) -> Option<u64> {
    if size == 0 || hi < lo || hi - lo < size - 1 {
        return None;
    }
    let mut top = hi;
    for (&f, &(l, _)) in m.range(..=hi).rev() {
        if l < top && top - l >= size && top - (size - 1) >= lo {
            return Some(top - (size - 1));
        }
        if f <= lo {
            return None;
        }
        top = top.min(f - 1);
        if top < lo || top - lo < size - 1 {
            return None;
        }
    }
    (top >= lo && top - lo >= size - 1).then(|| top - (size - 1))
}

/// Highest hole of `size` in `[lo, hi]` using nodit's gap iterator.
pub fn nodit_gap_rev(
    m: &NoditMap<u64, Interval<u64>, u64>,
    lo: u64,
    hi: u64,
    size: u64,
) -> Option<u64> {
    m.gaps_trimmed(ii(lo, hi))
        .filter(|g| g.end() - g.start() >= size - 1)
        .last()
        .map(|g| g.end() - (size - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_searches_agree_with_the_tree() {
        let (kept, holes) = holey_ranges(2_000, 3);
        assert!(holes.len() > 10);
        let mut t = MapleTree::new_alloc();
        let mut b = BTreeMap::new();
        let mut nm = NoditMap::new();
        for &(f, l) in &kept {
            t.insert_range(f..=l, Value::new(f))
                .map_err(|e| e.error)
                .unwrap();
            b.insert(f, (l, f));
            nm.insert_strict(ii(f, l), f).unwrap();
        }
        let hi = 10 * 2_000 - 1;
        for size in [
            holes[0],
            holes[holes.len() / 20],
            holes[holes.len() / 2],
            holes[0] + 1,
        ] {
            let want = t.empty_area_rev(0..=hi, size).ok().map(|r| *r.start());
            assert_eq!(btree_gap_rev(&b, 0, hi, size), want, "size {size}");
            assert_eq!(nodit_gap_rev(&nm, 0, hi, size), want, "size {size}");
        }
        assert_eq!(btree_gap_rev(&b, 0, hi, holes[0] + 1), None);
        assert!(btree_gap_rev(&b, 0, hi, holes[0]).is_some());
    }

    #[test]
    fn builders_hold_n_ranges() {
        assert_eq!(maple(300, TreeKind::Plain).len(), 300);
        assert_eq!(btree(300).len(), 300);
        assert_eq!(rangemap(300).iter().count(), 300);
        assert_eq!(nodit(300).len(), 300);
        let b = btree(300);
        assert_eq!(btree_load(&b, 2995), Some(299));
        assert_eq!(btree_load(&b, 2996), None);
    }
}
