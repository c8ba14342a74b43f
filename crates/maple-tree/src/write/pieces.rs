//! The building blocks of a write: pieces (the slots of a node under construction), filling a
//! node from them, and planning how a level's pieces are cut into nodes.

use smallvec::SmallVec;

use core::mem::MaybeUninit;
use core::ptr;

use super::gaps;
use crate::entry::{is_entry, Word};
use crate::node::{Enode, NodeMut, NodePtr, Shape};
use crate::path::Frame;

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
    pub(crate) len: usize,
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
    pub(crate) fn copy_from(&mut self, other: &Pieces) {
        self.buf[..other.len].copy_from_slice(&other.buf[..other.len]);
        self.len = other.len;
    }
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Piece {
        self.as_slice()[i]
    }
    #[inline]
    pub(crate) fn as_slice(&self) -> &[Piece] {
        // SAFETY: the first `len` pieces were written by `push` or `coalesce_empty`, and
        // `MaybeUninit<Piece>` has the layout of `Piece`.
        unsafe { &*(&self.buf[..self.len] as *const [MaybeUninit<Piece>] as *const [Piece]) }
    }
    pub(crate) fn entries(&self) -> usize {
        self.as_slice().iter().filter(|p| is_entry(p.word)).count()
    }
    #[inline]
    fn as_mut_slice(&mut self) -> &mut [Piece] {
        // SAFETY: as in `as_slice`.
        unsafe { &mut *(&mut self.buf[..self.len] as *mut [MaybeUninit<Piece>] as *mut [Piece]) }
    }
    /// Merges adjacent empty pieces (leaf level).
    pub(crate) fn coalesce_empty(&mut self) {
        let both_empty = |a: &Piece, b: &Piece| a.word.is_null() && b.word.is_null();
        let pieces = self.as_mut_slice();
        // Usually nothing meets: one pass to find out, without moving anything.
        let Some(first) = pieces.windows(2).position(|w| both_empty(&w[0], &w[1])) else {
            return;
        };
        let mut out = first + 1;
        for i in first + 1..pieces.len() {
            let p = pieces[i];
            if both_empty(&pieces[out - 1], &p) {
                pieces[out - 1].last = p.last;
            } else {
                pieces[out] = p;
                out += 1;
            }
        }
        self.len = out;
    }
    /// Inserts every slot of a node before the pieces.
    pub(crate) fn prepend_node(&mut self, f: &Frame) {
        let n = f.end + 1;
        self.buf.copy_within(0..self.len, n);
        for i in 0..n {
            let p = Piece {
                last: f.slot_max(i),
                word: f.word(i),
                gap: slot_gap(f, i),
            };
            self.buf[i] = MaybeUninit::new(p);
        }
        self.len += n;
    }
    /// Removes the first `n` pieces.
    pub(crate) fn remove_front(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
    /// Appends every slot of a node.
    pub(crate) fn push_node(&mut self, f: &Frame) {
        for i in 0..=f.end {
            self.push(f.slot_max(i), f.word(i), slot_gap(f, i));
        }
    }
    /// Appends slots `range` of a node.
    pub(crate) fn push_slots(&mut self, f: &Frame, range: core::ops::Range<usize>) {
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
pub(crate) fn fill_node(
    node: &NodeMut,
    shape: Shape,
    leaf: bool,
    min: u64,
    pieces: &[Piece],
) -> u64 {
    node.write_slots(
        shape,
        pieces.len(),
        |i| pieces[i].last,
        |i| pieces[i].word,
        |i| pieces[i].gap,
    );
    if leaf {
        gaps::pieces_max_gap(min, pieces)
    } else {
        pieces.iter().map(|p| p.gap).max().unwrap_or(0)
    }
}

/// Links each child of `node` under it (after the publication).
///
/// # Safety
/// The caller is the tree's only writer, and `node` holds `count` live children.
pub(crate) unsafe fn adopt_children(node: NodePtr, shape: Shape, count: usize) {
    for i in 0..count {
        if let Some(child) = Enode::from_word(node.slot(shape, i)) {
            // SAFETY: the caller is the only writer.
            unsafe { child.node().publish_parent(Some((node, i))) };
        }
    }
}

/// Node sizes for a split: a handful of nodes at most, so kept inline.
pub(crate) type SplitPlan = SmallVec<[usize; 8]>;

/// Most pieces a node and its sibling may hold together for the pieces to be pushed into
/// the sibling rather than split: two nodes' worth less one slot, less one more for leaves
/// and one more when the span is the right-most node of its level (the kernel's
/// `mas_push_data`), so both nodes keep room and a later store does not split three ways.
pub(crate) fn push_limit(shape: Shape, leaf: bool, rightmost: bool) -> usize {
    2 * shape.slots() - 1 - usize::from(leaf) - usize::from(rightmost)
}

/// Cuts the pieces of a node and its sibling into two nodes: the sibling's side takes one
/// slot less than a full node (`sibling_left`: the left node), the other side the rest, moved
/// by one slot when a leaf would otherwise end in an empty range. None when no such cut
/// makes two valid nodes (then the caller splits).
pub(crate) fn push_sizes(
    pieces: &[Piece],
    shape: Shape,
    leaf: bool,
    rightmost: bool,
    sibling_left: bool,
) -> Option<SplitPlan> {
    let (n, cap, min) = (pieces.len(), shape.slots(), shape.min_slots());
    let full = cap - 1;
    let a = if sibling_left {
        full
    } else {
        n.checked_sub(full)?
    };
    let valid = |a: usize| {
        let b = n.checked_sub(a)?;
        let ok = (min..=cap).contains(&a)
            && b <= cap
            && (rightmost || b >= min)
            && b > 0
            && !(leaf && pieces[a - 1].word.is_null());
        ok.then(|| SplitPlan::from_slice(&[a, b]))
    };
    [a, a + 1, a.wrapping_sub(1)].into_iter().find_map(valid)
}

/// Plans how `n` pieces are cut into nodes: returns the sizes.
pub(crate) fn split_sizes(
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
