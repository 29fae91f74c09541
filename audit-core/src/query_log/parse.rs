//! Reading a statement's SQL: its kind, the tables it touches, and which column each bound
//! parameter belongs to. Best effort over the SQL SeaORM and sea-query generate; anything
//! it cannot read is reported as unknown, never guessed.

use sea_orm::DbBackend;

/// What a statement does, read off its first keyword (the main statement's, after `WITH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryKind {
    /// `SELECT`.
    Select,
    /// `INSERT` (and MySQL's `REPLACE`).
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// Anything else: DDL, `PRAGMA`, `SHOW`, ...
    Other,
}

impl QueryKind {
    /// Every kind, in the order of [`QueryKind::index`].
    pub const ALL: [QueryKind; 5] = [
        QueryKind::Select,
        QueryKind::Insert,
        QueryKind::Update,
        QueryKind::Delete,
        QueryKind::Other,
    ];

    /// The lowercase name logged in the `kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::Select => "select",
            QueryKind::Insert => "insert",
            QueryKind::Update => "update",
            QueryKind::Delete => "delete",
            QueryKind::Other => "other",
        }
    }

    /// Position of this kind in [`QueryKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind of `sql`, from its first keyword (skipping `WITH` clauses).
    pub fn of(sql: &str) -> QueryKind {
        let first = sql
            .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or("");
        if first.eq_ignore_ascii_case("with") {
            let tokens = tokenize(sql, DbBackend::Sqlite);
            return kind_after_with(&tokens);
        }
        keyword_kind(first)
    }
}

fn keyword_kind(word: &str) -> QueryKind {
    match word.to_ascii_lowercase().as_str() {
        "select" => QueryKind::Select,
        "insert" | "replace" => QueryKind::Insert,
        "update" => QueryKind::Update,
        "delete" => QueryKind::Delete,
        _ => QueryKind::Other,
    }
}

/// The main statement after a `WITH` clause: the first DML keyword outside parentheses.
fn kind_after_with(tokens: &[Token<'_>]) -> QueryKind {
    let mut depth = 0usize;
    for token in tokens {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Word(word) if depth == 0 => {
                let kind = keyword_kind(word);
                if kind != QueryKind::Other {
                    return kind;
                }
            }
            _ => {}
        }
    }
    QueryKind::Other
}

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

/// What the logger reads off one statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    /// Tables named after `FROM`, `JOIN`, `INTO`, `UPDATE` and `TABLE`, first mention first.
    pub tables: Vec<&'a str>,
    /// One slot per bound parameter, by position.
    pub slots: Vec<Slot<'a>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// A bare word (keyword or identifier).
    Word(&'a str),
    /// A quoted identifier, without its quotes.
    Quoted(&'a str),
    /// A bound parameter, by 0-based position.
    Param(usize),
    /// A string or number literal.
    Literal,
    /// One punctuation character.
    Punct(char),
}

impl<'a> Token<'a> {
    fn ident(self) -> Option<&'a str> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            _ => None,
        }
    }

    fn is_keyword(self, keyword: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

fn tokenize(sql: &str, backend: DbBackend) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut next_param = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(bytes.len(), |n| i + n + 4);
            }
            b'\'' => {
                i = skip_string(bytes, i, backend == DbBackend::MySql);
                tokens.push(Token::Literal);
            }
            b'"' | b'`' => {
                let end = sql[i + 1..]
                    .find(c as char)
                    .map_or(bytes.len(), |n| i + 1 + n);
                tokens.push(Token::Quoted(&sql[i + 1..end]));
                i = end + 1;
            }
            b'?' if backend != DbBackend::Postgres => {
                tokens.push(Token::Param(next_param));
                next_param += 1;
                i += 1;
            }
            b'$' if backend == DbBackend::Postgres
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) =>
            {
                let end = scan(bytes, i + 1, |b| b.is_ascii_digit());
                let n: usize = sql[i + 1..end].parse().unwrap_or(0);
                tokens.push(n.checked_sub(1).map_or(Token::Literal, Token::Param));
                i = end;
            }
            b'0'..=b'9' => {
                i = scan(bytes, i, |b| b.is_ascii_alphanumeric() || b == b'.');
                tokens.push(Token::Literal);
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let end = scan(bytes, i, |b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
                });
                tokens.push(Token::Word(&sql[i..end]));
                i = end;
            }
            _ => {
                // Multi-byte characters only occur inside words, strings and identifiers.
                tokens.push(Token::Punct(c as char));
                i += 1;
            }
        }
    }
    tokens
}

fn scan(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    let mut end = from;
    while end < bytes.len() && keep(bytes[end]) {
        end += 1;
    }
    end
}

/// The index after the string literal opening at `start` (`''` escapes; `\` too on MySQL).
fn skip_string(bytes: &[u8], start: usize, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Reads the tables and parameter slots of `sql` (`params` bound values).
pub(crate) fn parse(sql: &str, backend: DbBackend, params: usize) -> Parsed<'_> {
    let tokens = tokenize(sql, backend);
    let mut slots: Vec<Option<Slot<'_>>> = vec![None; params];
    let insert_slots = insert_values(&tokens);
    for (position, token) in tokens.iter().enumerate() {
        let Token::Param(index) = *token else {
            continue;
        };
        let slot = insert_slots
            .iter()
            .find(|(at, _)| *at == position)
            .map_or_else(|| slot_at(&tokens, position), |(_, slot)| *slot);
        if let Some(entry) = slots.get_mut(index) {
            // A parameter seen twice with different meanings is unknown.
            *entry = match entry {
                Some(previous) if *previous != slot => Some(Slot::Unknown),
                _ => Some(slot),
            };
        }
    }
    Parsed {
        tables: tables(&tokens),
        slots: slots
            .into_iter()
            .map(|slot| slot.unwrap_or(Slot::Unknown))
            .collect(),
    }
}

/// Words that end a table reference (so are not an alias).
const CLAUSE_WORDS: &[&str] = &[
    "where",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "natural",
    "on",
    "using",
    "group",
    "order",
    "limit",
    "offset",
    "for",
    "having",
    "union",
    "except",
    "intersect",
    "set",
    "values",
    "returning",
    "window",
    "select",
    "default",
    "as",
];

fn tables<'a>(tokens: &[Token<'a>]) -> Vec<&'a str> {
    let mut tables: Vec<&'a str> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        // `UPDATE t`, but not `FOR UPDATE`, `DO UPDATE SET` or `ON DUPLICATE KEY UPDATE`.
        let update = token.is_keyword("update")
            && !(i > 0
                && ["for", "do", "key"]
                    .iter()
                    .any(|k| tokens[i - 1].is_keyword(k)));
        let introduces = update
            || ["from", "join", "into", "table"]
                .iter()
                .any(|k| token.is_keyword(k));
        i += 1;
        if !introduces {
            continue;
        }
        // `CREATE TABLE IF NOT EXISTS t`, `DROP TABLE IF EXISTS t`.
        while ["if", "not", "exists", "only"]
            .iter()
            .any(|k| tokens.get(i).is_some_and(|t| t.is_keyword(k)))
        {
            i += 1;
        }
        while let Some(name) = table_ref(tokens, &mut i) {
            if !tables.contains(&name) {
                tables.push(name);
            }
            // An alias: `AS a` or a bare word that starts no clause.
            if tokens.get(i).is_some_and(|t| t.is_keyword("as")) {
                i += 2;
            } else if let Some(Token::Word(w)) = tokens.get(i)
                && !CLAUSE_WORDS.iter().any(|k| w.eq_ignore_ascii_case(k))
            {
                i += 1;
            } else if let Some(Token::Quoted(_)) = tokens.get(i) {
                i += 1;
            }
            if tokens.get(i) == Some(&Token::Punct(',')) {
                i += 1;
            } else {
                break;
            }
        }
    }
    tables
}

/// A possibly schema-qualified name at `*i` (its last part), advancing past it.
fn table_ref<'a>(tokens: &[Token<'a>], i: &mut usize) -> Option<&'a str> {
    let mut name = tokens.get(*i)?.ident()?;
    if matches!(tokens.get(*i), Some(Token::Word(w)) if CLAUSE_WORDS.iter().any(|k| w.eq_ignore_ascii_case(k)))
    {
        return None;
    }
    *i += 1;
    while tokens.get(*i) == Some(&Token::Punct('.')) {
        match tokens.get(*i + 1).and_then(|t| t.ident()) {
            Some(part) => {
                name = part;
                *i += 2;
            }
            None => break,
        }
    }
    Some(name)
}

/// The parameters of an `INSERT ... (columns) VALUES (...), (...)`: each placeholder inside
/// the n-th value of a row belongs to the n-th column. Keyed by token position.
fn insert_values<'a>(tokens: &[Token<'a>]) -> Vec<(usize, Slot<'a>)> {
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
fn slot_at<'a>(tokens: &[Token<'a>], at: usize) -> Slot<'a> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn col<'a>(table: Option<&'a str>, column: &'a str) -> Slot<'a> {
        Slot::Column { table, column }
    }

    #[test]
    fn kinds() {
        assert_eq!(QueryKind::of("  select 1"), QueryKind::Select);
        assert_eq!(QueryKind::of("INSERT INTO t"), QueryKind::Insert);
        assert_eq!(QueryKind::of("update t set a = 1"), QueryKind::Update);
        assert_eq!(QueryKind::of("DELETE FROM t"), QueryKind::Delete);
        assert_eq!(QueryKind::of("CREATE TABLE t (a int)"), QueryKind::Other);
        assert_eq!(
            QueryKind::of("WITH x AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM x)"),
            QueryKind::Delete
        );
    }

    #[test]
    fn select_with_where_limit() {
        let sql = r#"SELECT "account"."id", "account"."owner" FROM "account" WHERE "account"."id" = $1 AND "owner" <> $2 LIMIT $3"#;
        let parsed = parse(sql, DbBackend::Postgres, 3);
        assert_eq!(parsed.tables, ["account"]);
        assert_eq!(
            parsed.slots,
            [
                col(Some("account"), "id"),
                col(None, "owner"),
                Slot::NotColumn
            ]
        );
    }

    #[test]
    fn insert_rows_and_returning() {
        let sql =
            "INSERT INTO `account` (`owner`, `balance`) VALUES (?, ?), (?, CAST(? AS SIGNED))";
        let parsed = parse(sql, DbBackend::MySql, 4);
        assert_eq!(parsed.tables, ["account"]);
        let owner = col(Some("account"), "owner");
        let balance = col(Some("account"), "balance");
        assert_eq!(parsed.slots, [owner, balance, owner, balance]);
    }

    #[test]
    fn update_set_and_where() {
        let sql = r#"UPDATE "account" SET "balance" = ?, "note" = "note" || ? WHERE "account"."id" = ? RETURNING "id""#;
        let parsed = parse(sql, DbBackend::Sqlite, 3);
        assert_eq!(parsed.tables, ["account"]);
        assert_eq!(
            parsed.slots,
            [
                col(None, "balance"),
                Slot::Unknown,
                col(Some("account"), "id")
            ]
        );
    }

    #[test]
    fn in_between_like_reversed_and_strings() {
        let sql = "SELECT * FROM a, c AS cc JOIN b ON a.x = b.y WHERE a.id IN (?, ?) \
                   AND n BETWEEN ? AND ? AND s NOT LIKE ? AND ? = b.z AND t = 'it''s ?'";
        let parsed = parse(sql, DbBackend::Sqlite, 6);
        assert_eq!(parsed.tables, ["a", "c", "b"]);
        assert_eq!(
            parsed.slots,
            [
                col(Some("a"), "id"),
                col(Some("a"), "id"),
                col(None, "n"),
                col(None, "n"),
                col(None, "s"),
                col(Some("b"), "z"),
            ]
        );
    }

    #[test]
    fn upserts_do_not_name_columns_as_tables() {
        let sql = "INSERT INTO `t` (`a`) VALUES (?) ON DUPLICATE KEY UPDATE `a` = VALUES(`a`)";
        assert_eq!(parse(sql, DbBackend::MySql, 1).tables, ["t"]);
        let sql = r#"SELECT * FROM "t" WHERE "id" = $1 FOR UPDATE"#;
        assert_eq!(parse(sql, DbBackend::Postgres, 1).tables, ["t"]);
    }

    #[test]
    fn ddl_tables() {
        let parsed = parse(
            r#"CREATE TABLE IF NOT EXISTS "public"."audit_log" ("id" int)"#,
            DbBackend::Postgres,
            0,
        );
        assert_eq!(parsed.tables, ["audit_log"]);
    }

    #[test]
    fn unattributable_parameter_is_unknown() {
        let parsed = parse("SELECT lower(?) FROM t", DbBackend::Sqlite, 1);
        assert_eq!(parsed.slots, [Slot::Unknown]);
    }
}
