//! The per-VMA lock protocol (kernel ≥ 6.15 refcount form, `mm/mmap_lock.c`).
//!
//! * [`MmSeq`] is `mm->mm_lock_seq`: a sequence count that is odd while the mmap lock is
//!   held for write. `mmap_write_lock` calls [`MmSeq::write_begin`], `mmap_write_unlock`
//!   calls [`MmSeq::write_end`]; bumping it releases every VMA write lock of the mm at once.
//! * [`VmaLock`] is the per-VMA state: `vm_refcnt` (0 = detached, 1 = attached,
//!   1 + n = n readers, `+ EXCLUDE_READERS` while a writer drains readers) and
//!   `vm_lock_seq` (equal to the mm sequence ⇔ write-locked in this write period).
//!
//! Readers never block: [`VmaLock::start_read`] either succeeds or reports why it failed,
//! and the caller falls back to the mmap read lock. Writers (who must hold the mmap write
//! lock) exclude readers with the flag bit and wait for them to drain.
//!
//! ```
//! use maple_mm::lock::{MmSeq, ReadLockError, VmaLock};
//! let (seq, vma) = (MmSeq::new(), VmaLock::new());
//! seq.write_begin(); // mmap_write_lock
//! vma.start_write(&seq);
//! vma.mark_attached();
//! assert_eq!(vma.start_read(&seq), Err(ReadLockError::Locked));
//! seq.write_end(); // mmap_write_unlock releases every VMA write lock at once
//! assert_eq!(vma.start_read(&seq), Ok(()));
//! vma.end_read();
//! ```

use crate::sync::{fence, relax, AtomicU32, AtomicU64, Ordering};

/// `VM_REFCNT_EXCLUDE_READERS_FLAG` (bit 30).
pub const EXCLUDE_READERS: u32 = 1 << 30;
/// `VM_REFCNT_LIMIT`: the largest count a reader may raise `vm_refcnt` to.
pub const REFCNT_LIMIT: u32 = EXCLUDE_READERS - 1;
/// Initial `vm_lock_seq` (`UINT_MAX` in the kernel): never equal to a live sequence.
pub const LOCK_SEQ_INIT: u64 = u64::MAX;

/// `mm->mm_lock_seq`: odd while the mmap lock is write-held.
#[derive(Debug)]
pub struct MmSeq {
    seq: AtomicU64,
}

impl Default for MmSeq {
    fn default() -> Self {
        Self::new()
    }
}

impl MmSeq {
    /// A fresh, even (unlocked) sequence (`mm_lock_seqcount_init`).
    pub fn new() -> Self {
        Self {
            seq: AtomicU64::new(0),
        }
    }

    /// `mm_lock_seqcount_begin`: called right after taking the mmap write lock (seq → odd).
    pub fn write_begin(&self) {
        let s = self.seq.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0, "mmap write lock taken twice");
        self.seq.store(s + 1, Ordering::Relaxed);
        // smp_wmb(): order the odd value before the writer's later stores.
        fence(Ordering::Release);
    }

    /// `vma_end_write_all`: called right before releasing (or downgrading) the mmap write
    /// lock (seq → even, release). Releases every VMA write lock of this period.
    pub fn write_end(&self) {
        let s = self.seq.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 1, "mmap write unlock without lock");
        self.seq.store(s + 1, Ordering::Release);
    }

    /// Current value as seen by a reader (acquire; pairs with [`MmSeq::write_end`]).
    pub fn read(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Whether the mmap lock is currently write-held (sequence odd).
    pub fn is_write_locked(&self) -> bool {
        self.read() & 1 == 1
    }
}

/// Why [`VmaLock::start_read`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadLockError {
    /// `vm_refcnt` was 0: the VMA is detached (the kernel's `-EAGAIN` → `VMA_LOCK_MISS`, retry).
    Detached,
    /// The VMA is write-locked, or a writer is excluding readers (NULL → `VMA_LOCK_ABORT`).
    Locked,
}

/// Per-VMA lock state: `vm_refcnt` and `vm_lock_seq`.
#[derive(Debug)]
pub struct VmaLock {
    refcnt: AtomicU32,
    lock_seq: AtomicU64,
}

impl Default for VmaLock {
    fn default() -> Self {
        Self::new()
    }
}

impl VmaLock {
    /// `vma_lock_init(vma, true)`: detached (refcnt 0), `vm_lock_seq = UINT_MAX`.
    pub fn new() -> Self {
        Self {
            refcnt: AtomicU32::new(0),
            lock_seq: AtomicU64::new(LOCK_SEQ_INIT),
        }
    }

    /// Attached (refcnt 1) and write-locked in write period `seq`: a fork child's copy
    /// stored straight into a tree nobody can read yet, so there are no readers to exclude
    /// and none of `start_write`'s atomic steps are needed.
    pub fn attached_locked(seq: u64) -> Self {
        Self {
            refcnt: AtomicU32::new(1),
            lock_seq: AtomicU64::new(seq),
        }
    }

    /// Current `vm_refcnt` (diagnostics and tests).
    pub fn refcnt(&self) -> u32 {
        self.refcnt.load(Ordering::Acquire)
    }

    /// Current `vm_lock_seq` (diagnostics and tests).
    pub fn lock_seq(&self) -> u64 {
        self.lock_seq.load(Ordering::Relaxed)
    }

    /// Whether the VMA is attached to a tree (`vm_refcnt != 0`).
    pub fn is_attached(&self) -> bool {
        self.refcnt() != 0
    }

    /// `__is_vma_write_locked`: meaningful only to the mmap write-lock holder.
    pub fn is_write_locked(&self, mm: &MmSeq) -> bool {
        self.lock_seq.load(Ordering::Relaxed) == mm.seq.load(Ordering::Relaxed)
    }

    /// `vma_start_read`: try to read-lock without blocking.
    pub fn start_read(&self, mm: &MmSeq) -> Result<(), ReadLockError> {
        // 1. Lockless early check.
        if self.lock_seq.load(Ordering::Relaxed) == mm.read() {
            return Err(ReadLockError::Locked);
        }
        // 2. refcount_inc_not_zero_limited_acquire.
        let mut old = self.refcnt.load(Ordering::Relaxed);
        loop {
            if old == 0 {
                return Err(ReadLockError::Detached);
            }
            if old >= REFCNT_LIMIT {
                return Err(ReadLockError::Locked);
            }
            match self.refcnt.compare_exchange_weak(
                old,
                old + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(cur) => old = cur,
            }
        }
        // 4. Re-check against the mm sequence with acquire ordering.
        if self.lock_seq.load(Ordering::Relaxed) == mm.read() {
            self.end_read();
            return Err(ReadLockError::Locked);
        }
        Ok(())
    }

    /// `vma_start_read_locked`: reader that already holds the mmap read lock (cannot race
    /// a writer); only a detached VMA makes it fail.
    pub fn start_read_locked(&self) -> bool {
        let mut old = self.refcnt.load(Ordering::Relaxed);
        loop {
            if old == 0 || old >= REFCNT_LIMIT {
                return false;
            }
            match self.refcnt.compare_exchange_weak(
                old,
                old + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(cur) => old = cur,
            }
        }
    }

    /// `vma_end_read`: drop a read reference (release). The kernel wakes
    /// `vma_writer_wait` here; our writers spin.
    pub fn end_read(&self) {
        let prev = self.refcnt.fetch_sub(1, Ordering::Release);
        debug_assert!(prev >= 2, "vma_end_read without a read reference");
    }

    /// Add the exclude flag unless detached; returns whether it was added.
    fn exclude_readers(&self) -> bool {
        let mut old = self.refcnt.load(Ordering::Relaxed);
        loop {
            if old == 0 {
                return false;
            }
            match self.refcnt.compare_exchange_weak(
                old,
                old + EXCLUDE_READERS,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(cur) => old = cur,
            }
        }
    }

    fn wait_for(&self, target: u32) {
        while self.refcnt.load(Ordering::Acquire) != target {
            relax();
        }
    }

    /// `vma_start_write`: the caller holds the mmap write lock (`mm` odd). Waits for
    /// current readers to leave, then marks the VMA write-locked for this write period.
    pub fn start_write(&self, mm: &MmSeq) {
        let cur = mm.seq.load(Ordering::Relaxed);
        debug_assert!(cur & 1 == 1, "vma_start_write without the mmap write lock");
        if self.lock_seq.load(Ordering::Relaxed) == cur {
            return;
        }
        let excluded = self.exclude_readers();
        if excluded {
            self.wait_for(EXCLUDE_READERS + 1);
        }
        self.lock_seq.store(cur, Ordering::Relaxed);
        if excluded {
            self.refcnt.fetch_sub(EXCLUDE_READERS, Ordering::Release);
        }
    }

    /// `vma_mark_attached`: write-locked and detached → refcnt 1 (release).
    pub fn mark_attached(&self) {
        debug_assert_eq!(
            self.refcnt.load(Ordering::Relaxed),
            0,
            "attaching an attached VMA"
        );
        self.refcnt.store(1, Ordering::Release);
    }

    /// `vma_mark_detached`: write-locked and attached → refcnt 0, waiting out transient
    /// readers that raised the count before noticing the write lock.
    pub fn mark_detached(&self) {
        if self.refcnt.fetch_sub(1, Ordering::AcqRel) == 1 {
            return;
        }
        if self.exclude_readers() {
            self.wait_for(EXCLUDE_READERS);
            self.refcnt.fetch_sub(EXCLUDE_READERS, Ordering::Release);
        }
    }
}
