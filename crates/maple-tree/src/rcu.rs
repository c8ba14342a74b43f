//! Concurrent readers: the kernel's RCU mode.
//!
//! [`RcuMapleTree`] lets any number of threads read without taking a lock while one writer
//! at a time (serialised by the tree's writer lock) changes it:
//!
//! * Writers never change a node a reader may be walking, except with single-word stores a
//!   reader can observe either way (replacing one entry, recording a gap). Every rebuilt
//!   part is built privately and published with one Release pointer store.
//! * Replaced nodes are marked dead (their parent word names themselves) and freed or reused
//!   only after every reader that could still see them has unpinned (grace periods from
//!   `crossbeam-epoch`, the work done by the writer: see `reclaim`). Entries removed from the
//!   tree are dropped after the same grace period.
//! * Readers check for dead nodes after reading a node and restart from the root when they
//!   meet one, so they never return data read from a replaced node.
//!
//! The owned [`MapleTree`] is the same tree without any of this cost: whether writes take the
//! in-place, immediately-reclaiming path is decided by ownership (`&mut MapleTree` or
//! [`RcuMapleTree::into_inner`]), not by a flag.
//!
//! ```
//! use std::sync::Arc;
//! use maple_tree::{RcuMapleTree, TreeKind};
//!
//! let tree = Arc::new(RcuMapleTree::new(TreeKind::Alloc));
//! tree.write().store_range(0x1000..=0x1fff, Arc::new("text")).unwrap();
//! let reader = {
//!     let tree = Arc::clone(&tree);
//!     std::thread::spawn(move || tree.read().load(0x1abc).map(|e| **e))
//! };
//! assert_eq!(reader.join().unwrap(), Some("text"));
//! ```

use core::cell::RefCell;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, RangeBounds, RangeInclusive};

use alloc::vec::Vec;
#[cfg(not(loom))]
use crossbeam_epoch::{self as epoch, Guard};

use crate::entry::{
    borrow_slot, from_word, into_word, is_entry, zero_word, Entry, EntryOps, HasCloneOps, HasOps,
    Word,
};
use crate::node::NodePtr;
use crate::path::Path;
use crate::raw::{RawTree, Reclaim, WriteCtx};
use crate::reclaim::Reclaimer;
#[cfg(loom)]
use crate::sync::loom_reclaim::Grace;
use crate::sync::{Mutex, MutexGuard};
use crate::tree::bounds;
use crate::write::worst_case_nodes;
use crate::{Error, InsertError, MapleTree, TreeKind, ValidateError};

/// A maple tree shared between threads: lock-free readers, one writer at a time.
///
/// Entries must be `Send + Sync + 'static`: readers on other threads borrow them, and an
/// entry removed by a write is dropped later on another thread: by the writer of a later
/// write once the grace period has ended, or by whoever drops the tree.
pub struct RcuMapleTree<E: Entry + Send + Sync + 'static> {
    tree: MapleTree<E>,
    /// The writer lock, and what writes retired, waiting for their grace period.
    writer: Mutex<RefCell<Reclaimer>>,
    /// Loom only: grace periods and deferred destruction in place of crossbeam-epoch.
    #[cfg(loom)]
    grace: Grace,
}

// SAFETY: readers only load atomics and borrow `E: Sync`; writes are serialised by `writer`;
// removed entries (`E: Send`) may be dropped on another thread after the grace period.
unsafe impl<E: Entry + Send + Sync + 'static> Sync for RcuMapleTree<E> {}
// SAFETY: moving the tree moves its entries (`E: Send`).
unsafe impl<E: Entry + Send + Sync + 'static> Send for RcuMapleTree<E> {}

impl<E: Entry + Send + Sync + 'static> RcuMapleTree<E> {
    /// An empty shared tree of `kind`.
    pub fn new(kind: TreeKind) -> Self {
        Self::from_tree(MapleTree::with_kind(kind))
    }
    /// Shares an owned tree.
    pub fn from_tree(tree: MapleTree<E>) -> Self {
        let reclaimer = Reclaimer::new(tree.raw.drop_entry, tree.raw.internal_shape());
        RcuMapleTree {
            tree,
            writer: Mutex::new(RefCell::new(reclaimer)),
            #[cfg(loom)]
            grace: Grace::new(),
        }
    }
    /// Takes the tree back for owned, in-place use. No reader can exist: `self` is owned.
    pub fn into_inner(self) -> MapleTree<E> {
        self.tree
    }
    /// Starts a lock-free read section.
    pub fn read(&self) -> ReadGuard<'_, E> {
        #[cfg(loom)]
        self.grace.pin();
        ReadGuard {
            raw: &self.tree.raw,
            #[cfg(not(loom))]
            guard: epoch::pin(),
            #[cfg(loom)]
            grace: &self.grace,
            _e: PhantomData,
        }
    }
    /// Takes the writer lock.
    pub fn write(&self) -> WriteGuard<'_, E> {
        WriteGuard {
            tree: &self.tree,
            raw: &self.tree.raw,
            reclaimer: self.writer.lock().unwrap_or_else(|p| p.into_inner()),
            #[cfg(loom)]
            grace: &self.grace,
            _e: PhantomData,
        }
    }
    /// Stored ranges (a snapshot; may be stale under concurrent writes).
    pub fn len(&self) -> usize {
        self.tree.raw.len()
    }
    /// Whether the tree holds no range (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An entry read from a shared tree. It stays valid while the read section that produced it
/// lasts (the borrow checker ties it to the [`ReadGuard`]).
///
/// ```
/// use maple_tree::{RcuMapleTree, TreeKind, Value};
/// let tree = RcuMapleTree::new(TreeKind::Plain);
/// tree.write().store_range(1..=2, Value::new(7)).unwrap();
/// let guard = tree.read();
/// let entry = guard.load(1).unwrap();
/// assert_eq!(entry.get(), 7);
/// ```
///
/// Keeping it past the end of its read section does not compile, since a writer may drop the
/// entry once no reader is pinned:
///
/// ```compile_fail,E0597
/// use maple_tree::{RcuMapleTree, TreeKind, Value};
/// let tree = RcuMapleTree::new(TreeKind::Plain);
/// tree.write().store_range(1..=2, Value::new(7)).unwrap();
/// let entry = {
///     let guard = tree.read();
///     guard.load(1).unwrap()
/// }; // `guard` does not live long enough
/// assert_eq!(entry.get(), 7);
/// ```
pub struct EntryRef<'g, E: Entry> {
    entry: ManuallyDrop<E>,
    _guard: PhantomData<&'g E>,
}

impl<E: Entry> Deref for EntryRef<'_, E> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.entry
    }
}

impl<E: Entry + core::fmt::Debug> core::fmt::Debug for EntryRef<'_, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

/// A lock-free read section over an [`RcuMapleTree`].
///
/// It pins the calling thread (a crossbeam-epoch guard), so it stays on that thread:
///
/// ```compile_fail,E0277
/// use maple_tree::{RcuMapleTree, TreeKind, Value};
/// let tree = RcuMapleTree::<Value>::new(TreeKind::Plain);
/// let guard = tree.read();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard)); // `ReadGuard` is not `Send`
/// });
/// ```
pub struct ReadGuard<'t, E: Entry> {
    raw: &'t RawTree,
    #[cfg(not(loom))]
    guard: Guard,
    #[cfg(loom)]
    grace: &'t Grace,
    _e: PhantomData<E>,
}

#[cfg(loom)]
impl<E: Entry> Drop for ReadGuard<'_, E> {
    fn drop(&mut self) {
        self.grace.unpin();
    }
}

impl<E: Entry> ReadGuard<'_, E> {
    fn entry(&self, w: Word) -> Option<EntryRef<'_, E>> {
        is_entry(w).then(|| EntryRef {
            // SAFETY: `w` was read from a slot during this read section, so the entry is not
            // dropped before the section ends; the copy is never dropped (ManuallyDrop).
            entry: ManuallyDrop::new(unsafe { from_word::<E>(w) }),
            _guard: PhantomData,
        })
    }

    /// The entry whose range holds `index`.
    pub fn load(&self, index: u64) -> Option<EntryRef<'_, E>> {
        loop {
            if let Some(found) = self.raw.lookup(index, true) {
                return found.and_then(|(_, _, w)| self.entry(w));
            }
            #[cfg(loom)]
            loom_stats::restarted();
        }
    }

    /// A path to `index` read entirely from live nodes.
    fn live_path(&self, index: u64) -> Path {
        loop {
            let p = self.raw.path_to(index);
            if !p.any_dead() {
                return p;
            }
            #[cfg(loom)]
            loom_stats::restarted();
        }
    }

    /// The range holding `index` (stored or empty) and its entry.
    pub fn load_range(&self, index: u64) -> (RangeInclusive<u64>, Option<EntryRef<'_, E>>) {
        let p = self.live_path(index);
        if p.is_empty() {
            return (0..=u64::MAX, None);
        }
        let (s, e, w) = p.current();
        (s..=e, self.entry(w))
    }

    /// The first entry at or after `start` whose range starts at or below `max`.
    pub fn find(&self, start: u64, max: u64) -> Option<(RangeInclusive<u64>, EntryRef<'_, E>)> {
        self.range(start..=max).next()
    }

    /// Entries in key order.
    pub fn iter(&self) -> SharedIter<'_, E> {
        self.range(..)
    }

    /// Entries whose ranges intersect `r`, in key order.
    pub fn range<R: RangeBounds<u64>>(&self, r: R) -> SharedIter<'_, E> {
        let (lo, hi) = crate::tree::to_inclusive(&r).unwrap_or((1, 0));
        SharedIter {
            reader: self,
            path: if lo <= hi {
                Some(self.live_path(lo))
            } else {
                None
            },
            lo,
            hi,
        }
    }

    /// Ends the read section early, letting reclamation proceed (dropping the guard does too).
    pub fn unpin(self) {}

    #[doc(hidden)]
    #[cfg(not(loom))]
    pub fn epoch_guard(&self) -> &Guard {
        &self.guard
    }
}

/// Forward iteration over a shared tree. Whenever it meets a replaced node it walks again
/// from the root to where it was, so it never yields data read from a dead node.
pub struct SharedIter<'r, E: Entry> {
    reader: &'r ReadGuard<'r, E>,
    path: Option<Path>,
    lo: u64,
    hi: u64,
}

impl<'r, E: Entry> Iterator for SharedIter<'r, E> {
    type Item = (RangeInclusive<u64>, EntryRef<'r, E>);
    fn next(&mut self) -> Option<Self::Item> {
        let internal = self.reader.raw.internal_shape();
        loop {
            let path = self.path.as_mut()?;
            if path.is_empty() {
                self.path = None;
                return None;
            }
            let (s, e, w) = path.current();
            if path.leaf().node.is_dead() {
                #[cfg(loom)]
                loom_stats::restarted();
                *path = self.reader.live_path(self.lo);
                continue;
            }
            if e >= self.hi || !path.next_slot(internal) {
                self.path = None;
            } else {
                self.lo = e + 1;
            }
            if let Some(entry) = self.reader.entry(w) {
                return Some((s..=e, entry));
            }
        }
    }
}

/// Loom only: how often readers met a replaced node and restarted, so models can show that
/// the restart paths were exercised.
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
}

/// Nodes reserved for one store, so that the store cannot fail
/// (the kernel's `mas_preallocate` + `mas_store_prealloc`).
pub struct Prealloc {
    nodes: RefCell<Vec<NodePtr>>,
    range: (u64, u64),
}

impl Drop for Prealloc {
    fn drop(&mut self) {
        for n in self.nodes.get_mut().drain(..) {
            // SAFETY: preallocated, never linked.
            unsafe { n.free() };
        }
    }
}

// SAFETY: the pool only holds unlinked nodes owned by this value.
unsafe impl Send for Prealloc {}

/// The writer of an [`RcuMapleTree`]: every write is safe for concurrent readers.
pub struct WriteGuard<'t, E: Entry> {
    tree: &'t MapleTree<E>,
    raw: &'t RawTree,
    pub(crate) reclaimer: MutexGuard<'t, RefCell<Reclaimer>>,
    #[cfg(loom)]
    grace: &'t Grace,
    _e: PhantomData<E>,
}

impl<E: Entry + Send + Sync + 'static> WriteGuard<'_, E> {
    /// Runs `f` with the write context of a shared tree: copy-on-write, reclamation after the
    /// grace period. The writer needs no pin of its own: only it frees nodes, and it does so
    /// here, between writes.
    fn with_ctx<R>(
        &mut self,
        ops: &EntryOps,
        pool: Option<&RefCell<Vec<NodePtr>>>,
        f: impl FnOnce(&RawTree, &WriteCtx<'_, '_>) -> R,
    ) -> R {
        let reclaimer: &RefCell<Reclaimer> = &self.reclaimer;
        reclaimer.borrow_mut().collect();
        let ctx = WriteCtx {
            ops,
            reclaim: Reclaim::Deferred(reclaimer),
            want_old: false,
            pool,
        };
        let result = f(self.raw, &ctx);
        reclaimer.borrow_mut().seal_if_full(
            #[cfg(loom)]
            self.grace,
        );
        #[cfg(loom)]
        self.grace.try_reclaim();
        result
    }

    fn write(
        &mut self,
        s: u64,
        e: u64,
        word: Word,
        ops: &EntryOps,
        pool: Option<&RefCell<Vec<NodePtr>>>,
    ) -> Result<(), Error> {
        self.with_ctx(ops, pool, |raw, ctx| raw.write(s, e, word, ctx).map(drop))
    }

    /// The whole tree, read-only, for what the writer reads in bulk (iteration, cursors,
    /// [`MapleTree::try_dup`], [`MapleTree::try_dup_map`]): while the writer lock is held
    /// nothing changes it, and lock-free readers never write.
    pub fn tree(&self) -> &MapleTree<E> {
        self.tree
    }

    /// The entry at `index` (the writer lock keeps it alive while borrowed). The borrow ends
    /// before the next write, which may retire the entry:
    ///
    /// ```compile_fail,E0502
    /// use maple_tree::{RcuMapleTree, TreeKind, Value};
    /// let tree = RcuMapleTree::new(TreeKind::Plain);
    /// let mut w = tree.write();
    /// w.store_range(1..=2, Value::new(7)).unwrap();
    /// let entry = w.load(1).unwrap();
    /// w.erase_range(0..=10).unwrap(); // `w` is still borrowed by `entry`
    /// assert_eq!(entry.get(), 7);
    /// ```
    pub fn load(&self, index: u64) -> Option<&E> {
        let p = self.raw.path_to(index);
        if p.is_empty() {
            return None;
        }
        let leaf = p.leaf();
        let w = leaf.word(leaf.offset);
        // SAFETY: only this writer can change or drop the slot's entry, and it cannot write
        // while `&self` is borrowed; the node lives until a write retires it.
        is_entry(w).then(|| unsafe {
            borrow_slot::<E>(&*(leaf.node.slot_ref(leaf.shape, leaf.offset) as *const _))
        })
    }

    /// Stores `entry` over `range`, only if it is all empty.
    pub fn insert_range(
        &mut self,
        range: RangeInclusive<u64>,
        entry: E,
    ) -> Result<(), InsertError<E>> {
        let word = into_word(entry);
        self.with_ctx(&E::OPS, None, |raw, ctx| raw.insert(&range, word, ctx))
            .map_err(|error| InsertError {
                error,
                // SAFETY: the insert failed, so the word was not stored and is still ours.
                entry: unsafe { from_word(word) },
            })
    }

    /// The lowest fitting empty range (see [`MapleTree::empty_area`]).
    pub fn empty_area(
        &self,
        range: RangeInclusive<u64>,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        self.raw.find_hole(&range, size, false)
    }
    /// The highest fitting empty range (see [`MapleTree::empty_area_rev`]).
    pub fn empty_area_rev(
        &self,
        range: RangeInclusive<u64>,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        self.raw.find_hole(&range, size, true)
    }
    /// Stores `entry` in the lowest fitting hole; returns its start.
    pub fn alloc_range(
        &mut self,
        size: u64,
        range: RangeInclusive<u64>,
        entry: E,
    ) -> Result<u64, InsertError<E>> {
        self.alloc_in(size, range, entry, false)
    }
    /// Stores `entry` in the highest fitting hole; returns its start.
    pub fn alloc_rrange(
        &mut self,
        size: u64,
        range: RangeInclusive<u64>,
        entry: E,
    ) -> Result<u64, InsertError<E>> {
        self.alloc_in(size, range, entry, true)
    }
    fn alloc_in(
        &mut self,
        size: u64,
        range: RangeInclusive<u64>,
        entry: E,
        rev: bool,
    ) -> Result<u64, InsertError<E>> {
        match self.raw.alloc_hole(&range, size, rev) {
            Ok(hole) => self
                .insert_range(hole.clone(), entry)
                .map(|()| *hole.start()),
            Err(error) => Err(InsertError { error, entry }),
        }
    }
    /// Reserves the nodes a store over `range` may need, so that
    /// [`store_prealloc`](Self::store_prealloc) cannot fail.
    pub fn preallocate(&self, range: RangeInclusive<u64>) -> Result<Prealloc, Error> {
        let (s, e) = bounds(&range)?;
        let n = worst_case_nodes(self.raw.height() + 1, self.raw.kind);
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            match NodePtr::alloc() {
                Some(node) => nodes.push(node),
                None => {
                    drop(Prealloc {
                        nodes: RefCell::new(nodes),
                        range: (s, e),
                    });
                    return Err(Error::NoMemory);
                }
            }
        }
        Ok(Prealloc {
            nodes: RefCell::new(nodes),
            range: (s, e),
        })
    }
    /// Number of tree levels.
    pub fn height(&self) -> usize {
        self.raw.height()
    }
    /// Stored ranges.
    pub fn len(&self) -> usize {
        self.raw.len()
    }
    /// Whether no range is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Checks every invariant (see [`MapleTree::validate`]).
    pub fn validate(&self) -> Result<(), ValidateError> {
        self.raw.validate()
    }
}

impl<E: Entry + Clone + Send + Sync + 'static> WriteGuard<'_, E> {
    /// Stores `entry` over `range`, overwriting and splitting; overwritten entries are dropped
    /// after the grace period. Returns a clone of the entry that was at the first index.
    pub fn store_range(
        &mut self,
        range: RangeInclusive<u64>,
        entry: E,
    ) -> Result<Option<E>, Error> {
        let (s, e) = bounds(&range)?;
        let old = self.load(s).cloned();
        let word = into_word(entry);
        match self.write(s, e, word, &E::CLONE_OPS, None) {
            Ok(()) => Ok(old),
            Err(err) => {
                // SAFETY: not stored; still ours.
                drop(unsafe { from_word::<E>(word) });
                Err(err)
            }
        }
    }
    /// Stores the entry using nodes reserved by [`preallocate`](Self::preallocate) for the
    /// same range: it cannot fail.
    pub fn store_prealloc(&mut self, prealloc: Prealloc, entry: E) {
        let (s, e) = prealloc.range;
        let word = into_word(entry);
        self.write(s, e, word, &E::CLONE_OPS, Some(&prealloc.nodes))
            .expect("a preallocated store has every node it can need");
    }
    /// Empties `range` (the kernel's NULL store).
    pub fn erase_range(&mut self, range: RangeInclusive<u64>) -> Result<(), Error> {
        let (s, e) = bounds(&range)?;
        self.write(s, e, core::ptr::null_mut(), &E::CLONE_OPS, None)
    }
    /// Stores the reserved zero entry over `range`.
    pub fn reserve_range(&mut self, range: RangeInclusive<u64>) -> Result<(), Error> {
        let (s, e) = bounds(&range)?;
        self.write(s, e, zero_word(), &E::CLONE_OPS, None)
    }
    /// Removes the range holding `index`; returns it with a clone of its entry (the original
    /// is dropped after the grace period, since readers may still hold it).
    pub fn erase(&mut self, index: u64) -> Result<Option<(RangeInclusive<u64>, E)>, Error> {
        let (s, e, w) = self.raw.range_at(index);
        if w.is_null() {
            return Ok(None);
        }
        let old = self.load(index).cloned();
        self.write(s, e, core::ptr::null_mut(), &E::CLONE_OPS, None)?;
        Ok(old.map(|o| (s..=e, o)))
    }
}
