//! The write path: every store, insert and erase goes through [`RawTree::write`].
//!
//! A store of `entry` over `[first, last]` is done in one general way, level by level from the
//! leaves up (the kernel's "split upwards"):
//!
//! 1. NULL stores are widened over neighbouring empty ranges, so empty space stays coalesced.
//! 2. The leaf holding `first` and the leaf holding `last` are read into a list of *pieces*
//!    `(last index, word, gap)`: what is left of them around the new range, plus the new range.
//!    Everything strictly between the two leaves is covered by the store and is destroyed.
//! 3. At each level the pieces replace a contiguous *span* of nodes. If they are too few for
//!    a non-right-most node, or a leaf would end in an empty range, the span takes in its right
//!    neighbour (rebalancing). If they fit one node and the span is one node, that node is
//!    rewritten (in place when the tree is not shared, as a fresh node published with one
//!    pointer store when it is) and the walk stops. Otherwise they are split into as many new
//!    nodes as needed, and those nodes become pieces of the parent level's span.
//! 4. At the root, too many pieces grow the tree by a level; a lone child shrinks it.
//!
//! The same code is therefore the kernel's node store, split, rebalance and spanning store.
//! All nodes are allocated before anything visible changes: an allocation failure frees the
//! new nodes and leaves the tree exactly as it was. Replaced nodes and removed entries are
//! disposed of after publication, immediately or after a grace period (see [`Reclaim`]).

use alloc::vec::Vec;

use smallvec::SmallVec;

use core::mem::MaybeUninit;
use core::ptr;

use crate::entry::{is_entry, Word};
use crate::gap;
use crate::node::{Enode, NodePtr, Shape};
use crate::path::{Frame, Path};
use crate::raw::{count_and_mark_dead, destroy_subtree_except, RawTree, Reclaim, WriteCtx};
use crate::Error;

/// One slot of a node under construction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece {
    pub(crate) last: u64,
    pub(crate) word: Word,
    pub(crate) gap: u64,
}

impl Default for Piece {
    fn default() -> Piece {
        Piece {
            last: 0,
            word: ptr::null_mut(),
            gap: 0,
        }
    }
}

const PIECES_CAP: usize = 96;

/// A bounded list of pieces covering a span `[min, ..]`, uninitialised past `len`.
pub(crate) struct Pieces {
    buf: [MaybeUninit<Piece>; PIECES_CAP],
    len: usize,
}

impl Pieces {
    pub(crate) fn new() -> Pieces {
        Pieces {
            // SAFETY: an array of `MaybeUninit` needs no initialisation (see `Path::empty`).
            buf: unsafe { MaybeUninit::uninit().assume_init() },
            len: 0,
        }
    }
    #[inline]
    pub(crate) fn push(&mut self, last: u64, word: Word, gap: u64) {
        self.buf[self.len] = MaybeUninit::new(Piece { last, word, gap });
        self.len += 1;
    }
    /// Replaces the contents with `other`'s (copying only the used pieces).
    fn copy_from(&mut self, other: &Pieces) {
        self.buf[..other.len].copy_from_slice(&other.buf[..other.len]);
        self.len = other.len;
    }
    #[inline]
    fn get(&self, i: usize) -> Piece {
        self.as_slice()[i]
    }
    #[inline]
    pub(crate) fn as_slice(&self) -> &[Piece] {
        // SAFETY: the first `len` pieces were written by `push` or `coalesce_empty`, and
        // `MaybeUninit<Piece>` has the layout of `Piece`.
        unsafe { &*(&self.buf[..self.len] as *const [MaybeUninit<Piece>] as *const [Piece]) }
    }
    fn entries(&self) -> usize {
        self.as_slice().iter().filter(|p| is_entry(p.word)).count()
    }
    /// Merges adjacent empty pieces (leaf level).
    fn coalesce_empty(&mut self) {
        let mut out = 0;
        for i in 0..self.len {
            let p = self.get(i);
            if out > 0 && p.word.is_null() && self.get(out - 1).word.is_null() {
                let mut merged = self.get(out - 1);
                merged.last = p.last;
                self.buf[out - 1] = MaybeUninit::new(merged);
            } else {
                self.buf[out] = MaybeUninit::new(p);
                out += 1;
            }
        }
        self.len = out;
    }
    /// Appends every slot of a node.
    fn push_node(&mut self, f: &Frame) {
        for i in 0..=f.end {
            self.push(f.slot_max(i), f.word(i), slot_gap(f, i));
        }
    }
    /// Appends slots `range` of a node.
    fn push_slots(&mut self, f: &Frame, range: core::ops::Range<usize>) {
        for i in range {
            self.push(f.slot_max(i), f.word(i), slot_gap(f, i));
        }
    }
}

/// The recorded gap of slot `i` of an internal arange node (0 elsewhere: leaves compute gaps).
fn slot_gap(f: &Frame, i: usize) -> u64 {
    if f.shape == Shape::Arange {
        f.node.gap(i)
    } else {
        0
    }
}

/// Writes `pieces[range]` into `node` (min is the first piece's start) and returns its max gap.
fn fill_node(node: NodePtr, shape: Shape, leaf: bool, min: u64, pieces: &[Piece]) -> u64 {
    node.write_slots(
        shape,
        pieces.len(),
        |i| pieces[i].last,
        |i| pieces[i].word,
        |i| pieces[i].gap,
    );
    if leaf {
        gap::pieces_max_gap(min, pieces)
    } else {
        pieces.iter().map(|p| p.gap).max().unwrap_or(0)
    }
}

/// Everything the write replaces, disposed of after publication. Most writes replace a node
/// or two, so the lists live inline.
#[derive(Default)]
struct Garbage {
    /// Nodes whose contents were copied into new nodes: freed without touching their slots.
    nodes: SmallVec<[NodePtr; 8]>,
    /// Detached subtrees (with their maxima) lying wholly inside the stored range.
    subtrees: Vec<(Enode, u64)>,
    /// Entries overwritten by the store.
    words: SmallVec<[Word; 4]>,
}

/// Nodes allocated by the write, for rollback and for fixing child parent links.
struct Fresh<'p> {
    tree: &'p RawTree,
    nodes: SmallVec<[(NodePtr, bool); 8]>,
    /// Preallocated nodes to use before asking the allocator.
    pool: Option<&'p core::cell::RefCell<Vec<NodePtr>>>,
    /// A shared tree's writer keeps node frames past their grace period for reuse.
    reclaim: Reclaim<'p>,
}

impl<'p> Fresh<'p> {
    fn new(tree: &'p RawTree, ctx: &WriteCtx<'p, 'p>) -> Self {
        Fresh {
            tree,
            nodes: SmallVec::new(),
            pool: ctx.pool,
            reclaim: ctx.reclaim,
        }
    }
    fn alloc(&mut self, leaf: bool) -> Result<NodePtr, Error> {
        let pooled = self.pool.and_then(|p| p.borrow_mut().pop());
        let n = match pooled {
            Some(n) => {
                // A pooled node may hold stale contents from nothing: they are zeroed at
                // allocation and never written before use, but clear the parent to be sure.
                n.set_parent(None);
                n
            }
            None => self.alloc_unreserved()?,
        };
        self.nodes.push((n, leaf));
        Ok(n)
    }
    /// A reused frame (stale contents: every user fills the whole node) or a new one: an owned
    /// tree's spare, or a frame a shared tree's writer reclaimed.
    fn alloc_unreserved(&mut self) -> Result<NodePtr, Error> {
        // Failure injection counts a reused frame as an allocation point too, so the points a
        // test walks through do not depend on what the cache happens to hold.
        #[cfg(feature = "fault-injection")]
        if crate::node::fault::should_fail() {
            return Err(Error::NoMemory);
        }
        let reused = match self.reclaim {
            Reclaim::Now => self.tree.take_spare(),
            Reclaim::Deferred(reclaimer) => reclaimer.borrow_mut().take_node(),
        };
        if let Some(n) = reused {
            return Ok(n);
        }
        NodePtr::alloc_memory().ok_or(Error::NoMemory)
    }
    /// Frees every new node; nothing of them was published.
    fn rollback(self) {
        for (n, _) in self.nodes {
            // SAFETY: never linked into the tree.
            unsafe { n.free() };
        }
    }
}

/// Nodes a store of `[first, last]` may need in the worst case: at most four new nodes per
/// level for range nodes and six for allocation-tree internal nodes (at most ~52 pieces cut
/// into nodes of 15 or 9), plus a new root.
pub(crate) fn worst_case_nodes(height: usize, kind: crate::TreeKind) -> usize {
    let per_level = match kind {
        crate::TreeKind::Plain => 4,
        crate::TreeKind::Alloc => 6,
    };
    height.max(1) * per_level + 2
}

/// Sets each child's parent link (after publication).
fn adopt_children(node: NodePtr, shape: Shape, count: usize) {
    for i in 0..count {
        if let Some(child) = Enode::from_word(node.slot(shape, i)) {
            child.node().set_parent(Some((node, i)));
        }
    }
}

/// Plans how `n` pieces are cut into nodes: returns the sizes.
/// Node sizes for a split: a handful of nodes at most, so kept inline.
type SplitPlan = SmallVec<[usize; 8]>;

fn split_sizes(
    pieces: &[Piece],
    shape: Shape,
    leaf: bool,
    rightmost: bool,
    pack_left: bool,
) -> SplitPlan {
    let n = pieces.len();
    let cap = shape.slots();
    let min = shape.min_slots();
    let mut k = if pack_left {
        n.div_ceil(cap)
    } else {
        n.div_ceil(cap - 1)
    }
    .max(1);
    loop {
        if let Some(sizes) = try_sizes(pieces, k, cap, min, leaf, rightmost, pack_left) {
            return sizes;
        }
        k += 1;
    }
}

fn try_sizes(
    pieces: &[Piece],
    k: usize,
    cap: usize,
    min: usize,
    leaf: bool,
    rightmost: bool,
    pack_left: bool,
) -> Option<SplitPlan> {
    let n = pieces.len();
    let last_min = if rightmost { 1 } else { min };
    let mut sizes = SplitPlan::new();
    let mut start = 0;
    for j in 0..k - 1 {
        let remaining = n - start;
        let nodes_left = k - j;
        let target = if pack_left {
            cap
        } else {
            remaining.div_ceil(nodes_left)
        };
        let fits = |s: usize| {
            let rest = remaining.checked_sub(s)?;
            let ok = s >= min
                && s <= cap
                && rest >= (nodes_left - 2) * min + last_min
                && rest <= (nodes_left - 1) * cap
                && !(leaf && pieces[start + s - 1].word.is_null());
            ok.then_some(s)
        };
        let candidates = [
            target,
            target.wrapping_sub(1),
            target + 1,
            target.wrapping_sub(2),
            target + 2,
            target.wrapping_sub(3),
        ];
        let s = candidates.iter().find_map(|&s| fits(s)).or_else(|| {
            // Packing left may need to back off further.
            (min..=cap).rev().find_map(fits)
        })?;
        sizes.push(s);
        start += s;
    }
    let rest = n - start;
    if rest < last_min || rest > cap || rest == 0 {
        return None;
    }
    sizes.push(rest);
    Some(sizes)
}

impl RawTree {
    /// Stores `word` (0 = empty) over `[first, last]`. Returns the word that was at `first`
    /// when `ctx.want_old` (the caller then owns it; a clone if part of its range remains).
    pub(crate) fn write(
        &self,
        first: u64,
        last: u64,
        word: Word,
        ctx: &WriteCtx<'_, '_>,
    ) -> Result<Word, Error> {
        if first > last {
            return Err(Error::Invalid);
        }
        let Some(root) = self.root() else {
            if word.is_null() {
                return Ok(core::ptr::null_mut());
            }
            return self.write_first_leaf(first, last, word, ctx);
        };
        let asked_first = first;
        let mut left = Path::empty();
        left.descend(Some(root), self.internal_shape(), first, usize::MAX);
        let (first, last) = if word.is_null() {
            self.widen_empty(&mut left, first, last)
        } else {
            (first, last)
        };
        // The right end's path, when it is not in the left end's leaf.
        let right = (last > left.leaf().max).then(|| self.path_to(last));
        if let Some(old) = self.try_exact_fit(&left, right.as_ref(), first, last, word, ctx) {
            return Ok(old);
        }
        if right.is_none() && self.try_append(&left, first, last, word, ctx) {
            return Ok(core::ptr::null_mut());
        }
        self.write_span(
            root,
            &mut left,
            right,
            (first, last),
            asked_first,
            word,
            ctx,
        )
    }

    /// The tree is empty: one leaf with at most three slots.
    fn write_first_leaf(
        &self,
        first: u64,
        last: u64,
        word: Word,
        ctx: &WriteCtx<'_, '_>,
    ) -> Result<Word, Error> {
        let mut p = Pieces::new();
        if first > 0 {
            p.push(first - 1, ptr::null_mut(), 0);
        }
        p.push(last, word, 0);
        if last < u64::MAX {
            p.push(u64::MAX, ptr::null_mut(), 0);
        }
        let mut fresh = Fresh::new(self, ctx);
        let node = fresh.alloc(true)?;
        fill_node(node, Shape::Range, true, 0, p.as_slice());
        self.set_root(Some(Enode::new(node, true)), 1);
        self.add_len(is_entry(word) as isize);
        Ok(core::ptr::null_mut())
    }

    /// Extends an empty store over the empty ranges that touch it, looking at neighbouring
    /// slots in `left`'s leaf and walking again only across a leaf edge. `left` ends up on the
    /// (possibly new) first index.
    fn widen_empty(&self, left: &mut Path, mut first: u64, mut last: u64) -> (u64, u64) {
        let internal = self.internal_shape();
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
                if prev.prev_slot(internal) && prev.current().2.is_null() {
                    first = prev.current().0;
                    *left = prev;
                }
            }
        }
        // The same on the right. When `last` is in `left`'s leaf, look at that leaf's slots and
        // build a path only to step into the next leaf.
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
                    if next.next_slot(internal) && next.current().2.is_null() {
                        last = next.current().1;
                    }
                }
            }
            return (first, last);
        }
        let mut right = self.path_to(last);
        let (_, e, w) = right.current();
        if w.is_null() {
            last = e;
        } else if e == last && last < u64::MAX && right.next_slot(internal) {
            let (_, e2, w2) = right.current();
            if w2.is_null() {
                last = e2;
            }
        }
        (first, last)
    }

    /// The store exactly covers one existing slot: replace the word in place (a single atomic
    /// store, safe for concurrent readers).
    fn try_exact_fit(
        &self,
        left: &Path,
        right: Option<&Path>,
        first: u64,
        last: u64,
        word: Word,
        ctx: &WriteCtx<'_, '_>,
    ) -> Option<Word> {
        let leaf = left.leaf();
        if right.is_some() {
            return None;
        }
        let (s, e, old) = left.current();
        if s != first || e != last {
            return None;
        }
        // An empty last slot is only allowed in the right-most leaf, and a root leaf left with
        // nothing but empty space must become an empty tree: both take the general path.
        if word.is_null() && ((leaf.offset == leaf.end && leaf.max != u64::MAX) || leaf.end == 0) {
            return None;
        }
        leaf.node.set_slot(Shape::Range, leaf.offset, word);
        self.add_len(is_entry(word) as isize - is_entry(old) as isize);
        if self.kind == crate::TreeKind::Alloc && (old.is_null() != word.is_null()) {
            gap::update_upwards(left, left.len() - 1);
        }
        Some(self.dispose_old(old, ctx))
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
        ctx: &WriteCtx<'_, '_>,
    ) -> bool {
        let leaf = left.leaf();
        let end = leaf.end;
        if !matches!(ctx.reclaim, Reclaim::Now)
            || word.is_null()
            || leaf.offset != end
            || !leaf.word(end).is_null()
        {
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
        let node = leaf.node;
        let mut i = end;
        let mut put = |last_index: u64, w: Word| {
            if i < Shape::Range.pivots() {
                node.set_pivot(i, last_index);
            }
            node.set_slot(Shape::Range, i, w);
            i += 1;
        };
        if before {
            put(first - 1, core::ptr::null_mut());
        }
        put(last, word);
        if after {
            put(max, core::ptr::null_mut());
        }
        self.add_len(isize::from(is_entry(word)));
        if self.kind == crate::TreeKind::Alloc {
            gap::update_upwards(left, left.len() - 1);
        }
        true
    }

    /// Returns `old` to the caller or disposes of it.
    fn dispose_old(&self, old: Word, ctx: &WriteCtx<'_, '_>) -> Word {
        if !is_entry(old) {
            return ptr::null_mut();
        }
        if ctx.want_old {
            return old;
        }
        self.dispose_words(&[old], ctx.reclaim);
        ptr::null_mut()
    }

    fn dispose_words(&self, words: &[Word], reclaim: Reclaim<'_>) {
        let drop_entry = self.drop_entry;
        for &w in words.iter().filter(|&&w| is_entry(w)) {
            match reclaim {
                // SAFETY: the word was removed from the tree by this write; it is dropped once.
                Reclaim::Now => unsafe { drop_entry(w) },
                Reclaim::Deferred(reclaimer) => reclaimer.borrow_mut().retire_entry(w),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_span(
        &self,
        root: Enode,
        left: &mut Path,
        mut right: Option<Path>,
        (first, last): (u64, u64),
        asked_first: u64,
        word: Word,
        ctx: &WriteCtx<'_, '_>,
    ) -> Result<Word, Error> {
        let internal = self.internal_shape();
        let in_place = matches!(ctx.reclaim, Reclaim::Now);
        let mut garbage = Garbage::default();
        let mut fresh = Fresh::new(self, ctx);
        let mut clones: SmallVec<[Word; 2]> = SmallVec::new();

        // Leaf pieces: what survives of the two leaves around the new range.
        let mut p = Pieces::new();
        let mut old_at_first: Word = ptr::null_mut();
        let mut returned_old = false;
        let mut new_pushed = false;
        let mut new_index = 0;
        let mut entries_before = 0isize;
        let lf = *left.leaf();
        let rf = *right.as_ref().unwrap_or(left).leaf();
        let both = [lf, rf];
        let leaves = if lf.node == rf.node {
            &both[..1]
        } else {
            &both[..]
        };
        for f in leaves {
            entries_before += (0..=f.end).filter(|&i| is_entry(f.word(i))).count() as isize;
            garbage.nodes.push(f.node);
            for i in 0..=f.end {
                let (s, e, w) = (f.slot_min(i), f.slot_max(i), f.word(i));
                if e < first {
                    p.push(e, w, 0);
                    continue;
                }
                if s > last {
                    if !new_pushed {
                        new_index = p.len;
                        p.push(last, word, 0);
                        new_pushed = true;
                    }
                    p.push(e, w, 0);
                    continue;
                }
                // The slot overlaps the stored range.
                let keeps_left = s < first;
                let keeps_right = e > last;
                let holds_asked = s <= asked_first && asked_first <= e;
                if holds_asked {
                    old_at_first = w;
                }
                if keeps_left {
                    p.push(first - 1, w, 0);
                }
                if !new_pushed {
                    new_index = p.len;
                    p.push(last, word, 0);
                    new_pushed = true;
                }
                if keeps_right {
                    let w2 = if keeps_left && is_entry(w) {
                        let clone = ctx.ops.clone.expect("splitting a range needs E: Clone");
                        // SAFETY: `w` is a live entry of this tree; the clone is a new owned word.
                        let c = unsafe { clone(w) };
                        clones.push(c);
                        c
                    } else {
                        w
                    };
                    p.push(e, w2, 0);
                }
                if !keeps_left && !keeps_right {
                    if holds_asked && ctx.want_old && is_entry(w) {
                        returned_old = true;
                    } else {
                        garbage.words.push(w);
                    }
                }
            }
        }
        debug_assert!(new_pushed);
        let mut old_result: Word = ptr::null_mut();
        if returned_old {
            old_result = old_at_first;
        } else if ctx.want_old && is_entry(old_at_first) {
            if let Some(clone) = ctx.ops.clone {
                // SAFETY: as above; the original stays in the tree.
                old_result = unsafe { clone(old_at_first) };
                clones.push(old_result);
            }
        }
        let append = new_index + 2 >= p.len;

        let height = self.height();
        let mut depth = height - 1;
        let mut leaf_entries_after: Option<isize> = None;
        let outcome: Result<(), Error> = loop {
            let leaf = depth == height - 1;
            let shape = if leaf { Shape::Range } else { internal };
            if leaf {
                p.coalesce_empty();
            }
            let span_max = right.as_ref().unwrap_or(left).at(depth).max;
            // Rebalance: take in the right neighbour if this span would be too thin or would
            // end a leaf with an empty range.
            if depth > 0 && span_max != u64::MAX {
                let thin = p.len < shape.min_slots();
                let empty_end = leaf && p.get(p.len - 1).word.is_null();
                if thin || empty_end {
                    let mut n = Path::empty();
                    n.descend(Some(root), internal, span_max + 1, depth + 1);
                    let nf = *n.at(depth);
                    if leaf {
                        entries_before +=
                            (0..=nf.end).filter(|&i| is_entry(nf.word(i))).count() as isize;
                    }
                    p.push_node(&nf);
                    garbage.nodes.push(nf.node);
                    right = Some(n);
                    if leaf {
                        p.coalesce_empty();
                    }
                }
            }
            if leaf {
                leaf_entries_after = Some(p.entries() as isize);
            }
            let span_min = left.at(depth).min;
            let rp = right.as_ref().unwrap_or(left);
            let span_max = rp.at(depth).max;
            let same = left.at(depth).node == rp.at(depth).node;

            if depth == 0 {
                break self.finish_at_root(
                    &p,
                    shape,
                    leaf,
                    append,
                    in_place,
                    &mut fresh,
                    &mut garbage,
                );
            }

            // A span over a whole level goes on up, so the root can shrink or empty.
            let whole_level = span_min == 0 && span_max == u64::MAX;
            let single = same
                && !whole_level
                && p.len <= shape.slots()
                && (span_max == u64::MAX
                    || (p.len >= shape.min_slots() && !(leaf && p.get(p.len - 1).word.is_null())));
            if single {
                let f = *left.at(depth);
                let node = if in_place {
                    garbage.nodes.retain(|n| *n != f.node);
                    f.node
                } else {
                    match fresh.alloc(leaf) {
                        Ok(n) => n,
                        Err(e) => break Err(e),
                    }
                };
                fill_node(node, shape, leaf, span_min, p.as_slice());
                let parent = left.at(depth - 1);
                if node != f.node {
                    parent
                        .node
                        .set_slot(internal, parent.offset, Enode::new(node, leaf).word());
                }
                if !leaf {
                    adopt_children(node, shape, p.len);
                }
                node.set_parent(Some((parent.node, parent.offset)));
                if self.kind == crate::TreeKind::Alloc {
                    left.at_mut(depth).node = node;
                    gap::update_upwards(left, depth);
                }
                break Ok(());
            }

            // Split the pieces into new nodes; they become pieces of the parent span.
            let sizes = split_sizes(
                p.as_slice(),
                shape,
                leaf,
                span_max == u64::MAX,
                append && span_max == u64::MAX,
            );
            let mut q = Pieces::new();
            let mut start = 0;
            let mut min = span_min;
            let mut failed = None;
            for &s in &sizes {
                let node = match fresh.alloc(leaf) {
                    Ok(n) => n,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                let part = &p.as_slice()[start..start + s];
                let g = fill_node(node, shape, leaf, min, part);
                let node_max = part[s - 1].last;
                q.push(node_max, Enode::new(node, leaf).word(), g);
                start += s;
                min = node_max.wrapping_add(1);
            }
            if let Some(e) = failed {
                break Err(e);
            }
            let pl = *left.at(depth - 1);
            let pr = *right.as_ref().unwrap_or(left).at(depth - 1);
            let mut np = Pieces::new();
            np.push_slots(&pl, 0..pl.offset);
            for q in q.as_slice() {
                np.push(q.last, q.word, q.gap);
            }
            // Children strictly between the span's ends are covered by the store.
            let mut between = |f: &Frame, range: core::ops::Range<usize>| {
                for i in range {
                    let child = Enode::from_word(f.word(i)).expect("child");
                    if !garbage.nodes.contains(&child.node()) {
                        garbage.subtrees.push((child, f.slot_max(i)));
                    }
                }
            };
            if pl.node == pr.node {
                between(&pl, pl.offset + 1..pr.offset);
            } else {
                between(&pl, pl.offset + 1..pl.end + 1);
                between(&pr, 0..pr.offset);
            }
            np.push_slots(&pr, pr.offset + 1..pr.end + 1);
            garbage.nodes.push(pl.node);
            if pr.node != pl.node {
                garbage.nodes.push(pr.node);
            }
            p.copy_from(&np);
            depth -= 1;
        };

        if let Err(e) = outcome {
            fresh.rollback();
            for c in clones {
                // SAFETY: clones made by this write and never published.
                unsafe { (self.drop_entry)(c) };
            }
            return Err(e);
        }

        // Published. Fix parent links of every new internal node, then dispose of the old.
        let mut removed = 0isize;
        for &(n, is_leaf) in &fresh.nodes {
            if !is_leaf && !garbage.nodes.contains(&n) {
                let count = (0..internal.slots())
                    .take_while(|&i| !n.slot(internal, i).is_null())
                    .count();
                adopt_children(n, internal, count);
            }
        }
        // A covered subtree may contain a node whose contents were copied (the old right edge
        // when the span took in a neighbour under another parent): keep those out of it.
        let keep = &garbage.nodes;
        for &(enode, max) in &garbage.subtrees {
            match ctx.reclaim {
                Reclaim::Now => {
                    removed +=
                        destroy_subtree_except(enode, max, internal, self.drop_entry, keep) as isize
                }
                Reclaim::Deferred(reclaimer) => {
                    removed += count_and_mark_dead(enode, max, internal, keep) as isize;
                    reclaimer.borrow_mut().retire_subtree(enode, max, keep);
                }
            }
        }
        #[cfg(not(loom))]
        {
            garbage.nodes.sort_unstable_by_key(|n| n.addr());
            garbage.nodes.dedup();
        }
        // Loom replays schedules and needs the same atomic operations in the same order every
        // time, so the retire order must not depend on addresses: dedup in place instead.
        #[cfg(loom)]
        {
            let mut i = 0;
            while i < garbage.nodes.len() {
                if garbage.nodes[..i].contains(&garbage.nodes[i]) {
                    garbage.nodes.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        for &n in &garbage.nodes {
            if fresh.nodes.iter().any(|&(f, _)| f == n) {
                // SAFETY: a new node that was skipped over (a lone child chain) and never linked.
                unsafe { n.free() };
            } else {
                self.retire_node(n, ctx.reclaim);
            }
        }
        self.dispose_words(&garbage.words, ctx.reclaim);
        let after = leaf_entries_after.unwrap_or(0);
        self.add_len(after - entries_before - removed);
        Ok(old_result)
    }

    /// Finishes a write whose span reached the root: grow, rewrite or shrink the root.
    #[allow(clippy::too_many_arguments)]
    fn finish_at_root(
        &self,
        p: &Pieces,
        shape: Shape,
        leaf: bool,
        append: bool,
        in_place: bool,
        fresh: &mut Fresh,
        garbage: &mut Garbage,
    ) -> Result<(), Error> {
        let internal = self.internal_shape();
        let old_root = self.root().expect("non-empty tree");
        let mut height = self.height();
        if leaf && p.len == 1 && p.get(0).word.is_null() {
            garbage.nodes.push(old_root.node());
            self.set_root(None, 0);
            return Ok(());
        }
        if !leaf && p.len == 1 {
            // A lone child becomes the root, as long as that keeps happening.
            garbage.nodes.push(old_root.node());
            let mut child = Enode::from_word(p.get(0).word).expect("child");
            height -= 1;
            loop {
                if child.is_leaf() {
                    break;
                }
                let cn = child.node();
                let count = (0..internal.slots())
                    .take_while(|&i| !cn.slot(internal, i).is_null())
                    .count();
                if count != 1 {
                    break;
                }
                garbage.nodes.push(cn);
                child = Enode::from_word(cn.slot(internal, 0)).expect("child");
                height -= 1;
            }
            if child.is_leaf() {
                let leaf = child.node();
                let only_empty =
                    leaf.slot(Shape::Range, 0).is_null() && leaf.end(Shape::Range, u64::MAX) == 0;
                if only_empty {
                    garbage.nodes.push(leaf);
                    self.set_root(None, 0);
                    return Ok(());
                }
            }
            self.set_root(Some(child), height);
            return Ok(());
        }
        if p.len <= shape.slots() {
            let node = if in_place {
                garbage.nodes.retain(|n| *n != old_root.node());
                old_root.node()
            } else {
                garbage.nodes.push(old_root.node());
                fresh.alloc(leaf)?
            };
            fill_node(node, shape, leaf, 0, p.as_slice());
            if !leaf {
                adopt_children(node, shape, p.len);
            }
            self.set_root(Some(Enode::new(node, leaf)), height);
            return Ok(());
        }
        // Grow: split, and keep adding levels until one node holds them all.
        garbage.nodes.push(old_root.node());
        let mut level: Vec<Piece> = p.as_slice().to_vec();
        let mut level_leaf = leaf;
        let mut level_shape = shape;
        loop {
            let sizes = split_sizes(&level, level_shape, level_leaf, true, append);
            let mut next = Vec::with_capacity(sizes.len());
            let mut start = 0;
            let mut min = 0u64;
            for &s in &sizes {
                let node = fresh.alloc(level_leaf)?;
                let part = &level[start..start + s];
                let g = fill_node(node, level_shape, level_leaf, min, part);
                let node_max = part[s - 1].last;
                next.push(Piece {
                    last: node_max,
                    word: Enode::new(node, level_leaf).word(),
                    gap: g,
                });
                start += s;
                min = node_max.wrapping_add(1);
            }
            height += 1;
            level = next;
            level_leaf = false;
            level_shape = internal;
            if level.len() <= internal.slots() {
                let node = fresh.alloc(false)?;
                fill_node(node, internal, false, 0, &level);
                self.set_root(Some(Enode::new(node, false)), height);
                return Ok(());
            }
        }
    }
}
