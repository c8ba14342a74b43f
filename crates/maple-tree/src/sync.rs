//! The synchronisation primitives the tree uses, swapped for loom's model-checked versions
//! under `cfg(loom)`: atomics, the writer's mutex, and [`Epoch`], the grace periods of a
//! shared tree. Every `cfg(loom)` switch of the tree's concurrency lives here or in the node
//! module's bookkeeping (`node::loom_side`); the modules above see one interface.
//!
//! In normal builds the atomics and the mutex are plain re-exports of `core`/`std` (no cost,
//! no behaviour change) and grace periods come from `crossbeam-epoch`.
//!
//! # Loom's grace periods, and why they stand in for crossbeam's
//!
//! crossbeam-epoch is not loom-aware in the build this crate uses, so under `cfg(loom)` an
//! [`Epoch`] is a reader count with one rule: after each write the writer runs everything
//! deferred so far if it then sees no reader in a read section. What loom checks is therefore
//! the whole protocol above the grace period itself: which nodes a write unlinks and marks
//! dead, the readers' dead-node checks and restarts, the retired lists, the reclaimer's
//! batches, their flags and the reuse of frames after the flag. The stand-in is sound to use
//! in place of an epoch because it never ends a grace period earlier than an epoch could:
//!
//! * Both end a grace period only when every reader that was in a read section when the work
//!   was deferred has left it. The stand-in demands more (no reader at all), so every
//!   reclamation time it allows, an epoch allows too.
//! * Both allow reclamation while a reader that *started after the unlink* is still reading:
//!   the stand-in checks the count once, and a reader may enter right after. Such a reader
//!   must not reach what was unlinked, and that is exactly what the models check: the write's
//!   unlinking stores, a SeqCst fence and the load of the count on one side, the reader's
//!   increment, a SeqCst fence and its root load on the other (Dekker), so a reader that was
//!   not counted reads the tree as it is after the unlink.
//!
//! What loom does not check is crossbeam's own epoch algorithm, which crossbeam tests itself.
//! The stand-in is not vacuous: the `premature_free_is_caught` model plants a reclamation
//! that ignores the reader count, and loom finds a reader touching a freed node.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicUsize, Ordering};

#[cfg(all(feature = "std", loom))]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(all(feature = "std", not(loom)))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Declares a function that is `const` except under `cfg(loom)` (loom atomics cannot be
/// created in a constant context).
macro_rules! const_fn_unless_loom {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($args:tt)*) -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$m])* $vis const fn $name($($args)*) -> $ret $body
        #[cfg(loom)]
        $(#[$m])* $vis fn $name($($args)*) -> $ret $body
    };
}
pub(crate) use const_fn_unless_loom;

/// Grace periods of one shared tree: readers pin it for their read section, and the writer
/// defers work (the reclaimer's batch flags) until every reader pinned at the time has left.
#[cfg(all(feature = "std", not(loom)))]
pub(crate) struct Epoch;

/// A read section: while it lives, nothing deferred after it began is run.
#[cfg(all(feature = "std", not(loom)))]
pub(crate) struct Pin<'a> {
    _guard: crossbeam_epoch::Guard,
    _epoch: core::marker::PhantomData<&'a Epoch>,
}

#[cfg(all(feature = "std", not(loom)))]
impl Epoch {
    pub(crate) fn new() -> Epoch {
        Epoch
    }

    /// Enters a read section.
    #[inline]
    pub(crate) fn pin(&self) -> Pin<'_> {
        Pin {
            _guard: crossbeam_epoch::pin(),
            _epoch: core::marker::PhantomData,
        }
    }

    /// Runs `f` once every read section active now has ended.
    ///
    /// # Safety
    /// As crossbeam's `Guard::defer_unchecked`: `f` must be safe to run on any thread once
    /// every reader active now has finished. Only the tree's writer calls this.
    pub(crate) unsafe fn defer<F: FnOnce() + Send + 'static>(&self, f: F) {
        let guard = crossbeam_epoch::pin();
        // SAFETY: the caller's contract is crossbeam's.
        unsafe { guard.defer_unchecked(f) };
        // Hand the closure to the global queue now rather than when 64 have piled up in this
        // thread's bag, so the grace period can end soon.
        guard.flush();
    }

    /// Called by the writer after each write: crossbeam needs nothing here.
    #[inline]
    pub(crate) fn after_write(&self) {}
}

#[cfg(loom)]
pub(crate) use loom_epoch::{Epoch, Pin};

#[cfg(loom)]
mod loom_epoch {
    //! The loom stand-in for crossbeam-epoch (see the module docs above for why it may
    //! stand in).
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::cell::{Cell, RefCell};

    use super::{fence, AtomicUsize, Ordering};

    type Deferred = Box<dyn FnOnce()>;

    std::thread_local! {
        /// Set by [`plant_premature_free`] for the current model.
        static PREMATURE: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes every later write of this model run deferred work at once, readers or not: a
    /// planted bug, which the `premature_free_is_caught` model must detect.
    pub fn plant_premature_free(on: bool) {
        PREMATURE.with(|p| p.set(on));
    }

    pub(crate) struct Epoch {
        active: AtomicUsize,
        pending: RefCell<Vec<Deferred>>,
        /// Run when the epoch is dropped, after its deferred work: releases the memory that
        /// work only poisoned (the node layer's loom bookkeeping, which this layer cannot
        /// name).
        release: unsafe fn(),
    }

    // SAFETY: `pending` is only touched by the thread holding the tree's writer lock (loom's
    // mutex orders those threads) and by `drop` (exclusive access); the deferred closures only
    // hold what the writer owns once it is unlinked.
    unsafe impl Sync for Epoch {}
    // SAFETY: as above; moving the grace state moves ownership of what it holds.
    unsafe impl Send for Epoch {}

    /// A read section: counted in `active` while it lives.
    pub(crate) struct Pin<'a>(&'a Epoch);

    impl Drop for Pin<'_> {
        fn drop(&mut self) {
            self.0.active.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl Epoch {
        /// # Safety
        /// `release` may be called once every model thread is gone (when the epoch is
        /// dropped) and must free only what nothing can reach then.
        pub(crate) unsafe fn new(release: unsafe fn()) -> Epoch {
            Epoch {
                active: AtomicUsize::new(0),
                pending: RefCell::new(Vec::new()),
                release,
            }
        }

        pub(crate) fn pin(&self) -> Pin<'_> {
            self.active.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            Pin(self)
        }

        /// # Safety
        /// As the crossbeam version's.
        pub(crate) unsafe fn defer<F: FnOnce() + Send + 'static>(&self, f: F) {
            self.pending.borrow_mut().push(Box::new(f));
        }

        /// Runs the deferred work if no reader is in a read section.
        pub(crate) fn after_write(&self) {
            fence(Ordering::SeqCst);
            // A read-modify-write reads the latest count; a reader counted after it acquires
            // this write's unlinking stores through it.
            let idle = self.active.fetch_add(0, Ordering::SeqCst) == 0;
            if idle || PREMATURE.with(Cell::get) {
                let work = core::mem::take(&mut *self.pending.borrow_mut());
                for f in work {
                    f();
                }
            }
        }
    }

    impl Drop for Epoch {
        fn drop(&mut self) {
            for f in core::mem::take(self.pending.get_mut()) {
                f();
            }
            // SAFETY: the shared tree is being dropped, so every reader (model thread) is gone
            // and nothing can reach a node freed so far; `release` frees only such nodes
            // (`new`'s contract).
            unsafe { (self.release)() };
        }
    }
}

/// Loom only: how often readers met a replaced node and restarted, and how often the writer
/// built a node from a reclaimed frame, so models can show that those paths ran.
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_stats {
    use core::cell::Cell;
    std::thread_local! {
        static RESTARTS: Cell<usize> = const { Cell::new(0) };
        static REUSES: Cell<usize> = const { Cell::new(0) };
    }
    pub(crate) fn restarted() {
        RESTARTS.with(|r| r.set(r.get() + 1));
    }
    pub(crate) fn reused() {
        REUSES.with(|r| r.set(r.get() + 1));
    }
    /// Reader restarts so far on this OS thread (a loom model runs all its threads on one).
    pub fn restarts() -> usize {
        RESTARTS.with(|r| r.get())
    }
    /// Node frames the writer built from reclaimed ones so far on this OS thread.
    pub fn reuses() -> usize {
        REUSES.with(|r| r.get())
    }
    pub use super::loom_epoch::plant_premature_free;
}

/// A reclaimed node frame is being built into a new node. Loom models count these.
#[inline]
pub(crate) fn reused() {
    #[cfg(loom)]
    loom_stats::reused();
}

/// A lock-free reader met a node the writer had replaced and walks again. Loom models count
/// these, to show that the restart paths ran.
#[inline]
pub(crate) fn restarted() {
    #[cfg(loom)]
    loom_stats::restarted();
}
