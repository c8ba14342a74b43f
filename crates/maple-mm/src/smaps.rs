//! `/proc/PID/smaps`: parsing, loading a real address space into the model, and the
//! model's own view in the same terms (range, `VmFlags:` line, file offset).

use crate::error::MmError;
use crate::flags::*;
use crate::maps::parse_maps_line;
use crate::mm::{Mm, MmLayout};
use crate::vma::{AnonVma, File, FileRef};
use std::collections::HashMap;

/// One VMA of `/proc/PID/smaps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmapsEntry {
    /// Start address.
    pub start: u64,
    /// End address.
    pub end: u64,
    /// The `VmFlags:` line.
    pub flags: VmFlags,
    /// File offset in bytes (0 for anonymous memory).
    pub offset: u64,
    /// `major:minor` of the file.
    pub dev: String,
    /// Inode of the file (0 for anonymous memory).
    pub inode: u64,
    /// Path or pseudo-name.
    pub path: String,
    /// `Anonymous:` in kB: pages this VMA has of its own (so it has an anon_vma).
    pub anonymous_kb: u64,
}

impl SmapsEntry {
    /// Whether the VMA maps a file (the kernel shows an offset for it).
    pub fn is_file(&self) -> bool {
        self.inode != 0 || (self.path.starts_with('/') && !self.path.is_empty())
    }
}

/// Parse the text of `/proc/PID/smaps`.
///
/// ```
/// use maple_mm::*;
/// let text = "\
/// 7f0000000000-7f0000002000 rw-p 00000000 00:00 0
/// Size:                  8 kB
/// Anonymous:             4 kB
/// VmFlags: rd wr mr mw me ac
/// ";
/// let e = &parse_smaps(text)?[0];
/// assert_eq!((e.start, e.end, e.anonymous_kb), (0x7f0000000000, 0x7f0000002000, 4));
/// assert!(e.flags.contains(VmFlags::ACCOUNT));
/// # Ok::<(), MmError>(())
/// ```
pub fn parse_smaps(text: &str) -> Result<Vec<SmapsEntry>, MmError> {
    let mut out: Vec<SmapsEntry> = Vec::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.is_empty() {
            continue;
        }
        if !first.ends_with(':') {
            let l = parse_maps_line(line)?;
            out.push(SmapsEntry {
                start: l.start,
                end: l.end,
                flags: VmFlags::empty(),
                offset: l.offset,
                dev: l.dev,
                inode: l.inode,
                path: l.path,
                anonymous_kb: 0,
            });
            continue;
        }
        let Some(cur) = out.last_mut() else {
            return Err(MmError::Inval);
        };
        match first {
            "VmFlags:" => {
                cur.flags = VmFlags::parse_mnemonics(line).map_err(|_| MmError::Inval)?;
            }
            "Anonymous:" => {
                cur.anonymous_kb = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .ok_or(MmError::Inval)?;
            }
            _ => {}
        }
    }
    Ok(out)
}

impl Mm {
    /// An mm holding exactly the VMAs of an smaps text (no merging): flags from the
    /// `VmFlags:` lines, files by device, inode and path, private anonymous VMAs with
    /// their pgoff at their address, and an anon_vma (inherited over a fork, as in any
    /// process that is not init) wherever the VMA has anonymous pages. `brk` and
    /// `start_brk` set the program break; lines at or above `TASK_SIZE` are skipped.
    ///
    /// ```
    /// use maple_mm::*;
    /// let text = "\
    /// 7f0000000000-7f0000002000 rw-p 00000000 00:00 0
    /// Anonymous:             4 kB
    /// VmFlags: rd wr mr mw me ac
    /// ";
    /// let mm = Mm::from_smaps(&parse_smaps(text)?, MmLayout::default(), None)?;
    /// assert_eq!(mm.smaps_view(), vec![(0x7f0000000000, 0x7f0000002000, VmFlags::DATA_DEFAULT | VmFlags::ACCOUNT, 0)]);
    /// # Ok::<(), MmError>(())
    /// ```
    pub fn from_smaps(
        entries: &[SmapsEntry],
        layout: MmLayout,
        brk: Option<(u64, u64)>,
    ) -> Result<Mm, MmError> {
        let task_size = layout.task_size;
        let mm = Mm::with_layout(layout);
        let mut files: HashMap<(String, u64, String), FileRef> = HashMap::new();
        for e in entries.iter().filter(|e| e.start < task_size) {
            let special = e.path.starts_with('[')
                && !matches!(e.path.as_str(), "[heap]" | "[stack]")
                && !e.path.starts_with("[anon:")
                && !e.path.starts_with("[stack:");
            let anon = !special && !e.is_file();
            let (file, pgoff) = if special {
                (Some(File::special(e.path.clone())), e.offset >> PAGE_SHIFT)
            } else if anon {
                (None, e.start >> PAGE_SHIFT)
            } else {
                let key = (e.dev.clone(), e.inode, e.path.clone());
                let f = files
                    .entry(key)
                    .or_insert_with(|| File::new(e.path.clone(), true, true))
                    .clone();
                (Some(f), e.offset >> PAGE_SHIFT)
            };
            let v = mm.insert_vma_raw(e.start, e.end, e.flags, pgoff, file)?;
            if e.anonymous_kb > 0 {
                v.set_anon(Some(AnonVma::fork(&AnonVma::new())));
            }
        }
        if let Some((start_brk, brk)) = brk {
            mm.set_brk_area(start_brk, brk);
        }
        Ok(mm)
    }

    /// The model's VMAs as smaps shows them: `(start, end, flags, file offset)`, the offset
    /// 0 for anonymous memory.
    pub fn smaps_view(&self) -> Vec<(u64, u64, VmFlags, u64)> {
        self.vmas()
            .iter()
            .map(|v| {
                let off = if v.file().is_some() {
                    v.pgoff() << PAGE_SHIFT
                } else {
                    0
                };
                (v.start(), v.end(), v.flags(), off)
            })
            .collect()
    }
}
