//! End-to-end runs of the `maple` binary.

use std::path::PathBuf;
use std::process::Command;

fn maple() -> Command {
    Command::new(env!("CARGO_BIN_EXE_maple"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("maple-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn replay_reports_failures_and_exit_codes() {
    let d = scratch("replay");
    let good = d.join("good.txt");
    let bad = d.join("bad.txt");
    std::fs::write(&good, "INIT 0\nSTORE 1 5 1\nLOAD 3 1\nCOUNT 1\n").unwrap();
    std::fs::write(&bad, "INIT 0\nSTORE 1 5 1\nLOAD 3 2\n").unwrap();

    let out = maple().arg("replay").arg(&good).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("2 passed, 0 failed"));

    let out = maple().arg("replay").arg(&d).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("bad.txt:3: LOAD 3 gave 1, expected 2"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("2 passed, 1 failed"));

    let out = maple()
        .args(["replay", "--quiet"])
        .arg(&bad)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "0 passed, 1 failed");
}

#[test]
fn replay_rejects_bad_input_with_exit_2() {
    let d = scratch("badinput");
    let f = d.join("broken.txt");
    std::fs::write(&f, "INIT 0\nSTORE one 2 3\n").unwrap();
    let out = maple().arg("replay").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.txt:2"), "{err}");

    let out = maple()
        .args(["replay", "/no/such/file.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    let out = maple().arg("replay").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "missing paths is a usage error");
}

#[test]
fn dump_prints_text_or_writes_svg() {
    let d = scratch("dump");
    let out = maple().args(["dump", "--seq", "40"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!out.stdout.is_empty());

    let svg = d.join("t.svg");
    let out = maple()
        .args(["dump", "--random", "300", "--seed", "5", "--alloc", "--svg"])
        .arg(&svg)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = std::fs::read_to_string(&svg).unwrap();
    assert!(doc.starts_with("<svg"));
    assert!(doc.matches(r#"<g class="node">"#).count() >= 1);

    let script = d.join("s.txt");
    std::fs::write(
        &script,
        "INIT 0\nSTORE 1 5 1\nSTORE 10 20 2\nSTORE 30 40 3\n",
    )
    .unwrap();
    let svg2 = d.join("s.svg");
    let out = maple()
        .args(["dump", "--until-line", "3", "--script"])
        .arg(&script)
        .arg("--svg")
        .arg(&svg2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 entries"));

    let out = maple().args(["dump", "--random", "10"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--random needs --seed");
    let out = maple().args(["dump"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a source is required");
}

#[test]
fn compare_tiny_writes_tables_csv_and_charts() {
    let d = scratch("compare");
    let out = maple()
        .args(["compare", "--tiny", "--out"])
        .arg(&d)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("n = 50"), "{stdout}");
    assert!(stdout.contains("gap_rev"), "{stdout}");
    let csv = std::fs::read_to_string(d.join("compare.csv")).unwrap();
    assert!(csv.starts_with("workload,size,impl,ns_per_op,ratio_vs_maple"));
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
        let svg = std::fs::read_to_string(d.join(format!("ratio_{n}.svg"))).unwrap();
        assert!(svg.contains("<svg"));
    }
}

#[test]
fn help_is_available_everywhere() {
    for args in [
        vec!["--help"],
        vec!["replay", "--help"],
        vec!["dump", "--help"],
        vec!["compare", "--help"],
    ] {
        let out = maple().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn spawn_writes_tables_csv_and_chart() {
    let d = scratch("spawn");
    let out = maple()
        .args(["spawn", "--seconds", "0", "--vmas", "21,121", "--out"])
        .arg(&d)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("forks per 10 s"), "{stdout}");
    assert!(stdout.contains("VMAs copied per second"), "{stdout}");
    let csv = std::fs::read_to_string(d.join("spawn.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 3, "{csv}");
    for s in ["21,rebuild,", "21,dup,", "121,dup_map,"] {
        assert!(csv.contains(s), "missing {s} in {csv}");
    }
    let svg = std::fs::read_to_string(d.join("spawn.svg")).unwrap();
    assert!(svg.contains("<svg"));
}

#[test]
fn spawn_forks_a_maps_file_and_rejects_bad_ones() {
    let d = scratch("maps");
    let maps = d.join("maps");
    std::fs::write(
        &maps,
        "555555554000-555555556000 r--p 00000000 08:01 1234 /usr/bin/cat\n\
555555556000-55555555a000 r-xp 00002000 08:01 1234 /usr/bin/cat\n\
555555560000-555555581000 rw-p 00000000 00:00 0 [heap]\n\
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n",
    )
    .unwrap();
    let out = maple()
        .args(["spawn", "--seconds", "0", "--maps"])
        .arg(&maps)
        .arg("--out")
        .arg(&d)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(d.join("spawn.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("4,"), "{csv}");

    std::fs::write(&maps, "this is not a maps line\n").unwrap();
    let out = maple()
        .args(["spawn", "--maps"])
        .arg(&maps)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = maple()
        .args(["spawn", "--maps", "/no/such/maps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = maple().args(["spawn", "--vmas", "5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "below the base layout");
    let out = maple().args(["spawn", "--seconds", "-1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn faults_prints_both_modes() {
    let out = maple()
        .args(["faults", "--threads", "1", "--seconds", "0.05"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("PerVma"), "{stdout}");
    assert!(stdout.contains("MmapLockOnly"), "{stdout}");
    assert!(stdout.contains("per-VMA locks / mmap lock"), "{stdout}");
    let out = maple().args(["faults", "--threads", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(target_os = "linux")]
#[test]
fn diff_kernel_agrees_with_the_model() {
    let out = maple()
        .args(["diff-kernel", "--steps", "200", "--seed", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("200 steps (seed 3)"), "{stdout}");
    assert!(stdout.contains("operations: mmap-fixed "), "{stdout}");
    assert!(
        stdout.contains("layout mismatches: 0, flag mismatches: 0, return-code mismatches: 0"),
        "{stdout}"
    );
}
