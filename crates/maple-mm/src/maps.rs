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
            let mut flags = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
            if b[0] == b'r' {
                flags |= VM_READ;
            }
            if b[1] == b'w' {
                flags |= VM_WRITE;
            }
            if b[2] == b'x' {
                flags |= VM_EXEC;
            }
            let shared = b[3] == b's';
            if shared {
                flags |= VM_SHARED | VM_MAYSHARE;
            }
            let special = l.path.starts_with('[')
                && !matches!(l.path.as_str(), "[heap]" | "[stack]")
                && !l.path.starts_with("[anon:");
            let anon_path = l.path.is_empty()
                || l.path.starts_with("[anon:")
                || l.path == "[heap]"
                || l.path == "[stack]";
            let (file, pgoff) = if special {
                flags |= VM_DONTEXPAND | VM_MIXEDMAP;
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
                flags |= VM_GROWSDOWN;
            }
            if !special && flags & (VM_WRITE | VM_SHARED) == VM_WRITE {
                flags |= VM_ACCOUNT;
            }
            mm.insert_vma_raw(l.start, l.end, flags, pgoff, file)?;
            if l.path == "[heap]" {
                mm.set_brk_area(l.start, l.end);
            }
        }
        Ok(mm)
    }
}
