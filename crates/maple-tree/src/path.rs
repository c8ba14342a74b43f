//! Walking: a stack of frames from the root to a leaf slot.
//!
//! A [`Path`] records, for each level, the node, the range it covers and the offset taken.
//! Readers, cursors, iterators and writers all navigate with it: a lookup descends once;
//! `next`/`prev` move along the leaf and climb only as far as needed, so a full iteration is
//! amortised O(1) per entry.

use core::mem::MaybeUninit;

use crate::entry::Word;
use crate::node::{Enode, NodePtr, Shape, MAX_HEIGHT};

/// One level of a path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    pub(crate) node: NodePtr,
    pub(crate) min: u64,
    pub(crate) max: u64,
    pub(crate) offset: usize,
    pub(crate) end: usize,
    pub(crate) shape: Shape,
    pub(crate) leaf: bool,
}

impl Frame {
    pub(crate) fn new(enode: Enode, min: u64, max: u64) -> Frame {
        let leaf = enode.is_leaf();
        let shape = enode.shape();
        let node = enode.node();
        Frame {
            node,
            min,
            max,
            offset: 0,
            end: node.end(shape, max),
            shape,
            leaf,
        }
    }

    /// First index of slot `i`.
    #[inline]
    pub(crate) fn slot_min(&self, i: usize) -> u64 {
        if i == 0 {
            self.min
        } else {
            self.node.pivot(i - 1) + 1
        }
    }
    /// Last index of slot `i`.
    #[inline]
    pub(crate) fn slot_max(&self, i: usize) -> u64 {
        self.node.pivot_or_max(i, self.end, self.max)
    }
    #[inline]
    pub(crate) fn word(&self, i: usize) -> Word {
        self.node.slot(self.shape, i)
    }
    /// The child frame at slot `i` (internal nodes only).
    #[inline]
    pub(crate) fn child(&self, i: usize) -> Frame {
        let enode = Enode::from_word(self.word(i)).expect("internal slot holds a child");
        Frame::new(enode, self.slot_min(i), self.slot_max(i))
    }
}

/// Frames from the root (index 0) down to a leaf (index `len - 1`).
///
/// The frame array is left uninitialised past `len`, so creating a path costs nothing: trees
/// are rarely more than a handful of levels deep, while the array has room for the kernel's
/// maximum height.
pub(crate) struct Path {
    frames: [MaybeUninit<Frame>; MAX_HEIGHT],
    len: usize,
}

impl Clone for Path {
    fn clone(&self) -> Path {
        let mut p = Path::empty();
        p.frames[..self.len].copy_from_slice(&self.frames[..self.len]);
        p.len = self.len;
        p
    }
}

impl Path {
    #[inline]
    pub(crate) fn empty() -> Path {
        Path {
            // SAFETY: an array of `MaybeUninit` needs no initialisation (the idiom from the
            // `MaybeUninit` docs); unlike `[MaybeUninit::uninit(); N]` it compiles to nothing.
            frames: unsafe { MaybeUninit::uninit().assume_init() },
            len: 0,
        }
    }
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline]
    pub(crate) fn at(&self, depth: usize) -> &Frame {
        assert!(depth < self.len, "frame within path");
        // SAFETY: frames below `len` were written by `push` (the only place `len` grows).
        unsafe { self.frames[depth].assume_init_ref() }
    }
    #[inline]
    pub(crate) fn at_mut(&mut self, depth: usize) -> &mut Frame {
        assert!(depth < self.len, "frame within path");
        // SAFETY: as in `at`.
        unsafe { self.frames[depth].assume_init_mut() }
    }
    #[inline]
    pub(crate) fn leaf(&self) -> &Frame {
        self.at(self.len - 1)
    }
    #[inline]
    pub(crate) fn leaf_mut(&mut self) -> &mut Frame {
        let d = self.len - 1;
        self.at_mut(d)
    }
    #[inline]
    fn push(&mut self, f: Frame) {
        self.frames[self.len] = MaybeUninit::new(f);
        self.len += 1;
    }
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Turns the path into one to `sibling`, the child at `offset` of the node at
    /// `depth - 1`: the levels below `depth` are dropped.
    pub(crate) fn move_to_sibling(&mut self, depth: usize, offset: usize, sibling: Frame) {
        assert!(depth > 0 && depth < self.len, "a sibling within the path");
        self.len = depth + 1;
        self.at_mut(depth - 1).offset = offset;
        *self.at_mut(depth) = sibling;
    }

    /// Descends from `root` to the leaf slot holding `index`, stopping after `max_depth`
    /// levels (use `usize::MAX` for a full walk).
    pub(crate) fn descend(&mut self, root: Option<Enode>, index: u64, max_depth: usize) {
        self.clear();
        let Some(root) = root else { return };
        let (mut enode, mut min, mut max) = (root, 0, u64::MAX);
        loop {
            let (leaf, shape) = (enode.is_leaf(), enode.shape());
            let node = enode.node();
            // One scan finds both the slot holding `index` and the node's last used slot.
            let (offset, end) = node.offset_and_end(shape, index, max);
            let frame = Frame {
                node,
                min,
                max,
                offset,
                end,
                shape,
                leaf,
            };
            self.push(frame);
            if leaf || self.len == max_depth {
                return;
            }
            let child_min = frame.slot_min(offset);
            max = frame.slot_max(offset);
            min = child_min;
            enode = Enode::from_word(frame.word(offset)).expect("internal slot holds a child");
            enode.prefetch();
        }
    }

    /// Re-descends from level `depth` (whose offset is already set) to the left-most
    /// (`rightmost == false`) or right-most leaf slot below it.
    fn descend_edge(&mut self, depth: usize, rightmost: bool) {
        debug_assert!(depth < self.len);
        self.len = depth + 1;
        let mut frame = *self.at(depth);
        while !frame.leaf {
            let mut child = frame.child(frame.offset);
            child.offset = if rightmost { child.end } else { 0 };
            self.push(child);
            if child.leaf {
                // A walk goes on to the leaf after this one: start loading it now, so that
                // the load overlaps the work on this leaf's entries.
                let next = if rightmost {
                    frame.offset.checked_sub(1)
                } else {
                    Some(frame.offset + 1).filter(|&o| o <= frame.end)
                };
                if let Some(leaf) = next.and_then(|o| Enode::from_word(frame.word(o))) {
                    leaf.prefetch_whole();
                }
            }
            frame = child;
        }
    }

    /// Moves to the next leaf slot. Returns false (and leaves the path unchanged) at the end.
    #[inline]
    pub(crate) fn next_slot(&mut self) -> bool {
        let d = self.len - 1;
        let leaf = self.at_mut(d);
        if leaf.offset < leaf.end {
            leaf.offset += 1;
            return true;
        }
        self.next_leaf()
    }

    /// Moves to the first slot of the next leaf.
    #[cold]
    fn next_leaf(&mut self) -> bool {
        let mut depth = self.len;
        while depth > 0 {
            depth -= 1;
            let f = self.at_mut(depth);
            if f.offset < f.end {
                f.offset += 1;
                self.descend_edge(depth, false);
                return true;
            }
        }
        false
    }

    /// Moves to the previous leaf slot. Returns false (path unchanged) at the start.
    #[inline]
    pub(crate) fn prev_slot(&mut self) -> bool {
        let d = self.len - 1;
        let leaf = self.at_mut(d);
        if leaf.offset > 0 {
            leaf.offset -= 1;
            return true;
        }
        self.prev_leaf()
    }

    /// Moves to the last slot of the previous leaf.
    #[cold]
    fn prev_leaf(&mut self) -> bool {
        let mut depth = self.len;
        while depth > 0 {
            depth -= 1;
            let f = self.at_mut(depth);
            if f.offset > 0 {
                f.offset -= 1;
                self.descend_edge(depth, true);
                return true;
            }
        }
        false
    }

    /// The leaf slot's range and word.
    #[inline]
    pub(crate) fn current(&self) -> (u64, u64, Word) {
        let leaf = self.leaf();
        (
            leaf.slot_min(leaf.offset),
            leaf.slot_max(leaf.offset),
            leaf.word(leaf.offset),
        )
    }

    /// Whether any node on the path was replaced since it was read (shared trees only).
    pub(crate) fn any_dead(&self) -> bool {
        (0..self.len).any(|d| self.at(d).node.is_dead())
    }
}
