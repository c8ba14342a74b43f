//! Bundles the conformance scripts of `tests/conformance/` (workspace root) into the binary, so
//! `maple replay` without a path works for an installed `maple` too.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest.join("../../tests/conformance");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut scripts: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "txt"))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            Some((name, p.canonicalize().ok()?))
        })
        .collect();
    scripts.sort();
    let mut out = String::from("&[\n");
    for (name, path) in scripts {
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("]\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("bundled.rs");
    std::fs::write(dest, out).expect("write bundled.rs");
}
