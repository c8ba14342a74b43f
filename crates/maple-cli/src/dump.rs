//! Pictures of a tree's nodes (`maple dump`): the tree's own text dump, or an SVG with
//! one box per node (its range, pivots, slot kinds and, for gap-tracking internal
//! nodes, the gaps) and an edge from every parent to each child.

use std::fmt::Write as _;
use std::ops::RangeInclusive;

use svg::node::element::{Group, Line, Rectangle, Text};
use svg::Document;

use maple_tree::{Entry, MapleTree, NodeInfo, TreeKind, Value};

use fastrand::Rng;

/// One node as drawn: a copy of what [`TreeView::visit_nodes`](maple_tree::TreeView::visit_nodes) reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    /// Depth from the root (root = 0).
    pub depth: usize,
    /// Lowest index the node covers.
    pub min: u64,
    /// Highest index the node covers.
    pub max: u64,
    /// True for a leaf.
    pub is_leaf: bool,
    /// Last index of each slot (the pivots, then the node maximum).
    pub pivots: Vec<u64>,
    /// Largest gap under each slot (gap-tracking internal nodes only).
    pub gaps: Option<Vec<u64>>,
    /// A short label for what each slot holds.
    pub slots: Vec<String>,
}

impl NodeView {
    /// Copies a node report.
    pub fn from_info(info: &NodeInfo<'_>) -> Self {
        let slots = if info.is_leaf {
            info.slots.iter().map(|k| format!("{k:?}")).collect()
        } else {
            vec!["child".to_string(); info.slot_last.len()]
        };
        NodeView {
            depth: info.depth,
            min: info.min,
            max: info.max,
            is_leaf: info.is_leaf,
            pivots: info.slot_last.clone(),
            gaps: info.is_alloc_internal.then(|| info.gaps.clone()),
            slots,
        }
    }
}

/// All nodes of `tree` in pre-order.
pub fn collect_nodes<E: Entry>(tree: &MapleTree<E>) -> Vec<NodeView> {
    let mut v = Vec::new();
    tree.visit_nodes(|info| v.push(NodeView::from_info(&info)));
    v
}

/// The parent of every node (by index in pre-order), `None` for roots.
pub fn parents(nodes: &[NodeView]) -> Vec<Option<usize>> {
    let mut last_at_depth: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        last_at_depth.truncate(n.depth);
        out.push(if n.depth == 0 {
            None
        } else {
            last_at_depth.get(n.depth - 1).copied()
        });
        if last_at_depth.len() == n.depth {
            last_at_depth.push(i);
        }
    }
    out
}

const ROW_H: f64 = 15.0;
const CHAR_W: f64 = 7.2;
const GAP_X: f64 = 14.0;
const LEVEL_GAP: f64 = 60.0;

/// Text rows drawn inside a node's box.
fn rows(n: &NodeView) -> Vec<String> {
    let mut rows = Vec::with_capacity(n.slots.len() + 1);
    let kind = if n.is_leaf { "leaf" } else { "node" };
    rows.push(format!("{kind} [{}, {}]", n.min, n.max));
    for (i, s) in n.slots.iter().enumerate() {
        let pivot = n.pivots.get(i).copied().unwrap_or(n.max);
        let mut r = format!("{i:>2} ≤{pivot} {s}");
        if let Some(g) = n.gaps.as_ref().and_then(|g| g.get(i)) {
            let _ = write!(r, " gap {g}");
        }
        rows.push(r);
    }
    rows
}

/// Renders nodes (pre-order, as [`collect_nodes`] returns them) as an SVG document.
pub fn render_svg(nodes: &[NodeView], title: &str) -> String {
    let parent = parents(nodes);
    let text: Vec<Vec<String>> = nodes.iter().map(rows).collect();
    let width: Vec<f64> = text
        .iter()
        .map(|r| 12.0 + CHAR_W * r.iter().map(|s| s.chars().count()).max().unwrap_or(4) as f64)
        .collect();
    let height: Vec<f64> = text.iter().map(|r| 8.0 + ROW_H * r.len() as f64).collect();
    let depth = nodes.iter().map(|n| n.depth).max().unwrap_or(0);
    // Row tops: each level as tall as its tallest node.
    let mut level_h = vec![0.0f64; depth + 1];
    for (n, h) in nodes.iter().zip(&height) {
        level_h[n.depth] = level_h[n.depth].max(*h);
    }
    let mut level_y = vec![40.0f64; depth + 1];
    for d in 1..=depth {
        level_y[d] = level_y[d - 1] + level_h[d - 1] + LEVEL_GAP;
    }
    // x: leaves (and childless nodes) left to right; parents centred over children.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = p {
            children[*p].push(i);
        }
    }
    let mut x = vec![0.0f64; nodes.len()];
    let mut next_x = 10.0f64;
    // Post-order placement: children first, then their parent centred above them.
    fn place(i: usize, children: &[Vec<usize>], width: &[f64], x: &mut [f64], next_x: &mut f64) {
        for &c in &children[i] {
            place(c, children, width, x, next_x);
        }
        if children[i].is_empty() {
            x[i] = *next_x;
            *next_x += width[i] + GAP_X;
        } else {
            let first = children[i][0];
            let last = children[i][children[i].len() - 1];
            let centre = (x[first] + x[last] + width[last]) / 2.0;
            x[i] = (centre - width[i] / 2.0).max(0.0);
            *next_x = next_x.max(x[i] + width[i] + GAP_X);
        }
    }
    for (i, p) in parent.iter().enumerate() {
        if p.is_none() {
            place(i, &children, &width, &mut x, &mut next_x);
        }
    }
    let total_w = x
        .iter()
        .zip(&width)
        .map(|(a, b)| a + b)
        .fold(300.0f64, f64::max)
        + 10.0;
    let total_h = level_y[depth] + level_h[depth] + 20.0;
    let (w, h) = (total_w.round(), total_h.round());
    let mut doc = Document::new()
        .set("width", w)
        .set("height", h)
        .set("viewBox", (0, 0, w, h))
        .set("font-family", "monospace")
        .set("font-size", 12)
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "white"),
        )
        .add(
            Text::new(format!(
                "{title} — {} node(s), height {}",
                nodes.len(),
                if nodes.is_empty() { 0 } else { depth + 1 }
            ))
            .set("x", 10)
            .set("y", 20)
            .set("font-size", 14),
        );
    let r1 = |v: f64| (v * 10.0).round() / 10.0;
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = *p {
            doc = doc.add(
                Line::new()
                    .set("class", "edge")
                    .set("x1", r1(x[p] + width[p] / 2.0))
                    .set("y1", r1(level_y[nodes[p].depth] + height[p]))
                    .set("x2", r1(x[i] + width[i] / 2.0))
                    .set("y2", r1(level_y[nodes[i].depth]))
                    .set("stroke", "#555"),
            );
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        let y = level_y[n.depth];
        let fill = if n.is_leaf { "#e8f4e8" } else { "#e8eef8" };
        let mut g = Group::new().set("class", "node").add(
            Rectangle::new()
                .set("x", r1(x[i]))
                .set("y", r1(y))
                .set("width", r1(width[i]))
                .set("height", r1(height[i]))
                .set("fill", fill)
                .set("stroke", "#333"),
        );
        for (row, line) in text[i].iter().enumerate() {
            g = g.add(
                Text::new(line.as_str())
                    .set("x", r1(x[i] + 6.0))
                    .set("y", r1(y + 4.0 + ROW_H * (row as f64 + 0.8))),
            );
        }
        doc = doc.add(g);
    }
    format!("{doc}\n")
}

/// A tree holding `i` at `[i, i]` for `i = 0..=n` (the scripts' `SEQ n`).
pub fn seq_tree(n: u64, kind: TreeKind) -> MapleTree<Value> {
    let mut t = MapleTree::with_kind(kind);
    for i in 0..=n.min(Value::MAX - 1) {
        // Ascending disjoint single-index inserts cannot collide.
        let _ = t.insert(i, Value::new(i));
    }
    t
}

/// A tree after `n` random stores (one in five a NULL store) over `[0, 10 n]`.
pub fn random_tree(n: u64, seed: u64, kind: TreeKind) -> MapleTree<Value> {
    let mut t = MapleTree::with_kind(kind);
    let mut rng = Rng::with_seed(seed);
    let span = n.saturating_mul(10).max(10);
    for _ in 0..n {
        let first = rng.u64(..span);
        let last = first.saturating_add(rng.u64(..20));
        let r: RangeInclusive<u64> = first..=last;
        if rng.u64(..5) == 0 {
            let _ = t.erase_range(r);
        } else {
            let _ = t.store_range(r, Value::new(first));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(depth: usize, min: u64, max: u64) -> NodeView {
        NodeView {
            depth,
            min,
            max,
            is_leaf: true,
            pivots: vec![max],
            gaps: None,
            slots: vec!["Value".into()],
        }
    }

    #[test]
    fn parents_follow_preorder_depths() {
        let root = NodeView {
            is_leaf: false,
            ..leaf(0, 0, 99)
        };
        let mid = NodeView {
            is_leaf: false,
            ..leaf(1, 0, 49)
        };
        let nodes = vec![root, mid, leaf(2, 0, 9), leaf(2, 10, 49), leaf(1, 50, 99)];
        assert_eq!(
            parents(&nodes),
            vec![None, Some(0), Some(1), Some(1), Some(0)]
        );
    }

    #[test]
    fn svg_has_one_box_per_node_and_one_edge_per_child() {
        let root = NodeView {
            is_leaf: false,
            gaps: Some(vec![3, 4]),
            ..leaf(0, 0, 99)
        };
        let nodes = vec![root, leaf(1, 0, 49), leaf(1, 50, 99)];
        let svg = render_svg(&nodes, "t<1>");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"<g class="node">"#).count(), 3);
        assert_eq!(svg.matches(r#"class="edge""#).count(), 2);
        assert!(svg.contains("gap 3"));
        assert!(svg.contains("t&lt;1&gt;"));
    }

    #[test]
    fn seq_and_random_trees_hold_what_they_should() {
        let t = seq_tree(100, TreeKind::Plain);
        assert_eq!(t.len(), 101);
        assert_eq!(t.load(57), Some(Value::new(57)));
        let a = random_tree(500, 9, TreeKind::Alloc);
        let b = random_tree(500, 9, TreeKind::Alloc);
        assert!(!a.is_empty());
        let va: Vec<_> = a.iter().collect();
        let vb: Vec<_> = b.iter().collect();
        assert_eq!(va, vb);
        assert!(a.validate().is_ok());
    }

    #[test]
    fn collect_nodes_covers_a_real_tree() {
        let t = seq_tree(300, TreeKind::Alloc);
        let nodes = collect_nodes(&t);
        assert!(!nodes.is_empty());
        assert_eq!(nodes[0].depth, 0);
        let leaves: usize = nodes.iter().filter(|n| n.is_leaf).count();
        assert!(leaves >= 1);
        let svg = render_svg(&nodes, "seq");
        assert_eq!(svg.matches(r#"<g class="node">"#).count(), nodes.len());
    }
}
