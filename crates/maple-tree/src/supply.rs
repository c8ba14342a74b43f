//! Where nodes come from, in one order for every write: nodes reserved for it (the kernel's
//! `mas_preallocate`), then frames the tree's own writes unlinked (an owned tree's spares, or
//! frames a shared tree's writer reclaimed after their grace period: the kernel's slab), then
//! the allocator. Every request but a reserved one passes the one fault-injection point, so a
//! test walks the same failure points whatever the caches happen to hold.

use core::cell::RefCell;

use alloc::vec::Vec;

use crate::node::{NodeMut, NodePtr, SpareNodes};
use crate::reclaim::Reclaimer;
use crate::Error;

/// Nodes reserved for one store; the store takes them first.
pub(crate) type Pool = RefCell<Vec<NodeMut>>;

/// The frames a tree's writes unlinked and may build from.
#[derive(Clone, Copy)]
pub(crate) enum Reuse<'a> {
    /// An owned tree's kept frames: nobody else could see them once unlinked.
    Spares(&'a SpareNodes),
    /// A shared tree's frames past their grace period.
    Reclaimed(&'a RefCell<Reclaimer>),
}

/// The node supply of one write.
pub(crate) struct Supply<'a> {
    pub(crate) pool: Option<&'a Pool>,
    pub(crate) reuse: Reuse<'a>,
}

impl Supply<'_> {
    /// A node to fill: its contents are stale or zero (every user writes the whole node) and
    /// it has no parent.
    pub(crate) fn take(&self) -> Result<NodeMut, Error> {
        if let Some(node) = self.pool.and_then(|p| p.borrow_mut().pop()) {
            return Ok(node);
        }
        fault_point()?;
        let reused = match self.reuse {
            Reuse::Spares(spares) => spares.take(),
            Reuse::Reclaimed(reclaimer) => reclaimer.borrow_mut().take_node(),
        };
        match reused {
            Some(node) => {
                node.set_parent(None);
                Ok(node)
            }
            None => NodePtr::alloc_zeroed().ok_or(Error::NoMemory),
        }
    }
}

/// A node for a tree being built from nothing (duplication, bulk build) or for a reservation,
/// straight from the allocator. With `zeroed == false` its data words are left unset: the
/// caller writes every one before anyone reads the node.
pub(crate) fn new_node(zeroed: bool) -> Result<NodeMut, Error> {
    fault_point()?;
    let node = if zeroed {
        NodePtr::alloc_zeroed()
    } else {
        NodePtr::alloc_for_overwrite()
    };
    node.ok_or(Error::NoMemory)
}

/// The one place an injected allocation failure is decided.
#[inline]
fn fault_point() -> Result<(), Error> {
    #[cfg(feature = "fault-injection")]
    if fault::should_fail() {
        return Err(Error::NoMemory);
    }
    Ok(())
}

#[cfg(feature = "fault-injection")]
pub mod fault {
    //! Deterministic allocation-failure injection for tests: every node request (a new node,
    //! or a reused frame; nodes reserved beforehand excepted) counts as one allocation.
    //!
    //! ```
    //! use maple_tree::{fault, Error, MapleTree, Value};
    //! let mut tree = MapleTree::new();
    //! fault::fail_after(Some(0)); // the next allocation fails
    //! let err = tree.insert(1, Value::new(1)).unwrap_err();
    //! fault::fail_after(None);
    //! assert_eq!(err.error, Error::NoMemory);
    //! assert!(tree.is_empty());
    //! ```
    use core::cell::Cell;
    std::thread_local! {
        static FAIL_AFTER: Cell<Option<usize>> = const { Cell::new(None) };
        static ALLOCATED: Cell<usize> = const { Cell::new(0) };
    }
    /// Make the `n`-th node allocation from now on (0-based) on this thread fail, and every
    /// one after it; `None` turns injection off.
    pub fn fail_after(n: Option<usize>) {
        FAIL_AFTER.with(|f| f.set(n));
    }
    /// Node allocations made on this thread so far.
    pub fn allocations() -> usize {
        ALLOCATED.with(|a| a.get())
    }
    pub(crate) fn should_fail() -> bool {
        ALLOCATED.with(|a| a.set(a.get() + 1));
        FAIL_AFTER.with(|f| match f.get() {
            Some(0) => true,
            Some(n) => {
                f.set(Some(n - 1));
                false
            }
            None => false,
        })
    }
}
