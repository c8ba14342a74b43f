//! Iterators: in key order, double-ended, over owned trees, writers and lock-free readers.

use core::fmt;
use core::iter::FusedIterator;
use core::marker::PhantomData;
use core::ops::{RangeBounds, RangeInclusive};
use core::sync::atomic::AtomicPtr;

use alloc::vec::Vec;

use crate::bounds::to_inclusive;
use crate::entry::{borrow_slot_mut, drop_word, from_word, is_entry, view, Entry, Word};
use crate::node::Shape;
use crate::path::{Frame, Path};
use crate::raw::RawTree;
use crate::tree::MapleTree;
use crate::view::{Access, Exclusive, Lockless, TreeView};

/// Which leaf slots a walk yields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Stored entries (not empty ranges, not zero entries).
    Entries,
    /// Empty ranges.
    Gaps,
    /// Entries and zero entries.
    Occupied,
}

/// A double-ended walk over the leaf slots of `[lo, hi]`.
///
/// Each end keeps its path for moving between leaves and a copy of its current leaf frame for
/// stepping within a leaf, which is where nearly all the work is. `lo` is where the front's
/// current slot starts and `hi` where the back's ends, so each step reads one pivot: the end it
/// moves away from is already known. The walk is over when the ends meet.
///
/// An end's first slot is yielded whole, even where `[lo, hi]` starts or ends inside it;
/// after that, `lo` and `hi` are the first indices the ends have not yielded.
///
/// A lock-free walk checks each leaf after reading it; when the writer has replaced it, that
/// end walks again from the root to `lo` (or `hi`). The slot found there may have started
/// earlier; once the end has yielded something it is clipped to `lo`, so the walk never goes
/// back over ground it covered, and before that it is yielded whole, as the first slot is.
#[derive(Clone)]
pub(crate) struct RawIter<'a> {
    tree: &'a RawTree,
    front: Path,
    back: Path,
    front_leaf: Option<Frame>,
    back_leaf: Option<Frame>,
    lo: u64,
    hi: u64,
    /// Whether the front (back) end has moved past its first slot.
    front_moved: bool,
    back_moved: bool,
    done: bool,
    lockless: bool,
    want: Want,
}

impl<'a> RawIter<'a> {
    pub(crate) fn new(tree: &'a RawTree, lo: u64, hi: u64, lockless: bool) -> RawIter<'a> {
        Self::with_want(tree, lo, hi, lockless, Want::Entries)
    }

    fn with_want(tree: &'a RawTree, lo: u64, hi: u64, lockless: bool, want: Want) -> Self {
        let mut it = RawIter {
            tree,
            front: Path::empty(),
            back: Path::empty(),
            front_leaf: None,
            back_leaf: None,
            lo,
            hi,
            front_moved: false,
            back_moved: false,
            done: lo > hi,
            lockless,
            want,
        };
        if !it.done {
            it.front = tree.live_or_plain_path(lo, lockless);
            it.back = tree.live_or_plain_path(hi, lockless);
            if it.front.is_empty() || it.back.is_empty() {
                // An empty tree. A lock-free end walks again when first asked, since a
                // writer may store ahead of it meanwhile (as it would find in a tree that
                // already had nodes); an exclusive view stays empty.
                it.done = !lockless;
                return it;
            }
            it.front_leaf = Some(*it.front.leaf());
            it.back_leaf = Some(*it.back.leaf());
        }
        it
    }

    /// The next (or, backwards, previous) wanted slot: its range, word and slot.
    ///
    /// Always inlined, as the iterators' `next` and `next_back` are: the walk's state then
    /// stays in registers across the caller's loop (under callgrind, a full iteration of a
    /// 10^3-entry tree ran 129 instructions per entry inlined, 160 as a call).
    #[inline(always)]
    pub(crate) fn pull(&mut self, forward: bool) -> Option<(u64, u64, Word, *const AtomicPtr<()>)> {
        while !self.done {
            let leaf = if forward {
                &mut self.front_leaf
            } else {
                &mut self.back_leaf
            };
            let Some(f) = leaf.as_mut() else {
                // Only a lock-free iterator made on an empty tree has an end without a leaf.
                self.rewalk(forward);
                continue;
            };
            let i = f.offset;
            let w = f.node.slot(Shape::Range, i);
            let slot = f.node.slot_ref(Shape::Range, i) as *const AtomicPtr<()>;
            let (s, e) = if forward {
                let s = if self.front_moved {
                    self.lo
                } else {
                    f.slot_min(i)
                };
                (s, f.slot_max(i))
            } else {
                let e = if self.back_moved {
                    self.hi
                } else {
                    f.slot_max(i)
                };
                (f.slot_min(i), e)
            };
            if self.lockless && f.node.is_dead() {
                self.rewalk(forward);
                continue;
            }
            if forward {
                self.front_moved = true;
                if e >= self.hi {
                    self.done = true;
                } else {
                    self.lo = e + 1;
                    if i < f.end {
                        f.offset += 1;
                    } else {
                        self.change_leaf(true);
                    }
                }
            } else if s <= self.lo {
                self.done = true;
            } else {
                self.back_moved = true;
                self.hi = s - 1;
                if i > 0 {
                    f.offset -= 1;
                } else {
                    self.change_leaf(false);
                }
            }
            let wanted = match self.want {
                Want::Entries => is_entry(w),
                Want::Gaps => w.is_null(),
                Want::Occupied => !w.is_null(),
            };
            if wanted {
                return Some((s, e, w, slot));
            }
        }
        None
    }

    #[cold]
    fn change_leaf(&mut self, forward: bool) {
        let (path, leaf) = if forward {
            (&mut self.front, &mut self.front_leaf)
        } else {
            (&mut self.back, &mut self.back_leaf)
        };
        let at_edge = leaf.map_or(0, |f| f.offset);
        path.leaf_mut().offset = at_edge;
        let moved = if forward {
            path.next_slot()
        } else {
            path.prev_slot()
        };
        if !moved {
            self.done = true;
        } else if self.lockless && path.any_dead() {
            self.rewalk(forward);
        } else {
            *leaf = Some(*path.leaf());
        }
    }

    /// A lock-free end read a replaced node: walk again to the first index it has not yielded.
    #[cold]
    fn rewalk(&mut self, forward: bool) {
        crate::sync::restarted();
        let at = if forward { self.lo } else { self.hi };
        let path = self.tree.live_path_to(at);
        if path.is_empty() {
            self.done = true;
            return;
        }
        let leaf = Some(*path.leaf());
        if forward {
            self.front = path;
            self.front_leaf = leaf;
        } else {
            self.back = path;
            self.back_leaf = leaf;
        }
    }
}

impl<'a> RawIter<'a> {
    /// Every occupied slot (entries and zero entries) meeting `[lo, hi]`, without dead-node
    /// checks (owner or writer only).
    pub(crate) fn occupied_in(tree: &'a RawTree, lo: u64, hi: u64) -> Self {
        Self::with_want(tree, lo, hi, false, Want::Occupied)
    }
}

/// Forward, as a plain iterator of `(first, last, word, slot)`.
impl Iterator for RawIter<'_> {
    type Item = (u64, u64, Word, *const AtomicPtr<()>);
    fn next(&mut self) -> Option<Self::Item> {
        self.pull(true)
    }
}

impl RawTree {
    /// A path to `index`, from live nodes when `lockless`.
    pub(crate) fn live_or_plain_path(&self, index: u64, lockless: bool) -> Path {
        if lockless {
            self.live_path_to(index)
        } else {
            self.path_to(index)
        }
    }
}

/// Implements the iterator traits of a wrapper over [`RawIter`] whose items are made by
/// `$make(s, e, word, slot)`.
macro_rules! raw_iterator {
    ($name:ident<$lt:lifetime $(, $e:ident)?>, $item:ty, |$it:ident, $s:ident, $end:ident, $w:ident, $slot:ident| $make:expr) => {
        impl<$lt $(, $e: Entry)?> Iterator for $name<$lt $(, $e)?> {
            type Item = $item;
            #[inline(always)]
            fn next(&mut self) -> Option<$item> {
                let $it = &mut *self;
                let ($s, $end, $w, $slot) = $it.raw.pull(true)?;
                Some($make)
            }
            fn size_hint(&self) -> (usize, Option<usize>) {
                self.hint()
            }
        }
        impl<$lt $(, $e: Entry)?> DoubleEndedIterator for $name<$lt $(, $e)?> {
            #[inline(always)]
            fn next_back(&mut self) -> Option<$item> {
                let $it = &mut *self;
                let ($s, $end, $w, $slot) = $it.raw.pull(false)?;
                Some($make)
            }
        }
        impl<$lt $(, $e: Entry)?> FusedIterator for $name<$lt $(, $e)?> {}
        impl<$lt $(, $e: Entry)?> fmt::Debug for $name<$lt $(, $e)?> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("remaining", &(!self.raw.done).then_some(self.raw.lo..=self.raw.hi))
                    .finish()
            }
        }
    };
}

/// An iterator over the entries of a tree in key order, with an exact length. See
/// [`TreeView::iter`](crate::TreeView::iter).
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Iter<'a, E: Entry> {
    raw: RawIter<'a>,
    remaining: usize,
    _entries: PhantomData<&'a E>,
}

impl<'a, E: Entry> Iter<'a, E> {
    pub(crate) fn new(tree: &'a RawTree) -> Self {
        Iter {
            raw: RawIter::new(tree, 0, u64::MAX, false),
            remaining: tree.len(),
            _entries: PhantomData,
        }
    }
    fn hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
    fn item(&mut self, s: u64, e: u64, w: Word) -> (RangeInclusive<u64>, E::Ref<'a>) {
        self.remaining -= 1;
        // SAFETY: the tree is borrowed shared for 'a with no writer running, so the entry stays
        // stored and unchanged while the view lives.
        (s..=e, unsafe { view::<E>(w) })
    }
}

raw_iterator!(
    Iter<'a, E>,
    (RangeInclusive<u64>, E::Ref<'a>),
    |it, s, e, w, _slot| it.item(s, e, w)
);
impl<E: Entry> ExactSizeIterator for Iter<'_, E> {}
impl<E: Entry> Clone for Iter<'_, E> {
    fn clone(&self) -> Self {
        Iter {
            raw: self.raw.clone(),
            remaining: self.remaining,
            _entries: PhantomData,
        }
    }
}

/// An iterator over the entries that meet a range, in key order. See
/// [`TreeView::overlapping`](crate::TreeView::overlapping); inside a lock-free read section it
/// is also what [`iter`](crate::TreeView::iter) returns.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Range<'a, E: Entry> {
    raw: RawIter<'a>,
    _entries: PhantomData<&'a E>,
}

impl<'a, E: Entry> Range<'a, E> {
    pub(crate) fn new(raw: RawIter<'a>) -> Self {
        Range {
            raw,
            _entries: PhantomData,
        }
    }
    fn hint(&self) -> (usize, Option<usize>) {
        match (self.raw.done, self.raw.lockless) {
            (true, _) => (0, Some(0)),
            // A concurrent writer may add entries ahead of the walk.
            (false, true) => (0, None),
            (false, false) => (0, Some(self.raw.tree.len())),
        }
    }
}

raw_iterator!(
    Range<'a, E>,
    (RangeInclusive<u64>, E::Ref<'a>),
    |_it, s, e, w, _slot| {
        // SAFETY: the view this came from keeps the entry alive for 'a (no writer while exclusive;
        // no reclamation before the read section ends).
        (s..=e, unsafe { view::<E>(w) })
    }
);
impl<E: Entry> Clone for Range<'_, E> {
    fn clone(&self) -> Self {
        Range::new(self.raw.clone())
    }
}

/// The empty ranges inside a window, clipped to it. See
/// [`TreeView::gaps`](crate::TreeView::gaps).
#[derive(Clone)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Gaps<'a> {
    raw: RawIter<'a>,
    window: (u64, u64),
    /// An empty tree is one gap: the whole window.
    whole: Option<(u64, u64)>,
}

impl<'a> Gaps<'a> {
    pub(crate) fn new(tree: &'a RawTree, lo: u64, hi: u64, lockless: bool) -> Self {
        let empty = lo <= hi && tree.root().is_none();
        Gaps {
            raw: RawIter::with_want(tree, lo, hi, lockless, Want::Gaps),
            window: (lo, hi),
            whole: empty.then_some((lo, hi)),
        }
    }
    fn hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.whole.is_some()), None)
    }
    fn clip(&mut self, s: u64, e: u64) -> RangeInclusive<u64> {
        s.max(self.window.0)..=e.min(self.window.1)
    }
}

impl Iterator for Gaps<'_> {
    type Item = RangeInclusive<u64>;
    fn next(&mut self) -> Option<RangeInclusive<u64>> {
        if let Some((lo, hi)) = self.whole.take() {
            return Some(lo..=hi);
        }
        let (s, e, _, _) = self.raw.pull(true)?;
        Some(self.clip(s, e))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.hint()
    }
}
impl DoubleEndedIterator for Gaps<'_> {
    fn next_back(&mut self) -> Option<RangeInclusive<u64>> {
        if let Some((lo, hi)) = self.whole.take() {
            return Some(lo..=hi);
        }
        let (s, e, _, _) = self.raw.pull(false)?;
        Some(self.clip(s, e))
    }
}
impl FusedIterator for Gaps<'_> {}
impl fmt::Debug for Gaps<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gaps")
            .field("window", &(self.window.0..=self.window.1))
            .finish_non_exhaustive()
    }
}

/// A mutable iterator over the entries of an owned tree, with an exact length. See
/// [`MapleTree::iter_mut`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct IterMut<'a, E: Entry> {
    raw: RawIter<'a>,
    remaining: Option<usize>,
    _entries: PhantomData<&'a mut E>,
}

impl<'a, E: Entry> IterMut<'a, E> {
    pub(crate) fn new(tree: &'a mut MapleTree<E>, lo: u64, hi: u64) -> Self {
        let whole = lo == 0 && hi == u64::MAX;
        let raw = tree.raw();
        IterMut {
            raw: RawIter::new(raw, lo, hi, false),
            remaining: whole.then(|| raw.len()),
            _entries: PhantomData,
        }
    }
    fn hint(&self) -> (usize, Option<usize>) {
        match self.remaining {
            Some(n) => (n, Some(n)),
            None => (0, (!self.raw.done).then(|| self.raw.tree.len())),
        }
    }
    fn item(
        &mut self,
        s: u64,
        e: u64,
        slot: *const AtomicPtr<()>,
    ) -> (RangeInclusive<u64>, &'a mut E) {
        if let Some(n) = &mut self.remaining {
            *n -= 1;
        }
        // SAFETY: the tree is borrowed exclusively for 'a, each slot is yielded once (the two
        // ends never cross), and the slot holds an `E`; whatever the caller writes is an `E`.
        (s..=e, unsafe { borrow_slot_mut::<E>(slot) })
    }
}

raw_iterator!(
    IterMut<'a, E>,
    (RangeInclusive<u64>, &'a mut E),
    |it, s, e, _w, slot| it.item(s, e, slot)
);
impl<E: Entry> ExactSizeIterator for IterMut<'_, E> {}

/// A mutable iterator over the entries that meet a range. See [`MapleTree::range_mut`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct RangeMut<'a, E: Entry>(IterMut<'a, E>);

impl<'a, E: Entry> RangeMut<'a, E> {
    pub(crate) fn new(inner: IterMut<'a, E>) -> Self {
        RangeMut(inner)
    }
}
impl<'a, E: Entry> Iterator for RangeMut<'a, E> {
    type Item = (RangeInclusive<u64>, &'a mut E);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
impl<E: Entry> DoubleEndedIterator for RangeMut<'_, E> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}
impl<E: Entry> FusedIterator for RangeMut<'_, E> {}
impl<E: Entry> fmt::Debug for RangeMut<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An owning iterator over the entries of a tree, in key order. See
/// [`IntoIterator for MapleTree`](MapleTree#impl-IntoIterator-for-MapleTree<E>).
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct IntoIter<E: Entry> {
    items: alloc::vec::IntoIter<(u64, u64, Word)>,
    _owns: PhantomData<E>,
}

impl<E: Entry> IntoIter<E> {
    pub(crate) fn new(items: Vec<(u64, u64, Word)>) -> Self {
        IntoIter {
            items: items.into_iter(),
            _owns: PhantomData,
        }
    }
}

impl<E: Entry> Iterator for IntoIter<E> {
    type Item = (RangeInclusive<u64>, E);
    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: the words were taken out of the tree, which no longer owns them.
        self.items
            .next()
            .map(|(s, e, w)| (s..=e, unsafe { from_word(w) }))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
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
impl<E: Entry> ExactSizeIterator for IntoIter<E> {}
impl<E: Entry> FusedIterator for IntoIter<E> {}

impl<E: Entry> Drop for IntoIter<E> {
    fn drop(&mut self) {
        for (_, _, w) in self.items.by_ref() {
            // SAFETY: owned by the iterator, dropped once.
            unsafe { drop_word::<E>(w) };
        }
    }
}

impl<E: Entry + fmt::Debug> fmt::Debug for IntoIter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for &(s, e, w) in self.items.as_slice() {
            let bytes = w;
            // SAFETY: the word is an `E` the iterator owns; borrowed in place for printing.
            let entry: &E = unsafe { &*(&bytes as *const Word).cast::<E>() };
            list.entry(&(s..=e, entry));
        }
        list.finish()
    }
}

/// The ranges of an iterator over `(range, entry)`. See
/// [`TreeView::keys`](crate::TreeView::keys).
#[derive(Clone, Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Keys<I>(I);
/// The entries of an iterator over `(range, entry)`. See
/// [`TreeView::values`](crate::TreeView::values) and [`MapleTree::values_mut`].
#[derive(Clone, Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Values<I>(I);

impl<I> Keys<I> {
    pub(crate) fn new(inner: I) -> Self {
        Keys(inner)
    }
}
impl<I> Values<I> {
    pub(crate) fn new(inner: I) -> Self {
        Values(inner)
    }
}

macro_rules! projection {
    ($name:ident, $item:ident, $pick:tt) => {
        impl<K, V, I: Iterator<Item = (K, V)>> Iterator for $name<I> {
            type Item = $item;
            fn next(&mut self) -> Option<$item> {
                self.0.next().map(|kv| kv.$pick)
            }
            fn size_hint(&self) -> (usize, Option<usize>) {
                self.0.size_hint()
            }
        }
        impl<K, V, I: DoubleEndedIterator<Item = (K, V)>> DoubleEndedIterator for $name<I> {
            fn next_back(&mut self) -> Option<$item> {
                self.0.next_back().map(|kv| kv.$pick)
            }
        }
        impl<K, V, I: ExactSizeIterator<Item = (K, V)>> ExactSizeIterator for $name<I> {}
        impl<K, V, I: FusedIterator<Item = (K, V)>> FusedIterator for $name<I> {}
    };
}
projection!(Keys, K, 0);
projection!(Values, V, 1);

// SAFETY: these only read the tree they borrow shared (or, `IterMut`, exclusively) and hand
// out views of its entries, so they may cross threads as `&MapleTree<E>` (or `&mut`) may. (Their
// raw node pointers are what keeps the compiler from seeing that.) Inside a lock-free read
// section the read guard, which stays on its thread, keeps everything they reach alive.
unsafe impl<E: Entry + Sync> Send for Iter<'_, E> {}
// SAFETY: as above.
unsafe impl<E: Entry + Sync> Sync for Iter<'_, E> {}
// SAFETY: as above.
unsafe impl<E: Entry + Sync> Send for Range<'_, E> {}
// SAFETY: as above.
unsafe impl<E: Entry + Sync> Sync for Range<'_, E> {}
// SAFETY: as above; `IterMut` hands out `&mut E`, as `&mut MapleTree<E>` would.
unsafe impl<E: Entry + Send> Send for IterMut<'_, E> {}
// SAFETY: as above.
unsafe impl<E: Entry + Sync> Sync for IterMut<'_, E> {}
// SAFETY: `Gaps` hands out no entry at all.
unsafe impl Send for Gaps<'_> {}
// SAFETY: as above.
unsafe impl Sync for Gaps<'_> {}
// SAFETY: `IntoIter` owns its entries' words, as a `Vec<E>` would.
unsafe impl<E: Entry + Send> Send for IntoIter<E> {}
// SAFETY: as above.
unsafe impl<E: Entry + Sync> Sync for IntoIter<E> {}

/// Iteration: what a [`TreeView`] walks in key order.
impl<E: Entry, A: Access> TreeView<E, A> {
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
        Range::new(RawIter::new(self.raw(), lo, hi, self.lockless()))
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
        Gaps::new(self.raw(), lo, hi, self.lockless())
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
}

impl<E: Entry> TreeView<E, Exclusive> {
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
        Iter::new(self.raw())
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

impl<E: Entry> core::fmt::Debug for TreeView<E, Lockless>
where
    for<'a> E::Ref<'a>: core::fmt::Debug,
{
    /// The map of the entries the lock-free walk meets (what [`iter`](Self::iter) yields).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
