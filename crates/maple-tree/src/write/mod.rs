//! The write path: every store, insert and erase goes through [`RawTree::write`].
//!
//! A store of `entry` over `[first, last]` is done in one general way, level by level from the
//! leaves up (the kernel's "split upwards"; see [`span`]):
//!
//! 1. NULL stores are widened over neighbouring empty ranges, so empty space stays coalesced.
//! 2. The leaf holding `first` and the leaf holding `last` are read into a list of *pieces*
//!    `(last index, word, gap)`: what is left of them around the new range, plus the new range.
//!    Everything strictly between the two leaves is covered by the store and is destroyed.
//! 3. At each level the pieces replace a contiguous *span* of nodes. If they are too few for
//!    a non-right-most node, or a leaf would end in an empty range, the span takes in its right
//!    neighbour (rebalancing). If they fit one node and the span is one node, that node is
//!    rewritten (in place when the tree is not shared, as a fresh node published with one
//!    pointer store when it is) and the walk stops. Otherwise, when the span is one node and
//!    a sibling under the same parent has room, the span takes the sibling in and the two are
//!    rebuilt as two nodes, the sibling's side nearly full (the kernel's "push left / push
//!    right"): the parent keeps its number of children. Failing that the pieces are split into
//!    as many new nodes as needed. Either way the new nodes become pieces of the parent
//!    level's span.
//! 4. At the root, too many pieces grow the tree by a level; a lone child shrinks it.
//!
//! The same code is therefore the kernel's node store, split, rebalance and spanning store.
//! Two fast paths come first: a store that exactly covers one slot replaces that word, and an
//! owned tree appends in place at the end of its right-most leaf.
//!
//! All nodes are taken (see [`crate::supply`]) before anything visible changes: an allocation
//! failure gives them back and leaves the tree exactly as it was. What a write replaces is a
//! [`Retired`] list, disposed of after publication: at once when the tree is owned, after a
//! grace period when lock-free readers may hold it ([`Disposal`]).

pub(crate) mod gaps;
mod pieces;
mod span;

use core::cell::RefCell;
use core::marker::PhantomData;
use core::ptr;

use crate::entry::{is_entry, EntryOps, Word};
use crate::kind::TreeKind;
use crate::node::{Enode, Shape, SpareNodes};
use crate::path::Path;
use crate::raw::RawTree;
use crate::reclaim::Reclaimer;
use crate::retire::Retired;
use crate::supply::{Pool, Reuse, Supply};
use crate::Error;

pub(crate) use pieces::Piece;
use pieces::{fill_node, Pieces};
use span::{SpanWrite, Store};

/// Proof that nobody else can see a tree: only [`RawTree::in_place`], which needs `&mut`, makes
/// one. Holding it lets a write change published nodes in place and free what it replaces at
/// once.
pub(crate) struct InPlace<'a> {
    spares: &'a SpareNodes,
    _exclusive: PhantomData<&'a mut RawTree>,
}

impl RawTree {
    /// Stores `word` over `range` if every index of it is empty (insert semantics).
    /// [`Error::Invalid`] for a backwards range, [`Error::Exists`] if anything is there; on
    /// error the word was not stored.
    ///
    /// # Safety
    /// As [`RawTree::write`].
    pub(crate) unsafe fn insert(
        &self,
        s: u64,
        e: u64,
        word: Word,
        ctx: &WriteCtx<'_>,
    ) -> Result<(), Error> {
        if s > e {
            return Err(Error::Invalid);
        }
        if !self.is_vacant(s, e) {
            return Err(Error::Exists);
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.write(s, e, word, ctx) }.map(drop)
    }

    /// The tree for an in-place write, with the proof that the caller holds it exclusively.
    pub(crate) fn in_place(&mut self) -> (&RawTree, InPlace<'_>) {
        let tree: &RawTree = self;
        let proof = InPlace {
            spares: tree.spare_nodes(),
            _exclusive: PhantomData,
        };
        (tree, proof)
    }
}

/// How a write disposes of what it replaces, and whether it may change nodes in place.
pub(crate) enum Disposal<'a> {
    /// Nobody else can see the tree: rewrite nodes in place, free at once (keeping a few
    /// frames for the next writes).
    Now(InPlace<'a>),
    /// Lock-free readers may hold pointers: copy on write, mark what is replaced dead, and
    /// hand it to the reclaimer, which frees or reuses it after the grace period.
    Deferred(&'a RefCell<Reclaimer>),
}

/// What one write needs besides its arguments.
pub(crate) struct WriteCtx<'a> {
    pub(crate) ops: &'a EntryOps,
    pub(crate) disposal: Disposal<'a>,
    /// Hand the entry previously at `first` back to the caller instead of dropping it.
    pub(crate) want_old: bool,
    /// Nodes reserved for this write, used before any other supply.
    pub(crate) pool: Option<&'a Pool>,
}

impl WriteCtx<'_> {
    fn in_place(&self) -> bool {
        matches!(self.disposal, Disposal::Now(_))
    }

    /// Where this write's nodes come from.
    fn supply(&self) -> Supply<'_> {
        let reuse = match &self.disposal {
            Disposal::Now(proof) => Reuse::Spares(proof.spares),
            Disposal::Deferred(reclaimer) => Reuse::Reclaimed(reclaimer),
        };
        Supply {
            pool: self.pool,
            reuse,
        }
    }

    /// Disposes of what a published write replaced; returns how many entries the retired
    /// subtrees held.
    ///
    /// # Safety
    /// The caller is the tree's only writer, and its write unlinked all of `retired`.
    unsafe fn dispose(&self, tree: &RawTree, retired: Retired) -> usize {
        match &self.disposal {
            // SAFETY: nobody else can see the tree (the proof), and the write unlinked all of it.
            Disposal::Now(proof) => unsafe { retired.release_to(tree.drop_entry, proof.spares) },
            Disposal::Deferred(reclaimer) => {
                // SAFETY: forwarded.
                let entries = unsafe { retired.mark_dead() };
                reclaimer.borrow_mut().retire(retired);
                entries
            }
        }
    }
}

/// Nodes a store of `[first, last]` may need in the worst case: the kind's worst case per
/// level, plus a new root.
pub(crate) fn worst_case_nodes(height: usize, kind: TreeKind) -> usize {
    height.max(1) * kind.worst_case_nodes_per_level() + 2
}

impl RawTree {
    /// Stores `word` (empty, the zero entry, or an entry) over `[first, last]`. Returns the word
    /// that was at `first` when `ctx.want_old` (the caller then owns it; a clone if part of
    /// its range remains stored), else null. On error nothing changed and `word` is still the
    /// caller's.
    ///
    /// # Safety
    /// The caller is the tree's only writer: it holds the tree exclusively (which an in-place
    /// context proves) or holds its writer lock; `word` is of the tree's entry type.
    pub(crate) unsafe fn write(
        &self,
        first: u64,
        last: u64,
        word: Word,
        ctx: &WriteCtx<'_>,
    ) -> Result<Word, Error> {
        if first > last {
            return Err(Error::Invalid);
        }
        let Some(root) = self.root() else {
            if word.is_null() {
                return Ok(ptr::null_mut());
            }
            // SAFETY: forwarded from the caller.
            return unsafe { self.write_first_leaf(first, last, word, ctx) };
        };
        let asked_first = first;
        let mut left = Path::empty();
        left.descend(Some(root), first, usize::MAX);
        let (first, last) = if word.is_null() {
            self.widen_empty(&mut left, first, last)
        } else {
            (first, last)
        };
        // The right end's path, when it is not in the left end's leaf.
        let mut right = (last > left.leaf().max).then(|| self.path_to(last));
        if right.is_none() {
            // SAFETY: forwarded from the caller.
            if let Some(old) = unsafe { self.try_exact_fit(&left, first, last, word, ctx) } {
                return Ok(old);
            }
            if self.try_append(&left, first, last, word, ctx) {
                return Ok(ptr::null_mut());
            }
        }
        let store = Store {
            first,
            last,
            asked_first,
            word,
        };
        let mut span = SpanWrite::new(self, ctx, root, &mut left, &mut right, store);
        // SAFETY: forwarded from the caller.
        unsafe { span.run() }
    }

    /// The tree is empty: one leaf with at most three slots.
    ///
    /// # Safety
    /// As [`write`](Self::write).
    unsafe fn write_first_leaf(
        &self,
        first: u64,
        last: u64,
        word: Word,
        ctx: &WriteCtx<'_>,
    ) -> Result<Word, Error> {
        let mut p = Pieces::new();
        if first > 0 {
            p.push(first - 1, ptr::null_mut(), 0);
        }
        p.push(last, word, 0);
        if last < u64::MAX {
            p.push(u64::MAX, ptr::null_mut(), 0);
        }
        let node = ctx.supply().take()?;
        fill_node(&node, Shape::Range, true, 0, p.as_slice());
        // SAFETY: the caller is the only writer; the leaf is complete.
        unsafe { self.set_root(Some(Enode::new(node.ptr(), Shape::Range, true)), 1) };
        self.add_len(is_entry(word) as isize);
        Ok(ptr::null_mut())
    }

    /// Extends an empty store over the empty ranges that touch it, looking at neighbouring
    /// slots in `left`'s leaf and walking again only across a leaf edge. `left` ends up on the
    /// (possibly new) first index.
    fn widen_empty(&self, left: &mut Path, mut first: u64, last: u64) -> (u64, u64) {
        let leaf = *left.leaf();
        let i = leaf.offset;
        if leaf.word(i).is_null() {
            first = leaf.slot_min(i);
        } else if leaf.slot_min(i) == first && first > 0 {
            if i > 0 {
                if leaf.word(i - 1).is_null() {
                    first = leaf.slot_min(i - 1);
                    left.leaf_mut().offset = i - 1;
                }
            } else {
                let mut prev = left.clone();
                if prev.prev_slot() && prev.current().2.is_null() {
                    first = prev.current().0;
                    *left = prev;
                }
            }
        }
        (first, self.widen_right(left, last))
    }

    /// The right half of [`widen_empty`](Self::widen_empty): when `last` is in `left`'s leaf,
    /// look at that leaf's slots and build a path only to step into the next leaf.
    fn widen_right(&self, left: &Path, mut last: u64) -> u64 {
        let f = *left.leaf();
        if last <= f.max {
            let j = (f.offset..=f.end)
                .find(|&j| f.slot_max(j) >= last)
                .unwrap_or(f.end);
            let e = f.slot_max(j);
            if f.word(j).is_null() {
                last = e;
            } else if e == last && last < u64::MAX {
                if j < f.end {
                    if f.word(j + 1).is_null() {
                        last = f.slot_max(j + 1);
                    }
                } else {
                    let mut next = left.clone();
                    next.leaf_mut().offset = j;
                    if next.next_slot() && next.current().2.is_null() {
                        last = next.current().1;
                    }
                }
            }
            return last;
        }
        let mut right = self.path_to(last);
        let (_, e, w) = right.current();
        if w.is_null() {
            last = e;
        } else if e == last && last < u64::MAX && right.next_slot() {
            let (_, e2, w2) = right.current();
            if w2.is_null() {
                last = e2;
            }
        }
        last
    }

    /// The store exactly covers one existing slot of `left`'s leaf: replace the word in place
    /// (a single atomic store, safe for concurrent readers).
    ///
    /// # Safety
    /// As [`write`](Self::write).
    unsafe fn try_exact_fit(
        &self,
        left: &Path,
        first: u64,
        last: u64,
        word: Word,
        ctx: &WriteCtx<'_>,
    ) -> Option<Word> {
        let leaf = left.leaf();
        let (s, e, old) = left.current();
        if s != first || e != last {
            return None;
        }
        // An empty last slot is only allowed in the right-most leaf, and a root leaf left with
        // nothing but empty space must become an empty tree: both take the general path.
        if word.is_null() && ((leaf.offset == leaf.end && leaf.max != u64::MAX) || leaf.end == 0) {
            return None;
        }
        // SAFETY: the caller is the only writer; one word, seen whole either way.
        unsafe { leaf.node.publish_slot(Shape::Range, leaf.offset, word) };
        self.add_len(is_entry(word) as isize - is_entry(old) as isize);
        if self.kind.tracks_gaps() && (old.is_null() != word.is_null()) {
            // SAFETY: as above; `left` was walked just now by the only writer.
            unsafe { gaps::update_upwards(left, left.len() - 1) };
        }
        if !is_entry(old) {
            return Some(ptr::null_mut());
        }
        if ctx.want_old {
            return Some(old);
        }
        let mut retired = Retired::default();
        retired.entry(old);
        // SAFETY: the caller is the only writer, and the store took `old` out.
        unsafe { ctx.dispose(self, retired) };
        Some(ptr::null_mut())
    }

    /// Appends into the empty range that ends the right-most leaf, in place, when the leaf has
    /// room (the kernel's `mas_wr_append`): the pattern of growing a tree at its top end, as a
    /// process mapping upwards or a bulk load does. Only for trees nobody else can see.
    fn try_append(
        &self,
        left: &Path,
        first: u64,
        last: u64,
        word: Word,
        ctx: &WriteCtx<'_>,
    ) -> bool {
        let leaf = left.leaf();
        let end = leaf.end;
        if !ctx.in_place() || word.is_null() || leaf.offset != end || !leaf.word(end).is_null() {
            return false;
        }
        let (start, max) = (leaf.slot_min(end), leaf.max);
        let before = first > start;
        let after = last < max;
        let needed = end + usize::from(before) + usize::from(after);
        if needed >= Shape::Range.slots() || !(before || after) {
            return false;
        }
        // Slots end.. become: [start, first-1] empty (if any), the entry, [last+1, max] empty
        // (if any). The last used slot's pivot is the node maximum, unless it is slot 15.
        // SAFETY: an in-place context: nobody else can see the tree.
        let node = unsafe { leaf.node.private() };
        let mut i = end;
        let mut put = |last_index: u64, w: Word| {
            if i < Shape::Range.pivots() {
                node.set_pivot(i, last_index);
            }
            node.set_slot(Shape::Range, i, w);
            i += 1;
        };
        if before {
            put(first - 1, ptr::null_mut());
        }
        put(last, word);
        if after {
            put(max, ptr::null_mut());
        }
        self.add_len(isize::from(is_entry(word)));
        if self.kind.tracks_gaps() {
            // SAFETY: nobody else can see the tree, so its owner is the only writer.
            unsafe { gaps::update_upwards(left, left.len() - 1) };
        }
        true
    }
}
