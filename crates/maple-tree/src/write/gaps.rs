//! Gap tracking: after a write, each allocation-tree node's recorded largest gap is made
//! current again, from the changed node up to the first ancestor whose largest gap did not
//! change (the kernel's `mas_update_gap`). The free-range search that reads these records is
//! in `gap`, a layer above the write.

use super::Piece;
use crate::node::Shape;
use crate::path::{Frame, Path};

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
