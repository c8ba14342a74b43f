//! Whole-tree duplication (the kernel's `__mt_dup`) and bulk building.
//!
//! Duplication copies the tree node by node in one depth-first pre-order pass: each node's
//! 256 bytes are copied verbatim, an internal node's children are allocated together, and
//! parent links are set on the way down. No search, no rebalancing, no per-entry insertion:
//! the copy has the same nodes, shape, pivots and gaps as the source, in O(nodes).
//!
//! The bulk builder is the other way to make a tree from scratch: it packs sorted input into
//! full leaves left to right and builds each internal level over them, in O(n).

use core::ops::{RangeBounds, RangeInclusive};

use alloc::vec::Vec;

use crate::bounds::to_inclusive;
use crate::entry::{into_word, is_entry, view, zero_word, Entry, Word};
use crate::kind::TreeKind;
use crate::node::{Enode, NodePtr, Shape};
use crate::path::Frame;
use crate::raw::{destroy_subtree, RawTree};
use crate::tree::{out_of_memory, MapleTree};
use crate::view::TreeView;
use crate::write::{gaps, Disposal, Piece, WriteCtx};
use crate::{Error, Exclusive};

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

struct DupPass<F> {
    drop_new: unsafe fn(Word),
    map: F,
    /// Ranges to empty once the copy is complete.
    dropped: Vec<(u64, u64)>,
    failed: Option<(u64, u64)>,
    entries: usize,
}

impl<F: FnMut(u64, u64, Word) -> Visit> DupPass<F> {
    /// Fills `dst` (allocated for overwriting) as a copy of `src` linked under `parent`. On
    /// failure everything below `dst` has been freed (and its new entries dropped); the caller
    /// frees `dst` itself.
    fn copy(
        &mut self,
        src: &Frame,
        dst: NodePtr,
        parent: Option<(NodePtr, usize)>,
    ) -> Result<(), Error> {
        // SAFETY: `dst` was allocated by this pass, and the copy is published (shared or
        // handed out) only when the pass is over.
        let out = unsafe { dst.private() };
        // SAFETY: the source is only read while the pass runs (an exclusive view of it).
        unsafe { out.copy_data_from(src.node) };
        out.set_parent(parent);
        if src.leaf {
            for i in 0..=src.end {
                let w = src.word(i);
                if is_entry(w) {
                    let new = self.visit(src.slot_min(i), src.slot_max(i), w);
                    out.set_slot(Shape::Range, i, new);
                }
            }
            return Ok(());
        }
        let n = src.end + 1;
        let kids = alloc_children(n)?;
        for (i, kid) in kids[..n].iter().enumerate() {
            let src_child = Enode::from_word(src.word(i)).expect("child");
            out.set_slot(src.shape, i, src_child.same_kind(*kid).word());
        }
        for (i, kid) in kids[..n].iter().enumerate() {
            let child = src.child(i);
            prefetch_next_child(src.node, src.shape, i, n);
            if let Err(e) = self.copy(&child, *kid, Some((dst, i))) {
                undo_children(dst, src.shape, &kids[..n], i, self.drop_new);
                return Err(e);
            }
        }
        Ok(())
    }

    /// The copy's word for the entry `w` over `[first, last]`.
    fn visit(&mut self, first: u64, last: u64, w: Word) -> Word {
        let new = if self.failed.is_some() {
            zero_word()
        } else {
            match (self.map)(first, last, w) {
                Visit::Word(n) => n,
                Visit::Drop => {
                    self.dropped.push((first, last));
                    zero_word()
                }
                Visit::Fail => {
                    self.failed = Some((first, last));
                    zero_word()
                }
            }
        };
        self.entries += usize::from(is_entry(new));
        new
    }
}

/// Starts loading the source child after child `i` of `node` (which has `n` children) while
/// child `i` is copied. Most children are leaves, each a block copy that waits on memory as
/// soon as the tree outgrows the cache: loading the next one meanwhile overlaps the waits.
/// (Loading the copy's next frame as well made no measurable difference.)
#[inline]
fn prefetch_next_child(node: NodePtr, internal: Shape, i: usize, n: usize) {
    if i + 1 < n {
        if let Some(next) = Enode::from_word(node.slot(internal, i + 1)) {
            next.prefetch_whole();
        }
    }
}

/// Allocates the `n` children of a node being copied, together (as the kernel's bulk
/// allocation does); on failure frees those already allocated. Places past `n` hold a
/// stand-in that is never used.
fn alloc_children(n: usize) -> Result<[NodePtr; crate::node::RANGE_SLOTS], Error> {
    let mut kids = [NodePtr::DANGLING; crate::node::RANGE_SLOTS];
    for i in 0..n {
        match crate::supply::new_node(false) {
            Ok(k) => kids[i] = k.ptr(),
            Err(_) => {
                for k in &kids[..i] {
                    // SAFETY: just allocated, never linked.
                    unsafe { k.free() };
                }
                return Err(Error::NoMemory);
            }
        }
    }
    Ok(kids)
}

/// A copy failed at child `failed` of `dst`: destroys the children copied before it (with the
/// entries cloned into them) and frees the rest, which hold nothing.
fn undo_children(
    dst: NodePtr,
    internal: Shape,
    kids: &[NodePtr],
    failed: usize,
    drop_new: unsafe fn(Word),
) {
    for j in 0..failed {
        let done = Enode::from_word(dst.slot(internal, j)).expect("child");
        destroy_subtree(done, u64::MAX, drop_new);
    }
    for k in &kids[failed..] {
        // SAFETY: unfilled (or emptied by the failed copy) and unreachable.
        unsafe { k.free() };
    }
}

/// Copies the subtree of `src` into `dst` (allocated for overwriting, linked under `parent`):
/// each node in one block copy, children allocated together, entries cloned with `clone` or,
/// when `clone` is `None`, copied with the node (the entry type's clone is a plain copy).
/// On failure everything below `dst` is freed, with the entries cloned into it; the caller
/// frees `dst`.
fn copy_subtree(
    src: Enode,
    dst: NodePtr,
    parent: Option<(NodePtr, usize)>,
    clone: Option<unsafe fn(Word) -> Word>,
    drop_new: unsafe fn(Word),
) -> Result<(), Error> {
    let (node, internal) = (src.node(), src.shape());
    // SAFETY: `dst` was allocated by this copy, which is published only when it is complete.
    let out = unsafe { dst.private() };
    // SAFETY: the source is only read while the copy runs (an exclusive view of it).
    unsafe { out.copy_data_from(node) };
    out.set_parent(parent);
    if src.is_leaf() {
        if let Some(clone) = clone {
            // Unused slots are empty, so there is no need to know where the node ends.
            for i in 0..Shape::Range.slots() {
                let w = node.slot(Shape::Range, i);
                if is_entry(w) {
                    // SAFETY: a live entry of the source, cloned through a borrow.
                    out.set_slot(Shape::Range, i, unsafe { clone(w) });
                }
            }
        }
        return Ok(());
    }
    // Children fill the first slots; the slots after them are empty.
    let n = (0..internal.slots())
        .take_while(|&i| !node.slot(internal, i).is_null())
        .count();
    let kids = alloc_children(n)?;
    for (i, kid) in kids[..n].iter().enumerate() {
        let child = Enode::from_word(node.slot(internal, i)).expect("child");
        out.set_slot(internal, i, child.same_kind(*kid).word());
    }
    for (i, kid) in kids[..n].iter().enumerate() {
        let child = Enode::from_word(node.slot(internal, i)).expect("child");
        prefetch_next_child(node, internal, i, n);
        if let Err(e) = copy_subtree(child, *kid, Some((dst, i)), clone, drop_new) {
            undo_children(dst, internal, &kids[..n], i, drop_new);
            return Err(e);
        }
    }
    Ok(())
}

impl RawTree {
    /// Duplicates the structure, mapping every entry word through `map`. Returns the copy,
    /// the ranges to empty afterwards, and the failure range if `map` stopped the pass.
    fn dup_pass(
        &self,
        drop_new: unsafe fn(Word),
        map: impl FnMut(u64, u64, Word) -> Visit,
    ) -> Result<DupResult, Error> {
        let copy = RawTree::new(self.kind, drop_new);
        let Some(root) = self.root() else {
            return Ok((copy, Vec::new(), None));
        };
        let dst = crate::supply::new_node(false)?.ptr();
        let mut pass = DupPass {
            drop_new,
            map,
            dropped: Vec::new(),
            failed: None,
            entries: 0,
        };
        if let Err(e) = pass.copy(&Frame::new(root, 0, u64::MAX), dst, None) {
            // SAFETY: never linked; its descendants were freed by the failed copy.
            unsafe { dst.free() };
            return Err(e);
        }
        // SAFETY: the copy is private to this pass and complete.
        unsafe { copy.set_root(Some(root.same_kind(dst)), self.height()) };
        copy.set_len(pass.entries);
        // The kernel's `__mt_dup` copies the tree's flags too (the cyclic allocator's wrap).
        copy.set_cyclic_wrapped(self.cyclic_wrapped());
        Ok((copy, pass.dropped, pass.failed))
    }

    /// An exact structural copy (the kernel's `__mt_dup`): the same nodes, shape, pivots and
    /// gaps, entries cloned with `clone`, or copied with their nodes when `clone` is `None`.
    fn dup_structure(
        &self,
        drop_new: unsafe fn(Word),
        clone: Option<unsafe fn(Word) -> Word>,
    ) -> Result<RawTree, Error> {
        let copy = RawTree::new(self.kind, drop_new);
        let Some(root) = self.root() else {
            return Ok(copy);
        };
        let dst = crate::supply::new_node(false)?.ptr();
        if let Err(e) = copy_subtree(root, dst, None, clone, drop_new) {
            // SAFETY: never linked; its descendants were freed by the failed copy.
            unsafe { dst.free() };
            return Err(e);
        }
        // SAFETY: the copy is private and complete.
        unsafe { copy.set_root(Some(root.same_kind(dst)), self.height()) };
        copy.set_len(self.len());
        // The kernel's `__mt_dup` copies the tree's flags too (the cyclic allocator's wrap).
        copy.set_cyclic_wrapped(self.cyclic_wrapped());
        Ok(copy)
    }

    /// Empties ranges that hold zero entries placed by a duplication pass (no entry is split,
    /// so no clone is needed).
    fn clear_zero_ranges(&mut self, ranges: &[(u64, u64)]) {
        let ops = crate::entry::EntryOps { clone: None };
        let (tree, proof) = self.in_place();
        let ctx = WriteCtx {
            ops: &ops,
            disposal: Disposal::Now(proof),
            want_old: false,
            pool: None,
        };
        for &(s, e) in ranges {
            // SAFETY: a private working tree (`&mut self`): its only writer is this function.
            if unsafe { tree.write(s, e, core::ptr::null_mut(), &ctx) }.is_err() {
                out_of_memory();
            }
        }
    }
}

/// A failed [`TreeView::try_dup_map`]: the error from the mapping function, the range of the
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

impl<E2: Entry, X: core::fmt::Display> core::fmt::Display for DupMapError<E2, X> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "duplication stopped at [{}, {}]: {}",
            self.failed.start(),
            self.failed.end(),
            self.error
        )
    }
}

impl<E2: Entry, X: core::error::Error + 'static> core::error::Error for DupMapError<E2, X> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<E: Entry> MapleTree<E> {
    /// Takes over the nodes of a private working tree (its root, height, count and flags).
    pub(crate) fn from_raw(raw: RawTree) -> Self {
        let t = MapleTree::with_kind(raw.kind);
        let own = t.raw();
        // SAFETY: a new owned tree takes over the working tree's complete nodes.
        unsafe { own.set_root(raw.root(), raw.height()) };
        own.set_len(raw.len());
        own.set_cyclic_wrapped(raw.cyclic_wrapped());
        t
    }
}

impl<E: Entry> TreeView<E, Exclusive> {
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
    pub fn dup_map<'s, E2: Entry, F>(&'s self, mut f: F) -> MapleTree<E2>
    where
        F: FnMut(RangeInclusive<u64>, E::Ref<'s>) -> Option<E2>,
    {
        match self.try_dup_map(|r, e| Ok::<_, core::convert::Infallible>(f(r, e))) {
            Ok(t) => t,
            Err(e) => match e.error {},
        }
    }

    /// [`dup_map`](Self::dup_map) with a function that can fail; see [`DupMapError`] for what
    /// a failure leaves behind. Node allocation failure is fatal here (use
    /// [`try_dup`](Self::try_dup) to observe it).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..10u64).map(|i| (i * 10..=i * 10 + 4, Value::new(i))).collect();
    /// let err = tree
    ///     .try_dup_map(|_, v| if v.get() == 6 { Err("no memory for VMA 6") } else { Ok(Some(v)) })
    ///     .unwrap_err();
    /// assert_eq!((err.error, err.failed), ("no memory for VMA 6", 60..=64));
    /// // The partial copy: what was copied, then the failure marker, then nothing.
    /// assert_eq!(err.partial.len(), 6);
    /// assert!(err.partial.is_reserved(60));
    /// assert_eq!(err.partial.load(70), None);
    /// ```
    // The error hands the partial tree back by value (two cache lines, see `RawTree`): the
    // caller needs it to tear down what was copied, and the failure path is cold.
    #[allow(clippy::result_large_err)]
    pub fn try_dup_map<'s, E2: Entry, X, F>(
        &'s self,
        mut f: F,
    ) -> Result<MapleTree<E2>, DupMapError<E2, X>>
    where
        F: FnMut(RangeInclusive<u64>, E::Ref<'s>) -> Result<Option<E2>, X>,
    {
        let mut error = None;
        let map = |s: u64, e: u64, w: Word| {
            // SAFETY: `w` is a live entry of `self`, which `&'s self` keeps stored.
            let entry = unsafe { view::<E>(w) };
            match f(s..=e, entry) {
                Ok(Some(n)) => Visit::Word(into_word(n)),
                Ok(None) => Visit::Drop,
                Err(x) => {
                    error = Some(x);
                    Visit::Fail
                }
            }
        };
        let (mut raw, dropped, failed) = self
            .raw()
            .dup_pass(crate::entry::drop_word::<E2>, map)
            .unwrap_or_else(|_| out_of_memory());
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
}

impl<E: Entry> MapleTree<E> {
    /// Builds a tree of `kind` from sorted, disjoint ranges in O(n), packing leaves full from
    /// the left (the kernel's bulk mode). [`Error::Invalid`] for unsorted, overlapping or
    /// empty ranges; [`Error::NoMemory`]. On error every entry given is dropped.
    ///
    /// ```
    /// use maple_tree::{MapleTree, TreeKind, Value};
    /// let tree = MapleTree::bulk_build(TreeKind::Alloc, (0..1000u64).map(|i| (i * 4..=i * 4 + 1, Value::new(i)))).unwrap();
    /// assert_eq!(tree.len(), 1000);
    /// tree.validate().unwrap();
    /// ```
    pub fn bulk_build<I, R>(kind: TreeKind, items: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (R, E)>,
        R: RangeBounds<u64>,
    {
        let tree = MapleTree::with_kind(kind);
        let mut layout = Layout::new();
        let mut bad = false;
        for (r, e) in items {
            let word = into_word(e);
            match to_inclusive(&r) {
                Some((s, l)) if !bad && layout.push(s, l, word) => {}
                _ => {
                    bad = true;
                    // SAFETY: never stored; dropped once.
                    unsafe { crate::entry::drop_word::<E>(word) };
                }
            }
        }
        let layout = layout.finish();
        let result = if bad {
            Err(Error::Invalid)
        } else {
            tree.raw().install(&layout)
        };
        match result {
            Ok(()) => Ok(tree),
            Err(e) => {
                for w in layout.entry_words() {
                    // SAFETY: owned by the builder, never stored in a surviving node.
                    unsafe { crate::entry::drop_word::<E>(w) };
                }
                Err(e)
            }
        }
    }
}

/// Sorted, disjoint occupied ranges (entries and zero entries) laid out as leaf pieces, with
/// the empty ranges between them: the input of a bulk build.
pub(crate) struct Layout {
    pieces: Vec<Piece>,
    entries: usize,
    /// The first index not yet covered (`None` once `u64::MAX` is).
    next_free: Option<u64>,
}

impl Layout {
    pub(crate) fn new() -> Layout {
        Layout {
            pieces: Vec::new(),
            entries: 0,
            next_free: Some(0),
        }
    }
    /// Appends `[first, last]` holding `word`; false (and nothing appended) if it is backwards
    /// or does not come after what is there.
    pub(crate) fn push(&mut self, first: u64, last: u64, word: Word) -> bool {
        let Some(next) = self.next_free.filter(|&n| first >= n && first <= last) else {
            return false;
        };
        if first > next {
            self.pieces.push(Piece {
                last: first - 1,
                word: core::ptr::null_mut(),
                gap: 0,
            });
        }
        self.pieces.push(Piece { last, word, gap: 0 });
        self.entries += usize::from(is_entry(word));
        self.next_free = last.checked_add(1);
        true
    }
    /// Closes the layout with the empty range up to `u64::MAX`.
    pub(crate) fn finish(mut self) -> Self {
        if self.next_free.take().is_some() {
            self.pieces.push(Piece {
                last: u64::MAX,
                word: core::ptr::null_mut(),
                gap: 0,
            });
        }
        self
    }
    /// The entry words laid out.
    pub(crate) fn entry_words(&self) -> impl Iterator<Item = Word> + '_ {
        self.pieces.iter().map(|p| p.word).filter(|&w| is_entry(w))
    }
}

impl RawTree {
    /// Builds this (empty) tree's nodes from a finished `layout`. On failure nothing is built
    /// and every word is still the caller's.
    pub(crate) fn install(&self, layout: &Layout) -> Result<(), Error> {
        debug_assert!(self.root().is_none());
        if layout.pieces.iter().all(|p| p.word.is_null()) {
            return Ok(());
        }
        let (root, height) = build_levels(self, &layout.pieces)?;
        // SAFETY: an empty tree being built by its only writer; the nodes are complete.
        unsafe { self.set_root(Some(root), height) };
        self.set_len(layout.entries);
        Ok(())
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
        let node = crate::supply::new_node(true)?;
        let part = &level[start..start + take];
        node.write_slots(
            shape,
            take,
            |i| part[i].last,
            |i| part[i].word,
            |i| part[i].gap,
        );
        let g = if leaf {
            gaps::pieces_max_gap(min, part)
        } else {
            part.iter().map(|p| p.gap).max().unwrap_or(0)
        };
        if !leaf {
            for (i, p) in part.iter().enumerate() {
                let child = Enode::from_word(p.word).expect("child").node();
                // SAFETY: built by this bulk build, whose tree is published only when done.
                unsafe { child.private() }.set_parent(Some((node.ptr(), i)));
            }
        }
        let last = part[take - 1].last;
        let enode = Enode::new(node.ptr(), shape, leaf);
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

/// Builds all levels over the leaf pieces. On failure frees the nodes built; the words stay
/// the caller's.
fn build_levels(raw: &RawTree, leaf_pieces: &[Piece]) -> Result<(Enode, usize), Error> {
    let internal = raw.internal_shape();
    let mut level = leaf_pieces.to_vec();
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
                // Leaves built so far hold words the caller still owns: free nodes only.
                let subtrees = if leaf { &built } else { &finished };
                for &(en, max) in subtrees {
                    destroy_subtree(en, max, crate::raw::keep_word);
                }
                if !leaf {
                    for &(en, _) in &built {
                        // SAFETY: an unlinked internal node of the failed level; its children
                        // were freed through `finished` above.
                        unsafe { en.node().free() };
                    }
                }
                return Err(e);
            }
        }
    }
}

impl<E: Entry + Clone> TreeView<E, Exclusive> {
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
    #[must_use]
    pub fn dup(&self) -> MapleTree<E> {
        self.try_dup().unwrap_or_else(|_| out_of_memory())
    }

    /// [`dup`](Self::dup) reporting allocation failure: [`Error::NoMemory`], with the partial
    /// copy freed (nothing leaks) and the source untouched.
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..10u64).map(|i| (i..=i, Value::new(i))).collect();
    /// let copy = tree.try_dup().unwrap();
    /// assert_eq!(copy, tree);
    /// ```
    pub fn try_dup(&self) -> Result<MapleTree<E>, Error> {
        // Entries whose clone is a plain copy travel with their nodes.
        let clone = (!E::PLAIN).then_some(crate::entry::clone_word::<E> as unsafe fn(Word) -> Word);
        let raw = self
            .raw()
            .dup_structure(crate::entry::drop_word::<E>, clone)?;
        Ok(MapleTree::from_raw(raw))
    }

    /// Rebuilds a copy by iterating and storing every entry (the pre-6.8 fork path, kept for
    /// comparison with [`dup`](Self::dup)).
    ///
    /// ```
    /// use maple_tree::{MapleTree, Value};
    /// let tree: MapleTree<Value> = (0..100u64).map(|i| (i * 2..=i * 2, Value::new(i))).collect();
    /// assert_eq!(tree.rebuild(), tree);
    /// ```
    #[must_use]
    pub fn rebuild(&self) -> MapleTree<E> {
        let mut copy = MapleTree::with_kind(self.kind());
        for (s, e, w, _) in self.raw_entries() {
            // SAFETY: a live entry of `self`, cloned through a borrow.
            let word = unsafe { crate::entry::clone_word::<E>(w) };
            // SAFETY: the clone is an owned `E`.
            let entry = unsafe { crate::entry::from_word::<E>(word) };
            if copy.store_range(s..=e, entry).is_err() {
                out_of_memory();
            }
        }
        copy
    }
}

impl<E: Entry + Clone> Clone for MapleTree<E> {
    fn clone(&self) -> Self {
        self.dup()
    }
}
