//! [`MapleTree`]: the tree and its write API, written once for both [modes](crate::Mode).

use core::marker::PhantomData;
use core::ops::{RangeBounds, RangeInclusive};

use crate::bounds::window;
use crate::entry::{drop_word, from_word, into_word, zero_word, Entry, HasCloneOps, HasOps};
use crate::kind::TreeKind;
use crate::mode::{Mode, Owned, TakeOld};
use crate::raw::RawTree;
use crate::view::{Exclusive, TreeView};
use crate::{Error, InsertError};

/// A map from non-overlapping inclusive ranges of `u64` to entries, stored as the Linux
/// kernel stores its maple tree.
///
/// Every index of `0..=u64::MAX` is covered by exactly one range, stored or empty. A store
/// overwrites and splits whatever it covers; adjacent stored ranges are never merged, even
/// with equal entries. The tree owns its entries: overwriting, erasing or dropping the tree
/// drops them (erase and store hand the removed entry back).
///
/// `M` is how writes reach the tree ([`Mode`]): `MapleTree<E>` is an owned tree
/// ([`Owned`]); the writer of a shared [`RcuMapleTree`](crate::RcuMapleTree) is a
/// `MapleTree<E, Shared>` ([`WriteGuard`](crate::WriteGuard)) with the same write methods.
/// Reads come from [`TreeView`](crate::TreeView), which the tree dereferences to.
///
/// Writes that take an entry give it back on failure ([`InsertError`]); a failed write leaves
/// the tree unchanged. Methods in the style of `BTreeMap` (`retain`, `pop_first`,
/// `split_off`, `FromIterator`, ...) have no error to return and, as `std`'s collections do,
/// abort through [`handle_alloc_error`](alloc::alloc::handle_alloc_error) if memory runs out.
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
/// tree.store_range(15..=24, Value::new(2)).unwrap(); // splits [10, 19]
/// assert_eq!(tree.load(12), Some(Value::new(1)));
/// assert_eq!(tree.load(20), Some(Value::new(2)));
/// assert_eq!(tree.load(25), None);
/// let ranges: Vec<_> = tree.iter().map(|(r, v)| (r, v.get())).collect();
/// assert_eq!(ranges, [(10..=14, 1), (15..=24, 2)]);
/// tree.validate().unwrap();
/// ```
///
/// Allocation trees are not a type of their own: a tree's kind is chosen at run time (the
/// kernel's `mt_init_flags`), the shared tree and its guards would need a second set of types,
/// and [`alloc_range`](Self::alloc_range) on a plain tree answers [`Error::Invalid`] as the
/// kernel's `mtree_alloc_range` does.
pub struct MapleTree<E: Entry, M: Mode = Owned> {
    pub(crate) mode: M,
    _owns: PhantomData<E>,
}

/// The allocation failure of a method that has no error to return (as `std`'s collections).
#[cold]
pub(crate) fn out_of_memory() -> ! {
    alloc::alloc::handle_alloc_error(core::alloc::Layout::new::<[u8; crate::NODE_SIZE]>())
}

impl<E: Entry, M: Mode> MapleTree<E, M> {
    pub(crate) fn from_mode(mode: M) -> Self {
        MapleTree {
            mode,
            _owns: PhantomData,
        }
    }
    #[inline]
    pub(crate) fn raw(&self) -> &RawTree {
        self.mode.raw()
    }

    /// Stores `entry` over `range` if every index of it is empty (the kernel's
    /// `mtree_insert_range`).
    ///
    /// Errors: [`Error::Invalid`] for an empty range, [`Error::Exists`] if any index is occupied
    /// (zero entries included), [`Error::NoMemory`]. The entry comes back with the error.
    ///
    /// ```
    /// use maple_tree::{Error, MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.insert_range(0x1000..0x2000, Value::new(1)).unwrap();
    /// let err = tree.insert_range(0x1800..=0x27ff, Value::new(2)).unwrap_err();
    /// assert_eq!((err.error, err.entry), (Error::Exists, Value::new(2)));
    /// ```
    pub fn insert_range<R: RangeBounds<u64>>(
        &mut self,
        range: R,
        entry: E,
    ) -> Result<(), InsertError<E>> {
        let (first, last) = match window(&range) {
            Ok(bounds) => bounds,
            Err(error) => return Err(InsertError { error, entry }),
        };
        let word = into_word(entry);
        self.mode
            .run(&E::OPS, false, None, |raw, ctx| {
                // SAFETY: the mode runs its one writer (`&mut self`), and `word` is an `E`.
                unsafe { raw.insert(first, last, word, ctx) }
            })
            .map_err(|error| InsertError {
                error,
                // SAFETY: the insert failed, so the word was not stored and is still ours.
                entry: unsafe { from_word(word) },
            })
    }

    /// [`insert_range`](Self::insert_range) of a single index (the kernel's `mtree_insert`).
    pub fn insert(&mut self, index: u64, entry: E) -> Result<(), InsertError<E>> {
        self.insert_range(index..=index, entry)
    }

    fn alloc_in<R: RangeBounds<u64>>(
        &mut self,
        size: u64,
        range: R,
        entry: E,
        rev: bool,
    ) -> Result<u64, InsertError<E>> {
        let hole = window(&range).and_then(|(lo, hi)| self.raw().alloc_hole(lo, hi, size, rev));
        match hole {
            Ok((first, last)) => self.insert_range(first..=last, entry).map(|()| first),
            Err(error) => Err(InsertError { error, entry }),
        }
    }

    /// Stores `entry` in the lowest empty range of `size` indices inside `range` and returns
    /// its first index (the kernel's `mtree_alloc_range`). Allocation trees only: a plain tree
    /// answers [`Error::Invalid`], as the kernel does; [`Error::Busy`] when nothing fits.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut ids = MapleTree::new_alloc();
    /// assert_eq!(ids.alloc_range(4, 0..=99, Value::new(1)).unwrap(), 0);
    /// assert_eq!(ids.alloc_range(4, 0..=99, Value::new(2)).unwrap(), 4);
    /// ```
    pub fn alloc_range<R: RangeBounds<u64>>(
        &mut self,
        size: u64,
        range: R,
        entry: E,
    ) -> Result<u64, InsertError<E>> {
        self.alloc_in(size, range, entry, false)
    }

    /// Stores `entry` in the highest fitting empty range (the kernel's `mtree_alloc_rrange`).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new_alloc();
    /// assert_eq!(tree.alloc_rrange(0x1000, 0..0x10000, Value::new(1)).unwrap(), 0xf000);
    /// ```
    pub fn alloc_rrange<R: RangeBounds<u64>>(
        &mut self,
        size: u64,
        range: R,
        entry: E,
    ) -> Result<u64, InsertError<E>> {
        self.alloc_in(size, range, entry, true)
    }

    /// Allocates one index for `entry` searching upward from `*next` inside `range`, wrapping
    /// to the bottom of `range` once (the kernel's `mtree_alloc_cyclic`). Returns the index
    /// and whether the allocation wrapped; `*next` moves past the allocation. Allocation trees
    /// only.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut ids = MapleTree::new_alloc();
    /// let mut next = 0;
    /// assert_eq!(ids.alloc_cyclic(0..=2, &mut next, Value::new(0)).unwrap(), (0, false));
    /// assert_eq!(ids.alloc_cyclic(0..=2, &mut next, Value::new(1)).unwrap(), (1, false));
    /// ids.erase(0).unwrap();
    /// assert_eq!(ids.alloc_cyclic(0..=2, &mut next, Value::new(2)).unwrap(), (2, false));
    /// assert_eq!(ids.alloc_cyclic(0..=2, &mut next, Value::new(3)).unwrap(), (0, true));
    /// ```
    pub fn alloc_cyclic<R: RangeBounds<u64>>(
        &mut self,
        range: R,
        next: &mut u64,
        entry: E,
    ) -> Result<(u64, bool), InsertError<E>> {
        let raw = self.raw();
        let found = if !raw.kind.tracks_gaps() {
            Err(Error::Invalid)
        } else {
            window(&range).and_then(|(lo, hi)| raw.cyclic_slot(lo, hi, *next))
        };
        let (index, wrapped) = match found {
            Ok(found) => found,
            Err(error) => return Err(InsertError { error, entry }),
        };
        self.insert(index, entry)?;
        *next = index.wrapping_add(1);
        if *next == 0 {
            // Reported as a wrap by the next allocation (the kernel's `MT_FLAGS_ALLOC_WRAPPED`).
            self.raw().set_cyclic_wrapped(true);
        }
        Ok((index, wrapped))
    }
}

impl<E: Entry + Clone, M: TakeOld<E>> MapleTree<E, M> {
    /// Stores `entry` over `range`, overwriting and splitting whatever was there (the kernel's
    /// `mtree_store_range`), and returns the entry that was at the range's first index.
    ///
    /// On an owned tree the returned entry is moved out when the store removed it entirely,
    /// and is a clone when part of its range stays stored; on a shared tree it is always a
    /// clone (readers may still hold the original, which is dropped after the grace period).
    /// Other overwritten entries are dropped.
    ///
    /// Errors: [`Error::Invalid`] for an empty range, [`Error::NoMemory`]; the entry comes back
    /// and the tree is unchanged.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// assert_eq!(tree.store_range(..100, Value::new(1)).unwrap(), None);
    /// assert_eq!(tree.store_range(50..=149, Value::new(2)).unwrap(), Some(Value::new(1)));
    /// assert_eq!(tree.load_range(10), (0..=49, Some(Value::new(1))));
    /// ```
    pub fn store_range<R: RangeBounds<u64>>(
        &mut self,
        range: R,
        entry: E,
    ) -> Result<Option<E>, InsertError<E>> {
        let (first, last) = match window(&range) {
            Ok(bounds) => bounds,
            Err(error) => return Err(InsertError { error, entry }),
        };
        let word = into_word(entry);
        // SAFETY: `word` is an `E` whose ownership passes to the tree if the store succeeds.
        unsafe {
            self.mode
                .write_taking_old(first, last, word, &E::CLONE_OPS, None)
        }
        .map_err(|error| InsertError {
            error,
            // SAFETY: the store failed, so the word was not stored and is still ours.
            entry: unsafe { from_word(word) },
        })
    }

    /// [`store_range`](Self::store_range) of a single index (the kernel's `mtree_store`).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// assert_eq!(tree.store(5, Value::new(1)).unwrap(), None);
    /// assert_eq!(tree.store(5, Value::new(2)).unwrap(), Some(Value::new(1)));
    /// ```
    pub fn store(&mut self, index: u64, entry: E) -> Result<Option<E>, InsertError<E>> {
        self.store_range(index..=index, entry)
    }
}

impl<E: Entry, M: TakeOld<E>> MapleTree<E, M> {
    /// Removes the whole range holding `index` and returns it with its entry (the kernel's
    /// `mtree_erase`): `Ok(None)` if `index` is empty or reserved (a zero entry is removed
    /// too). On a shared tree the entry is a clone, as for [`store_range`](Self::store_range).
    ///
    /// Errors: [`Error::NoMemory`] (the tree is unchanged): removing a range can merge nodes.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.insert_range(10..=19, Value::new(1)).unwrap();
    /// assert_eq!(tree.erase(15), Ok(Some((10..=19, Value::new(1)))));
    /// assert_eq!(tree.erase(15), Ok(None));
    /// ```
    pub fn erase(&mut self, index: u64) -> Result<Option<(RangeInclusive<u64>, E)>, Error> {
        let (first, last, word) = self.raw().range_at(index);
        if word.is_null() {
            return Ok(None);
        }
        // Removing a whole range never splits an entry, so no clone is needed for the tree.
        // SAFETY: an empty word carries no ownership.
        let old = unsafe {
            self.mode
                .write_taking_old(first, last, core::ptr::null_mut(), &E::OPS, None)
        }?;
        Ok(old.map(|e| (first..=last, e)))
    }
}

impl<E: Entry + Clone, M: Mode> MapleTree<E, M> {
    /// Empties `range` (the kernel's NULL store): entries wholly inside are dropped, entries
    /// partly inside are cut back (splitting one needs a clone).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.store_range(0..=99, Value::new(1)).unwrap();
    /// tree.erase_range(40..60).unwrap();
    /// assert!(tree.keys().eq([0..=39, 60..=99]));
    /// ```
    pub fn erase_range<R: RangeBounds<u64>>(&mut self, range: R) -> Result<(), Error> {
        self.write_marker(&range, core::ptr::null_mut())
    }

    /// Stores the reserved zero entry over `range` (the kernel's `XA_ZERO_ENTRY`): it occupies
    /// the range (inserts fail there, gap searches skip it) but loads as `None` and iteration
    /// skips it. Fork uses it to mark where a failed copy stopped.
    ///
    /// ```
    /// use maple_tree::{Error, MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.reserve_range(10..=19).unwrap();
    /// assert_eq!(tree.load(15), None);
    /// assert!(tree.is_reserved(15));
    /// assert_eq!(tree.insert(15, Value::new(1)).unwrap_err().error, Error::Exists);
    /// ```
    pub fn reserve_range<R: RangeBounds<u64>>(&mut self, range: R) -> Result<(), Error> {
        self.write_marker(&range, zero_word())
    }

    /// Stores an entry-less word (empty or zero) over `range`.
    fn write_marker<R: RangeBounds<u64>>(
        &mut self,
        range: &R,
        word: crate::entry::Word,
    ) -> Result<(), Error> {
        let (first, last) = window(range)?;
        self.mode
            .run(&E::CLONE_OPS, false, None, |raw, ctx| {
                // SAFETY: the mode runs its one writer (`&mut self`); the word owns nothing.
                unsafe { raw.write(first, last, word, ctx) }
            })
            .map(drop)
    }
}

impl<E: Entry, M: Mode> Drop for MapleTree<E, M> {
    fn drop(&mut self) {
        self.mode.release();
    }
}

impl<E: Entry> MapleTree<E> {
    crate::sync::const_fn_unless_loom! {
        /// An empty plain tree.
        #[must_use]
        pub fn new() -> Self {
            Self::with_kind(TreeKind::Plain)
        }
    }
    crate::sync::const_fn_unless_loom! {
        /// An empty allocation tree (gap tracking).
        #[must_use]
        pub fn new_alloc() -> Self {
            Self::with_kind(TreeKind::Alloc)
        }
    }
    crate::sync::const_fn_unless_loom! {
        /// An empty tree of the given kind.
        #[must_use]
        pub fn with_kind(kind: TreeKind) -> Self {
            MapleTree {
                mode: Owned {
                    raw: RawTree::new(kind, drop_word::<E>),
                },
                _owns: PhantomData,
            }
        }
    }

    /// Drops every entry and node, keeping the tree's kind.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new_alloc();
    /// tree.insert(1, Value::new(1)).unwrap();
    /// tree.clear();
    /// assert!(tree.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.mode.raw.destroy_now();
    }
}

impl<E: Entry> Default for MapleTree<E> {
    fn default() -> Self {
        Self::new()
    }
}

// Reads of a `MapleTree` go through its view.
impl<E: Entry, M: Mode> core::ops::Deref for MapleTree<E, M> {
    type Target = TreeView<E, Exclusive>;
    #[inline]
    fn deref(&self) -> &Self::Target {
        TreeView::from_raw(self.raw())
    }
}
