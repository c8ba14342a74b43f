//! Differential test against the running Linux kernel.
//!
//! A forked child process executes real syscalls on its own address space, one command at
//! a time, and does nothing else (no allocation, no stack growth), so its address space
//! changes only by those calls. The parent mirrors each call on a model loaded from the
//! child's real layout and compares, after every step, the return codes and the whole
//! `/proc/<child>/smaps` (ranges, `VmFlags`, file offsets) with the model.
//!
//! The model learns the child's layout from its smaps, its program break from `brk(0)` and
//! `/proc/<child>/stat`, and where top-down placement starts (`mmap_base`) from a probe
//! `mmap(NULL)`. Calls that change or remove memory are only ever aimed at pages the run
//! itself mapped (or at holes), never at the child's own code, data, heap or stack.
//!
//! The mix: `mmap` with `MAP_FIXED`, with a hint, top-down, `MAP_FIXED_NOREPLACE`, below
//! `mmap_min_addr`, `MAP_GROWSDOWN`, `MAP_SHARED` anonymous and file-backed (a temporary
//! file both processes have open); `munmap`; `mprotect`; the four fork `madvise` values;
//! `mremap` growing and shrinking in place, with `MREMAP_MAYMOVE`, `MREMAP_FIXED` and
//! `MREMAP_DONTUNMAP`; `brk` up and down; `mlock`, `munlock`, `mlock2(MLOCK_ONFAULT)`;
//! writes (touches, also below a `MAP_GROWSDOWN` VMA to grow it); and `fork`, whose child's
//! smaps is compared with the model's child for each [`ForkStrategy`].

use crate::flags::*;
use crate::fork::ForkStrategy;
use crate::mm::{Mm, MmLayout, DEFAULT_STACK_GUARD_GAP};
use crate::smaps::{parse_smaps, SmapsEntry};
use crate::vma::{File, FileRef};
use crate::Access;
use std::fmt::Write as _;

/// Names of the operations the run counts, in report order.
pub const OPS: [&str; 27] = [
    "mmap-fixed",
    "mmap-hint",
    "mmap-topdown",
    "mmap-fixed-noreplace",
    "mmap-below-min-addr",
    "mmap-growsdown",
    "mmap-shared-anon",
    "mmap-file",
    "munmap",
    "mprotect",
    "madvise-dontfork",
    "madvise-dofork",
    "madvise-wipeonfork",
    "madvise-keeponfork",
    "mremap-grow",
    "mremap-shrink",
    "mremap-maymove",
    "mremap-fixed",
    "mremap-dontunmap",
    "brk-grow",
    "brk-shrink",
    "mlock",
    "munlock",
    "mlock2-onfault",
    "touch",
    "touch-growsdown",
    "fork",
];

/// Result of a differential run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffReport {
    /// Steps executed.
    pub steps: u64,
    /// Steps after which the VMA boundaries differed (a fork counts once per strategy).
    pub layout_mismatches: u64,
    /// Steps after which the boundaries agreed but some `VmFlags` or file offset did not.
    pub flag_mismatches: u64,
    /// Steps whose return codes differed.
    pub errno_mismatches: u64,
    /// Count of each operation in [`OPS`] order.
    pub ops: Vec<u64>,
    /// Calls that failed (same error in kernel and model).
    pub failed_calls: u64,
    /// Maximum number of VMAs seen in the child.
    pub max_vmas: u64,
    /// Real forks whose child was compared with the model's (each for all strategies).
    pub forks_compared: u64,
    /// Description of the first mismatch.
    pub first_mismatch: Option<String>,
}

impl DiffReport {
    /// Total mismatches of any kind.
    pub fn mismatches(&self) -> u64 {
        self.layout_mismatches + self.flag_mismatches + self.errno_mismatches
    }

    /// `(name, count)` for each operation.
    pub fn op_counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        OPS.iter()
            .zip(self.ops.iter().chain(std::iter::repeat(&0)))
            .map(|(n, c)| (*n, *c))
    }
}

/// Size of the temporary file, in pages.
const FILE_PAGES: u64 = 64;
/// Largest length of one operation, in pages.
const MAX_PAGES: u64 = 24;
/// A run stops after this many mismatching steps: the model has diverged by then.
const MAX_MISMATCHES: u64 = 20;

// Commands to the child: [op, args...]; the reply is one i64 (result or -errno).
const C_EXIT: u64 = 0;
const C_MMAP: u64 = 1;
const C_MUNMAP: u64 = 2;
const C_MPROTECT: u64 = 3;
const C_MADVISE: u64 = 4;
const C_MREMAP: u64 = 5;
const C_BRK: u64 = 6;
const C_MLOCK: u64 = 7;
const C_MUNLOCK: u64 = 8;
const C_MLOCK2: u64 = 9;
const C_TOUCH: u64 = 10;
const C_FORK: u64 = 11;
const C_REAP: u64 = 12;

type Cmd = [u64; 7];

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The child's side: run commands until told to exit. Async-signal-safe only (the parent
/// may have other threads): raw syscalls, reads and writes of stack buffers, no heap.
fn child_main(cmd_fd: i32, reply_fd: i32) -> ! {
    // Grow the stack now, so that running the commands never grows it later.
    let mut pad = [0u8; 64 * 1024];
    for i in (0..pad.len()).step_by(PAGE_SIZE as usize) {
        // SAFETY: `pad` is a live local array and `i` is in bounds.
        unsafe { std::ptr::write_volatile(pad.as_mut_ptr().add(i), 1) };
    }
    std::hint::black_box(&pad);
    loop {
        let mut cmd: Cmd = [0; 7];
        let want = std::mem::size_of::<Cmd>();
        let mut got = 0;
        while got < want {
            // SAFETY: reading into the live `cmd` array, within its size.
            let n = unsafe {
                libc::read(
                    cmd_fd,
                    (cmd.as_mut_ptr() as *mut u8).add(got) as *mut libc::c_void,
                    want - got,
                )
            };
            if n <= 0 {
                // SAFETY: leaving without running any of the parent's exit handlers.
                unsafe { libc::_exit(0) };
            }
            got += n as usize;
        }
        let r = exec(&cmd);
        let bytes = r.to_ne_bytes();
        // SAFETY: writing a live 8-byte buffer.
        unsafe { libc::write(reply_fd, bytes.as_ptr() as *const libc::c_void, bytes.len()) };
    }
}

/// One command in the child.
fn exec(c: &Cmd) -> i64 {
    let sys = |r: libc::c_long| -> i64 {
        if r == -1 {
            -(errno() as i64)
        } else {
            r
        }
    };
    // SAFETY (all arms): these calls only change the child's own address space, and the
    // parent aims the destructive ones at pages the run mapped itself (or at holes); a
    // touch writes one byte to a page the model says is mapped writable and backed.
    unsafe {
        match c[0] {
            C_MMAP => sys(libc::syscall(
                libc::SYS_mmap,
                c[1],
                c[2],
                c[3] as i64,
                c[4] as i64,
                c[5] as i64,
                c[6],
            )),
            C_MUNMAP => sys(libc::syscall(libc::SYS_munmap, c[1], c[2])),
            C_MPROTECT => sys(libc::syscall(libc::SYS_mprotect, c[1], c[2], c[3] as i64)),
            C_MADVISE => sys(libc::syscall(libc::SYS_madvise, c[1], c[2], c[3] as i64)),
            C_MREMAP => sys(libc::syscall(
                libc::SYS_mremap,
                c[1],
                c[2],
                c[3],
                c[4] as i64,
                c[5],
            )),
            C_BRK => libc::syscall(libc::SYS_brk, c[1]),
            C_MLOCK => sys(libc::syscall(libc::SYS_mlock, c[1], c[2])),
            C_MUNLOCK => sys(libc::syscall(libc::SYS_munlock, c[1], c[2])),
            C_MLOCK2 => sys(libc::syscall(libc::SYS_mlock2, c[1], c[2], c[3] as i64)),
            C_TOUCH => {
                std::ptr::write_volatile(c[1] as *mut u8, 1);
                0
            }
            C_FORK => {
                let pid = libc::fork();
                if pid == 0 {
                    loop {
                        libc::pause();
                    }
                }
                if pid < 0 {
                    -(errno() as i64)
                } else {
                    pid as i64
                }
            }
            C_REAP => {
                libc::kill(c[1] as i32, libc::SIGKILL);
                let mut st = 0;
                libc::waitpid(c[1] as i32, &mut st, 0);
                0
            }
            C_EXIT => libc::_exit(0),
            _ => -(libc::EINVAL as i64),
        }
    }
}

/// The parent's handle on the child.
struct Child {
    pid: i32,
    cmd: i32,
    reply: i32,
}

impl Child {
    fn call(&self, cmd: Cmd) -> Result<i64, String> {
        let bytes: Vec<u8> = cmd.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let mut off = 0;
        while off < bytes.len() {
            // SAFETY: writing from a live buffer within its length.
            let n = unsafe {
                libc::write(
                    self.cmd,
                    bytes[off..].as_ptr() as *const libc::c_void,
                    bytes.len() - off,
                )
            };
            if n <= 0 {
                return Err(format!("child gone (write: errno {})", errno()));
            }
            off += n as usize;
        }
        let mut r = [0u8; 8];
        let mut got = 0;
        while got < 8 {
            // SAFETY: reading into a live 8-byte buffer within its length.
            let n = unsafe {
                libc::read(
                    self.reply,
                    r[got..].as_mut_ptr() as *mut libc::c_void,
                    8 - got,
                )
            };
            if n <= 0 {
                return Err("child died".to_string());
            }
            got += n as usize;
        }
        Ok(i64::from_ne_bytes(r))
    }

    fn smaps(&self, pid: i32) -> Result<Vec<SmapsEntry>, String> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
            .map_err(|e| format!("read smaps: {e}"))?;
        parse_smaps(&text).map_err(|e| format!("parse smaps: {e}"))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: closing our pipe ends and reaping the child we forked; closing the
        // command pipe makes it leave on its own, the kill covers a stuck one.
        unsafe {
            libc::close(self.cmd);
            libc::close(self.reply);
            libc::kill(self.pid, libc::SIGKILL);
            let mut st = 0;
            libc::waitpid(self.pid, &mut st, 0);
        }
    }
}

fn spawn_child() -> Result<Child, String> {
    let mut a = [0i32; 2];
    let mut b = [0i32; 2];
    // SAFETY: two valid 2-element arrays for pipe(2) to fill.
    if unsafe { libc::pipe(a.as_mut_ptr()) } != 0 || unsafe { libc::pipe(b.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: errno {}", errno()));
    }
    // SAFETY: the child only runs `child_main`, which is async-signal-safe, and leaves
    // with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: errno {}", errno()));
    }
    if pid == 0 {
        // SAFETY: closing the parent's ends in the child.
        unsafe {
            libc::close(a[1]);
            libc::close(b[0]);
        }
        child_main(a[0], b[1]);
    }
    // SAFETY: closing the child's ends in the parent.
    unsafe {
        libc::close(a[0]);
        libc::close(b[1]);
    }
    Ok(Child {
        pid,
        cmd: a[1],
        reply: b[0],
    })
}

fn read_num(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `start_brk` from `/proc/<pid>/stat` (field 47).
fn start_brk(pid: i32) -> Result<u64, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    // Fields after the command name start at field 3.
    rest.split_whitespace()
        .nth(47 - 3)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no start_brk in stat".to_string())
}

/// `CAP_SYS_RAWIO` in the effective set of `pid`.
fn cap_sys_rawio(pid: i32) -> bool {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 17) != 0)
}

type View = Vec<(u64, u64, VmFlags, u64)>;

fn kernel_view(e: &[SmapsEntry], task_size: u64) -> View {
    e.iter()
        .filter(|e| e.start < task_size)
        .map(|e| (e.start, e.end, e.flags, e.offset))
        .collect()
}

fn model_view(mm: &Mm) -> View {
    mm.smaps_view()
}

/// Compare two views: `None` if equal, else whether the boundaries differ and the lines
/// that differ.
fn compare(k: &View, m: &View) -> Option<(bool, String)> {
    if k == m {
        return None;
    }
    let ranges = |v: &View| v.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>();
    let layout = ranges(k) != ranges(m);
    let fmt = |v: &[(u64, u64, VmFlags, u64)]| {
        v.iter()
            .map(|(s, e, f, o)| format!("{s:x}-{e:x} [{}] off {o:#x}", f.mnemonics()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let only_k: Vec<_> = k.iter().filter(|x| !m.contains(x)).cloned().collect();
    let only_m: Vec<_> = m.iter().filter(|x| !k.contains(x)).cloned().collect();
    Some((
        layout,
        format!(
            "\n only in kernel: {}\n only in model:  {}",
            fmt(&only_k),
            fmt(&only_m)
        ),
    ))
}

/// The child, with every command checked against its own mappings first.
struct Guarded<'a> {
    child: &'a Child,
    pid: i32,
    foreign: Foreign,
}

impl Guarded<'_> {
    fn call(&self, cmd: Cmd) -> Result<i64, String> {
        if self.foreign.violated_by(&cmd) {
            return Err(format!(
                "refused a command aimed at the child's own memory: {cmd:x?}"
            ));
        }
        self.child
            .call(cmd)
            .map_err(|e| format!("{e} during command {cmd:x?}"))
    }

    fn smaps(&self, pid: i32) -> Result<Vec<SmapsEntry>, String> {
        self.child.smaps(pid)
    }
}

/// Address ranges the run must never change: the child's own mappings at the start.
struct Foreign(Vec<(u64, u64)>);

impl Foreign {
    /// Whether a command would change one of the child's own mappings (a generator bug:
    /// refused before it reaches the child, which it could kill).
    fn violated_by(&self, c: &Cmd) -> bool {
        let page = |a: u64| a & !(PAGE_SIZE - 1);
        let span = |a: u64, len: u64| self.hits(page(a), a.saturating_add(len.max(1)));
        match c[0] {
            C_MMAP => {
                let fl = c[4] as i32;
                fl & MAP_FIXED != 0 && fl & MAP_FIXED_NOREPLACE == 0 && span(c[1], c[2])
            }
            C_MUNMAP | C_MPROTECT | C_MADVISE | C_MLOCK | C_MUNLOCK | C_MLOCK2 => span(c[1], c[2]),
            C_MREMAP => {
                let fl = c[4] as i32;
                span(c[1], c[2]) || (fl & MREMAP_FIXED != 0 && span(c[5], c[3]))
            }
            C_TOUCH => span(c[1], 1),
            _ => false,
        }
    }

    fn hits(&self, start: u64, end: u64) -> bool {
        let i = self.0.partition_point(|&(_, e)| e <= start);
        self.0.get(i).is_some_and(|&(s, _)| s < end)
    }
}

struct Gen {
    rng: fastrand::Rng,
    foreign: Foreign,
    owned: Vec<(u64, u64)>,
    arena: (u64, u64),
}

impl Gen {
    fn pages(&mut self, max: u64) -> u64 {
        self.rng.u64(1..=max) * PAGE_SIZE
    }

    /// A page-aligned address near memory the run mapped, or in the arena below the
    /// top-down frontier.
    fn addr(&mut self) -> u64 {
        if !self.owned.is_empty() && self.rng.u8(..100) < 75 {
            let (s, e) = self.owned[self.rng.usize(..self.owned.len())];
            let lo = s.saturating_sub(4 * PAGE_SIZE);
            let hi = e + 4 * PAGE_SIZE;
            lo + self.rng.u64(..(hi - lo) / PAGE_SIZE) * PAGE_SIZE
        } else {
            let (lo, hi) = self.arena;
            lo + self.rng.u64(..(hi - lo) / PAGE_SIZE) * PAGE_SIZE
        }
    }

    /// A range the run may change: it touches none of the child's own mappings.
    fn range(&mut self, max_pages: u64) -> Option<(u64, u64)> {
        for _ in 0..32 {
            let a = self.addr();
            let len = self.pages(max_pages);
            if !self.foreign.hits(a, a + len) {
                return Some((a, len));
            }
        }
        None
    }

    /// A start for exactly `len` bytes that touches none of the child's own mappings.
    fn range_of(&mut self, len: u64) -> Option<u64> {
        for _ in 0..32 {
            let a = self.addr();
            if !self.foreign.hits(a, a + len) {
                return Some(a);
            }
        }
        None
    }

    fn own(&mut self, start: u64, len: u64) {
        if len > 0 && self.owned.len() < 4096 {
            self.owned.push((start, start + len));
        }
    }
}

fn code<T>(r: Result<T, crate::MmError>) -> i64 {
    match r {
        Ok(_) => 0,
        Err(e) => e.errno() as i64,
    }
}

/// Run `steps` random operations with `seed` against the running kernel and the model,
/// comparing after each step. `Err` means the run itself could not be carried out (or the
/// model broke one of its invariants); disagreements are counted in the report.
///
/// ```
/// let r = maple_mm::kernel_diff::run(60, 7).expect("the child ran");
/// assert_eq!(r.steps, 60);
/// assert_eq!(r.mismatches(), 0, "{:?}", r.first_mismatch);
/// ```
pub fn run(steps: u64, seed: u64) -> Result<DiffReport, String> {
    let path = std::env::temp_dir().join(format!(
        "maple-mm-diff-{}-{seed}-{:x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let tmp = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("temp file {}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&path);
    tmp.set_len(FILE_PAGES * PAGE_SIZE)
        .map_err(|e| format!("temp file size: {e}"))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&tmp);
    let child = spawn_child()?;
    let r = drive(&child, fd, steps, seed);
    let _ = child.call([C_EXIT, 0, 0, 0, 0, 0, 0]);
    drop(child);
    drop(tmp);
    r
}

fn drive(raw: &Child, fd: i32, steps: u64, seed: u64) -> Result<DiffReport, String> {
    let child = raw;
    let anon = (MAP_PRIVATE | MAP_ANONYMOUS) as u64;
    // Where top-down placement starts: the probe lands at the top of the highest hole.
    let probe = child.call([C_MMAP, 0, PAGE_SIZE, PROT_NONE as u64, anon, u64::MAX, 0])?;
    if probe < 0 {
        return Err(format!("probe mmap: {probe}"));
    }
    let probe = probe as u64;
    child.call([C_MUNMAP, probe, PAGE_SIZE, 0, 0, 0, 0])?;
    // The effective mmap_min_addr (the sysctl or the security modules' floor, whichever is
    // higher) is where a low hint is raised to: probe it with the lowest hint.
    let low = child.call([
        C_MMAP,
        PAGE_SIZE,
        PAGE_SIZE,
        PROT_NONE as u64,
        anon,
        u64::MAX,
        0,
    ])?;
    if low <= 0 {
        return Err(format!("probe mmap (low hint): {low}"));
    }
    child.call([C_MUNMAP, low as u64, PAGE_SIZE, 0, 0, 0, 0])?;
    let dac_min = read_num("/proc/sys/vm/mmap_min_addr").unwrap_or(4096);
    let min_addr = if (low as u64) < 1 << 32 {
        (low as u64).max(dac_min)
    } else {
        dac_min
    };
    let brk = child.call([C_BRK, 0, 0, 0, 0, 0, 0])? as u64;
    let start_brk = start_brk(child.pid)?;
    let entries = child.smaps(child.pid)?;
    let mut mmap_base = probe + PAGE_SIZE;
    for e in &entries {
        if e.start == mmap_base {
            mmap_base = e.end;
        }
    }
    let layout = MmLayout {
        mmap_base,
        mmap_min_addr: min_addr,
        dac_mmap_min_addr: dac_min,
        start_brk,
        stack_guard_gap: DEFAULT_STACK_GUARD_GAP,
        max_map_count: read_num("/proc/sys/vm/max_map_count").unwrap_or(65530) as usize,
        cap_sys_rawio: cap_sys_rawio(child.pid),
        ..MmLayout::default()
    };
    let task_size = layout.task_size;
    let mm = Mm::from_smaps(&entries, layout, Some((start_brk, brk)))
        .map_err(|e| format!("loading the child's layout: {e}"))?;
    if let Some((_, d)) = compare(&kernel_view(&entries, task_size), &model_view(&mm)) {
        return Err(format!("the loaded layout differs from the child's:{d}"));
    }
    let file: FileRef = File::with_size("diff-file", true, true, FILE_PAGES);
    let mut foreign: Vec<(u64, u64)> = entries.iter().map(|e| (e.start, e.end)).collect();
    foreign.sort_unstable();
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(seed),
        foreign: Foreign(foreign),
        owned: Vec::new(),
        arena: (probe.saturating_sub(16 << 20), probe + PAGE_SIZE),
    };
    let guarded = Guarded {
        child: raw,
        pid: raw.pid,
        foreign: Foreign(g.foreign.0.clone()),
    };
    let child = &guarded;
    let brk0 = brk;
    let mut cur_brk = brk;
    let mut rep = DiffReport {
        ops: vec![0; OPS.len()],
        ..Default::default()
    };
    let prots = [
        PROT_NONE,
        PROT_READ,
        PROT_WRITE,
        PROT_READ | PROT_WRITE,
        PROT_READ | PROT_EXEC,
    ];
    let base_vmas = entries.len();
    let mut vmas_now = base_vmas;
    let mut step = 0;
    // The child's layout before the current step, and the address the step aimed at: a
    // mismatch report shows the neighbourhood.
    let mut before: View = kernel_view(&entries, task_size);
    let mut focus: u64;
    while step < steps && rep.mismatches() < MAX_MISMATCHES {
        focus = 0;
        let prot = prots[g.rng.usize(..prots.len())];
        // The mix maps more than it unmaps; past a few hundred VMAs of its own, every other
        // step is a wider munmap, so that long runs stay at a size where each step's full
        // comparison is cheap.
        let crowded = vmas_now > base_vmas + 400;
        let pick = if crowded && g.rng.bool() {
            450
        } else {
            g.rng.u32(..1000)
        };
        let unaligned = g.rng.u8(..100) < 2;
        // (operation index, description, kernel result, model result)
        let (op, desc, k, m): (usize, String, i64, i64) = match pick {
            0..=129 => {
                let Some((mut a, len)) = g.range(MAX_PAGES) else {
                    continue;
                };
                let mut fl = anon as i32 | MAP_FIXED;
                if g.rng.u8(..100) < 10 {
                    fl |= MAP_NORESERVE;
                }
                if g.rng.u8(..100) < 4 {
                    fl |= MAP_LOCKED;
                }
                if unaligned {
                    a += 1;
                }
                focus = a;
                let k = child.call([C_MMAP, a, len, prot as u64, fl as u64, u64::MAX, 0])?;
                let m = mm.mmap(a, len, prot, fl, None, 0);
                if m.is_ok() {
                    g.own(a, len);
                }
                (
                    0,
                    format!("mmap({a:#x}, {len:#x}, {prot}, {fl:#x})"),
                    k,
                    ret(m),
                )
            }
            130..=199 => {
                let hint = g.addr();
                let len = g.pages(MAX_PAGES);
                focus = hint;
                let k = child.call([C_MMAP, hint, len, prot as u64, anon, u64::MAX, 0])?;
                let m = mm.mmap(hint, len, prot, anon as i32, None, 0);
                if let Ok(x) = m {
                    g.own(x, len);
                }
                (
                    1,
                    format!("mmap(hint {hint:#x}, {len:#x}, {prot})"),
                    k,
                    ret(m),
                )
            }
            200..=269 => {
                let len = g.pages(MAX_PAGES);
                let k = child.call([C_MMAP, 0, len, prot as u64, anon, u64::MAX, 0])?;
                let m = mm.mmap(0, len, prot, anon as i32, None, 0);
                if let Ok(x) = m {
                    g.own(x, len);
                }
                (2, format!("mmap(NULL, {len:#x}, {prot})"), k, ret(m))
            }
            270..=299 => {
                let a = g.addr();
                let len = g.pages(MAX_PAGES);
                let fl = anon as i32 | MAP_FIXED_NOREPLACE;
                focus = a;
                let k = child.call([C_MMAP, a, len, prot as u64, fl as u64, u64::MAX, 0])?;
                let m = mm.mmap(a, len, prot, fl, None, 0);
                if m.is_ok() {
                    g.own(a, len);
                }
                (3, format!("mmap({a:#x}, {len:#x}, NOREPLACE)"), k, ret(m))
            }
            300..=309 => {
                // Below mmap_min_addr: a hint is raised to it, MAP_FIXED needs
                // CAP_SYS_RAWIO.
                let a = g.rng.u64(..min_addr.max(PAGE_SIZE) / PAGE_SIZE) * PAGE_SIZE;
                let len = g.pages(4);
                let fl = if g.rng.bool() {
                    anon as i32 | MAP_FIXED_NOREPLACE
                } else {
                    anon as i32
                };
                focus = a;
                let k = child.call([C_MMAP, a, len, prot as u64, fl as u64, u64::MAX, 0])?;
                let m = mm.mmap(a, len, prot, fl, None, 0);
                if let Ok(x) = m {
                    g.own(x, len);
                }
                (4, format!("mmap({a:#x}, {len:#x}, {fl:#x}) low"), k, ret(m))
            }
            310..=349 => {
                let len = g.pages(8);
                let (a, fl) = match g.rng.u8(..3) {
                    0 => (0, anon as i32 | MAP_GROWSDOWN),
                    1 => (g.addr(), anon as i32 | MAP_GROWSDOWN),
                    _ => match g.range_of(len) {
                        Some(a) => (a, anon as i32 | MAP_GROWSDOWN | MAP_FIXED),
                        None => continue,
                    },
                };
                let prot = PROT_READ | PROT_WRITE;
                focus = a;
                let k = child.call([C_MMAP, a, len, prot as u64, fl as u64, u64::MAX, 0])?;
                let m = mm.mmap(a, len, prot, fl, None, 0);
                if let Ok(x) = m {
                    g.own(x, len);
                }
                (
                    5,
                    format!("mmap({a:#x}, {len:#x}, GROWSDOWN {fl:#x})"),
                    k,
                    ret(m),
                )
            }
            350..=379 => {
                let Some((a, len)) = g.range(MAX_PAGES) else {
                    continue;
                };
                let fl = (MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED) as u64;
                focus = a;
                let k = child.call([C_MMAP, a, len, prot as u64, fl, u64::MAX, 0])?;
                let m = mm.mmap(a, len, prot, fl as i32, None, 0);
                if m.is_ok() {
                    g.own(a, len);
                }
                (
                    6,
                    format!("mmap({a:#x}, {len:#x}, {prot}, SHARED|ANON)"),
                    k,
                    ret(m),
                )
            }
            380..=449 => {
                let len = g.pages(16);
                let off = g.rng.u64(..FILE_PAGES - pages(len) + 8) * PAGE_SIZE;
                let ty = if g.rng.bool() {
                    MAP_SHARED
                } else {
                    MAP_PRIVATE
                };
                let (a, fl) = match g.rng.u8(..3) {
                    0 => (0, ty),
                    _ => match g.range_of(len) {
                        Some(a) => (a, ty | MAP_FIXED),
                        None => continue,
                    },
                };
                focus = a;
                let k = child.call([C_MMAP, a, len, prot as u64, fl as u64, fd as u64, off])?;
                let m = mm.mmap(a, len, prot, fl, Some(&file), off);
                if let Ok(x) = m {
                    g.own(x, len);
                }
                (
                    7,
                    format!("mmap({a:#x}, {len:#x}, {prot}, {fl:#x}, file off {off:#x})"),
                    k,
                    ret(m),
                )
            }
            450..=519 => {
                let Some((mut a, len)) = g.range(if crowded { 4 * MAX_PAGES } else { MAX_PAGES })
                else {
                    continue;
                };
                if unaligned {
                    a += 1;
                }
                focus = a;
                let k = child.call([C_MUNMAP, a, len, 0, 0, 0, 0])?;
                let m = code(mm.munmap(a, len));
                (8, format!("munmap({a:#x}, {len:#x})"), k, m)
            }
            520..=609 => {
                let Some((mut a, len)) = g.range(MAX_PAGES) else {
                    continue;
                };
                if unaligned {
                    a += 1;
                }
                focus = a;
                let k = child.call([C_MPROTECT, a, len, prot as u64, 0, 0, 0])?;
                let m = code(mm.mprotect(a, len, prot));
                (9, format!("mprotect({a:#x}, {len:#x}, {prot})"), k, m)
            }
            610..=669 => {
                let Some((a, len)) = g.range(MAX_PAGES) else {
                    continue;
                };
                let i = g.rng.usize(..4);
                let adv = [MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK][i];
                focus = a;
                let k = child.call([C_MADVISE, a, len, adv as u64, 0, 0, 0])?;
                let m = code(mm.madvise(a, len, adv));
                (10 + i, format!("madvise({a:#x}, {len:#x}, {adv})"), k, m)
            }
            670..=779 => {
                let Some((a, old)) = g.range(MAX_PAGES) else {
                    continue;
                };
                let kind = g.rng.u8(..5);
                let (new, flags, new_addr) = match kind {
                    0 => (old + g.pages(8), 0, 0),
                    1 => (g.rng.u64(1..=pages(old)) * PAGE_SIZE, 0, 0),
                    2 => (old + g.pages(8), MREMAP_MAYMOVE, 0),
                    3 => {
                        let new = if g.rng.bool() {
                            old
                        } else {
                            g.pages(MAX_PAGES)
                        };
                        match g.range(1) {
                            Some((d, _)) if !g.foreign.hits(d, d + new) => {
                                (new, MREMAP_MAYMOVE | MREMAP_FIXED, d)
                            }
                            _ => continue,
                        }
                    }
                    _ => {
                        if g.rng.bool() {
                            (old, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, g.addr())
                        } else {
                            match g.range(1) {
                                Some((d, _)) if !g.foreign.hits(d, d + old) => {
                                    (old, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, d)
                                }
                                _ => continue,
                            }
                        }
                    }
                };
                focus = a;
                let k = child.call([C_MREMAP, a, old, new, flags as u64, new_addr, 0])?;
                let m = mm.mremap(a, old, new, flags, new_addr);
                if let Ok(x) = m {
                    g.own(x, new);
                }
                (
                    14 + kind as usize,
                    format!("mremap({a:#x}, {old:#x}, {new:#x}, {flags:#x}, {new_addr:#x})"),
                    k,
                    ret(m),
                )
            }
            780..=829 => {
                let grow = g.rng.u8(..100) < 60;
                let new = if grow {
                    cur_brk + g.rng.u64(1..16 * PAGE_SIZE)
                } else if g.rng.u8(..100) < 10 {
                    start_brk.saturating_sub(PAGE_SIZE)
                } else {
                    brk0.max(cur_brk.saturating_sub(g.rng.u64(1..16 * PAGE_SIZE)))
                };
                focus = new;
                let k = child.call([C_BRK, new, 0, 0, 0, 0, 0])?;
                let m = mm.brk(new) as i64;
                if k > 0 {
                    cur_brk = k as u64;
                    g.own(brk0, cur_brk.saturating_sub(brk0));
                }
                (if grow { 19 } else { 20 }, format!("brk({new:#x})"), k, m)
            }
            830..=899 => {
                let Some((mut a, len)) = g.range(MAX_PAGES) else {
                    continue;
                };
                if unaligned {
                    a += 1;
                }
                let (op, k, m) = match g.rng.u8(..3) {
                    0 => (
                        21,
                        child.call([C_MLOCK, a, len, 0, 0, 0, 0])?,
                        code(mm.mlock(a, len)),
                    ),
                    1 => (
                        22,
                        child.call([C_MUNLOCK, a, len, 0, 0, 0, 0])?,
                        code(mm.munlock(a, len)),
                    ),
                    _ => (
                        23,
                        child.call([C_MLOCK2, a, len, MLOCK_ONFAULT as u64, 0, 0, 0])?,
                        code(mm.mlock2(a, len, MLOCK_ONFAULT as i32)),
                    ),
                };
                (op, format!("{}({a:#x}, {len:#x})", OPS[op]), k, m)
            }
            900..=969 => {
                let Some((a, _)) = g.range(1) else {
                    continue;
                };
                // Only pages the model says are writable and backed: anything else would
                // kill the child (and the model is checked against the kernel every step).
                let ok = mm.vma_lookup(a).is_some_and(|v| {
                    v.flags().contains(VmFlags::WRITE)
                        && !crate::remap::beyond_eof(&v, a, a + PAGE_SIZE)
                });
                if !ok {
                    continue;
                }
                focus = a;
                let k = child
                    .call([C_TOUCH, a, 0, 0, 0, 0, 0])
                    .map_err(|e| format!("{e}; model: {:?}", mm.vma_lookup(a)))?;
                let m = code(mm.touch(a));
                (24, format!("touch({a:#x})"), k, m)
            }
            970..=984 => {
                // A write just below a MAP_GROWSDOWN VMA grows it, if the model agrees.
                let gd: Vec<_> = mm
                    .vmas()
                    .into_iter()
                    .filter(|v| {
                        v.flags().contains(VmFlags::GROWSDOWN)
                            && !g.foreign.hits(v.start(), v.end())
                    })
                    .collect();
                if gd.is_empty() {
                    continue;
                }
                let v = &gd[g.rng.usize(..gd.len())];
                let a = v.start().saturating_sub(g.rng.u64(1..=4) * PAGE_SIZE);
                if g.foreign.hits(a, v.start()) || mm.vma_lookup(a).is_some() {
                    continue;
                }
                if !mm.stack_would_grow(a, Access::Write) {
                    continue;
                }
                focus = a;
                let k = child.call([C_TOUCH, a, 0, 0, 0, 0, 0])?;
                let m = mm.fault(a, Access::Write).map(|_| 0).unwrap_or(-14);
                g.own(a, v.start() - a);
                (
                    25,
                    format!("touch({a:#x}) below growsdown {:#x}", v.start()),
                    k,
                    m,
                )
            }
            _ => {
                let gc = child.call([C_FORK, 0, 0, 0, 0, 0, 0])?;
                if gc <= 0 {
                    return Err(format!("fork in the child: {gc}"));
                }
                let real = child.smaps(gc as i32);
                child.call([C_REAP, gc as u64, 0, 0, 0, 0, 0])?;
                let real = kernel_view(&real?, task_size);
                rep.forks_compared += 1;
                for s in ForkStrategy::ALL {
                    let c = mm.fork(s).map_err(|e| format!("model fork: {e}"))?;
                    if let Some((layout, d)) = compare(&real, &model_view(&c)) {
                        if layout {
                            rep.layout_mismatches += 1;
                        } else {
                            rep.flag_mismatches += 1;
                        }
                        if rep.first_mismatch.is_none() {
                            rep.first_mismatch =
                                Some(format!("step {step}: fork, {} child:{d}", s.name()));
                        }
                    }
                    c.validate()
                        .map_err(|e| format!("step {step}: forked child invalid: {e}"))?;
                    c.exit();
                }
                (26, "fork".to_string(), 0, 0)
            }
        };
        step += 1;
        rep.steps += 1;
        rep.ops[op] += 1;
        if k < 0 && k == m {
            rep.failed_calls += 1;
        }
        // mmap, mremap and brk return addresses: compare them as they are.
        let (kc, mc) = (k, m);
        if kc != mc {
            rep.errno_mismatches += 1;
            if rep.first_mismatch.is_none() {
                rep.first_mismatch = Some(format!(
                    "step {step}: {desc}: kernel {}, model {}\n before, near {focus:#x}: {}",
                    show(kc),
                    show(mc),
                    near(&before, focus)
                ));
            }
        }
        let real = kernel_view(&child.smaps(child.pid)?, task_size);
        rep.max_vmas = rep.max_vmas.max(real.len() as u64);
        vmas_now = real.len();
        if let Some((layout, d)) = compare(&real, &model_view(&mm)) {
            if layout {
                rep.layout_mismatches += 1;
            } else {
                rep.flag_mismatches += 1;
            }
            if rep.first_mismatch.is_none() {
                rep.first_mismatch = Some(format!(
                    "step {step}: {desc}:{d}\n before, near {focus:#x}: {}",
                    near(&before, focus)
                ));
            }
        }
        before = real;
        mm.validate()
            .map_err(|e| format!("step {step}: {desc}: model invalid: {e}"))?;
    }
    Ok(rep)
}

/// The lines of `v` within 64 pages of `at`.
fn near(v: &View, at: u64) -> String {
    let w = 64 * PAGE_SIZE;
    v.iter()
        .filter(|(s, e, _, _)| *e + w > at && *s < at.saturating_add(w))
        .map(|(s, e, f, o)| format!("{s:x}-{e:x} [{}] off {o:#x}", f.mnemonics()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A result as a value: addresses in hex, errors as -errno.
fn show(v: i64) -> String {
    let mut s = String::new();
    if v < 0 {
        let _ = write!(s, "{v}");
    } else {
        let _ = write!(s, "{v:#x}");
    }
    s
}

/// A model result in the kernel's terms: the address, or -errno.
fn ret(r: Result<u64, crate::MmError>) -> i64 {
    match r {
        Ok(a) => a as i64,
        Err(e) => e.errno() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_tells_layout_from_flag_differences() {
        let rw = VmFlags::DATA_DEFAULT;
        let k: View = vec![(0x1000, 0x3000, rw, 0), (0x5000, 0x6000, rw, 0)];
        assert_eq!(compare(&k, &k.clone()), None);
        let mut m = k.clone();
        m[1].2 |= VmFlags::LOCKED;
        assert_eq!(compare(&k, &m).map(|x| x.0), Some(false), "flags only");
        m[1].3 = 0x2000;
        assert_eq!(compare(&k, &m).map(|x| x.0), Some(false), "offset only");
        let m: View = vec![(0x1000, 0x2000, rw, 0), (0x2000, 0x3000, rw, 0), k[1]];
        let (layout, text) = compare(&k, &m).unwrap();
        assert!(layout);
        assert!(text.contains("1000-3000 [rd wr mr mw me]"), "{text}");
    }

    #[test]
    fn foreign_ranges_are_never_chosen() {
        let f = Foreign(vec![(0x10000, 0x20000), (0x30000, 0x31000)]);
        assert!(f.hits(0xf000, 0x11000));
        assert!(f.hits(0x30fff, 0x40000));
        assert!(!f.hits(0x20000, 0x30000));
        assert!(!f.hits(0x0, 0x10000));
        let mut g = Gen {
            rng: fastrand::Rng::with_seed(1),
            foreign: f,
            owned: vec![(0x1c000, 0x22000)],
            arena: (0x0, 0x40000),
        };
        for _ in 0..1000 {
            if let Some((a, len)) = g.range(8) {
                assert!(!g.foreign.hits(a, a + len), "{a:#x}+{len:#x}");
            }
        }
    }
}
