//! The reference model the property tests share: ranges covering `0..=u64::MAX` in a
//! `BTreeMap`, stored with the kernel's NULL coalescing (a NULL store is widened over the
//! empty ranges it touches; non-NULL neighbours are never merged). Each test file adds the
//! queries it checks in an `impl Model` block of its own.
// Every test file includes this module and uses a different part of it.
#![allow(dead_code)]

use std::fmt::Debug;
use std::ops::{Bound, RangeInclusive};
use std::sync::Arc;

use maple_tree::{Entry, Value};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

pub use range_model::*;

mod range_model;

impl Model {
    /// The occupied ranges (entries and zero entries) in order.
    pub fn occupied(&self) -> impl DoubleEndedIterator<Item = (u64, u64, Slot)> + '_ {
        self.ranges().filter(|r| r.2 != Slot::Empty)
    }

    /// Whether an occupied range (entry or zero entry) meets `[lo, hi]`.
    pub fn meets_occupied(&self, lo: u64, hi: u64) -> bool {
        let start = self.containing(lo).0;
        self.map
            .range(start..=hi)
            .any(|(_, (_, s))| *s != Slot::Empty)
    }

    /// How many stored ranges hold entry `v`.
    pub fn count_of(&self, v: u64) -> usize {
        self.ranges().filter(|r| r.2 == Slot::Val(v)).count()
    }

    /// The model of a tree holding `entries` (disjoint, any order) and nothing else.
    pub fn of_entries(entries: &[(u64, u64, u64)]) -> Model {
        let mut m = Model::new();
        for &(f, l, v) in entries {
            m.store(f, l, Slot::Val(v));
        }
        m
    }
}

// ---------------------------------------------------------------------------------------
// Entry types under test
// ---------------------------------------------------------------------------------------

/// Distinct entry ids: entries are made from a pool of this many.
pub const POOL: usize = 8;

/// An entry type the tests store: `Value` (no ownership) or `Arc<u64>` (counted: the pool's
/// strong counts show leaks and double drops).
pub trait Ent: Entry + Clone + Debug + PartialEq + std::hash::Hash + Send + Sync + 'static {
    const COUNTED: bool;
    fn mk(pool: &[Arc<u64>], v: u64) -> Self;
    /// The id of an owned entry.
    fn id(&self) -> u64;
    /// The id of an entry as readers see it.
    fn rid(r: Self::Ref<'_>) -> u64;
}

impl Ent for Value {
    const COUNTED: bool = false;
    fn mk(_: &[Arc<u64>], v: u64) -> Self {
        Value::new(v)
    }
    fn id(&self) -> u64 {
        self.get()
    }
    fn rid(r: Value) -> u64 {
        r.get()
    }
}

impl Ent for Arc<u64> {
    const COUNTED: bool = true;
    fn mk(pool: &[Arc<u64>], v: u64) -> Self {
        pool[v as usize].clone()
    }
    fn id(&self) -> u64 {
        **self
    }
    fn rid(r: maple_tree::ArcBorrow<'_, u64>) -> u64 {
        *r
    }
}

pub fn new_pool() -> Vec<Arc<u64>> {
    (0..POOL as u64).map(Arc::new).collect()
}

/// A reader's `(range, entry)` as `(first, last, id)`.
pub fn ent<E: Ent>(r: RangeInclusive<u64>, e: E::Ref<'_>) -> (u64, u64, u64) {
    (*r.start(), *r.end(), E::rid(e))
}

/// An owned or mutably borrowed `(range, entry)` as `(first, last, id)`.
pub fn own<E: Ent>(r: &RangeInclusive<u64>, e: &E) -> (u64, u64, u64) {
    (*r.start(), *r.end(), e.id())
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

// ---------------------------------------------------------------------------------------
// Iterator checks
// ---------------------------------------------------------------------------------------

/// `(start, end)` bounds as `(first, last)`; `None` when they hold no index.
pub fn bounds_to_incl(s: Bound<u64>, e: Bound<u64>) -> Option<(u64, u64)> {
    let lo = match s {
        Bound::Included(x) => x,
        Bound::Excluded(x) => x.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let hi = match e {
        Bound::Included(x) => x,
        Bound::Excluded(x) => x.checked_sub(1)?,
        Bound::Unbounded => MAX,
    };
    (lo <= hi).then_some((lo, hi))
}

/// Drains `it`, taking from the front or the back as the bits of `pattern` say, and checks
/// every item (made comparable by `each`, which also learns the item's position) against
/// `exp`, what a forward walk yields; stops after `limit` items. Checks `size_hint` at every
/// step: exact when `exact` (an `ExactSizeIterator`), else bounds around what is left. A
/// drained iterator must stay drained at both ends.
pub fn drain_mixed<I, T>(
    mut it: I,
    exp: &[T],
    pattern: u32,
    exact: bool,
    limit: usize,
    mut each: impl FnMut(usize, I::Item) -> T,
    what: &dyn Fn() -> String,
) -> Result<(), TestCaseError>
where
    I: DoubleEndedIterator,
    T: PartialEq + Debug,
{
    let (mut lo, mut hi) = (0usize, exp.len());
    let mut bit = 0u32;
    loop {
        let left = hi - lo;
        let (a, b) = it.size_hint();
        if exact {
            prop_assert_eq!((a, b), (left, Some(left)), "size_hint; {}", what());
        } else {
            prop_assert!(
                a <= left && b.is_none_or(|b| left <= b),
                "size_hint {:?} with {} left; {}",
                (a, b),
                left,
                what()
            );
        }
        if lo + (exp.len() - hi) >= limit {
            return Ok(());
        }
        let back = (pattern >> (bit % 32)) & 1 == 1;
        bit += 1;
        let Some(item) = (if back { it.next_back() } else { it.next() }) else {
            break;
        };
        prop_assert!(lo < hi, "more items than expected; {}", what());
        let at = if back {
            hi -= 1;
            hi
        } else {
            lo += 1;
            lo - 1
        };
        let got = each(at, item);
        prop_assert_eq!(
            &got,
            &exp[at],
            "item {} taken from the {}; {}",
            at,
            if back { "back" } else { "front" },
            what()
        );
    }
    prop_assert_eq!(lo, hi, "items left unyielded; {}", what());
    prop_assert!(
        it.next().is_none() && it.next_back().is_none(),
        "an exhausted iterator yielded again; {}",
        what()
    );
    Ok(())
}

/// `default`, or the `PROPTEST_CASES` environment variable when it is set: the tests fix
/// their case counts to fit CI's time, and a deeper run by hand raises them.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
