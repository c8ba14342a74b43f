//! A Rust reimplementation of the Linux kernel's **maple tree**: a B-tree of non-overlapping
//! `u64` ranges, with gap tracking for allocators, O(n) whole-tree duplication for `fork()`,
//! and lock-free readers (the kernel's RCU mode).
//!
//! ```
//! use maple_tree::{MapleTree, Value, Error};
//!
//! let mut vmas = MapleTree::new_alloc();
//! vmas.insert_range(0x1000..=0x1fff, Value::new(1)).unwrap();
//! vmas.insert_range(0x4000..=0x5fff, Value::new(2)).unwrap();
//! assert_eq!(vmas.insert_range(0x1800..=0x2fff, Value::new(3)).unwrap_err().error, Error::Exists);
//! // Highest free hole of 0x1000 indices below 0x10000, as mmap would place it.
//! assert_eq!(vmas.empty_area_rev(0..=0xffff, 0x1000), Ok(0xf000..=0xffff));
//! let copy = vmas.dup();
//! assert_eq!(copy.load(0x4abc), Some(&Value::new(2)));
//! ```
//!
//! Module map: `node` (raw 256-byte nodes, the only place that touches node
//! memory), `path` (walking and the cursor's frame stack), `write` (every store), `gap`
//! (gap tracking and free-range search), `dup` (duplication and bulk building), `rcu`
//! (concurrent readers), `validate` (the invariant check).
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod cursor;
mod dup;
mod entry;
mod error;
mod gap;
mod info;
mod node;
mod path;
mod raw;
#[cfg(feature = "std")]
mod rcu;
mod tree;
mod validate;
mod write;

pub use cursor::{Cursor, CursorMut, Iter, Range};
pub use dup::DupMapError;
pub use entry::{Entry, Value, ZeroEntry};
pub use error::{Error, InsertError};
pub use info::{NodeInfo, SlotKind};
#[cfg(feature = "fault-injection")]
pub use node::fault;
pub use node::NODE_SIZE;
#[cfg(feature = "std")]
pub use rcu::{EntryRef, Prealloc, RcuMapleTree, ReadGuard, SharedIter, WriteGuard};
pub use tree::{IntoIter, MapleTree, TreeKind};
pub use validate::ValidateError;

#[cfg(test)]
mod tests;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
