//! Attributing each bound parameter to the column it is compared with, assigned to or
//! inserted into, from the tokens around its placeholder. Only plain shapes are attributed
//! (`col = ?` between clause boundaries, `col IN (?, ?)`, `col BETWEEN ? AND ?`, a value of
//! an `INSERT` row that is the placeholder alone or cast); anything else is unknown.

use super::parse::table_ref;
use super::tokens::Token;

/// Where one bound parameter's value goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot<'a> {
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

/// One placeholder of an `INSERT` row attributed to its column.
#[derive(Clone, Copy, Debug)]
struct Placed {
    token: usize,
    param: usize,
    row: usize,
    column: usize,
}

/// The rows of an `INSERT ... (columns) VALUES (...), (...)`.
#[derive(Clone, Debug)]
pub(super) struct Insert<'a> {
    pub table: &'a str,
    columns: Vec<&'a str>,
    placed: Vec<Placed>,
}

impl<'a> Insert<'a> {
    /// The slot of the placeholder at token `position`, when it is a plain row value.
    pub fn slot_at(&self, position: usize) -> Option<Slot<'a>> {
        // `placed` is in token order.
        let at = self
            .placed
            .binary_search_by_key(&position, |p| p.token)
            .ok()?;
        Some(Slot::Column {
            table: Some(self.table),
            column: self.columns[self.placed[at].column],
        })
    }

    /// For each of `params` parameters, the row it is a plain value of, and the parameters
    /// bound to `key_columns` in each row (`None` where a row's value is not plain).
    pub fn rows(&self, params: usize, key_columns: [&str; 2]) -> Rows {
        let mut row_of = vec![None; params];
        let rows = self.placed.last().map_or(0, |p| p.row + 1);
        let mut keys = vec![[None; 2]; rows];
        let key_index =
            key_columns.map(|k| self.columns.iter().position(|c| c.eq_ignore_ascii_case(k)));
        for placed in &self.placed {
            if let Some(slot) = row_of.get_mut(placed.param) {
                *slot = Some(placed.row);
            }
            for (k, index) in key_index.iter().enumerate() {
                if *index == Some(placed.column) {
                    keys[placed.row][k] = Some(placed.param);
                }
            }
        }
        Rows { row_of, keys }
    }
}

/// The rows of an [`Insert`], indexed by parameter (see [`Insert::rows`]).
pub(super) struct Rows {
    pub row_of: Vec<Option<usize>>,
    pub keys: Vec<[Option<usize>; 2]>,
}

const INSERT_MODIFIERS: &[&str] = &[
    "or",
    "rollback",
    "abort",
    "replace",
    "fail",
    "ignore",
    "low_priority",
    "high_priority",
    "delayed",
    "into",
];

/// The rows of an `INSERT` (or `REPLACE`) with a column list and `VALUES`.
pub(super) fn insert_rows<'a>(tokens: &[Token<'a>]) -> Option<Insert<'a>> {
    if !tokens.first()?.is_any(&["insert", "replace"]) {
        return None;
    }
    let mut i = 1;
    while tokens.get(i).is_some_and(|t| t.is_any(INSERT_MODIFIERS)) {
        i += 1;
    }
    let table = table_ref(tokens, &mut i)?;
    if tokens.get(i).is_some_and(|t| t.is_keyword("as")) {
        i += 2;
    }
    if tokens.get(i) != Some(&Token::Punct('(')) {
        return None;
    }
    let mut columns = Vec::new();
    i += 1;
    loop {
        columns.push(tokens.get(i)?.ident()?);
        match tokens.get(i + 1)? {
            Token::Punct(',') => i += 2,
            Token::Punct(')') => break,
            _ => return None,
        }
    }
    i += 2;
    if !tokens.get(i)?.is_any(&["values", "value"]) {
        return None;
    }
    i += 1;
    let mut placed = Vec::new();
    let mut row = 0;
    while tokens.get(i) == Some(&Token::Punct('(')) {
        let mut column = 0;
        let mut depth = 1;
        let mut start = i + 1;
        i += 1;
        while depth > 0 {
            match tokens.get(i)? {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') if depth == 1 => {
                    place(tokens, start..i, row, column, &columns, &mut placed);
                    depth = 0;
                }
                Token::Punct(')') => depth -= 1,
                Token::Punct(',') if depth == 1 => {
                    place(tokens, start..i, row, column, &columns, &mut placed);
                    column += 1;
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        row += 1;
        if tokens.get(i) == Some(&Token::Punct(',')) {
            i += 1;
        } else {
            break;
        }
    }
    Some(Insert {
        table,
        columns,
        placed,
    })
}

/// Attributes the value `tokens[range]` of `row` to `columns[column]` when it is a lone
/// placeholder, possibly cast or parenthesised (`?`, `CAST(? AS SIGNED)`, `$1::jsonb`).
fn place(
    tokens: &[Token<'_>],
    range: std::ops::Range<usize>,
    row: usize,
    column: usize,
    columns: &[&str],
    placed: &mut Vec<Placed>,
) {
    let value = &tokens[range.clone()];
    let mut params = value.iter().enumerate().filter_map(|(k, t)| match t {
        Token::Param(p) => Some((range.start + k, *p)),
        _ => None,
    });
    let (Some((token, param)), None) = (params.next(), params.next()) else {
        return;
    };
    let plain = value.iter().all(|t| match t {
        Token::Param(_) | Token::Punct('(' | ')' | ':') => true,
        Token::Word(w) => {
            !["select", "case", "when", "values"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
                && !columns.iter().any(|c| c.eq_ignore_ascii_case(w))
        }
        _ => false,
    });
    if plain && column < columns.len() {
        placed.push(Placed {
            token,
            param,
            row,
            column,
        });
    }
}

/// Tokens that may stand right before a comparison's column (or a reversed one's `?`).
fn left_boundary(token: Option<Token<'_>>) -> bool {
    match token {
        None => true,
        Some(Token::Punct('(' | ',')) => true,
        Some(t) => t.is_any(&[
            "where", "and", "or", "not", "on", "set", "when", "having", "then", "else", "update",
        ]),
    }
}

/// Whether the comparison ends at token `at`: after casts (`::type`) and `COLLATE x`, the
/// end, a `)`, `,`, `;` or a clause keyword.
fn right_boundary(tokens: &[Token<'_>], mut at: usize) -> bool {
    loop {
        match (tokens.get(at), tokens.get(at + 1)) {
            (Some(Token::Punct(':')), Some(Token::Punct(':'))) => {
                if tokens.get(at + 2).and_then(|t| t.ident()).is_none() {
                    return false;
                }
                at += 3;
            }
            (Some(t), Some(n)) if t.is_keyword("collate") && n.ident().is_some() => at += 2,
            _ => break,
        }
    }
    match tokens.get(at) {
        None => true,
        Some(Token::Punct(')' | ',' | ';')) => true,
        Some(t) => t.is_any(&[
            "and",
            "or",
            "where",
            "then",
            "else",
            "end",
            "order",
            "group",
            "limit",
            "offset",
            "returning",
            "having",
            "union",
            "except",
            "intersect",
            "window",
            "for",
            "on",
            "when",
            "escape",
        ]),
    }
}

/// The slot of the placeholder at token `at`, from the comparison or assignment around it.
pub(super) fn slot_at<'a>(tokens: &[Token<'a>], at: usize) -> Slot<'a> {
    let before = |n: usize| at.checked_sub(n).and_then(|i| tokens.get(i)).copied();
    if before(1).is_some_and(|t| t.is_keyword("limit") || t.is_keyword("offset"))
        && right_boundary(tokens, at + 1)
    {
        return Slot::NotColumn;
    }
    // `col IN ($1, $2)`: the list holds only placeholders.
    let mut start = at;
    while start > 0 && matches!(tokens[start - 1], Token::Param(_) | Token::Punct(',')) {
        start -= 1;
    }
    let mut end = at + 1;
    while matches!(tokens.get(end), Some(Token::Param(_) | Token::Punct(','))) {
        end += 1;
    }
    if start >= 2
        && tokens[start - 1] == Token::Punct('(')
        && tokens[start - 2].is_keyword("in")
        && tokens.get(end) == Some(&Token::Punct(')'))
        && right_boundary(tokens, end + 1)
    {
        let mut op_start = start - 2;
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
        if !right_boundary(tokens, at + 1) {
            return Slot::Unknown;
        }
        let mut op_start = at - 3;
        if op_start > 0 && tokens[op_start - 1].is_keyword("not") {
            op_start -= 1;
        }
        return column_ending_at(tokens, op_start);
    }
    if let Some(op_start) = operator_before(tokens, at) {
        if !right_boundary(tokens, at + 1) {
            return Slot::Unknown;
        }
        return column_ending_at(tokens, op_start);
    }
    // `$1 = col`.
    if left_boundary(before(1))
        && let Some(column_start) = operator_after(tokens, at + 1)
    {
        return column_starting_at(tokens, column_start);
    }
    Slot::Unknown
}

fn is_operator_char(token: Token<'_>) -> bool {
    matches!(token, Token::Punct('=' | '<' | '>' | '!'))
}

const OPERATOR_WORDS: &[&str] = &["like", "ilike", "between", "glob", "regexp"];

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
        if i > 0 && tokens[i - 1].is_keyword("not") {
            i -= 1;
        }
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

/// The column reference (`col`, `t.col`, `s.t.col`) whose last token is just before `end`,
/// when a clause boundary stands before it.
fn column_ending_at<'a>(tokens: &[Token<'a>], end: usize) -> Slot<'a> {
    let Some(last) = end.checked_sub(1) else {
        return Slot::Unknown;
    };
    let Some(column) = tokens[last].ident() else {
        return Slot::Unknown;
    };
    let mut first = last;
    let mut table = None;
    while first >= 2 && tokens[first - 1] == Token::Punct('.') {
        let Some(part) = tokens[first - 2].ident() else {
            return Slot::Unknown;
        };
        table = table.or(Some(part));
        first -= 2;
    }
    if !left_boundary(first.checked_sub(1).map(|i| tokens[i])) {
        return Slot::Unknown;
    }
    Slot::Column { table, column }
}

/// The column reference starting at `start`, when a clause boundary follows it.
fn column_starting_at<'a>(tokens: &[Token<'a>], start: usize) -> Slot<'a> {
    let mut parts = Vec::new();
    let mut i = start;
    loop {
        let Some(part) = tokens.get(i).and_then(|t| t.ident()) else {
            return Slot::Unknown;
        };
        parts.push(part);
        i += 1;
        if tokens.get(i) == Some(&Token::Punct('.')) {
            i += 1;
        } else {
            break;
        }
    }
    if !right_boundary(tokens, i) {
        return Slot::Unknown;
    }
    let column = parts[parts.len() - 1];
    let table = parts.len().checked_sub(2).map(|k| parts[k]);
    Slot::Column { table, column }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;
    use sea_orm::DbBackend;

    fn slots(sql: &str, n: usize) -> Vec<Slot<'_>> {
        parse(sql, DbBackend::Postgres, n).slots
    }

    #[test]
    fn expressions_around_the_column_are_unknown() {
        for sql in [
            "SELECT 1 FROM t WHERE a::text = $1",
            "SELECT 1 FROM t WHERE a || b = $1",
            "SELECT 1 FROM t WHERE b = $1 || a",
            "SELECT 1 FROM t WHERE $1 = b || a",
            "SELECT 1 FROM t WHERE a || $1 = b",
            "SELECT 1 FROM t WHERE a IN ($1, lower(b))",
            "UPDATE t SET a = b = $1",
        ] {
            assert_eq!(slots(sql, 1), [Slot::Unknown], "{sql}");
        }
    }

    #[test]
    fn plain_shapes_are_attributed() {
        let b = Slot::Column {
            table: Some("t"),
            column: "b",
        };
        for sql in [
            "SELECT 1 FROM t WHERE t.b = $1::text AND c = 1",
            "SELECT 1 FROM s.t WHERE (s.t.b = $1)",
            "SELECT 1 FROM t WHERE $1 = t.b",
            "SELECT 1 FROM t WHERE t.b NOT IN ($1)",
        ] {
            assert_eq!(slots(sql, 1), [b], "{sql}");
        }
    }

    #[test]
    fn insert_values_must_be_plain() {
        let sql = "INSERT INTO t (a, b) VALUES ($1, (SELECT x FROM u WHERE y = $2)), ($3, a || $4)";
        let a = Slot::Column {
            table: Some("t"),
            column: "a",
        };
        let y = Slot::Column {
            table: None,
            column: "y",
        };
        assert_eq!(slots(sql, 4), [a, y, a, Slot::Unknown]);
    }
}
