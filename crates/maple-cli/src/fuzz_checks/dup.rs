//! Whole-tree duplication against element-wise copies. After random writes (the model
//! following them), `dup()`, `clone()` and `try_dup()` must equal the source entry by entry
//! and range by range (reserved and empty ranges too), node by node, keep its kind and its
//! cyclic allocator's wrap, validate, and be independent of it (a write to either does not
//! show in the other). `rebuild()` equals the source without its reserved ranges.
//! `try_dup_map`/`dup_map` with a keep/drop/fail decision per entry equal the element-wise
//! mapped copy; on failure the partial tree holds exactly the mapped entries before the
//! failing one, a zero entry over it and nothing after. Counted entries: every clone and
//! every mapped entry is dropped exactly once.

use std::sync::atomic::AtomicIsize;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use maple_tree::{Error, MapleTree, NodeInfo, SlotKind, TreeKind, Value};

use super::model::{check_view, live, pair, Counted, Ent, Model, Slot, Span};
use super::writes::{apply_write, val, WriteOp, WriteState};

const MAX_OPS: usize = 40;
const MAX_CHECKS: usize = 6;

#[derive(Arbitrary, Debug)]
struct Input {
    alloc: bool,
    counted: bool,
    ops: Vec<WriteOp>,
    checks: Vec<Check>,
}

#[derive(Arbitrary, Debug)]
enum Check {
    Dup {
        /// `dup` (0), `clone` (1) or `try_dup` (2).
        how: u8,
        to_copy: Option<(Span, u8)>,
        to_source: Option<(Span, u8)>,
        cyclic: Option<Span>,
    },
    Rebuild,
    DupMap {
        /// Per entry in key order (cycled): keep (0), drop (1), fail (2; `try_dup_map` only).
        decisions: Vec<u8>,
        fallible: bool,
    },
    /// More writes to the source between checks.
    Write(WriteOp),
}

tree_target!(dup_tree);

/// A node as plain data: depth, bounds, kind, pivots, gaps and slot kinds.
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

fn nodes<E: Ent>(t: &MapleTree<E>) -> Vec<NodePic> {
    let mut v = Vec::new();
    t.visit_nodes(|n: NodeInfo<'_>| {
        v.push((
            n.depth,
            n.min,
            n.max,
            n.is_leaf,
            n.is_alloc_internal,
            n.slot_last.clone(),
            n.gaps.clone(),
            n.slots.clone(),
        ))
    });
    v
}

fn expect_live<E: Ent>(c: &Arc<AtomicIsize>, n: usize, what: &str, ctx: &dyn Fn() -> String) {
    if E::COUNTED {
        assert_eq!(live(c), n as isize, "live entries {what}; {}", ctx());
    }
}

/// Stores `v` over `span` in a tree and its model (nothing for an empty span).
fn write_one<E: Ent>(
    t: &mut MapleTree<E>,
    m: &mut Model,
    span: Span,
    v: u8,
    live_count: &Arc<AtomicIsize>,
    ctx: &dyn Fn() -> String,
) {
    if let Some((a, b)) = span.incl() {
        let got = t
            .store_range(span, E::mk(live_count, val(v)))
            .map(|o| o.map(|e| e.id()))
            .map_err(|e| e.error);
        let exp = m.store(a, b, Slot::Val(val(v))).val();
        assert_eq!(got, Ok(exp), "store {span:?}; {}", ctx());
    }
}

fn run<E: Ent>(kind: TreeKind, input: &Input) {
    let live_count = Arc::new(AtomicIsize::new(0));
    let mut t: MapleTree<E> = MapleTree::with_kind(kind);
    let mut m = Model::new();
    let mut st = WriteState::default();
    for (n, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        let ctx = || format!("{kind:?} op #{n} {op:?}");
        apply_write(&mut t, &mut m, &mut st, &live_count, op, &ctx);
        t.validate().unwrap_or_else(|e| panic!("{e}; {}", ctx()));
    }
    check_view::<E, _>(&t, &m, &|| format!("{kind:?} source"));
    expect_live::<E>(&live_count, m.entry_count(), "in the source", &|| {
        String::new()
    });
    for (n, check) in input.checks.iter().take(MAX_CHECKS).enumerate() {
        let ctx = || format!("{kind:?} check #{n} {check:?}");
        let ctx = &ctx;
        match check {
            Check::Write(op) => {
                apply_write(&mut t, &mut m, &mut st, &live_count, op, ctx);
                t.validate().unwrap_or_else(|e| panic!("{e}; {}", ctx()));
            }
            &Check::Dup {
                how,
                to_copy,
                to_source,
                cyclic,
            } => {
                let mut copy = match how % 3 {
                    0 => t.dup(),
                    1 => t.clone(),
                    _ => t
                        .try_dup()
                        .unwrap_or_else(|e| panic!("try_dup: {e}; {}", ctx())),
                };
                copy.validate()
                    .unwrap_or_else(|e| panic!("copy: {e}; {}", ctx()));
                assert_eq!(copy.kind(), kind, "copy's kind; {}", ctx());
                check_view::<E, _>(&copy, &m, &|| format!("copy; {}", ctx()));
                assert!(copy == t, "copy == source; {}", ctx());
                assert_eq!(nodes(&copy), nodes(&t), "copy's nodes; {}", ctx());
                assert_eq!(copy.node_count(), t.node_count(), "node_count; {}", ctx());
                expect_live::<E>(&live_count, 2 * m.entry_count(), "with a copy", ctx);
                let mut mc = m.clone();
                if let Some((span, v)) = to_copy {
                    write_one(&mut copy, &mut mc, span, v, &live_count, ctx);
                }
                if let Some((span, v)) = to_source {
                    write_one(&mut t, &mut m, span, v, &live_count, ctx);
                }
                copy.validate()
                    .unwrap_or_else(|e| panic!("copy: {e}; {}", ctx()));
                t.validate()
                    .unwrap_or_else(|e| panic!("source: {e}; {}", ctx()));
                check_view::<E, _>(&copy, &mc, &|| format!("copy after the writes; {}", ctx()));
                check_view::<E, _>(&t, &m, &|| format!("source after the writes; {}", ctx()));
                // The cyclic allocator's state travels with the copy: the same allocation from
                // the same `next` answers as each model says (wrap flag included).
                if let Some(span) = cyclic {
                    let mut results = Vec::new();
                    for (tree, model) in [(&mut t, &mut m), (&mut copy, &mut mc)] {
                        let (mut next, mut mnext) = (st.next, st.next);
                        let got = tree
                            .alloc_cyclic(span, &mut next, E::mk(&live_count, 7))
                            .map_err(|e| e.error);
                        let exp = match span.incl() {
                            _ if kind == TreeKind::Plain => Err(Error::Invalid),
                            None => Err(Error::Invalid),
                            Some((lo, hi)) => model.cyclic(lo, hi, &mut mnext),
                        };
                        if let Ok((i, _)) = exp {
                            model.store(i, i, Slot::Val(7));
                        }
                        assert_eq!(got, exp, "alloc_cyclic from {}; {}", st.next, ctx());
                        assert_eq!(next, mnext, "next; {}", ctx());
                        results.push(got);
                    }
                    st.mnext = st.next;
                    check_view::<E, _>(&copy, &mc, &|| format!("copy after alloc; {}", ctx()));
                }
                expect_live::<E>(
                    &live_count,
                    m.entry_count() + mc.entry_count(),
                    "with a copy",
                    ctx,
                );
                drop(copy);
                expect_live::<E>(&live_count, m.entry_count(), "after the copy", ctx);
            }
            Check::Rebuild => {
                let r = t.rebuild();
                r.validate()
                    .unwrap_or_else(|e| panic!("rebuilt: {e}; {}", ctx()));
                assert_eq!(r.kind(), kind, "rebuilt kind; {}", ctx());
                let mut mr = Model::new();
                for (f, l, v) in m.entries() {
                    mr.store(f, l, Slot::Val(v));
                }
                check_view::<E, _>(&r, &mr, &|| format!("rebuilt; {}", ctx()));
                assert!(r == t, "rebuilt == source; {}", ctx());
                expect_live::<E>(&live_count, 2 * m.entry_count(), "with a rebuild", ctx);
            }
            Check::DupMap {
                decisions,
                fallible,
            } => dup_map_check(&t, &m, decisions, *fallible, ctx),
        }
        t.validate().unwrap_or_else(|e| panic!("{e}; {}", ctx()));
        check_view::<E, _>(&t, &m, &|| format!("source after; {}", ctx()));
        expect_live::<E>(&live_count, m.entry_count(), "in the source", ctx);
    }
    drop(t);
    expect_live::<E>(&live_count, 0, "after the tree is gone", &|| String::new());
}

/// The mapped value of source entry `v`.
fn mapped(v: u64) -> u64 {
    v * 3 + 1
}

fn dup_map_check<E: Ent>(
    t: &MapleTree<E>,
    m: &Model,
    decisions: &[u8],
    fallible: bool,
    ctx: &dyn Fn() -> String,
) {
    let live2 = Arc::new(AtomicIsize::new(0));
    let decide = |i: usize| -> u8 {
        if decisions.is_empty() {
            0
        } else {
            let d = decisions[i % decisions.len()] % 3;
            if fallible {
                d
            } else {
                d % 2
            }
        }
    };
    // The element-wise mapped copy, and where it fails.
    let entries = m.entries();
    let mut failed = None;
    let mut me = Model::new();
    let mut last_seen = entries.len();
    for (i, &(f, l, v)) in entries.iter().enumerate() {
        match decide(i) {
            0 => {
                me.store(f, l, Slot::Val(mapped(v)));
            }
            1 => {}
            _ => {
                failed = Some((f, l));
                me.store(f, l, Slot::Zero);
                last_seen = i + 1;
                break;
            }
        }
    }
    // Reserved ranges of the source are copied as they are, up to the failure point.
    for (f, l, s) in m.ranges() {
        if s == Slot::Zero && failed.is_none_or(|(ff, _)| l < ff) {
            me.store(f, l, Slot::Zero);
        }
    }
    let mut seen = Vec::new();
    let mut i = 0usize;
    let mut f =
        |r: std::ops::RangeInclusive<u64>, e: E::Ref<'_>| -> Result<Option<Box<Counted>>, u64> {
            let id = E::rid(e);
            seen.push((*r.start(), *r.end(), id));
            let d = decide(i);
            i += 1;
            match d {
                0 => Ok(Some(Box::new(Counted::new(&live2, mapped(id))))),
                1 => Ok(None),
                _ => Err(id),
            }
        };
    let result = if fallible {
        t.try_dup_map(&mut f)
    } else {
        Ok(t.dup_map(|r, e| f(r, e).unwrap_or(None)))
    };
    assert_eq!(
        seen,
        entries[..last_seen],
        "entries visited by the map; {}",
        ctx()
    );
    let copy = match (result, failed) {
        (Ok(copy), None) => copy,
        (Err(e), Some((ff, fl))) => {
            assert_eq!(pair(&e.failed), (ff, fl), "failed range; {}", ctx());
            let v = entries[last_seen - 1].2;
            assert_eq!(e.error, v, "the function's error; {}", ctx());
            e.partial
        }
        (Ok(_), Some(r)) => panic!("dup_map did not fail at {r:?}; {}", ctx()),
        (Err(e), None) => panic!("dup_map failed at {:?}; {}", e.failed, ctx()),
    };
    copy.validate()
        .unwrap_or_else(|e| panic!("mapped copy: {e}; {}", ctx()));
    assert_eq!(copy.kind(), t.kind(), "mapped copy's kind; {}", ctx());
    check_view::<Box<Counted>, _>(&copy, &me, &|| format!("mapped copy; {}", ctx()));
    assert_eq!(
        live(&live2),
        me.entry_count() as isize,
        "mapped entries alive (one per range kept); {}",
        ctx()
    );
    drop(copy);
    assert_eq!(
        live(&live2),
        0,
        "mapped entries alive after the copy is gone; {}",
        ctx()
    );
}
