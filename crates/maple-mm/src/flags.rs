//! Kernel constants: `VM_*` flag bits (legacy word, §1.2), `PROT_*`, `MAP_*`, `MADV_*`.

/// Page size (4 KiB).
pub const PAGE_SIZE: u64 = 4096;
/// log2(PAGE_SIZE).
pub const PAGE_SHIFT: u32 = 12;
/// PMD size (2 MiB): THP alignment of large anonymous mappings.
pub const PMD_SIZE: u64 = 2 << 20;

/// VMA flags word (`vm_flags_t`).
pub type VmFlags = u64;

/// Readable.
pub const VM_READ: VmFlags = 0x1;
/// Writable.
pub const VM_WRITE: VmFlags = 0x2;
/// Executable.
pub const VM_EXEC: VmFlags = 0x4;
/// Shared mapping.
pub const VM_SHARED: VmFlags = 0x8;
/// May be made readable by mprotect.
pub const VM_MAYREAD: VmFlags = 0x10;
/// May be made writable by mprotect.
pub const VM_MAYWRITE: VmFlags = 0x20;
/// May be made executable by mprotect.
pub const VM_MAYEXEC: VmFlags = 0x40;
/// May be shared.
pub const VM_MAYSHARE: VmFlags = 0x80;
/// Stack: grows down.
pub const VM_GROWSDOWN: VmFlags = 0x100;
/// userfaultfd missing mode.
pub const VM_UFFD_MISSING: VmFlags = 0x200;
/// Raw PFN mapping.
pub const VM_PFNMAP: VmFlags = 0x400;
/// userfaultfd write-protect.
pub const VM_UFFD_WP: VmFlags = 0x1000;
/// mlocked.
pub const VM_LOCKED: VmFlags = 0x2000;
/// Memory-mapped I/O.
pub const VM_IO: VmFlags = 0x4000;
/// Sequential read hint.
pub const VM_SEQ_READ: VmFlags = 0x8000;
/// Random read hint.
pub const VM_RAND_READ: VmFlags = 0x10000;
/// Not copied on fork (MADV_DONTFORK).
pub const VM_DONTCOPY: VmFlags = 0x20000;
/// Cannot be expanded by mremap.
pub const VM_DONTEXPAND: VmFlags = 0x40000;
/// mlock on fault.
pub const VM_LOCKONFAULT: VmFlags = 0x80000;
/// Charged to committed memory.
pub const VM_ACCOUNT: VmFlags = 0x100000;
/// MAP_NORESERVE.
pub const VM_NORESERVE: VmFlags = 0x200000;
/// hugetlbfs mapping.
pub const VM_HUGETLB: VmFlags = 0x400000;
/// MAP_SYNC.
pub const VM_SYNC: VmFlags = 0x800000;
/// Architecture-specific flag 1.
pub const VM_ARCH_1: VmFlags = 0x1000000;
/// Child gets zero-filled memory on fork (MADV_WIPEONFORK).
pub const VM_WIPEONFORK: VmFlags = 0x2000000;
/// Excluded from core dumps.
pub const VM_DONTDUMP: VmFlags = 0x4000000;
/// Soft-dirty tracking (ignored by merges; this model never sets it).
pub const VM_SOFTDIRTY: VmFlags = 0x8000000;
/// Mixed PFN/page mapping.
pub const VM_MIXEDMAP: VmFlags = 0x10000000;
/// MADV_HUGEPAGE.
pub const VM_HUGEPAGE: VmFlags = 0x20000000;
/// MADV_NOHUGEPAGE (also set by MAP_STACK).
pub const VM_NOHUGEPAGE: VmFlags = 0x40000000;
/// KSM mergeable.
pub const VM_MERGEABLE: VmFlags = 0x80000000;

/// `VM_ACCESS_FLAGS`.
pub const VM_ACCESS_FLAGS: VmFlags = VM_READ | VM_WRITE | VM_EXEC;
/// `VM_SPECIAL`: never merged, never mlocked.
pub const VM_SPECIAL: VmFlags = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
/// `VM_LOCKED_MASK`.
pub const VM_LOCKED_MASK: VmFlags = VM_LOCKED | VM_LOCKONFAULT;
/// `VM_STACK` (x86: grows down).
pub const VM_STACK: VmFlags = VM_GROWSDOWN;
/// `VM_STARTGAP_FLAGS` (no shadow stack in this model).
pub const VM_STARTGAP_FLAGS: VmFlags = VM_GROWSDOWN;
/// `VM_IGNORE_MERGE`.
pub const VM_IGNORE_MERGE: VmFlags = VM_SOFTDIRTY;
/// `VM_DATA_DEFAULT_FLAGS` on x86-64 without READ_IMPLIES_EXEC.
pub const VM_DATA_DEFAULT_FLAGS: VmFlags =
    VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
/// `VM_STACK_FLAGS` (x86-64).
pub const VM_STACK_FLAGS: VmFlags = VM_STACK | VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT;

/// Page may be read.
pub const PROT_READ: u32 = 0x1;
/// Page may be written.
pub const PROT_WRITE: u32 = 0x2;
/// Page may be executed.
pub const PROT_EXEC: u32 = 0x4;
/// No access.
pub const PROT_NONE: u32 = 0x0;
/// mprotect: extend the change to the start of a growsdown VMA.
pub const PROT_GROWSDOWN: u32 = 0x0100_0000;
/// mprotect: extend the change to the end of a growsup VMA (rejected on x86).
pub const PROT_GROWSUP: u32 = 0x0200_0000;

/// Share changes.
pub const MAP_SHARED: u32 = 0x01;
/// Changes are private.
pub const MAP_PRIVATE: u32 = 0x02;
/// Shared, validating flags.
pub const MAP_SHARED_VALIDATE: u32 = 0x03;
/// Mask for the mapping type.
pub const MAP_TYPE: u32 = 0x0f;
/// Interpret addr exactly (replacing what is there).
pub const MAP_FIXED: u32 = 0x10;
/// Not backed by a file.
pub const MAP_ANONYMOUS: u32 = 0x20;
/// Stack-like segment.
pub const MAP_GROWSDOWN: u32 = 0x100;
/// Lock the mapping.
pub const MAP_LOCKED: u32 = 0x2000;
/// Do not reserve swap (no commit charge).
pub const MAP_NORESERVE: u32 = 0x4000;
/// Populate page tables.
pub const MAP_POPULATE: u32 = 0x8000;
/// Thread stack hint (sets VM_NOHUGEPAGE since 6.7).
pub const MAP_STACK: u32 = 0x20000;
/// MAP_FIXED that fails with -EEXIST instead of replacing.
pub const MAP_FIXED_NOREPLACE: u32 = 0x100000;

/// madvise: do not inherit across fork (sets VM_DONTCOPY).
pub const MADV_DONTFORK: i32 = 10;
/// madvise: inherit across fork (clears VM_DONTCOPY).
pub const MADV_DOFORK: i32 = 11;
/// madvise: zero memory in the child after fork (sets VM_WIPEONFORK).
pub const MADV_WIPEONFORK: i32 = 18;
/// madvise: undo MADV_WIPEONFORK.
pub const MADV_KEEPONFORK: i32 = 19;

/// Number of pages in `len` bytes (`len` page aligned).
#[inline]
pub const fn pages(len: u64) -> u64 {
    len >> PAGE_SHIFT
}

/// `PAGE_ALIGN`, `None` on overflow.
#[inline]
pub const fn page_align(x: u64) -> Option<u64> {
    match x.checked_add(PAGE_SIZE - 1) {
        Some(v) => Some(v & !(PAGE_SIZE - 1)),
        None => None,
    }
}

/// `calc_vm_prot_bits`.
#[inline]
pub const fn calc_vm_prot_bits(prot: u32) -> VmFlags {
    (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) as VmFlags
}

/// `calc_vm_flag_bits` (MAP_* → VM_*).
#[inline]
pub const fn calc_vm_flag_bits(flags: u32) -> VmFlags {
    let mut f = 0;
    if flags & MAP_GROWSDOWN != 0 {
        f |= VM_GROWSDOWN;
    }
    if flags & MAP_LOCKED != 0 {
        f |= VM_LOCKED;
    }
    if flags & MAP_STACK != 0 {
        f |= VM_NOHUGEPAGE;
    }
    f
}

/// Accounting classifier: executable mapping.
#[inline]
pub const fn is_exec_mapping(f: VmFlags) -> bool {
    f & (VM_EXEC | VM_WRITE | VM_STACK) == VM_EXEC
}
/// Accounting classifier: stack mapping.
#[inline]
pub const fn is_stack_mapping(f: VmFlags) -> bool {
    f & VM_STACK == VM_STACK
}
/// Accounting classifier: data mapping.
#[inline]
pub const fn is_data_mapping(f: VmFlags) -> bool {
    f & (VM_WRITE | VM_SHARED | VM_STACK) == VM_WRITE
}

/// Render the `rwxp`/`rwxs` permission column of /proc/PID/maps.
pub fn perms_string(f: VmFlags) -> String {
    let mut s = String::with_capacity(4);
    s.push(if f & VM_READ != 0 { 'r' } else { '-' });
    s.push(if f & VM_WRITE != 0 { 'w' } else { '-' });
    s.push(if f & VM_EXEC != 0 { 'x' } else { '-' });
    s.push(if f & VM_MAYSHARE != 0 { 's' } else { 'p' });
    s
}
