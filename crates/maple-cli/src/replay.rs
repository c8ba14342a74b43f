//! The conformance-script engine (`maple replay`).
//!
//! A script is a list of tree operations with their expected results, one per line (see
//! `tests/conformance/README.md` at the workspace root). [`replay_text`] parses a whole script
//! first (a bad line is a [`ReplayError`] naming its line and field, not a failed check), then
//! runs it against a fresh [`MapleTree`], validating the tree at the chosen cadence
//! ([`Validate`]) and checking every expectation. Each failure is reported as
//! `file:line: message`.
//!
//! Cost: every operation is one tree operation (logarithmic), except `VALIDATE` and the
//! cadence's validations (linear in the tree's size), `DESTROY` (linear), gap searches on a
//! plain tree (linear: plain trees keep no gaps) and `SEQ n` (n inserts, with full checks at
//! powers of two: O(n log n)). So with the default cadence a script of a million lines
//! replays in seconds; `--validate every` makes a long script quadratic.
//!
//! Counting: every expectation is one check. `CHECK_STORE`/`CHECK_INSERT` are two checks
//! (the return code, then on success the loads over the range); `EMPTY_AREA*` and
//! `ALLOC_*` are one check covering all their checked fields; a `-` field is not
//! checked, and a line whose fields are all `-` has no check. The cadence's validations
//! count as a failed check when they fail and are not counted when they pass.
//! `HEIGHT_*` checks depend on the node layout and are tallied apart.
//!
//! Entries: when every value word of a script is an integer no larger than
//! [`Value::MAX`], entries are [`Value`]s (the kernel's `xa_mk_value`). Otherwise entries
//! are `Arc<Token>`s, so `A`, `B`, `P`, `T` and integers are all distinct.

use std::fmt;
use std::ops::RangeInclusive;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maple_tree::{Entry, Error, MapleTree, TreeKind, Value};

use crate::input::{excerpt, MAX_SEQ};

/// A value word of a script: `NULL`, an integer, or one of the opaque entries
/// `A`, `B`, `P`, `T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Word {
    /// No entry.
    Null,
    /// The integer `v` stored as an entry (`xa_mk_value(v)`).
    Int(u64),
    /// An opaque, pointer-like entry named by one letter.
    Opaque(char),
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Word::Null => f.write_str("NULL"),
            Word::Int(v) => write!(f, "{v}"),
            Word::Opaque(c) => write!(f, "{c}"),
        }
    }
}

/// A non-integer-only entry payload: what an `Arc<Token>` entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Token {
    /// An integer entry (possibly larger than [`Value::MAX`]).
    Int(u64),
    /// An opaque entry `A`, `B`, `P` or `T`.
    Opaque(char),
}

/// Entry types the engine can run a script with.
pub trait ScriptEntry: Entry + Clone {
    /// Makes the entry for a non-`NULL` word, or `None` if this type cannot represent it.
    fn from_word(word: Word) -> Option<Self>;
    /// The word this entry stands for.
    fn to_word(&self) -> Word;
    /// The word an entry stands for, as the tree hands it to readers.
    fn ref_word(r: Self::Ref<'_>) -> Word;
}

impl ScriptEntry for Value {
    fn from_word(word: Word) -> Option<Self> {
        match word {
            Word::Int(v) => Value::try_new(v),
            Word::Null | Word::Opaque(_) => None,
        }
    }
    fn to_word(&self) -> Word {
        Word::Int(self.get())
    }
    fn ref_word(r: Value) -> Word {
        r.to_word()
    }
}

impl ScriptEntry for Arc<Token> {
    fn from_word(word: Word) -> Option<Self> {
        match word {
            Word::Int(v) => Some(Arc::new(Token::Int(v))),
            Word::Opaque(c) => Some(Arc::new(Token::Opaque(c))),
            Word::Null => None,
        }
    }
    fn to_word(&self) -> Word {
        token_word(self)
    }
    fn ref_word(r: maple_tree::ArcBorrow<'_, Token>) -> Word {
        token_word(&r)
    }
}

fn token_word(t: &Token) -> Word {
    match *t {
        Token::Int(v) => Word::Int(v),
        Token::Opaque(c) => Word::Opaque(c),
    }
}

/// An expected result: `-` (not checked) or a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect<T> {
    /// `-`: not checked.
    Any,
    /// Must equal this.
    Is(T),
}

impl<T: PartialEq> Expect<T> {
    fn accepts(&self, got: &T) -> bool {
        match self {
            Expect::Any => true,
            Expect::Is(want) => want == got,
        }
    }
    fn is_checked(&self) -> bool {
        matches!(self, Expect::Is(_))
    }
}

/// A height expectation (`HEIGHT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeightCheck {
    /// `HEIGHT_ZERO`
    Zero,
    /// `HEIGHT_NONZERO`
    NonZero,
    /// `HEIGHT_LT n`
    Lt(usize),
    /// `HEIGHT_GE n`
    Ge(usize),
    /// `HEIGHT_EQ n`
    Eq(usize),
}

impl HeightCheck {
    fn holds(self, h: usize) -> bool {
        match self {
            HeightCheck::Zero => h == 0,
            HeightCheck::NonZero => h != 0,
            HeightCheck::Lt(n) => h < n,
            HeightCheck::Ge(n) => h >= n,
            HeightCheck::Eq(n) => h == n,
        }
    }
}

impl fmt::Display for HeightCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeightCheck::Zero => f.write_str("0"),
            HeightCheck::NonZero => f.write_str("non-zero"),
            HeightCheck::Lt(n) => write!(f, "< {n}"),
            HeightCheck::Ge(n) => write!(f, ">= {n}"),
            HeightCheck::Eq(n) => write!(f, "{n}"),
        }
    }
}

/// One parsed script operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `INIT f`
    Init(TreeKind),
    /// `DESTROY`
    Destroy,
    /// `SET_RCU`
    SetRcu,
    /// `VALIDATE`
    Validate,
    /// `ASSERT_EMPTY`
    AssertEmpty,
    /// `SEQ n`
    Seq(u64),
    /// `STORE`/`CHECK_STORE`; `ret` is `None` when the line has no return column.
    Store {
        /// first index
        first: u64,
        /// last index
        last: u64,
        /// value stored
        value: Word,
        /// expected return code
        ret: Option<Expect<i32>>,
        /// `CHECK_STORE`: loads over the range are checked on success
        check: bool,
    },
    /// `INSERT`/`CHECK_INSERT`
    Insert {
        /// first index
        first: u64,
        /// last index
        last: u64,
        /// value inserted (never `NULL`)
        value: Word,
        /// expected return code
        ret: Expect<i32>,
        /// `CHECK_INSERT`: loads over the range are checked on success
        check: bool,
    },
    /// `ZERO_RANGE f l`
    ZeroRange {
        /// first index
        first: u64,
        /// last index
        last: u64,
    },
    /// `ERASE i e`
    Erase(u64, Expect<Word>),
    /// `LOAD i e`
    Load(u64, Expect<Word>),
    /// `COUNT n`
    Count(Expect<u64>),
    /// `FIND i e`
    Find(u64, Expect<Word>),
    /// `NEXT e`
    Next(Expect<Word>),
    /// `PREV e`
    Prev(Expect<Word>),
    /// `EMPTY_AREA`/`EMPTY_AREA_REV min max size ret index last`
    EmptyArea {
        /// highest hole (`EMPTY_AREA_REV`)
        rev: bool,
        /// lowest index of the window
        min: u64,
        /// highest index of the window
        max: u64,
        /// hole size
        size: u64,
        /// expected return code
        ret: Expect<i32>,
        /// expected first index of the hole
        index: Expect<u64>,
        /// expected last index of the hole
        last: Expect<u64>,
    },
    /// `ALLOC_RANGE`/`ALLOC_RRANGE min max size v ret start`
    Alloc {
        /// highest hole (`ALLOC_RRANGE`)
        rev: bool,
        /// lowest index of the window
        min: u64,
        /// highest index of the window
        max: u64,
        /// size to allocate
        size: u64,
        /// value stored (never `NULL`)
        value: Word,
        /// expected return code
        ret: Expect<i32>,
        /// expected start of the allocation
        start: Expect<u64>,
    },
    /// `HEIGHT_*`
    Height(HeightCheck),
}

/// A parsed script: operations with their 1-based line numbers.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// `(line, op)` in file order.
    pub ops: Vec<(usize, Op)>,
}

impl Script {
    /// True when the script needs `Arc<Token>` entries (an opaque word or an integer
    /// larger than [`Value::MAX`]).
    pub fn needs_tokens(&self) -> bool {
        let big = |w: &Word| match w {
            Word::Int(v) => *v > Value::MAX,
            Word::Opaque(_) => true,
            Word::Null => false,
        };
        let big_e = |e: &Expect<Word>| matches!(e, Expect::Is(w) if big(w));
        self.ops.iter().any(|(_, op)| match op {
            Op::Store { value, .. } | Op::Insert { value, .. } | Op::Alloc { value, .. } => {
                big(value)
            }
            Op::Erase(_, e) | Op::Load(_, e) | Op::Find(_, e) | Op::Next(e) | Op::Prev(e) => {
                big_e(e)
            }
            Op::Seq(n) => *n >= Value::MAX,
            _ => false,
        })
    }
}

/// Why a script could not be run at all (exit code 2 in the CLI).
#[derive(Debug)]
pub enum ReplayError {
    /// A file or directory could not be read.
    Io {
        /// the path
        path: PathBuf,
        /// the OS error
        error: std::io::Error,
    },
    /// A line is not a valid operation.
    Parse {
        /// file name as given
        file: String,
        /// 1-based line number
        line: usize,
        /// `OP field N (name)` when one field is at fault
        field: Option<String>,
        /// what is wrong
        message: String,
    },
    /// A directory holds no `.txt` script.
    NoScripts(PathBuf),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Io { path, error } => {
                write!(f, "{}: cannot read: {error}", path.display())
            }
            ReplayError::Parse {
                file,
                line,
                field: Some(field),
                message,
            } => write!(f, "{file}:{line}: {field}: {message}"),
            ReplayError::Parse {
                file,
                line,
                field: None,
                message,
            } => write!(f, "{file}:{line}: {message}"),
            ReplayError::NoScripts(p) => write!(f, "{}: no .txt scripts in directory", p.display()),
        }
    }
}

impl ReplayError {
    /// The file or directory the error is about.
    pub fn path_name(&self) -> String {
        match self {
            ReplayError::Io { path, .. } | ReplayError::NoScripts(path) => {
                path.display().to_string()
            }
            ReplayError::Parse { file, .. } => file.clone(),
        }
    }
}

impl std::error::Error for ReplayError {}

fn num(word: &str) -> Result<u64, String> {
    word.parse::<u64>()
        .map_err(|_| format!("`{}` is not an unsigned 64-bit number", excerpt(word)))
}

fn size_num(word: &str) -> Result<usize, String> {
    word.parse::<usize>()
        .map_err(|_| format!("`{}` is not a height", excerpt(word)))
}

fn seq_num(word: &str) -> Result<u64, String> {
    let n = num(word)?;
    if n > MAX_SEQ {
        return Err(format!("{n} is above the largest SEQ, {MAX_SEQ}"));
    }
    Ok(n)
}

fn expect_num(word: &str) -> Result<Expect<u64>, String> {
    if word == "-" {
        Ok(Expect::Any)
    } else {
        num(word).map(Expect::Is)
    }
}

fn expect_ret(word: &str) -> Result<Expect<i32>, String> {
    match word {
        "-" => Ok(Expect::Any),
        "0" => Ok(Expect::Is(0)),
        "-17" => Ok(Expect::Is(-17)),
        "-22" => Ok(Expect::Is(-22)),
        "-16" => Ok(Expect::Is(-16)),
        "-12" => Ok(Expect::Is(-12)),
        _ => Err(format!(
            "`{}` is not a return code (0, -17, -22, -16, -12 or -)",
            excerpt(word)
        )),
    }
}

fn value_word(word: &str) -> Result<Word, String> {
    match word {
        "NULL" => Ok(Word::Null),
        "A" => Ok(Word::Opaque('A')),
        "B" => Ok(Word::Opaque('B')),
        "P" => Ok(Word::Opaque('P')),
        "T" => Ok(Word::Opaque('T')),
        _ => num(word).map(Word::Int).map_err(|_| {
            format!(
                "`{}` is not a value (a number, NULL, A, B, P or T)",
                excerpt(word)
            )
        }),
    }
}

fn expect_word(word: &str) -> Result<Expect<Word>, String> {
    if word == "-" {
        Ok(Expect::Any)
    } else {
        value_word(word).map(Expect::Is)
    }
}

fn entry_word(word: &str) -> Result<Word, String> {
    match value_word(word)? {
        Word::Null => Err("NULL is not allowed here".to_string()),
        w => Ok(w),
    }
}

/// Why a line is not an operation, and which field is at fault (`None`: the line as a
/// whole, e.g. an unknown operation or a wrong number of fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// `OP field N (name)`, when one field is at fault.
    pub field: Option<String>,
    /// What is wrong (quotes at most an excerpt of the input).
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The fields of each operation, by name, for messages.
fn field_names(op: &str) -> &'static [&'static str] {
    match op {
        "INIT" => &["flags"],
        "SEQ" => &["n"],
        "STORE" | "CHECK_STORE" | "INSERT" | "CHECK_INSERT" => &["first", "last", "value", "ret"],
        "ZERO_RANGE" => &["first", "last"],
        "ERASE" | "LOAD" | "FIND" => &["index", "expected entry"],
        "COUNT" => &["expected count"],
        "NEXT" | "PREV" => &["expected entry"],
        "EMPTY_AREA" | "EMPTY_AREA_REV" => &["min", "max", "size", "ret", "index", "last"],
        "ALLOC_RANGE" | "ALLOC_RRANGE" => &["min", "max", "size", "value", "ret", "start"],
        "HEIGHT_LT" | "HEIGHT_GE" | "HEIGHT_EQ" => &["height"],
        _ => &[],
    }
}

/// The arguments of one line, so each parse error can name its field.
struct Fields<'a> {
    name: &'a str,
    args: &'a [&'a str],
}

impl Fields<'_> {
    fn get<T>(&self, i: usize, parse: fn(&str) -> Result<T, String>) -> Result<T, LineError> {
        let word = self.args.get(i).copied().unwrap_or("");
        parse(word).map_err(|message| LineError {
            field: Some(format!(
                "{} field {} ({})",
                self.name,
                i + 1,
                field_names(self.name).get(i).copied().unwrap_or("?")
            )),
            message,
        })
    }

    fn want(&self, n: usize) -> Result<(), LineError> {
        if self.args.len() == n {
            Ok(())
        } else {
            Err(LineError {
                field: None,
                message: format!(
                    "{} takes {n} argument(s), found {}",
                    self.name,
                    self.args.len()
                ),
            })
        }
    }
}

fn init_flags(word: &str) -> Result<TreeKind, String> {
    match word {
        "0" => Ok(TreeKind::Plain),
        "ALLOC_RANGE" => Ok(TreeKind::Alloc),
        f => Err(format!(
            "unknown flags `{}` (use 0 or ALLOC_RANGE)",
            excerpt(f)
        )),
    }
}

/// Parses one non-comment, non-blank line.
pub fn parse_line(line: &str) -> Result<Op, LineError> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let Some((&name, args)) = w.split_first() else {
        return Err(LineError {
            field: None,
            message: "empty line".to_string(),
        });
    };
    let f = Fields { name, args };
    let op = match name {
        "INIT" => {
            f.want(1)?;
            Op::Init(f.get(0, init_flags)?)
        }
        "DESTROY" => f.want(0).map(|_| Op::Destroy)?,
        "SET_RCU" => f.want(0).map(|_| Op::SetRcu)?,
        "VALIDATE" => f.want(0).map(|_| Op::Validate)?,
        "ASSERT_EMPTY" => f.want(0).map(|_| Op::AssertEmpty)?,
        "SEQ" => {
            f.want(1)?;
            Op::Seq(f.get(0, seq_num)?)
        }
        "STORE" | "CHECK_STORE" => {
            let check = name == "CHECK_STORE";
            if check {
                f.want(4)?;
            } else if args.len() != 3 && args.len() != 4 {
                return Err(LineError {
                    field: None,
                    message: format!("STORE takes 3 or 4 arguments, found {}", args.len()),
                });
            }
            Op::Store {
                first: f.get(0, num)?,
                last: f.get(1, num)?,
                value: f.get(2, value_word)?,
                ret: if args.len() == 4 {
                    Some(f.get(3, expect_ret)?)
                } else {
                    None
                },
                check,
            }
        }
        "INSERT" | "CHECK_INSERT" => {
            f.want(4)?;
            Op::Insert {
                first: f.get(0, num)?,
                last: f.get(1, num)?,
                value: f.get(2, entry_word)?,
                ret: f.get(3, expect_ret)?,
                check: name == "CHECK_INSERT",
            }
        }
        "ZERO_RANGE" => {
            f.want(2)?;
            Op::ZeroRange {
                first: f.get(0, num)?,
                last: f.get(1, num)?,
            }
        }
        "ERASE" => {
            f.want(2)?;
            Op::Erase(f.get(0, num)?, f.get(1, expect_word)?)
        }
        "LOAD" => {
            f.want(2)?;
            Op::Load(f.get(0, num)?, f.get(1, expect_word)?)
        }
        "COUNT" => {
            f.want(1)?;
            Op::Count(f.get(0, expect_num)?)
        }
        "FIND" => {
            f.want(2)?;
            Op::Find(f.get(0, num)?, f.get(1, expect_word)?)
        }
        "NEXT" => {
            f.want(1)?;
            Op::Next(f.get(0, expect_word)?)
        }
        "PREV" => {
            f.want(1)?;
            Op::Prev(f.get(0, expect_word)?)
        }
        "EMPTY_AREA" | "EMPTY_AREA_REV" => {
            f.want(6)?;
            Op::EmptyArea {
                rev: name == "EMPTY_AREA_REV",
                min: f.get(0, num)?,
                max: f.get(1, num)?,
                size: f.get(2, num)?,
                ret: f.get(3, expect_ret)?,
                index: f.get(4, expect_num)?,
                last: f.get(5, expect_num)?,
            }
        }
        "ALLOC_RANGE" | "ALLOC_RRANGE" => {
            f.want(6)?;
            Op::Alloc {
                rev: name == "ALLOC_RRANGE",
                min: f.get(0, num)?,
                max: f.get(1, num)?,
                size: f.get(2, num)?,
                value: f.get(3, entry_word)?,
                ret: f.get(4, expect_ret)?,
                start: f.get(5, expect_num)?,
            }
        }
        "HEIGHT_ZERO" => f.want(0).map(|_| Op::Height(HeightCheck::Zero))?,
        "HEIGHT_NONZERO" => f.want(0).map(|_| Op::Height(HeightCheck::NonZero))?,
        "HEIGHT_LT" => {
            f.want(1)?;
            Op::Height(HeightCheck::Lt(f.get(0, size_num)?))
        }
        "HEIGHT_GE" => {
            f.want(1)?;
            Op::Height(HeightCheck::Ge(f.get(0, size_num)?))
        }
        "HEIGHT_EQ" => {
            f.want(1)?;
            Op::Height(HeightCheck::Eq(f.get(0, size_num)?))
        }
        _ => {
            return Err(LineError {
                field: None,
                message: format!("unknown operation `{}`", excerpt(name)),
            })
        }
    };
    Ok(op)
}

/// Parses a whole script. `file` names it in error messages.
pub fn parse_script(file: &str, text: &str) -> Result<Script, ReplayError> {
    let mut ops = Vec::new();
    let mut cursor_ok = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |e: LineError| ReplayError::Parse {
            file: file.to_string(),
            line: i + 1,
            field: e.field,
            message: e.message,
        };
        let op = parse_line(line).map_err(err)?;
        match op {
            Op::Find(..) => cursor_ok = true,
            Op::Next(_) | Op::Prev(_) if !cursor_ok => {
                return Err(err(LineError {
                    field: None,
                    message: "NEXT/PREV must directly follow FIND, NEXT or PREV".to_string(),
                }))
            }
            Op::Next(_) | Op::Prev(_) => {}
            _ => cursor_ok = false,
        }
        ops.push((i + 1, op));
    }
    Ok(Script { ops })
}

/// One reported problem: `file:line: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// file name as given
    pub file: String,
    /// 1-based line number
    pub line: usize,
    /// what went wrong
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Results of replaying one or more scripts.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Behavioural checks that passed.
    pub passed: u64,
    /// Behavioural checks that failed (including failed validations).
    pub failed: u64,
    /// `HEIGHT_*` checks that passed.
    pub height_passed: u64,
    /// `HEIGHT_*` checks that failed (not counted in `failed`).
    pub height_failed: u64,
    /// Operations run.
    pub ops: u64,
    /// Whole-tree validations run (the cadence's and the scripts' own `VALIDATE` lines).
    pub validations: u64,
    /// Scripts run.
    pub files: u64,
    /// Behavioural failures in order.
    pub failures: Vec<Failure>,
    /// Height mismatches in order.
    pub height_failures: Vec<Failure>,
}

impl Tally {
    /// Adds another tally into this one.
    pub fn merge(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.height_passed += other.height_passed;
        self.height_failed += other.height_failed;
        self.ops += other.ops;
        self.validations += other.validations;
        self.files += other.files;
        self.failures.extend(other.failures);
        self.height_failures.extend(other.height_failures);
    }

    /// The closing line: exactly `N passed, N failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }

    /// The separate line for the layout-dependent height checks.
    pub fn height_summary(&self) -> String {
        format!(
            "height checks (layout-dependent, not counted above): {} passed, {} failed",
            self.height_passed, self.height_failed
        )
    }
}

/// The tree a script left behind, with the entry type it was run with.
pub enum ReplayedTree {
    /// Integer-only script.
    Values(MapleTree<Value>),
    /// Script with opaque or very large entries.
    Tokens(MapleTree<Arc<Token>>),
}

fn code<T>(r: &Result<T, Error>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.errno(),
    }
}

fn show<E: ScriptEntry>(e: Option<E::Ref<'_>>) -> Word {
    e.map_or(Word::Null, E::ref_word)
}

fn show_ret(want: Expect<i32>) -> String {
    match want {
        Expect::Any => "-".to_string(),
        Expect::Is(v) => v.to_string(),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Checks that every index of `first..=last` loads `want`: the stored ranges met from
/// `first` on must cover `[first, last]` without a hole and all hold `want`. That is exact
/// for any width and costs one walk plus one step per range met (one, when the store
/// worked), where loading each index would take forever on `[0, 2^64 - 1]`.
fn range_loads<E: ScriptEntry>(
    tree: &MapleTree<E>,
    first: u64,
    last: u64,
    want: Word,
) -> Result<(), String> {
    if want == Word::Null {
        return match tree.range(first..=last).next() {
            None => Ok(()),
            Some((r, e)) => {
                let at = (*r.start()).max(first);
                Err(format!(
                    "after store, LOAD {at} gave {}, expected NULL",
                    show::<E>(Some(e))
                ))
            }
        };
    }
    let mut next = first; // lowest index not yet seen to hold `want`
    for (r, e) in tree.range(first..=last) {
        let got = show::<E>(Some(e));
        if *r.start() > next {
            let got = show::<E>(tree.load(next));
            return Err(format!(
                "after store, LOAD {next} gave {got}, expected {want}"
            ));
        }
        if got != want {
            let at = (*r.start()).max(first);
            return Err(format!(
                "after store, LOAD {at} gave {got}, expected {want}"
            ));
        }
        if *r.end() >= last {
            return Ok(());
        }
        next = *r.end() + 1;
    }
    let got = show::<E>(tree.load(next));
    Err(format!(
        "after store, LOAD {next} gave {got}, expected {want}"
    ))
}

/// When the replay validates the tree on its own (a script's `VALIDATE` lines always run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validate {
    /// After every operation that changed the tree: a failure names the operation that broke
    /// it, at a cost linear in the tree's size per operation.
    Every,
    /// After every `N` operations (and before a tree is replaced or emptied, and at the end).
    EveryN(u64),
    /// Only before a tree is replaced or emptied, and at the end.
    End,
}

impl Validate {
    /// The default cadence: every 10,000 operations. A corruption is still reported within
    /// 10,000 lines of its cause, and validations cost at most (operations / 10,000) walks of
    /// the tree, so a script of a million operations replays in seconds where `every` would
    /// take hours.
    pub const DEFAULT: Validate = Validate::EveryN(10_000);

    /// Parses `every`, `end` or a positive number of operations.
    pub fn parse(s: &str) -> Result<Validate, String> {
        match s {
            "every" => Ok(Validate::Every),
            "end" => Ok(Validate::End),
            _ => match s.parse::<u64>() {
                Ok(0) | Err(_) => Err(format!(
                    "`{}` is not every, end or a positive number of operations",
                    excerpt(s)
                )),
                Ok(1) => Ok(Validate::Every),
                Ok(n) => Ok(Validate::EveryN(n)),
            },
        }
    }
}

impl Default for Validate {
    fn default() -> Self {
        Validate::DEFAULT
    }
}

impl fmt::Display for Validate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validate::Every => f.write_str("every"),
            Validate::EveryN(n) => write!(f, "{n}"),
            Validate::End => f.write_str("end"),
        }
    }
}

/// Whether an operation can change the tree.
fn writes(op: &Op) -> bool {
    matches!(
        op,
        Op::Init(_)
            | Op::Destroy
            | Op::Seq(_)
            | Op::Store { .. }
            | Op::Insert { .. }
            | Op::ZeroRange { .. }
            | Op::Erase(..)
            | Op::Alloc { .. }
    )
}

fn op_name(op: &Op) -> String {
    let name = format!("{op:?}");
    name.split([' ', '(', '{']).next().unwrap_or("").to_string()
}

struct Engine<'a, E: ScriptEntry> {
    file: &'a str,
    tree: MapleTree<E>,
    rcu: bool,
    tally: Tally,
    validate: Validate,
    /// Operations since the last validation.
    since_validate: u64,
    /// The tree changed since it last validated (or was made).
    dirty: bool,
    /// Line of the last validation that passed.
    last_valid: Option<usize>,
}

impl<'a, E: ScriptEntry> Engine<'a, E> {
    fn new(file: &'a str, validate: Validate) -> Self {
        Engine {
            file,
            tree: MapleTree::new(),
            rcu: false,
            tally: Tally {
                files: 1,
                ..Tally::default()
            },
            validate,
            since_validate: 0,
            dirty: false,
            last_valid: None,
        }
    }

    /// The cadence's validation, reported against `line` (the last operation run).
    fn auto_validate(&mut self, line: usize, after: &str) {
        self.since_validate = 0;
        if !self.dirty {
            return;
        }
        self.tally.validations += 1;
        match self.tree.validate() {
            Ok(()) => {
                self.dirty = false;
                self.last_valid = Some(line);
            }
            Err(e) => {
                let since = match (self.validate, self.last_valid) {
                    (Validate::Every, _) => String::new(),
                    (_, Some(l)) => format!(" (last valid after line {l})"),
                    (_, None) => " (not validated before)".to_string(),
                };
                self.fail(line, format!("tree invalid after {after}{since}: {e}"));
                // Report one corruption once, not at every later validation.
                self.dirty = false;
            }
        }
    }

    fn fail(&mut self, line: usize, message: String) {
        self.tally.failed += 1;
        self.tally.failures.push(Failure {
            file: self.file.to_string(),
            line,
            message,
        });
    }

    fn check(&mut self, line: usize, result: Result<(), String>) {
        match result {
            Ok(()) => self.tally.passed += 1,
            Err(m) => self.fail(line, m),
        }
    }

    fn make(&self, w: Word) -> Result<E, String> {
        E::from_word(w).ok_or_else(|| format!("internal: cannot make an entry for {w}"))
    }

    fn entry_check(what: &str, got: Word, want: Expect<Word>) -> Result<(), String> {
        if want.accepts(&got) {
            Ok(())
        } else if let Expect::Is(w) = want {
            Err(format!("{what} gave {got}, expected {w}"))
        } else {
            Ok(())
        }
    }

    /// Runs `ops[i]` (and, for FIND, the NEXT/PREV ops that follow it). Returns how many
    /// ops were consumed.
    fn run_op(&mut self, ops: &[(usize, Op)], i: usize) -> usize {
        let (line, ref op) = ops[i];
        let mut consumed = 1;
        match *op {
            Op::Init(kind) => {
                self.tree = MapleTree::with_kind(kind);
                self.rcu = false;
            }
            Op::Destroy => self.tree.clear(),
            // The owned tree keeps single-writer semantics; RCU mode must not change
            // any result, which the following checks verify.
            Op::SetRcu => self.rcu = true,
            Op::Validate => {
                // An unchanged tree that validated before validates again: skipping the walk
                // keeps a script of many VALIDATE lines linear.
                let r = if self.dirty || self.last_valid.is_none() {
                    self.tally.validations += 1;
                    self.tree
                        .validate()
                        .map_err(|e| format!("VALIDATE failed: {e}"))
                } else {
                    Ok(())
                };
                if r.is_ok() {
                    self.dirty = false;
                    self.last_valid = Some(line);
                }
                self.check(line, r);
                return consumed;
            }
            Op::AssertEmpty => {
                let r = if self.tree.is_empty() && self.tree.first().is_none() {
                    Ok(())
                } else {
                    Err(format!("tree is not empty: {} entries", self.tree.len()))
                };
                self.check(line, r);
            }
            Op::Seq(n) => {
                let r = self.seq(n);
                self.check(line, r);
            }
            Op::Store {
                first,
                last,
                value,
                ret,
                check,
            } => {
                let got = if value == Word::Null {
                    code(&self.tree.erase_range(first..=last))
                } else {
                    match self.make(value) {
                        Ok(e) => code(&self.tree.store_range(first..=last, e).map_err(|e| e.error)),
                        Err(m) => {
                            self.fail(line, m);
                            return consumed;
                        }
                    }
                };
                if let Some(want) = ret {
                    if want.is_checked() {
                        let r = if want.accepts(&got) {
                            Ok(())
                        } else {
                            Err(format!(
                                "store [{first}, {last}] returned {got}, expected {}",
                                show_ret(want)
                            ))
                        };
                        self.check(line, r);
                    }
                }
                if check && got == 0 {
                    let r = range_loads(&self.tree, first, last, value);
                    self.check(line, r);
                }
            }
            Op::Insert {
                first,
                last,
                value,
                ret,
                check,
            } => {
                let e = match self.make(value) {
                    Ok(e) => e,
                    Err(m) => {
                        self.fail(line, m);
                        return consumed;
                    }
                };
                let got = code(&self.tree.insert_range(first..=last, e).map_err(|e| e.error));
                if ret.is_checked() {
                    let r = if ret.accepts(&got) {
                        Ok(())
                    } else {
                        Err(format!(
                            "insert [{first}, {last}] returned {got}, expected {}",
                            show_ret(ret)
                        ))
                    };
                    self.check(line, r);
                }
                if check && got == 0 {
                    let r = range_loads(&self.tree, first, last, value);
                    self.check(line, r);
                }
            }
            Op::ZeroRange { first, last } => {
                if let Err(e) = self.tree.reserve_range(first..=last) {
                    self.fail(
                        line,
                        format!("ZERO_RANGE [{first}, {last}] failed: {}", e.errno()),
                    );
                }
            }
            Op::Erase(index, want) => {
                let got = match self.tree.erase(index) {
                    Ok(old) => old.map_or(Word::Null, |(_, e)| e.to_word()),
                    Err(e) => {
                        self.fail(line, format!("ERASE {index} failed: {}", e.errno()));
                        return consumed;
                    }
                };
                if want.is_checked() {
                    let r = Self::entry_check(&format!("ERASE {index}"), got, want);
                    self.check(line, r);
                }
            }
            Op::Load(index, want) => {
                let got = show::<E>(self.tree.load(index));
                let r = Self::entry_check(&format!("LOAD {index}"), got, want);
                if want.is_checked() {
                    self.check(line, r);
                }
            }
            Op::Count(want) => {
                let got = self.tree.len() as u64;
                if let Expect::Is(n) = want {
                    let r = if got == n {
                        Ok(())
                    } else {
                        Err(format!("COUNT gave {got}, expected {n}"))
                    };
                    self.check(line, r);
                }
            }
            Op::Find(index, want) => {
                consumed = self.cursor_ops(ops, i, index, want);
            }
            Op::Next(_) | Op::Prev(_) => {
                // parse_script guarantees these follow a FIND, which consumes them.
                self.fail(line, "NEXT/PREV without a FIND cursor".to_string());
            }
            Op::EmptyArea {
                rev,
                min,
                max,
                size,
                ret,
                index,
                last,
            } => {
                let r = if rev {
                    self.tree.empty_area_rev(min..=max, size)
                } else {
                    self.tree.empty_area(min..=max, size)
                };
                let name = if rev { "EMPTY_AREA_REV" } else { "EMPTY_AREA" };
                if ret.is_checked() || index.is_checked() || last.is_checked() {
                    let res = Self::area_check(name, &r, ret, index, last);
                    self.check(line, res);
                }
            }
            Op::Alloc {
                rev,
                min,
                max,
                size,
                value,
                ret,
                start,
            } => {
                let e = match self.make(value) {
                    Ok(e) => e,
                    Err(m) => {
                        self.fail(line, m);
                        return consumed;
                    }
                };
                let r = if rev {
                    self.tree.alloc_rrange(size, min..=max, e)
                } else {
                    self.tree.alloc_range(size, min..=max, e)
                }
                .map_err(|e| e.error);
                let name = if rev { "ALLOC_RRANGE" } else { "ALLOC_RANGE" };
                if ret.is_checked() || start.is_checked() {
                    let got = code(&r);
                    let res = if !ret.accepts(&got) {
                        Err(format!("{name} returned {got}, expected {}", show_ret(ret)))
                    } else {
                        match (r, start) {
                            (Ok(s), Expect::Is(want)) if s != want => {
                                Err(format!("{name} allocated at {s}, expected {want}"))
                            }
                            _ => Ok(()),
                        }
                    };
                    self.check(line, res);
                }
            }
            Op::Height(h) => {
                let got = self.tree.height();
                if h.holds(got) {
                    self.tally.height_passed += 1;
                } else {
                    self.tally.height_failed += 1;
                    self.tally.height_failures.push(Failure {
                        file: self.file.to_string(),
                        line,
                        message: format!("height (not counted): {got}, expected {h}"),
                    });
                }
                return consumed;
            }
        }
        consumed
    }

    fn area_check(
        name: &str,
        r: &Result<RangeInclusive<u64>, Error>,
        ret: Expect<i32>,
        index: Expect<u64>,
        last: Expect<u64>,
    ) -> Result<(), String> {
        let got = code(r);
        if !ret.accepts(&got) {
            return Err(format!("{name} returned {got}, expected {}", show_ret(ret)));
        }
        if let Ok(found) = r {
            if !index.accepts(found.start()) || !last.accepts(found.end()) {
                let (i, l) = (show_num(index), show_num(last));
                return Err(format!(
                    "{name} found [{}, {}], expected [{i}, {l}]",
                    found.start(),
                    found.end()
                ));
            }
        }
        Ok(())
    }

    fn cursor_ops(
        &mut self,
        ops: &[(usize, Op)],
        i: usize,
        index: u64,
        want: Expect<Word>,
    ) -> usize {
        let mut results: Vec<(usize, String, Word, Expect<Word>)> = Vec::new();
        let mut consumed = 1;
        {
            let mut cur = self.tree.cursor(index);
            let got = show::<E>(cur.find(u64::MAX).map(|(_, e)| e));
            results.push((ops[i].0, format!("FIND {index}"), got, want));
            while let Some((line, op)) = ops.get(i + consumed) {
                let (name, got, want) = match *op {
                    Op::Next(w) => ("NEXT", show::<E>(cur.next(u64::MAX).map(|(_, e)| e)), w),
                    Op::Prev(w) => ("PREV", show::<E>(cur.prev(0).map(|(_, e)| e)), w),
                    _ => break,
                };
                results.push((*line, name.to_string(), got, want));
                consumed += 1;
            }
        }
        for (line, name, got, want) in results {
            if want.is_checked() {
                let r = Self::entry_check(&name, got, want);
                self.check(line, r);
            }
        }
        consumed
    }

    /// `SEQ n`. After each insert, `i` and its neighbours `0`, `i - 1` and `i + 1` are
    /// loaded; every `j <= i` is loaded when `i + 1` is a power of two and after the last
    /// insert. That keeps `SEQ n` at O(n log n) (the kernel's check of every `j` after every
    /// insert is quadratic: `SEQ 16000` alone took 2.2 s) while any index lost is still
    /// found, at the latest at the next power of two.
    fn seq(&mut self, n: u64) -> Result<(), String> {
        for i in 0..=n {
            let e = self.make(Word::Int(i))?;
            if let Err(e) = self.tree.insert(i, e) {
                return Err(format!("SEQ: insert {i} returned {}", e.error.errno()));
            }
            let full = i == n || (i + 1).is_power_of_two();
            let check = |j: u64| -> Result<(), String> {
                let got = show::<E>(self.tree.load(j));
                if got == Word::Int(j) {
                    Ok(())
                } else {
                    Err(format!("SEQ: after inserting {i}, LOAD {j} gave {got}"))
                }
            };
            if full {
                for j in 0..=i {
                    check(j)?;
                }
            } else {
                for j in [0, i.saturating_sub(1), i] {
                    check(j)?;
                }
            }
            if let Some(next) = i.checked_add(1) {
                let got = show::<E>(self.tree.load(next));
                if got != Word::Null {
                    return Err(format!("SEQ: after inserting {i}, LOAD {next} gave {got}"));
                }
            }
        }
        Ok(())
    }

    /// Runs every op with line <= `until`, catching panics of the tree.
    fn run(&mut self, ops: &[(usize, Op)], until: usize) {
        let mut i = 0;
        while i < ops.len() && ops[i].0 <= until {
            let line = ops[i].0;
            let op = &ops[i].1;
            if matches!(op, Op::Init(_) | Op::Destroy) && i > 0 {
                // The tree is about to be replaced or emptied: its last state is checked now.
                let prev = ops[i - 1].0;
                let name = op_name(&ops[i - 1].1);
                self.auto_validate(prev, &name);
            }
            match catch_unwind(AssertUnwindSafe(|| self.run_op(ops, i))) {
                Ok(n) => {
                    self.tally.ops += n as u64;
                    self.since_validate += n as u64;
                    self.dirty |= ops[i..i + n].iter().any(|(_, op)| writes(op));
                    let due = match self.validate {
                        Validate::Every => true,
                        Validate::EveryN(k) => self.since_validate >= k,
                        Validate::End => false,
                    };
                    let last = ops[i + n - 1].0;
                    if due {
                        let name = op_name(&ops[i + n - 1].1);
                        self.auto_validate(last, &name);
                    }
                    i += n;
                }
                Err(p) => {
                    self.tally.ops += 1;
                    let msg = panic_message(p.as_ref());
                    self.fail(line, format!("panic in the tree: {msg}"));
                    // The tree is in an unknown state: drop it (catching a second panic)
                    // and skip to the next INIT, counting the skipped checks as failed.
                    let old = std::mem::replace(&mut self.tree, MapleTree::new());
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(old)));
                    self.dirty = false;
                    i += 1;
                    let mut skipped = 0u64;
                    while i < ops.len() && ops[i].0 <= until && !matches!(ops[i].1, Op::Init(_)) {
                        skipped += checks_in(&ops[i].1);
                        i += 1;
                    }
                    if skipped > 0 {
                        self.tally.failed += skipped;
                        self.tally.failures.push(Failure {
                            file: self.file.to_string(),
                            line,
                            message: format!("{skipped} check(s) skipped until the next INIT"),
                        });
                    }
                }
            }
        }
        if i > 0 {
            let (line, ref op) = ops[i - 1];
            let name = op_name(op);
            self.auto_validate(line, &name);
        }
    }
}

fn show_num(e: Expect<u64>) -> String {
    match e {
        Expect::Any => "-".to_string(),
        Expect::Is(v) => v.to_string(),
    }
}

/// Upper bound on the behavioural checks one op makes (used when skipping).
fn checks_in(op: &Op) -> u64 {
    match op {
        Op::Validate | Op::AssertEmpty | Op::Seq(_) => 1,
        Op::Store { ret, check, .. } => {
            u64::from(matches!(ret, Some(Expect::Is(_)))) + u64::from(*check)
        }
        Op::Insert { ret, check, .. } => u64::from(ret.is_checked()) + u64::from(*check),
        Op::Erase(_, e) | Op::Load(_, e) | Op::Find(_, e) | Op::Next(e) | Op::Prev(e) => {
            u64::from(e.is_checked())
        }
        Op::Count(e) => u64::from(e.is_checked()),
        Op::EmptyArea {
            ret, index, last, ..
        } => u64::from(ret.is_checked() || index.is_checked() || last.is_checked()),
        Op::Alloc { ret, start, .. } => u64::from(ret.is_checked() || start.is_checked()),
        Op::Init(_) | Op::Destroy | Op::SetRcu | Op::ZeroRange { .. } | Op::Height(_) => 0,
    }
}

fn run_typed<E: ScriptEntry>(
    file: &str,
    script: &Script,
    until: usize,
    validate: Validate,
) -> (Tally, MapleTree<E>) {
    let mut engine = Engine::<E>::new(file, validate);
    engine.run(&script.ops, until);
    (engine.tally, engine.tree)
}

/// Replays a script text with the default cadence; `file` names it in messages.
pub fn replay_text(file: &str, text: &str) -> Result<Tally, ReplayError> {
    replay_text_with(file, text, Validate::DEFAULT)
}

/// Replays a script text, validating at the given cadence.
pub fn replay_text_with(file: &str, text: &str, validate: Validate) -> Result<Tally, ReplayError> {
    replay_until_with(file, text, usize::MAX, validate).map(|(t, _)| t)
}

/// Replays the operations of a script up to and including line `until` and returns the
/// tally and the tree they left (default cadence).
pub fn replay_until(
    file: &str,
    text: &str,
    until: usize,
) -> Result<(Tally, ReplayedTree), ReplayError> {
    replay_until_with(file, text, until, Validate::DEFAULT)
}

/// [`replay_until`] at the given cadence.
pub fn replay_until_with(
    file: &str,
    text: &str,
    until: usize,
    validate: Validate,
) -> Result<(Tally, ReplayedTree), ReplayError> {
    let script = parse_script(file, text)?;
    Ok(if script.needs_tokens() {
        let (t, tree) = run_typed::<Arc<Token>>(file, &script, until, validate);
        (t, ReplayedTree::Tokens(tree))
    } else {
        let (t, tree) = run_typed::<Value>(file, &script, until, validate);
        (t, ReplayedTree::Values(tree))
    })
}

/// Reads and replays one script file.
pub fn replay_file(path: &Path, validate: Validate) -> Result<Tally, ReplayError> {
    let text = crate::input::read_text(path).map_err(|error| ReplayError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    replay_text_with(&path.display().to_string(), &text, validate)
}

/// Expands the given paths: files as they are, directories into the `.txt` files anywhere
/// below them (sorted by path). A path that cannot be read, or a directory without scripts,
/// is an error of its own; the other paths are still collected.
pub fn collect_scripts(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<ReplayError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Err(error) => errors.push(ReplayError::Io {
                path: p.clone(),
                error,
            }),
            Ok(meta) if meta.is_dir() => {
                let mut files = Vec::new();
                // Links are followed (walkdir reports a loop as an error instead of looping).
                for entry in walkdir::WalkDir::new(p)
                    .follow_links(true)
                    .sort_by_file_name()
                {
                    match entry {
                        Ok(e) => {
                            if e.file_type().is_file()
                                && e.path().extension().is_some_and(|x| x == "txt")
                            {
                                files.push(e.into_path());
                            }
                        }
                        Err(e) => {
                            let path = e.path().unwrap_or(p).to_path_buf();
                            errors.push(ReplayError::Io {
                                path,
                                error: std::io::Error::other(e.to_string()),
                            });
                        }
                    }
                }
                if files.is_empty() {
                    errors.push(ReplayError::NoScripts(p.clone()));
                }
                out.extend(files);
            }
            Ok(_) => out.push(p.clone()),
        }
    }
    (out, errors)
}

/// The result of replaying many scripts: the merged tally of those that ran, and one error
/// per file or path that could not be replayed.
#[derive(Debug, Default)]
pub struct ReplayRun {
    /// Tallies of every script that ran, merged.
    pub total: Tally,
    /// Paths that could not be read and scripts that did not parse.
    pub errors: Vec<ReplayError>,
}

/// One script's outcome, as [`replay_paths`] and [`replay_bundled`] report it.
pub enum Outcome<'a> {
    /// It ran: its own tally.
    Ran(&'a Tally),
    /// It could not run.
    Bad(&'a ReplayError),
}

/// Replays every script under `paths` (files or directories, searched recursively) and
/// merges the tallies. A bad file is reported and skipped; the others still run. `each` is
/// called with every file's name and outcome as it finishes.
pub fn replay_paths(
    paths: &[PathBuf],
    validate: Validate,
    mut each: impl FnMut(&str, Outcome<'_>),
) -> ReplayRun {
    let (files, errors) = collect_scripts(paths);
    let mut run = ReplayRun::default();
    for e in errors {
        each(&e.path_name(), Outcome::Bad(&e));
        run.errors.push(e);
    }
    for f in files {
        let name = f.display().to_string();
        match replay_file(&f, validate) {
            Ok(t) => {
                each(&name, Outcome::Ran(&t));
                run.total.merge(t);
            }
            Err(e) => {
                each(&name, Outcome::Bad(&e));
                run.errors.push(e);
            }
        }
    }
    run
}

/// The conformance scripts built into the binary: `(file name, text)` of every `.txt` file
/// of `tests/conformance/` at the workspace root when it was built, sorted by name.
pub fn bundled() -> &'static [(&'static str, &'static str)] {
    include!(concat!(env!("OUT_DIR"), "/bundled.rs"))
}

/// Replays the built-in scripts (named `bundled/NAME` in messages), as [`replay_paths`] does.
pub fn replay_bundled(validate: Validate, mut each: impl FnMut(&str, Outcome<'_>)) -> ReplayRun {
    let mut run = ReplayRun::default();
    for (name, text) in bundled() {
        let name = format!("bundled/{name}");
        match replay_text_with(&name, text, validate) {
            Ok(t) => {
                each(&name, Outcome::Ran(&t));
                run.total.merge(t);
            }
            Err(e) => {
                each(&name, Outcome::Bad(&e));
                run.errors.push(e);
            }
        }
    }
    run
}
