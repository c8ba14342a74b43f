//! Differential test against the running Linux kernel.
//!
//! In a forked, single-threaded child process, reserve a region with a real
//! `mmap(PROT_NONE)`, apply a seeded random sequence of real `mmap(MAP_FIXED)`, `munmap`,
//! `mprotect`, `madvise` and write touches inside it, mirror each call on the model, and
//! after every step compare the return codes and the VMAs in the region (boundaries and
//! permissions from /proc/self/maps) with the model's.

use crate::flags::*;
use crate::mm::Mm;

/// Result of a differential run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffReport {
    /// Steps executed.
    pub steps: u64,
    /// Steps after which the layouts differed.
    pub mismatches: u64,
    /// Steps whose return codes differed.
    pub errno_mismatches: u64,
    /// `[mmap, munmap, mprotect, madvise, touch]` operations executed.
    pub ops: [u64; 5],
    /// Calls that failed (same error in kernel and model).
    pub failed_calls: u64,
    /// Maximum number of VMAs seen in the region.
    pub max_vmas: u64,
    /// Description of the first mismatch.
    pub first_mismatch: Option<String>,
}

/// Region size in pages.
const REGION_PAGES: u64 = 1024;
/// Pages at each end of the region that operations never touch.
const MARGIN: u64 = 8;
/// Size of the memfd used for file-backed mappings, in pages.
const FILE_PAGES: u64 = 64;

type Line = (u64, u64, String);

fn kernel_region(base: u64, end: u64) -> Result<Vec<Line>, String> {
    let text = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for l in text.lines() {
        let ml = crate::maps::parse_maps_line(l).map_err(|e| format!("{e}: {l}"))?;
        if ml.end <= base || ml.start >= end {
            continue;
        }
        out.push((ml.start.max(base), ml.end.min(end), ml.perms));
    }
    Ok(out)
}

fn model_region(mm: &Mm, base: u64, end: u64) -> Vec<Line> {
    mm.vmas()
        .iter()
        .filter(|v| v.end() > base && v.start() < end)
        .map(|v| (v.start().max(base), v.end().min(end), v.flags().perms()))
        .collect()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn code<T>(r: Result<T, crate::MmError>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.errno(),
    }
}

fn fmt_lines(v: &[Line]) -> String {
    v.iter()
        .map(|(s, e, p)| format!("{s:x}-{e:x} {p}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The sequence itself; runs in the (single-threaded) child.
fn run_here(steps: u64, seed: u64) -> Result<DiffReport, String> {
    let size = REGION_PAGES * PAGE_SIZE;
    // SAFETY: a fresh anonymous PROT_NONE reservation; no existing memory is affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size as usize,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(format!("reserve failed: errno {}", errno()));
    }
    let base = p as u64;
    // A small memfd for file-backed mappings (shmem: no vm_ops->close, so merges apply).
    // SAFETY: the name is a valid NUL-terminated string.
    let fd = unsafe { libc::memfd_create(c"maple-mm-diff".as_ptr(), 0) };
    // SAFETY: resizing the memfd we just created.
    if fd < 0 || unsafe { libc::ftruncate(fd, (FILE_PAGES * PAGE_SIZE) as libc::off_t) } != 0 {
        return Err(format!("memfd: errno {}", errno()));
    }
    let file = crate::vma::File::new("memfd:maple-mm-diff", true, true);
    let end = base + size;
    let mm = Mm::new();
    mm.mmap(
        base,
        size,
        PROT_NONE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
        None,
        0,
    )
    .map_err(|e| format!("model reserve: {e}"))?;
    let mut rep = DiffReport::default();
    let mut rng = fastrand::Rng::with_seed(seed);
    let lo = base + MARGIN * PAGE_SIZE;
    let hi = end - MARGIN * PAGE_SIZE;
    let span = (hi - lo) / PAGE_SIZE;
    let prots = [
        PROT_NONE,
        PROT_READ,
        PROT_WRITE,
        PROT_READ | PROT_WRITE,
        PROT_READ | PROT_EXEC,
    ];
    for step in 0..steps {
        let mut a = lo + rng.u64(..span) * PAGE_SIZE;
        let max_len = ((hi - a) / PAGE_SIZE).clamp(1, 24);
        let len = rng.u64(1..=max_len) * PAGE_SIZE;
        let prot = prots[rng.u64(..prots.len() as u64) as usize];
        let op = rng.u64(..100);
        // Occasionally an unaligned address, to compare the -EINVAL paths.
        if (30..75).contains(&op) && rng.u8(..100) < 3 {
            a += 1;
        }
        let (desc, k, m) = if op < 30 {
            rep.ops[0] += 1;
            let mut fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
            if rng.u8(..100) < 5 {
                fl = MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED;
            } else if rng.u8(..100) < 10 {
                fl |= MAP_NORESERVE;
            } else if rng.u8(..100) < 10 {
                fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
            }
            let use_file = rng.u8(..100) < 15;
            let (len, off) = if use_file {
                fl &= !(MAP_ANONYMOUS | MAP_NORESERVE);
                let len = len.min(16 * PAGE_SIZE);
                (len, rng.u64(..FILE_PAGES - pages(len) + 1) * PAGE_SIZE)
            } else {
                (len, 0)
            };
            let (kfd, mfile) = if use_file {
                (fd, Some(&file))
            } else {
                (-1, None)
            };
            // SAFETY: MAP_FIXED strictly inside our own reservation, nothing else lives there.
            let r = unsafe {
                libc::mmap(
                    a as *mut libc::c_void,
                    len as usize,
                    prot,
                    fl,
                    kfd,
                    off as libc::off_t,
                )
            };
            let k = if r == libc::MAP_FAILED { -errno() } else { 0 };
            let m = code(mm.mmap(a, len, prot, fl, mfile, off));
            (format!("mmap({a:x}, {len:#x}, prot {prot}, flags {fl:#x}, file {use_file} off {off:#x})"), k, m)
        } else if op < 45 {
            rep.ops[1] += 1;
            // SAFETY: unmapping pages of our own reservation only.
            let r = unsafe { libc::munmap(a as *mut libc::c_void, len as usize) };
            let k = if r != 0 { -errno() } else { 0 };
            let m = code(mm.munmap(a, len));
            (format!("munmap({a:x}, {len:#x})"), k, m)
        } else if op < 65 {
            rep.ops[2] += 1;
            // SAFETY: changing protections of our own reservation only.
            let r = unsafe { libc::mprotect(a as *mut libc::c_void, len as usize, prot) };
            let k = if r != 0 { -errno() } else { 0 };
            let m = code(mm.mprotect(a, len, prot));
            (format!("mprotect({a:x}, {len:#x}, {prot})"), k, m)
        } else if op < 75 {
            rep.ops[3] += 1;
            let adv = [MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK]
                [rng.u64(..4) as usize];
            // SAFETY: advice on our own reservation; these advice values never free memory.
            let r = unsafe { libc::madvise(a as *mut libc::c_void, len as usize, adv) };
            let k = if r != 0 { -errno() } else { 0 };
            let m = code(mm.madvise(a, len, adv));
            (format!("madvise({a:x}, {len:#x}, {adv})"), k, m)
        } else {
            rep.ops[4] += 1;
            let writable = mm
                .vma_lookup(a)
                .is_some_and(|v| v.flags().contains(VmFlags::WRITE));
            if writable {
                // SAFETY: the model (checked against the kernel after every step) says the
                // page at `a` is mapped writable in our reservation.
                unsafe { std::ptr::write_volatile(a as *mut u8, 1) };
                let m = code(mm.touch(a));
                (format!("touch({a:x})"), 0, m)
            } else {
                (format!("skip touch({a:x})"), 0, 0)
            }
        };
        rep.steps += 1;
        if k != 0 && k == m {
            rep.failed_calls += 1;
        }
        if k != m {
            rep.errno_mismatches += 1;
            if rep.first_mismatch.is_none() {
                rep.first_mismatch = Some(format!("step {step}: {desc}: kernel {k}, model {m}"));
            }
        }
        let kl = kernel_region(base, end)?;
        let ml = model_region(&mm, base, end);
        rep.max_vmas = rep.max_vmas.max(kl.len() as u64);
        if kl != ml {
            rep.mismatches += 1;
            if rep.first_mismatch.is_none() {
                let only_k: Vec<Line> = kl.iter().filter(|l| !ml.contains(l)).cloned().collect();
                let only_m: Vec<Line> = ml.iter().filter(|l| !kl.contains(l)).cloned().collect();
                rep.first_mismatch = Some(format!(
                    "step {step}: {desc}\n only in kernel: {}\n only in model:  {}",
                    fmt_lines(&only_k),
                    fmt_lines(&only_m)
                ));
            }
        }
        if let Err(e) = mm.validate() {
            return Err(format!("step {step}: {desc}: model invalid: {e}"));
        }
    }
    Ok(rep)
}

fn encode(r: &Result<DiffReport, String>) -> String {
    match r {
        Ok(r) => format!(
            "OK {} {} {} {} {} {} {} {} {} {}\n{}",
            r.steps,
            r.mismatches,
            r.errno_mismatches,
            r.ops[0],
            r.ops[1],
            r.ops[2],
            r.ops[3],
            r.ops[4],
            r.failed_calls,
            r.max_vmas,
            r.first_mismatch.clone().unwrap_or_default()
        ),
        Err(e) => format!("ERR\n{e}"),
    }
}

fn decode(s: &str) -> Result<DiffReport, String> {
    let (head, rest) = s.split_once('\n').unwrap_or((s, ""));
    let mut it = head.split_whitespace();
    match it.next() {
        Some("OK") => {
            let n: Vec<u64> = it
                .map(|x| x.parse().map_err(|_| format!("bad report {head}")))
                .collect::<Result<_, _>>()?;
            if n.len() != 10 {
                return Err(format!("bad report {head}"));
            }
            Ok(DiffReport {
                steps: n[0],
                mismatches: n[1],
                errno_mismatches: n[2],
                ops: [n[3], n[4], n[5], n[6], n[7]],
                failed_calls: n[8],
                max_vmas: n[9],
                first_mismatch: if rest.is_empty() {
                    None
                } else {
                    Some(rest.to_string())
                },
            })
        }
        Some("ERR") => Err(rest.to_string()),
        _ => Err(format!("child sent no report: {s:?}")),
    }
}

/// Run `steps` random operations with `seed` in a forked child and compare with the model
/// after each step.
///
/// ```
/// let r = maple_mm::kernel_diff::run(50, 7).expect("the child ran");
/// assert_eq!(r.steps, 50);
/// assert_eq!((r.mismatches, r.errno_mismatches), (0, 0), "{:?}", r.first_mismatch);
/// ```
/// `Err` means the run itself could not be carried out (or the model
/// broke an invariant); disagreements are counted in the report.
pub fn run(steps: u64, seed: u64) -> Result<DiffReport, String> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid 2-element array for pipe(2) to fill.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: errno {}", errno()));
    }
    // SAFETY: the child only runs the model and raw syscalls, writes to the pipe and
    // leaves with _exit (no destructors, no shared state with the parent's other threads).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: errno {}", errno()));
    }
    if pid == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(fds[0]) };
        let r = std::panic::catch_unwind(|| run_here(steps, seed))
            .unwrap_or_else(|_| Err("model panicked".to_string()));
        let msg = encode(&r);
        let mut off = 0;
        while off < msg.len() {
            // SAFETY: writing from a live buffer of the given length.
            let n = unsafe {
                libc::write(
                    fds[1],
                    msg.as_ptr().add(off) as *const libc::c_void,
                    msg.len() - off,
                )
            };
            if n <= 0 {
                break;
            }
            off += n as usize;
        }
        // SAFETY: terminate the child without running the parent's atexit handlers.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: closing the parent's copy of the write end.
    unsafe { libc::close(fds[1]) };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // SAFETY: reading into a live buffer of the given length.
        let n = unsafe { libc::read(fds[0], chunk.as_mut_ptr() as *mut libc::c_void, chunk.len()) };
        if n <= 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n as usize]);
    }
    // SAFETY: closing the read end, reaping our own child.
    unsafe { libc::close(fds[0]) };
    let mut status = 0;
    // SAFETY: waiting for the child we forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    decode(&String::from_utf8_lossy(&buf))
}
