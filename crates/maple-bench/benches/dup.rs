//! Copying a tree, in ns per entry (criterion reports elements/s) at 10^2..10^6 ranges:
//! `dup`, `dup_map`, `dup` followed by replacing every entry through a cursor (what
//! fork does), `rebuild` (the old way: store each entry), `bulk_build`, and
//! `BTreeMap::clone` as the baseline.

#![forbid(unsafe_code)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use maple_bench::{btree, maple, quick_criterion};
use maple_tree::{MapleTree, TreeKind, Value};

const DUP_SIZES: [usize; 5] = [100, 1_000, 10_000, 100_000, 1_000_000];

fn dup_then_replace(t: &MapleTree<Value>) -> MapleTree<Value> {
    let mut d = t.dup();
    {
        let mut c = d.cursor_mut(0);
        let mut cur = c.find(u64::MAX).map(|(_, v)| v.get());
        while let Some(v) = cur {
            let _ = c.replace(Value::new(v + 1));
            cur = c.next(u64::MAX).map(|(_, v)| v.get());
        }
    }
    d
}

fn dup(c: &mut Criterion) {
    let mut g = c.benchmark_group("dup");
    for n in DUP_SIZES {
        g.throughput(Throughput::Elements(n as u64));
        let t = maple(n, TreeKind::Alloc);
        let items: Vec<_> = t.iter().collect();
        g.bench_function(BenchmarkId::new("dup", n), |b| b.iter(|| t.dup()));
        g.bench_function(BenchmarkId::new("dup_map", n), |b| {
            b.iter(|| t.dup_map(|_, v| Some(Value::new(v.get() + 1))))
        });
        g.bench_function(BenchmarkId::new("dup_replace_walk", n), |b| {
            b.iter(|| dup_then_replace(&t))
        });
        g.bench_function(BenchmarkId::new("rebuild", n), |b| b.iter(|| t.rebuild()));
        g.bench_function(BenchmarkId::new("bulk_build", n), |b| {
            b.iter(|| MapleTree::bulk_build(TreeKind::Alloc, items.iter().cloned()).ok())
        });
        let m = btree(n);
        g.bench_function(BenchmarkId::new("btreemap_clone", n), |b| {
            b.iter(|| m.clone())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = quick_criterion();
    targets = dup
}
criterion_main!(benches);
