//! Atomics used by the per-VMA lock protocol: `std` normally, `loom` under `--cfg loom`
//! so the protocol in [`crate::lock`] can be model-checked.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Back off while waiting for readers to drain (the kernel sleeps on `vma_writer_wait`).
#[inline]
pub(crate) fn relax() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}
