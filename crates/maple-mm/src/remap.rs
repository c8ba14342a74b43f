//! `mremap(2)` (`mm/mremap.c`, 6.17+ shape with multi-VMA moves), `mlock(2)`,
//! `munlock(2)`, `mlock2(2)` (`mm/mlock.c`) and the populate step they share.

use crate::error::MmError;
use crate::flags::*;
use crate::mm::{anon_vma_prepare, Mm, MmapWriteGuard};
use crate::tree::VmaRef;
use std::sync::Arc;

/// `enum mremap_type`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RemapType {
    NoResize,
    Shrink,
    Expand,
}

/// `struct vma_remap_struct`: one mremap request as it is worked on.
struct Vrm {
    addr: u64,
    old_len: u64,
    new_len: u64,
    flags: i32,
    new_addr: u64,
    delta: u64,
    kind: RemapType,
    vma: Option<VmaRef>,
    populate_expand: bool,
}

impl Vrm {
    fn implies_new_addr(&self) -> bool {
        self.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
    }
    fn overlaps(&self) -> bool {
        self.addr + self.old_len > self.new_addr && self.new_addr + self.new_len > self.addr
    }
    fn set_delta(&mut self) {
        self.delta = self.old_len.abs_diff(self.new_len);
        self.kind = if self.delta == 0 {
            RemapType::NoResize
        } else if self.old_len > self.new_len {
            RemapType::Shrink
        } else {
            RemapType::Expand
        };
    }
}

impl Mm {
    /// `mremap(2)`: grow or shrink a mapping in place, move it (`MREMAP_MAYMOVE`), to a
    /// given address (`MREMAP_FIXED`, which may move several VMAs at once when the size
    /// does not change), or copy it and leave the old range mapped (`MREMAP_DONTUNMAP`).
    /// Returns the (new) address.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let a = mm.mmap(0x1000_0000, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, None, 0)?;
    /// // Grows in place: the pages above are free.
    /// assert_eq!(mm.mremap(a, 2 * PAGE_SIZE, 4 * PAGE_SIZE, 0, 0), Ok(a));
    /// // Blocked above and not allowed to move: -ENOMEM.
    /// mm.mmap(a + 4 * PAGE_SIZE, PAGE_SIZE, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, None, 0)?;
    /// assert_eq!(mm.mremap(a, 4 * PAGE_SIZE, 8 * PAGE_SIZE, 0, 0), Err(MmError::NoMem));
    /// // Moved to a given address.
    /// let b = 0x2000_0000;
    /// assert_eq!(mm.mremap(a, 4 * PAGE_SIZE, 4 * PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, b), Ok(b));
    /// assert!(mm.vma_lookup(a).is_none() && mm.vma_lookup(b).is_some());
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn mremap(
        &self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: i32,
        new_addr: u64,
    ) -> Result<u64, MmError> {
        let mut w = self.mmap_write_lock();
        w.do_mremap(addr, old_len, new_len, flags, new_addr)
    }

    /// `mlock(2)`: set `VM_LOCKED` on `[addr, addr + len)` (splitting and merging VMAs)
    /// and fault the pages in. A hole gives -ENOMEM; so does a page that cannot be
    /// faulted in (`PROT_NONE`, beyond the end of a file), after the flags were set.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let a = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
    /// mm.mlock(a + PAGE_SIZE, PAGE_SIZE)?;
    /// assert_eq!(mm.map_count(), 3);
    /// assert!(mm.vma_lookup(a + PAGE_SIZE).unwrap().flags().contains(VmFlags::LOCKED));
    /// assert_eq!(mm.counters().locked_vm, 1);
    /// mm.munlock(a, 4 * PAGE_SIZE)?;
    /// assert_eq!(mm.map_count(), 1, "unlocked again, the three merge back");
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn mlock(&self, addr: u64, len: u64) -> Result<(), MmError> {
        self.mlock2(addr, len, 0)
    }

    /// `mlock2(2)`: like [`Mm::mlock`]; with `MLOCK_ONFAULT` the VMAs get
    /// `VM_LOCKED | VM_LOCKONFAULT` and nothing is faulted in now.
    ///
    /// ```
    /// use maple_mm::*;
    /// let mm = Mm::new();
    /// let a = mm.mmap(0, 2 * PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)?;
    /// mm.mlock2(a, 2 * PAGE_SIZE, MLOCK_ONFAULT as i32)?;
    /// let f = mm.vma_lookup(a).unwrap().flags();
    /// assert!(f.contains(VmFlags::LOCKED | VmFlags::LOCKONFAULT));
    /// // Without ONFAULT a PROT_NONE range cannot be faulted in: -ENOMEM, flags kept.
    /// assert_eq!(mm.mlock(a, 2 * PAGE_SIZE), Err(MmError::NoMem));
    /// assert_eq!(mm.mlock2(a, PAGE_SIZE, 2), Err(MmError::Inval));
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn mlock2(&self, addr: u64, len: u64, flags: i32) -> Result<(), MmError> {
        if flags & !(MLOCK_ONFAULT as i32) != 0 {
            return Err(MmError::Inval);
        }
        let mut vm = VmFlags::LOCKED;
        if flags & MLOCK_ONFAULT as i32 != 0 {
            vm |= VmFlags::LOCKONFAULT;
        }
        let mut w = self.mmap_write_lock();
        w.do_mlock(addr, len, vm)
    }

    /// `munlock(2)`: clear `VM_LOCKED`/`VM_LOCKONFAULT` on `[addr, addr + len)`.
    pub fn munlock(&self, addr: u64, len: u64) -> Result<(), MmError> {
        let mut w = self.mmap_write_lock();
        let (start, len) = mlock_range(addr, len)?;
        w.apply_vma_lock_flags(start, len, VmFlags::empty())
    }
}

/// `do_mlock`'s rounding: the start is rounded down, the length up to cover it.
fn mlock_range(addr: u64, len: u64) -> Result<(u64, u64), MmError> {
    let off = addr & (PAGE_SIZE - 1);
    let len = len
        .checked_add(off)
        .and_then(page_align)
        .ok_or(MmError::Inval)?;
    Ok((addr - off, len))
}

impl MmapWriteGuard<'_> {
    /// `do_mlock`.
    fn do_mlock(&mut self, addr: u64, len: u64, flags: VmFlags) -> Result<(), MmError> {
        let (start, len) = mlock_range(addr, len)?;
        self.apply_vma_lock_flags(start, len, flags)?;
        // __mm_populate(start, len, 0), reported through __mlock_posix_error_return.
        match self.populate(start, start + len, false) {
            Ok(()) => Ok(()),
            Err(MmError::Fault) => Err(MmError::NoMem),
            Err(MmError::NoMem) => Err(MmError::Again),
            Err(e) => Err(e),
        }
    }

    /// `apply_vma_lock_flags`.
    fn apply_vma_lock_flags(
        &mut self,
        start: u64,
        len: u64,
        flags: VmFlags,
    ) -> Result<(), MmError> {
        let end = start.checked_add(len).ok_or(MmError::Inval)?;
        if end == start {
            return Ok(());
        }
        let Some(vma) = self.tree().load(start) else {
            return Err(MmError::NoMem);
        };
        self.fixup_range(start, end, vma, |w, prev, vma, from, to| {
            let newflags = (vma.flags() & !VmFlags::LOCKED_MASK) | flags;
            w.mlock_fixup(prev, vma, from, to, newflags)
        })
    }

    /// `mlock_fixup`: returns the VMA the iteration continues after.
    fn mlock_fixup(
        &mut self,
        prev: &mut Option<VmaRef>,
        vma: &VmaRef,
        start: u64,
        end: u64,
        newflags: VmFlags,
    ) -> Result<VmaRef, MmError> {
        let old = vma.flags();
        if newflags == old || old.intersects(VmFlags::SPECIAL | VmFlags::HUGETLB) {
            // Special mappings are never mlocked, and nothing is counted for them.
            *prev = Some(vma.clone());
            return Ok(vma.clone());
        }
        let v = self.vma_modify_flags(prev.as_ref(), vma, start, end, newflags)?;
        let n = pages(end - start);
        if !newflags.contains(VmFlags::LOCKED) {
            self.st.c.locked_vm -= n;
        } else if !old.contains(VmFlags::LOCKED) {
            self.st.c.locked_vm += n;
        }
        self.start_write(&v);
        v.set_flags(newflags);
        *prev = Some(v.clone());
        Ok(v)
    }

    /// `__mm_populate` over `[start, end)`: fault every page in, which gives private
    /// writable VMAs their anon_vma (a write fault), skips `VM_LOCKONFAULT` and
    /// `VM_IO`/`VM_PFNMAP` VMAs, and fails (-EFAULT) on an inaccessible VMA or on a page
    /// beyond the end of its file; unless `ignore_errors`, the first failure stops it.
    pub(crate) fn populate(
        &mut self,
        start: u64,
        end: u64,
        ignore_errors: bool,
    ) -> Result<(), MmError> {
        let mut nstart = start;
        while nstart < end {
            let Some(vma) = self.tree().find_intersection(nstart, end) else {
                break;
            };
            let nend = end.min(vma.end());
            let from = nstart.max(vma.start());
            nstart = nend;
            let f = vma.flags();
            if f.intersects(VmFlags::IO | VmFlags::PFNMAP) || f.contains(VmFlags::LOCKONFAULT) {
                continue;
            }
            if !f.intersects(VmFlags::ACCESS) {
                if ignore_errors {
                    continue;
                }
                return Err(MmError::Fault);
            }
            if f & (VmFlags::WRITE | VmFlags::SHARED) == VmFlags::WRITE {
                // do_anonymous_page / do_cow_fault prepare the anon_vma before anything
                // else (so even before a SIGBUS beyond the end of the file).
                anon_vma_prepare(self.mm, &vma);
            }
            if beyond_eof(&vma, from, nend) && !ignore_errors {
                return Err(MmError::Fault);
            }
        }
        Ok(())
    }

    /// `do_mremap`.
    pub(crate) fn do_mremap(
        &mut self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: i32,
        new_addr: u64,
    ) -> Result<u64, MmError> {
        let task_size = self.st.layout.task_size;
        let mut vrm = Vrm {
            addr,
            old_len: page_align(old_len).ok_or(MmError::Inval)?,
            new_len: page_align(new_len).ok_or(MmError::Inval)?,
            flags,
            new_addr,
            delta: 0,
            kind: RemapType::NoResize,
            vma: None,
            populate_expand: false,
        };
        // check_mremap_params
        if flags & !(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP) != 0
            || addr % PAGE_SIZE != 0
            || vrm.new_len == 0
            || vrm.new_len > task_size
        {
            return Err(MmError::Inval);
        }
        if vrm.implies_new_addr()
            && (new_addr > task_size - vrm.new_len
                || new_addr % PAGE_SIZE != 0
                || flags & MREMAP_MAYMOVE == 0
                || (flags & MREMAP_DONTUNMAP != 0 && vrm.old_len != vrm.new_len)
                || vrm.overlaps())
        {
            return Err(MmError::Inval);
        }
        // check_map_count_against_split_early
        if self.st.c.map_count + 4 > self.st.layout.max_map_count {
            return Err(MmError::NoMem);
        }
        let res = if flags & MREMAP_FIXED != 0 && vrm.old_len == vrm.new_len {
            self.remap_move(&mut vrm)
        } else {
            vrm.vma = self.tree().load(addr);
            self.check_prep_vma(&mut vrm)?;
            if vrm.implies_new_addr() {
                self.mremap_to(&mut vrm)
            } else {
                self.mremap_at(&mut vrm)
            }
        }?;
        if vrm.populate_expand {
            let s = vrm.new_addr + vrm.old_len;
            let _ = self.populate(s, s + vrm.delta, true);
        }
        Ok(res)
    }

    /// `check_prep_vma`.
    fn check_prep_vma(&mut self, vrm: &mut Vrm) -> Result<(), MmError> {
        let vma = vrm.vma.clone().ok_or(MmError::Fault)?;
        vrm.set_delta();
        if !vrm.implies_new_addr() {
            vrm.new_addr = vrm.addr;
        }
        if vrm.kind != RemapType::Expand && !vrm.implies_new_addr() {
            return Ok(());
        }
        let f = vma.flags();
        let mut old_len = vrm.old_len;
        if old_len == 0 && !f.intersects(VmFlags::SHARED | VmFlags::MAYSHARE) {
            return Err(MmError::Inval);
        }
        if vrm.flags & MREMAP_DONTUNMAP != 0 && f.intersects(VmFlags::DONTEXPAND | VmFlags::PFNMAP)
        {
            return Err(MmError::Inval);
        }
        if vrm.kind == RemapType::Shrink {
            old_len = vrm.new_len;
        }
        if old_len > vma.end() - vrm.addr {
            return Err(MmError::Fault);
        }
        if vrm.new_len == old_len {
            return Ok(());
        }
        if f.contains(VmFlags::LOCKED) {
            vrm.populate_expand = true;
        }
        if f.intersects(VmFlags::DONTEXPAND | VmFlags::PFNMAP) {
            return Err(MmError::Fault);
        }
        Ok(())
    }

    /// `remap_move`: a fixed-address move of the same size, which may span several VMAs
    /// (the gaps between them are kept).
    fn remap_move(&mut self, vrm: &mut Vrm) -> Result<u64, MmError> {
        let (start, end) = (vrm.addr, vrm.addr + vrm.old_len);
        let mut target = vrm.new_addr;
        let mut res = Err(MmError::Fault);
        let mut last_end = 0;
        let mut seen = false;
        let mut cursor = start;
        while cursor < end {
            let Some(vma) = self.tree().find_intersection(cursor, end) else {
                break;
            };
            let a = vma.start().max(start);
            let len = end.min(vma.end()) - a;
            if !seen && start < vma.start() {
                return Err(MmError::Fault);
            }
            let offset = if seen { vma.start() - last_end } else { 0 };
            last_end = vma.end();
            cursor = vma.end();
            vrm.vma = Some(vma);
            vrm.addr = a;
            vrm.new_addr = target + offset;
            vrm.old_len = len;
            vrm.new_len = len;
            self.check_prep_vma(vrm)?;
            let moved = self.mremap_to(vrm)?;
            if !seen {
                res = Ok(moved);
            }
            seen = true;
            target = moved + len;
        }
        res
    }

    /// `mremap_at`: resize without a required new address.
    fn mremap_at(&mut self, vrm: &mut Vrm) -> Result<u64, MmError> {
        match vrm.kind {
            RemapType::NoResize => Ok(vrm.addr),
            RemapType::Shrink => {
                self.do_munmap(vrm.addr + vrm.new_len, vrm.delta)?;
                Ok(vrm.addr)
            }
            RemapType::Expand => {
                let vma = vrm.vma.clone().ok_or(MmError::Fault)?;
                if vma.end() - vrm.addr == vrm.old_len && self.vma_expandable(&vma, vrm.delta) {
                    self.expand_in_place(vrm, &vma)?;
                    return Ok(vrm.addr);
                }
                if vrm.flags & MREMAP_MAYMOVE == 0 {
                    return Err(MmError::NoMem);
                }
                self.set_new_addr(vrm)?;
                self.move_vma(vrm)
            }
        }
    }

    /// `mremap_to`: move to the required (or hinted, for DONTUNMAP) address.
    fn mremap_to(&mut self, vrm: &mut Vrm) -> Result<u64, MmError> {
        if vrm.flags & MREMAP_FIXED != 0 {
            self.do_munmap(vrm.new_addr, vrm.new_len)?;
            vrm.vma = Some(self.tree().load(vrm.addr).ok_or(MmError::Fault)?);
        }
        if vrm.kind == RemapType::Shrink {
            self.do_munmap(vrm.addr + vrm.new_len, vrm.delta)?;
            vrm.vma = Some(self.tree().load(vrm.addr).ok_or(MmError::Fault)?);
            vrm.old_len = vrm.new_len;
        }
        self.set_new_addr(vrm)?;
        self.move_vma(vrm)
    }

    /// `vma_expandable`.
    fn vma_expandable(&self, vma: &VmaRef, delta: u64) -> bool {
        let Some(end) = vma.end().checked_add(delta) else {
            return false;
        };
        if self.tree().find_intersection(vma.end(), end).is_some() {
            return false;
        }
        self.get_unmapped_area(None, vma.start(), end - vma.start(), MAP_FIXED)
            .is_ok()
    }

    /// `expand_vma_in_place`: `vma_merge_extend` of `[vm_end, vm_end + delta)`.
    fn expand_in_place(&mut self, vrm: &Vrm, vma: &VmaRef) -> Result<(), MmError> {
        let f = vma.flags();
        let n = pages(vrm.delta);
        if f.contains(VmFlags::ACCOUNT) {
            self.charge(n)?;
        }
        let (s, e) = (vma.end(), vma.end() + vrm.delta);
        let next = self.tree().find_vma(e);
        let pgoff = vma.pgoff() + vma.pages();
        let merged = self.merge_new_range(
            Some(vma),
            next.as_ref(),
            s,
            e,
            f,
            pgoff,
            vma.file(),
            false,
            Some(vma),
        );
        if !matches!(merged, Ok(Some(_))) {
            if f.contains(VmFlags::ACCOUNT) {
                self.unacct(n);
            }
            return Err(MmError::NoMem);
        }
        self.stat_account(f, n as i64);
        if f.contains(VmFlags::LOCKED) {
            self.st.c.locked_vm += n;
        }
        Ok(())
    }

    /// `vrm_set_new_addr`: `get_unmapped_area` for the destination.
    fn set_new_addr(&mut self, vrm: &mut Vrm) -> Result<(), MmError> {
        let vma = vrm.vma.clone().ok_or(MmError::Fault)?;
        let mut map_flags = 0;
        if vrm.flags & MREMAP_FIXED != 0 {
            map_flags |= MAP_FIXED;
        }
        if vma.flags().contains(VmFlags::MAYSHARE) {
            map_flags |= MAP_SHARED;
        }
        let hint = if vrm.implies_new_addr() {
            vrm.new_addr
        } else {
            0
        };
        vrm.new_addr = self.get_unmapped_area(vma.file(), hint, vrm.new_len, map_flags)?;
        Ok(())
    }

    /// `move_vma`: copy the VMA to the new address, then unmap the source (or, for
    /// `MREMAP_DONTUNMAP`, leave it mapped without its mlock).
    fn move_vma(&mut self, vrm: &mut Vrm) -> Result<u64, MmError> {
        // prep_move_vma
        if self.st.c.map_count + 2 > self.st.layout.max_map_count {
            return Err(MmError::NoMem);
        }
        let mut vma = vrm.vma.clone().ok_or(MmError::Fault)?;
        let f = vma.flags();
        // vrm_calc_charge: the move charges what it adds (all of it if the old range stays).
        let charged = if !f.contains(VmFlags::ACCOUNT) {
            0
        } else if vrm.flags & MREMAP_DONTUNMAP != 0 {
            pages(vrm.new_len)
        } else {
            pages(vrm.new_len.saturating_sub(vrm.old_len))
        };
        self.charge(charged)?;
        self.start_write(&vma);
        let new_pgoff = vma.pgoff() + pages(vrm.addr - vma.start());
        let (old_start, old_end) = (vma.start(), vma.end());
        let merged_with_self = match self.copy_vma(&vma, vrm.new_addr, vrm.new_len, new_pgoff) {
            Ok(Some(merged_self)) => {
                vma = merged_self;
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.unacct(charged);
                return Err(e);
            }
        };
        if f.contains(VmFlags::ACCOUNT) {
            // The copy carries VM_ACCOUNT for all its pages; the unmap of the source below
            // refunds the old ones, so the mm's committed total moves by `charged` overall.
            self.st.c.committed += pages(vrm.new_len) - charged;
        }
        self.stat_account(f, pages(vrm.new_len) as i64);
        if f.contains(VmFlags::LOCKED) {
            self.st.c.locked_vm += pages(vrm.new_len);
        }
        if vrm.flags & MREMAP_DONTUNMAP != 0 {
            // dontunmap_complete: the whole old VMA loses its mlock, and if all its pages
            // moved, its anon_vma too.
            if !merged_with_self && vrm.addr == old_start && vrm.addr + vrm.old_len == old_end {
                vma.clear_anon();
            }
            let old = vma.flags();
            if old.intersects(VmFlags::LOCKED_MASK) {
                if old.contains(VmFlags::LOCKED) {
                    self.st.c.locked_vm -= vma.pages();
                }
                self.start_write(&vma);
                vma.set_flags(old & !VmFlags::LOCKED_MASK);
            }
        } else {
            self.unmap_source(vrm, &vma)?;
        }
        Ok(vrm.new_addr)
    }

    /// `unmap_source_vma`: unmap the old range. The kernel clears `VM_ACCOUNT` around the
    /// unmap so the charge that moved to the copy is not refunded, and restores it on what
    /// is left; the model counts the copy's pages when it is made instead, so the flags end
    /// up the same. A failed unmap is ignored, as in the kernel ("best effort").
    fn unmap_source(&mut self, vrm: &Vrm, _vma: &VmaRef) -> Result<(), MmError> {
        let _ = self.do_munmap(vrm.addr, vrm.old_len);
        Ok(())
    }

    /// `copy_vma`: place a copy of `[addr, addr + len)` of `vma` (file offset `pgoff`),
    /// merging with its new neighbours when it can. Returns the VMA the source became
    /// part of when the copy merged with the source itself.
    fn copy_vma(
        &mut self,
        vma: &VmaRef,
        addr: u64,
        len: u64,
        mut pgoff: u64,
    ) -> Result<Option<VmaRef>, MmError> {
        if vma.is_anonymous() && vma.anon_vma().is_none() {
            // An unfaulted anonymous VMA takes the pgoff of its new place, to merge there.
            pgoff = addr >> PAGE_SHIFT;
        }
        let end = addr + len;
        if self.tree().find_intersection(addr, end).is_some() {
            return Err(MmError::NoMem);
        }
        let prev = self.tree().prev(addr);
        let next = self.tree().find_vma(end);
        let merged = self
            .merge_new_range(
                prev.as_ref(),
                next.as_ref(),
                addr,
                end,
                vma.flags(),
                pgoff,
                vma.file(),
                false,
                Some(vma),
            )
            .unwrap_or(None);
        if let Some(m) = merged {
            let s = vma.start();
            return Ok((m.start() <= s && s < m.end() && !Arc::ptr_eq(&m, vma)).then_some(m));
        }
        let new = vma.dup();
        new.set_start(addr);
        new.set_end(end);
        new.set_pgoff(pgoff);
        let new = Arc::new(new);
        self.attach_new(&new)?;
        Ok(None)
    }
}

/// Whether `[from, to)` of `vma` reaches at or beyond the end of its file.
pub(crate) fn beyond_eof(vma: &VmaRef, from: u64, to: u64) -> bool {
    match vma.file().and_then(|f| f.size_pages()) {
        Some(size) => vma.pgoff() + pages(to - vma.start()) > size && to > from,
        None => false,
    }
}
