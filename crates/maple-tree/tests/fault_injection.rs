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

// ---------------------------------------------------------------------------------------
// Every entry handed to a write comes back or is dropped exactly once
// ---------------------------------------------------------------------------------------

use std::sync::atomic::{AtomicUsize, Ordering};

use maple_tree::{InsertError, RcuMapleTree, TakeOld};

/// How many tracked entries were made (including clones) and dropped.
#[derive(Default)]
struct Ledger {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

/// A boxed entry that reports its life to a ledger (a `Box` also catches aliasing under Miri).
#[derive(Debug)]
struct Tracked {
    id: u64,
    ledger: Arc<Ledger>,
}

impl Ledger {
    /// Entries alive now.
    fn live(&self) -> usize {
        self.made.load(Ordering::SeqCst) - self.dropped.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ledger")
    }
}

impl Tracked {
    fn new(id: u64, ledger: &Arc<Ledger>) -> Box<Tracked> {
        ledger.made.fetch_add(1, Ordering::SeqCst);
        Box::new(Tracked {
            id,
            ledger: ledger.clone(),
        })
    }
}
impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.ledger.made.fetch_add(1, Ordering::SeqCst);
        Tracked {
            id: self.id,
            ledger: self.ledger.clone(),
        }
    }
}
impl Drop for Tracked {
    fn drop(&mut self) {
        self.ledger.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

type Boxed = Box<Tracked>;

/// Every write that takes an entry.
#[derive(Clone, Copy, Debug)]
enum Method {
    Store,
    StoreSplitting,
    StoreSpanning,
    Insert,
    InsertRange,
    AllocRange,
    AllocRrange,
    AllocCyclic,
    CursorStore,
    CursorStoreRange,
    TryExtend,
}

const METHODS: [Method; 11] = [
    Method::Store,
    Method::StoreSplitting,
    Method::StoreSpanning,
    Method::Insert,
    Method::InsertRange,
    Method::AllocRange,
    Method::AllocRrange,
    Method::AllocCyclic,
    Method::CursorStore,
    Method::CursorStoreRange,
    Method::TryExtend,
];

/// Runs `method` with the new entry `e` on a tree of `n` entries `[10i, 10i+5]`.
fn write_with<M: TakeOld<Boxed>>(
    t: &mut MapleTree<Boxed, M>,
    method: Method,
    e: Boxed,
    n: u64,
) -> Result<(), InsertError<Boxed>> {
    let top = n * 10 + 100;
    match method {
        Method::Store => t.store(top, e).map(drop),
        Method::StoreSplitting => t.store_range(12..=13, e).map(drop),
        Method::StoreSpanning => t.store_range(3..=n * 7 + 5, e).map(drop),
        Method::Insert => t.insert(top, e),
        Method::InsertRange => t.insert_range(top..=top + 50, e),
        Method::AllocRange => t.alloc_range(3, 0..=top, e).map(drop),
        Method::AllocRrange => t.alloc_rrange(3, 0..=top, e).map(drop),
        Method::AllocCyclic => {
            let mut next = 7;
            t.alloc_cyclic(0..=top, &mut next, e).map(drop)
        }
        Method::CursorStore => {
            let mut c = t.cursor_mut(0);
            c.set_range(top..=top + 9);
            c.store(e).map(drop)
        }
        Method::CursorStoreRange => t.cursor_mut(0).store_range(11..=24, e).map(drop),
        Method::TryExtend => t.try_extend([(top..=top + 1, e)]),
    }
}

fn ids<M: maple_tree::Mode>(t: &MapleTree<Boxed, M>) -> Vec<(std::ops::RangeInclusive<u64>, u64)> {
    t.iter().map(|(r, e)| (r, e.id)).collect()
}

/// For every failure point of `method`: the entry comes back with `NoMemory` (or `Invalid` /
/// `Busy` where the kind or the tree says so), unchanged and not dropped, and the tree is as it
/// was. Returns how many failure points there were.
fn every_failure_point_hands_back<M: TakeOld<Boxed>>(
    t: &mut MapleTree<Boxed, M>,
    method: Method,
    n: u64,
    ledger: &Arc<Ledger>,
) -> usize {
    for k in 0.. {
        let before = ids(t);
        let live_before = ledger.live();
        fault::fail_after(Some(k));
        let r = write_with(t, method, Tracked::new(1_000_000 + k as u64, ledger), n);
        fault::fail_after(None);
        match r {
            Ok(()) => {
                t.validate().unwrap();
                return k;
            }
            Err(InsertError { error, entry }) => {
                assert_eq!(
                    entry.id,
                    1_000_000 + k as u64,
                    "{method:?}: another entry came back"
                );
                // What the failed write cloned it dropped again; nothing else lives or died.
                assert_eq!(
                    ledger.live(),
                    live_before + 1,
                    "{method:?} failure {k}: a failed write leaked or dropped an entry"
                );
                assert_eq!(ids(t), before, "{method:?} failure {k} changed the tree");
                t.validate().unwrap();
                drop(entry);
                if error != Error::NoMemory {
                    // An answer that does not depend on memory: the same at every point.
                    return k;
                }
            }
        }
    }
    unreachable!()
}

#[test]
fn every_entry_comes_back_or_is_dropped_once_owned() {
    for kind in [TreeKind::Plain, TreeKind::Alloc] {
        for n in [0u64, 1, 17, 300] {
            for method in METHODS {
                let ledger = Arc::new(Ledger::default());
                let mut t: MapleTree<Boxed> = MapleTree::with_kind(kind);
                for i in 0..n {
                    t.store_range(i * 10..=i * 10 + 5, Tracked::new(i, &ledger))
                        .unwrap();
                }
                every_failure_point_hands_back(&mut t, method, n, &ledger);
                drop(t);
                assert_eq!(
                    ledger.made.load(Ordering::SeqCst),
                    ledger.dropped.load(Ordering::SeqCst),
                    "{kind:?} n={n} {method:?}: an entry leaked or was dropped twice"
                );
            }
        }
    }
}

#[test]
fn every_entry_comes_back_or_is_dropped_once_shared() {
    for kind in [TreeKind::Plain, TreeKind::Alloc] {
        for n in [0u64, 1, 17, 300] {
            for method in METHODS {
                let ledger = Arc::new(Ledger::default());
                let tree = RcuMapleTree::new(kind);
                {
                    let mut w = tree.write();
                    for i in 0..n {
                        w.store_range(i * 10..=i * 10 + 5, Tracked::new(i, &ledger))
                            .unwrap();
                    }
                    every_failure_point_hands_back(&mut w, method, n, &ledger);
                }
                // Entries the writes removed wait for their grace period; dropping the tree
                // releases them.
                drop(tree);
                assert_eq!(
                    ledger.made.load(Ordering::SeqCst),
                    ledger.dropped.load(Ordering::SeqCst),
                    "{kind:?} n={n} {method:?}: an entry leaked or was dropped twice"
                );
            }
        }
    }
}
