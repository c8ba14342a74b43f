//! `maple readers`: lock-free readers of the shared tree against one writer.
//!
//! One reader thread does random point lookups (one read section per lookup, as a page fault
//! takes) over `n` ranges `[10 i, 10 i + 5]`, while a second thread is either idle or storing
//! and erasing random short ranges in `[20 n, 30 n)`, keys the reader never asks for. The same
//! is done for `RwLock<BTreeMap>` used as a range map and for crossbeam-skiplist's `SkipMap`.
//!
//! The machine is shared and noisy, so the alone and with-writer phases alternate within every
//! round (the writer thread stays up and is switched on and off) and the report gives medians
//! over rounds: each ratio compares figures measured side by side.
//!
//! The same run times a store on an owned tree against the same store on a shared one
//! (through its writer lock, copy-on-write, reclamation after a grace period).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Instant;

use crossbeam_skiplist::SkipMap;
use maple_tree::{MapleTree, RcuMapleTree, TreeKind, Value};

use fastrand::Rng;

use crate::table;

/// What to run.
#[derive(Clone, Debug)]
pub struct ReadersConfig {
    /// Ranges in each structure.
    pub entries: usize,
    /// Alternating alone / with-writer rounds.
    pub rounds: usize,
    /// Lookups per phase.
    pub lookups: usize,
    /// Stores per round of the owned-versus-shared store timing.
    pub stores: usize,
    /// Seed of the random keys.
    pub seed: u64,
    /// Test hook: before measuring, 100 writes land where the reader looks, so answers go
    /// wrong and the command must say so.
    pub inject_fault: bool,
}

impl ReadersConfig {
    /// The setting: 10^5 ranges.
    pub fn full() -> Self {
        ReadersConfig {
            entries: 100_000,
            rounds: 7,
            lookups: 1_000_000,
            stores: 200_000,
            seed: 42,
            inject_fault: false,
        }
    }
    /// A fast run for CI.
    pub fn quick() -> Self {
        ReadersConfig {
            entries: 10_000,
            rounds: 3,
            lookups: 100_000,
            stores: 20_000,
            seed: 42,
            inject_fault: false,
        }
    }
}

/// One structure's reader figures (medians over rounds).
#[derive(Clone, Debug)]
pub struct ReaderRow {
    /// Which structure.
    pub name: &'static str,
    /// Nanoseconds per lookup with the writer idle.
    pub alone_ns: f64,
    /// Nanoseconds per lookup while the writer works.
    pub with_writer_ns: f64,
    /// Writes per second the writer got through during the with-writer phases.
    pub writer_ops_per_sec: f64,
    /// Lookups whose answer was wrong (every looked-up index is outside the writer's keys, so
    /// the answer is known): must be 0.
    pub wrong: u64,
}

impl ReaderRow {
    /// Reader throughput with the writer as a fraction of its throughput alone.
    pub fn kept(&self) -> f64 {
        self.alone_ns / self.with_writer_ns
    }
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct ReadersReport {
    /// What ran.
    pub config: ReadersConfig,
    /// maple, rwlock_btreemap, skipmap, in that order.
    pub rows: Vec<ReaderRow>,
    /// Median nanoseconds per store on an owned tree.
    pub owned_store_ns: f64,
    /// Median nanoseconds per store on a shared tree (writer lock taken per store).
    pub shared_store_ns: f64,
}

impl ReadersReport {
    /// Maple readers' throughput under the writer over `RwLock<BTreeMap>`'s.
    pub fn over_rwlock(&self) -> f64 {
        self.rows[1].with_writer_ns / self.rows[0].with_writer_ns
    }
    /// What a shared store costs relative to an owned one.
    pub fn shared_store_cost(&self) -> f64 {
        self.shared_store_ns / self.owned_store_ns
    }

    /// The three targets of the RCU issue: `(met, description)` each.
    pub fn targets(&self) -> Vec<(bool, String)> {
        let kept = self.rows[0].kept();
        let over = self.over_rwlock();
        let cost = self.shared_store_cost();
        vec![
            (
                kept >= 0.7,
                format!(
                    "maple readers keep {:.0}% of their alone throughput under the writer (target >= 70%)",
                    100.0 * kept
                ),
            ),
            (
                over >= 5.0,
                format!(
                    "maple readers under the writer: {over:.2}x rwlock_btreemap's throughput (target >= 5x)"
                ),
            ),
            (
                cost <= 3.0,
                format!(
                    "store: owned {:.0} ns, shared {:.0} ns: {cost:.2}x (target <= 3x)",
                    self.owned_store_ns, self.shared_store_ns
                ),
            ),
        ]
    }

    /// Lookups answered wrongly, over every structure (must be 0).
    pub fn wrong(&self) -> u64 {
        self.rows.iter().map(|r| r.wrong).sum()
    }

    /// The table, then one `target met: ...` or `target missed: ...` line per target.
    pub fn render(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} ranges; median of {} rounds of {} random lookups per phase, one read section \
             per lookup; the writer stores/erases random ranges the reader never asks for",
            c.entries, c.rounds, c.lookups
        );
        let mut t = table::new(&[
            "structure",
            "alone ns",
            "with writer ns",
            "kept",
            "writer ops/s",
            "wrong",
        ]);
        for r in &self.rows {
            t.add_row([
                r.name.to_string(),
                format!("{:.1}", r.alone_ns),
                format!("{:.1}", r.with_writer_ns),
                format!("{:.0}%", 100.0 * r.kept()),
                format!("{:.0}", r.writer_ops_per_sec),
                r.wrong.to_string(),
            ]);
        }
        s.push_str(&table::render(&t));
        for (met, what) in self.targets() {
            let _ = writeln!(
                s,
                "{}: {what}",
                if met { "target met" } else { "target missed" }
            );
        }
        s
    }
}

/// A range map one reader and one writer can share.
trait SharedMap: Sync {
    const NAME: &'static str;
    fn build(n: usize) -> Self;
    fn contains(&self, x: u64) -> bool;
    fn store(&self, first: u64, last: u64);
    fn erase(&self, first: u64, last: u64);
}

/// The ranges every structure starts with.
fn initial(n: usize) -> impl Iterator<Item = (u64, u64)> {
    (0..n as u64).map(|i| (10 * i, 10 * i + 5))
}

impl SharedMap for RcuMapleTree<Value> {
    const NAME: &'static str = "maple";
    fn build(n: usize) -> Self {
        let tree = MapleTree::bulk_build(
            TreeKind::Plain,
            initial(n).map(|(f, l)| (f..=l, Value::new(f))),
        )
        .expect("ascending, disjoint ranges");
        RcuMapleTree::from_tree(tree)
    }
    fn contains(&self, x: u64) -> bool {
        self.read().load(x).is_some()
    }
    fn store(&self, first: u64, last: u64) {
        let _ = self.write().store_range(first..=last, Value::new(first));
    }
    fn erase(&self, first: u64, last: u64) {
        let _ = self.write().erase_range(first..=last);
    }
}

/// `BTreeMap<first, last>` behind a reader-writer lock.
struct LockedBTree(RwLock<BTreeMap<u64, u64>>);

impl SharedMap for LockedBTree {
    const NAME: &'static str = "rwlock_btreemap";
    fn build(n: usize) -> Self {
        LockedBTree(RwLock::new(initial(n).collect()))
    }
    fn contains(&self, x: u64) -> bool {
        let m = self.0.read().unwrap_or_else(|p| p.into_inner());
        matches!(m.range(..=x).next_back(), Some((_, &l)) if l >= x)
    }
    fn store(&self, first: u64, last: u64) {
        let mut m = self.0.write().unwrap_or_else(|p| p.into_inner());
        m.insert(first, last);
    }
    fn erase(&self, first: u64, _last: u64) {
        let mut m = self.0.write().unwrap_or_else(|p| p.into_inner());
        m.remove(&first);
    }
}

/// `SkipMap<first, last>`: lock-free on both sides.
struct Skip(SkipMap<u64, u64>);

impl SharedMap for Skip {
    const NAME: &'static str = "skipmap";
    fn build(n: usize) -> Self {
        let m = SkipMap::new();
        for (f, l) in initial(n) {
            m.insert(f, l);
        }
        Skip(m)
    }
    fn contains(&self, x: u64) -> bool {
        self.0
            .upper_bound(Bound::Included(&x))
            .is_some_and(|e| x <= *e.value())
    }
    fn store(&self, first: u64, last: u64) {
        self.0.insert(first, last);
    }
    fn erase(&self, first: u64, _last: u64) {
        self.0.remove(&first);
    }
}

/// One random write of the writer: a store or an erase of up to 8 indices in `[20 n, 30 n)`.
fn random_write<M: SharedMap>(map: &M, n: u64, rng: &mut Rng) {
    random_write_from(map, 20 * n, n, rng);
}

/// A random write of up to 8 indices in `[base, base + 10 n)`.
fn random_write_from<M: SharedMap>(map: &M, base: u64, n: u64, rng: &mut Rng) {
    let first = base + rng.u64(..10 * n);
    let last = first + rng.u64(..8);
    if rng.u64(..2) == 0 {
        map.store(first, last);
    } else {
        map.erase(first, last);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn measure<M: SharedMap>(cfg: &ReadersConfig) -> ReaderRow {
    let n = cfg.entries.max(1) as u64;
    let map = M::build(cfg.entries);
    if cfg.inject_fault {
        let mut rng = Rng::with_seed(cfg.seed);
        for _ in 0..100 {
            random_write_from(&map, 0, n, &mut rng);
        }
    }
    let writing = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    let (mut alone, mut with, mut rates) = (Vec::new(), Vec::new(), Vec::new());
    let mut wrong = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng::with_seed(cfg.seed ^ 0x5eed);
            while !stop.load(Ordering::Relaxed) {
                if writing.load(Ordering::Relaxed) {
                    random_write(&map, n, &mut rng);
                    writes.fetch_add(1, Ordering::Relaxed);
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        let mut rng = Rng::with_seed(cfg.seed);
        for round in 0..cfg.rounds.max(1) {
            // Alternate which phase goes first, so a drift in machine speed cancels out.
            for with_writer in [round % 2 == 1, round % 2 == 0] {
                writing.store(with_writer, Ordering::Relaxed);
                let before = writes.load(Ordering::Relaxed);
                let start = Instant::now();
                let mut misses = 0u64;
                for _ in 0..cfg.lookups {
                    let x = rng.u64(..10 * n);
                    // [10 i, 10 i + 5] is stored, [10 i + 6, 10 i + 9] is not.
                    misses += u64::from(map.contains(x) != (x % 10 <= 5));
                }
                let elapsed = start.elapsed();
                writing.store(false, Ordering::Relaxed);
                wrong += black_box(misses);
                let ns = elapsed.as_nanos() as f64 / cfg.lookups.max(1) as f64;
                if with_writer {
                    with.push(ns);
                    let done = writes.load(Ordering::Relaxed) - before;
                    rates.push(done as f64 / elapsed.as_secs_f64());
                } else {
                    alone.push(ns);
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    ReaderRow {
        name: M::NAME,
        alone_ns: median(alone),
        with_writer_ns: median(with),
        writer_ops_per_sec: median(rates),
        wrong,
    }
}

/// Median ns per write of the same random store/erase sequence on an owned and a shared tree.
fn store_costs(cfg: &ReadersConfig) -> (f64, f64) {
    let n = cfg.entries.max(1) as u64;
    let mut owned = RcuMapleTree::<Value>::build(cfg.entries).into_inner();
    let shared = RcuMapleTree::<Value>::build(cfg.entries);
    let (mut o, mut sh) = (Vec::new(), Vec::new());
    for round in 0..cfg.rounds.max(1) {
        let seed = cfg.seed + round as u64;
        let per = |d: std::time::Duration| d.as_nanos() as f64 / cfg.stores.max(1) as f64;
        let mut rng = Rng::with_seed(seed);
        let start = Instant::now();
        for _ in 0..cfg.stores {
            let first = 20 * n + rng.u64(..10 * n);
            let last = first + rng.u64(..8);
            if rng.u64(..2) == 0 {
                let _ = owned.store_range(first..=last, Value::new(first));
            } else {
                let _ = owned.erase_range(first..=last);
            }
        }
        o.push(per(start.elapsed()));
        let mut rng = Rng::with_seed(seed);
        let start = Instant::now();
        for _ in 0..cfg.stores {
            random_write(&shared, n, &mut rng);
        }
        sh.push(per(start.elapsed()));
    }
    (median(o), median(sh))
}

/// Runs every measurement; `progress` is told what is about to run.
pub fn run(cfg: &ReadersConfig, mut progress: impl FnMut(&str)) -> ReadersReport {
    let mut rows = Vec::new();
    progress(<RcuMapleTree<Value> as SharedMap>::NAME);
    rows.push(measure::<RcuMapleTree<Value>>(cfg));
    progress(LockedBTree::NAME);
    rows.push(measure::<LockedBTree>(cfg));
    progress(Skip::NAME);
    rows.push(measure::<Skip>(cfg));
    progress("owned and shared stores");
    let (owned_store_ns, shared_store_ns) = store_costs(cfg);
    ReadersReport {
        config: cfg.clone(),
        rows,
        owned_store_ns,
        shared_store_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(kept: f64, over: f64, cost: f64) -> ReadersReport {
        let row = |name, alone_ns: f64, with_writer_ns: f64| ReaderRow {
            name,
            alone_ns,
            with_writer_ns,
            writer_ops_per_sec: 1.0,
            wrong: 0,
        };
        ReadersReport {
            config: ReadersConfig::quick(),
            rows: vec![
                row("maple", 10.0 * kept, 10.0),
                row("rwlock_btreemap", 10.0, 10.0 * over),
                row("skipmap", 10.0, 10.0),
            ],
            owned_store_ns: 100.0,
            shared_store_ns: 100.0 * cost,
        }
    }

    #[test]
    fn targets_are_reported_met_or_missed() {
        let text = report(0.8, 6.0, 2.0).render();
        assert_eq!(text.matches("target met: ").count(), 3, "{text}");
        let text = report(0.5, 6.0, 4.0).render();
        assert_eq!(text.matches("target met: ").count(), 1, "{text}");
        assert_eq!(text.matches("target missed: ").count(), 2, "{text}");
        assert!(
            text.contains("target missed: maple readers keep 50%"),
            "{text}"
        );
    }

    #[test]
    fn an_injected_fault_gives_wrong_answers() {
        let cfg = ReadersConfig {
            entries: 1_000,
            rounds: 1,
            lookups: 20_000,
            stores: 100,
            seed: 5,
            inject_fault: true,
        };
        let row = measure::<RcuMapleTree<Value>>(&cfg);
        assert!(row.wrong > 0);
    }

    #[test]
    fn every_structure_answers_right_under_the_writer() {
        let cfg = ReadersConfig {
            entries: 2_000,
            rounds: 2,
            lookups: 20_000,
            stores: 1_000,
            seed: 5,
            inject_fault: false,
        };
        let report = run(&cfg, |_| {});
        let names: Vec<&str> = report.rows.iter().map(|r| r.name).collect();
        assert_eq!(names, ["maple", "rwlock_btreemap", "skipmap"]);
        for r in &report.rows {
            assert_eq!(r.wrong, 0, "{}", r.name);
            for v in [r.alone_ns, r.with_writer_ns] {
                assert!(v.is_finite() && v > 0.0, "{}: {v}", r.name);
            }
        }
        assert!(report.owned_store_ns > 0.0 && report.shared_store_ns > 0.0);
        let text = report.render();
        assert!(text.contains("target >= 70%"), "{text}");
        assert_eq!(report.wrong(), 0);
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("target met: ") || l.starts_with("target missed: "))
                .count(),
            3,
            "{text}"
        );
        assert!(text.contains("target >= 5x"), "{text}");
        assert!(text.contains("target <= 3x"), "{text}");
    }
}
