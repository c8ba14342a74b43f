//! The type-erased tree: a root word, the height, the entry count and the tree kind.
//!
//! Entries are raw words here; [`crate::MapleTree`] adds the types. Reads take `&self` and may
//! run concurrently with one writer (shared mode). Writes also take `&self` because lock-free
//! readers must be able to see the root while a write runs; the callers guarantee that there is
//! only ever one writer (`&mut MapleTree`, or the shared tree's writer lock).

use core::ptr;

use crossbeam_utils::CachePadded;

use crate::entry::{is_entry, Word};
use crate::kind::TreeKind;
use crate::node::{Enode, NodePtr, Shape, SpareNodes};
use crate::path::{Frame, Path};
use crate::sync::{const_fn_unless_loom, AtomicPtr, AtomicUsize, Ordering};
use crate::Error;

pub(crate) struct RawTree {
    root: AtomicPtr<()>,
    height: AtomicUsize,
    pub(crate) kind: TreeKind,
    /// Drops an entry word; fixed at construction for the tree's entry type.
    pub(crate) drop_entry: unsafe fn(Word),
    /// Every lookup reads the fields above and every write updates this line. Were they on
    /// one cache line, a writer on another core would take that line from every reader of a
    /// shared tree, write after write.
    owner: CachePadded<OwnerOnly>,
}

impl Drop for RawTree {
    /// The kept frames belong to the tree itself, whatever becomes of its nodes (a duplicate's
    /// working tree hands its root to the finished tree and is dropped).
    fn drop(&mut self) {
        self.owner.spares.free_all();
    }
}

/// What only the owner or the one writer reads and writes.
struct OwnerOnly {
    len: AtomicUsize,
    /// The cyclic allocator passed the top of the key space (`MT_FLAGS_ALLOC_WRAPPED`).
    cyclic_wrapped: core::sync::atomic::AtomicBool,
    /// Frames for the next writes of an owned tree (a shared tree's writer reuses frames
    /// through its reclaimer instead, after their grace period).
    spares: SpareNodes,
}

impl RawTree {
    const_fn_unless_loom! {
        pub(crate) fn new(kind: TreeKind, drop_entry: unsafe fn(Word)) -> RawTree {
            RawTree {
                root: AtomicPtr::new(ptr::null_mut()),
                height: AtomicUsize::new(0),
                kind,
                drop_entry,
                owner: CachePadded::new(OwnerOnly {
                    len: AtomicUsize::new(0),
                    cyclic_wrapped: core::sync::atomic::AtomicBool::new(false),
                    spares: SpareNodes::new(),
                }),
            }
        }
    }

    #[inline]
    pub(crate) fn internal_shape(&self) -> Shape {
        self.kind.internal_shape()
    }
    #[inline]
    pub(crate) fn root(&self) -> Option<Enode> {
        Enode::from_word(self.root.load(Ordering::Acquire))
    }
    /// Publishes a new root (one Release store) with its height.
    ///
    /// # Safety
    /// The caller is the tree's only writer, and `root` is a complete subtree of the tree's
    /// kind (or `None`).
    pub(crate) unsafe fn set_root(&self, root: Option<Enode>, height: usize) {
        if let Some(r) = root {
            // SAFETY: the caller is the only writer.
            unsafe { r.node().publish_parent(None) };
        }
        self.height.store(height, Ordering::Relaxed);
        self.root
            .store(root.map_or(ptr::null_mut(), Enode::word), Ordering::Release);
    }
    #[inline]
    pub(crate) fn height(&self) -> usize {
        self.height.load(Ordering::Relaxed)
    }
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.owner.len.load(Ordering::Relaxed)
    }
    pub(crate) fn add_len(&self, delta: isize) {
        let v = self.len() as isize + delta;
        debug_assert!(v >= 0);
        self.owner.len.store(v as usize, Ordering::Relaxed);
    }
    pub(crate) fn set_len(&self, v: usize) {
        self.owner.len.store(v, Ordering::Relaxed);
    }
    /// Whether the cyclic allocator wrapped since its last successful pass.
    pub(crate) fn cyclic_wrapped(&self) -> bool {
        self.owner
            .cyclic_wrapped
            .load(core::sync::atomic::Ordering::Relaxed)
    }
    pub(crate) fn set_cyclic_wrapped(&self, wrapped: bool) {
        self.owner
            .cyclic_wrapped
            .store(wrapped, core::sync::atomic::Ordering::Relaxed);
    }

    /// Where `alloc_cyclic` puts its next index: the lowest empty index in `[max(next, lo),
    /// hi]`, else the lowest in `[lo, hi]` (a wrap). Returns the index and whether this is a
    /// wrap, including one the previous allocation made by passing the top of the key space
    /// (which this clears, as the kernel's `mas_alloc_cyclic` does).
    pub(crate) fn cyclic_slot(&self, lo: u64, hi: u64, next: u64) -> Result<(u64, bool), Error> {
        let start = next.max(lo);
        let first = if start <= hi {
            self.empty_area(start, hi, 1, false, false)
        } else {
            Err(Error::Busy)
        };
        match first {
            Ok((index, _)) => {
                let wrapped = self.cyclic_wrapped();
                self.set_cyclic_wrapped(false);
                Ok((index, wrapped))
            }
            Err(Error::Busy) if start > lo => {
                let (index, _) = self.empty_area(lo, hi, 1, false, false)?;
                Ok((index, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Fast lookup of the leaf slot holding `index`, no path kept: `Some(None)` for an empty
    /// tree, `Some(Some((leaf, offset, word)))` otherwise. With `check_dead` (shared trees),
    /// every node is checked after it was read and `None` means a replaced node was met: the
    /// caller retries.
    #[inline]
    pub(crate) fn lookup(
        &self,
        index: u64,
        check_dead: bool,
    ) -> Option<Option<(NodePtr, usize, Word)>> {
        let Some(mut enode) = self.root() else {
            return Some(None);
        };
        loop {
            let node = enode.node();
            if enode.is_leaf() {
                // Leaves are always range nodes: the scan is compiled for their 15 pivots.
                let offset = node.offset_of(Shape::Range, index);
                let word = node.slot(Shape::Range, offset);
                if check_dead && node.is_dead() {
                    return None;
                }
                return Some(Some((node, offset, word)));
            }
            let shape = enode.shape();
            let offset = node.offset_of(shape, index);
            let word = node.slot(shape, offset);
            if check_dead && node.is_dead() {
                return None;
            }
            enode = Enode::from_word(word)?;
            enode.prefetch();
        }
    }

    /// Whether every index of `[first, last]` is empty (no entry, no zero entry).
    pub(crate) fn is_vacant(&self, first: u64, last: u64) -> bool {
        let (_, hole_end, w) = self.range_at(first);
        w.is_null() && hole_end >= last
    }

    /// A path to the leaf slot holding `index` (empty path for an empty tree).
    pub(crate) fn path_to(&self, index: u64) -> Path {
        let mut p = Path::empty();
        p.descend(self.root(), index, usize::MAX);
        p
    }

    /// The range and word holding `index`; with `lockless`, read from live nodes only.
    pub(crate) fn range_at_checked(&self, index: u64, lockless: bool) -> (u64, u64, Word) {
        if !lockless {
            return self.range_at(index);
        }
        let p = self.live_path_to(index);
        if p.is_empty() {
            return (0, u64::MAX, ptr::null_mut());
        }
        p.current()
    }

    /// A path to `index` read entirely from nodes that were live when read: a lock-free
    /// reader's walk, repeated while it meets replaced nodes.
    pub(crate) fn live_path_to(&self, index: u64) -> Path {
        loop {
            let p = self.path_to(index);
            if !p.any_dead() {
                return p;
            }
            crate::sync::restarted();
        }
    }

    /// The range and word holding `index` (owner or writer only: no dead-node checks). Like
    /// [`lookup`](Self::lookup) it keeps no path, only the bounds of the slot it is in.
    pub(crate) fn range_at(&self, index: u64) -> (u64, u64, Word) {
        let Some(mut enode) = self.root() else {
            return (0, u64::MAX, ptr::null_mut());
        };
        let (mut min, mut max) = (0, u64::MAX);
        loop {
            let (leaf, shape) = (enode.is_leaf(), enode.shape());
            let node = enode.node();
            let offset = node.offset_of(shape, index);
            // The slot's bounds: the previous pivot + 1, and its own pivot, except that the
            // last slot of a full node has no pivot and ends at the node's maximum.
            if offset > 0 {
                min = node.pivot(offset - 1) + 1;
            }
            if offset < shape.pivots() {
                max = node.pivot(offset);
            }
            let word = node.slot(shape, offset);
            if leaf {
                return (min, max, word);
            }
            enode = Enode::from_word(word).expect("internal slot holds a child");
            enode.prefetch();
        }
    }

    /// Visits every node in depth-first pre-order with its frame and depth.
    pub(crate) fn for_each_node(&self, mut f: impl FnMut(&Frame, usize)) {
        fn rec(frame: &Frame, depth: usize, f: &mut impl FnMut(&Frame, usize)) {
            f(frame, depth);
            if !frame.leaf {
                for i in 0..=frame.end {
                    rec(&frame.child(i), depth + 1, f);
                }
            }
        }
        if let Some(root) = self.root() {
            rec(&Frame::new(root, 0, u64::MAX), 0, &mut f);
        }
    }

    pub(crate) fn node_count(&self) -> usize {
        let mut n = 0;
        self.for_each_node(|_, _| n += 1);
        n
    }

    /// Frees every node but leaves the entries alone: their ownership was taken elsewhere.
    /// `&mut`: nobody else may see the tree.
    pub(crate) fn free_nodes_keep_entries(&mut self) {
        self.owner.spares.free_all();
        fn rec(frame: &Frame) {
            if !frame.leaf {
                for i in 0..=frame.end {
                    rec(&frame.child(i));
                }
            }
            // SAFETY: the tree is being dismantled by its owner; nothing links here afterwards.
            unsafe { frame.node.free() };
        }
        if let Some(root) = self.root() {
            rec(&Frame::new(root, 0, u64::MAX));
        }
        // SAFETY: `&mut self`: the only writer dismantles the tree.
        unsafe { self.set_root(None, 0) };
        self.set_len(0);
    }

    /// Frees every node and drops every entry now. `&mut`: nobody else may see the tree.
    pub(crate) fn destroy_now(&mut self) {
        self.owner.spares.free_all();
        self.set_cyclic_wrapped(false);
        if let Some(root) = self.root() {
            destroy_subtree(root, u64::MAX, self.drop_entry);
        }
        // SAFETY: as above.
        unsafe { self.set_root(None, 0) };
        self.set_len(0);
    }
}

/// A drop function that leaves the entry alone: for freeing nodes whose entries are owned
/// elsewhere.
///
/// # Safety
/// Always safe; `unsafe` only to match the drop functions it stands in for.
pub(crate) unsafe fn keep_word(_: Word) {}

/// Frees a detached subtree and drops its entries; returns how many entries it held.
pub(crate) fn destroy_subtree(enode: Enode, max: u64, drop_entry: unsafe fn(Word)) -> usize {
    destroy_subtree_except(enode, max, drop_entry, &[])
}

/// As [`destroy_subtree`], but leaves the nodes in `keep` (and everything below them) alone:
/// a write copied their contents into new nodes and disposes of them itself.
pub(crate) fn destroy_subtree_except(
    enode: Enode,
    max: u64,
    drop_entry: unsafe fn(Word),
    keep: &[NodePtr],
) -> usize {
    let frame = Frame::new(enode, 0, max);
    let mut entries = 0;
    for i in 0..=frame.end {
        let w = frame.word(i);
        if frame.leaf {
            if is_entry(w) {
                entries += 1;
                // SAFETY: the subtree is detached, so this slot's entry is owned here and dropped once.
                unsafe { drop_entry(w) };
            }
        } else if let Some(child) = Enode::from_word(w) {
            if !keep.contains(&child.node()) {
                entries += destroy_subtree_except(child, frame.slot_max(i), drop_entry, keep);
            }
        }
    }
    // SAFETY: detached: no link to the node remains and the caller guarantees no reader.
    unsafe { frame.node.free() };
    entries
}

/// Counts the entries of a subtree (outside `keep`) and marks its nodes dead, without freeing
/// anything: shared mode, before deferring its destruction.
///
/// # Safety
/// The caller is the tree's only writer and unlinked the subtree.
pub(crate) unsafe fn count_and_mark_dead(enode: Enode, max: u64, keep: &[NodePtr]) -> usize {
    let frame = Frame::new(enode, 0, max);
    let mut entries = 0;
    for i in 0..=frame.end {
        let w = frame.word(i);
        if frame.leaf {
            entries += usize::from(is_entry(w));
        } else {
            let child = Enode::from_word(w).expect("child");
            if !keep.contains(&child.node()) {
                // SAFETY: part of the unlinked subtree (the caller's guarantee).
                entries += unsafe { count_and_mark_dead(child, frame.slot_max(i), keep) };
            }
        }
    }
    // SAFETY: as above.
    unsafe { frame.node.mark_dead() };
    entries
}

impl RawTree {
    /// The frames an owned tree's writes unlinked, kept for its next writes.
    pub(crate) fn spare_nodes(&self) -> &SpareNodes {
        &self.owner.spares
    }
    #[cfg(all(test, not(loom)))]
    pub(crate) fn spares(&self) -> usize {
        self.owner.spares.len()
    }
}
