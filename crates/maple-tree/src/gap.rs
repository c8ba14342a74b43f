//! Gap tracking (allocation trees) and the free-range search.
//!
//! In an allocation tree every internal slot records the size of the largest empty range in
//! the child's subtree, and the node's meta word names its largest slot. The search descends
//! only into children whose recorded gap can hold the request, so it costs O(height) node
//! visits however many entries the tree holds. Plain trees keep no gaps: the same search then
//! treats every child as a candidate and scans.

use crate::node::Shape;
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
pub(crate) fn update_upwards(path: &Path, depth: usize) {
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
        node.set_gap(parent.offset, gap);
        let end = node.meta().0;
        let best = (0..=end).fold(0, |b, i| if node.gap(i) > node.gap(b) { i } else { b });
        node.set_meta(end, best);
        let after = node.gap(best);
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
            let internal = self.internal_shape();
            let frame = Frame::new(root, internal, 0, u64::MAX);
            let search = Search {
                internal,
                min,
                max,
                size,
                rev,
                lockless,
            };
            match search.run(&frame) {
                Ok(found) => return found.ok_or(Error::Busy),
                Err(Replaced) => crate::sync::restarted(),
            }
        }
    }
}

/// A lock-free search read a node that a writer had replaced.
struct Replaced;

/// One free-range search.
struct Search {
    internal: Shape,
    min: u64,
    max: u64,
    size: u64,
    rev: bool,
    lockless: bool,
}

impl Search {
    fn run(&self, f: &Frame) -> Result<Option<(u64, u64)>, Replaced> {
        let visit = |i: usize| -> Result<Option<(u64, u64)>, Replaced> {
            let (s, e) = (f.slot_min(i), f.slot_max(i));
            if e < self.min || s > self.max {
                return Ok(None);
            }
            let (lo, hi) = (s.max(self.min), e.min(self.max));
            if f.leaf {
                let empty = f.word(i).is_null();
                if self.lockless && f.node.is_dead() {
                    return Err(Replaced);
                }
                if !empty || span_len(lo, hi) < self.size {
                    return Ok(None);
                }
                return Ok(Some(if self.rev {
                    (hi - (self.size - 1), hi)
                } else {
                    (lo, lo + (self.size - 1))
                }));
            }
            if f.shape == Shape::Arange && f.node.gap(i) < self.size {
                return Ok(None);
            }
            let child = f.child(i, self.internal);
            if self.lockless && f.node.is_dead() {
                return Err(Replaced);
            }
            self.run(&child)
        };
        if self.rev {
            for i in (0..=f.end).rev() {
                if let Some(found) = visit(i)? {
                    return Ok(Some(found));
                }
            }
        } else {
            for i in 0..=f.end {
                if let Some(found) = visit(i)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }
}
