//! `maple spawn`: fork+exit cycles of a process address space for each fork strategy
//! (the byte-unixbench "spawn" test of the kernel's `__mt_dup` patch), by VMA count; and,
//! with `--kernel`, the same loop on the running kernel ([`kernel`]).
//!
//! Every (VMA count, subject) point runs several times; the runs of one VMA count are
//! interleaved round-robin over the subjects ([`schedule`]) so that drift of the machine
//! hits every subject alike, and a point is reported as the median of its runs with their
//! minimum and maximum ([`Stats`]).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use maple_mm::{ForkStrategy, MmError};
use serde::Serialize;

use crate::input::{self, excerpt};
use crate::table;

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub mod kernel;

/// The VMA counts of the seed measurements.
pub const DEFAULT_VMAS: [usize; 11] = [
    21, 121, 221, 421, 821, 1621, 3221, 6421, 12821, 25621, 51221,
];

/// Default time per (VMA count, subject) point, shared by its runs: each run takes
/// `DEFAULT_SECONDS / repeats` ([`run_time`]), so 11 counts x 3 strategies take about 2
/// minutes whatever the repeats, and about 2.7 with the kernel beside them.
pub const DEFAULT_SECONDS: f64 = 3.5;

/// Default runs per point.
pub const DEFAULT_REPEATS: usize = 3;

/// Most runs per point `--repeats` accepts.
pub const MAX_REPEATS: usize = 1000;

/// VMAs kept free under `vm.max_map_count` for the measuring process's own needs (its
/// allocator, reading /proc) when the kernel is measured: see [`kernel_skip`].
pub const KERNEL_MAP_MARGIN: usize = 64;

/// What one column measures: a fork strategy of the model, or the running kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The model's fork with this strategy.
    Model(ForkStrategy),
    /// `fork()` + `_exit(0)` + `waitpid` of a real process on the running kernel.
    Kernel,
}

impl Subject {
    /// The model's three strategies.
    pub const MODEL: [Subject; 3] = [
        Subject::Model(ForkStrategy::Rebuild),
        Subject::Model(ForkStrategy::Dup),
        Subject::Model(ForkStrategy::DupMap),
    ];

    /// Every subject, in column order.
    pub const ALL: [Subject; 4] = [
        Subject::Model(ForkStrategy::Rebuild),
        Subject::Model(ForkStrategy::Dup),
        Subject::Model(ForkStrategy::DupMap),
        Subject::Kernel,
    ];

    /// `rebuild`, `dup`, `dup_map` or `kernel` (the CSV's `strategy`).
    pub fn name(self) -> &'static str {
        match self {
            Subject::Model(s) => s.name(),
            Subject::Kernel => "kernel",
        }
    }
}

/// One measured run.
#[derive(Clone, Debug, PartialEq)]
pub struct SpawnPoint {
    /// VMAs in the parent (the row: for the kernel, the count the measuring process was
    /// topped up to; see `process_vmas`).
    pub vmas: usize,
    /// What forked.
    pub subject: Subject,
    /// Which run of the point (0-based).
    pub repeat: usize,
    /// Completed fork+exit cycles.
    pub forks: u64,
    /// Time they took.
    pub elapsed: Duration,
    /// Kernel runs: VMAs the forking process really had (read from /proc/self/maps before
    /// the loop). More than `vmas` when the measuring process alone has more.
    pub process_vmas: Option<usize>,
}

impl SpawnPoint {
    /// Forks per 10 seconds (the seeds' unit).
    pub fn forks_per_10s(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.forks as f64 * 10.0 / s
        } else {
            0.0
        }
    }

    /// VMAs copied per second.
    pub fn vmas_per_sec(&self) -> f64 {
        self.forks_per_10s() / 10.0 * self.vmas as f64
    }
}

/// Forks the parent with `strategy` and exits the child until `time` has passed (at
/// least one cycle). The point is run `repeat` of its VMA count.
pub fn run_point(
    parent: &maple_mm::Mm,
    strategy: ForkStrategy,
    repeat: usize,
    time: Duration,
) -> Result<SpawnPoint, MmError> {
    let start = Instant::now();
    let mut forks = 0u64;
    loop {
        let child = parent.fork(strategy)?;
        child.exit();
        forks += 1;
        if start.elapsed() >= time {
            break;
        }
    }
    Ok(SpawnPoint {
        vmas: parent.map_count(),
        subject: Subject::Model(strategy),
        repeat,
        forks,
        elapsed: start.elapsed(),
        process_vmas: None,
    })
}

/// One kernel run at `vmas` VMAs in a fresh process started from `exe` (the `maple`
/// binary): see [`kernel::run_worker`].
#[cfg(target_os = "linux")]
pub fn run_kernel_point(
    exe: &Path,
    vmas: usize,
    repeat: usize,
    time: Duration,
) -> Result<SpawnPoint, String> {
    let r = kernel::run_worker(exe, vmas, time)?;
    Ok(SpawnPoint {
        vmas,
        subject: Subject::Kernel,
        repeat,
        forks: r.forks,
        elapsed: r.elapsed,
        process_vmas: Some(r.process_vmas),
    })
}

/// Time of one run: `seconds` when given, else [`DEFAULT_SECONDS`] shared by the `repeats`.
pub fn run_time(seconds: Option<f64>, repeats: usize) -> Duration {
    Duration::from_secs_f64(seconds.unwrap_or(DEFAULT_SECONDS / repeats.max(1) as f64))
}

/// The order of the runs of one VMA count: `repeats` rounds, each running every subject
/// once; each round starts one subject further on, so no subject always runs first (right
/// after the layout was built) or last. Returns `(repeat, subject)` pairs.
pub fn schedule(subjects: &[Subject], repeats: usize) -> Vec<(usize, Subject)> {
    let n = subjects.len();
    (0..repeats)
        .flat_map(|r| (0..n).map(move |i| (r, subjects[(r + i) % n])))
        .collect()
}

/// The median, minimum and maximum of some runs' values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// The middle value (mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

/// [`Stats`] of `values`; `None` when there are none.
pub fn stats(values: &[f64]) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stats {
        median,
        min: v[0],
        max: v[n - 1],
    })
}

/// The runs of one (VMA count, subject) point, summarized.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// VMAs in the parent.
    pub vmas: usize,
    /// What forked.
    pub subject: Subject,
    /// How many runs.
    pub runs: usize,
    /// Forks of all the runs together.
    pub forks: u64,
    /// Time of all the runs together.
    pub seconds: f64,
    /// Forks per 10 s over the runs.
    pub per_10s: Stats,
    /// Kernel: the fewest and most VMAs the forking process had over the runs.
    pub process_vmas: Option<(usize, usize)>,
}

impl Summary {
    /// VMAs copied per second at the median rate.
    pub fn vmas_per_sec(&self) -> f64 {
        self.per_10s.median / 10.0 * self.vmas as f64
    }
}

/// The runs of `vmas` and `subject`.
fn runs(points: &[SpawnPoint], vmas: usize, subject: Subject) -> Vec<&SpawnPoint> {
    points
        .iter()
        .filter(|p| p.vmas == vmas && p.subject == subject)
        .collect()
}

/// The summary of one point; `None` when it has no runs.
pub fn summary(points: &[SpawnPoint], vmas: usize, subject: Subject) -> Option<Summary> {
    let rs = runs(points, vmas, subject);
    let rates: Vec<f64> = rs.iter().map(|p| p.forks_per_10s()).collect();
    let per_10s = stats(&rates)?;
    let pv: Vec<usize> = rs.iter().filter_map(|p| p.process_vmas).collect();
    Some(Summary {
        vmas,
        subject,
        runs: rs.len(),
        forks: rs.iter().map(|p| p.forks).sum(),
        seconds: rs.iter().map(|p| p.elapsed.as_secs_f64()).sum(),
        per_10s,
        process_vmas: pv.iter().min().zip(pv.iter().max()).map(|(a, b)| (*a, *b)),
    })
}

/// Every point's summary, by VMA count, then in column order.
pub fn summarize(points: &[SpawnPoint]) -> Vec<Summary> {
    counts(points)
        .into_iter()
        .flat_map(|n| {
            Subject::ALL
                .into_iter()
                .filter_map(move |s| summary(points, n, s))
        })
        .collect()
}

/// The VMA counts measured, ascending.
fn counts(points: &[SpawnPoint]) -> Vec<usize> {
    let mut v: Vec<usize> = points.iter().map(|p| p.vmas).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Gain of `s` over `Rebuild` in percent at one VMA count, from the median rates.
pub fn gain(points: &[SpawnPoint], vmas: usize, s: ForkStrategy) -> Option<f64> {
    let base = summary(points, vmas, Subject::Model(ForkStrategy::Rebuild))?
        .per_10s
        .median;
    let other = summary(points, vmas, Subject::Model(s))?.per_10s.median;
    (base > 0.0).then(|| (other / base - 1.0) * 100.0)
}

/// `median [min–max]`, rounded to whole numbers.
pub fn stats_cell(s: &Stats) -> String {
    format!("{:.0} [{:.0}–{:.0}]", s.median, s.min, s.max)
}

/// The header of a subject's forks column.
fn forks_header(s: Subject) -> &'static str {
    match s {
        Subject::Model(ForkStrategy::Rebuild) => "rebuild/10s",
        Subject::Model(ForkStrategy::Dup) => "dup/10s",
        Subject::Model(ForkStrategy::DupMap) => "dup_map/10s",
        Subject::Kernel => "kernel/10s",
    }
}

/// Whether a kernel point forked more VMAs than its row says (the measuring process alone
/// had more): its cells carry a `*`.
fn kernel_over(sum: &Summary) -> bool {
    sum.process_vmas.is_some_and(|(lo, _)| lo > sum.vmas)
}

/// The seeds' table: forks per 10 s, `median [min–max]` of the runs, for every subject in
/// `subjects` (the columns; a point without runs, such as a skipped kernel count, is `-`),
/// then the gains of Dup and DupMap over Rebuild from the medians when the model ran. A
/// kernel cell ends in `*` when the measuring process had more VMAs than the row.
pub fn forks_table(points: &[SpawnPoint], subjects: &[Subject]) -> String {
    let model = subjects.contains(&Subject::Model(ForkStrategy::Rebuild));
    let mut header = vec!["VMAs"];
    header.extend(subjects.iter().map(|&s| forks_header(s)));
    if model {
        header.extend(["dup gain", "map gain"]);
    }
    let mut t = table::new(&header);
    for n in counts(points) {
        let mut row = vec![n.to_string()];
        for &st in subjects {
            row.push(summary(points, n, st).map_or("-".into(), |s| {
                let star = if kernel_over(&s) { "*" } else { "" };
                format!("{}{star}", stats_cell(&s.per_10s))
            }));
        }
        if model {
            for st in [ForkStrategy::Dup, ForkStrategy::DupMap] {
                row.push(gain(points, n, st).map_or("-".into(), |g| format!("{g:.2}%")));
            }
        }
        t.add_row(row);
    }
    table::render(&t)
}

/// The normalized table: VMAs copied per second at the median rate, for every subject.
pub fn vmas_table(points: &[SpawnPoint], subjects: &[Subject]) -> String {
    let headers: Vec<String> = subjects
        .iter()
        .map(|s| format!("{} VMA/s", s.name()))
        .collect();
    let mut header = vec!["VMAs"];
    header.extend(headers.iter().map(String::as_str));
    let mut t = table::new(&header);
    for n in counts(points) {
        let mut row = vec![n.to_string()];
        for &st in subjects {
            row.push(summary(points, n, st).map_or("-".into(), |s| {
                let star = if kernel_over(&s) { "*" } else { "" };
                format!("{:.0}{star}", s.vmas_per_sec())
            }));
        }
        t.add_row(row);
    }
    table::render(&t)
}

/// One CSV row of `spawn.csv`: one point.
#[derive(Debug, Serialize)]
struct CsvRow {
    vmas: usize,
    strategy: &'static str,
    runs: usize,
    /// Of all the runs together.
    forks: u64,
    /// Of all the runs together.
    seconds: f64,
    /// Median of the runs.
    forks_per_10s: f64,
    min_forks_per_10s: f64,
    max_forks_per_10s: f64,
    /// At the median rate.
    vmas_per_sec: f64,
    /// Empty for Rebuild, the baseline, and for the kernel.
    gain_pct: Option<f64>,
}

/// One CSV row of `spawn_runs.csv`: one run.
#[derive(Debug, Serialize)]
struct RunRow {
    vmas: usize,
    strategy: &'static str,
    repeat: usize,
    forks: u64,
    seconds: f64,
    forks_per_10s: f64,
    /// Kernel runs only.
    process_vmas: Option<usize>,
}

/// Rounds to `digits` decimals, so the CSV does not carry timer noise.
fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (v * k).round() / k
}

fn csv_text<T: Serialize>(rows: impl IntoIterator<Item = T>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Writing plain numbers and names into memory cannot fail.
        let _ = w.serialize(row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// `spawn.csv`, one row per point: `vmas,strategy,runs,forks,seconds,forks_per_10s,
/// min_forks_per_10s,max_forks_per_10s,vmas_per_sec,gain_pct`. `forks` and `seconds` are
/// the runs' totals; `forks_per_10s` is their median, `vmas_per_sec` and `gain_pct` come
/// from the medians.
pub fn to_csv(points: &[SpawnPoint]) -> String {
    csv_text(summarize(points).into_iter().map(|s| {
        let gain_pct = match s.subject {
            Subject::Model(st) if st != ForkStrategy::Rebuild => {
                gain(points, s.vmas, st).map(|g| round(g, 2))
            }
            _ => None,
        };
        CsvRow {
            vmas: s.vmas,
            strategy: s.subject.name(),
            runs: s.runs,
            forks: s.forks,
            seconds: round(s.seconds, 4),
            forks_per_10s: round(s.per_10s.median, 1),
            min_forks_per_10s: round(s.per_10s.min, 1),
            max_forks_per_10s: round(s.per_10s.max, 1),
            vmas_per_sec: round(s.vmas_per_sec(), 1),
            gain_pct,
        }
    }))
}

/// `spawn_runs.csv`, one row per run in the order they ran:
/// `vmas,strategy,repeat,forks,seconds,forks_per_10s,process_vmas`.
pub fn runs_csv(points: &[SpawnPoint]) -> String {
    csv_text(points.iter().map(|p| RunRow {
        vmas: p.vmas,
        strategy: p.subject.name(),
        repeat: p.repeat,
        forks: p.forks,
        seconds: round(p.elapsed.as_secs_f64(), 4),
        forks_per_10s: round(p.forks_per_10s(), 1),
        process_vmas: p.process_vmas,
    }))
}

/// Why the kernel cannot be measured at `vmas` VMAs, or `None` when it can: the measuring
/// process has `base` VMAs of its own and is topped up to `vmas` (so it forks
/// `max(vmas, base)`), and that plus [`KERNEL_MAP_MARGIN`] must stay within the kernel's
/// `max_map_count`, or its mmap calls would fail.
pub fn kernel_skip(vmas: usize, base: usize, max_map_count: usize) -> Option<String> {
    let total = vmas.max(base);
    let fits = total
        .checked_add(KERNEL_MAP_MARGIN)
        .is_some_and(|need| need <= max_map_count);
    (!fits).then(|| {
        format!(
            "{vmas} VMAs: {total} + a margin of {KERNEL_MAP_MARGIN} is above vm.max_map_count \
             ({max_map_count})"
        )
    })
}

/// Parses `--repeats`: a whole number of runs per point, 1..=[`MAX_REPEATS`].
pub fn parse_repeats(s: &str) -> Result<usize, String> {
    input::bounded_u64(s, 1, MAX_REPEATS as u64)
        .map(|v| v as usize)
        .map_err(|e| format!("{e} (runs per point: at least 1, at most {MAX_REPEATS})"))
}

fn chart_err<E: std::fmt::Debug>(e: E) -> io::Error {
    io::Error::other(format!("chart: {e:?}"))
}

/// Writes `spawn.svg`: forks per 10 s (left) and VMAs copied per second (right) against
/// the VMA count, one line of medians per subject with a bar from the slowest to the
/// fastest run, log-log axes. Returns the path.
pub fn write_chart(points: &[SpawnPoint], dir: &Path) -> io::Result<PathBuf> {
    use plotters::prelude::*;
    let path = dir.join("spawn.svg");
    let sums = summarize(points);
    let ns = counts(points);
    let xmin = ns.first().copied().unwrap_or(1).max(1) as f64 / 1.2;
    let xmax = ns.last().copied().unwrap_or(10).max(2) as f64 * 1.2;
    let root = SVGBackend::new(&path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let panels = root.split_evenly((1, 2));
    let colors = [RED, BLUE, GREEN, BLACK];
    // (title, scale from forks per 10 s to the panel's unit at a VMA count)
    type Scale = fn(usize) -> f64;
    let metrics: [(&str, Scale); 2] = [
        ("forks per 10 s", |_| 1.0),
        ("VMAs copied per second", |n| n as f64 / 10.0),
    ];
    for (panel, (title, scale)) in panels.iter().zip(metrics) {
        let vals: Vec<f64> = sums
            .iter()
            .flat_map(|s| [s.per_10s.min, s.per_10s.max].map(|v| v * scale(s.vmas)))
            .filter(|v| *v > 0.0)
            .collect();
        let ymin = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let ymax = vals.iter().copied().fold(0.0f64, f64::max);
        let (ymin, ymax) = if vals.is_empty() {
            (1.0, 10.0)
        } else {
            (ymin / 1.5, ymax * 1.5)
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale())
            .map_err(chart_err)?;
        chart
            .configure_mesh()
            .x_desc("VMAs")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(chart_err)?;
        for (k, st) in Subject::ALL.into_iter().enumerate() {
            let mine: Vec<&Summary> = sums.iter().filter(|s| s.subject == st).collect();
            if mine.is_empty() {
                continue;
            }
            let color = colors[k % colors.len()];
            let at = |s: &Summary, v: f64| (s.vmas as f64, v * scale(s.vmas));
            let line: Vec<(f64, f64)> = mine
                .iter()
                .map(|s| at(s, s.per_10s.median))
                .filter(|(_, y)| *y > 0.0)
                .collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                .map_err(chart_err)?
                .label(st.name())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
            chart
                .draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(chart_err)?;
            chart
                .draw_series(mine.iter().filter(|s| s.per_10s.min > 0.0).map(|s| {
                    PathElement::new(vec![at(s, s.per_10s.min), at(s, s.per_10s.max)], color)
                }))
                .map_err(chart_err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(chart_err)?;
    }
    root.present().map_err(chart_err)?;
    drop(panels);
    drop(root);
    Ok(path)
}

/// Most VMA counts one `--vmas` list may hold.
pub const MAX_VMA_COUNTS: usize = 64;

/// Parses a comma-separated list of VMA counts, each from the base layout's 21 up to the
/// map-count limit ([`maple_mm::DEFAULT_MAX_MAP_COUNT`]). An empty item (`21,,`) is an error.
pub fn parse_vmas(s: &str) -> Result<Vec<usize>, String> {
    let (lo, hi) = (maple_mm::spawn::BASE_VMAS, maple_mm::DEFAULT_MAX_MAP_COUNT);
    let mut v = Vec::new();
    for (i, part) in s.split(',').map(str::trim).enumerate() {
        if part.is_empty() {
            return Err(format!("item {} of the list is empty", i + 1));
        }
        if i >= MAX_VMA_COUNTS {
            return Err(format!("more than {MAX_VMA_COUNTS} VMA counts"));
        }
        let n: usize = part
            .parse()
            .map_err(|_| format!("item {}: `{}` is not a VMA count", i + 1, excerpt(part)))?;
        if !(lo..=hi).contains(&n) {
            return Err(format!(
                "item {}: {n} VMAs is outside {lo}..={hi} (the base layout's {lo} VMAs up to the \
                 map-count limit)",
                i + 1
            ));
        }
        v.push(n);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REBUILD: Subject = Subject::Model(ForkStrategy::Rebuild);
    const DUP: Subject = Subject::Model(ForkStrategy::Dup);
    const DUP_MAP: Subject = Subject::Model(ForkStrategy::DupMap);

    /// A run of `forks` in 5 s (so `forks * 2` per 10 s).
    fn p(vmas: usize, subject: Subject, repeat: usize, forks: u64) -> SpawnPoint {
        SpawnPoint {
            vmas,
            subject,
            repeat,
            forks,
            elapsed: Duration::from_secs(5),
            process_vmas: (subject == Subject::Kernel).then_some(vmas),
        }
    }

    #[test]
    fn medians_minima_and_maxima() {
        assert_eq!(stats(&[]), None);
        let s = |v: &[f64]| stats(v).unwrap();
        assert_eq!(
            s(&[7.0]),
            Stats {
                median: 7.0,
                min: 7.0,
                max: 7.0
            }
        );
        assert_eq!(
            s(&[300.0, 100.0, 200.0]),
            Stats {
                median: 200.0,
                min: 100.0,
                max: 300.0
            }
        );
        // Even count: the mean of the middle two; order of the input does not matter.
        assert_eq!(
            s(&[40.0, 10.0, 30.0, 20.0]),
            Stats {
                median: 25.0,
                min: 10.0,
                max: 40.0
            }
        );
        // An outlier moves the maximum, not the median.
        assert_eq!(s(&[100.0, 101.0, 99.0, 1e9, 100.5]).median, 100.5);
        assert_eq!(stats_cell(&s(&[1.4, 2.6, 2.0])), "2 [1–3]");
    }

    #[test]
    fn runs_interleave_round_robin() {
        assert_eq!(
            schedule(&Subject::ALL, 2),
            vec![
                (0, REBUILD),
                (0, DUP),
                (0, DUP_MAP),
                (0, Subject::Kernel),
                (1, DUP),
                (1, DUP_MAP),
                (1, Subject::Kernel),
                (1, REBUILD),
            ]
        );
        let s = schedule(&Subject::MODEL, 5);
        assert_eq!(s.len(), 15);
        for st in Subject::MODEL {
            let reps: Vec<usize> = s.iter().filter(|x| x.1 == st).map(|x| x.0).collect();
            assert_eq!(reps, vec![0, 1, 2, 3, 4], "{st:?}");
        }
        assert_eq!(schedule(&[Subject::Kernel], 3).len(), 3);
        assert!(schedule(&Subject::MODEL, 0).is_empty());
    }

    #[test]
    fn run_time_is_shared_by_the_repeats_unless_given() {
        assert_eq!(run_time(None, 1), Duration::from_secs_f64(DEFAULT_SECONDS));
        assert_eq!(
            run_time(None, 3),
            Duration::from_secs_f64(DEFAULT_SECONDS / 3.0)
        );
        assert_eq!(run_time(Some(0.5), 3), Duration::from_millis(500));
    }

    #[test]
    fn repeats_are_checked() {
        assert_eq!(parse_repeats("1"), Ok(1));
        assert_eq!(parse_repeats(" 5 "), Ok(5));
        assert_eq!(parse_repeats("1000"), Ok(1000));
        let e = parse_repeats("0").unwrap_err();
        assert!(
            e.contains("0 is outside 1..=1000") && e.contains("at least 1"),
            "{e}"
        );
        for bad in ["", "-1", "1001", "2.5", "x", "99999999999999999999999"] {
            assert!(parse_repeats(bad).is_err(), "{bad}");
        }
        assert!(parse_repeats(&"7".repeat(10_000)).unwrap_err().len() < 150);
    }

    #[test]
    fn kernel_counts_above_the_limit_are_skipped() {
        // Under the limit with the margin: measured.
        assert_eq!(kernel_skip(21, 40, 65530), None);
        assert_eq!(kernel_skip(51221, 40, 65530), None);
        assert_eq!(kernel_skip(65530 - KERNEL_MAP_MARGIN, 40, 65530), None);
        // The margin itself pushes it over.
        let why = kernel_skip(65530 - KERNEL_MAP_MARGIN + 1, 40, 65530).unwrap();
        assert!(why.contains("above vm.max_map_count (65530)"), "{why}");
        assert!(kernel_skip(65530, 40, 65530).is_some());
        // A lowered limit.
        assert!(kernel_skip(6421, 40, 5000).is_some());
        assert_eq!(kernel_skip(3221, 40, 5000), None);
        // The process's own VMAs count when they are more than the row.
        let why = kernel_skip(21, 1000, 1050).unwrap();
        assert!(why.starts_with("21 VMAs: 1000 + a margin of 64"), "{why}");
        assert!(kernel_skip(usize::MAX, 0, usize::MAX).is_some());
    }

    #[test]
    fn rates_gains_and_tables() {
        // Rebuild runs 100, 110, 90 forks in 5 s: median 200/10 s, min 180, max 220.
        let pts = vec![
            p(21, REBUILD, 0, 100),
            p(21, DUP, 0, 150),
            p(21, DUP_MAP, 0, 200),
            p(21, DUP, 1, 160),
            p(21, DUP_MAP, 1, 190),
            p(21, REBUILD, 1, 110),
            p(21, DUP_MAP, 2, 210),
            p(21, REBUILD, 2, 90),
            p(21, DUP, 2, 140),
        ];
        assert_eq!(pts[0].forks_per_10s(), 200.0);
        assert_eq!(pts[0].vmas_per_sec(), 420.0);
        let s = summary(&pts, 21, REBUILD).unwrap();
        assert_eq!((s.runs, s.forks, s.seconds), (3, 300, 15.0));
        assert_eq!(
            s.per_10s,
            Stats {
                median: 200.0,
                min: 180.0,
                max: 220.0
            }
        );
        assert_eq!(s.vmas_per_sec(), 420.0);
        assert_eq!(summary(&pts, 21, Subject::Kernel), None);
        // Gains from the medians: dup 300, dup_map 400 against rebuild 200.
        assert_eq!(gain(&pts, 21, ForkStrategy::Dup), Some(50.0));
        assert_eq!(gain(&pts, 21, ForkStrategy::DupMap), Some(100.0));
        assert_eq!(gain(&pts, 121, ForkStrategy::Dup), None);
        let t = forks_table(&pts, &Subject::MODEL);
        assert!(t.contains("200 [180–220]"), "{t}");
        assert!(t.contains("300 [280–320]"), "{t}");
        assert!(t.contains("400 [380–420]"), "{t}");
        assert!(t.contains("50.00%"), "{t}");
        assert!(t.contains("100.00%"), "{t}");
        assert!(!t.contains("kernel"), "{t}");
        assert_eq!(t.lines().count(), 2, "{t}");
        let v = vmas_table(&pts, &Subject::MODEL);
        assert!(v.contains("420"), "{v}");
        let csv = to_csv(&pts);
        assert_eq!(csv.lines().count(), 4);
        assert_eq!(
            csv.lines().next(),
            Some(
                "vmas,strategy,runs,forks,seconds,forks_per_10s,min_forks_per_10s,\
                 max_forks_per_10s,vmas_per_sec,gain_pct"
            )
        );
        assert!(
            csv.contains("21,rebuild,3,300,15.0,200.0,180.0,220.0,420.0,\n"),
            "{csv}"
        );
        assert!(
            csv.contains("21,dup,3,450,15.0,300.0,280.0,320.0,630.0,50.0"),
            "{csv}"
        );
        let runs = runs_csv(&pts);
        assert_eq!(runs.lines().count(), 10);
        assert_eq!(
            runs.lines().next(),
            Some("vmas,strategy,repeat,forks,seconds,forks_per_10s,process_vmas")
        );
        assert!(runs.contains("21,dup,1,160,5.0,320.0,\n"), "{runs}");
    }

    #[test]
    fn the_kernel_column_sits_beside_the_model() {
        let mut pts = vec![
            p(21, REBUILD, 0, 100),
            p(21, DUP, 0, 150),
            p(21, DUP_MAP, 0, 200),
            p(21, Subject::Kernel, 0, 50),
            p(21, Subject::Kernel, 1, 60),
            p(121, REBUILD, 0, 10),
            p(121, DUP, 0, 15),
            p(121, DUP_MAP, 0, 20),
        ];
        // At 21 the measuring process had 40 VMAs of its own.
        for q in &mut pts {
            if q.subject == Subject::Kernel {
                q.process_vmas = Some(40);
            }
        }
        let t = forks_table(&pts, &Subject::ALL);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].contains("rebuild/10s") && lines[0].contains("kernel/10s"),
            "{t}"
        );
        assert!(lines[0].ends_with("map gain"), "{t}");
        // Median of 100 and 120 per 10 s; starred: 40 VMAs forked, not 21.
        assert!(lines[1].contains("110 [100–120]*"), "{t}");
        // 121 VMAs had no kernel run (skipped): a dash.
        assert!(lines[2].contains(" - "), "{t}");
        let k = forks_table(&pts, &[Subject::Kernel]);
        assert_eq!(
            k.lines().next().unwrap().split_whitespace().count(),
            2,
            "{k}"
        );
        assert!(!k.contains("gain"), "{k}");
        let csv = to_csv(&pts);
        assert!(
            csv.contains("21,kernel,2,110,10.0,110.0,100.0,120.0,231.0,\n"),
            "{csv}"
        );
        assert!(runs_csv(&pts).contains("21,kernel,1,60,5.0,120.0,40\n"));
        let v = vmas_table(&pts, &Subject::ALL);
        assert!(v.contains("kernel VMA/s") && v.contains("231*"), "{v}");
    }

    #[test]
    fn vma_lists_are_checked() {
        assert_eq!(parse_vmas("21, 121,221"), Ok(vec![21, 121, 221]));
        assert_eq!(parse_vmas("65530"), Ok(vec![65530]));
        for bad in [
            "20",
            "abc",
            "",
            "21,,",
            "21,",
            ",21",
            "65531",
            "99999999999999999999999",
        ] {
            assert!(parse_vmas(bad).is_err(), "{bad}");
        }
        assert!(parse_vmas(&"1".repeat(10_000)).unwrap_err().len() < 100);
    }

    #[test]
    fn a_point_forks_the_layout() {
        let mm = maple_mm::spawn::build_layout(100);
        let pt = run_point(&mm, ForkStrategy::Dup, 2, Duration::ZERO).expect("fork");
        assert_eq!(pt.vmas, 121);
        assert_eq!(pt.forks, 1);
        assert_eq!((pt.subject, pt.repeat, pt.process_vmas), (DUP, 2, None));
        mm.exit();
    }

    #[test]
    fn the_chart_is_written() {
        let d = tempfile::tempdir().unwrap();
        let pts = vec![
            p(21, REBUILD, 0, 100),
            p(21, Subject::Kernel, 0, 50),
            p(121, REBUILD, 0, 10),
            p(121, Subject::Kernel, 0, 5),
        ];
        let path = write_chart(&pts, d.path()).unwrap();
        let svg = std::fs::read_to_string(path).unwrap();
        assert!(svg.contains("kernel") && svg.contains("rebuild"));
    }
}
