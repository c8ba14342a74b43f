//! The fuzz targets' checks (`maple_cli::fuzz_checks`) on the checked-in seeds
//! (`fuzz/seeds/<target>/`) and on every input a fuzz run ever crashed on
//! (`tests/fuzz_regressions/<target>/`, one file per crash, named after what it broke).

use std::path::{Path, PathBuf};

use maple_cli::fuzz_checks;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    v.sort();
    v
}

fn check_all(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = inputs(&root.join("../../fuzz/seeds").join(target));
    assert!(!seeds.is_empty(), "no seeds for {target}");
    // A target that never crashed has no folder of crashes (git keeps no empty folders).
    let crash_dir = root.join("tests/fuzz_regressions").join(target);
    let crashes = if crash_dir.exists() {
        inputs(&crash_dir)
    } else {
        Vec::new()
    };
    for p in seeds.iter().chain(&crashes) {
        let data = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        println!("{target}: {}", p.display());
        check(&data);
    }
}

#[test]
fn replay_script_inputs_keep_their_promises() {
    check_all("replay_script", fuzz_checks::replay_script);
}

#[test]
fn maps_inputs_keep_their_promises() {
    check_all("maps", fuzz_checks::maps);
}

#[test]
fn owned_tree_inputs_keep_their_promises() {
    check_all("owned_tree", fuzz_checks::owned_tree);
}

#[test]
fn shared_tree_inputs_keep_their_promises() {
    check_all("shared_tree", fuzz_checks::shared_tree);
}

#[test]
fn dup_tree_inputs_keep_their_promises() {
    check_all("dup_tree", fuzz_checks::dup_tree);
}

#[test]
fn address_space_inputs_keep_their_promises() {
    check_all("address_space", fuzz_checks::address_space);
}

/// Prints what a structured target's input decodes to: `FUZZ_TARGET=owned_tree
/// FUZZ_INPUT=path cargo test -p maple-cli --test fuzz_regressions describe -- --ignored
/// --nocapture`.
#[test]
#[ignore = "a tool for reading crashes, run by hand"]
fn describe() {
    let target = std::env::var("FUZZ_TARGET").expect("FUZZ_TARGET");
    let path = PathBuf::from(std::env::var("FUZZ_INPUT").expect("FUZZ_INPUT"));
    // Tests run in the crate's folder: a relative path is taken from the workspace root.
    let path = if path.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    } else {
        path
    };
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match fuzz_checks::describe(&target, &data) {
        Some(text) => println!("{text}"),
        None => println!("{}", String::from_utf8_lossy(&data)),
    }
}
