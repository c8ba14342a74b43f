//! The modules the CLI drives: spawn layouts and the fault benchmark.

use maple_mm::*;
use std::time::Duration;

#[test]
fn spawn_layout_has_21_plus_extra_unmerged_vmas() {
    for extra in [0usize, 1, 100, 1000] {
        let mm = spawn::build_layout(extra);
        assert_eq!(mm.map_count(), spawn::BASE_VMAS + extra);
        mm.validate().unwrap();
        let extra_vmas: Vec<_> = mm
            .vmas()
            .into_iter()
            .filter(|v| v.file().is_none() && v.len() == spawn::EXTRA_PAGES * PAGE_SIZE)
            .collect();
        assert_eq!(extra_vmas.len(), extra);
        for w in extra_vmas.windows(2) {
            assert_ne!(
                w[0].flags() & VmFlags::WRITE,
                w[1].flags() & VmFlags::WRITE,
                "neighbours alternate"
            );
        }
        for s in ForkStrategy::ALL {
            let c = mm.fork(s).unwrap();
            assert_eq!(c.map_count(), spawn::BASE_VMAS + extra);
            c.exit();
        }
    }
}

#[test]
fn fault_bench_reports_both_modes() {
    let cfg = faults::FaultBenchConfig {
        threads: 2,
        duration: Duration::from_millis(100),
        vmas: 8,
        pages_per_vma: 4,
        writer: true,
    };
    let r = faults::run(cfg);
    for m in [&r.per_vma, &r.mmap_lock] {
        assert!(m.faults > 0);
        assert_eq!(m.wrong_vma, 0);
        assert!(m.faults_per_sec > 0.0);
    }
    assert_eq!(r.per_vma.mode, FaultMode::PerVma);
    assert_eq!(
        r.per_vma.stats.fallback, 0,
        "fault VMAs are never write-locked by the writer"
    );
    assert_eq!(r.per_vma.fallback_rate, 0.0);
    assert_eq!(r.mmap_lock.stats.fallback, r.mmap_lock.faults);
    assert_eq!(r.mmap_lock.fallback_rate, 1.0);
    assert!(r.speedup() > 0.0);
}
