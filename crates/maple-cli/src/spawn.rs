//! `maple spawn`: fork+exit cycles of a process address space for each fork strategy
//! (the byte-unixbench "spawn" test of the kernel's `__mt_dup` patch), by VMA count.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use maple_mm::{ForkStrategy, MmError};
use serde::Serialize;

use crate::input::excerpt;
use crate::table;

/// The VMA counts of the seed measurements.
pub const DEFAULT_VMAS: [usize; 11] = [
    21, 121, 221, 421, 821, 1621, 3221, 6421, 12821, 25621, 51221,
];

/// Default time per (VMA count, strategy) point: 11 counts x 3 strategies ≈ 2 minutes.
pub const DEFAULT_SECONDS: f64 = 3.5;

/// One measured point.
#[derive(Clone, Debug, PartialEq)]
pub struct SpawnPoint {
    /// VMAs in the parent.
    pub vmas: usize,
    /// How the child's tree was built.
    pub strategy: ForkStrategy,
    /// Completed fork+exit cycles.
    pub forks: u64,
    /// Time they took.
    pub elapsed: Duration,
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
/// least one cycle).
pub fn run_point(
    parent: &maple_mm::Mm,
    strategy: ForkStrategy,
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
        strategy,
        forks,
        elapsed: start.elapsed(),
    })
}

fn get(points: &[SpawnPoint], vmas: usize, s: ForkStrategy) -> Option<&SpawnPoint> {
    points.iter().find(|p| p.vmas == vmas && p.strategy == s)
}

fn counts(points: &[SpawnPoint]) -> Vec<usize> {
    let mut v: Vec<usize> = points.iter().map(|p| p.vmas).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Gain of `s` over `Rebuild` in percent at one VMA count.
pub fn gain(points: &[SpawnPoint], vmas: usize, s: ForkStrategy) -> Option<f64> {
    let base = get(points, vmas, ForkStrategy::Rebuild)?.forks_per_10s();
    let other = get(points, vmas, s)?.forks_per_10s();
    (base > 0.0).then(|| (other / base - 1.0) * 100.0)
}

/// The seeds' table: forks per 10 s for every strategy, then the gains of Dup and
/// DupMap over Rebuild.
pub fn forks_table(points: &[SpawnPoint]) -> String {
    let mut t = table::new(&[
        "VMAs",
        "rebuild/10s",
        "dup/10s",
        "dup_map/10s",
        "dup gain",
        "map gain",
    ]);
    for n in counts(points) {
        let mut row = vec![n.to_string()];
        for st in ForkStrategy::ALL {
            row.push(
                get(points, n, st).map_or("-".into(), |p| format!("{:.0}", p.forks_per_10s())),
            );
        }
        for st in [ForkStrategy::Dup, ForkStrategy::DupMap] {
            row.push(gain(points, n, st).map_or("-".into(), |g| format!("{g:.2}%")));
        }
        t.add_row(row);
    }
    table::render(&t)
}

/// The normalized table: VMAs copied per second for every strategy.
pub fn vmas_table(points: &[SpawnPoint]) -> String {
    let mut t = table::new(&["VMAs", "rebuild VMA/s", "dup VMA/s", "dup_map VMA/s"]);
    for n in counts(points) {
        let mut row = vec![n.to_string()];
        for st in ForkStrategy::ALL {
            row.push(get(points, n, st).map_or("-".into(), |p| format!("{:.0}", p.vmas_per_sec())));
        }
        t.add_row(row);
    }
    table::render(&t)
}

/// One CSV row of `spawn.csv`.
#[derive(Debug, Serialize)]
struct CsvRow {
    vmas: usize,
    strategy: &'static str,
    forks: u64,
    seconds: f64,
    forks_per_10s: f64,
    vmas_per_sec: f64,
    /// Empty for Rebuild, the baseline.
    gain_pct: Option<f64>,
}

/// Rounds to `digits` decimals, so the CSV does not carry timer noise.
fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (v * k).round() / k
}

/// CSV: `vmas,strategy,forks,seconds,forks_per_10s,vmas_per_sec,gain_pct`.
pub fn to_csv(points: &[SpawnPoint]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for p in points {
        let gain_pct = if p.strategy == ForkStrategy::Rebuild {
            None
        } else {
            gain(points, p.vmas, p.strategy).map(|g| round(g, 2))
        };
        let row = CsvRow {
            vmas: p.vmas,
            strategy: p.strategy.name(),
            forks: p.forks,
            seconds: round(p.elapsed.as_secs_f64(), 4),
            forks_per_10s: round(p.forks_per_10s(), 1),
            vmas_per_sec: round(p.vmas_per_sec(), 1),
            gain_pct,
        };
        // Writing plain numbers and names into memory cannot fail.
        let _ = w.serialize(row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn chart_err<E: std::fmt::Debug>(e: E) -> io::Error {
    io::Error::other(format!("chart: {e:?}"))
}

/// Writes `spawn.svg`: forks per 10 s (left) and VMAs copied per second (right) against
/// the VMA count, one line per strategy, log-log axes. Returns the path.
pub fn write_chart(points: &[SpawnPoint], dir: &Path) -> io::Result<PathBuf> {
    use plotters::prelude::*;
    let path = dir.join("spawn.svg");
    let ns = counts(points);
    let xmin = ns.first().copied().unwrap_or(1).max(1) as f64 / 1.2;
    let xmax = ns.last().copied().unwrap_or(10).max(2) as f64 * 1.2;
    let root = SVGBackend::new(&path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let panels = root.split_evenly((1, 2));
    let colors = [RED, BLUE, GREEN];
    type Metric = fn(&SpawnPoint) -> f64;
    let metrics: [(&str, Metric); 2] = [
        ("forks per 10 s", SpawnPoint::forks_per_10s),
        ("VMAs copied per second", SpawnPoint::vmas_per_sec),
    ];
    for (panel, (title, metric)) in panels.iter().zip(metrics) {
        let vals: Vec<f64> = points.iter().map(metric).filter(|v| *v > 0.0).collect();
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
        for (k, st) in ForkStrategy::ALL.into_iter().enumerate() {
            let color = colors[k % colors.len()];
            let line: Vec<(f64, f64)> = ns
                .iter()
                .filter_map(|&n| get(points, n, st).map(|p| (n as f64, metric(p))))
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

    fn p(vmas: usize, strategy: ForkStrategy, forks: u64) -> SpawnPoint {
        SpawnPoint {
            vmas,
            strategy,
            forks,
            elapsed: Duration::from_secs(5),
        }
    }

    #[test]
    fn rates_gains_and_tables() {
        let pts = vec![
            p(21, ForkStrategy::Rebuild, 100),
            p(21, ForkStrategy::Dup, 150),
            p(21, ForkStrategy::DupMap, 200),
        ];
        assert_eq!(pts[0].forks_per_10s(), 200.0);
        assert_eq!(pts[0].vmas_per_sec(), 420.0);
        assert_eq!(gain(&pts, 21, ForkStrategy::Dup), Some(50.0));
        assert_eq!(gain(&pts, 21, ForkStrategy::DupMap), Some(100.0));
        assert_eq!(gain(&pts, 121, ForkStrategy::Dup), None);
        let t = forks_table(&pts);
        assert!(t.contains("50.00%"), "{t}");
        assert!(t.contains("100.00%"), "{t}");
        assert_eq!(t.lines().count(), 2, "{t}");
        let v = vmas_table(&pts);
        assert!(v.contains("420"), "{v}");
        let csv = to_csv(&pts);
        assert_eq!(csv.lines().count(), 4);
        assert_eq!(
            csv.lines().next(),
            Some("vmas,strategy,forks,seconds,forks_per_10s,vmas_per_sec,gain_pct")
        );
        assert!(csv.contains("21,rebuild,100,5.0,200.0,420.0,\n"), "{csv}");
        assert!(csv.contains("21,dup,150,5.0,300.0,630.0,50.0"), "{csv}");
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
        let pt = run_point(&mm, ForkStrategy::Dup, Duration::ZERO).expect("fork");
        assert_eq!(pt.vmas, 121);
        assert_eq!(pt.forks, 1);
        mm.exit();
    }
}
