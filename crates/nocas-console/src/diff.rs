//! Side-by-side line diffs of two config versions, computed with the
//! `similar` crate and laid out in rows the console renders as they are.
//!
//! Owns only the layout: which line of each side goes on which row.

use serde::Serialize;
use similar::{DiffOp, TextDiff};

/// What a row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowKind {
    /// The same line on both sides.
    Same,
    /// A line only on the left (removed).
    Removed,
    /// A line only on the right (added).
    Added,
    /// Different lines on both sides.
    Changed,
}

/// One side of a row: the line number (from 1) and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Side {
    /// Line number.
    pub no: usize,
    /// The line, without its line break.
    pub text: String,
}

/// One row of a side-by-side diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// What changed.
    pub kind: RowKind,
    /// The left (old) line, if any.
    pub left: Option<Side>,
    /// The right (new) line, if any.
    pub right: Option<Side>,
}

/// How long a diff may search for the smallest edit before it settles for
/// a larger one (still correct, just less tidy): large unrelated texts
/// cost a bounded time.
const DEADLINE: std::time::Duration = std::time::Duration::from_millis(500);

/// The rows of `old` against `new`, line by line.
pub fn side_by_side(old: &str, new: &str) -> Vec<Row> {
    let d = TextDiff::configure().timeout(DEADLINE).diff_lines(old, new);
    let left: Vec<&str> = d.old_slices().to_vec();
    let right: Vec<&str> = d.new_slices().to_vec();
    let side = |lines: &[&str], i: usize| Side {
        no: i + 1,
        text: lines[i].trim_end_matches(['\n', '\r']).to_string(),
    };
    let mut rows = Vec::new();
    for op in d.ops() {
        match *op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => rows.extend((0..len).map(|k| Row {
                kind: RowKind::Same,
                left: Some(side(&left, old_index + k)),
                right: Some(side(&right, new_index + k)),
            })),
            DiffOp::Delete {
                old_index, old_len, ..
            } => rows.extend((0..old_len).map(|k| Row {
                kind: RowKind::Removed,
                left: Some(side(&left, old_index + k)),
                right: None,
            })),
            DiffOp::Insert {
                new_index, new_len, ..
            } => rows.extend((0..new_len).map(|k| Row {
                kind: RowKind::Added,
                left: None,
                right: Some(side(&right, new_index + k)),
            })),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => rows.extend((0..old_len.max(new_len)).map(|k| Row {
                kind: if k < old_len && k < new_len {
                    RowKind::Changed
                } else if k < old_len {
                    RowKind::Removed
                } else {
                    RowKind::Added
                },
                left: (k < old_len).then(|| side(&left, old_index + k)),
                right: (k < new_len).then(|| side(&right, new_index + k)),
            })),
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_pair_old_and_new_lines() {
        let rows = side_by_side("a\nb\nc\n", "a\nB\nc\nd\n");
        let kinds: Vec<RowKind> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                RowKind::Same,
                RowKind::Changed,
                RowKind::Same,
                RowKind::Added
            ]
        );
        assert_eq!(rows[1].left.as_ref().map(|s| s.text.as_str()), Some("b"));
        assert_eq!(rows[1].right.as_ref().map(|s| s.text.as_str()), Some("B"));
        assert_eq!(rows[3].right.as_ref().map(|s| s.no), Some(4));
    }

    #[test]
    fn identical_texts_have_only_same_rows() {
        assert!(
            side_by_side("x\ny", "x\ny")
                .iter()
                .all(|r| r.kind == RowKind::Same)
        );
        assert!(side_by_side("", "").is_empty());
    }
}
