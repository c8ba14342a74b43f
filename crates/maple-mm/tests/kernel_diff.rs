//! Differential test against the running kernel (Linux only).
#![cfg(target_os = "linux")]

use maple_mm::kernel_diff;

#[test]
fn kernel_diff_5000_steps_match() {
    let mut total = 0;
    for seed in [1u64, 2, 3, 4, 5] {
        let r = kernel_diff::run(1000, seed).expect("differential run");
        println!("seed {seed}: {r:?}");
        assert_eq!(r.steps, 1000);
        assert_eq!(r.mismatches, 0, "layout mismatch: {:?}", r.first_mismatch);
        assert_eq!(
            r.errno_mismatches, 0,
            "errno mismatch: {:?}",
            r.first_mismatch
        );
        assert!(
            r.ops.iter().all(|&n| n > 0),
            "every operation kind exercised"
        );
        total += r.steps;
    }
    assert!(total >= 5000);
}

/// Longer run: `cargo test -p maple-mm --test kernel_diff -- --ignored --nocapture`.
#[test]
#[ignore]
fn kernel_diff_long() {
    for seed in 100..110u64 {
        let r = kernel_diff::run(5000, seed).expect("differential run");
        println!("seed {seed}: {r:?}");
        assert_eq!(
            (r.mismatches, r.errno_mismatches),
            (0, 0),
            "{:?}",
            r.first_mismatch
        );
    }
}
