//! Reading a statement's SQL: its kind, the tables it names, whether it returns data, the
//! names it introduces as aliases, and (through `params`) which column each bound parameter
//! belongs to. What it cannot read with certainty is reported as unknown or unreadable, never
//! guessed.

use sea_orm::DbBackend;

use super::params::{Insert, Slot, insert_rows, slot_at};
use super::tokens::{Token, first_token, tokenize};

/// What a statement does, read off its verb (the main statement's, after `WITH`; for several
/// statements in one string, the first that writes).
///
/// ```
/// use audit_core::query_log::QueryKind;
/// assert_eq!(QueryKind::of("SELECT 1", sea_orm::DbBackend::Sqlite), QueryKind::Select);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueryKind {
    /// `SELECT`.
    Select,
    /// `INSERT` (and `REPLACE`).
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

    /// The lowercase name (`select`, ..., `other`).
    ///
    /// ```
    /// assert_eq!(audit_core::query_log::QueryKind::Select.as_str(), "select");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::Select => "select",
            QueryKind::Insert => "insert",
            QueryKind::Update => "update",
            QueryKind::Delete => "delete",
            QueryKind::Other => "other",
        }
    }

    /// The OpenTelemetry `db.operation` value, as SeaORM's `tracing-spans` spells it
    /// (`SELECT`, `INSERT`, `UPDATE`, `DELETE`, `EXECUTE`).
    ///
    /// ```
    /// assert_eq!(audit_core::query_log::QueryKind::Other.operation(), "EXECUTE");
    /// ```
    pub fn operation(self) -> &'static str {
        match self {
            QueryKind::Select => "SELECT",
            QueryKind::Insert => "INSERT",
            QueryKind::Update => "UPDATE",
            QueryKind::Delete => "DELETE",
            QueryKind::Other => "EXECUTE",
        }
    }

    /// Position of this kind in [`QueryKind::ALL`].
    ///
    /// ```
    /// use audit_core::query_log::QueryKind;
    /// assert_eq!(QueryKind::ALL[QueryKind::Update.index()], QueryKind::Update);
    /// ```
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind of `sql` on `backend` (comments skipped, `WITH` clauses read through).
    ///
    /// ```
    /// use audit_core::query_log::QueryKind;
    /// use sea_orm::DbBackend;
    /// let sql = "/* request 42 */ WITH x AS (SELECT 1) DELETE FROM t";
    /// assert_eq!(QueryKind::of(sql, DbBackend::Sqlite), QueryKind::Delete);
    /// ```
    pub fn of(sql: &str, backend: DbBackend) -> QueryKind {
        if !sql.as_bytes().contains(&b';')
            && let Some(Token::Word(word)) = first_token(sql, backend)
            && !word.eq_ignore_ascii_case("with")
        {
            return keyword_kind(word);
        }
        kind_of_tokens(&tokenize(sql, backend).tokens)
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

/// The statements of `tokens`, split at `;`.
fn statements<'t, 'a>(tokens: &'t [Token<'a>]) -> impl Iterator<Item = &'t [Token<'a>]> {
    tokens
        .split(|t| *t == Token::Punct(';'))
        .filter(|s| !s.is_empty())
}

/// The verb of one statement: its first word (after opening parentheses).
fn verb<'a>(statement: &[Token<'a>]) -> Option<&'a str> {
    statement.iter().find_map(|t| match t {
        Token::Word(w) => Some(*w),
        Token::Punct('(') => None,
        _ => Some(""),
    })
}

fn statement_kind(statement: &[Token<'_>]) -> QueryKind {
    match verb(statement) {
        Some(w) if w.eq_ignore_ascii_case("with") => kind_after_with(statement),
        Some(w) => keyword_kind(w),
        None => QueryKind::Other,
    }
}

fn kind_of_tokens(tokens: &[Token<'_>]) -> QueryKind {
    let mut kind = QueryKind::Other;
    for statement in statements(tokens) {
        match statement_kind(statement) {
            QueryKind::Select if kind == QueryKind::Other => kind = QueryKind::Select,
            QueryKind::Select | QueryKind::Other => {}
            write => return write,
        }
    }
    kind
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

/// Verbs that write or change the schema: such a statement returns data only through a
/// `SELECT`, `RETURNING` or `TABLE` inside it (DDL: a `SELECT`).
const WRITES: &[&str] = &["insert", "replace", "update", "delete"];
const DDL: &[&str] = &[
    "create",
    "drop",
    "alter",
    "truncate",
    "comment",
    "begin",
    "commit",
    "rollback",
    "savepoint",
    "release",
    "start",
    "set",
    "pragma",
    "analyze",
    "vacuum",
    "lock",
    "unlock",
    "use",
    "reindex",
    "end",
    "deallocate",
    "discard",
    "reset",
    "checkpoint",
    "grant",
    "revoke",
    "rename",
];
/// Verbs of statements that return what they read.
const READS: &[&str] = &[
    "select", "with", "values", "table", "show", "explain", "describe", "desc",
];

/// What the logger reads off one statement.
#[derive(Clone, Debug)]
pub(super) struct Parsed<'a> {
    /// Tables named after `FROM`, `JOIN`, `INTO`, `UPDATE`, `TABLE`, `USING` and the
    /// verb, first mention first.
    pub tables: Vec<&'a str>,
    /// One slot per bound parameter, by position.
    pub slots: Vec<Slot<'a>>,
    /// Every token (to find the names a statement mentions anywhere).
    pub tokens: Vec<Token<'a>>,
    /// Why the statement cannot be read, when it cannot.
    pub unreadable: Option<&'static str>,
    /// Whether it returns (or copies) what it reads: a `SELECT` anywhere, `RETURNING`, ...
    pub reads: bool,
    /// A CTE, a derived table or a set operation: its column names may carry any column.
    pub derived: bool,
    /// Names introduced as aliases (after `AS`, bare aliases, column-alias lists).
    pub aliases: Vec<&'a str>,
    /// The rows of an `INSERT ... (columns) VALUES ...`.
    pub insert: Option<Insert<'a>>,
}

impl<'a> Parsed<'a> {
    /// Whether the statement mentions `name` as an identifier anywhere.
    pub fn names(&self, name: &str) -> bool {
        self.tokens
            .iter()
            .any(|t| t.ident().is_some_and(|i| i.eq_ignore_ascii_case(name)))
    }

    /// Whether `name` is introduced as an alias.
    pub fn is_alias(&self, name: &str) -> bool {
        self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// Reads `sql` with `params` bound values.
pub(super) fn parse(sql: &str, backend: DbBackend, params: usize) -> Parsed<'_> {
    let lexed = tokenize(sql, backend);
    let tokens = lexed.tokens;
    let mut unreadable = lexed.unreadable;
    if unreadable.is_none() && lexed.params != params {
        unreadable = Some("placeholders do not match the bound values");
    }
    let mut reads = false;
    for statement in statements(&tokens) {
        let verb = verb(statement).unwrap_or("");
        let has = |words: &[&str]| statement.iter().any(|t| t.is_any(words));
        if WRITES.iter().any(|w| verb.eq_ignore_ascii_case(w)) {
            reads |= has(&["select", "returning", "table"]);
        } else if DDL.iter().any(|w| verb.eq_ignore_ascii_case(w)) {
            reads |= has(&["select"]);
        } else if READS.iter().any(|w| verb.eq_ignore_ascii_case(w)) {
            reads = true;
        } else {
            unreadable = unreadable.or(Some("unknown statement"));
        }
    }
    let insert = insert_rows(&tokens);
    let mut slots: Vec<Option<Slot<'_>>> = vec![None; params];
    for (position, token) in tokens.iter().enumerate() {
        let Token::Param(index) = *token else {
            continue;
        };
        let slot = insert
            .as_ref()
            .and_then(|i| i.slot_at(position))
            .unwrap_or_else(|| slot_at(&tokens, position));
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
        derived: derived(&tokens),
        aliases: aliases(&tokens),
        reads,
        unreadable,
        insert,
        tokens,
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
    "straight_join",
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
    "value",
    "returning",
    "window",
    "select",
    "default",
    "as",
    "partition",
    "use",
    "force",
    "ignore",
    "tablesample",
    "indexed",
    "not",
];

/// Words between a verb (or `FROM`, `INTO`) and its table.
const MODIFIERS: &[&str] = &[
    "or",
    "rollback",
    "abort",
    "replace",
    "fail",
    "ignore",
    "low_priority",
    "high_priority",
    "delayed",
    "quick",
    "into",
    "only",
    "lateral",
    "if",
    "not",
    "exists",
    "temporary",
    "temp",
];

fn tables<'a>(tokens: &[Token<'a>]) -> Vec<&'a str> {
    let mut tables: Vec<&'a str> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        // `UPDATE t`, but not `FOR UPDATE`, `DO UPDATE SET`, `ON DUPLICATE KEY UPDATE`.
        let after = |k: &[&str]| i > 0 && tokens[i - 1].is_any(k);
        let introduces = (token.is_any(&["update"]) && !after(&["for", "do", "key", "on"]))
            || (token.is_any(&["insert", "replace"]) && !after(&["or", "on"]))
            || (token.is_keyword("table") && !after(&["lock", "unlock"]))
            || token.is_any(&["from", "join", "into", "using", "straight_join"]);
        i += 1;
        if !introduces {
            continue;
        }
        while tokens.get(i).is_some_and(|t| t.is_any(MODIFIERS)) {
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
pub(super) fn table_ref<'a>(tokens: &[Token<'a>], i: &mut usize) -> Option<&'a str> {
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

/// Whether the statement has a CTE, a derived table (a subquery in `FROM`/`JOIN`) or a set
/// operation: then a column name outside may stand for any column inside.
fn derived(tokens: &[Token<'_>]) -> bool {
    tokens.iter().enumerate().any(|(i, t)| {
        t.is_any(&["with", "union", "intersect", "except"])
            || (*t == Token::Punct('(')
                && tokens
                    .get(i + 1)
                    .is_some_and(|n| n.is_any(&["select", "values", "table", "with"]))
                && i > 0
                && (matches!(tokens[i - 1], Token::Punct(',' | '('))
                    || tokens[i - 1].is_any(&["from", "join", "lateral", "as", "using"])))
    })
}

/// Keywords that follow a name in ordinary SQL (so are not bare aliases, and a name after
/// them is not one either).
const KEYWORDS: &[&str] = &[
    "from",
    "where",
    "and",
    "or",
    "not",
    "as",
    "on",
    "using",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "natural",
    "outer",
    "group",
    "order",
    "by",
    "limit",
    "offset",
    "having",
    "union",
    "except",
    "intersect",
    "all",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "is",
    "null",
    "like",
    "ilike",
    "glob",
    "regexp",
    "in",
    "between",
    "set",
    "values",
    "returning",
    "window",
    "for",
    "update",
    "delete",
    "insert",
    "into",
    "select",
    "distinct",
    "default",
    "collate",
    "escape",
    "then",
    "else",
    "end",
    "when",
    "case",
    "over",
    "filter",
    "conflict",
    "do",
    "nothing",
    "duplicate",
    "key",
    "true",
    "false",
    "or",
    "ignore",
    "replace",
    "only",
    "exists",
    "lateral",
    "with",
    "recursive",
    "table",
    "share",
    "nowait",
    "skip",
    "locked",
    "low_priority",
    "quick",
    "high_priority",
    "delayed",
];

fn is_keyword(token: Token<'_>) -> bool {
    token.is_any(KEYWORDS)
}

/// The names a statement introduces: after `AS` (and the column list that may follow), bare
/// aliases (a name right after another name, `)` or a value), and the column lists of CTEs
/// and aliased tables.
fn aliases<'a>(tokens: &[Token<'a>]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut introduced_at = Vec::new();
    for i in 1..tokens.len() {
        let Some(name) = tokens[i].ident() else {
            continue;
        };
        let previous = tokens[i - 1];
        let after_as = previous.is_keyword("as");
        let bare = !is_keyword(tokens[i])
            && (matches!(
                previous,
                Token::Quoted(_) | Token::Literal | Token::Param(_) | Token::Punct(')')
            ) || matches!(previous, Token::Word(_)) && !is_keyword(previous));
        if after_as || bare {
            out.push(name);
            introduced_at.push(i);
        }
    }
    // `alias (a, b)` and CTEs' `name (a, b) AS (...)`: the names in the list.
    for (i, token) in tokens.iter().enumerate() {
        if *token != Token::Punct('(') || i == 0 || tokens[i - 1].ident().is_none() {
            continue;
        }
        let Some(close) = tokens[i..].iter().position(|t| *t == Token::Punct(')')) else {
            continue;
        };
        let list = &tokens[i + 1..i + close];
        let before_as = tokens
            .get(i + close + 1)
            .is_some_and(|t| t.is_keyword("as"));
        if introduced_at.contains(&(i - 1)) || before_as {
            out.extend(list.iter().filter_map(|t| t.ident()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col<'a>(table: Option<&'a str>, column: &'a str) -> Slot<'a> {
        Slot::Column { table, column }
    }

    #[test]
    fn kinds() {
        use sea_orm::DatabaseBackend::{MySql, Sqlite};
        let of = |sql| QueryKind::of(sql, Sqlite);
        assert_eq!(of("  select 1"), QueryKind::Select);
        assert_eq!(of("INSERT INTO t"), QueryKind::Insert);
        assert_eq!(of("update t set a = 1"), QueryKind::Update);
        assert_eq!(of("DELETE FROM t"), QueryKind::Delete);
        assert_eq!(of("CREATE TABLE t (a int)"), QueryKind::Other);
        assert_eq!(
            of("WITH x AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM x)"),
            QueryKind::Delete
        );
        assert_eq!(of("/* request 42 */ SELECT 1"), QueryKind::Select);
        assert_eq!(of("-- note\nSELECT 1"), QueryKind::Select);
        assert_eq!(QueryKind::of("# c\nSELECT 1", MySql), QueryKind::Select);
        assert_eq!(
            of("SELECT 0 AS \"m\", * FROM t WHERE id = ?; UPDATE t SET a = ? RETURNING *"),
            QueryKind::Update
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
        assert!(parsed.reads && !parsed.derived && parsed.unreadable.is_none());
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
        assert!(!parsed.reads);
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
        assert!(parsed.reads, "RETURNING returns what it wrote");
    }

    #[test]
    fn modifiers_between_verb_and_table() {
        use sea_orm::DatabaseBackend::{MySql, Sqlite};
        for (sql, backend) in [
            ("UPDATE OR REPLACE account SET a = ?", Sqlite),
            ("UPDATE OR IGNORE \"account\" SET a = ?", Sqlite),
            ("UPDATE IGNORE account SET a = ?", MySql),
            ("UPDATE LOW_PRIORITY `account` SET a = ?", MySql),
            ("INSERT IGNORE account (a) VALUES (?)", MySql),
            ("REPLACE INTO account (a) VALUES (?)", MySql),
            ("INSERT OR REPLACE INTO [account] (a) VALUES (?)", Sqlite),
            (
                "DELETE LOW_PRIORITY QUICK IGNORE FROM account WHERE a = ?",
                MySql,
            ),
        ] {
            assert_eq!(parse(sql, backend, 1).tables, ["account"], "{sql}");
        }
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
        assert!(!parsed.reads);
    }

    #[test]
    fn aliases_and_derived_tables() {
        let sql = "SELECT * FROM (SELECT password_hash ph FROM account) AS x(y) WHERE ph = ?";
        let parsed = parse(sql, DbBackend::Sqlite, 1);
        assert!(parsed.derived);
        assert!(parsed.is_alias("ph") && parsed.is_alias("x") && parsed.is_alias("y"));
        let sql = "WITH c(z) AS (SELECT 1) SELECT * FROM c WHERE z = ?";
        let parsed = parse(sql, DbBackend::Sqlite, 1);
        assert!(parsed.is_alias("z") && parsed.derived);
        let sql = "UPDATE account SET owner = ? WHERE id = ?";
        let parsed = parse(sql, DbBackend::Sqlite, 2);
        assert!(!parsed.is_alias("owner") && !parsed.is_alias("id") && !parsed.derived);
    }

    #[test]
    fn unreadable_statements() {
        assert!(parse("SELECT ?", DbBackend::Sqlite, 2).unreadable.is_some());
        assert!(parse("CALL p(?)", DbBackend::MySql, 1).unreadable.is_some());
        assert!(
            parse("SELECT 'x", DbBackend::Sqlite, 0)
                .unreadable
                .is_some()
        );
    }

    #[test]
    fn unattributable_parameter_is_unknown() {
        let parsed = parse("SELECT lower(?) FROM t", DbBackend::Sqlite, 1);
        assert_eq!(parsed.slots, [Slot::Unknown]);
    }
}
