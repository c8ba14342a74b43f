//! Gap tracking (allocation trees) and the free-range search.
//!
//! In an allocation tree every internal slot records the size of the largest empty range in
//! the child's subtree, and the node's meta word names its largest slot. The search descends
//! only into children whose recorded gap can hold the request, so it costs O(height) node
//! visits however many entries the tree holds. Plain trees keep no gaps: the same search then
//! treats every child as a candidate and scans.

use crate::node::{Enode, NodePtr, Shape};
use crate::path::{Frame, Path};
use crate::raw::RawTree;
use crate::write::Piece;
use crate::Error;

/// Number of indices in `[s, e]`, saturating at `u64::MAX` for the full key space.
#[inline]
pub(crate) fn span_len(s: u64, e: u64) -> u64 {
    (e - s).saturating_add(1)
}

/// Largest empty range among leaf pieces starting at `min`.
pub(crate) fn pieces_max_gap(min: u64, pieces: &[Piece]) -> u64 {
    let mut start = min;
    let mut best = 0;
    for p in pieces {
        if p.word.is_null() {
            best = best.max(span_len(start, p.last));
        }
        start = p.last.wrapping_add(1);
    }
    best
}

/// Largest empty range in the node of `f` (computed for leaves, recorded for arange nodes).
pub(crate) fn node_max_gap(f: &Frame) -> u64 {
    if f.leaf {
        (0..=f.end)
            .filter(|&i| f.word(i).is_null())
            .map(|i| span_len(f.slot_min(i), f.slot_max(i)))
            .max()
            .unwrap_or(0)
    } else if f.shape == Shape::Arange {
        f.node.gap(f.node.meta().1)
    } else {
        u64::MAX
    }
}

/// After the node at `depth` of `path` changed, records its gap in its ancestors, stopping
/// where a parent's largest gap does not change (the kernel's `mas_update_gap`).
///
/// # Safety
/// The caller is the tree's only writer, and `path` runs from the root to that node through
/// live nodes.
pub(crate) unsafe fn update_upwards(path: &Path, depth: usize) {
    let f = path.at(depth);
    let mut frame = *f;
    frame.end = frame.node.end(frame.shape, frame.max);
    let mut gap = node_max_gap(&frame);
    for d in (0..depth).rev() {
        let parent = path.at(d);
        let node = parent.node;
        if node.gap(parent.offset) == gap {
            return;
        }
        let before = node.gap(node.meta().1);
        let end = node.meta().0;
        let gap_of = |i: usize| if i == parent.offset { gap } else { node.gap(i) };
        let best = (0..=end).fold(0, |b, i| if gap_of(i) > gap_of(b) { i } else { b });
        // SAFETY: the caller is the only writer; two single-word stores readers may see
        // either way (their gap search takes a gap as a hint and checks the leaf).
        unsafe { node.publish_gap(parent.offset, gap, best) };
        let after = gap_of(best);
        if after == before {
            return;
        }
        gap = after;
    }
}

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
        if self.kind != crate::TreeKind::Alloc {
            return Err(Error::Invalid);
        }
        self.empty_area(lo, hi, size, rev, false)
    }

    /// Whether every index of `[first, last]` is empty (no entry, no zero entry).
    pub(crate) fn is_vacant(&self, first: u64, last: u64) -> bool {
        let (_, hole_end, w) = self.range_at(first);
        w.is_null() && hole_end >= last
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
            let search = Search {
                min,
                max,
                size,
                lockless,
            };
            let found = if rev {
                search.down(root, 0, u64::MAX)
            } else {
                search.up(root, 0, u64::MAX)
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
/// Each node is scanned in one pass over its pivots, one pivot read per slot: walking down
/// (highest hole first) slot `i` ends where slot `i + 1` began, walking up it starts where
/// slot `i - 1` ended. In an allocation tree a child is entered only when its recorded gap
/// can hold the hole; a plain tree has no gaps, so every child meeting the window is a
/// candidate. A child that turns out to hold no fitting hole inside the window sends the
/// scan on to its neighbour.
struct Search {
    min: u64,
    max: u64,
    size: u64,
    lockless: bool,
}

type Found = Result<Option<(u64, u64)>, Replaced>;

impl Search {
    /// The last index of slot `i` of a node covering `[.., node_max]`, for a slot in use.
    #[inline]
    fn slot_last(node: NodePtr, shape: Shape, i: usize, node_max: u64) -> u64 {
        if i < shape.pivots() {
            node.pivot(i)
        } else {
            node_max
        }
    }

    /// Whether a lock-free search must start again: the node was replaced after it was read.
    #[inline]
    fn check(&self, node: NodePtr) -> Result<(), Replaced> {
        if self.lockless && node.is_dead() {
            Err(Replaced)
        } else {
            Ok(())
        }
    }

    /// The highest fitting hole in the subtree of `enode`, which covers `[node_min, node_max]`
    /// and meets the window.
    fn down(&self, enode: Enode, node_min: u64, node_max: u64) -> Found {
        let (node, shape, leaf) = (enode.node(), enode.shape(), enode.is_leaf());
        let top = self.max.min(node_max);
        let mut i = node.offset_of(shape, top);
        if shape == Shape::Arange {
            i = i.min(node.meta().0);
        }
        // `hi` is the end of slot `i` clipped to the window; `last` its real end.
        let mut last = Self::slot_last(node, shape, i, node_max);
        let mut hi = top;
        loop {
            let first = if i == 0 {
                node_min
            } else {
                node.pivot(i - 1) + 1
            };
            let lo = first.max(self.min);
            if hi >= lo && span_len(lo, hi) >= self.size {
                if leaf {
                    if node.slot(shape, i).is_null() {
                        self.check(node)?;
                        return Ok(Some((hi - (self.size - 1), hi)));
                    }
                } else if shape != Shape::Arange || node.gap(i) >= self.size {
                    let child = Enode::from_word(node.slot(shape, i)).expect("child");
                    self.check(node)?;
                    if let Some(found) = self.down(child, first, last)? {
                        return Ok(Some(found));
                    }
                }
            }
            if i == 0 || first <= self.min {
                self.check(node)?;
                return Ok(None);
            }
            i -= 1;
            last = first - 1;
            hi = last;
        }
    }

    /// The lowest fitting hole in the subtree of `enode` (see [`down`](Self::down)).
    fn up(&self, enode: Enode, node_min: u64, node_max: u64) -> Found {
        let (node, shape, leaf) = (enode.node(), enode.shape(), enode.is_leaf());
        let bottom = self.min.max(node_min);
        let end = if shape == Shape::Arange {
            node.meta().0
        } else {
            shape.pivots()
        };
        let mut i = node.offset_of(shape, bottom).min(end);
        let mut first = if i == 0 {
            node_min
        } else {
            node.pivot(i - 1) + 1
        };
        loop {
            let last = Self::slot_last(node, shape, i, node_max);
            let lo = first.max(bottom);
            let hi = last.min(self.max);
            if hi >= lo && span_len(lo, hi) >= self.size {
                if leaf {
                    if node.slot(shape, i).is_null() {
                        self.check(node)?;
                        return Ok(Some((lo, lo + (self.size - 1))));
                    }
                } else if shape != Shape::Arange || node.gap(i) >= self.size {
                    let child = Enode::from_word(node.slot(shape, i)).expect("child");
                    self.check(node)?;
                    if let Some(found) = self.up(child, first, last)? {
                        return Ok(Some(found));
                    }
                }
            }
            // The last slot in use ends at the node's maximum.
            if i >= end || last >= node_max || last >= self.max {
                self.check(node)?;
                return Ok(None);
            }
            i += 1;
            first = last + 1;
        }
    }
}
