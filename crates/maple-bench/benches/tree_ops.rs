//! Sequential store, random load (hits and misses), full iteration and random erase at
//! 10^3, 10^5 and 10^6 ranges `[10 i, 10 i + 5]`: the maple tree against a std BTreeMap
//! range map and `rangemap::RangeInclusiveMap`. Also prints node bytes per entry.

#![forbid(unsafe_code)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use maple_bench::{btree, btree_load, maple, quick_criterion, range_of, rangemap, Rng, SIZES};
use maple_tree::{TreeKind, Value, NODE_SIZE};

fn memory_report() {
    for n in SIZES {
        let t = maple(n, TreeKind::Plain);
        let a = maple(n, TreeKind::Alloc);
        println!(
            "node bytes per entry at n = {n}: plain {:.1} ({} nodes), alloc {:.1} ({} nodes)",
            (t.node_count() * NODE_SIZE) as f64 / t.len() as f64,
            t.node_count(),
            (a.node_count() * NODE_SIZE) as f64 / a.len() as f64,
            a.node_count()
        );
    }
}

fn store(c: &mut Criterion) {
    memory_report();
    let mut g = c.benchmark_group("store_sequential");
    for n in SIZES {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("maple", n), &n, |b, &n| {
            b.iter(|| maple(n, TreeKind::Plain))
        });
        g.bench_with_input(BenchmarkId::new("btreemap", n), &n, |b, &n| {
            b.iter(|| btree(n))
        });
        g.bench_with_input(BenchmarkId::new("rangemap", n), &n, |b, &n| {
            b.iter(|| rangemap(n))
        });
    }
    g.finish();
}

fn keys(n: usize) -> Vec<u64> {
    let mut rng = Rng::with_seed(n as u64);
    (0..n.min(100_000))
        .map(|_| rng.u64(..10 * n as u64))
        .collect()
}

fn load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load_random");
    for n in SIZES {
        let k = keys(n);
        g.throughput(Throughput::Elements(k.len() as u64));
        let t = maple(n, TreeKind::Plain);
        g.bench_with_input(BenchmarkId::new("maple", n), &k, |b, k| {
            b.iter(|| k.iter().filter(|&&x| t.load(x).is_some()).count())
        });
        drop(t);
        let m = btree(n);
        g.bench_with_input(BenchmarkId::new("btreemap", n), &k, |b, k| {
            b.iter(|| k.iter().filter(|&&x| btree_load(&m, x).is_some()).count())
        });
        drop(m);
        let r = rangemap(n);
        g.bench_with_input(BenchmarkId::new("rangemap", n), &k, |b, k| {
            b.iter(|| k.iter().filter(|&&x| r.get(&x).is_some()).count())
        });
    }
    g.finish();
}

fn iterate(c: &mut Criterion) {
    let mut g = c.benchmark_group("iterate");
    for n in SIZES {
        g.throughput(Throughput::Elements(n as u64));
        let t = maple(n, TreeKind::Plain);
        g.bench_function(BenchmarkId::new("maple", n), |b| {
            b.iter(|| t.iter().map(|(_, v)| v.get()).fold(0, u64::wrapping_add))
        });
        drop(t);
        let m = btree(n);
        g.bench_function(BenchmarkId::new("btreemap", n), |b| {
            b.iter(|| m.values().map(|(_, v)| *v).fold(0, u64::wrapping_add))
        });
        drop(m);
        let r = rangemap(n);
        g.bench_function(BenchmarkId::new("rangemap", n), |b| {
            b.iter(|| r.iter().map(|(_, v)| *v).fold(0, u64::wrapping_add))
        });
    }
    g.finish();
}

fn erase(c: &mut Criterion) {
    let mut g = c.benchmark_group("erase_random");
    for n in SIZES {
        let mut order: Vec<u64> = (0..n as u64).collect();
        Rng::with_seed(7).shuffle(&mut order);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("maple", n), |b| {
            b.iter_batched(
                || maple(n, TreeKind::Plain),
                |mut t| {
                    for &i in &order {
                        black_box(t.erase(range_of(i).0).unwrap());
                    }
                    t
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("btreemap", n), |b| {
            b.iter_batched(
                || btree(n),
                |mut m| {
                    for &i in &order {
                        black_box(m.remove(&range_of(i).0));
                    }
                    m
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("rangemap", n), |b| {
            b.iter_batched(
                || rangemap(n),
                |mut m| {
                    for &i in &order {
                        let (f, l, _) = range_of(i);
                        m.remove(f..=l);
                    }
                    m
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    // Keep Value in use for readers of this file: entries are xa_mk_value-style integers.
    black_box(Value::new(0));
}

criterion_group! {
    name = benches;
    config = quick_criterion();
    targets = store, load, iterate, erase
}
criterion_main!(benches);
