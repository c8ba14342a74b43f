//! Loom models of the real tree code: one writer and one or two lock-free readers on small
//! trees, while the writer splits a leaf, rebalances, stores across leaves, grows the root and
//! shrinks it back.
//!
//! Readers only look at ranges the writer never touches and must always find them. Under
//! `cfg(loom)` the tree frees nodes by poisoning them after a reader-count grace period (see
//! `src/sync.rs`), so a reader reaching a reclaimed node panics ("used after it was freed");
//! the `reuse` models check the frames the writer rebuilds from instead of freeing.
//! Every entry is an `Arc<u64>` whose clone the model keeps: after the tree is dropped each
//! count must be back to one (no leak, no double drop).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p maple-tree --test loom_tree --release`.
#![cfg(loom)]

use std::ops::RangeInclusive;
use std::sync::Arc as EntryArc;

use loom::sync::Arc;
use loom::thread;
use maple_tree::{Exclusive, MapleTree, NodeInfo, RcuMapleTree, TreeKind, TreeView};

type E = EntryArc<u64>;

/// The entries the model stored, to check their reference counts at the end.
#[derive(Default)]
struct Ledger(Vec<E>);

impl Ledger {
    fn entry(&mut self, v: u64) -> E {
        let e = EntryArc::new(v);
        self.0.push(EntryArc::clone(&e));
        e
    }
    fn check(self) {
        for e in &self.0 {
            assert_eq!(EntryArc::strong_count(e), 1, "entry {} leaked or lost", *e);
        }
    }
}

/// Entry `i` covers `[10i, 10i + 4]` with value `10i`; a gap follows each.
fn range(i: u64) -> RangeInclusive<u64> {
    10 * i..=10 * i + 4
}

fn build(
    kind: TreeKind,
    entries: impl IntoIterator<Item = u64>,
    ledger: &mut Ledger,
) -> MapleTree<E> {
    let mut t = MapleTree::with_kind(kind);
    for i in entries {
        t.store_range(range(i), ledger.entry(10 * i)).unwrap();
    }
    t
}

/// The leaf holding `index`: (min, max, used slots).
fn leaf_of(t: &TreeView<E, Exclusive>, index: u64) -> (u64, u64, usize) {
    let mut found = None;
    t.visit_nodes(|n: NodeInfo<'_>| {
        if n.is_leaf && n.min <= index && index <= n.max {
            found = Some((n.min, n.max, n.slots.len()));
        }
    });
    found.expect("a leaf holds every index")
}

fn leaves(t: &TreeView<E, Exclusive>) -> usize {
    let mut n = 0;
    t.visit_nodes(|i: NodeInfo<'_>| n += usize::from(i.is_leaf));
    n
}

/// Explores `f` with loom (preemption bound 2) and reports the number of executions.
fn model(name: &str, f: impl Fn() + Send + Sync + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    // Every node word is a loom atomic, so even one tree write is many branch points.
    b.max_branches = 1_000_000;
    let runs = EntryArc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = EntryArc::clone(&runs);
    let start = std::time::Instant::now();
    let restarts = maple_tree::loom_stats::restarts();
    b.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let restarts = maple_tree::loom_stats::restarts() - restarts;
    println!(
        "{name}: {} executions in {:.2?}, {restarts} reader restarts on replaced nodes",
        runs.load(std::sync::atomic::Ordering::Relaxed),
        start.elapsed()
    );
    assert!(
        restarts > 0,
        "no execution made a reader meet a replaced node"
    );
}

/// One writer running `write` and one reader per entry of `reads`, each reading its list of
/// entry numbers (which the writer must not touch) with `load`, and the last reader also
/// iterating over its entries' span.
fn run(
    tree: MapleTree<E>,
    ledger: Ledger,
    reads: &'static [&'static [u64]],
    write: impl Fn(&RcuMapleTree<E>, &mut Ledger) + Send + Sync + 'static,
) {
    let tree = Arc::new(RcuMapleTree::from_tree(tree));
    let readers: Vec<_> = reads
        .iter()
        .enumerate()
        .map(|(k, &idx)| {
            let tree = Arc::clone(&tree);
            thread::spawn(move || {
                let r = tree.read();
                for &i in idx {
                    let got = r.load(10 * i + 2).map(|e| *e);
                    assert_eq!(got, Some(10 * i), "reader lost entry {i}");
                }
                if k + 1 == reads.len() && k > 0 {
                    let (lo, hi) = (idx[0], idx[idx.len() - 1]);
                    // Only the model's own entries: the writer may add others in between.
                    let seen: Vec<u64> = r
                        .range(10 * lo..=10 * hi + 4)
                        .map(|(_, e)| *e)
                        .filter(|v| v % 10 == 0)
                        .collect();
                    let want: Vec<u64> = (lo..=hi).map(|i| 10 * i).collect();
                    assert_eq!(seen, want, "iteration lost entries");
                }
            })
        })
        .collect();
    let writer = {
        let tree = Arc::clone(&tree);
        thread::spawn(move || {
            let mut ledger = Ledger::default();
            write(&tree, &mut ledger);
            tree.write().validate().expect("valid after the write");
            ledger
        })
    };
    let written = writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    drop(tree);
    ledger.check();
    written.check();
}

/// Root growth: a full root leaf (8 entries + gaps = 16 slots) splits into two leaves under a
/// new root (height 1 -> 2).
fn grow_root(kind: TreeKind, reads: &'static [&'static [u64]]) {
    model(
        &format!("grow_root {kind:?} {} reader(s)", reads.len()),
        move || {
            let mut ledger = Ledger::default();
            let t = build(kind, 0..8, &mut ledger);
            assert_eq!(t.height(), 1);
            assert_eq!(leaf_of(&t, 0).2, 16);
            run(t, ledger, reads, |tree, ledger| {
                let mut w = tree.write();
                w.store_range(6..=7, ledger.entry(6)).unwrap();
                assert_eq!(w.height(), 2, "the root split");
            });
        },
    );
}

#[test]
fn grow_root_one_reader() {
    grow_root(TreeKind::Plain, &[&[1, 7]]);
}

#[test]
fn grow_root_two_readers() {
    grow_root(TreeKind::Alloc, &[&[0], &[4, 5, 6]]);
}

/// Root shrink: two leaves (9 entries) lose five entries and collapse into a single root leaf
/// (height 2 -> 1).
fn shrink_root(kind: TreeKind, reads: &'static [&'static [u64]]) {
    model(
        &format!("shrink_root {kind:?} {} reader(s)", reads.len()),
        move || {
            let mut ledger = Ledger::default();
            let t = build(kind, 0..9, &mut ledger);
            assert_eq!(t.height(), 2);
            run(t, ledger, reads, |tree, _| {
                let mut w = tree.write();
                w.erase_range(0..=44).unwrap();
                assert_eq!(w.height(), 1, "the root collapsed");
            });
        },
    );
}

#[test]
fn shrink_root_one_reader() {
    shrink_root(TreeKind::Plain, &[&[5, 8]]);
}

#[test]
fn shrink_root_two_readers() {
    shrink_root(TreeKind::Alloc, &[&[8], &[5, 6, 7]]);
}

/// 24 entries in a height-2 tree, with the leaf holding entry `target` filled to all 16 slots
/// by extra point entries at `10i + 5` (each turns gap `[10i+5, 10i+9]` into two slots).
fn full_leaf_tree(kind: TreeKind, target: u64, ledger: &mut Ledger) -> MapleTree<E> {
    let mut t = build(kind, 0..24, ledger);
    assert_eq!(t.height(), 2);
    let mut i = target;
    loop {
        let (_, max, used) = leaf_of(&t, 10 * target);
        if used == 16 || 10 * i + 9 > max {
            break;
        }
        t.store_range(10 * i + 5..=10 * i + 5, ledger.entry(10 * i + 5))
            .unwrap();
        i += 1;
    }
    let (_, _, used) = leaf_of(&t, 10 * target);
    assert_eq!(used, 16, "leaf of entry {target} is full");
    t
}

/// Split: a store into the middle of a gap of a full leaf (two more slots) splits it.
fn split(kind: TreeKind, reads: &'static [&'static [u64]]) {
    model(
        &format!("split {kind:?} {} reader(s)", reads.len()),
        move || {
            let mut ledger = Ledger::default();
            let t = full_leaf_tree(kind, 9, &mut ledger);
            let before = leaves(&t);
            let at = 10 * 9 + 7;
            run(t, ledger, reads, move |tree, ledger| {
                let mut w = tree.write();
                w.store_range(at..=at, ledger.entry(at)).unwrap();
                assert_eq!(leaves(&w), before + 1, "the leaf split");
            });
        },
    );
}

#[test]
fn split_one_reader() {
    split(TreeKind::Plain, &[&[9, 20]]);
}

#[test]
fn split_two_readers() {
    split(TreeKind::Alloc, &[&[2], &[9, 10]]);
}

/// Rebalance: 24 entries in leaves `[0..74] [75..154] [155..234] [235..]`; erasing most of a
/// leaf leaves it too small, so it is merged with its neighbour (`merge`: entries 17..=22,
/// three leaves left) or refilled from it (entries 9..=14, two leaves rewritten).
fn rebalance(kind: TreeKind, merge: bool, reads: &'static [&'static [u64]]) {
    let name = format!(
        "rebalance(merge: {merge}) {kind:?} {} reader(s)",
        reads.len()
    );
    model(&name, move || {
        let mut ledger = Ledger::default();
        let t = build(kind, 0..24, &mut ledger);
        assert_eq!(t.height(), 2);
        let (lo, hi) = if merge { (17, 22) } else { (9, 14) };
        let before = leaves(&t);
        assert_eq!(before, 4);
        let old_leaf = leaf_of(&t, 10 * lo);
        run(t, ledger, reads, move |tree, _| {
            let mut w = tree.write();
            w.erase_range(10 * lo..=10 * hi + 9).unwrap();
            if merge {
                assert_eq!(leaves(&w), before - 1, "the leaves were merged");
            } else {
                assert_ne!(leaf_of(&w, 10 * lo), old_leaf, "the leaf was rebuilt");
            }
        });
    });
}

#[test]
fn rebalance_merge_one_reader() {
    rebalance(TreeKind::Plain, true, &[&[16, 23]]);
}

#[test]
fn rebalance_merge_two_readers() {
    rebalance(TreeKind::Alloc, true, &[&[16, 23], &[12, 13, 14]]);
}

#[test]
fn rebalance_redistribute_one_reader() {
    rebalance(TreeKind::Plain, false, &[&[8, 16]]);
}

#[test]
fn rebalance_redistribute_two_readers() {
    rebalance(TreeKind::Alloc, false, &[&[2], &[15, 16, 17]]);
}

/// Spanning store: one range over parts of three leaves.
fn spanning(kind: TreeKind, reads: &'static [&'static [u64]]) {
    model(
        &format!("spanning {kind:?} {} reader(s)", reads.len()),
        move || {
            let mut ledger = Ledger::default();
            let t = build(kind, 0..32, &mut ledger);
            assert_eq!(t.height(), 2);
            let (_, max, _) = leaf_of(&t, 0);
            let (min2, _, _) = leaf_of(&t, max + 1);
            let (_, max2, _) = leaf_of(&t, min2);
            assert!(max2 + 25 < 290, "the span ends before entry 29 ({max2})");
            // From the second entry of the first leaf into the leaf after the second.
            let (s, e) = (15, max2 + 25);
            run(t, ledger, reads, move |tree, ledger| {
                let mut w = tree.write();
                w.store_range(s..=e, ledger.entry(s)).unwrap();
            });
        },
    );
}

#[test]
fn spanning_one_reader() {
    spanning(TreeKind::Plain, &[&[0, 30]]);
}

#[test]
fn spanning_two_readers() {
    spanning(TreeKind::Alloc, &[&[0], &[29, 30, 31]]);
}

/// Frame reuse: the first write replaces the root leaf, the second builds its new root leaf
/// from a reclaimed frame if one is ready, and shifts the slots in front of what the reader
/// looks up. A frame reused before the reader that could still be in it unpinned would hand
/// that reader pivots from one leaf and a slot from another.
fn reuse(kind: TreeKind, reads: &'static [&'static [u64]]) {
    let before = maple_tree::loom_stats::reuses();
    model(
        &format!("reuse {kind:?} {} reader(s)", reads.len()),
        move || {
            let mut ledger = Ledger::default();
            let t = build(kind, 0..5, &mut ledger);
            assert_eq!(t.height(), 1);
            run(t, ledger, reads, |tree, ledger| {
                tree.write()
                    .store_range(range(7), ledger.entry(70))
                    .unwrap();
                let mut w = tree.write();
                w.store_range(12..=13, ledger.entry(12)).unwrap();
                assert_eq!(w.height(), 1);
            });
        },
    );
    assert!(
        maple_tree::loom_stats::reuses() > before,
        "no execution reused a frame"
    );
}

#[test]
fn reuse_one_reader() {
    reuse(TreeKind::Plain, &[&[0, 3]]);
}

#[test]
fn reuse_two_readers() {
    reuse(TreeKind::Alloc, &[&[0], &[3, 4]]);
}

/// The grace-period stand-in is not vacuous: with a planted bug that ends every grace period
/// at once, readers or not, the `reuse` model must fail: some execution hands a reader a
/// frame the writer rebuilt (or freed) under it. The same model passes without the plant
/// (`reuse_one_reader`).
#[test]
fn premature_free_is_caught() {
    maple_tree::loom_stats::plant_premature_free(true);
    let failed = std::panic::catch_unwind(|| reuse(TreeKind::Plain, &[&[0, 3]]));
    maple_tree::loom_stats::plant_premature_free(false);
    let payload = failed.expect_err("the model passed with every grace period cut short");
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(
        message.contains("reader lost entry") || message.contains("used after it was freed"),
        "the model failed for another reason: {message}"
    );
}
