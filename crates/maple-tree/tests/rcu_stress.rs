//! Lock-free readers against one writer (bounded in operations, not in time).
//!
//! Readers own a region of the key space that the writer never touches; they must always
//! find their entries while the writer splits, merges, spans and regrows the tree elsewhere.
// Plain-thread tests: under `--cfg loom` only `loom_tree` runs (loom atomics need a model).
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use maple_tree::{RcuMapleTree, TreeKind};

const READER_BASE: u64 = u64::MAX - 2_000_000;
const READER_KEYS: u64 = 3_000;

/// Reader key i lives at [READER_BASE + 10i, READER_BASE + 10i + 4].
fn reader_range(i: u64) -> std::ops::RangeInclusive<u64> {
    READER_BASE + 10 * i..=READER_BASE + 10 * i + 4
}

/// A deterministic mix of stores and erases over the writer's region (the kernel's recorded
/// traces drive the same check in `maple-cli`'s conformance tests).
fn writer_ops() -> Vec<(u64, u64, bool)> {
    let mut rng = fastrand::Rng::with_seed(0x2545_F491_4F6C_DD1D);
    (0..60_000)
        .map(|_| {
            let f = rng.u64(..1_000_000);
            (f, f + rng.u64(..500), rng.u8(..3) != 0)
        })
        .collect()
}

fn stress(kind: TreeKind, readers: usize) {
    let tree = Arc::new(RcuMapleTree::new(kind));
    {
        let mut w = tree.write();
        for i in 0..READER_KEYS {
            w.store_range(reader_range(i), Arc::new(i)).unwrap();
        }
    }
    let done = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..readers)
        .map(|r| {
            let (tree, done, checks) = (tree.clone(), done.clone(), checks.clone());
            std::thread::spawn(move || {
                let mut i = r as u64;
                let mut rounds = 0u64;
                while !done.load(Ordering::Relaxed) || rounds < 2 {
                    let g = tree.read();
                    for _ in 0..200 {
                        i = (i * 7 + 13) % READER_KEYS;
                        let at = *reader_range(i).start() + i % 5;
                        let got = g.load(at).map(|e| *e);
                        assert_eq!(got, Some(i), "reader lost key {i}");
                        checks.fetch_add(1, Ordering::Relaxed);
                    }
                    let n = g.range(READER_BASE..).count() as u64;
                    assert_eq!(n, READER_KEYS, "reader iteration saw a wrong count");
                    rounds += 1;
                }
            })
        })
        .collect();
    let ops = writer_ops();
    for (n, &(f, l, store)) in ops.iter().enumerate() {
        let mut w = tree.write();
        if store {
            w.store_range(f..=l, Arc::new(f)).unwrap();
        } else {
            w.erase_range(f..=l).unwrap();
        }
        if n % 5_000 == 0 {
            w.validate().unwrap();
        }
    }
    // Shrink the writer's region to nothing: the tree must collapse around the readers.
    tree.write().erase_range(0..=READER_BASE - 1).unwrap();
    done.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let w = tree.write();
    w.validate().unwrap();
    assert_eq!(w.len(), READER_KEYS as usize);
    assert!(checks.load(Ordering::Relaxed) > 0);
}

#[test]
fn readers_keep_their_entries_plain() {
    stress(TreeKind::Plain, 2);
}

#[test]
fn readers_keep_their_entries_alloc() {
    stress(TreeKind::Alloc, 1);
}

#[test]
fn dropping_shared_trees_frees_every_node_shape() {
    // Sequential stores make full and nearly full nodes at every level (the shape that
    // crashed the kernel's deferred free); drop must free all of it, entries included.
    for n in [1u64, 15, 16, 17, 150, 225, 226, 3375, 10_000] {
        let marker = Arc::new(());
        let tree = RcuMapleTree::new(TreeKind::Plain);
        {
            let mut w = tree.write();
            for i in 0..n {
                w.store_range(i * 10..=i * 10 + 9, marker.clone()).unwrap();
            }
            w.validate().unwrap();
        }
        assert_eq!(Arc::strong_count(&marker), n as usize + 1);
        drop(tree);
        assert_eq!(Arc::strong_count(&marker), 1, "n = {n}");
    }
}

#[cfg(feature = "fault-injection")]
#[test]
fn prealloc_store_never_allocates() {
    let tree = RcuMapleTree::new(TreeKind::Alloc);
    let mut w = tree.write();
    for i in 0..5_000u64 {
        w.store_range(i * 4..=i * 4 + 2, Arc::new(i)).unwrap();
    }
    for (s, e) in [(1u64, 19_000u64), (7, 7), (3, 3), (40, 41), (0, u64::MAX)] {
        let p = w.preallocate(s..=e).unwrap();
        maple_tree::fault::fail_after(Some(0));
        p.store(Arc::new(s));
        maple_tree::fault::fail_after(None);
        w.validate().unwrap();
        assert_eq!(w.load(e).map(|v| *v), Some(s));
    }
}

/// An entry that counts its drops.
struct Tracked(u64, Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn removed_entries_outlive_the_readers_that_saw_them() {
    const N: u64 = 1_000;
    let drops = Arc::new(AtomicUsize::new(0));
    let tree = RcuMapleTree::new(TreeKind::Plain);
    {
        let mut w = tree.write();
        for i in 0..N {
            w.store_range(i * 10..=i * 10 + 4, Arc::new(Tracked(i, drops.clone())))
                .unwrap();
        }
    }
    {
        let reader = tree.read();
        let seen = reader.load(504).expect("entry 50");
        // Far more than one reclamation batch, so several grace periods are started meanwhile.
        for i in 0..N {
            tree.write().erase_range(i * 10..=i * 10 + 4).unwrap();
        }
        assert!(tree.is_empty());
        // This thread is still pinned, so no grace period covering the erases has ended.
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        assert_eq!(seen.0, 50);
    }
    // Later writes end those grace periods; the writer then drops what they removed.
    let filler_drops = Arc::new(AtomicUsize::new(0));
    let mut writes = 0u64;
    while drops.load(Ordering::SeqCst) < N as usize && writes < 2_000_000 {
        let mut w = tree.write();
        let k = writes % 500;
        w.store_range(
            k * 4..=k * 4 + 1,
            Arc::new(Tracked(k, filler_drops.clone())),
        )
        .unwrap();
        w.erase_range(k * 4..=k * 4 + 1).unwrap();
        writes += 1;
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        N as usize,
        "after {writes} writes"
    );
    tree.write().validate().unwrap();
    drop(tree);
    assert_eq!(filler_drops.load(Ordering::SeqCst), writes as usize);
}
