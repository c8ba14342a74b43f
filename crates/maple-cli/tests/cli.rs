//! End-to-end runs of the `maple` binary, as a user runs it: exit codes and messages.

use std::fmt::Write as _;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn maple() -> Command {
    Command::cargo_bin("maple").expect("the maple binary is built")
}

/// Runs `maple` with `args` and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = maple().args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

const MAPS: &str = "555555554000-555555556000 r--p 00000000 08:01 1234 /usr/bin/cat\n\
555555556000-55555555a000 r-xp 00002000 08:01 1234 /usr/bin/cat\n\
555555560000-555555581000 rw-p 00000000 00:00 0 [heap]\n\
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

#[test]
fn replay_reports_failures_and_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.txt");
    let bad = d.path().join("bad.txt");
    std::fs::write(&good, "INIT 0\nSTORE 1 5 1\nLOAD 3 1\nCOUNT 1\n").unwrap();
    std::fs::write(&bad, "INIT 0\nSTORE 1 5 1\nLOAD 3 2\n").unwrap();

    maple()
        .arg("replay")
        .arg(&good)
        .assert()
        .code(0)
        .stdout(predicate::str::ends_with("2 passed, 0 failed\n"));
    maple()
        .arg("replay")
        .arg(d.path())
        .assert()
        .code(1)
        .stdout(contains("bad.txt:3: LOAD 3 gave 1, expected 2"))
        .stdout(predicate::str::ends_with("2 passed, 1 failed\n"));
    maple()
        .args(["replay", "--quiet"])
        .arg(&bad)
        .assert()
        .code(1)
        .stdout("0 passed, 1 failed\n");
}

#[test]
fn replay_without_a_path_runs_the_built_in_scripts() {
    let (code, out, err) = run(&["replay", "--validate", "end"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("36 file(s)"), "{out}");
    assert!(
        out.ends_with(" failed\n") && out.contains(" passed, 0 failed"),
        "{out}"
    );
}

/// Defect 9: one malformed file stopped the whole replay and discarded the other tallies.
#[test]
fn replay_reports_each_bad_file_and_keeps_the_others() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("deeper")).unwrap();
    std::fs::write(d.path().join("a.txt"), "INIT 0\nSTORE 1 5 1\nLOAD 3 1\n").unwrap();
    std::fs::write(d.path().join("b.txt"), "INIT 0\nSTORE one 2 3\n").unwrap();
    std::fs::write(d.path().join("deeper/c.txt"), "INIT 0\nLOAD 3 NULL\n").unwrap();
    let (code, out, err) = run(&["replay", path(d.path())]);
    assert_eq!(code, 2, "a bad file is an input error\n{out}{err}");
    assert!(
        err.contains("b.txt:2: STORE field 1 (first): `one` is not an unsigned 64-bit number"),
        "{err}"
    );
    assert!(out.contains("2 file(s)"), "{out}");
    assert!(out.ends_with("2 passed, 0 failed\n"), "{out}");

    let (code, _, err) = run(&["replay", "/no/such/file.txt", path(&d.path().join("a.txt"))]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/file.txt: cannot read"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["replay", path(empty.path())]);
    assert_eq!(code, 2);
    assert!(err.contains("no .txt scripts"), "{err}");

    // Endless or binary input is refused, not read into memory without end.
    let (code, _, err) = run(&["replay", "/dev/zero"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/dev/zero: cannot read: larger than 256 MiB"),
        "{err}"
    );
    let bin = d.path().join("bin.txt");
    std::fs::write(&bin, b"INIT 0\n\xc3\x28\n").unwrap();
    let (code, _, err) = run(&["dump", "--script", path(&bin)]);
    assert_eq!(code, 2);
    assert!(err.contains("line 2 is not UTF-8 text"), "{err}");
}

/// Defect 7: `SEQ 18446744073709551615` never ended; now it is an input error.
#[test]
fn replay_rejects_a_seq_above_the_maximum() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("seq.txt");
    std::fs::write(&f, "INIT 0\nSEQ 18446744073709551615\n").unwrap();
    let (code, _, err) = run(&["replay", path(&f)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "seq.txt:2: SEQ field 1 (n): 18446744073709551615 is above the largest SEQ, 1000000"
        ),
        "{err}"
    );
}

/// Defect 7: replay validated after every operation, so a million-line script took hours and
/// `SEQ n` checked every index after every insert. Both now finish; the validation count shows
/// the cadence (one per 10,000 operations by default), which a per-operation replay exceeds
/// a hundredfold.
#[test]
fn replay_of_a_million_lines_validates_at_the_cadence() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("big.txt");
    let mut s = String::with_capacity(24_000_000);
    s.push_str("INIT ALLOC_RANGE\n");
    let mut rng = fastrand::Rng::with_seed(3);
    for i in 0..999_996u64 {
        let first = rng.u64(..4_000_000);
        let last = first + rng.u64(..16);
        match i % 4 {
            0 | 1 => writeln!(s, "STORE {first} {last} {i}").unwrap(),
            2 => writeln!(s, "STORE {first} {last} NULL").unwrap(),
            _ => writeln!(s, "LOAD {first} -").unwrap(),
        }
    }
    s.push_str("INIT 0\nSEQ 1000000\nCOUNT 1000001\n");
    std::fs::write(&f, &s).unwrap();
    let (code, out, err) = run(&["replay", path(&f)]);
    assert_eq!(code, 0, "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains(" operations; validated "))
        .unwrap_or("");
    let validations: u64 = line
        .strip_prefix("1 file(s), 1000000 operations; validated every 10000 operations: ")
        .and_then(|v| v.strip_suffix(" validation(s)"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    assert!((100..=102).contains(&validations), "{line}\n{out}");
    assert!(out.ends_with("2 passed, 0 failed\n"), "{out}");
}

#[test]
fn replay_validation_cadence_is_checked() {
    let (code, _, err) = run(&["replay", "--validate", "sometimes"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`sometimes` is not every, end or a positive number"),
        "{err}"
    );
}

#[test]
fn dump_prints_text_or_writes_svg() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, _) = run(&["dump", "--seq", "40"]);
    assert_eq!(code, 0);
    assert!(!out.is_empty());

    let svg = d.path().join("t.svg");
    let (code, _, err) = run(&[
        "dump",
        "--random",
        "300",
        "--seed",
        "5",
        "--alloc",
        "--svg",
        path(&svg),
    ]);
    assert_eq!(code, 0, "{err}");
    let doc = std::fs::read_to_string(&svg).unwrap();
    assert!(doc.starts_with("<svg"), "{doc}");
    assert!(doc.matches(r#"<g class="node">"#).count() >= 1);

    let script = d.path().join("s.txt");
    std::fs::write(
        &script,
        "INIT 0\nSTORE 1 5 1\nSTORE 10 20 2\nSTORE 30 40 3\n",
    )
    .unwrap();
    let svg2 = d.path().join("s.svg");
    maple()
        .args(["dump", "--until-line", "3", "--script", path(&script)])
        .args(["--svg", path(&svg2)])
        .assert()
        .code(0)
        .stdout(contains("2 entries"));

    assert_eq!(
        run(&["dump", "--random", "10"]).0,
        2,
        "--random needs --seed"
    );
    assert_eq!(run(&["dump"]).0, 2, "a source is required");
    let (code, _, err) = run(&["dump", "--seq", "18446744073709551615"]);
    assert_eq!(code, 2);
    assert!(err.contains("outside 0..=1000000"), "{err}");
}

/// Defect 9: `dump --script` exited 0 when the script's expectations failed.
#[test]
fn dump_fails_when_the_scripts_expectations_fail() {
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("wrong.txt");
    std::fs::write(&script, "INIT 0\nSTORE 1 5 1\nLOAD 3 2\n").unwrap();
    let (code, out, err) = run(&["dump", "--script", path(&script)]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("wrong.txt:3: LOAD 3 gave 1, expected 2"),
        "{err}"
    );
    assert!(
        err.contains("1 expectation(s) of the script failed"),
        "{err}"
    );
    assert!(!out.is_empty(), "the dump is still printed");
}

#[test]
fn compare_tiny_writes_tables_csv_and_charts() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&["compare", "--tiny", "--out", path(d.path())]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("n = 50"), "{out}");
    assert!(out.contains("gap_rev"), "{out}");
    let csv = std::fs::read_to_string(d.path().join("compare.csv")).unwrap();
    assert!(csv.starts_with("workload,size,impl,ns_per_op,ratio_vs_maple\n"));
    for w in ["store", "load", "iterate", "erase", "gap_rev", "dup"] {
        for imp in ["maple", "btreemap", "rangemap", "nodit"] {
            assert!(
                csv.contains(&format!("{w},200,{imp},")),
                "missing {w} {imp}"
            );
        }
    }
    assert!(csv.contains("rcu_read,200,maple,"), "{csv}");
    assert!(csv.contains("rcu_read,200,btreemap,"), "{csv}");
    for n in [50, 200] {
        let svg = std::fs::read_to_string(d.path().join(format!("ratio_{n}.svg"))).unwrap();
        assert!(svg.contains("<svg"));
    }
}

#[test]
fn help_is_available_everywhere() {
    for cmd in [
        "replay", "dump", "compare", "spawn", "faults", "readers", "soak",
    ] {
        maple()
            .args([cmd, "--help"])
            .assert()
            .code(0)
            .stdout(contains("Usage"));
    }
    maple()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(contains("Exit codes"));
    maple()
        .args(["soak", "--help"])
        .assert()
        .stdout(contains("1..=256"));
}

#[test]
fn spawn_writes_tables_csv_and_chart() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&[
        "spawn",
        "--seconds",
        "0.001",
        "--vmas",
        "21,121",
        "--out",
        path(d.path()),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("forks per 10 s"), "{out}");
    assert!(out.contains("VMAs copied per second"), "{out}");
    let csv = std::fs::read_to_string(d.path().join("spawn.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 3, "{csv}");
    for s in ["21,rebuild,", "21,dup,", "121,dup_map,"] {
        assert!(csv.contains(s), "missing {s} in {csv}");
    }
    let svg = std::fs::read_to_string(d.path().join("spawn.svg")).unwrap();
    assert!(svg.contains("<svg"));
}

#[test]
fn spawn_forks_a_maps_file_and_rejects_bad_ones() {
    let d = tempfile::tempdir().unwrap();
    let maps = d.path().join("maps");
    std::fs::write(&maps, MAPS).unwrap();
    let (code, _, err) = run(&[
        "spawn",
        "--seconds",
        "0.001",
        "--maps",
        path(&maps),
        "--out",
        path(d.path()),
    ]);
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(d.path().join("spawn.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("4,"), "{csv}");

    std::fs::write(&maps, "this is not a maps line\n").unwrap();
    let (code, _, err) = run(&["spawn", "--maps", path(&maps)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("maps:1: address range: `this` is not START-END"),
        "{err}"
    );
    let (code, _, err) = run(&["spawn", "--maps", "/no/such/maps"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/maps: cannot read"), "{err}");
    let (code, _, err) = run(&["spawn", "--vmas", "5"]);
    assert_eq!(code, 2, "below the base layout");
    assert!(err.contains("5 VMAs is outside 21..=65530"), "{err}");
    assert_eq!(run(&["spawn", "--seconds", "-1"]).0, 2);
}

#[test]
fn spawn_repeats_every_point_and_reports_median_min_and_max() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&[
        "spawn",
        "--seconds",
        "0.001",
        "--repeats",
        "3",
        "--vmas",
        "21,121",
        "--out",
        path(d.path()),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("median [min–max] of 3 run(s) of 0.001 s"),
        "{out}"
    );
    let row = out
        .lines()
        .find(|l| l.starts_with(" 121"))
        .expect("a 121 row");
    assert_eq!(row.matches('[').count(), 3, "{row}");
    assert!(row.ends_with('%'), "{row}");
    assert!(!out.contains("kernel"), "{out}");
    let csv = std::fs::read_to_string(d.path().join("spawn.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 3, "{csv}");
    assert!(csv.starts_with(
        "vmas,strategy,runs,forks,seconds,forks_per_10s,min_forks_per_10s,max_forks_per_10s,"
    ));
    assert!(csv.contains("121,dup_map,3,"), "{csv}");
    let runs = std::fs::read_to_string(d.path().join("spawn_runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 2 * 3 * 3, "{runs}");
    // Interleaved: the second round starts with dup, the third with dup_map.
    let order: Vec<&str> = runs
        .lines()
        .skip(1)
        .take(9)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(
        order,
        ["rebuild", "dup", "dup_map", "dup", "dup_map", "rebuild", "dup_map", "rebuild", "dup"]
    );

    for bad in ["0", "-1", "1001", "x"] {
        let (code, _, err) = run(&["spawn", &format!("--repeats={bad}")]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("runs per point: at least 1"), "{bad}: {err}");
    }
    maple()
        .args(["spawn", "--help"])
        .assert()
        .code(0)
        .stdout(contains("--repeats <R>"))
        .stdout(contains("3.5 / REPEATS"))
        .stdout(contains("--kernel"));
}

/// `--kernel`: a fresh process per run forks on the running kernel; its column sits beside
/// the model's. No timing is asserted, only that it forked.
#[cfg(target_os = "linux")]
#[test]
fn spawn_kernel_forks_on_the_running_kernel_beside_the_model() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&[
        "spawn",
        "--kernel",
        "--seconds",
        "0.01",
        "--repeats",
        "2",
        "--vmas",
        "121,1621",
        "--out",
        path(d.path()),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let header = out.lines().find(|l| l.contains("rebuild/10s")).unwrap();
    for col in [
        "dup/10s",
        "dup_map/10s",
        "kernel/10s",
        "dup gain",
        "map gain",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(out.contains("vm.max_map_count is "), "{out}");
    let runs = std::fs::read_to_string(d.path().join("spawn_runs.csv")).unwrap();
    let kernel: Vec<Vec<&str>> = runs
        .lines()
        .filter(|l| l.contains(",kernel,"))
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(kernel.len(), 4, "{runs}");
    for k in &kernel {
        assert!(k[3].parse::<u64>().unwrap() > 0, "no forks: {runs}");
        // The forking process had the row's VMAs (give or take an allocator mapping made
        // between topping up and the count).
        let (row, had): (usize, usize) = (k[0].parse().unwrap(), k[6].parse().unwrap());
        assert!(had.abs_diff(row) <= 2, "{runs}");
    }
    let csv = std::fs::read_to_string(d.path().join("spawn.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 4, "{csv}");
    assert!(csv.contains("1621,kernel,2,"), "{csv}");

    // --kernel-only: one column, no gains.
    let (code, out, err) = run(&[
        "spawn",
        "--kernel-only",
        "--seconds",
        "0.01",
        "--repeats",
        "1",
        "--vmas",
        "221",
        "--out",
        path(d.path()),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let header = out.lines().find(|l| l.contains("kernel/10s")).unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["VMAs", "kernel/10s"]
    );
    assert!(out.lines().any(|l| l.starts_with(" 221 ")), "{out}");

    // Counts the kernel's limit cannot hold are skipped with the reason (when the limit is
    // the default 65530, as on most machines).
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if limit < 65530 + 64 {
        let (code, out, err) = run(&[
            "spawn",
            "--kernel-only",
            "--seconds",
            "0.01",
            "--vmas",
            "65530",
            "--out",
            path(d.path()),
        ]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains(&format!(
                "kernel: skipped 65530 VMAs: 65530 + a margin of 64 is above vm.max_map_count ({limit})"
            )),
            "{out}"
        );
    }

    let (code, _, err) = run(&["spawn", "--kernel", "--maps", "/no/such/maps"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
}

/// Defect 6: `spawn --vmas 65532` panicked in maple-mm (`spawn layout mmap: NoMem`) and exited
/// 101; a count above the map-count limit is now an input error.
#[test]
fn spawn_rejects_vma_counts_above_the_map_count_limit() {
    for n in ["65531", "65532", "1000000"] {
        let (code, _, err) = run(&["spawn", "--vmas", n]);
        assert_eq!(code, 2, "{n}: {err}");
        assert!(
            err.contains(&format!("{n} VMAs is outside 21..=65530")),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Defect 9: `--vmas 21,,`, `--seconds 0` and an empty maps file were accepted; a maps parse
/// error said only `EINVAL (-22)`; a long bad number was echoed in full.
#[test]
fn spawn_and_faults_reject_silent_or_vague_input() {
    let (code, _, err) = run(&["spawn", "--vmas", "21,,"]);
    assert_eq!(code, 2);
    assert!(err.contains("item 2 of the list is empty"), "{err}");
    let (code, _, err) = run(&["spawn", "--seconds", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("0 seconds is not above 0"), "{err}");
    let (code, _, err) = run(&["faults", "--seconds", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("0 seconds is not above 0"), "{err}");

    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let (code, _, err) = run(&["spawn", "--maps", path(&empty)]);
    assert_eq!(code, 2);
    assert!(err.contains("empty: no VMA in the file"), "{err}");

    let maps = d.path().join("maps");
    std::fs::write(
        &maps,
        format!("{MAPS}7fff00000000-7fff00001000 rw-p 00000000 08:01 12x\n"),
    )
    .unwrap();
    let (code, _, err) = run(&["spawn", "--maps", path(&maps)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("maps:5: inode: `12x` is not a decimal number"),
        "{err}"
    );

    // A 50 MB bad number in a maps file, and a 100 KB one on the command line.
    let huge = d.path().join("huge");
    let mut text = MAPS.to_string();
    text.push_str(&"7".repeat(50 << 20));
    text.push_str("-7fff00001000 rw-p 00000000 08:01 1\n");
    std::fs::write(&huge, text).unwrap();
    let (code, _, err) = run(&["spawn", "--maps", path(&huge)]);
    assert_eq!(code, 2);
    assert!(err.contains("huge:5: address range: `7777"), "{err}");
    assert!(err.len() < 300, "{} bytes of error", err.len());
    let long = "9".repeat(100_000);
    let (code, _, err) = run(&["spawn", "--vmas", &long]);
    assert_eq!(code, 2);
    assert!(
        err.contains('…') && err.len() < 400,
        "{} bytes of error",
        err.len()
    );
}

#[test]
fn faults_prints_both_modes() {
    let (code, out, err) = run(&["faults", "--threads", "1", "--seconds", "0.05"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PerVma"), "{out}");
    assert!(out.contains("MmapLockOnly"), "{out}");
    assert!(out.contains("per-VMA locks / mmap lock"), "{out}");
    assert_eq!(run(&["faults", "--threads", "0"]).0, 2);
}

/// Defect 8: `faults --threads 65535` aborted (exit 134) setting up thread stacks; the thread
/// count is now capped at 256.
#[test]
fn faults_rejects_thread_counts_above_the_cap() {
    for n in ["257", "65535", "99999999999"] {
        let (code, _, err) = run(&["faults", "--threads", n]);
        assert_eq!(code, 2, "{n}: {err}");
        assert!(err.contains("is outside 1..=256"), "{err}");
    }
    let (code, _, err) = run(&["soak", "--threads", "65535"]);
    assert_eq!(code, 2);
    assert!(err.contains("is outside 1..=256"), "{err}");
}

/// Defect 9: `readers` exited 0 with wrong answers.
#[test]
fn readers_fail_on_wrong_answers() {
    let args = [
        "readers",
        "--entries",
        "1000",
        "--rounds",
        "1",
        "--lookups",
        "20000",
    ];
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("target met: ") || l.starts_with("target missed: "))
            .count(),
        3,
        "{out}"
    );
    let mut bad = args.to_vec();
    bad.push("--inject-fault");
    let (code, _, err) = run(&bad);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("lookup(s) answered wrongly"), "{err}");
}

#[test]
fn soak_runs_clean_and_fails_on_a_fault() {
    let (code, out, err) = run(&["soak", "--seconds", "0.5", "--threads", "3"]);
    assert_eq!(code, 0, "{out}{err}");
    let line = out.lines().last().unwrap_or("");
    assert!(line.starts_with("soak: "), "{out}");
    assert!(line.contains("1 writer + 2 reader(s)"), "{line}");
    assert!(
        line.contains(" 0 failed;") && line.ends_with(": ok"),
        "{line}"
    );
    let (code, out, err) = run(&["soak", "--seconds", "0.2", "--inject-fault"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.trim_end().ends_with("FAILED"), "{out}");
    assert!(err.contains("readers' region"), "{err}");
    assert_eq!(run(&["soak", "--seconds", "0"]).0, 2);
}

#[cfg(target_os = "linux")]
#[test]
fn diff_kernel_agrees_with_the_model() {
    let (code, out, err) = run(&["diff-kernel", "--steps", "200", "--seed", "3"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("200 steps (seed 3)"), "{out}");
    assert!(out.contains("operations: mmap-fixed "), "{out}");
    assert!(
        out.contains("layout mismatches: 0, flag mismatches: 0, return-code mismatches: 0"),
        "{out}"
    );
}

/// `maple dump --seq 100000 | head -1`: a closed stdout ends the command quietly, without
/// the panic `print!` makes on a broken pipe.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_maple"))
        .args(["dump", "--seq", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone: the rest of the dump meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(first.starts_with("maple tree"), "{first}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
