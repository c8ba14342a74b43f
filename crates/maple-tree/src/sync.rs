//! The synchronisation primitives the tree uses, swapped for loom's model-checked versions
//! under `cfg(loom)`.
//!
//! In normal builds this is a plain re-export of `core`/`std` (no cost, no behaviour change)
//! and grace periods come from `crossbeam-epoch`. crossbeam-epoch is not loom-aware, so under
//! `cfg(loom)` they come from a tree-owned [`loom_reclaim::Grace`]: a reader counter
//! with a simple grace-period rule, and "freeing" a node only poisons it (the memory is
//! released when the shared tree is dropped, after every model thread has joined), so a
//! reader that reaches a reclaimed node fails an assertion instead of reading freed memory.

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

#[cfg(loom)]
pub(crate) mod loom_reclaim {
    //! Grace periods for loom models.
    //!
    //! Readers count themselves in `active` for the whole read section. After each write the
    //! writer runs everything deferred so far if it then sees no active reader: the write's
    //! unlinking stores, a SeqCst fence and the load of `active` on one side, the reader's
    //! increment, a SeqCst fence and its root load on the other (Dekker), so a reader that was
    //! not counted starts after the unlink and cannot reach what was unlinked. That is never
    //! earlier than an epoch-based grace period, so the tree must survive it.
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::cell::RefCell;

    use super::{fence, AtomicUsize, Ordering};

    type Deferred = Box<dyn FnOnce()>;

    /// A tree-owned stand-in for crossbeam-epoch.
    pub(crate) struct Grace {
        active: AtomicUsize,
        pending: RefCell<Vec<Deferred>>,
    }

    // SAFETY: `pending` is only touched by the thread holding the tree's writer lock (loom's
    // mutex orders those threads) and by `drop` (exclusive access); the deferred closures only
    // hold tree words and node pointers, which the writer owns once they are unlinked.
    unsafe impl Sync for Grace {}
    // SAFETY: as above; moving the grace state moves ownership of what it holds.
    unsafe impl Send for Grace {}

    impl Grace {
        pub(crate) fn new() -> Grace {
            Grace {
                active: AtomicUsize::new(0),
                pending: RefCell::new(Vec::new()),
            }
        }

        /// Queues `f` until no reader can still see what it destroys.
        ///
        /// # Safety
        /// As crossbeam's `Guard::defer_unchecked`: `f` must be safe to run once every reader
        /// active now has finished. Only the writer (holding the writer lock) may call this.
        pub(crate) unsafe fn defer_unchecked<F: FnOnce() -> R + 'static, R>(&self, f: F) {
            self.pending.borrow_mut().push(Box::new(move || drop(f())));
        }

        /// Enters a read section.
        pub(crate) fn pin(&self) {
            self.active.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
        }

        /// Leaves a read section.
        pub(crate) fn unpin(&self) {
            self.active.fetch_sub(1, Ordering::SeqCst);
        }

        /// Runs the deferred work if no reader is active (writer only, after a write).
        pub(crate) fn try_reclaim(&self) {
            fence(Ordering::SeqCst);
            // A read-modify-write reads the latest count; a reader counted after it acquires
            // this write's unlinking stores through it.
            if self.active.fetch_add(0, Ordering::SeqCst) == 0 {
                let work = core::mem::take(&mut *self.pending.borrow_mut());
                for f in work {
                    f();
                }
            }
        }
    }

    impl Drop for Grace {
        fn drop(&mut self) {
            for f in core::mem::take(self.pending.get_mut()) {
                f();
            }
            // SAFETY: the shared tree is being dropped, so every reader (model thread) is gone
            // and nothing can reach a node freed so far.
            unsafe { crate::node::release_freed_nodes() };
        }
    }
}

/// A lock-free reader met a node the writer had replaced and walks again. Loom models count
/// these, to show that the restart paths ran.
#[inline]
pub(crate) fn restarted() {
    #[cfg(all(loom, feature = "std"))]
    crate::rcu::loom_stats::restarted();
}
