//! Issue 5: lock-free readers. Random-load throughput of one reader alone and while one
//! writer does random stores and erases on another core, for the shared maple tree,
//! `RwLock<BTreeMap>` used as a range map, and crossbeam-skiplist's `SkipMap`; and the cost of
//! a store in shared (RCU) mode against the same store on an owned tree.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use crossbeam_skiplist::SkipMap;
use maple_bench::{btree, btree_load, maple, quick_criterion, range_of, Rng};
use maple_tree::{RcuMapleTree, TreeKind, Value};

const N: usize = 100_000;

/// Benchmarks `read` (random lookups) alone and while a writer runs `write` in a loop. The
/// writer thread stays up for both and is only switched on and off, so neither phase pays for
/// starting a thread; this is also how `maple readers` measures.
fn alone_and_with_writer<R: Fn(u64) -> bool + Sync, W: Fn(&mut Rng) + Sync>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    read: &R,
    write: &W,
) {
    let writing = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng::with_seed(99);
            while !stop.load(Ordering::Relaxed) {
                if writing.load(Ordering::Relaxed) {
                    write(&mut rng);
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        for with_writer in [false, true] {
            let tag = if with_writer { "with_writer" } else { "alone" };
            g.bench_function(format!("{name}/{tag}"), |b| {
                b.iter_custom(|iters| {
                    writing.store(with_writer, Ordering::Relaxed);
                    let mut rng = Rng::with_seed(7);
                    let start = Instant::now();
                    let mut hits = 0u64;
                    for _ in 0..iters {
                        hits += u64::from(read(rng.u64(..10 * N as u64)));
                    }
                    let elapsed = start.elapsed();
                    writing.store(false, Ordering::Relaxed);
                    criterion::black_box(hits);
                    elapsed
                })
            });
        }
        stop.store(true, Ordering::Relaxed);
    });
}

/// Writer keys live above the readers' range, so readers always look at untouched entries.
fn writer_range(rng: &mut Rng) -> (u64, u64) {
    let f = 20 * N as u64 + rng.u64(..10 * N as u64);
    (f, f + rng.u64(..8))
}

fn readers(c: &mut Criterion) {
    let mut g = c.benchmark_group("rcu_read");
    let tree = Arc::new(RcuMapleTree::from_tree(maple(N, TreeKind::Plain)));
    let map = RwLock::new(btree(N));
    let skip: SkipMap<u64, (u64, u64)> = SkipMap::new();
    for i in 0..N as u64 {
        let (f, l, v) = range_of(i);
        skip.insert(f, (l, v));
    }
    alone_and_with_writer(
        &mut g,
        "maple",
        &|x| tree.read().load(x).is_some(),
        &|rng| {
            let (f, l) = writer_range(rng);
            let mut w = tree.write();
            if rng.u64(..2) == 0 {
                w.store_range(f..=l, Value::new(f)).unwrap();
            } else {
                w.erase_range(f..=l).unwrap();
            }
        },
    );
    alone_and_with_writer(
        &mut g,
        "rwlock_btreemap",
        &|x| btree_load(&map.read().unwrap(), x).is_some(),
        &|rng| {
            let (f, l) = writer_range(rng);
            let mut m = map.write().unwrap();
            if rng.u64(..2) == 0 {
                m.insert(f, (l, f));
            } else {
                m.remove(&f);
            }
        },
    );
    alone_and_with_writer(
        &mut g,
        "skipmap",
        &|x| {
            skip.upper_bound(std::ops::Bound::Included(&x))
                .is_some_and(|e| x <= e.value().0)
        },
        &|rng| {
            let (f, l) = writer_range(rng);
            if rng.u64(..2) == 0 {
                skip.insert(f, (l, f));
            } else {
                skip.remove(&f);
            }
        },
    );
    g.finish();
}

fn stores(c: &mut Criterion) {
    let mut g = c.benchmark_group("store_mode");
    let mut owned = maple(N, TreeKind::Plain);
    let shared = RcuMapleTree::from_tree(maple(N, TreeKind::Plain));
    let mut rng = Rng::with_seed(3);
    g.bench_function("owned", |b| {
        b.iter(|| {
            let (f, l) = writer_range(&mut rng);
            owned.store_range(f..=l, Value::new(f)).unwrap();
        })
    });
    let mut rng = Rng::with_seed(3);
    g.bench_function("shared", |b| {
        b.iter(|| {
            let (f, l) = writer_range(&mut rng);
            shared.write().store_range(f..=l, Value::new(f)).unwrap();
        })
    });
    g.finish();
}

/// What a read section costs with each reclamation crate the issue names: enter and leave,
/// as every lookup of the shared tree does. (The tree's writer talks to the crate once per
/// batch of 64 retired items, so the readers' side decides the choice.)
fn read_sections(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_section");
    g.bench_function("crossbeam_epoch", |b| {
        b.iter(|| criterion::black_box(crossbeam_epoch::pin()))
    });
    let collector = seize::Collector::new();
    g.bench_function("seize", |b| {
        b.iter(|| criterion::black_box(collector.enter()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = quick_criterion();
    targets = readers, stores, read_sections
}
criterion_main!(benches);
