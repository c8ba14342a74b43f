//! Page faults: the per-VMA lock fast path (`lock_vma_under_rcu`) and the mmap-lock path.

use crate::error::{FaultError, MmError};
use crate::flags::*;
use crate::lock::ReadLockError;
use crate::mm::{anon_vma_prepare, LockStatsSnapshot, Mm};
use crate::vma::Vma;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Kind of memory access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Load.
    Read,
    /// Store.
    Write,
    /// Instruction fetch.
    Exec,
}

/// How a fault was handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultPath {
    /// Under the per-VMA read lock, without the mmap lock.
    VmaLock,
    /// Under the mmap read lock.
    MmapLock,
}

/// Which locking scheme faults use (for benchmarks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultMode {
    /// Try `lock_vma_under_rcu` first, fall back to the mmap read lock.
    PerVma,
    /// Always take the mmap read lock (kernels before 6.4).
    MmapLockOnly,
}

/// A successfully handled fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultInfo {
    /// Identity of the VMA that handled it.
    pub vma_id: u64,
    /// Its start at the time of the fault.
    pub start: u64,
    /// Its end at the time of the fault.
    pub end: u64,
    /// Path taken.
    pub path: FaultPath,
}

/// A VMA read-locked with [`Mm::lock_vma_under_rcu`]; unlocks (`vma_end_read`) on drop.
pub struct VmaReadGuard {
    vma: Arc<Vma>,
}

impl Deref for VmaReadGuard {
    type Target = Vma;
    fn deref(&self) -> &Vma {
        &self.vma
    }
}

impl VmaReadGuard {
    /// The locked VMA.
    pub fn vma(&self) -> &Arc<Vma> {
        &self.vma
    }
}

impl Drop for VmaReadGuard {
    fn drop(&mut self) {
        self.vma.lock.end_read();
    }
}

/// x86 `access_error`.
fn access_ok(flags: VmFlags, access: Access) -> bool {
    match access {
        Access::Write => flags.contains(VmFlags::WRITE),
        Access::Exec => flags.contains(VmFlags::EXEC),
        Access::Read => flags.intersects(VmFlags::ACCESS),
    }
}

enum Handled {
    Done,
    Retry,
}

impl Mm {
    /// `lock_vma_under_rcu`: lock-free lookup of the VMA covering `addr` and a
    /// non-blocking VMA read lock. `None` means "use the mmap lock" (counted as abort).
    ///
    /// The tree walk runs in a lock-free read section (RCU): it neither takes the mmap lock
    /// nor waits for a tree writer. The VMA found there may already be changing or gone, so
    /// it is read-locked inside the section (`vma_start_read`: fails if write-locked in the
    /// current mmap write period, or detached), a reference is taken for use after the
    /// section, and only then is it checked to still belong to this mm and cover `addr`.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let a = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
    /// {
    ///     let g = mm.lock_vma_under_rcu(a).expect("no writer: the VMA read lock is free");
    ///     assert!(g.contains(a));
    /// }
    /// // A writer that write-locked the VMA makes the lookup give up until the mmap lock drops.
    /// let w = mm.mmap_write_lock();
    /// w.vma_start_write(&mm.vma_lookup(a).unwrap());
    /// assert!(mm.lock_vma_under_rcu(a).is_none());
    /// drop(w);
    /// assert!(mm.lock_vma_under_rcu(a).is_some());
    /// assert!(mm.lock_vma_under_rcu(a + PAGE_SIZE).is_none(), "nothing mapped there");
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn lock_vma_under_rcu(&self, addr: u64) -> Option<VmaReadGuard> {
        loop {
            // rcu_read_lock(); mas_walk(); vma_start_read(); rcu_read_unlock().
            let locked = self.tree.walk_rcu(addr, |vma| {
                vma.lock.start_read(&self.seq).map(|()| vma.to_arc())
            });
            let vma = match locked {
                None => {
                    self.stats.abort.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                Some(Err(ReadLockError::Detached)) => {
                    // Removed (and replaced) since the walk: walk again.
                    self.stats.miss.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Some(Err(ReadLockError::Locked)) => {
                    self.stats.abort.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                Some(Ok(vma)) => vma,
            };
            let guard = VmaReadGuard { vma };
            if guard.mm_id() != self.id || !guard.contains(addr) {
                // Shrunk or moved before we locked it: vma_end_read() on drop.
                self.stats.abort.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            return Some(guard);
        }
    }

    /// `handle_mm_fault`: a write to private memory without an anon_vma needs
    /// `anon_vma_prepare`, which under the VMA lock returns `VM_FAULT_RETRY`.
    fn handle_mm_fault(&self, vma: &Vma, access: Access, vma_locked: bool) -> Handled {
        if access == Access::Write
            && !vma.flags().contains(VmFlags::SHARED)
            && vma.anon_vma().is_none()
        {
            if vma_locked {
                return Handled::Retry;
            }
            anon_vma_prepare(self, vma);
        }
        vma.count_fault();
        Handled::Done
    }

    /// Handle a user page fault at `addr` like x86 `do_user_addr_fault`.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let a = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
    /// assert_eq!(mm.fault(a, Access::Read).map(|f| f.path), Ok(FaultPath::VmaLock));
    /// assert_eq!(mm.fault(a, Access::Write), Err(FaultError::AccErr));
    /// assert_eq!(mm.fault(a + PAGE_SIZE, Access::Read), Err(FaultError::MapErr));
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn fault(&self, addr: u64, access: Access) -> Result<FaultInfo, FaultError> {
        self.fault_with(addr, access, FaultMode::PerVma)
    }

    /// [`Mm::fault`] with an explicit locking scheme.
    pub fn fault_with(
        &self,
        addr: u64,
        access: Access,
        mode: FaultMode,
    ) -> Result<FaultInfo, FaultError> {
        if mode == FaultMode::PerVma {
            if let Some(vma) = self.lock_vma_under_rcu(addr) {
                if !access_ok(vma.flags(), access) {
                    self.stats.success.fetch_add(1, Ordering::Relaxed);
                    return Err(FaultError::AccErr);
                }
                let info = FaultInfo {
                    vma_id: vma.id(),
                    start: vma.start(),
                    end: vma.end(),
                    path: FaultPath::VmaLock,
                };
                match self.handle_mm_fault(&vma, access, true) {
                    Handled::Done => {
                        self.stats.success.fetch_add(1, Ordering::Relaxed);
                        return Ok(info);
                    }
                    Handled::Retry => {
                        self.stats.retry.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        self.stats.fallback.fetch_add(1, Ordering::Relaxed);
        let g = self.mmap_read_lock();
        let vma = match self.tree.find_vma(addr) {
            Some(v) if v.start() <= addr => v,
            Some(v) if v.flags().contains(VmFlags::GROWSDOWN) => {
                // lock_mm_and_find_vma: retake the lock for write and expand the stack.
                drop(g);
                let mut w = self.mmap_write_lock();
                let v = w.expand_stack(addr).map_err(|_| FaultError::MapErr)?;
                if !access_ok(v.flags(), access) {
                    return Err(FaultError::AccErr);
                }
                let info = FaultInfo {
                    vma_id: v.id(),
                    start: v.start(),
                    end: v.end(),
                    path: FaultPath::MmapLock,
                };
                self.handle_mm_fault(&v, access, false);
                return Ok(info);
            }
            _ => return Err(FaultError::MapErr),
        };
        if !access_ok(vma.flags(), access) {
            return Err(FaultError::AccErr);
        }
        let info = FaultInfo {
            vma_id: vma.id(),
            start: vma.start(),
            end: vma.end(),
            path: FaultPath::MmapLock,
        };
        self.handle_mm_fault(&vma, access, false);
        Ok(info)
    }

    /// Whether an `access` fault at `addr`, below a `VM_GROWSDOWN` VMA, would grow that
    /// VMA down to it and succeed (`expand_downwards`' checks, then the access check),
    /// without changing anything.
    pub(crate) fn stack_would_grow(&self, addr: u64, access: Access) -> bool {
        let st = self.layout();
        let address = addr & !(PAGE_SIZE - 1);
        let Some(vma) = self.tree.find_vma(address) else {
            return false;
        };
        if vma.start() <= address || !vma.flags().contains(VmFlags::GROWSDOWN) {
            return false;
        }
        if address < st.mmap_min_addr {
            return false;
        }
        if let Some(prev) = self.tree.prev(vma.start()) {
            if !prev.flags().contains(VmFlags::GROWSDOWN)
                && prev.flags().intersects(VmFlags::ACCESS)
                && address - prev.end() < st.stack_guard_gap
            {
                return false;
            }
        }
        access_ok(vma.flags(), access)
    }

    /// A write fault at `addr` (assigns anon memory); `-EFAULT` if it would SIGSEGV.
    pub fn touch(&self, addr: u64) -> Result<(), MmError> {
        self.fault(addr, Access::Write)
            .map(|_| ())
            .map_err(|_| MmError::Fault)
    }

    /// Per-VMA lock counters so far.
    pub fn lock_stats(&self) -> LockStatsSnapshot {
        let s = &self.stats;
        LockStatsSnapshot {
            success: s.success.load(Ordering::Relaxed),
            retry: s.retry.load(Ordering::Relaxed),
            abort: s.abort.load(Ordering::Relaxed),
            miss: s.miss.load(Ordering::Relaxed),
            fallback: s.fallback.load(Ordering::Relaxed),
        }
    }
}
