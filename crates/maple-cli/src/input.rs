//! Untrusted input: short excerpts of bad tokens, located input errors, and the limits every
//! number given to the command is checked against before use.

use std::fmt;

/// Longest excerpt of a bad token quoted in a message, in characters.
pub const EXCERPT_CHARS: usize = 40;

/// Most threads `soak` and `faults` start (each thread reserves a stack and a signal stack;
/// far more than the machine's cores only measures the scheduler).
pub const MAX_THREADS: usize = 256;

/// Longest run of a timed command, in seconds (one week: a soak over a long weekend fits).
pub const MAX_SECONDS: f64 = 7.0 * 86_400.0;

/// Largest `SEQ n` a script may ask for, and largest `dump --seq`/`--random` size.
pub const MAX_SEQ: u64 = 1_000_000;

/// Largest input file read (a million-line script is about 20 MB): a bigger file, or an
/// endless one like `/dev/zero`, is refused instead of filling memory.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

/// Reads a UTF-8 text file of at most [`MAX_INPUT_BYTES`]. Errors say which limit was hit or
/// on which line the text stops being UTF-8.
pub fn read_text(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_INPUT_BYTES >> 20),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let ok = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = ok.iter().filter(|&&b| b == b'\n').count() + 1;
        Error::new(
            ErrorKind::InvalidData,
            format!("line {line} is not UTF-8 text"),
        )
    })
}

/// `s` as it is when short, else its first [`EXCERPT_CHARS`] characters and `…`, so a
/// megabyte-long bad token does not flood the terminal.
pub fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

/// A bad input, located as precisely as known: `file:line: field: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// File (as given) the input came from.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<usize>,
    /// The field (column or argument) at fault.
    pub field: Option<String>,
    /// What is wrong, quoting at most an excerpt of the input.
    pub message: String,
}

impl InputError {
    /// An error with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        InputError {
            file: None,
            line: None,
            field: None,
            message: message.into(),
        }
    }
    /// Names the file.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
    /// Names the line.
    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }
    /// Names the field.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(line)) => write!(f, "line {line}: ")?,
            (None, None) => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// Parses a whole number in `min..=max`; the error quotes an excerpt of `s`.
pub fn bounded_u64(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a whole number", excerpt(s)))?;
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside {min}..={max}"))
    }
}

/// Parses a number of seconds above 0 and at most `max`.
pub fn seconds(s: &str, max: f64) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a number of seconds", excerpt(s)))?;
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(v)
    } else {
        Err(format!("{v} seconds is not above 0 and at most {max}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_long_tokens_on_character_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(100);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(
            excerpt(&"x".repeat(EXCERPT_CHARS)),
            "x".repeat(EXCERPT_CHARS)
        );
    }

    #[test]
    fn errors_name_what_they_know() {
        let e = InputError::new("bad")
            .in_file("m")
            .at_line(3)
            .field("perms");
        assert_eq!(e.to_string(), "m:3: perms: bad");
        assert_eq!(InputError::new("bad").in_file("m").to_string(), "m: bad");
        assert_eq!(InputError::new("bad").to_string(), "bad");
    }

    #[test]
    fn files_must_be_utf8_text_of_bounded_size() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t");
        std::fs::write(&p, "a\nb\n").unwrap();
        assert_eq!(read_text(&p).unwrap(), "a\nb\n");
        std::fs::write(&p, b"a\nb\n\xff\n").unwrap();
        let e = read_text(&p).unwrap_err();
        assert_eq!(e.to_string(), "line 3 is not UTF-8 text");
        let e = read_text(std::path::Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.to_string(), "larger than 256 MiB");
    }

    #[test]
    fn numbers_are_range_checked() {
        assert_eq!(bounded_u64("5", 1, 10), Ok(5));
        assert!(bounded_u64("0", 1, 10).is_err());
        assert!(bounded_u64("11", 1, 10).is_err());
        let err = bounded_u64(&"9".repeat(1000), 1, 10).unwrap_err();
        assert!(err.len() < 100, "{err}");
        assert_eq!(seconds("0.5", 10.0), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "11", "x"] {
            assert!(seconds(bad, 10.0).is_err(), "{bad}");
        }
    }
}
