//! A model of the Linux process address space on the maple tree.
//!
//! * [`Vma`] — `vm_area_struct` (range, [`VmFlags`], pgoff, file, anon_vma, per-VMA lock
//!   state); stored in the mm's allocation tree as `Arc<Vma>` over `start..=end-1`.
//! * [`Mm`] — `mm_struct`: VMA tree, map count and limit, accounting, the mmap lock and
//!   the mm sequence count; operations `mmap`, `munmap`, `mprotect`, `madvise`, `mremap`,
//!   `mlock`/`munlock`/`mlock2`, `brk`, `touch`/`fault`, `fork` (three tree strategies),
//!   `exit`, with the kernel's placement and merge rules and error codes.
//! * Per-VMA locks ([`lock`]) and the lock-free fault path ([`Mm::lock_vma_under_rcu`]):
//!   the VMA tree is a `maple_tree::RcuMapleTree` (the kernel's tree in RCU mode), so the
//!   fault-path lookup takes no lock at all; writers hold the mmap write lock.
//! * [`spawn`], [`faults`] and [`kernel_diff`] — drivers used by the CLI.
//!
//! ```
//! use maple_mm::*;
//! let mm = Mm::new();
//! // Two anonymous mappings placed top-down below mmap_base merge into one VMA.
//! let a = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
//! let b = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
//! assert_eq!(b + 4 * PAGE_SIZE, a);
//! assert_eq!(mm.map_count(), 1);
//! // mprotect of the middle splits it in three.
//! mm.mprotect(b + 2 * PAGE_SIZE, 4 * PAGE_SIZE, PROT_READ)?;
//! assert_eq!(mm.map_count(), 3);
//! // The child of a fork has the same layout.
//! let child = mm.fork(ForkStrategy::DupMap)?;
//! assert_eq!(child.maps(), mm.maps());
//! child.exit();
//! # Ok::<(), MmError>(())
//! ```
//!
//! The behaviour follows the kernel's `mm/vma.c`, `mm/mmap.c`, `mm/mprotect.c` and
//! `mm/mremap.c`, `mm/mlock.c` and `mm/mmap_lock.c` (6.17+ shapes, refcount VMA locks of
//! ≥ 6.15). [`kernel_diff`] checks return codes and the whole of `/proc/<pid>/smaps`
//! (ranges, `VmFlags`, file offsets) against the running kernel step by step, forks
//! included.
//!
//! Tests: `cargo test -p maple-mm`; the loom model of the lock protocol:
//! `RUSTFLAGS="--cfg loom" cargo test -p maple-mm --test loom_lock --release`.
//!
//! Model limits: no page contents or page tables (a "touch" or a populate only assigns
//! the anon_vma), no mseal/userfaultfd/NUMA policy/anon names/hugetlb/mlockall, no
//! `VM_SOFTDIRTY`, no RLIMIT checks; committed memory is per mm with an optional limit, and
//! kept equal to the `VM_ACCOUNT` pages (the kernel's charge quirks on some mremap paths
//! are not reproduced). All tree access is in
//! one private module (`tree`).
//!
//! The syscall constants are `libc`'s Linux definitions, so the crate builds for Linux
//! (and Android) targets only.

#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

/// The crate README, compiled and run as a doctest so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;

#[cfg(not(any(target_os = "linux", target_os = "android")))]
compile_error!(
    "maple-mm models the Linux address space and takes its syscall constants (MAP_FIXED_NOREPLACE, \
     MADV_DONTFORK, MREMAP_*, MLOCK_ONFAULT…) from libc's Linux definitions: build it for Linux"
);

pub mod error;
mod fault;
pub mod faults;
pub mod flags;
mod fork;
pub mod kernel_diff;
pub mod lock;
mod maps;
mod mm;
mod remap;
mod smaps;
pub mod spawn;
mod sync;
mod tree;
mod vma;

pub use error::{FaultError, MmError};
pub use fault::{Access, FaultInfo, FaultMode, FaultPath, VmaReadGuard};
pub use flags::*;
pub use fork::{ForkOptions, ForkStrategy};
pub use maps::{parse_maps_line, MapsLine};
pub use mm::{
    LockStatsSnapshot, Mm, MmCounters, MmLayout, MmapReadGuard, MmapWriteGuard,
    DEFAULT_MAX_MAP_COUNT, DEFAULT_STACK_GUARD_GAP, DEFAULT_TASK_SIZE,
};
pub use smaps::{parse_smaps, SmapsEntry};
pub use tree::VmaRef;
pub use vma::{vma_cache_len, AnonInfo, AnonVma, File, FileRef, Vma, VmaInfo, VmaTracker};
