//! fork: `dup_mmap` in three strategies, with failure injection.

use crate::error::MmError;
use crate::flags::*;
use crate::lock::MmSeq;
use crate::mm::{Mm, MmCounters, MmState};
use crate::tree::{ForkBuild, VmaRef};
use crate::vma::next_id;
use crate::vma::{VmaAlloc, VmaTracker};
use std::sync::Arc;

/// How the child's VMA tree is built.
///
/// All three give the same child; they differ in how much tree work they do.
///
/// ```
/// use maple_mm::*;
/// let parent = spawn::build_layout(100);
/// let children: Vec<Mm> = ForkStrategy::ALL.iter().map(|&s| parent.fork(s)).collect::<Result<_, _>>()?;
/// for c in &children {
///     assert_eq!(c.maps(), parent.maps());
/// }
/// # Ok::<(), MmError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForkStrategy {
    /// Kernels before 6.8: walk the parent and store each copy into a fresh tree.
    Rebuild,
    /// 6.8+: `__mt_dup` the tree, then replace each entry with the child's copy.
    Dup,
    /// One fused pass (`MapleTree::try_dup_map`).
    DupMap,
}

impl ForkStrategy {
    /// All strategies.
    pub const ALL: [ForkStrategy; 3] = [
        ForkStrategy::Rebuild,
        ForkStrategy::Dup,
        ForkStrategy::DupMap,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            ForkStrategy::Rebuild => "rebuild",
            ForkStrategy::Dup => "dup",
            ForkStrategy::DupMap => "dup_map",
        }
    }
}

/// Fork options: failure injection and copy tracking.
#[derive(Clone, Debug, Default)]
pub struct ForkOptions {
    /// Fail with -ENOMEM when reaching the parent's VMA number `k` (0-based, address
    /// order), before anything is done for it.
    pub fail_at: Option<usize>,
    /// Record copies/removals/frees of the child's VMAs.
    pub tracker: Option<Arc<VmaTracker>>,
}

impl Mm {
    /// `fork()`'s `dup_mm`: a child address space.
    ///
    /// The child gets a copy of every VMA except `MADV_DONTFORK` ones, without `VM_LOCKED`;
    /// its per-VMA locks and anon_vmas are its own.
    ///
    /// ```
    /// use maple_mm::*;
    /// let parent = Mm::new();
    /// let a = parent.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, None, 0)?;
    /// parent.touch(a)?;
    /// let child = parent.fork(ForkStrategy::DupMap)?;
    /// let (p, c) = (parent.vma_lookup(a).unwrap(), child.vma_lookup(a).unwrap());
    /// assert!(p.flags().contains(VmFlags::LOCKED) && !c.flags().contains(VmFlags::LOCKED));
    /// assert_ne!(p.id(), c.id());
    /// assert_eq!(c.anon_vma().unwrap().parent().unwrap().id(), p.anon_vma().unwrap().id());
    /// child.exit();
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn fork(&self, strategy: ForkStrategy) -> Result<Mm, MmError> {
        self.fork_with(strategy, &ForkOptions::default())
    }

    /// [`Mm::fork`] with options. On failure the partial child is torn down (every VMA
    /// copied so far released exactly once, nothing after the failure point touched) and
    /// the parent is unchanged.
    ///
    /// ```
    /// use maple_mm::*;
    /// let parent = spawn::build_layout(10);
    /// let tracker = VmaTracker::new();
    /// let opts = ForkOptions { fail_at: Some(5), tracker: Some(tracker.clone()) };
    /// assert_eq!(parent.fork_with(ForkStrategy::Dup, &opts).err(), Some(MmError::NoMem));
    /// // The five copies made before the failure were released, once each.
    /// assert_eq!((tracker.copies(), tracker.removals(), tracker.drops()), (5, 5, 5));
    /// assert_eq!(parent.map_count(), 31);
    /// ```
    pub fn fork_with(&self, strategy: ForkStrategy, opts: &ForkOptions) -> Result<Mm, MmError> {
        // mmap_write_lock(oldmm): parent VMAs write-locked below stay locked until the end.
        let parent = self.mmap_write_lock();
        // The child is private until returned: its tree is built first and the Mm assembled
        // around it; its sequence is held odd meanwhile (mmap_write_lock_nested(mm)).
        let child_id = next_id();
        let child_seq = MmSeq::new();
        child_seq.write_begin();
        let pc = &parent.st.c;
        let mut cst = MmState {
            c: MmCounters {
                total_vm: pc.total_vm,
                data_vm: pc.data_vm,
                exec_vm: pc.exec_vm,
                stack_vm: pc.stack_vm,
                ..Default::default()
            },
            layout: parent.st.layout.clone(),
            brk: parent.st.brk,
            start_brk: parent.st.start_brk,
            unstable: false,
        };
        let parent_committed = pc.committed;
        // One batch of cached VMA objects for the whole copy (the kernel's per-CPU sheaf).
        let mut alloc = VmaAlloc::take(pc.map_count);
        let child_seq_now = child_seq.read();
        let mut idx = 0usize;
        let mut copy = |v: &crate::vma::Vma| -> Result<Option<VmaRef>, MmError> {
            let i = idx;
            idx += 1;
            parent.vma_start_write(v);
            if opts.fail_at == Some(i) {
                return Err(MmError::NoMem);
            }
            let f = v.flags();
            let n = v.pages();
            if f.contains(VmFlags::DONTCOPY) {
                cst.stat_account(f, -(n as i64));
                return Ok(None);
            }
            if f.contains(VmFlags::ACCOUNT) {
                // Committed memory is global in the kernel: the child's charge competes
                // with the parent's (security_vm_enough_memory_mm(oldmm, …)).
                if let Some(limit) = cst.layout.commit_limit {
                    if parent_committed + cst.c.committed + n > limit {
                        return Err(MmError::NoMem);
                    }
                }
                cst.c.committed += n;
            }
            // vm_area_dup from the VMA cache; vm_flags_clear(tmp, VM_LOCKED_MASK) write-locks
            // the copy in the child, and the store attaches it: both are done by building it
            // that way, as nothing can read the child's tree yet.
            let c = v.dup_for_fork(&mut alloc, child_id, child_seq_now, opts.tracker.as_ref());
            cst.c.map_count += 1;
            Ok(Some(c))
        };
        let build: ForkBuild = match strategy {
            ForkStrategy::Rebuild => self.tree.fork_rebuild(&mut copy),
            ForkStrategy::Dup => self.tree.fork_dup(&mut copy),
            ForkStrategy::DupMap => self.tree.fork_dup_map(&mut copy),
        };
        // MMF_UNSTABLE: teardown must stop at the zero-entry marker.
        cst.unstable = build.result.is_err() && build.marker.is_some();
        child_seq.write_end();
        let marker = build.marker;
        // The child's tree was built privately (RCU mode off); `from_tree` shared it.
        let mut child = Mm::from_parts(child_id, build.tree, child_seq, cst);
        drop(parent);
        match build.result {
            Ok(()) => Ok(child),
            Err(e) => {
                if let Some(m) = &marker {
                    debug_assert!(child.tree.is_reserved(*m.start()));
                }
                child.teardown();
                Err(e)
            }
        }
    }
}
