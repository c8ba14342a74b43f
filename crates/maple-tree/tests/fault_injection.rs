//! Allocation failure at every allocation point of every write path: the tree is unchanged
//! and valid, and nothing leaks (entries are counted with `Arc`s).
// Plain-thread tests: under `--cfg loom` only `loom_tree` runs (loom atomics need a model).
// The hooks need the `fault-injection` feature (on in the workspace through a dev-dependency).
#![cfg(all(not(loom), feature = "fault-injection"))]

use std::sync::Arc;

use maple_tree::{fault, Error, MapleTree, TreeKind};

type T = MapleTree<Arc<u64>>;
/// One write path under test.
type Case<'a> = Box<dyn Fn(&mut T) -> Result<(), Error> + 'a>;

fn snapshot(t: &T) -> Vec<(std::ops::RangeInclusive<u64>, u64)> {
    t.iter().map(|(r, v)| (r, *v)).collect()
}

/// Runs `op` with the k-th allocation failing, for every k until it succeeds.
fn every_failure_point(build: impl Fn() -> T, op: impl Fn(&mut T) -> Result<(), Error>) -> usize {
    let mut k = 0;
    loop {
        let mut t = build();
        let before = snapshot(&t);
        let nodes = t.node_count();
        fault::fail_after(Some(k));
        let r = op(&mut t);
        fault::fail_after(None);
        match r {
            Err(Error::NoMemory) => {
                assert_eq!(snapshot(&t), before, "failure {k} changed the tree");
                assert_eq!(t.node_count(), nodes);
                t.validate().unwrap();
            }
            Ok(()) => {
                t.validate().unwrap();
                return k;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        k += 1;
    }
}

fn tree(kind: TreeKind, n: u64, marker: &Arc<u64>) -> T {
    let mut t = MapleTree::with_kind(kind);
    for i in 0..n {
        t.store_range(i * 10..=i * 10 + 5, marker.clone()).unwrap();
    }
    t
}

#[test]
fn every_write_path_fails_cleanly() {
    for kind in [TreeKind::Plain, TreeKind::Alloc] {
        let marker = Arc::new(0u64);
        for n in [0u64, 1, 16, 17, 300, 3000] {
            let build = || tree(kind, n, &marker);
            // Split inside a range, spanning store across many nodes, store at the end,
            // a NULL store that rebalances, a full-range store, an insert.
            let cases: Vec<Case> = vec![
                Box::new(|t| {
                    t.store_range(12..=13, Arc::new(1))
                        .map(drop)
                        .map_err(|e| e.error)
                }),
                Box::new(|t| {
                    t.store_range(5..=n * 7 + 5, Arc::new(2))
                        .map(drop)
                        .map_err(|e| e.error)
                }),
                Box::new(|t| {
                    t.store_range(n * 10 + 100..=n * 10 + 200, Arc::new(3))
                        .map(drop)
                        .map_err(|e| e.error)
                }),
                Box::new(|t| t.erase_range(0..=n * 9).map(drop)),
                Box::new(|t| {
                    t.store_range(0..=u64::MAX, Arc::new(4))
                        .map(drop)
                        .map_err(|e| e.error)
                }),
                Box::new(|t| {
                    t.insert_range(u64::MAX - 5..=u64::MAX, Arc::new(5))
                        .map_err(|e| e.error)
                }),
                Box::new(|t| t.try_dup().map(drop)),
            ];
            for case in &cases {
                every_failure_point(build, case);
            }
        }
        // Only `marker` itself remains: every failed write dropped what it cloned.
        assert_eq!(Arc::strong_count(&marker), 1);
    }
}

#[test]
fn try_dup_frees_partial_copies() {
    let marker = Arc::new(0u64);
    let src = tree(TreeKind::Alloc, 2000, &marker);
    let before = Arc::strong_count(&marker);
    let points = every_failure_point(|| src.dup(), |t| t.try_dup().map(drop));
    assert!(points > 10, "a 2000-entry tree needs more than 10 nodes");
    drop(src);
    assert_eq!(Arc::strong_count(&marker), before - 2000);
}
