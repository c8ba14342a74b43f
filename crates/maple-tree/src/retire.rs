//! What a write takes out of the tree: one list type for the write that fills it, the owned
//! tree that releases it at once, and the shared tree's reclaimer that releases it after a
//! grace period.

use alloc::vec::Vec;

use smallvec::SmallVec;

use crate::entry::{is_entry, Word};
use crate::node::{Enode, NodePtr, SpareNodes};
use crate::raw::{count_and_mark_dead, destroy_subtree_except};

/// Nodes and entries one write unlinked. Most writes replace a node or two, so the lists live
/// inline.
#[derive(Default)]
pub(crate) struct Retired {
    /// Nodes whose contents were copied into new nodes: freed without touching their slots.
    pub(crate) nodes: SmallVec<[NodePtr; 8]>,
    /// Detached subtrees (with their maxima) lying wholly inside a store, freed with their
    /// entries, except the nodes in `nodes` (a subtree can hold a node whose contents were
    /// copied) and what lies below those.
    pub(crate) subtrees: Vec<(Enode, u64)>,
    /// Entries a store removed.
    pub(crate) entries: SmallVec<[Word; 4]>,
}

impl Retired {
    /// How many items the list holds (a subtree counts once).
    pub(crate) fn len(&self) -> usize {
        self.nodes.len() + self.subtrees.len() + self.entries.len()
    }

    /// Adds an entry the write removed (empty and zero words own nothing and are skipped).
    pub(crate) fn entry(&mut self, word: Word) {
        if is_entry(word) {
            self.entries.push(word);
        }
    }

    /// Removes repeated nodes (a node can be met from both ends of a span).
    pub(crate) fn dedup_nodes(&mut self) {
        #[cfg(not(loom))]
        {
            self.nodes.sort_unstable_by_key(|n| n.addr());
            self.nodes.dedup();
        }
        // Loom replays schedules and needs the same atomic operations in the same order every
        // time, so the order must not depend on addresses: dedup in place instead.
        #[cfg(loom)]
        {
            let mut i = 0;
            while i < self.nodes.len() {
                if self.nodes[..i].contains(&self.nodes[i]) {
                    self.nodes.remove(i);
                } else {
                    i += 1;
                }
            }
        }
    }

    /// Marks every node dead, so lock-free readers that reach one walk again; returns how
    /// many entries the retired subtrees hold.
    ///
    /// # Safety
    /// The caller is the tree's only writer and unlinked all of it.
    pub(crate) unsafe fn mark_dead(&self) -> usize {
        let mut entries = 0;
        for &(root, max) in &self.subtrees {
            // SAFETY: forwarded.
            entries += unsafe { count_and_mark_dead(root, max, &self.nodes) };
        }
        for node in &self.nodes {
            // SAFETY: forwarded.
            unsafe { node.mark_dead() };
        }
        entries
    }

    /// Frees (or keeps in `spares`) the nodes, drops the entries and destroys the subtrees;
    /// returns how many entries the subtrees held.
    ///
    /// # Safety
    /// Nothing can reach any of it: it was unlinked and no reader can still hold it (the tree
    /// is owned, or the grace period of the write that retired it has ended).
    pub(crate) unsafe fn release(
        self,
        drop_entry: unsafe fn(Word),
        mut keep: impl FnMut(NodePtr) -> Option<NodePtr>,
    ) -> usize {
        let mut removed = 0;
        for &(root, max) in &self.subtrees {
            removed += destroy_subtree_except(root, max, drop_entry, &self.nodes);
        }
        for node in self.nodes {
            if let Some(node) = keep(node) {
                // SAFETY: unlinked and unreachable (the caller's guarantee).
                unsafe { node.free() };
            }
        }
        for w in self.entries {
            // SAFETY: removed from the tree and unreachable; dropped once.
            unsafe { drop_entry(w) };
        }
        removed
    }

    /// [`release`](Self::release) for an owned tree, keeping node frames in its spares.
    ///
    /// # Safety
    /// As [`release`](Self::release).
    pub(crate) unsafe fn release_to(
        self,
        drop_entry: unsafe fn(Word),
        spares: &SpareNodes,
    ) -> usize {
        // SAFETY: forwarded; each node is unreachable, so it may be kept as a blank frame.
        unsafe { self.release(drop_entry, |node| spares.keep(node)) }
    }
}
