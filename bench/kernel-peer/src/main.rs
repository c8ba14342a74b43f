//! The kernel's own maple tree as a peer: the Rust driver and the orchestrator.
//!
//! `kernel-peer worker ROW N REPS SEED` runs one workload on `maple_tree` and prints the same
//! `RESULT` line as the C driver (`c/driver.c`) does for the kernel's `lib/maple_tree.c`.
//!
//! `kernel-peer [--quick] [--out DIR] [--rounds R] [--sizes N,N] [--rows A,B] [--driver PATH]
//! [--kernel DIR]` finds (or builds) the C driver, then runs every row at every size for R
//! rounds, C and Rust one after the other with the order alternating, each in a fresh process.
//! Per row it reports the median Rust/C time ratio of the rounds with their min and max,
//! the median ns/op of each side, and fails the row if the two sides' checksums differ.
//!
//! The random stream, the data each row draws from it and the checksum are spelled out here
//! and in `c/driver.c`: keep the two in step.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Instant, SystemTime};

use maple_tree::{MapleTree, RcuMapleTree, TreeKind, Value};

// ---- the shared random stream and checksum --------------------------------------------------

/// splitmix64, as in the C driver.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    /// A random permutation of `0..n` (the C driver's Fisher-Yates, draw for draw).
    fn perm(&mut self, n: u64) -> Vec<u64> {
        let mut p: Vec<u64> = (0..n).collect();
        let mut i = n;
        while i > 1 {
            let j = (self.next() % i) as usize;
            p.swap((i - 1) as usize, j);
            i -= 1;
        }
        p
    }
}

const FOLD_INIT: u64 = 0xcbf29ce484222325;

#[inline(always)]
fn fold(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x100000001b3)
}

// ---- the Rust worker --------------------------------------------------------------------------

type Tree = MapleTree<Value>;

/// Entry `p` covers `[10p, 10p + 5]` and holds `Value::new(p)` (the kernel's `xa_mk_value(p)`).
fn build(kind: TreeKind, perm: &[u64], present: Option<&[bool]>) -> Tree {
    let mut t = Tree::with_kind(kind);
    for &p in perm {
        if present.is_some_and(|pr| !pr[p as usize]) {
            continue;
        }
        t.store_range(10 * p..=10 * p + 5, Value::new(p)).unwrap();
    }
    t
}

fn fold_tree(t: &Tree, mut h: u64) -> u64 {
    let mut count = 0u64;
    for (r, v) in t.iter() {
        h = fold(h, *r.start());
        h = fold(h, *r.end());
        h = fold(h, v.get());
        count += 1;
    }
    fold(h, count)
}

#[inline(never)]
fn kp_timed_store(t: &mut Tree, perm: &[u64]) {
    for &p in perm {
        t.store_range(10 * p..=10 * p + 5, Value::new(p)).unwrap();
    }
}

/// One writer-lock round trip per store, as the kernel's `mtree_store_range` takes its lock.
#[inline(never)]
fn kp_timed_rcu_store(t: &RcuMapleTree<Value>, perm: &[u64]) {
    for &p in perm {
        t.write()
            .store_range(10 * p..=10 * p + 5, Value::new(p))
            .unwrap();
    }
}

#[inline(never)]
fn kp_timed_load(t: &Tree, keys: &[u64], mut h: u64) -> u64 {
    for &k in keys {
        h = fold(h, t.load(k).map_or(0, |v| v.get() + 1));
    }
    h
}

#[inline(never)]
fn kp_timed_iterate(t: &Tree, mut h: u64) -> u64 {
    for (r, v) in t.iter() {
        h = fold(h, *r.start());
        h = fold(h, *r.end());
        h = fold(h, v.get());
    }
    h
}

#[inline(never)]
fn kp_timed_dup(t: &Tree) -> Tree {
    t.dup()
}

/// The fork path fused: duplicate and replace every entry in one pass.
#[inline(never)]
fn kp_timed_dup_map(t: &Tree) -> Tree {
    t.dup_map(|_, v| Some(Value::new(v.get() + 1)))
}

/// The fork path as the kernel runs it: duplicate, then walk the copy replacing every entry.
#[inline(never)]
fn kp_timed_dup_replace(t: &Tree) -> Tree {
    let mut d = t.dup();
    {
        let mut c = d.cursor_mut(0);
        let mut cur = c.find(u64::MAX).map(|(_, v)| v);
        while let Some(v) = cur {
            // The cursor stands on an entry, so the replace cannot give the value back.
            let _ = c.replace(Value::new(v.get() + 1));
            cur = c.next(u64::MAX).map(|(_, v)| v);
        }
    }
    d
}

/// The fork path before 6.8: iterate and store every entry into a new tree.
#[inline(never)]
fn kp_timed_rebuild(t: &Tree) -> Tree {
    let mut d = Tree::with_kind(t.kind());
    for (r, v) in t.iter() {
        d.store_range(r, v).unwrap();
    }
    d
}

#[inline(never)]
fn kp_timed_erase(t: &mut Tree, order: &[u64], mut h: u64) -> u64 {
    for &p in order {
        let erased = t
            .erase(10 * p)
            .expect("an erase needs no node the tree cannot spare");
        h = fold(h, erased.map_or(0, |(_, v)| v.get() + 1));
    }
    h
}

#[inline(never)]
fn kp_timed_gap_rev(t: &Tree, his: &[u64], size: u64, mut h: u64) -> u64 {
    for &hi in his {
        match t.empty_area_rev(0..=hi, size) {
            Ok(r) => {
                h = fold(h, *r.start());
                h = fold(h, *r.end());
            }
            Err(_) => h = fold(h, u64::MAX),
        }
    }
    h
}

#[derive(Default, Clone)]
struct Outcome {
    ns: u64,
    ops: u64,
    sum: u64,
    nodes: i64,
}

fn worker(row: &str, n: u64, reps: u64, seed: u64) -> Result<Outcome, String> {
    if n == 0 {
        return Err("N must be at least 1".into());
    }
    let mut rng = Rng(seed);
    let mut o = Outcome::default();
    let mut h = FOLD_INIT;
    match row {
        "store" => {
            let perm = rng.perm(n);
            for _ in 0..reps {
                let mut t = Tree::new();
                let t0 = Instant::now();
                kp_timed_store(&mut t, &perm);
                o.ns += t0.elapsed().as_nanos() as u64;
                o.ops += n;
                h = fold_tree(&t, h);
                o.nodes = t.node_count() as i64;
            }
        }
        "rcu_store" => {
            let perm = rng.perm(n);
            for _ in 0..reps {
                let t = RcuMapleTree::<Value>::new(TreeKind::Plain);
                let t0 = Instant::now();
                kp_timed_rcu_store(&t, &perm);
                o.ns += t0.elapsed().as_nanos() as u64;
                o.ops += n;
                let t = t.into_inner();
                h = fold_tree(&t, h);
                o.nodes = t.node_count() as i64;
            }
        }
        "load" | "iterate" => {
            let perm = rng.perm(n);
            let t = build(TreeKind::Plain, &perm, None);
            o.nodes = t.node_count() as i64;
            let keys: Vec<u64> = if row == "load" {
                (0..n).map(|_| rng.next() % (10 * n)).collect()
            } else {
                Vec::new()
            };
            for _ in 0..reps {
                let t0 = Instant::now();
                h = if row == "load" {
                    kp_timed_load(&t, &keys, h)
                } else {
                    kp_timed_iterate(&t, h)
                };
                o.ns += t0.elapsed().as_nanos() as u64;
                o.ops += n;
            }
        }
        "dup" | "dup_alloc" | "dup_map" | "dup_replace" | "rebuild" => {
            let kind = if row == "dup" {
                TreeKind::Plain
            } else {
                TreeKind::Alloc
            };
            let perm = rng.perm(n);
            let src = build(kind, &perm, None);
            for _ in 0..reps {
                let t0 = Instant::now();
                let d = match row {
                    "dup" | "dup_alloc" => kp_timed_dup(&src),
                    "dup_map" => kp_timed_dup_map(&src),
                    "dup_replace" => kp_timed_dup_replace(&src),
                    _ => kp_timed_rebuild(&src),
                };
                o.ns += t0.elapsed().as_nanos() as u64;
                o.ops += n;
                h = fold_tree(&d, h);
                o.nodes = d.node_count() as i64;
            }
        }
        "erase" => {
            let perm = rng.perm(n);
            let order = rng.perm(n);
            for _ in 0..reps {
                let mut t = build(TreeKind::Plain, &perm, None);
                let t0 = Instant::now();
                h = kp_timed_erase(&mut t, &order, h);
                o.ns += t0.elapsed().as_nanos() as u64;
                o.ops += n;
                h = fold_tree(&t, h);
                o.nodes = t.node_count() as i64;
            }
        }
        "gap_rev50" | "gap_rev95" => {
            let size = if row == "gap_rev50" { 50 } else { 95 };
            // Holes: n/50 runs of 6 or 10 missing entries, so gaps of 64 and 104.
            let mut present = vec![true; n as usize];
            for k in 0..n / 50 {
                let start = rng.next() % n;
                let len = if k % 2 == 0 { 6 } else { 10 };
                for i in start..(start + len).min(n) {
                    present[i as usize] = false;
                }
            }
            let perm = rng.perm(n);
            let t = build(TreeKind::Alloc, &perm, Some(&present));
            o.nodes = t.node_count() as i64;
            let his: Vec<u64> = (0..n).map(|_| rng.next() % (10 * n)).collect();
            for _ in 0..reps {
                let t0 = Instant::now();
                h = kp_timed_gap_rev(&t, &his, size, h);
                o.ns += t0.elapsed().as_nanos() as u64;
                o.ops += n;
            }
            h = fold_tree(&t, h);
        }
        _ => return Err(format!("unknown row {row}")),
    }
    o.sum = h;
    Ok(o)
}

fn result_line(row: &str, n: u64, reps: u64, o: &Outcome) -> String {
    format!(
        "RESULT row={row} n={n} reps={reps} ops={} ns={} sum={:016x} nodes={}",
        o.ops, o.ns, o.sum, o.nodes
    )
}

// ---- the orchestrator -------------------------------------------------------------------------

/// A row of the table: its name, the C driver's workload and the Rust worker's.
struct Row {
    name: &'static str,
    c: &'static str,
    rust: &'static str,
    what: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        name: "store",
        c: "store",
        rust: "store",
        what: "random-order stores building a plain tree",
    },
    Row {
        name: "rcu_store",
        c: "rcu_store",
        rust: "rcu_store",
        what: "the same stores, RCU mode, one lock round trip each",
    },
    Row {
        name: "load",
        c: "load",
        rust: "load",
        what: "n random loads (mtree_load)",
    },
    Row {
        name: "iterate",
        c: "iterate",
        rust: "iterate",
        what: "full iteration",
    },
    Row {
        name: "dup",
        c: "dup",
        rust: "dup",
        what: "__mt_dup / dup of a plain tree",
    },
    Row {
        name: "dup_alloc",
        c: "dup_alloc",
        rust: "dup_alloc",
        what: "__mt_dup / dup of an alloc tree",
    },
    Row {
        name: "dup_map",
        c: "dup_overwrite",
        rust: "dup_map",
        what: "dup + overwrite every entry: __mt_dup + mas_store walk / dup_map",
    },
    Row {
        name: "dup_replace",
        c: "dup_overwrite",
        rust: "dup_replace",
        what:
            "dup + overwrite every entry: __mt_dup + mas_store walk / dup + CursorMut::replace walk",
    },
    Row {
        name: "rebuild",
        c: "rebuild",
        rust: "rebuild",
        what: "iterate + store every entry into a new alloc tree (pre-6.8 fork)",
    },
    Row {
        name: "erase",
        c: "erase",
        rust: "erase",
        what: "erase every entry, random order",
    },
    Row {
        name: "gap_rev50",
        c: "gap_rev50",
        rust: "gap_rev50",
        what: "empty_area_rev(0..=random, 50) on an alloc tree with holes",
    },
    Row {
        name: "gap_rev95",
        c: "gap_rev95",
        rust: "gap_rev95",
        what: "empty_area_rev(0..=random, 95) on an alloc tree with holes",
    },
];

struct Opts {
    quick: bool,
    callgrind: bool,
    rounds: usize,
    sizes: Vec<u64>,
    rows: Vec<&'static Row>,
    out: PathBuf,
    driver: Option<PathBuf>,
    kernel: Option<PathBuf>,
    /// Another build of this worker (from an older commit, say), run in the same rounds.
    baseline: Option<PathBuf>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        quick: false,
        callgrind: false,
        rounds: 0,
        sizes: Vec::new(),
        rows: ROWS.iter().collect(),
        out: target_dir().join("kernel-peer/results"),
        driver: None,
        kernel: None,
        baseline: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--callgrind" => o.callgrind = true,
            "--rounds" => o.rounds = val()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--sizes" => {
                o.sizes = val()?
                    .split(',')
                    .map(|s| s.parse::<u64>().map_err(|e| format!("--sizes: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--rows" => {
                let v = val()?;
                o.rows = v
                    .split(',')
                    .map(|s| {
                        ROWS.iter()
                            .find(|r| r.name == s)
                            .ok_or(format!("unknown row {s}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--out" => o.out = PathBuf::from(val()?),
            "--driver" => o.driver = Some(PathBuf::from(val()?)),
            "--kernel" => o.kernel = Some(PathBuf::from(val()?)),
            "--baseline" => o.baseline = Some(PathBuf::from(val()?)),
            "-h" | "--help" => {
                return Err(
                    "usage: kernel-peer [--quick] [--callgrind] [--out DIR] [--rounds R] \
                            [--sizes N,N] [--rows A,B] [--driver PATH] [--kernel DIR] \
                            [--baseline WORKER]\n       \
                            kernel-peer worker ROW N REPS SEED"
                        .into(),
                )
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if o.rounds == 0 {
        o.rounds = if o.quick { 3 } else { 7 };
    }
    if o.sizes.is_empty() {
        o.sizes = if o.quick {
            vec![1_000, 100_000]
        } else {
            vec![1_000, 100_000, 1_000_000]
        };
    }
    if o.callgrind && o.baseline.is_some() {
        return Err("--baseline times a second build; it does not combine with --callgrind".into());
    }
    if let Some(b) = &o.baseline {
        if !b.is_file() {
            return Err(format!("--baseline {}: no such file", b.display()));
        }
    }
    if !o.quick && o.rounds < 5 {
        eprintln!("note: fewer than 5 rounds; medians are for a quick look only");
    }
    Ok(o)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The newest `linux-6.12*` directory under `target/kernel-peer/`.
fn find_kernel() -> Option<PathBuf> {
    let dir = target_dir().join("kernel-peer");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("linux-6.12"))
                && p.join("lib/maple_tree.c").is_file()
        })
        .collect();
    found.sort();
    found.pop()
}

/// The C driver: the one given, or the one under `target/kernel-peer/build`, (re)built from
/// `c/` when missing or older than its sources.
fn find_driver(o: &Opts) -> Result<PathBuf, String> {
    if let Some(d) = &o.driver {
        return Ok(d.clone());
    }
    let build = target_dir().join("kernel-peer/build");
    let bin = build.join("kernel-peer-driver");
    let csrc = Path::new(env!("CARGO_MANIFEST_DIR")).join("c");
    let newest_src = ["driver.c", "kmem_shim.c", "build.sh"]
        .iter()
        .filter_map(|f| mtime(&csrc.join(f)))
        .max();
    let fresh = matches!((mtime(&bin), newest_src), (Some(b), Some(s)) if b >= s);
    if fresh {
        return Ok(bin);
    }
    let kernel = o.kernel.clone().or_else(find_kernel).ok_or(
        "no kernel source: run scripts/kernel-peer.sh (it extracts linux-source-6.12 under \
         target/kernel-peer/), or pass --kernel DIR",
    )?;
    eprintln!("building the C driver against {}", kernel.display());
    let st = Command::new("bash")
        .arg(csrc.join("build.sh"))
        .arg(&kernel)
        .arg(&build)
        .status()
        .map_err(|e| format!("build.sh: {e}"))?;
    if !st.success() {
        return Err("building the C driver failed".into());
    }
    Ok(bin)
}

fn parse_result(text: &str) -> Result<Outcome, String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| format!("no RESULT line in {text:?}"))?;
    let mut o = Outcome::default();
    for kv in line.split_whitespace().skip(1) {
        let (k, v) = kv.split_once('=').ok_or("bad RESULT field")?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{k}: {e}"));
        match k {
            "ns" => o.ns = num(v)?,
            "ops" => o.ops = num(v)?,
            "sum" => o.sum = u64::from_str_radix(v, 16).map_err(|e| format!("sum: {e}"))?,
            "nodes" => o.nodes = v.parse().map_err(|e| format!("nodes: {e}"))?,
            _ => {}
        }
    }
    Ok(o)
}

fn run_process(prog: &Path, args: &[OsString]) -> Result<Outcome, String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", prog.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {:?} failed ({}): {}",
            prog.display(),
            args,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_result(&String::from_utf8_lossy(&out.stdout))
}

/// Repetitions per process: enough that a timed total is at least ~10^5 operations.
fn reps_for(n: u64) -> u64 {
    (100_000 / n).max(1)
}

fn seed_for(n: u64) -> u64 {
    0x6d61706c65 ^ n
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The smallest and the largest of per-round ratios.
fn spread(v: &[f64]) -> (f64, f64) {
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(0.0, f64::max);
    (min, max)
}

/// The median over runs of ns per operation.
fn median_ns_per_op(v: &[Outcome]) -> f64 {
    let mut x: Vec<f64> = v.iter().map(|o| o.ns as f64 / o.ops as f64).collect();
    median(&mut x)
}

/// The `--baseline` comparison, per size and row: the baseline's ns/op, the median of its
/// per-round ratios to C, and the median (min-max) of the per-round ratios this build /
/// baseline (below 1: this build is faster). Returns the text and the CSV.
fn baseline_report(o: &Opts, base: &Path, cells: &[Vec<Cell>]) -> (String, String) {
    let mut text = format!("\nbaseline: {}\n", base.display());
    let mut csv = String::from(
        "n,row,base_ns_per_op,base_over_c_median,rust_over_base_median,rust_over_base_min,rust_over_base_max,rounds\n",
    );
    for (si, &n) in o.sizes.iter().enumerate() {
        let _ = writeln!(
            text,
            "\nn = {n}: baseline / C, and this build / baseline (< 1: this build is faster), \
             median of {} rounds",
            o.rounds
        );
        let _ = writeln!(
            text,
            "{:<12} {:>10} {:>7} {:>10} {:>15}",
            "row", "base ns/op", "base/C", "rust/base", "min-max"
        );
        for (ri, row) in o.rows.iter().enumerate() {
            let cell = &cells[si][ri];
            let ratios = |a: &[Outcome], b: &[Outcome]| -> Vec<f64> {
                a.iter()
                    .zip(b)
                    .map(|(a, b)| a.ns as f64 / b.ns as f64)
                    .collect()
            };
            let mut base_c = ratios(&cell.base, &cell.c);
            let mut rust_base = ratios(&cell.rust, &cell.base);
            let (min, max) = spread(&rust_base);
            let (bn, bc, rb) = (
                median_ns_per_op(&cell.base),
                median(&mut base_c),
                median(&mut rust_base),
            );
            let _ = writeln!(
                text,
                "{:<12} {bn:>10.1} {bc:>7.2} {rb:>10.3} {:>15}",
                row.name,
                format!("{min:.2}-{max:.2}")
            );
            let _ = writeln!(
                csv,
                "{n},{},{bn:.3},{bc:.4},{rb:.4},{min:.4},{max:.4},{}",
                row.name, o.rounds
            );
        }
    }
    (text, csv)
}

struct Cell {
    c: Vec<Outcome>,
    rust: Vec<Outcome>,
    /// The `--baseline` worker's runs, if there is one.
    base: Vec<Outcome>,
    ratios: Vec<f64>,
    mismatch: Option<String>,
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn orchestrate(o: Opts) -> Result<bool, String> {
    let driver = find_driver(&o)?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let info = Command::new(&driver)
        .arg("info")
        .output()
        .map_err(|e| format!("{}: {e}", driver.display()))?;
    let mut info = String::from_utf8_lossy(&info.stdout).trim().to_string();
    if info.contains(" pack=1") {
        info.push_str(
            " (KP_PACK: C nodes packed 256 bytes apart in 1 MiB blocks, with a free list)",
        );
    } else if let Ok(v) = std::env::var("KP_SLAB") {
        let _ = write!(
            info,
            " KP_SLAB={v} (per-thread free list of up to {v} nodes)"
        );
    }
    if !info.contains("node_size=256 ") {
        return Err(format!("the C driver is not a 64-bit build: {info:?}"));
    }
    let uptime = sh("uptime", &[]);
    let kernel_src = o
        .kernel
        .clone()
        .or_else(find_kernel)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(driver given)".into());
    let commit = sh(
        "git",
        &[
            "-C",
            &repo_root().to_string_lossy(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    eprintln!("uptime: {uptime}");
    eprintln!("driver: {} ({info})", driver.display());
    eprintln!(
        "{} rounds, sizes {:?}, {} rows; C and Rust alternate, each run in a fresh process",
        o.rounds,
        o.sizes,
        o.rows.len()
    );

    let mut cells: Vec<Vec<Cell>> = o
        .sizes
        .iter()
        .map(|_| {
            o.rows
                .iter()
                .map(|_| Cell {
                    c: Vec::new(),
                    rust: Vec::new(),
                    base: Vec::new(),
                    ratios: Vec::new(),
                    mismatch: None,
                })
                .collect()
        })
        .collect();
    let mut raw = String::from("round,n,row,side,ops,ns,ns_per_op,sum,nodes\n");
    let started = Instant::now();
    for round in 0..o.rounds {
        for (si, &n) in o.sizes.iter().enumerate() {
            for (ri, row) in o.rows.iter().enumerate() {
                let reps = reps_for(n);
                let seed = seed_for(n);
                let cargs: Vec<OsString> = [
                    "run",
                    row.c,
                    &n.to_string(),
                    &reps.to_string(),
                    &seed.to_string(),
                ]
                .iter()
                .map(OsString::from)
                .collect();
                let rargs: Vec<OsString> = [
                    "worker",
                    row.rust,
                    &n.to_string(),
                    &reps.to_string(),
                    &seed.to_string(),
                ]
                .iter()
                .map(OsString::from)
                .collect();
                // The processes of one cell: C, Rust and the baseline if any. Which one goes
                // first rotates by round and by row.
                let mut sides: Vec<(&str, &Path, &[OsString])> =
                    vec![("c", &driver, &cargs), ("rust", &me, &rargs)];
                if let Some(b) = &o.baseline {
                    sides.push(("baseline", b, &rargs));
                }
                let first = (round + ri + si) % sides.len();
                let mut got = vec![Outcome::default(); sides.len()];
                for j in 0..sides.len() {
                    let k = (first + j) % sides.len();
                    got[k] = run_process(sides[k].1, sides[k].2)?;
                }
                for ((side, _, _), x) in sides.iter().zip(&got) {
                    let _ = writeln!(
                        raw,
                        "{round},{n},{},{side},{},{},{:.3},{:016x},{}",
                        row.name,
                        x.ops,
                        x.ns,
                        x.ns as f64 / x.ops as f64,
                        x.sum,
                        x.nodes
                    );
                }
                let cell = &mut cells[si][ri];
                let c = got[0].clone();
                for ((side, _, _), x) in sides.iter().zip(&got).skip(1) {
                    if c.sum != x.sum || c.ops != x.ops {
                        cell.mismatch = Some(format!(
                            "C sum {:016x} ops {} / {side} sum {:016x} ops {}",
                            c.sum, c.ops, x.sum, x.ops
                        ));
                    }
                }
                let r = got[1].clone();
                if let Some(b) = got.get(2) {
                    cell.base.push(b.clone());
                }
                cell.ratios.push(r.ns as f64 / c.ns as f64);
                cell.c.push(c);
                cell.rust.push(r);
            }
        }
        eprintln!(
            "round {}/{} done ({:.0} s)",
            round + 1,
            o.rounds,
            started.elapsed().as_secs_f64()
        );
    }

    // The table and the CSV.
    let mut table = String::new();
    let mut csv = String::from(
        "n,row,rust_ns_per_op,c_ns_per_op,ratio_median,ratio_min,ratio_max,rounds,checksum,rust_nodes,c_nodes,status\n",
    );
    let mut all_ok = true;
    let _ = writeln!(table, "uptime before: {uptime}");
    let _ = writeln!(table, "C driver: {info}");
    for (si, &n) in o.sizes.iter().enumerate() {
        let _ = writeln!(
            table,
            "\nn = {n}: Rust time / kernel C time (< 1: Rust is faster), median of {} rounds",
            o.rounds
        );
        let _ = writeln!(
            table,
            "{:<12} {:>10} {:>10} {:>7} {:>15}  {:>17} {:>13}",
            "row", "rust ns/op", "C ns/op", "ratio", "min-max", "checksum", "nodes R/C"
        );
        for (ri, row) in o.rows.iter().enumerate() {
            let cell = &mut cells[si][ri];
            let (rn, cn) = (median_ns_per_op(&cell.rust), median_ns_per_op(&cell.c));
            let (min, max) = spread(&cell.ratios);
            let med = median(&mut cell.ratios.clone());
            let nodes = |v: &[Outcome]| v.last().map_or(-1, |o| o.nodes);
            let (rnodes, cnodes) = (nodes(&cell.rust), nodes(&cell.c));
            let nodes_s = if rnodes < 0 || cnodes < 0 {
                "-".to_string()
            } else {
                format!("{rnodes}/{cnodes}")
            };
            let sum = cell.c[0].sum;
            match &cell.mismatch {
                None => {
                    let _ = writeln!(
                        table,
                        "{:<12} {:>10.1} {:>10.1} {:>7.2} {:>15}  {:>17} {:>13}",
                        row.name,
                        rn,
                        cn,
                        med,
                        format!("{min:.2}-{max:.2}"),
                        format!("= {sum:016x}"),
                        nodes_s
                    );
                    let _ = writeln!(
                        csv,
                        "{n},{},{rn:.3},{cn:.3},{med:.4},{min:.4},{max:.4},{},{sum:016x},{rnodes},{cnodes},ok",
                        row.name,
                        o.rounds
                    );
                }
                Some(why) => {
                    all_ok = false;
                    let _ = writeln!(table, "{:<12} ERROR: checksums differ: {why}", row.name);
                    let _ = writeln!(
                        csv,
                        "{n},{},,,,,,{},,{rnodes},{cnodes},checksum mismatch",
                        row.name, o.rounds
                    );
                }
            }
        }
    }
    let base_csv = o.baseline.as_ref().map(|b| {
        let (text, csv) = baseline_report(&o, b, &cells);
        table.push_str(&text);
        csv
    });
    let _ = writeln!(table, "\nuptime after: {}", sh("uptime", &[]));
    print!("{table}");

    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let mut env = String::new();
    let _ = writeln!(env, "uptime_before: {uptime}");
    let _ = writeln!(env, "driver_info: {info}");
    let _ = writeln!(env, "kernel_source: {kernel_src}");
    let _ = writeln!(env, "commit: {commit}");
    if let Some(b) = &o.baseline {
        let _ = writeln!(env, "baseline: {}", b.display());
    }
    let _ = writeln!(env, "rounds: {}", o.rounds);
    let _ = writeln!(env, "sizes: {:?}", o.sizes);
    for row in &o.rows {
        let _ = writeln!(env, "row {}: {}", row.name, row.what);
    }
    for (name, body) in [
        ("kernel_peer.csv", &csv),
        ("rounds.csv", &raw),
        ("table.txt", &table),
        ("env.txt", &env),
    ] {
        std::fs::write(o.out.join(name), body).map_err(|e| format!("{name}: {e}"))?;
    }
    if let Some(csv) = &base_csv {
        std::fs::write(o.out.join("baseline.csv"), csv)
            .map_err(|e| format!("baseline.csv: {e}"))?;
    }
    eprintln!(
        "wrote {}/{{kernel_peer.csv,rounds.csv,table.txt,env.txt{}}}",
        o.out.display(),
        if base_csv.is_some() {
            ",baseline.csv"
        } else {
            ""
        }
    );
    Ok(all_ok)
}

/// Runs `prog args` under callgrind, counting only the instructions of the `kp_timed_*`
/// sections; returns the worker's outcome and that count.
fn run_callgrind(prog: &Path, args: &[OsString], out: &Path) -> Result<(Outcome, u64), String> {
    let mut vg: Vec<OsString> = vec![
        "--tool=callgrind".into(),
        "--toggle-collect=*kp_timed_*".into(),
        format!("--callgrind-out-file={}", out.display()).into(),
        prog.into(),
    ];
    vg.extend(args.iter().cloned());
    let o = run_process(Path::new("valgrind"), &vg)?;
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let ir = text
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no summary line in {}", out.display()))?;
    Ok((o, ir))
}

/// Instruction counts (noise-free) of every row at every size, one run per side.
fn callgrind(o: Opts) -> Result<bool, String> {
    let driver = find_driver(&o)?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = o.out.join("callgrind");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut table = String::from(
        "instructions per operation in the timed sections (valgrind --tool=callgrind)\n",
    );
    let mut csv =
        String::from("n,row,rust_ir,c_ir,ops,rust_ir_per_op,c_ir_per_op,ratio,checksum\n");
    let mut all_ok = true;
    for &n in &o.sizes {
        let _ = writeln!(
            table,
            "\nn = {n}\n{:<12} {:>12} {:>12} {:>7}  checksum",
            "row", "rust Ir/op", "C Ir/op", "ratio"
        );
        for row in &o.rows {
            let (reps, seed) = (reps_for(n), seed_for(n));
            let args = |verb: &str, w: &str| -> Vec<OsString> {
                [
                    verb,
                    w,
                    &n.to_string(),
                    &reps.to_string(),
                    &seed.to_string(),
                ]
                .iter()
                .map(OsString::from)
                .collect()
            };
            let (c, cir) = run_callgrind(
                &driver,
                &args("run", row.c),
                &dir.join(format!("c.{}.{n}.out", row.name)),
            )?;
            let (r, rir) = run_callgrind(
                &me,
                &args("worker", row.rust),
                &dir.join(format!("rust.{}.{n}.out", row.name)),
            )?;
            let ops = c.ops as f64;
            if c.sum != r.sum || c.ops != r.ops {
                all_ok = false;
                let _ = writeln!(
                    table,
                    "{:<12} ERROR: checksums differ ({:016x} / {:016x})",
                    row.name, c.sum, r.sum
                );
                continue;
            }
            let (ri, ci) = (rir as f64 / ops, cir as f64 / ops);
            let _ = writeln!(
                table,
                "{:<12} {:>12.1} {:>12.1} {:>7.2}  = {:016x}",
                row.name,
                ri,
                ci,
                ri / ci,
                c.sum
            );
            let _ = writeln!(
                csv,
                "{n},{},{rir},{cir},{},{ri:.2},{ci:.2},{:.4},{:016x}",
                row.name,
                c.ops,
                ri / ci,
                c.sum
            );
            eprintln!(
                "callgrind {} n={n}: rust {ri:.1} Ir/op, C {ci:.1} Ir/op",
                row.name
            );
        }
    }
    print!("{table}");
    std::fs::write(o.out.join("callgrind.csv"), csv).map_err(|e| e.to_string())?;
    std::fs::write(o.out.join("callgrind.txt"), table).map_err(|e| e.to_string())?;
    eprintln!(
        "wrote {}/callgrind.{{csv,txt}} and the callgrind files under {}",
        o.out.display(),
        dir.display()
    );
    Ok(all_ok)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        if args.len() != 5 {
            eprintln!("usage: kernel-peer worker ROW N REPS SEED");
            return ExitCode::from(2);
        }
        let num = |field: &str, s: &str| {
            s.parse::<u64>()
                .map_err(|e| format!("kernel-peer worker: {field} {s:?}: {e}"))
        };
        let parsed = (|| {
            Ok::<_, String>((
                num("N", &args[2])?,
                num("REPS", &args[3])?,
                num("SEED", &args[4])?,
            ))
        })();
        let (n, reps, seed) = match parsed {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        return match worker(&args[1], n, reps, seed) {
            Ok(o) => {
                println!("{}", result_line(&args[1], n, reps, &o));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kernel-peer worker: {e}");
                ExitCode::from(2)
            }
        };
    }
    let opts = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let run = if opts.callgrind {
        callgrind
    } else {
        orchestrate
    };
    match run(opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("kernel-peer: some rows' checksums differ (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("kernel-peer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The kernel's answers, recorded from the C driver (`kernel-peer-driver run ROW N 1
/// seed_for(N)` against linux-source-6.12.117): the Rust tree must keep giving them, and
/// this check needs no kernel source, so it runs with the workspace's tests.
#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL_SUMS: &[(&str, u64, u64)] = &[
        ("store", 1000, 0x8b93efc0546c40cf),
        ("rcu_store", 1000, 0x8b93efc0546c40cf),
        ("load", 1000, 0x6c65d01fab44c8e1),
        ("iterate", 1000, 0x177af93859a59d9d),
        ("dup", 1000, 0x8b93efc0546c40cf),
        ("dup_alloc", 1000, 0x8b93efc0546c40cf),
        ("dup_map", 1000, 0xe029f7d2cd884d3f),
        ("dup_replace", 1000, 0xe029f7d2cd884d3f),
        ("rebuild", 1000, 0x8b93efc0546c40cf),
        ("erase", 1000, 0xe3e66b75fbdb7535),
        ("gap_rev50", 1000, 0xe00bdf1557dcceae),
        ("gap_rev95", 1000, 0xf9673c99153061bf),
        ("store", 10000, 0x9160772d1693a9ef),
        ("rcu_store", 10000, 0x9160772d1693a9ef),
        ("load", 10000, 0x80628412cd98a672),
        ("iterate", 10000, 0x0bcc94167784e7c5),
        ("dup", 10000, 0x9160772d1693a9ef),
        ("dup_alloc", 10000, 0x9160772d1693a9ef),
        ("dup_map", 10000, 0x4fdc11789395f0ff),
        ("dup_replace", 10000, 0x4fdc11789395f0ff),
        ("rebuild", 10000, 0x9160772d1693a9ef),
        ("erase", 10000, 0xba31f5dc5e6692bd),
        ("gap_rev50", 10000, 0x677ef6cb61d6810b),
        ("gap_rev95", 10000, 0x20f8507835a28133),
    ];

    #[test]
    fn rust_gives_the_kernels_checksums() {
        for &(row, n, want) in KERNEL_SUMS {
            let got = worker(row, n, 1, seed_for(n)).unwrap().sum;
            assert_eq!(got, want, "{row} n={n}: {got:016x} != kernel {want:016x}");
        }
    }

    #[test]
    fn baseline_must_be_a_file_and_is_not_for_callgrind() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let me = std::env::current_exe().unwrap();
        let me = me.to_str().unwrap();
        let o = parse_opts(&args(&["--baseline", me])).unwrap();
        assert_eq!(o.baseline.as_deref(), Some(Path::new(me)));
        let e = parse_opts(&args(&["--baseline", "/no/such/worker"]))
            .err()
            .unwrap();
        assert!(e.contains("/no/such/worker"), "{e}");
        let e = parse_opts(&args(&["--callgrind", "--baseline", me]))
            .err()
            .unwrap();
        assert!(e.contains("--callgrind"), "{e}");
        let e = parse_opts(&args(&["--baseline"])).err().unwrap();
        assert!(e.contains("needs a value"), "{e}");
    }

    #[test]
    fn worker_refuses_an_empty_tree_size() {
        let e = worker("gap_rev50", 0, 1, 1).err().unwrap();
        assert!(e.contains("at least 1"), "{e}");
    }

    #[test]
    fn every_row_has_kernel_sums() {
        for row in ROWS {
            assert!(
                KERNEL_SUMS.iter().any(|&(r, _, _)| r == row.rust),
                "{}",
                row.name
            );
        }
    }
}
