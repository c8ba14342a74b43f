//! The command's text tables: comfy-table, borderless and compact.

use comfy_table::{presets, CellAlignment, Table};

/// A borderless table with `header`; every column but the first is right-aligned (they hold
/// numbers).
pub fn new(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(header.iter().copied());
    for i in 1..header.len() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// The table as text lines without trailing spaces, ending in a newline.
pub fn render(t: &Table) -> String {
    let mut s = t.trim_fmt();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_are_borderless_and_right_aligned() {
        let mut t = super::new(&["name", "value"]);
        t.add_row(["a", "1"]);
        t.add_row(["bb", "100"]);
        let s = super::render(&t);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3, "{s}");
        assert!(lines[1].ends_with("  1"), "{s}");
        assert!(lines[2].ends_with("100"), "{s}");
        assert!(!s.contains('|') && !s.contains('+'), "{s}");
    }
}
