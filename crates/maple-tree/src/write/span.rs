//! The general write: the span of nodes a store touches is rebuilt level by level, from the
//! leaves up, until one node (or a new root) takes the result.
//!
//! A [`SpanWrite`] goes through these steps, each a method with its own contract:
//!
//! 1. [`gather_leaves`](SpanWrite::gather_leaves): the leaf-level pieces.
//! 2. Per level, [`absorb_if_thin`](SpanWrite::absorb_if_thin) (rebalance with the right
//!    neighbour), then one of [`rewrite_node`](SpanWrite::rewrite_node) (the span fits one
//!    node: done), [`split_level`](SpanWrite::split_level) (new nodes become the parent level's
//!    pieces; first [`push_to_sibling`](SpanWrite::push_to_sibling) tries to take in a
//!    sibling with room so that two nodes replace two, as the kernel's `mas_push_data`) or,
//!    at the root, [`finish_at_root`](SpanWrite::finish_at_root) (shrink, rewrite or grow the
//!    root).
//! 3. [`publish`](SpanWrite::publish) (link what the new nodes hold, dispose of what they
//!    replaced, count) or [`roll_back`](SpanWrite::roll_back) (give every new node back; the
//!    tree never changed).
//!
//! Until the last step of step 2 nothing a reader can see has changed: new nodes are private,
//! and the one store that links them in (a parent slot, or the root) is the publication.

use alloc::vec::Vec;

use smallvec::SmallVec;

use super::gaps;
use crate::entry::{is_entry, Word};
use crate::node::{Enode, NodeMut, NodePtr, Shape};
use crate::path::{Frame, Path};
use crate::raw::RawTree;
use crate::retire::Retired;
use crate::Error;

use super::pieces::{
    adopt_children, fill_node, push_limit, push_sizes, split_sizes, Piece, Pieces, SplitPlan,
};
use super::WriteCtx;

/// A store of `word` over `[first, last]` (already widened if it stores nothing).
#[derive(Clone, Copy)]
pub(crate) struct Store {
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// The index the caller asked to store from: the entry there is the one handed back.
    pub(crate) asked_first: u64,
    pub(crate) word: Word,
}

/// One general write in progress: the span being rebuilt at the current level, the nodes it
/// took and what it will dispose of.
pub(crate) struct SpanWrite<'a> {
    tree: &'a RawTree,
    ctx: &'a WriteCtx<'a>,
    store: Store,
    /// The shape of the tree's internal nodes.
    internal: Shape,
    root: Enode,
    /// The span's left end at every level, and its right end when it is elsewhere (borrowed
    /// from the caller: paths are large, and the write never moves them).
    left: &'a mut Path,
    right: &'a mut Option<Path>,
    /// The current level's pieces: what replaces the span.
    pieces: Pieces,
    /// The level being rebuilt (0 is the root).
    depth: usize,
    /// The store ends the leaf span's pieces: split nodes are packed full from the left, as
    /// appending at the top wants.
    append: bool,
    /// Nodes taken from the supply, with whether each is a leaf.
    taken: SmallVec<[(NodePtr, bool); 8]>,
    retired: Retired,
    /// Entries this write cloned (to split a range, or to hand back): dropped on roll-back.
    clones: SmallVec<[Word; 2]>,
    /// Entries in the leaves the span replaces, and in their replacement.
    entries_before: isize,
    entries_after: isize,
    /// What the caller gets back (see [`RawTree::write`]).
    old: Word,
}

/// Where the leaf gathering stands: whether the new range was placed, and what held the
/// asked first index.
struct Gathered {
    new_at: Option<usize>,
    old_at_first: Word,
    /// The old entry at the asked first index was wholly covered and goes to the caller.
    moved_out: bool,
}

impl<'a> SpanWrite<'a> {
    pub(crate) fn new(
        tree: &'a RawTree,
        ctx: &'a WriteCtx<'a>,
        root: Enode,
        left: &'a mut Path,
        right: &'a mut Option<Path>,
        store: Store,
    ) -> Self {
        SpanWrite {
            tree,
            ctx,
            store,
            internal: tree.internal_shape(),
            root,
            left,
            right,
            pieces: Pieces::new(),
            depth: 0,
            append: false,
            taken: SmallVec::new(),
            retired: Retired::default(),
            clones: SmallVec::new(),
            entries_before: 0,
            entries_after: 0,
            old: core::ptr::null_mut(),
        }
    }

    /// Runs the write: the tree changes completely or, on error, not at all.
    ///
    /// # Safety
    /// As [`RawTree::write`]: the caller is the tree's only writer.
    pub(crate) unsafe fn run(&mut self) -> Result<Word, Error> {
        self.gather_leaves();
        // SAFETY: every step below relies on the caller being the only writer.
        match unsafe { self.rebuild() } {
            // SAFETY: as above; the write was published.
            Ok(()) => Ok(unsafe { self.publish() }),
            Err(e) => {
                self.roll_back();
                Err(e)
            }
        }
    }

    /// The path to the span's right end.
    fn right_end(&self) -> &Path {
        self.right.as_ref().unwrap_or(self.left)
    }

    /// Leaf pieces: what survives of the leaves holding `first` and `last`, around the new
    /// range. Expects an empty piece list; leaves `old` set and the leaves retired.
    fn gather_leaves(&mut self) {
        let lf = *self.left.leaf();
        let rf = *self.right_end().leaf();
        let mut g = Gathered {
            new_at: None,
            old_at_first: core::ptr::null_mut(),
            moved_out: false,
        };
        let leaves = [Some(lf), (rf.node != lf.node).then_some(rf)];
        for f in leaves.into_iter().flatten() {
            self.entries_before += count_entries(&f);
            self.retired.nodes.push(f.node);
            for i in 0..=f.end {
                self.gather_slot(&mut g, f.slot_min(i), f.slot_max(i), f.word(i));
            }
        }
        let new_at = g.new_at.expect("the new range was placed");
        self.append = new_at + 2 >= self.pieces.len;
        self.old = self.old_for_caller(&g);
    }

    /// Adds leaf slot `[s, e]` holding `w` to the pieces: whole when it lies outside the
    /// store, cut back around it when it overlaps (splitting an entry takes a clone).
    fn gather_slot(&mut self, g: &mut Gathered, s: u64, e: u64, w: Word) {
        let Store {
            first,
            last,
            asked_first,
            word,
        } = self.store;
        if e < first {
            self.pieces.push(e, w, 0);
            return;
        }
        if s > last {
            self.place_new(g, last, word);
            self.pieces.push(e, w, 0);
            return;
        }
        let (keeps_left, keeps_right) = (s < first, e > last);
        let holds_asked = s <= asked_first && asked_first <= e;
        if holds_asked {
            g.old_at_first = w;
        }
        if keeps_left {
            self.pieces.push(first - 1, w, 0);
        }
        self.place_new(g, last, word);
        if keeps_right {
            let right = if keeps_left { self.clone_entry(w) } else { w };
            self.pieces.push(e, right, 0);
        }
        if !keeps_left && !keeps_right {
            if holds_asked && self.ctx.want_old && is_entry(w) {
                g.moved_out = true;
            } else {
                self.retired.entry(w);
            }
        }
    }

    /// Pushes the new range's piece, once.
    fn place_new(&mut self, g: &mut Gathered, last: u64, word: Word) {
        if g.new_at.is_none() {
            g.new_at = Some(self.pieces.len);
            self.pieces.push(last, word, 0);
        }
    }

    /// A clone of the live entry `w` for a second piece of its range (empty and zero words
    /// are copied as they are).
    fn clone_entry(&mut self, w: Word) -> Word {
        if !is_entry(w) {
            return w;
        }
        let clone = self
            .ctx
            .ops
            .clone
            .expect("splitting a range needs E: Clone");
        // SAFETY: `w` is a live entry of this tree; the clone is a new owned word.
        let c = unsafe { clone(w) };
        self.clones.push(c);
        c
    }

    /// The entry handed back: the one at the asked first index, moved out when the store
    /// removed it whole, else (part of it stays) a clone.
    fn old_for_caller(&mut self, g: &Gathered) -> Word {
        if g.moved_out {
            g.old_at_first
        } else if self.ctx.want_old && is_entry(g.old_at_first) && self.ctx.ops.clone.is_some() {
            self.clone_entry(g.old_at_first)
        } else {
            core::ptr::null_mut()
        }
    }

    /// Rebuilds the span level by level until one node or the root takes it.
    ///
    /// # Safety
    /// The caller is the tree's only writer (the last step publishes).
    unsafe fn rebuild(&mut self) -> Result<(), Error> {
        let leaf_depth = self.tree.height() - 1;
        self.depth = leaf_depth;
        loop {
            let leaf = self.depth == leaf_depth;
            let shape = if leaf { Shape::Range } else { self.internal };
            if leaf {
                self.pieces.coalesce_empty();
            }
            self.absorb_if_thin(shape, leaf);
            if leaf {
                self.entries_after = self.pieces.entries() as isize;
            }
            if self.depth == 0 {
                // SAFETY: forwarded.
                return unsafe { self.finish_at_root(shape, leaf) };
            }
            if self.fits_one_node(shape, leaf) {
                // SAFETY: forwarded.
                return unsafe { self.rewrite_node(shape, leaf) };
            }
            let sizes = match self.push_to_sibling(shape, leaf) {
                Some(sizes) => sizes,
                None => self.split_plan(shape, leaf),
            };
            self.split_level(shape, leaf, &sizes)?;
            self.depth -= 1;
        }
    }

    /// Rebalance: takes the right neighbour of the span at this level into it when the pieces
    /// would make a node too thin, or end a leaf in an empty range (only the right-most node
    /// of a level may be thin or, as a leaf, end empty). Leaves the right end's path there.
    fn absorb_if_thin(&mut self, shape: Shape, leaf: bool) {
        let d = self.depth;
        let span_max = self.right_end().at(d).max;
        if d == 0 || span_max == u64::MAX {
            return;
        }
        let thin = self.pieces.len < shape.min_slots();
        let empty_end = leaf && self.pieces.get(self.pieces.len - 1).word.is_null();
        if !(thin || empty_end) {
            return;
        }
        let mut neighbour = Path::empty();
        neighbour.descend(Some(self.root), span_max + 1, d + 1);
        let nf = *neighbour.at(d);
        if leaf {
            self.entries_before += count_entries(&nf);
        }
        self.pieces.push_node(&nf);
        self.retired.nodes.push(nf.node);
        *self.right = Some(neighbour);
        if leaf {
            self.pieces.coalesce_empty();
        }
    }

    /// Whether the span is one node below the root and the pieces fit one valid node.
    fn fits_one_node(&self, shape: Shape, leaf: bool) -> bool {
        let d = self.depth;
        let (l, r) = (self.left.at(d), self.right_end().at(d));
        let whole_level = l.min == 0 && r.max == u64::MAX;
        let len = self.pieces.len;
        let valid = r.max == u64::MAX
            || (len >= shape.min_slots() && !(leaf && self.pieces.get(len - 1).word.is_null()));
        // A span over a whole level goes on up, so the root can shrink or empty.
        l.node == r.node && !whole_level && len <= shape.slots() && valid
    }

    /// Writes the pieces into one node in the span's place: the old node itself when the tree
    /// is owned, a new one linked into the parent (the publication) when it is shared.
    ///
    /// # Safety
    /// The caller is the tree's only writer.
    unsafe fn rewrite_node(&mut self, shape: Shape, leaf: bool) -> Result<(), Error> {
        let d = self.depth;
        let f = *self.left.at(d);
        let node = self.node_for(f.node, leaf)?;
        fill_node(&node, shape, leaf, f.min, self.pieces.as_slice());
        let parent = *self.left.at(d - 1);
        if node.ptr() != f.node {
            let enode = Enode::new(node.ptr(), shape, leaf);
            // SAFETY: the only writer links the finished node: the publication.
            unsafe {
                parent
                    .node
                    .publish_slot(self.internal, parent.offset, enode.word())
            };
        }
        if !leaf {
            // SAFETY: the only writer; the node holds `len` children.
            unsafe { adopt_children(node.ptr(), shape, self.pieces.len) };
        }
        node.set_parent(Some((parent.node, parent.offset)));
        if self.tree.kind.tracks_gaps() {
            self.left.at_mut(d).node = node.ptr();
            // SAFETY: the only writer; the path now runs through the node.
            unsafe { gaps::update_upwards(self.left, d) };
        }
        Ok(())
    }

    /// The node to rewrite `old` into: `old` itself when the tree is owned (it is no longer
    /// retired), else a new one.
    fn node_for(&mut self, old: NodePtr, leaf: bool) -> Result<NodeMut, Error> {
        if self.ctx.in_place() {
            self.retired.nodes.retain(|n| *n != old);
            // SAFETY: an in-place context proves that nobody else can see the tree.
            Ok(unsafe { old.private() })
        } else {
            self.take(leaf)
        }
    }

    /// Push before split (the kernel's `mas_push_data`): the pieces overflow one node, so
    /// before splitting, try taking in a sibling under the same parent, the left one first,
    /// when the two fit two nodes with room to spare. The sibling is replaced like the span
    /// (retired, never rewritten: readers may hold it), so the parent keeps its number of
    /// children and the write stops one level up. Returns the two node sizes, with the pieces
    /// and the span's ends then covering the sibling too; None (nothing changed) to split.
    fn push_to_sibling(&mut self, shape: Shape, leaf: bool) -> Option<SplitPlan> {
        let d = self.depth;
        if self.left.at(d).node != self.right_end().at(d).node {
            return None;
        }
        let parent = *self.left.at(d - 1);
        if parent.offset > 0 {
            if let Some(sizes) = self.try_push(parent.offset - 1, shape, leaf) {
                return Some(sizes);
            }
        }
        if parent.offset < parent.end {
            return self.try_push(parent.offset + 1, shape, leaf);
        }
        None
    }

    /// Takes the sibling at `offset` of the span's parent into the pieces when they fit two
    /// nodes together (see [`push_to_sibling`](Self::push_to_sibling)).
    fn try_push(&mut self, offset: usize, shape: Shape, leaf: bool) -> Option<SplitPlan> {
        let d = self.depth;
        let parent = *self.left.at(d - 1);
        let left = offset < parent.offset;
        let sib = parent.child(offset);
        let span_max = self.right_end().at(d).max;
        let n = sib.end + 1;
        if self.pieces.len + n > push_limit(shape, leaf, span_max == u64::MAX) {
            return None;
        }
        // No empty ranges meet: a leaf other than the right-most does not end in one.
        if left {
            self.pieces.prepend_node(&sib);
        } else {
            self.pieces.push_node(&sib);
        }
        let rightmost = if left { span_max } else { sib.max } == u64::MAX;
        let Some(sizes) = push_sizes(self.pieces.as_slice(), shape, leaf, rightmost, left) else {
            if left {
                self.pieces.remove_front(n);
            } else {
                self.pieces.len -= n;
            }
            return None;
        };
        self.retired.nodes.push(sib.node);
        if leaf {
            // The sibling's entries move across: in the leaves replaced and their replacement.
            let moved = count_entries(&sib);
            self.entries_before += moved;
            self.entries_after += moved;
        }
        self.extend_span(d, offset, sib, left);
        Some(sizes)
    }

    /// Moves the span's left end (`left`) or right end at level `d` to `sib`, the child at
    /// `offset` of the span's parent; the other end stays where it is.
    fn extend_span(&mut self, d: usize, offset: usize, sib: Frame, left: bool) {
        if self.right.is_none() {
            *self.right = Some(self.left.clone());
        }
        let end = if left {
            &mut *self.left
        } else {
            self.right.as_mut().expect("set above")
        };
        end.move_to_sibling(d, offset, sib);
    }

    /// How a level's pieces are cut into nodes when they overflow one: evenly, or packed
    /// full from the left when the store appends at the right edge.
    fn split_plan(&self, shape: Shape, leaf: bool) -> SplitPlan {
        let rightmost = self.right_end().at(self.depth).max == u64::MAX;
        split_sizes(
            self.pieces.as_slice(),
            shape,
            leaf,
            rightmost,
            self.append && rightmost,
        )
    }

    /// Cuts the pieces into new nodes of `sizes` and makes the parent level's pieces from
    /// them: the parent span's slots left of the span, the new nodes, its slots right of it.
    fn split_level(&mut self, shape: Shape, leaf: bool, sizes: &[usize]) -> Result<(), Error> {
        let d = self.depth;
        let span_min = self.left.at(d).min;
        let mut made = Pieces::new();
        let (mut start, mut min) = (0, span_min);
        for &size in sizes {
            let node = self.take(leaf)?;
            let part = &self.pieces.as_slice()[start..start + size];
            let gap = fill_node(&node, shape, leaf, min, part);
            let node_max = part[size - 1].last;
            made.push(node_max, Enode::new(node.ptr(), shape, leaf).word(), gap);
            start += size;
            min = node_max.wrapping_add(1);
        }
        self.lift(&made);
        Ok(())
    }

    /// Replaces the pieces with the parent level's: the slots of the parent span left of this
    /// span, `made`, and its slots right of this span. Children strictly between the span's
    /// ends are covered by the store and retired; so are the parent span's nodes.
    fn lift(&mut self, made: &Pieces) {
        let d = self.depth;
        let pl = *self.left.at(d - 1);
        let pr = *self.right_end().at(d - 1);
        let mut parent = Pieces::new();
        parent.push_slots(&pl, 0..pl.offset);
        for p in made.as_slice() {
            parent.push(p.last, p.word, p.gap);
        }
        if pl.node == pr.node {
            self.cover(&pl, pl.offset + 1..pr.offset);
        } else {
            self.cover(&pl, pl.offset + 1..pl.end + 1);
            self.cover(&pr, 0..pr.offset);
        }
        parent.push_slots(&pr, pr.offset + 1..pr.end + 1);
        self.retired.nodes.push(pl.node);
        if pr.node != pl.node {
            self.retired.nodes.push(pr.node);
        }
        self.pieces.copy_from(&parent);
    }

    /// Retires the children in `slots` of `f`, which the store covers whole.
    fn cover(&mut self, f: &Frame, slots: core::ops::Range<usize>) {
        for i in slots {
            let child = Enode::from_word(f.word(i)).expect("child");
            if !self.retired.nodes.contains(&child.node()) {
                self.retired.subtrees.push((child, f.slot_max(i)));
            }
        }
    }

    /// The span reached the root: empty the tree, shrink it past lone children, rewrite the
    /// root, or grow new levels over the pieces.
    ///
    /// # Safety
    /// The caller is the tree's only writer (a new root is published).
    unsafe fn finish_at_root(&mut self, shape: Shape, leaf: bool) -> Result<(), Error> {
        let old_root = self.root.node();
        let len = self.pieces.len;
        if leaf && len == 1 && self.pieces.get(0).word.is_null() {
            self.retired.nodes.push(old_root);
            // SAFETY: forwarded.
            unsafe { self.tree.set_root(None, 0) };
            return Ok(());
        }
        if !leaf && len == 1 {
            self.retired.nodes.push(old_root);
            let child = Enode::from_word(self.pieces.get(0).word).expect("child");
            // SAFETY: forwarded.
            unsafe { self.shrink_root(child, self.tree.height() - 1) };
            return Ok(());
        }
        if len <= shape.slots() {
            // SAFETY: forwarded.
            return unsafe { self.rewrite_root(shape, leaf) };
        }
        self.retired.nodes.push(old_root);
        // SAFETY: forwarded.
        unsafe { self.grow_root(shape, leaf) }
    }

    /// Makes `child` (at `height`) the root, going down past nodes with a single child; an
    /// only leaf holding nothing but empty space leaves an empty tree.
    ///
    /// # Safety
    /// The caller is the tree's only writer.
    unsafe fn shrink_root(&mut self, mut child: Enode, mut height: usize) {
        while !child.is_leaf() {
            let node = child.node();
            let count = (0..self.internal.slots())
                .take_while(|&i| !node.slot(self.internal, i).is_null())
                .count();
            if count != 1 {
                break;
            }
            self.retired.nodes.push(node);
            child = Enode::from_word(node.slot(self.internal, 0)).expect("child");
            height -= 1;
        }
        if child.is_leaf() {
            let leaf = child.node();
            let only_empty =
                leaf.slot(Shape::Range, 0).is_null() && leaf.end(Shape::Range, u64::MAX) == 0;
            if only_empty {
                self.retired.nodes.push(leaf);
                // SAFETY: forwarded.
                unsafe { self.tree.set_root(None, 0) };
                return;
            }
        }
        // SAFETY: forwarded; `child` is a complete subtree of the tree.
        unsafe { self.tree.set_root(Some(child), height) };
    }

    /// The pieces fit one node: the new root (the old one, rewritten, when the tree is owned).
    ///
    /// # Safety
    /// The caller is the tree's only writer.
    unsafe fn rewrite_root(&mut self, shape: Shape, leaf: bool) -> Result<(), Error> {
        let old_root = self.root.node();
        if !self.ctx.in_place() {
            self.retired.nodes.push(old_root);
        }
        let node = self.node_for(old_root, leaf)?;
        fill_node(&node, shape, leaf, 0, self.pieces.as_slice());
        if !leaf {
            // SAFETY: the only writer; the node holds `len` children.
            unsafe { adopt_children(node.ptr(), shape, self.pieces.len) };
        }
        let root = Enode::new(node.ptr(), shape, leaf);
        // SAFETY: the only writer publishes the complete root.
        unsafe { self.tree.set_root(Some(root), self.tree.height()) };
        Ok(())
    }

    /// Splits the pieces, and keeps adding levels until one node holds them all: the new
    /// root.
    ///
    /// # Safety
    /// The caller is the tree's only writer.
    unsafe fn grow_root(&mut self, shape: Shape, leaf: bool) -> Result<(), Error> {
        let mut height = self.tree.height();
        let mut level: Vec<Piece> = self.pieces.as_slice().to_vec();
        let (mut level_leaf, mut level_shape) = (leaf, shape);
        loop {
            let sizes = split_sizes(&level, level_shape, level_leaf, true, self.append);
            let mut next = Vec::with_capacity(sizes.len());
            let (mut start, mut min) = (0, 0u64);
            for &size in &sizes {
                let node = self.take(level_leaf)?;
                let part = &level[start..start + size];
                let gap = fill_node(&node, level_shape, level_leaf, min, part);
                let node_max = part[size - 1].last;
                let enode = Enode::new(node.ptr(), level_shape, level_leaf);
                next.push(Piece {
                    last: node_max,
                    word: enode.word(),
                    gap,
                });
                start += size;
                min = node_max.wrapping_add(1);
            }
            height += 1;
            level = next;
            (level_leaf, level_shape) = (false, self.internal);
            if level.len() <= self.internal.slots() {
                let node = self.take(false)?;
                fill_node(&node, self.internal, false, 0, &level);
                let root = Enode::new(node.ptr(), self.internal, false);
                // SAFETY: the only writer publishes the complete new root.
                unsafe { self.tree.set_root(Some(root), height) };
                return Ok(());
            }
        }
    }

    /// A node from the write's supply, remembered for roll-back and for linking its children.
    fn take(&mut self, leaf: bool) -> Result<NodeMut, Error> {
        let node = self.ctx.supply().take()?;
        self.taken.push((node.ptr(), leaf));
        Ok(node)
    }

    /// After the publication: every new internal node adopts its children, and what the write
    /// replaced is disposed of; the entry count is brought up to date. Returns the word for
    /// the caller.
    ///
    /// # Safety
    /// The caller is the tree's only writer, and the write was published.
    unsafe fn publish(&mut self) -> Word {
        for &(node, leaf) in &self.taken {
            if !leaf && !self.retired.nodes.contains(&node) {
                let count = (0..self.internal.slots())
                    .take_while(|&i| !node.slot(self.internal, i).is_null())
                    .count();
                // SAFETY: the only writer; the node holds `count` children.
                unsafe { adopt_children(node, self.internal, count) };
            }
        }
        self.retired.dedup_nodes();
        // A new node that was skipped over (a lone child chain shrunk away) was never linked.
        let taken = &self.taken;
        self.retired.nodes.retain(|n| {
            let new = taken.iter().any(|&(t, _)| t == *n);
            if new {
                // SAFETY: taken by this write and never linked into the tree.
                unsafe { n.free() };
            }
            !new
        });
        // SAFETY: the only writer; the published write unlinked all of it.
        let retired = core::mem::take(&mut self.retired);
        let removed = unsafe { self.ctx.dispose(self.tree, retired) } as isize;
        self.tree
            .add_len(self.entries_after - self.entries_before - removed);
        self.old
    }

    /// Gives back every node the write took and drops what it cloned: nothing of it was
    /// published, so the tree is as it was.
    fn roll_back(&mut self) {
        for &(node, _) in &self.taken {
            // SAFETY: never linked into the tree.
            unsafe { node.free() };
        }
        for &c in &self.clones {
            // SAFETY: clones made by this write and never published.
            unsafe { (self.tree.drop_entry)(c) };
        }
    }
}

/// Entries held by the leaf `f`.
fn count_entries(f: &Frame) -> isize {
    (0..=f.end).filter(|&i| is_entry(f.word(i))).count() as isize
}
