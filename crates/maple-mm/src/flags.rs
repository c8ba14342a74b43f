//! Kernel constants: the VMA flags ([`VmFlags`], the kernel's legacy `vm_flags_t` word)
//! and the syscall constants (`PROT_*`, `MAP_*`, `MADV_*`, `MREMAP_*`, `MLOCK_*`),
//! which are `libc`'s own, so the model and the real syscalls in
//! [`kernel_diff`](crate::kernel_diff) cannot disagree on a value.
//!
//! ```
//! use maple_mm::{VmFlags, PROT_READ, PROT_WRITE};
//! let f = VmFlags::from_prot(PROT_READ | PROT_WRITE) | VmFlags::MAYREAD | VmFlags::MAYWRITE;
//! assert!(f.contains(VmFlags::WRITE));
//! assert_eq!(f.perms(), "rw-p");
//! assert_eq!(f.mnemonics(), "rd wr mr mw");
//! assert_eq!(VmFlags::parse_mnemonics("rd wr mr mw"), Ok(f));
//! ```

use std::fmt;

pub use libc::{
    MADV_DOFORK, MADV_DONTFORK, MADV_KEEPONFORK, MADV_WIPEONFORK, MAP_ANONYMOUS, MAP_FIXED,
    MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE,
    MAP_SHARED, MAP_SHARED_VALIDATE, MAP_STACK, MAP_TYPE, MLOCK_ONFAULT, MREMAP_DONTUNMAP,
    MREMAP_FIXED, MREMAP_MAYMOVE, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_NONE, PROT_READ,
    PROT_WRITE,
};

/// Page size (4 KiB).
pub const PAGE_SIZE: u64 = 4096;
/// log2(PAGE_SIZE).
pub const PAGE_SHIFT: u32 = 12;
/// PMD size (2 MiB): THP alignment of large anonymous mappings.
pub const PMD_SIZE: u64 = 2 << 20;

bitflags::bitflags! {
    /// The flags of a VMA (`vm_flags_t`, the kernel's legacy word; x86-64 bit values).
    ///
    /// Bits the model does not name are kept as they are (`from_bits_retain`), as the
    /// kernel keeps architecture bits it does not interpret.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct VmFlags: u64 {
        /// Readable.
        const READ = 0x1;
        /// Writable.
        const WRITE = 0x2;
        /// Executable.
        const EXEC = 0x4;
        /// Shared mapping.
        const SHARED = 0x8;
        /// May be made readable by mprotect.
        const MAYREAD = 0x10;
        /// May be made writable by mprotect.
        const MAYWRITE = 0x20;
        /// May be made executable by mprotect.
        const MAYEXEC = 0x40;
        /// May be shared.
        const MAYSHARE = 0x80;
        /// Stack: grows down.
        const GROWSDOWN = 0x100;
        /// userfaultfd missing mode.
        const UFFD_MISSING = 0x200;
        /// Raw PFN mapping.
        const PFNMAP = 0x400;
        /// userfaultfd write-protect.
        const UFFD_WP = 0x1000;
        /// mlocked.
        const LOCKED = 0x2000;
        /// Memory-mapped I/O.
        const IO = 0x4000;
        /// Sequential read hint.
        const SEQ_READ = 0x8000;
        /// Random read hint.
        const RAND_READ = 0x10000;
        /// Not copied on fork (MADV_DONTFORK).
        const DONTCOPY = 0x20000;
        /// Cannot be expanded by mremap.
        const DONTEXPAND = 0x40000;
        /// mlock on fault (mlock2(MLOCK_ONFAULT)).
        const LOCKONFAULT = 0x80000;
        /// Charged to committed memory.
        const ACCOUNT = 0x100000;
        /// MAP_NORESERVE.
        const NORESERVE = 0x200000;
        /// hugetlbfs mapping.
        const HUGETLB = 0x400000;
        /// MAP_SYNC.
        const SYNC = 0x800000;
        /// Architecture-specific flag 1.
        const ARCH_1 = 0x1000000;
        /// Child gets zero-filled memory on fork (MADV_WIPEONFORK).
        const WIPEONFORK = 0x2000000;
        /// Excluded from core dumps.
        const DONTDUMP = 0x4000000;
        /// Soft-dirty tracking (ignored by merges; this model never sets it).
        const SOFTDIRTY = 0x8000000;
        /// Mixed PFN/page mapping.
        const MIXEDMAP = 0x10000000;
        /// MADV_HUGEPAGE.
        const HUGEPAGE = 0x20000000;
        /// MADV_NOHUGEPAGE (also set by MAP_STACK).
        const NOHUGEPAGE = 0x40000000;
        /// KSM mergeable.
        const MERGEABLE = 0x80000000;
        // Unnamed bits are retained, not truncated, by `!` and `from_bits_retain`.
        const _ = !0;
    }
}

/// The `/proc/PID/smaps` `VmFlags:` mnemonics (`show_smap_vma_flags`), bit by bit.
const MNEMONICS: [(VmFlags, &str); 31] = [
    (VmFlags::READ, "rd"),
    (VmFlags::WRITE, "wr"),
    (VmFlags::EXEC, "ex"),
    (VmFlags::SHARED, "sh"),
    (VmFlags::MAYREAD, "mr"),
    (VmFlags::MAYWRITE, "mw"),
    (VmFlags::MAYEXEC, "me"),
    (VmFlags::MAYSHARE, "ms"),
    (VmFlags::GROWSDOWN, "gd"),
    (VmFlags::PFNMAP, "pf"),
    (VmFlags::LOCKED, "lo"),
    (VmFlags::IO, "io"),
    (VmFlags::SEQ_READ, "sr"),
    (VmFlags::RAND_READ, "rr"),
    (VmFlags::DONTCOPY, "dc"),
    (VmFlags::DONTEXPAND, "de"),
    (VmFlags::LOCKONFAULT, "lf"),
    (VmFlags::ACCOUNT, "ac"),
    (VmFlags::NORESERVE, "nr"),
    (VmFlags::HUGETLB, "ht"),
    (VmFlags::SYNC, "sf"),
    (VmFlags::ARCH_1, "ar"),
    (VmFlags::WIPEONFORK, "wf"),
    (VmFlags::DONTDUMP, "dd"),
    (VmFlags::SOFTDIRTY, "sd"),
    (VmFlags::MIXEDMAP, "mm"),
    (VmFlags::HUGEPAGE, "hg"),
    (VmFlags::NOHUGEPAGE, "nh"),
    (VmFlags::MERGEABLE, "mg"),
    (VmFlags::UFFD_MISSING, "um"),
    (VmFlags::UFFD_WP, "uw"),
];

/// A `VmFlags:` mnemonic this model does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMnemonic(pub String);

impl fmt::Display for UnknownMnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown VmFlags mnemonic {:?}", self.0)
    }
}

impl std::error::Error for UnknownMnemonic {}

impl VmFlags {
    /// `VM_ACCESS_FLAGS`.
    pub const ACCESS: VmFlags = VmFlags::READ.union(VmFlags::WRITE).union(VmFlags::EXEC);
    /// `VM_SPECIAL`: never merged, never mlocked.
    pub const SPECIAL: VmFlags = VmFlags::IO
        .union(VmFlags::DONTEXPAND)
        .union(VmFlags::PFNMAP)
        .union(VmFlags::MIXEDMAP);
    /// `VM_LOCKED_MASK`.
    pub const LOCKED_MASK: VmFlags = VmFlags::LOCKED.union(VmFlags::LOCKONFAULT);
    /// `VM_STACK` (x86: grows down).
    pub const STACK: VmFlags = VmFlags::GROWSDOWN;
    /// `VM_STARTGAP_FLAGS` (no shadow stack in this model).
    pub const STARTGAP: VmFlags = VmFlags::GROWSDOWN;
    /// `VM_IGNORE_MERGE`.
    pub const IGNORE_MERGE: VmFlags = VmFlags::SOFTDIRTY;
    /// `VM_MAY*` for read, write and exec.
    pub const MAY_RWX: VmFlags = VmFlags::MAYREAD
        .union(VmFlags::MAYWRITE)
        .union(VmFlags::MAYEXEC);
    /// `VM_DATA_DEFAULT_FLAGS` on x86-64 without READ_IMPLIES_EXEC.
    pub const DATA_DEFAULT: VmFlags = VmFlags::READ.union(VmFlags::WRITE).union(VmFlags::MAY_RWX);
    /// `VM_STACK_FLAGS` (x86-64).
    pub const STACK_FLAGS: VmFlags = VmFlags::STACK
        .union(VmFlags::DATA_DEFAULT)
        .union(VmFlags::ACCOUNT);

    /// `calc_vm_prot_bits`: `PROT_READ/WRITE/EXEC` → `VM_READ/WRITE/EXEC`.
    #[inline]
    pub const fn from_prot(prot: i32) -> VmFlags {
        VmFlags::from_bits_retain((prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) as u64)
    }

    /// `calc_vm_flag_bits`: the `MAP_*` flags that become VMA flags.
    #[inline]
    pub const fn from_map_flags(flags: i32) -> VmFlags {
        let mut f = VmFlags::empty();
        if flags & MAP_GROWSDOWN != 0 {
            f = f.union(VmFlags::GROWSDOWN);
        }
        if flags & MAP_LOCKED != 0 {
            f = f.union(VmFlags::LOCKED);
        }
        if flags & MAP_STACK != 0 {
            f = f.union(VmFlags::NOHUGEPAGE);
        }
        f
    }

    /// The flags `n` bit positions down (the kernel's `newflags >> 4`, which lines the
    /// `VM_MAY*` bits up with the access bits).
    #[inline]
    pub const fn shr(self, n: u32) -> VmFlags {
        VmFlags::from_bits_retain(self.bits() >> n)
    }

    /// Accounting classifier: executable mapping.
    #[inline]
    pub const fn is_exec_mapping(self) -> bool {
        self.bits() & (VmFlags::EXEC.bits() | VmFlags::WRITE.bits() | VmFlags::STACK.bits())
            == VmFlags::EXEC.bits()
    }

    /// Accounting classifier: stack mapping.
    #[inline]
    pub const fn is_stack_mapping(self) -> bool {
        self.contains(VmFlags::STACK)
    }

    /// Accounting classifier: data mapping.
    #[inline]
    pub const fn is_data_mapping(self) -> bool {
        self.bits() & (VmFlags::WRITE.bits() | VmFlags::SHARED.bits() | VmFlags::STACK.bits())
            == VmFlags::WRITE.bits()
    }

    /// The `rwxp`/`rwxs` permission column of /proc/PID/maps (`s` follows `VM_MAYSHARE`).
    pub fn perms(self) -> String {
        let mut s = String::with_capacity(4);
        s.push(if self.contains(VmFlags::READ) {
            'r'
        } else {
            '-'
        });
        s.push(if self.contains(VmFlags::WRITE) {
            'w'
        } else {
            '-'
        });
        s.push(if self.contains(VmFlags::EXEC) {
            'x'
        } else {
            '-'
        });
        s.push(if self.contains(VmFlags::MAYSHARE) {
            's'
        } else {
            'p'
        });
        s
    }

    /// The `VmFlags:` line of /proc/PID/smaps without its label: the mnemonics of the set
    /// bits in bit order, separated by spaces.
    pub fn mnemonics(self) -> String {
        let mut out = Vec::new();
        let mut bits: Vec<(VmFlags, &str)> = MNEMONICS.to_vec();
        bits.sort_by_key(|(f, _)| f.bits());
        for (f, m) in bits {
            if self.contains(f) {
                out.push(m);
            }
        }
        out.join(" ")
    }

    /// Parses a `VmFlags:` line (with or without its label).
    pub fn parse_mnemonics(s: &str) -> Result<VmFlags, UnknownMnemonic> {
        let s = s.trim().strip_prefix("VmFlags:").unwrap_or(s);
        let mut f = VmFlags::empty();
        for word in s.split_whitespace() {
            match MNEMONICS.iter().find(|(_, m)| *m == word) {
                Some((bit, _)) => f |= *bit,
                None => return Err(UnknownMnemonic(word.to_string())),
            }
        }
        Ok(f)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_round_trip_in_bit_order() {
        let all = MNEMONICS.iter().fold(VmFlags::empty(), |a, (f, _)| a | *f);
        let text = all.mnemonics();
        assert!(
            text.starts_with("rd wr ex sh mr mw me ms gd um pf uw lo"),
            "{text}"
        );
        assert_eq!(VmFlags::parse_mnemonics(&text), Ok(all));
        assert_eq!(
            VmFlags::parse_mnemonics("VmFlags: rd zz"),
            Err(UnknownMnemonic("zz".into()))
        );
    }

    #[test]
    fn classifiers_and_prot_bits() {
        let rx = VmFlags::from_prot(PROT_READ | PROT_EXEC);
        assert!(rx.is_exec_mapping() && !rx.is_data_mapping());
        let rw = VmFlags::from_prot(PROT_READ | PROT_WRITE);
        assert!(rw.is_data_mapping() && !rw.is_exec_mapping());
        assert!((rw | VmFlags::GROWSDOWN).is_stack_mapping());
        assert_eq!(
            VmFlags::from_map_flags(MAP_GROWSDOWN | MAP_LOCKED | MAP_STACK),
            VmFlags::GROWSDOWN | VmFlags::LOCKED | VmFlags::NOHUGEPAGE
        );
        assert_eq!(VmFlags::MAY_RWX.shr(4), VmFlags::ACCESS);
        assert_eq!(
            (!VmFlags::ACCESS).bits(),
            !7u64,
            "complement keeps unnamed bits"
        );
    }
}
