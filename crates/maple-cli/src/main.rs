//! `maple`: command-line tools for the maple tree.
//!
//! Exit codes: 0 success (a missed performance target is reported as `target missed: ...`
//! and is not a failure), 1 a failed check (wrong answer, failed expectation, invalid tree,
//! leaked or double-dropped entry), 2 a usage or input error (one message naming the file,
//! line and field).
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};
use maple_cli::compare::{self, CompareConfig};
use maple_cli::input::{self, MAX_SECONDS, MAX_SEQ, MAX_THREADS};
use maple_cli::replay::{self, Outcome, ReplayedTree, Validate};
use maple_cli::{dump, maps, readers, soak, spawn};
use maple_tree::{Entry, MapleTree, TreeKind};

/// Writes to stdout. A closed stdout (`maple compare | head`) ends the program quietly with
/// success, as the reader asked for no more, instead of panicking in `print!`.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if write!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// Exit code of a failed check.
const EXIT_CHECK: u8 = 1;
/// Exit code of a usage or input error (clap uses it too).
const EXIT_INPUT: u8 = 2;

/// Command-line tools for the maple tree.
///
/// Exit codes: 0 success; 1 a failed check (wrong answer, failed expectation, invalid tree,
/// leaked or double-dropped entry); 2 a usage or input error. A missed performance target is
/// printed as `target missed: ...` and is not a failure.
#[derive(Parser, Debug)]
#[command(name = "maple", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Replay conformance scripts (files, or folders searched for .txt files; with no path,
    /// the scripts built into the binary) and check every expectation. Ends with
    /// `N passed, N failed`; exit 1 on a failed check, 2 on a bad file (the others still run).
    Replay(ReplayArgs),
    /// Print a tree's nodes as text, or draw them as an SVG picture (--svg). Exit 1 when a
    /// --script's expectations fail.
    Dump(DumpArgs),
    /// Time the tree against other range maps and write ratio tables, CSV and charts.
    Compare(CompareArgs),
    /// Fork+exit cycles of an address space per fork strategy, by VMA count; with --kernel,
    /// the same loop on the running kernel beside them.
    ///
    /// Every (VMA count, strategy) point runs --repeats times (default 3). The runs of one VMA
    /// count are interleaved round-robin over the strategies, each round starting one
    /// strategy further on, so drift of the machine hits every strategy alike.
    ///
    /// Reading the output: the first table has one row per VMA count and, for each strategy,
    /// forks per 10 s as `median [min–max]` of its runs; `dup gain` and `map gain` are Dup and
    /// DupMap over Rebuild, from the medians. A wide [min–max] means a noisy point: trust the
    /// median, and compare rows only where the ranges do not overlap. The second table is
    /// the median rate times the VMA count (VMAs copied per second). `spawn.csv` has one row
    /// per point (median, min, max, the runs' total forks and seconds), `spawn_runs.csv` one
    /// row per run, `spawn.svg` the medians with a bar from the slowest to the fastest run.
    ///
    /// --kernel adds a `kernel/10s` column: the seeds' unixbench spawn loop (fork(); the child
    /// _exit(0)s at once; the parent waitpid()s) on the running kernel, measured in a fresh
    /// `maple` process per run that is topped up with one-page anonymous mappings (alternately
    /// write-only and read-only, so none merge) to the row's VMA count. It includes the whole
    /// fork (process creation, exit, wait), so it is far below the model's columns, which do
    /// only the address-space copy. A `*` marks a row below the measuring process's own VMA
    /// count (it forked that many instead). Counts that would take the process over
    /// vm.max_map_count (minus a margin of 64) are skipped with a note. Linux only; needs no
    /// privileges.
    Spawn(SpawnArgs),
    /// Page-fault throughput with per-VMA locks against the mmap lock.
    Faults(FaultsArgs),
    /// Lock-free readers of the shared tree against one writer, beside a BTreeMap under an RwLock and
    /// SkipMap; and the cost of a shared store against an owned one.
    Readers(ReadersArgs),
    /// Random mmap/munmap/mprotect/madvise against the running kernel, compared with the
    /// model after every step (Linux only).
    DiffKernel(DiffKernelArgs),
    /// One writer and several lock-free readers on a shared tree for a long time: every
    /// reader answer, every entry drop and the tree's invariants are checked. Exit 1 on any
    /// fault; ends with a one-line summary.
    Soak(SoakArgs),
    /// Internal: one kernel run of `spawn --kernel`, in a fresh process.
    #[command(name = "spawn-kernel-worker", hide = true)]
    SpawnKernelWorker(KernelWorkerArgs),
}

/// A clap value parser from a plain function, whose error message is the function's own
/// (clap's would quote the whole bad value, however long).
#[derive(Clone)]
struct Checked<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Checked<T> {
    type Value = T;
    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let name = arg.map_or_else(|| "value".to_string(), |a| a.to_string());
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(
                ErrorKind::InvalidUtf8,
                format!("{name}: the value is not UTF-8\n"),
            )
            .with_cmd(cmd)
        })?;
        (self.0)(text).map_err(|why| {
            clap::Error::raw(ErrorKind::ValueValidation, format!("{name}: {why}\n")).with_cmd(cmd)
        })
    }
}

fn spawn_secs(s: &str) -> Result<f64, String> {
    input::seconds(s, 86_400.0)
}
fn mode_secs(s: &str) -> Result<f64, String> {
    input::seconds(s, 3_600.0)
}
fn soak_secs(s: &str) -> Result<f64, String> {
    input::seconds(s, MAX_SECONDS)
}
fn threads(s: &str) -> Result<usize, String> {
    input::bounded_u64(s, 1, MAX_THREADS as u64).map(|v| v as usize)
}
fn seq_size(s: &str) -> Result<u64, String> {
    input::bounded_u64(s, 0, MAX_SEQ)
}
fn random_size(s: &str) -> Result<u64, String> {
    input::bounded_u64(s, 1, MAX_SEQ)
}
fn any_u64(s: &str) -> Result<u64, String> {
    input::bounded_u64(s, 0, u64::MAX)
}
fn steps(s: &str) -> Result<u64, String> {
    input::bounded_u64(s, 1, 1_000_000)
}
fn line_number(s: &str) -> Result<usize, String> {
    input::bounded_u64(s, 1, usize::MAX as u64).map(|v| v as usize)
}

#[derive(Args, Debug)]
struct SoakArgs {
    /// How long the writer runs, in seconds (above 0, at most a week: 604800).
    #[arg(long, value_name = "S", default_value = "20", value_parser = Checked(soak_secs))]
    seconds: f64,
    /// Threads: one writer and THREADS - 1 readers (at least one reader); 1..=256.
    #[arg(long, value_name = "T", default_value = "2", value_parser = Checked(threads))]
    threads: usize,
    /// Seed of the writer's operations.
    #[arg(long, value_name = "N", default_value = "1", value_parser = Checked(any_u64))]
    seed: u64,
    /// Test hook: the writer breaks the readers' region once (the run must fail).
    #[arg(long, hide = true)]
    inject_fault: bool,
}

#[derive(Args, Debug)]
struct SpawnArgs {
    /// Seconds of fork+exit cycles per run (above 0, at most 86400). Default: 3.5 / REPEATS,
    /// so each point gets 3.5 s in all and a full default run takes about 2 minutes (about
    /// 2.7 with --kernel) whatever the repeats.
    #[arg(long, value_name = "S", value_parser = Checked(spawn_secs))]
    seconds: Option<f64>,
    /// Runs per (VMA count, strategy) point, 1..=1000; tables show their median [min–max].
    #[arg(long, value_name = "R", default_value_t = spawn::DEFAULT_REPEATS, value_parser = Checked(spawn::parse_repeats))]
    repeats: usize,
    /// Also measure fork+exit+wait of a real process on the running kernel (Linux), in a
    /// `kernel/10s` column beside the model's strategies.
    #[arg(long, conflicts_with = "maps")]
    kernel: bool,
    /// Measure only the running kernel (no model columns).
    #[arg(long, conflicts_with = "maps")]
    kernel_only: bool,
    /// Comma-separated VMA counts, each from 21 (the base layout) to 65530 (the map-count
    /// limit).
    #[arg(long, value_name = "LIST", value_parser = Checked(parse_vma_list), conflicts_with = "maps")]
    vmas: Option<VmaList>,
    /// Output directory for CSV and the SVG chart.
    #[arg(long, value_name = "DIR", default_value = "out/spawn")]
    out: PathBuf,
    /// Fork the layout of this /proc/PID/maps file instead of the seed layouts (at least one
    /// VMA, at most 65530).
    #[arg(long, value_name = "FILE")]
    maps: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct KernelWorkerArgs {
    /// Top this process up to this many VMAs.
    #[arg(long, value_name = "N", value_parser = Checked(any_u64), required_unless_present = "probe")]
    vmas: Option<u64>,
    /// Seconds of the fork loop.
    #[arg(long, value_name = "S", value_parser = Checked(spawn_secs), required_unless_present = "probe")]
    seconds: Option<f64>,
    /// Only print this process's own VMA count.
    #[arg(long, conflicts_with_all = ["vmas", "seconds"])]
    probe: bool,
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
    /// Test hook: writes land where the reader looks (the run must fail).
    #[arg(long, hide = true)]
    inject_fault: bool,
}

#[derive(Args, Debug)]
struct FaultsArgs {
    /// Fault threads, 1..=256.
    #[arg(long, value_name = "N", default_value = "2", value_parser = Checked(threads))]
    threads: usize,
    /// Seconds per locking mode (above 0, at most 3600).
    #[arg(long, value_name = "S", default_value = "1", value_parser = Checked(mode_secs))]
    seconds: f64,
}

#[derive(Args, Debug)]
struct DiffKernelArgs {
    /// Random operations to run, 1..=1000000.
    #[arg(long, value_name = "N", default_value = "2000", value_parser = Checked(steps))]
    steps: u64,
    /// Seed of the operation sequence.
    #[arg(long, value_name = "S", default_value = "1", value_parser = Checked(any_u64))]
    seed: u64,
}

/// A parsed `--vmas` list (one clap value).
#[derive(Clone, Debug)]
struct VmaList(Vec<usize>);

fn parse_vma_list(s: &str) -> Result<VmaList, String> {
    spawn::parse_vmas(s).map(VmaList)
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// Script files, or folders searched (recursively) for *.txt scripts. None: the
    /// conformance scripts built into the binary.
    paths: Vec<PathBuf>,
    /// When to validate the whole tree besides the scripts' own VALIDATE lines: `every`
    /// operation (slow on long scripts: names the operation that broke the tree), every `N`
    /// operations, or only at the `end` of each tree.
    #[arg(long, value_name = "every|end|N", default_value = "10000", value_parser = Checked(Validate::parse))]
    validate: Validate,
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
    #[arg(long, value_name = "N", requires = "script", value_parser = Checked(line_number))]
    until_line: Option<usize>,
    /// Build the tree by inserting i at [i, i] for i = 0..=N (N at most 1000000).
    #[arg(long, value_name = "N", value_parser = Checked(seq_size))]
    seq: Option<u64>,
    /// Build the tree from N random stores and NULL stores (1..=1000000).
    #[arg(long, value_name = "N", requires = "seed", value_parser = Checked(random_size))]
    random: Option<u64>,
    /// Seed for --random.
    #[arg(long, value_name = "S", value_parser = Checked(any_u64))]
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

/// Tree nodes are 256-byte blocks, as the kernel's slab objects are; mimalloc serves them from
/// size classes, like a slab. Every structure the command measures uses this allocator.
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
        Cmd::Soak(a) => run_soak(a),
        Cmd::SpawnKernelWorker(a) => run_kernel_worker(a),
    }
}

/// Prints `maple CMD: message` to stderr and returns the input-error exit code.
fn input_error(cmd: &str, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("maple {cmd}: {message}");
    ExitCode::from(EXIT_INPUT)
}

fn run_replay(a: ReplayArgs) -> ExitCode {
    let verbose = a.verbose;
    let quiet = a.quiet;
    let each = |name: &str, outcome: Outcome<'_>| match outcome {
        Outcome::Ran(t) => {
            if !quiet {
                for f in t.failures.iter().chain(&t.height_failures) {
                    outln!("{f}");
                }
            }
            if verbose {
                outln!(
                    "file {name} — {} ops, {} passed, {} failed; heights {} passed, {} failed",
                    t.ops,
                    t.passed,
                    t.failed,
                    t.height_passed,
                    t.height_failed
                );
            }
        }
        // A bad file is reported, even with --quiet, and the others still run.
        Outcome::Bad(e) => eprintln!("maple replay: {e}"),
    };
    let run = if a.paths.is_empty() {
        if replay::bundled().is_empty() {
            return input_error("replay", "no path given and no scripts were built in");
        }
        replay::replay_bundled(a.validate, each)
    } else {
        replay::replay_paths(&a.paths, a.validate, each)
    };
    let t = &run.total;
    if !quiet {
        outln!(
            "{} file(s), {} operations; validated {}: {} validation(s)",
            t.files,
            t.ops,
            match a.validate {
                Validate::Every => "after every operation".to_string(),
                Validate::EveryN(n) => format!("every {n} operations"),
                Validate::End => "at the end".to_string(),
            },
            t.validations
        );
        if !run.errors.is_empty() {
            outln!("{} file(s) could not be replayed", run.errors.len());
        }
        outln!("{}", t.height_summary());
    }
    outln!("{}", t.summary());
    if !run.errors.is_empty() {
        ExitCode::from(EXIT_INPUT)
    } else if t.failed > 0 {
        ExitCode::from(EXIT_CHECK)
    } else {
        ExitCode::SUCCESS
    }
}

fn output<E: Entry>(tree: &MapleTree<E>, svg: Option<&PathBuf>, title: &str) -> ExitCode {
    match svg {
        None => {
            out!("{}", tree.dump());
            ExitCode::SUCCESS
        }
        Some(path) => {
            let nodes = dump::collect_nodes(tree);
            let doc = dump::render_svg(&nodes, title);
            match std::fs::write(path, doc) {
                Ok(()) => {
                    outln!(
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
        let text = match input::read_text(path) {
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
        let code = match &tree {
            ReplayedTree::Values(t) => output(t, a.svg.as_ref(), &title),
            ReplayedTree::Tokens(t) => output(t, a.svg.as_ref(), &title),
        };
        if tally.failed > 0 && code == ExitCode::SUCCESS {
            eprintln!(
                "maple dump: {} expectation(s) of the script failed",
                tally.failed
            );
            return ExitCode::from(EXIT_CHECK);
        }
        return code;
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
    out!("{}", compare::ratio_tables(&ms));
    let csv = a.out.join("compare.csv");
    if let Err(e) = std::fs::write(&csv, compare::to_csv(&ms)) {
        eprintln!("maple compare: cannot write {}: {e}", csv.display());
        return ExitCode::from(2);
    }
    outln!("wrote {}", csv.display());
    match compare::write_charts(&ms, &a.out) {
        Ok(paths) => {
            for p in paths {
                outln!("wrote {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("maple compare: {e}");
            ExitCode::from(2)
        }
    }
}

/// What `spawn --kernel` needs: the binary to start as the measuring process, that
/// process's own VMA count, the kernel's limit and the counts skipped under it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct KernelSetup {
    exe: PathBuf,
    base: usize,
    max_map_count: usize,
    skipped: Vec<(usize, String)>,
}

#[cfg(target_os = "linux")]
fn kernel_setup(counts: &[usize]) -> Result<KernelSetup, String> {
    use maple_cli::spawn::kernel;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the maple binary: {e}"))?;
    let base = kernel::probe_worker(&exe)?;
    let max_map_count = kernel::read_max_map_count()?;
    let skipped = counts
        .iter()
        .filter_map(|&n| spawn::kernel_skip(n, base, max_map_count).map(|why| (n, why)))
        .collect();
    Ok(KernelSetup {
        exe,
        base,
        max_map_count,
        skipped,
    })
}

#[cfg(not(target_os = "linux"))]
fn kernel_setup(_counts: &[usize]) -> Result<KernelSetup, String> {
    Err("--kernel is not supported on this OS (it measures Linux's fork)".into())
}

#[cfg(target_os = "linux")]
fn kernel_point(
    k: &KernelSetup,
    n: usize,
    repeat: usize,
    time: std::time::Duration,
) -> Result<spawn::SpawnPoint, String> {
    spawn::run_kernel_point(&k.exe, n, repeat, time)
}

#[cfg(not(target_os = "linux"))]
fn kernel_point(
    _k: &KernelSetup,
    _n: usize,
    _repeat: usize,
    _time: std::time::Duration,
) -> Result<spawn::SpawnPoint, String> {
    Err("not supported on this OS".into())
}

/// Seconds with at most 3 decimals and no trailing zeros.
fn secs_text(d: std::time::Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn run_spawn(a: SpawnArgs) -> ExitCode {
    use maple_cli::spawn::Subject;
    let time = spawn::run_time(a.seconds, a.repeats);
    let subjects: Vec<Subject> = if a.kernel_only {
        vec![Subject::Kernel]
    } else if a.kernel {
        Subject::ALL.to_vec()
    } else {
        Subject::MODEL.to_vec()
    };
    let model = subjects.contains(&Subject::Model(maple_mm::ForkStrategy::Rebuild));
    // (label, parent) pairs: the seed layouts, or one real layout.
    let layouts: Vec<(String, maple_mm::Mm)> = match &a.maps {
        Some(path) => {
            let text = match input::read_text(path) {
                Ok(t) => t,
                Err(e) => {
                    return input_error("spawn", format!("{}: cannot read: {e}", path.display()))
                }
            };
            match maps::load(&path.display().to_string(), &text) {
                Ok(mm) => vec![(path.display().to_string(), mm)],
                Err(e) => return input_error("spawn", e),
            }
        }
        None => Vec::new(),
    };
    let counts = a
        .vmas
        .clone()
        .map_or_else(|| spawn::DEFAULT_VMAS.to_vec(), |v| v.0);
    let kernel = if subjects.contains(&Subject::Kernel) {
        match kernel_setup(&counts) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("maple spawn: {e}");
                return ExitCode::from(if cfg!(target_os = "linux") {
                    EXIT_CHECK
                } else {
                    EXIT_INPUT
                });
            }
        }
    } else {
        None
    };
    let points_total = if a.maps.is_some() { 1 } else { counts.len() } * subjects.len() * a.repeats;
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        return input_error("spawn", format!("cannot create {}: {e}", a.out.display()));
    }
    if let Some(k) = &kernel {
        outln!(
            "kernel: every run is a fresh maple process ({} VMAs of its own) topped up with \
             one-page mappings to the row's VMA count; vm.max_map_count is {}",
            k.base,
            k.max_map_count
        );
        for (_, why) in &k.skipped {
            outln!("kernel: skipped {why}");
        }
    }
    let bar = indicatif::ProgressBar::new(points_total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut points = Vec::new();
    // Every run of one parent (`mm`: the model's layout; `n`: its VMA count), interleaved.
    let mut run = |mm: Option<&maple_mm::Mm>, n: usize, label: &str| -> Result<(), String> {
        for (r, st) in spawn::schedule(&subjects, a.repeats) {
            bar.set_message(format!("{label} {} run {}/{}", st.name(), r + 1, a.repeats));
            match (st, mm, &kernel) {
                (Subject::Model(s), Some(mm), _) => points.push(
                    spawn::run_point(mm, s, r, time).map_err(|e| format!("fork failed: {e}"))?,
                ),
                (Subject::Kernel, _, Some(k)) if !k.skipped.iter().any(|x| x.0 == n) => points
                    .push(
                        kernel_point(k, n, r, time)
                            .map_err(|e| format!("kernel run at {n} VMAs: {e}"))?,
                    ),
                _ => {}
            }
            bar.inc(1);
        }
        Ok(())
    };
    let mut result = Ok(());
    if layouts.is_empty() {
        for &n in &counts {
            let mm = if model {
                // parse_vmas keeps n within 21..=65530, so this only fails if the model does.
                match maple_mm::spawn::try_build_layout(n - maple_mm::spawn::BASE_VMAS) {
                    Ok(mm) => Some(mm),
                    Err(e) => {
                        bar.finish_and_clear();
                        eprintln!("maple spawn: cannot build a layout of {n} VMAs: {e}");
                        return ExitCode::from(EXIT_CHECK);
                    }
                }
            } else {
                None
            };
            result = run(mm.as_ref(), n, &format!("{n} VMAs"));
            if let Some(mm) = mm {
                mm.exit();
            }
            if result.is_err() {
                break;
            }
        }
    } else {
        for (label, mm) in layouts {
            result = run(Some(&mm), mm.map_count(), &label);
            mm.exit();
        }
    }
    bar.finish_and_clear();
    if let Err(e) = result {
        eprintln!("maple spawn: {e}");
        return ExitCode::from(EXIT_CHECK);
    }
    outln!(
        "forks per 10 s (seeds' table): median [min–max] of {} run(s) of {} s per point",
        a.repeats,
        secs_text(time)
    );
    out!("{}", spawn::forks_table(&points, &subjects));
    if let Some(k) = &kernel {
        let starred = points
            .iter()
            .any(|p| p.process_vmas.is_some_and(|v| v > p.vmas));
        if starred {
            outln!(
                "* the measuring process alone has {} VMAs, more than the row: the kernel \
                 forked that many",
                k.base
            );
        }
    }
    outln!();
    outln!("VMAs copied per second (at the median rate)");
    out!("{}", spawn::vmas_table(&points, &subjects));
    for (name, text) in [
        ("spawn.csv", spawn::to_csv(&points)),
        ("spawn_runs.csv", spawn::runs_csv(&points)),
    ] {
        let csv = a.out.join(name);
        if let Err(e) = std::fs::write(&csv, text) {
            return input_error("spawn", format!("cannot write {}: {e}", csv.display()));
        }
        outln!("wrote {}", csv.display());
    }
    match spawn::write_chart(&points, &a.out) {
        Ok(p) => {
            outln!("wrote {}", p.display());
            ExitCode::SUCCESS
        }
        Err(e) => input_error("spawn", e),
    }
}

/// The measuring process of `spawn --kernel`: prints its own VMA count (`--probe`) or one
/// [`KernelRun`](maple_cli::spawn::kernel::KernelRun) line; errors go to stderr, exit 1.
#[cfg(target_os = "linux")]
fn run_kernel_worker(a: KernelWorkerArgs) -> ExitCode {
    use maple_cli::spawn::kernel;
    let result = match (a.probe, a.vmas, a.seconds) {
        (true, _, _) => kernel::map_count().map(|n| n.to_string()),
        (false, Some(n), Some(s)) => {
            kernel::measure(n as usize, std::time::Duration::from_secs_f64(s)).map(|r| r.to_line())
        }
        _ => return input_error("spawn-kernel-worker", "--vmas and --seconds, or --probe"),
    };
    match result {
        Ok(line) => {
            outln!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CHECK)
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn run_kernel_worker(_a: KernelWorkerArgs) -> ExitCode {
    eprintln!("maple spawn-kernel-worker: not supported on this OS");
    ExitCode::from(EXIT_INPUT)
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
    cfg.inject_fault = a.inject_fault;
    let report = readers::run(&cfg, |what| eprintln!("measuring {what}"));
    out!("{}", report.render());
    if report.wrong() > 0 {
        eprintln!(
            "maple readers: {} lookup(s) answered wrongly",
            report.wrong()
        );
        return ExitCode::from(EXIT_CHECK);
    }
    ExitCode::SUCCESS
}

fn run_faults(a: FaultsArgs) -> ExitCode {
    let cfg = maple_mm::faults::FaultBenchConfig {
        threads: a.threads,
        duration: std::time::Duration::from_secs_f64(a.seconds),
        ..Default::default()
    };
    let r = maple_mm::faults::run(cfg);
    outln!(
        "{} fault thread(s), {} VMAs x {} pages, writer {}, {:.2} s per mode",
        r.config.threads,
        r.config.vmas,
        r.config.pages_per_vma,
        if r.config.writer { "on" } else { "off" },
        r.config.duration.as_secs_f64()
    );
    let mut t = maple_cli::table::new(&[
        "mode",
        "faults",
        "faults/s",
        "fallback",
        "retry",
        "writer ops",
        "wrong",
    ]);
    for m in [&r.per_vma, &r.mmap_lock] {
        t.add_row([
            format!("{:?}", m.mode),
            m.faults.to_string(),
            format!("{:.0}", m.faults_per_sec),
            format!("{:.2}%", m.fallback_rate * 100.0),
            format!("{:.2}%", m.retry_rate * 100.0),
            m.writer_ops.to_string(),
            m.wrong_vma.to_string(),
        ]);
    }
    out!("{}", maple_cli::table::render(&t));
    outln!("per-VMA locks / mmap lock: {:.2}x", r.speedup());
    let wrong = r.per_vma.wrong_vma + r.mmap_lock.wrong_vma;
    if wrong > 0 {
        eprintln!("maple faults: {wrong} fault(s) resolved to the wrong VMA");
        return ExitCode::from(EXIT_CHECK);
    }
    ExitCode::SUCCESS
}

fn run_soak(a: SoakArgs) -> ExitCode {
    let mut cfg = soak::SoakConfig::new(
        std::time::Duration::from_secs_f64(a.seconds),
        a.threads.saturating_sub(1).max(1),
    );
    cfg.seed = a.seed;
    cfg.inject_fault = a.inject_fault;
    let report = soak::run(&cfg);
    for m in &report.messages {
        eprintln!("maple soak: {m}");
    }
    if report.failures as usize > report.messages.len() {
        eprintln!(
            "maple soak: ... and {} more failure(s)",
            report.failures as usize - report.messages.len()
        );
    }
    outln!("{report}");
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHECK)
    }
}

#[cfg(target_os = "linux")]
fn run_diff_kernel(a: DiffKernelArgs) -> ExitCode {
    match maple_mm::kernel_diff::run(a.steps, a.seed) {
        Ok(r) => {
            outln!(
                "{} steps (seed {}), {} real forks compared with the model for each fork strategy",
                r.steps,
                a.seed,
                r.forks_compared
            );
            let ops: Vec<String> = r.op_counts().map(|(n, c)| format!("{n} {c}")).collect();
            outln!("operations: {}", ops.join(", "));
            outln!(
                "failed calls (same error in kernel and model): {}, max VMAs in the child: {}",
                r.failed_calls,
                r.max_vmas
            );
            outln!(
                "layout mismatches: {}, flag mismatches: {}, return-code mismatches: {}",
                r.layout_mismatches,
                r.flag_mismatches,
                r.errno_mismatches
            );
            if let Some(m) = &r.first_mismatch {
                outln!("first mismatch: {m}");
            }
            if r.mismatches() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => input_error("diff-kernel", e),
    }
}

#[cfg(not(target_os = "linux"))]
fn run_diff_kernel(_a: DiffKernelArgs) -> ExitCode {
    eprintln!("maple diff-kernel: only available on Linux");
    ExitCode::from(2)
}
