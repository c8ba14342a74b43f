//! Loading an untrusted /proc/PID/maps file for `maple spawn --maps`.
//!
//! maple-mm's parser ([`maple_mm::parse_maps_line`], [`maple_mm::Mm::from_proc_maps`]) is the
//! authority on what a layout is, but it answers a bad line with a bare `EINVAL`. This module
//! checks each line first so a mistake is reported with its file, line and field, then lets
//! maple-mm build the address space; if maple-mm still refuses, the first line it refuses is
//! found by building prefixes of the file (a binary search, so at most ~17 builds).

use maple_mm::{Mm, DEFAULT_MAX_MAP_COUNT, DEFAULT_TASK_SIZE, PAGE_SIZE};

use crate::input::{excerpt, InputError};

/// The columns of a maps line, in order (the path after them is optional).
pub const FIELDS: [&str; 5] = ["address range", "perms", "offset", "dev", "inode"];

fn hex(field: &str, word: &str) -> Result<u64, InputError> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(
            InputError::new(format!("`{}` is not a hexadecimal number", excerpt(word)))
                .field(field),
        );
    }
    u64::from_str_radix(word, 16).map_err(|_| {
        InputError::new(format!("`{}` does not fit in 64 bits", excerpt(word))).field(field)
    })
}

/// One checked line: its address range (`None` for a line maple-mm skips, above the task
/// size, like `[vsyscall]`).
fn check_line(line: &str) -> Result<Option<(u64, u64)>, InputError> {
    let words: Vec<&str> = line.split_whitespace().take(FIELDS.len()).collect();
    if words.len() < FIELDS.len() {
        return Err(InputError::new(format!(
            "missing (a maps line has {} columns before the path, this one has {})",
            FIELDS.len(),
            words.len()
        ))
        .field(FIELDS[words.len()]));
    }
    let range = words[0];
    let Some((s, e)) = range.split_once('-') else {
        return Err(
            InputError::new(format!("`{}` is not START-END", excerpt(range))).field(FIELDS[0]),
        );
    };
    let (start, end) = (hex(FIELDS[0], s)?, hex(FIELDS[0], e)?);
    let perms = words[1].as_bytes();
    let perms_ok = perms.len() == 4
        && matches!(perms[0], b'r' | b'-')
        && matches!(perms[1], b'w' | b'-')
        && matches!(perms[2], b'x' | b'-')
        && matches!(perms[3], b'p' | b's');
    if !perms_ok {
        return Err(
            InputError::new(format!("`{}` is not [r-][w-][x-][ps]", excerpt(words[1])))
                .field(FIELDS[1]),
        );
    }
    hex(FIELDS[2], words[2])?;
    let dev_ok = words[3]
        .split_once(':')
        .is_some_and(|(a, b)| hex(FIELDS[3], a).is_ok() && hex(FIELDS[3], b).is_ok());
    if !dev_ok {
        return Err(
            InputError::new(format!("`{}` is not MAJOR:MINOR", excerpt(words[3]))).field(FIELDS[3]),
        );
    }
    if words[4].parse::<u64>().is_err() {
        return Err(
            InputError::new(format!("`{}` is not a decimal number", excerpt(words[4])))
                .field(FIELDS[4]),
        );
    }
    if maple_mm::parse_maps_line(line).is_err() {
        return Err(InputError::new("maple-mm refuses this line (EINVAL)"));
    }
    if start >= DEFAULT_TASK_SIZE {
        return Ok(None);
    }
    let why = if start >= end {
        Some("start is not below end")
    } else if start % PAGE_SIZE != 0 || end % PAGE_SIZE != 0 {
        Some("start and end must be multiples of the 4096-byte page")
    } else if end > DEFAULT_TASK_SIZE {
        Some("end is above the task size")
    } else {
        None
    };
    match why {
        Some(w) => Err(InputError::new(format!("{}: {w}", excerpt(range))).field(FIELDS[0])),
        None => Ok(Some((start, end))),
    }
}

/// Parses and builds the address space described by a maps text; `file` names it in errors.
/// Blank lines are skipped. A text without any VMA is an error, as is one with more VMAs than
/// the map-count limit ([`DEFAULT_MAX_MAP_COUNT`]).
pub fn load(file: &str, text: &str) -> Result<Mm, InputError> {
    let located = |e: InputError, line: usize| e.in_file(file).at_line(line);
    let mut lines: Vec<usize> = Vec::new(); // 1-based numbers of the non-blank lines
    let mut vmas = 0usize;
    let mut prev_end: Option<(u64, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines.push(i + 1);
        let Some((start, end)) = check_line(line).map_err(|e| located(e, i + 1))? else {
            continue;
        };
        if let Some((p, at)) = prev_end {
            if start < p {
                return Err(located(
                    InputError::new(format!(
                        "starts at {start:#x}, inside or before the VMA of line {at} (ending at {p:#x}); lines must be in address order without overlap"
                    ))
                    .field(FIELDS[0]),
                    i + 1,
                ));
            }
        }
        prev_end = Some((end, i + 1));
        vmas += 1;
        if vmas > DEFAULT_MAX_MAP_COUNT {
            return Err(located(
                InputError::new(format!(
                    "more than {DEFAULT_MAX_MAP_COUNT} VMAs (the map-count limit)"
                )),
                i + 1,
            ));
        }
    }
    if vmas == 0 {
        return Err(
            InputError::new("no VMA in the file (empty, or only skipped lines)").in_file(file),
        );
    }
    let prefix = |k: usize| -> String {
        let last = lines[k - 1];
        text.lines().take(last).collect::<Vec<_>>().join("\n")
    };
    match Mm::from_proc_maps(text) {
        Ok(mm) => Ok(mm),
        Err(whole) => {
            // Smallest k such that the first k non-blank lines fail: line k is the culprit.
            let (mut lo, mut hi) = (1usize, lines.len());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match Mm::from_proc_maps(&prefix(mid)) {
                    Ok(mm) => {
                        mm.exit();
                        lo = mid + 1;
                    }
                    Err(_) => hi = mid,
                }
            }
            Err(located(
                InputError::new(format!("the address space refuses this VMA: {whole}")),
                lines[lo - 1],
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "555555554000-555555556000 r--p 00000000 08:01 1234 /usr/bin/cat\n\
\n\
555555556000-55555555a000 r-xp 00002000 08:01 1234 /usr/bin/cat\n\
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n\
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n";

    #[test]
    fn a_good_file_builds_its_vmas() {
        let mm = load("m", GOOD).expect("loads");
        assert_eq!(mm.map_count(), 3);
        mm.exit();
    }

    fn err(text: &str) -> InputError {
        match load("m", text) {
            Ok(mm) => {
                mm.exit();
                panic!("{text:?} loaded")
            }
            Err(e) => e,
        }
    }

    #[test]
    fn each_field_is_named() {
        for (line, field) in [
            ("5555-6666", "perms"),
            ("xyz r--p 0 08:01 1", "address range"),
            ("1000-zz r--p 0 08:01 1", "address range"),
            ("1000-2000 rwq 0 08:01 1", "perms"),
            ("1000-2000 r--p 0g 08:01 1", "offset"),
            ("1000-2000 r--p 0 0801 1", "dev"),
            ("1000-2000 r--p 0 08:01 -1", "inode"),
            ("2000-1000 r--p 0 08:01 1", "address range"),
            ("1001-2000 r--p 0 08:01 1", "address range"),
        ] {
            let e = err(&format!("{}\n{line}\n", GOOD.lines().next().unwrap_or("")));
            assert_eq!(e.line, Some(2), "{line}: {e}");
            assert_eq!(e.field.as_deref(), Some(field), "{line}: {e}");
            assert_eq!(e.file.as_deref(), Some("m"));
        }
    }

    #[test]
    fn overlap_empty_and_long_tokens() {
        let e = err("1000-3000 r--p 0 08:01 1\n2000-4000 r--p 0 08:01 1\n");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(err("").to_string().contains("no VMA"));
        assert!(err("\n  \n").to_string().contains("no VMA"));
        let long = format!("{}-2000 r--p 0 08:01 1\n", "1".repeat(100_000));
        let msg = err(&long).to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains('…'), "{msg}");
    }
}
