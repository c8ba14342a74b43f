//! A read-only view of one node, for pictures and statistics.

use alloc::vec::Vec;

use crate::entry::zero_word;
use crate::node::Shape;
use crate::path::Frame;

/// What a leaf slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// An empty range.
    Empty,
    /// The reserved zero entry.
    Zero,
    /// A stored entry.
    Entry,
}

/// One node as seen by [`crate::TreeView::visit_nodes`].
#[derive(Clone, Debug)]
pub struct NodeInfo<'a> {
    /// Depth from the root (0).
    pub depth: usize,
    /// First index the node covers.
    pub min: u64,
    /// Last index the node covers.
    pub max: u64,
    /// Whether the node is a leaf.
    pub is_leaf: bool,
    /// Whether the node is an allocation-tree internal node (10 slots with gaps).
    pub is_alloc_internal: bool,
    /// Last index of each used slot (the pivots, with the node maximum for the last slot).
    pub slot_last: Vec<u64>,
    /// Recorded largest gap below each slot (allocation-tree internal nodes only).
    pub gaps: Vec<u64>,
    /// Leaf slot contents.
    pub slots: Vec<SlotKind>,
    _frame: core::marker::PhantomData<&'a ()>,
}

impl NodeInfo<'_> {
    pub(crate) fn new(f: &Frame, depth: usize) -> NodeInfo<'static> {
        let n = f.end + 1;
        NodeInfo {
            depth,
            min: f.min,
            max: f.max,
            is_leaf: f.leaf,
            is_alloc_internal: f.shape == Shape::Arange,
            slot_last: (0..n).map(|i| f.slot_max(i)).collect(),
            gaps: if f.shape == Shape::Arange {
                (0..n).map(|i| f.node.gap(i)).collect()
            } else {
                Vec::new()
            },
            slots: if f.leaf {
                (0..n)
                    .map(|i| match f.word(i) {
                        w if w.is_null() => SlotKind::Empty,
                        w if w == zero_word() => SlotKind::Zero,
                        _ => SlotKind::Entry,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            _frame: core::marker::PhantomData,
        }
    }
}
