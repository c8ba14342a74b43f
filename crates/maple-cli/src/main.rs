//! `maple`: command-line tools for the maple tree.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use maple_cli::compare::{self, CompareConfig};
use maple_cli::dump;
use maple_cli::readers;
use maple_cli::replay::{self, ReplayedTree};
use maple_cli::spawn;
use maple_tree::{Entry, MapleTree, TreeKind};

/// Command-line tools for the maple tree.
#[derive(Parser, Debug)]
#[command(name = "maple", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Replay conformance scripts (files or directories of .txt files) and check every
    /// expectation. Ends with `N passed, N failed`; exit 1 on a failure, 2 on bad input.
    Replay(ReplayArgs),
    /// Print a tree's nodes as text, or draw them as an SVG picture (--svg).
    Dump(DumpArgs),
    /// Time the tree against other range maps and write ratio tables, CSV and charts.
    Compare(CompareArgs),
    /// Fork+exit cycles of an address space per fork strategy, by VMA count.
    Spawn(SpawnArgs),
    /// Page-fault throughput with per-VMA locks against the mmap lock.
    Faults(FaultsArgs),
    /// Lock-free readers of the shared tree against one writer, beside RwLock<BTreeMap> and
    /// SkipMap; and the cost of a shared store against an owned one.
    Readers(ReadersArgs),
    /// Random mmap/munmap/mprotect/madvise against the running kernel, compared with the
    /// model after every step (Linux only).
    DiffKernel(DiffKernelArgs),
}

#[derive(Args, Debug)]
struct SpawnArgs {
    /// Seconds of fork+exit cycles per (VMA count, strategy) point.
    #[arg(long, value_name = "S", default_value_t = spawn::DEFAULT_SECONDS, value_parser = positive_secs)]
    seconds: f64,
    /// Comma-separated VMA counts (each >= 21).
    #[arg(long, value_name = "LIST", value_parser = parse_vma_list, conflicts_with = "maps")]
    vmas: Option<VmaList>,
    /// Output directory for CSV and the SVG chart.
    #[arg(long, value_name = "DIR", default_value = "out/spawn")]
    out: PathBuf,
    /// Fork the layout of this /proc/PID/maps file instead of the seed layouts.
    #[arg(long, value_name = "FILE")]
    maps: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ReadersArgs {
    /// 10^4 ranges and short rounds (CI) instead of 10^5.
    #[arg(long)]
    quick: bool,
    /// Ranges in each structure.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    entries: Option<u64>,
    /// Alternating alone / with-writer rounds.
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u64).range(1..=1000))]
    rounds: Option<u64>,
    /// Lookups per phase.
    #[arg(long, value_name = "L", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    lookups: Option<u64>,
}

#[derive(Args, Debug)]
struct FaultsArgs {
    /// Fault threads.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// Seconds per locking mode.
    #[arg(long, value_name = "S", default_value_t = 1.0, value_parser = positive_secs)]
    seconds: f64,
}

#[derive(Args, Debug)]
struct DiffKernelArgs {
    /// Random operations to run.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    steps: u64,
    /// Seed of the operation sequence.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
}

/// A parsed `--vmas` list (one clap value).
#[derive(Clone, Debug)]
struct VmaList(Vec<usize>);

fn parse_vma_list(s: &str) -> Result<VmaList, String> {
    spawn::parse_vmas(s).map(VmaList)
}

fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 86400"
        )),
    }
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// Script files or directories holding *.txt scripts.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print only the closing tally line.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print a tally per file.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["script", "seq", "random"])))]
struct DumpArgs {
    /// Build the tree by replaying this conformance script.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
    /// With --script: stop after this line (1-based).
    #[arg(long, value_name = "N", requires = "script")]
    until_line: Option<usize>,
    /// Build the tree by inserting i at [i, i] for i = 0..=N.
    #[arg(long, value_name = "N")]
    seq: Option<u64>,
    /// Build the tree from N random stores and NULL stores.
    #[arg(long, value_name = "N", requires = "seed")]
    random: Option<u64>,
    /// Seed for --random.
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// For --seq/--random: build a gap-tracking (allocation) tree.
    #[arg(long)]
    alloc: bool,
    /// Write an SVG picture of the nodes here instead of printing the text dump.
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// Sizes 10^3 and 10^4 instead of 10^3, 10^5, 10^6.
    #[arg(long)]
    quick: bool,
    /// Tiny sizes and single runs (for tests).
    #[arg(long, hide = true)]
    tiny: bool,
    /// Output directory for CSV and SVG charts.
    #[arg(long, value_name = "DIR", default_value = "out/compare")]
    out: PathBuf,
}

/// Tree nodes are 256-byte, 256-byte-aligned blocks (the kernel's slab objects). glibc serves
/// such aligned requests through its slow `memalign` path; mimalloc serves them from size
/// classes, like a slab. Every structure the command measures uses this allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Replay(a) => run_replay(a),
        Cmd::Dump(a) => run_dump(a),
        Cmd::Compare(a) => run_compare(a),
        Cmd::Spawn(a) => run_spawn(a),
        Cmd::Faults(a) => run_faults(a),
        Cmd::Readers(a) => run_readers(a),
        Cmd::DiffKernel(a) => run_diff_kernel(a),
    }
}

fn run_replay(a: ReplayArgs) -> ExitCode {
    let verbose = a.verbose;
    let quiet = a.quiet;
    let total = replay::replay_paths(&a.paths, |path, t| {
        if !quiet {
            for f in &t.failures {
                println!("{f}");
            }
            for f in &t.height_failures {
                println!("{f}");
            }
        }
        if verbose {
            println!(
                "file {} — {} ops, {} passed, {} failed; heights {} passed, {} failed",
                path.display(),
                t.ops,
                t.passed,
                t.failed,
                t.height_passed,
                t.height_failed
            );
        }
    });
    match total {
        Ok(t) => {
            if !quiet {
                println!("{} file(s), {} operations", t.files, t.ops);
                println!("{}", t.height_summary());
            }
            println!("{}", t.summary());
            if t.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("maple replay: {e}");
            ExitCode::from(2)
        }
    }
}

fn output<E: Entry>(tree: &MapleTree<E>, svg: Option<&PathBuf>, title: &str) -> ExitCode {
    match svg {
        None => {
            print!("{}", tree.dump());
            ExitCode::SUCCESS
        }
        Some(path) => {
            let nodes = dump::collect_nodes(tree);
            let doc = dump::render_svg(&nodes, title);
            match std::fs::write(path, doc) {
                Ok(()) => {
                    println!(
                        "wrote {} ({} nodes, {} entries)",
                        path.display(),
                        nodes.len(),
                        tree.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("maple dump: cannot write {}: {e}", path.display());
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn run_dump(a: DumpArgs) -> ExitCode {
    let kind = if a.alloc {
        TreeKind::Alloc
    } else {
        TreeKind::Plain
    };
    if let Some(path) = &a.script {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("maple dump: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let name = path.display().to_string();
        let until = a.until_line.unwrap_or(usize::MAX);
        let (tally, tree) = match replay::replay_until(&name, &text, until) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("maple dump: {e}");
                return ExitCode::from(2);
            }
        };
        for f in &tally.failures {
            eprintln!("{f}");
        }
        let title = match a.until_line {
            Some(n) => format!("{name} up to line {n}"),
            None => name,
        };
        return match &tree {
            ReplayedTree::Values(t) => output(t, a.svg.as_ref(), &title),
            ReplayedTree::Tokens(t) => output(t, a.svg.as_ref(), &title),
        };
    }
    if let Some(n) = a.seq {
        let t = dump::seq_tree(n, kind);
        return output(&t, a.svg.as_ref(), &format!("seq {n}"));
    }
    if let (Some(n), Some(seed)) = (a.random, a.seed) {
        let t = dump::random_tree(n, seed, kind);
        return output(&t, a.svg.as_ref(), &format!("random {n} seed {seed}"));
    }
    eprintln!("maple dump: give --script FILE, --seq N or --random N --seed S");
    ExitCode::from(2)
}

fn run_compare(a: CompareArgs) -> ExitCode {
    let cfg = if a.tiny {
        CompareConfig::tiny()
    } else if a.quick {
        CompareConfig::quick()
    } else {
        CompareConfig::full()
    };
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        eprintln!("maple compare: cannot create {}: {e}", a.out.display());
        return ExitCode::from(2);
    }
    let bar = indicatif::ProgressBar::new(
        (cfg.sizes.len() * compare::Workload::ALL.len() * compare::Impl::ALL.len()) as u64,
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let ms = compare::run(&cfg, |what| {
        bar.set_message(what.to_string());
        bar.inc(1);
    });
    bar.finish_and_clear();
    print!("{}", compare::ratio_tables(&ms));
    let csv = a.out.join("compare.csv");
    if let Err(e) = std::fs::write(&csv, compare::to_csv(&ms)) {
        eprintln!("maple compare: cannot write {}: {e}", csv.display());
        return ExitCode::from(2);
    }
    println!("wrote {}", csv.display());
    match compare::write_charts(&ms, &a.out) {
        Ok(paths) => {
            for p in paths {
                println!("wrote {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("maple compare: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_spawn(a: SpawnArgs) -> ExitCode {
    use maple_mm::ForkStrategy;
    let time = std::time::Duration::from_secs_f64(a.seconds);
    // (label, parent) pairs: the seed layouts, or one real layout.
    let layouts: Vec<(String, maple_mm::Mm)> = match &a.maps {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("maple spawn: cannot read {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            };
            match maple_mm::Mm::from_proc_maps(&text) {
                Ok(mm) => vec![(path.display().to_string(), mm)],
                Err(e) => {
                    eprintln!(
                        "maple spawn: {}: not a usable maps file: {e}",
                        path.display()
                    );
                    return ExitCode::from(2);
                }
            }
        }
        None => Vec::new(),
    };
    let counts = a
        .vmas
        .clone()
        .map_or_else(|| spawn::DEFAULT_VMAS.to_vec(), |v| v.0);
    let points_total = if a.maps.is_some() { 1 } else { counts.len() } * ForkStrategy::ALL.len();
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        eprintln!("maple spawn: cannot create {}: {e}", a.out.display());
        return ExitCode::from(2);
    }
    let bar = indicatif::ProgressBar::new(points_total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut points = Vec::new();
    let mut run = |mm: &maple_mm::Mm, label: &str| -> Result<(), maple_mm::MmError> {
        for st in ForkStrategy::ALL {
            bar.set_message(format!("{label} {}", st.name()));
            points.push(spawn::run_point(mm, st, time)?);
            bar.inc(1);
        }
        Ok(())
    };
    let mut result = Ok(());
    if layouts.is_empty() {
        for &n in &counts {
            let mm = maple_mm::spawn::build_layout(n - maple_mm::spawn::BASE_VMAS);
            result = run(&mm, &format!("{n} VMAs"));
            mm.exit();
            if result.is_err() {
                break;
            }
        }
    } else {
        for (label, mm) in layouts {
            result = run(&mm, &label);
            mm.exit();
        }
    }
    bar.finish_and_clear();
    if let Err(e) = result {
        eprintln!("maple spawn: fork failed: {e}");
        return ExitCode::from(1);
    }
    println!(
        "forks per 10 s (seeds' table), {:.2} s per point",
        a.seconds
    );
    print!("{}", spawn::forks_table(&points));
    println!();
    println!("VMAs copied per second");
    print!("{}", spawn::vmas_table(&points));
    let csv = a.out.join("spawn.csv");
    if let Err(e) = std::fs::write(&csv, spawn::to_csv(&points)) {
        eprintln!("maple spawn: cannot write {}: {e}", csv.display());
        return ExitCode::from(2);
    }
    println!("wrote {}", csv.display());
    match spawn::write_chart(&points, &a.out) {
        Ok(p) => {
            println!("wrote {}", p.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("maple spawn: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_readers(a: ReadersArgs) -> ExitCode {
    let mut cfg = if a.quick {
        readers::ReadersConfig::quick()
    } else {
        readers::ReadersConfig::full()
    };
    if let Some(n) = a.entries {
        cfg.entries = n as usize;
    }
    if let Some(r) = a.rounds {
        cfg.rounds = r as usize;
    }
    if let Some(l) = a.lookups {
        cfg.lookups = l as usize;
    }
    let report = readers::run(&cfg, |what| eprintln!("measuring {what}"));
    print!("{}", report.render());
    ExitCode::SUCCESS
}

fn run_faults(a: FaultsArgs) -> ExitCode {
    let cfg = maple_mm::faults::FaultBenchConfig {
        threads: usize::from(a.threads),
        duration: std::time::Duration::from_secs_f64(a.seconds),
        ..Default::default()
    };
    let r = maple_mm::faults::run(cfg);
    println!(
        "{} fault thread(s), {} VMAs x {} pages, writer {}, {:.2} s per mode",
        r.config.threads,
        r.config.vmas,
        r.config.pages_per_vma,
        if r.config.writer { "on" } else { "off" },
        r.config.duration.as_secs_f64()
    );
    println!(
        "{:<16} {:>12} {:>14} {:>10} {:>10} {:>11} {:>9}",
        "mode", "faults", "faults/s", "fallback", "retry", "writer ops", "wrong"
    );
    for m in [&r.per_vma, &r.mmap_lock] {
        println!(
            "{:<16} {:>12} {:>14.0} {:>9.2}% {:>9.2}% {:>11} {:>9}",
            format!("{:?}", m.mode),
            m.faults,
            m.faults_per_sec,
            m.fallback_rate * 100.0,
            m.retry_rate * 100.0,
            m.writer_ops,
            m.wrong_vma
        );
    }
    println!("per-VMA locks / mmap lock: {:.2}x", r.speedup());
    if r.per_vma.wrong_vma + r.mmap_lock.wrong_vma > 0 {
        eprintln!("maple faults: faults resolved to the wrong VMA");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

#[cfg(target_os = "linux")]
fn run_diff_kernel(a: DiffKernelArgs) -> ExitCode {
    match maple_mm::kernel_diff::run(a.steps, a.seed) {
        Ok(r) => {
            println!(
                "{} steps (seed {}), {} real forks compared with the model for each fork strategy",
                r.steps, a.seed, r.forks_compared
            );
            let ops: Vec<String> = r.op_counts().map(|(n, c)| format!("{n} {c}")).collect();
            println!("operations: {}", ops.join(", "));
            println!(
                "failed calls (same error in kernel and model): {}, max VMAs in the child: {}",
                r.failed_calls, r.max_vmas
            );
            println!(
                "layout mismatches: {}, flag mismatches: {}, return-code mismatches: {}",
                r.layout_mismatches, r.flag_mismatches, r.errno_mismatches
            );
            if let Some(m) = &r.first_mismatch {
                println!("first mismatch: {m}");
            }
            if r.mismatches() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("maple diff-kernel: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn run_diff_kernel(_a: DiffKernelArgs) -> ExitCode {
    eprintln!("maple diff-kernel: only available on Linux");
    ExitCode::from(2)
}
