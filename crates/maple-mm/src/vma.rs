//! `struct vm_area_struct`, `struct anon_vma` and file identities.

use crate::flags::*;
use crate::lock::VmaLock;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A file identity (`struct file`): VMAs merge only if they map the same file.
#[derive(Debug)]
pub struct File {
    id: u64,
    name: String,
    readable: bool,
    writable: bool,
    special: bool,
    forbid_split: bool,
    size_pages: Option<u64>,
}

/// Shared handle to a [`File`].
pub type FileRef = Arc<File>;

impl File {
    /// A regular file opened with the given modes.
    pub fn new(name: impl Into<String>, readable: bool, writable: bool) -> FileRef {
        Arc::new(File {
            id: next_id(),
            name: name.into(),
            readable,
            writable,
            special: false,
            forbid_split: false,
            size_pages: None,
        })
    }

    /// A regular file of `size_pages` pages: accesses at or beyond its end fault
    /// (`SIGBUS`), and `mlock`'s populate stops there.
    pub fn with_size(
        name: impl Into<String>,
        readable: bool,
        writable: bool,
        size_pages: u64,
    ) -> FileRef {
        Arc::new(File {
            id: next_id(),
            name: name.into(),
            readable,
            writable,
            special: false,
            forbid_split: false,
            size_pages: Some(size_pages),
        })
    }

    /// A special mapping object (vdso, vvar, shmem for shared anonymous memory…): it has
    /// `vm_ops`, so the VMA is not anonymous, and it is unique (never merges).
    pub fn special(name: impl Into<String>) -> FileRef {
        Arc::new(File {
            id: next_id(),
            name: name.into(),
            readable: true,
            writable: true,
            special: true,
            forbid_split: true,
            size_pages: None,
        })
    }

    /// The shmem object behind a `MAP_SHARED | MAP_ANONYMOUS` mapping of `pages` pages
    /// (`shmem_zero_setup`): unique, and sized like the mapping it was made for.
    pub fn shmem_zero(pages: u64) -> FileRef {
        Arc::new(File {
            id: next_id(),
            name: "/dev/zero (deleted)".into(),
            readable: true,
            writable: true,
            special: true,
            forbid_split: false,
            size_pages: Some(pages),
        })
    }

    /// Unique identity.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Path shown in /proc/PID/maps.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Opened for reading (`FMODE_READ`).
    pub fn readable(&self) -> bool {
        self.readable
    }
    /// Opened for writing (`FMODE_WRITE`).
    pub fn writable(&self) -> bool {
        self.writable
    }
    /// Special mapping (vdso etc.).
    pub fn is_special(&self) -> bool {
        self.special
    }
    /// `special_mapping_split`: a special mapping (vdso, vvar) may not be split (-EINVAL).
    pub fn forbids_split(&self) -> bool {
        self.forbid_split
    }
    /// Size in pages, when known.
    pub fn size_pages(&self) -> Option<u64> {
        self.size_pages
    }
}

/// `struct anon_vma`, assigned to a VMA at its first write fault (or inherited on fork).
///
/// The model keeps the part that matters for merging: identity, and the length of the
/// `anon_vma_chain` of the VMAs using it (1 = singular; a fork child's chain also links
/// every ancestor's anon_vma).
#[derive(Debug)]
pub struct AnonVma {
    id: u64,
    parent: Option<Arc<AnonVma>>,
    depth: usize,
}

impl AnonVma {
    /// A fresh anon_vma (`anon_vma_prepare`): chain is singular.
    pub fn new() -> Arc<AnonVma> {
        Arc::new(AnonVma {
            id: next_id(),
            parent: None,
            depth: 1,
        })
    }
    /// `anon_vma_fork`: the child's anon_vma, chained to the parent's.
    pub fn fork(parent: &Arc<AnonVma>) -> Arc<AnonVma> {
        Arc::new(AnonVma {
            id: next_id(),
            parent: Some(parent.clone()),
            depth: parent.depth + 1,
        })
    }
    /// Unique identity.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The anon_vma this one was forked from.
    pub fn parent(&self) -> Option<&Arc<AnonVma>> {
        self.parent.as_ref()
    }
    /// Length of the anon_vma_chain of a VMA using this anon_vma.
    pub fn chain_len(&self) -> usize {
        self.depth
    }
}

/// Counts VMA copies, removals and frees per origin address, for fork-failure tests.
#[derive(Debug, Default)]
pub struct VmaTracker {
    copies: AtomicUsize,
    removed: AtomicUsize,
    dropped: AtomicUsize,
    per_origin: Mutex<BTreeMap<u64, [usize; 3]>>,
}

impl VmaTracker {
    /// New, shareable tracker.
    pub fn new() -> Arc<VmaTracker> {
        Arc::new(VmaTracker::default())
    }
    fn bump(&self, origin: u64, which: usize) {
        let mut m = self.per_origin.lock().unwrap();
        m.entry(origin).or_default()[which] += 1;
    }
    pub(crate) fn copied(&self, origin: u64) {
        self.copies.fetch_add(1, Ordering::SeqCst);
        self.bump(origin, 0);
    }
    pub(crate) fn removed(&self, origin: u64) {
        self.removed.fetch_add(1, Ordering::SeqCst);
        self.bump(origin, 1);
    }
    fn dropped(&self, origin: u64) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
        self.bump(origin, 2);
    }
    /// Total copies made (`vm_area_dup` in fork).
    pub fn copies(&self) -> usize {
        self.copies.load(Ordering::SeqCst)
    }
    /// Total copies released by a teardown (`remove_vma`).
    pub fn removals(&self) -> usize {
        self.removed.load(Ordering::SeqCst)
    }
    /// Total copies freed (Rust drop of the VMA object).
    pub fn drops(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
    /// `[copies, removals, drops]` for the copy of the parent VMA starting at `origin`.
    pub fn counts(&self, origin: u64) -> [usize; 3] {
        self.per_origin
            .lock()
            .unwrap()
            .get(&origin)
            .copied()
            .unwrap_or_default()
    }
}

/// A virtual memory area `[start, end)`.
///
/// Range, pgoff and flags change in place (like the kernel's), but only by the holder of
/// the mmap write lock after write-locking the VMA; they are atomics so that lock-free
/// readers that have not yet taken the VMA read lock can look at them safely.
///
/// VMAs are created by the [`Mm`](crate::Mm) operations and looked up with
/// [`Mm::vma_lookup`](crate::Mm::vma_lookup), [`Mm::find_vma`](crate::Mm::find_vma) or
/// [`Mm::vmas`](crate::Mm::vmas); the handle stays readable after the VMA left the tree.
///
/// ```
/// use maple_mm::*;
/// let mm = Mm::new();
/// let f = File::new("/lib/x.so", true, false);
/// let a = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, Some(&f), 2 * PAGE_SIZE)?;
/// let v = mm.vma_lookup(a).unwrap();
/// assert_eq!((v.len(), v.pgoff(), v.file().map(|f| f.name())), (4 * PAGE_SIZE, 2, Some("/lib/x.so")));
/// assert_eq!(v.flags().perms(), "r--p");
/// assert!(!v.is_anonymous());
/// # Ok::<(), MmError>(())
/// ```
pub struct Vma {
    mm_id: AtomicU64,
    start: AtomicU64,
    end: AtomicU64,
    pgoff: AtomicU64,
    flags: AtomicU64,
    file: Option<FileRef>,
    // Set by the first write fault (possibly racing another under the mmap read lock), a
    // merge or fork; cleared when mremap's MREMAP_DONTUNMAP moves the whole VMA's pages
    // away (`unlink_anon_vmas`). `has_anon` mirrors it so that the common "none" answer
    // (fork of untouched memory) takes no lock.
    anon: Mutex<Option<Arc<AnonVma>>>,
    has_anon: AtomicBool,
    pub(crate) lock: VmaLock,
    faults: AtomicU64,
    tracker: Option<Arc<VmaTracker>>,
    origin: u64,
}

/// The fields a new VMA starts with (`vm_area_alloc` + `vma_set_range` + flags + file).
pub(crate) struct VmaInit {
    pub mm_id: u64,
    pub start: u64,
    pub end: u64,
    pub flags: VmFlags,
    pub pgoff: u64,
    pub file: Option<FileRef>,
    pub anon: Option<Arc<AnonVma>>,
    /// Born attached and write-locked in this write period of the given mm sequence (a
    /// fork child's copy, stored straight into the child's private tree).
    pub attached_locked: Option<u64>,
}

impl VmaInit {
    fn fill(self, v: &mut Vma) {
        debug_assert!(
            self.start < self.end && self.start % PAGE_SIZE == 0 && self.end % PAGE_SIZE == 0
        );
        *v.mm_id.get_mut() = self.mm_id;
        *v.start.get_mut() = self.start;
        *v.end.get_mut() = self.end;
        *v.pgoff.get_mut() = self.pgoff;
        *v.flags.get_mut() = self.flags.bits();
        v.file = self.file;
        *v.has_anon.get_mut() = self.anon.is_some();
        *v.anon.get_mut().unwrap_or_else(|e| e.into_inner()) = self.anon;
        v.lock = match self.attached_locked {
            Some(seq) => VmaLock::attached_locked(seq),
            None => VmaLock::new(),
        };
        *v.faults.get_mut() = 0;
        v.tracker = None;
        v.origin = 0;
    }

    fn build(self) -> Vma {
        let mut v = Vma {
            mm_id: AtomicU64::new(0),
            start: AtomicU64::new(0),
            end: AtomicU64::new(0),
            pgoff: AtomicU64::new(0),
            flags: AtomicU64::new(0),
            file: None,
            anon: Mutex::new(None),
            has_anon: AtomicBool::new(false),
            lock: VmaLock::new(),
            faults: AtomicU64::new(0),
            tracker: None,
            origin: 0,
        };
        self.fill(&mut v);
        v
    }
}

/// The VMA cache (`vm_area_cachep`): VMA objects an exited mm gave back, reused by later
/// allocations instead of going to the allocator. Filled and drained in batches (one lock
/// per exit and per fork), bounded so an idle cache holds at most a few MiB.
static VMA_CACHE: Mutex<Vec<Arc<Vma>>> = Mutex::new(Vec::new());
const VMA_CACHE_MAX: usize = 1 << 15;

/// VMA objects taken from the cache in one batch, for one fork.
pub(crate) struct VmaAlloc {
    spare: Vec<Arc<Vma>>,
}

impl VmaAlloc {
    /// Up to `n` cached objects (fewer if the cache has fewer).
    pub(crate) fn take(n: usize) -> VmaAlloc {
        let mut c = VMA_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let at = c.len().saturating_sub(n);
        VmaAlloc {
            spare: c.split_off(at),
        }
    }

    /// A VMA with these fields: a cached object if one is free, else a new allocation.
    pub(crate) fn alloc(&mut self, init: VmaInit) -> Arc<Vma> {
        while let Some(mut v) = self.spare.pop() {
            // Only an object nobody else holds may be reused (it stays valid for whoever
            // still has a handle on it, so those are simply left to them).
            if let Some(m) = Arc::get_mut(&mut v) {
                init.fill(m);
                return v;
            }
        }
        Arc::new(init.build())
    }
}

impl Drop for VmaAlloc {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.spare));
    }
}

/// Give VMA objects back to the cache (beyond its bound they are freed).
pub(crate) fn recycle(mut vmas: Vec<Arc<Vma>>) {
    if vmas.is_empty() {
        return;
    }
    let mut c = VMA_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let room = VMA_CACHE_MAX.saturating_sub(c.len());
    if vmas.len() > room {
        let extra = vmas.split_off(room);
        c.append(&mut vmas);
        drop(c);
        drop(extra);
    } else {
        c.append(&mut vmas);
    }
}

/// Number of VMA objects in the cache (tests).
pub fn vma_cache_len() -> usize {
    VMA_CACHE.lock().unwrap_or_else(|e| e.into_inner()).len()
}

impl Vma {
    /// `vm_area_alloc` + setup: a detached VMA with fresh lock state.
    pub(crate) fn new(
        mm_id: u64,
        start: u64,
        end: u64,
        flags: VmFlags,
        pgoff: u64,
        file: Option<FileRef>,
    ) -> Vma {
        VmaInit {
            mm_id,
            start,
            end,
            flags,
            pgoff,
            file,
            anon: None,
            attached_locked: None,
        }
        .build()
    }

    /// `vm_area_dup`: copy the fields, fresh (detached) lock state.
    pub(crate) fn dup(&self) -> Vma {
        VmaInit {
            mm_id: self.mm_id(),
            start: self.start(),
            end: self.end(),
            flags: self.flags(),
            pgoff: self.pgoff(),
            file: self.file.clone(),
            anon: self.anon_vma(),
            attached_locked: None,
        }
        .build()
    }

    /// Copy for a fork child (`vm_area_dup` + `anon_vma_fork`/WIPEONFORK + clear mlock),
    /// attached and write-locked in the child's (private) write period `child_seq`.
    pub(crate) fn dup_for_fork(
        &self,
        alloc: &mut VmaAlloc,
        child_mm: u64,
        child_seq: u64,
        tracker: Option<&Arc<VmaTracker>>,
    ) -> Arc<Vma> {
        let f = self.flags();
        let anon = if f.contains(VmFlags::WIPEONFORK) {
            None
        } else {
            self.anon_vma().as_ref().map(AnonVma::fork)
        };
        let init = VmaInit {
            mm_id: child_mm,
            start: self.start(),
            end: self.end(),
            flags: f & !VmFlags::LOCKED_MASK,
            pgoff: self.pgoff(),
            file: self.file.clone(),
            anon,
            attached_locked: Some(child_seq),
        };
        match tracker {
            None => alloc.alloc(init),
            Some(t) => {
                // Tracked copies count their frees, so they never go through the cache.
                let mut v = init.build();
                t.copied(self.start());
                v.tracker = Some(t.clone());
                v.origin = self.start();
                Arc::new(v)
            }
        }
    }

    /// Whether teardown may skip detaching this VMA and hand it to the cache: nobody else
    /// holds it (so nobody can see it detached or not) and it is not tracked.
    pub(crate) fn recyclable(this: &Arc<Vma>) -> bool {
        this.tracker.is_none() && Arc::strong_count(this) == 1
    }

    /// Object identity: its address, like the kernel's `struct vm_area_struct *` (an
    /// address is reused once the VMA was freed or went back to the cache).
    pub fn id(&self) -> u64 {
        self as *const Vma as u64
    }
    /// Identity of the owning mm (`vm_mm`).
    pub fn mm_id(&self) -> u64 {
        self.mm_id.load(Ordering::Relaxed)
    }
    /// First byte (`vm_start`).
    pub fn start(&self) -> u64 {
        self.start.load(Ordering::Acquire)
    }
    /// One past the last byte (`vm_end`).
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end() - self.start()
    }
    /// Always false (VMAs are never empty); for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Length in pages.
    pub fn pages(&self) -> u64 {
        pages(self.len())
    }
    /// Page offset of `start` (`vm_pgoff`).
    pub fn pgoff(&self) -> u64 {
        self.pgoff.load(Ordering::Acquire)
    }
    /// `VM_*` flags.
    pub fn flags(&self) -> VmFlags {
        VmFlags::from_bits_retain(self.flags.load(Ordering::Acquire))
    }
    /// Backing file, if any.
    pub fn file(&self) -> Option<&FileRef> {
        self.file.as_ref()
    }
    /// `vma_is_anonymous` (no `vm_ops`: no file and no special mapping).
    pub fn is_anonymous(&self) -> bool {
        self.file.is_none()
    }
    /// The anon_vma, if the VMA has been write-faulted (or inherited one).
    pub fn anon_vma(&self) -> Option<Arc<AnonVma>> {
        if !self.has_anon.load(Ordering::Acquire) {
            return None;
        }
        self.anon.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Whether attached to an mm tree (`vm_refcnt != 0`).
    pub fn is_attached(&self) -> bool {
        self.lock.is_attached()
    }
    /// The per-VMA lock state.
    pub fn lock_state(&self) -> &VmaLock {
        &self.lock
    }
    /// Number of faults handled on this VMA.
    pub fn fault_count(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }
    /// Whether `addr` lies in `[start, end)`.
    pub fn contains(&self, addr: u64) -> bool {
        self.start() <= addr && addr < self.end()
    }
    /// `vma_is_fork_child`: has an anon_vma whose chain is not singular.
    pub(crate) fn is_fork_child(&self) -> bool {
        self.anon_vma().is_some_and(|a| a.chain_len() > 1)
    }

    pub(crate) fn set_start(&self, v: u64) {
        self.start.store(v, Ordering::Release)
    }
    pub(crate) fn set_end(&self, v: u64) {
        self.end.store(v, Ordering::Release)
    }
    pub(crate) fn set_pgoff(&self, v: u64) {
        self.pgoff.store(v, Ordering::Release)
    }
    pub(crate) fn set_flags(&self, v: VmFlags) {
        self.flags.store(v.bits(), Ordering::Release)
    }
    /// Give the VMA an anon_vma if it has none yet (merges, `dup_anon_vma`).
    pub(crate) fn set_anon(&self, a: Option<Arc<AnonVma>>) {
        if let Some(a) = a {
            self.set_anon_if_none(a);
        }
    }
    /// Set the anon_vma if still unset (`anon_vma_prepare`'s locked re-check).
    pub(crate) fn set_anon_if_none(&self, a: Arc<AnonVma>) {
        let mut g = self.anon.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(a);
            self.has_anon.store(true, Ordering::Release);
        }
    }
    /// `unlink_anon_vmas`: the VMA has no anon_vma any more (the next write fault makes a
    /// new one).
    pub(crate) fn clear_anon(&self) {
        let mut g = self.anon.lock().unwrap_or_else(|e| e.into_inner());
        *g = None;
        self.has_anon.store(false, Ordering::Release);
    }
    pub(crate) fn count_fault(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }
    /// `remove_vma` bookkeeping for the fork tracker.
    pub(crate) fn note_removed(&self) {
        if let Some(t) = &self.tracker {
            t.removed(self.origin);
        }
    }

    /// A plain-data snapshot of the VMA.
    pub fn info(&self) -> VmaInfo {
        let anon = self.anon_vma().map(|a| AnonInfo {
            chain_len: a.chain_len(),
            parent: a.parent().map(|p| p.id()),
        });
        VmaInfo {
            start: self.start(),
            end: self.end(),
            flags: self.flags(),
            pgoff: self.pgoff(),
            file: self.file.as_ref().map(|f| f.id()),
            anon,
        }
    }
}

impl Drop for Vma {
    fn drop(&mut self) {
        if let Some(t) = &self.tracker {
            t.dropped(self.origin);
        }
    }
}

impl fmt::Debug for Vma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Vma#{}[{:#x}-{:#x} {} flags={:#x} pgoff={:#x}{}{}]",
            self.id(),
            self.start(),
            self.end(),
            self.flags().perms(),
            self.flags(),
            self.pgoff(),
            match &self.file {
                Some(fl) => format!(" file={}", fl.name()),
                None => String::new(),
            },
            match self.anon_vma() {
                Some(a) => format!(" anon#{}", a.id()),
                None => String::new(),
            }
        )
    }
}

/// The anon part of [`VmaInfo`], comparable across forks (identities of fresh anon_vmas
/// differ between children, their shape does not).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AnonInfo {
    /// anon_vma_chain length.
    pub chain_len: usize,
    /// Identity of the anon_vma it was forked from.
    pub parent: Option<u64>,
}

/// Plain-data view of a VMA.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VmaInfo {
    /// `vm_start`.
    pub start: u64,
    /// `vm_end`.
    pub end: u64,
    /// `vm_flags`.
    pub flags: VmFlags,
    /// `vm_pgoff`.
    pub pgoff: u64,
    /// File identity.
    pub file: Option<u64>,
    /// anon_vma shape.
    pub anon: Option<AnonInfo>,
}
