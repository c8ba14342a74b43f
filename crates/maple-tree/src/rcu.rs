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
//! The writer is a [`WriteGuard`]: a `MapleTree<E, Shared>`, with exactly the write methods of
//! an owned [`MapleTree`], whose writes take the copy-on-write path. The owned tree is the same
//! tree without any of this cost: whether writes take the in-place, immediately-reclaiming path
//! is decided by ownership (`&mut MapleTree` or [`RcuMapleTree::into_inner`]), not by a flag.
//! Readers get a [`ReadGuard`], which dereferences to the same read API as the owned tree
//! ([`TreeView`]), every walk checking for replaced nodes.
//!
//! ```
//! use std::sync::Arc;
//! use maple_tree::{RcuMapleTree, TreeKind};
//!
//! let tree = Arc::new(RcuMapleTree::new(TreeKind::Alloc));
//! tree.write().store_range(0x1000..=0x1fff, Arc::new("text")).unwrap();
//! let reader = {
//!     let tree = Arc::clone(&tree);
//!     std::thread::spawn(move || tree.read().load(0x1abc).map(|e| *e))
//! };
//! assert_eq!(reader.join().unwrap(), Some("text"));
//! ```

use core::cell::RefCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, RangeBounds};

use crate::bounds::window;
use crate::entry::Entry;
use crate::mode::Shared;
use crate::prealloc::Prealloc;
use crate::raw::RawTree;
use crate::reclaim::Reclaimer;
use crate::sync::{Epoch, Mutex, Pin};
use crate::view::{Lockless, TreeView};
use crate::{Error, MapleTree, TreeKind};

/// A maple tree shared between threads: lock-free readers, one writer at a time.
///
/// Entries must be `Send + Sync + 'static`: readers on other threads borrow them, and an
/// entry removed by a write is dropped later on another thread: by the writer of a later
/// write once the grace period has ended, or by whoever drops the tree. Up to 63 removed
/// entries and replaced nodes wait in the writer's current batch until more writes fill it
/// (see the `reclaim` module); dropping the tree or [`into_inner`](Self::into_inner)
/// releases them.
///
/// ```
/// use maple_tree::{RcuMapleTree, TreeKind, Value};
///
/// let tree = RcuMapleTree::new(TreeKind::Plain);
/// let mut w = tree.write();
/// w.store_range(0..10, Value::new(1)).unwrap();
/// w.insert(20, Value::new(2)).unwrap();
/// drop(w);
/// let r = tree.read();
/// assert_eq!(r.load(5), Some(Value::new(1)));
/// assert_eq!(r.iter().count(), 2);
/// ```
pub struct RcuMapleTree<E: Entry + Send + Sync + 'static> {
    tree: MapleTree<E>,
    /// The writer lock, and what writes retired, waiting for their grace period.
    writer: Mutex<RefCell<Reclaimer>>,
    /// Grace periods (crossbeam-epoch's global collector; loom's stand-in under loom).
    epoch: Epoch,
}

/// The writer of an [`RcuMapleTree`]: a [`MapleTree`] in [`Shared`] mode, with the same write
/// methods, whose every write is safe for concurrent lock-free readers. It holds the tree's
/// writer lock until dropped.
///
/// An entry the writer borrows cannot be held across the next write, which may retire it:
///
/// ```compile_fail,E0502
/// use std::sync::Arc;
/// use maple_tree::{RcuMapleTree, TreeKind};
/// let tree = RcuMapleTree::new(TreeKind::Plain);
/// let mut w = tree.write();
/// w.store_range(1..=2, Arc::new(7)).unwrap();
/// let entry = w.load(1).unwrap();
/// w.erase_range(0..=10).unwrap(); // `w` is still borrowed by `entry`
/// assert_eq!(*entry, 7);
/// ```
pub type WriteGuard<'t, E> = MapleTree<E, Shared<'t>>;

impl<E: Entry + Send + Sync + 'static> RcuMapleTree<E> {
    /// An empty shared tree of `kind`.
    #[must_use]
    pub fn new(kind: TreeKind) -> Self {
        Self::from_tree(MapleTree::with_kind(kind))
    }
    /// Shares an owned tree (the kernel's `mt_set_in_rcu`).
    ///
    /// ```
    /// use maple_tree::{MapleTree, RcuMapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.insert(1, Value::new(1)).unwrap();
    /// let shared = RcuMapleTree::from_tree(tree);
    /// assert_eq!(shared.read().load(1), Some(Value::new(1)));
    /// ```
    #[must_use]
    pub fn from_tree(tree: MapleTree<E>) -> Self {
        let reclaimer = Reclaimer::new(tree.raw().drop_entry);
        RcuMapleTree {
            tree,
            writer: Mutex::new(RefCell::new(reclaimer)),
            // Under loom, freed nodes are only poisoned until the grace state goes (see `sync`).
            #[cfg(loom)]
            // SAFETY: `release_freed_nodes` frees nodes already freed (unlinked) and needs
            // every reader gone, as the epoch's drop is: the shared tree is being dropped.
            epoch: unsafe { Epoch::new(crate::node::release_freed_nodes) },
            #[cfg(not(loom))]
            epoch: Epoch::new(),
        }
    }
    /// Takes the tree back for owned, in-place use (the kernel's `mt_clear_in_rcu`). No
    /// reader can exist: `self` is owned. Everything waiting for a grace period is released.
    ///
    /// ```
    /// use maple_tree::{RcuMapleTree, TreeKind, Value};
    /// let shared = RcuMapleTree::new(TreeKind::Plain);
    /// shared.write().insert(1, Value::new(1)).unwrap();
    /// let mut owned = shared.into_inner();
    /// assert_eq!(owned.erase(1), Ok(Some((1..=1, Value::new(1)))));
    /// ```
    #[must_use]
    pub fn into_inner(self) -> MapleTree<E> {
        self.tree
    }
    /// Starts a lock-free read section (the kernel's `rcu_read_lock`).
    pub fn read(&self) -> ReadGuard<'_, E> {
        ReadGuard {
            raw: self.tree.raw(),
            _pin: self.epoch.pin(),
            _entries: PhantomData,
        }
    }
    /// Takes the writer lock; it is released when the guard is dropped.
    #[must_use = "the writer lock is released as soon as the guard is dropped"]
    pub fn write(&self) -> WriteGuard<'_, E> {
        MapleTree::from_mode(Shared {
            raw: self.tree.raw(),
            writer: self.writer.lock().unwrap_or_else(|p| p.into_inner()),
            epoch: &self.epoch,
        })
    }
    /// Takes the writer lock and reserves every node a store over `range` may need (see
    /// [`Prealloc`]); the lock is held until the reservation is used or dropped.
    ///
    /// Errors: [`Error::Invalid`] for an empty range, [`Error::NoMemory`].
    pub fn preallocate<R: RangeBounds<u64>>(
        &self,
        range: R,
    ) -> Result<Prealloc<'_, E, Shared<'_>>, Error> {
        let (first, last) = window(&range)?;
        Prealloc::new_held(self.write(), first, last)
    }
    /// Stored ranges (a snapshot; may be stale under concurrent writes).
    #[must_use]
    pub fn len(&self) -> usize {
        self.tree.raw().len()
    }
    /// Whether the tree holds no range (a snapshot).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The tree's kind.
    #[must_use]
    pub fn kind(&self) -> TreeKind {
        self.tree.raw().kind
    }
}

impl<E: Entry + Send + Sync + 'static> fmt::Debug for RcuMapleTree<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RcuMapleTree")
            .field("kind", &self.kind())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// A lock-free read section over an [`RcuMapleTree`] (the kernel's `rcu_read_lock`). It
/// dereferences to the tree's read API ([`TreeView`]); what it hands out borrows it, so no
/// entry or node it reached can be freed before it ends.
///
/// ```compile_fail,E0597
/// use std::sync::Arc;
/// use maple_tree::{RcuMapleTree, TreeKind};
/// let tree = RcuMapleTree::new(TreeKind::Plain);
/// tree.write().store_range(1..=2, Arc::new(7)).unwrap();
/// let entry = {
///     let guard = tree.read();
///     guard.load(1).unwrap()
/// }; // `guard` does not live long enough
/// assert_eq!(*entry, 7);
/// ```
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
#[must_use]
pub struct ReadGuard<'t, E: Entry> {
    raw: &'t RawTree,
    _pin: Pin<'t>,
    _entries: PhantomData<(E, *const ())>,
}

impl<E: Entry> Deref for ReadGuard<'_, E> {
    type Target = TreeView<E, Lockless>;
    #[inline]
    fn deref(&self) -> &Self::Target {
        TreeView::from_raw(self.raw)
    }
}

impl<E: Entry> ReadGuard<'_, E> {
    /// Ends the read section early, letting reclamation proceed (dropping the guard does too).
    pub fn unpin(self) {}
}

impl<E: Entry> fmt::Debug for ReadGuard<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGuard")
            .field("len", &self.raw.len())
            .finish_non_exhaustive()
    }
}
