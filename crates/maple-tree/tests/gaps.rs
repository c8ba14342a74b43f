//! Gap tracking and free-range search (`empty_area`, `empty_area_rev`, `alloc_range`,
//! `alloc_rrange`, `alloc_cyclic`) against a brute-force scan of a reference model.
//!
//! Kernel semantics (maple-tree.md §6.3-6.5): `empty_area([min,max], size)` returns
//! `[index, index+size-1]` placed at the low end of the lowest empty range whose part inside
//! the window holds `size` indices; `empty_area_rev` places it at the high end of the highest
//! such part. Zero entries (reserved) count as occupied. `Invalid` for `size == 0`,
//! `min > max` or a window smaller than `size`; `Busy` when nothing fits. The `alloc_*`
//! calls are `Invalid` on plain trees.
// Plain-thread tests: under `--cfg loom` only `loom_tree` runs (loom atomics need a model).
#![cfg(not(loom))]

use std::sync::Arc;

use maple_tree::{Error, MapleTree, TreeKind, Value};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

mod common;
use common::{Model, Slot, MAX};

impl Model {}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

fn validate<E: maple_tree::Entry>(
    t: &MapleTree<E>,
    ctx: &dyn Fn() -> String,
) -> Result<(), TestCaseError> {
    match t.validate() {
        Ok(()) => Ok(()),
        Err(e) => {
            let dump = if t.node_count() <= 40 {
                t.dump()
            } else {
                String::from("(dump omitted)")
            };
            Err(fail(format!(
                "validate failed after {}: {e}\n{dump}",
                ctx()
            )))
        }
    }
}

fn pair(r: Result<std::ops::RangeInclusive<u64>, Error>) -> Result<(u64, u64), Error> {
    r.map(|r| (*r.start(), *r.end()))
}

/// Compares `empty_area`/`empty_area_rev` with the brute force for one query.
fn check_query<E: maple_tree::Entry>(
    t: &MapleTree<E>,
    m: &Model,
    lo: u64,
    hi: u64,
    size: u64,
    ctx: &dyn Fn() -> String,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        pair(t.empty_area(lo..=hi, size)),
        m.area(lo, hi, size),
        "empty_area({}..={}, {}) after {}",
        lo,
        hi,
        size,
        ctx()
    );
    prop_assert_eq!(
        pair(t.empty_area_rev(lo..=hi, size)),
        m.area_rev(lo, hi, size),
        "empty_area_rev({}..={}, {}) after {}",
        lo,
        hi,
        size,
        ctx()
    );
    Ok(())
}

/// Queries derived from the model's holes: exact fits and one-too-large, in windows that
/// cut holes at both ends.
fn structural_queries(m: &Model) -> Vec<(u64, u64, u64)> {
    let mut q = Vec::new();
    for (f, l) in m.holes().take(6) {
        let len = (l - f).checked_add(1); // None: the whole key space
        match len {
            Some(len) => {
                q.push((0, MAX, len));
                q.push((0, MAX, len.saturating_add(1)));
                q.push((f, l, len));
                if len > 2 {
                    q.push((f + 1, l, len - 1));
                    q.push((f, l - 1, len - 1));
                    q.push((f + 1, l - 1, len - 1));
                }
            }
            None => q.push((0, MAX, MAX)),
        }
        q.push((f, MAX, 1));
        q.push((0, l, 1));
    }
    q
}

#[derive(Clone, Debug)]
enum Op {
    Store(u64, u64, u64),
    EraseRange(u64, u64),
    Erase(u64),
    Reserve(u64, u64),
    Fill {
        start: u64,
        n: u16,
        stride: u64,
        len: u64,
    },
    Alloc {
        size: u64,
        lo: u64,
        hi: u64,
        rev: bool,
    },
    /// `size` is only used on plain trees, as a search size.
    Cyclic {
        lo: u64,
        hi: u64,
        size: u64,
    },
    SetNext(u64),
}

#[derive(Clone, Copy)]
struct Space {
    huge: bool,
}

fn key(sp: Space) -> BoxedStrategy<u64> {
    if sp.huge {
        common::huge_key()
    } else {
        prop_oneof![30 => 0u64..300, 1 => (MAX - 3)..=MAX].boxed()
    }
}

fn range_of(sp: Space) -> BoxedStrategy<(u64, u64)> {
    let k = key(sp);
    prop_oneof![
        6 => (k.clone(), k.clone()).prop_map(|(a, b)| (a.min(b), a.max(b))),
        8 => (k.clone(), 0u64..12).prop_map(|(a, l)| (a, a.saturating_add(l))),
        1 => Just((0, MAX)),
        1 => k.clone().prop_map(|a| (a, MAX)),
        1 => k.prop_map(|a| (0, a)),
    ]
    .boxed()
}

fn size_of(sp: Space) -> BoxedStrategy<u64> {
    if sp.huge {
        prop_oneof![
            6 => 1u64..10,
            1 => Just(0u64),
            2 => any::<u64>(),
            1 => (0u32..64).prop_map(|s| 1u64 << s),
            1 => (0u64..4).prop_map(|d| MAX - d),
        ]
        .boxed()
    } else {
        prop_oneof![10 => 1u64..10, 1 => Just(0u64), 2 => 10u64..120, 1 => Just(MAX)].boxed()
    }
}

type Query = (u64, u64, u64);

fn query(sp: Space) -> BoxedStrategy<Query> {
    prop_oneof![
        6 => (range_of(sp), size_of(sp)).prop_map(|((a, b), s)| (a, b, s)),
        1 => (key(sp), key(sp), size_of(sp)).prop_map(|(a, b, s)| (a, b, s)), // maybe backwards
    ]
    .boxed()
}

fn op(sp: Space) -> BoxedStrategy<Op> {
    let fill = if sp.huge {
        (
            key(sp),
            1u16..200,
            prop_oneof![Just(2u64), Just(1000), Just(1 << 40)],
        )
            .prop_map(|(start, n, stride)| Op::Fill {
                start,
                n,
                stride,
                len: stride / 2,
            })
            .boxed()
    } else {
        (0u64..300, 1u16..200, 2u64..5)
            .prop_map(|(start, n, stride)| Op::Fill {
                start,
                n,
                stride,
                len: stride - 2,
            })
            .boxed()
    };
    prop_oneof![
        8 => (range_of(sp), 0u64..8).prop_map(|((a, b), v)| Op::Store(a, b, v)),
        6 => range_of(sp).prop_map(|(a, b)| Op::EraseRange(a, b)),
        4 => key(sp).prop_map(Op::Erase),
        3 => range_of(sp).prop_map(|(a, b)| Op::Reserve(a, b)),
        1 => fill,
        8 => (size_of(sp), range_of(sp), any::<bool>())
            .prop_map(|(size, (lo, hi), rev)| Op::Alloc { size, lo, hi, rev }),
        4 => (range_of(sp), size_of(sp)).prop_map(|((lo, hi), size)| Op::Cyclic { lo, hi, size }),
        1 => key(sp).prop_map(Op::SetNext),
    ]
    .boxed()
}

fn run(kind: TreeKind, steps: &[(Op, Vec<Query>)]) -> Result<(), TestCaseError> {
    let mut t: MapleTree<Value> = MapleTree::with_kind(kind);
    let mut m = Model::new();
    let mut next = 0u64;
    let alloc = kind == TreeKind::Alloc;
    for (n, (o, queries)) in steps.iter().enumerate() {
        let ctx = || format!("step #{n} {o:?}");
        match *o {
            Op::Store(a, b, v) => {
                t.store_range(a..=b, Value::new(v))
                    .map_err(|e| fail(format!("{}: {e:?}", ctx())))?;
                m.store(a, b, Slot::Val(v));
            }
            Op::EraseRange(a, b) => {
                prop_assert_eq!(t.erase_range(a..=b), Ok(()), "{}", ctx());
                m.store(a, b, Slot::Empty);
            }
            Op::Erase(i) => {
                let (f, l, s) = m.containing(i);
                let got = t
                    .erase(i)
                    .unwrap()
                    .map(|(r, e)| (*r.start(), *r.end(), e.get()));
                match s {
                    Slot::Val(v) => {
                        prop_assert_eq!(got, Some((f, l, v)), "{}", ctx());
                        m.store(f, l, Slot::Empty);
                    }
                    Slot::Empty => prop_assert_eq!(got, None, "{}", ctx()),
                    Slot::Zero => {
                        // Kernel mtree_erase: the zero entry is erased (and reads as NULL).
                        prop_assert_eq!(got, None, "{}", ctx());
                        m.store(f, l, Slot::Empty);
                    }
                }
            }
            Op::Reserve(a, b) => {
                prop_assert_eq!(t.reserve_range(a..=b), Ok(()), "{}", ctx());
                m.store(a, b, Slot::Zero);
            }
            Op::Fill {
                start,
                n,
                stride,
                len,
            } => {
                let mut f = start;
                for j in 0..n as u64 {
                    let l = f.saturating_add(len);
                    t.store_range(f..=l, Value::new(j % 5))
                        .map_err(|e| fail(format!("{}: {e:?}", ctx())))?;
                    m.store(f, l, Slot::Val(j % 5));
                    match f.checked_add(stride) {
                        Some(x) => f = x,
                        None => break,
                    }
                }
            }
            Op::Alloc { size, lo, hi, .. } | Op::Cyclic { lo, hi, size } if !alloc => {
                // Plain trees cannot allocate (see alloc_on_plain_tree_is_invalid); the
                // search itself still has to work there.
                check_query(&t, &m, lo, hi, size, &ctx)?;
            }
            Op::Alloc { size, lo, hi, rev } => {
                let v = Value::new(9);
                let got = if rev {
                    t.alloc_rrange(size, lo..=hi, v)
                } else {
                    t.alloc_range(size, lo..=hi, v)
                };
                let exp = if rev {
                    m.area_rev(lo, hi, size)
                } else {
                    m.area(lo, hi, size)
                };
                match (got, exp) {
                    (Ok(start), Ok((a, b))) => {
                        prop_assert_eq!(start, a, "{}", ctx());
                        m.store(a, b, Slot::Val(9));
                    }
                    (Err(e), Err(x)) => {
                        prop_assert_eq!(e.error, x, "{}", ctx());
                        prop_assert_eq!(e.entry, v, "{}: entry given back", ctx());
                    }
                    (g, x) => {
                        return Err(fail(format!(
                            "{}: got {:?}, expected {:?}",
                            ctx(),
                            g.map_err(|e| e.error),
                            x
                        )));
                    }
                }
            }
            Op::Cyclic { lo, hi, .. } => {
                let v = Value::new(7);
                let mut tnext = next;
                let got = t.alloc_cyclic(lo..=hi, &mut tnext, v);
                let exp = if alloc {
                    m.cyclic(lo, hi, &mut next)
                } else {
                    Err(Error::Invalid)
                };
                match (got, exp) {
                    (Ok(g), Ok(x)) => {
                        prop_assert_eq!(g, x, "{}: (index, wrapped)", ctx());
                        prop_assert_eq!(tnext, next, "{}: next", ctx());
                        m.store(x.0, x.0, Slot::Val(7));
                    }
                    (Err(e), Err(x)) => {
                        prop_assert_eq!(e.error, x, "{}", ctx());
                        prop_assert_eq!(e.entry, v, "{}: entry given back", ctx());
                    }
                    (g, x) => {
                        return Err(fail(format!(
                            "{}: next={} got {:?}, expected {:?}",
                            ctx(),
                            tnext,
                            g.map_err(|e| e.error),
                            x
                        )));
                    }
                }
            }
            Op::SetNext(x) => next = x,
        }
        validate(&t, &ctx)?;
        for &(lo, hi, size) in queries {
            check_query(&t, &m, lo, hi, size, &ctx)?;
        }
        for (lo, hi, size) in structural_queries(&m) {
            check_query(&t, &m, lo, hi, size, &ctx)?;
        }
    }
    // Final full comparison of the contents.
    let got: Vec<_> = t
        .iter()
        .map(|(r, e)| (*r.start(), *r.end(), e.get()))
        .collect();
    let exp: Vec<_> = m
        .map
        .iter()
        .filter_map(|(f, (l, s))| match s {
            Slot::Val(v) => Some((*f, *l, *v)),
            _ => None,
        })
        .collect();
    prop_assert_eq!(got, exp, "final contents");
    Ok(())
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    }
}

fn steps(sp: Space) -> impl Strategy<Value = Vec<(Op, Vec<Query>)>> {
    prop::collection::vec((op(sp), prop::collection::vec(query(sp), 0..5)), 1..150)
}

proptest! {
    #![proptest_config(cfg(40))]

    #[test]
    fn alloc_tree_small_keys(s in steps(Space { huge: false })) {
        run(TreeKind::Alloc, &s)?;
    }

    #[test]
    fn alloc_tree_huge_keys(s in steps(Space { huge: true })) {
        run(TreeKind::Alloc, &s)?;
    }

    #[test]
    fn plain_tree_small_keys(s in steps(Space { huge: false })) {
        run(TreeKind::Plain, &s)?;
    }

    #[test]
    fn plain_tree_huge_keys(s in steps(Space { huge: true })) {
        run(TreeKind::Plain, &s)?;
    }
}

// ---------------------------------------------------------------------------------------
// Allocation under churn
// ---------------------------------------------------------------------------------------

/// Allocates random sizes in a window until nothing fits, frees in random order until
/// empty, several rounds; every placement equals the brute force, `Busy` exactly when the
/// brute force finds nothing; validate after every step; entries are `Arc`s and are all
/// released at the end.
fn churn(seed: u64, base: u64, span: u64, max_size: u64) -> Result<(), TestCaseError> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut rand = move |n: u64| rng.u64(..n);
    let token = Arc::new(0u64);
    let mut t: MapleTree<Arc<u64>> = MapleTree::new_alloc();
    let mut m = Model::new();
    let (lo, hi) = (base, base + (span - 1));
    // Occupy the neighbourhood so the window edges matter.
    if lo > 0 {
        t.store_range(0..=lo - 1, token.clone()).unwrap();
        m.store(0, lo - 1, Slot::Val(0));
    }
    if hi < MAX {
        t.reserve_range(hi + 1..=MAX).unwrap();
        m.store(hi + 1, MAX, Slot::Zero);
    }
    let mut live: Vec<(u64, u64)> = Vec::new();
    for round in 0..4 {
        // Fill.
        let mut size = 1 + rand(max_size);
        let mut steps = 0;
        loop {
            steps += 1;
            let rev = rand(2) == 1;
            let cur = size;
            let ctx = move || {
                format!("seed {seed} round {round} step {steps}: alloc size {cur} rev {rev}")
            };
            let got = if rev {
                t.alloc_rrange(size, lo..=hi, token.clone())
            } else {
                t.alloc_range(size, lo..=hi, token.clone())
            };
            let exp = if rev {
                m.area_rev(lo, hi, size)
            } else {
                m.area(lo, hi, size)
            };
            match (got, exp) {
                (Ok(s), Ok((a, b))) => {
                    prop_assert_eq!(s, a, "{}", ctx());
                    m.store(a, b, Slot::Val(0));
                    live.push((a, b));
                    size = 1 + rand(max_size);
                }
                (Err(e), Err(Error::Busy)) => {
                    prop_assert_eq!(e.error, Error::Busy, "{}", ctx());
                    if size == 1 {
                        break; // full
                    }
                    size = 1 + rand(size - 1);
                }
                (g, x) => {
                    return Err(fail(format!(
                        "{}: got {:?}, expected {:?}",
                        ctx(),
                        g.map(|_| ()),
                        x
                    )))
                }
            }
            validate(&t, &ctx)?;
            check_query(&t, &m, lo, hi, 1 + rand(max_size), &ctx)?;
        }
        // Full: not a single index left in the window.
        prop_assert_eq!(pair(t.empty_area(lo..=hi, 1)), Err(Error::Busy));
        prop_assert_eq!(
            Arc::strong_count(&token),
            1 + m.map.values().filter(|(_, s)| *s == Slot::Val(0)).count()
        );
        // Free in random order; every few frees also free a random sub-range (NULL store).
        while !live.is_empty() {
            let i = rand(live.len() as u64) as usize;
            let (a, b) = live.swap_remove(i);
            let ctx = || format!("seed {seed} round {round}: free {a}..={b}");
            let got = t.erase(a).unwrap().map(|(r, _)| (*r.start(), *r.end()));
            prop_assert_eq!(got, Some((a, b)), "{}", ctx());
            m.store(a, b, Slot::Empty);
            validate(&t, &ctx)?;
            check_query(&t, &m, lo, hi, 1 + rand(max_size), &ctx)?;
            check_query(&t, &m, lo + rand(span), hi, 1 + rand(4), &ctx)?;
        }
        prop_assert_eq!(
            pair(t.empty_area(lo..=hi, span)),
            Ok((lo, hi)),
            "window empty again"
        );
        prop_assert_eq!(
            pair(t.empty_area_rev(lo..=hi, span)),
            Ok((lo, hi)),
            "window empty again"
        );
    }
    drop(t);
    prop_assert_eq!(
        Arc::strong_count(&token),
        1,
        "entries leaked or double-dropped"
    );
    Ok(())
}

#[test]
fn allocation_under_churn() {
    for (seed, base, span, max_size) in [
        (1u64, 0u64, 600u64, 8u64),
        (2, 1000, 2000, 40),
        (3, MAX - 1499, 1500, 16),
        (4, 1 << 40, 3000, 3),
        (5, 7, 256, 1),
    ] {
        if let Err(e) = churn(seed, base, span, max_size) {
            panic!("{e}");
        }
    }
}

/// The cyclic allocator walks forward, wraps to the low end once the top is used, and
/// reports the wrap exactly once (kernel `mtree_alloc_cyclic` returning 1).
#[test]
fn alloc_cyclic_wraps() {
    let mut t: MapleTree<Value> = MapleTree::new_alloc();
    let mut next = 0;
    for i in 10..=20u64 {
        assert_eq!(
            t.alloc_cyclic(10..=20, &mut next, Value::new(i)).ok(),
            Some((i, false))
        );
        assert_eq!(next, i + 1);
    }
    let e = t
        .alloc_cyclic(10..=20, &mut next, Value::new(1))
        .unwrap_err();
    assert_eq!(e.error, Error::Busy);
    t.erase(12).unwrap();
    t.erase(15).unwrap();
    assert_eq!(
        t.alloc_cyclic(10..=20, &mut next, Value::new(1)).ok(),
        Some((12, true))
    );
    assert_eq!(next, 13);
    assert_eq!(
        t.alloc_cyclic(10..=20, &mut next, Value::new(1)).ok(),
        Some((15, false))
    );
    t.validate().unwrap();

    // Allocating u64::MAX makes `next` wrap to 0 and the following success reports it.
    let mut t: MapleTree<Value> = MapleTree::new_alloc();
    let mut next = MAX;
    assert_eq!(
        t.alloc_cyclic(0..=MAX, &mut next, Value::new(1)).ok(),
        Some((MAX, false))
    );
    assert_eq!(next, 0);
    assert_eq!(
        t.alloc_cyclic(0..=MAX, &mut next, Value::new(2)).ok(),
        Some((0, true))
    );
    assert_eq!(
        t.alloc_cyclic(0..=MAX, &mut next, Value::new(3)).ok(),
        Some((1, false))
    );
    t.validate().unwrap();
}

/// Kernel `mtree_alloc_range`/`_rrange`/`_cyclic` return -EINVAL on a tree without
/// MT_FLAGS_ALLOC_RANGE; the entry comes back.
#[test]
fn alloc_on_plain_tree_is_invalid() {
    let mut p: MapleTree<Value> = MapleTree::new();
    let mut next = 0;
    assert_eq!(
        p.alloc_cyclic(0..=10, &mut next, Value::new(1))
            .unwrap_err()
            .error,
        Error::Invalid
    );
    assert_eq!(
        p.alloc_range(1, 0..=10, Value::new(1)).unwrap_err().error,
        Error::Invalid
    );
    assert_eq!(
        p.alloc_rrange(1, 0..=10, Value::new(1)).unwrap_err().error,
        Error::Invalid
    );
    assert!(p.is_empty());
}

/// Hand-checked answers (kernel examples: three 100-sized allocations in `..1000` return 0,
/// 100, 200, then 800 does not fit).
#[test]
#[allow(clippy::reversed_empty_ranges)]
fn empty_area_examples() {
    for kind in [TreeKind::Plain, TreeKind::Alloc] {
        let mut t: MapleTree<Value> = MapleTree::with_kind(kind);
        // Empty tree.
        assert_eq!(t.empty_area(0..=999, 100), Ok(0..=99));
        assert_eq!(t.empty_area_rev(0..=999, 100), Ok(900..=999));
        assert_eq!(t.empty_area(0..=MAX, MAX), Ok(0..=MAX - 1));
        assert_eq!(t.empty_area_rev(0..=MAX, MAX), Ok(1..=MAX));
        assert_eq!(t.empty_area(5..=5, 1), Ok(5..=5));
        assert_eq!(t.empty_area(0..=999, 0), Err(Error::Invalid));
        assert_eq!(t.empty_area(10..=9, 1), Err(Error::Invalid));
        assert_eq!(t.empty_area(10..=19, 11), Err(Error::Invalid));
        assert_eq!(t.empty_area_rev(10..=19, 11), Err(Error::Invalid));
        // Only index 0 used (kernel: the root-pointer tree).
        t.store(0, Value::new(1)).unwrap();
        assert_eq!(t.empty_area(0..=10, 1), Ok(1..=1));
        assert_eq!(t.empty_area(0..=0, 1), Err(Error::Busy));
        assert_eq!(t.empty_area_rev(0..=10, 10), Ok(1..=10));
        assert_eq!(t.empty_area_rev(0..=10, 11), Err(Error::Busy));
        t.clear();
        for (i, start) in [0u64, 100, 200].into_iter().enumerate() {
            assert_eq!(t.empty_area(0..=999, 100), Ok(start..=start + 99));
            t.insert_range(start..=start + 99, Value::new(i as u64))
                .unwrap();
        }
        assert_eq!(t.empty_area(0..=999, 800), Err(Error::Busy));
        assert_eq!(t.empty_area(0..=999, 700), Ok(300..=999));
        assert_eq!(t.empty_area_rev(0..=999, 700), Ok(300..=999));
        // A reserved range is occupied.
        t.reserve_range(500..=509).unwrap();
        assert_eq!(t.empty_area(0..=999, 300), Ok(510..=809));
        assert_eq!(t.empty_area(0..=999, 491), Err(Error::Busy));
        assert_eq!(t.empty_area(0..=999, 200), Ok(300..=499));
        assert_eq!(t.empty_area_rev(0..=999, 200), Ok(800..=999));
        assert_eq!(t.empty_area_rev(0..=700, 200), Ok(300..=499));
        assert_eq!(t.empty_area(450..=520, 11), Ok(450..=460));
        assert_eq!(t.empty_area(500..=509, 1), Err(Error::Busy));
        assert_eq!(t.empty_area_rev(450..=520, 11), Ok(510..=520));
        assert_eq!(t.empty_area_rev(450..=520, 51), Err(Error::Busy));
        assert_eq!(t.empty_area(450..=520, 50), Ok(450..=499));
        assert_eq!(t.empty_area_rev(450..=520, 50), Ok(450..=499));
        t.validate().unwrap();
    }
}

/// Trees five or more levels high take the searches' prefetching path (`PREFETCH_HEIGHT` in
/// `gap.rs`), which small trees never reach. Both searches there agree with the brute force,
/// in wide windows and in narrow ones that end inside the tree, so that searches come down
/// through children straddling the window's top and fall back to the next child.
#[test]
fn searches_in_a_tall_tree_agree_with_the_model() {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut t: MapleTree<Value> = MapleTree::new_alloc();
    let mut m = Model::new();
    // Ranges of 1..=60 indices between holes of 1..=120: holes of every size near the
    // requested ones.
    let mut at = 0u64;
    for i in 0..40_000u64 {
        let last = at + rng.u64(..60);
        t.store_range(at..=last, Value::new(i)).unwrap();
        m.store(at, last, Slot::Val(i));
        at = last + 2 + rng.u64(..120);
    }
    assert!(t.height() >= 5, "height {}", t.height());
    t.validate().unwrap();
    for q in 0..4000 {
        let hi = rng.u64(..at + 1000);
        let lo = if q % 2 == 0 {
            rng.u64(..=hi)
        } else {
            hi.saturating_sub(rng.u64(..3000))
        };
        let size = 1 + rng.u64(..150);
        check_query(&t, &m, lo, hi, size, &|| {
            format!("query {q}: {lo}..={hi}, {size}")
        })
        .unwrap();
    }
}
