//! Semantics of the address-space operations: placement, merges, splits, accounting and
//! error codes.

use maple_mm::*;

const P: u64 = PAGE_SIZE;
const ANON: i32 = MAP_PRIVATE | MAP_ANONYMOUS;
const RW: i32 = PROT_READ | PROT_WRITE;

fn ok(mm: &Mm) {
    mm.validate().unwrap();
}

fn ranges(mm: &Mm) -> Vec<(u64, u64)> {
    mm.vmas().iter().map(|v| (v.start(), v.end())).collect()
}

#[test]
fn topdown_placement_and_merge() {
    let mm = Mm::new();
    let base = mm.layout().mmap_base;
    let a = mm.mmap(0, 10 * P, RW, ANON, None, 0).unwrap();
    assert_eq!(a, base - 10 * P);
    let b = mm.mmap(0, 10 * P, RW, ANON, None, 0).unwrap();
    assert_eq!(b, a - 10 * P, "placed directly below");
    assert_eq!(mm.map_count(), 1, "same flags, contiguous pgoff: merged");
    assert_eq!(ranges(&mm), vec![(b, a + 10 * P)]);
    let v = mm.vma_lookup(b).unwrap();
    assert_eq!(v.pgoff(), b >> PAGE_SHIFT);
    assert_eq!(
        v.flags(),
        VmFlags::READ
            | VmFlags::WRITE
            | VmFlags::MAYREAD
            | VmFlags::MAYWRITE
            | VmFlags::MAYEXEC
            | VmFlags::ACCOUNT
    );
    let c = mm.counters();
    assert_eq!((c.total_vm, c.data_vm, c.committed), (20, 20, 20));
    ok(&mm);
}

#[test]
fn alternating_protections_do_not_merge() {
    let mm = Mm::new();
    for i in 0..10 {
        let prot = if i % 2 == 1 { PROT_READ } else { PROT_WRITE };
        mm.mmap(0, 10 * P, prot, ANON, None, 0).unwrap();
    }
    assert_eq!(mm.map_count(), 10);
    let c = mm.counters();
    assert_eq!(c.committed, 50, "only the writable half is accounted");
    ok(&mm);
}

#[test]
fn mmap_error_codes() {
    let mm = Mm::new();
    assert_eq!(mm.mmap(0, 0, RW, ANON, None, 0), Err(MmError::Inval));
    assert_eq!(
        mm.mmap(0x10000123, P, RW, ANON | MAP_FIXED, None, 0),
        Err(MmError::Inval)
    );
    assert_eq!(
        mm.mmap(0, P, RW, MAP_ANONYMOUS, None, 0),
        Err(MmError::Inval),
        "no map type"
    );
    assert_eq!(
        mm.mmap(0, P, RW, ANON, None, 5),
        Err(MmError::Inval),
        "unaligned offset"
    );
    assert_eq!(mm.mmap(0, P, RW, MAP_PRIVATE, None, 0), Err(MmError::BadF));
    assert_eq!(
        mm.mmap(0, u64::MAX - 100, RW, ANON, None, 0),
        Err(MmError::NoMem),
        "length overflow"
    );
    assert_eq!(
        mm.mmap(0, 1 << 48, RW, ANON, None, 0),
        Err(MmError::NoMem),
        "longer than TASK_SIZE"
    );
    let ts = mm.layout().task_size;
    assert_eq!(
        mm.mmap(ts - P, 2 * P, RW, ANON | MAP_FIXED, None, 0),
        Err(MmError::NoMem)
    );
    assert_eq!(
        mm.mmap(0x1000, P, RW, ANON | MAP_FIXED, None, 0),
        Err(MmError::Perm)
    );
    let a = mm
        .mmap(0x1000_0000, 4 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(
        mm.mmap(a + P, P, RW, ANON | MAP_FIXED_NOREPLACE, None, 0),
        Err(MmError::Exist)
    );
    let ro = File::new("/ro", true, false);
    assert_eq!(
        mm.mmap(0, P, RW, MAP_SHARED, Some(&ro), 0),
        Err(MmError::Access)
    );
    let wo = File::new("/wo", false, true);
    assert_eq!(
        mm.mmap(0, P, PROT_READ, MAP_PRIVATE, Some(&wo), 0),
        Err(MmError::Access)
    );
    assert_eq!(MmError::Exist.errno(), -17);
    assert_eq!(MmError::from_errno(-12), Some(MmError::NoMem));
    assert_eq!(mm.map_count(), 1);
    ok(&mm);
}

#[test]
fn hint_is_honoured_when_free() {
    let mm = Mm::new();
    let a = mm.mmap(0x4000_0000, 3 * P, RW, ANON, None, 0).unwrap();
    assert_eq!(a, 0x4000_0000);
    let b = mm
        .mmap(0x4000_0000, 3 * P, PROT_READ, ANON, None, 0)
        .unwrap();
    assert_ne!(b, a, "occupied hint falls back to the search");
    let c = mm.mmap(0x100, P, PROT_READ, ANON, None, 0).unwrap();
    assert!(c >= mm.layout().mmap_min_addr);
    ok(&mm);
}

#[test]
fn map_fixed_replaces_and_merges() {
    let mm = Mm::new();
    let a = 0x1000_0000;
    mm.mmap(a, 10 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    mm.mmap(a + 3 * P, 2 * P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(
        ranges(&mm),
        vec![
            (a, a + 3 * P),
            (a + 3 * P, a + 5 * P),
            (a + 5 * P, a + 10 * P)
        ]
    );
    assert_eq!(mm.counters().committed, 8);
    // Putting the same protection back merges all three.
    mm.mmap(a + 3 * P, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(ranges(&mm), vec![(a, a + 10 * P)]);
    assert_eq!(mm.counters().committed, 10);
    ok(&mm);
}

#[test]
fn munmap_splits_and_accounts() {
    let mm = Mm::new();
    let a = 0x1000_0000;
    mm.mmap(a, 10 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    mm.munmap(a + 4 * P, 2 * P).unwrap();
    assert_eq!(ranges(&mm), vec![(a, a + 4 * P), (a + 6 * P, a + 10 * P)]);
    let hi = mm.vma_lookup(a + 6 * P).unwrap();
    assert_eq!(hi.pgoff(), (a >> PAGE_SHIFT) + 6, "pgoff stays invariant");
    let c = mm.counters();
    assert_eq!(
        (c.map_count, c.total_vm, c.committed, c.data_vm),
        (2, 8, 8, 8)
    );
    assert_eq!(mm.munmap(a + 1, P), Err(MmError::Inval));
    assert_eq!(mm.munmap(a, 0), Err(MmError::Inval));
    assert_eq!(
        mm.munmap(0x7000_0000, P),
        Ok(()),
        "unmapping a hole is fine"
    );
    mm.munmap(a, 10 * P).unwrap();
    assert_eq!(mm.map_count(), 0);
    assert_eq!(mm.counters(), MmCounters::default());
    ok(&mm);
}

#[test]
fn map_count_limit_where_the_kernel_checks() {
    let mm = Mm::new();
    mm.set_max_map_count(3);
    let base = 0x1000_0000;
    for i in 0..3 {
        let prot = if i % 2 == 0 { PROT_READ } else { RW };
        mm.mmap(base + i * 4 * P, 4 * P, prot, ANON | MAP_FIXED, None, 0)
            .unwrap();
    }
    assert_eq!(mm.map_count(), 3);
    // do_mmap checks map_count > limit: at the limit one more mapping is allowed.
    mm.mmap(base + 20 * P, P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.map_count(), 4);
    assert_eq!(
        mm.mmap(base + 30 * P, P, PROT_READ, ANON | MAP_FIXED, None, 0),
        Err(MmError::NoMem)
    );
    // munmap punching a hole (net +1) needs map_count < limit.
    assert_eq!(mm.munmap(base + P, P), Err(MmError::NoMem));
    // Trimming one end is allowed even at the limit.
    mm.munmap(base, P).unwrap();
    // mprotect splits check map_count >= limit.
    assert_eq!(mm.map_count(), 4);
    mm.set_max_map_count(4);
    assert_eq!(mm.mprotect(base + 2 * P, P, RW), Err(MmError::NoMem));
    mm.set_max_map_count(DEFAULT_MAX_MAP_COUNT);
    assert_eq!(mm.layout().max_map_count, 65_530);
    ok(&mm);
}

#[test]
fn mprotect_splits_merges_and_errors() {
    let mm = Mm::new();
    let a = 0x1000_0000;
    mm.mmap(a, 10 * P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    mm.mprotect(a + 4 * P, 2 * P, RW).unwrap();
    assert_eq!(mm.map_count(), 3);
    assert_eq!(
        mm.counters().committed,
        2,
        "becoming writable charges the pages"
    );
    mm.mprotect(a + 4 * P, 2 * P, PROT_READ).unwrap();
    assert_eq!(
        mm.map_count(),
        1,
        "untouched: VmFlags::ACCOUNT dropped, all three merge"
    );
    assert_eq!(mm.counters().committed, 0);
    // A touched VMA keeps VM_ACCOUNT, so it no longer matches its neighbours.
    mm.mprotect(a + 4 * P, 2 * P, RW).unwrap();
    mm.touch(a + 4 * P).unwrap();
    mm.mprotect(a + 4 * P, 2 * P, PROT_READ).unwrap();
    assert_eq!(mm.map_count(), 3);
    assert_eq!(mm.counters().committed, 2);
    // Errors.
    assert_eq!(mm.mprotect(a + 1, P, RW), Err(MmError::Inval));
    assert_eq!(mm.mprotect(a, 0, RW), Ok(()));
    assert_eq!(mm.mprotect(a, P, 0x10), Err(MmError::Inval));
    assert_eq!(mm.mprotect(0x2000_0000, P, RW), Err(MmError::NoMem));
    // Partial mprotect across a hole: the mapped prefix is changed, then -ENOMEM.
    mm.mmap(a + 12 * P, 2 * P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(
        mm.mprotect(a + 8 * P, 6 * P, PROT_NONE),
        Err(MmError::NoMem)
    );
    assert!(!mm
        .vma_lookup(a + 8 * P)
        .unwrap()
        .flags()
        .intersects(VmFlags::ACCESS));
    assert_eq!(
        mm.vma_lookup(a + 12 * P).unwrap().flags() & VmFlags::READ,
        VmFlags::READ
    );
    // VM_MAYWRITE missing → -EACCES.
    let ro = File::new("/etc/ro", true, false);
    let f = mm
        .mmap(0, 2 * P, PROT_READ, MAP_SHARED, Some(&ro), 0)
        .unwrap();
    assert_eq!(mm.mprotect(f, P, RW), Err(MmError::Access));
    ok(&mm);
}

#[test]
fn file_mappings_merge_on_contiguous_offsets() {
    let mm = Mm::new();
    let f = File::new("/lib/x.so", true, true);
    let g = File::new("/lib/y.so", true, true);
    let a = 0x1000_0000;
    mm.mmap(a, 2 * P, PROT_READ, MAP_PRIVATE | MAP_FIXED, Some(&f), 0)
        .unwrap();
    mm.mmap(
        a + 2 * P,
        2 * P,
        PROT_READ,
        MAP_PRIVATE | MAP_FIXED,
        Some(&f),
        2 * P,
    )
    .unwrap();
    assert_eq!(mm.map_count(), 1, "same file, contiguous offset");
    mm.mmap(
        a + 4 * P,
        2 * P,
        PROT_READ,
        MAP_PRIVATE | MAP_FIXED,
        Some(&f),
        10 * P,
    )
    .unwrap();
    assert_eq!(mm.map_count(), 2, "offset jump");
    mm.mmap(
        a + 6 * P,
        2 * P,
        PROT_READ,
        MAP_PRIVATE | MAP_FIXED,
        Some(&g),
        12 * P,
    )
    .unwrap();
    assert_eq!(mm.map_count(), 3, "other file");
    mm.mmap(a + 8 * P, 2 * P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.map_count(), 4, "anonymous next to a file");
    let s1 = mm
        .mmap(
            0x2000_0000,
            P,
            RW,
            MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
            None,
            0,
        )
        .unwrap();
    mm.mmap(
        s1 + P,
        P,
        RW,
        MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
        None,
        0,
    )
    .unwrap();
    assert_eq!(
        mm.map_count(),
        6,
        "shared anonymous mappings each get their own shmem file"
    );
    assert!(!mm
        .vma_lookup(s1)
        .unwrap()
        .flags()
        .contains(VmFlags::ACCOUNT));
    ok(&mm);
}

#[test]
fn anon_vma_compatibility_decides_merges() {
    // Two touched VMAs have different anon_vmas: filling the hole merges only one side.
    let mm = Mm::new();
    let a = 0x1000_0000;
    mm.mmap(a, 2 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    mm.mmap(a + 4 * P, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    mm.touch(a).unwrap();
    mm.touch(a + 4 * P).unwrap();
    let (x, y) = (mm.vma_lookup(a).unwrap(), mm.vma_lookup(a + 4 * P).unwrap());
    assert!(!std::sync::Arc::ptr_eq(
        &x.anon_vma().unwrap(),
        &y.anon_vma().unwrap()
    ));
    mm.mmap(a + 2 * P, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(ranges(&mm), vec![(a, a + 4 * P), (a + 4 * P, a + 6 * P)]);
    // Untouched: all three merge.
    let mm2 = Mm::new();
    mm2.mmap(a, 2 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    mm2.mmap(a + 4 * P, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    mm2.mmap(a + 2 * P, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm2.map_count(), 1);
    // A neighbour's singular anon_vma is reused by the first touch (find_mergeable_anon_vma).
    let mm3 = Mm::new();
    mm3.mmap(a, 2 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    mm3.mmap(a + 2 * P, 2 * P, PROT_WRITE, ANON | MAP_FIXED, None, 0)
        .unwrap();
    mm3.touch(a).unwrap();
    mm3.touch(a + 2 * P).unwrap();
    let (x, y) = (
        mm3.vma_lookup(a).unwrap(),
        mm3.vma_lookup(a + 2 * P).unwrap(),
    );
    assert!(std::sync::Arc::ptr_eq(
        &x.anon_vma().unwrap(),
        &y.anon_vma().unwrap()
    ));
    mm3.mprotect(a + 2 * P, 2 * P, RW).unwrap();
    assert_eq!(mm3.map_count(), 1, "same anon_vma: merge");
    ok(&mm);
    ok(&mm3);
}

#[test]
fn fork_child_anon_vma_blocks_merge() {
    let mm = Mm::new();
    let a = 0x1000_0000;
    mm.mmap(a, 2 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    mm.touch(a).unwrap();
    let child = mm.fork(ForkStrategy::Dup).unwrap();
    let v = child.vma_lookup(a).unwrap();
    assert_eq!(v.anon_vma().unwrap().chain_len(), 2);
    // A fresh neighbour cannot merge with a fork child's VMA (is_mergeable_anon_vma case 2).
    child
        .mmap(a + 2 * P, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(child.map_count(), 2);
    // In the parent it merges.
    mm.mmap(a + 2 * P, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.map_count(), 1);
    ok(&child);
    ok(&mm);
}

#[test]
fn madvise_fork_flags() {
    let mm = Mm::new();
    let a = 0x1000_0000;
    mm.mmap(a, 10 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    mm.madvise(a + 2 * P, 2 * P, MADV_DONTFORK).unwrap();
    assert_eq!(mm.map_count(), 3);
    assert!(mm
        .vma_lookup(a + 2 * P)
        .unwrap()
        .flags()
        .contains(VmFlags::DONTCOPY));
    mm.madvise(a + 2 * P, 2 * P, MADV_DOFORK).unwrap();
    assert_eq!(mm.map_count(), 1);
    mm.madvise(a, 10 * P, MADV_WIPEONFORK).unwrap();
    assert!(mm
        .vma_lookup(a)
        .unwrap()
        .flags()
        .contains(VmFlags::WIPEONFORK));
    mm.madvise(a, 10 * P, MADV_KEEPONFORK).unwrap();
    assert!(!mm
        .vma_lookup(a)
        .unwrap()
        .flags()
        .contains(VmFlags::WIPEONFORK));
    // Hole: applied to the mapped part, then -ENOMEM.
    mm.mmap(a + 12 * P, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(
        mm.madvise(a + 8 * P, 6 * P, MADV_DONTFORK),
        Err(MmError::NoMem)
    );
    assert!(mm
        .vma_lookup(a + 12 * P)
        .unwrap()
        .flags()
        .contains(VmFlags::DONTCOPY));
    assert!(mm
        .vma_lookup(a + 8 * P)
        .unwrap()
        .flags()
        .contains(VmFlags::DONTCOPY));
    // WIPEONFORK needs private anonymous memory.
    let s = mm
        .mmap(
            0x2000_0000,
            P,
            RW,
            MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
            None,
            0,
        )
        .unwrap();
    assert_eq!(mm.madvise(s, P, MADV_WIPEONFORK), Err(MmError::Inval));
    assert_eq!(mm.madvise(a + 1, P, MADV_DONTFORK), Err(MmError::Inval));
    assert_eq!(mm.madvise(a, P, 12345), Err(MmError::Inval));
    assert_eq!(mm.madvise(a, 0, MADV_DONTFORK), Ok(()));
    assert_eq!(
        mm.madvise(0x3000_0000, P, MADV_DONTFORK),
        Err(MmError::NoMem)
    );
    ok(&mm);
}

#[test]
fn brk_grows_merges_and_shrinks() {
    let mm = Mm::new();
    let start = mm.brk_value();
    assert_eq!(mm.brk(start - P), start, "below start_brk: unchanged");
    assert_eq!(mm.brk(start + 3 * P), start + 3 * P);
    assert_eq!(mm.brk(start + 5 * P + 17), start + 5 * P + 17);
    assert_eq!(mm.map_count(), 1, "growth extends the brk VMA");
    assert_eq!(ranges(&mm), vec![(start, start + 6 * P)]);
    let c = mm.counters();
    assert_eq!((c.total_vm, c.data_vm, c.committed), (6, 6, 6));
    assert_eq!(mm.brk(start + P), start + P);
    assert_eq!(ranges(&mm), vec![(start, start + P)]);
    // Growing into another mapping fails and keeps the old break.
    mm.mmap(start + 4 * P, P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.brk(start + 10 * P), start + P);
    mm.set_commit_limit(Some(mm.counters().committed));
    assert_eq!(mm.brk(start + 2 * P), start + P, "commit limit");
    ok(&mm);
}

#[test]
fn commit_limit_fails_mmap_and_mprotect() {
    let mm = Mm::new();
    mm.set_commit_limit(Some(4));
    let a = 0x1000_0000;
    mm.mmap(a, 4 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    assert_eq!(
        mm.mmap(a + 8 * P, P, RW, ANON | MAP_FIXED, None, 0),
        Err(MmError::NoMem)
    );
    mm.mmap(a + 8 * P, P, RW, ANON | MAP_FIXED | MAP_NORESERVE, None, 0)
        .unwrap();
    mm.mmap(a + 10 * P, P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.mprotect(a + 10 * P, P, RW), Err(MmError::NoMem));
    // Replacing accounted memory transfers its charge.
    mm.mmap(a, 4 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    assert_eq!(mm.counters().committed, 4);
    ok(&mm);
}

#[test]
fn stack_guard_gap_and_thp_alignment() {
    let mm = Mm::new();
    let base = mm.layout().mmap_base;
    let gap = mm.layout().stack_guard_gap;
    let s = mm
        .mmap(
            base - 8 * P,
            8 * P,
            RW,
            ANON | MAP_FIXED | MAP_GROWSDOWN,
            None,
            0,
        )
        .unwrap();
    assert!(mm
        .vma_lookup(s)
        .unwrap()
        .flags()
        .contains(VmFlags::GROWSDOWN));
    let a = mm.mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
    assert!(a + 4 * P <= s - gap, "placement keeps the stack guard gap");
    assert_eq!(a + 4 * P, s - gap);
    let h = mm.mmap(0, PMD_SIZE, RW, ANON, None, 0).unwrap();
    assert_eq!(
        h % PMD_SIZE,
        0,
        "PMD-multiple anonymous mappings are THP aligned"
    );
    ok(&mm);
}

#[test]
fn faults_report_segv_codes_and_lock_stats() {
    let mm = Mm::new();
    let a = mm
        .mmap(0x1000_0000, 2 * P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.fault(0x2000_0000, Access::Read), Err(FaultError::MapErr));
    assert_eq!(mm.fault(a, Access::Write), Err(FaultError::AccErr));
    assert_eq!(mm.fault(a, Access::Exec), Err(FaultError::AccErr));
    assert_eq!(FaultError::MapErr.si_code(), 1);
    assert_eq!(FaultError::AccErr.si_code(), 2);
    let info = mm.fault(a + P, Access::Read).unwrap();
    assert_eq!(info.path, FaultPath::VmaLock);
    assert_eq!((info.start, info.end), (a, a + 2 * P));
    assert_eq!(mm.touch(a), Err(MmError::Fault));
    // First write to RW anon memory needs anon_vma_prepare: VM_FAULT_RETRY → mmap lock.
    let b = mm
        .mmap(0x3000_0000, P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    let s0 = mm.lock_stats();
    let i = mm.fault(b, Access::Write).unwrap();
    assert_eq!(i.path, FaultPath::MmapLock);
    let s1 = mm.lock_stats();
    assert_eq!((s1.retry - s0.retry, s1.fallback - s0.fallback), (1, 1));
    assert!(mm.vma_lookup(b).unwrap().anon_vma().is_some());
    let i = mm.fault(b, Access::Write).unwrap();
    assert_eq!(i.path, FaultPath::VmaLock);
    assert_eq!(mm.lock_stats().success, s1.success + 1);
    let i = mm
        .fault_with(b, Access::Read, FaultMode::MmapLockOnly)
        .unwrap();
    assert_eq!(i.path, FaultPath::MmapLock);
}

#[test]
fn vma_write_lock_lasts_until_mmap_unlock() {
    let mm = Mm::new();
    let a = mm
        .mmap(0x1000_0000, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    let v = mm.vma_lookup(a).unwrap();
    assert!(mm.lock_vma_under_rcu(a).is_some());
    {
        let w = mm.mmap_write_lock();
        assert!(mm.mm_seq().is_write_locked());
        assert!(!w.is_vma_write_locked(&v));
        assert!(mm.lock_vma_under_rcu(a).is_some(), "not yet write-locked");
        w.vma_start_write(&v);
        assert!(w.is_vma_write_locked(&v));
        let before = mm.lock_stats().abort;
        assert!(mm.lock_vma_under_rcu(a).is_none());
        assert_eq!(mm.lock_stats().abort, before + 1);
    }
    assert!(!mm.mm_seq().is_write_locked());
    let g = mm
        .lock_vma_under_rcu(a)
        .expect("released by mmap_write_unlock");
    assert_eq!(g.id(), v.id());
    assert_eq!(v.lock_state().refcnt(), 2, "attached + one reader");
    drop(g);
    assert_eq!(v.lock_state().refcnt(), 1);
    // After munmap the old VMA is detached; lookups find nothing.
    mm.munmap(a, 2 * P).unwrap();
    assert!(!v.is_attached());
    assert!(mm.lock_vma_under_rcu(a).is_none());
}

#[test]
fn exit_releases_every_vma() {
    let mm = spawn::build_layout(10);
    let vmas = mm.vmas();
    assert_eq!(vmas.len(), 31);
    mm.exit();
    assert!(vmas.iter().all(|v| !v.is_attached()));
    assert!(vmas.iter().all(|v| std::sync::Arc::strong_count(v) == 1));
}

#[test]
fn proc_maps_round_trip() {
    let mm = Mm::from_proc_maps(spawn::BASE_LAYOUT).unwrap();
    assert_eq!(mm.map_count(), spawn::BASE_VMAS);
    let again = Mm::from_proc_maps(&mm.maps()).unwrap();
    let strip = |m: &Mm| -> Vec<(u64, u64, VmFlags)> {
        m.vmas()
            .iter()
            .map(|v| {
                (
                    v.start(),
                    v.end(),
                    v.flags() & (VmFlags::ACCESS | VmFlags::SHARED),
                )
            })
            .collect()
    };
    assert_eq!(strip(&mm), strip(&again));
    let libc = mm.vma_lookup(0x7ffff7dab000).unwrap();
    assert_eq!(libc.pgoff(), 0x28);
    assert_eq!(
        libc.file().unwrap().name(),
        "/usr/lib/x86_64-linux-gnu/libc.so.6"
    );
    let lib2 = mm.vma_lookup(0x7ffff7f40000).unwrap();
    assert_eq!(
        libc.file().unwrap().id(),
        lib2.file().unwrap().id(),
        "same inode, same file"
    );
    assert!(mm
        .vma_lookup(0x7ffffffde000)
        .unwrap()
        .flags()
        .contains(VmFlags::GROWSDOWN));
    assert_eq!(mm.brk_value(), 0x55555557a000);
    assert_eq!(
        Mm::from_proc_maps("10000-12000 rw-p 0 00:00 0\n11000-13000 rw-p 0 00:00 0").err(),
        Some(MmError::Exist)
    );
    assert_eq!(Mm::from_proc_maps("nonsense").err(), Some(MmError::Inval));
    assert_eq!(
        Mm::from_proc_maps("10001-12000 rw-p 0 00:00 0").err(),
        Some(MmError::Inval)
    );
    ok(&mm);
}

#[test]
fn stack_grows_down_on_fault_and_keeps_the_guard_gap() {
    let mm = Mm::new();
    let gap = mm.layout().stack_guard_gap;
    let s = 0x7000_0000_0000u64;
    mm.mmap(s, 8 * P, RW, ANON | MAP_FIXED | MAP_GROWSDOWN, None, 0)
        .unwrap();
    let before = mm.counters();
    let info = mm.fault(s - 3 * P + 5, Access::Write).unwrap();
    assert_eq!(info.start, s - 3 * P);
    let v = mm.vma_lookup(s - 3 * P).unwrap();
    assert_eq!(
        v.pgoff(),
        ((s) >> PAGE_SHIFT) - 3,
        "pgoff moves with the start"
    );
    let after = mm.counters();
    assert_eq!(after.total_vm, before.total_vm + 3);
    assert_eq!(after.stack_vm, before.stack_vm + 3);
    assert_eq!(after.committed, before.committed + 3);
    // An accessible mapping below: growth must leave stack_guard_gap.
    let low = s - 3 * P - gap - 4 * P;
    mm.mmap(low, 2 * P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(
        mm.fault(low + 2 * P + P, Access::Read),
        Err(FaultError::MapErr)
    );
    let ok_addr = low + 2 * P + gap;
    assert!(mm.fault(ok_addr, Access::Read).is_ok());
    assert_eq!(mm.vma_lookup(ok_addr).unwrap().start(), ok_addr);
    // A non-growsdown VMA above is not expanded.
    mm.mmap(0x1000_0000, P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(
        mm.fault(0x1000_0000 - P, Access::Read),
        Err(FaultError::MapErr)
    );
    ok(&mm);
}

#[test]
fn parse_maps_line_fields() {
    let l = parse_maps_line(
        "7ffff7dab000-7ffff7f40000 r-xp 00028000 08:01 1055848   /usr/lib/libc.so.6",
    )
    .unwrap();
    assert_eq!(
        (l.start, l.end, l.offset, l.inode),
        (0x7ffff7dab000, 0x7ffff7f40000, 0x28000, 1055848)
    );
    assert_eq!(
        (l.perms.as_str(), l.dev.as_str(), l.path.as_str()),
        ("r-xp", "08:01", "/usr/lib/libc.so.6")
    );
    let anon = parse_maps_line("10000-11000 rw-p 00000000 00:00 0").unwrap();
    assert_eq!(anon.path, "");
    assert_eq!(parse_maps_line("10000-11000 rw-p"), Err(MmError::Inval));
    assert_eq!(
        (VmFlags::READ | VmFlags::EXEC | VmFlags::MAYSHARE).perms(),
        "r-xs"
    );
    assert_eq!((VmFlags::WRITE).perms(), "-w-p");
}

#[test]
fn find_vma_and_lookup() {
    let mm = Mm::new();
    mm.mmap(0x1000_0000, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.find_vma(0x100).unwrap().start(), 0x1000_0000);
    assert!(mm.vma_lookup(0x100).is_none());
    assert!(mm.find_vma(0x1000_0000 + 2 * P).is_none());
    let _r = mm.mmap_read_lock();
}

#[test]
fn special_mappings_cannot_be_split() {
    let mm = Mm::from_proc_maps(
        "7ffff7fbd000-7ffff7fc1000 r--p 00000000 00:00 0  [vvar]\n\
         7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0  [vdso]\n",
    )
    .unwrap();
    let vdso = 0x7ffff7fc1000;
    assert_eq!(mm.munmap(vdso, P), Err(MmError::Inval));
    assert_eq!(
        mm.mmap(vdso + P, P, PROT_READ, ANON | MAP_FIXED, None, 0),
        Err(MmError::Inval)
    );
    // Unmapping it whole needs no split.
    assert_eq!(mm.munmap(vdso, 2 * P), Ok(()));
    assert_eq!(mm.map_count(), 1);
    ok(&mm);
}
