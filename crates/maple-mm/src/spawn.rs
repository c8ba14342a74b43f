//! The unixbench `spawn` layout (§9): a small process plus N non-mergeable mappings.

use crate::error::MmError;
use crate::flags::*;
use crate::mm::Mm;

/// /proc/PID/maps of a small dynamically linked process: 21 VMAs (binary ×4, heap,
/// libc ×5 + 2 anonymous, vvar, vdso, ld.so ×5, 1 anonymous, stack).
pub const BASE_LAYOUT: &str = "\
555555554000-555555556000 r--p 00000000 08:01 1048602                    /usr/bin/spawn
555555556000-555555557000 r-xp 00002000 08:01 1048602                    /usr/bin/spawn
555555557000-555555558000 r--p 00003000 08:01 1048602                    /usr/bin/spawn
555555558000-555555559000 rw-p 00003000 08:01 1048602                    /usr/bin/spawn
555555559000-55555557a000 rw-p 00000000 00:00 0                          [heap]
7ffff7d80000-7ffff7d83000 rw-p 00000000 00:00 0
7ffff7d83000-7ffff7dab000 r--p 00000000 08:01 1055848                    /usr/lib/x86_64-linux-gnu/libc.so.6
7ffff7dab000-7ffff7f40000 r-xp 00028000 08:01 1055848                    /usr/lib/x86_64-linux-gnu/libc.so.6
7ffff7f40000-7ffff7f98000 r--p 001bd000 08:01 1055848                    /usr/lib/x86_64-linux-gnu/libc.so.6
7ffff7f98000-7ffff7f9c000 r--p 00214000 08:01 1055848                    /usr/lib/x86_64-linux-gnu/libc.so.6
7ffff7f9c000-7ffff7f9e000 rw-p 00218000 08:01 1055848                    /usr/lib/x86_64-linux-gnu/libc.so.6
7ffff7f9e000-7ffff7fab000 rw-p 00000000 00:00 0
7ffff7fbb000-7ffff7fbd000 rw-p 00000000 00:00 0
7ffff7fbd000-7ffff7fc1000 r--p 00000000 00:00 0                          [vvar]
7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0                          [vdso]
7ffff7fc3000-7ffff7fc5000 r--p 00000000 08:01 1055830                    /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7ffff7fc5000-7ffff7fef000 r-xp 00002000 08:01 1055830                    /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7ffff7fef000-7ffff7ffa000 r--p 0002c000 08:01 1055830                    /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7ffff7ffb000-7ffff7ffd000 r--p 00037000 08:01 1055830                    /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7ffff7ffd000-7ffff7fff000 rw-p 00039000 08:01 1055830                    /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]
";

/// Number of VMAs in [`BASE_LAYOUT`].
pub const BASE_VMAS: usize = 21;

/// Pages per extra mapping (the benchmark's 10 pages).
pub const EXTRA_PAGES: u64 = 10;

/// The base layout plus `extra` anonymous 10-page mappings placed by top-down `mmap`
/// with alternating `PROT_READ`/`PROT_WRITE`, so that none merge: the result has
/// exactly `21 + extra` VMAs.
///
/// # Panics
///
/// When the layout cannot be built: more VMAs than the map-count limit
/// ([`DEFAULT_MAX_MAP_COUNT`](crate::DEFAULT_MAX_MAP_COUNT)) or no room left. Use
/// [`try_build_layout`] for a count that comes from outside.
pub fn build_layout(extra: usize) -> Mm {
    match try_build_layout(extra) {
        Ok(mm) => mm,
        Err(e) => panic!("spawn layout with {extra} extra VMAs: {e}"),
    }
}

/// [`build_layout`] for a count that comes from outside: a count above the map-count limit
/// (`-ENOMEM` from `mmap`, as the kernel answers) is an error, not a panic. The partly built
/// address space is torn down before returning the error.
pub fn try_build_layout(extra: usize) -> Result<Mm, MmError> {
    let mm = Mm::from_proc_maps(BASE_LAYOUT)?;
    for i in 0..extra {
        let prot = if i % 2 == 1 { PROT_READ } else { PROT_WRITE };
        if let Err(e) = mm.mmap(
            0,
            EXTRA_PAGES * PAGE_SIZE,
            prot,
            MAP_PRIVATE | MAP_ANONYMOUS,
            None,
            0,
        ) {
            mm.exit();
            return Err(e);
        }
    }
    Ok(mm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_above_the_map_count_limit_is_an_error() {
        let ok = try_build_layout(5).expect("within the limit");
        assert_eq!(ok.map_count(), BASE_VMAS + 5);
        ok.exit();
        // `maple spawn --vmas 65532` (issue 14, defect 6) panicked here.
        let over = 65_532 - BASE_VMAS;
        assert_eq!(try_build_layout(over).err(), Some(MmError::NoMem));
    }
}
