//! Replays every script in the shared conformance directory and requires zero failures.

use std::path::PathBuf;

use maple_cli::replay;

fn conformance_dir() -> PathBuf {
    // crates/maple-cli -> repo root -> its parent, which holds shared/.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

#[test]
fn all_conformance_scripts_pass() {
    let dir = conformance_dir();
    assert!(
        dir.is_dir(),
        "conformance scripts not found at {} (expected shared/conformance beside the repository)",
        dir.display()
    );
    let total = replay::replay_paths(&[dir], |path, t| {
        println!(
            "{}: {} ops, {} passed, {} failed",
            path.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            t.ops,
            t.passed,
            t.failed
        );
    })
    .unwrap_or_else(|e| panic!("cannot replay: {e}"));
    for f in total.failures.iter().take(50) {
        println!("{f}");
    }
    println!("{}", total.height_summary());
    println!("{}", total.summary());
    assert!(total.files >= 36, "only {} scripts found", total.files);
    assert!(total.passed > 0);
    assert_eq!(
        total.failed, 0,
        "{} conformance checks failed",
        total.failed
    );
}
