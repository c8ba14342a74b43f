//! Raw 256-byte nodes: the only module that reads or writes node memory.
//!
//! Every node is one 256-byte block, 16-byte aligned: a parent word followed by 31 data
//! words. How the data words are used depends on the node's [`Shape`]:
//!
//! | shape    | used for                                   | pivots | slots | gaps | meta |
//! |----------|--------------------------------------------|--------|-------|------|------|
//! | `Range`  | every leaf, internal nodes of plain trees  | 15     | 16    | –    | –    |
//! | `Arange` | internal nodes of allocation trees         | 9      | 10    | 10   | 1    |
//!
//! A node does not record its own shape: a node pointer stored in a parent slot (or in the
//! tree root) is *encoded* with a leaf bit, and the tree kind decides between the two
//! internal shapes. Readers therefore never need the tree height to know where they are.
//!
//! Range nodes do not store their length either. As in the kernel, the pivot of the last
//! used slot equals the node's maximum (unless all 16 slots are used, the last one having
//! the implied maximum) and pivots after it are zero, so a lookup can scan pivots without
//! knowing the end, and the end can be recomputed from the node's maximum. Arange nodes keep
//! `end` and the offset of their largest gap in a meta word.
//!
//! The parent word holds the parent node's address with the slot number in its low four bits;
//! a root node has a null parent address. A node whose parent address is its own address is
//! *dead*: it has been replaced and is waiting to be freed (see `rcu`).
//!
//! # Safety
//!
//! [`NodePtr`] is a plain pointer. The invariant every caller upholds is: a `NodePtr` is only
//! dereferenced while the node it names is allocated, which holds because nodes are freed
//! only by [`NodePtr::free`] (an `unsafe fn`) once they are unreachable from the tree, and in
//! shared mode only after every reader that could still hold the pointer has unpinned.
//! All node fields are atomics, so a concurrent reader and the single writer never race on
//! plain memory.

use core::ptr::{self, NonNull};

use crate::entry::Word;
use crate::sync::{fence, AtomicPtr, Ordering};

#[cfg(not(loom))]
use alloc::alloc::{alloc_zeroed, dealloc, Layout};

/// Slots of a range (leaf or plain internal) node.
pub(crate) const RANGE_SLOTS: usize = 16;
/// Slots of an allocation-tree internal node.
pub(crate) const ARANGE_SLOTS: usize = 10;
/// Bytes in every node.
pub const NODE_SIZE: usize = 256;
/// Every node's alignment. A node address's low four bits carry a slot number in a child's
/// parent word (and the node's kind in an encoded pointer), so 16 is the least that works. It
/// is also the most that Rust's `System` allocator serves with plain `malloc` on Linux: larger
/// alignments go through `posix_memalign`, which in glibc takes about 600 more instructions
/// for a 256-byte alignment and puts nodes 512 bytes apart instead of 272. (The kernel's nodes
/// are 256-aligned, as its node type lives in the low byte; its slab aligns them for free.)
pub const NODE_ALIGN: usize = 16;
/// The deepest tree we support (the kernel's `MAPLE_HEIGHT_MAX`).
pub(crate) const MAX_HEIGHT: usize = 31;

const DATA_WORDS: usize = 31;
const LEAF_BIT: usize = 1;
/// Set in the encoded pointer of an allocation-tree internal node.
const ARANGE_BIT: usize = 2;
const SLOT_MASK: usize = NODE_ALIGN - 1;
const _: () = assert!(
    RANGE_SLOTS <= NODE_ALIGN,
    "a slot number fits in the low bits"
);

#[repr(C, align(16))]
pub(crate) struct Node {
    parent: AtomicPtr<Node>,
    /// Pivots, gaps and meta are integers kept as pointers without provenance; slots are
    /// real pointers (children, or entries' own bytes), so their provenance survives.
    data: [AtomicPtr<()>; DATA_WORDS],
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Node>() == NODE_SIZE);
const _: () = assert!(core::mem::align_of::<Node>() == NODE_ALIGN);
#[cfg(not(target_pointer_width = "64"))]
compile_error!("maple-tree supports 64-bit targets only");

/// How a node's data words are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// 15 pivots, 16 slots: leaves, and internal nodes of plain trees.
    Range,
    /// 9 pivots, 10 slots, 10 gaps, meta: internal nodes of allocation trees.
    Arange,
}

impl Shape {
    #[inline]
    pub(crate) const fn slots(self) -> usize {
        match self {
            Shape::Range => RANGE_SLOTS,
            Shape::Arange => ARANGE_SLOTS,
        }
    }
    #[inline]
    pub(crate) const fn pivots(self) -> usize {
        self.slots() - 1
    }
    #[inline]
    const fn slot_base(self) -> usize {
        self.pivots()
    }
    /// Fewest slots a node may use unless it is the root or the right-most node of its
    /// level (the kernel's `mt_min_slots` plus one).
    #[inline]
    pub(crate) const fn min_slots(self) -> usize {
        match self {
            Shape::Range => 7,
            Shape::Arange => 5,
        }
    }
}

const GAP_BASE: usize = 19;
const META: usize = 29;

/// A pointer to a live node. See the module docs for the invariant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct NodePtr(NonNull<Node>);

/// A node pointer as stored in a parent slot or in the root: the address plus the node's kind
/// in its low bits (leaf, or internal of which shape), as the kernel encodes its node type.
/// Whoever holds one knows how to read the node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Enode(NonNull<Node>);

impl Enode {
    /// Encodes `node`: a leaf (always [`Shape::Range`]) or an internal node of `shape`.
    #[inline]
    pub(crate) fn new(node: NodePtr, shape: Shape, leaf: bool) -> Enode {
        debug_assert!(!leaf || shape == Shape::Range, "leaves are range nodes");
        let bits = if leaf {
            LEAF_BIT
        } else if shape == Shape::Arange {
            ARANGE_BIT
        } else {
            0
        };
        // SAFETY: setting low bits of a non-null, 16-aligned address keeps it non-null.
        Enode(unsafe { NonNull::new_unchecked(node.0.as_ptr().map_addr(|a| a | bits)) })
    }
    /// The same kind of node at another address (a copy of this one).
    #[inline]
    pub(crate) fn same_kind(self, node: NodePtr) -> Enode {
        Enode::new(node, self.shape(), self.is_leaf())
    }
    /// How the node's words are laid out.
    #[inline]
    pub(crate) fn shape(self) -> Shape {
        if self.0.as_ptr().addr() & ARANGE_BIT != 0 {
            Shape::Arange
        } else {
            Shape::Range
        }
    }
    #[inline]
    pub(crate) fn from_word(word: Word) -> Option<Enode> {
        NonNull::new(word.cast::<Node>()).map(Enode)
    }
    #[inline]
    pub(crate) fn word(self) -> Word {
        self.0.as_ptr().cast()
    }
    #[inline]
    pub(crate) fn is_leaf(self) -> bool {
        self.0.as_ptr().addr() & LEAF_BIT != 0
    }
    /// Asks the CPU to start loading the node's first four cache lines ([`NodePtr::prefetch`]).
    #[inline]
    pub(crate) fn prefetch(self) {
        self.node().prefetch();
    }
    /// Asks the CPU to start loading all of the node ([`NodePtr::prefetch_whole`]).
    #[inline]
    pub(crate) fn prefetch_whole(self) {
        self.node().prefetch_whole();
    }
    #[inline]
    pub(crate) fn node(self) -> NodePtr {
        // SAFETY: an Enode is only built from a NodePtr's (non-null, 16-aligned) address.
        NodePtr(unsafe { NonNull::new_unchecked(self.0.as_ptr().map_addr(|a| a & !SLOT_MASK)) })
    }
}

#[cfg(not(loom))]
fn layout() -> Layout {
    Layout::new::<Node>()
}

/// Stops at once when the global allocator broke its contract: the low four bits of a node's
/// address carry the slot number in its children's parent words and the kind bits in its own
/// encoded pointer, so a node that is not 16-byte aligned would corrupt the tree silently.
/// (Allocators do get alignment wrong: Debian's packaged mimalloc 2.0.9 returns 128-byte-aligned
/// blocks for a 256-byte alignment.)
#[cfg(not(loom))]
#[inline]
fn check_alignment(addr: usize) {
    if addr % NODE_ALIGN != 0 {
        alignment_broken(addr)
    }
}

/// A panic that cannot unwind (an `extern "C"` function aborts when a panic leaves it): the
/// write that asked for the node is half done, and the tree must not be used again.
#[cfg(not(loom))]
#[cold]
#[inline(never)]
extern "C" fn alignment_broken(addr: usize) -> ! {
    panic!(
        "maple-tree: the global allocator returned a node at {addr:#x}, aligned to {} bytes; \
         a node needs {NODE_ALIGN}-byte alignment (Layout align {NODE_ALIGN})",
        1usize << addr.trailing_zeros()
    )
}

/// Loom's bookkeeping, kept beside the nodes so that a node has the same fields under loom.
///
/// * Freeing a node only poisons it (its address goes into `freed`, and every later access
///   panics with "used after it was freed"); the memory is released by
///   [`release_freed_nodes`] when the shared tree is dropped, after every model thread has
///   joined. A reader that reaches a reclaimed node therefore fails the model instead of
///   reading freed memory.
/// * Loom atomics keep their value in loom's model, not in place, so `&E` cannot be borrowed
///   from a slot. [`NodePtr::slot_ref`] hands out a plain copy of the slot word instead, made
///   on first use and kept current by every later store to that word. Only the single writer
///   or owner borrows entries, so the copies need no modelling.
///
/// A loom model runs all its threads on one OS thread, so the tables are thread-local.
#[cfg(loom)]
mod loom_side {
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::cell::RefCell;
    use core::sync::atomic::AtomicPtr;
    use std::collections::{HashMap, HashSet};

    use super::NodePtr;

    /// Freed nodes, in order, and their addresses.
    pub(super) type Freed = (Vec<NodePtr>, HashSet<usize>);
    /// Plain copies of slot words, by (node address, word).
    pub(super) type SlotCopies = HashMap<(usize, usize), Box<AtomicPtr<()>>>;

    std::thread_local! {
        pub(super) static FREED: RefCell<Freed> = RefCell::new((Vec::new(), HashSet::new()));
        pub(super) static SLOT_COPIES: RefCell<SlotCopies> = RefCell::new(HashMap::new());
    }

    pub(super) fn is_freed(addr: usize) -> bool {
        FREED.with(|f| f.borrow().1.contains(&addr))
    }
}

/// Releases the memory of every node freed so far on this thread (loom only).
///
/// # Safety
/// No freed node may be touched afterwards: every reader of the trees they came from is gone.
#[cfg(loom)]
pub(crate) unsafe fn release_freed_nodes() {
    let (nodes, _) = loom_side::FREED.with(|f| core::mem::take(&mut *f.borrow_mut()));
    loom_side::SLOT_COPIES.with(|c| {
        c.borrow_mut()
            .retain(|&(addr, _), _| !nodes.iter().any(|n| n.addr() == addr))
    });
    for n in nodes {
        // SAFETY: allocated by `NodePtr::alloc` with `Box`, freed (so unreachable) exactly once,
        // and the caller guarantees no further use.
        drop(unsafe { alloc::boxed::Box::from_raw(n.0.as_ptr()) });
    }
}

/// How many unlinked node frames an owned tree keeps for its next writes.
pub(crate) const SPARE_NODES: usize = 7;

/// A few node frames an owned tree's writes unlinked, kept for its next writes: a split or a
/// rebalance allocates about as many nodes as it frees, and even a plain allocation and free
/// cost more than reusing a frame. Only the tree's owner (or its one writer)
/// touches these, so they are plain atomics even under loom.
pub(crate) struct SpareNodes([core::sync::atomic::AtomicPtr<Node>; SPARE_NODES]);

impl SpareNodes {
    pub(crate) const fn new() -> SpareNodes {
        SpareNodes([const { core::sync::atomic::AtomicPtr::new(ptr::null_mut()) }; SPARE_NODES])
    }
    /// A kept frame, with stale contents (every user fills the whole node) and no parent.
    pub(crate) fn take(&self) -> Option<NodeMut> {
        self.0.iter().rev().find_map(|s| {
            let n = NonNull::new(s.swap(ptr::null_mut(), core::sync::atomic::Ordering::Relaxed))
                .map(|p| NodeMut(NodePtr(p)))?;
            n.set_parent(None);
            Some(n)
        })
    }
    /// Keeps `node` for a later write; gives it back when every place is taken.
    ///
    /// # Safety
    /// As [`NodePtr::free`]: the node is unreachable (it will be handed out as a blank frame).
    pub(crate) unsafe fn keep(&self, node: NodePtr) -> Option<NodePtr> {
        let relaxed = core::sync::atomic::Ordering::Relaxed;
        match self.0.iter().find(|s| s.load(relaxed).is_null()) {
            Some(place) => {
                place.store(node.0.as_ptr(), relaxed);
                None
            }
            None => Some(node),
        }
    }
    /// How many frames are kept.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        let relaxed = core::sync::atomic::Ordering::Relaxed;
        self.0.iter().filter(|s| !s.load(relaxed).is_null()).count()
    }
    /// Frees every kept frame.
    pub(crate) fn free_all(&self) {
        while let Some(n) = self.take() {
            // SAFETY: kept frames are unlinked and unreachable.
            unsafe { n.ptr().free() };
        }
    }
}

impl NodePtr {
    /// Asks the CPU to start loading the node's first four cache lines (all of it when the
    /// node starts a line, as allocators with size classes place it). A lookup reads the
    /// pivots and then a slot further on; fetching the lines together turns those dependent
    /// misses into one wait. A hint only: it never faults and changes nothing.
    ///
    /// A node that starts 16 to 48 bytes into a line (glibc's malloc places them so) ends in
    /// a fifth line, holding its last slots, which a lookup seldom reads: loading that line
    /// as well made `--baseline` lookups at 10^6 entries slower (this build took 0.885 of the
    /// time of one that loads it).
    #[inline]
    pub(crate) fn prefetch(self) {
        #[cfg(all(target_arch = "x86_64", not(miri), not(loom)))]
        {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let base = self.0.as_ptr() as *const i8;
            for line in 0..NODE_SIZE / 64 {
                // SAFETY: `sse` is part of the x86_64 baseline, so the intrinsic's target
                // feature is always present; a prefetch of any address never faults.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(line * 64)) };
            }
        }
    }
    /// [`prefetch`](Self::prefetch), and the fifth line when the node has one: for readers of
    /// the node's end (the free-range search reads an allocation-tree node's meta word and
    /// last gaps there; a walk to the next leaf and a copy read every slot).
    ///
    /// The extra hint names the node's last byte, which for a node that starts a line is in
    /// the fourth line, already asked for: one instruction more, and no branch on the node's
    /// placement, which is as random as the allocator's.
    #[inline]
    pub(crate) fn prefetch_whole(self) {
        self.prefetch();
        #[cfg(all(target_arch = "x86_64", not(miri), not(loom)))]
        {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let base = self.0.as_ptr() as *const i8;
            // SAFETY: `sse` is part of the x86_64 baseline, so the intrinsic's target feature
            // is always present; a prefetch of any address never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(NODE_SIZE - 1)) };
        }
    }
    /// A well-aligned stand-in that names no node, for unused places of fixed-size arrays.
    /// Never dereferenced.
    pub(crate) const DANGLING: NodePtr = NodePtr(NonNull::dangling());

    /// Allocates a zeroed node (no parent, no pivots, empty slots), or `None` when the
    /// allocator is out of memory. (Nodes come through `supply`, which decides injected
    /// failures.)
    pub(crate) fn alloc_zeroed() -> Option<NodeMut> {
        #[cfg(not(loom))]
        {
            // SAFETY: the layout has a non-zero size. All-zero bytes are a valid `Node` (atomics).
            let raw = unsafe { alloc_zeroed(layout()) } as *mut Node;
            let node = NonNull::new(raw)?;
            // The allocator promised the alignment, so the optimiser takes it as given and
            // would delete the check; `black_box` hides where the address came from.
            check_alignment(core::hint::black_box(raw.addr()));
            Some(NodeMut(NodePtr(node)))
        }
        #[cfg(loom)]
        {
            // Loom atomics must be constructed, not zeroed.
            let node = alloc::boxed::Box::new(Node {
                parent: AtomicPtr::new(ptr::null_mut()),
                data: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            });
            Some(NodeMut(NodePtr(NonNull::from(alloc::boxed::Box::leak(
                node,
            )))))
        }
    }

    /// A node whose data words are left unset, for a caller that writes every one of them
    /// before anyone reads the node ([`copy_data_from`](Self::copy_data_from)): no zero fill.
    /// No parent; `None` when the allocator is out of memory.
    pub(crate) fn alloc_for_overwrite() -> Option<NodeMut> {
        #[cfg(not(loom))]
        {
            // SAFETY: the layout has a non-zero size.
            let raw = unsafe { alloc::alloc::alloc(layout()) } as *mut Node;
            let node = NonNull::new(raw)?;
            check_alignment(core::hint::black_box(raw.addr()));
            // SAFETY: allocated for a `Node`; written through a raw pointer because the rest of
            // the node is not initialised yet (no reference to it may exist before).
            unsafe { ptr::addr_of_mut!((*raw).parent).write(AtomicPtr::new(ptr::null_mut())) };
            Some(NodeMut(NodePtr(node)))
        }
        #[cfg(loom)]
        Self::alloc_zeroed()
    }

    /// Frees the node.
    ///
    /// # Safety
    /// The node must be unreachable: no tree link and no reader can reach it any more.
    pub(crate) unsafe fn free(self) {
        #[cfg(not(loom))]
        // SAFETY: allocated by `alloc` with the same layout; the caller guarantees no use after.
        unsafe {
            dealloc(self.0.as_ptr() as *mut u8, layout())
        }
        #[cfg(loom)]
        loom_side::FREED.with(|f| {
            let mut f = f.borrow_mut();
            let fresh = f.1.insert(self.addr());
            assert!(
                fresh,
                "maple-tree (loom): node {:#x} freed twice",
                self.addr()
            );
            f.0.push(self);
        });
    }

    #[inline]
    pub(crate) fn addr(self) -> usize {
        self.0.as_ptr().addr()
    }

    #[inline]
    fn node(&self) -> &Node {
        // SAFETY: module invariant: a NodePtr in use names an allocated node.
        let node = unsafe { self.0.as_ref() };
        #[cfg(loom)]
        assert!(
            !loom_side::is_freed(self.addr()),
            "maple-tree (loom): node {:#x} used after it was freed",
            self.addr()
        );
        node
    }

    #[inline]
    fn word(&self, i: usize) -> &AtomicPtr<()> {
        &self.node().data[i]
    }
    /// Stores data word `i` (and, under loom, its plain copy if `slot_ref` made one).
    #[inline]
    fn store_word(&self, i: usize, v: Word, order: Ordering) {
        self.word(i).store(v, order);
        #[cfg(loom)]
        loom_side::SLOT_COPIES.with(|c| {
            if let Some(copy) = c.borrow().get(&(self.addr(), i)) {
                copy.store(v, core::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    #[inline]
    fn int(&self, i: usize) -> u64 {
        self.word(i).load(Ordering::Relaxed).addr() as u64
    }
    #[inline]
    fn set_int(&self, i: usize, v: u64) {
        self.store_word(
            i,
            ptr::without_provenance_mut(v as usize),
            Ordering::Relaxed,
        )
    }

    #[inline]
    pub(crate) fn pivot(self, i: usize) -> u64 {
        self.int(i)
    }
    /// Loads a slot. Acquire pairs with the Release in `set_slot`, so whatever a published
    /// child node or entry points to is visible to the reader.
    #[inline]
    pub(crate) fn slot(self, shape: Shape, i: usize) -> Word {
        self.word(shape.slot_base() + i).load(Ordering::Acquire)
    }
    /// The slot's memory, for handing out `&E` on a tree nobody else can write. (Under loom,
    /// a plain copy of the slot word kept current by every store to it: see `loom_side`.)
    #[inline]
    pub(crate) fn slot_ref(&self, shape: Shape, i: usize) -> &core::sync::atomic::AtomicPtr<()> {
        #[cfg(not(loom))]
        {
            self.word(shape.slot_base() + i)
        }
        #[cfg(loom)]
        {
            let w = shape.slot_base() + i;
            let copy: *const core::sync::atomic::AtomicPtr<()> = loom_side::SLOT_COPIES.with(|c| {
                let mut c = c.borrow_mut();
                let copy = c.entry((self.addr(), w)).or_insert_with(|| {
                    alloc::boxed::Box::new(core::sync::atomic::AtomicPtr::new(
                        self.word(w).load(Ordering::Relaxed),
                    ))
                });
                &**copy as *const _
            });
            // SAFETY: the copy is boxed, so it stays put while the map changes, and it is only
            // dropped by `release_freed_nodes`, after the node was freed and its tree dropped,
            // when nothing can borrow from the node any more.
            unsafe { &*copy }
        }
    }
    #[inline]
    pub(crate) fn gap(self, i: usize) -> u64 {
        self.int(GAP_BASE + i)
    }
    /// Arange meta: (end offset, offset of the largest gap).
    #[inline]
    pub(crate) fn meta(self) -> (usize, usize) {
        let m = self.int(META);
        ((m & 0xff) as usize, ((m >> 8) & 0xff) as usize)
    }

    /// The parent node and this node's slot in it (`None` for the root).
    #[inline]
    pub(crate) fn parent(self) -> Option<(NodePtr, usize)> {
        let w = self.node().parent.load(Ordering::Acquire);
        NonNull::new(w.map_addr(|a| a & !SLOT_MASK)).map(|p| (NodePtr(p), w.addr() & SLOT_MASK))
    }
    /// Whether the node was replaced. Call after reading its contents: the fence orders the
    /// earlier reads before this check (the kernel's `smp_rmb` in `ma_dead_node`).
    #[inline]
    pub(crate) fn is_dead(self) -> bool {
        fence(Ordering::Acquire);
        self.node().parent.load(Ordering::Acquire).addr() & !SLOT_MASK == self.addr()
    }

    /// Offset of the last used slot, given the node's maximum.
    #[inline]
    pub(crate) fn end(self, shape: Shape, max: u64) -> usize {
        if shape == Shape::Arange {
            return self.meta().0;
        }
        (0..shape.pivots())
            .find(|&i| self.pivot(i) >= max)
            .unwrap_or(shape.pivots())
    }

    /// Offset of the slot holding `index`: the first pivot at or above it (the kernel's
    /// fast lookup scan; valid thanks to the pivot conventions in the module docs).
    #[inline]
    pub(crate) fn offset_of(self, shape: Shape, index: u64) -> usize {
        let n = shape.pivots();
        let mut i = 0;
        while i < n && self.pivot(i) < index {
            i += 1;
        }
        i
    }

    /// The first `n` pivot words.
    #[inline]
    fn pivot_words(&self, n: usize) -> &[AtomicPtr<()>] {
        &self.node().data[..n]
    }

    /// The node's pivots, for scans that read many of them (one bounds check per scan
    /// instead of one per read, where the optimiser can see the index stays in range).
    #[inline]
    pub(crate) fn pivots(&self, shape: Shape) -> Words<'_> {
        Words(self.pivot_words(shape.pivots()))
    }
    /// The node's slots (acquire loads, as [`slot`](Self::slot)).
    #[inline]
    pub(crate) fn slots(&self, shape: Shape) -> Words<'_> {
        let base = shape.slot_base();
        Words(&self.node().data[base..base + shape.slots()])
    }
    /// An arange node's gaps, one per slot.
    #[inline]
    pub(crate) fn gaps(&self) -> Words<'_> {
        Words(&self.node().data[GAP_BASE..GAP_BASE + ARANGE_SLOTS])
    }

    /// The slot holding `index` and the last used slot, in one scan of the pivots.
    #[inline]
    pub(crate) fn offset_and_end(self, shape: Shape, index: u64, max: u64) -> (usize, usize) {
        if shape == Shape::Arange {
            let end = self.meta().0;
            return (self.offset_of(shape, index).min(end), end);
        }
        let pivots = self.pivot_words(shape.pivots());
        let value = |i: usize| pivots[i].load(Ordering::Relaxed).addr() as u64;
        let mut i = 0;
        while i < pivots.len() && value(i) < index {
            i += 1;
        }
        let offset = i;
        while i < pivots.len() && value(i) < max {
            i += 1;
        }
        (offset.min(i), i)
    }

    /// The pivot of slot `i` in a node with maximum `max` and last used offset `end`.
    #[inline]
    pub(crate) fn pivot_or_max(self, i: usize, end: usize, max: u64) -> u64 {
        if i < end {
            self.pivot(i)
        } else {
            max
        }
    }

    /// Write access to a node nobody else can reach.
    ///
    /// # Safety
    /// While the `NodeMut` is used, no other thread can reach the node: it is not linked where
    /// a reader could find it, or its tree is held exclusively (`&mut`, an `InPlace` proof).
    #[inline]
    pub(crate) unsafe fn private(self) -> NodeMut {
        NodeMut(self)
    }

    /// Stores a slot of a node readers may be walking (linking a new child, replacing one
    /// entry): one word, which a concurrent reader sees either before or after; the Release
    /// pairs with the reader's Acquire, so what the word points to is visible with it.
    ///
    /// # Safety
    /// The caller is the tree's only writer (it holds the tree or its writer lock).
    #[inline]
    pub(crate) unsafe fn publish_slot(self, shape: Shape, i: usize, v: Word) {
        self.store_word(shape.slot_base() + i, v, Ordering::Release)
    }

    /// Records slot `i`'s largest gap and the node's largest-gap offset, in a node readers may
    /// be walking (two single-word stores; a reader's gap search is a hint it checks).
    ///
    /// # Safety
    /// As [`publish_slot`](Self::publish_slot).
    #[inline]
    pub(crate) unsafe fn publish_gap(self, i: usize, gap: u64, best: usize) {
        self.set_int(GAP_BASE + i, gap);
        let end = self.meta().0;
        self.set_int(META, (end | (best << 8)) as u64);
    }

    /// Links the node under a new parent (or none, as the root). Readers only compare the
    /// parent word with the node itself (the dead mark), which this never makes it.
    ///
    /// # Safety
    /// As [`publish_slot`](Self::publish_slot), and `parent` is not this node.
    #[inline]
    pub(crate) unsafe fn publish_parent(self, parent: Option<(NodePtr, usize)>) {
        debug_assert!(parent.is_none_or(|(p, _)| p != self));
        self.store_parent(parent)
    }

    #[inline]
    fn store_parent(self, parent: Option<(NodePtr, usize)>) {
        let w = parent.map_or(ptr::null_mut(), |(p, slot)| {
            p.0.as_ptr().map_addr(|a| a | slot)
        });
        self.node().parent.store(w, Ordering::Release)
    }

    /// Marks the node dead: its parent word names itself. Readers that read this node and then
    /// see it dead discard what they read and restart.
    ///
    /// # Safety
    /// The node was unlinked by the tree's only writer, the caller.
    #[inline]
    pub(crate) unsafe fn mark_dead(self) {
        self.node().parent.store(self.0.as_ptr(), Ordering::Release);
        fence(Ordering::SeqCst);
    }
}

/// A run of one node's data words (its pivots, slots or gaps), borrowed from a [`NodePtr`].
#[derive(Clone, Copy)]
pub(crate) struct Words<'a>(&'a [AtomicPtr<()>]);

impl Words<'_> {
    #[inline]
    pub(crate) fn len(self) -> usize {
        self.0.len()
    }
    /// Word `i` as an integer (a pivot or a gap): a relaxed load.
    #[inline]
    pub(crate) fn int(self, i: usize) -> u64 {
        self.0[i].load(Ordering::Relaxed).addr() as u64
    }
    /// Word `i` as a slot: an acquire load, pairing with the Release of the store that
    /// published it.
    #[inline]
    pub(crate) fn word(self, i: usize) -> Word {
        self.0[i].load(Ordering::Acquire)
    }
}

/// A node nobody else can reach: new or reused and not yet linked where a reader could find
/// it, or a node of a tree held exclusively. Only through one is a node filled; once linked,
/// it is read through its [`NodePtr`] and changed only by the writer's single-word
/// publications.
pub(crate) struct NodeMut(NodePtr);

impl NodeMut {
    /// The node, to link it or read it.
    #[inline]
    pub(crate) fn ptr(&self) -> NodePtr {
        self.0
    }
    #[inline]
    pub(crate) fn set_pivot(&self, i: usize, v: u64) {
        self.0.set_int(i, v)
    }
    #[inline]
    pub(crate) fn set_slot(&self, shape: Shape, i: usize, v: Word) {
        self.0
            .store_word(shape.slot_base() + i, v, Ordering::Release)
    }
    #[inline]
    fn set_gap(&self, i: usize, v: u64) {
        self.0.set_int(GAP_BASE + i, v)
    }
    #[inline]
    fn set_meta(&self, end: usize, gap_offset: usize) {
        self.0.set_int(META, (end | (gap_offset << 8)) as u64)
    }
    #[inline]
    pub(crate) fn set_parent(&self, parent: Option<(NodePtr, usize)>) {
        self.0.store_parent(parent)
    }

    /// Writes `count` slots (pivots, slot words and, for arange nodes, gaps) and clears the rest,
    /// following the pivot conventions. `last` of the final slot must be the node's maximum.
    pub(crate) fn write_slots(
        &self,
        shape: Shape,
        count: usize,
        last: impl Fn(usize) -> u64,
        word: impl Fn(usize) -> Word,
        gap: impl Fn(usize) -> u64,
    ) {
        debug_assert!(count >= 1 && count <= shape.slots());
        for i in 0..shape.pivots() {
            self.set_pivot(i, if i < count { last(i) } else { 0 });
        }
        for i in 0..shape.slots() {
            self.set_slot(shape, i, if i < count { word(i) } else { ptr::null_mut() });
        }
        if shape == Shape::Arange {
            let mut best = 0;
            for i in 0..ARANGE_SLOTS {
                let g = if i < count { gap(i) } else { 0 };
                self.set_gap(i, g);
                if i < count && g > gap(best) {
                    best = i;
                }
            }
            self.set_meta(count - 1, best);
        }
    }

    /// Copies every data word of `src` (all but the parent word) into this node in one go, as
    /// `__mt_dup` does.
    ///
    /// # Safety
    /// No thread writes `src` meanwhile (readers may read it).
    pub(crate) unsafe fn copy_data_from(&self, src: NodePtr) {
        #[cfg(not(loom))]
        // SAFETY: both nodes are allocated; the destination is private and nobody writes the
        // source (caller contract), so a plain copy races with nothing. Atomics have the layout
        // of their value and the words are initialised in `src`.
        unsafe {
            ptr::copy_nonoverlapping(
                ptr::addr_of!((*src.0.as_ptr()).data).cast::<usize>(),
                ptr::addr_of_mut!((*self.0 .0.as_ptr()).data).cast::<usize>(),
                DATA_WORDS,
            )
        };
        #[cfg(loom)]
        for i in 0..DATA_WORDS {
            self.0
                .store_word(i, src.word(i).load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}
