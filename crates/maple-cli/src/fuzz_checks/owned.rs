//! The owned tree (`MapleTree<E>`, both kinds) against the reference model: every public
//! write and read, `validate()` after every operation, and for counted entries the number
//! of live entries equal to the model's after every operation and zero after the tree is
//! gone.

use std::sync::atomic::AtomicIsize;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use maple_tree::{Error, MapleTree, TreeKind, Value};

use super::model::{
    check_query, check_view, drain_by_pattern, ent, live, pair, Ent, Key, Model, Query, Slot, Span,
    MAX,
};
use super::writes::{apply_write, val, WriteOp, WriteState};

/// Most operations one input runs, so that each execution stays short.
const MAX_OPS: usize = 64;

#[derive(Arbitrary, Debug)]
struct Input {
    alloc: bool,
    counted: bool,
    /// How the tree ends: dropped (0), consumed by `into_iter` (1), partly consumed (2),
    /// `into_values` (3).
    end: u8,
    ops: Vec<Op>,
}

#[derive(Debug)]
enum Op {
    /// A write both modes have.
    Write(WriteOp),
    GetMut(Key, u8),
    IterMut {
        span: Option<Span>,
        add: u8,
        pattern: u32,
        values: bool,
    },
    Retain {
        modulus: u8,
        rem: u8,
    },
    PopFirst,
    PopLast,
    RemoveRange(Span),
    SplitOff {
        at: Key,
        rejoin: bool,
    },
    Append {
        items: Vec<(Span, u8)>,
        bulk: bool,
        alloc: bool,
    },
    Clear,
    Query(Query),
}

impl<'a> Arbitrary<'a> for Op {
    /// Three operations in four are writes (so trees grow past one node); the rest are spread
    /// over the owner's own operations and the read queries.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        if u.arbitrary::<u8>()? < 192 {
            return Ok(Op::Write(u.arbitrary()?));
        }
        Ok(match u.int_in_range(0..=10u8)? {
            0 => Op::GetMut(u.arbitrary()?, u.arbitrary()?),
            1 => Op::IterMut {
                span: u.arbitrary()?,
                add: u.arbitrary()?,
                pattern: u.arbitrary()?,
                values: u.arbitrary()?,
            },
            2 => Op::Retain {
                modulus: u.arbitrary()?,
                rem: u.arbitrary()?,
            },
            3 => Op::PopFirst,
            4 => Op::PopLast,
            5 => Op::RemoveRange(u.arbitrary()?),
            6 => Op::SplitOff {
                at: u.arbitrary()?,
                rejoin: u.arbitrary()?,
            },
            7 => Op::Append {
                items: u.arbitrary()?,
                bulk: u.arbitrary()?,
                alloc: u.arbitrary()?,
            },
            // Clearing is rarer: it throws away the tree built so far.
            8 if u.arbitrary::<u8>()? < 64 => Op::Clear,
            _ => Op::Query(u.arbitrary()?),
        })
    }
}

tree_target!(owned_tree);

fn check_counts<E: Ent>(c: &Arc<AtomicIsize>, m: &Model, ctx: &dyn Fn() -> String) {
    if E::COUNTED {
        assert_eq!(
            live(c),
            m.entry_count() as isize,
            "live entries (one per stored range); {}",
            ctx()
        );
    }
}

/// Checks only an owner has: `iter()` both ways with its exact length, `&tree` iteration.
fn check_owned<E: Ent>(t: &MapleTree<E>, m: &Model, ctx: &dyn Fn() -> String) {
    check_view::<E, _>(t, m, ctx);
    let expect = m.entries();
    let it = t.iter();
    assert_eq!(it.len(), expect.len(), "iter().len(); {}", ctx());
    let got: Vec<_> = it.map(|(r, e)| ent::<E>(r, e)).collect();
    assert_eq!(got, expect, "iter(); {}", ctx());
    let mut rev: Vec<_> = t.iter().rev().map(|(r, e)| ent::<E>(r, e)).collect();
    rev.reverse();
    assert_eq!(rev, expect, "iter().rev(); {}", ctx());
    let by_ref: Vec<_> = t.into_iter().map(|(r, e)| ent::<E>(r, e)).collect();
    assert_eq!(by_ref, expect, "(&tree).into_iter(); {}", ctx());
}

/// A model of the tree `items` make when stored in order: `None` if one of them holds no
/// index (with the model up to it and the failing item's value).
fn model_of_stores(items: &[(Span, u8)]) -> (Model, Option<u64>) {
    let mut m = Model::new();
    for (span, v) in items {
        match span.incl() {
            Some((a, b)) => {
                m.store(a, b, Slot::Val(val(*v)));
            }
            None => return (m, Some(val(*v))),
        }
    }
    (m, None)
}

fn run<E: Ent>(kind: TreeKind, input: &Input) {
    let live_count = Arc::new(AtomicIsize::new(0));
    let mk = |v: u64| E::mk(&live_count, v);
    let mut t: MapleTree<E> = MapleTree::with_kind(kind);
    assert_eq!(t.kind(), kind);
    let mut m = Model::new();
    let mut st = WriteState::default();
    for (n, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        let ctx = || format!("{kind:?} op #{n} {op:?}");
        let ctx = &ctx;
        match op {
            Op::Write(w) => apply_write(&mut t, &mut m, &mut st, &live_count, w, ctx),
            &Op::GetMut(Key(i), v) => {
                let (f, l, s) = m.containing(i);
                match t.get_mut(i) {
                    Some(e) => {
                        assert_eq!(Some(e.id()), s.val(), "get_mut; {}", ctx());
                        *e = mk(val(v));
                        m.store(f, l, Slot::Val(val(v)));
                    }
                    None => assert_eq!(s.val(), None, "get_mut; {}", ctx()),
                }
            }
            &Op::IterMut {
                span,
                add,
                pattern,
                values,
            } => {
                let (lo, hi) = match span {
                    None => (0, MAX),
                    Some(s) => s.incl().unwrap_or((1, 0)),
                };
                let expect = m.intersecting(lo, hi);
                let bump = |id: u64| (id + u64::from(add)) % 512;
                let mut seen = Vec::new();
                if values {
                    for e in t.values_mut() {
                        seen.push((0, 0, e.id()));
                        *e = mk(bump(e.id()));
                    }
                    let all: Vec<_> = m.entries().iter().map(|&(_, _, v)| (0, 0, v)).collect();
                    assert_eq!(seen, all, "values_mut; {}", ctx());
                    for (f, l, v) in m.entries() {
                        m.store(f, l, Slot::Val(bump(v)));
                    }
                } else {
                    let visit = |(r, e): (std::ops::RangeInclusive<u64>, &mut E)| {
                        let id = e.id();
                        *e = mk(bump(id));
                        (*r.start(), *r.end(), id)
                    };
                    let drained = match span {
                        None => {
                            let it = t.iter_mut();
                            assert_eq!(it.len(), expect.len(), "iter_mut().len(); {}", ctx());
                            drain_by_pattern(it, pattern, usize::MAX, visit)
                        }
                        Some(s) => drain_by_pattern(t.range_mut(s), pattern, usize::MAX, visit),
                    };
                    seen = drained.expect("no limit");
                    assert_eq!(seen, expect, "iter_mut/range_mut {pattern:#x}; {}", ctx());
                    for (f, l, v) in expect {
                        m.store(f, l, Slot::Val(bump(v)));
                    }
                }
            }
            &Op::Retain { modulus, rem } => {
                let md = u64::from(modulus % 8) + 1;
                let mut seen = Vec::new();
                t.retain(|r, e| {
                    seen.push((*r.start(), *r.end(), e.id()));
                    e.id() % md != u64::from(rem) % md
                });
                let expect = m.entries();
                assert_eq!(seen, expect, "retain visits; {}", ctx());
                for (f, l, v) in expect {
                    if v % md == u64::from(rem) % md {
                        m.store(f, l, Slot::Empty);
                    }
                }
            }
            Op::PopFirst | Op::PopLast => {
                let first = matches!(op, Op::PopFirst);
                let got = if first { t.pop_first() } else { t.pop_last() };
                let got = got.map(|(r, e)| (pair(&r), e.id()));
                let entries = m.entries();
                let pick = if first {
                    entries.first()
                } else {
                    entries.last()
                };
                let exp = pick.map(|&(f, l, v)| ((f, l), v));
                if let Some(((f, l), _)) = exp {
                    m.store(f, l, Slot::Empty);
                }
                assert_eq!(got, exp, "{}", ctx());
            }
            Op::RemoveRange(span) => {
                let got = t.remove_range(*span).map(|v| {
                    v.into_iter()
                        .map(|(r, e)| (pair(&r), e.id()))
                        .collect::<Vec<_>>()
                });
                let exp = match span.incl() {
                    None => Err(Error::Invalid),
                    Some((lo, hi)) => {
                        let taken = m
                            .intersecting(lo, hi)
                            .into_iter()
                            .map(|(f, l, v)| ((f.max(lo), l.min(hi)), v))
                            .collect();
                        m.store(lo, hi, Slot::Empty);
                        Ok(taken)
                    }
                };
                assert_eq!(got, exp, "{}", ctx());
            }
            &Op::SplitOff {
                at: Key(at),
                rejoin,
            } => {
                let mut high = t.split_off(at);
                let mut hm = Model::new();
                for (f, l, s) in m.ranges() {
                    if l >= at && s != Slot::Empty {
                        hm.store(f.max(at), l, s);
                    }
                }
                m.store(at, MAX, Slot::Empty);
                assert_eq!(high.kind(), kind, "split-off kind; {}", ctx());
                high.validate()
                    .unwrap_or_else(|e| panic!("split-off part: {e}; {}", ctx()));
                check_view::<E, _>(&high, &hm, &|| format!("split-off part; {}", ctx()));
                t.validate()
                    .unwrap_or_else(|e| panic!("part kept: {e}; {}", ctx()));
                check_view::<E, _>(&t, &m, &|| format!("part kept; {}", ctx()));
                if rejoin {
                    assert_eq!(t.append(&mut high), Ok(()), "append back; {}", ctx());
                    for (f, l, s) in hm.ranges() {
                        if s != Slot::Empty {
                            m.store(f, l, s);
                        }
                    }
                    assert!(high.is_empty(), "appended tree emptied; {}", ctx());
                    high.validate()
                        .unwrap_or_else(|e| panic!("emptied: {e}; {}", ctx()));
                    check_view::<E, _>(&high, &Model::new(), &|| format!("emptied; {}", ctx()));
                }
            }
            Op::Append { items, bulk, alloc } => {
                let items = &items[..items.len().min(24)];
                let kind2 = if *alloc {
                    TreeKind::Alloc
                } else {
                    TreeKind::Plain
                };
                let mut om = Model::new();
                let mut other = if *bulk {
                    let mut prev: Option<u64> = None;
                    let mut ok = true;
                    for (span, v) in items {
                        match span.incl() {
                            Some((a, b)) if prev.is_none_or(|p| a > p) => {
                                om.store(a, b, Slot::Val(val(*v)));
                                prev = Some(b);
                            }
                            _ => ok = false,
                        }
                    }
                    let built =
                        MapleTree::bulk_build(kind2, items.iter().map(|(s, v)| (*s, mk(val(*v)))));
                    if E::COUNTED {
                        // The tree's entries, and the built tree's unless it refused them.
                        let built_count = if ok { items.len() } else { 0 };
                        assert_eq!(
                            live(&live_count),
                            (m.entry_count() + built_count) as isize,
                            "live entries after bulk_build; {}",
                            ctx()
                        );
                    }
                    match built {
                        Ok(b) => {
                            assert!(
                                ok,
                                "bulk_build accepted unsorted or empty ranges; {}",
                                ctx()
                            );
                            b
                        }
                        Err(e) => {
                            assert!(!ok, "bulk_build refused sorted ranges: {e}; {}", ctx());
                            assert_eq!(e, Error::Invalid, "{}", ctx());
                            om = Model::new();
                            MapleTree::with_kind(kind2)
                        }
                    }
                } else {
                    let mut o = MapleTree::with_kind(kind2);
                    let got = o
                        .try_extend(items.iter().map(|(s, v)| (*s, mk(val(*v)))))
                        .map_err(|e| (e.error, e.entry.id()));
                    let (m2, failed) = model_of_stores(items);
                    om = m2;
                    assert_eq!(
                        got,
                        failed.map_or(Ok(()), |v| Err((Error::Invalid, v))),
                        "try_extend of the other tree; {}",
                        ctx()
                    );
                    o
                };
                assert_eq!(other.kind(), kind2, "{}", ctx());
                other
                    .validate()
                    .unwrap_or_else(|e| panic!("other tree: {e}; {}", ctx()));
                check_view::<E, _>(&other, &om, &|| format!("other tree; {}", ctx()));
                let clash = om
                    .ranges()
                    .any(|(f, l, s)| s != Slot::Empty && m.occupied_in(f, l));
                let got = t.append(&mut other);
                if clash {
                    assert_eq!(got, Err(Error::Exists), "{}", ctx());
                    check_view::<E, _>(&other, &om, &|| format!("other, refused; {}", ctx()));
                } else {
                    assert_eq!(got, Ok(()), "{}", ctx());
                    for (f, l, s) in om.ranges() {
                        if s != Slot::Empty {
                            m.store(f, l, s);
                        }
                    }
                    assert!(other.is_empty(), "appended tree emptied; {}", ctx());
                }
                other
                    .validate()
                    .unwrap_or_else(|e| panic!("other tree after append: {e}; {}", ctx()));
            }
            Op::Clear => {
                t.clear();
                m = Model::new();
                assert_eq!(t.kind(), kind, "clear keeps the kind; {}", ctx());
            }
            Op::Query(q) => check_query::<E, _>(&t, &m, q, ctx),
        }
        t.validate().unwrap_or_else(|e| panic!("{e}; {}", ctx()));
        check_counts::<E>(&live_count, &m, ctx);
        let nr = m.map.len();
        if nr <= 48 || n % 8 == 0 {
            check_owned(&t, &m, ctx);
        }
    }
    check_owned(&t, &m, &|| format!("{kind:?} at the end"));
    let expect = m.entries();
    match input.end % 4 {
        1 => {
            let it = t.into_iter();
            assert_eq!(it.len(), expect.len(), "into_iter().len()");
            let got: Vec<_> = it.map(|(r, e)| (*r.start(), *r.end(), e.id())).collect();
            assert_eq!(got, expect, "into_iter()");
        }
        2 => {
            let mut it = t.into_iter();
            let first = it.next().map(|(r, e)| (*r.start(), *r.end(), e.id()));
            assert_eq!(first, expect.first().copied(), "into_iter().next()");
            let last = it.next_back().map(|(r, e)| (*r.start(), *r.end(), e.id()));
            let exp_last = if expect.len() >= 2 {
                expect.last().copied()
            } else {
                None
            };
            assert_eq!(last, exp_last, "into_iter().next_back()");
        }
        3 => {
            let got: Vec<_> = t.into_values().map(|e| e.id()).collect();
            let exp: Vec<_> = expect.iter().map(|&(_, _, v)| v).collect();
            assert_eq!(got, exp, "into_values()");
        }
        _ => drop(t),
    }
    if E::COUNTED {
        assert_eq!(live(&live_count), 0, "entries alive after the tree is gone");
    }
}
