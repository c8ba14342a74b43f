//! The structural check (`mt_validate` plus the rules the kernel leaves implicit) and `dump`.

use alloc::format;
use alloc::string::String;
use core::fmt::{self, Write};

use crate::entry::{is_entry, zero_word, Word};
use crate::node::Shape;
use crate::path::Frame;
use crate::raw::RawTree;
use crate::write::gaps::{node_max_gap, span_len};

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

    /// Checks the subtree under `f`, which sits at `depth`.
    fn node(&mut self, f: &Frame, depth: usize) -> Result<(), ValidateError> {
        self.layout(f, depth)?;
        if f.leaf {
            self.leaf(f, depth)
        } else {
            self.internal(f, depth)
        }
    }

    /// The node's own layout (its parent checked it is live): the tree's shape for its level, strictly increasing
    /// pivots inside its limits with the last used one at its maximum, nothing after its end,
    /// and enough slots used (the rightmost spine and the root may run short).
    fn layout(&self, f: &Frame, depth: usize) -> Result<(), ValidateError> {
        let err = |o, m: String| Err(Self::fail(f, depth, o, m));
        let want = if f.leaf { Shape::Range } else { self.internal };
        if f.shape != want {
            return err(
                None,
                format!("a {:?} node where the tree keeps {want:?} ones", f.shape),
            );
        }
        let pivots = f.shape.pivots();
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
        Ok(())
    }

    /// A leaf: at the tree's height, no two empty ranges side by side (across leaves too),
    /// and no empty range at its end unless it ends the index space. Counts its entries.
    fn leaf(&mut self, f: &Frame, depth: usize) -> Result<(), ValidateError> {
        let err = |o, m: String| Err(Self::fail(f, depth, o, m));
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
        Ok(())
    }

    /// An internal node: a child in every used slot whose parent link names this slot, each
    /// child valid, and in an allocation tree every recorded gap the child's largest empty
    /// range, with the metadata naming the largest.
    fn internal(&mut self, f: &Frame, depth: usize) -> Result<(), ValidateError> {
        let err = |o, m: String| Err(Self::fail(f, depth, o, m));
        if depth == 0 && f.end + 1 < 2 {
            return err(None, "internal root with a single child".into());
        }
        for i in 0..=f.end {
            let w = f.word(i);
            if w.is_null() || w == zero_word() {
                return err(Some(i), "internal slot without a child".into());
            }
            let child = f.child(i);
            // The dead mark lives in the parent link: check it before the link itself.
            if child.node.is_dead() {
                return err(Some(i), "child is marked dead".into());
            }
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
                Self::child_gap(f, depth, i, &child)?;
            }
        }
        if f.shape == Shape::Arange {
            Self::gap_meta(f, depth)?;
        }
        Ok(())
    }

    /// The gap recorded for child `i` is its largest empty range, and fits in its range.
    fn child_gap(f: &Frame, depth: usize, i: usize, child: &Frame) -> Result<(), ValidateError> {
        let err = |o, m: String| Err(Self::fail(f, depth, o, m));
        let actual = node_max_gap(child);
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
        Ok(())
    }

    /// An allocation node's metadata: its end, and the offset of its largest gap; no gaps
    /// recorded after the end.
    fn gap_meta(f: &Frame, depth: usize) -> Result<(), ValidateError> {
        let err = |o, m: String| Err(Self::fail(f, depth, o, m));
        let best = (0..=f.end).fold(0, |best, i| {
            if f.node.gap(i) > f.node.gap(best) {
                i
            } else {
                best
            }
        });
        let (end, gap_offset) = f.node.meta();
        if end != f.end {
            return err(None, "meta end disagrees".into());
        }
        if gap_offset > end || f.node.gap(gap_offset) != f.node.gap(best) {
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
        if frame.node.is_dead() {
            return Err(Checker::fail(&frame, 0, None, "root is marked dead".into()));
        }
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

/// `validate` is only worth its calls if it rejects broken trees: each test breaks one rule
/// in an otherwise valid tree and expects that rule's complaint.
#[cfg(all(test, not(loom)))]
mod tests {
    use alloc::boxed::Box;
    use alloc::string::ToString;

    use crate::node::{Enode, Shape};
    use crate::{MapleTree, TreeKind, Value};

    /// A three-level tree of 1000 ranges `[10i, 10i + 4]` (with gaps between them).
    fn tree(kind: TreeKind) -> MapleTree<Value> {
        let mut t = MapleTree::with_kind(kind);
        for i in 0..1000u64 {
            t.store_range(10 * i..=10 * i + 4, Value::new(i)).unwrap();
        }
        t.validate().unwrap();
        t
    }

    fn root(t: &MapleTree<Value>) -> Enode {
        t.raw().root().expect("a tree with nodes")
    }

    /// The first leaf, under the first child of each level.
    fn first_leaf(t: &MapleTree<Value>) -> Enode {
        let mut e = root(t);
        while !e.is_leaf() {
            e = Enode::from_word(e.node().slot(e.shape(), 0)).unwrap();
        }
        e
    }

    /// Breaks the tree with `corrupt`, checks that `validate` names the broken rule, then
    /// mends it so that the tree drops cleanly.
    fn expect_complaint(
        t: &MapleTree<Value>,
        corrupt: impl FnOnce() -> Box<dyn FnOnce()>,
        words: &str,
    ) {
        let mend = corrupt();
        let err = t.validate().expect_err("validate accepted a broken tree");
        assert!(
            err.to_string().contains(words),
            "expected a complaint about {words:?}, got: {err}"
        );
        mend();
        t.validate().unwrap();
    }

    #[test]
    fn a_pivot_out_of_order_is_caught() {
        let t = tree(TreeKind::Plain);
        let leaf = first_leaf(&t).node();
        let old = leaf.pivot(2);
        expect_complaint(
            &t,
            || {
                // SAFETY: an owned tree with no readers; the pivot is restored before drop.
                unsafe { leaf.private() }.set_pivot(2, leaf.pivot(0));
                // SAFETY: as above.
                Box::new(move || unsafe { leaf.private() }.set_pivot(2, old))
            },
            "not above the previous pivot",
        );
    }

    #[test]
    fn two_adjacent_empty_ranges_are_caught() {
        let t = tree(TreeKind::Plain);
        let leaf = first_leaf(&t).node();
        // Slots 0..=2 are [0, 4] stored, [5, 9] empty, [10, 14] stored: empty slot 2 too.
        let old = leaf.slot(Shape::Range, 2);
        expect_complaint(
            &t,
            || {
                // SAFETY: an owned tree with no readers; the entry is put back before drop.
                unsafe { leaf.private() }.set_slot(Shape::Range, 2, core::ptr::null_mut());
                // SAFETY: as above.
                Box::new(move || unsafe { leaf.private() }.set_slot(Shape::Range, 2, old))
            },
            "two adjacent empty ranges",
        );
    }

    #[test]
    fn a_wrong_parent_link_is_caught() {
        let t = tree(TreeKind::Plain);
        let r = root(&t);
        let child = Enode::from_word(r.node().slot(r.shape(), 1))
            .unwrap()
            .node();
        let old = child.parent();
        expect_complaint(
            &t,
            || {
                // SAFETY: an owned tree with no readers; the link is restored before drop.
                unsafe { child.private() }.set_parent(Some((r.node(), 0)));
                // SAFETY: as above.
                Box::new(move || unsafe { child.private() }.set_parent(old))
            },
            "parent link",
        );
    }

    #[test]
    fn a_wrong_recorded_gap_is_caught() {
        let t = tree(TreeKind::Alloc);
        let r = root(&t);
        let (old, meta) = (r.node().gap(0), r.node().meta());
        expect_complaint(
            &t,
            || {
                // SAFETY: an owned tree with no readers; the gap is restored before drop.
                unsafe { r.node().publish_gap(0, old + 1, meta.1) };
                // SAFETY: as above.
                Box::new(move || unsafe { r.node().publish_gap(0, old, meta.1) })
            },
            "recorded gap",
        );
    }

    #[test]
    fn a_dead_root_is_caught() {
        let t = tree(TreeKind::Plain);
        let r = root(&t).node();
        expect_complaint(
            &t,
            || {
                // SAFETY: an owned tree with no readers; the root's parent link (which holds
                // the dead mark) is restored before drop.
                unsafe { r.mark_dead() };
                // SAFETY: as above.
                Box::new(move || unsafe { r.private() }.set_parent(None))
            },
            "dead",
        );
    }

    #[test]
    fn a_dead_child_is_caught() {
        let t = tree(TreeKind::Alloc);
        let leaf = first_leaf(&t).node();
        let parent = leaf.parent();
        expect_complaint(
            &t,
            || {
                // SAFETY: an owned tree with no readers; the parent link (which holds the
                // dead mark) is restored before drop.
                unsafe { leaf.mark_dead() };
                // SAFETY: as above.
                Box::new(move || unsafe { leaf.private() }.set_parent(parent))
            },
            "child is marked dead",
        );
    }
}
