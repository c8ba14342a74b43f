//! [`MapleTree`]: the owned tree and its API.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Bound, RangeBounds, RangeInclusive};

use alloc::string::String;
use alloc::vec::Vec;

use crate::cursor::{Cursor, CursorMut, Iter, Range};
use crate::entry::{
    borrow_slot, drop_word, from_word, into_word, is_entry, zero_word, Entry, EntryOps,
    HasCloneOps, HasOps, Word,
};
use crate::raw::{RawTree, Reclaim, WriteCtx};
use crate::{Error, InsertError, ValidateError};

/// Whether a tree tracks free space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TreeKind {
    /// A plain range map: internal nodes hold 16 children.
    Plain,
    /// An allocation tree (the kernel's `MT_FLAGS_ALLOC_RANGE`): internal nodes hold 10
    /// children and record the largest empty range below each, so free-range searches cost
    /// O(height).
    Alloc,
}

/// A map from non-overlapping inclusive ranges of `u64` to entries, stored as the Linux
/// kernel stores its maple tree.
///
/// Every index of `0..=u64::MAX` is covered by exactly one range, stored or empty. A store
/// overwrites and splits whatever it covers; adjacent stored ranges are never merged, even
/// with equal entries. The tree owns its entries: overwriting, erasing or dropping the tree
/// drops them (erase and store hand the removed entry back).
///
/// Nodes are 256-byte blocks from the global allocator. A write that replaces nodes keeps up
/// to 7 of the old ones (1.75 KiB) for the tree's next writes rather than freeing them, as the
/// kernel's slab would; they are freed with the tree.
///
/// ```
/// use maple_tree::{MapleTree, Value};
///
/// let mut tree = MapleTree::new();
/// tree.store_range(10..=19, Value::new(1)).unwrap();
/// tree.store_range(15..=24, Value::new(2)).unwrap();   // splits [10, 19]
/// assert_eq!(tree.load(12), Some(&Value::new(1)));
/// assert_eq!(tree.load(20), Some(&Value::new(2)));
/// assert_eq!(tree.load(25), None);
/// let ranges: Vec<_> = tree.iter().map(|(r, v)| (r, v.get())).collect();
/// assert_eq!(ranges, [(10..=14, 1), (15..=24, 2)]);
/// tree.validate().unwrap();
/// ```
pub struct MapleTree<E: Entry> {
    pub(crate) raw: RawTree,
    /// The cyclic allocator wrapped since its last successful pass (`MT_FLAGS_ALLOC_WRAPPED`).
    cyclic_wrapped: bool,
    _owns: PhantomData<E>,
}

// SAFETY: the tree owns its entries and nodes like a `Box` would; moving it to another thread
// moves the entries, sharing `&MapleTree` shares `&E`.
unsafe impl<E: Entry + Send> Send for MapleTree<E> {}
// SAFETY: `&MapleTree` only hands out `&E` and never writes.
unsafe impl<E: Entry + Sync> Sync for MapleTree<E> {}

pub(crate) fn bounds(r: &RangeInclusive<u64>) -> Result<(u64, u64), Error> {
    let (s, e) = (*r.start(), *r.end());
    if s > e {
        Err(Error::Invalid)
    } else {
        Ok((s, e))
    }
}

pub(crate) fn to_inclusive<R: RangeBounds<u64>>(r: &R) -> Option<(u64, u64)> {
    let lo = match r.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let hi = match r.end_bound() {
        Bound::Included(&e) => e,
        Bound::Excluded(&e) => e.checked_sub(1)?,
        Bound::Unbounded => u64::MAX,
    };
    (lo <= hi).then_some((lo, hi))
}

impl<E: Entry> MapleTree<E> {
    crate::sync::const_fn_unless_loom! {
        /// An empty plain tree.
        pub fn new() -> Self {
            Self::with_kind(TreeKind::Plain)
        }
    }
    crate::sync::const_fn_unless_loom! {
        /// An empty allocation tree (gap tracking).
        pub fn new_alloc() -> Self {
            Self::with_kind(TreeKind::Alloc)
        }
    }
    crate::sync::const_fn_unless_loom! {
        /// An empty tree of the given kind.
        pub fn with_kind(kind: TreeKind) -> Self {
            MapleTree {
                raw: RawTree::new(kind, drop_word::<E>),
                cyclic_wrapped: false,
                _owns: PhantomData,
            }
        }
    }
    /// The tree's kind.
    pub fn kind(&self) -> TreeKind {
        self.raw.kind
    }
    /// Number of stored ranges (zero entries are not counted).
    pub fn len(&self) -> usize {
        self.raw.len()
    }
    /// Whether no range is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Levels of nodes (0 for an empty tree).
    pub fn height(&self) -> usize {
        self.raw.height()
    }
    /// Nodes in the tree; each takes [`crate::NODE_SIZE`] bytes.
    pub fn node_count(&self) -> usize {
        self.raw.node_count()
    }

    /// The entry whose range holds `index`.
    #[inline]
    pub fn load(&self, index: u64) -> Option<&E> {
        let (leaf, offset, word) = self.raw.lookup(index, false)??;
        // SAFETY: `&self` forbids writes (and so frees) while the reference lives, and the slot
        // holds an `E` (`is_entry`).
        is_entry(word).then(|| unsafe {
            borrow_slot::<E>(&*(leaf.slot_ref(crate::node::Shape::Range, offset) as *const _))
        })
    }

    /// The range holding `index` (stored or empty) and its entry.
    pub fn load_range(&self, index: u64) -> (RangeInclusive<u64>, Option<&E>) {
        let mut c = self.cursor(index);
        let e = c.walk(index);
        (c.range(), e)
    }

    /// Whether the reserved zero entry covers `index`.
    pub fn is_reserved(&self, index: u64) -> bool {
        self.raw.range_at(index).2 == zero_word()
    }

    /// Stores `entry` over `range` if every index of it is empty.
    ///
    /// Errors: [`Error::Invalid`] if the range is backwards, [`Error::Exists`] if any index is
    /// occupied (zero entries included), [`Error::NoMemory`]. The entry comes back on error.
    pub fn insert_range(
        &mut self,
        range: RangeInclusive<u64>,
        entry: E,
    ) -> Result<(), InsertError<E>> {
        let word = into_word(entry);
        let ctx = Self::owned_ctx(&E::OPS, false);
        self.raw
            .insert(&range, word, &ctx)
            .map_err(|error| InsertError {
                error,
                // SAFETY: the insert failed, so the word was not stored and is still ours.
                entry: unsafe { from_word(word) },
            })
    }

    /// [`insert_range`](Self::insert_range) of a single index.
    pub fn insert(&mut self, index: u64, entry: E) -> Result<(), InsertError<E>> {
        self.insert_range(index..=index, entry)
    }

    /// Removes the whole range holding `index` and returns it with its entry. A zero entry is
    /// removed too but returns `None`.
    pub fn erase(&mut self, index: u64) -> Option<(RangeInclusive<u64>, E)> {
        let (s, e, w) = self.raw.range_at(index);
        if w.is_null() {
            return None;
        }
        // Erasing a whole range never splits an entry, so no clone is needed; it may still
        // need nodes, and an entry cannot be lost, so out of memory here is fatal.
        let old = self
            .write_owned(s, e, core::ptr::null_mut(), &E::OPS, true)
            .unwrap_or_else(|_| {
                alloc::alloc::handle_alloc_error(alloc::alloc::Layout::new::<[u8; 256]>())
            });
        // SAFETY: ownership of the removed word was handed back by the write.
        is_entry(old).then(|| (s..=e, unsafe { from_word(old) }))
    }

    /// Drops every entry and node.
    pub fn clear(&mut self) {
        self.raw.destroy_now();
        self.cyclic_wrapped = false;
    }

    /// Iterates over `(range, entry)` in key order, skipping empty ranges and zero entries.
    pub fn iter(&self) -> Iter<'_, E> {
        Iter::new(self, 0, u64::MAX)
    }

    /// Iterates over the entries whose ranges intersect `r`.
    pub fn range<R: RangeBounds<u64>>(&self, r: R) -> Range<'_, E> {
        match to_inclusive(&r) {
            Some((lo, hi)) => Iter::new(self, lo, hi),
            None => Iter::new(self, 1, 0),
        }
    }

    /// The first stored entry.
    pub fn first(&self) -> Option<(RangeInclusive<u64>, &E)> {
        self.iter().next()
    }
    /// The last stored entry.
    pub fn last(&self) -> Option<(RangeInclusive<u64>, &E)> {
        self.iter().next_back()
    }

    /// The first entry at or after `start` whose range begins at or below `max` (the kernel's
    /// `mt_find`).
    pub fn find(&self, start: u64, max: u64) -> Option<(RangeInclusive<u64>, &E)> {
        if start > max {
            return None;
        }
        self.cursor(start).find(max)
    }

    /// A cursor starting at `index` (nothing is walked until it is used).
    pub fn cursor(&self, index: u64) -> Cursor<'_, E> {
        Cursor::new(self, index)
    }

    /// A cursor that can write.
    pub fn cursor_mut(&mut self, index: u64) -> CursorMut<'_, E> {
        CursorMut::new(self, index)
    }

    /// The lowest empty range of `size` indices inside `range`, as the range a store there
    /// would take (the kernel's `mas_empty_area`). Zero entries count as occupied.
    ///
    /// Errors: [`Error::Invalid`] for a zero size or a window smaller than `size`;
    /// [`Error::Busy`] when nothing fits.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new_alloc();
    /// tree.store_range(0..=9, Value::new(0)).unwrap();
    /// tree.store_range(15..=19, Value::new(1)).unwrap();
    /// assert_eq!(tree.empty_area(0..=100, 5), Ok(10..=14));
    /// assert_eq!(tree.empty_area_rev(0..=100, 5), Ok(96..=100));
    /// ```
    pub fn empty_area(
        &self,
        range: RangeInclusive<u64>,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        self.raw.find_hole(&range, size, false)
    }

    /// The highest empty range of `size` indices inside `range` (the kernel's
    /// `mas_empty_area_rev`, how mmap places mappings top-down).
    pub fn empty_area_rev(
        &self,
        range: RangeInclusive<u64>,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        self.raw.find_hole(&range, size, true)
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

    /// Stores `entry` in the lowest empty range of `size` indices inside `range` and returns
    /// its first index (the kernel's `mtree_alloc_range`). Allocation trees only: a plain tree
    /// answers [`Error::Invalid`], as the kernel does.
    pub fn alloc_range(
        &mut self,
        size: u64,
        range: RangeInclusive<u64>,
        entry: E,
    ) -> Result<u64, InsertError<E>> {
        self.alloc_in(size, range, entry, false)
    }

    /// Stores `entry` in the highest fitting empty range (the kernel's `mtree_alloc_rrange`).
    pub fn alloc_rrange(
        &mut self,
        size: u64,
        range: RangeInclusive<u64>,
        entry: E,
    ) -> Result<u64, InsertError<E>> {
        self.alloc_in(size, range, entry, true)
    }

    /// Allocates one index for `entry` searching upward from `*next` inside `range`, wrapping
    /// to the bottom of `range` once (the kernel's `mtree_alloc_cyclic`). Returns the index
    /// and whether the allocation wrapped; `*next` moves past the allocation.
    pub fn alloc_cyclic(
        &mut self,
        range: RangeInclusive<u64>,
        next: &mut u64,
        entry: E,
    ) -> Result<(u64, bool), InsertError<E>> {
        if self.kind() != TreeKind::Alloc {
            return Err(InsertError {
                error: Error::Invalid,
                entry,
            });
        }
        let (lo, hi) = match bounds(&range) {
            Ok(b) => b,
            Err(error) => return Err(InsertError { error, entry }),
        };
        let start = (*next).max(lo);
        let mut wrapped = false;
        let found = if start <= hi {
            self.raw.empty_area(start, hi, 1, false)
        } else {
            Err(Error::Busy)
        };
        let found = match found {
            Ok(f) => {
                if self.cyclic_wrapped {
                    self.cyclic_wrapped = false;
                    wrapped = true;
                }
                Ok(f)
            }
            Err(Error::Busy) if start > lo => {
                wrapped = true;
                self.raw.empty_area(lo, hi, 1, false)
            }
            Err(e) => Err(e),
        };
        let (index, _) = match found {
            Ok(f) => f,
            Err(error) => return Err(InsertError { error, entry }),
        };
        self.insert(index, entry)?;
        *next = index.wrapping_add(1);
        if *next == 0 {
            self.cyclic_wrapped = true;
        }
        Ok((index, wrapped))
    }

    /// Checks every structural invariant and reports the first broken one.
    pub fn validate(&self) -> Result<(), ValidateError> {
        self.raw.validate()
    }

    /// A text picture of the nodes, for debugging.
    pub fn dump(&self) -> String {
        self.raw.dump()
    }

    /// Visits every node in depth-first pre-order.
    pub fn visit_nodes(&self, mut f: impl FnMut(crate::NodeInfo<'_>)) {
        self.raw
            .for_each_node(|frame, depth| f(crate::NodeInfo::new(frame, depth)));
    }

    /// Runs a write with in-place updates and immediate reclamation (`&mut self` proves that
    /// nobody else can see the tree).
    pub(crate) fn write_owned(
        &mut self,
        s: u64,
        e: u64,
        word: Word,
        ops: &EntryOps,
        want_old: bool,
    ) -> Result<Word, Error> {
        self.raw.write(s, e, word, &Self::owned_ctx(ops, want_old))
    }

    /// The write context of an owned tree: in-place updates, immediate reclamation.
    fn owned_ctx(ops: &EntryOps, want_old: bool) -> WriteCtx<'_, 'static> {
        WriteCtx {
            ops,
            reclaim: Reclaim::Now,
            want_old,
            pool: None,
        }
    }
}

impl<E: Entry + Clone> MapleTree<E> {
    /// Stores `entry` over `range`, overwriting and splitting whatever was there, and returns
    /// the entry that was at the range's first index (a clone of it if part of its range
    /// remains stored). Overwritten entries are dropped.
    ///
    /// Errors: [`Error::Invalid`] for a backwards range, [`Error::NoMemory`] (tree unchanged).
    pub fn store_range(
        &mut self,
        range: RangeInclusive<u64>,
        entry: E,
    ) -> Result<Option<E>, Error> {
        let (s, e) = bounds(&range)?;
        let word = into_word(entry);
        match self.write_owned(s, e, word, &E::CLONE_OPS, true) {
            // SAFETY: ownership of the returned word was handed to us.
            Ok(old) => Ok(is_entry(old).then(|| unsafe { from_word(old) })),
            Err(err) => {
                // SAFETY: not stored; still ours.
                drop(unsafe { from_word::<E>(word) });
                Err(err)
            }
        }
    }

    /// [`store_range`](Self::store_range) of a single index.
    pub fn store(&mut self, index: u64, entry: E) -> Result<Option<E>, Error> {
        self.store_range(index..=index, entry)
    }

    /// Empties `range` (the kernel's NULL store): entries wholly inside are dropped, entries
    /// partly inside are cut back.
    pub fn erase_range(&mut self, range: RangeInclusive<u64>) -> Result<(), Error> {
        let (s, e) = bounds(&range)?;
        self.write_owned(s, e, core::ptr::null_mut(), &E::CLONE_OPS, false)
            .map(drop)
    }

    /// Stores the reserved zero entry over `range`: it occupies the range (inserts fail there,
    /// gap searches skip it) but loads as `None` and iteration skips it.
    pub fn reserve_range(&mut self, range: RangeInclusive<u64>) -> Result<(), Error> {
        let (s, e) = bounds(&range)?;
        self.write_owned(s, e, zero_word(), &E::CLONE_OPS, false)
            .map(drop)
    }

    /// Rebuilds a copy by iterating and storing every entry (the pre-6.8 fork path, kept for
    /// comparison with [`dup`](Self::dup)).
    pub fn rebuild(&self) -> Self {
        let mut t = Self::with_kind(self.kind());
        for (r, e) in self.iter() {
            t.store_range(r, e.clone())
                .expect("store into a fresh tree");
        }
        t
    }
}

impl<E: Entry> Drop for MapleTree<E> {
    fn drop(&mut self) {
        self.raw.destroy_now();
    }
}

impl<E: Entry> Default for MapleTree<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Entry + fmt::Debug> fmt::Debug for MapleTree<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a, E: Entry> IntoIterator for &'a MapleTree<E> {
    type Item = (RangeInclusive<u64>, &'a E);
    type IntoIter = Iter<'a, E>;
    fn into_iter(self) -> Iter<'a, E> {
        self.iter()
    }
}

/// An owning iterator over the entries of a tree. See `IntoIterator for MapleTree`.
pub struct IntoIter<E: Entry> {
    items: alloc::vec::IntoIter<(u64, u64, Word)>,
    _owns: PhantomData<E>,
}

impl<E: Entry> Iterator for IntoIter<E> {
    type Item = (RangeInclusive<u64>, E);
    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: the words were taken out of the tree, which no longer owns them.
        self.items
            .next()
            .map(|(s, e, w)| (s..=e, unsafe { from_word(w) }))
    }
}

impl<E: Entry> DoubleEndedIterator for IntoIter<E> {
    fn next_back(&mut self) -> Option<Self::Item> {
        // SAFETY: as in `next`.
        self.items
            .next_back()
            .map(|(s, e, w)| (s..=e, unsafe { from_word(w) }))
    }
}

impl<E: Entry> Drop for IntoIter<E> {
    fn drop(&mut self) {
        for (_, _, w) in self.items.by_ref() {
            // SAFETY: owned by the iterator, dropped once.
            unsafe { drop_word::<E>(w) };
        }
    }
}

impl<E: Entry> IntoIterator for MapleTree<E> {
    type Item = (RangeInclusive<u64>, E);
    type IntoIter = IntoIter<E>;
    fn into_iter(self) -> IntoIter<E> {
        let mut items = Vec::with_capacity(self.len());
        let mut it = crate::cursor::RawIter::new(&self.raw, 0, u64::MAX);
        while let Some((s, e, w, _)) = it.pull(true) {
            items.push((s, e, w));
        }
        self.raw.free_nodes_keep_entries();
        core::mem::forget(self);
        IntoIter {
            items: items.into_iter(),
            _owns: PhantomData,
        }
    }
}

impl<E: Entry> FromIterator<(RangeInclusive<u64>, E)> for MapleTree<E> {
    /// Builds a plain tree. Sorted, disjoint input is bulk-built in O(n). Other input is
    /// inserted in order: where ranges overlap the first one wins and the later entry is
    /// dropped (storing over it would split entries, which needs `Clone`; use
    /// [`Extend`] on a `Clone` type for last-one-wins). Backwards ranges are dropped.
    fn from_iter<I: IntoIterator<Item = (RangeInclusive<u64>, E)>>(iter: I) -> Self {
        let items: Vec<_> = iter.into_iter().collect();
        let sorted = items
            .windows(2)
            .all(|w| w[0].0.start() <= w[0].0.end() && w[0].0.end() < w[1].0.start())
            && items.last().is_none_or(|l| l.0.start() <= l.0.end());
        if sorted {
            return Self::bulk_build(TreeKind::Plain, items)
                .unwrap_or_else(|_| unreachable!("checked sorted input"));
        }
        let mut t = Self::new();
        for (r, e) in items {
            let _ = t.insert_range(r, e);
        }
        t
    }
}

impl<E: Entry + Clone> Extend<(RangeInclusive<u64>, E)> for MapleTree<E> {
    /// Stores each item in order (later ranges overwrite earlier ones). Invalid (backwards)
    /// ranges are skipped.
    fn extend<I: IntoIterator<Item = (RangeInclusive<u64>, E)>>(&mut self, iter: I) {
        for (r, e) in iter {
            let _ = self.store_range(r, e);
        }
    }
}
