//! The free-range search of allocation trees (the kernel's `mas_empty_area{,_rev}`).
//!
//! In an allocation tree every internal slot records the size of the largest empty range in
//! the child's subtree, and the node's meta word names its largest slot (writes keep them
//! current: see `write::gaps`). The search descends
//! only into children whose recorded gap can hold the request, so it costs O(height) node
//! visits however many entries the tree holds. Plain trees keep no gaps: the same search then
//! treats every child as a candidate and scans.

use core::mem::MaybeUninit;

use crate::node::{Enode, NodePtr, Shape, Words, MAX_HEIGHT};
use crate::raw::RawTree;
use crate::Error;

impl RawTree {
    /// Where an allocation of `size` would go: [`Error::Invalid`] on a plain tree, as in the
    /// kernel (`mtree_alloc_range` needs `MT_FLAGS_ALLOC_RANGE`).
    pub(crate) fn alloc_hole(
        &self,
        lo: u64,
        hi: u64,
        size: u64,
        rev: bool,
    ) -> Result<(u64, u64), Error> {
        if !self.kind.tracks_gaps() {
            return Err(Error::Invalid);
        }
        self.empty_area(lo, hi, size, rev, false)
    }

    /// The lowest (`rev == false`) or highest empty range of `size` indices inside
    /// `[min, max]`, as `(first, last)` of the placed range.
    ///
    /// With `lockless`, a search that read a replaced node starts again from the root.
    pub(crate) fn empty_area(
        &self,
        min: u64,
        max: u64,
        size: u64,
        rev: bool,
        lockless: bool,
    ) -> Result<(u64, u64), Error> {
        if min > max || size == 0 || max - min < size - 1 {
            return Err(Error::Invalid);
        }
        loop {
            let Some(root) = self.root() else {
                return Ok(if rev {
                    (max - (size - 1), max)
                } else {
                    (min, min + (size - 1))
                });
            };
            let prefetch = self.height() >= PREFETCH_HEIGHT;
            let found = if lockless {
                Search::<true>::new(min, max, size, prefetch).run(root, rev)
            } else {
                Search::<false>::new(min, max, size, prefetch).run(root, rev)
            };
            match found {
                Ok(found) => return found.ok_or(Error::Busy),
                Err(Replaced) => crate::sync::restarted(),
            }
        }
    }
}

/// A lock-free search read a node that a writer had replaced.
struct Replaced;

/// One free-range search: the window `[min, max]` and the size of the hole.
///
/// The search descends without recursion. At each node it takes the first slot, in search
/// order, that could hold the hole inside the window: an empty leaf slot (found), or a child
/// whose recorded gap is large enough (descend; a plain tree records no gaps, so there every
/// child meeting the window is a candidate). Everything passed over on the way down holds no
/// fitting hole, so when a node turns out to hold none either, the window shrinks to exclude
/// it and the scan resumes in its parent, past the slot it came down through. In an
/// allocation tree only a child that straddles the window's edge can turn out empty.
///
/// `LOCKLESS` searches check every node they read for replacement (see
/// [`check`](Self::check)); as a parameter of the type rather than a field, the check costs a
/// search of an exclusively held tree nothing.
struct Search<const LOCKLESS: bool> {
    min: u64,
    max: u64,
    /// The hole's size less one: a hole starting at `s` ends at `s + extent`. (A gap holds
    /// the hole when it is larger than this.)
    extent: u64,
    /// Whether to load a node's lines before reading it: only in trees of at least
    /// [`PREFETCH_HEIGHT`] levels.
    prefetch: bool,
}

/// The height from which a search prefetches the nodes it is about to read. An allocation
/// tree four levels high has at most 1 + 10 + 100 internal nodes over 1,000 leaves, about
/// 280 KB, which stays in a 512 KB L2 cache, where prefetching only adds instructions
/// (under callgrind, 581 per search of a 10^3-entry tree without it, 655 with it). In taller
/// trees the lower levels come from memory: 10^6 searches of size 95 in a 10^6-entry tree took
/// 651 ms without prefetching and 536 ms with it (medians of 7 alternating processes; the
/// kernel's C tree took 718 ms).
const PREFETCH_HEIGHT: usize = 5;

type Found = Result<Option<(u64, u64)>, Replaced>;

/// What one node's scan found.
enum Step {
    /// A hole: `(first, last)` of the placed range.
    Hole(u64, u64),
    /// A child that may hold one: its slot, and the range `[min, max]` it covers.
    Descend(Enode, usize, u64, u64),
    /// No fitting hole inside the window in this node.
    Empty,
}

/// A node on the way down: the node, its minimum, and the slot the search went down through.
type Ancestor = (Enode, u64, usize);

/// The nodes above the one being scanned, root first, indexed by depth: a fixed array, which
/// creating writes nothing to (a `SmallVec` would check on every push whether it had
/// spilled). A search keeps the depth in a local of its own, which stays in a register; kept
/// in a struct beside the array it lived in memory, at about 20 more instructions per search
/// under callgrind.
///
/// Its length is a power of two, and a depth indexes it modulo that length: a search never
/// goes deeper than [`MAX_HEIGHT`], so the modulo changes nothing but lets the compiler drop
/// the bounds check of every descent.
type Ancestors = [MaybeUninit<Ancestor>; ANCESTORS];

/// The length of [`Ancestors`].
const ANCESTORS: usize = MAX_HEIGHT.next_power_of_two();

/// An empty [`Ancestors`].
const NO_ANCESTORS: Ancestors = [const { MaybeUninit::uninit() }; ANCESTORS];

impl<const LOCKLESS: bool> Search<LOCKLESS> {
    #[inline]
    fn new(min: u64, max: u64, size: u64, prefetch: bool) -> Self {
        Search {
            min,
            max,
            extent: size - 1,
            prefetch,
        }
    }

    /// The highest (`rev`) or lowest fitting hole in the tree under `root`.
    #[inline]
    fn run(&mut self, root: Enode, rev: bool) -> Found {
        if rev {
            self.highest(root)
        } else {
            self.lowest(root)
        }
    }

    /// Whether a lock-free search must start again: the node was replaced after it was read.
    #[inline]
    fn check(&self, node: NodePtr) -> Result<(), Replaced> {
        if LOCKLESS && node.is_dead() {
            Err(Replaced)
        } else {
            Ok(())
        }
    }

    /// Whether `[first, last]`, clipped to the window, can hold the hole.
    #[inline]
    fn fits(&self, first: u64, last: u64) -> bool {
        let lo = first.max(self.min);
        let hi = last.min(self.max);
        hi >= lo && hi - lo >= self.extent
    }

    /// The highest first index a hole can have if it ends at or below `top`, if that is
    /// inside the window.
    #[inline]
    fn highest_start(&self, top: u64) -> Option<u64> {
        top.checked_sub(self.extent).filter(|&s| s >= self.min)
    }

    /// [`fits`](Self::fits) for a range that begins at or below `top` and whose end, clipped
    /// to `top`, is its end clipped to the window; `start` is
    /// [`highest_start`](Self::highest_start)`(top)`.
    #[inline]
    fn fits_under(&self, start: u64, first: u64, last: u64) -> bool {
        // With `first <= start`, `first.max(self.min) + self.extent <= top`: no overflow.
        first <= start && first.max(self.min) + self.extent <= last
    }

    /// The highest fitting hole in the tree under `root`.
    #[inline]
    fn highest(&mut self, root: Enode) -> Found {
        let (mut ancestors, mut depth) = (NO_ANCESTORS, 0);
        let (mut enode, mut node_min) = (root, 0);
        // The scan of `enode` starts at slot `from` (or its last slot, if fewer), which ends
        // at `from_last`. A hole found there ends at or below `top`, the window's top inside
        // the node, so it begins at or below `start`; `empty_area` checked that the window
        // holds one hole, so at the root `start` is in the window.
        let (mut from, mut from_last) = (usize::MAX, u64::MAX);
        let mut top = self.max;
        let mut start = self.max - self.extent;
        loop {
            let node = enode.node();
            let step = if enode.is_leaf() {
                // Leaves are never resumed: their scan starts at the top.
                self.leaf_down(node, node_min, from_last, (top, start))
            } else if enode.shape() == Shape::Arange {
                self.arange_down(node, node_min, (from, from_last), (top, start))
            } else {
                self.range_down(node, node_min, from, from_last)
            };
            self.check(node)?;
            match step {
                Step::Hole(first, last) => return Ok(Some((first, last))),
                Step::Descend(child, slot, min, max) => {
                    if self.prefetch {
                        child.prefetch_whole();
                    }
                    ancestors[depth % ANCESTORS].write((enode, node_min, slot));
                    depth += 1;
                    (enode, node_min) = (child, min);
                    (from, from_last) = (usize::MAX, max);
                    // The child passed `fits_under` (`fits` in a plain tree): `max.min(top)`
                    // leaves room for the hole above the window's bottom.
                    top = top.min(max);
                    start = top - self.extent;
                }
                Step::Empty => loop {
                    // Nothing fits at or above `node_min`.
                    if depth == 0 || node_min <= self.min {
                        return Ok(None);
                    }
                    depth -= 1;
                    // SAFETY: each descent wrote the item at the depth it left below it (and
                    // were a tree deeper than `ANCESTORS`, the item would still be one that a
                    // descent wrote).
                    let parent = unsafe { ancestors[depth % ANCESTORS].assume_init() };
                    self.max = node_min - 1;
                    let Some(s) = self.highest_start(self.max) else {
                        return Ok(None);
                    };
                    (top, start) = (self.max, s);
                    let slot;
                    (enode, node_min, slot) = parent;
                    if slot > 0 {
                        (from, from_last) = (slot - 1, self.max);
                        break;
                    }
                },
            }
        }
    }

    /// The lowest fitting hole in the tree under `root` (see [`highest`](Self::highest)).
    fn lowest(&mut self, root: Enode) -> Found {
        // Here an ancestor's second field is its maximum.
        let (mut ancestors, mut depth) = (NO_ANCESTORS, 0);
        let (mut enode, mut node_max) = (root, u64::MAX);
        // The scan of `enode` starts at slot `from`, which begins at `from_first`.
        let (mut from, mut from_first) = self.first_slot_up(root, 0);
        loop {
            match self.scan_up(enode, node_max, from, from_first)? {
                Step::Hole(first, last) => return Ok(Some((first, last))),
                Step::Descend(child, slot, min, max) => {
                    if self.prefetch {
                        child.prefetch_whole();
                    }
                    ancestors[depth % ANCESTORS].write((enode, node_max, slot));
                    depth += 1;
                    (enode, node_max) = (child, max);
                    (from, from_first) = self.first_slot_up(child, min);
                }
                Step::Empty => loop {
                    // Nothing fits at or below `node_max`.
                    if depth == 0 || node_max >= self.max {
                        return Ok(None);
                    }
                    depth -= 1;
                    // SAFETY: each descent wrote the item at the depth it left below it (and
                    // were a tree deeper than `ANCESTORS`, the item would still be one that a
                    // descent wrote).
                    let parent = unsafe { ancestors[depth % ANCESTORS].assume_init() };
                    self.min = node_max + 1;
                    let (child_max, slot) = (node_max, parent.2);
                    (enode, node_max, _) = parent;
                    // The child was not the parent's last slot.
                    if child_max < node_max {
                        (from, from_first) = (slot + 1, self.min);
                        break;
                    }
                },
            }
        }
    }

    /// Where the upward scan of `enode`, which covers `[node_min, ..]`, starts: the slot
    /// holding the window's start, and that slot's first index.
    fn first_slot_up(&self, enode: Enode, node_min: u64) -> (usize, u64) {
        let (node, shape) = (enode.node(), enode.shape());
        let mut i = node.offset_of(shape, self.min.max(node_min));
        if shape == Shape::Arange {
            i = i.min(node.meta().0);
        }
        let first = if i == 0 {
            node_min
        } else {
            node.pivot(i - 1) + 1
        };
        (i, first)
    }

    /// Where the downward scan of a node starts: the slot at or below `from` holding `top`,
    /// the top of the window inside the node.
    ///
    /// A bare pivot scan from the top passes over the slots that begin above `top`, so a
    /// window reaching past the node's data (the common case of a top-down allocator) costs
    /// one step. Unused slots at the top of a node of either shape have zero pivots, which
    /// the same comparison passes over (`p - 1 >= top - 1` says "at or above `top`, or
    /// zero"), so the scan needs no separate search for the node's end.
    ///
    /// Returns the slot and its end, given `from_last`, the end of slot `from`.
    #[inline]
    fn range_top_slot(pivots: Words<'_>, from: usize, from_last: u64, top: u64) -> (usize, u64) {
        let mut i = from.min(pivots.len());
        let mut last = from_last;
        let top_1 = top.saturating_sub(1);
        while i > 0 {
            let p = pivots.int(i - 1);
            if p.wrapping_sub(1) < top_1 {
                break;
            }
            (i, last) = (i - 1, p);
        }
        if i == 0 && top > 0 && pivots.int(0) == 0 {
            // Slot 0 is `[0, 0]`, in use: the scan took it for unused.
            (i, last) = (1, pivots.int(1));
        }
        // A slot's pivot never passes the node's maximum (this keeps a hole inside the
        // node whatever the pivots say).
        (i, last.min(from_last))
    }

    /// The highest empty slot of a leaf covering `[node_min, node_max]` that holds the hole
    /// inside the window, which meets the leaf; the hole ends at or below `top` and so begins
    /// at or below `start`, which is in the window.
    ///
    /// Empty slots are never adjacent, so after one that is too small the scan skips its
    /// neighbour.
    #[inline]
    fn leaf_down(
        &self,
        node: NodePtr,
        node_min: u64,
        node_max: u64,
        (top, start): (u64, u64),
    ) -> Step {
        let (pivots, slots) = (node.pivots(Shape::Range), node.slots(Shape::Range));
        let (mut i, mut last) = Self::range_top_slot(pivots, usize::MAX, node_max, top);
        loop {
            let first = if i == 0 {
                node_min
            } else {
                pivots.int(i - 1) + 1
            };
            let empty = slots.word(i).is_null();
            if empty && self.fits_under(start, first, last) {
                let hi = last.min(top);
                return Step::Hole(hi - self.extent, hi);
            }
            if first <= self.min || i == 0 {
                return Step::Empty;
            }
            if empty && i >= 2 {
                // Slot `i - 1` holds an entry: go straight to `i - 2`.
                i -= 2;
                last = pivots.int(i);
            } else {
                i -= 1;
                last = first - 1;
            }
        }
    }

    /// The highest child of an allocation-tree internal node whose recorded gap can hold the
    /// hole inside the window, at or below slot `from`, which ends at `from_last` (`from`
    /// past the node's last slot stands for that slot, and `from_last` is then the node's
    /// maximum); the node covers `[node_min, ..]` and meets the window. `top` and `start` are
    /// as in [`leaf_down`](Self::leaf_down).
    ///
    /// Below the slot holding the window's top every slot ends under the window, so a slot
    /// whose recorded gap is too small is passed over on its gap alone, without reading its
    /// pivots. (A slot passed over that way may begin below the window, where the scan would
    /// otherwise have stopped: the next candidate then lies wholly below the window and
    /// fails `fits`.)
    #[inline]
    fn arange_down(
        &self,
        node: NodePtr,
        node_min: u64,
        (from, from_last): (usize, u64),
        (top, start): (u64, u64),
    ) -> Step {
        let (pivots, slots, gaps) = (
            node.pivots(Shape::Arange),
            node.slots(Shape::Arange),
            node.gaps(),
        );
        // The slot holding `top`, and its end. The scan of a fresh node starts from its top
        // pivot without reading the meta word for the node's end: that word is in the node's
        // last line, often a line of its own, and waiting for it before the scan could start
        // cost more than walking the zero pivots (10^5 searches of a 10^5-entry tree took
        // 1.10 of the time, medians of 41 rounds; at 10^3, where it is all in cache, 0.97).
        let (mut i, mut last) = if from < pivots.len() {
            // Resumed past a child that turned out empty: the window's top is now the end of
            // the slot below that child's, which is slot `from`.
            (from, from_last)
        } else {
            Self::range_top_slot(pivots, from, from_last, top)
        };
        loop {
            let first = if i == 0 {
                node_min
            } else {
                pivots.int(i - 1) + 1
            };
            if gaps.int(i) > self.extent && self.fits_under(start, first, last) {
                let child = Enode::from_word(slots.word(i)).expect("child");
                if self.prefetch && last > top && i > 0 {
                    // The child straddles the window's top, so its large gap may lie above
                    // the top and the child turn out empty; the search then comes back for a
                    // child further down, most often the next one. Load that one meanwhile.
                    if let Some(next) = Enode::from_word(slots.word(i - 1)) {
                        next.prefetch_whole();
                    }
                }
                return Step::Descend(child, i, first, last);
            }
            if first <= self.min || i == 0 {
                return Step::Empty;
            }
            i -= 1;
            while gaps.int(i) <= self.extent {
                if i == 0 {
                    return Step::Empty;
                }
                i -= 1;
            }
            last = pivots.int(i);
        }
    }

    /// As [`arange_down`](Self::arange_down) in an internal node of a plain tree, which
    /// records no gaps: every child meeting the window is a candidate.
    #[inline]
    fn range_down(&self, node: NodePtr, node_min: u64, from: usize, from_last: u64) -> Step {
        let (pivots, slots) = (node.pivots(Shape::Range), node.slots(Shape::Range));
        let (mut i, mut last) =
            Self::range_top_slot(pivots, from, from_last, from_last.min(self.max));
        loop {
            let first = if i == 0 {
                node_min
            } else {
                pivots.int(i - 1) + 1
            };
            if self.fits(first, last) {
                let child = Enode::from_word(slots.word(i)).expect("child");
                return Step::Descend(child, i, first, last);
            }
            if first <= self.min || i == 0 {
                return Step::Empty;
            }
            i -= 1;
            last = first - 1;
        }
    }

    /// The lowest candidate slot of `enode` at or above slot `from`, which begins at
    /// `from_first`; `enode` covers `[.., node_max]` and meets the window.
    fn scan_up(
        &self,
        enode: Enode,
        node_max: u64,
        from: usize,
        from_first: u64,
    ) -> Result<Step, Replaced> {
        let (node, shape, leaf) = (enode.node(), enode.shape(), enode.is_leaf());
        let end = if shape == Shape::Arange {
            node.meta().0
        } else {
            shape.pivots()
        };
        let (mut i, mut first) = (from, from_first);
        loop {
            // The last slot in use ends at the node's maximum.
            let last = if i < shape.pivots() {
                node.pivot(i)
            } else {
                node_max
            };
            let candidate = if leaf {
                node.slot(shape, i).is_null()
            } else {
                shape != Shape::Arange || node.gap(i) > self.extent
            };
            if candidate && self.fits(first, last) {
                let step = if leaf {
                    let lo = first.max(self.min);
                    Step::Hole(lo, lo + self.extent)
                } else {
                    let child = Enode::from_word(node.slot(shape, i)).expect("child");
                    Step::Descend(child, i, first, last)
                };
                self.check(node)?;
                return Ok(step);
            }
            if i >= end || last >= node_max || last >= self.max {
                break;
            }
            i += 1;
            first = last + 1;
        }
        self.check(node)?;
        Ok(Step::Empty)
    }
}
