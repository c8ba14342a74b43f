//! `maple spawn`: fork+exit cycles of a process address space for each fork strategy
//! (the byte-unixbench "spawn" test of the kernel's `__mt_dup` patch), by VMA count.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use maple_mm::{ForkStrategy, MmError};

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
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>8} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "VMAs", "rebuild/10s", "dup/10s", "dup_map/10s", "dup gain", "map gain"
    );
    for n in counts(points) {
        let _ = write!(s, "{n:>8}");
        for st in ForkStrategy::ALL {
            match get(points, n, st) {
                Some(p) => {
                    let _ = write!(s, " {:>12.0}", p.forks_per_10s());
                }
                None => {
                    let _ = write!(s, " {:>12}", "-");
                }
            }
        }
        for st in [ForkStrategy::Dup, ForkStrategy::DupMap] {
            match gain(points, n, st) {
                Some(g) => {
                    let _ = write!(s, " {:>9.2}%", g);
                }
                None => {
                    let _ = write!(s, " {:>10}", "-");
                }
            }
        }
        s.push('\n');
    }
    s
}

/// The normalized table: VMAs copied per second for every strategy.
pub fn vmas_table(points: &[SpawnPoint]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>8} {:>14} {:>14} {:>14}",
        "VMAs", "rebuild VMA/s", "dup VMA/s", "dup_map VMA/s"
    );
    for n in counts(points) {
        let _ = write!(s, "{n:>8}");
        for st in ForkStrategy::ALL {
            match get(points, n, st) {
                Some(p) => {
                    let _ = write!(s, " {:>14.0}", p.vmas_per_sec());
                }
                None => {
                    let _ = write!(s, " {:>14}", "-");
                }
            }
        }
        s.push('\n');
    }
    s
}

/// CSV: `vmas,strategy,forks,seconds,forks_per_10s,vmas_per_sec,gain_pct`.
pub fn to_csv(points: &[SpawnPoint]) -> String {
    let mut s = String::from("vmas,strategy,forks,seconds,forks_per_10s,vmas_per_sec,gain_pct\n");
    for p in points {
        let g = if p.strategy == ForkStrategy::Rebuild {
            String::new()
        } else {
            gain(points, p.vmas, p.strategy).map_or(String::new(), |g| format!("{g:.2}"))
        };
        let _ = writeln!(
            s,
            "{},{},{},{:.4},{:.1},{:.1},{}",
            p.vmas,
            p.strategy.name(),
            p.forks,
            p.elapsed.as_secs_f64(),
            p.forks_per_10s(),
            p.vmas_per_sec(),
            g
        );
    }
    s
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

/// Parses a comma-separated list of VMA counts (each at least 21, the base layout).
pub fn parse_vmas(s: &str) -> Result<Vec<usize>, String> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let n: usize = part
            .parse()
            .map_err(|_| format!("`{part}` is not a VMA count"))?;
        if n < maple_mm::spawn::BASE_VMAS {
            return Err(format!(
                "{n} VMAs is below the base layout's {}",
                maple_mm::spawn::BASE_VMAS
            ));
        }
        v.push(n);
    }
    if v.is_empty() {
        return Err("no VMA counts given".to_string());
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
        let v = vmas_table(&pts);
        assert!(v.contains("420"), "{v}");
        let csv = to_csv(&pts);
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.contains("21,dup,150,5.0000,300.0,630.0,50.00"), "{csv}");
    }

    #[test]
    fn vma_lists_are_checked() {
        assert_eq!(parse_vmas("21, 121,221"), Ok(vec![21, 121, 221]));
        assert!(parse_vmas("20").is_err());
        assert!(parse_vmas("abc").is_err());
        assert!(parse_vmas("").is_err());
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
