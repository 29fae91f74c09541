//! Output for people: escaped, truncated cells in aligned tables, coloured on a terminal.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use audit_core::trail::{escape_text as escape, is_unsafe_char as is_unsafe};
use serde_json::Value as Json;
use unicode_width::UnicodeWidthStr;

/// How cells are shown.
#[derive(Clone, Copy, Debug)]
pub struct Look {
    /// Colour with ANSI escapes.
    pub color: bool,
    /// The widest a cell may be (in characters) before it is cut; `None`: never cut.
    pub max_cell: Option<usize>,
}

/// JSON text with every character [`escape`] would escape written as a `\\uXXXX` escape
/// instead (the same JSON value: such characters occur only inside strings, where
/// serde_json already escapes the ASCII controls but DEL; the others are layout).
pub fn safe_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) && (c == '\x7f' || !c.is_ascii_control()) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A recorded value as a cell: compact JSON (`"text"`, `5`, `null`), `-` when absent,
/// `[sealed]` for a personal value in sealed form (`--json` keeps its bytes).
pub fn value(json: Option<&Json>) -> String {
    match json {
        None => "-".to_owned(),
        Some(json) if crate::personal::sealed_key_id(json).is_some() => SEALED.to_owned(),
        Some(json) => json.to_string(),
    }
}

/// How a table shows a personal value that only the application's key opens.
pub const SEALED: &str = "[sealed]";

/// The style of an operation's name.
pub fn operation_style(op: &str) -> Style {
    let color = match op {
        "insert" => AnsiColor::Green,
        "delete" => AnsiColor::Red,
        _ => AnsiColor::Yellow,
    };
    Style::new().fg_color(Some(color.into()))
}

/// The style of an old value.
pub fn old_style() -> Style {
    Style::new().fg_color(Some(AnsiColor::Red.into()))
}

/// The style of a new value.
pub fn new_style() -> Style {
    Style::new().fg_color(Some(AnsiColor::Green.into()))
}

/// An aligned table: a bold header, then rows; each cell escaped and cut.
pub struct Table {
    look: Look,
    header: Vec<&'static str>,
    rows: Vec<Vec<(String, Style)>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(look: Look, header: Vec<&'static str>) -> Self {
        Table {
            look,
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row of plain cells.
    pub fn row(&mut self, cells: Vec<String>) {
        self.styled(cells.into_iter().map(|c| (c, Style::new())).collect());
    }

    /// Adds a row of styled cells.
    pub fn styled(&mut self, cells: Vec<(String, Style)>) {
        let max = self.look.max_cell;
        self.rows.push(
            cells
                .into_iter()
                .map(|(c, s)| (escape(&c, max), s))
                .collect(),
        );
    }

    /// The table as text, one line per row, columns two spaces apart.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (w, (cell, _)) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.width());
            }
        }
        let bold = Style::new().bold();
        let mut out = String::new();
        let header = self.header.iter().map(|h| (h.to_string(), bold));
        for row in std::iter::once(header.collect::<Vec<_>>()).chain(self.rows.iter().cloned()) {
            let mut line = String::new();
            let last = row.len().saturating_sub(1);
            for (i, ((cell, style), width)) in row.iter().zip(&widths).enumerate() {
                let pad = if i == last {
                    0
                } else {
                    width - cell.width() + 2
                };
                if self.look.color && *style != Style::new() {
                    let _ = write!(line, "{}{cell}{}", style.render(), style.render_reset());
                } else {
                    line.push_str(cell);
                }
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_its_value() {
        let value = serde_json::json!({"k\u{202e}": ["\u{1b}\u{7f}\u{9b}\u{2066}ok"]});
        for text in [
            value.to_string(),
            serde_json::to_string_pretty(&value).unwrap(),
        ] {
            let text = safe_json(&text);
            assert!(text.is_ascii(), "{text}");
            assert_eq!(serde_json::from_str::<Json>(&text).unwrap(), value);
        }
    }
}
