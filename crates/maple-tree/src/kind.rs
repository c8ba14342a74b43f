//! [`TreeKind`]: whether a tree tracks free space, and what that decides about its nodes.
//! It sits below the raw tree so that the node, write and gap layers need nothing from the
//! public tree types.

use crate::node::Shape;

/// Whether a tree tracks free space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TreeKind {
    /// A plain range map: internal nodes hold 16 children.
    Plain,
    /// An allocation tree (the kernel's `MT_FLAGS_ALLOC_RANGE`): internal nodes hold 10
    /// children and record the largest empty range below each, so free-range searches cost
    /// O(height).
    Alloc,
}

impl TreeKind {
    /// Whether internal nodes record the largest gap below each child.
    #[inline]
    pub(crate) fn tracks_gaps(self) -> bool {
        self == TreeKind::Alloc
    }

    /// The shape of this kind's internal nodes (leaves are always range nodes).
    #[inline]
    pub(crate) fn internal_shape(self) -> Shape {
        match self {
            TreeKind::Plain => Shape::Range,
            TreeKind::Alloc => Shape::Arange,
        }
    }

    /// New nodes a store may need per level in the worst case: four for range nodes and six
    /// for allocation-tree internal nodes (at most ~52 pieces cut into nodes of 15 or 9).
    #[inline]
    pub(crate) fn worst_case_nodes_per_level(self) -> usize {
        match self {
            TreeKind::Plain => 4,
            TreeKind::Alloc => 6,
        }
    }
}
