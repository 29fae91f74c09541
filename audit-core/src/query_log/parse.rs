//! Reading a statement's SQL: its kind, the tables it touches, and (through `params`) which
//! column each bound parameter belongs to. Best effort over the SQL SeaORM and sea-query
//! generate; anything it cannot read is reported as unknown, never guessed.

use sea_orm::DbBackend;

use super::params::{Slot, insert_values, slot_at};
use super::tokens::{Token, tokenize};

/// What a statement does, read off its first keyword (the main statement's, after `WITH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// What the logger reads off one statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    /// Tables named after `FROM`, `JOIN`, `INTO`, `UPDATE` and `TABLE`, first mention first.
    pub tables: Vec<&'a str>,
    /// One slot per bound parameter, by position.
    pub slots: Vec<Slot<'a>>,
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
