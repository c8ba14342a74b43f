//! Cursors (the kernel's `ma_state`).
//!
//! A cursor is positioned on a range, empty or not, and keeps the path to it, so stepping to
//! the next or previous range stays within the leaf most of the time.
//!
//! A search that finds nothing leaves the cursor where it can resume, as the kernel's
//! overflow and underflow states do: a fresh or paused cursor whose start lies outside the
//! limit stays fresh or paused, and a cursor that ran off an end of the tree stays on the last
//! range it examined, so a later search with a wider limit, or in the other direction, goes
//! on from there.
//!
//! Inside a lock-free read section every step checks the nodes it read; when the writer had
//! replaced one, the step is done again from a fresh walk to where the cursor stood.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{RangeBounds, RangeInclusive};

use crate::bounds::to_inclusive;
use crate::entry::{from_word, into_word, is_entry, view, zero_word, Entry, Word};
use crate::mode::{Mode, TakeOld};
use crate::node::Shape;
use crate::path::Path;
use crate::raw::RawTree;
use crate::tree::MapleTree;
use crate::view::{Access, TreeView};
use crate::{Error, InsertError};

/// Where a cursor stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Not walked yet: the next operation starts at `index`.
    Start,
    /// On the range `[index, last]` (with a path, unless the tree is empty or the path was
    /// dropped after a lock-free reader met a replaced node).
    Active,
    /// Parked by `pause`: the path is forgotten, the range remembered.
    Paused,
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

    /// Runs one cursor operation. Lock-free, it is repeated from where the cursor stood for as
    /// long as it read a node the writer had replaced.
    fn run<R>(
        &mut self,
        tree: &RawTree,
        lockless: bool,
        mut op: impl FnMut(&mut Self, &RawTree) -> R,
    ) -> R {
        if !lockless {
            return op(self, tree);
        }
        loop {
            let (index, last, status) = (self.index, self.last, self.status);
            let result = op(self, tree);
            if !self.path.any_dead() {
                return result;
            }
            crate::sync::restarted();
            (self.index, self.last, self.status) = (index, last, status);
            // An active cursor with no path walks again to its range when next used.
            self.path.clear();
        }
    }

    /// Positions on the range holding `index`; returns its word.
    fn walk(&mut self, tree: &RawTree, index: u64) -> Word {
        self.path.descend(tree.root(), index, usize::MAX);
        self.status = Status::Active;
        if self.path.is_empty() {
            self.index = 0;
            self.last = u64::MAX;
            return core::ptr::null_mut();
        }
        let (s, e, w) = self.path.current();
        self.index = s;
        self.last = e;
        w
    }

    /// Makes sure a path exists; returns false when the tree is empty.
    fn ensure(&mut self, tree: &RawTree, resume_forward: bool) -> bool {
        if self.status == Status::Active && !self.path.is_empty() {
            return true;
        }
        let at = match self.status {
            Status::Paused if resume_forward => self.last,
            _ => self.index,
        };
        self.walk(tree, at);
        !self.path.is_empty()
    }

    /// Moves one range along; stays put at an end of the tree.
    fn step(&mut self, forward: bool) -> Option<(u64, u64, Word)> {
        let moved = if forward {
            self.path.next_slot()
        } else {
            self.path.prev_slot()
        };
        if !moved {
            return None;
        }
        let (s, e, w) = self.path.current();
        self.index = s;
        self.last = e;
        Some((s, e, w))
    }

    /// The range after the current one, empty ones included (the kernel's `mas_next_range`: a
    /// fresh cursor first walks to its index, then steps).
    fn next_range(&mut self, tree: &RawTree) -> Option<(u64, u64, Word)> {
        if !self.ensure(tree, true) {
            return None;
        }
        self.step(true)
    }

    /// The range before the current one (the kernel's `mas_prev_range`).
    fn prev_range(&mut self, tree: &RawTree) -> Option<(u64, u64, Word)> {
        if !self.ensure(tree, false) {
            return None;
        }
        self.step(false)
    }

    /// First entry at or after the position (the kernel's `mas_find`): on a fresh or paused
    /// cursor the current range counts, otherwise the search starts after it.
    fn find(&mut self, tree: &RawTree, max: u64) -> Option<(u64, u64, Word)> {
        let start = match self.status {
            Status::Active => None,
            Status::Start => Some(self.index),
            Status::Paused => self.last.checked_add(1),
        };
        if let Some(at) = start {
            if at > max {
                return None;
            }
        } else if self.status == Status::Paused {
            // Paused on the range that ends the key space: nothing comes after it.
            return None;
        }
        if let Some(at) = start {
            let w = self.walk(tree, at);
            if self.path.is_empty() {
                return None;
            }
            if is_entry(w) {
                return Some((self.index, self.last, w));
            }
        }
        self.scan(tree, true, |s, _| s > max)
    }

    /// Last entry at or before the position (the kernel's `mas_find_rev`).
    fn find_rev(&mut self, tree: &RawTree, min: u64) -> Option<(u64, u64, Word)> {
        let start = match self.status {
            Status::Active => None,
            Status::Start => Some(self.index),
            Status::Paused => self.index.checked_sub(1),
        };
        if let Some(at) = start {
            if at < min {
                return None;
            }
        } else if self.status == Status::Paused {
            return None;
        }
        if let Some(at) = start {
            let w = self.walk(tree, at);
            if self.path.is_empty() {
                return None;
            }
            if is_entry(w) {
                return Some((self.index, self.last, w));
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
            let (s, e, w) = self.step(forward)?;
            if past(s, e) {
                // Stay on the last range inside the limit, as the kernel does: step back to it
                // (cheaper than keeping a copy of the path for every step).
                self.step(!forward);
                return None;
            }
            if is_entry(w) {
                return Some((s, e, w));
            }
        }
    }

    fn next(&mut self, tree: &RawTree, max: u64) -> Option<(u64, u64, Word)> {
        if self.status != Status::Active {
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
        if self.status != Status::Active {
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

    /// The word of the current range, if the cursor stands on one with a path.
    fn current_word(&self) -> Option<Word> {
        (self.status == Status::Active && !self.path.is_empty()).then(|| self.path.current().2)
    }
}

impl fmt::Debug for CursorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("range", &(self.index..=self.last))
            .field("status", &self.status)
            .finish()
    }
}

/// The reading methods of [`Cursor`] and [`CursorMut`]; `$lt` is how long returned entries
/// live and `$raw`/`$lockless` say how the cursor reaches the tree.
macro_rules! reading_methods {
    ($lt:lifetime, |$this:ident| $raw:expr, $lockless:expr) => {
        /// First index of the current range.
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let mut tree = MapleTree::new();
        /// tree.insert_range(10..=19, Value::new(1)).unwrap();
        /// let mut c = tree.cursor(15);
        /// c.walk(15);
        /// assert_eq!(c.index(), 10);
        /// ```
        #[must_use]
        pub fn index(&self) -> u64 {
            self.state.index
        }
        /// The current range (empty ranges included).
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let mut tree = MapleTree::new();
        /// tree.insert_range(10..=19, Value::new(1)).unwrap();
        /// let mut c = tree.cursor(0);
        /// c.walk(25);
        /// assert_eq!(c.range(), 20..=u64::MAX); // the empty range after the entry
        /// ```
        #[must_use]
        pub fn range(&self) -> RangeInclusive<u64> {
            self.state.index..=self.state.last
        }
        /// The entry of the current range, if the cursor stands on a stored one.
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let mut tree = MapleTree::new();
        /// tree.insert_range(10..=19, Value::new(1)).unwrap();
        /// let mut c = tree.cursor(12);
        /// assert_eq!(c.entry(), None); // not walked yet
        /// c.walk(12);
        /// assert_eq!(c.entry(), Some(Value::new(1)));
        /// ```
        #[must_use]
        pub fn entry(&self) -> Option<E::Ref<'_>> {
            let w = self.state.current_word()?;
            // SAFETY: read from the tree the cursor borrows, which keeps it stored for as long
            // as `&self` lives.
            is_entry(w).then(|| unsafe { view::<E>(w) })
        }
        /// Positions the cursor on the range holding `index` and returns its entry (the
        /// kernel's `mas_walk`).
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let mut tree = MapleTree::new();
        /// tree.insert_range(10..=19, Value::new(1)).unwrap();
        /// let mut c = tree.cursor(0);
        /// assert_eq!(c.walk(11), Some(Value::new(1)));
        /// assert_eq!(c.range(), 10..=19);
        /// ```
        pub fn walk(&mut self, index: u64) -> Option<E::Ref<$lt>> {
            let $this = &mut *self;
            let (raw, lockless) = ($raw, $lockless);
            let w = $this.state.run(raw, lockless, |s, t| s.walk(t, index));
            // SAFETY: as in `entry`, for the cursor's borrow of the tree.
            is_entry(w).then(|| unsafe { view::<E>(w) })
        }
        /// The first entry at or after the position whose range starts at or below `max`
        /// (the kernel's `mas_find`): a fresh or paused cursor includes its current range,
        /// an active one starts after it. `None` leaves the cursor where a later search can
        /// resume.
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let mut tree = MapleTree::new();
        /// tree.insert_range(150..=160, Value::new(1)).unwrap();
        /// let mut c = tree.cursor(100);
        /// assert_eq!(c.find(50), None); // the cursor starts above the limit
        /// assert_eq!(c.find(200), Some((150..=160, Value::new(1))));
        /// ```
        pub fn find(&mut self, max: u64) -> Option<(RangeInclusive<u64>, E::Ref<$lt>)> {
            let $this = &mut *self;
            let (raw, lockless) = ($raw, $lockless);
            let r = $this.state.run(raw, lockless, |s, t| s.find(t, max));
            // SAFETY: as in `walk`.
            unsafe { item::<E>(r) }
        }
        /// The last entry at or before the position whose range ends at or above `min` (the
        /// kernel's `mas_find_rev`).
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let tree: MapleTree<Value> = (0..4u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
        /// let mut c = tree.cursor(u64::MAX);
        /// assert_eq!(c.find_rev(0), Some((30..=34, Value::new(3))));
        /// assert_eq!(c.find_rev(0), Some((20..=24, Value::new(2))));
        /// ```
        pub fn find_rev(&mut self, min: u64) -> Option<(RangeInclusive<u64>, E::Ref<$lt>)> {
            let $this = &mut *self;
            let (raw, lockless) = ($raw, $lockless);
            let r = $this.state.run(raw, lockless, |s, t| s.find_rev(t, min));
            // SAFETY: as in `walk`.
            unsafe { item::<E>(r) }
        }
        /// The entry after the current range, if it starts at or below `max` (the kernel's
        /// `mas_next`).
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let tree: MapleTree<Value> = (0..4u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
        /// let mut c = tree.cursor(0);
        /// assert_eq!(c.next(u64::MAX), Some((10..=14, Value::new(1))));
        /// assert_eq!(c.next(19), None); // the next one starts at 20
        /// assert_eq!(c.next(29), Some((20..=24, Value::new(2))));
        /// ```
        pub fn next(&mut self, max: u64) -> Option<(RangeInclusive<u64>, E::Ref<$lt>)> {
            let $this = &mut *self;
            let (raw, lockless) = ($raw, $lockless);
            let r = $this.state.run(raw, lockless, |s, t| s.next(t, max));
            // SAFETY: as in `walk`.
            unsafe { item::<E>(r) }
        }
        /// The entry before the current range, if it ends at or above `min` (the kernel's
        /// `mas_prev`).
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let tree: MapleTree<Value> = (0..4u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
        /// let mut c = tree.cursor(32);
        /// assert_eq!(c.prev(0), Some((20..=24, Value::new(2))));
        /// assert_eq!(c.prev(15), None); // the one before ends at 14
        /// ```
        pub fn prev(&mut self, min: u64) -> Option<(RangeInclusive<u64>, E::Ref<$lt>)> {
            let $this = &mut *self;
            let (raw, lockless) = ($raw, $lockless);
            let r = $this.state.run(raw, lockless, |s, t| s.prev(t, min));
            // SAFETY: as in `walk`.
            unsafe { item::<E>(r) }
        }
        /// Moves to the next range, empty or not (the kernel's `mas_next_range`).
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let mut tree = MapleTree::new();
        /// tree.insert_range(10..=19, Value::new(1)).unwrap();
        /// let mut c = tree.cursor(0);
        /// assert_eq!(c.next_range(), Some((10..=19, Some(Value::new(1)))));
        /// assert_eq!(c.next_range(), Some((20..=u64::MAX, None)));
        /// assert_eq!(c.next_range(), None);
        /// ```
        pub fn next_range(&mut self) -> Option<(RangeInclusive<u64>, Option<E::Ref<$lt>>)> {
            let $this = &mut *self;
            let (raw, lockless) = ($raw, $lockless);
            let (s, e, w) = $this.state.run(raw, lockless, |st, t| st.next_range(t))?;
            // SAFETY: as in `walk`.
            Some((s..=e, is_entry(w).then(|| unsafe { view::<E>(w) })))
        }
        /// Moves to the previous range, empty or not (the kernel's `mas_prev_range`).
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let mut tree = MapleTree::new();
        /// tree.insert_range(10..=19, Value::new(1)).unwrap();
        /// let mut c = tree.cursor(25);
        /// assert_eq!(c.prev_range(), Some((10..=19, Some(Value::new(1)))));
        /// assert_eq!(c.prev_range(), Some((0..=9, None)));
        /// ```
        pub fn prev_range(&mut self) -> Option<(RangeInclusive<u64>, Option<E::Ref<$lt>>)> {
            let $this = &mut *self;
            let (raw, lockless) = ($raw, $lockless);
            let (s, e, w) = $this.state.run(raw, lockless, |st, t| st.prev_range(t))?;
            // SAFETY: as in `walk`.
            Some((s..=e, is_entry(w).then(|| unsafe { view::<E>(w) })))
        }
        /// Forgets the node position but keeps the range (the kernel's `mas_pause`): the next
        /// `find`/`next` resumes after the current range, `find_rev`/`prev` before it. A
        /// lock-free reader pauses before it leaves its read section for a while.
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let tree: MapleTree<Value> = (0..4u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
        /// let mut c = tree.cursor(0);
        /// c.find(u64::MAX);
        /// c.pause();
        /// assert_eq!(c.find(u64::MAX), Some((10..=14, Value::new(1))));
        /// ```
        pub fn pause(&mut self) {
            self.state.pause();
        }
        /// Whether the current range holds the reserved zero entry.
        ///
        /// ```
        /// use maple_tree::{MapleTree, Value};
        /// let mut tree = MapleTree::<Value>::new();
        /// tree.reserve_range(10..=19).unwrap();
        /// let mut c = tree.cursor(0);
        /// c.walk(15);
        /// assert!(c.is_reserved());
        /// ```
        #[must_use]
        pub fn is_reserved(&self) -> bool {
            self.state.current_word() == Some(zero_word())
        }
    };
}

/// A found entry as handed out.
///
/// # Safety
/// The word is a live entry of a tree that keeps it stored for `'a`.
unsafe fn item<'a, E: Entry + 'a>(
    r: Option<(u64, u64, Word)>,
) -> Option<(RangeInclusive<u64>, E::Ref<'a>)> {
    let (s, e, w) = r?;
    // SAFETY: forwarded.
    Some((s..=e, unsafe { view::<E>(w) }))
}

/// A read-only cursor. See [`TreeView::cursor`](crate::TreeView::cursor): a tree's owner, its
/// writer and its lock-free readers all get one.
pub struct Cursor<'a, E: Entry> {
    raw: &'a RawTree,
    lockless: bool,
    state: CursorState,
    _entries: PhantomData<&'a E>,
}

impl<'a, E: Entry> Cursor<'a, E> {
    pub(crate) fn new(raw: &'a RawTree, index: u64, lockless: bool) -> Self {
        Cursor {
            raw,
            lockless,
            state: CursorState::new(index),
            _entries: PhantomData,
        }
    }
    reading_methods!('a, |this| this.raw, this.lockless);
}

impl<E: Entry> Clone for Cursor<'_, E> {
    fn clone(&self) -> Self {
        Cursor {
            raw: self.raw,
            lockless: self.lockless,
            state: self.state.clone(),
            _entries: PhantomData,
        }
    }
}

impl<E: Entry> fmt::Debug for Cursor<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.fmt(f)
    }
}

// SAFETY: a cursor only reads the tree it borrows and hands out views of its entries, as
// `&MapleTree<E>` does; a lock-free one relies on its read guard, which stays on its thread,
// to keep what it reaches alive. Its raw node pointers hide that from the compiler.
unsafe impl<E: Entry + Sync> Send for Cursor<'_, E> {}
// SAFETY: as above.
unsafe impl<E: Entry + Sync> Sync for Cursor<'_, E> {}

/// A cursor that can also write at its position. See [`MapleTree::cursor_mut`].
///
/// Reads return entries borrowed from the cursor, so a write cannot invalidate them.
pub struct CursorMut<'a, E: Entry, M: Mode = crate::Owned> {
    tree: &'a mut MapleTree<E, M>,
    state: CursorState,
}

impl<'a, E: Entry, M: Mode> CursorMut<'a, E, M> {
    pub(crate) fn new(tree: &'a mut MapleTree<E, M>, index: u64) -> Self {
        CursorMut {
            tree,
            state: CursorState::new(index),
        }
    }
    reading_methods!('_, |this| this.tree.raw(), false);

    /// Finds the lowest empty range of `size` indices inside `range` (see
    /// [`TreeView::empty_area`](crate::TreeView::empty_area)) and positions the cursor on it,
    /// so that [`store`](Self::store) fills exactly that hole (the kernel's `mas_empty_area`
    /// followed by `mas_store`).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new_alloc();
    /// tree.insert_range(0..=9, Value::new(0)).unwrap();
    /// let mut c = tree.cursor_mut(0);
    /// assert_eq!(c.empty_area(0..=99, 5), Ok(10..=14));
    /// c.store(Value::new(1)).unwrap();
    /// drop(c);
    /// assert_eq!(tree.load_range(12), (10..=14, Some(Value::new(1))));
    /// ```
    pub fn empty_area<R: RangeBounds<u64>>(
        &mut self,
        range: R,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        let hole = self.tree.empty_area(range, size)?;
        self.set_range(hole.clone());
        Ok(hole)
    }

    /// As [`empty_area`](Self::empty_area), the highest fitting hole.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::<Value>::new_alloc();
    /// let mut c = tree.cursor_mut(0);
    /// assert_eq!(c.empty_area_rev(0..=99, 5), Ok(95..=99));
    /// ```
    pub fn empty_area_rev<R: RangeBounds<u64>>(
        &mut self,
        range: R,
        size: u64,
    ) -> Result<RangeInclusive<u64>, Error> {
        let hole = self.tree.empty_area_rev(range, size)?;
        self.set_range(hole.clone());
        Ok(hole)
    }

    /// Chooses the range the next [`store`](Self::store) covers (the kernel's
    /// `mas_set_range`); an empty range makes that store fail with [`Error::Invalid`].
    ///
    /// ```
    /// use maple_tree::{Error, MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// let mut c = tree.cursor_mut(0);
    /// c.set_range(100..200);
    /// c.store(Value::new(1)).unwrap();
    /// c.set_range(9..3);
    /// assert_eq!(c.store(Value::new(2)).unwrap_err().error, Error::Invalid);
    /// ```
    pub fn set_range<R: RangeBounds<u64>>(&mut self, range: R) {
        let (first, last) = to_inclusive(&range).unwrap_or((1, 0));
        self.state = CursorState::new(first);
        self.state.last = last;
    }
}

impl<E: Entry, M: TakeOld<E>> CursorMut<'_, E, M> {
    /// Replaces the entry of the current range and returns the old one; `Err` gives the new
    /// entry back (and changes nothing) if the cursor is not on a stored entry. On an owned
    /// tree this is an in-place slot store that cannot fail; on a shared tree the old entry is
    /// retired for its grace period and a clone of it is returned.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.insert_range(10..=19, Value::new(1)).unwrap();
    /// let mut c = tree.cursor_mut(0);
    /// assert_eq!(c.replace(Value::new(9)), Err(Value::new(9))); // not walked yet
    /// c.walk(15);
    /// assert_eq!(c.replace(Value::new(2)), Ok(Value::new(1)));
    /// ```
    pub fn replace(&mut self, entry: E) -> Result<E, E> {
        let Some(old) = self.state.current_word().filter(|&w| is_entry(w)) else {
            return Err(entry);
        };
        let word = into_word(entry);
        if !M::SHARED {
            // Nobody else can see the tree: store the word in place and take the old one.
            let leaf = self.state.path.leaf();
            // SAFETY: an owned tree, held exclusively through the cursor's `&mut`.
            unsafe { leaf.node.private() }.set_slot(Shape::Range, leaf.offset, word);
            // SAFETY: the word was the slot's entry; the slot now holds the new one.
            return Ok(unsafe { from_word(old) });
        }
        let (s, e) = (self.state.index, self.state.last);
        // SAFETY: `word` is an `E` whose ownership passes to the tree on success.
        let result = unsafe {
            self.tree.mode.write_taking_old(
                s,
                e,
                word,
                &crate::entry::EntryOps { clone: None },
                None,
            )
        };
        self.state.walk(self.tree.raw(), s);
        match result {
            Ok(Some(old)) => Ok(old),
            // An exact-fit store of one word needs no node, so it cannot fail, and the slot
            // held an entry a moment ago under the same writer.
            Ok(None) | Err(_) => unreachable!("an exact-fit replace stores in place"),
        }
    }

    /// Removes the range holding the cursor's index and returns its entry; the cursor then
    /// stands on the (empty, possibly widened) range. See [`MapleTree::erase`].
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// tree.insert_range(10..=19, Value::new(1)).unwrap();
    /// let mut c = tree.cursor_mut(15);
    /// assert_eq!(c.erase(), Ok(Some(Value::new(1))));
    /// assert_eq!(c.range(), 0..=u64::MAX);
    /// ```
    pub fn erase(&mut self) -> Result<Option<E>, Error> {
        let at = self.state.index;
        let out = self.tree.erase(at)?.map(|(_, e)| e);
        self.state.walk(self.tree.raw(), at);
        Ok(out)
    }
}

impl<E: Entry + Clone, M: TakeOld<E>> CursorMut<'_, E, M> {
    /// Stores `entry` over the current range (see [`MapleTree::store_range`]), which
    /// [`set_range`](Self::set_range), [`empty_area`](Self::empty_area) or a walk chose.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// let mut c = tree.cursor_mut(0);
    /// c.walk(5); // the whole empty key space
    /// c.set_range(5..=9);
    /// assert_eq!(c.store(Value::new(1)).unwrap(), None);
    /// assert_eq!(c.range(), 5..=9);
    /// ```
    pub fn store(&mut self, entry: E) -> Result<Option<E>, InsertError<E>> {
        let (s, e) = (self.state.index, self.state.last);
        if s > e {
            return Err(InsertError {
                error: Error::Invalid,
                entry,
            });
        }
        self.store_range(s..=e, entry)
    }

    /// Stores `entry` over `range` and moves the cursor onto it. On failure the entry comes
    /// back and the cursor is unchanged.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree = MapleTree::new();
    /// let mut c = tree.cursor_mut(0);
    /// c.store_range(10..20, Value::new(1)).unwrap();
    /// assert_eq!(c.range(), 10..=19);
    /// ```
    pub fn store_range<R: RangeBounds<u64>>(
        &mut self,
        range: R,
        entry: E,
    ) -> Result<Option<E>, InsertError<E>> {
        let Some((s, _)) = to_inclusive(&range) else {
            return Err(InsertError {
                error: Error::Invalid,
                entry,
            });
        };
        let old = self.tree.store_range(range, entry)?;
        self.state.walk(self.tree.raw(), s);
        Ok(old)
    }
}

impl<E: Entry, M: Mode> fmt::Debug for CursorMut<'_, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.fmt(f)
    }
}

/// Cursors start from a [`TreeView`] or, to write, from the tree itself.
impl<E: Entry, A: Access> TreeView<E, A> {
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
        Cursor::new(self.raw(), index, self.lockless())
    }
}

impl<E: Entry, M: Mode> MapleTree<E, M> {
    /// A cursor that can write, starting at `index`.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let mut tree: MapleTree<Value> = (0..3u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
    /// let mut c = tree.cursor_mut(0);
    /// while c.find(u64::MAX).is_some() {
    ///     let doubled = Value::new(c.entry().unwrap().get() * 2);
    ///     c.replace(doubled);
    /// }
    /// assert!(tree.values().map(|v| v.get()).eq([0, 2, 4]));
    /// ```
    pub fn cursor_mut(&mut self, index: u64) -> CursorMut<'_, E, M> {
        CursorMut::new(self, index)
    }
}
