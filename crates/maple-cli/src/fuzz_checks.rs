//! The properties the fuzz targets (`fuzz/` at the workspace root) check, as functions of the
//! raw input, so the same checks run under libFuzzer and, on the checked-in seeds and every
//! crash ever found, under `cargo test` (`tests/fuzz_regressions.rs`).
//!
//! Each function accepts any bytes. It panics only when the code under test breaks a promise
//! (a panic inside it, an error without its line, an error quoting too much of the input):
//! that panic is what the fuzzer reports as a crash. To add a target, add a function here and
//! a three-line file in `fuzz/fuzz_targets/` that calls it.
//!
//! | target | input | checks |
//! |---|---|---|
//! | [`replay_script`] | text | the replay-script parser and engine |
//! | [`maps`] | text | the /proc/PID/maps parsers |
//! | [`owned_tree`] | operations (`arbitrary`) | `MapleTree` against a reference model |
//! | [`shared_tree`] | operations | `RcuMapleTree`'s writer and readers against the model |
//! | [`dup_tree`] | operations | `dup`/`clone`/`rebuild`/`dup_map` against element-wise copies |
//! | [`address_space`] | operations | `maple_mm::Mm` against its invariants, fork children |
//!
//! The structured targets decode their bytes into bounded operation sequences (at most a few
//! dozen operations, a few thousand stores), so each execution stays short.

use crate::replay::{self, Op, ReplayError, Validate};

/// The entry point and `describe` of a tree target: decodes the bytes as the module's `Input`
/// (bytes that make none are skipped, as libFuzzer expects) and runs the module's generic
/// `run` on the tree kind and the entry type the input names (`Value`, or drop-counted
/// `Box` entries).
macro_rules! tree_target {
    ($name:ident) => {
        /// The input as the operations it decodes to.
        pub fn describe(data: &[u8]) -> String {
            format!("{:#?}", Input::arbitrary(&mut Unstructured::new(data)))
        }

        /// The property: see the module documentation.
        pub fn $name(data: &[u8]) {
            let Ok(input) = Input::arbitrary(&mut Unstructured::new(data)) else {
                return;
            };
            let kind = if input.alloc {
                TreeKind::Alloc
            } else {
                TreeKind::Plain
            };
            if input.counted {
                run::<Box<super::model::Counted>>(kind, &input);
            } else {
                run::<Value>(kind, &input);
            }
        }
    };
}

mod address_space;
mod dup;
mod model;
mod owned;
mod shared;
mod writes;

pub use address_space::address_space;
pub use dup::dup_tree;
pub use owned::owned_tree;
pub use shared::shared_tree;

/// The operations a structured target's input decodes to (what `arbitrary` makes of the
/// bytes), for reading a crash: `None` for targets whose input is text.
pub fn describe(target: &str, data: &[u8]) -> Option<String> {
    match target {
        "owned_tree" => Some(owned::describe(data)),
        "shared_tree" => Some(shared::describe(data)),
        "dup_tree" => Some(dup::describe(data)),
        "address_space" => Some(address_space::describe(data)),
        _ => None,
    }
}

/// Longest error message accepted: a location, a field name and two short excerpts fit.
const MAX_MESSAGE: usize = 400;

/// Most `SEQ` inserts a fuzz input may ask for before it is only parsed, not run: keeps each
/// execution short so the fuzzer explores instead of inserting.
const RUN_BUDGET: u64 = 4_096;

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The replay-script parser, then the engine: parsing never panics; a parse error names a
/// line of the input and quotes at most a short excerpt; a script that parses replays
/// (validating after every operation) without panicking.
pub fn replay_script(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let lines = text.lines().count();
    match replay::parse_script("fuzz.txt", text) {
        Ok(script) => {
            let seq: u64 = script
                .ops
                .iter()
                .map(|(_, op)| match op {
                    Op::Seq(n) => *n,
                    _ => 0,
                })
                .sum();
            if seq <= RUN_BUDGET && script.ops.len() as u64 <= RUN_BUDGET {
                let tally = replay::replay_text_with("fuzz.txt", text, Validate::Every)
                    .unwrap_or_else(|e| panic!("parsed once, refused the second time: {e}"));
                for f in &tally.failures {
                    assert!(
                        (1..=lines).contains(&f.line),
                        "failure outside the script's {lines} lines: {f}"
                    );
                }
            }
        }
        Err(ReplayError::Parse { line, .. }) if (1..=lines).contains(&line) => {
            let msg = replay::parse_script("fuzz.txt", text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                msg.starts_with(&format!("fuzz.txt:{line}: ")),
                "error without its location: {msg}"
            );
            assert!(
                msg.chars().count() <= MAX_MESSAGE,
                "error of {} characters",
                msg.chars().count()
            );
        }
        Err(e) => panic!("parse error without a line of the input ({lines} lines): {e:?}"),
    }
}

/// The /proc/PID/maps parsers: maple-mm's line parser and layout builder never panic, and
/// the command's loader either builds an address space with at least one VMA or names the
/// file and (unless the file holds no VMA) a line of it, quoting at most a short excerpt.
pub fn maps(data: &[u8]) {
    let Some(text) = text(data) else { return };
    for line in text.lines() {
        let _ = maple_mm::parse_maps_line(line);
    }
    if let Ok(mm) = maple_mm::Mm::from_proc_maps(text) {
        mm.exit();
    }
    let lines = text.lines().count();
    match crate::maps::load("fuzz.maps", text) {
        Ok(mm) => {
            assert!(mm.map_count() >= 1, "loaded an address space without a VMA");
            mm.exit();
        }
        Err(e) => {
            assert_eq!(e.file.as_deref(), Some("fuzz.maps"), "{e}");
            match e.line {
                Some(l) => assert!((1..=lines).contains(&l), "line {l} of {lines}: {e}"),
                None => assert!(e.message.contains("no VMA"), "error without a line: {e}"),
            }
            let n = e.to_string().chars().count();
            assert!(n <= MAX_MESSAGE, "error of {n} characters: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn good_and_bad_inputs_keep_the_promises() {
        super::replay_script(b"INIT 0\nSTORE 1 5 1\nLOAD 3 1\n");
        super::replay_script(b"INIT 0\nSTORE 1 x 1\n");
        super::replay_script(b"\xff\xfe");
        super::maps(b"1000-2000 r--p 0 08:01 1 /bin/x\n");
        super::maps(b"1000-2000 r--p 0 08:01 1 /bin/x\n1000-3000 r--p 0 08:01 1\n");
        super::maps(b"");
    }
}
