//! Markdown tables as `verdict.md` writes them: a heading row, an alignment row, then one
//! row per line, every cell between `| ` and ` |`.
//!
//! ```
//! use emc_claims::{Align, Table};
//! let mut t = Table::new(&[("arm", Align::Left), ("EMC", Align::Right)]);
//! t.row(&[&"mlp", &120]);
//! assert_eq!(t.to_string(), "| arm | EMC |\n|---|---:|\n| mlp | 120 |\n");
//! ```

use std::fmt;

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// `---`
    Left,
    /// `---:`
    Right,
    /// `:-:`
    Center,
}

impl Align {
    fn marker(self) -> &'static str {
        match self {
            Align::Left => "---",
            Align::Right => "---:",
            Align::Center => ":-:",
        }
    }
}

/// A markdown table, built row by row; its text (via `Display`) ends with a newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    text: String,
    columns: usize,
}

impl Table {
    /// A table with these column headings and alignments. An empty heading (a corner cell)
    /// is written `| |`.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        let mut text = String::from("|");
        for (heading, _) in columns {
            if heading.is_empty() {
                text.push_str(" |");
            } else {
                text.push_str(&format!(" {heading} |"));
            }
        }
        text.push_str("\n|");
        for (_, align) in columns {
            text.push_str(align.marker());
            text.push('|');
        }
        text.push('\n');
        Table {
            text,
            columns: columns.len(),
        }
    }

    /// Appends a row, one cell per column, each written as it displays (an empty cell is
    /// written `|  |`).
    pub fn row(&mut self, cells: &[&dyn fmt::Display]) -> &mut Table {
        debug_assert_eq!(cells.len(), self.columns, "cells of a row");
        self.text.push('|');
        for cell in cells {
            self.text.push_str(&format!(" {cell} |"));
        }
        self.text.push('\n');
        self
    }

    /// The table's markdown.
    pub fn into_string(self) -> String {
        self.text
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_alignments_and_rows_are_written_as_the_verdicts_have_them() {
        let mut t = Table::new(&[
            ("", Align::Left),
            ("ratio", Align::Right),
            ("chosen", Align::Center),
        ]);
        t.row(&[&"ours", &format!("{:.3}", 1.5), &""]);
        t.row(&[&"paper", &2, &"*"]);
        assert_eq!(
            t.into_string(),
            "| | ratio | chosen |\n|---|---:|:-:|\n| ours | 1.500 |  |\n| paper | 2 | * |\n"
        );
    }
}
