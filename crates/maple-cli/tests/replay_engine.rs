//! Behaviour of the replay engine on small hand-written scripts.

use maple_cli::replay::{self, parse_line, Expect, Op, ReplayError, Word};

#[test]
fn a_correct_script_passes_every_check() {
    let script = "\
# comment
INIT 0
ASSERT_EMPTY
CHECK_INSERT 10 15 10 0
CHECK_INSERT 12 20 12 -17
CHECK_STORE 12 20 12 0
STORE 5 3 1 -22
LOAD 11 10
LOAD 13 12
LOAD 21 NULL
COUNT 2
FIND 0 10
NEXT 12
NEXT NULL
ERASE 13 12
COUNT 1
INSERT 30 30 A 0
INSERT 31 31 B 0
LOAD 30 A
LOAD 31 B
STORE 30 31 NULL 0
COUNT 1
HEIGHT_NONZERO
DESTROY
HEIGHT_ZERO
INIT ALLOC_RANGE
SEQ 20
EMPTY_AREA 0 100 5 0 21 25
EMPTY_AREA_REV 0 100 5 0 96 100
ALLOC_RANGE 0 100 3 7 0 21
ALLOC_RRANGE 0 100 3 8 0 98
EMPTY_AREA 0 20 1 -16 - -
ZERO_RANGE 40 50
EMPTY_AREA 35 60 10 0 51 60
LOAD 45 NULL
VALIDATE
";
    let t = replay::replay_text("t.txt", script).expect("parses");
    assert_eq!(t.failures, vec![], "unexpected failures");
    assert_eq!(t.failed, 0);
    // CHECK_* lines count the return code and, on success, the loads.
    assert_eq!(t.passed, 31);
    assert_eq!(t.height_passed, 2);
    assert_eq!(t.height_failed, 0);
    assert_eq!(t.summary(), "31 passed, 0 failed");
}

#[test]
fn wrong_expectations_are_reported_with_file_and_line() {
    let script = "INIT 0\nSTORE 1 5 1\nLOAD 3 2\nCOUNT 7\nERASE 1 A\nHEIGHT_EQ 9\nLOAD 3 NULL\n";
    let t = replay::replay_text("w.txt", script).expect("parses");
    assert_eq!(t.failed, 3);
    assert_eq!(t.passed, 1);
    let lines: Vec<usize> = t.failures.iter().map(|f| f.line).collect();
    assert_eq!(lines, vec![3, 4, 5]);
    assert_eq!(
        t.failures[0].to_string(),
        "w.txt:3: LOAD 3 gave 1, expected 2"
    );
    assert_eq!(t.height_failed, 1);
    assert_eq!(t.height_failures[0].line, 6);
    assert_eq!(t.summary(), "1 passed, 3 failed");
}

#[test]
fn big_integers_and_opaque_entries_stay_distinct() {
    let script =
        "INIT 0\nSTORE 0 0 18446744073709551615\nSTORE 1 1 A\nSTORE 2 2 9223372036854775807\n\
LOAD 0 18446744073709551615\nLOAD 1 A\nLOAD 2 9223372036854775807\nLOAD 1 B\n";
    let t = replay::replay_text("b.txt", script).expect("parses");
    assert_eq!(t.passed, 3);
    assert_eq!(t.failed, 1);
}

#[test]
fn bad_lines_are_errors_not_failures() {
    for (text, line) in [
        ("INIT 0\nFROB 1\n", 2),
        ("INIT 7\n", 1),
        ("INIT 0\nLOAD x 1\n", 2),
        ("INIT 0\n\nSTORE 1 2\n", 3),
        ("INIT 0\nNEXT 1\n", 2),
        ("INIT 0\nINSERT 1 2 NULL 0\n", 2),
        ("INIT 0\nSTORE 1 2 3 5\n", 2),
    ] {
        match replay::replay_text("bad.txt", text) {
            Err(ReplayError::Parse { line: l, file, .. }) => {
                assert_eq!(l, line, "{text:?}");
                assert_eq!(file, "bad.txt");
            }
            other => panic!("{text:?}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn parse_line_reads_every_field() {
    assert_eq!(
        parse_line("EMPTY_AREA_REV 5 90 10 -16 - -"),
        Ok(Op::EmptyArea {
            rev: true,
            min: 5,
            max: 90,
            size: 10,
            ret: Expect::Is(-16),
            index: Expect::Any,
            last: Expect::Any,
        })
    );
    assert_eq!(
        parse_line("ALLOC_RANGE 1 2 3 4 0 5"),
        Ok(Op::Alloc {
            rev: false,
            min: 1,
            max: 2,
            size: 3,
            value: Word::Int(4),
            ret: Expect::Is(0),
            start: Expect::Is(5),
        })
    );
    assert_eq!(parse_line("ERASE 7 -"), Ok(Op::Erase(7, Expect::Any)));
    assert_eq!(
        parse_line("LOAD 7 T"),
        Ok(Op::Load(7, Expect::Is(Word::Opaque('T'))))
    );
}

#[test]
fn replay_until_stops_at_the_line() {
    let script = "INIT 0\nSTORE 1 1 1\nSTORE 2 2 2\nSTORE 3 3 3\n";
    let (_, tree) = replay::replay_until("u.txt", script, 3).expect("parses");
    match tree {
        replay::ReplayedTree::Values(t) => assert_eq!(t.len(), 2),
        replay::ReplayedTree::Tokens(_) => panic!("integer script should use Value entries"),
    }
}

#[test]
fn unreadable_paths_are_io_errors() {
    let missing = std::path::PathBuf::from("/definitely/not/here.txt");
    assert!(matches!(
        replay::replay_paths(&[missing], |_, _| {}),
        Err(ReplayError::Io { .. })
    ));
}
