//! The VMA tree: every access to the maple tree goes through this module.
//!
//! The mm's tree (`mm->mm_mt`) is an allocation tree indexed by byte address; a VMA
//! `[start, end)` occupies `start..=end-1`. It is an [`RcuMapleTree`] — the kernel's tree in
//! RCU mode:
//!
//! * Readers ([`VmaTree::walk_rcu`] for `lock_vma_under_rcu`, and every lookup below) run in
//!   a lock-free, epoch-pinned read section ([`maple_tree::ReadGuard`]); they never wait for
//!   the mmap lock nor for a tree write. Under the mmap lock (read or write) nothing writes
//!   the tree, so their answers are exact there; without it (the fault fast path) they may
//!   be stale, which the per-VMA lock protocol detects.
//! * Writers hold the mmap write lock and go through the tree's writer lock
//!   ([`maple_tree::WriteGuard`]). Stores that must not fail half-way are split into
//!   [`VmaTree::prealloc`] (may fail, before anything is changed) and
//!   [`VmaTree::store_prealloc`] (cannot fail): the kernel's `vma_iter_prealloc` +
//!   `vma_iter_store_*`. Entries a write removes are dropped after the grace period.
//! * Trees nobody else can see are owned [`MapleTree`]s (RCU mode off): fork builds the
//!   child's tree privately and shares it at the end ([`RcuMapleTree::from_tree`]); exit
//!   takes the tree back ([`RcuMapleTree::into_inner`]) and tears it down in place.

use crate::error::MmError;
use crate::vma::Vma;
use maple_tree::{
    ArcBorrow, MapleTree, Prealloc, RcuMapleTree, ReadGuard, Shared, TreeKind, WriteGuard,
};
use std::ops::RangeInclusive;
use std::sync::Arc;

/// One tree entry: a one-word shared pointer to the VMA.
pub type VmaRef = Arc<Vma>;

type Tree = MapleTree<VmaRef>;

/// The mm's VMA tree (`mm->mm_mt`, in RCU mode).
pub(crate) struct VmaTree {
    inner: RcuMapleTree<VmaRef>,
}

/// Result of a fork tree build: the child tree (complete, or partial on failure).
pub(crate) struct ForkBuild {
    pub tree: VmaTree,
    pub result: Result<(), MmError>,
    /// On failure of the `__mt_dup` strategies: the range holding the zero-entry marker.
    pub marker: Option<RangeInclusive<u64>>,
}

/// Tree nodes reserved for storing a VMA over `[start, end)` (`vma_iter_prealloc`). It holds
/// the tree's writer lock until the store.
pub(crate) struct VmaPrealloc<'t> {
    nodes: Prealloc<'t, VmaRef, Shared<'t>>,
    start: u64,
    end: u64,
}

impl VmaTree {
    pub fn new() -> Self {
        Self::from_tree(Tree::with_kind(TreeKind::Alloc))
    }

    /// Share a privately built tree (`mt_set_in_rcu` at the end of `dup_mmap`).
    fn from_tree(t: Tree) -> Self {
        VmaTree {
            inner: RcuMapleTree::from_tree(t),
        }
    }

    /// `rcu_read_lock()`: a lock-free read section.
    fn r(&self) -> ReadGuard<'_, VmaRef> {
        self.inner.read()
    }

    /// The tree's writer lock; callers hold the mmap write lock (or read in bulk under it).
    fn w(&self) -> WriteGuard<'_, VmaRef> {
        self.inner.write()
    }

    /// `rcu_read_lock(); mas_walk(addr); …; rcu_read_unlock()`: runs `f` on the VMA
    /// covering `addr` inside one lock-free read section. The entry is borrowed from the
    /// tree: it stays valid until the section ends, even if a writer removes it meanwhile.
    /// `None` if no VMA covers `addr`.
    pub fn walk_rcu<R>(&self, addr: u64, f: impl FnOnce(ArcBorrow<'_, Vma>) -> R) -> Option<R> {
        let rcu = self.r();
        let vma = rcu.load(addr)?;
        Some(f(vma))
    }

    /// `mas_walk` / `vma_lookup`: the VMA covering `addr`.
    pub fn load(&self, addr: u64) -> Option<VmaRef> {
        self.walk_rcu(addr, |vma| vma.to_arc())
    }

    /// `mt_find(start, max)`: first VMA intersecting `[start, max]`.
    pub fn find(&self, start: u64, max: u64) -> Option<VmaRef> {
        self.r().find(start, max).map(|(_, v)| v.to_arc())
    }

    /// `find_vma`: first VMA with `end > addr`.
    pub fn find_vma(&self, addr: u64) -> Option<VmaRef> {
        self.find(addr, u64::MAX)
    }

    /// `vma_find(start, end)`: first VMA intersecting `[start, end)`.
    pub fn find_intersection(&self, start: u64, end: u64) -> Option<VmaRef> {
        if end <= start {
            return None;
        }
        self.find(start, end - 1)
    }

    /// `vma_prev`: last VMA starting below `addr` (it may contain `addr`): a reader's
    /// `mas_find_rev` from `addr - 1`.
    pub fn prev(&self, addr: u64) -> Option<VmaRef> {
        let rcu = self.r();
        let mut cursor = rcu.cursor(addr.checked_sub(1)?);
        cursor.find_rev(0).map(|(_, v)| v.to_arc())
    }

    /// All VMAs intersecting `[start, end)`, in order.
    pub fn intersecting(&self, start: u64, end: u64) -> Vec<VmaRef> {
        if end <= start {
            return Vec::new();
        }
        self.r()
            .overlapping(start..end)
            .map(|(_, v)| v.to_arc())
            .collect()
    }

    /// All VMAs in address order.
    pub fn all(&self) -> Vec<VmaRef> {
        self.r().iter().map(|(_, v)| v.to_arc()).collect()
    }

    /// Number of VMAs in the tree.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// `vma_iter_prealloc`: reserve the nodes a store over `[start, end)` may need, before
    /// anything is changed, so that [`VmaTree::store_prealloc`] cannot fail. The reservation
    /// holds the tree's writer lock until the store (lock-free reads go on meanwhile).
    pub fn prealloc(&self, start: u64, end: u64) -> Result<VmaPrealloc<'_>, MmError> {
        debug_assert!(start < end);
        let nodes = self.inner.preallocate(start..end)?;
        Ok(VmaPrealloc { nodes, start, end })
    }

    /// `vma_iter_store_*` with preallocated nodes: store `vma`, whose range must now be
    /// the preallocated one, overwriting what is there. Cannot fail.
    pub fn store_prealloc(&self, p: VmaPrealloc<'_>, vma: &VmaRef) {
        debug_assert_eq!(
            (p.start, p.end),
            (vma.start(), vma.end()),
            "preallocated for another range"
        );
        p.nodes.store(Arc::clone(vma));
    }

    /// NULL store over `[start, end)` (`vma_iter_clear_gfp`).
    pub fn clear_range(&self, start: u64, end: u64) -> Result<(), MmError> {
        self.w().erase_range(start..=end - 1)?;
        Ok(())
    }

    /// `mas_empty_area_rev(low, high-1, len)`: exclusive end of the highest hole in
    /// `[low, high)` with room for `len` bytes (clamped to `high`).
    pub fn empty_area_rev(&self, low: u64, high: u64, len: u64) -> Option<u64> {
        if high <= low || high - low < len {
            return None;
        }
        self.r()
            .empty_area_rev(low..high, len)
            .ok()
            .map(|r| *r.end() + 1)
    }

    /// `mas_empty_area(low, high-1, len)`: start of the lowest hole in `[low, high)` with
    /// room for `len` bytes (clamped to `low`).
    pub fn empty_area(&self, low: u64, high: u64, len: u64) -> Option<u64> {
        if high <= low || high - low < len {
            return None;
        }
        self.r().empty_area(low..high, len).ok().map(|r| *r.start())
    }

    /// Tree invariants plus "each entry's range is its VMA's range".
    pub fn validate(&self) -> Result<(), String> {
        let w = self.w();
        w.validate()
            .map_err(|e| format!("maple tree invalid: {e}"))?;
        for (r, v) in w.iter() {
            if *r.start() != v.start() || *r.end() != v.end() - 1 {
                return Err(format!(
                    "entry {:#x}..={:#x} holds {:?}",
                    r.start(),
                    r.end(),
                    v
                ));
            }
        }
        Ok(())
    }

    /// Exit teardown (`exit_mmap`): take the tree out of RCU mode — the mm is exclusively
    /// owned, so no reader can be walking it — and remove and return every VMA. With
    /// `stop_at_marker` (the mm is unstable after a failed fork) the walk stops at the first
    /// zero entry, never looking at the entries after it (which still point at the parent's
    /// VMAs); the tree is then destroyed (`__mt_destroy`). Leaves an empty tree behind.
    pub fn take_all(&mut self, stop_at_marker: bool) -> Vec<VmaRef> {
        let t = std::mem::replace(self, VmaTree::new()).inner.into_inner();
        if !stop_at_marker {
            return t.into_iter().map(|(_, v)| v).collect();
        }
        let mut out = Vec::with_capacity(t.len());
        let mut x = 0u64;
        for (r, v) in t.iter() {
            if marker_in(&t, x, *r.start()) {
                break;
            }
            out.push(v.to_arc());
            match r.end().checked_add(1) {
                Some(n) => x = n,
                None => break,
            }
        }
        drop(t);
        out
    }

    /// Whether a zero entry (fork failure marker) covers `addr`.
    pub fn is_reserved(&self, addr: u64) -> bool {
        self.r().is_reserved(addr)
    }

    /// Fork, kernel < 6.8: walk the parent, store each copy into a fresh private tree.
    pub fn fork_rebuild<F>(&self, mut f: F) -> ForkBuild
    where
        F: FnMut(&Vma) -> Result<Option<VmaRef>, MmError>,
    {
        let mut child = Tree::with_kind(TreeKind::Alloc);
        let mut result = Ok(());
        {
            let w = self.w();
            for (r, v) in w.iter() {
                match f(&v) {
                    Ok(Some(c)) => {
                        if let Err(e) = child.store_range(r, c) {
                            result = Err(e.error.into());
                            break;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
        }
        ForkBuild {
            tree: VmaTree::from_tree(child),
            result,
            marker: None,
        }
    }

    /// Fork, kernel 6.8+: `__mt_dup` (child private, RCU off) then replace every entry in
    /// place with the child's copy (`vma_iter_bulk_store`), NULL-storing DONTCOPY ranges;
    /// on failure store the zero entry over the failing VMA's range (`XA_ZERO_ENTRY`).
    pub fn fork_dup<F>(&self, mut f: F) -> ForkBuild
    where
        F: FnMut(&Vma) -> Result<Option<VmaRef>, MmError>,
    {
        let dup = self.w().try_dup();
        let mut child = match dup {
            Ok(t) => t,
            Err(e) => {
                return ForkBuild {
                    tree: VmaTree::new(),
                    result: Err(e.into()),
                    marker: None,
                }
            }
        };
        let mut failed: Option<(RangeInclusive<u64>, MmError)> = None;
        {
            let mut cur = child.cursor_mut(0);
            while let Some((r, v)) = cur.find(u64::MAX) {
                match f(&v) {
                    Ok(Some(c)) => {
                        // The cursor stands on the entry it found: the replace cannot miss.
                        let _ = cur.replace(c);
                    }
                    Ok(None) => {
                        if let Err(e) = cur.erase() {
                            failed = Some((r, e.into()));
                            break;
                        }
                    }
                    Err(e) => {
                        failed = Some((r, e));
                        break;
                    }
                }
            }
        }
        match failed {
            None => ForkBuild {
                tree: VmaTree::from_tree(child),
                result: Ok(()),
                marker: None,
            },
            Some((r, e)) => {
                let marker = match child.reserve_range(r.clone()) {
                    Ok(()) => Some(r),
                    Err(_) => None,
                };
                ForkBuild {
                    tree: VmaTree::from_tree(child),
                    result: Err(e),
                    marker,
                }
            }
        }
    }

    /// Fork, fused: one `try_dup_map` pass building the child tree from the copies.
    pub fn fork_dup_map<F>(&self, mut f: F) -> ForkBuild
    where
        F: FnMut(&Vma) -> Result<Option<VmaRef>, MmError>,
    {
        let w = self.w();
        match w.try_dup_map(|_r, v| f(&v)) {
            Ok(t) => ForkBuild {
                tree: VmaTree::from_tree(t),
                result: Ok(()),
                marker: None,
            },
            Err(e) => ForkBuild {
                tree: VmaTree::from_tree(e.partial),
                result: Err(e.error),
                marker: Some(e.failed),
            },
        }
    }
}

/// Whether a zero entry lies in `[from, to)`.
fn marker_in(t: &Tree, from: u64, to: u64) -> bool {
    let mut x = from;
    while x < to {
        if t.is_reserved(x) {
            return true;
        }
        let (r, _) = t.load_range(x);
        match r.end().checked_add(1) {
            Some(n) if n > x => x = n,
            _ => return false,
        }
    }
    false
}
