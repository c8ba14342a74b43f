//! Top-down gap search (`empty_area_rev`) in trees of 10^3, 10^5 and 10^6 ranges with
//! random holes, for sizes that fit about half, about 5% and none of the holes: the
//! maple tree (gap-tracking) against a backwards linear scan of a BTreeMap range map
//! and against nodit's gap iterator.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use maple_bench::{btree_gap_rev, holey_ranges, nodit_gap_rev, quick_criterion, SIZES};
use maple_tree::{MapleTree, TreeKind, Value};
use nodit::interval::ii;
use nodit::NoditMap;

fn gaps(c: &mut Criterion) {
    for n in SIZES {
        let (kept, holes) = holey_ranges(n, 11);
        let hi = 10 * n as u64 - 1;
        let Ok(t) = MapleTree::bulk_build(
            TreeKind::Alloc,
            kept.iter().map(|&(f, l)| (f..=l, Value::new(f))),
        ) else {
            panic!("bulk_build rejected sorted disjoint ranges");
        };
        let b: BTreeMap<u64, (u64, u64)> = kept.iter().map(|&(f, l)| (f, (l, f))).collect();
        let mut nm = NoditMap::new();
        for &(f, l) in &kept {
            let _ = nm.insert_strict(ii(f, l), f);
        }
        let cases = [
            ("half", holes[holes.len() / 2]),
            ("5pct", holes[holes.len() / 20]),
            ("none", holes[0] + 1),
        ];
        let mut g = c.benchmark_group(format!("empty_area_rev/n={n}"));
        for (label, size) in cases {
            g.bench_with_input(BenchmarkId::new("maple", label), &size, |bch, &s| {
                bch.iter(|| t.empty_area_rev(0..=hi, s).ok())
            });
            g.bench_with_input(
                BenchmarkId::new("btreemap_scan", label),
                &size,
                |bch, &s| bch.iter(|| btree_gap_rev(&b, 0, hi, s)),
            );
            g.bench_with_input(BenchmarkId::new("nodit", label), &size, |bch, &s| {
                bch.iter(|| nodit_gap_rev(&nm, 0, hi, s))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = quick_criterion();
    targets = gaps
}
criterion_main!(benches);
