//! Faults racing with address-space changes. Every loop is bounded by a count of
//! operations (no timing thresholds).

use maple_mm::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const P: u64 = PAGE_SIZE;
const WRITER_OPS: usize = 2000;
const MIN_FAULTS: u64 = 2000;

#[test]
fn faults_on_untouched_vmas_never_fall_back_nor_get_the_wrong_vma() {
    let mm = Mm::new();
    let starts = faults::setup_fault_vmas(&mm, 16, 8);
    let ids: Vec<u64> = starts
        .iter()
        .map(|&a| mm.vma_lookup(a).unwrap().id())
        .collect();
    let st0 = mm.lock_stats();
    let done = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (mm, starts, ids, done, total) = (&mm, &starts, &ids, &done, &total);
            s.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t);
                let mut n = 0u64;
                while !(done.load(Ordering::Acquire) && n >= MIN_FAULTS) {
                    let i = rng.u64(..starts.len() as u64) as usize;
                    let addr = starts[i] + rng.u64(..8) * P;
                    let acc = if rng.u8(..100) < 50 {
                        Access::Read
                    } else {
                        Access::Write
                    };
                    let info = mm.fault(addr, acc).expect("fault on a mapped RW VMA");
                    assert_eq!(info.vma_id, ids[i], "wrong VMA");
                    assert!(info.start <= addr && addr < info.end);
                    assert_eq!(info.path, FaultPath::VmaLock, "fell back to the mmap lock");
                    n += 1;
                }
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
        let (mm, done) = (&mm, &done);
        s.spawn(move || {
            let mut rng = fastrand::Rng::with_seed(77);
            for _ in 0..WRITER_OPS {
                faults::writer_step(mm, &mut rng);
            }
            done.store(true, Ordering::Release);
        });
    });
    assert!(total.load(Ordering::Relaxed) >= 2 * MIN_FAULTS);
    let st = mm.lock_stats();
    assert_eq!(
        st.fallback, st0.fallback,
        "no fallback after setup (the writer never faults)"
    );
    assert_eq!(st.retry, st0.retry);
    assert_eq!(st.success - st0.success, total.load(Ordering::Relaxed));
    mm.validate().unwrap();
}

#[test]
fn read_locked_vma_is_stable_while_writer_changes_it() {
    let mm = Mm::new();
    let a = 0x1000_0000u64;
    mm.mmap(
        a,
        16 * P,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
        None,
        0,
    )
    .unwrap();
    let done = AtomicBool::new(false);
    let locked = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (mm, done, locked) = (&mm, &done, &locked);
            s.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t + 10);
                let mut n = 0u64;
                while !(done.load(Ordering::Acquire) && n >= 500) {
                    let addr = a + rng.u64(..16) * P;
                    if let Some(g) = mm.lock_vma_under_rcu(addr) {
                        let snap = (g.start(), g.end(), g.flags(), g.pgoff());
                        assert!(g.contains(addr));
                        for _ in 0..20 {
                            std::hint::spin_loop();
                            assert_eq!(
                                (g.start(), g.end(), g.flags(), g.pgoff()),
                                snap,
                                "VMA changed under its read lock"
                            );
                        }
                        assert!(g.is_attached());
                        locked.fetch_add(1, Ordering::Relaxed);
                    } else {
                        // Fallback path must still resolve to a covering VMA or a hole.
                        match mm.fault(addr, Access::Read) {
                            Ok(info) => assert!(info.start <= addr && addr < info.end),
                            Err(e) => assert!(matches!(e, FaultError::MapErr | FaultError::AccErr)),
                        }
                    }
                    n += 1;
                }
            });
        }
        let (mm, done) = (&mm, &done);
        s.spawn(move || {
            let mut rng = fastrand::Rng::with_seed(5);
            for _ in 0..WRITER_OPS {
                let off = rng.u64(..16) * P;
                let len = rng.u64(1..=4) * P;
                match rng.u64(..3) {
                    0 => {
                        let _ = mm.mprotect(
                            a + off,
                            len,
                            if rng.u8(..100) < 50 {
                                PROT_READ
                            } else {
                                PROT_READ | PROT_WRITE
                            },
                        );
                    }
                    1 => {
                        let _ = mm.munmap(a + off, len);
                    }
                    _ => {
                        let _ = mm.mmap(
                            a + off,
                            len,
                            PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                            None,
                            0,
                        );
                    }
                }
            }
            done.store(true, Ordering::Release);
        });
    });
    mm.validate().unwrap();
    assert!(locked.load(Ordering::Relaxed) > 0 || mm.lock_stats().abort > 0);
}

#[test]
fn faults_racing_with_unmap_resolve_to_covering_vma_or_maperr() {
    let mm = Mm::new();
    let a = 0x1000_0000u64;
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (mm2, done2) = (&mm, &done);
        s.spawn(move || {
            let mut rng = fastrand::Rng::with_seed(3);
            let mut n = 0u64;
            while !(done2.load(Ordering::Acquire) && n >= MIN_FAULTS) {
                let addr = a + rng.u64(..8) * P;
                match mm2.fault(addr, Access::Write) {
                    Ok(info) => assert!(info.start <= addr && addr < info.end),
                    Err(e) => assert!(matches!(e, FaultError::MapErr | FaultError::AccErr)),
                }
                n += 1;
            }
        });
        let (mm3, done3) = (&mm, &done);
        s.spawn(move || {
            let (mm, done) = (mm3, done3);
            for i in 0..WRITER_OPS as u64 {
                let prot = if i % 3 == 0 {
                    PROT_READ
                } else {
                    PROT_READ | PROT_WRITE
                };
                mm.mmap(
                    a,
                    8 * P,
                    prot,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                    None,
                    0,
                )
                .unwrap();
                mm.munmap(a + (i % 8) * P, P).unwrap();
            }
            done.store(true, Ordering::Release);
        });
    });
    mm.validate().unwrap();
}

#[test]
fn fork_while_faulting_keeps_both_sides_consistent() {
    let mm = Mm::new();
    let starts = faults::setup_fault_vmas(&mm, 8, 4);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (mm2, starts2, done2) = (&mm, &starts, &done);
        s.spawn(move || {
            let mut rng = fastrand::Rng::with_seed(9);
            let mut n = 0u64;
            while !(done2.load(Ordering::Acquire) && n >= 500) {
                let addr = starts2[rng.u64(..8) as usize];
                let info = mm2.fault(addr, Access::Write).unwrap();
                assert!(info.start <= addr && addr < info.end);
                n += 1;
            }
        });
        let (mm3, done3) = (&mm, &done);
        s.spawn(move || {
            let (mm, done) = (mm3, done3);
            for i in 0..60 {
                let c = mm.fork(ForkStrategy::ALL[i % 3]).unwrap();
                c.validate().unwrap();
                assert_eq!(c.map_count(), 8);
                c.exit();
            }
            done.store(true, Ordering::Release);
        });
    });
    mm.validate().unwrap();
}
