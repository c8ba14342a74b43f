//! `struct mm_struct` and the operations that change the address space.

use crate::error::MmError;
use crate::flags::*;
use crate::lock::MmSeq;
use crate::tree::{VmaPrealloc, VmaRef, VmaTree};
use crate::vma::{next_id, AnonVma, File, FileRef, Vma, VmaInfo};
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `DEFAULT_MAX_MAP_COUNT` = 65535 − 5.
pub const DEFAULT_MAX_MAP_COUNT: usize = 65_530;
/// x86-64 `TASK_SIZE_MAX` with 4-level paging.
pub const DEFAULT_TASK_SIZE: u64 = (1 << 47) - PAGE_SIZE;
/// Default `stack_guard_gap` (256 pages).
pub const DEFAULT_STACK_GUARD_GAP: u64 = 256 << PAGE_SHIFT;

/// Fixed layout parameters of an mm (no randomisation in the model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmLayout {
    /// `TASK_SIZE`: highest user address + 1.
    pub task_size: u64,
    /// `mmap_base`: ceiling of the top-down search.
    pub mmap_base: u64,
    /// `mmap_min_addr` sysctl.
    pub mmap_min_addr: u64,
    /// `start_brk`.
    pub start_brk: u64,
    /// `stack_guard_gap`.
    pub stack_guard_gap: u64,
    /// `sysctl_max_map_count`.
    pub max_map_count: usize,
    /// Commit limit in pages for `VM_ACCOUNT` charges (`None` = unlimited); a charge that
    /// would exceed it fails with -ENOMEM like `security_vm_enough_memory_mm`.
    pub commit_limit: Option<u64>,
    /// `def_flags`, OR-ed into every new VMA.
    pub def_flags: VmFlags,
    /// `CAP_SYS_RAWIO`: may map below `dac_mmap_min_addr` (`cap_mmap_addr`), as root can.
    pub cap_sys_rawio: bool,
    /// The `vm.mmap_min_addr` sysctl (`dac_mmap_min_addr`): below it a mapping needs
    /// `CAP_SYS_RAWIO`. `mmap_min_addr` is the larger of it and the security modules'
    /// floor, and is what hints are raised to and placement stays above.
    pub dac_mmap_min_addr: u64,
}

impl Default for MmLayout {
    fn default() -> Self {
        MmLayout {
            task_size: DEFAULT_TASK_SIZE,
            mmap_base: 0x7f00_0000_0000,
            mmap_min_addr: 0x10000,
            start_brk: 0x5555_5600_0000,
            stack_guard_gap: DEFAULT_STACK_GUARD_GAP,
            max_map_count: DEFAULT_MAX_MAP_COUNT,
            commit_limit: None,
            def_flags: VmFlags::empty(),
            cap_sys_rawio: false,
            dac_mmap_min_addr: 0x10000,
        }
    }
}

/// The mm's counters (pages, except `map_count`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MmCounters {
    /// Number of VMAs.
    pub map_count: usize,
    /// `total_vm`.
    pub total_vm: u64,
    /// `locked_vm`.
    pub locked_vm: u64,
    /// `data_vm`.
    pub data_vm: u64,
    /// `exec_vm`.
    pub exec_vm: u64,
    /// `stack_vm`.
    pub stack_vm: u64,
    /// Pages charged to committed memory by this mm (sum over `VM_ACCOUNT` VMAs).
    pub committed: u64,
}

/// State protected by the mmap lock.
#[derive(Debug)]
pub(crate) struct MmState {
    pub c: MmCounters,
    pub layout: MmLayout,
    pub brk: u64,
    pub start_brk: u64,
    /// `MMF_UNSTABLE`: a failed fork left a zero-entry marker in the tree.
    pub unstable: bool,
}

impl MmState {
    /// `vm_stat_account`.
    pub(crate) fn stat_account(&mut self, flags: VmFlags, n: i64) {
        let add = |x: &mut u64| *x = x.wrapping_add_signed(n);
        add(&mut self.c.total_vm);
        if flags.is_exec_mapping() {
            add(&mut self.c.exec_vm);
        } else if flags.is_stack_mapping() {
            add(&mut self.c.stack_vm);
        } else if flags.is_data_mapping() {
            add(&mut self.c.data_vm);
        }
    }
}

/// Per-VMA lock event counters (`/proc/vmstat` `vma_lock_*`) plus our fallback count.
#[derive(Debug, Default)]
pub(crate) struct LockStats {
    pub success: AtomicU64,
    pub retry: AtomicU64,
    pub abort: AtomicU64,
    pub miss: AtomicU64,
    pub fallback: AtomicU64,
}

/// Snapshot of the per-VMA lock counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockStatsSnapshot {
    /// `VMA_LOCK_SUCCESS`: fault completed under the VMA lock.
    pub success: u64,
    /// `VMA_LOCK_RETRY`: handler needed the mmap lock (e.g. anon_vma_prepare).
    pub retry: u64,
    /// `VMA_LOCK_ABORT`: lookup gave up (no VMA, write-locked, range changed).
    pub abort: u64,
    /// `VMA_LOCK_MISS`: VMA found detached, walk retried.
    pub miss: u64,
    /// Faults handled under the mmap read lock.
    pub fallback: u64,
}

/// A process address space.
///
/// The mm is shared by reference between threads: address-space changes take the mmap
/// write lock inside each call, faults ([`Mm::fault`]) first try the per-VMA read lock.
///
/// ```
/// use maple_mm::*;
/// let mm = Mm::new();
/// let a = mm.mmap(0x1000_0000, 8 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, None, 0)?;
/// assert_eq!(a, 0x1000_0000);
/// let v = mm.vma_lookup(a + PAGE_SIZE).unwrap();
/// assert_eq!((v.start(), v.end()), (a, a + 8 * PAGE_SIZE));
/// assert_eq!(mm.counters().total_vm, 8);
/// mm.validate().unwrap();
/// # Ok::<(), MmError>(())
/// ```
pub struct Mm {
    pub(crate) id: u64,
    pub(crate) tree: VmaTree,
    pub(crate) seq: MmSeq,
    pub(crate) state: RwLock<MmState>,
    pub(crate) stats: LockStats,
    exited: bool,
}

/// The mmap lock held for write: the mm sequence is odd until it is dropped, and every
/// VMA write-locked meanwhile stays write-locked until then.
pub struct MmapWriteGuard<'a> {
    pub(crate) mm: &'a Mm,
    pub(crate) st: RwLockWriteGuard<'a, MmState>,
}

impl Drop for MmapWriteGuard<'_> {
    fn drop(&mut self) {
        // vma_end_write_all() before up_write(): fields drop after this body.
        self.mm.seq.write_end();
    }
}

/// The mmap lock held for read.
pub struct MmapReadGuard<'a> {
    pub(crate) _mm: &'a Mm,
    pub(crate) _st: RwLockReadGuard<'a, MmState>,
}

impl MmapWriteGuard<'_> {
    /// `vma_start_write`: exclude per-VMA readers from `vma` until this guard drops.
    pub fn vma_start_write(&self, vma: &Vma) {
        vma.lock.start_write(&self.mm.seq);
    }
    /// Whether `vma` is write-locked in this write period.
    pub fn is_vma_write_locked(&self, vma: &Vma) -> bool {
        vma.lock.is_write_locked(&self.mm.seq)
    }
}

fn file_eq(a: Option<&FileRef>, b: Option<&FileRef>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.id() == y.id(),
        _ => false,
    }
}

fn anon_eq(a: &Option<Arc<AnonVma>>, b: &Option<Arc<AnonVma>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

/// `is_mergeable_vma`: flags equal modulo `VM_IGNORE_MERGE`, same file.
fn is_mergeable_vma(v: &Vma, flags: VmFlags, file: Option<&FileRef>) -> bool {
    (v.flags() ^ flags) & !VmFlags::IGNORE_MERGE == VmFlags::empty() && file_eq(v.file(), file)
}

/// `is_mergeable_anon_vma(tgt, src)`.
fn is_mergeable_anon_vma(tgt: &Vma, src_anon: &Option<Arc<AnonVma>>, src_fork_child: bool) -> bool {
    let tgt_anon = tgt.anon_vma();
    match (&tgt_anon, src_anon) {
        (None, Some(_)) => !src_fork_child,
        (Some(_), None) => !tgt.is_fork_child(),
        _ => anon_eq(&tgt_anon, src_anon),
    }
}

/// `are_anon_vmas_compatible(prev, next)`.
fn anon_compatible(a: &Vma, b: &Vma) -> bool {
    match (a.anon_vma(), b.anon_vma()) {
        (Some(x), Some(y)) => Arc::ptr_eq(&x, &y),
        _ => true,
    }
}

/// `anon_vma_compatible(a, b)` used by `find_mergeable_anon_vma`.
fn anon_vma_compatible(a: &Vma, b: &Vma) -> bool {
    a.end() == b.start()
        && file_eq(a.file(), b.file())
        && (a.flags() ^ b.flags()) & !(VmFlags::ACCESS | VmFlags::SOFTDIRTY) == VmFlags::empty()
        && b.pgoff() == a.pgoff() + pages(b.start() - a.start())
}

/// `vm_start_gap`.
fn vm_start_gap(v: &Vma, guard: u64) -> u64 {
    if v.flags().contains(VmFlags::GROWSDOWN) {
        v.start().saturating_sub(guard)
    } else {
        v.start()
    }
}

/// VMAs gathered for unmapping (`struct vma_munmap_struct`).
#[derive(Default)]
struct Gathered {
    vmas: Vec<VmaRef>,
    nr_pages: u64,
    locked: u64,
    nr_accounted: u64,
    exec: u64,
    stack: u64,
    data: u64,
}

impl Mm {
    /// An empty mm with the default layout (`mm_init`).
    pub fn new() -> Mm {
        Mm::with_layout(MmLayout::default())
    }

    /// An empty mm with the given layout.
    pub fn with_layout(layout: MmLayout) -> Mm {
        let st = MmState {
            c: MmCounters::default(),
            brk: layout.start_brk,
            start_brk: layout.start_brk,
            layout,
            unstable: false,
        };
        Mm::from_parts(next_id(), VmaTree::new(), MmSeq::new(), st)
    }

    /// Assemble an mm (used by fork, which builds the child's tree before the child
    /// exists as an `Mm`).
    pub(crate) fn from_parts(id: u64, tree: VmaTree, seq: MmSeq, st: MmState) -> Mm {
        Mm {
            id,
            tree,
            seq,
            state: RwLock::new(st),
            stats: LockStats::default(),
            exited: false,
        }
    }

    /// Identity of this mm (the VMAs' `vm_mm`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// `mmap_write_lock`: take the mmap lock for write (mm sequence becomes odd).
    pub fn mmap_write_lock(&self) -> MmapWriteGuard<'_> {
        let st = self.state.write().unwrap_or_else(|e| e.into_inner());
        self.seq.write_begin();
        MmapWriteGuard { mm: self, st }
    }

    /// `mmap_read_lock`.
    pub fn mmap_read_lock(&self) -> MmapReadGuard<'_> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        MmapReadGuard { _mm: self, _st: st }
    }

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, MmState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The mm sequence count used by per-VMA locks.
    pub fn mm_seq(&self) -> &MmSeq {
        &self.seq
    }

    /// Counters (map count and page accounting).
    pub fn counters(&self) -> MmCounters {
        self.read_state().c.clone()
    }

    /// Number of VMAs (`map_count`).
    pub fn map_count(&self) -> usize {
        self.read_state().c.map_count
    }

    /// Layout parameters.
    pub fn layout(&self) -> MmLayout {
        self.read_state().layout.clone()
    }

    /// Set `sysctl_max_map_count` for this mm.
    pub fn set_max_map_count(&self, n: usize) {
        self.mmap_write_lock().st.layout.max_map_count = n;
    }

    /// Set the commit limit (pages) for `VM_ACCOUNT` charges.
    pub fn set_commit_limit(&self, limit: Option<u64>) {
        self.mmap_write_lock().st.layout.commit_limit = limit;
    }

    /// Current program break.
    pub fn brk_value(&self) -> u64 {
        self.read_state().brk
    }

    /// All VMAs in address order (a snapshot).
    pub fn vmas(&self) -> Vec<Arc<Vma>> {
        let _g = self.mmap_read_lock();
        self.tree.all()
    }

    /// Plain-data snapshot of every VMA.
    pub fn vma_infos(&self) -> Vec<VmaInfo> {
        self.vmas().iter().map(|v| v.info()).collect()
    }

    /// `find_vma`: first VMA ending above `addr`.
    pub fn find_vma(&self, addr: u64) -> Option<Arc<Vma>> {
        let _g = self.mmap_read_lock();
        self.tree.find_vma(addr)
    }

    /// `vma_lookup`: the VMA containing `addr`.
    pub fn vma_lookup(&self, addr: u64) -> Option<Arc<Vma>> {
        self.tree.load(addr)
    }

    /// `mmap(2)`: `offset` in bytes (page aligned), `file` required unless `MAP_ANONYMOUS`.
    /// Returns the mapped address.
    ///
    /// Without `MAP_FIXED` the address is a hint, taken if the range is free, otherwise the
    /// highest free range below `mmap_base` that keeps the stack guard gap is used.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let anon = MAP_PRIVATE | MAP_ANONYMOUS;
    /// let hint = 0x2000_0000;
    /// assert_eq!(mm.mmap(hint, PAGE_SIZE, PROT_READ, anon, None, 0), Ok(hint));
    /// // The hint is taken: the next request for it goes top-down instead.
    /// let other = mm.mmap(hint, PAGE_SIZE, PROT_READ, anon, None, 0)?;
    /// assert!(other < mm.layout().mmap_base && other != hint);
    /// assert_eq!(
    ///     mm.mmap(hint, PAGE_SIZE, PROT_READ, anon | MAP_FIXED_NOREPLACE, None, 0),
    ///     Err(MmError::Exist)
    /// );
    /// // A file mapping: offset in bytes, the VMA's pgoff in pages.
    /// let f = File::new("/data", true, true);
    /// let at = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_SHARED, Some(&f), 3 * PAGE_SIZE)?;
    /// assert_eq!(mm.vma_lookup(at).unwrap().pgoff(), 3);
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn mmap(
        &self,
        addr: u64,
        len: u64,
        prot: i32,
        flags: i32,
        file: Option<&FileRef>,
        offset: u64,
    ) -> Result<u64, MmError> {
        if offset % PAGE_SIZE != 0 {
            return Err(MmError::Inval);
        }
        let file = if flags & MAP_ANONYMOUS != 0 {
            None
        } else {
            Some(file.ok_or(MmError::BadF)?.clone())
        };
        let mut w = self.mmap_write_lock();
        w.do_mmap(addr, len, prot, flags, file, offset >> PAGE_SHIFT)
    }

    /// `munmap(2)`.
    ///
    /// Unmapping a hole is not an error; punching a hole splits the VMA.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let a = mm.mmap(0, 3 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
    /// mm.munmap(a + PAGE_SIZE, PAGE_SIZE)?;
    /// assert_eq!(mm.map_count(), 2);
    /// mm.munmap(a + PAGE_SIZE, PAGE_SIZE)?;
    /// assert_eq!(mm.munmap(a + 1, PAGE_SIZE), Err(MmError::Inval));
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), MmError> {
        let mut w = self.mmap_write_lock();
        w.do_munmap(addr, len)
    }

    /// `mprotect(2)`. Work done before an error is kept, like the kernel.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let a = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
    /// mm.mprotect(a, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE)?;
    /// assert_eq!(mm.map_count(), 2);
    /// // Back to read-only: the two halves merge again.
    /// mm.mprotect(a, 2 * PAGE_SIZE, PROT_READ)?;
    /// assert_eq!(mm.map_count(), 1);
    /// // A range with a hole: -ENOMEM.
    /// assert_eq!(mm.mprotect(a, 8 * PAGE_SIZE, PROT_NONE), Err(MmError::NoMem));
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn mprotect(&self, addr: u64, len: u64, prot: i32) -> Result<(), MmError> {
        let mut w = self.mmap_write_lock();
        w.do_mprotect(addr, len, prot)
    }

    /// `madvise(2)` for `MADV_DONTFORK`, `MADV_DOFORK`, `MADV_WIPEONFORK`,
    /// `MADV_KEEPONFORK` (others: -EINVAL). Holes give -ENOMEM after the mapped parts
    /// were changed.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let a = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
    /// mm.madvise(a, PAGE_SIZE, MADV_DONTFORK)?;
    /// assert!(mm.vma_lookup(a).unwrap().flags().contains(VmFlags::DONTCOPY));
    /// // The child of a fork does not get the DONTFORK page.
    /// let child = mm.fork(ForkStrategy::Dup)?;
    /// assert!(child.vma_lookup(a).is_none());
    /// assert!(child.vma_lookup(a + PAGE_SIZE).is_some());
    /// child.exit();
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn madvise(&self, addr: u64, len: u64, advice: i32) -> Result<(), MmError> {
        let mut w = self.mmap_write_lock();
        w.do_madvise(addr, len, advice)
    }

    /// `brk(2)`: returns the new break, or the old one if the request failed.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let start = mm.brk_value();
    /// assert_eq!(mm.brk(start + 3 * PAGE_SIZE), start + 3 * PAGE_SIZE);
    /// assert_eq!(mm.vma_lookup(start).unwrap().end(), start + 3 * PAGE_SIZE);
    /// // Below the start of the heap: refused, the break stays.
    /// assert_eq!(mm.brk(start - PAGE_SIZE), start + 3 * PAGE_SIZE);
    /// assert_eq!(mm.brk(start), start);
    /// assert_eq!(mm.map_count(), 0);
    /// ```
    pub fn brk(&self, new_brk: u64) -> u64 {
        let mut w = self.mmap_write_lock();
        w.do_brk(new_brk)
    }

    /// Plain-data check of every invariant: tree valid, entries match VMAs, VMAs attached
    /// and owned by this mm, counters equal the sums over the VMAs.
    pub fn validate(&self) -> Result<(), String> {
        let st = self.read_state();
        self.tree.validate()?;
        let vmas = self.tree.all();
        if vmas.len() != self.tree.len() {
            return Err(format!(
                "tree holds {} ranges but {} VMAs",
                self.tree.len(),
                vmas.len()
            ));
        }
        let mut c = MmCounters {
            map_count: vmas.len(),
            ..Default::default()
        };
        for v in &vmas {
            if !v.is_attached() {
                return Err(format!("{v:?} in tree but detached"));
            }
            if v.mm_id() != self.id {
                return Err(format!("{v:?} belongs to mm {}", v.mm_id()));
            }
            if v.start() % PAGE_SIZE != 0 || v.end() % PAGE_SIZE != 0 || v.start() >= v.end() {
                return Err(format!("{v:?} badly aligned"));
            }
            let f = v.flags();
            let n = v.pages();
            c.total_vm += n;
            if f.contains(VmFlags::LOCKED) {
                c.locked_vm += n;
            }
            if f.contains(VmFlags::ACCOUNT) {
                c.committed += n;
            }
            if f.is_exec_mapping() {
                c.exec_vm += n;
            } else if f.is_stack_mapping() {
                c.stack_vm += n;
            } else if f.is_data_mapping() {
                c.data_vm += n;
            }
        }
        if c != st.c {
            return Err(format!("counters {:?} but VMAs add up to {:?}", st.c, c));
        }
        Ok(())
    }

    /// The address space as /proc/PID/maps text.
    pub fn maps(&self) -> String {
        let mut s = String::new();
        let brk = self.read_state();
        let (sb, b) = (brk.start_brk, brk.brk);
        drop(brk);
        for v in self.vmas() {
            let (off, name, inode) = match v.file() {
                Some(f) => (v.pgoff() << PAGE_SHIFT, f.name().to_string(), f.id()),
                None => {
                    let name = if v.start() <= b && v.end() >= sb && v.start() >= sb {
                        "[heap]".to_string()
                    } else if v.flags().contains(VmFlags::GROWSDOWN) {
                        "[stack]".to_string()
                    } else {
                        String::new()
                    };
                    (0, name, 0)
                }
            };
            let line = format!(
                "{:08x}-{:08x} {} {:08x} 00:00 {:<10} {}",
                v.start(),
                v.end(),
                v.flags().perms(),
                off,
                inode,
                name
            );
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    }

    /// `exit_mmap`: tear everything down (each VMA detached and released exactly once).
    ///
    /// Dropping an `Mm` does the same; `exit` makes the end of the address space explicit.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let a = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
    /// let v = mm.vma_lookup(a).unwrap();
    /// assert!(v.is_attached());
    /// mm.exit();
    /// assert!(!v.is_attached(), "exit detaches every VMA");
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn exit(mut self) {
        self.teardown();
    }

    /// `exit_mmap` on an exclusively owned mm: no lock-free reader can be walking the tree,
    /// so it leaves RCU mode and is torn down in place (removed VMAs are dropped at once).
    pub(crate) fn teardown(&mut self) {
        if std::mem::replace(&mut self.exited, true) {
            return;
        }
        let stop = self
            .state
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .unstable;
        let vmas = self.tree.take_all(stop);
        let mut w = self.mmap_write_lock();
        let mut nr_accounted = 0;
        let mut cache = Vec::with_capacity(vmas.len());
        for v in vmas {
            if v.flags().contains(VmFlags::ACCOUNT) {
                nr_accounted += v.pages();
            }
            if Vma::recyclable(&v) {
                // Nobody else holds it, and the tree it was in is ours alone: no reader
                // can be waited for or can see it detached, so it goes back to the VMA cache
                // without any of the lock's atomic steps.
                cache.push(v);
                continue;
            }
            w.vma_start_write(&v);
            v.lock.mark_detached();
            v.note_removed();
        }
        crate::vma::recycle(cache);
        w.st.c = MmCounters {
            committed: w.st.c.committed.saturating_sub(nr_accounted),
            ..Default::default()
        };
    }

    /// Create a VMA directly (no merging) — used to load layouts.
    pub(crate) fn insert_vma_raw(
        &self,
        start: u64,
        end: u64,
        flags: VmFlags,
        pgoff: u64,
        file: Option<FileRef>,
    ) -> Result<Arc<Vma>, MmError> {
        let mut w = self.mmap_write_lock();
        if start >= end
            || start % PAGE_SIZE != 0
            || end % PAGE_SIZE != 0
            || end > w.st.layout.task_size
        {
            return Err(MmError::Inval);
        }
        if self.tree.find_intersection(start, end).is_some() {
            return Err(MmError::Exist);
        }
        let v = Arc::new(Vma::new(self.id, start, end, flags, pgoff, file));
        w.attach_new(&v)?;
        w.stat_account(flags, pages(end - start) as i64);
        if flags.contains(VmFlags::LOCKED) {
            w.st.c.locked_vm += pages(end - start);
        }
        if flags.contains(VmFlags::ACCOUNT) {
            w.st.c.committed += pages(end - start);
        }
        Ok(v)
    }

    pub(crate) fn set_brk_area(&self, start_brk: u64, brk: u64) {
        let mut w = self.mmap_write_lock();
        w.st.start_brk = start_brk;
        w.st.brk = brk;
    }
}

impl Default for Mm {
    fn default() -> Self {
        Mm::new()
    }
}

impl Drop for Mm {
    fn drop(&mut self) {
        self.teardown();
    }
}

impl fmt::Debug for Mm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mm")
            .field("id", &self.id)
            .field("counters", &self.counters())
            .finish()
    }
}

/// Operations under the mmap write lock.
impl<'a> MmapWriteGuard<'a> {
    /// The mm's tree, borrowed for as long as the mmap lock is held (not just for this call),
    /// so a reservation can be held across other work on the guard.
    pub(crate) fn tree(&self) -> &'a VmaTree {
        &self.mm.tree
    }

    pub(crate) fn start_write(&self, v: &Vma) {
        v.lock.start_write(&self.mm.seq);
    }

    /// `vma_iter_prealloc` for `vma`'s future range `[start, end)`.
    pub(crate) fn prealloc(&self, start: u64, end: u64) -> Result<VmaPrealloc<'a>, MmError> {
        self.tree().prealloc(start, end)
    }

    /// Write-lock, attach and store a new VMA (`vma_iter_prealloc`, `vma_start_write`,
    /// `vma_iter_store_new`); `map_count++`. Fails (-ENOMEM) only before anything changed.
    pub(crate) fn attach_new(&mut self, v: &VmaRef) -> Result<(), MmError> {
        let p = self.prealloc(v.start(), v.end())?;
        self.start_write(v);
        v.lock.mark_attached();
        self.tree().store_prealloc(p, v);
        self.st.c.map_count += 1;
        Ok(())
    }

    /// `vm_stat_account`.
    pub(crate) fn stat_account(&mut self, flags: VmFlags, n: i64) {
        self.st.stat_account(flags, n);
    }

    /// `security_vm_enough_memory_mm` + `vm_acct_memory`.
    pub(crate) fn charge(&mut self, n: u64) -> Result<(), MmError> {
        if let Some(limit) = self.st.layout.commit_limit {
            if self.st.c.committed + n > limit {
                return Err(MmError::NoMem);
            }
        }
        self.st.c.committed += n;
        Ok(())
    }

    /// `vm_unacct_memory`.
    pub(crate) fn unacct(&mut self, n: u64) {
        self.st.c.committed -= n;
    }

    pub(crate) fn remove_vma(&mut self, v: &VmaRef) {
        v.lock.mark_detached();
        v.note_removed();
    }

    /// `__split_vma` (`check_limit`: `split_vma`'s map-count check). Returns the new VMA.
    pub(crate) fn split_vma(
        &mut self,
        vma: &VmaRef,
        addr: u64,
        new_below: bool,
        check_limit: bool,
    ) -> Result<VmaRef, MmError> {
        debug_assert!(vma.start() < addr && addr < vma.end());
        if check_limit && self.st.c.map_count >= self.st.layout.max_map_count {
            return Err(MmError::NoMem);
        }
        if vma.file().is_some_and(|f| f.forbids_split()) {
            // vm_ops->may_split of a special mapping.
            return Err(MmError::Inval);
        }
        let new = vma.dup();
        let delta = pages(addr - vma.start());
        let p = if new_below {
            self.prealloc(vma.start(), addr)?
        } else {
            self.prealloc(addr, vma.end())?
        };
        if new_below {
            new.set_end(addr);
        } else {
            new.set_start(addr);
            new.set_pgoff(vma.pgoff() + delta);
        }
        let new = Arc::new(new);
        self.start_write(vma);
        self.start_write(&new);
        if new_below {
            vma.set_pgoff(vma.pgoff() + delta);
            vma.set_start(addr);
        } else {
            vma.set_end(addr);
        }
        new.lock.mark_attached();
        self.tree().store_prealloc(p, &new);
        self.st.c.map_count += 1;
        Ok(new)
    }

    /// `vma_merge_new_range`: try to place `[start, end)` by extending prev and/or next.
    /// `Ok(None)`: no merge applies; `Err(NoMem)`: the tree preallocation failed (nothing
    /// changed).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn merge_new_range(
        &mut self,
        prev: Option<&VmaRef>,
        next: Option<&VmaRef>,
        start: u64,
        end: u64,
        flags: VmFlags,
        pgoff: u64,
        file: Option<&FileRef>,
        just_expand: bool,
        src: Option<&VmaRef>,
    ) -> Result<Option<VmaRef>, MmError> {
        if flags.intersects(VmFlags::SPECIAL) {
            return Ok(None);
        }
        let pglen = pages(end - start);
        // mremap's copy_vma merges the copied range with its anon_vma (`vmg->copied_from`).
        let src_anon = src.and_then(|s| s.anon_vma());
        let src_fc = src.is_some_and(|s| s.is_fork_child());
        let left = prev.filter(|p| {
            p.end() == start
                && is_mergeable_vma(p, flags, file)
                && is_mergeable_anon_vma(p, &src_anon, src_fc)
                && p.pgoff() + p.pages() == pgoff
        });
        let right = if just_expand {
            None
        } else {
            next.filter(|n| {
                n.start() == end
                    && is_mergeable_vma(n, flags, file)
                    && is_mergeable_anon_vma(n, &src_anon, src_fc)
                    && n.pgoff() == pgoff + pglen
                    && left.is_none_or(|p| anon_compatible(p, n))
            })
        };
        // commit_merge: vma_iter_prealloc before touching anything, vma_iter_store after.
        Ok(match (left, right) {
            (Some(p), Some(n)) => {
                let pre = self.prealloc(p.start(), n.end())?;
                self.start_write(p);
                self.start_write(n);
                if p.anon_vma().is_none() {
                    p.set_anon(n.anon_vma().or_else(|| src_anon.clone()));
                }
                p.set_end(n.end());
                self.tree().store_prealloc(pre, p);
                let n = n.clone();
                self.remove_vma(&n);
                self.st.c.map_count -= 1;
                Some(p.clone())
            }
            (Some(p), None) => {
                let pre = self.prealloc(p.start(), end)?;
                self.start_write(p);
                if p.anon_vma().is_none() && src_anon.is_some() {
                    p.set_anon(src_anon.clone());
                }
                p.set_end(end);
                self.tree().store_prealloc(pre, p);
                Some(p.clone())
            }
            (None, Some(n)) => {
                let pre = self.prealloc(start, n.end())?;
                self.start_write(n);
                if n.anon_vma().is_none() && src_anon.is_some() {
                    n.set_anon(src_anon.clone());
                }
                n.set_start(start);
                n.set_pgoff(pgoff);
                self.tree().store_prealloc(pre, n);
                Some(n.clone())
            }
            (None, None) => None,
        })
    }

    /// `vma_merge_existing_range`: give `[start, end)` of `middle` the flags `newflags`
    /// by merging with prev and/or next; `Ok(None)` if no merge applies, `Err(NoMem)` if
    /// the tree preallocation failed (nothing changed).
    pub(crate) fn merge_existing(
        &mut self,
        prev: Option<&VmaRef>,
        middle: &VmaRef,
        start: u64,
        end: u64,
        newflags: VmFlags,
    ) -> Result<Option<VmaRef>, MmError> {
        if newflags.intersects(VmFlags::SPECIAL) {
            return Ok(None);
        }
        let left_side = start == middle.start();
        let right_side = end == middle.end();
        if !left_side && !right_side {
            return Ok(None);
        }
        let pgoff_start = middle.pgoff() + pages(start - middle.start());
        let pglen = pages(end - start);
        let src_anon = middle.anon_vma();
        let src_fc = middle.is_fork_child();
        let file = middle.file();
        let next = if right_side {
            self.tree().load(end)
        } else {
            None
        };
        let merge_left = left_side
            && prev.is_some_and(|p| {
                p.end() == start
                    && is_mergeable_vma(p, newflags, file)
                    && is_mergeable_anon_vma(p, &src_anon, src_fc)
                    && p.pgoff() + p.pages() == pgoff_start
            });
        let merge_right = right_side
            && next.as_ref().is_some_and(|n| {
                n.start() == end
                    && is_mergeable_vma(n, newflags, file)
                    && is_mergeable_anon_vma(n, &src_anon, src_fc)
                    && n.pgoff() == pgoff_start + pglen
                    && (!merge_left || anon_compatible(prev.unwrap(), n))
            });
        if !merge_left && !merge_right {
            return Ok(None);
        }
        // commit_merge: the one store covers the target's new range; preallocate for it
        // before anything is changed.
        let pre = match (merge_left, merge_right) {
            (true, true) => self.prealloc(prev.unwrap().start(), next.as_ref().unwrap().end()),
            (true, false) => self.prealloc(prev.unwrap().start(), end),
            _ => self.prealloc(start, next.as_ref().unwrap().end()),
        }?;
        self.start_write(middle);
        Ok(Some(if merge_left && merge_right {
            let (p, n) = (prev.unwrap(), next.unwrap());
            self.start_write(p);
            self.start_write(&n);
            if p.anon_vma().is_none() {
                p.set_anon(src_anon.or_else(|| n.anon_vma()));
            }
            p.set_end(n.end());
            self.tree().store_prealloc(pre, p);
            self.remove_vma(middle);
            self.remove_vma(&n);
            self.st.c.map_count -= 2;
            p.clone()
        } else if merge_left {
            let p = prev.unwrap();
            self.start_write(p);
            if p.anon_vma().is_none() {
                p.set_anon(src_anon);
            }
            if right_side {
                p.set_end(end);
                self.tree().store_prealloc(pre, p);
                self.remove_vma(middle);
                self.st.c.map_count -= 1;
            } else {
                middle.set_pgoff(middle.pgoff() + pages(end - middle.start()));
                middle.set_start(end);
                p.set_end(end);
                self.tree().store_prealloc(pre, p);
            }
            p.clone()
        } else {
            let n = next.unwrap();
            self.start_write(&n);
            if n.anon_vma().is_none() {
                n.set_anon(src_anon);
            }
            if left_side {
                n.set_start(start);
                n.set_pgoff(pgoff_start);
                self.tree().store_prealloc(pre, &n);
                self.remove_vma(middle);
                self.st.c.map_count -= 1;
            } else {
                middle.set_end(start);
                n.set_start(start);
                n.set_pgoff(pgoff_start);
                self.tree().store_prealloc(pre, &n);
            }
            n
        }))
    }

    /// `vma_modify_flags`: merge, or split so one VMA covers exactly `[start, end)`.
    pub(crate) fn vma_modify_flags(
        &mut self,
        prev: Option<&VmaRef>,
        vma: &VmaRef,
        start: u64,
        end: u64,
        newflags: VmFlags,
    ) -> Result<VmaRef, MmError> {
        if let Some(t) = self.merge_existing(prev, vma, start, end, newflags)? {
            return Ok(t);
        }
        if vma.start() < start {
            self.split_vma(vma, start, true, true)?;
        }
        if vma.end() > end {
            self.split_vma(vma, end, false, true)?;
        }
        Ok(vma.clone())
    }

    /// `vms_gather_munmap_vmas`: split the boundary VMAs and collect (write-locked) every
    /// VMA in `[start, end)`; they stay in the tree until the caller overwrites them.
    fn gather(&mut self, start: u64, end: u64, first: &VmaRef) -> Result<Gathered, MmError> {
        if start > first.start() {
            if end < first.end() && self.st.c.map_count >= self.st.layout.max_map_count {
                return Err(MmError::NoMem);
            }
            self.split_vma(first, start, true, false)?;
        }
        let mut g = Gathered::default();
        for v in self.tree().intersecting(start, end) {
            if v.end() > end {
                self.split_vma(&v, end, false, false)?;
            }
            self.start_write(&v);
            let f = v.flags();
            let n = v.pages();
            g.nr_pages += n;
            if f.contains(VmFlags::LOCKED) {
                g.locked += n;
            }
            if f.contains(VmFlags::ACCOUNT) {
                g.nr_accounted += n;
            }
            if f.is_exec_mapping() {
                g.exec += n;
            } else if f.is_stack_mapping() {
                g.stack += n;
            } else if f.is_data_mapping() {
                g.data += n;
            }
            g.vmas.push(v);
        }
        Ok(g)
    }

    /// `vms_complete_munmap_vmas`: the gathered VMAs are gone from the tree; fix the
    /// counters and release them.
    fn complete(&mut self, g: Gathered) {
        let c = &mut self.st.c;
        c.map_count -= g.vmas.len();
        c.locked_vm -= g.locked;
        c.total_vm -= g.nr_pages;
        c.exec_vm -= g.exec;
        c.stack_vm -= g.stack;
        c.data_vm -= g.data;
        c.committed -= g.nr_accounted;
        for v in &g.vmas {
            self.remove_vma(v);
        }
    }

    pub(crate) fn do_munmap(&mut self, start: u64, len: u64) -> Result<(), MmError> {
        let task_size = self.st.layout.task_size;
        if start % PAGE_SIZE != 0 || start > task_size || len > task_size - start {
            return Err(MmError::Inval);
        }
        let len = page_align(len).ok_or(MmError::Inval)?;
        if len == 0 {
            return Err(MmError::Inval);
        }
        let end = start + len;
        let Some(first) = self.tree().find_intersection(start, end) else {
            return Ok(());
        };
        let g = self.gather(start, end, &first)?;
        self.tree().clear_range(start, end)?;
        self.complete(g);
        Ok(())
    }

    /// `unmapped_area_topdown`.
    fn unmapped_area_topdown(
        &self,
        len: u64,
        low: u64,
        high: u64,
        align_mask: u64,
        align_offset: u64,
    ) -> Result<u64, MmError> {
        let length = len.checked_add(align_mask).ok_or(MmError::NoMem)?;
        let low = low.max(self.st.layout.mmap_min_addr);
        let mut high = high;
        loop {
            let end = self
                .tree()
                .empty_area_rev(low, high, length)
                .ok_or(MmError::NoMem)?;
            let mut gap = end - len;
            gap -= gap.wrapping_sub(align_offset) & align_mask;
            let gap_end = end;
            if let Some(next) = self.tree().find_vma(gap_end) {
                if next.flags().contains(VmFlags::STARTGAP)
                    && vm_start_gap(&next, self.st.layout.stack_guard_gap) < gap_end
                {
                    high = vm_start_gap(&next, self.st.layout.stack_guard_gap);
                    continue;
                }
            }
            return Ok(gap);
        }
    }

    /// `unmapped_area` (bottom-up).
    fn unmapped_area(&self, len: u64, low: u64, high: u64) -> Result<u64, MmError> {
        let mut low = low.max(self.st.layout.mmap_min_addr);
        loop {
            let gap = self
                .tree()
                .empty_area(low, high, len)
                .ok_or(MmError::NoMem)?;
            if let Some(next) = self.tree().find_vma(gap) {
                if next.flags().contains(VmFlags::STARTGAP)
                    && vm_start_gap(&next, self.st.layout.stack_guard_gap) < gap + len
                {
                    low = next.end();
                    continue;
                }
            }
            return Ok(gap);
        }
    }

    /// x86 `arch_get_unmapped_area_topdown`.
    fn get_area_topdown(&self, hint: u64, len: u64) -> Result<u64, MmError> {
        let l = &self.st.layout;
        if hint != 0 && hint.checked_add(len).is_some_and(|e| e <= l.task_size) {
            match self.tree().find_vma(hint) {
                None => return Ok(hint),
                Some(v) if hint + len <= vm_start_gap(&v, l.stack_guard_gap) => return Ok(hint),
                _ => {}
            }
        }
        match self.unmapped_area_topdown(len, PAGE_SIZE, l.mmap_base, 0, 0) {
            Ok(a) => Ok(a),
            Err(_) => {
                let base = page_align(l.task_size / 3).unwrap_or(0);
                self.unmapped_area(len, base, l.task_size)
            }
        }
    }

    /// `__get_unmapped_area`.
    pub(crate) fn get_unmapped_area(
        &self,
        file: Option<&FileRef>,
        addr: u64,
        len: u64,
        flags: i32,
    ) -> Result<u64, MmError> {
        let l = &self.st.layout;
        if len > l.task_size {
            return Err(MmError::NoMem);
        }
        let addr = if flags & MAP_FIXED != 0 {
            addr
        } else if file.is_none() && flags & MAP_SHARED == 0 && addr == 0 && len % PMD_SIZE == 0 {
            // thp_get_unmapped_area_vmflags: pad, then align (top-down variant).
            match self.get_area_topdown(0, len + PMD_SIZE) {
                Ok(ret) => {
                    let off_sub = 0u64.wrapping_sub(ret) & (PMD_SIZE - 1);
                    if off_sub == 0 {
                        ret + PMD_SIZE
                    } else {
                        ret + off_sub
                    }
                }
                Err(_) => self.get_area_topdown(addr, len)?,
            }
        } else {
            self.get_area_topdown(addr, len)?
        };
        if addr > l.task_size - len {
            return Err(MmError::NoMem);
        }
        if addr % PAGE_SIZE != 0 {
            return Err(MmError::Inval);
        }
        if addr < l.dac_mmap_min_addr && !l.cap_sys_rawio {
            return Err(MmError::Perm);
        }
        Ok(addr)
    }

    /// `do_mmap`.
    pub(crate) fn do_mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: i32,
        mut flags: i32,
        mut file: Option<FileRef>,
        mut pgoff: u64,
    ) -> Result<u64, MmError> {
        if len == 0 {
            return Err(MmError::Inval);
        }
        if flags & MAP_FIXED_NOREPLACE != 0 {
            flags |= MAP_FIXED;
        }
        let mut addr = addr;
        if flags & MAP_FIXED == 0 {
            addr &= !(PAGE_SIZE - 1);
            if addr != 0 && addr < self.st.layout.mmap_min_addr {
                addr = page_align(self.st.layout.mmap_min_addr).unwrap_or(0);
            }
        }
        let len = match page_align(len) {
            Some(l) if l != 0 => l,
            _ => return Err(MmError::NoMem),
        };
        if pgoff.checked_add(pages(len)).is_none() {
            return Err(MmError::Overflow);
        }
        if self.st.c.map_count > self.st.layout.max_map_count {
            return Err(MmError::NoMem);
        }
        let mut vm_flags = VmFlags::from_prot(prot)
            | VmFlags::from_map_flags(flags)
            | self.st.layout.def_flags
            | VmFlags::MAYREAD
            | VmFlags::MAYWRITE
            | VmFlags::MAYEXEC;
        let addr = self.get_unmapped_area(file.as_ref(), addr, len, flags)?;
        if flags & MAP_FIXED_NOREPLACE != 0
            && self.tree().find_intersection(addr, addr + len).is_some()
        {
            return Err(MmError::Exist);
        }
        match &file {
            Some(f) => match flags & MAP_TYPE {
                MAP_SHARED | MAP_SHARED_VALIDATE => {
                    if prot & PROT_WRITE != 0 && !f.writable() {
                        return Err(MmError::Access);
                    }
                    if !f.readable() {
                        return Err(MmError::Access);
                    }
                    vm_flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
                    if !f.writable() {
                        vm_flags &= !(VmFlags::MAYWRITE | VmFlags::SHARED);
                    }
                }
                MAP_PRIVATE => {
                    if !f.readable() {
                        return Err(MmError::Access);
                    }
                }
                _ => return Err(MmError::Inval),
            },
            None => match flags & MAP_TYPE {
                MAP_SHARED | MAP_SHARED_VALIDATE => {
                    if vm_flags.contains(VmFlags::GROWSDOWN) {
                        return Err(MmError::Inval);
                    }
                    pgoff = 0;
                    vm_flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
                    // shmem_zero_setup: a unique shmem file, so it never merges.
                    file = Some(File::shmem_zero(pages(len)));
                }
                MAP_PRIVATE => pgoff = addr >> PAGE_SHIFT,
                _ => return Err(MmError::Inval),
            },
        }
        if flags & MAP_NORESERVE != 0 {
            vm_flags |= VmFlags::NORESERVE;
        }
        self.mmap_region(addr, len, vm_flags, pgoff, file)?;
        if vm_flags.contains(VmFlags::LOCKED) {
            // mm_populate(addr, len): errors are ignored.
            let _ = self.populate(addr, addr + len, true);
        }
        Ok(addr)
    }

    /// `__mmap_region`.
    fn mmap_region(
        &mut self,
        addr: u64,
        len: u64,
        mut flags: VmFlags,
        pgoff: u64,
        file: Option<FileRef>,
    ) -> Result<(), MmError> {
        let end = addr + len;
        let pglen = pages(len);
        let mut g = match self.tree().find_intersection(addr, end) {
            Some(first) => self.gather(addr, end, &first)?,
            None => Gathered::default(),
        };
        let prev = self.tree().prev(addr);
        let next = self.tree().find_vma(end);
        let mut charged = 0;
        if flags & (VmFlags::NORESERVE | VmFlags::SHARED | VmFlags::WRITE) == VmFlags::WRITE {
            charged = pglen - g.nr_accounted;
            if charged > 0 {
                self.charge(charged)?;
            }
            // The replaced VMAs' commitment is transferred to the new mapping.
            g.nr_accounted = 0;
            flags |= VmFlags::ACCOUNT;
        }
        // A merge that fails for lack of memory changed nothing: try a new VMA instead.
        let merged = self
            .merge_new_range(
                prev.as_ref(),
                next.as_ref(),
                addr,
                end,
                flags,
                pgoff,
                file.as_ref(),
                false,
                None,
            )
            .unwrap_or(None);
        if merged.is_none() {
            let v = Arc::new(Vma::new(self.mm.id, addr, end, flags, pgoff, file));
            if let Err(e) = self.attach_new(&v) {
                // The gathered VMAs are still attached and in the tree (vms_abort_munmap_vmas).
                self.unacct(charged);
                return Err(e);
            }
        }
        self.complete(g);
        self.stat_account(flags, pglen as i64);
        if flags.contains(VmFlags::LOCKED) {
            self.st.c.locked_vm += pglen;
        }
        Ok(())
    }

    /// `do_mprotect_pkey`.
    pub(crate) fn do_mprotect(&mut self, start: u64, len: u64, prot: i32) -> Result<(), MmError> {
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        let prot = prot & !grows;
        if grows == PROT_GROWSDOWN | PROT_GROWSUP {
            return Err(MmError::Inval);
        }
        if start % PAGE_SIZE != 0 {
            return Err(MmError::Inval);
        }
        if len == 0 {
            return Ok(());
        }
        let len = page_align(len).ok_or(MmError::NoMem)?;
        let end = start.checked_add(len).ok_or(MmError::NoMem)?;
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
            return Err(MmError::Inval);
        }
        let mut start = start;
        let Some(vma) = self.tree().find_intersection(start, end) else {
            return Err(MmError::NoMem);
        };
        if grows & PROT_GROWSDOWN != 0 {
            if vma.start() >= end {
                return Err(MmError::NoMem);
            }
            start = vma.start();
            if !vma.flags().contains(VmFlags::GROWSDOWN) {
                return Err(MmError::Inval);
            }
        } else if grows & PROT_GROWSUP != 0 {
            return Err(MmError::Inval);
        } else if vma.start() > start {
            return Err(MmError::NoMem);
        }
        self.fixup_range(start, end, vma, |w, prev, vma, from, to| {
            let newflags = VmFlags::from_prot(prot) | (vma.flags() & !VmFlags::ACCESS);
            if (newflags & !newflags.shr(4)).intersects(VmFlags::ACCESS) {
                return Err(MmError::Access);
            }
            w.mprotect_fixup(prev, vma, from, to, newflags)
        })
    }

    /// The walk `mprotect` and `mlock` share over `[start, end)`, from `vma`, the VMA holding
    /// `start` (or, growing down, the one it starts): `fixup(self, prev, vma, from, to)`
    /// changes each piece and returns the VMA the walk goes on after. A hole in the range is
    /// `NoMem`, with the pieces before it already changed, as in the kernel.
    pub(crate) fn fixup_range(
        &mut self,
        start: u64,
        end: u64,
        mut vma: VmaRef,
        mut fixup: impl FnMut(
            &mut Self,
            &mut Option<VmaRef>,
            &VmaRef,
            u64,
            u64,
        ) -> Result<VmaRef, MmError>,
    ) -> Result<(), MmError> {
        let mut prev = if start > vma.start() {
            Some(vma.clone())
        } else {
            self.tree().prev(vma.start())
        };
        let mut tmp = vma.start();
        let mut nstart = start;
        loop {
            if vma.start() != tmp {
                return Err(MmError::NoMem);
            }
            tmp = vma.end().min(end);
            tmp = fixup(self, &mut prev, &vma, nstart, tmp)?.end();
            nstart = tmp;
            if tmp >= end {
                break;
            }
            match self.tree().find_intersection(tmp, end) {
                Some(v) => vma = v,
                None => break,
            }
        }
        if tmp < end {
            return Err(MmError::NoMem);
        }
        Ok(())
    }

    /// `mprotect_fixup`.
    fn mprotect_fixup(
        &mut self,
        prev: &mut Option<VmaRef>,
        vma: &VmaRef,
        start: u64,
        end: u64,
        mut newflags: VmFlags,
    ) -> Result<VmaRef, MmError> {
        let old = vma.flags();
        if newflags == old {
            *prev = Some(vma.clone());
            return Ok(vma.clone());
        }
        let nrpages = pages(end - start);
        let mut charged = 0;
        if newflags.contains(VmFlags::WRITE) {
            if !old.intersects(
                VmFlags::ACCOUNT
                    | VmFlags::WRITE
                    | VmFlags::HUGETLB
                    | VmFlags::SHARED
                    | VmFlags::NORESERVE,
            ) {
                self.charge(nrpages)?;
                charged = nrpages;
                newflags |= VmFlags::ACCOUNT;
            }
        } else if old.contains(VmFlags::ACCOUNT) && vma.is_anonymous() && vma.anon_vma().is_none() {
            newflags &= !VmFlags::ACCOUNT;
        }
        let v = match self.vma_modify_flags(prev.as_ref(), vma, start, end, newflags) {
            Ok(v) => v,
            Err(e) => {
                self.unacct(charged);
                return Err(e);
            }
        };
        *prev = Some(v.clone());
        self.start_write(&v);
        v.set_flags(newflags);
        if old & (VmFlags::WRITE | VmFlags::SHARED | VmFlags::LOCKED) == VmFlags::LOCKED
            && newflags.contains(VmFlags::WRITE)
        {
            // populate_vma_page_range: write faults in a locked VMA that became writable.
            let _ = self.populate(start, end, true);
        }
        if old.contains(VmFlags::ACCOUNT) && !newflags.contains(VmFlags::ACCOUNT) {
            self.unacct(nrpages);
        }
        self.stat_account(old, -(nrpages as i64));
        self.stat_account(newflags, nrpages as i64);
        Ok(v)
    }

    /// `do_madvise` for the fork-inheritance advice values.
    pub(crate) fn do_madvise(
        &mut self,
        start: u64,
        len_in: u64,
        advice: i32,
    ) -> Result<(), MmError> {
        if !matches!(
            advice,
            MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK
        ) {
            return Err(MmError::Inval);
        }
        if start % PAGE_SIZE != 0 {
            return Err(MmError::Inval);
        }
        let len = page_align(len_in).ok_or(MmError::Inval)?;
        let end = start.checked_add(len).ok_or(MmError::Inval)?;
        if end == start {
            return Ok(());
        }
        let mut start = start;
        let mut vma = self.tree().find_vma(start);
        let mut prev = match &vma {
            Some(v) if start > v.start() => Some(v.clone()),
            Some(v) => self.tree().prev(v.start()),
            None => None,
        };
        let mut unmapped = false;
        loop {
            let Some(v) = vma else {
                return Err(MmError::NoMem);
            };
            if start < v.start() {
                unmapped = true;
                start = v.start();
                if start >= end {
                    break;
                }
            }
            let tmp = v.end().min(end);
            let old = v.flags();
            let new = match advice {
                MADV_DONTFORK | MADV_DOFORK if old.contains(VmFlags::IO) => {
                    return Err(MmError::Inval)
                }
                MADV_DONTFORK => old | VmFlags::DONTCOPY,
                MADV_DOFORK => old & !VmFlags::DONTCOPY,
                MADV_WIPEONFORK => {
                    if v.file().is_some() || old.contains(VmFlags::SHARED) {
                        return Err(MmError::Inval);
                    }
                    old | VmFlags::WIPEONFORK
                }
                _ => old & !VmFlags::WIPEONFORK,
            };
            if new == old {
                prev = Some(v.clone());
            } else {
                let nv = self.vma_modify_flags(prev.as_ref(), &v, start, tmp, new)?;
                self.start_write(&nv);
                nv.set_flags(new);
                prev = Some(nv);
            }
            start = tmp;
            if let Some(p) = &prev {
                if start < p.end() {
                    start = p.end();
                }
            }
            if start >= end {
                break;
            }
            vma = match &prev {
                Some(p) => self.tree().find_vma(p.end()),
                None => self.tree().find_vma(start),
            };
        }
        if unmapped {
            Err(MmError::NoMem)
        } else {
            Ok(())
        }
    }

    /// `expand_stack_locked` → `expand_downwards`: grow the `VM_GROWSDOWN` VMA above
    /// `addr` down to cover it, keeping the guard gap to a lower accessible VMA.
    pub(crate) fn expand_stack(&mut self, addr: u64) -> Result<VmaRef, MmError> {
        let address = addr & !(PAGE_SIZE - 1);
        let vma = self.tree().find_vma(address).ok_or(MmError::Fault)?;
        if vma.start() <= address {
            return Ok(vma);
        }
        if !vma.flags().contains(VmFlags::GROWSDOWN) {
            return Err(MmError::Fault);
        }
        if address < self.st.layout.mmap_min_addr {
            return Err(MmError::Perm);
        }
        if let Some(prev) = self.tree().prev(vma.start()) {
            if !prev.flags().contains(VmFlags::GROWSDOWN)
                && prev.flags().intersects(VmFlags::ACCESS)
                && address - prev.end() < self.st.layout.stack_guard_gap
            {
                return Err(MmError::NoMem);
            }
        }
        // mas_preallocate before anything is charged or changed.
        let pre = self.prealloc(address, vma.end())?;
        let grow = pages(vma.start() - address);
        let f = vma.flags();
        if f.contains(VmFlags::ACCOUNT) {
            self.charge(grow)?;
        }
        self.start_write(&vma);
        vma.set_pgoff(vma.pgoff() - grow);
        vma.set_start(address);
        self.tree().store_prealloc(pre, &vma);
        self.stat_account(f, grow as i64);
        if f.contains(VmFlags::LOCKED) {
            self.st.c.locked_vm += grow;
        }
        Ok(vma)
    }

    /// `sys_brk`.
    pub(crate) fn do_brk(&mut self, brk: u64) -> u64 {
        let origbrk = self.st.brk;
        let min_brk = self.st.start_brk;
        if brk < min_brk {
            return origbrk;
        }
        let (Some(newbrk), Some(oldbrk)) = (page_align(brk), page_align(self.st.brk)) else {
            return origbrk;
        };
        if oldbrk == newbrk {
            self.st.brk = brk;
            return brk;
        }
        if brk <= self.st.brk {
            let Some(v) = self.tree().find_intersection(newbrk, oldbrk) else {
                return origbrk;
            };
            if v.start() >= oldbrk {
                return origbrk;
            }
            self.st.brk = brk;
            if self.do_munmap(newbrk, oldbrk - newbrk).is_err() {
                self.st.brk = origbrk;
                return origbrk;
            }
            return brk;
        }
        let guard = self.st.layout.stack_guard_gap;
        if newbrk > self.st.layout.task_size {
            return origbrk;
        }
        if let Some(next) = self
            .tree()
            .find_intersection(oldbrk, newbrk.saturating_add(PAGE_SIZE + guard))
        {
            if newbrk + PAGE_SIZE > vm_start_gap(&next, guard) {
                return origbrk;
            }
        }
        let prev = self
            .tree()
            .prev(oldbrk)
            .filter(|p| p.start() >= self.st.start_brk);
        if self
            .do_brk_flags(prev.as_ref(), oldbrk, newbrk - oldbrk)
            .is_err()
        {
            return origbrk;
        }
        self.st.brk = brk;
        brk
    }

    /// `do_brk_flags`.
    fn do_brk_flags(&mut self, prev: Option<&VmaRef>, addr: u64, len: u64) -> Result<(), MmError> {
        let flags = VmFlags::DATA_DEFAULT | VmFlags::ACCOUNT | self.st.layout.def_flags;
        if self.st.c.map_count > self.st.layout.max_map_count {
            return Err(MmError::NoMem);
        }
        let n = pages(len);
        self.charge(n)?;
        let merged = match prev {
            Some(p) if p.end() == addr => self.merge_new_range(
                Some(p),
                None,
                addr,
                addr + len,
                flags,
                addr >> PAGE_SHIFT,
                None,
                true,
                None,
            ),
            _ => Ok(None),
        };
        let attached = match merged {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                let v = Arc::new(Vma::new(
                    self.mm.id,
                    addr,
                    addr + len,
                    flags,
                    addr >> PAGE_SHIFT,
                    None,
                ));
                self.attach_new(&v)
            }
            Err(e) => Err(e),
        };
        if let Err(e) = attached {
            // unacct_fail
            self.unacct(n);
            return Err(e);
        }
        self.stat_account(flags, n as i64);
        if flags.contains(VmFlags::LOCKED) {
            self.st.c.locked_vm += n;
        }
        Ok(())
    }
}

/// `anon_vma_prepare`: reuse a compatible neighbour's singular anon_vma, else a new one.
pub(crate) fn anon_vma_prepare(mm: &Mm, vma: &Vma) {
    if vma.anon_vma().is_some() {
        return;
    }
    let mut cand = None;
    if let Some(next) = mm.tree.load(vma.end()) {
        if anon_vma_compatible(vma, &next) {
            cand = next.anon_vma().filter(|a| a.chain_len() == 1);
        }
    }
    if cand.is_none() {
        if let Some(prev) = mm.tree.prev(vma.start()) {
            if anon_vma_compatible(&prev, vma) {
                cand = prev.anon_vma().filter(|a| a.chain_len() == 1);
            }
        }
    }
    vma.set_anon_if_none(cand.unwrap_or_else(AnonVma::new));
}
