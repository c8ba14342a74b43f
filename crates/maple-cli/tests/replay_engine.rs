//! Behaviour of the replay engine on small hand-written scripts.

use maple_cli::replay::{self, parse_line, Expect, Op, ReplayError, Validate, Word};

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
    let run = replay::replay_paths(&[missing], Validate::Every, |_, _| {});
    assert!(matches!(run.errors.as_slice(), [ReplayError::Io { .. }]));
    assert_eq!(run.total.files, 0);
}

#[test]
fn bad_files_are_reported_and_the_others_still_count() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    std::fs::write(d.path().join("a.txt"), "INIT 0\nSTORE 1 2 3\nLOAD 1 3\n").unwrap();
    std::fs::write(d.path().join("b.txt"), "INIT 0\nFROB\n").unwrap();
    std::fs::write(d.path().join("sub/c.txt"), "INIT 0\nLOAD 1 NULL\n").unwrap();
    std::fs::write(d.path().join("notes.md"), "not a script").unwrap();
    let mut seen = Vec::new();
    let run = replay::replay_paths(&[d.path().to_path_buf()], Validate::DEFAULT, |n, o| {
        seen.push((
            n.rsplit('/').next().unwrap_or("").to_string(),
            matches!(o, replay::Outcome::Ran(_)),
        ))
    });
    assert_eq!(
        seen,
        [
            ("a.txt".to_string(), true),
            ("b.txt".to_string(), false),
            ("c.txt".to_string(), true)
        ]
    );
    assert_eq!(run.total.files, 2);
    assert_eq!(run.total.passed, 2);
    assert!(matches!(
        run.errors.as_slice(),
        [ReplayError::Parse { line: 2, .. }]
    ));
}

#[test]
fn parse_errors_name_the_field_and_quote_an_excerpt() {
    let long = "9".repeat(50_000_000 / 1000);
    let text = format!("INIT 0\nSTORE 1 {long} 3\n");
    let e = replay::replay_text("x.txt", &text).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("x.txt:2: STORE field 2 (last): `"), "{msg}");
    assert!(msg.len() < 150, "{msg}");
    assert!(msg.contains('…'), "{msg}");
    let e = replay::replay_text("x.txt", "INIT 0\nSEQ 1000001\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.txt:2: SEQ field 1 (n): 1000001 is above the largest SEQ, 1000000"
    );
    assert!(replay::replay_text("x.txt", "INIT 0\nSEQ 1000000\nCOUNT 1000001\n").is_ok());
}

#[test]
fn validation_cadence_parses_and_reports() {
    assert_eq!(Validate::parse("every"), Ok(Validate::Every));
    assert_eq!(Validate::parse("end"), Ok(Validate::End));
    assert_eq!(Validate::parse("1"), Ok(Validate::Every));
    assert_eq!(Validate::parse("500"), Ok(Validate::EveryN(500)));
    for bad in ["0", "-1", "often", ""] {
        assert!(Validate::parse(bad).is_err(), "{bad}");
    }
    // Every cadence replays a correct script the same way.
    let script = "INIT ALLOC_RANGE\nSEQ 300\nSTORE 5 50 A\nERASE 7 A\nCOUNT 255\nVALIDATE\nINIT 0\nSTORE 1 1 1\n";
    for v in [Validate::Every, Validate::EveryN(3), Validate::End] {
        let t = replay::replay_text_with("v.txt", script, v).unwrap();
        assert_eq!((t.passed, t.failed), (4, 0), "{v}: {:?}", t.failures);
    }
}

#[test]
fn seq_checks_every_index_and_stays_fast() {
    let t = replay::replay_text_with(
        "s.txt",
        "INIT 0\nSEQ 100000\nCOUNT 100001\nLOAD 100000 100000\n",
        Validate::End,
    )
    .unwrap();
    assert_eq!((t.passed, t.failed), (3, 0), "{:?}", t.failures);
    let t = replay::replay_text("s.txt", "INIT 0\nSTORE 5 5 1\nSEQ 10\n").unwrap();
    assert_eq!(t.failed, 1);
    assert!(
        t.failures[0]
            .message
            .contains("SEQ: after inserting 4, LOAD 5 gave 1"),
        "{:?}",
        t.failures
    );
}

#[test]
fn check_store_verifies_huge_ranges_exactly() {
    let t = replay::replay_text(
        "h.txt",
        "INIT 0\nSTORE 100 200 7\nCHECK_STORE 0 18446744073709551615 9 0\nLOAD 150 9\nCHECK_STORE 10 18446744073709551614 3 0\nLOAD 18446744073709551615 9\n",
    )
    .unwrap();
    assert_eq!((t.passed, t.failed), (6, 0), "{:?}", t.failures);
}
