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
//! assert_eq!(copy.load(0x4abc), Some(Value::new(2)));
//! ```
//!
//! Where things are, from the bottom layer up. A module imports only from modules above it
//! in this table (`tests/layers.rs` checks that no `crate::` path runs the other way):
//!
//! | layer | module | what |
//! |---|---|---|
//! | primitives | `sync` | atomics and locks (loom's under `cfg(loom)`), grace periods (crossbeam-epoch, or loom's stand-in) |
//! | | `entry`, `error`, `bounds` | what can be stored ([`Entry`], [`Value`]) and the reserved zero entry; typed errors; range arguments as `(first, last)` |
//! | node | `node` | the 256-byte node layout and its handles; the only module that reads or writes node memory |
//! | | `kind` | [`TreeKind`]: whether a tree tracks gaps, and the node shapes that follows from |
//! | walk | `path` | the root-to-leaf frame stack every reader, cursor and writer descends with |
//! | | `raw` | the type-erased tree: root, height, count, lookup, teardown |
//! | node supply | `retire` | one list of what a write unlinked, for the owned and the shared tree alike |
//! | | `reclaim` | the shared tree's retired nodes and entries: grace periods, node reuse |
//! | | `supply` | where a write's nodes come from: reservation, reclaimed frames, allocator; the one fault-injection point |
//! | write | `write` | every store, insert and erase: one span write plus fast paths; `write::gaps` keeps allocation trees' gap records current |
//! | search | `gap` | the free-range search (`mas_empty_area{,_rev}`) |
//! | modes | `mode` | [`Owned`] and [`Shared`]: how a write reaches the tree, chosen by type |
//! | checks | `info`, `validate` | [`NodeInfo`]; the structural invariant check and `dump` |
//! | reads | `view` | [`TreeView`]: every read, written once for owners, writers and lock-free readers |
//! | tree | `tree` | [`MapleTree`] and its write API, written once for both modes |
//! | above the tree | `iter` | the iterators, and the view's methods that make them |
//! | | `cursor` | [`Cursor`] and [`CursorMut`], and the methods that make them |
//! | | `prealloc` | [`Prealloc`]: stores that cannot fail |
//! | | `dup` | whole-tree duplication and bulk building |
//! | | `collection` | the owned tree's `BTreeMap`-style API and standard traits |
//! | | `rcu` | `RcuMapleTree`: lock-free readers and the writer lock |
#![no_std]
// Without `std` there is no shared tree, so its hooks in the write path go unused.
#![cfg_attr(not(feature = "std"), allow(dead_code))]
#![deny(missing_docs)]
// docs.rs builds with `--cfg docsrs` on nightly: label what needs a feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(any(feature = "std", loom))]
extern crate std;

mod bounds;
mod collection;
mod cursor;
mod dup;
mod entry;
mod error;
mod gap;
mod info;
mod iter;
mod kind;
mod mode;
mod node;
mod path;
mod prealloc;
mod raw;
#[cfg(feature = "std")]
mod rcu;
mod reclaim;
mod retire;
mod supply;
mod sync;
mod tree;
mod validate;
mod view;
mod write;

pub use cursor::{Cursor, CursorMut};
pub use dup::DupMapError;
pub use entry::{ArcBorrow, Entry, Value};
pub use error::{Error, InsertError};
pub use info::{NodeInfo, SlotKind};
pub use iter::{Gaps, IntoIter, Iter, IterMut, Keys, Range, RangeMut, Values};
pub use kind::TreeKind;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use mode::Shared;
pub use mode::{Mode, Owned, TakeOld};
pub use node::{NODE_ALIGN, NODE_SIZE};
pub use prealloc::Prealloc;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use rcu::{RcuMapleTree, ReadGuard, WriteGuard};
#[cfg(feature = "fault-injection")]
#[cfg_attr(docsrs, doc(cfg(feature = "fault-injection")))]
pub use supply::fault;
#[cfg(all(feature = "std", loom))]
#[doc(hidden)]
pub use sync::loom_stats;
pub use tree::MapleTree;
pub use validate::ValidateError;
pub use view::{Access, Exclusive, Lockless, TreeView};

#[cfg(all(test, not(loom)))]
mod tests;

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
