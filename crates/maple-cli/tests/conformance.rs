//! The kernel's conformance scripts, bundled in `tests/conformance/` at the workspace root:
//! every script replayed with zero failures, and the recorded `erase2` traces driven through
//! owned and shared trees of both kinds with `validate()` after every operation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use maple_cli::replay::{self, Outcome, Validate};
use maple_tree::{MapleTree, RcuMapleTree, TreeKind, Value};

fn conformance_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/conformance"
    ));
    assert!(
        dir.join("README.md").is_file(),
        "the bundled conformance scripts are missing from {}",
        dir.display()
    );
    dir
}

#[test]
fn all_conformance_scripts_pass() {
    let dir = conformance_dir();
    // The conformance run keeps validating after every operation.
    let run = replay::replay_paths(&[dir], Validate::Every, |name, outcome| match outcome {
        Outcome::Ran(t) => println!(
            "{name}: {} ops, {} passed, {} failed",
            t.ops, t.passed, t.failed
        ),
        Outcome::Bad(e) => println!("{e}"),
    });
    assert!(run.errors.is_empty(), "bad scripts: {:?}", run.errors);
    let total = run.total;
    for f in total.failures.iter().take(50) {
        println!("{f}");
    }
    println!("{}", total.height_summary());
    println!("{}", total.summary());
    assert_eq!(total.files, 36, "the bundled suite has 36 scripts");
    assert!(total.passed > 40_000, "only {} checks ran", total.passed);
    assert_eq!(
        total.failed, 0,
        "{} conformance checks failed",
        total.failed
    );
}

#[test]
fn the_built_in_scripts_are_the_folder() {
    let names: Vec<&str> = replay::bundled().iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), 36, "{names:?}");
    for (name, text) in replay::bundled() {
        let on_disk = std::fs::read_to_string(conformance_dir().join(name)).unwrap();
        assert_eq!(*text, on_disk, "{name}");
    }
}

/// One write of a recorded trace.
#[derive(Clone, Copy, Debug)]
enum TraceOp {
    /// `STORE f l v`: the entry `f` over `[f, l]`.
    Store(u64, u64),
    /// `STORE f l NULL`: empty `[f, l]`.
    Empty(u64, u64),
    /// `ERASE i`: remove the whole range holding `i`.
    Erase(u64),
}

/// The writes of an `erase2` trace, with the entry count expected after each (if recorded).
fn trace(name: &str) -> Vec<(TraceOp, Option<usize>)> {
    let path = conformance_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut ops: Vec<(TraceOp, Option<usize>)> = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["STORE", f, l, v, ..] => {
                let (f, l) = (f.parse().unwrap(), l.parse().unwrap());
                let op = if *v == "NULL" {
                    TraceOp::Empty(f, l)
                } else {
                    TraceOp::Store(f, l)
                };
                ops.push((op, None));
            }
            ["ERASE", i, ..] => ops.push((TraceOp::Erase(i.parse().unwrap()), None)),
            ["COUNT", n] => {
                ops.last_mut().expect("COUNT follows a write").1 = Some(n.parse().unwrap())
            }
            _ => {}
        }
    }
    assert!(!ops.is_empty(), "{name} holds no writes");
    ops
}

fn erase2_traces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(conformance_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("erase2-set"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 30, "the bundled suite has 30 erase2 traces");
    names
}

fn apply_owned(tree: &mut MapleTree<Value>, op: TraceOp) {
    match op {
        TraceOp::Store(f, l) => drop(tree.store_range(f..=l, Value::new(f)).unwrap()),
        TraceOp::Empty(f, l) => tree.erase_range(f..=l).unwrap(),
        TraceOp::Erase(i) => drop(tree.erase(i)),
    }
}

#[test]
fn erase2_traces_on_owned_trees_validate_after_every_write() {
    for name in erase2_traces() {
        for kind in [TreeKind::Plain, TreeKind::Alloc] {
            let mut tree: MapleTree<Value> = MapleTree::with_kind(kind);
            for (n, (op, count)) in trace(&name).into_iter().enumerate() {
                apply_owned(&mut tree, op);
                if let Err(e) = tree.validate() {
                    panic!("{name} write {n} ({kind:?}): {e}\n{}", tree.dump());
                }
                if let Some(c) = count {
                    assert_eq!(tree.len(), c, "{name} write {n} ({kind:?})");
                }
            }
        }
    }
}

/// Readers own the top of the key space, which the traces never touch, and must find every
/// one of their entries while the writer replays the largest traces below them.
#[test]
fn erase2_traces_on_shared_trees_keep_readers_right() {
    const READER_BASE: u64 = u64::MAX - 1_000_000;
    const READER_KEYS: u64 = 2_000;
    for kind in [TreeKind::Plain, TreeKind::Alloc] {
        let tree = Arc::new(RcuMapleTree::new(kind));
        {
            let mut w = tree.write();
            for i in 0..READER_KEYS {
                w.store_range(READER_BASE + 10 * i..=READER_BASE + 10 * i + 4, Arc::new(i))
                    .unwrap();
            }
        }
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (tree, done) = (Arc::clone(&tree), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !done.load(Ordering::Relaxed) || checks == 0 {
                    let g = tree.read();
                    for i in (0..READER_KEYS).step_by(7) {
                        let got = g.load(READER_BASE + 10 * i + 2).map(|e| *e);
                        assert_eq!(got, Some(i), "reader lost key {i}");
                        checks += 1;
                    }
                }
                checks
            })
        };
        for name in ["erase2-set09.txt", "erase2-set23.txt", "erase2-set25.txt"] {
            for (n, (op, count)) in trace(name).into_iter().enumerate() {
                let mut w = tree.write();
                match op {
                    TraceOp::Store(f, l) => drop(w.store_range(f..=l, Arc::new(f)).unwrap()),
                    TraceOp::Empty(f, l) => w.erase_range(f..=l).unwrap(),
                    TraceOp::Erase(i) => drop(w.erase(i).unwrap()),
                }
                if let Err(e) = w.validate() {
                    panic!("{name} write {n} ({kind:?}): {e}");
                }
                if let Some(c) = count {
                    assert_eq!(w.len() - READER_KEYS as usize, c, "{name} write {n}");
                }
            }
            // Each trace starts from an empty writer region.
            tree.write().erase_range(0..=READER_BASE - 1).unwrap();
        }
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(tree.write().len(), READER_KEYS as usize);
    }
}
