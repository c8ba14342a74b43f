//! The writer's side of reclamation in a shared tree: what a write unlinks waits here for its
//! grace period, and is then freed, dropped or reused *by the writer*.
//!
//! The obvious scheme, one epoch-deferred closure per replaced node or removed entry, makes
//! readers pay for writes: crossbeam-epoch runs deferred closures in whichever thread collects,
//! and a reader pinning in a loop collects every 128 pins. With one writer replacing a leaf
//! per store, a reader doing random lookups spent most of its time freeing the writer's nodes
//! (a 10^5-entry tree: 194 ns per lookup alone, 1,104 ns with the writer; a writer that only
//! deferred frees of private boxes slowed it just as much, while a writer doing the same stores
//! on an owned tree did not slow it at all).
//!
//! So the writer collects retired items into a [`Reclaimer`] batch. A full batch is sealed by
//! deferring a single closure that only raises the batch's flag; the writer checks the flags
//! at its next write, drops the entries, and keeps up to [`NODE_CACHE`] node frames to build
//! later nodes from (the kernel's slab does the same job), freeing the rest. Readers run one
//! flag store per batch instead of a free per node, and the writer's new nodes come from
//! memory it touched recently rather than from the allocator.
//!
//! Entries therefore stay alive a little longer than strictly needed (until the writer's next
//! write after the grace period), as they would in crossbeam's thread-local bags.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::entry::Word;
use crate::node::{NodeMut, NodePtr};
use crate::retire::Retired;
use crate::sync::{AtomicBool, Ordering};

/// Retired items per grace period. Loom models are small: seal after every write there, so
/// that nodes really are reclaimed during a model.
#[cfg(not(loom))]
const BATCH: usize = 64;
#[cfg(loom)]
const BATCH: usize = 1;

/// Node frames kept for reuse after their grace period. Loom models keep a few, so that reuse
/// is model-checked (a frame reused too early hands a reader someone else's slots: the `reuse`
/// model catches that), and free the rest, which loom poisons.
#[cfg(not(loom))]
pub(crate) const NODE_CACHE: usize = 64;
#[cfg(loom)]
pub(crate) const NODE_CACHE: usize = 4;

/// What one grace period covers: the retired lists of the writes made while it filled up.
#[derive(Default)]
struct Batch {
    writes: Vec<Retired>,
    /// Items in all of them.
    items: usize,
}

/// Retired nodes and entries of one shared tree, owned by whoever holds its writer lock.
pub(crate) struct Reclaimer {
    drop_entry: unsafe fn(Word),
    /// Filling up; its grace period has not started.
    current: Batch,
    /// Sealed, oldest first, each with the flag its deferred closure raises.
    pending: VecDeque<(Batch, Arc<AtomicBool>)>,
    /// Node frames past their grace period: unreachable, contents stale.
    cache: Vec<NodePtr>,
    /// Frames handed out again (tests check that reuse happens).
    #[cfg(test)]
    pub(crate) reused: usize,
}

// SAFETY: every node and entry held here was unlinked from the tree, so the reclaimer owns
// them; the tree's entries are `Send` (`RcuMapleTree` requires it), and nodes are plain memory.
unsafe impl Send for Reclaimer {}

impl Reclaimer {
    pub(crate) fn new(drop_entry: unsafe fn(Word)) -> Reclaimer {
        Reclaimer {
            drop_entry,
            current: Batch::default(),
            pending: VecDeque::new(),
            cache: Vec::new(),
            #[cfg(test)]
            reused: 0,
        }
    }

    /// Takes what a write unlinked (already marked dead: readers that reach it walk again).
    pub(crate) fn retire(&mut self, retired: Retired) {
        self.current.items += retired.len();
        self.current.writes.push(retired);
    }

    /// A node frame past its grace period, to be filled by a write (its contents are stale
    /// and its parent word is cleared, so it is not taken for dead).
    pub(crate) fn take_node(&mut self) -> Option<NodeMut> {
        let node = self.cache.pop()?;
        // SAFETY: a cached frame is past its grace period: unlinked and unreachable.
        let node = unsafe { node.private() };
        node.set_parent(None);
        #[cfg(test)]
        {
            self.reused += 1;
        }
        crate::sync::reused();
        Some(node)
    }

    /// Starts the grace period of the current batch once it is full. Call after the write
    /// that retired its items has published them unlinked.
    #[cfg(feature = "std")]
    pub(crate) fn seal_if_full(&mut self, epoch: &crate::sync::Epoch) {
        if self.current.items < BATCH {
            return;
        }
        let batch = core::mem::take(&mut self.current);
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        // SAFETY: the closure only raises a flag it co-owns; it runs once, after every reader
        // pinned now has unpinned, which is what the flag then means.
        unsafe { epoch.defer(move || flag.store(true, Ordering::Release)) };
        self.pending.push_back((batch, done));
    }

    /// Frees, drops or keeps for reuse everything whose grace period has ended.
    pub(crate) fn collect(&mut self) {
        while let Some((_, done)) = self.pending.front() {
            if !done.load(Ordering::Acquire) {
                break;
            }
            let (batch, _) = self.pending.pop_front().expect("front exists");
            // SAFETY: the flag was raised after the batch's grace period (Acquire pairs with
            // the closure's Release): no reader can still reach anything in it.
            unsafe { self.release(batch) };
        }
    }

    /// # Safety
    /// No reader may still reach anything in `batch`.
    unsafe fn release(&mut self, batch: Batch) {
        let (cache, drop_entry) = (&mut self.cache, self.drop_entry);
        for retired in batch.writes {
            // Frames go to the cache for reuse while it has room, the rest are freed.
            let keep = |node: NodePtr| {
                if cache.len() < NODE_CACHE {
                    cache.push(node);
                    None
                } else {
                    Some(node)
                }
            };
            // SAFETY: the batch's grace period is over (the caller's guarantee).
            unsafe { retired.release(drop_entry, keep) };
        }
    }
}

impl Drop for Reclaimer {
    fn drop(&mut self) {
        // The reclaimer is dropped with its tree, whose readers all borrow the tree: none is
        // left, so every grace period is over.
        let current = core::mem::take(&mut self.current);
        let pending: Vec<Batch> = self.pending.drain(..).map(|(b, _)| b).collect();
        for batch in pending.into_iter().chain(core::iter::once(current)) {
            // SAFETY: no reader exists (see above).
            unsafe { self.release(batch) };
        }
        for node in self.cache.drain(..) {
            // SAFETY: cached frames are unreachable.
            unsafe { node.free() };
        }
    }
}
