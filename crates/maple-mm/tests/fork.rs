//! fork: the three strategies build identical children; failure at every VMA is cleaned
//! up exactly; the parent is never changed.

use maple_mm::*;
use std::sync::Arc;

const P: u64 = PAGE_SIZE;

/// A random address space: anonymous and file mappings, holes, protections, touches,
/// fork-related advice and locked mappings.
fn random_mm(seed: u64) -> Mm {
    let mm = Mm::new();
    let mut rng = fastrand::Rng::with_seed(seed);
    let files = [
        File::new("/lib/a.so", true, true),
        File::new("/lib/b.so", true, false),
    ];
    let lo = 0x1000_0000u64;
    for _ in 0..300 {
        let a = lo + rng.u64(..2048) * P;
        let len = rng.u64(1..=32) * P;
        let prot =
            [PROT_NONE, PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE][rng.u64(..4) as usize];
        match rng.u64(..10) {
            0..=2 => {
                let extra = if rng.u8(..100) < 10 { MAP_LOCKED } else { 0 };
                let _ = mm.mmap(
                    a,
                    len,
                    prot,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | extra,
                    None,
                    0,
                );
            }
            3 => {
                let f = &files[rng.u64(..2) as usize];
                let ty = if rng.u8(..100) < 50 {
                    MAP_SHARED
                } else {
                    MAP_PRIVATE
                };
                let _ = mm.mmap(
                    a,
                    len,
                    prot & !PROT_WRITE,
                    ty | MAP_FIXED,
                    Some(f),
                    rng.u64(..64) * P,
                );
            }
            4 => {
                let _ = mm.munmap(a, len);
            }
            5 => {
                let _ = mm.mprotect(a, len, prot);
            }
            6 => {
                let adv = [MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK]
                    [rng.u64(..4) as usize];
                let _ = mm.madvise(a, len, adv);
            }
            _ => {
                let _ = mm.touch(a);
            }
        }
    }
    mm.validate().unwrap();
    mm
}

fn view(mm: &Mm) -> (Vec<VmaInfo>, MmCounters) {
    (mm.vma_infos(), mm.counters())
}

/// What the kernel's dup_mmap makes of the parent.
fn expected_child(parent: &Mm) -> Vec<VmaInfo> {
    parent
        .vmas()
        .iter()
        .filter(|v| !v.flags().contains(VmFlags::DONTCOPY))
        .map(|v| {
            let mut i = v.info();
            i.flags &= !VmFlags::LOCKED_MASK;
            i.anon = if v.flags().contains(VmFlags::WIPEONFORK) {
                None
            } else {
                v.anon_vma().map(|a| AnonInfo {
                    chain_len: a.chain_len() + 1,
                    parent: Some(a.id()),
                })
            };
            i
        })
        .collect()
}

fn check_strategies_agree(parent: &Mm) {
    let before = view(parent);
    let expect = expected_child(parent);
    let mut children = Vec::new();
    for s in ForkStrategy::ALL {
        let c = parent.fork(s).unwrap();
        c.validate().unwrap_or_else(|e| panic!("{}: {e}", s.name()));
        assert_eq!(c.vma_infos(), expect, "{} child layout", s.name());
        let cc = c.counters();
        assert_eq!(cc.locked_vm, 0, "mlock is not inherited");
        assert_eq!(cc.map_count, expect.len());
        assert!(c.vmas().iter().all(|v| v.mm_id() == c.id()));
        children.push(view(&c));
        assert_eq!(view(parent), before, "parent unchanged by {}", s.name());
    }
    assert_eq!(children[0], children[1], "rebuild == dup");
    assert_eq!(children[1], children[2], "dup == dup_map");
    parent.validate().unwrap();
}

#[test]
fn strategies_agree_on_random_layouts() {
    for seed in 0..12 {
        let mm = random_mm(seed);
        assert!(mm.map_count() > 10);
        check_strategies_agree(&mm);
    }
}

#[test]
fn strategies_agree_on_spawn_layout() {
    let mm = spawn::build_layout(400);
    assert_eq!(mm.map_count(), 421);
    check_strategies_agree(&mm);
}

#[cfg(target_os = "linux")]
#[test]
fn strategies_agree_on_proc_self_maps() {
    let text = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mm = Mm::from_proc_maps(&text).unwrap();
    assert!(mm.map_count() > 5);
    check_strategies_agree(&mm);
}

#[test]
fn wipeonfork_child_gets_fresh_anon_memory() {
    let mm = Mm::new();
    let a = mm
        .mmap(
            0x1000_0000,
            4 * P,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
            None,
            0,
        )
        .unwrap();
    mm.touch(a).unwrap();
    mm.madvise(a, 2 * P, MADV_WIPEONFORK).unwrap();
    mm.madvise(a + 3 * P, P, MADV_DONTFORK).unwrap();
    assert_eq!(mm.map_count(), 3);
    for s in ForkStrategy::ALL {
        let c = mm.fork(s).unwrap();
        assert_eq!(c.map_count(), 2, "DONTCOPY range is a hole in the child");
        assert!(c.vma_lookup(a + 3 * P).is_none());
        assert!(c.vma_lookup(a).unwrap().anon_vma().is_none(), "wiped");
        let kept = c.vma_lookup(a + 2 * P).unwrap().anon_vma().unwrap();
        let orig = mm.vma_lookup(a + 2 * P).unwrap().anon_vma().unwrap();
        assert_eq!(kept.parent().unwrap().id(), orig.id());
        assert_eq!(c.counters().total_vm, 3);
        assert_eq!(c.counters().committed, 3);
        c.touch(a).unwrap();
        assert!(c.vma_lookup(a).unwrap().anon_vma().is_some());
        c.exit();
    }
}

/// 100 VMAs: the spawn base layout plus 79 mappings, two of them DONTCOPY, some touched.
fn hundred_vmas() -> Mm {
    let mm = spawn::build_layout(79);
    let v = mm.vmas();
    mm.madvise(v[30].start(), v[30].len(), MADV_DONTFORK)
        .unwrap();
    mm.madvise(v[60].start(), v[60].len(), MADV_DONTFORK)
        .unwrap();
    for i in [10, 40, 41, 70] {
        if v[i].flags().contains(VmFlags::WRITE) {
            mm.touch(v[i].start()).unwrap();
        }
    }
    assert_eq!(mm.map_count(), 100);
    mm
}

#[test]
fn fork_failure_at_every_vma_every_strategy() {
    let parent = hundred_vmas();
    let before = view(&parent);
    let pv = parent.vmas();
    for s in ForkStrategy::ALL {
        for k in 0..=pv.len() {
            let tracker = VmaTracker::new();
            let opts = ForkOptions {
                fail_at: Some(k),
                tracker: Some(tracker.clone()),
            };
            let r = parent.fork_with(s, &opts);
            let copied = pv[..k.min(pv.len())]
                .iter()
                .filter(|v| !v.flags().contains(VmFlags::DONTCOPY))
                .count();
            if k == pv.len() {
                let child = r.expect("no failure point");
                assert_eq!(child.map_count(), copied);
                child.exit();
            } else {
                assert_eq!(r.err(), Some(MmError::NoMem), "{} k={k}", s.name());
            }
            for (i, v) in pv.iter().enumerate() {
                let want = if i < k && !v.flags().contains(VmFlags::DONTCOPY) {
                    [1, 1, 1]
                } else {
                    [0, 0, 0]
                };
                assert_eq!(
                    tracker.counts(v.start()),
                    want,
                    "{} k={k} vma {i}",
                    s.name()
                );
            }
            assert_eq!(tracker.copies(), copied);
            assert_eq!(
                tracker.removals(),
                copied,
                "each copy released exactly once"
            );
            assert_eq!(tracker.drops(), copied);
            assert_eq!(
                view(&parent),
                before,
                "parent unchanged ({} k={k})",
                s.name()
            );
            for v in &pv {
                assert_eq!(
                    Arc::strong_count(v),
                    2,
                    "only the parent tree (and this test) hold it"
                );
                assert!(v.is_attached());
            }
        }
        parent.validate().unwrap();
        // Parent VMA write locks were released with the parent's mmap lock.
        for v in &pv {
            assert!(parent.lock_vma_under_rcu(v.start()).is_some());
        }
    }
}

#[test]
fn fork_commit_limit_failure_is_cleaned_up() {
    let parent = spawn::build_layout(20);
    // Child charges are counted against a tiny limit: fails part-way.
    parent.set_commit_limit(Some(parent.counters().committed + 20));
    for s in ForkStrategy::ALL {
        let tracker = VmaTracker::new();
        let opts = ForkOptions {
            fail_at: None,
            tracker: Some(tracker.clone()),
        };
        let r = parent.fork_with(s, &opts);
        assert_eq!(r.err(), Some(MmError::NoMem), "{}", s.name());
        assert!(tracker.copies() > 0);
        assert_eq!(tracker.removals(), tracker.copies());
        assert_eq!(tracker.drops(), tracker.copies());
    }
    parent.validate().unwrap();
}

#[test]
fn fork_success_releases_child_vmas_on_exit() {
    let parent = random_mm(99);
    for s in ForkStrategy::ALL {
        let tracker = VmaTracker::new();
        let opts = ForkOptions {
            fail_at: None,
            tracker: Some(tracker.clone()),
        };
        let child = parent.fork_with(s, &opts).unwrap();
        let n = child.map_count();
        assert_eq!(tracker.copies(), n);
        assert_eq!(tracker.drops(), 0);
        drop(child.vmas());
        child.exit();
        assert_eq!(tracker.removals(), n);
        assert_eq!(tracker.drops(), n);
    }
}
