//! Allocation failure at every allocation point of the collection API's fallible methods
//! (`remove_range`, `append`, `try_extend`) and of every write of a shared tree's writer:
//! a failed call leaves the tree(s) exactly as they were (entries, reserved and empty
//! ranges), valid, and nothing leaks or is dropped twice (entries are counted `Arc`s).
// Plain-thread tests: under `--cfg loom` only `loom_tree` runs (loom atomics need a model).
// The hooks need the `fault-injection` feature (on in the workspace through a dev-dependency).
#![cfg(all(not(loom), feature = "fault-injection"))]

use std::ops::RangeInclusive;
use std::sync::Arc;

use maple_tree::{fault, Access, Error, MapleTree, RcuMapleTree, TreeKind, TreeView};

type T = MapleTree<Arc<u64>>;

const KINDS: [TreeKind; 2] = [TreeKind::Plain, TreeKind::Alloc];
const SIZES: [u64; 5] = [0, 1, 17, 300, 2000];

/// Everything a tree holds: its entries and its empty ranges (what is neither is reserved).
type Snap = (Vec<(RangeInclusive<u64>, u64)>, Vec<RangeInclusive<u64>>);

fn snapshot<A: Access>(v: &TreeView<Arc<u64>, A>) -> Snap {
    (
        v.overlapping(..).map(|(r, e)| (r, *e)).collect(),
        v.gaps(..).collect(),
    )
}

/// `n` entries `[10i, 10i + 5]` (ids from `pool`, round robin), every third followed by the
/// reserved range `[10i + 6, 10i + 7]`.
fn tree(kind: TreeKind, n: u64, pool: &[Arc<u64>]) -> T {
    let mut t = MapleTree::with_kind(kind);
    for i in 0..n {
        let e = pool[(i % pool.len() as u64) as usize].clone();
        t.store_range(i * 10..=i * 10 + 5, e).unwrap();
        if i % 3 == 0 {
            t.reserve_range(i * 10 + 6..=i * 10 + 7).unwrap();
        }
    }
    t
}

fn pool() -> Vec<Arc<u64>> {
    (0..16).map(Arc::new).collect()
}

fn released(pool: &[Arc<u64>]) {
    for (id, a) in pool.iter().enumerate() {
        assert_eq!(Arc::strong_count(a), 1, "entry {id} leaked or over-dropped");
    }
}

/// Runs `op` on a fresh `setup()` with the k-th node allocation failing, for every k until
/// it succeeds; each failure must leave `snap` unchanged. Returns how many failures ran.
fn every_failure_point<S, R>(
    setup: impl Fn() -> S,
    op: impl Fn(&mut S) -> Result<R, Error>,
    snap: impl Fn(&S) -> Vec<Snap>,
    valid: impl Fn(&S),
    what: &str,
) -> usize {
    for k in 0.. {
        let mut s = setup();
        let before = snap(&s);
        fault::fail_after(Some(k));
        let r = op(&mut s);
        fault::fail_after(None);
        valid(&s);
        match r {
            Err(Error::NoMemory) => {
                assert!(snap(&s) == before, "{what}: failure {k} changed the tree");
            }
            Ok(_) => return k,
            Err(e) => panic!("{what}: unexpected {e:?}"),
        }
    }
    unreachable!()
}

#[test]
fn remove_range_fails_cleanly() {
    for kind in KINDS {
        let pool = pool();
        for n in SIZES {
            let ranges = [
                12..=13,
                3..=n * 7 + 5,
                0..=u64::MAX,
                n * 5..=n * 5 + 25,
                n * 10 - n.min(1) * 4..=u64::MAX,
            ];
            for r in ranges {
                let what = format!("{kind:?} n={n} remove_range({r:?})");
                let (lo, hi) = (*r.start(), *r.end());
                let points = every_failure_point(
                    || tree(kind, n, &pool),
                    |t| {
                        let before = snapshot(t);
                        let taken = t.remove_range(r.clone())?;
                        // What came out is the entries that met the range, cut to it.
                        let exp: Vec<_> = before
                            .0
                            .iter()
                            .filter(|(q, _)| *q.end() >= lo && *q.start() <= hi)
                            .map(|(q, e)| (*q.start().max(&lo)..=*q.end().min(&hi), *e))
                            .collect();
                        let got: Vec<_> = taken.iter().map(|(q, e)| (q.clone(), **e)).collect();
                        assert_eq!(got, exp, "{what}: pieces");
                        Ok(())
                    },
                    |t| vec![snapshot(t)],
                    |t| t.validate().unwrap(),
                    &what,
                );
                if n >= 300 && (lo, hi) == (3, n * 7 + 5) {
                    assert!(points > 0, "{what}: a removal over many nodes allocates");
                }
            }
        }
        released(&pool);
    }
}

#[test]
fn append_fails_cleanly() {
    for kind in KINDS {
        let pool = pool();
        // A failure point per node of the rebuilt tree, each rebuilding both trees: 300
        // entries make trees of three levels and keep the walk short.
        for n in [0, 1, 17, 300] {
            // `other` interleaves with `self` ([10i + 8, 10i + 9] never meets it), or lies
            // above it.
            for (shift, other_kind) in [(8u64, TreeKind::Plain), (n * 10 + 100, TreeKind::Alloc)] {
                let what = format!("{kind:?} n={n} append at +{shift} from {other_kind:?}");
                let setup = || {
                    let a = tree(kind, n, &pool);
                    let mut b: T = MapleTree::with_kind(other_kind);
                    for i in 0..n {
                        let lo = i * 10 + shift;
                        b.store_range(lo..=lo + 1, pool[(i % 7) as usize].clone())
                            .unwrap();
                    }
                    (a, b)
                };
                let points = every_failure_point(
                    setup,
                    |(a, b)| {
                        let len = a.len() + b.len();
                        a.append(b)?;
                        assert_eq!((a.len(), b.len()), (len, 0), "{what}");
                        Ok(())
                    },
                    |(a, b)| vec![snapshot(a), snapshot(b)],
                    |(a, b)| {
                        a.validate().unwrap();
                        b.validate().unwrap();
                    },
                    &what,
                );
                assert!(n < 17 || points > 0, "{what}: the rebuild allocates");
            }
        }
        released(&pool);
    }
}

#[test]
fn try_extend_stops_at_a_failed_store() {
    for kind in KINDS {
        let pool: Vec<Arc<u64>> = (0..64).map(Arc::new).collect();
        for n in [0u64, 17, 300] {
            // Items that split entries, span nodes and append past the top; item j is entry j.
            let items: Vec<(RangeInclusive<u64>, u64)> = (0..40u64)
                .map(|j| match j % 4 {
                    0 => (j * 37 + 2..=j * 37 + 3, j),
                    1 => (j * 50..=j * 50 + 400, j),
                    2 => (n * 10 + j * 3..=n * 10 + j * 3 + 1, j),
                    _ => (j..=j, j),
                })
                .collect();
            let mut k = 0;
            loop {
                let mut t = tree(kind, n, &pool[40..]);
                fault::fail_after(Some(k));
                let r = t.try_extend(
                    items
                        .iter()
                        .map(|(r, j)| (r.clone(), pool[*j as usize].clone())),
                );
                fault::fail_after(None);
                t.validate().unwrap();
                // The items before the failed one are stored, as one by one.
                let stored = match &r {
                    Ok(()) => items.len(),
                    Err(e) => {
                        assert_eq!(e.error, Error::NoMemory);
                        *e.entry as usize
                    }
                };
                let mut exp = tree(kind, n, &pool[40..]);
                for (r, j) in &items[..stored] {
                    exp.store_range(r.clone(), pool[*j as usize].clone())
                        .unwrap();
                }
                assert!(snapshot(&t) == snapshot(&exp), "{kind:?} n={n} failure {k}");
                drop(r);
                if stored == items.len() {
                    break;
                }
                k += 1;
            }
            assert!(k > 0, "{kind:?} n={n}: the items allocate");
        }
        released(&pool);
    }
}

/// A shared tree's writer: every write method, failing at every point, leaves the tree as
/// the writer and a later reader see it unchanged; entries balance after the tree is dropped.
#[test]
fn shared_writes_fail_cleanly() {
    type Write = fn(&mut maple_tree::WriteGuard<'_, Arc<u64>>, u64, &Arc<u64>) -> Result<(), Error>;
    let writes: [(&str, Write); 9] = [
        ("store_range inside", |w, _, e| {
            w.store_range(12..=13, e.clone())
                .map(drop)
                .map_err(|x| x.error)
        }),
        ("store_range spanning", |w, n, e| {
            w.store_range(5..=n * 7 + 5, e.clone())
                .map(drop)
                .map_err(|x| x.error)
        }),
        ("store_range everything", |w, _, e| {
            w.store_range(.., e.clone()).map(drop).map_err(|x| x.error)
        }),
        ("erase_range", |w, n, _| w.erase_range(3..=n * 9 + 3)),
        ("reserve_range", |w, n, _| {
            w.reserve_range(n * 3..=n * 6 + 1)
        }),
        ("erase", |w, n, _| w.erase(n / 2 * 10 + 1).map(drop)),
        ("insert_range", |w, n, e| {
            w.insert_range(n * 10 + 7..=n * 10 + 9, e.clone())
                .map_err(|x| x.error)
        }),
        ("cursor store", |w, n, e| {
            let mut c = w.cursor_mut(n / 3 * 10);
            c.walk(n / 3 * 10);
            c.set_range(n / 3 * 10 + 2..=n * 10 + 3);
            c.store(e.clone()).map(drop).map_err(|x| x.error)
        }),
        ("alloc_range", |w, _, e| match w.kind() {
            TreeKind::Alloc => w
                .alloc_range(2, 0..=u64::MAX, e.clone())
                .map(drop)
                .map_err(|x| x.error),
            TreeKind::Plain => Ok(()),
        }),
    ];
    for kind in KINDS {
        let pool = pool();
        let extra = Arc::new(99u64);
        for n in SIZES {
            for (name, write) in writes {
                let what = format!("{kind:?} n={n} shared {name}");
                let points = every_failure_point(
                    || RcuMapleTree::from_tree(tree(kind, n, &pool)),
                    |s| write(&mut s.write(), n, &extra),
                    |s| vec![snapshot(&s.write()), snapshot(&s.read())],
                    |s| s.write().validate().unwrap(),
                    &what,
                );
                if n >= 17 && name != "erase" && name != "alloc_range" {
                    assert!(points > 0, "{what}: a copy-on-write store allocates");
                }
            }
        }
        released(&pool);
        assert_eq!(
            Arc::strong_count(&extra),
            1,
            "{kind:?}: the stored entry leaked"
        );
    }
}
