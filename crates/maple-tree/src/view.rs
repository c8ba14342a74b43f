//! [`TreeView`]: every read of a tree, written once for its owner, its writer and its lock-free
//! readers.
//!
//! A [`MapleTree`](crate::MapleTree) (owned, or a shared tree's [`WriteGuard`](crate::WriteGuard)) dereferences
//! to a `TreeView<E, Exclusive>`: nothing can change the tree while it is borrowed. A
//! [`ReadGuard`](crate::ReadGuard) dereferences to a `TreeView<E, Lockless>`: a writer may be
//! changing the tree meanwhile, so every walk checks the nodes it read for replacement and walks
//! again when one was replaced (the kernel's dead-node check). Both hand out entries as
//! [`Entry::Ref`] borrowed for as long as the view is.

use core::marker::PhantomData;
use core::ops::{RangeBounds, RangeInclusive};

use alloc::string::String;

use crate::bounds::window;
use crate::entry::{is_entry, view, zero_word, Entry};
use crate::kind::TreeKind;
use crate::raw::RawTree;
use crate::{Error, NodeInfo, ValidateError};

/// How a [`TreeView`] may be read. Sealed: [`Exclusive`] or [`Lockless`].
pub trait Access: access::Sealed {}

/// Reads with no writer running: the tree's owner, or the one writer of a shared tree.
#[derive(Debug)]
pub enum Exclusive {}
/// Reads inside a lock-free read section, while the writer may be changing the tree.
#[derive(Debug)]
pub enum Lockless {}

impl Access for Exclusive {}
impl Access for Lockless {}

pub(crate) mod access {
    /// Whether walks must check for replaced nodes.
    pub trait Sealed {
        const LOCKLESS: bool;
    }
    impl Sealed for super::Exclusive {
        const LOCKLESS: bool = false;
    }
    impl Sealed for super::Lockless {
        const LOCKLESS: bool = true;
    }
}

/// The read side of a tree. You never hold one by value: a [`MapleTree`](crate::MapleTree) and a
/// [`WriteGuard`](crate::WriteGuard) dereference to a `TreeView<E, Exclusive>`, a
/// [`ReadGuard`](crate::ReadGuard) to a `TreeView<E, Lockless>`, so these methods are called
/// on them directly.
///
/// ```
/// use maple_tree::{MapleTree, RcuMapleTree, Value};
///
/// let mut tree = MapleTree::new();
/// tree.store_range(10..20, Value::new(1)).unwrap();
/// assert_eq!(tree.load(15), Some(Value::new(1)));
///
/// let shared = RcuMapleTree::from_tree(tree);
/// let reader = shared.read();
/// assert_eq!(reader.load(15), Some(Value::new(1))); // the same method, lock-free
/// ```
#[repr(transparent)]
pub struct TreeView<E: Entry, A: Access> {
    raw: RawTree,
    _entries: PhantomData<(E, fn() -> A)>,
}

impl<E: Entry, A: Access> TreeView<E, A> {
    #[inline]
    pub(crate) fn from_raw(raw: &RawTree) -> &Self {
        // SAFETY: `TreeView` is a transparent wrapper of `RawTree` (its other field is a
        // zero-sized marker), so the reference keeps its address, size and validity.
        unsafe { &*(raw as *const RawTree as *const Self) }
    }
    #[inline]
    pub(crate) fn raw(&self) -> &RawTree {
        &self.raw
    }
    #[inline]
    pub(crate) fn lockless(&self) -> bool {
        <A as access::Sealed>::LOCKLESS
    }

    /// The tree's kind.
    #[must_use]
    pub fn kind(&self) -> TreeKind {
        self.raw.kind
    }
    /// Number of stored ranges (zero entries are not counted). Inside a lock-free read section
    /// it is a snapshot that a concurrent write may have changed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.raw.len()
    }
    /// Whether no range is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Levels of nodes (0 for an empty tree).
    #[must_use]
    pub fn height(&self) -> usize {
        self.raw.height()
    }

    /// The entry whose range holds `index`.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.insert_range(100..=199, Value::new(1)).unwrap();
    /// assert_eq!(tree.load(150), Some(Value::new(1)));
    /// assert_eq!(tree.load(200), None);
    /// ```
    #[inline]
    #[must_use]
    pub fn load(&self, index: u64) -> Option<E::Ref<'_>> {
        let word = loop {
            match self.raw.lookup(index, self.lockless()) {
                Some(found) => break found?.2,
                // A replaced node was read: walk again.
                None => crate::sync::restarted(),
            }
        };
        // SAFETY: `word` was read from a live slot; the view's borrow keeps the entry alive
        // (no write while exclusive, no reclamation while the read section lasts).
        is_entry(word).then(|| unsafe { view::<E>(word) })
    }

    /// Whether an entry's range holds `index` (a zero entry does not count).
    #[must_use]
    pub fn contains(&self, index: u64) -> bool {
        self.load(index).is_some()
    }

    /// The range holding `index`, stored or empty, and its entry.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.insert_range(10..=19, Value::new(1)).unwrap();
    /// assert_eq!(tree.load_range(12), (10..=19, Some(Value::new(1))));
    /// assert_eq!(tree.load_range(25), (20..=u64::MAX, None)); // the empty range after it
    /// ```
    #[must_use]
    pub fn load_range(&self, index: u64) -> (RangeInclusive<u64>, Option<E::Ref<'_>>) {
        let (s, e, word) = self.raw.range_at_checked(index, self.lockless());
        // SAFETY: as in `load`.
        (s..=e, is_entry(word).then(|| unsafe { view::<E>(word) }))
    }

    /// Whether the reserved zero entry covers `index` (see
    /// [`MapleTree::reserve_range`](crate::MapleTree::reserve_range)).
    #[must_use]
    pub fn is_reserved(&self, index: u64) -> bool {
        self.raw.range_at_checked(index, self.lockless()).2 == zero_word()
    }

    /// The lowest empty range of `size` indices inside `range`, as the range a store there
    /// would take (the kernel's `mas_empty_area`). Zero entries count as occupied.
    ///
    /// Errors: [`Error::Invalid`] for a zero size, an empty window or a window smaller than
    /// `size`; [`Error::Busy`] when nothing fits.
    ///
    /// ```
    /// use maple_tree::{Error, MapleTree, Value};
    /// let mut tree = MapleTree::new_alloc();
    /// tree.store_range(0..=9, Value::new(0)).unwrap();
    /// tree.store_range(15..=19, Value::new(1)).unwrap();
    /// assert_eq!(tree.empty_area(0..=100, 5), Ok(10..=14));
    /// assert_eq!(tree.empty_area(0..=19, 6), Err(Error::Busy));
    /// ```
    pub fn empty_area<R: RangeBounds<u64>>(
        &self,
        range: R,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        let (lo, hi) = window(&range)?;
        self.raw
            .empty_area(lo, hi, size, false, self.lockless())
            .map(|(s, e)| s..=e)
    }

    /// The highest empty range of `size` indices inside `range` (the kernel's
    /// `mas_empty_area_rev`, how mmap places mappings top-down). Errors as
    /// [`empty_area`](Self::empty_area).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new_alloc();
    /// tree.store_range(96..=100, Value::new(0)).unwrap();
    /// assert_eq!(tree.empty_area_rev(0..=100, 5), Ok(91..=95));
    /// ```
    pub fn empty_area_rev<R: RangeBounds<u64>>(
        &self,
        range: R,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        let (lo, hi) = window(&range)?;
        self.raw
            .empty_area(lo, hi, size, true, self.lockless())
            .map(|(s, e)| s..=e)
    }
}

impl<E: Entry> TreeView<E, crate::Exclusive> {
    /// Nodes in the tree; each takes [`crate::NODE_SIZE`] bytes.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.raw.node_count()
    }

    /// Checks every structural invariant and reports the first broken one.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..1000u64).map(|i| (i * 3..=i * 3 + 1, Value::new(i))).collect();
    /// assert_eq!(tree.validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<(), ValidateError> {
        self.raw.validate()
    }

    /// A text picture of the nodes, for debugging.
    #[must_use]
    pub fn dump(&self) -> String {
        self.raw.dump()
    }

    /// Visits every node in depth-first pre-order.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..100u64).map(|i| (i * 2..=i * 2, Value::new(i))).collect();
    /// let mut leaves = 0;
    /// tree.visit_nodes(|node| leaves += usize::from(node.is_leaf));
    /// assert!(leaves > 1);
    /// ```
    pub fn visit_nodes(&self, mut f: impl FnMut(NodeInfo<'_>)) {
        self.raw
            .for_each_node(|frame, depth| f(NodeInfo::new(frame, depth)));
    }
}
