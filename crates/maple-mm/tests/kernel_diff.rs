//! Differential test against the running kernel: the full mix of operations, the whole
//! address space compared (ranges, VmFlags, file offsets) after every step, and real forks
//! compared with the model's for every strategy.

use maple_mm::kernel_diff::{self, OPS};

fn check(steps: u64, seed: u64) -> kernel_diff::DiffReport {
    let r = kernel_diff::run(steps, seed).expect("differential run");
    println!("seed {seed}: {r:?}");
    assert_eq!(r.steps, steps, "{:?}", r.first_mismatch);
    assert_eq!(
        (r.layout_mismatches, r.flag_mismatches, r.errno_mismatches),
        (0, 0, 0),
        "{:?}",
        r.first_mismatch
    );
    r
}

#[test]
fn kernel_diff_full_mix_matches() {
    let mut total = vec![0u64; OPS.len()];
    for seed in [1u64, 2, 3] {
        let r = check(1000, seed);
        for (t, n) in total.iter_mut().zip(&r.ops) {
            *t += n;
        }
        assert!(r.forks_compared > 0);
    }
    for (name, n) in OPS.iter().zip(&total) {
        assert!(*n > 0, "operation {name} never ran");
    }
}

/// Longer runs: `cargo test -p maple-mm --release --test kernel_diff -- --ignored --nocapture`.
#[test]
#[ignore]
fn kernel_diff_long() {
    for seed in 100..104u64 {
        check(5000, seed);
    }
}
