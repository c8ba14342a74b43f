//! Loading a /proc/PID/maps layout.

use crate::error::MmError;
use crate::flags::*;
use crate::mm::Mm;
use crate::vma::{File, FileRef};
use std::collections::HashMap;

/// One parsed /proc/PID/maps line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapsLine {
    /// Start address.
    pub start: u64,
    /// End address.
    pub end: u64,
    /// `rwxp` column.
    pub perms: String,
    /// File offset.
    pub offset: u64,
    /// `major:minor`.
    pub dev: String,
    /// Inode.
    pub inode: u64,
    /// Path or pseudo-name (may be empty).
    pub path: String,
}

/// Parse one maps line.
///
/// ```
/// use maple_mm::*;
/// let l = parse_maps_line("7f00a000-7f00c000 r-xp 00002000 08:01 42   /usr/lib/libc.so.6")?;
/// assert_eq!((l.start, l.end, l.perms.as_str(), l.offset), (0x7f00a000, 0x7f00c000, "r-xp", 0x2000));
/// assert_eq!((l.inode, l.path.as_str()), (42, "/usr/lib/libc.so.6"));
/// assert_eq!(parse_maps_line("garbage"), Err(MmError::Inval));
/// # Ok::<(), MmError>(())
/// ```
pub fn parse_maps_line(line: &str) -> Result<MapsLine, MmError> {
    let mut it = line.split_whitespace();
    let range = it.next().ok_or(MmError::Inval)?;
    let perms = it.next().ok_or(MmError::Inval)?.to_string();
    let offset = it.next().ok_or(MmError::Inval)?;
    let dev = it.next().ok_or(MmError::Inval)?.to_string();
    let inode = it.next().ok_or(MmError::Inval)?;
    let path = it.collect::<Vec<_>>().join(" ");
    let (s, e) = range.split_once('-').ok_or(MmError::Inval)?;
    let hex = |x: &str| u64::from_str_radix(x, 16).map_err(|_| MmError::Inval);
    if perms.len() != 4 {
        return Err(MmError::Inval);
    }
    Ok(MapsLine {
        start: hex(s)?,
        end: hex(e)?,
        perms,
        offset: hex(offset)?,
        dev,
        inode: inode.parse().map_err(|_| MmError::Inval)?,
        path,
    })
}

impl Mm {
    /// Build an mm whose VMAs are exactly the lines of a /proc/PID/maps text (no merging).
    ///
    /// Permissions give `VM_READ/WRITE/EXEC` (+ all `VM_MAY*`), `s` gives
    /// `VM_SHARED|VM_MAYSHARE`; `[stack]` is `VM_GROWSDOWN`; `[heap]` sets the brk area;
    /// other bracketed names (vdso, vvar…) are special mappings (`VM_DONTEXPAND`, never
    /// merged); paths become files (same dev+inode+path = same file); private writable
    /// mappings get `VM_ACCOUNT`. Lines above `TASK_SIZE` (`[vsyscall]`) are skipped.
    ///
    /// ```
    /// use maple_mm::*;
    /// let text = "\
    /// 555555554000-555555556000 r--p 00000000 08:01 7  /bin/x
    /// 555555556000-555555557000 r-xp 00002000 08:01 7  /bin/x
    /// 7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0  [stack]
    /// ";
    /// let mm = Mm::from_proc_maps(text)?;
    /// assert_eq!(mm.map_count(), 3);
    /// assert!(mm.vma_lookup(0x7ffffffde000).unwrap().flags().contains(VmFlags::GROWSDOWN));
    /// assert_eq!(mm.vma_lookup(0x555555556000).unwrap().pgoff(), 2);
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn from_proc_maps(text: &str) -> Result<Mm, MmError> {
        let mm = Mm::new();
        let task_size = mm.layout().task_size;
        let mut files: HashMap<(String, u64, String), FileRef> = HashMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let l = parse_maps_line(line)?;
            if l.start >= task_size {
                continue;
            }
            let b = l.perms.as_bytes();
            let mut flags = VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::MAYEXEC;
            if b[0] == b'r' {
                flags |= VmFlags::READ;
            }
            if b[1] == b'w' {
                flags |= VmFlags::WRITE;
            }
            if b[2] == b'x' {
                flags |= VmFlags::EXEC;
            }
            let shared = b[3] == b's';
            if shared {
                flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
            }
            let special = l.path.starts_with('[')
                && !matches!(l.path.as_str(), "[heap]" | "[stack]")
                && !l.path.starts_with("[anon:");
            let anon_path = l.path.is_empty()
                || l.path.starts_with("[anon:")
                || l.path == "[heap]"
                || l.path == "[stack]";
            let (file, pgoff) = if special {
                flags |= VmFlags::DONTEXPAND | VmFlags::MIXEDMAP;
                (Some(File::special(l.path.clone())), l.offset >> PAGE_SHIFT)
            } else if anon_path && !shared {
                (None, l.start >> PAGE_SHIFT)
            } else {
                let key = (l.dev.clone(), l.inode, l.path.clone());
                let f = files
                    .entry(key)
                    .or_insert_with(|| File::new(l.path.clone(), true, true))
                    .clone();
                (Some(f), l.offset >> PAGE_SHIFT)
            };
            if l.path == "[stack]" {
                flags |= VmFlags::GROWSDOWN;
            }
            if !special && flags & (VmFlags::WRITE | VmFlags::SHARED) == VmFlags::WRITE {
                flags |= VmFlags::ACCOUNT;
            }
            mm.insert_vma_raw(l.start, l.end, flags, pgoff, file)?;
            if l.path == "[heap]" {
                mm.set_brk_area(l.start, l.end);
            }
        }
        Ok(mm)
    }
}
