//! How writes reach a tree: [`Owned`] or [`Shared`].
//!
//! [`MapleTree<E, M>`](crate::MapleTree) writes through its mode `M`, chosen by type, so one
//! implementation of every write serves both:
//!
//! * [`Owned`]: the tree is yours alone (`&mut MapleTree`), so writes rewrite nodes in place and
//!   free what they replace at once, and a removed entry is handed back by moving it out.
//! * [`Shared`]: the writer of an [`RcuMapleTree`](crate::RcuMapleTree), whose lock-free readers
//!   may be walking the nodes. Writes build what they change privately and publish it with one
//!   pointer store; replaced nodes and removed entries wait for a grace period. A removed entry
//!   may still be in a reader's hands, so the caller gets a clone of it.
//!
//! Nothing outside this crate can make a mode: the in-place path is reachable only through
//! ownership of the tree.

// The sealed traits below are unnameable outside the crate, so the crate-private types in
// their signatures cannot be reached through them.
#![allow(private_interfaces, private_bounds)]

#[cfg(feature = "std")]
use core::cell::RefCell;

#[cfg(feature = "std")]
use crate::entry::{clone_word, drop_word};
use crate::entry::{from_word, is_entry, Entry, EntryOps, Word};
use crate::raw::RawTree;
use crate::write::{Disposal, WriteCtx};
use crate::Error;
use sealed::Sealed;

/// How a [`MapleTree`](crate::MapleTree)'s writes reach it: [`Owned`] or [`Shared`]. Sealed.
pub trait Mode: sealed::Sealed {}

/// The mode of a tree nobody else can see: writes change nodes in place and free at once.
/// `MapleTree<E>` is `MapleTree<E, Owned>`.
pub struct Owned {
    pub(crate) raw: RawTree,
}

/// The mode of the one writer of an [`RcuMapleTree`](crate::RcuMapleTree): every write is
/// safe for concurrent lock-free readers. A [`WriteGuard`](crate::WriteGuard) is a
/// `MapleTree<E, Shared<'_>>`, and holds the tree's writer lock while it lives.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub struct Shared<'t> {
    pub(crate) raw: &'t RawTree,
    pub(crate) writer: crate::sync::MutexGuard<'t, RefCell<crate::reclaim::Reclaimer>>,
    pub(crate) epoch: &'t crate::sync::Epoch,
}

/// Modes in which a write can hand the caller the entry it removed: [`Owned`] for every entry
/// type (the entry is moved out), [`Shared`] for entries that are `Clone` (readers may still
/// hold the original, which is dropped after the grace period; the caller gets a clone).
pub trait TakeOld<E: Entry>: Mode + sealed::SealedTakeOld<E> {}

impl Mode for Owned {}
impl<E: Entry> TakeOld<E> for Owned {}
#[cfg(feature = "std")]
impl Mode for Shared<'_> {}
#[cfg(feature = "std")]
impl<E: Entry + Clone> TakeOld<E> for Shared<'_> {}

impl core::fmt::Debug for Owned {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Owned")
    }
}
#[cfg(feature = "std")]
impl core::fmt::Debug for Shared<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Shared")
    }
}

pub(crate) use crate::supply::Pool;

pub(crate) mod sealed {
    use super::*;

    /// What a mode does for the tree's writes. Not nameable outside the crate.
    pub trait Sealed {
        /// The tree.
        fn raw(&self) -> &RawTree;
        /// Whether lock-free readers may be walking the tree.
        const SHARED: bool;
        /// Runs one engine write with this mode's context: in place and freeing at once, or
        /// copy-on-write with retirement after a grace period.
        fn run<R>(
            &mut self,
            ops: &EntryOps,
            want_old: bool,
            pool: Option<&Pool>,
            f: impl FnOnce(&RawTree, &WriteCtx<'_>) -> R,
        ) -> R;
        /// What dropping the tree value does: an owned tree frees everything, a writer guard
        /// only lets go of the lock.
        fn release(&mut self);
    }

    /// How a mode hands back the entry a write removed.
    pub trait SealedTakeOld<E: Entry>: Sealed {
        /// Stores `word` over `[first, last]` and returns the entry that was at `first`.
        ///
        /// # Safety
        /// `word` is empty, the zero entry, or an entry of type `E` whose ownership passes to
        /// the tree when (and only when) the write succeeds.
        unsafe fn write_taking_old(
            &mut self,
            first: u64,
            last: u64,
            word: Word,
            ops: &EntryOps,
            pool: Option<&Pool>,
        ) -> Result<Option<E>, Error>;
    }
}

impl sealed::Sealed for Owned {
    #[inline]
    fn raw(&self) -> &RawTree {
        &self.raw
    }
    const SHARED: bool = false;
    #[inline]
    fn run<R>(
        &mut self,
        ops: &EntryOps,
        want_old: bool,
        pool: Option<&Pool>,
        f: impl FnOnce(&RawTree, &WriteCtx<'_>) -> R,
    ) -> R {
        // `&mut self`: nobody else can see the tree, which is what the in-place proof says.
        let (raw, proof) = self.raw.in_place();
        f(
            raw,
            &WriteCtx {
                ops,
                disposal: Disposal::Now(proof),
                want_old,
                pool,
            },
        )
    }
    fn release(&mut self) {
        self.raw.destroy_now();
    }
}

impl<E: Entry> sealed::SealedTakeOld<E> for Owned {
    unsafe fn write_taking_old(
        &mut self,
        first: u64,
        last: u64,
        word: Word,
        ops: &EntryOps,
        pool: Option<&Pool>,
    ) -> Result<Option<E>, Error> {
        // Nobody else can see the tree, so the removed entry is moved out (or, when part of its
        // range stays stored, the engine hands back a clone).
        // SAFETY: `&mut self` makes this the only writer; `word` is the caller's `E`.
        let old = self.run(ops, true, pool, |raw, ctx| unsafe {
            raw.write(first, last, word, ctx)
        })?;
        // SAFETY: the engine handed ownership of `old` to the caller.
        Ok(is_entry(old).then(|| unsafe { from_word::<E>(old) }))
    }
}

#[cfg(feature = "std")]
impl sealed::Sealed for Shared<'_> {
    #[inline]
    fn raw(&self) -> &RawTree {
        self.raw
    }
    const SHARED: bool = true;
    fn run<R>(
        &mut self,
        ops: &EntryOps,
        want_old: bool,
        pool: Option<&Pool>,
        f: impl FnOnce(&RawTree, &WriteCtx<'_>) -> R,
    ) -> R {
        // The writer needs no pin of its own: only it frees nodes, and it does so here,
        // between writes.
        let reclaimer: &RefCell<crate::reclaim::Reclaimer> = &self.writer;
        reclaimer.borrow_mut().collect();
        let result = f(
            self.raw,
            &WriteCtx {
                ops,
                disposal: Disposal::Deferred(reclaimer),
                want_old,
                pool,
            },
        );
        reclaimer.borrow_mut().seal_if_full(self.epoch);
        self.epoch.after_write();
        result
    }
    fn release(&mut self) {}
}

#[cfg(feature = "std")]
impl<E: Entry + Clone> sealed::SealedTakeOld<E> for Shared<'_> {
    unsafe fn write_taking_old(
        &mut self,
        first: u64,
        last: u64,
        word: Word,
        ops: &EntryOps,
        pool: Option<&Pool>,
    ) -> Result<Option<E>, Error> {
        // Readers may hold the old entry until their grace period ends, so it stays with the
        // tree (retired by the write) and the caller gets a clone, made before the write.
        let (_, _, old) = self.raw.range_at(first);
        // SAFETY: `old` is a live entry of the tree; only this writer could drop it.
        let copy = is_entry(old).then(|| unsafe { clone_word::<E>(old) });
        // SAFETY: the writer lock, which `self` holds, makes this the only writer.
        let written = self.run(ops, false, pool, |raw, ctx| unsafe {
            raw.write(first, last, word, ctx)
        });
        match written {
            // SAFETY: the clone is a new owned word.
            Ok(_) => Ok(copy.map(|c| unsafe { from_word::<E>(c) })),
            Err(e) => {
                if let Some(c) = copy {
                    // SAFETY: the clone was never stored; dropped once.
                    unsafe { drop_word::<E>(c) };
                }
                Err(e)
            }
        }
    }
}
