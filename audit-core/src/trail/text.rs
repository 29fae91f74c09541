//! Showing recorded text to people: escaped and cut.

use std::fmt::Write as _;

/// Text made safe to show (terminal or web page): control characters, escapes, bidirectional overrides
/// and invisible format characters shown as `\u{..}` (or `\n`, `\t`, `\r`), and the whole
/// cut to `max` characters with a note of how much was left out.
///
/// ```
/// use audit_core::trail::escape_text;
/// assert_eq!(escape_text("\u{1b}[2J\u{202e}abc", Some(7)), "\\u{1b}[2J\\u{202e}ab…(+1 bytes)");
/// ```
pub fn escape_text(text: &str, max: Option<usize>) -> String {
    let mut out = String::new();
    for (shown, (at, c)) in text.char_indices().enumerate() {
        if max.is_some_and(|max| shown >= max) {
            let _ = write!(out, "…(+{} bytes)", text.len() - at);
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` is a character a terminal would act on, or that reorders or hides text:
/// controls, bidirectional embeddings, overrides and isolates, zero-width characters.
///
/// ```
/// use audit_core::trail::is_unsafe_char;
/// assert!(is_unsafe_char('\u{1b}')); // ESC: terminal escape sequences
/// assert!(is_unsafe_char('\u{202e}')); // right-to-left override
/// assert!(!is_unsafe_char('é'));
/// ```
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' // zero-width spaces and joiners, LRM, RLM
            | '\u{202a}'..='\u{202e}' // bidirectional embeddings and overrides
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' // bidirectional isolates
            | '\u{061c}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(escape_text("a\x1b[31mb", None), "a\\u{1b}[31mb");
        assert_eq!(escape_text("x\u{202e}gnp.exe", None), "x\\u{202e}gnp.exe");
        assert_eq!(escape_text("l1\nl2\t\r", None), "l1\\nl2\\t\\r");
        assert_eq!(
            escape_text("\u{7f}\u{9b}\u{2066}\u{feff}", None),
            "\\u{7f}\\u{9b}\\u{2066}\\u{feff}"
        );
        assert_eq!(escape_text("héllo wörld", None), "héllo wörld");
    }

    #[test]
    fn long_text_is_cut_with_a_note() {
        let huge = "é".repeat(10 * 1024 * 1024);
        let cut = escape_text(&huge, Some(5));
        assert_eq!(cut, format!("ééééé…(+{} bytes)", huge.len() - 10));
        assert_eq!(escape_text("short", Some(5)), "short");
    }
}
