//! The collection API of an owned tree, in the manner of `BTreeMap` and `rangemap`:
//! mutable access, bulk removal, splitting and merging, and the standard traits.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::{RangeBounds, RangeInclusive};

use alloc::vec::Vec;

use crate::bounds::{to_inclusive, window};
use crate::dup::Layout;
use crate::entry::{
    borrow_slot, borrow_slot_mut, clone_word, drop_word, from_word, is_entry, zero_word, Entry,
    HasCloneOps, Word,
};
use crate::iter::{IntoIter, IterMut, RangeMut, RawIter, Values};
use crate::mode::{sealed::Sealed, Mode, TakeOld};
use crate::node::Shape;
use crate::raw::RawTree;
use crate::tree::{out_of_memory, MapleTree};
use crate::view::TreeView;
use crate::{Error, Exclusive, InsertError};

impl<E: Entry> TreeView<E, Exclusive> {
    /// Every stored entry with its slot, for reads that need `&E` itself (only an owner or the
    /// one writer may borrow slots).
    pub(crate) fn raw_entries(&self) -> RawIter<'_> {
        RawIter::new(self.raw(), 0, u64::MAX, false)
    }

    /// `(range, &entry)` in key order.
    pub(crate) fn entries_ref(&self) -> impl Iterator<Item = (RangeInclusive<u64>, &E)> {
        self.raw_entries().map(|(s, e, _, slot)| {
            // SAFETY: no writer can run while `&self` lives, so the slot keeps its entry.
            (s..=e, unsafe { borrow_slot::<E>(&*slot) })
        })
    }
}

impl<E: Entry> MapleTree<E> {
    /// The entry whose range holds `index`, mutably.
    ///
    /// ```
    /// use maple_tree::MapleTree;
    /// let mut tree = MapleTree::new();
    /// tree.insert_range(0..=9, Box::new(1)).unwrap();
    /// **tree.get_mut(5).unwrap() += 1;
    /// assert_eq!(tree.load(0), Some(&2));
    /// ```
    pub fn get_mut(&mut self, index: u64) -> Option<&mut E> {
        let (leaf, offset, word) = self.raw().lookup(index, false)??;
        let slot = leaf.slot_ref(Shape::Range, offset) as *const core::sync::atomic::AtomicPtr<()>;
        // SAFETY: `&mut self` makes the borrow exclusive for its lifetime, the node outlives it
        // (only a write frees nodes), and the slot holds an `E`.
        is_entry(word).then(|| unsafe { borrow_slot_mut::<E>(slot) })
    }

    /// Iterates over `(range, &mut entry)` in key order. Double-ended, with an exact length.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree: MapleTree<Value> = (0..3u64).map(|i| (i..=i, Value::new(i))).collect();
    /// for (_, v) in tree.iter_mut() {
    ///     *v = Value::new(v.get() + 10);
    /// }
    /// assert!(tree.values().map(|v| v.get()).eq([10, 11, 12]));
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, E> {
        IterMut::new(self, 0, u64::MAX)
    }

    /// Iterates mutably over the entries whose ranges meet `range`.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree: MapleTree<Value> = (0..5u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
    /// for (_, v) in tree.range_mut(12..=31) {
    ///     *v = Value::new(0);
    /// }
    /// assert!(tree.values().map(|v| v.get()).eq([0, 0, 0, 0, 4]));
    /// ```
    pub fn range_mut<R: RangeBounds<u64>>(&mut self, range: R) -> RangeMut<'_, E> {
        let (lo, hi) = to_inclusive(&range).unwrap_or((1, 0));
        RangeMut::new(IterMut::new(self, lo, hi))
    }

    /// The entries, mutably, in key order.
    ///
    /// ```
    /// use maple_tree::MapleTree;
    /// let mut tree = MapleTree::new();
    /// tree.insert(1, Box::new(String::from("a"))).unwrap();
    /// tree.values_mut().for_each(|s| s.push('b'));
    /// assert_eq!(tree.load(1).map(String::as_str), Some("ab"));
    /// ```
    pub fn values_mut(&mut self) -> Values<IterMut<'_, E>> {
        Values::new(self.iter_mut())
    }

    /// The entries, by value, in key order.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..3u64).map(|i| (i..=i, Value::new(i))).collect();
    /// assert!(tree.into_values().map(|v| v.get()).eq([0, 1, 2]));
    /// ```
    pub fn into_values(self) -> Values<IntoIter<E>> {
        Values::new(self.into_iter())
    }

    /// Keeps only the entries for which `keep(range, &mut entry)` is true, visiting them in
    /// key order. Aborts if memory runs out (removing ranges can merge nodes).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree: MapleTree<Value> = (0..10u64).map(|i| (i..=i, Value::new(i))).collect();
    /// tree.retain(|_, v| v.get() % 3 == 0);
    /// assert!(tree.values().map(|v| v.get()).eq([0, 3, 6, 9]));
    /// ```
    pub fn retain<F>(&mut self, mut keep: F)
    where
        F: FnMut(RangeInclusive<u64>, &mut E) -> bool,
    {
        let doomed: Vec<u64> = self
            .iter_mut()
            .filter_map(|(r, e)| (!keep(r.clone(), e)).then_some(*r.start()))
            .collect();
        for start in doomed {
            if self.erase(start).is_err() {
                out_of_memory();
            }
        }
    }

    /// Removes and returns the first entry. Aborts if memory runs out.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree: MapleTree<Value> = (1..3u64).map(|i| (i..=i, Value::new(i))).collect();
    /// assert_eq!(tree.pop_first(), Some((1..=1, Value::new(1))));
    /// assert_eq!(tree.len(), 1);
    /// ```
    pub fn pop_first(&mut self) -> Option<(RangeInclusive<u64>, E)> {
        let start = *self.first()?.0.start();
        self.erase(start).unwrap_or_else(|_| out_of_memory())
    }

    /// Removes and returns the last entry. Aborts if memory runs out.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree: MapleTree<Value> = (1..3u64).map(|i| (i..=i, Value::new(i))).collect();
    /// assert_eq!(tree.pop_last(), Some((2..=2, Value::new(2))));
    /// ```
    pub fn pop_last(&mut self) -> Option<(RangeInclusive<u64>, E)> {
        let start = *self.last()?.0.start();
        self.erase(start).unwrap_or_else(|_| out_of_memory())
    }

    /// Moves every range of `other` (entries and reserved ranges) into `self`, leaving `other`
    /// empty, in one O(n + m) rebuild.
    ///
    /// Errors: [`Error::Exists`] if a range of `other` meets an occupied range of `self`,
    /// [`Error::NoMemory`]; both trees are then unchanged.
    ///
    /// ```
    /// use maple_tree::{Error, MapleTree, Value};
    /// let mut a: MapleTree<Value> = [(0..=9, Value::new(0))].into_iter().collect();
    /// let mut b: MapleTree<Value> = [(20..=29, Value::new(2))].into_iter().collect();
    /// a.append(&mut b).unwrap();
    /// assert!(a.keys().eq([0..=9, 20..=29]) && b.is_empty());
    /// let mut c: MapleTree<Value> = [(5..=5, Value::new(5))].into_iter().collect();
    /// assert_eq!(a.append(&mut c), Err(Error::Exists));
    /// ```
    pub fn append(&mut self, other: &mut Self) -> Result<(), Error> {
        let mut layout = Layout::new();
        {
            let mut mine = occupied(self.raw()).peekable();
            let mut theirs = occupied(other.raw()).peekable();
            loop {
                let next = match (mine.peek(), theirs.peek()) {
                    (Some(a), Some(b)) if a.0 <= b.0 => mine.next(),
                    (Some(_), Some(_)) | (None, Some(_)) => theirs.next(),
                    (Some(_), None) => mine.next(),
                    (None, None) => break,
                };
                let (s, e, w) = next.expect("peeked");
                if !layout.push(s, e, w) {
                    return Err(Error::Exists);
                }
            }
        }
        let built = RawTree::new(self.raw().kind, drop_word::<E>);
        built.install(&layout.finish())?;
        // Every word now lives in `built`: free the old nodes without their entries.
        self.mode.raw.free_nodes_keep_entries();
        other.mode.raw.free_nodes_keep_entries();
        // SAFETY: `&mut self`: the owner is the only writer; `built` is a complete tree.
        unsafe { self.raw().set_root(built.root(), built.height()) };
        self.raw().set_len(built.len());
        // SAFETY: a private tree whose nodes now belong to `self`.
        unsafe { built.set_root(None, 0) };
        Ok(())
    }
}

/// The occupied slots (entries and zero entries) of a tree, in key order.
fn occupied(raw: &RawTree) -> impl Iterator<Item = (u64, u64, Word)> + '_ {
    RawIter::occupied_in(raw, 0, u64::MAX).map(|(s, e, w, _)| (s, e, w))
}

impl<E: Entry + Clone> MapleTree<E> {
    /// Removes everything inside `range` and returns the entries taken out, in key order. An
    /// entry cut by an edge of `range` keeps its part outside in the tree, and its part inside
    /// is returned with a clone of it. Reserved ranges inside are removed too (they hold no
    /// entry to return).
    ///
    /// Errors: [`Error::Invalid`] for an empty range, [`Error::NoMemory`] (the tree is then
    /// unchanged).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree: MapleTree<Value> = (0..4u64).map(|i| (i * 10..=i * 10 + 9, Value::new(i))).collect();
    /// let taken = tree.remove_range(15..=24).unwrap();
    /// assert_eq!(taken, [(15..=19, Value::new(1)), (20..=24, Value::new(2))]);
    /// assert!(tree.keys().eq([0..=9, 10..=14, 25..=29, 30..=39]));
    /// ```
    pub fn remove_range<R: RangeBounds<u64>>(
        &mut self,
        range: R,
    ) -> Result<Vec<(RangeInclusive<u64>, E)>, Error> {
        let (lo, hi) = window(&range)?;
        let taken = self.take_range(lo, hi)?;
        Ok(taken
            .into_iter()
            .filter(|&(_, _, w)| is_entry(w))
            // SAFETY: `take_range` handed over ownership of every entry word.
            .map(|(s, e, w)| (s..=e, unsafe { from_word::<E>(w) }))
            .collect())
    }

    /// Splits the tree at `at`: everything from `at` up moves to the returned tree (of the
    /// same kind), as `BTreeMap::split_off` does. An entry whose range spans `at` is cut: its
    /// part below stays, its part from `at` moves with a clone of it. Aborts if memory runs
    /// out.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut low: MapleTree<Value> = [(0..=19, Value::new(1)), (30..=39, Value::new(3))].into_iter().collect();
    /// let high = low.split_off(10);
    /// assert!(low.keys().eq([0..=9]));
    /// assert!(high.keys().eq([10..=19, 30..=39]));
    /// ```
    #[must_use = "the split-off part is dropped if unused; use remove_range to discard it"]
    pub fn split_off(&mut self, at: u64) -> Self {
        let taken = self
            .take_range(at, u64::MAX)
            .unwrap_or_else(|_| out_of_memory());
        let high = MapleTree::with_kind(self.kind());
        let mut layout = Layout::new();
        for &(s, e, w) in &taken {
            let pushed = layout.push(s, e, w);
            debug_assert!(pushed, "taken in key order");
        }
        if high.raw().install(&layout.finish()).is_err() {
            out_of_memory();
        }
        high
    }

    /// Empties `[lo, hi]` and hands over what it held: entries wholly inside are moved out,
    /// entries cut by an edge are cloned for their inside part, zero entries are listed as
    /// zero words. The tree is unchanged on error.
    fn take_range(&mut self, lo: u64, hi: u64) -> Result<Vec<(u64, u64, Word)>, Error> {
        let raw = self.raw();
        let mut taken = Vec::new();
        // Entries wholly inside become zero entries in place, so the empty store below neither
        // drops them nor needs to know about them; the original words are ours from then on.
        let mut swapped: Vec<(*const core::sync::atomic::AtomicPtr<()>, Word)> = Vec::new();
        let mut clones: Vec<Word> = Vec::new();
        for (s, e, w, slot) in RawIter::occupied_in(raw, lo, hi) {
            let inside = s >= lo && e <= hi;
            let word = if !is_entry(w) || inside {
                w
            } else {
                // SAFETY: a live entry of the tree; the clone is a new owned word.
                let clone = unsafe { clone_word::<E>(w) };
                clones.push(clone);
                clone
            };
            if inside && is_entry(w) {
                // SAFETY: `&mut self`: nobody else reads the slot.
                unsafe { (*slot).store(zero_word(), core::sync::atomic::Ordering::Relaxed) };
                swapped.push((slot, w));
            }
            taken.push((s.max(lo), e.min(hi), word));
        }
        raw.add_len(-(swapped.len() as isize));
        let emptied = self.mode.run(&E::CLONE_OPS, false, None, |raw, ctx| {
            // SAFETY: the owner (`&mut self`) is the only writer.
            unsafe { raw.write(lo, hi, core::ptr::null_mut(), ctx) }
        });
        let raw = self.raw();
        if let Err(e) = emptied {
            // The failed store changed nothing: put the entries back where they were.
            for &(slot, w) in &swapped {
                // SAFETY: the slot is still the one the word came from.
                unsafe { (*slot).store(w, core::sync::atomic::Ordering::Relaxed) };
            }
            raw.add_len(swapped.len() as isize);
            for c in clones {
                // SAFETY: a clone made above, never stored.
                unsafe { drop_word::<E>(c) };
            }
            return Err(e);
        }
        Ok(taken)
    }
}

impl<E: Entry + Clone, M: TakeOld<E>> MapleTree<E, M> {
    /// Stores every item in order, as [`Extend`] does, but stops at the first item that
    /// cannot be stored and returns it with the reason ([`Error::Invalid`] for an empty range,
    /// [`Error::NoMemory`]); the items before it are stored.
    ///
    /// ```
    /// use maple_tree::{Error, MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// let err = tree.try_extend([(0..5, Value::new(1)), (9..3, Value::new(2))]).unwrap_err();
    /// assert_eq!((err.error, err.entry), (Error::Invalid, Value::new(2)));
    /// assert_eq!(tree.len(), 1);
    /// ```
    pub fn try_extend<I, R>(&mut self, items: I) -> Result<(), InsertError<E>>
    where
        I: IntoIterator<Item = (R, E)>,
        R: RangeBounds<u64>,
    {
        for (r, e) in items {
            self.store_range(r, e)?;
        }
        Ok(())
    }
}

impl<'a, E: Entry, M: Mode> IntoIterator for &'a MapleTree<E, M> {
    type Item = (RangeInclusive<u64>, E::Ref<'a>);
    type IntoIter = crate::Iter<'a, E>;
    fn into_iter(self) -> crate::Iter<'a, E> {
        self.iter()
    }
}

impl<'a, E: Entry> IntoIterator for &'a mut MapleTree<E> {
    type Item = (RangeInclusive<u64>, &'a mut E);
    type IntoIter = IterMut<'a, E>;
    fn into_iter(self) -> IterMut<'a, E> {
        self.iter_mut()
    }
}

impl<E: Entry> IntoIterator for MapleTree<E> {
    type Item = (RangeInclusive<u64>, E);
    type IntoIter = IntoIter<E>;
    /// The entries by value, in key order; double-ended, with an exact length.
    fn into_iter(mut self) -> IntoIter<E> {
        let items: Vec<(u64, u64, Word)> =
            self.raw_entries().map(|(s, e, w, _)| (s, e, w)).collect();
        // The words now belong to the iterator: free the nodes only.
        self.mode.raw.free_nodes_keep_entries();
        IntoIter::new(items)
    }
}

impl<E: Entry + Clone, R: RangeBounds<u64>> FromIterator<(R, E)> for MapleTree<E> {
    /// Builds a plain tree by storing every item in order: where ranges overlap the later
    /// item wins, as in `BTreeMap`, cutting back (or splitting, with a clone) what it covers.
    /// Sorted, disjoint input is bulk-built in O(n).
    ///
    /// # Panics
    /// On an item whose range is empty (nothing would hold its entry). Aborts if memory runs
    /// out. [`MapleTree::try_extend`] reports both instead.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = [(0..10, Value::new(1)), (5..15, Value::new(2))].into_iter().collect();
    /// assert!(tree.iter().map(|(r, v)| (r, v.get())).eq([(0..=4, 1), (5..=14, 2)]));
    /// ```
    fn from_iter<I: IntoIterator<Item = (R, E)>>(items: I) -> Self {
        let mut tree = MapleTree::new();
        tree.extend(items);
        tree
    }
}

impl<E: Entry + Clone, R: RangeBounds<u64>> Extend<(R, E)> for MapleTree<E> {
    /// Stores every item in order; the last one wins where ranges overlap, as in `BTreeMap`.
    /// Items that arrive sorted and disjoint at the top of the tree append in place.
    ///
    /// # Panics
    /// On an item whose range is empty. Aborts if memory runs out. See
    /// [`MapleTree::try_extend`].
    fn extend<I: IntoIterator<Item = (R, E)>>(&mut self, items: I) {
        for (r, e) in items {
            match self.store_range(r, e) {
                Ok(_) => {}
                Err(err) if err.error == Error::NoMemory => out_of_memory(),
                Err(err) => panic!("MapleTree::extend: an item's range is empty: {}", err.error),
            }
        }
    }
}

impl<E: Entry + PartialEq> PartialEq for MapleTree<E> {
    /// Trees are equal when they store the same entries over the same ranges (their kinds,
    /// shapes and reserved ranges aside).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.entries_ref().eq(other.entries_ref())
    }
}
impl<E: Entry + Eq> Eq for MapleTree<E> {}

impl<E: Entry + Hash> Hash for MapleTree<E> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for (r, e) in self.entries_ref() {
            r.hash(state);
            e.hash(state);
        }
    }
}

impl<E: Entry + fmt::Debug, M: Mode> fmt::Debug for MapleTree<E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries_ref()).finish()
    }
}

impl<E: Entry + core::fmt::Debug> core::fmt::Debug for TreeView<E, crate::Exclusive> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.entries_ref()).finish()
    }
}
