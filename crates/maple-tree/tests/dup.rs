//! Duplication and bulk building: `dup`, `try_dup`, `Clone`, `dup_map`, `try_dup_map`,
//! `rebuild`, `bulk_build` and `FromIterator`.
//!
//! A duplicate must validate, have the source's exact node structure (same `node_count`,
//! `height` and per-node pivots/gaps/slot kinds as seen by `visit_nodes`) and entries, and
//! be independent of the source afterwards. Entries are counted (`Arc` strong counts or a
//! drop-counting `Box`) so leaks and double drops show up.
// Plain-thread tests: under `--cfg loom` only `loom_tree` runs (loom atomics need a model).
#![cfg(not(loom))]

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use maple_tree::{Error, MapleTree, NodeInfo, SlotKind, TreeKind, Value};
use proptest::prelude::*;

const MAX: u64 = u64::MAX;
const KINDS: [TreeKind; 2] = [TreeKind::Plain, TreeKind::Alloc];

// ---------------------------------------------------------------------------------------
// Drop-counting entry
// ---------------------------------------------------------------------------------------

/// Counts live instances in a shared counter: +1 on creation/clone, -1 on drop.
#[derive(Debug)]
struct Tracked {
    id: u64,
    live: Arc<AtomicIsize>,
}

impl Tracked {
    fn boxed(id: u64, live: &Arc<AtomicIsize>) -> Box<Tracked> {
        live.fetch_add(1, Ordering::SeqCst);
        Box::new(Tracked {
            id,
            live: live.clone(),
        })
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            id: self.id,
            live: self.live.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let before = self.live.fetch_sub(1, Ordering::SeqCst);
        assert!(
            before > 0,
            "Tracked {} dropped more often than created",
            self.id
        );
    }
}

fn live(c: &Arc<AtomicIsize>) -> isize {
    c.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Comparable picture of one node.
type NodePic = (
    usize,
    u64,
    u64,
    bool,
    bool,
    Vec<u64>,
    Vec<u64>,
    Vec<SlotKind>,
);

fn structure<E: maple_tree::Entry>(t: &MapleTree<E>) -> Vec<NodePic> {
    let mut v = Vec::new();
    t.visit_nodes(|n: NodeInfo<'_>| {
        v.push((
            n.depth,
            n.min,
            n.max,
            n.is_leaf,
            n.is_alloc_internal,
            n.slot_last,
            n.gaps,
            n.slots,
        ))
    });
    v
}

fn entries_v(t: &MapleTree<Value>) -> Vec<(u64, u64, u64)> {
    t.iter()
        .map(|(r, e)| (*r.start(), *r.end(), e.get()))
        .collect()
}

/// Every range of the tree (empty and reserved ones included) via `load_range`.
fn all_ranges<'t, E: maple_tree::Entry>(
    t: &'t MapleTree<E>,
    mut f: impl FnMut(E::Ref<'t>) -> u64,
) -> Vec<(u64, u64, Option<u64>, bool)> {
    let mut out = Vec::new();
    let mut i = 0u64;
    loop {
        let (r, e) = t.load_range(i);
        assert_eq!(*r.start(), i, "load_range({i}) must start a range at {i}");
        out.push((i, *r.end(), e.map(&mut f), t.is_reserved(i)));
        if *r.end() == MAX {
            return out;
        }
        i = *r.end() + 1;
    }
}

/// `n` ranges in one of several layouts.
fn layout(n: usize, which: u32) -> Vec<(u64, u64)> {
    let n = n as u64;
    match which % 4 {
        // sparse with NULL gaps of varying size
        0 => (0..n).map(|i| (i * 10, i * 10 + i % 4)).collect(),
        // adjacent ranges (no NULL between them)
        1 => (0..n).map(|i| (i * 3, i * 3 + 2)).collect(),
        // near the top of the key space, ending at MAX
        2 => (0..n)
            .map(|i| (MAX - 2 * (n - 1 - i) - 1, MAX - 2 * (n - 1 - i)))
            .collect(),
        // mixed: singletons, adjacent pairs and huge gaps, starting at 0
        _ => {
            let mut v = Vec::new();
            let mut at = 0u64;
            for i in 0..n {
                let len = if i % 7 == 3 { 1000 } else { i % 2 };
                v.push((at, at + len));
                at += len + 1 + if i % 3 == 0 { 0 } else { (i % 5) * 1_000_003 };
            }
            v
        }
    }
}

fn build_value(kind: TreeKind, n: usize, which: u32) -> MapleTree<Value> {
    let mut t = MapleTree::with_kind(kind);
    for (i, (a, b)) in layout(n, which).into_iter().enumerate() {
        t.store_range(a..=b, Value::new(i as u64)).unwrap();
    }
    t
}

fn assert_same_tree<'t, E: maple_tree::Entry>(
    a: &'t MapleTree<E>,
    b: &'t MapleTree<E>,
    id: impl Fn(E::Ref<'t>) -> u64,
    what: &str,
) {
    b.validate()
        .unwrap_or_else(|e| panic!("{what}: copy does not validate: {e}"));
    assert_eq!(a.kind(), b.kind(), "{what}: kind");
    assert_eq!(a.len(), b.len(), "{what}: len");
    assert_eq!(a.node_count(), b.node_count(), "{what}: node_count");
    assert_eq!(a.height(), b.height(), "{what}: height");
    assert!(
        a.iter()
            .map(|(r, e)| (r, id(e)))
            .eq(b.iter().map(|(r, e)| (r, id(e)))),
        "{what}: entries differ"
    );
    assert_eq!(structure(a), structure(b), "{what}: node structure differs");
}

// ---------------------------------------------------------------------------------------
// dup / try_dup / clone / rebuild
// ---------------------------------------------------------------------------------------

fn check_dup_at(kind: TreeKind, n: usize, which: u32) {
    let what = format!("{kind:?} n={n} layout={which}");
    let mut src = build_value(kind, n, which);
    if n > 3 {
        // some reserved ranges: dup copies them as they are
        let (a, _) = layout(n, which)[n / 2];
        src.reserve_range(a..=a).unwrap();
    }
    src.validate().unwrap();
    let d = src.dup();
    assert_same_tree(&src, &d, |v| v.get(), &format!("dup {what}"));
    let reserved = |t: &MapleTree<Value>| all_ranges(t, |v| v.get());
    if n <= 5_000 {
        assert_eq!(
            reserved(&src),
            reserved(&d),
            "dup {what}: ranges (incl. reserved)"
        );
    }
    let d2 = src.try_dup().expect("try_dup");
    assert_same_tree(&src, &d2, |v| v.get(), &format!("try_dup {what}"));
    let d3 = src.clone();
    assert_same_tree(&src, &d3, |v| v.get(), &format!("clone {what}"));
    let r = src.rebuild();
    r.validate().unwrap();
    assert_eq!(entries_v(&r), entries_v(&src), "rebuild {what}");
    assert_eq!(r.kind(), kind);

    // Independence, both directions.
    let before = entries_v(&src);
    let mut d = d;
    d.store_range(0..=40, Value::new(999)).unwrap();
    d.erase_range(MAX - 100..=MAX).unwrap();
    let victim = d.iter().nth(n / 3).map(|(r, _)| *r.start());
    if let Some(at) = victim {
        assert!(d.erase(at).unwrap().is_some());
    }
    d.validate().unwrap();
    assert_eq!(
        entries_v(&src),
        before,
        "{what}: write to the copy showed in the source"
    );
    src.validate().unwrap();
    let copy_now = entries_v(&d);
    src.store_range(5..=MAX - 5, Value::new(7)).unwrap();
    src.validate().unwrap();
    assert_eq!(
        entries_v(&d),
        copy_now,
        "{what}: write to the source showed in the copy"
    );
    drop(src);
    d.validate().unwrap();
    assert_eq!(
        entries_v(&d),
        copy_now,
        "{what}: copy changed when the source was dropped"
    );
}

#[test]
fn dup_small_and_medium() {
    for kind in KINDS {
        for n in [0usize, 1, 2, 3, 5, 15, 16, 17, 31, 100, 170, 171, 1000] {
            for which in 0..4 {
                check_dup_at(kind, n, which);
            }
        }
    }
}

#[test]
fn dup_1e5() {
    for kind in KINDS {
        check_dup_at(kind, 100_000, 0);
        check_dup_at(kind, 100_000, 1);
    }
}

#[test]
#[ignore = "slow in debug builds"]
fn dup_1e6() {
    for kind in KINDS {
        check_dup_at(kind, 1_000_000, 0);
    }
}

/// Root-only shapes: one entry at 0 (the kernel keeps it in the root word), one entry
/// covering everything, one entry at MAX, only a reserved range.
#[test]
fn dup_tiny_shapes() {
    let shapes: Vec<Vec<(u64, u64, Option<u64>)>> = vec![
        vec![(0, 0, Some(1))],
        vec![(0, MAX, Some(2))],
        vec![(MAX, MAX, Some(3))],
        vec![(5, 5, Some(4))],
        vec![(0, 10, None)],
        vec![(0, 0, Some(1)), (1, MAX, None)],
    ];
    for kind in KINDS {
        for s in &shapes {
            let mut t: MapleTree<Value> = MapleTree::with_kind(kind);
            for &(a, b, v) in s {
                match v {
                    Some(v) => drop(t.store_range(a..=b, Value::new(v)).unwrap()),
                    None => t.reserve_range(a..=b).unwrap(),
                }
            }
            let d = t.dup();
            assert_same_tree(&t, &d, |v| v.get(), &format!("{kind:?} {s:?}"));
            assert_eq!(all_ranges(&t, |v| v.get()), all_ranges(&d, |v| v.get()));
            let mut d = d;
            d.clear();
            assert!(d.is_empty());
            assert_eq!(d.height(), 0);
            assert_eq!(d.node_count(), 0);
        }
    }
}

/// `dup` clones every entry once; dropping the copy releases exactly those clones.
#[test]
fn dup_entry_accounting() {
    for kind in KINDS {
        let counter = Arc::new(AtomicIsize::new(0));
        let mut t: MapleTree<Box<Tracked>> = MapleTree::with_kind(kind);
        for i in 0..500u64 {
            t.insert_range(i * 4..=i * 4 + 1, Tracked::boxed(i, &counter))
                .unwrap();
        }
        assert_eq!(live(&counter), 500);
        let d = t.dup();
        assert_eq!(live(&counter), 1000);
        assert_same_tree(&t, &d, |e| e.id, "tracked dup");
        drop(d);
        assert_eq!(live(&counter), 500);
        let r = t.rebuild();
        assert_eq!(live(&counter), 1000);
        drop(r);
        drop(t);
        assert_eq!(live(&counter), 0, "leak or double drop");

        let pool: Vec<Arc<u64>> = (0..4).map(Arc::new).collect();
        let mut t: MapleTree<Arc<u64>> = MapleTree::with_kind(kind);
        for i in 0..300u64 {
            t.store_range(i * 2..=i * 2, pool[(i % 4) as usize].clone())
                .unwrap();
        }
        let d = t.try_dup().unwrap();
        for a in &pool {
            assert_eq!(Arc::strong_count(a), 1 + 2 * 75);
        }
        drop(t);
        for a in &pool {
            assert_eq!(Arc::strong_count(a), 1 + 75);
        }
        drop(d);
        for a in &pool {
            assert_eq!(Arc::strong_count(a), 1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// dup_map / try_dup_map
// ---------------------------------------------------------------------------------------

/// Source trees from random ranges (ids = position), as (first, last) pairs.
fn src_ranges() -> impl Strategy<Value = (TreeKind, Vec<(u64, u64)>)> {
    let kind = prop_oneof![Just(TreeKind::Plain), Just(TreeKind::Alloc)];
    let r = prop_oneof![
        4 => (0u64..2000, 0u64..6).prop_map(|(a, l)| (a, a + l)),
        1 => (0u64..8, 0u64..4).prop_map(|(a, l)| (MAX - a - l, MAX - a)),
        1 => (0u64..1 << 62, 0u64..1 << 40).prop_map(|(a, l)| (a, a + l)),
    ];
    (kind, prop::collection::vec(r, 0..400))
}

/// Builds a tree storing ranges in order (later ones overwrite), entries = ids.
fn build_src(kind: TreeKind, ranges: &[(u64, u64)], pool: &[Arc<u64>]) -> MapleTree<Arc<u64>> {
    let mut t = MapleTree::with_kind(kind);
    for (i, &(a, b)) in ranges.iter().enumerate() {
        t.store_range(a..=b, pool[i % pool.len()].clone()).unwrap();
    }
    t
}

/// Model of all ranges: first -> (last, Some(v) | None), NULL ranges coalesced.
fn model_of(entries: &[(u64, u64, Option<u64>)]) -> Vec<(u64, u64, Option<u64>)> {
    // entries: sorted disjoint non-empty pieces (v None = zero entry marker not used here)
    let mut map: BTreeMap<u64, (u64, Option<u64>)> = BTreeMap::new();
    let mut at = 0u64;
    let mut done = false;
    for &(a, b, v) in entries {
        if a > at {
            map.insert(at, (a - 1, None));
        }
        map.insert(a, (b, v));
        if b == MAX {
            done = true;
            break;
        }
        at = b + 1;
    }
    if !done {
        map.insert(at, (MAX, None));
    }
    // coalesce NULLs
    let mut out: Vec<(u64, u64, Option<u64>)> = Vec::new();
    for (a, (b, v)) in map {
        if let Some(last) = out.last_mut() {
            if last.2.is_none() && v.is_none() {
                last.1 = b;
                continue;
            }
        }
        out.push((a, b, v));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// dup_map with a function that drops every third entry (by value) and maps the rest to
    /// a drop-counted box: result valid, equal to the model, `f` called once per entry in
    /// order with the entry's range; no leaks.
    #[test]
    fn dup_map_drops_some((kind, ranges) in src_ranges(), drop_mod in 2u64..5) {
        let pool: Vec<Arc<u64>> = (0..7).map(Arc::new).collect();
        let src = build_src(kind, &ranges, &pool);
        let src_entries: Vec<(u64, u64, u64)> = src.iter().map(|(r, e)| (*r.start(), *r.end(), *e)).collect();
        let counter = Arc::new(AtomicIsize::new(0));
        let mut calls = Vec::new();
        let out: MapleTree<Box<Tracked>> = src.dup_map(|r, e| {
            calls.push((*r.start(), *r.end(), *e));
            (*e % drop_mod != 0).then(|| Tracked::boxed(*e * 10, &counter))
        });
        prop_assert_eq!(&calls, &src_entries, "f must be called once per entry, in order");
        prop_assert!(out.validate().is_ok(), "dup_map result invalid: {}", out.validate().unwrap_err());
        prop_assert_eq!(out.kind(), kind);
        let kept: Vec<(u64, u64, Option<u64>)> = src_entries
            .iter()
            .map(|&(a, b, v)| (a, b, (v % drop_mod != 0).then_some(v * 10)))
            .collect();
        let expect = model_of(&kept);
        let got: Vec<(u64, u64, Option<u64>)> = all_ranges(&out, |e| e.id).into_iter().map(|(a, b, v, _)| (a, b, v)).collect();
        prop_assert_eq!(&got, &expect);
        prop_assert_eq!(out.len(), kept.iter().filter(|k| k.2.is_some()).count());
        prop_assert_eq!(live(&counter), out.len() as isize);
        // The source is untouched.
        prop_assert!(src.validate().is_ok());
        let again: Vec<(u64, u64, u64)> = src.iter().map(|(r, e)| (*r.start(), *r.end(), *e)).collect();
        prop_assert_eq!(&again, &src_entries);
        drop(out);
        prop_assert_eq!(live(&counter), 0, "dup_map result leaked or double-dropped");
        drop(src);
        for a in &pool {
            prop_assert_eq!(Arc::strong_count(a), 1);
        }
    }
}

/// try_dup_map failing at every entry position k: the partial tree holds exactly the entries
/// made before k (minus the ones `f` dropped), a zero entry over the failing range and
/// nothing after it; every entry made is either in the partial tree or was dropped once.
#[test]
fn try_dup_map_fails_at_every_position() {
    for kind in KINDS {
        for (n, which) in [
            (1usize, 0u32),
            (2, 1),
            (5, 3),
            (17, 0),
            (40, 2),
            (90, 1),
            (200, 0),
            (200, 3),
        ] {
            let src = build_value(kind, n, which);
            let src_entries = entries_v(&src);
            let m = src_entries.len();
            for k in 0..m {
                let counter = Arc::new(AtomicIsize::new(0));
                let mut seen = 0usize;
                let res = src.try_dup_map(|r, e| {
                    let idx = seen;
                    seen += 1;
                    assert_eq!(
                        (*r.start(), *r.end(), e.get()),
                        src_entries[idx],
                        "f called out of order"
                    );
                    if idx == k {
                        Err(format!("fail at {idx}"))
                    } else if idx % 5 == 4 {
                        Ok(None)
                    } else {
                        Ok(Some(Tracked::boxed(e.get() + 1000, &counter)))
                    }
                });
                let what = format!("{kind:?} n={n} layout={which} k={k}");
                assert_eq!(seen, k + 1, "{what}: f must stop at the failure");
                let err = match res {
                    Ok(_) => panic!("{what}: try_dup_map succeeded"),
                    Err(e) => e,
                };
                assert_eq!(err.error, format!("fail at {k}"), "{what}");
                let (fa, fb, _) = src_entries[k];
                assert_eq!(err.failed, fa..=fb, "{what}: failed range");
                let p = &err.partial;
                p.validate()
                    .unwrap_or_else(|e| panic!("{what}: partial tree invalid: {e}"));
                // Expected ranges: entries before k (dropped ones empty), zero over failed,
                // empty after.
                let mut pieces: Vec<(u64, u64, Option<u64>)> = src_entries[..k]
                    .iter()
                    .enumerate()
                    .map(|(i, &(a, b, v))| (a, b, (i % 5 != 4).then_some(v + 1000)))
                    .collect();
                pieces.push((fa, fb, Some(u64::MAX))); // placeholder for the zero entry
                let expect: Vec<(u64, u64, Option<u64>, bool)> = model_of(&pieces)
                    .into_iter()
                    .map(|(a, b, v)| {
                        if v == Some(u64::MAX) {
                            (a, b, None, true)
                        } else {
                            (a, b, v, false)
                        }
                    })
                    .collect();
                assert_eq!(
                    all_ranges(p, |e| e.id),
                    expect,
                    "{what}: partial tree contents"
                );
                assert!(
                    p.is_reserved(fa) && p.is_reserved(fb),
                    "{what}: failed range must be reserved"
                );
                assert_eq!(
                    p.len(),
                    (0..k).filter(|i| i % 5 != 4).count(),
                    "{what}: len"
                );
                assert_eq!(
                    live(&counter),
                    p.len() as isize,
                    "{what}: entries made vs held"
                );
                drop(err);
                assert_eq!(live(&counter), 0, "{what}: leak or double drop");
            }
            // Succeeds when nothing fails.
            let counter = Arc::new(AtomicIsize::new(0));
            let ok = src
                .try_dup_map(|_, e| Ok::<_, ()>(Some(Tracked::boxed(e.get(), &counter))))
                .unwrap_or_else(|_| panic!("no failure expected"));
            ok.validate().unwrap();
            assert_eq!(ok.len(), m);
            assert_eq!(
                ok.node_count(),
                src.node_count(),
                "full try_dup_map keeps the structure"
            );
            assert_eq!(ok.height(), src.height());
            drop(ok);
            assert_eq!(live(&counter), 0);
        }
    }
}

/// The source's zero entries survive `dup_map` (like `dup`, the copy starts as the same
/// tree; only entries pass through `f`).
#[test]
fn dup_map_keeps_reserved_ranges() {
    let mut t: MapleTree<Value> = MapleTree::new();
    for i in 0..100u64 {
        t.store_range(i * 10..=i * 10 + 4, Value::new(i)).unwrap();
    }
    t.reserve_range(5..=9).unwrap();
    t.reserve_range(500..=504).unwrap();
    let d: MapleTree<Value> = t.dup_map(|_, v| Some(Value::new(v.get() + 1)));
    d.validate().unwrap();
    assert!(d.is_reserved(7) && d.is_reserved(502));
    assert_eq!(d.load(502), None);
    assert_eq!(d.load(10), Some(Value::new(2)));
    assert_eq!(d.len(), 99);
}

// ---------------------------------------------------------------------------------------
// bulk_build / FromIterator
// ---------------------------------------------------------------------------------------

fn check_bulk(kind: TreeKind, n: usize, which: u32) {
    let what = format!("bulk_build {kind:?} n={n} layout={which}");
    let items: Vec<(RangeInclusive<u64>, Value)> = layout(n, which)
        .into_iter()
        .enumerate()
        .map(|(i, (a, b))| (a..=b, Value::new(i as u64)))
        .collect();
    let t = MapleTree::bulk_build(kind, items.clone()).unwrap_or_else(|e| panic!("{what}: {e:?}"));
    t.validate()
        .unwrap_or_else(|e| panic!("{what}: invalid: {e}"));
    assert_eq!(t.kind(), kind, "{what}");
    assert_eq!(t.len(), n, "{what}");
    assert!(t.iter().eq(items.iter().cloned()), "{what}: entries");
    // Equal to storing one by one.
    let mut s = MapleTree::with_kind(kind);
    for (r, v) in items.iter().cloned() {
        s.store_range(r, v).unwrap();
    }
    if n <= 3000 {
        assert_eq!(
            all_ranges(&t, |v| v.get()),
            all_ranges(&s, |v| v.get()),
            "{what}: ranges vs one-by-one"
        );
    }
    assert!(
        t.node_count() <= s.node_count().max(1) + 1,
        "{what}: bulk build uses more nodes than one-by-one"
    );
    if kind == TreeKind::Plain {
        let f: MapleTree<Value> = items.into_iter().collect();
        f.validate().unwrap();
        assert!(f.iter().eq(t.iter()), "{what}: FromIterator");
    }
    // The tree stays fully usable.
    let mut t = t;
    t.store_range(3..=MAX - 3, Value::new(1)).unwrap();
    t.validate()
        .unwrap_or_else(|e| panic!("{what}: invalid after a spanning store: {e}"));
}

#[test]
fn bulk_build_many_sizes() {
    for kind in KINDS {
        for n in (1..=70).chain([
            99, 100, 101, 159, 160, 161, 255, 256, 257, 1000, 1600, 1601, 4096,
        ]) {
            for which in 0..4 {
                check_bulk(kind, n, which);
            }
        }
        check_bulk(kind, 10_000, 0);
        check_bulk(kind, 100_000, 1);
    }
}

#[test]
#[ignore = "slow in debug builds"]
fn bulk_build_1e6() {
    for kind in KINDS {
        check_bulk(kind, 1_000_000, 0);
    }
}

#[test]
fn bulk_build_empty_and_invalid() {
    for kind in KINDS {
        let t = MapleTree::<Value>::bulk_build(
            kind,
            Vec::<(std::ops::RangeInclusive<u64>, Value)>::new(),
        )
        .unwrap();
        assert!(t.is_empty());
        assert_eq!(t.height(), 0);
        t.validate().unwrap();

        let full = MapleTree::bulk_build(kind, vec![(0..=MAX, Value::new(1))]).unwrap();
        full.validate().unwrap();
        assert_eq!(full.load_range(12345), (0..=MAX, Some(Value::new(1))));

        let pool: Vec<Arc<u64>> = (0..3).map(Arc::new).collect();
        let bad_inputs: Vec<Vec<(u64, u64)>> = vec![
            vec![(10, 20), (5, 6)],               // unsorted
            vec![(10, 20), (20, 30)],             // overlapping by one index
            vec![(10, 20), (15, 16)],             // nested
            vec![(10, 20), (10, 20)],             // duplicate
            vec![(0, 5), (30, 20)],               // backwards range
            vec![(5, 4)],                         // backwards alone
            vec![(0, MAX), (MAX, MAX)],           // after the end
            vec![(1, 2), (4, 5), (7, 8), (3, 9)], // late overlap
        ];
        for bad in bad_inputs {
            let items: Vec<(RangeInclusive<u64>, Arc<u64>)> = bad
                .iter()
                .enumerate()
                .map(|(i, &(a, b))| (a..=b, pool[i % 3].clone()))
                .collect();
            let r = MapleTree::bulk_build(kind, items);
            assert_eq!(r.err(), Some(Error::Invalid), "{kind:?} {bad:?}");
            for a in &pool {
                assert_eq!(
                    Arc::strong_count(a),
                    1,
                    "{kind:?} {bad:?}: entries of a failed bulk_build must be dropped once"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// FromIterator over disjoint ranges in any order equals storing them one by one.
    #[test]
    fn from_iterator_equals_one_by_one(
        ranges in prop::collection::btree_map(0u64..5000, 0u64..4, 0..300),
        order in any::<u64>(),
        sorted in any::<bool>(),
    ) {
        // Make disjoint ranges from sorted starts.
        let mut items: Vec<(RangeInclusive<u64>, Value)> = Vec::new();
        let mut next_free = 0u64;
        for (i, (&a, &l)) in ranges.iter().enumerate() {
            let a = a * 5;
            if a < next_free { continue; }
            items.push((a..=a + l, Value::new(i as u64)));
            next_free = a + l + 1;
        }
        if !sorted && items.len() > 1 {
            // deterministic shuffle
            let mut s = order | 1;
            for i in (1..items.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                items.swap(i, (s % (i as u64 + 1)) as usize);
            }
        }
        let t: MapleTree<Value> = items.iter().cloned().collect();
        prop_assert!(t.validate().is_ok());
        let mut s = MapleTree::new();
        for (r, v) in items.iter().cloned() {
            s.store_range(r, v).unwrap();
        }
        prop_assert_eq!(all_ranges(&t, |v| v.get()), all_ranges(&s, |v| v.get()));
        prop_assert_eq!(t.len(), items.len());
    }
}

/// FromIterator with overlapping input stores the items in order: where ranges overlap the
/// later item wins, cutting back (or splitting, with a clone) what it covers, as in `BTreeMap`.
/// Nothing is dropped without a reason and nothing leaks.
#[test]
fn from_iterator_overlapping_input() {
    let counter = Arc::new(AtomicIsize::new(0));
    let input = [
        (10u64, 20u64),
        (5, 12),
        (30, 40),
        (15, 35),
        (0, 0),
        (41, 41),
    ];
    let t: MapleTree<Box<Tracked>> = input
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| (a..=b, Tracked::boxed(i as u64, &counter)))
        .collect();
    t.validate().unwrap();
    let mut model: MapleTree<Value> = MapleTree::new();
    for (i, &(a, b)) in input.iter().enumerate() {
        model.store_range(a..=b, Value::new(i as u64)).unwrap();
    }
    assert_eq!(all_ranges(&t, |e| e.id), all_ranges(&model, |v| v.get()));
    assert_eq!(
        live(&counter),
        t.len() as isize,
        "every stored piece owns one entry; covered ones were dropped"
    );
    drop(t);
    assert_eq!(live(&counter), 0);
}
