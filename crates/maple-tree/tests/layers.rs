//! The crate's modules form layers (see the table in `src/lib.rs`): a module may import only
//! from modules below it. This test reads the sources and fails on any `crate::` path that runs
//! up a layer, so the module graph cannot grow a cycle unnoticed.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Bottom first. A module may name only modules that come before it here.
const ORDER: &[&str] = &[
    "sync",
    "entry",
    "error",
    "bounds",
    "node",
    "kind",
    "path",
    "raw",
    "retire",
    "reclaim",
    "supply",
    "write",
    "gap",
    "mode",
    "info",
    "validate",
    "view",
    "tree",
    "iter",
    "cursor",
    "prealloc",
    "dup",
    "collection",
    "rcu",
];

/// Names `lib.rs` re-exports (`pub use module::{A, B};`), mapped to their module.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in lib.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.trim_end_matches(';').split_once("::") else {
            continue;
        };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            names.insert(item.trim().to_string(), module.to_string());
        }
    }
    names
}

/// The code of a module's file without comments and without its unit tests (which may use
/// anything).
fn code(source: &str) -> String {
    let end = source
        .find("mod tests {")
        .and_then(|i| source[..i].rfind("#[cfg("))
        .unwrap_or(source.len());
    source[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment of every `crate::` path in `code`, with `crate::{a::X, B}` groups
/// split into their members.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out
}

/// Every `(importer, imported)` pair that runs up the layers.
fn violations(
    modules: &[(String, String)],
    reexported: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let rank = |m: &str| ORDER.iter().position(|&o| o == m);
    let mut bad = Vec::new();
    for (module, source) in modules {
        let own = rank(module).unwrap_or_else(|| panic!("module `{module}` is not in ORDER"));
        for name in crate_paths(&code(source)) {
            let target = reexported.get(&name).cloned().unwrap_or(name);
            if target == *module {
                continue;
            }
            if let Some(r) = rank(&target) {
                if r > own {
                    bad.push((module.clone(), target));
                }
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

fn crate_modules(src: &Path) -> Vec<(String, String)> {
    let mut modules = Vec::new();
    for entry in fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            for file in fs::read_dir(&path).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "rs") {
                    modules.push((stem.clone(), fs::read_to_string(file).unwrap()));
                }
            }
        } else if path.extension().is_some_and(|e| e == "rs") && stem != "lib" && stem != "tests" {
            modules.push((stem, fs::read_to_string(&path).unwrap()));
        }
    }
    modules
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules = crate_modules(&src);
    assert!(
        modules.len() >= ORDER.len(),
        "found {} modules",
        modules.len()
    );
    assert_eq!(violations(&modules, &reexports(&lib)), []);
}

#[test]
fn an_import_from_above_is_reported() {
    let reexported = reexports("pub use tree::MapleTree;\npub use error::{Error, InsertError};");
    let node =
        "use crate::entry::Word;\nuse crate::{Error, MapleTree};\nfn f() { crate::view::x(); }\n\
                // crate::rcu in a comment does not count\n\
                #[cfg(test)]\nmod tests {\n    use crate::dup::Layout;\n}\n";
    let found = violations(&[("node".into(), node.into())], &reexported);
    assert_eq!(
        found,
        [
            ("node".to_string(), "tree".to_string()),
            ("node".to_string(), "view".to_string())
        ]
    );
}
