//! The structural check (`mt_validate` plus the rules the kernel leaves implicit) and `dump`.

use alloc::format;
use alloc::string::String;
use core::fmt::{self, Write};

use crate::entry::{is_entry, zero_word, Word};
use crate::gap::{node_max_gap, span_len};
use crate::node::Shape;
use crate::path::Frame;
use crate::raw::RawTree;

/// A broken invariant: which node, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidateError {
    /// Depth of the node (0 = root).
    pub depth: usize,
    /// The range the node covers.
    pub min: u64,
    /// The range the node covers.
    pub max: u64,
    /// Slot offset concerned, if any.
    pub offset: Option<usize>,
    /// The invariant that failed.
    pub message: String,
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node at depth {} covering [{}, {}]",
            self.depth, self.min, self.max
        )?;
        if let Some(o) = self.offset {
            write!(f, ", slot {o}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl core::error::Error for ValidateError {}

struct Checker<'a> {
    tree: &'a RawTree,
    internal: Shape,
    height: usize,
    entries: usize,
    /// Word of the last leaf slot seen, in key order (for the no-adjacent-empties rule).
    prev_word: Option<Word>,
}

impl Checker<'_> {
    fn fail(f: &Frame, depth: usize, offset: Option<usize>, msg: String) -> ValidateError {
        ValidateError {
            depth,
            min: f.min,
            max: f.max,
            offset,
            message: msg,
        }
    }

    fn node(&mut self, f: &Frame, depth: usize) -> Result<(), ValidateError> {
        let err = |o, m: String| Err(Self::fail(f, depth, o, m));
        if f.node.is_dead() {
            return err(None, "node is marked dead".into());
        }
        let want = if f.leaf { Shape::Range } else { self.internal };
        if f.shape != want {
            return err(
                None,
                format!("a {:?} node where the tree keeps {want:?} ones", f.shape),
            );
        }
        let pivots = f.shape.pivots();
        // Limits: strictly increasing pivots inside [min, max], end pivot == max, zeros after.
        let mut prev = None;
        for i in 0..f.end.min(pivots) {
            let p = f.node.pivot(i);
            if p < f.min || p >= f.max {
                return err(Some(i), format!("pivot {p} outside [{}, {})", f.min, f.max));
            }
            if prev.is_some_and(|q| p <= q) {
                return err(Some(i), format!("pivot {p} not above the previous pivot"));
            }
            prev = Some(p);
        }
        if f.end < pivots && f.node.pivot(f.end) != f.max {
            return err(
                Some(f.end),
                "last used pivot differs from the node maximum".into(),
            );
        }
        for i in f.end + 1..pivots {
            if f.node.pivot(i) != 0 {
                return err(Some(i), "non-zero pivot after the end".into());
            }
        }
        for i in f.end + 1..f.shape.slots() {
            if !f.word(i).is_null() {
                return err(Some(i), "non-empty slot after the end".into());
            }
        }
        let count = f.end + 1;
        if depth > 0 && f.max != u64::MAX && count < f.shape.min_slots() {
            return err(
                None,
                format!(
                    "only {count} slots used, fewer than {}",
                    f.shape.min_slots()
                ),
            );
        }
        if f.leaf {
            if depth + 1 != self.height {
                return err(
                    None,
                    format!("leaf at depth {depth} but height is {}", self.height),
                );
            }
            for i in 0..=f.end {
                let w = f.word(i);
                if w.is_null() && self.prev_word.is_some_and(|p: Word| p.is_null()) {
                    return err(Some(i), "two adjacent empty ranges".into());
                }
                self.prev_word = Some(w);
                if is_entry(w) {
                    self.entries += 1;
                }
            }
            if f.word(f.end).is_null() && f.max != u64::MAX {
                return err(
                    Some(f.end),
                    "node ends in an empty range below the maximum".into(),
                );
            }
            return Ok(());
        }
        if depth == 0 && count < 2 {
            return err(None, "internal root with a single child".into());
        }
        let mut best = 0;
        for i in 0..=f.end {
            let w = f.word(i);
            if w.is_null() || w == zero_word() {
                return err(Some(i), "internal slot without a child".into());
            }
            let child = f.child(i);
            match child.node.parent() {
                Some((p, slot)) if p == f.node && slot == i => {}
                other => {
                    return err(
                        Some(i),
                        format!(
                            "child's parent link is {:?}, expected this node slot {i}",
                            other.map(|(p, s)| (p.addr(), s))
                        ),
                    )
                }
            }
            self.node(&child, depth + 1)?;
            if f.shape == Shape::Arange {
                let actual = node_max_gap(&child);
                let recorded = f.node.gap(i);
                if recorded != actual {
                    return err(
                        Some(i),
                        format!("recorded gap {recorded}, largest empty range below is {actual}"),
                    );
                }
                if recorded > span_len(child.min, child.max) {
                    return err(Some(i), "gap larger than the child's range".into());
                }
                if recorded > f.node.gap(best) {
                    best = i;
                }
            }
        }
        if f.shape == Shape::Arange {
            let (end, gap_offset) = f.node.meta();
            if end != f.end {
                return err(None, "meta end disagrees".into());
            }
            if f.node.gap(gap_offset) != f.node.gap(best) || gap_offset > end {
                return err(
                    Some(gap_offset),
                    "meta gap offset does not name the largest gap".into(),
                );
            }
            for i in f.end + 1..f.shape.slots() {
                if f.node.gap(i) != 0 {
                    return err(Some(i), "non-zero gap after the end".into());
                }
            }
        }
        Ok(())
    }
}

impl RawTree {
    pub(crate) fn validate(&self) -> Result<(), ValidateError> {
        let internal = self.internal_shape();
        let height = self.height();
        let Some(root) = self.root() else {
            if height != 0 || self.len() != 0 {
                return Err(ValidateError {
                    depth: 0,
                    min: 0,
                    max: u64::MAX,
                    offset: None,
                    message: format!("empty tree with height {height} and length {}", self.len()),
                });
            }
            return Ok(());
        };
        let frame = Frame::new(root, 0, u64::MAX);
        if frame.node.parent().is_some() {
            return Err(Checker::fail(&frame, 0, None, "root has a parent".into()));
        }
        if frame.leaf && frame.end == 0 && frame.word(0).is_null() {
            return Err(Checker::fail(
                &frame,
                0,
                None,
                "root leaf holds only empty space".into(),
            ));
        }
        let mut c = Checker {
            tree: self,
            internal,
            height,
            entries: 0,
            prev_word: None,
        };
        c.node(&frame, 0)?;
        if c.entries != c.tree.len() {
            return Err(Checker::fail(
                &frame,
                0,
                None,
                format!(
                    "{} entries found but the tree counts {}",
                    c.entries,
                    c.tree.len()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn dump(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "maple tree ({:?}): height {}, {} entries",
            self.kind,
            self.height(),
            self.len()
        );
        self.for_each_node(|f, depth| {
            let indent = "  ".repeat(depth);
            let kind = if f.leaf {
                "leaf"
            } else if f.shape == Shape::Arange {
                "arange"
            } else {
                "range"
            };
            let _ = writeln!(
                out,
                "{indent}{kind} [{}, {}] {} slots",
                f.min,
                f.max,
                f.end + 1
            );
            if f.leaf {
                for i in 0..=f.end {
                    let w = f.word(i);
                    let what = if w.is_null() {
                        String::from("empty")
                    } else if w == zero_word() {
                        String::from("zero entry")
                    } else {
                        format!("{:#x}", w.addr())
                    };
                    let _ = writeln!(
                        out,
                        "{indent}  [{}, {}] {what}",
                        f.slot_min(i),
                        f.slot_max(i)
                    );
                }
            } else if f.shape == Shape::Arange {
                let gaps: alloc::vec::Vec<u64> = (0..=f.end).map(|i| f.node.gap(i)).collect();
                let _ = writeln!(out, "{indent}  gaps {gaps:?}");
            }
        });
        out
    }
}
