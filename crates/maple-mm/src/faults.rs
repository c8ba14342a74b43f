//! Fault-scalability benchmark: N threads fault on their VMAs while one thread keeps
//! changing the address space elsewhere; per-VMA locks versus the single mmap lock.

use crate::fault::{Access, FaultMode};
use crate::flags::*;
use crate::mm::{LockStatsSnapshot, Mm};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Benchmark configuration.
#[derive(Clone, Debug)]
pub struct FaultBenchConfig {
    /// Fault threads.
    pub threads: usize,
    /// Run time per mode.
    pub duration: Duration,
    /// VMAs the fault threads use.
    pub vmas: usize,
    /// Pages per fault VMA.
    pub pages_per_vma: u64,
    /// Whether a writer thread mmaps/mprotects/munmaps elsewhere meanwhile.
    pub writer: bool,
}

impl Default for FaultBenchConfig {
    fn default() -> Self {
        FaultBenchConfig {
            threads: 2,
            duration: Duration::from_millis(500),
            vmas: 64,
            pages_per_vma: 16,
            writer: true,
        }
    }
}

/// Results for one locking mode.
#[derive(Clone, Debug)]
pub struct ModeReport {
    /// Locking mode.
    pub mode: FaultMode,
    /// Faults handled.
    pub faults: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Faults per second (all threads).
    pub faults_per_sec: f64,
    /// Address-space changes made by the writer thread.
    pub writer_ops: u64,
    /// Per-VMA lock counters.
    pub stats: LockStatsSnapshot,
    /// Fraction of faults that took the mmap read lock.
    pub fallback_rate: f64,
    /// Fraction of faults that hit `VM_FAULT_RETRY` under the VMA lock.
    pub retry_rate: f64,
    /// Faults resolved to a VMA other than the one covering the address (must be 0).
    pub wrong_vma: u64,
}

/// Both modes side by side.
#[derive(Clone, Debug)]
pub struct FaultBenchReport {
    /// Configuration used.
    pub config: FaultBenchConfig,
    /// Faults with per-VMA locks.
    pub per_vma: ModeReport,
    /// Faults always under the mmap read lock.
    pub mmap_lock: ModeReport,
}

impl FaultBenchReport {
    /// per-VMA faults/s divided by mmap-lock faults/s.
    pub fn speedup(&self) -> f64 {
        if self.mmap_lock.faults_per_sec > 0.0 {
            self.per_vma.faults_per_sec / self.mmap_lock.faults_per_sec
        } else {
            0.0
        }
    }
}

/// Base of the fault VMAs.
pub const FAULT_BASE: u64 = 0x1000_0000_0000;
/// Base of the writer's scratch area (far from the fault VMAs, so never a neighbour).
pub const WRITER_BASE: u64 = 0x2000_0000_0000;

/// Build the fault VMAs: `n` read-write anonymous VMAs of `pages` pages separated by
/// one-page holes (so they never merge), each pre-touched (has an anon_vma). Returns
/// their start addresses.
pub fn setup_fault_vmas(mm: &Mm, n: usize, pages: u64) -> Vec<u64> {
    let mut starts = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let a = FAULT_BASE + i * (pages + 1) * PAGE_SIZE;
        mm.mmap(
            a,
            pages * PAGE_SIZE,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
            None,
            0,
        )
        .expect("fault vma");
        mm.touch(a).expect("pre-touch");
        starts.push(a);
    }
    starts
}

/// One step of the writer thread: map, change and unmap a few pages in its own area.
pub fn writer_step(mm: &Mm, rng: &mut fastrand::Rng) {
    let a = WRITER_BASE + rng.u64(..64) * PAGE_SIZE;
    let len = rng.u64(1..=8) * PAGE_SIZE;
    let _ = mm.mmap(
        a,
        len,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
        None,
        0,
    );
    let _ = mm.mprotect(
        a,
        PAGE_SIZE,
        if rng.u8(..100) < 50 {
            PROT_READ
        } else {
            PROT_NONE
        },
    );
    let _ = mm.munmap(
        WRITER_BASE + rng.u64(..64) * PAGE_SIZE,
        rng.u64(1..=8) * PAGE_SIZE,
    );
}

fn run_mode(cfg: &FaultBenchConfig, mode: FaultMode) -> ModeReport {
    let mm = Mm::new();
    let starts = setup_fault_vmas(&mm, cfg.vmas.max(1), cfg.pages_per_vma.max(1));
    let ids: Vec<u64> = starts
        .iter()
        .map(|&a| mm.vma_lookup(a).unwrap().id())
        .collect();
    let before = mm.lock_stats();
    let stop = AtomicBool::new(false);
    let faults = AtomicU64::new(0);
    let wrong = AtomicU64::new(0);
    let writer_ops = AtomicU64::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..cfg.threads.max(1) {
            let (mm, starts, ids, stop, faults, wrong) =
                (&mm, &starts, &ids, &stop, &faults, &wrong);
            s.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t as u64 + 1);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        let i = rng.u64(..starts.len() as u64) as usize;
                        let addr = starts[i] + rng.u64(..cfg.pages_per_vma.max(1)) * PAGE_SIZE;
                        let acc = if rng.u8(..100) < 50 {
                            Access::Read
                        } else {
                            Access::Write
                        };
                        match mm.fault_with(addr, acc, mode) {
                            Ok(info)
                                if info.vma_id == ids[i]
                                    && info.start <= addr
                                    && addr < info.end => {}
                            _ => {
                                wrong.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        n += 1;
                    }
                }
                faults.fetch_add(n, Ordering::Relaxed);
            });
        }
        if cfg.writer {
            let (mm, stop, writer_ops) = (&mm, &stop, &writer_ops);
            s.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(0xabcdef);
                while !stop.load(Ordering::Relaxed) {
                    writer_step(mm, &mut rng);
                    writer_ops.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(cfg.duration);
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = t0.elapsed();
    let after = mm.lock_stats();
    let stats = LockStatsSnapshot {
        success: after.success - before.success,
        retry: after.retry - before.retry,
        abort: after.abort - before.abort,
        miss: after.miss - before.miss,
        fallback: after.fallback - before.fallback,
    };
    let n = faults.load(Ordering::Relaxed);
    let fpf = |x: u64| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    ModeReport {
        mode,
        faults: n,
        elapsed,
        faults_per_sec: n as f64 / elapsed.as_secs_f64().max(1e-9),
        writer_ops: writer_ops.load(Ordering::Relaxed),
        fallback_rate: fpf(stats.fallback),
        retry_rate: fpf(stats.retry),
        stats,
        wrong_vma: wrong.load(Ordering::Relaxed),
    }
}

/// Run both modes with the same configuration.
pub fn run(cfg: FaultBenchConfig) -> FaultBenchReport {
    let per_vma = run_mode(&cfg, FaultMode::PerVma);
    let mmap_lock = run_mode(&cfg, FaultMode::MmapLockOnly);
    FaultBenchReport {
        config: cfg,
        per_vma,
        mmap_lock,
    }
}
