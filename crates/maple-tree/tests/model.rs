//! State-machine tests: random operation sequences applied to a `MapleTree` and to a
//! simple reference model (a `BTreeMap` of ranges covering `0..=u64::MAX`, with the
//! kernel's NULL coalescing), comparing every result and running `validate()` after
//! every step.
//!
//! Semantics followed (kernel): a NULL store is widened over neighbouring NULL ranges;
//! non-NULL neighbours (equal or not) are never merged; the zero entry (`reserve_range`)
//! occupies space, loads as `None`, is skipped by every entry iterator and is shown by
//! `next_range`/`prev_range` as a range with `None`; cursor `next`/`prev`/`find`/`find_rev`
//! follow `mas_next`/`mas_prev`/`mas_find`/`mas_find_rev` (entries whose start is
//! `<= max`, resp. whose end is `>= min`).
// Plain-thread tests: under `--cfg loom` only `loom_tree` runs (loom atomics need a model).
#![cfg(not(loom))]

use std::fmt::Debug;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use maple_tree::{Entry, Error, MapleTree, TreeKind, Value};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

mod common;
use common::{Model, Slot, MAX};

// ---------------------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------------------

impl Model {
    fn insert_ok(&self, first: u64, last: u64) -> bool {
        let (_, l, s) = self.containing(first);
        s == Slot::Empty && l >= last
    }

    fn entries(&self) -> Vec<(u64, u64, u64)> {
        self.ranges()
            .filter_map(|(f, l, s)| s.val().map(|v| (f, l, v)))
            .collect()
    }

    /// First entry (non-empty, non-zero) starting in `(after, max]`.
    fn next_val(&self, after: u64, max: u64) -> Option<(u64, u64, u64)> {
        if after >= max {
            return None;
        }
        self.map
            .range(after + 1..=max)
            .find_map(|(f, (l, s))| s.val().map(|v| (*f, *l, v)))
    }

    /// Last entry ending in `[min, before)`.
    fn prev_val(&self, before: u64, min: u64) -> Option<(u64, u64, u64)> {
        if before <= min {
            return None;
        }
        self.map
            .range(..before)
            .rev()
            .take_while(|(_, (l, _))| *l >= min)
            .find_map(|(f, (l, s))| s.val().map(|v| (*f, *l, v)))
    }

    /// Entries intersecting `[lo, hi]`.
    fn intersecting(&self, lo: u64, hi: u64) -> Vec<(u64, u64, u64)> {
        let start = self.containing(lo).0;
        self.map
            .range(start..=hi)
            .filter_map(|(f, (l, s))| s.val().map(|v| (*f, *l, v)))
            .collect()
    }

    /// kernel mt_find(start, max)
    fn find(&self, start: u64, max: u64) -> Option<(u64, u64, u64)> {
        if start > max {
            return None;
        }
        let (f, l, s) = self.containing(start);
        if let Slot::Val(v) = s {
            return Some((f, l, v));
        }
        self.next_val(l, max)
    }

    fn count_of(&self, v: u64) -> usize {
        self.ranges().filter(|r| r.2 == Slot::Val(v)).count()
    }
}

// ---------------------------------------------------------------------------------------
// Entry types under test
// ---------------------------------------------------------------------------------------

const POOL: usize = 8;

trait Ent: Entry + Clone + Debug {
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

fn new_pool() -> Vec<Arc<u64>> {
    (0..POOL as u64).map(Arc::new).collect()
}

fn ent<E: Ent>(r: std::ops::RangeInclusive<u64>, e: E::Ref<'_>) -> (u64, u64, u64) {
    (*r.start(), *r.end(), E::rid(e))
}

// ---------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
enum Step {
    Walk(u64),
    Next(u64),
    Prev(u64),
    Find(u64),
    FindRev(u64),
    NextRange,
    PrevRange,
    Pause,
}

#[derive(Clone)]
enum Op {
    Store(u64, u64, u64),
    StoreIdx(u64, u64),
    Insert(u64, u64, u64),
    EraseRange(u64, u64),
    Erase(u64),
    Reserve(u64, u64),
    Load(u64),
    Fill {
        start: u64,
        n: u16,
        stride: u64,
        len: u64,
        v: u64,
    },
    Cursor(u64, Vec<Step>),
    CursorStore(u64, u64),
    CursorErase(u64),
    CursorReplace(u64, u64),
    Iter(Bound<u64>, Bound<u64>, u32),
    Find(u64, u64),
    Invalid(u64, u64, u64),
}

// Compact one-line Debug output (also under `{:#?}`), so shrunk cases read as a script.
impl Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Walk(i) => write!(f, "Walk({i})"),
            Step::Next(i) => write!(f, "Next({i})"),
            Step::Prev(i) => write!(f, "Prev({i})"),
            Step::Find(i) => write!(f, "Find({i})"),
            Step::FindRev(i) => write!(f, "FindRev({i})"),
            Step::NextRange => write!(f, "NextRange"),
            Step::PrevRange => write!(f, "PrevRange"),
            Step::Pause => write!(f, "Pause"),
        }
    }
}

impl Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Store(a, b, v) => write!(f, "Store({a}, {b}, {v})"),
            Op::StoreIdx(a, v) => write!(f, "StoreIdx({a}, {v})"),
            Op::Insert(a, b, v) => write!(f, "Insert({a}, {b}, {v})"),
            Op::EraseRange(a, b) => write!(f, "EraseRange({a}, {b})"),
            Op::Erase(a) => write!(f, "Erase({a})"),
            Op::Reserve(a, b) => write!(f, "Reserve({a}, {b})"),
            Op::Load(a) => write!(f, "Load({a})"),
            Op::Fill {
                start,
                n,
                stride,
                len,
                v,
            } => {
                write!(
                    f,
                    "Fill {{ start: {start}, n: {n}, stride: {stride}, len: {len}, v: {v} }}"
                )
            }
            Op::Cursor(a, steps) => write!(f, "Cursor({a}, {steps:?})"),
            Op::CursorStore(a, v) => write!(f, "CursorStore({a}, {v})"),
            Op::CursorErase(a) => write!(f, "CursorErase({a})"),
            Op::CursorReplace(a, v) => write!(f, "CursorReplace({a}, {v})"),
            Op::Iter(s, e, p) => write!(f, "Iter({s:?}, {e:?}, {p:#x})"),
            Op::Find(a, b) => write!(f, "Find({a}, {b})"),
            Op::Invalid(a, b, v) => write!(f, "Invalid({a}, {b}, {v})"),
        }
    }
}

#[derive(Clone, Copy)]
struct Space {
    huge: bool,
    reserves: bool,
    cursor_heavy: bool,
}

fn key(sp: Space) -> BoxedStrategy<u64> {
    if sp.huge {
        common::huge_key()
    } else {
        prop_oneof![20 => 0u64..200, 1 => Just(MAX), 1 => (MAX - 3)..=MAX].boxed()
    }
}

fn range_of(sp: Space) -> BoxedStrategy<(u64, u64)> {
    let k = key(sp);
    let small_len = if sp.huge { 0u64..16 } else { 0u64..8 };
    prop_oneof![
        8 => (k.clone(), k.clone()).prop_map(|(a, b)| (a.min(b), a.max(b))),
        8 => (k.clone(), small_len).prop_map(|(a, l)| (a, a.saturating_add(l))),
        1 => Just((0, MAX)),
        1 => k.clone().prop_map(|a| (a, MAX)),
        1 => k.prop_map(|a| (0, a)),
    ]
    .boxed()
}

fn step(sp: Space) -> BoxedStrategy<Step> {
    let k = || prop_oneof![4 => key(sp), 1 => Just(MAX), 1 => Just(0)];
    prop_oneof![
        1 => key(sp).prop_map(Step::Walk),
        3 => k().prop_map(Step::Next),
        3 => k().prop_map(Step::Prev),
        3 => k().prop_map(Step::Find),
        3 => k().prop_map(Step::FindRev),
        2 => Just(Step::NextRange),
        2 => Just(Step::PrevRange),
        1 => Just(Step::Pause),
    ]
    .boxed()
}

fn bound(sp: Space) -> BoxedStrategy<(Bound<u64>, Bound<u64>)> {
    let b = || {
        prop_oneof![
            2 => key(sp).prop_map(Bound::Included),
            1 => key(sp).prop_map(Bound::Excluded),
            1 => Just(Bound::Unbounded),
        ]
    };
    (b(), b())
        .prop_filter("non-empty range", |(s, e)| bounds_to_incl(*s, *e).is_some())
        .boxed()
}

fn bounds_to_incl(s: Bound<u64>, e: Bound<u64>) -> Option<(u64, u64)> {
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

fn op(sp: Space) -> BoxedStrategy<Op> {
    let v = || 0u64..POOL as u64;
    let reserves = sp.reserves;
    let cursor_w = if sp.cursor_heavy { 12 } else { 3 };
    let (fill_start, fill_stride, fill_len): (
        BoxedStrategy<u64>,
        BoxedStrategy<u64>,
        BoxedStrategy<u64>,
    ) = if sp.huge {
        (
            key(sp),
            prop_oneof![Just(1u64), Just(2), Just(3), Just(1000), Just(1 << 40)].boxed(),
            prop_oneof![Just(0u64), 0u64..3, Just(999)].boxed(),
        )
    } else {
        ((0u64..200).boxed(), (1u64..4).boxed(), (0u64..2).boxed())
    };
    let fill = (fill_start, 1u16..300, fill_stride, fill_len, v()).prop_map(
        |(start, n, stride, len, v)| Op::Fill {
            start,
            n,
            stride,
            // Keep the ranges of one fill disjoint.
            len: len.min(stride - 1),
            v,
        },
    );
    prop_oneof![
        12 => (range_of(sp), v()).prop_map(|((a, b), v)| Op::Store(a, b, v)),
        4 => (key(sp), v()).prop_map(|(a, v)| Op::StoreIdx(a, v)),
        6 => (range_of(sp), v()).prop_map(|((a, b), v)| Op::Insert(a, b, v)),
        6 => range_of(sp).prop_map(|(a, b)| Op::EraseRange(a, b)),
        5 => key(sp).prop_map(Op::Erase),
        3 => range_of(sp).prop_map(move |(a, b)| if reserves { Op::Reserve(a, b) } else { Op::EraseRange(a, b) }),
        4 => key(sp).prop_map(Op::Load),
        1 => fill,
        cursor_w => (key(sp), prop::collection::vec(step(sp), 1..12))
            .prop_map(|(a, s)| Op::Cursor(a, s)),
        2 => (key(sp), v()).prop_map(|(a, v)| Op::CursorStore(a, v)),
        2 => key(sp).prop_map(Op::CursorErase),
        2 => (key(sp), v()).prop_map(|(a, v)| Op::CursorReplace(a, v)),
        3 => (bound(sp), any::<u32>()).prop_map(|((s, e), p)| Op::Iter(s, e, p)),
        2 => (key(sp), key(sp)).prop_map(|(a, b)| Op::Find(a, b)),
        1 => (key(sp), 1u64..100, v()).prop_map(|(a, d, v)| Op::Invalid(a.max(d), a.max(d) - d, v)),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

static OPS_RUN: AtomicUsize = AtomicUsize::new(0);

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

fn validate<E: Ent>(t: &MapleTree<E>, what: &dyn Fn() -> String) -> Result<(), TestCaseError> {
    if let Err(e) = t.validate() {
        let dump = if t.node_count() <= 40 {
            t.dump()
        } else {
            String::from("(dump omitted)")
        };
        return Err(fail(format!(
            "validate failed after {}: {e}\n{dump}",
            what()
        )));
    }
    Ok(())
}

fn check_counts<E: Ent>(pool: &[Arc<u64>], m: &Model) -> Result<(), TestCaseError> {
    if E::COUNTED {
        for (id, a) in pool.iter().enumerate() {
            let expected = 1 + m.count_of(id as u64);
            prop_assert_eq!(
                Arc::strong_count(a),
                expected,
                "Arc strong count of entry {} (1 held by the test + one per stored range)",
                id
            );
        }
    }
    Ok(())
}

fn check_full<E: Ent>(t: &MapleTree<E>, m: &Model) -> Result<(), TestCaseError> {
    let expect = m.entries();
    let got: Vec<_> = t.iter().map(|(r, e)| ent::<E>(r, e)).collect();
    prop_assert_eq!(&got, &expect, "iter()");
    let mut got_rev: Vec<_> = t.iter().rev().map(|(r, e)| ent::<E>(r, e)).collect();
    got_rev.reverse();
    prop_assert_eq!(&got_rev, &expect, "iter().rev()");
    let got_ref: Vec<_> = t.into_iter().map(|(r, e)| ent::<E>(r, e)).collect();
    prop_assert_eq!(&got_ref, &expect, "(&tree).into_iter()");
    prop_assert_eq!(t.len(), expect.len(), "len()");
    prop_assert_eq!(t.is_empty(), expect.is_empty(), "is_empty()");
    prop_assert_eq!(
        t.first().map(|(r, e)| ent::<E>(r, e)),
        expect.first().copied(),
        "first()"
    );
    prop_assert_eq!(
        t.last().map(|(r, e)| ent::<E>(r, e)),
        expect.last().copied(),
        "last()"
    );
    // Every range, including empty and reserved ones, through load_range/load/is_reserved.
    for (f, l, s) in m.ranges() {
        for i in [f, l, f + (l - f) / 2] {
            let (r, e) = t.load_range(i);
            prop_assert_eq!(
                (*r.start(), *r.end(), e.map(E::rid)),
                (f, l, s.val()),
                "load_range({})",
                i
            );
            prop_assert_eq!(t.load(i).map(E::rid), s.val(), "load({})", i);
            prop_assert_eq!(t.is_reserved(i), s == Slot::Zero, "is_reserved({})", i);
        }
    }
    if m.map.len() == 1 && m.containing(0).2 == Slot::Empty {
        prop_assert_eq!(t.height(), 0, "height of an empty tree");
    }
    Ok(())
}

/// A cursor step's result: (first, last, entry id).
type StepResult = Option<(u64, u64, Option<u64>)>;

/// Model cursor position: `None` = fresh (not walked yet, at `index`).
struct MCursor {
    index: u64,
    pos: Option<(u64, u64)>,
}

impl MCursor {
    fn walk(&mut self, m: &Model) -> (u64, u64) {
        match self.pos {
            Some(p) => p,
            None => {
                let (f, l, _) = m.containing(self.index);
                self.pos = Some((f, l));
                (f, l)
            }
        }
    }
}

fn run_cursor<E: Ent>(
    t: &MapleTree<E>,
    m: &Model,
    start: u64,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let mut c = t.cursor(start);
    let mut mc = MCursor {
        index: start,
        pos: None,
    };
    for (n, s) in steps.iter().enumerate() {
        let ctx = || format!("cursor({start}) steps {:?}", &steps[..=n]);
        // Expected result as Option<(first, last, Option<val>)>.
        let (got, exp): (StepResult, StepResult) = match *s {
            Step::Pause => {
                c.pause();
                continue;
            }
            Step::Walk(i) => {
                let g = c.walk(i).map(E::rid);
                let (f, l, sl) = m.containing(i);
                mc.pos = Some((f, l));
                prop_assert_eq!(g, sl.val(), "walk result; {}", ctx());
                let r = c.range();
                prop_assert_eq!(
                    (*r.start(), *r.end()),
                    (f, l),
                    "range() after walk; {}",
                    ctx()
                );
                continue;
            }
            Step::Find(max) => {
                let g = c
                    .find(max)
                    .map(|(r, e)| (*r.start(), *r.end(), Some(E::rid(e))));
                let e = match mc.pos {
                    None if mc.index > max => None,
                    None => {
                        let (f, l, sl) = m.containing(mc.index);
                        mc.pos = Some((f, l));
                        match sl {
                            Slot::Val(v) => Some((f, l, v)),
                            _ => m.next_val(l, max),
                        }
                    }
                    Some((_, l)) => m.next_val(l, max),
                };
                (g, e.map(|(f, l, v)| (f, l, Some(v))))
            }
            Step::FindRev(min) => {
                let g = c
                    .find_rev(min)
                    .map(|(r, e)| (*r.start(), *r.end(), Some(E::rid(e))));
                let e = match mc.pos {
                    None if mc.index < min => None,
                    None => {
                        let (f, l, sl) = m.containing(mc.index);
                        mc.pos = Some((f, l));
                        match sl {
                            Slot::Val(v) => Some((f, l, v)),
                            _ => m.prev_val(f, min),
                        }
                    }
                    Some((f, _)) => m.prev_val(f, min),
                };
                (g, e.map(|(f, l, v)| (f, l, Some(v))))
            }
            Step::Next(max) => {
                let g = c
                    .next(max)
                    .map(|(r, e)| (*r.start(), *r.end(), Some(E::rid(e))));
                let (_, l) = mc.walk(m);
                (g, m.next_val(l, max).map(|(f, l, v)| (f, l, Some(v))))
            }
            Step::Prev(min) => {
                let g = c
                    .prev(min)
                    .map(|(r, e)| (*r.start(), *r.end(), Some(E::rid(e))));
                let (f, _) = mc.walk(m);
                (g, m.prev_val(f, min).map(|(f, l, v)| (f, l, Some(v))))
            }
            Step::NextRange => {
                let g = c
                    .next_range()
                    .map(|(r, e)| (*r.start(), *r.end(), e.map(E::rid)));
                let (_, l) = mc.walk(m);
                let e = (l < MAX).then(|| {
                    let (f, l, s) = m.containing(l + 1);
                    (f, l, s.val())
                });
                (g, e)
            }
            Step::PrevRange => {
                let g = c
                    .prev_range()
                    .map(|(r, e)| (*r.start(), *r.end(), e.map(E::rid)));
                let (f, _) = mc.walk(m);
                let e = (f > 0).then(|| {
                    let (f, l, s) = m.containing(f - 1);
                    (f, l, s.val())
                });
                (g, e)
            }
        };
        prop_assert_eq!(got, exp, "{}", ctx());
        match exp {
            // After an exhausted search the cursor state (overflow/underflow) is not
            // compared further: stop this walk.
            None => return Ok(()),
            Some((f, l, _)) => {
                mc.pos = Some((f, l));
                let r = c.range();
                prop_assert_eq!((*r.start(), *r.end()), (f, l), "cursor range(); {}", ctx());
                prop_assert_eq!(c.index(), f, "cursor index(); {}", ctx());
            }
        }
    }
    Ok(())
}

fn run_iter<E: Ent>(
    t: &MapleTree<E>,
    m: &Model,
    s: Bound<u64>,
    e: Bound<u64>,
    pattern: u32,
) -> Result<(), TestCaseError> {
    let (lo, hi) = bounds_to_incl(s, e).unwrap();
    let expect = m.intersecting(lo, hi);
    let got: Vec<_> = t.range((s, e)).map(|(r, e)| ent::<E>(r, e)).collect();
    prop_assert_eq!(&got, &expect, "range({:?}, {:?})", s, e);
    let mut rev: Vec<_> = t.range((s, e)).rev().map(|(r, e)| ent::<E>(r, e)).collect();
    rev.reverse();
    prop_assert_eq!(&rev, &expect, "range({:?}, {:?}).rev()", s, e);
    // Mixed next/next_back on one iterator meet in the middle without repeats.
    let mut it = t.range((s, e));
    let (mut front, mut back) = (Vec::new(), Vec::new());
    let mut bit = 0;
    loop {
        let from_back = (pattern >> (bit % 32)) & 1 == 1;
        bit += 1;
        let x = if from_back { it.next_back() } else { it.next() };
        match x {
            None => break,
            Some((r, e)) if from_back => back.push(ent::<E>(r, e)),
            Some((r, e)) => front.push(ent::<E>(r, e)),
        }
    }
    back.reverse();
    front.extend(back);
    prop_assert_eq!(
        &front,
        &expect,
        "range({:?}, {:?}) double-ended pattern {:#x}",
        s,
        e,
        pattern
    );
    Ok(())
}

/// Apply `ops` to a fresh tree of `kind` and to the model; compare after every step.
fn run<E: Ent>(kind: TreeKind, ops: &[Op]) -> Result<(), TestCaseError> {
    let pool = new_pool();
    let result = run_inner::<E>(kind, ops, &pool);
    // Dropping the tree must release every entry it held exactly once.
    if E::COUNTED && result.is_ok() {
        for (id, a) in pool.iter().enumerate() {
            prop_assert_eq!(
                Arc::strong_count(a),
                1,
                "entry {} leaked or over-dropped after drop(tree)",
                id
            );
        }
    }
    result
}

fn run_inner<E: Ent>(kind: TreeKind, ops: &[Op], pool: &[Arc<u64>]) -> Result<(), TestCaseError> {
    let mut t: MapleTree<E> = MapleTree::with_kind(kind);
    prop_assert_eq!(t.kind(), kind);
    let mut m = Model::new();
    let mk = |v: u64| E::mk(pool, v);
    let mut done = 0usize;
    for (n, o) in ops.iter().enumerate() {
        let ctx = || format!("op #{n} {o:?}");
        done += 1;
        match o {
            &Op::Store(a, b, v) => {
                let old = t.store_range(a..=b, mk(v));
                let exp = m.store(a, b, Slot::Val(v)).val();
                prop_assert_eq!(
                    old.map(|o| o.map(|e| e.id())).map_err(|e| e.error),
                    Ok(exp),
                    "{}",
                    ctx()
                );
            }
            &Op::StoreIdx(a, v) => {
                let old = t.store(a, mk(v));
                let exp = m.store(a, a, Slot::Val(v)).val();
                prop_assert_eq!(
                    old.map(|o| o.map(|e| e.id())).map_err(|e| e.error),
                    Ok(exp),
                    "{}",
                    ctx()
                );
            }
            &Op::Insert(a, b, v) => {
                let r = if a == b {
                    t.insert(a, mk(v))
                } else {
                    t.insert_range(a..=b, mk(v))
                };
                if m.insert_ok(a, b) {
                    prop_assert!(
                        r.is_ok(),
                        "{}: expected Ok, got {:?}",
                        ctx(),
                        r.err().map(|e| e.error)
                    );
                    m.store(a, b, Slot::Val(v));
                } else {
                    match r {
                        Ok(()) => return Err(fail(format!("{}: expected Exists, got Ok", ctx()))),
                        Err(e) => {
                            prop_assert_eq!(e.error, Error::Exists, "{}", ctx());
                            prop_assert_eq!(e.entry.id(), v, "{}: entry given back", ctx());
                        }
                    }
                }
            }
            &Op::EraseRange(a, b) => {
                prop_assert_eq!(t.erase_range(a..=b), Ok(()), "{}", ctx());
                m.store(a, b, Slot::Empty);
            }
            &Op::Erase(i) => {
                let (f, l, s) = m.containing(i);
                if s == Slot::Zero {
                    // erase() of a reserved range is covered by api.rs (kernel: it is erased
                    // and "returns" the zero entry, i.e. None here); keep the model test
                    // independent of that choice.
                    continue;
                }
                let got = t
                    .erase(i)
                    .unwrap()
                    .map(|(r, e)| (*r.start(), *r.end(), e.id()));
                let exp = s.val().map(|v| (f, l, v));
                prop_assert_eq!(got, exp, "{}", ctx());
                if exp.is_some() {
                    m.store(f, l, Slot::Empty);
                }
            }
            &Op::Reserve(a, b) => {
                prop_assert_eq!(t.reserve_range(a..=b), Ok(()), "{}", ctx());
                m.store(a, b, Slot::Zero);
            }
            &Op::Load(i) => {
                let (f, l, s) = m.containing(i);
                prop_assert_eq!(t.load(i).map(E::rid), s.val(), "{}", ctx());
                let (r, e) = t.load_range(i);
                prop_assert_eq!(
                    (*r.start(), *r.end(), e.map(E::rid)),
                    (f, l, s.val()),
                    "{}",
                    ctx()
                );
                prop_assert_eq!(t.is_reserved(i), s == Slot::Zero, "{}", ctx());
            }
            &Op::Fill {
                start,
                n,
                stride,
                len,
                v,
            } => {
                let mut f = start;
                for j in 0..n as u64 {
                    let l = f.saturating_add(len);
                    let val = (v + j % 3) % POOL as u64;
                    let old = t.store_range(f..=l, mk(val));
                    let exp = m.store(f, l, Slot::Val(val)).val();
                    prop_assert_eq!(
                        old.map(|o| o.map(|e| e.id())).map_err(|e| e.error),
                        Ok(exp),
                        "{} (store {}..={})",
                        ctx(),
                        f,
                        l
                    );
                    if j % 32 == 31 {
                        validate(&t, &|| format!("{} (store {}..={})", ctx(), f, l))?;
                    }
                    match f.checked_add(stride) {
                        Some(x) => f = x,
                        None => break,
                    }
                }
                done += n as usize;
            }
            Op::Cursor(start, steps) => run_cursor(&t, &m, *start, steps)?,
            &Op::CursorStore(i, v) => {
                let (f, l, s) = m.containing(i);
                let mut c = t.cursor_mut(i);
                prop_assert_eq!(c.walk(i).map(E::rid), s.val(), "{}", ctx());
                let r = c.range();
                prop_assert_eq!(
                    (*r.start(), *r.end()),
                    (f, l),
                    "{}: range() after walk",
                    ctx()
                );
                let old = c.store(mk(v));
                prop_assert_eq!(
                    old.map(|o| o.map(|e| e.id())).map_err(|e| e.error),
                    Ok(s.val()),
                    "{}",
                    ctx()
                );
                m.store(f, l, Slot::Val(v));
            }
            &Op::CursorErase(i) => {
                let (f, l, s) = m.containing(i);
                if s == Slot::Zero {
                    continue; // see Op::Erase
                }
                let mut c = t.cursor_mut(i);
                prop_assert_eq!(c.walk(i).map(E::rid), s.val(), "{}", ctx());
                let got = c.erase().unwrap().map(|e| e.id());
                prop_assert_eq!(got, s.val(), "{}", ctx());
                if s != Slot::Empty {
                    m.store(f, l, Slot::Empty);
                }
            }
            &Op::CursorReplace(i, v) => {
                let (f, l, s) = m.containing(i);
                let Slot::Val(old) = s else { continue };
                let mut c = t.cursor_mut(i);
                prop_assert_eq!(c.walk(i).map(E::rid), Some(old), "{}", ctx());
                let got = c.replace(mk(v)).ok().map(|e| e.id());
                prop_assert_eq!(got, Some(old), "{}", ctx());
                m.store(f, l, Slot::Val(v));
            }
            &Op::Iter(s, e, p) => run_iter(&t, &m, s, e, p)?,
            &Op::Find(a, b) => {
                let got = t.find(a, b).map(|(r, e)| ent::<E>(r, e));
                prop_assert_eq!(got, m.find(a, b), "{}", ctx());
            }
            &Op::Invalid(a, b, v) => {
                prop_assert!(a > b);
                prop_assert_eq!(
                    t.store_range(a..=b, mk(v))
                        .map(|o| o.map(|e| e.id()))
                        .map_err(|e| e.error),
                    Err(Error::Invalid),
                    "{}",
                    ctx()
                );
                prop_assert_eq!(t.erase_range(a..=b), Err(Error::Invalid), "{}", ctx());
                prop_assert_eq!(t.reserve_range(a..=b), Err(Error::Invalid), "{}", ctx());
                match t.insert_range(a..=b, mk(v)) {
                    Ok(()) => {
                        return Err(fail(format!(
                            "{}: insert_range accepted first > last",
                            ctx()
                        )))
                    }
                    Err(e) => {
                        prop_assert_eq!(e.error, Error::Invalid, "{}", ctx());
                        prop_assert_eq!(e.entry.id(), v, "{}", ctx());
                    }
                }
            }
        }
        validate(&t, &ctx)?;
        check_counts::<E>(pool, &m)?;
        // Full comparison every step while small, periodically when large.
        let nr = m.map.len();
        if nr <= 64 || n % (1 + nr / 64) == 0 || n + 1 == ops.len() {
            check_full(&t, &m).map_err(|e| fail(format!("after {}: {e}", ctx())))?;
        }
    }
    let total = OPS_RUN.fetch_add(done, Ordering::Relaxed) + done;
    if std::env::var_os("MODEL_OPS_REPORT").is_some() {
        eprintln!("model ops run so far: {total}");
    }
    drop(t);
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

fn ops(sp: Space, len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(sp), len)
}

const SMALL: Space = Space {
    huge: false,
    reserves: false,
    cursor_heavy: false,
};
const SMALL_RES: Space = Space {
    huge: false,
    reserves: true,
    cursor_heavy: false,
};
const HUGE: Space = Space {
    huge: true,
    reserves: false,
    cursor_heavy: false,
};
const HUGE_RES: Space = Space {
    huge: true,
    reserves: true,
    cursor_heavy: false,
};
const CURSOR: Space = Space {
    huge: false,
    reserves: true,
    cursor_heavy: true,
};
const CURSOR_HUGE: Space = Space {
    huge: true,
    reserves: true,
    cursor_heavy: true,
};

proptest! {
    #![proptest_config(cfg(80))]

    #[test]
    fn small_plain_value(ops in ops(SMALL, 1..300)) {
        run::<Value>(TreeKind::Plain, &ops)?;
    }

    #[test]
    fn small_alloc_value(ops in ops(SMALL, 1..300)) {
        run::<Value>(TreeKind::Alloc, &ops)?;
    }

    #[test]
    fn small_plain_arc_reserves(ops in ops(SMALL_RES, 1..300)) {
        run::<Arc<u64>>(TreeKind::Plain, &ops)?;
    }

    #[test]
    fn small_alloc_arc_reserves(ops in ops(SMALL_RES, 1..300)) {
        run::<Arc<u64>>(TreeKind::Alloc, &ops)?;
    }

    #[test]
    fn huge_plain_value_reserves(ops in ops(HUGE_RES, 1..300)) {
        run::<Value>(TreeKind::Plain, &ops)?;
    }

    #[test]
    fn huge_alloc_arc(ops in ops(HUGE, 1..300)) {
        run::<Arc<u64>>(TreeKind::Alloc, &ops)?;
    }

    #[test]
    fn huge_alloc_value_reserves(ops in ops(HUGE_RES, 1..300)) {
        run::<Value>(TreeKind::Alloc, &ops)?;
    }

    #[test]
    fn cursor_small_plain(ops in ops(CURSOR, 1..200)) {
        run::<Value>(TreeKind::Plain, &ops)?;
    }

    #[test]
    fn cursor_huge_alloc(ops in ops(CURSOR_HUGE, 1..200)) {
        run::<Arc<u64>>(TreeKind::Alloc, &ops)?;
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic scenarios
// ---------------------------------------------------------------------------------------

fn run_det<E: Ent>(kind: TreeKind, ops: &[Op]) {
    if let Err(e) = run::<E>(kind, ops) {
        panic!("{e}");
    }
}

/// Many entries (a tall tree), then stores / NULL stores / reserves spanning many nodes.
#[test]
fn spanning_stores_over_many_nodes() {
    for kind in [TreeKind::Plain, TreeKind::Alloc] {
        let mut ops = vec![Op::Fill {
            start: 0,
            n: 3000,
            stride: 2,
            len: 0,
            v: 1,
        }];
        // Spanning stores at staggered offsets and lengths.
        for (i, len) in [(17u64, 400u64), (1001, 2), (2500, 1500), (5, 5990)]
            .iter()
            .enumerate()
        {
            ops.push(Op::Store(len.0, len.0 + len.1, i as u64));
            ops.push(Op::EraseRange(len.0 + 50, len.0 + len.1 + 75));
            ops.push(Op::Fill {
                start: len.0 + 1,
                n: 120,
                stride: 3,
                len: 1,
                v: 2,
            });
        }
        ops.push(Op::Reserve(300, 4000));
        ops.push(Op::Insert(4000, 4001, 3));
        ops.push(Op::Insert(6000, 7000, 3));
        ops.push(Op::Cursor(0, vec![Step::Find(MAX); 11]));
        ops.push(Op::Cursor(MAX, vec![Step::FindRev(0); 11]));
        ops.push(Op::EraseRange(0, MAX));
        run_det::<Value>(kind, &ops);
        run_det::<Arc<u64>>(kind, &ops);
    }
}

/// Full-range stores, NULL stores into empty trees, extremes of the key space.
#[test]
fn extremes_and_full_range() {
    for kind in [TreeKind::Plain, TreeKind::Alloc] {
        let ops = vec![
            Op::EraseRange(0, MAX),
            Op::EraseRange(5, 10),
            Op::Erase(0),
            Op::Erase(MAX),
            Op::Store(0, MAX, 1),
            Op::Store(0, MAX, 2),
            Op::Insert(3, 3, 1),
            Op::Store(MAX, MAX, 3),
            Op::Store(0, 0, 4),
            Op::Store(1, MAX - 1, 5),
            Op::EraseRange(1, MAX - 1),
            Op::Erase(0),
            Op::Erase(MAX),
            Op::Insert(0, MAX, 6),
            Op::Reserve(0, MAX),
            Op::Insert(7, 7, 1),
            Op::EraseRange(0, MAX),
            Op::Store(0, 0, 1),
            Op::Cursor(
                0,
                vec![
                    Step::NextRange,
                    Step::NextRange,
                    Step::PrevRange,
                    Step::PrevRange,
                ],
            ),
            Op::Cursor(MAX, vec![Step::PrevRange, Step::Prev(0), Step::Next(MAX)]),
            Op::Store(MAX, MAX, 2),
            Op::Cursor(5, vec![Step::Find(MAX), Step::FindRev(0), Step::Find(MAX)]),
            Op::Fill {
                start: MAX - 200,
                n: 300,
                stride: 1,
                len: 0,
                v: 0,
            },
            Op::Fill {
                start: 0,
                n: 300,
                stride: 1 << 40,
                len: 0,
                v: 0,
            },
            Op::EraseRange(1, MAX - 1),
        ];
        run_det::<Value>(kind, &ops);
        run_det::<Arc<u64>>(kind, &ops);
    }
}
