//! A fixed number of fork+exit cycles of the spawn layout, for instruction counts:
//!
//! ```text
//! cargo build --release -p maple-mm --example fork_loop
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/examples/fork_loop dup_map 6421 20
//! ```
//!
//! Arguments: strategy (`rebuild`, `dup`, `dup_map`), VMA count (at least 21), cycles.
//! The layout is built before the loop, so with a large cycle count the instructions are
//! dominated by fork and exit; callgrind's per-function totals separate the two.

use maple_mm::{spawn, ForkStrategy};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let strategy = match args.first().map(String::as_str) {
        Some("rebuild") => ForkStrategy::Rebuild,
        Some("dup") => ForkStrategy::Dup,
        Some("dup_map") | None => ForkStrategy::DupMap,
        Some(other) => {
            eprintln!("unknown strategy {other}");
            return ExitCode::from(2);
        }
    };
    let parse = |i: usize, d: usize| args.get(i).map_or(Ok(d), |s| s.parse::<usize>());
    let (Ok(vmas), Ok(cycles)) = (parse(1, 6421), parse(2, 20)) else {
        eprintln!("usage: fork_loop [rebuild|dup|dup_map] [VMAs] [cycles]");
        return ExitCode::from(2);
    };
    if vmas < spawn::BASE_VMAS {
        eprintln!("at least {} VMAs", spawn::BASE_VMAS);
        return ExitCode::from(2);
    }
    let parent = spawn::build_layout(vmas - spawn::BASE_VMAS);
    for _ in 0..cycles {
        match parent.fork(strategy) {
            Ok(child) => child.exit(),
            Err(e) => {
                eprintln!("fork failed: {e}");
                return ExitCode::from(1);
            }
        }
    }
    println!(
        "{} x {} VMAs: {cycles} forks",
        strategy.name(),
        parent.map_count()
    );
    ExitCode::SUCCESS
}
