//! Cursors (the kernel's `ma_state`) and iterators.
//!
//! A cursor is positioned on a range, empty or not, and keeps the path to it, so stepping to
//! the next or previous range stays within the leaf most of the time.

use core::marker::PhantomData;
use core::ops::RangeInclusive;

use crate::entry::{borrow_slot, into_word, is_entry, zero_word, Entry, HasCloneOps, Word};
use core::sync::atomic::AtomicPtr;

use crate::node::Shape;
use crate::path::{Frame, Path};
use crate::raw::RawTree;
use crate::tree::MapleTree;
use crate::Error;

/// Where a cursor stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Not walked yet: the next operation starts at `index`.
    Start,
    /// On the range `[index, last]` with a valid path.
    Active,
    /// Parked by `pause`: the path is forgotten, the range remembered.
    Paused,
    /// Ran off an end of the tree.
    Done,
}

/// The position logic shared by [`Cursor`] and [`CursorMut`].
#[derive(Clone)]
pub(crate) struct CursorState {
    path: Path,
    index: u64,
    last: u64,
    status: Status,
}

impl CursorState {
    pub(crate) fn new(index: u64) -> CursorState {
        CursorState {
            path: Path::empty(),
            index,
            last: index,
            status: Status::Start,
        }
    }

    /// Positions on the range holding `index`; returns its word.
    fn walk(&mut self, tree: &RawTree, index: u64) -> Word {
        self.path
            .descend(tree.root(), tree.internal_shape(), index, usize::MAX);
        if self.path.is_empty() {
            self.index = 0;
            self.last = u64::MAX;
            self.status = Status::Active;
            return core::ptr::null_mut();
        }
        let (s, e, w) = self.path.current();
        self.index = s;
        self.last = e;
        self.status = Status::Active;
        w
    }

    /// Makes sure a path exists; returns false when the tree is empty.
    fn ensure(&mut self, tree: &RawTree, resume_forward: bool) -> bool {
        match self.status {
            Status::Active | Status::Done if !self.path.is_empty() => true,
            Status::Paused => {
                let at = if resume_forward {
                    self.last
                } else {
                    self.index
                };
                self.walk(tree, at);
                !self.path.is_empty()
            }
            _ => {
                let at = self.index;
                self.walk(tree, at);
                !self.path.is_empty()
            }
        }
    }

    fn step(&mut self, tree: &RawTree, forward: bool) -> Option<(u64, u64, Word)> {
        let internal = tree.internal_shape();
        let moved = if forward {
            self.path.next_slot(internal)
        } else {
            self.path.prev_slot(internal)
        };
        if !moved {
            self.status = Status::Done;
            return None;
        }
        let (s, e, w) = self.path.current();
        self.index = s;
        self.last = e;
        self.status = Status::Active;
        Some((s, e, w))
    }

    /// The next range after the current one, empty ones included.
    /// The range after the current one (kernel `mas_next_range`: a fresh cursor first walks to
    /// its index, then steps).
    fn next_range(&mut self, tree: &RawTree) -> Option<(u64, u64, Word)> {
        if !self.ensure(tree, true) {
            return None;
        }
        self.step(tree, true)
    }

    /// The range before the current one (kernel `mas_prev_range`).
    fn prev_range(&mut self, tree: &RawTree) -> Option<(u64, u64, Word)> {
        if !self.ensure(tree, false) {
            return None;
        }
        self.step(tree, false)
    }

    /// First entry at or after the position (kernel `mas_find`): on a fresh or paused cursor
    /// the current range counts, otherwise the search starts after it.
    fn find(&mut self, tree: &RawTree, max: u64) -> Option<(u64, u64, Word)> {
        let include_current = matches!(self.status, Status::Start | Status::Paused);
        if include_current {
            let start = match self.status {
                Status::Paused if self.last == u64::MAX => None,
                Status::Paused => Some(self.last + 1),
                _ => Some(self.index),
            };
            match start {
                Some(at) if at <= max => {
                    self.walk(tree, at);
                }
                _ => {
                    self.status = Status::Done;
                    return None;
                }
            }
        }
        if self.path.is_empty() {
            return None;
        }
        if include_current {
            let (s, e, w) = self.path.current();
            if is_entry(w) && s <= max {
                return Some((s, e, w));
            }
        }
        self.scan(tree, true, |s, _| s > max)
    }

    /// Last entry at or before the position (kernel `mas_find_rev`).
    fn find_rev(&mut self, tree: &RawTree, min: u64) -> Option<(u64, u64, Word)> {
        let include_current = matches!(self.status, Status::Start | Status::Paused);
        if include_current {
            let start = match self.status {
                Status::Paused if self.index == 0 => None,
                Status::Paused => Some(self.index - 1),
                _ => Some(self.index),
            };
            match start {
                Some(at) if at >= min => {
                    self.walk(tree, at);
                }
                _ => {
                    self.status = Status::Done;
                    return None;
                }
            }
        }
        if self.path.is_empty() {
            return None;
        }
        if include_current {
            let (s, e, w) = self.path.current();
            if is_entry(w) && e >= min {
                return Some((s, e, w));
            }
        }
        self.scan(tree, false, |_, e| e < min)
    }

    /// Steps until an entry, or until `past(start, last)` says the limit was crossed.
    fn scan(
        &mut self,
        tree: &RawTree,
        forward: bool,
        past: impl Fn(u64, u64) -> bool,
    ) -> Option<(u64, u64, Word)> {
        if !self.ensure(tree, forward) {
            return None;
        }
        loop {
            let saved = (self.path.clone(), self.index, self.last);
            let (s, e, w) = self.step(tree, forward)?;
            if past(s, e) {
                // Stay on the last range inside the limit, as the kernel does.
                (self.path, self.index, self.last) = saved;
                return None;
            }
            if is_entry(w) {
                return Some((s, e, w));
            }
        }
    }

    fn next(&mut self, tree: &RawTree, max: u64) -> Option<(u64, u64, Word)> {
        if matches!(self.status, Status::Start | Status::Paused) {
            let at = if self.status == Status::Paused {
                self.last
            } else {
                self.index
            };
            self.walk(tree, at);
            if self.path.is_empty() {
                return None;
            }
        }
        self.scan(tree, true, |s, _| s > max)
    }

    fn prev(&mut self, tree: &RawTree, min: u64) -> Option<(u64, u64, Word)> {
        if matches!(self.status, Status::Start | Status::Paused) {
            let at = self.index;
            self.walk(tree, at);
            if self.path.is_empty() {
                return None;
            }
        }
        self.scan(tree, false, |_, e| e < min)
    }

    fn pause(&mut self) {
        // A cursor that never walked has nothing to forget: it still starts at its index.
        if self.status != Status::Start {
            self.path.clear();
            self.status = Status::Paused;
        }
    }
}

/// Borrows the entry at the cursor's leaf slot.
///
/// # Safety
/// The tree is not written for `'a`.
unsafe fn entry_at<'a, E: Entry>(path: &Path, word: Word) -> Option<&'a E> {
    if !is_entry(word) {
        return None;
    }
    let leaf = path.leaf();
    // SAFETY: the slot holds an `E` and the caller guarantees no write during 'a. The node
    // outlives 'a because it can only be freed by a write.
    Some(unsafe { borrow_slot::<E>(&*(leaf.node.slot_ref(leaf.shape, leaf.offset) as *const _)) })
}

macro_rules! reading_methods {
    ($lt:lifetime) => {
        /// First index of the current range.
        pub fn index(&self) -> u64 {
            self.state.index
        }
        /// The current range (empty ranges included).
        pub fn range(&self) -> RangeInclusive<u64> {
            self.state.index..=self.state.last
        }
        /// Positions the cursor on the range holding `index` and returns its entry.
        pub fn walk(&mut self, index: u64) -> Option<&$lt E> {
            let w = self.state.walk(&self.tree.raw, index);
            // SAFETY: the tree is borrowed for the cursor's lifetime; no write happens meanwhile.
            unsafe { self.entry(w) }
        }
        /// The first entry at or after the position whose range starts at or below `max`.
        pub fn find(&mut self, max: u64) -> Option<(RangeInclusive<u64>, &$lt E)> {
            let r = self.state.find(&self.tree.raw, max);
            self.item(r)
        }
        /// The last entry at or before the position whose range ends at or above `min`.
        pub fn find_rev(&mut self, min: u64) -> Option<(RangeInclusive<u64>, &$lt E)> {
            let r = self.state.find_rev(&self.tree.raw, min);
            self.item(r)
        }
        /// The entry after the current range, if it starts at or below `max`.
        pub fn next(&mut self, max: u64) -> Option<(RangeInclusive<u64>, &$lt E)> {
            let r = self.state.next(&self.tree.raw, max);
            self.item(r)
        }
        /// The entry before the current range, if it ends at or above `min`.
        pub fn prev(&mut self, min: u64) -> Option<(RangeInclusive<u64>, &$lt E)> {
            let r = self.state.prev(&self.tree.raw, min);
            self.item(r)
        }
        /// Moves to the next range, empty or not.
        pub fn next_range(&mut self) -> Option<(RangeInclusive<u64>, Option<&$lt E>)> {
            let (s, e, w) = self.state.next_range(&self.tree.raw)?;
            // SAFETY: as in `walk`.
            Some((s..=e, unsafe { self.entry(w) }))
        }
        /// Moves to the previous range, empty or not.
        pub fn prev_range(&mut self) -> Option<(RangeInclusive<u64>, Option<&$lt E>)> {
            let (s, e, w) = self.state.prev_range(&self.tree.raw)?;
            // SAFETY: as in `walk`.
            Some((s..=e, unsafe { self.entry(w) }))
        }
        /// Forgets the node position but keeps the range (the kernel's `mas_pause`): the next
        /// `find`/`next` resumes after the current range, `find_rev`/`prev` before it.
        pub fn pause(&mut self) {
            self.state.pause();
        }
        /// Whether the current range holds the reserved zero entry.
        pub fn is_reserved(&self) -> bool {
            self.state.status == Status::Active
                && !self.state.path.is_empty()
                && self.state.path.current().2 == zero_word()
        }
        fn item(&self, r: Option<(u64, u64, Word)>) -> Option<(RangeInclusive<u64>, &$lt E)> {
            let (s, e, w) = r?;
            // SAFETY: as in `walk`.
            unsafe { self.entry(w) }.map(|x| (s..=e, x))
        }
        /// # Safety
        /// No write for the returned lifetime.
        unsafe fn entry(&self, w: Word) -> Option<&$lt E> {
            // SAFETY: forwarded.
            unsafe { entry_at::<E>(&self.state.path, w) }
        }
    };
}

/// A read-only cursor. See [`MapleTree::cursor`].
pub struct Cursor<'a, E: Entry> {
    tree: &'a MapleTree<E>,
    state: CursorState,
}

impl<'a, E: Entry> Cursor<'a, E> {
    pub(crate) fn new(tree: &'a MapleTree<E>, index: u64) -> Self {
        Cursor {
            tree,
            state: CursorState::new(index),
        }
    }
    reading_methods!('a);
}

/// A cursor that can also write at its position. See [`MapleTree::cursor_mut`].
///
/// Reads return entries borrowed from the cursor, so a write cannot invalidate them.
pub struct CursorMut<'a, E: Entry> {
    tree: &'a mut MapleTree<E>,
    state: CursorState,
}

impl<'a, E: Entry> CursorMut<'a, E> {
    pub(crate) fn new(tree: &'a mut MapleTree<E>, index: u64) -> Self {
        CursorMut {
            tree,
            state: CursorState::new(index),
        }
    }
    reading_methods!('_);

    /// Finds the lowest empty range of `size` indices inside `range` (see
    /// [`MapleTree::empty_area`]) and positions the cursor on it, so that [`store`](Self::store)
    /// fills exactly that hole (the kernel's `mas_empty_area` followed by `mas_store`).
    pub fn empty_area(
        &mut self,
        range: RangeInclusive<u64>,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        let hole = self.tree.empty_area(range, size)?;
        self.set_range(hole.clone());
        Ok(hole)
    }

    /// As [`empty_area`](Self::empty_area), the highest fitting hole.
    pub fn empty_area_rev(
        &mut self,
        range: RangeInclusive<u64>,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        let hole = self.tree.empty_area_rev(range, size)?;
        self.set_range(hole.clone());
        Ok(hole)
    }

    /// Chooses the range the next `store` covers (the kernel's `mas_set_range`).
    pub fn set_range(&mut self, range: RangeInclusive<u64>) {
        self.state = CursorState::new(*range.start());
        self.state.last = *range.end();
    }

    /// Replaces the entry of the current range in place (an exact-fit slot store: no
    /// allocation, cannot fail) and returns the old entry. `None` (and no change) if the
    /// cursor is not on a stored entry.
    pub fn replace(&mut self, entry: E) -> Option<E> {
        if self.state.status != Status::Active || self.state.path.is_empty() {
            return None;
        }
        let (_, _, old) = self.state.path.current();
        if !is_entry(old) {
            return None;
        }
        let leaf = self.state.path.leaf();
        leaf.node
            .set_slot(leaf.shape, leaf.offset, into_word(entry));
        // SAFETY: the word was the slot's entry; the slot now holds the new one.
        Some(unsafe { crate::entry::from_word(old) })
    }

    /// Empties the range holding the cursor's index and returns its entry. The cursor
    /// then stands on the (empty, possibly widened) range.
    pub fn erase(&mut self) -> Option<E> {
        let at = self.state.index;
        let out = self.tree.erase(at).map(|(_, e)| e);
        self.state.walk(&self.tree.raw, at);
        out
    }
}

impl<E: Entry + Clone> CursorMut<'_, E> {
    /// Stores `entry` over the current range (see [`MapleTree::store_range`]).
    pub fn store(&mut self, entry: E) -> Result<Option<E>, Error> {
        let (s, e) = (self.state.index, self.state.last);
        self.store_range(s..=e, entry)
    }
    /// Stores `entry` over `range` and moves the cursor onto it.
    pub fn store_range(
        &mut self,
        range: RangeInclusive<u64>,
        entry: E,
    ) -> Result<Option<E>, Error> {
        let (s, e) = (*range.start(), *range.end());
        let old = self
            .tree
            .write_owned(s, e, into_word(entry), &E::CLONE_OPS, true)?;
        self.state.walk(&self.tree.raw, s);
        // SAFETY: the write handed ownership of the old word to us.
        Ok(is_entry(old).then(|| unsafe { crate::entry::from_word(old) }))
    }
}

/// A double-ended walk over the leaf slots of `[lo, hi]`.
///
/// Each end keeps its path for moving between leaves and a copy of its current leaf frame for
/// stepping within a leaf, which is where nearly all the work is. `lo` is where the front's
/// current slot starts and `hi` where the back's ends, so each step reads one pivot: the end it
/// moves away from is already known. The walk is over when the ends meet.
pub(crate) struct RawIter<'a> {
    tree: &'a RawTree,
    front: Path,
    back: Path,
    front_leaf: Option<Frame>,
    back_leaf: Option<Frame>,
    lo: u64,
    hi: u64,
    done: bool,
}

impl<'a> RawIter<'a> {
    pub(crate) fn new(tree: &'a RawTree, lo: u64, hi: u64) -> RawIter<'a> {
        let mut it = RawIter {
            tree,
            front: Path::empty(),
            back: Path::empty(),
            front_leaf: None,
            back_leaf: None,
            lo,
            hi,
            done: lo > hi || tree.root().is_none(),
        };
        if !it.done {
            it.front = tree.path_to(lo);
            it.back = tree.path_to(hi);
            let (f, b) = (*it.front.leaf(), *it.back.leaf());
            // Whole slots: an entry is yielded with its full range even where `[lo, hi]`
            // starts or ends inside it.
            it.lo = f.slot_min(f.offset);
            it.hi = b.slot_max(b.offset);
            it.front_leaf = Some(f);
            it.back_leaf = Some(b);
        }
        it
    }

    /// The next (or, backwards, previous) stored entry: its range, word and slot.
    #[inline]
    pub(crate) fn pull(&mut self, forward: bool) -> Option<(u64, u64, Word, *const AtomicPtr<()>)> {
        while !self.done {
            let leaf = if forward {
                &mut self.front_leaf
            } else {
                &mut self.back_leaf
            };
            let f = leaf.as_mut()?;
            let i = f.offset;
            let w = f.node.slot(Shape::Range, i);
            let slot = f.node.slot_ref(Shape::Range, i) as *const AtomicPtr<()>;
            let (s, e);
            if forward {
                (s, e) = (self.lo, f.slot_max(i));
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
            } else {
                (s, e) = (f.slot_min(i), self.hi);
                if s <= self.lo {
                    self.done = true;
                } else {
                    self.hi = s - 1;
                    if i > 0 {
                        f.offset -= 1;
                    } else {
                        self.change_leaf(false);
                    }
                }
            }
            if is_entry(w) {
                return Some((s, e, w, slot));
            }
        }
        None
    }

    #[cold]
    fn change_leaf(&mut self, forward: bool) {
        let internal = self.tree.internal_shape();
        let (path, leaf) = if forward {
            (&mut self.front, &mut self.front_leaf)
        } else {
            (&mut self.back, &mut self.back_leaf)
        };
        let at_edge = leaf.map_or(0, |f| f.offset);
        path.leaf_mut().offset = at_edge;
        let moved = if forward {
            path.next_slot(internal)
        } else {
            path.prev_slot(internal)
        };
        if moved {
            *leaf = Some(*path.leaf());
        } else {
            self.done = true;
        }
    }
}

/// An iterator over the entries of a tree in key order. See [`MapleTree::iter`].
pub struct Iter<'a, E: Entry> {
    it: RawIter<'a>,
    _marker: PhantomData<&'a E>,
}

/// The same, restricted to entries that intersect a range. See [`MapleTree::range`].
pub type Range<'a, E> = Iter<'a, E>;

impl<'a, E: Entry> Iter<'a, E> {
    pub(crate) fn new(tree: &'a MapleTree<E>, lo: u64, hi: u64) -> Self {
        Iter {
            it: RawIter::new(&tree.raw, lo, hi),
            _marker: PhantomData,
        }
    }
    fn pull(&mut self, forward: bool) -> Option<(RangeInclusive<u64>, &'a E)> {
        let (s, e, _, slot) = self.it.pull(forward)?;
        // SAFETY: the tree is borrowed shared for 'a, so no write (and no free of this node)
        // happens while the reference lives; the slot holds an `E`.
        let r = unsafe { borrow_slot::<E>(&*slot) };
        Some((s..=e, r))
    }
}

impl<'a, E: Entry> Iterator for Iter<'a, E> {
    type Item = (RangeInclusive<u64>, &'a E);
    fn next(&mut self) -> Option<Self::Item> {
        self.pull(true)
    }
}

impl<E: Entry> DoubleEndedIterator for Iter<'_, E> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.pull(false)
    }
}

impl<E: Entry> core::iter::FusedIterator for Iter<'_, E> {}

// SAFETY: an `Iter` only reads the tree it borrows shared and hands out `&E`, so it is as
// thread-safe as `&MapleTree<E>`, which is `Send` and `Sync` when `E: Sync`. (Its raw node
// pointers are what keeps the compiler from seeing that.)
unsafe impl<E: Entry + Sync> Send for Iter<'_, E> {}
// SAFETY: as above; `&Iter` allows no access at all.
unsafe impl<E: Entry + Sync> Sync for Iter<'_, E> {}
