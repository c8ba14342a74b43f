//! Reserved stores (the kernel's `mas_preallocate` + `mas_store_prealloc`): every node a store
//! may need is allocated first, so the store itself cannot fail.

use core::fmt;
use core::ops::{RangeBounds, RangeInclusive};

use alloc::vec::Vec;

use crate::bounds::window;
use crate::entry::{into_word, Entry, HasCloneOps};
use crate::mode::{Mode, Pool, TakeOld};
use crate::tree::{out_of_memory, MapleTree};
use crate::view::TreeView;
use crate::write::worst_case_nodes;
use crate::{Error, Exclusive};

/// Nodes reserved for one store over one range. It holds the tree (mutably borrowed, or a
/// shared tree's writer lock) until [`store`](Prealloc::store) uses it, so no other write can
/// change what the reservation was made for; reads go through it meanwhile. Dropping it frees
/// the nodes and changes nothing.
///
/// ```
/// use std::sync::Arc;
/// use maple_tree::{RcuMapleTree, TreeKind};
///
/// let vmas = RcuMapleTree::new(TreeKind::Alloc);
/// let reserved = vmas.preallocate(0x4000..0x5000).unwrap(); // the only step that can fail
/// assert_eq!(reserved.load(0x4000), None); // reads go through the reservation
/// reserved.store(Arc::new("heap"));
/// assert_eq!(vmas.read().load(0x4abc).map(|v| *v), Some("heap"));
/// ```
pub struct Prealloc<'w, E: Entry, M: Mode = crate::Owned> {
    tree: Holder<'w, E, M>,
    first: u64,
    last: u64,
    nodes: Pool,
}

/// How a reservation holds its tree.
enum Holder<'w, E: Entry, M: Mode> {
    Borrowed(&'w mut MapleTree<E, M>),
    /// A shared tree's writer guard, taken for the reservation.
    Held(MapleTree<E, M>),
}

impl<'w, E: Entry, M: Mode> Prealloc<'w, E, M> {
    pub(crate) fn new_borrowed(
        tree: &'w mut MapleTree<E, M>,
        first: u64,
        last: u64,
    ) -> Result<Self, Error> {
        Self::reserve(Holder::Borrowed(tree), first, last)
    }

    #[cfg(feature = "std")]
    pub(crate) fn new_held(tree: MapleTree<E, M>, first: u64, last: u64) -> Result<Self, Error> {
        Self::reserve(Holder::Held(tree), first, last)
    }

    fn reserve(tree: Holder<'w, E, M>, first: u64, last: u64) -> Result<Self, Error> {
        let mut prealloc = Prealloc {
            tree,
            first,
            last,
            nodes: Pool::new(Vec::new()),
        };
        let raw = prealloc.tree().raw();
        // One level more than now: the store may grow the tree.
        let needed = worst_case_nodes(raw.height() + 1, raw.kind);
        let nodes = prealloc.nodes.get_mut();
        nodes.reserve_exact(needed);
        for _ in 0..needed {
            // On failure `prealloc` is dropped, which frees what was taken.
            nodes.push(crate::supply::new_node(true)?);
        }
        Ok(prealloc)
    }

    fn tree(&self) -> &MapleTree<E, M> {
        match &self.tree {
            Holder::Borrowed(t) => t,
            Holder::Held(t) => t,
        }
    }

    /// The range the store will cover.
    #[must_use]
    pub fn range(&self) -> RangeInclusive<u64> {
        self.first..=self.last
    }
}

impl<E: Entry + Clone, M: TakeOld<E>> Prealloc<'_, E, M> {
    /// Stores `entry` over the reserved range, overwriting and splitting what is there, and
    /// returns the entry that was at its first index, as
    /// [`MapleTree::store_range`] does. It cannot fail: every node it may need is reserved.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.store_range(0..=99, Value::new(1)).unwrap();
    /// let reserved = tree.preallocate(40..=59).unwrap();
    /// assert_eq!(reserved.store(Value::new(2)), Some(Value::new(1)));
    /// assert!(tree.keys().eq([0..=39, 40..=59, 60..=99]));
    /// ```
    pub fn store(mut self, entry: E) -> Option<E> {
        let word = into_word(entry);
        let (first, last) = (self.first, self.last);
        let tree = match &mut self.tree {
            Holder::Borrowed(t) => &mut **t,
            Holder::Held(t) => t,
        };
        // SAFETY: `word` is an `E` whose ownership passes to the tree on success.
        let result = unsafe {
            tree.mode
                .write_taking_old(first, last, word, &E::CLONE_OPS, Some(&self.nodes))
        };
        match result {
            Ok(old) => old,
            // The reserve holds the worst case for the tree's height plus one, and nothing
            // else could write in between: the allocator is never asked.
            Err(_) => out_of_memory(),
        }
    }
}

impl<E: Entry, M: Mode> Drop for Prealloc<'_, E, M> {
    fn drop(&mut self) {
        for node in self.nodes.get_mut().drain(..) {
            // SAFETY: reserved by this value and never linked into a tree.
            unsafe { node.ptr().free() };
        }
    }
}

impl<E: Entry, M: Mode> core::ops::Deref for Prealloc<'_, E, M> {
    type Target = TreeView<E, Exclusive>;
    fn deref(&self) -> &Self::Target {
        self.tree()
    }
}

impl<E: Entry, M: Mode> fmt::Debug for Prealloc<'_, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prealloc")
            .field("range", &self.range())
            .field("nodes", &self.nodes.borrow().len())
            .finish()
    }
}

// SAFETY: the reserved nodes are plain memory owned by this value; the rest is the tree it
// holds, which decides (`Holder` is `Send` exactly when the tree or `&mut` to it is).
unsafe impl<E: Entry, M: Mode> Send for Prealloc<'_, E, M> where MapleTree<E, M>: Send {}

impl<E: Entry, M: Mode> MapleTree<E, M> {
    /// Reserves every node a store over `range` may need, so that the store cannot fail
    /// (the kernel's `mas_preallocate` and `mas_store_prealloc`). The reservation holds the
    /// tree until it is used or dropped.
    ///
    /// Errors: [`Error::Invalid`] for an empty range, [`Error::NoMemory`].
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// let reserved = tree.preallocate(0x4000..0x5000).unwrap(); // the only step that can fail
    /// assert_eq!(reserved.store(Value::new(1)), None);
    /// assert_eq!(tree.load(0x4fff), Some(Value::new(1)));
    /// ```
    pub fn preallocate<R: RangeBounds<u64>>(
        &mut self,
        range: R,
    ) -> Result<Prealloc<'_, E, M>, Error> {
        let (first, last) = window(&range)?;
        Prealloc::new_borrowed(self, first, last)
    }
}
