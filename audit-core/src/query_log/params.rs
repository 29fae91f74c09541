//! Attributing each bound parameter to the column it is compared with, assigned to or
//! inserted into, from the tokens around its placeholder.

use super::parse::table_ref;
use super::tokens::Token;

/// Where one bound parameter's value goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot<'a> {
    /// Compared with or assigned to this column (`table` when the SQL qualifies it).
    Column {
        table: Option<&'a str>,
        column: &'a str,
    },
    /// Not a column's value (`LIMIT`, `OFFSET`).
    NotColumn,
    /// Could not be attributed.
    Unknown,
}

/// The parameters of an `INSERT ... (columns) VALUES (...), (...)`: each placeholder inside
/// the n-th value of a row belongs to the n-th column. Keyed by token position.
pub(super) fn insert_values<'a>(tokens: &[Token<'a>]) -> Vec<(usize, Slot<'a>)> {
    let mut out = Vec::new();
    let Some(into) = tokens.iter().position(|t| t.is_keyword("into")) else {
        return out;
    };
    if !tokens
        .first()
        .is_some_and(|t| t.is_keyword("insert") || t.is_keyword("replace"))
    {
        return out;
    }
    let mut i = into + 1;
    let Some(table) = table_ref(tokens, &mut i) else {
        return out;
    };
    if tokens.get(i) != Some(&Token::Punct('(')) {
        return out;
    }
    let mut columns = Vec::new();
    i += 1;
    while let Some(token) = tokens.get(i) {
        match token {
            Token::Punct(')') => break,
            Token::Punct(',') => {}
            other => columns.push(other.ident()),
        }
        i += 1;
    }
    i += 1;
    if !tokens.get(i).is_some_and(|t| t.is_keyword("values")) {
        return out;
    }
    i += 1;
    let mut depth = 0usize;
    let mut column = 0usize;
    while let Some(token) = tokens.get(i) {
        match token {
            Token::Punct('(') => {
                if depth == 0 {
                    column = 0;
                }
                depth += 1;
            }
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Punct(',') if depth == 1 => column += 1,
            Token::Param(_) if depth >= 1 => {
                let slot = match columns.get(column).copied().flatten() {
                    Some(name) => Slot::Column {
                        table: Some(table),
                        column: name,
                    },
                    None => Slot::Unknown,
                };
                out.push((i, slot));
            }
            Token::Punct(',') if depth == 0 => {}
            _ if depth == 0 => break,
            _ => {}
        }
        i += 1;
    }
    out
}

/// The slot of the placeholder at token `at`, from the comparison or assignment around it.
pub(super) fn slot_at<'a>(tokens: &[Token<'a>], at: usize) -> Slot<'a> {
    let before = |n: usize| at.checked_sub(n).and_then(|i| tokens.get(i)).copied();
    if before(1).is_some_and(|t| t.is_keyword("limit") || t.is_keyword("offset")) {
        return Slot::NotColumn;
    }
    // `col IN ($1, $2)`: walk back over the list to `IN`.
    let mut i = at;
    while i > 0 && matches!(tokens[i - 1], Token::Param(_) | Token::Punct(',')) {
        i -= 1;
    }
    if i > 0 && tokens[i - 1] == Token::Punct('(') && i >= 2 && tokens[i - 2].is_keyword("in") {
        let mut op_start = i - 2;
        if op_start > 0 && tokens[op_start - 1].is_keyword("not") {
            op_start -= 1;
        }
        return column_ending_at(tokens, op_start);
    }
    // `col BETWEEN $1 AND $2`.
    if before(1).is_some_and(|t| t.is_keyword("and"))
        && matches!(before(2), Some(Token::Param(_)))
        && before(3).is_some_and(|t| t.is_keyword("between"))
    {
        return column_ending_at(tokens, at - 3);
    }
    if let Some(op_start) = operator_before(tokens, at) {
        return column_ending_at(tokens, op_start);
    }
    // `$1 = col`.
    if let Some(column_start) = operator_after(tokens, at + 1) {
        return column_starting_at(tokens, column_start);
    }
    Slot::Unknown
}

fn is_operator_char(token: Token<'_>) -> bool {
    matches!(token, Token::Punct('=' | '<' | '>' | '!'))
}

const OPERATOR_WORDS: &[&str] = &["like", "ilike", "between", "is", "glob", "regexp"];

/// The first token of the comparison operator ending just before `at`.
fn operator_before(tokens: &[Token<'_>], at: usize) -> Option<usize> {
    let mut i = at;
    while i > 0 && is_operator_char(tokens[i - 1]) {
        i -= 1;
    }
    if i == at {
        let word = tokens.get(at.checked_sub(1)?)?;
        if !OPERATOR_WORDS.iter().any(|k| word.is_keyword(k)) {
            return None;
        }
        i = at - 1;
    }
    while i > 0 && (tokens[i - 1].is_keyword("not") || tokens[i - 1].is_keyword("distinct")) {
        i -= 1;
    }
    Some(i)
}

/// The index just past the comparison operator starting at `from`, if there is one.
fn operator_after(tokens: &[Token<'_>], from: usize) -> Option<usize> {
    let mut i = from;
    while tokens.get(i).is_some_and(|t| is_operator_char(*t)) {
        i += 1;
    }
    (i > from).then_some(i)
}

/// The column reference (`col` or `t.col`) whose last token is just before `end`.
fn column_ending_at<'a>(tokens: &[Token<'a>], end: usize) -> Slot<'a> {
    let Some(column) = end
        .checked_sub(1)
        .and_then(|i| tokens.get(i))
        .and_then(|t| t.ident())
    else {
        return Slot::Unknown;
    };
    let table = match end.checked_sub(3) {
        Some(i) if tokens[i + 1] == Token::Punct('.') => tokens[i].ident(),
        _ => None,
    };
    Slot::Column { table, column }
}

/// The column reference (`col` or `t.col`) starting at `start`.
fn column_starting_at<'a>(tokens: &[Token<'a>], start: usize) -> Slot<'a> {
    let Some(first) = tokens.get(start).and_then(|t| t.ident()) else {
        return Slot::Unknown;
    };
    if tokens.get(start + 1) == Some(&Token::Punct('.'))
        && let Some(column) = tokens.get(start + 2).and_then(|t| t.ident())
    {
        return Slot::Column {
            table: Some(first),
            column,
        };
    }
    Slot::Column {
        table: None,
        column: first,
    }
}
