//! A model of the Linux process address space on the maple tree.
//!
//! * [`Vma`] — `vm_area_struct` (range, `VM_*` flags, pgoff, file, anon_vma, per-VMA lock
//!   state); stored in the mm's allocation tree as `Arc<Vma>` over `start..=end-1`.
//! * [`Mm`] — `mm_struct`: VMA tree, map count and limit, accounting, the mmap lock and
//!   the mm sequence count; operations `mmap`, `munmap`, `mprotect`, `madvise`, `brk`,
//!   `touch`/`fault`, `fork` (three tree strategies), `exit`, with the kernel's merge
//!   rules and error codes.
//! * Per-VMA locks ([`lock`]) and the lock-free fault path ([`Mm::lock_vma_under_rcu`]):
//!   the VMA tree is a `maple_tree::RcuMapleTree` (the kernel's tree in RCU mode), so the
//!   fault-path lookup takes no lock at all; writers hold the mmap write lock.
//! * [`spawn`], [`faults`] and [`kernel_diff`] — drivers used by the CLI.
//!
//! The behaviour follows the kernel digest in `shared/reference/address-space.md`
//! (6.12+ `mm/vma.c` shapes, refcount VMA locks of ≥ 6.15). `tests/kernel_diff.rs`
//! checks layouts and return codes against the running kernel step by step.
//!
//! Tests: `cargo test -p maple-mm`; the loom model of the lock protocol:
//! `RUSTFLAGS="--cfg loom" cargo test -p maple-mm --test loom_lock --release`.
//!
//! Model limits: no page contents or page tables (a "touch" only assigns the anon_vma),
//! no mremap/mlock/mseal/userfaultfd/NUMA policy/anon names, no `VM_SOFTDIRTY`, no
//! RLIMIT checks; committed memory is per mm with an optional limit. All tree access is in
//! one private module (`tree`).

#![warn(missing_docs)]

pub mod error;
mod fault;
pub mod faults;
pub mod flags;
mod fork;
#[cfg(target_os = "linux")]
pub mod kernel_diff;
pub mod lock;
mod maps;
mod mm;
pub mod rng;
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
pub use tree::VmaRef;
pub use vma::{AnonInfo, AnonVma, File, FileRef, Vma, VmaInfo, VmaTracker};
