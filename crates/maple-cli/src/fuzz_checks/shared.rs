//! The shared tree (`RcuMapleTree`) against the reference model: batches of writes through
//! `tree.write()` (every write the owned tree's writer has, compared with the model, with
//! `validate()` after each), then a fresh `tree.read()` whose loads, iteration, cursors and
//! gap searches must agree with the model. A read guard taken before a batch and held across
//! it keeps the entries it loaded readable, and a cursor and an iterator it positioned
//! before the writes continue on the tree as the writes left it. Counted entries: never
//! fewer alive than the model stores while shared (removed ones wait for their grace
//! period), exactly as many once `into_inner` takes the tree back, none after it is dropped.

use std::sync::atomic::AtomicIsize;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use maple_tree::{Error, MapleTree, RcuMapleTree, TreeKind, Value};

use super::model::{check_query, check_view, live, pair, Ent, Key, Model, Query, Slot, Span, MAX};
use super::writes::{apply_write, val, WriteOp, WriteState};

/// Most batches, writes per batch and queries per batch one input runs.
const MAX_BATCHES: usize = 16;
const MAX_WRITES: usize = 16;
const MAX_READS: usize = 12;

#[derive(Arbitrary, Debug)]
struct Input {
    alloc: bool,
    counted: bool,
    /// Stored into an owned tree that is then shared (`RcuMapleTree::from_tree`).
    start: Vec<(Span, u8)>,
    batches: Vec<Batch>,
}

#[derive(Arbitrary, Debug)]
struct Batch {
    hold: Option<Held>,
    writes: Vec<WriteOp>,
    /// `RcuMapleTree::preallocate` (takes the writer lock itself) after the batch.
    prealloc: Option<(Span, u8, bool)>,
    reads: Vec<Query>,
}

/// What a reader does before the batch and keeps across it.
#[derive(Arbitrary, Debug)]
struct Held {
    loads: Vec<Key>,
    cursor: Key,
    iter_from: Key,
    iter_taken: u8,
}

tree_target!(shared_tree);

fn run<E: Ent>(kind: TreeKind, input: &Input) {
    let live_count = Arc::new(AtomicIsize::new(0));
    let mut m = Model::new();
    let mut owned = MapleTree::with_kind(kind);
    for (span, v) in input.start.iter().take(32) {
        if let Some((a, b)) = span.incl() {
            m.store(a, b, Slot::Val(val(*v)));
            let old = owned.store_range(*span, E::mk(&live_count, val(*v)));
            assert!(old.is_ok(), "store before sharing");
        }
    }
    let tree = RcuMapleTree::from_tree(owned);
    assert_eq!(tree.kind(), kind);
    let mut st = WriteState::default();
    for (b, batch) in input.batches.iter().take(MAX_BATCHES).enumerate() {
        let bctx = || format!("{kind:?} batch #{b}");
        // A reader from before the batch.
        let held = batch.hold.as_ref().map(|h| {
            let g = tree.read();
            (h, g)
        });
        let mut before = None;
        if let Some((h, g)) = &held {
            let loads: Vec<_> = h
                .loads
                .iter()
                .take(8)
                .map(|&Key(k)| {
                    let e = g.load(k);
                    let exp = m.containing(k).2.val();
                    assert_eq!(e.map(E::rid), exp, "held load; {}", bctx());
                    (k, e, exp)
                })
                .collect();
            let mut c = g.cursor(h.cursor.0);
            let found = c.find(MAX).map(|(r, e)| (pair(&r), E::rid(e)));
            let exp = m.find(h.cursor.0, MAX).map(|(f, l, v)| ((f, l), v));
            assert_eq!(found, exp, "held cursor find; {}", bctx());
            let mut it = g.overlapping(h.iter_from.0..);
            let mut last_end = None;
            let mut exhausted = false;
            for _ in 0..h.iter_taken % 4 {
                match it.next() {
                    Some((r, _)) => last_end = Some(*r.end()),
                    None => {
                        exhausted = true;
                        break;
                    }
                }
            }
            before = Some((loads, c, found.is_some(), it, (last_end, exhausted)));
        }
        {
            let mut w = tree.write();
            for (n, op) in batch.writes.iter().take(MAX_WRITES).enumerate() {
                let ctx = || format!("{} write #{n} {op:?}", bctx());
                apply_write(&mut w, &mut m, &mut st, &live_count, op, &ctx);
                w.validate().unwrap_or_else(|e| panic!("{e}; {}", ctx()));
            }
            check_view::<E, _>(&w, &m, &|| format!("writer's view; {}", bctx()));
        }
        if let Some((span, v, store)) = batch.prealloc {
            let ctx = || format!("{} preallocate {span:?}", bctx());
            match tree.preallocate(span) {
                Err(e) => {
                    assert_eq!(span.incl(), None, "refused: {e}; {}", ctx());
                    assert_eq!(e, Error::Invalid, "{}", ctx());
                }
                Ok(p) => {
                    let (lo, hi) = span
                        .incl()
                        .unwrap_or_else(|| panic!("accepted an empty range; {}", ctx()));
                    assert_eq!(pair(&p.range()), (lo, hi), "{}", ctx());
                    if store {
                        let got = p.store(E::mk(&live_count, val(v))).map(|e| e.id());
                        let exp = m.store(lo, hi, Slot::Val(val(v))).val();
                        assert_eq!(got, exp, "{}", ctx());
                    }
                }
            }
        }
        // The held reader: what it loaded is still there; its cursor and iterator go on over
        // the tree as it is now.
        if let (Some((h, _)), Some((loads, mut c, found, mut it, (last_end, exhausted)))) =
            (&held, before)
        {
            for &(k, e, exp) in &loads {
                assert_eq!(
                    e.map(E::rid),
                    exp,
                    "entry {k} loaded before the writes; {}",
                    bctx()
                );
            }
            drop(loads);
            if found {
                let mut prev_start = None;
                for _ in 0..4 {
                    let Some((r, e)) = c.next(MAX) else { break };
                    let (f, l, s) = m.containing(*r.start());
                    assert_eq!(
                        ((f, l), s.val()),
                        (pair(&r), Some(E::rid(e))),
                        "held cursor's next after the writes; {}",
                        bctx()
                    );
                    if let Some(p) = prev_start {
                        assert!(f > p, "held cursor went backwards; {}", bctx());
                    }
                    prev_start = Some(f);
                }
            }
            // An iterator that had already ended is not asked again.
            let (from, clip) = match last_end {
                _ if exhausted => (None, false),
                Some(MAX) => (None, false),
                Some(e) => (Some(e + 1), true),
                None => (Some(h.iter_from.0), false),
            };
            let rest: Vec<_> = if exhausted {
                Vec::new()
            } else {
                it.by_ref()
                    .map(|(r, e)| (*r.start(), *r.end(), E::rid(e)))
                    .collect()
            };
            let exp: Vec<_> = match from {
                None => Vec::new(),
                Some(lo) => m
                    .intersecting(lo, MAX)
                    .into_iter()
                    .map(|(f, l, v)| (if clip { f.max(lo) } else { f }, l, v))
                    .collect(),
            };
            assert_eq!(
                rest,
                exp,
                "held iterator after the writes (from {from:?}); {}",
                bctx()
            );
        }
        drop(held);
        let g = tree.read();
        for (n, q) in batch.reads.iter().take(MAX_READS).enumerate() {
            let ctx = || format!("{} read #{n} {q:?}", bctx());
            check_query::<E, _>(&g, &m, q, &ctx);
        }
        if m.map.len() <= 48 || b % 4 == 0 {
            check_view::<E, _>(&g, &m, &|| format!("reader; {}", bctx()));
        }
        assert_eq!(tree.len(), m.entry_count(), "len; {}", bctx());
        assert_eq!(
            tree.is_empty(),
            m.entry_count() == 0,
            "is_empty; {}",
            bctx()
        );
        drop(g);
        if E::COUNTED {
            assert!(
                live(&live_count) >= m.entry_count() as isize,
                "{} entries alive, {} stored; {}",
                live(&live_count),
                m.entry_count(),
                bctx()
            );
        }
    }
    let owned = tree.into_inner();
    owned
        .validate()
        .unwrap_or_else(|e| panic!("{e}; after into_inner"));
    check_view::<E, _>(&owned, &m, &|| "after into_inner".to_string());
    if E::COUNTED {
        assert_eq!(
            live(&live_count),
            m.entry_count() as isize,
            "entries alive once into_inner released what waited for a grace period"
        );
    }
    drop(owned);
    if E::COUNTED {
        assert_eq!(live(&live_count), 0, "entries alive after the tree is gone");
    }
}
