//! `maple soak`: one writer and several lock-free readers on one [`RcuMapleTree`] for as
//! long as asked, checking every answer, every drop and the tree's invariants.
//!
//! * The key space has two parts. The readers' region (from [`READER_BASE`]) holds fixed
//!   ranges the writer never touches, so every reader lookup there has one right answer.
//!   The writer's region (`[0, WRITER_SPAN)`) changes all the time; a reader answer there
//!   cannot be predicted, but it must be consistent with something the writer published:
//!   the range found holds the index, lies inside the range its entry was stored over, and
//!   the entry has not been dropped (entries are dropped only after every reader that could
//!   see them has left its read section).
//! * Entries count their creations and drops, and each carries a dropped flag, so a leak
//!   (creations > drops once the tree is gone) or a double drop is seen.
//! * The writer mirrors its region in a [`NoditMap`] model and, at quiet points (it holds
//!   the writer lock), runs `validate()` and compares the tree with the model and the
//!   readers' region with what it must hold.
//!
//! Panics of the tree are caught and counted as failures: the command reports them and
//! exits 1 rather than dying.

use std::fmt;
use std::ops::RangeInclusive;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fastrand::Rng;
use maple_tree::{RcuMapleTree, TreeKind};
use nodit::interval::ii;
use nodit::{Interval, NoditMap};

/// First index of the readers' region.
pub const READER_BASE: u64 = 1 << 40;
/// Fixed ranges in the readers' region: `[READER_BASE + 64 i, READER_BASE + 64 i + 31]`.
pub const READER_RANGES: u64 = 4096;
/// The writer works inside `[0, WRITER_SPAN)`.
pub const WRITER_SPAN: u64 = 1 << 22;
/// Failure messages kept for the report (the count is always exact).
const KEPT_MESSAGES: usize = 10;

/// Creation and drop counters shared by every entry of one run.
#[derive(Debug, Default)]
pub struct DropCounters {
    created: AtomicU64,
    dropped: AtomicU64,
    double: AtomicU64,
}

impl DropCounters {
    /// Entries created so far (clones included).
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::SeqCst)
    }
    /// Drops so far (a double drop counts twice here and once in [`Self::double`]).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }
    /// Entries dropped a second time.
    pub fn double(&self) -> u64 {
        self.double.load(Ordering::SeqCst)
    }
}

/// A drop-counted entry payload: the range it was stored over and a unique id.
#[derive(Debug)]
pub struct Tracked {
    /// First index of the store that made it.
    pub first: u64,
    /// Last index of the store that made it.
    pub last: u64,
    /// Unique per store; clones share it.
    pub id: u64,
    dropped: AtomicBool,
    counters: &'static DropCounters,
}

impl Tracked {
    /// A new entry for `[first, last]`, counted as a creation.
    pub fn new(first: u64, last: u64, id: u64, counters: &'static DropCounters) -> Box<Self> {
        counters.created.fetch_add(1, Ordering::SeqCst);
        Box::new(Tracked {
            first,
            last,
            id,
            dropped: AtomicBool::new(false),
            counters,
        })
    }
    /// Whether this entry has already been dropped (a reader seeing `true` saw freed data).
    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.counters.created.fetch_add(1, Ordering::SeqCst);
        Tracked {
            first: self.first,
            last: self.last,
            id: self.id,
            dropped: AtomicBool::new(false),
            counters: self.counters,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counters.dropped.fetch_add(1, Ordering::SeqCst);
        if self.dropped.swap(true, Ordering::AcqRel) {
            self.counters.double.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The entry type of the soak tree.
pub type Item = Box<Tracked>;

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// How long the writer runs.
    pub duration: Duration,
    /// Reader threads (at least 1).
    pub readers: usize,
    /// Seed of the writer's operations (readers derive theirs from it).
    pub seed: u64,
    /// Writer operations between quiet-point checks.
    pub quiet_every: u64,
    /// Test hook: the writer overwrites one of the readers' ranges once, which readers and
    /// the quiet-point check must report.
    pub inject_fault: bool,
}

impl SoakConfig {
    /// A run of `duration` with `readers` readers and the default cadence.
    pub fn new(duration: Duration, readers: usize) -> Self {
        SoakConfig {
            duration,
            readers: readers.max(1),
            seed: 1,
            quiet_every: 100_000,
            inject_fault: false,
        }
    }
}

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct SoakReport {
    /// Writer operations (stores, erases, inserts).
    pub ops: u64,
    /// Checked answers and results (reader lookups, iterated ranges, writer results against
    /// the model, quiet-point comparisons).
    pub checks: u64,
    /// `validate()` calls at quiet points (and one at the end).
    pub validations: u64,
    /// Failed checks, validations, drop-count mismatches and caught panics.
    pub failures: u64,
    /// The first few failure messages.
    pub messages: Vec<String>,
    /// Entries created (clones included).
    pub created: u64,
    /// Entry drops.
    pub dropped: u64,
    /// Double drops.
    pub double_drops: u64,
    /// Reader threads.
    pub readers: usize,
    /// Wall time of the whole run, teardown included.
    pub elapsed: Duration,
}

impl SoakReport {
    /// Whether nothing went wrong.
    pub fn ok(&self) -> bool {
        self.failures == 0 && self.double_drops == 0 && self.created == self.dropped
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "soak: {:.1} s, 1 writer + {} reader(s): {} operations, {} checks, {} validations, \
             {} failed; entries created {}, dropped {}, double drops {}: {}",
            self.elapsed.as_secs_f64(),
            self.readers,
            self.ops,
            self.checks,
            self.validations,
            self.failures,
            self.created,
            self.dropped,
            self.double_drops,
            if self.ok() { "ok" } else { "FAILED" }
        )
    }
}

/// Failures seen by any thread.
#[derive(Default)]
struct Faults {
    count: AtomicU64,
    messages: Mutex<Vec<String>>,
}

impl Faults {
    fn report(&self, message: String) {
        self.count.fetch_add(1, Ordering::SeqCst);
        let mut m = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() < KEPT_MESSAGES {
            m.push(message);
        }
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_string())
}

/// The readers' range `i`.
pub fn reader_range(i: u64) -> RangeInclusive<u64> {
    let f = READER_BASE + 64 * i;
    f..=f + 31
}

/// What a lookup of `x` in the readers' region must return: the range holding it and the
/// `(first, last)` of its entry, or `None` for the empty stretch between two ranges.
pub fn reader_expect(x: u64) -> Option<(u64, u64)> {
    let off = x.checked_sub(READER_BASE)?;
    let i = off / 64;
    if i >= READER_RANGES || off % 64 >= 32 {
        return None;
    }
    let r = reader_range(i);
    Some((*r.start(), *r.end()))
}

/// Checks one answer for an index of the readers' region.
pub fn check_reader_answer(x: u64, got: Option<&Tracked>) -> Result<(), String> {
    let want = reader_expect(x);
    let got_r = got.map(|e| (e.first, e.last));
    if got_r != want {
        return Err(format!(
            "readers' region: load({x}) gave {got_r:?}, expected {want:?}"
        ));
    }
    if got.is_some_and(Tracked::is_dropped) {
        return Err(format!(
            "readers' region: load({x}) returned a dropped entry"
        ));
    }
    Ok(())
}

/// Checks a writer-region answer: the range holds `x`, lies inside the range its entry was
/// stored over, and the entry is alive.
pub fn check_writer_answer(
    x: u64,
    range: &RangeInclusive<u64>,
    got: Option<&Tracked>,
) -> Result<(), String> {
    if !range.contains(&x) {
        return Err(format!("load_range({x}) gave {range:?}, which misses {x}"));
    }
    match got {
        Some(e) => {
            if e.is_dropped() {
                return Err(format!(
                    "load_range({x}) returned a dropped entry (id {})",
                    e.id
                ));
            }
            if *range.start() < e.first || *range.end() > e.last {
                return Err(format!(
                    "load_range({x}) gave {range:?} for an entry stored over [{}, {}]",
                    e.first, e.last
                ));
            }
        }
        None => {
            // The first readers' range starts at READER_BASE, so no empty range reaches it.
            if *range.end() >= READER_BASE {
                return Err(format!(
                    "load_range({x}) gave the empty range {range:?} into the readers' region"
                ));
            }
        }
    }
    Ok(())
}

fn reader_loop(
    tree: &RcuMapleTree<Item>,
    stop: &AtomicBool,
    faults: &Faults,
    checks: &AtomicU64,
    seed: u64,
) {
    let mut rng = Rng::with_seed(seed);
    let mut local = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let g = tree.read();
        for _ in 0..64 {
            let x = READER_BASE + rng.u64(..64 * READER_RANGES + 64);
            let e = g.load(x);
            if let Err(m) = check_reader_answer(x, e) {
                faults.report(m);
            }
            let x = rng.u64(..WRITER_SPAN);
            let (r, e) = g.load_range(x);
            if let Err(m) = check_writer_answer(x, &r, e) {
                faults.report(m);
            }
            local += 2;
        }
        // A short walk: each range consistent with its entry (a range a concurrent write moved
        // back over ground already walked is clipped, so it can be a part of the entry's),
        // and each starting after the one before ended.
        let lo = rng.u64(..WRITER_SPAN);
        let mut prev_end: Option<u64> = None;
        for (r, e) in g.range(lo..=lo + 2048).take(64) {
            let at = prev_end.map_or(lo, |p| p + 1).max(*r.start());
            if let Err(m) = check_writer_answer(at, &r, Some(e)) {
                faults.report(format!("iteration: {m}"));
            }
            if prev_end.is_some_and(|p| *r.start() <= p) || *r.end() < lo {
                faults.report(format!(
                    "iteration from {lo}: {r:?} does not start after {prev_end:?}"
                ));
            }
            prev_end = Some(*r.end());
            local += 1;
        }
        drop(g);
        if local >= 1 << 16 {
            checks.fetch_add(local, Ordering::Relaxed);
            local = 0;
        }
    }
    checks.fetch_add(local, Ordering::Relaxed);
}

struct Writer<'a> {
    tree: &'a RcuMapleTree<Item>,
    model: NoditMap<u64, Interval<u64>, u64>,
    rng: Rng,
    next_id: u64,
    counters: &'static DropCounters,
    faults: &'a Faults,
    ops: u64,
    checks: u64,
    validations: u64,
}

impl Writer<'_> {
    fn fresh(&mut self, first: u64, last: u64) -> Item {
        self.next_id += 1;
        Tracked::new(first, last, self.next_id, self.counters)
    }

    fn random_range(&mut self) -> (u64, u64) {
        let len = match self.rng.u32(..100) {
            0..=79 => self.rng.u64(1..=16),
            80..=97 => self.rng.u64(1..=4096),
            _ => self.rng.u64(1..=65536),
        };
        let first = self.rng.u64(..WRITER_SPAN);
        (first, (first + len - 1).min(WRITER_SPAN - 1))
    }

    fn check(&mut self, r: Result<(), String>) {
        self.checks += 1;
        if let Err(m) = r {
            self.faults.report(m);
        }
    }

    fn step(&mut self) {
        let (f, l) = self.random_range();
        let kind = self.rng.u32(..100);
        let mut w = self.tree.write();
        match kind {
            0..=54 => {
                let e = self.fresh(f, l);
                let id = e.id;
                let want = self.model.get_at_point(f).copied();
                let got = w.store_range(f..=l, e).map(|old| old.map(|o| o.id));
                let _ = self.model.insert_overwrite(ii(f, l), id);
                let r = match got {
                    Ok(g) if g == want => Ok(()),
                    other => Err(format!(
                        "store [{f}, {l}] gave {other:?}, expected Ok({want:?})"
                    )),
                };
                drop(w);
                self.check(r);
            }
            55..=79 => {
                let got = w.erase_range(f..=l);
                let _ = self.model.cut(ii(f, l)).count();
                drop(w);
                self.check(got.map_err(|e| format!("erase_range [{f}, {l}] failed: {e:?}")));
            }
            80..=89 => {
                let want = self
                    .model
                    .get_key_value_at_point(f)
                    .ok()
                    .map(|(k, id)| (k.start()..=k.end(), *id));
                let got = w.erase(f).map(|o| o.map(|(r, e)| (r, e.id)));
                if let Some((r, _)) = &want {
                    let _ = self.model.cut(ii(*r.start(), *r.end())).count();
                }
                drop(w);
                self.check(match got {
                    Ok(g) if g == want => Ok(()),
                    other => Err(format!("erase({f}) gave {other:?}, expected Ok({want:?})")),
                });
            }
            _ => {
                let e = self.fresh(f, l);
                let id = e.id;
                let want_ok = !self.model.overlaps(ii(f, l));
                let got = w.insert_range(f..=l, e).map_err(|e| e.error);
                drop(w);
                if got.is_ok() {
                    let _ = self.model.insert_strict(ii(f, l), id);
                }
                self.check(if got.is_ok() == want_ok {
                    Ok(())
                } else {
                    Err(format!(
                        "insert [{f}, {l}] gave {got:?}, expected success: {want_ok}"
                    ))
                });
            }
        }
        self.ops += 1;
    }

    /// Validation and model comparison, holding the writer lock.
    fn quiet_point(&mut self) {
        let w = self.tree.write();
        self.validations += 1;
        if let Err(e) = w.validate() {
            self.faults
                .report(format!("validate after {} operations: {e}", self.ops));
        }
        let tree = &w;
        let mut problems = Vec::new();
        let mut model = self.model.iter();
        for (r, e) in tree.range(0..READER_BASE) {
            match model.next() {
                Some((k, id)) if k.start() == *r.start() && k.end() == *r.end() && *id == e.id => {}
                other => {
                    problems.push(format!(
                        "after {} operations the tree holds {r:?} (id {}), the model {:?}",
                        self.ops,
                        e.id,
                        other.map(|(k, id)| (k.start()..=k.end(), *id))
                    ));
                    break;
                }
            }
        }
        if problems.is_empty() {
            if let Some((k, id)) = model.next() {
                problems.push(format!(
                    "after {} operations the model holds {:?} (id {id}), the tree does not",
                    self.ops,
                    k.start()..=k.end()
                ));
            }
        }
        let readers: Vec<(RangeInclusive<u64>, u64, u64)> = tree
            .range(READER_BASE..)
            .map(|(r, e)| (r, e.first, e.last))
            .collect();
        let intact = readers.len() as u64 == READER_RANGES
            && readers.iter().enumerate().all(|(i, (r, f, l))| {
                let want = reader_range(i as u64);
                *r == want && *f == *want.start() && *l == *want.end()
            });
        if !intact {
            problems.push(format!(
                "after {} operations the readers' region is not the {READER_RANGES} fixed ranges",
                self.ops
            ));
        }
        drop(w);
        self.checks += 2;
        for p in problems {
            self.faults.report(p);
        }
    }
}

/// Runs the soak. Never panics on a tree fault: it is counted and reported.
pub fn run(cfg: &SoakConfig) -> SoakReport {
    let start = Instant::now();
    // Entries must be 'static to live in a shared tree; one small leak per run.
    let counters: &'static DropCounters = Box::leak(Box::default());
    let faults = Faults::default();
    let stop = AtomicBool::new(false);
    let reader_checks = AtomicU64::new(0);
    let readers = cfg.readers.max(1);

    let tree = RcuMapleTree::<Item>::new(TreeKind::Plain);
    let setup = catch_unwind(AssertUnwindSafe(|| {
        let mut w = tree.write();
        for i in 0..READER_RANGES {
            let r = reader_range(i);
            let e = Tracked::new(*r.start(), *r.end(), u64::MAX - i, counters);
            if let Err(e) = w.store_range(r, e) {
                return Err(format!("setting up the readers' region: {e:?}"));
            }
        }
        Ok(())
    }));
    let mut writer = Writer {
        tree: &tree,
        model: NoditMap::new(),
        rng: Rng::with_seed(cfg.seed),
        next_id: 0,
        counters,
        faults: &faults,
        ops: 0,
        checks: 0,
        validations: 0,
    };
    match setup {
        Ok(Ok(())) => {
            std::thread::scope(|s| {
                for r in 0..readers {
                    let (tree, stop, faults, checks) = (&tree, &stop, &faults, &reader_checks);
                    let seed = cfg
                        .seed
                        .wrapping_add(1 + r as u64)
                        .wrapping_mul(0x9E37_79B9);
                    s.spawn(move || {
                        if let Err(p) = catch_unwind(AssertUnwindSafe(|| {
                            reader_loop(tree, stop, faults, checks, seed)
                        })) {
                            faults.report(format!("reader {r} panicked: {}", panic_text(&*p)));
                        }
                    });
                }
                let deadline = start + cfg.duration;
                let result = catch_unwind(AssertUnwindSafe(|| {
                    let mut injected = !cfg.inject_fault;
                    loop {
                        writer.step();
                        if !injected && writer.ops >= 1000 {
                            injected = true;
                            let r = reader_range(READER_RANGES / 2);
                            let e = writer.fresh(*r.start(), *r.end() + 1);
                            let _ = tree.write().store_range(r, e);
                        }
                        if writer.ops.is_multiple_of(cfg.quiet_every.max(1)) {
                            writer.quiet_point();
                        }
                        if writer.ops.is_multiple_of(1024) && Instant::now() >= deadline {
                            break;
                        }
                    }
                    writer.quiet_point();
                }));
                if let Err(p) = result {
                    faults.report(format!(
                        "writer panicked after {} operations: {}",
                        writer.ops,
                        panic_text(&*p)
                    ));
                }
                stop.store(true, Ordering::SeqCst);
            });
        }
        Ok(Err(m)) => faults.report(m),
        Err(p) => faults.report(format!("setup panicked: {}", panic_text(&*p))),
    }
    let (ops, writer_checks, validations) = (writer.ops, writer.checks, writer.validations);
    drop(writer);
    // Dropping the tree drops every entry it holds and every one still waiting for its
    // grace period; only then must creations and drops agree.
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(tree))) {
        faults.report(format!("dropping the tree panicked: {}", panic_text(&*p)));
    }
    let (created, dropped, double) = (counters.created(), counters.dropped(), counters.double());
    if created != dropped {
        faults.report(format!(
            "{created} entries created but {dropped} dropped after the tree was dropped"
        ));
    }
    if double > 0 {
        faults.report(format!("{double} entries dropped twice"));
    }
    SoakReport {
        ops,
        checks: writer_checks + reader_checks.load(Ordering::SeqCst),
        validations,
        failures: faults.count.load(Ordering::SeqCst),
        messages: faults
            .messages
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
        created,
        dropped,
        double_drops: double,
        readers,
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> &'static DropCounters {
        Box::leak(Box::default())
    }

    #[test]
    fn entries_count_creations_clones_and_drops() {
        let c = counters();
        let a = Tracked::new(1, 2, 7, c);
        let b = a.clone();
        assert_eq!((c.created(), c.dropped()), (2, 0));
        drop(a);
        drop(b);
        assert_eq!((c.created(), c.dropped(), c.double()), (2, 2, 0));
    }

    #[test]
    fn reader_answers_are_checked() {
        let c = counters();
        let r = reader_range(3);
        let good = Tracked::new(*r.start(), *r.end(), 1, c);
        assert_eq!(check_reader_answer(*r.start() + 5, Some(&good)), Ok(()));
        assert!(check_reader_answer(*r.start() + 40, Some(&good)).is_err());
        assert_eq!(check_reader_answer(*r.start() + 40, None), Ok(()));
        assert!(check_reader_answer(*r.start(), None).is_err());
        let wrong = Tracked::new(*r.start(), *r.end() + 1, 2, c);
        assert!(check_reader_answer(*r.start(), Some(&wrong)).is_err());
    }

    #[test]
    fn writer_answers_are_checked() {
        let c = counters();
        let e = Tracked::new(10, 20, 1, c);
        assert_eq!(check_writer_answer(12, &(10..=15), Some(&e)), Ok(()));
        assert!(check_writer_answer(16, &(10..=15), Some(&e)).is_err());
        assert!(check_writer_answer(9, &(9..=15), Some(&e)).is_err());
        assert_eq!(check_writer_answer(30, &(21..=99), None), Ok(()));
        assert!(check_writer_answer(30, &(21..=READER_BASE), None).is_err());
    }

    #[test]
    fn a_short_run_is_clean_and_balanced() {
        let mut cfg = SoakConfig::new(Duration::ZERO, 1);
        cfg.quiet_every = 500;
        let r = run(&cfg);
        assert!(r.ok(), "{r}\n{:?}", r.messages);
        assert!(r.ops >= 1024, "{r}");
        assert!(r.validations >= 2, "{r}");
        assert_eq!(r.created, r.dropped);
        assert!(r.created >= READER_RANGES);
    }

    #[test]
    fn an_injected_fault_is_reported() {
        let mut cfg = SoakConfig::new(Duration::ZERO, 1);
        cfg.inject_fault = true;
        cfg.quiet_every = 500;
        let r = run(&cfg);
        assert!(!r.ok());
        assert!(r.failures >= 1);
        assert!(
            r.messages.iter().any(|m| m.contains("readers' region")),
            "{:?}",
            r.messages
        );
        assert_eq!(r.created, r.dropped, "a fault must not leak entries");
    }
}
