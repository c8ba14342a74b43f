//! [`TreeView`]: every read of a tree, written once for its owner, its writer and its lock-free
//! readers.
//!
//! A [`MapleTree`] (owned, or a shared tree's [`WriteGuard`](crate::WriteGuard)) dereferences
//! to a `TreeView<E, Exclusive>`: nothing can change the tree while it is borrowed. A
//! [`ReadGuard`](crate::ReadGuard) dereferences to a `TreeView<E, Lockless>`: a writer may be
//! changing the tree meanwhile, so every walk checks the nodes it read for replacement and walks
//! again when one was replaced (the kernel's dead-node check). Both hand out entries as
//! [`Entry::Ref`] borrowed for as long as the view is.

use core::marker::PhantomData;
use core::ops::{RangeBounds, RangeInclusive};

use alloc::string::String;

use crate::cursor::Cursor;
use crate::entry::{is_entry, view, zero_word, Entry};
use crate::iter::{Gaps, Iter, Keys, Range, RawIter, Values};
use crate::kind::TreeKind;
use crate::raw::RawTree;
use crate::tree::{to_inclusive, window, MapleTree};
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

/// The read side of a tree. You never hold one by value: a [`MapleTree`] and a
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
    fn lockless(&self) -> bool {
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
    /// [`MapleTree::reserve_range`]).
    #[must_use]
    pub fn is_reserved(&self, index: u64) -> bool {
        self.raw.range_at_checked(index, self.lockless()).2 == zero_word()
    }

    /// Entries whose ranges meet `range`, in key order, each with its whole range (the same
    /// as [`overlapping`](Self::overlapping); `range` is `BTreeMap`'s name for it).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..5u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
    /// let met: Vec<_> = tree.range(12..=31).map(|(r, v)| (r, v.get())).collect();
    /// assert_eq!(met, [(10..=14, 1), (20..=24, 2), (30..=34, 3)]);
    /// ```
    pub fn range<R: RangeBounds<u64>>(&self, range: R) -> Range<'_, E> {
        self.overlapping(range)
    }

    /// Entries whose ranges meet `range`, in key order, each with its whole range (rangemap's
    /// `overlapping`). Double-ended.
    ///
    /// Inside a lock-free read section a concurrent write may change ranges not yet reached:
    /// the iterator then yields what the tree holds when it gets there, and never a range that
    /// starts at or before the end of one it already yielded. An entry whose range a write
    /// moved back over ground already covered is clipped to start after it.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..5u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
    /// let last_two: Vec<_> = tree.overlapping(15..).rev().take(2).map(|(r, _)| r).collect();
    /// assert_eq!(last_two, [40..=44, 30..=34]);
    /// ```
    pub fn overlapping<R: RangeBounds<u64>>(&self, range: R) -> Range<'_, E> {
        let (lo, hi) = to_inclusive(&range).unwrap_or((1, 0));
        Range::new(RawIter::new(&self.raw, lo, hi, self.lockless()))
    }

    /// The ranges of the stored entries, in key order.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = [(0..=4, Value::new(0)), (8..=9, Value::new(1))].into_iter().collect();
    /// assert!(tree.keys().eq([0..=4, 8..=9]));
    /// ```
    pub fn keys(&self) -> Keys<Range<'_, E>> {
        Keys::new(self.overlapping(..))
    }

    /// The stored entries, in key order.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = [(0..=4, Value::new(7)), (8..=9, Value::new(9))].into_iter().collect();
    /// assert!(tree.values().map(|v| v.get()).eq([7, 9]));
    /// ```
    pub fn values(&self) -> Values<Range<'_, E>> {
        Values::new(self.overlapping(..))
    }

    /// The empty ranges inside `range`, in key order and clipped to it (rangemap's `gaps`).
    /// Zero entries are not gaps: they occupy their range. Double-ended.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.insert_range(10..=19, Value::new(1)).unwrap();
    /// tree.reserve_range(30..=39).unwrap();
    /// assert!(tree.gaps(0..=49).eq([0..=9, 20..=29, 40..=49]));
    /// ```
    pub fn gaps<R: RangeBounds<u64>>(&self, range: R) -> Gaps<'_> {
        let (lo, hi) = to_inclusive(&range).unwrap_or((1, 0));
        Gaps::new(&self.raw, lo, hi, self.lockless())
    }

    /// The first stored entry.
    #[must_use]
    pub fn first(&self) -> Option<(RangeInclusive<u64>, E::Ref<'_>)> {
        self.overlapping(..).next()
    }
    /// The last stored entry.
    #[must_use]
    pub fn last(&self) -> Option<(RangeInclusive<u64>, E::Ref<'_>)> {
        self.overlapping(..).next_back()
    }

    /// The first entry at or after `start` whose range begins at or below `max` (the kernel's
    /// `mt_find`).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.insert_range(10..=19, Value::new(1)).unwrap();
    /// assert_eq!(tree.find(0, 100), Some((10..=19, Value::new(1))));
    /// assert_eq!(tree.find(0, 9), None); // starts above `max`
    /// ```
    #[must_use]
    pub fn find(&self, start: u64, max: u64) -> Option<(RangeInclusive<u64>, E::Ref<'_>)> {
        self.overlapping(start..=max).next()
    }

    /// A cursor starting at `index` (nothing is walked until it is used).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..4u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
    /// let mut c = tree.cursor(12);
    /// assert_eq!(c.find(u64::MAX), Some((10..=14, Value::new(1))));
    /// assert_eq!(c.next(u64::MAX), Some((20..=24, Value::new(2))));
    /// assert_eq!(c.prev(0), Some((10..=14, Value::new(1))));
    /// ```
    #[must_use]
    pub fn cursor(&self, index: u64) -> Cursor<'_, E> {
        Cursor::new(&self.raw, index, self.lockless())
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
    /// Iterates over `(range, entry)` in key order, skipping empty ranges and zero entries.
    /// Double-ended, with an exact length.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.store_range(10..=19, Value::new(1)).unwrap();
    /// tree.store_range(15..=24, Value::new(2)).unwrap();
    /// let all: Vec<_> = tree.iter().map(|(r, v)| (r, v.get())).collect();
    /// assert_eq!(all, [(10..=14, 1), (15..=24, 2)]);
    /// assert_eq!(tree.iter().len(), 2);
    /// ```
    pub fn iter(&self) -> Iter<'_, E> {
        Iter::new(&self.raw)
    }

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

impl<E: Entry> TreeView<E, Lockless> {
    /// Entries in key order (see [`overlapping`](Self::overlapping) for what a concurrent
    /// write does to it).
    pub fn iter(&self) -> Range<'_, E> {
        self.overlapping(..)
    }
}

impl<'a, E: Entry> IntoIterator for &'a TreeView<E, crate::Exclusive> {
    type Item = (RangeInclusive<u64>, E::Ref<'a>);
    type IntoIter = Iter<'a, E>;
    fn into_iter(self) -> Iter<'a, E> {
        self.iter()
    }
}

impl<E: Entry + core::fmt::Debug> core::fmt::Debug for TreeView<E, crate::Exclusive> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.entries_ref()).finish()
    }
}

impl<E: Entry> core::fmt::Debug for TreeView<E, Lockless>
where
    for<'a> E::Ref<'a>: core::fmt::Debug,
{
    /// The map of the entries the lock-free walk meets (what [`iter`](Self::iter) yields).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

// Reads of a `MapleTree` go through its view.
impl<E: Entry, M: crate::Mode> core::ops::Deref for MapleTree<E, M> {
    type Target = TreeView<E, crate::Exclusive>;
    #[inline]
    fn deref(&self) -> &Self::Target {
        TreeView::from_raw(self.raw())
    }
}
