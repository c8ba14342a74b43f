//! `maple compare`: the maple tree against other range maps on the same workloads.
//!
//! Every structure holds `n` ranges `[10 i, 10 i + 5]` with value `i`. Workloads:
//! sequential store (building from empty), load (random indices in `[0, 10 n)`: hits and
//! misses), full iteration, random-order erase of every range, top-down gap search
//! (`empty_area_rev` of size 10 in a window of 2,000 ranges below a random index, with 1%
//! of the ranges erased to make holes), and duplicate (a full copy). Peers: std
//! `BTreeMap` used as a range map, `rangemap::RangeInclusiveMap`, `nodit::NoditMap`,
//! and `crossbeam_skiplist::SkipMap` (no duplicate: it has no clone).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_skiplist::SkipMap;
use maple_tree::{MapleTree, TreeKind, Value};
use nodit::interval::ii;
use nodit::{Interval, NoditMap};
use rangemap::RangeInclusiveMap;
use serde::Serialize;

use crate::table;

use fastrand::Rng;

/// A workload of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// Store `n` ranges in ascending order into an empty map.
    Store,
    /// Random point lookups, hits and misses.
    Load,
    /// Iterate over every range.
    Iterate,
    /// Erase every range in random order.
    Erase,
    /// Highest hole of size 10 in a window.
    GapRev,
    /// Copy the whole map.
    Dup,
    /// Point lookups while another thread writes (RCU mode).
    RcuRead,
}

impl Workload {
    /// All workloads, in report order.
    pub const ALL: [Workload; 7] = [
        Workload::Store,
        Workload::Load,
        Workload::Iterate,
        Workload::Erase,
        Workload::GapRev,
        Workload::Dup,
        Workload::RcuRead,
    ];

    /// Short name used in tables, CSV and charts.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Store => "store",
            Workload::Load => "load",
            Workload::Iterate => "iterate",
            Workload::Erase => "erase",
            Workload::GapRev => "gap_rev",
            Workload::Dup => "dup",
            Workload::RcuRead => "rcu_read",
        }
    }
}

/// A structure under comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Impl {
    /// `maple_tree::MapleTree`.
    Maple,
    /// std `BTreeMap<first, (last, value)>`.
    BTree,
    /// `rangemap::RangeInclusiveMap`.
    RangeMap,
    /// `nodit::NoditMap`.
    Nodit,
    /// `crossbeam_skiplist::SkipMap<first, (last, value)>`.
    SkipMap,
}

impl Impl {
    /// All implementations; the tree first.
    pub const ALL: [Impl; 5] = [
        Impl::Maple,
        Impl::BTree,
        Impl::RangeMap,
        Impl::Nodit,
        Impl::SkipMap,
    ];

    /// Short name used in tables, CSV and charts.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Maple => "maple",
            Impl::BTree => "btreemap",
            Impl::RangeMap => "rangemap",
            Impl::Nodit => "nodit",
            Impl::SkipMap => "skipmap",
        }
    }
}

/// One timing.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// What was run.
    pub workload: Workload,
    /// Number of ranges.
    pub size: usize,
    /// Who ran it.
    pub imp: Impl,
    /// Mean nanoseconds per operation (per range for store/iterate/erase/dup).
    pub ns_per_op: f64,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct CompareConfig {
    /// Map sizes (number of ranges).
    pub sizes: Vec<usize>,
    /// Each timing repeats until it has run this long (at least once).
    pub min_time: Duration,
    /// Seed of the random workloads.
    pub seed: u64,
}

impl CompareConfig {
    /// The full run: 10^3, 10^5, 10^6.
    pub fn full() -> Self {
        CompareConfig {
            sizes: vec![1_000, 100_000, 1_000_000],
            min_time: Duration::from_millis(200),
            seed: 42,
        }
    }
    /// `--quick`: 10^3, 10^4.
    pub fn quick() -> Self {
        CompareConfig {
            sizes: vec![1_000, 10_000],
            min_time: Duration::from_millis(50),
            seed: 42,
        }
    }
    /// `--tiny` (tests): 50 and 200 ranges, one repetition.
    pub fn tiny() -> Self {
        CompareConfig {
            sizes: vec![50, 200],
            min_time: Duration::ZERO,
            seed: 42,
        }
    }
}

/// A range map as the workloads use it. Values are `u64`.
pub trait RangeMapLike: Sized {
    /// Which implementation this is.
    const IMPL: Impl;
    /// An empty map (`gaps`: the map will be asked for gaps).
    fn empty(gaps: bool) -> Self;
    /// Stores `v` over `[f, l]`, overwriting what was there.
    fn store(&mut self, f: u64, l: u64, v: u64);
    /// The value at `x`.
    fn load(&self, x: u64) -> Option<u64>;
    /// Sum of all values (visits every range).
    fn sum(&self) -> u64;
    /// Removes the range that starts at `f` and ends at `l`.
    fn erase(&mut self, f: u64, l: u64);
    /// Start of the highest hole of `size` inside `[lo, hi]`.
    fn gap_rev(&self, lo: u64, hi: u64, size: u64) -> Option<u64>;
    /// A full copy, when the structure has one.
    fn dup(&self) -> Option<Self>;
}

/// The maple tree with `Value` entries.
pub struct Maple(pub MapleTree<Value>);

impl RangeMapLike for Maple {
    const IMPL: Impl = Impl::Maple;
    fn empty(gaps: bool) -> Self {
        Maple(MapleTree::with_kind(if gaps {
            TreeKind::Alloc
        } else {
            TreeKind::Plain
        }))
    }
    fn store(&mut self, f: u64, l: u64, v: u64) {
        let _ = self.0.store_range(f..=l, Value::new(v));
    }
    fn load(&self, x: u64) -> Option<u64> {
        self.0.load(x).map(|v| v.get())
    }
    fn sum(&self) -> u64 {
        self.0
            .iter()
            .map(|(_, v)| v.get())
            .fold(0, u64::wrapping_add)
    }
    fn erase(&mut self, f: u64, _l: u64) {
        let _ = self.0.erase(f);
    }
    fn gap_rev(&self, lo: u64, hi: u64, size: u64) -> Option<u64> {
        self.0
            .empty_area_rev(lo..=hi, size)
            .ok()
            .map(|r| *r.start())
    }
    fn dup(&self) -> Option<Self> {
        Some(Maple(self.0.dup()))
    }
}

/// std `BTreeMap` keyed by first index, holding `(last, value)`.
#[derive(Clone)]
pub struct BTree(pub BTreeMap<u64, (u64, u64)>);

/// Highest hole of `size` in `[lo, hi]`, given ranges in descending order.
fn gap_rev_scan(
    lo: u64,
    hi: u64,
    size: u64,
    desc: impl Iterator<Item = (u64, u64)>,
) -> Option<u64> {
    if size == 0 || hi < lo || hi - lo < size - 1 {
        return None;
    }
    let mut top = hi; // highest free candidate
    for (f, l) in desc {
        if l < top && top - l >= size && top - (size - 1) >= lo {
            return Some(top - (size - 1));
        }
        if f <= lo {
            return None;
        }
        top = top.min(f - 1);
        if top < lo || top - lo < size - 1 {
            return None;
        }
    }
    if top >= lo && top - lo >= size - 1 {
        Some(top - (size - 1))
    } else {
        None
    }
}

impl RangeMapLike for BTree {
    const IMPL: Impl = Impl::BTree;
    fn empty(_gaps: bool) -> Self {
        BTree(BTreeMap::new())
    }
    fn store(&mut self, f: u64, l: u64, v: u64) {
        // Trim or split whatever overlaps [f, l].
        let mut over = Vec::new();
        for (&k, &(kl, kv)) in self.0.range(..=l).rev() {
            if kl < f {
                break;
            }
            over.push((k, kl, kv));
        }
        for (k, kl, kv) in over {
            self.0.remove(&k);
            if k < f {
                self.0.insert(k, (f - 1, kv));
            }
            if kl > l {
                self.0.insert(l + 1, (kl, kv));
            }
        }
        self.0.insert(f, (l, v));
    }
    fn load(&self, x: u64) -> Option<u64> {
        match self.0.range(..=x).next_back() {
            Some((_, &(l, v))) if l >= x => Some(v),
            _ => None,
        }
    }
    fn sum(&self) -> u64 {
        self.0.values().map(|(_, v)| *v).fold(0, u64::wrapping_add)
    }
    fn erase(&mut self, f: u64, _l: u64) {
        self.0.remove(&f);
    }
    fn gap_rev(&self, lo: u64, hi: u64, size: u64) -> Option<u64> {
        gap_rev_scan(
            lo,
            hi,
            size,
            self.0.range(..=hi).rev().map(|(&f, &(l, _))| (f, l)),
        )
    }
    fn dup(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// `rangemap::RangeInclusiveMap`.
#[derive(Clone)]
pub struct RangeMap(pub RangeInclusiveMap<u64, u64>);

impl RangeMapLike for RangeMap {
    const IMPL: Impl = Impl::RangeMap;
    fn empty(_gaps: bool) -> Self {
        RangeMap(RangeInclusiveMap::new())
    }
    fn store(&mut self, f: u64, l: u64, v: u64) {
        self.0.insert(f..=l, v);
    }
    fn load(&self, x: u64) -> Option<u64> {
        self.0.get(&x).copied()
    }
    fn sum(&self) -> u64 {
        self.0.iter().map(|(_, v)| *v).fold(0, u64::wrapping_add)
    }
    fn erase(&mut self, f: u64, l: u64) {
        self.0.remove(f..=l);
    }
    fn gap_rev(&self, lo: u64, hi: u64, size: u64) -> Option<u64> {
        let outer = lo..=hi;
        self.0
            .gaps(&outer)
            .filter(|g| g.end() - g.start() >= size - 1)
            .last()
            .map(|g| g.end() - (size - 1))
    }
    fn dup(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// `nodit::NoditMap` over inclusive intervals.
#[derive(Clone)]
pub struct Nodit(pub NoditMap<u64, Interval<u64>, u64>);

impl RangeMapLike for Nodit {
    const IMPL: Impl = Impl::Nodit;
    fn empty(_gaps: bool) -> Self {
        Nodit(NoditMap::new())
    }
    fn store(&mut self, f: u64, l: u64, v: u64) {
        let _ = self.0.insert_overwrite(ii(f, l), v);
    }
    fn load(&self, x: u64) -> Option<u64> {
        self.0.get_at_point(x).copied()
    }
    fn sum(&self) -> u64 {
        self.0.iter().map(|(_, v)| *v).fold(0, u64::wrapping_add)
    }
    fn erase(&mut self, f: u64, l: u64) {
        let _ = self.0.remove_overlapping(ii(f, l)).count();
    }
    fn gap_rev(&self, lo: u64, hi: u64, size: u64) -> Option<u64> {
        self.0
            .gaps_trimmed(ii(lo, hi))
            .filter(|g| g.end() - g.start() >= size - 1)
            .last()
            .map(|g| g.end() - (size - 1))
    }
    fn dup(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// `crossbeam_skiplist::SkipMap` keyed by first index, holding `(last, value)`.
pub struct Skip(pub SkipMap<u64, (u64, u64)>);

impl RangeMapLike for Skip {
    const IMPL: Impl = Impl::SkipMap;
    fn empty(_gaps: bool) -> Self {
        Skip(SkipMap::new())
    }
    fn store(&mut self, f: u64, l: u64, v: u64) {
        let mut over = Vec::new();
        for e in self.0.range(..=l).rev() {
            let (k, &(kl, kv)) = (*e.key(), e.value());
            if kl < f {
                break;
            }
            over.push((k, kl, kv));
        }
        for (k, kl, kv) in over {
            self.0.remove(&k);
            if k < f {
                self.0.insert(k, (f - 1, kv));
            }
            if kl > l {
                self.0.insert(l + 1, (kl, kv));
            }
        }
        self.0.insert(f, (l, v));
    }
    fn load(&self, x: u64) -> Option<u64> {
        let e = self.0.upper_bound(Bound::Included(&x))?;
        let &(l, v) = e.value();
        (l >= x).then_some(v)
    }
    fn sum(&self) -> u64 {
        self.0
            .iter()
            .map(|e| e.value().1)
            .fold(0, u64::wrapping_add)
    }
    fn erase(&mut self, f: u64, _l: u64) {
        self.0.remove(&f);
    }
    fn gap_rev(&self, lo: u64, hi: u64, size: u64) -> Option<u64> {
        gap_rev_scan(
            lo,
            hi,
            size,
            self.0.range(..=hi).rev().map(|e| (*e.key(), e.value().0)),
        )
    }
    fn dup(&self) -> Option<Self> {
        None
    }
}

/// Runs `f` (which returns the time of its measured part) until `min` has been spent,
/// at least once; returns the mean.
fn timed(min: Duration, mut f: impl FnMut() -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut reps = 0u32;
    while reps == 0 || (total < min && reps < 10_000) {
        total += f();
        reps += 1;
    }
    total / reps
}

fn build<M: RangeMapLike>(n: usize, gaps: bool) -> M {
    let mut m = M::empty(gaps);
    for i in 0..n as u64 {
        m.store(10 * i, 10 * i + 5, i);
    }
    m
}

const GAP_WINDOW: u64 = 20_000;
const GAP_SIZE: u64 = 10;

/// Runs every workload for one structure at one size. `None` means not applicable.
pub fn measure<M: RangeMapLike>(w: Workload, n: usize, cfg: &CompareConfig) -> Option<f64> {
    let per = |d: Duration, ops: usize| d.as_nanos() as f64 / ops.max(1) as f64;
    let mut rng = Rng::with_seed(cfg.seed ^ n as u64);
    match w {
        Workload::Store => {
            let d = timed(cfg.min_time, || {
                let t = Instant::now();
                let m = build::<M>(n, false);
                let d = t.elapsed();
                drop(black_box(m));
                d
            });
            Some(per(d, n))
        }
        Workload::Load => {
            let m = build::<M>(n, false);
            let keys: Vec<u64> = (0..n).map(|_| rng.u64(..10 * n as u64)).collect();
            let d = timed(cfg.min_time, || {
                let t = Instant::now();
                let mut hits = 0u64;
                for &k in &keys {
                    hits += u64::from(m.load(k).is_some());
                }
                black_box(hits);
                t.elapsed()
            });
            Some(per(d, n))
        }
        Workload::Iterate => {
            let m = build::<M>(n, false);
            let d = timed(cfg.min_time, || {
                let t = Instant::now();
                black_box(m.sum());
                t.elapsed()
            });
            Some(per(d, n))
        }
        Workload::Erase => {
            let mut order: Vec<u64> = (0..n as u64).collect();
            rng.shuffle(&mut order);
            let d = timed(cfg.min_time, || {
                let mut m = build::<M>(n, false);
                let t = Instant::now();
                for &i in &order {
                    m.erase(10 * i, 10 * i + 5);
                }
                let d = t.elapsed();
                drop(black_box(m));
                d
            });
            Some(per(d, n))
        }
        Workload::GapRev => {
            let mut m = build::<M>(n, true);
            for i in 0..n as u64 {
                if rng.u64(..100) == 0 {
                    m.erase(10 * i, 10 * i + 5);
                }
            }
            let queries = (n / 10).clamp(10, 1000);
            let his: Vec<u64> = (0..queries).map(|_| rng.u64(..10 * n as u64)).collect();
            let d = timed(cfg.min_time, || {
                let t = Instant::now();
                let mut found = 0u64;
                for &hi in &his {
                    let lo = hi.saturating_sub(GAP_WINDOW);
                    found = found.wrapping_add(m.gap_rev(lo, hi, GAP_SIZE).unwrap_or(0));
                }
                black_box(found);
                t.elapsed()
            });
            Some(per(d, queries))
        }
        Workload::Dup => {
            let m = build::<M>(n, false);
            m.dup()?;
            let d = timed(cfg.min_time, || {
                let t = Instant::now();
                let c = m.dup();
                let d = t.elapsed();
                drop(black_box(c));
                d
            });
            Some(per(d, n))
        }
        Workload::RcuRead => rcu::measure(M::IMPL, n, cfg),
    }
}

mod rcu {
    //! Reads under a concurrent writer: `RcuMapleTree` readers against a
    //! `RwLock<BTreeMap>` range map, each with one writer thread storing and erasing. One read
    //! section per lookup, as a page fault takes (`maple readers` reports this in depth).
    use super::*;
    use maple_tree::RcuMapleTree;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::RwLock;

    pub fn measure(imp: Impl, n: usize, cfg: &CompareConfig) -> Option<f64> {
        let mut rng = Rng::with_seed(cfg.seed);
        let keys: Vec<u64> = (0..n).map(|_| rng.u64(..10 * n as u64)).collect();
        let stop = AtomicBool::new(false);
        let per = |d: Duration| d.as_nanos() as f64 / n.max(1) as f64;
        match imp {
            Impl::Maple => {
                let t = RcuMapleTree::from_tree(build::<Maple>(n, false).0);
                let d = std::thread::scope(|s| {
                    s.spawn(|| {
                        let mut i = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            let k = 10 * (i % n.max(1) as u64);
                            let _ = t.write().store_range(k + 6..=k + 8, Value::new(i));
                            let _ = t.write().erase_range(k + 6..=k + 8);
                            i += 1;
                        }
                    });
                    let d = timed(cfg.min_time, || {
                        let start = Instant::now();
                        let mut hits = 0u64;
                        for &k in &keys {
                            hits += u64::from(t.read().load(k).is_some());
                        }
                        black_box(hits);
                        start.elapsed()
                    });
                    stop.store(true, Ordering::Relaxed);
                    d
                });
                Some(per(d))
            }
            Impl::BTree => {
                let m = RwLock::new(build::<BTree>(n, false));
                let d = std::thread::scope(|s| {
                    s.spawn(|| {
                        let mut i = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            let k = 10 * (i % n.max(1) as u64);
                            if let Ok(mut g) = m.write() {
                                g.store(k + 6, k + 8, i);
                            }
                            if let Ok(mut g) = m.write() {
                                g.erase(k + 6, k + 8);
                            }
                            i += 1;
                        }
                    });
                    let d = timed(cfg.min_time, || {
                        let start = Instant::now();
                        let mut hits = 0u64;
                        for &k in &keys {
                            if let Ok(g) = m.read() {
                                hits += u64::from(g.load(k).is_some());
                            }
                        }
                        black_box(hits);
                        start.elapsed()
                    });
                    stop.store(true, Ordering::Relaxed);
                    d
                });
                Some(per(d))
            }
            _ => None,
        }
    }
}

/// Runs one workload for one implementation at one size.
pub fn measure_impl(imp: Impl, w: Workload, n: usize, cfg: &CompareConfig) -> Option<f64> {
    match imp {
        Impl::Maple => measure::<Maple>(w, n, cfg),
        Impl::BTree => measure::<BTree>(w, n, cfg),
        Impl::RangeMap => measure::<RangeMap>(w, n, cfg),
        Impl::Nodit => measure::<Nodit>(w, n, cfg),
        Impl::SkipMap => measure::<Skip>(w, n, cfg),
    }
}

/// Runs everything; `progress` is told what is about to run.
pub fn run(cfg: &CompareConfig, mut progress: impl FnMut(&str)) -> Vec<Measurement> {
    let mut out = Vec::new();
    for &n in &cfg.sizes {
        for w in Workload::ALL {
            for imp in Impl::ALL {
                progress(&format!("{} n={n} {}", w.name(), imp.name()));
                if let Some(ns) = measure_impl(imp, w, n, cfg) {
                    out.push(Measurement {
                        workload: w,
                        size: n,
                        imp,
                        ns_per_op: ns,
                    });
                }
            }
        }
    }
    out
}

fn find(ms: &[Measurement], w: Workload, n: usize, imp: Impl) -> Option<f64> {
    ms.iter()
        .find(|m| m.workload == w && m.size == n && m.imp == imp)
        .map(|m| m.ns_per_op)
}

/// `peer time / tree time` for one cell, when both ran.
pub fn ratio(ms: &[Measurement], w: Workload, n: usize, imp: Impl) -> Option<f64> {
    let tree = find(ms, w, n, Impl::Maple)?;
    let peer = find(ms, w, n, imp)?;
    (tree > 0.0).then(|| peer / tree)
}

fn sizes(ms: &[Measurement]) -> Vec<usize> {
    let mut s: Vec<usize> = ms.iter().map(|m| m.size).collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// The ratio tables (one per size): tree ns/op, then `peer / tree` for every peer
/// (above 1.0 = the tree is faster; `-` = not applicable).
pub fn ratio_tables(ms: &[Measurement]) -> String {
    let mut s = String::new();
    let mut header = vec!["workload", "maple ns/op"];
    header.extend(Impl::ALL[1..].iter().map(|i| i.name()));
    for n in sizes(ms) {
        let _ = writeln!(
            s,
            "n = {n}: peer time / tree time (> 1: the tree is faster)"
        );
        let mut t = table::new(&header);
        for w in Workload::ALL {
            let Some(tree) = find(ms, w, n, Impl::Maple) else {
                continue;
            };
            let mut row = vec![w.name().to_string(), format!("{tree:.1}")];
            for &imp in &Impl::ALL[1..] {
                row.push(ratio(ms, w, n, imp).map_or("-".into(), |r| format!("{r:.2}")));
            }
            t.add_row(row);
        }
        s.push_str(&table::render(&t));
        s.push('\n');
    }
    s
}

/// One row of `compare.csv`.
#[derive(Debug, Serialize)]
struct CsvRow {
    workload: &'static str,
    size: usize,
    #[serde(rename = "impl")]
    imp: &'static str,
    ns_per_op: f64,
    /// Empty when the tree's own time is missing.
    ratio_vs_maple: Option<f64>,
}

/// CSV: `workload,size,impl,ns_per_op,ratio_vs_maple`.
pub fn to_csv(ms: &[Measurement]) -> String {
    let round = |v: f64, k: f64| (v * k).round() / k;
    let mut w = csv::Writer::from_writer(Vec::new());
    for m in ms {
        let row = CsvRow {
            workload: m.workload.name(),
            size: m.size,
            imp: m.imp.name(),
            ns_per_op: round(m.ns_per_op, 100.0),
            ratio_vs_maple: ratio(ms, m.workload, m.size, m.imp).map(|r| round(r, 10_000.0)),
        };
        // Writing plain numbers and names into memory cannot fail.
        let _ = w.serialize(row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn chart_err<E: std::fmt::Debug>(e: E) -> io::Error {
    io::Error::other(format!("chart: {e:?}"))
}

/// Writes one grouped bar chart per size (`ratio_<n>.svg`: `peer / tree` per workload,
/// one bar per peer, log scale) into `dir`; returns the paths.
pub fn write_charts(ms: &[Measurement], dir: &Path) -> io::Result<Vec<PathBuf>> {
    use plotters::prelude::*;
    let mut paths = Vec::new();
    let colors = [RED, BLUE, GREEN, MAGENTA];
    for n in sizes(ms) {
        let path = dir.join(format!("ratio_{n}.svg"));
        let ws: Vec<Workload> = Workload::ALL
            .into_iter()
            .filter(|w| find(ms, *w, n, Impl::Maple).is_some())
            .collect();
        let ratios: Vec<f64> = ws
            .iter()
            .flat_map(|w| {
                Impl::ALL[1..]
                    .iter()
                    .filter_map(move |i| ratio(ms, *w, n, *i))
            })
            .collect();
        let lo = ratios.iter().copied().fold(1.0f64, f64::min).max(1e-3) / 1.5;
        let hi = ratios.iter().copied().fold(1.0f64, f64::max) * 1.5;
        {
            let root = SVGBackend::new(&path, (900, 480)).into_drawing_area();
            root.fill(&WHITE).map_err(chart_err)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    format!("peer time / maple time, n = {n}"),
                    ("sans-serif", 20),
                )
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..ws.len() as f64, (lo..hi).log_scale())
                .map_err(chart_err)?;
            let names: Vec<&str> = ws.iter().map(|w| w.name()).collect();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(ws.len() * 2 + 1)
                .x_label_formatter(&|x| {
                    let i = x.floor() as usize;
                    if (x - i as f64 - 0.5).abs() < 0.01 {
                        names.get(i).map_or(String::new(), |s| s.to_string())
                    } else {
                        String::new()
                    }
                })
                .y_desc("ratio (log)")
                .draw()
                .map_err(chart_err)?;
            for (k, imp) in Impl::ALL[1..].iter().enumerate() {
                let color = colors[k % colors.len()];
                let bars: Vec<Rectangle<(f64, f64)>> = ws
                    .iter()
                    .enumerate()
                    .filter_map(|(i, w)| {
                        let r = ratio(ms, *w, n, *imp)?;
                        let x0 = i as f64 + 0.1 + 0.2 * k as f64;
                        Some(Rectangle::new([(x0, lo), (x0 + 0.18, r)], color.filled()))
                    })
                    .collect();
                chart
                    .draw_series(bars)
                    .map_err(chart_err)?
                    .label(imp.name())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                    });
            }
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, 1.0), (ws.len() as f64, 1.0)],
                    BLACK,
                )))
                .map_err(chart_err)?;
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(chart_err)?;
            root.present().map_err(chart_err)?;
        }
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_semantics<M: RangeMapLike>() {
        let mut m = build::<M>(100, true);
        assert_eq!(m.load(0), Some(0));
        assert_eq!(m.load(15), Some(1));
        assert_eq!(m.load(16), None);
        assert_eq!(m.sum(), (0..100).sum::<u64>());
        // Holes: 6..=9 between every pair, and everything above 995.
        assert_eq!(m.gap_rev(0, 994, 4), Some(986));
        assert_eq!(m.gap_rev(0, 994, 5), None);
        m.erase(500, 505);
        assert_eq!(m.load(502), None);
        assert_eq!(m.gap_rev(0, 994, 14), Some(496));
        assert_eq!(m.gap_rev(0, 994, 15), None);
        // Overwrite across ranges splits the ends.
        m.store(13, 22, 7);
        assert_eq!(m.load(12), Some(1));
        assert_eq!(m.load(13), Some(7));
        assert_eq!(m.load(22), Some(7));
        assert_eq!(m.load(23), Some(2));
        if let Some(c) = m.dup() {
            assert_eq!(c.sum(), m.sum());
        }
    }

    #[test]
    fn every_peer_behaves_as_a_range_map() {
        check_semantics::<Maple>();
        check_semantics::<BTree>();
        check_semantics::<RangeMap>();
        check_semantics::<Nodit>();
        check_semantics::<Skip>();
    }

    #[test]
    fn gap_rev_scan_handles_window_edges() {
        let ranges = [(10u64, 19u64), (30, 39)];
        let desc = || ranges.iter().rev().copied();
        assert_eq!(gap_rev_scan(0, 50, 11, desc()), Some(40));
        assert_eq!(gap_rev_scan(0, 39, 10, desc()), Some(20));
        assert_eq!(gap_rev_scan(0, 39, 11, desc()), None);
        assert_eq!(gap_rev_scan(0, 39, 10, desc()), Some(20));
        assert_eq!(gap_rev_scan(12, 25, 6, desc()), Some(20));
        assert_eq!(gap_rev_scan(0, 15, 10, desc()), Some(0));
        assert_eq!(gap_rev_scan(5, 15, 10, desc()), None);
    }

    #[test]
    fn ratios_tables_and_csv_agree() {
        let ms = vec![
            Measurement {
                workload: Workload::Load,
                size: 10,
                imp: Impl::Maple,
                ns_per_op: 10.0,
            },
            Measurement {
                workload: Workload::Load,
                size: 10,
                imp: Impl::BTree,
                ns_per_op: 25.0,
            },
        ];
        assert_eq!(ratio(&ms, Workload::Load, 10, Impl::BTree), Some(2.5));
        assert_eq!(ratio(&ms, Workload::Load, 10, Impl::Nodit), None);
        let t = ratio_tables(&ms);
        assert!(t.contains("n = 10"));
        assert!(t.contains("2.50"));
        let csv = to_csv(&ms);
        assert_eq!(csv.lines().count(), 3);
        assert_eq!(
            csv.lines().next(),
            Some("workload,size,impl,ns_per_op,ratio_vs_maple")
        );
        assert!(csv.contains("load,10,btreemap,25.0,2.5"), "{csv}");
        assert!(csv.contains("load,10,maple,10.0,1.0"), "{csv}");
    }
}
