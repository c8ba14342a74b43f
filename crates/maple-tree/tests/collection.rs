//! Property tests of the read-only and constructing parts of the collection API against the
//! reference model, on both tree kinds and both entry types: `keys`, `values`, `contains`,
//! `first`, `last`, `overlapping`/`range` with every kind of bound, `gaps`, `FromIterator`,
//! `Extend`, `try_extend`, `PartialEq`/`Eq`/`Hash`, iterator lengths and `size_hint`, cloned
//! iterators and cursors, and `Debug`. Reads are checked on an owned tree, on a shared tree's
//! writer and through a lock-free reader. (The operations that change a tree run as operations
//! of the state machine in `model.rs`, interleaved with everything else.)
// Plain-thread tests: under `--cfg loom` only `loom_tree` runs (loom atomics need a model).
#![cfg(not(loom))]

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Bound, RangeInclusive};
use std::sync::Arc;

use maple_tree::{Access, Error, MapleTree, RcuMapleTree, TreeKind, TreeView, Value};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

mod common;
use common::{bounds_to_incl, drain_mixed, ent, new_pool, own, Ent, Model, Slot, MAX, POOL};

const KINDS: [TreeKind; 2] = [TreeKind::Plain, TreeKind::Alloc];

// ---------------------------------------------------------------------------------------
// Building trees
// ---------------------------------------------------------------------------------------

/// One step of a tree's history.
#[derive(Clone, Copy, Debug)]
enum Build {
    Store(u64, u64, u64),
    Erase(u64, u64),
    Reserve(u64, u64),
    /// `n` stores of length `len + 1`, `stride` apart, from `start`.
    Fill(u64, u16, u64, u64),
}

fn key(huge: bool) -> BoxedStrategy<u64> {
    if huge {
        common::huge_key()
    } else {
        prop_oneof![20 => 0u64..600, 1 => Just(MAX), 1 => (MAX - 3)..=MAX].boxed()
    }
}

fn range_of(huge: bool) -> BoxedStrategy<(u64, u64)> {
    let k = key(huge);
    prop_oneof![
        2 => (k.clone(), k.clone()).prop_map(|(a, b)| (a.min(b), a.max(b))),
        6 => (k, 0u64..8).prop_map(|(a, l)| (a, a.saturating_add(l))),
    ]
    .boxed()
}

fn history(huge: bool) -> BoxedStrategy<Vec<Build>> {
    let step = prop_oneof![
        8 => (range_of(huge), 0..POOL as u64).prop_map(|((a, b), v)| Build::Store(a, b, v)),
        3 => range_of(huge).prop_map(|(a, b)| Build::Erase(a, b)),
        2 => range_of(huge).prop_map(|(a, b)| Build::Reserve(a, b)),
        2 => (key(huge), 1u16..200, 1u64..5, 0u64..3)
            .prop_map(|(s, n, stride, len)| Build::Fill(s, n, stride, len.min(stride - 1))),
    ];
    prop::collection::vec(step, 0..40).boxed()
}

/// A history over small or huge keys.
fn any_history() -> BoxedStrategy<Vec<Build>> {
    prop_oneof![history(false), history(true)].boxed()
}

/// Replays `history` on a new tree of `kind` and on a model.
fn build<E: Ent>(kind: TreeKind, history: &[Build], pool: &[Arc<u64>]) -> (MapleTree<E>, Model) {
    let mut t = MapleTree::with_kind(kind);
    let mut m = Model::new();
    for &b in history {
        match b {
            Build::Store(a, z, v) => {
                t.store_range(a..=z, E::mk(pool, v)).unwrap();
                m.store(a, z, Slot::Val(v));
            }
            Build::Erase(a, z) => {
                t.erase_range(a..=z).unwrap();
                m.store(a, z, Slot::Empty);
            }
            Build::Reserve(a, z) => {
                t.reserve_range(a..=z).unwrap();
                m.store(a, z, Slot::Zero);
            }
            Build::Fill(start, n, stride, len) => {
                let mut f = start;
                for j in 0..u64::from(n) {
                    let l = f.saturating_add(len);
                    let v = (start + j) % POOL as u64;
                    t.store_range(f..=l, E::mk(pool, v)).unwrap();
                    m.store(f, l, Slot::Val(v));
                    match f.checked_add(stride) {
                        Some(x) => f = x,
                        None => break,
                    }
                }
            }
        }
    }
    t.validate().unwrap();
    (t, m)
}

fn bound() -> BoxedStrategy<Bound<u64>> {
    let k = prop_oneof![key(false), key(true)];
    prop_oneof![
        3 => k.clone().prop_map(Bound::Included),
        2 => k.prop_map(Bound::Excluded),
        1 => Just(Bound::Unbounded),
        1 => Just(Bound::Included(0)),
        1 => Just(Bound::Included(MAX)),
        1 => Just(Bound::Excluded(MAX)),
        1 => Just(Bound::Excluded(0)),
    ]
    .boxed()
}

/// Windows: any bounds, including empty ones (`5..5`, `(Excluded(MAX), ..)`).
fn windows() -> BoxedStrategy<Vec<(Bound<u64>, Bound<u64>)>> {
    prop::collection::vec((bound(), bound()), 1..6).boxed()
}

/// `cases` per property, or `PROPTEST_CASES` when set (for a deeper run by hand).
fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: common::cases(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// `a == b` when `b == a` agrees, `None` when it does not (equality must be symmetric).
fn sym<T: PartialEq>(a: &T, b: &T) -> Option<bool> {
    let (ab, ba) = (a.eq(b), b.eq(a));
    (ab == ba).then_some(ab)
}

fn hash_of<T: Hash>(t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

fn released(pool: &[Arc<u64>]) -> Result<(), TestCaseError> {
    for (id, a) in pool.iter().enumerate() {
        prop_assert_eq!(
            Arc::strong_count(a),
            1,
            "entry {} leaked or over-dropped",
            id
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------

/// `keys`, `values`, `contains`, `first`, `last`, `overlapping`/`range` and `gaps` in every
/// window (front, back and mixed), against the model.
fn check_reads<E: Ent, A: Access>(
    v: &TreeView<E, A>,
    m: &Model,
    windows: &[(Bound<u64>, Bound<u64>)],
    pattern: u32,
    what: &str,
) -> Result<(), TestCaseError> {
    let exp = m.entries();
    let keys: Vec<_> = exp.iter().map(|&(f, l, _)| f..=l).collect();
    let ids: Vec<_> = exp.iter().map(|x| x.2).collect();
    for pat in [0, !0, pattern] {
        drain_mixed(v.keys(), &keys, pat, false, usize::MAX, |_, k| k, &|| {
            format!("{what}: keys() pattern {pat:#x}")
        })?;
        drain_mixed(
            v.values(),
            &ids,
            pat,
            false,
            usize::MAX,
            |_, e| E::rid(e),
            &|| format!("{what}: values() pattern {pat:#x}"),
        )?;
    }
    let first = v.first().map(|(r, e)| ent::<E>(r, e));
    prop_assert_eq!(first, exp.first().copied(), "{}: first()", what);
    let last = v.last().map(|(r, e)| ent::<E>(r, e));
    prop_assert_eq!(last, exp.last().copied(), "{}: last()", what);
    for (f, l, s) in m.ranges().take(200) {
        for i in [f, l] {
            prop_assert_eq!(
                v.contains(i),
                s.val().is_some(),
                "{}: contains({})",
                what,
                i
            );
        }
    }
    // The whole key space is the gaps and the occupied ranges, in order, without overlap.
    let mut cover: Vec<(u64, u64)> = v.gaps(..).map(|g| (*g.start(), *g.end())).collect();
    cover.extend(m.occupied().map(|(f, l, _)| (f, l)));
    cover.sort_unstable();
    prop_assert_eq!(
        cover.first().map(|c| c.0),
        Some(0),
        "{}: gaps and ranges",
        what
    );
    prop_assert_eq!(
        cover.last().map(|c| c.1),
        Some(MAX),
        "{}: gaps and ranges",
        what
    );
    for w in cover.windows(2) {
        prop_assert_eq!(
            w[0].1.checked_add(1),
            Some(w[1].0),
            "{}: gaps(..) tile",
            what
        );
    }
    for &(s, e) in windows {
        let (in_window, holes) = match bounds_to_incl(s, e) {
            Some((lo, hi)) => (m.intersecting(lo, hi), m.gaps_in(lo, hi)),
            None => (Vec::new(), Vec::new()),
        };
        let holes: Vec<_> = holes.into_iter().map(|(a, b)| a..=b).collect();
        for pat in [0, !0, pattern.rotate_left(5)] {
            let ctx = || format!("{what}: overlapping({s:?}, {e:?}) pattern {pat:#x}");
            let each = |_, (r, e)| ent::<E>(r, e);
            drain_mixed(
                v.overlapping((s, e)),
                &in_window,
                pat,
                false,
                usize::MAX,
                each,
                &ctx,
            )?;
            let ctx = || format!("{what}: range({s:?}, {e:?}) pattern {pat:#x}");
            drain_mixed(
                v.range((s, e)),
                &in_window,
                pat,
                false,
                usize::MAX,
                each,
                &ctx,
            )?;
            let ctx = || format!("{what}: gaps({s:?}, {e:?}) pattern {pat:#x}");
            drain_mixed(
                v.gaps((s, e)),
                &holes,
                pat,
                false,
                usize::MAX,
                |_, g| g,
                &ctx,
            )?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cfg(48))]

    /// Every read of the collection API on an owned tree, a shared tree's writer and a
    /// lock-free reader, both kinds, both entry types.
    #[test]
    fn reads_match_the_model(h in any_history(), w in windows(), pattern in any::<u32>()) {
        reads::<Value>(&h, &w, pattern)?;
        reads::<Arc<u64>>(&h, &w, pattern)?;
    }
}

fn reads<E: Ent>(
    h: &[Build],
    w: &[(Bound<u64>, Bound<u64>)],
    pattern: u32,
) -> Result<(), TestCaseError> {
    let pool = new_pool();
    for kind in KINDS {
        let (t, m) = build::<E>(kind, h, &pool);
        check_reads(&t, &m, w, pattern, "owned")?;
        let shared = RcuMapleTree::from_tree(t);
        check_reads(&shared.write(), &m, w, pattern, "writer")?;
        check_reads(&shared.read(), &m, w, pattern, "reader")?;
    }
    if E::COUNTED {
        released(&pool)?;
    }
    Ok(())
}

/// `gaps` at the edges: an empty tree is one gap, clipped to any window; windows at 0 and at
/// `u64::MAX`; zero entries occupy their range; empty windows yield nothing.
#[test]
fn gaps_at_the_edges() {
    for kind in KINDS {
        let mut t: MapleTree<Value> = MapleTree::with_kind(kind);
        let all =
            |t: &MapleTree<Value>, r: (Bound<u64>, Bound<u64>)| -> Vec<_> { t.gaps(r).collect() };
        use Bound::{Excluded as X, Included as I, Unbounded as U};
        assert_eq!(all(&t, (U, U)), [0..=MAX]);
        assert_eq!(all(&t, (I(0), I(0))), [0..=0]);
        assert_eq!(all(&t, (I(MAX), U)), [MAX..=MAX]);
        assert_eq!(all(&t, (X(5), X(9))), [6..=8]);
        assert_eq!(t.gaps(..).rev().collect::<Vec<_>>(), [0..=MAX]);
        assert!(all(&t, (I(5), X(5))).is_empty());
        assert!(all(&t, (X(MAX), U)).is_empty());
        assert!(all(&t, (U, X(0))).is_empty());
        t.store(0, Value::new(1)).unwrap();
        t.store(MAX, Value::new(2)).unwrap();
        assert_eq!(all(&t, (U, U)), [1..=MAX - 1]);
        assert!(all(&t, (I(0), I(0))).is_empty());
        assert!(all(&t, (I(MAX), I(MAX))).is_empty());
        assert_eq!(all(&t, (I(0), I(1))), [1..=1]);
        assert_eq!(all(&t, (I(MAX - 1), U)), [MAX - 1..=MAX - 1]);
        t.reserve_range(10..=19).unwrap();
        assert_eq!(all(&t, (U, U)), [1..=9, 20..=MAX - 1]);
        assert_eq!(all(&t, (I(12), I(15))), Vec::<RangeInclusive<u64>>::new());
        assert_eq!(all(&t, (I(5), I(25))), [5..=9, 20..=25]);
        assert_eq!(t.gaps(5..=25).rev().collect::<Vec<_>>(), [20..=25, 5..=9]);
        let mut g = t.gaps(..);
        assert_eq!(g.next_back(), Some(20..=MAX - 1));
        assert_eq!(g.next(), Some(1..=9));
        assert_eq!((g.next(), g.next_back()), (None, None));
        t.erase_range(..).unwrap();
        assert_eq!(all(&t, (U, U)), [0..=MAX]);
        t.validate().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------

fn items() -> BoxedStrategy<Vec<(u64, u64, u64)>> {
    let huge = any::<bool>();
    huge.prop_flat_map(|huge| {
        prop::collection::vec(
            (range_of(huge), 0..POOL as u64).prop_map(|((a, b), v)| (a, b, v)),
            0..60,
        )
    })
    .boxed()
}

/// Sorted disjoint items (the bulk path of `FromIterator`/`Extend`).
fn sorted_items() -> BoxedStrategy<Vec<(u64, u64, u64)>> {
    (
        prop::collection::vec((1u64..1000, 0u64..20, 0..POOL as u64), 0..400),
        prop_oneof![Just(0u64), Just(MAX - 100_000), any::<u64>()],
    )
        .prop_map(|(steps, base)| {
            let mut out = Vec::new();
            let mut next = Some(base);
            for (gap, len, v) in steps {
                let Some(a) = next.and_then(|n| n.checked_add(gap - 1)) else {
                    break;
                };
                let b = a.saturating_add(len);
                out.push((a, b, v));
                next = b.checked_add(1);
            }
            out
        })
        .boxed()
}

/// A tree holding `items` stored one by one, and its model.
fn one_by_one<E: Ent>(
    kind: TreeKind,
    base: &[(u64, u64, u64)],
    items: &[(u64, u64, u64)],
    pool: &[Arc<u64>],
) -> (MapleTree<E>, Model) {
    let mut t = MapleTree::with_kind(kind);
    let mut m = Model::new();
    for &(a, b, v) in base.iter().chain(items) {
        t.store_range(a..=b, E::mk(pool, v)).unwrap();
        m.store(a, b, Slot::Val(v));
    }
    (t, m)
}

fn entries_of<E: Ent>(t: &MapleTree<E>) -> Vec<(u64, u64, u64)> {
    t.iter().map(|(r, e)| ent::<E>(r, e)).collect()
}

fn construction<E: Ent>(
    base: &[(u64, u64, u64)],
    items: &[(u64, u64, u64)],
) -> Result<(), TestCaseError> {
    let pool = new_pool();
    let mk = |&(a, b, v): &(u64, u64, u64)| (a..=b, E::mk(&pool, v));
    // FromIterator: a plain tree, last item wins, the same as storing one by one.
    let collected: MapleTree<E> = items.iter().map(mk).collect();
    collected.validate().unwrap();
    prop_assert_eq!(collected.kind(), TreeKind::Plain);
    let (by_one, m) = one_by_one::<E>(TreeKind::Plain, &[], items, &pool);
    prop_assert_eq!(entries_of(&collected), m.entries());
    prop_assert!(collected == by_one, "collect() == stores one by one");
    prop_assert_eq!(collected.len(), m.entries().len());
    // Extend onto a tree of either kind that already holds `base`.
    for kind in KINDS {
        let mut t: MapleTree<E> = MapleTree::with_kind(kind);
        t.extend(base.iter().map(mk));
        t.extend(items.iter().map(mk));
        t.validate().unwrap();
        prop_assert_eq!(t.kind(), kind);
        let (by_one, m) = one_by_one::<E>(kind, base, items, &pool);
        prop_assert_eq!(entries_of(&t), m.entries(), "{:?}: extend", kind);
        prop_assert!(t == by_one);
        // try_extend with no empty range stores everything, as extend does.
        let mut u: MapleTree<E> = MapleTree::with_kind(kind);
        prop_assert!(u.try_extend(base.iter().chain(items).map(mk)).is_ok());
        u.validate().unwrap();
        prop_assert!(u == t, "{:?}: try_extend == extend", kind);
    }
    // Every piece stored holds one reference; everything is released with the trees.
    drop((collected, by_one));
    if E::COUNTED {
        released(&pool)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(cfg(48))]

    /// `collect()` and `extend` store in order (last wins) and equal storing one by one, on
    /// overlapping input.
    #[test]
    fn from_iter_and_extend_store_in_order(base in items(), items in items()) {
        construction::<Value>(&base, &items)?;
        construction::<Arc<u64>>(&base, &items)?;
    }

    /// The same for sorted disjoint input, bulk-built, also appended past the top of a tree.
    #[test]
    fn from_iter_and_extend_sorted(base in sorted_items(), items in sorted_items()) {
        construction::<Value>(&[], &items)?;
        construction::<Arc<u64>>(&[], &items)?;
        // Past the top of `base`: the items shifted above its last index.
        let top = base.last().map_or(0, |x| x.1.saturating_add(1));
        let shifted: Vec<_> = items
            .iter()
            .filter_map(|&(a, b, v)| Some((a.checked_add(top)?, b.checked_add(top)?, v)))
            .collect();
        construction::<Value>(&base, &shifted)?;
        construction::<Arc<u64>>(&base, &shifted)?;
    }

    /// `try_extend` stores the items before the first empty range, and returns that item's
    /// entry with `Invalid`; the items after it are dropped unstored.
    #[test]
    fn try_extend_stops_at_the_first_empty_range(
        items in items(),
        bad in prop::collection::vec(0usize..60, 1..3),
        kind in prop_oneof![Just(TreeKind::Plain), Just(TreeKind::Alloc)],
    ) {
        let pool = new_pool();
        let first_bad = bad.iter().copied().filter(|&b| b < items.len()).min();
        let list: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, &(a, b, v))| {
                let r = if bad.contains(&i) {
                    // Every way a range can be empty.
                    match i % 3 {
                        0 => (Bound::Included(a), Bound::Excluded(a)),
                        1 => (Bound::Excluded(MAX), Bound::Unbounded),
                        _ => (Bound::Included(b.saturating_add(1).max(1)), Bound::Included(b.saturating_add(1).max(1) - 1)),
                    }
                } else {
                    (Bound::Included(a), Bound::Included(b))
                };
                (r, <Arc<u64> as Ent>::mk(&pool, v))
            })
            .collect();
        let mut t: MapleTree<Arc<u64>> = MapleTree::with_kind(kind);
        let r = t.try_extend(list);
        t.validate().unwrap();
        let stored = first_bad.unwrap_or(items.len());
        let (_, m) = one_by_one::<Value>(kind, &[], &items[..stored], &pool);
        prop_assert_eq!(entries_of(&t), m.entries());
        match first_bad {
            Some(i) => {
                let e = r.unwrap_err();
                prop_assert_eq!((e.error, *e.entry), (Error::Invalid, items[i].2));
            }
            None => prop_assert!(r.is_ok()),
        }
        drop(t);
        released(&pool)?;
    }
}

#[test]
#[should_panic(expected = "range is empty")]
fn collect_panics_on_an_empty_range() {
    #[allow(clippy::reversed_empty_ranges)]
    let _: MapleTree<Value> = [(0..5, Value::new(1)), (7..7, Value::new(2))]
        .into_iter()
        .collect();
}

#[test]
#[should_panic(expected = "range is empty")]
fn extend_panics_on_an_empty_range() {
    let mut t: MapleTree<Value> = MapleTree::new_alloc();
    #[allow(clippy::reversed_empty_ranges)]
    t.extend([(0..=5, Value::new(1)), (9..=3, Value::new(2))]);
}

// ---------------------------------------------------------------------------------------
// PartialEq, Eq, Hash
// ---------------------------------------------------------------------------------------

/// A tree with the same entries as `m` but another history (and so another shape): bulk
/// built from the entries in reverse order into a tree of `kind`, with reserved ranges
/// added in some holes (equality ignores them).
fn rebuilt<E: Ent>(kind: TreeKind, m: &Model, pool: &[Arc<u64>], salt: u32) -> MapleTree<E> {
    let mut t = MapleTree::with_kind(kind);
    for (f, l, v) in m.entries().into_iter().rev() {
        t.insert_range(f..=l, E::mk(pool, v)).unwrap();
    }
    for (i, (f, l)) in m.holes().enumerate() {
        if (salt >> (i % 32)) & 1 == 1 {
            t.reserve_range(f..=l).unwrap();
        }
    }
    t.validate().unwrap();
    t
}

fn equality<E: Ent>(h: &[Build], salt: u32, pick: usize) -> Result<(), TestCaseError> {
    let pool = new_pool();
    for kind in KINDS {
        let (a, m) = build::<E>(kind, h, &pool);
        let other_kind = if kind == TreeKind::Plain {
            TreeKind::Alloc
        } else {
            TreeKind::Plain
        };
        let mut b = rebuilt::<E>(other_kind, &m, &pool, salt);
        prop_assert_eq!(sym(&a, &a), Some(true), "reflexive");
        prop_assert_eq!(
            sym(&a, &b),
            Some(true),
            "same entries, other kind and shape"
        );
        prop_assert_eq!(hash_of(&a), hash_of(&b), "equal trees hash equal");
        let exp = m.entries();
        if exp.is_empty() {
            let mut c = MapleTree::with_kind(kind);
            c.store(pick as u64, E::mk(&pool, 1)).unwrap();
            prop_assert_eq!(sym(&a, &c), Some(false));
            continue;
        }
        let (f, l, v) = exp[pick % exp.len()];
        // One entry differs.
        *b.get_mut(f).unwrap() = E::mk(&pool, (v + 1) % POOL as u64);
        prop_assert_eq!(
            sym(&a, &b),
            Some(false),
            "one entry differs at {}..={}",
            f,
            l
        );
        *b.get_mut(f).unwrap() = E::mk(&pool, v);
        prop_assert!(a == b);
        // One range differs: the same entry over a range one shorter or one longer.
        if l > f {
            b.erase_range(l..=l).unwrap();
        } else if l < MAX && m.containing(l + 1).2 == Slot::Empty {
            b.store_range(f..=l + 1, E::mk(&pool, v)).unwrap();
        } else {
            b.erase(f).unwrap();
        }
        prop_assert_eq!(
            sym(&a, &b),
            Some(false),
            "one range differs at {}..={}",
            f,
            l
        );
        // One entry split in two, the same entry on both parts.
        let mut c = rebuilt::<E>(kind, &m, &pool, !salt);
        prop_assert!(a == c);
        if l > f {
            c.store_range(f..=f, E::mk(&pool, v)).unwrap();
            prop_assert!(a != c, "{}..={} split", f, l);
        }
    }
    if E::COUNTED {
        released(&pool)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(cfg(48))]

    /// Equal entries over equal ranges make equal trees (kind, shape and reserved ranges
    /// aside) with equal hashes; one differing entry or range makes them unequal.
    #[test]
    fn eq_and_hash_compare_entries_and_ranges(h in any_history(), salt in any::<u32>(), pick in any::<usize>()) {
        equality::<Value>(&h, salt, pick)?;
        equality::<Arc<u64>>(&h, salt, pick)?;
    }
}

// ---------------------------------------------------------------------------------------
// Iterator lengths, size hints, clones
// ---------------------------------------------------------------------------------------

fn lengths<E: Ent>(h: &[Build], pattern: u32, cut: usize) -> Result<(), TestCaseError> {
    let pool = new_pool();
    for kind in KINDS {
        let (mut t, m) = build::<E>(kind, h, &pool);
        let exp = m.entries();
        let n = exp.len();
        let ids: Vec<u64> = exp.iter().map(|x| x.2).collect();
        let what = |s: &str| format!("{kind:?}: {s}");
        // Exact lengths at every step from both ends.
        prop_assert_eq!(t.iter().len(), n);
        let each = |_, (r, e)| ent::<E>(r, e);
        drain_mixed(t.iter(), &exp, pattern, true, usize::MAX, each, &|| {
            what("iter()")
        })?;
        prop_assert_eq!(t.iter_mut().len(), n);
        drain_mixed(
            t.iter_mut(),
            &exp,
            pattern,
            true,
            usize::MAX,
            |_, (r, e)| own(&r, e),
            &|| what("iter_mut()"),
        )?;
        prop_assert_eq!(t.values_mut().len(), n);
        drain_mixed(
            t.values_mut(),
            &ids,
            !pattern,
            true,
            usize::MAX,
            |_, e| e.id(),
            &|| what("values_mut()"),
        )?;
        // Inexact hints bound what is left.
        let (lo, hi) = match h.first() {
            Some(&Build::Store(a, b, _)) => (a, b),
            _ => (0, MAX),
        };
        let part = m.intersecting(lo, hi);
        drain_mixed(
            t.range_mut(lo..=hi),
            &part,
            pattern,
            false,
            usize::MAX,
            |_, (r, e)| own(&r, e),
            &|| what("range_mut()"),
        )?;
        let holes: Vec<_> = m.gaps_in(lo, hi).into_iter().map(|(a, b)| a..=b).collect();
        drain_mixed(
            t.gaps(lo..=hi),
            &holes,
            pattern,
            false,
            usize::MAX,
            |_, g| g,
            &|| what("gaps()"),
        )?;
        // An owning iterator partly consumed, then dropped.
        let it = t.into_iter();
        prop_assert_eq!(it.len(), n);
        drain_mixed(
            it,
            &exp,
            pattern,
            true,
            cut % (n + 1),
            |_, (r, e)| own(&r, &e),
            &|| what("into_iter()"),
        )?;
        let (t, _) = build::<E>(kind, h, &pool);
        drain_mixed(
            t.into_values(),
            &ids,
            pattern,
            true,
            usize::MAX,
            |_, e| e.id(),
            &|| what("into_values()"),
        )?;
    }
    if E::COUNTED {
        released(&pool)?;
    }
    Ok(())
}

/// Takes `k` items from `it` by the pattern, clones it, and checks that the clone and the
/// original then yield the same rest, each unaffected by the other's steps.
fn clone_continues<I, T>(
    mut it: I,
    k: usize,
    pattern: u32,
    what: &dyn Fn() -> String,
) -> Result<(), TestCaseError>
where
    I: DoubleEndedIterator<Item = T> + Clone,
    T: PartialEq + fmt::Debug,
{
    for bit in 0..k {
        let x = if (pattern >> (bit % 32)) & 1 == 1 {
            it.next_back()
        } else {
            it.next()
        };
        if x.is_none() {
            break;
        }
    }
    let mut copy = it.clone();
    let hint = it.size_hint();
    prop_assert_eq!(copy.size_hint(), hint, "clone's size_hint; {}", what());
    // The original runs from the front, the clone from the back, alternately: each yields
    // the whole rest.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    loop {
        let x = it.next();
        let y = copy.next_back();
        if x.is_none() && y.is_none() {
            break;
        }
        a.extend(x);
        b.extend(y);
    }
    b.reverse();
    prop_assert_eq!(a, b, "original and clone; {}", what());
    Ok(())
}

fn clones<E: Ent>(h: &[Build], k: usize, pattern: u32) -> Result<(), TestCaseError> {
    let pool = new_pool();
    for kind in KINDS {
        let (t, m) = build::<E>(kind, h, &pool);
        let (lo, hi) = match h.last() {
            Some(&Build::Erase(a, b)) | Some(&Build::Store(a, b, _)) => (a, b),
            _ => (0, MAX),
        };
        let what = |s: &str| format!("{kind:?}: {s}");
        let e = |(r, e): (RangeInclusive<u64>, E::Ref<'_>)| ent::<E>(r, e);
        clone_continues(t.iter().map(e), k, pattern, &|| what("iter()"))?;
        clone_continues(t.overlapping(lo..=hi).map(e), k, pattern, &|| {
            what("overlapping()")
        })?;
        clone_continues(t.keys(), k, pattern, &|| what("keys()"))?;
        clone_continues(t.values().map(E::rid), k, pattern, &|| what("values()"))?;
        clone_continues(t.gaps(lo..=hi), k, pattern, &|| what("gaps()"))?;
        // The iterators themselves (not through `map`) clone their position.
        let mut it = t.iter();
        it.nth(k % (t.len() + 1));
        let rest: Vec<_> = it.clone().map(e).collect();
        prop_assert_eq!(rest, it.map(e).collect::<Vec<_>>());
        let shared = RcuMapleTree::from_tree(t);
        let r = shared.read();
        clone_continues(r.iter().map(e), k, pattern, &|| what("reader iter()"))?;
        clone_continues(r.gaps(lo..=hi), k, pattern, &|| what("reader gaps()"))?;
        // A cloned cursor continues on its own.
        let exp = m.entries();
        let mut c = r.cursor(0);
        let skip = k % (exp.len() + 1);
        for _ in 0..skip {
            c.find(MAX);
        }
        let mut d = c.clone();
        let mut from_c = Vec::new();
        while let Some((r, e)) = c.find(MAX) {
            from_c.push(ent::<E>(r, e));
        }
        let mut from_d = Vec::new();
        while let Some((r, e)) = d.find(MAX) {
            from_d.push(ent::<E>(r, e));
        }
        prop_assert_eq!(&from_c, &exp[skip..].to_vec(), "{:?}: cursor", kind);
        prop_assert_eq!(&from_d, &from_c, "{:?}: cloned cursor", kind);
    }
    Ok(())
}

proptest! {
    #![proptest_config(cfg(48))]

    /// `iter`, `iter_mut`, `values_mut`, `into_iter` and `into_values` know their exact length
    /// at every step from either end; `range_mut` and `gaps` hints bound what is left.
    #[test]
    fn iterator_lengths_and_size_hints(h in any_history(), pattern in any::<u32>(), cut in any::<usize>()) {
        lengths::<Value>(&h, pattern, cut)?;
        lengths::<Arc<u64>>(&h, pattern, cut)?;
    }

    /// A cloned iterator or cursor continues from where the original stood, independently.
    #[test]
    fn cloned_iterators_continue_independently(h in any_history(), k in 0usize..40, pattern in any::<u32>()) {
        clones::<Value>(&h, k, pattern)?;
        clones::<Arc<u64>>(&h, k, pattern)?;
    }
}

// ---------------------------------------------------------------------------------------
// Debug
// ---------------------------------------------------------------------------------------

/// The expected `Debug` output: `{first..=last: entry, ...}`, built from the model.
struct Expected<E>(Vec<(RangeInclusive<u64>, E)>);

impl<E: fmt::Debug> fmt::Debug for Expected<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(r, e)| (r, e)))
            .finish()
    }
}

fn debug_form<E: Ent>(h: &[Build]) -> Result<(), TestCaseError>
where
    for<'a> E::Ref<'a>: fmt::Debug,
{
    let pool = new_pool();
    for kind in KINDS {
        let (t, m) = build::<E>(kind, h, &pool);
        let exp = Expected(
            m.entries()
                .into_iter()
                .map(|(f, l, v)| (f..=l, E::mk(&pool, v)))
                .collect(),
        );
        prop_assert_eq!(format!("{t:?}"), format!("{exp:?}"));
        prop_assert_eq!(format!("{t:#?}"), format!("{exp:#?}"));
        let view: &TreeView<E, maple_tree::Exclusive> = &t;
        prop_assert_eq!(format!("{view:?}"), format!("{exp:?}"));
        let shared = RcuMapleTree::from_tree(t);
        {
            let w = shared.write();
            prop_assert_eq!(format!("{w:?}"), format!("{exp:?}"), "writer");
        }
        let r = shared.read();
        prop_assert_eq!(format!("{:?}", &*r), format!("{exp:?}"), "reader's view");
    }
    Ok(())
}

proptest! {
    #![proptest_config(cfg(32))]

    /// `Debug` of a tree, its view, a writer and a reader's view is the map of its entries.
    #[test]
    fn debug_is_the_map_of_entries(h in any_history()) {
        debug_form::<Value>(&h)?;
        debug_form::<Arc<u64>>(&h)?;
    }
}

#[test]
fn debug_examples() {
    let mut t: MapleTree<Value> = MapleTree::new();
    assert_eq!(format!("{t:?}"), "{}");
    t.store_range(10..=14, Value::new(1)).unwrap();
    t.reserve_range(20..=29).unwrap();
    t.store(MAX, Value::new(2)).unwrap();
    assert_eq!(
        format!("{t:?}"),
        "{10..=14: Value(1), 18446744073709551615..=18446744073709551615: Value(2)}"
    );
    let mut it = t.into_iter();
    assert_eq!(
        format!("{it:?}"),
        "[(10..=14, Value(1)), (18446744073709551615..=18446744073709551615, Value(2))]"
    );
    it.next();
    assert_eq!(
        format!("{it:?}"),
        "[(18446744073709551615..=18446744073709551615, Value(2))]"
    );
    let a: MapleTree<Arc<u64>> = [(0..=0, Arc::new(7))].into_iter().collect();
    assert_eq!(format!("{a:?}"), "{0..=0: 7}");
    let shared = RcuMapleTree::from_tree(a);
    assert_eq!(format!("{:?}", shared.write()), "{0..=0: 7}");
    assert_eq!(format!("{:?}", &*shared.read()), "{0..=0: 7}");
}
