//! What the tree targets share: the reference model (ranges covering `0..=u64::MAX` in a
//! `BTreeMap`, with the kernel's NULL coalescing, as in maple-tree's `tests/common`), the
//! fuzz-chosen keys and ranges, the entry types under test and the read checks that compare
//! any view of a tree (an owner's, a writer's or a lock-free reader's) with the model.

use std::fmt::Debug;
use std::ops::{Bound, RangeInclusive};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use arbitrary::{Arbitrary, Result as AResult, Unstructured};
use maple_tree::{Access, Entry, Error, TreeView, Value};

// The model is maple-tree's own (its property tests check the tree against the same code).
// Its queries serve both sides; not every one is used here.
#[allow(dead_code)]
#[path = "../../../maple-tree/tests/common/range_model.rs"]
mod range_model;
pub use range_model::{Model, Slot, MAX};

impl Model {
    /// Whether any index of `[first, last]` is occupied (entry or zero entry).
    pub fn occupied_in(&self, first: u64, last: u64) -> bool {
        !self.insert_ok(first, last)
    }

    pub fn entry_count(&self) -> usize {
        self.ranges()
            .filter(|r| matches!(r.2, Slot::Val(_)))
            .count()
    }

    /// The kernel's `mt_find(start, max)`.
    pub fn find(&self, start: u64, max: u64) -> Option<(u64, u64, u64)> {
        if start > max {
            return None;
        }
        let (f, l, s) = self.containing(start);
        if let Slot::Val(v) = s {
            return Some((f, l, v));
        }
        self.next_val(l, max)
    }
}

// ---------------------------------------------------------------------------------------
// Fuzz-chosen keys and ranges
// ---------------------------------------------------------------------------------------

/// A key over the whole index space, weighted towards small values (dense trees, node
/// splits), the top of the space, the middle and powers of two.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key(pub u64);

impl Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'a> Arbitrary<'a> for Key {
    fn arbitrary(u: &mut Unstructured<'a>) -> AResult<Self> {
        let tag: u8 = u.arbitrary()?;
        Ok(Key(match tag % 16 {
            0..=8 => u64::from(u.arbitrary::<u8>()?),
            9..=10 => u64::from(u.arbitrary::<u16>()?),
            11 => MAX - u64::from(u.arbitrary::<u8>()? % 32),
            12 => MAX / 2 - 16 + u64::from(u.arbitrary::<u8>()? % 32),
            13 => (1u64 << (u.arbitrary::<u8>()? % 64)).wrapping_add(u64::from(tag >> 6)) - 1,
            _ => u.arbitrary::<u64>()?,
        }))
    }
    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(9))
    }
}

/// A range as `RangeBounds` sees it, in every form the API accepts, empty ones included.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Span(pub Bound<u64>, pub Bound<u64>);

impl<'a> Arbitrary<'a> for Span {
    fn arbitrary(u: &mut Unstructured<'a>) -> AResult<Self> {
        let form: u8 = u.arbitrary()?;
        let a = Key::arbitrary(u)?.0;
        // Mostly short ranges; sometimes a second free key as the end.
        let b = match form >> 4 {
            0..=11 => a.saturating_add(u64::from(u.arbitrary::<u8>()? % 40)),
            12..=13 => a.saturating_add(u64::from(u.arbitrary::<u16>()?)),
            _ => Key::arbitrary(u)?.0,
        };
        use Bound::*;
        Ok(match form % 16 {
            0..=7 => Span(Included(a), Included(b)),
            8..=9 => Span(Included(a), Excluded(b)),
            10 => Span(Unbounded, Included(b)),
            11 => Span(Included(a), Unbounded),
            12 => Span(Excluded(a), Included(b)),
            13 => Span(Unbounded, Unbounded),
            14 => Span(Unbounded, Excluded(b)),
            _ => Span(Included(b), Included(a)), // backwards unless equal
        })
    }
}

impl std::ops::RangeBounds<u64> for Span {
    fn start_bound(&self) -> Bound<&u64> {
        self.0.as_ref()
    }
    fn end_bound(&self) -> Bound<&u64> {
        self.1.as_ref()
    }
}

impl Span {
    /// `(first, last)`, or `None` when the span holds no index (the tree's `Invalid`).
    pub fn incl(&self) -> Option<(u64, u64)> {
        let lo = match self.0 {
            Bound::Included(s) => s,
            Bound::Excluded(s) => s.checked_add(1)?,
            Bound::Unbounded => 0,
        };
        let hi = match self.1 {
            Bound::Included(e) => e,
            Bound::Excluded(e) => e.checked_sub(1)?,
            Bound::Unbounded => MAX,
        };
        (lo <= hi).then_some((lo, hi))
    }
}

/// `(first, last)` of a returned range.
pub fn pair(r: &RangeInclusive<u64>) -> (u64, u64) {
    (*r.start(), *r.end())
}

// ---------------------------------------------------------------------------------------
// Entries under test
// ---------------------------------------------------------------------------------------

/// An entry type for the model runs: made from a model value, read back as one.
pub trait Ent: Entry + Clone + PartialEq + Debug + Send + Sync + 'static {
    /// Counts live instances (checked against the model).
    const COUNTED: bool;
    fn mk(live: &Arc<AtomicIsize>, v: u64) -> Self;
    fn id(&self) -> u64;
    fn rid(r: Self::Ref<'_>) -> u64;
}

impl Ent for Value {
    const COUNTED: bool = false;
    fn mk(_: &Arc<AtomicIsize>, v: u64) -> Self {
        Value::new(v)
    }
    fn id(&self) -> u64 {
        self.get()
    }
    fn rid(r: Value) -> u64 {
        r.get()
    }
}

/// A heap entry that counts its live instances: every one made (by `mk` or a clone) must be
/// dropped exactly once, so after a tree is dropped the count is back to zero, and while it
/// lives the count equals the entries it stores (each stored range holds its own instance).
#[derive(Debug)]
pub struct Counted {
    pub id: u64,
    live: Arc<AtomicIsize>,
}

impl Counted {
    pub fn new(live: &Arc<AtomicIsize>, id: u64) -> Counted {
        live.fetch_add(1, Ordering::SeqCst);
        Counted {
            id,
            live: live.clone(),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(&self.live, self.id)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let before = self.live.fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "entry {} dropped more often than made", self.id);
    }
}

impl PartialEq for Counted {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
    }
}

impl Ent for Box<Counted> {
    const COUNTED: bool = true;
    fn mk(live: &Arc<AtomicIsize>, v: u64) -> Self {
        Box::new(Counted::new(live, v))
    }
    fn id(&self) -> u64 {
        self.id
    }
    fn rid(r: &Counted) -> u64 {
        r.id
    }
}

/// Live instances of counted entries.
pub fn live(c: &Arc<AtomicIsize>) -> isize {
    c.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------
// Read checks, for every kind of view
// ---------------------------------------------------------------------------------------

/// `(first, last, id)` of a returned entry.
pub fn ent<E: Ent>(r: RangeInclusive<u64>, e: E::Ref<'_>) -> (u64, u64, u64) {
    (*r.start(), *r.end(), E::rid(e))
}

/// Every range of the model through `load_range`/`load`/`is_reserved`/`contains`, the entry
/// list through `overlapping(..)` both ways, `keys`, `values`, `first`, `last`, `len`.
pub fn check_view<E: Ent, A: Access>(t: &TreeView<E, A>, m: &Model, ctx: &dyn Fn() -> String) {
    let expect = m.entries();
    let got: Vec<_> = t.overlapping(..).map(|(r, e)| ent::<E>(r, e)).collect();
    assert_eq!(got, expect, "overlapping(..); {}", ctx());
    let mut rev: Vec<_> = t
        .overlapping(..)
        .rev()
        .map(|(r, e)| ent::<E>(r, e))
        .collect();
    rev.reverse();
    assert_eq!(rev, expect, "overlapping(..).rev(); {}", ctx());
    let keys: Vec<_> = t.keys().map(|r| pair(&r)).collect();
    let mkeys: Vec<_> = expect.iter().map(|&(f, l, _)| (f, l)).collect();
    assert_eq!(keys, mkeys, "keys(); {}", ctx());
    let vals: Vec<_> = t.values().map(E::rid).collect();
    let mvals: Vec<_> = expect.iter().map(|&(_, _, v)| v).collect();
    assert_eq!(vals, mvals, "values(); {}", ctx());
    assert_eq!(t.len(), expect.len(), "len(); {}", ctx());
    assert_eq!(t.is_empty(), expect.is_empty(), "is_empty(); {}", ctx());
    assert_eq!(
        t.first().map(|(r, e)| ent::<E>(r, e)),
        expect.first().copied(),
        "first(); {}",
        ctx()
    );
    assert_eq!(
        t.last().map(|(r, e)| ent::<E>(r, e)),
        expect.last().copied(),
        "last(); {}",
        ctx()
    );
    for (f, l, s) in m.ranges() {
        for i in [f, l, f + (l - f) / 2] {
            let (r, e) = t.load_range(i);
            assert_eq!(
                (*r.start(), *r.end(), e.map(E::rid)),
                (f, l, s.val()),
                "load_range({i}); {}",
                ctx()
            );
            assert_eq!(t.load(i).map(E::rid), s.val(), "load({i}); {}", ctx());
            assert_eq!(t.contains(i), s.val().is_some(), "contains({i}); {}", ctx());
            assert_eq!(
                t.is_reserved(i),
                s == Slot::Zero,
                "is_reserved({i}); {}",
                ctx()
            );
        }
    }
    // Every range, empty and reserved ones too, by a cursor stepping both ways.
    let all: Vec<_> = m.ranges().map(|(f, l, s)| (f, l, s.val())).collect();
    let mut c = t.cursor(0);
    let mut fwd = Vec::new();
    let w = c.walk(0).map(E::rid);
    fwd.push((pair(&c.range()).0, pair(&c.range()).1, w));
    while let Some((r, e)) = c.next_range() {
        fwd.push((*r.start(), *r.end(), e.map(E::rid)));
        assert!(fwd.len() <= all.len(), "next_range past the end; {}", ctx());
    }
    assert_eq!(fwd, all, "cursor walk(0) + next_range; {}", ctx());
    let mut c = t.cursor(MAX);
    let mut back = Vec::new();
    let w = c.walk(MAX).map(E::rid);
    back.push((pair(&c.range()).0, pair(&c.range()).1, w));
    while let Some((r, e)) = c.prev_range() {
        back.push((*r.start(), *r.end(), e.map(E::rid)));
        assert!(
            back.len() <= all.len(),
            "prev_range past the start; {}",
            ctx()
        );
    }
    back.reverse();
    assert_eq!(back, all, "cursor walk(MAX) + prev_range; {}", ctx());
}

/// A read query the fuzzer chooses, checked against the model on any view.
#[derive(Arbitrary, Clone, Debug)]
pub enum Query {
    Load(Key),
    Range(Span, u32),
    Find(Key, Key),
    Gaps(Span, bool),
    EmptyArea(Span, Key, bool),
    Cursor(Key, Vec<Step>),
}

/// A cursor step.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Step {
    Walk(Key),
    Find(Key),
    FindRev(Key),
    Next(Key),
    Prev(Key),
    NextRange,
    PrevRange,
    Pause,
}

/// Runs `q` on `t` and compares with the model.
pub fn check_query<E: Ent, A: Access>(
    t: &TreeView<E, A>,
    m: &Model,
    q: &Query,
    ctx: &dyn Fn() -> String,
) {
    match q {
        &Query::Load(Key(i)) => {
            let (f, l, s) = m.containing(i);
            assert_eq!(t.load(i).map(E::rid), s.val(), "load; {}", ctx());
            let (r, e) = t.load_range(i);
            assert_eq!(
                (pair(&r), e.map(E::rid)),
                ((f, l), s.val()),
                "load_range; {}",
                ctx()
            );
            assert_eq!(t.is_reserved(i), s == Slot::Zero, "is_reserved; {}", ctx());
        }
        Query::Range(span, pattern) => {
            let expect = span
                .incl()
                .map(|(lo, hi)| m.intersecting(lo, hi))
                .unwrap_or_default();
            let got: Vec<_> = t.range(*span).map(|(r, e)| ent::<E>(r, e)).collect();
            assert_eq!(got, expect, "range; {}", ctx());
            let got = drain_by_pattern(t.overlapping(*span), *pattern, expect.len(), |(r, e)| {
                ent::<E>(r, e)
            });
            let got = got.unwrap_or_else(|| panic!("too many; {}", ctx()));
            assert_eq!(
                got,
                expect,
                "overlapping double-ended {pattern:#x}; {}",
                ctx()
            );
        }
        &Query::Find(Key(a), Key(b)) => {
            let got = t.find(a, b).map(|(r, e)| ent::<E>(r, e));
            assert_eq!(got, m.find(a, b), "find; {}", ctx());
        }
        Query::Gaps(span, rev) => {
            let expect = span
                .incl()
                .map(|(lo, hi)| m.gaps_in(lo, hi))
                .unwrap_or_default();
            let mut got: Vec<_> = if *rev {
                t.gaps(*span).rev().map(|r| pair(&r)).collect()
            } else {
                t.gaps(*span).map(|r| pair(&r)).collect()
            };
            if *rev {
                got.reverse();
            }
            assert_eq!(got, expect, "gaps; {}", ctx());
        }
        &Query::EmptyArea(span, Key(size), rev) => {
            let size = size % 64; // mostly fitting sizes, zero included
            let (got, exp) = match span.incl() {
                None => {
                    let g = if rev {
                        t.empty_area_rev(span, size)
                    } else {
                        t.empty_area(span, size)
                    };
                    (g.map(|r| pair(&r)), Err(Error::Invalid))
                }
                Some((lo, hi)) => {
                    if rev {
                        (
                            t.empty_area_rev(span, size).map(|r| pair(&r)),
                            m.area_rev(lo, hi, size),
                        )
                    } else {
                        (
                            t.empty_area(span, size).map(|r| pair(&r)),
                            m.area(lo, hi, size),
                        )
                    }
                }
            };
            assert_eq!(got, exp, "empty_area (rev {rev}); {}", ctx());
        }
        Query::Cursor(Key(start), steps) => run_cursor(t, m, *start, steps, ctx),
    }
}

/// A cursor step's result: (first, last, entry id).
type StepResult = Option<(u64, u64, Option<u64>)>;

/// Steps a read cursor from `start` and compares every result with the model (the kernel's
/// `mas_walk`/`mas_find`/`mas_find_rev`/`mas_next`/`mas_prev`/`mas_next_range`/
/// `mas_prev_range`/`mas_pause`). Stops comparing after an exhausted search.
pub fn run_cursor<E: Ent, A: Access>(
    t: &TreeView<E, A>,
    m: &Model,
    start: u64,
    steps: &[Step],
    ctx: &dyn Fn() -> String,
) {
    let mut c = t.cursor(start);
    // Where the model cursor stands: None = fresh. A pause keeps the range, and in a tree
    // nobody writes to the next step resumes from it as if it had not paused.
    let mut pos: Option<(u64, u64)> = None;
    let here = |pos: &mut Option<(u64, u64)>| -> (u64, u64) {
        *pos.get_or_insert_with(|| {
            let (f, l, _) = m.containing(start);
            (f, l)
        })
    };
    for (n, s) in steps.iter().take(32).enumerate() {
        let ctx = || format!("cursor({start}) steps {:?}; {}", &steps[..=n], ctx());
        let (got, exp): (StepResult, StepResult) = match *s {
            Step::Pause => {
                c.pause();
                continue;
            }
            Step::Walk(Key(i)) => {
                let g = c.walk(i).map(E::rid);
                let (f, l, sl) = m.containing(i);
                pos = Some((f, l));
                assert_eq!(g, sl.val(), "walk result; {}", ctx());
                assert_eq!(pair(&c.range()), (f, l), "range() after walk; {}", ctx());
                assert_eq!(c.index(), f, "index() after walk; {}", ctx());
                assert_eq!(c.entry().map(E::rid), sl.val(), "entry(); {}", ctx());
                assert_eq!(
                    c.is_reserved(),
                    sl == Slot::Zero,
                    "is_reserved(); {}",
                    ctx()
                );
                continue;
            }
            Step::Find(Key(max)) => {
                let g = c
                    .find(max)
                    .map(|(r, e)| (*r.start(), *r.end(), Some(E::rid(e))));
                let e = match pos {
                    None if start > max => None,
                    None => {
                        let (f, l, sl) = m.containing(start);
                        match sl {
                            Slot::Val(v) => Some((f, l, v)),
                            _ => m.next_val(l, max),
                        }
                    }
                    Some((_, l)) => m.next_val(l, max),
                };
                (g, e.map(|(f, l, v)| (f, l, Some(v))))
            }
            Step::FindRev(Key(min)) => {
                let g = c
                    .find_rev(min)
                    .map(|(r, e)| (*r.start(), *r.end(), Some(E::rid(e))));
                let e = match pos {
                    None if start < min => None,
                    None => {
                        let (f, l, sl) = m.containing(start);
                        match sl {
                            Slot::Val(v) => Some((f, l, v)),
                            _ => m.prev_val(f, min),
                        }
                    }
                    Some((f, _)) => m.prev_val(f, min),
                };
                (g, e.map(|(f, l, v)| (f, l, Some(v))))
            }
            Step::Next(Key(max)) => {
                let g = c
                    .next(max)
                    .map(|(r, e)| (*r.start(), *r.end(), Some(E::rid(e))));
                let (_, l) = here(&mut pos);
                (g, m.next_val(l, max).map(|(f, l, v)| (f, l, Some(v))))
            }
            Step::Prev(Key(min)) => {
                let g = c
                    .prev(min)
                    .map(|(r, e)| (*r.start(), *r.end(), Some(E::rid(e))));
                let (f, _) = here(&mut pos);
                (g, m.prev_val(f, min).map(|(f, l, v)| (f, l, Some(v))))
            }
            Step::NextRange => {
                let g = c
                    .next_range()
                    .map(|(r, e)| (*r.start(), *r.end(), e.map(E::rid)));
                let (_, l) = here(&mut pos);
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
                let (f, _) = here(&mut pos);
                let e = (f > 0).then(|| {
                    let (f, l, s) = m.containing(f - 1);
                    (f, l, s.val())
                });
                (g, e)
            }
        };
        assert_eq!(got, exp, "{}", ctx());
        match exp {
            // After an exhausted search the cursor's position is not compared further.
            None => return,
            Some((f, l, _)) => {
                pos = Some((f, l));
                assert_eq!(pair(&c.range()), (f, l), "cursor range(); {}", ctx());
                assert_eq!(c.index(), f, "cursor index(); {}", ctx());
            }
        }
    }
}

/// Drains a double-ended iterator from both ends, from the back where bit `k % 32` of
/// `pattern` is set for the `k`-th step, mapping each item with `each` as it comes. Returns
/// the mapped items in the iterator's order, or `None` once more than `max` came (the two
/// ends must meet).
pub fn drain_by_pattern<T, U>(
    mut it: impl DoubleEndedIterator<Item = T>,
    pattern: u32,
    max: usize,
    mut each: impl FnMut(T) -> U,
) -> Option<Vec<U>> {
    let (mut front, mut back) = (Vec::new(), Vec::new());
    for bit in 0.. {
        let from_back = (pattern >> (bit % 32)) & 1 == 1;
        let item = if from_back { it.next_back() } else { it.next() };
        match item {
            None => break,
            Some(x) if from_back => back.push(each(x)),
            Some(x) => front.push(each(x)),
        }
        if front.len() + back.len() > max {
            return None;
        }
    }
    back.reverse();
    front.extend(back);
    Some(front)
}
