//! The address space (`maple_mm::Mm`, through its public operations only) against its own
//! invariants: random mmap/munmap/mprotect/madvise/brk/touch/fork/exit on a few address
//! spaces, and after every step `Mm::validate()` and what the public API can see from
//! outside: VMAs sorted, non-overlapping, page-aligned, inside the task size and attached
//! to their mm; each tree range exactly its VMA (`vma_lookup` at both ends and around it,
//! `find_vma`); the map count; `/proc/PID/maps` text that parses back to the same ranges;
//! no two adjacent VMAs the kernel's merge rules would have merged (checked while the
//! address space is not a fork child and has had no low map count or commit limit, whose
//! failures may leave a split unmerged, and away from the heap, stacks and special
//! mappings, where the kernel itself leaves such pairs). Every fork, in
//! each strategy, makes a child equal to the parent's VMAs minus the `MADV_DONTFORK` ones
//! (mlock dropped, anon_vma forked or wiped) and leaves the parent unchanged; a fork failed
//! on purpose (`fail_at`) or by the commit limit releases every copy exactly once.

use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use maple_mm::*;

const MAX_OPS: usize = 48;
const MAX_MMS: usize = 3;
const P: u64 = PAGE_SIZE;

#[derive(Arbitrary, Debug)]
struct Input {
    ops: Vec<MmOp>,
}

/// An address inside one of the areas the target works in.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Addr {
    /// Fixed-mapping area (0), below `mmap_base` (1), around the heap (2), low memory
    /// around `mmap_min_addr` (3).
    region: u8,
    page: u16,
    /// A few in 256 are off a page boundary.
    skew: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Len {
    pages: u8,
    skew: u8,
}

#[derive(Arbitrary, Debug)]
enum MmOp {
    Mmap {
        at: Addr,
        len: Len,
        prot: u8,
        /// Private (even) or shared; anonymous or one of two files; fixed, fixed-noreplace
        /// or a hint; growsdown, locked and noreserve now and then.
        flags: u16,
        file: u8,
        offset: u8,
    },
    Munmap(Addr, Len),
    Mprotect(Addr, Len, u8),
    Madvise(Addr, Len, u8),
    Touch(Addr),
    Brk(i8),
    Fork {
        strategy: u8,
        fail_at: Option<u8>,
        keep: bool,
    },
    /// Rarer steps: switch to another address space (0-3), exit one (4), lower the map
    /// count limit (5), set a commit limit (6), lift it (7); nothing otherwise.
    Other(u8, u8),
}

/// One address space under test and what the merge check may rely on.
struct Space {
    mm: Mm,
    /// Not a fork child, and no map count or commit limit was ever set low.
    pristine: bool,
    /// Highest break it ever had.
    brk_high: u64,
}

/// The input as the operations it decodes to.
pub fn describe(data: &[u8]) -> String {
    format!("{:#?}", Input::arbitrary(&mut Unstructured::new(data)))
}

impl Addr {
    fn resolve(self, mm: &Mm) -> u64 {
        let l = mm.layout();
        let page = u64::from(self.page % 96);
        let base = match self.region % 8 {
            0..=3 => 0x1000_0000,
            4 | 5 => l.mmap_base - 64 * P,
            6 => l.start_brk - 32 * P,
            _ => l.mmap_min_addr.saturating_sub(16 * P),
        };
        let skew = if self.skew >= 250 {
            u64::from(self.skew - 249) * 8
        } else {
            0
        };
        base + page * P + skew
    }
}

impl Len {
    fn bytes(self) -> u64 {
        let skew = if self.skew >= 250 { 1 } else { 0 };
        let pages = match self.pages {
            0..=199 => self.pages % 12 + 1,
            200..=250 => self.pages % 40,
            _ => 0,
        };
        u64::from(pages) * P + skew
    }
}

fn prot_of(p: u8) -> i32 {
    let mut prot = i32::from(p & 7);
    if p & 0xf8 == 0xf8 {
        prot |= PROT_GROWSDOWN;
    }
    prot
}

/// The property: see the module documentation.
pub fn address_space(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let files = [
        File::new("/lib/rw.so", true, true),
        File::new("/lib/ro.so", true, false),
    ];
    let mut spaces = vec![Space {
        mm: Mm::new(),
        pristine: true,
        brk_high: 0,
    }];
    spaces[0].brk_high = spaces[0].mm.brk_value();
    let mut cur = 0usize;
    for (n, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        let on = cur;
        let ctx = || format!("op #{n} {op:?} on mm {on}");
        let ctx = &ctx;
        let room = spaces.len() < MAX_MMS;
        let several = spaces.len() > 1;
        let sp = &mut spaces[cur];
        let mm = &sp.mm;
        // Errors are answers too (the invariants must hold after them). An error leaves no VMA
        // split but unmerged unless a split ran into the map count limit or a charge into the
        // commit limit, both set below, which end the merge check.
        let _: Result<(), MmError> = match *op {
            MmOp::Mmap {
                at,
                len,
                prot,
                flags,
                file,
                offset,
            } => {
                let mut f = if flags & 1 == 0 {
                    MAP_PRIVATE
                } else {
                    MAP_SHARED
                };
                let file = match file % 3 {
                    0 => {
                        f |= MAP_ANONYMOUS;
                        None
                    }
                    i => Some(&files[usize::from(i - 1)]),
                };
                f |= match (flags >> 1) % 4 {
                    0 | 1 => MAP_FIXED,
                    2 => MAP_FIXED_NOREPLACE,
                    _ => 0,
                };
                if flags & 0x0f00 == 0x0f00 {
                    f |= MAP_GROWSDOWN;
                }
                if flags & 0xf000 == 0xf000 {
                    f |= MAP_LOCKED;
                }
                if flags & 0x00f0 == 0x00f0 {
                    f |= MAP_NORESERVE;
                }
                let addr = if (flags >> 1) % 4 == 3 && flags & 8 != 0 {
                    0
                } else {
                    at.resolve(mm)
                };
                let r = mm.mmap(
                    addr,
                    len.bytes(),
                    prot_of(prot),
                    f,
                    file,
                    u64::from(offset % 64) * P,
                );
                if let Ok(a) = r {
                    assert_eq!(a % P, 0, "mmap returned an unaligned address; {}", ctx());
                    let v = mm
                        .vma_lookup(a)
                        .unwrap_or_else(|| panic!("no VMA at the mapped {a:#x}; {}", ctx()));
                    assert!(
                        v.contains(a + len.bytes().max(1) - 1),
                        "the mapping's VMA does not cover it; {}",
                        ctx()
                    );
                    if f & MAP_FIXED != 0 {
                        assert_eq!(a, addr, "MAP_FIXED moved the mapping; {}", ctx());
                    }
                }
                r.map(drop)
            }
            MmOp::Munmap(at, len) => {
                let (a, l) = (at.resolve(mm), len.bytes());
                let r = mm.munmap(a, l);
                if r.is_ok() && l > 0 {
                    let end = a.saturating_add(l).div_ceil(P) * P;
                    let mut x = a;
                    while x < end {
                        assert!(mm.vma_lookup(x).is_none(), "{x:#x} still mapped; {}", ctx());
                        x += P;
                    }
                }
                r
            }
            MmOp::Mprotect(at, len, prot) => {
                mm.mprotect(at.resolve(mm), len.bytes(), prot_of(prot))
            }
            MmOp::Madvise(at, len, advice) => {
                let advice = [
                    MADV_DONTFORK,
                    MADV_DOFORK,
                    MADV_WIPEONFORK,
                    MADV_KEEPONFORK,
                    4,
                ][usize::from(advice % 5)];
                mm.madvise(at.resolve(mm), len.bytes(), advice)
            }
            MmOp::Brk(delta) => {
                let old = mm.brk_value();
                let want = old.wrapping_add_signed(i64::from(delta) * P as i64 / 2);
                let got = mm.brk(want);
                assert!(
                    got == old || got == want,
                    "brk({want:#x}) from {old:#x} gave {got:#x}; {}",
                    ctx()
                );
                assert_eq!(mm.brk_value(), got, "brk_value; {}", ctx());
                sp.brk_high = sp.brk_high.max(got);
                Ok(())
            }
            MmOp::Touch(at) => mm.touch(at.resolve(mm)),
            MmOp::Fork {
                strategy,
                fail_at,
                keep,
            } => {
                let r = fork_check(mm, strategy, fail_at, keep && room, ctx);
                if let Some(child) = r {
                    let brk_high = child.brk_value().max(spaces[cur].brk_high);
                    spaces.push(Space {
                        mm: child,
                        pristine: false,
                        brk_high,
                    });
                }
                Ok(())
            }
            MmOp::Other(what, arg) => match what % 16 {
                0..=3 => {
                    cur = usize::from(arg) % spaces.len();
                    Ok(())
                }
                4 if several => {
                    let i = usize::from(arg) % spaces.len();
                    let gone = spaces.remove(i);
                    let vmas = gone.mm.vmas();
                    gone.mm.exit();
                    for v in &vmas {
                        assert!(!v.is_attached(), "{v:?} attached after exit; {}", ctx());
                    }
                    cur = cur.min(spaces.len() - 1);
                    Ok(())
                }
                5 => {
                    mm.set_max_map_count(mm.map_count() + usize::from(arg % 8));
                    sp.pristine = false;
                    Ok(())
                }
                6 => {
                    let c = mm.counters().committed;
                    mm.set_commit_limit(Some(c + u64::from(arg)));
                    sp.pristine = false;
                    Ok(())
                }
                7 => {
                    mm.set_commit_limit(None);
                    Ok(())
                }
                _ => Ok(()),
            },
        };
        let sp = &spaces[cur.min(spaces.len() - 1)];
        check_space(sp, ctx);
    }
    for sp in &spaces {
        check_space(sp, &|| "at the end".to_string());
    }
    for sp in spaces {
        sp.mm.exit();
    }
}

/// Every invariant the public API can see; see the module documentation.
fn check_space(sp: &Space, ctx: &dyn Fn() -> String) {
    let mm = &sp.mm;
    mm.validate()
        .unwrap_or_else(|e| panic!("Mm::validate: {e}; {}", ctx()));
    let l = mm.layout();
    let vmas = mm.vmas();
    assert_eq!(mm.map_count(), vmas.len(), "map_count; {}", ctx());
    assert_eq!(
        mm.counters().map_count,
        vmas.len(),
        "counters.map_count; {}",
        ctx()
    );
    let mut prev: Option<&Arc<Vma>> = None;
    for v in &vmas {
        let (s, e) = (v.start(), v.end());
        assert!(
            s < e && s % P == 0 && e % P == 0,
            "{v:?} badly formed; {}",
            ctx()
        );
        assert!(e <= l.task_size, "{v:?} above the task size; {}", ctx());
        assert!(v.is_attached(), "{v:?} detached; {}", ctx());
        assert_eq!(v.mm_id(), mm.id(), "{v:?} of another mm; {}", ctx());
        if let Some(p) = prev {
            assert!(
                p.end() <= s,
                "{p:?} and {v:?} overlap or are out of order; {}",
                ctx()
            );
            if p.end() < s {
                assert!(
                    mm.vma_lookup(p.end()).is_none(),
                    "hole at {:#x} mapped; {}",
                    p.end(),
                    ctx()
                );
                assert!(
                    mm.vma_lookup(s - 1).is_none(),
                    "hole at {:#x} mapped; {}",
                    s - 1,
                    ctx()
                );
            }
            if sp.pristine {
                assert!(
                    !mergeable(p, v, &l, sp.brk_high),
                    "adjacent VMAs the merge rules join: {p:?} and {v:?}; {}",
                    ctx()
                );
            }
        } else if s > 0 {
            assert!(
                mm.vma_lookup(s - 1).is_none(),
                "below the first VMA mapped; {}",
                ctx()
            );
        }
        for a in [s, e - 1, s + (e - s) / 2 / P * P] {
            let got = mm
                .vma_lookup(a)
                .unwrap_or_else(|| panic!("vma_lookup({a:#x}) inside {v:?} found none; {}", ctx()));
            assert!(
                Arc::ptr_eq(&got, v),
                "vma_lookup({a:#x}) gave {got:?}, not {v:?}; {}",
                ctx()
            );
        }
        let found = mm.find_vma(prev.map_or(0, |p| p.end()));
        assert!(
            found.as_ref().is_some_and(|f| Arc::ptr_eq(f, v)),
            "find_vma after the previous VMA gave {found:?}, not {v:?}; {}",
            ctx()
        );
        prev = Some(v);
    }
    if let Some(p) = prev {
        assert!(
            mm.find_vma(p.end()).is_none(),
            "find_vma past the last VMA; {}",
            ctx()
        );
    }
    let text = mm.maps();
    let lines: Vec<_> = text
        .lines()
        .map(|line| {
            parse_maps_line(line).unwrap_or_else(|e| panic!("maps line {line:?}: {e}; {}", ctx()))
        })
        .map(|m| (m.start, m.end))
        .collect();
    let ranges: Vec<_> = vmas.iter().map(|v| (v.start(), v.end())).collect();
    assert_eq!(lines, ranges, "maps() ranges; {}", ctx());
}

/// Whether the kernel would have merged `a` and `b` (`is_mergeable_vma` and the anon_vma
/// and pgoff rules), counting only pairs no kernel path leaves unmerged on purpose: both
/// anonymous-or-same-file with no special mapping, not a stack, not in the heap area.
fn mergeable(a: &Vma, b: &Vma, l: &MmLayout, brk_high: u64) -> bool {
    let heap = l.start_brk..=brk_high.max(l.start_brk) + P;
    let near_heap = |v: &Vma| heap.contains(&v.start()) || heap.contains(&v.end());
    let special = |v: &Vma| {
        v.flags().intersects(VmFlags::SPECIAL | VmFlags::GROWSDOWN)
            || v.file().is_some_and(|f| f.is_special())
    };
    if a.end() != b.start() || special(a) || special(b) || near_heap(a) || near_heap(b) {
        return false;
    }
    let same_file = match (a.file(), b.file()) {
        (None, None) => true,
        (Some(x), Some(y)) => x.id() == y.id(),
        _ => false,
    };
    let same_anon = match (a.anon_vma(), b.anon_vma()) {
        (None, None) => true,
        (Some(x), Some(y)) => x.id() == y.id(),
        _ => false,
    };
    (a.flags() ^ b.flags())
        .difference(VmFlags::SOFTDIRTY)
        .is_empty()
        && same_file
        && same_anon
        && b.pgoff() == a.pgoff() + pages(a.len())
}

/// What the kernel's `dup_mmap` makes of the parent (as maple-mm's fork tests say).
fn expected_child(parent: &Mm) -> Vec<VmaInfo> {
    parent
        .vmas()
        .iter()
        .filter(|v| !v.flags().contains(VmFlags::DONTCOPY))
        .map(|v| {
            let mut i = v.info();
            i.flags.remove(VmFlags::LOCKED_MASK);
            i.anon = if v.flags().contains(VmFlags::WIPEONFORK) {
                None
            } else {
                v.anon_vma().map(|a| AnonInfo {
                    chain_len: a.chain_len() + 1,
                    parent: Some(a.id()),
                })
            };
            i
        })
        .collect()
}

/// Forks `parent` in one strategy (or all three) and checks the children; returns one to
/// keep if asked.
fn fork_check(
    parent: &Mm,
    strategy: u8,
    fail_at: Option<u8>,
    keep: bool,
    ctx: &dyn Fn() -> String,
) -> Option<Mm> {
    let strategies: Vec<ForkStrategy> = match strategy % 4 {
        3 => ForkStrategy::ALL.to_vec(),
        i => vec![ForkStrategy::ALL[usize::from(i)]],
    };
    let before = (parent.vma_infos(), parent.counters());
    let expect = expected_child(parent);
    let pv = parent.vmas();
    let limited = parent.layout().commit_limit.is_some();
    let mut kept = None;
    for s in strategies {
        let ctx = || format!("fork {}; {}", s.name(), ctx());
        let tracker = VmaTracker::new();
        let k = fail_at.map(usize::from);
        let opts = ForkOptions {
            fail_at: k,
            tracker: Some(tracker.clone()),
        };
        let r = parent.fork_with(s, &opts);
        let must_fail = k.is_some_and(|k| k < pv.len());
        match r {
            Ok(child) => {
                assert!(!must_fail, "fork did not fail at VMA {k:?}; {}", ctx());
                child
                    .validate()
                    .unwrap_or_else(|e| panic!("child: {e}; {}", ctx()));
                assert_eq!(child.vma_infos(), expect, "child's VMAs; {}", ctx());
                let c = child.counters();
                assert_eq!(c.map_count, expect.len(), "child's map count; {}", ctx());
                assert_eq!(c.locked_vm, 0, "mlock is not inherited; {}", ctx());
                assert!(
                    child.vmas().iter().all(|v| v.mm_id() == child.id()),
                    "child VMAs owned by the child; {}",
                    ctx()
                );
                assert_eq!(tracker.copies(), expect.len(), "copies made; {}", ctx());
                assert_eq!(tracker.removals(), 0, "{}", ctx());
                if keep && kept.is_none() {
                    kept = Some(child);
                } else {
                    child.exit();
                    assert_eq!(
                        tracker.removals(),
                        expect.len(),
                        "copies released; {}",
                        ctx()
                    );
                    assert_eq!(tracker.drops(), expect.len(), "copies freed; {}", ctx());
                }
            }
            Err(e) => {
                assert_eq!(e, MmError::NoMem, "{}", ctx());
                assert!(must_fail || limited, "fork failed unasked; {}", ctx());
                if let (Some(k), false) = (k, limited) {
                    let copied = pv[..k.min(pv.len())]
                        .iter()
                        .filter(|v| !v.flags().contains(VmFlags::DONTCOPY))
                        .count();
                    assert_eq!(tracker.copies(), copied, "copies before VMA {k}; {}", ctx());
                }
                assert_eq!(
                    tracker.removals(),
                    tracker.copies(),
                    "each copy released once; {}",
                    ctx()
                );
                assert_eq!(
                    tracker.drops(),
                    tracker.copies(),
                    "each copy freed once; {}",
                    ctx()
                );
            }
        }
        assert_eq!(
            (parent.vma_infos(), parent.counters()),
            before,
            "parent unchanged; {}",
            ctx()
        );
        parent
            .validate()
            .unwrap_or_else(|e| panic!("parent: {e}; {}", ctx()));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The merge check can fire: a maps file loads VMAs without merging them.
    #[test]
    fn the_merge_check_sees_an_unmerged_pair() {
        let text = "10000000-10001000 r--p 00000000 08:01 5 /lib/x.so\n\
                    10001000-10002000 r--p 00001000 08:01 5 /lib/x.so\n\
                    10002000-10003000 r--p 00005000 08:01 5 /lib/x.so\n";
        let mm = Mm::from_proc_maps(text).unwrap();
        let v = mm.vmas();
        let (l, brk) = (mm.layout(), mm.brk_value());
        assert!(mergeable(&v[0], &v[1], &l, brk));
        assert!(!mergeable(&v[1], &v[2], &l, brk), "offsets not contiguous");
        let sp = Space {
            mm,
            pristine: true,
            brk_high: brk,
        };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_space(&sp, &String::new)
        }));
        assert!(caught.is_err(), "check_space let an unmerged pair pass");
        sp.mm.exit();
    }
}
