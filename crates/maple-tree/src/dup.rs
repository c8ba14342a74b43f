//! Whole-tree duplication (the kernel's `__mt_dup`) and bulk building.
//!
//! Duplication copies the tree node by node in one depth-first pre-order pass: each node's
//! 256 bytes are copied verbatim, an internal node's children are allocated together, and
//! parent links are set on the way down. No search, no rebalancing, no per-entry insertion:
//! the copy has the same nodes, shape, pivots and gaps as the source, in O(nodes).
//!
//! The bulk builder is the other way to make a tree from scratch: it packs sorted input into
//! full leaves left to right and builds each internal level over them, in O(n).

use core::ops::RangeInclusive;

use alloc::vec::Vec;

use crate::entry::{into_word, is_entry, zero_word, Entry, HasCloneOps, Word};
use crate::node::{Enode, NodePtr, Shape};
use crate::path::Frame;
use crate::raw::{destroy_subtree, RawTree, Reclaim, WriteCtx};
use crate::tree::{MapleTree, TreeKind};
use crate::write::Piece;
use crate::{gap, Error};

/// A finished duplication pass: the copy, the ranges to empty afterwards, and the range the
/// mapping function failed on, if it did.
type DupResult = (RawTree, Vec<(u64, u64)>, Option<(u64, u64)>);

/// How the pass treats each stored entry.
pub(crate) enum Visit {
    /// Keep going; put this word in the copy's slot.
    Word(Word),
    /// Leave the range empty in the copy (a zero entry marks it until the pass ends).
    Drop,
    /// Stop producing entries: mark this range with a zero entry, nothing after it.
    Fail,
}

struct DupPass<'f> {
    internal: Shape,
    drop_new: unsafe fn(Word),
    map: &'f mut dyn FnMut(u64, u64, Word) -> Visit,
    /// Ranges to empty once the copy is complete.
    dropped: Vec<(u64, u64)>,
    failed: Option<(u64, u64)>,
    entries: usize,
}

impl DupPass<'_> {
    /// Fills `dst` (already allocated) as a copy of `src`. On failure everything below `dst`
    /// has been freed (and its new entries dropped); the caller frees `dst` itself.
    fn copy(&mut self, src: &Frame, dst: NodePtr) -> Result<(), Error> {
        dst.copy_data_from(src.node);
        if src.leaf {
            for i in 0..=src.end {
                let w = src.word(i);
                if !is_entry(w) {
                    continue;
                }
                let (s, e) = (src.slot_min(i), src.slot_max(i));
                let new = if self.failed.is_some() {
                    zero_word()
                } else {
                    match (self.map)(s, e, w) {
                        Visit::Word(n) => n,
                        Visit::Drop => {
                            self.dropped.push((s, e));
                            zero_word()
                        }
                        Visit::Fail => {
                            self.failed = Some((s, e));
                            zero_word()
                        }
                    }
                };
                self.entries += usize::from(is_entry(new));
                dst.set_slot(Shape::Range, i, new);
            }
            return Ok(());
        }
        // Allocate all children of this node together, as the kernel's bulk allocation does.
        let n = src.end + 1;
        let mut kids = [None::<NodePtr>; crate::node::RANGE_SLOTS];
        for i in 0..n {
            match NodePtr::alloc() {
                Some(k) => kids[i] = Some(k),
                None => {
                    for k in kids.iter().flatten() {
                        // SAFETY: just allocated, never linked.
                        unsafe { k.free() };
                    }
                    return Err(Error::NoMemory);
                }
            }
        }
        let kid = |i: usize| kids[i].expect("allocated");
        for i in 0..n {
            let src_child = Enode::from_word(src.word(i)).expect("child");
            dst.set_slot(
                self.internal,
                i,
                Enode::new(kid(i), src_child.is_leaf()).word(),
            );
            kid(i).set_parent(Some((dst, i)));
        }
        for i in 0..n {
            let child = src.child(i, self.internal);
            if let Err(e) = self.copy(&child, kid(i)) {
                for j in 0..i {
                    let done = Enode::from_word(dst.slot(self.internal, j)).expect("child");
                    destroy_subtree(done, src.slot_max(j), self.internal, self.drop_new);
                }
                for j in i..n {
                    // SAFETY: unfilled (or emptied by the failed copy) and unreachable.
                    unsafe { kid(j).free() };
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

impl RawTree {
    /// Duplicates the structure, mapping every entry word through `map`. Returns the copy,
    /// the ranges to empty afterwards, and the failure range if `map` stopped the pass.
    fn dup_pass(
        &self,
        drop_new: unsafe fn(Word),
        map: &mut dyn FnMut(u64, u64, Word) -> Visit,
    ) -> Result<DupResult, Error> {
        let copy = RawTree::new(self.kind, drop_new);
        let Some(root) = self.root() else {
            return Ok((copy, Vec::new(), None));
        };
        let internal = self.internal_shape();
        let dst = NodePtr::alloc().ok_or(Error::NoMemory)?;
        let mut pass = DupPass {
            internal,
            drop_new,
            map,
            dropped: Vec::new(),
            failed: None,
            entries: 0,
        };
        if let Err(e) = pass.copy(&Frame::new(root, internal, 0, u64::MAX), dst) {
            // SAFETY: never linked; its descendants were freed by the failed copy.
            unsafe { dst.free() };
            return Err(e);
        }
        copy.set_root(Some(Enode::new(dst, root.is_leaf())), self.height());
        copy.set_len(pass.entries);
        Ok((copy, pass.dropped, pass.failed))
    }

    /// Empties ranges that hold zero entries placed by a duplication pass (no entry is split,
    /// so no clone is needed).
    fn clear_zero_ranges(&self, ranges: &[(u64, u64)]) {
        let ops = crate::entry::EntryOps { clone: None };
        let ctx = WriteCtx {
            ops: &ops,
            reclaim: Reclaim::Now,
            want_old: false,
            pool: None,
        };
        for &(s, e) in ranges {
            self.write(s, e, core::ptr::null_mut(), &ctx)
                .unwrap_or_else(|_| {
                    alloc::alloc::handle_alloc_error(alloc::alloc::Layout::new::<[u8; 256]>())
                });
        }
    }
}

/// A failed [`MapleTree::try_dup_map`]: the error from the mapping function, the range of the
/// entry it failed on, and the partial copy.
///
/// The partial copy holds exactly the entries produced before the failure (ranges the
/// function dropped are empty), then the reserved zero entry over `failed`, then nothing. A
/// caller tears down what was copied by walking `partial` up to the zero entry, once — the
/// contract of the kernel's `dup_mmap` failure marker.
pub struct DupMapError<E2: Entry, X> {
    /// The mapping function's error.
    pub error: X,
    /// The range of the entry the function failed on.
    pub failed: RangeInclusive<u64>,
    /// The partial copy.
    pub partial: MapleTree<E2>,
}

impl<E2: Entry, X: core::fmt::Debug> core::fmt::Debug for DupMapError<E2, X> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DupMapError")
            .field("error", &self.error)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<E: Entry> MapleTree<E> {
    fn from_raw(raw: RawTree) -> Self {
        let t = MapleTree::with_kind(raw.kind);
        t.raw.set_root(raw.root(), raw.height());
        t.raw.set_len(raw.len());
        t
    }

    /// Duplicates the tree in one pass, replacing each entry by `f(range, &entry)`; `None`
    /// leaves the range empty in the copy (the kernel's `VM_DONTCOPY`). This fuses the
    /// kernel's fork path — duplicate the tree, then walk it replacing every entry — into one
    /// pass.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..100u64).map(|i| (i * 10..=i * 10 + 5, Value::new(i))).collect();
    /// let odd: MapleTree<Value> = tree.dup_map(|_, v| (v.get() % 2 == 1).then(|| Value::new(v.get() * 100)));
    /// assert_eq!(odd.len(), 50);
    /// assert_eq!(odd.load(15).map(|v| v.get()), Some(100));
    /// odd.validate().unwrap();
    /// ```
    pub fn dup_map<E2: Entry, F>(&self, mut f: F) -> MapleTree<E2>
    where
        F: FnMut(RangeInclusive<u64>, &E) -> Option<E2>,
    {
        match self.try_dup_map(|r, e| Ok::<_, core::convert::Infallible>(f(r, e))) {
            Ok(t) => t,
            Err(e) => match e.error {},
        }
    }

    /// [`dup_map`](Self::dup_map) with a function that can fail; see [`DupMapError`] for what
    /// a failure leaves behind. Node allocation failure is fatal here (use
    /// [`try_dup`](Self::try_dup) to observe it).
    // The error hands the partial tree back by value (two cache lines, see `RawTree`): the
    // caller needs it to tear down what was copied, and the failure path is cold.
    #[allow(clippy::result_large_err)]
    pub fn try_dup_map<E2: Entry, X, F>(
        &self,
        mut f: F,
    ) -> Result<MapleTree<E2>, DupMapError<E2, X>>
    where
        F: FnMut(RangeInclusive<u64>, &E) -> Result<Option<E2>, X>,
    {
        let mut error = None;
        let mut map = |s: u64, e: u64, w: Word| {
            // SAFETY: `w` is a live entry of `self`. The copy is only lent to `f` and never
            // dropped, so ownership stays with `self`.
            let local = core::mem::ManuallyDrop::new(unsafe { crate::entry::from_word::<E>(w) });
            match f(s..=e, &local) {
                Ok(Some(n)) => Visit::Word(into_word(n)),
                Ok(None) => Visit::Drop,
                Err(x) => {
                    error = Some(x);
                    Visit::Fail
                }
            }
        };
        let (raw, dropped, failed) = self
            .raw
            .dup_pass(crate::entry::drop_word::<E2>, &mut map)
            .unwrap_or_else(|_| {
                alloc::alloc::handle_alloc_error(alloc::alloc::Layout::new::<[u8; 256]>())
            });
        raw.clear_zero_ranges(&dropped);
        if let Some((s, e)) = failed {
            if e < u64::MAX {
                raw.clear_zero_ranges(&[(e + 1, u64::MAX)]);
            }
            return Err(DupMapError {
                error: error.expect("failure recorded"),
                failed: s..=e,
                partial: MapleTree::from_raw(raw),
            });
        }
        Ok(MapleTree::from_raw(raw))
    }

    /// Builds a tree of `kind` from sorted, disjoint ranges in O(n), packing leaves full from
    /// the left (the kernel's bulk mode). [`Error::Invalid`] for unsorted, overlapping or
    /// backwards input (the entries are dropped).
    pub fn bulk_build<I>(kind: TreeKind, items: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (RangeInclusive<u64>, E)>,
    {
        let tree = MapleTree::with_kind(kind);
        let mut pieces: Vec<Piece> = Vec::new();
        let mut next_free: Option<u64> = Some(0);
        let mut entries = 0usize;
        let mut bad = false;
        for (r, e) in items {
            let (s, l) = (*r.start(), *r.end());
            if bad || s > l || next_free.is_none_or(|n| s < n) {
                bad = true;
                drop(e);
                continue;
            }
            let word = into_word(e);
            if s > next_free.unwrap_or(0) {
                pieces.push(Piece {
                    last: s - 1,
                    word: core::ptr::null_mut(),
                    gap: 0,
                });
            }
            pieces.push(Piece {
                last: l,
                word,
                gap: 0,
            });
            entries += 1;
            next_free = l.checked_add(1);
        }
        let drop_all = |pieces: &[Piece]| {
            for p in pieces.iter().filter(|p| is_entry(p.word)) {
                // SAFETY: owned by the builder, never stored.
                unsafe { crate::entry::drop_word::<E>(p.word) };
            }
        };
        if bad {
            drop_all(&pieces);
            return Err(Error::Invalid);
        }
        if next_free.is_some() {
            pieces.push(Piece {
                last: u64::MAX,
                word: core::ptr::null_mut(),
                gap: 0,
            });
        }
        if entries == 0 {
            return Ok(tree);
        }
        match build_levels(&tree.raw, pieces) {
            Ok((root, height)) => {
                tree.raw.set_root(Some(root), height);
                tree.raw.set_len(entries);
                Ok(tree)
            }
            Err(e) => Err(e),
        }
    }
}

/// Packs `level` into nodes left to right; returns the next level's pieces.
fn pack_level(
    level: &[Piece],
    shape: Shape,
    leaf: bool,
    built: &mut Vec<(Enode, u64)>,
) -> Result<Vec<Piece>, Error> {
    let cap = shape.slots();
    let mut out = Vec::with_capacity(level.len() / (cap - 1) + 1);
    let mut start = 0;
    let mut min = 0u64;
    while start < level.len() {
        let mut take = cap.min(level.len() - start);
        let is_last = start + take == level.len();
        // A leaf other than the right-most may not end in an empty range.
        if leaf && !is_last && level[start + take - 1].word.is_null() {
            take -= 1;
        }
        let node = NodePtr::alloc().ok_or(Error::NoMemory)?;
        let part = &level[start..start + take];
        node.write_slots(
            shape,
            take,
            |i| part[i].last,
            |i| part[i].word,
            |i| part[i].gap,
        );
        let g = if leaf {
            gap::pieces_max_gap(min, part)
        } else {
            part.iter().map(|p| p.gap).max().unwrap_or(0)
        };
        if !leaf {
            for (i, p) in part.iter().enumerate() {
                Enode::from_word(p.word)
                    .expect("child")
                    .node()
                    .set_parent(Some((node, i)));
            }
        }
        let last = part[take - 1].last;
        let enode = Enode::new(node, leaf);
        built.push((enode, last));
        out.push(Piece {
            last,
            word: enode.word(),
            gap: g,
        });
        start += take;
        min = last.wrapping_add(1);
    }
    Ok(out)
}

/// Builds all levels over the leaf pieces; on failure frees what was built and drops entries.
fn build_levels(raw: &RawTree, leaf_pieces: Vec<Piece>) -> Result<(Enode, usize), Error> {
    let internal = raw.internal_shape();
    let mut level = leaf_pieces;
    let mut leaf = true;
    let mut height = 0;
    // Complete subtrees of the last finished level, for cleanup.
    let mut finished: Vec<(Enode, u64)> = Vec::new();
    loop {
        let shape = if leaf { Shape::Range } else { internal };
        let mut built = Vec::new();
        match pack_level(&level, shape, leaf, &mut built) {
            Ok(next) => {
                height += 1;
                finished = built;
                if next.len() == 1 {
                    let root = Enode::from_word(next[0].word).expect("root");
                    return Ok((root, height));
                }
                level = next;
                leaf = false;
            }
            Err(e) => {
                if leaf {
                    // Leaves built so far own their entries; the rest are still in `level`.
                    for &(en, max) in &built {
                        destroy_subtree(en, max, internal, raw.drop_entry);
                    }
                    let done_upto = built.last().map(|b| b.1);
                    for p in level
                        .iter()
                        .filter(|p| is_entry(p.word) && done_upto.is_none_or(|d| p.last > d))
                    {
                        // SAFETY: never stored in a node that survives; dropped once.
                        unsafe { (raw.drop_entry)(p.word) };
                    }
                } else {
                    for &(en, _) in &built {
                        // SAFETY: unlinked internal node of the failed level; its children are
                        // freed through `finished` below.
                        unsafe { en.node().free() };
                    }
                    for &(en, max) in &finished {
                        destroy_subtree(en, max, internal, raw.drop_entry);
                    }
                }
                return Err(e);
            }
        }
    }
}

impl<E: Entry + Clone> MapleTree<E> {
    /// An exact structural copy (same nodes, shape, pivots and gaps), made in one depth-first
    /// pre-order pass; entries are cloned (for `Arc`, a reference count increment).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..1000u64).map(|i| (i * 10..=i * 10 + 5, Value::new(i))).collect();
    /// let copy = tree.dup();
    /// assert_eq!(copy.node_count(), tree.node_count());
    /// assert!(copy.iter().eq(tree.iter()));
    /// ```
    pub fn dup(&self) -> Self {
        self.try_dup().unwrap_or_else(|_| {
            alloc::alloc::handle_alloc_error(alloc::alloc::Layout::new::<[u8; 256]>())
        })
    }

    /// [`dup`](Self::dup) reporting allocation failure: [`Error::NoMemory`], with the partial
    /// copy freed (nothing leaks) and the source untouched.
    pub fn try_dup(&self) -> Result<Self, Error> {
        let clone = E::CLONE_OPS.clone.expect("clone ops");
        // SAFETY: every word passed is a live entry of `self`.
        let mut map = |_: u64, _: u64, w: Word| Visit::Word(unsafe { clone(w) });
        let (raw, _, _) = self.raw.dup_pass(crate::entry::drop_word::<E>, &mut map)?;
        Ok(MapleTree::from_raw(raw))
    }
}

impl<E: Entry + Clone> Clone for MapleTree<E> {
    fn clone(&self) -> Self {
        self.dup()
    }
}
