//! The VMA tree: every access to the maple tree goes through this module.
//!
//! The mm's tree is an allocation tree (`MapleTree::new_alloc`) indexed by byte address;
//! a VMA `[start, end)` occupies `start..=end-1`. Writers hold the mmap write lock; the
//! tree itself sits behind a short `RwLock` standing in for RCU until `RcuMapleTree` is
//! available, so lock-free VMA lookups ([`VmaTree::load`]) never wait for the mmap lock —
//! only for the duration of one tree store. Switching to `RcuMapleTree` replaces `inner`
//! and the bodies of the methods below, nothing else.

use crate::error::MmError;
use crate::vma::Vma;
use maple_tree::{MapleTree, TreeKind};
use std::ops::RangeInclusive;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One tree entry: a one-word shared pointer to the VMA.
pub type VmaRef = Arc<Vma>;

type Tree = MapleTree<VmaRef>;

/// The mm's VMA tree (`mm->mm_mt`).
pub(crate) struct VmaTree {
    inner: RwLock<Tree>,
}

/// Result of a fork tree build: the child tree (complete, or partial on failure).
pub(crate) struct ForkBuild {
    pub tree: VmaTree,
    pub result: Result<(), MmError>,
    /// On failure of the `__mt_dup` strategies: the range holding the zero-entry marker.
    pub marker: Option<RangeInclusive<u64>>,
}

fn range_of(v: &Vma) -> RangeInclusive<u64> {
    v.start()..=v.end() - 1
}

impl VmaTree {
    pub fn new() -> Self {
        Self::from_tree(Tree::with_kind(TreeKind::Alloc))
    }

    fn from_tree(t: Tree) -> Self {
        VmaTree {
            inner: RwLock::new(t),
        }
    }

    fn r(&self) -> RwLockReadGuard<'_, Tree> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn w(&self) -> RwLockWriteGuard<'_, Tree> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// `mas_walk` / `vma_lookup`: the VMA covering `addr` (lock-free reader entry point).
    pub fn load(&self, addr: u64) -> Option<VmaRef> {
        self.r().load(addr).cloned()
    }

    /// `mt_find(start, max)`: first VMA intersecting `[start, max]`.
    pub fn find(&self, start: u64, max: u64) -> Option<VmaRef> {
        self.r().find(start, max).map(|(_, v)| v.clone())
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

    /// Last VMA starting below `addr` (it may contain `addr`).
    pub fn prev(&self, addr: u64) -> Option<VmaRef> {
        if addr == 0 {
            return None;
        }
        self.r().range(..addr).next_back().map(|(_, v)| v.clone())
    }

    /// All VMAs intersecting `[start, end)`, in order.
    pub fn intersecting(&self, start: u64, end: u64) -> Vec<VmaRef> {
        if end <= start {
            return Vec::new();
        }
        self.r().range(start..end).map(|(_, v)| v.clone()).collect()
    }

    /// All VMAs in address order.
    pub fn all(&self) -> Vec<VmaRef> {
        self.r().iter().map(|(_, v)| v.clone()).collect()
    }

    /// Number of VMAs in the tree.
    pub fn len(&self) -> usize {
        self.r().len()
    }

    /// Store `vma` over its own range (`vma_iter_store_*`), overwriting what is there.
    pub fn store(&self, vma: &VmaRef) -> Result<(), MmError> {
        self.w().store_range(range_of(vma), vma.clone())?;
        Ok(())
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
            .empty_area_rev(low..=high - 1, len)
            .ok()
            .map(|r| *r.end() + 1)
    }

    /// `mas_empty_area(low, high-1, len)`: start of the lowest hole in `[low, high)` with
    /// room for `len` bytes (clamped to `low`).
    pub fn empty_area(&self, low: u64, high: u64, len: u64) -> Option<u64> {
        if high <= low || high - low < len {
            return None;
        }
        self.r()
            .empty_area(low..=high - 1, len)
            .ok()
            .map(|r| *r.start())
    }

    /// Tree invariants plus "each entry's range is its VMA's range".
    pub fn validate(&self) -> Result<(), String> {
        let t = self.r();
        t.validate()
            .map_err(|e| format!("maple tree invalid: {e}"))?;
        for (r, v) in t.iter() {
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

    /// Exit teardown: remove and return every VMA. With `stop_at_marker` (the mm is
    /// unstable after a failed fork) the walk stops at the first zero entry, never looking
    /// at the entries after it (which still point at the parent's VMAs); the tree is then
    /// destroyed (`__mt_destroy`).
    pub fn take_all(&self, stop_at_marker: bool) -> Vec<VmaRef> {
        let mut t = self.w();
        let mut out = Vec::with_capacity(t.len());
        if !stop_at_marker {
            out.extend(t.iter().map(|(_, v)| v.clone()));
        } else {
            let mut x = 0u64;
            for (r, v) in t.iter() {
                if marker_in(&t, x, *r.start()) {
                    break;
                }
                out.push(v.clone());
                match r.end().checked_add(1) {
                    Some(n) => x = n,
                    None => break,
                }
            }
        }
        t.clear();
        out
    }

    /// Whether a zero entry (fork failure marker) covers `addr`.
    pub fn is_reserved(&self, addr: u64) -> bool {
        self.r().is_reserved(addr)
    }

    /// Fork, kernel < 6.8: walk the parent, store each copy into a fresh tree.
    pub fn fork_rebuild<F>(&self, mut f: F) -> ForkBuild
    where
        F: FnMut(&VmaRef) -> Result<Option<VmaRef>, MmError>,
    {
        let mut child = Tree::with_kind(TreeKind::Alloc);
        let mut result = Ok(());
        {
            let parent = self.r();
            for (r, v) in parent.iter() {
                match f(v) {
                    Ok(Some(c)) => {
                        if let Err(e) = child.store_range(r, c) {
                            result = Err(e.into());
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

    /// Fork, kernel 6.8+: `__mt_dup` then replace every entry in place with the child's
    /// copy (`vma_iter_bulk_store`), NULL-storing DONTCOPY ranges; on failure store the
    /// zero entry over the failing VMA's range (`XA_ZERO_ENTRY` marker).
    pub fn fork_dup<F>(&self, mut f: F) -> ForkBuild
    where
        F: FnMut(&VmaRef) -> Result<Option<VmaRef>, MmError>,
    {
        let mut child = match self.r().try_dup() {
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
                let parent_vma = v.clone();
                match f(&parent_vma) {
                    Ok(Some(c)) => {
                        cur.replace(c);
                    }
                    Ok(None) => {
                        cur.erase();
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
        F: FnMut(&VmaRef) -> Result<Option<VmaRef>, MmError>,
    {
        let parent = self.r();
        match parent.try_dup_map(|_r, v| f(v)) {
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
