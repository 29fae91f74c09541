//! Property test of the query logger's redaction: statements generated over each backend's
//! dialect (keywords between verb and table, comments of every kind between any two tokens,
//! quoting styles, aliases spelled like other tables, CTEs, derived tables, set operations,
//! subqueries, `RETURNING`, upserts, row values, audit-table reads and inserts, several
//! statements in one string), each with a secret bound to a redacted column. No event may
//! carry the secret.
//!
//! 10,000 statements per backend go through [`QueryLogger::observe`] (the logger's own
//! callback, without a database round trip); a sample runs for real on each backend.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_core::query_log::{Info, QueryLogger, TARGET};
use common::{Backend, account, setup};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

const SECRET: &str = "Zq9SECRETx7";

/// Every field of every event of the logger, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!("{}={value} ", field.name()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == TARGET {
            let mut text = String::new();
            event.record(&mut Fields(&mut text));
            self.0.lock().unwrap().push(text);
        }
    }
}

impl Capture {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Reads choices off a byte string (shrinking it shrinks towards the first options).
struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Choices<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let byte = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        usize::from(byte) % n
    }

    fn flag(&mut self) -> bool {
        self.pick(2) == 1
    }

    fn one<'s>(&mut self, options: &[&'s str]) -> &'s str {
        options[self.pick(options.len())]
    }
}

enum Piece {
    Sql(String),
    Param(Value),
}

/// One statement being generated.
struct Gen<'a> {
    c: Choices<'a>,
    backend: Backend,
    pieces: Vec<Piece>,
}

impl Gen<'_> {
    fn sql(&mut self, text: &str) {
        self.pieces.push(Piece::Sql(text.to_owned()));
    }

    /// One of `options`, as SQL.
    fn sql_one(&mut self, options: &[&str]) {
        let text = self.c.one(options);
        self.sql(text);
    }

    fn param(&mut self, value: impl Into<Value>) {
        self.pieces.push(Piece::Param(value.into()));
    }

    fn secret(&mut self) {
        self.param(SECRET);
    }

    /// A plain value for `column`.
    fn value_for(&mut self, column: &str) {
        match column {
            "owner" | "note" => self.param("alice"),
            _ => self.param(1i64),
        }
    }

    /// `name` in one of the backend's quoting styles.
    fn ident(&mut self, name: &str) -> String {
        let styles: &[&str] = match self.backend {
            Backend::Sqlite => &["bare", "double", "back", "bracket", "upper"],
            Backend::MySql => &["bare", "back", "upper"],
            Backend::Postgres => &["bare", "double", "upper"],
        };
        match self.c.one(styles) {
            "double" => format!("\"{name}\""),
            "back" => format!("`{name}`"),
            "bracket" => format!("[{name}]"),
            "upper" => name.to_ascii_uppercase(),
            _ => name.to_owned(),
        }
    }

    /// The table `name`, maybe schema-qualified and aliased; returns what qualifies its
    /// columns (`None`: unqualified).
    fn table(&mut self, name: &str, alias_allowed: bool) -> Option<String> {
        let mut text = self.ident(name);
        if self.backend == Backend::Sqlite && self.c.pick(4) == 0 {
            text = format!("main.{text}");
        }
        self.sql(&text);
        let aliases = ["a", "audit_log", "other", "exfil", "\"audit_log\""];
        match (alias_allowed, self.c.pick(4)) {
            (true, 1) => {
                let alias = self.c.one(&aliases);
                self.sql("AS");
                self.sql(alias);
                Some(alias.to_owned())
            }
            (true, 2) => {
                let alias = self.c.one(&aliases[..4]);
                self.sql(alias);
                Some(alias.to_owned())
            }
            (_, 3) => Some(text),
            _ => None,
        }
    }

    /// Column `name`, qualified by `qualifier` or not.
    fn column(&mut self, qualifier: Option<&str>, name: &str) {
        let column = self.ident(name);
        match qualifier {
            Some(q) if self.c.flag() => self.sql(&format!("{q}.{column}")),
            _ => self.sql(&column),
        }
    }

    /// The redacted column (`password_hash`, or `note` registered with `redact_column`).
    fn redacted(&mut self, qualifier: Option<&str>) {
        let name = self.c.one(&["password_hash", "password_hash", "note"]);
        self.column(qualifier, name);
    }

    /// A literal that hides placeholders, quotes and comment openers from a careless reader.
    fn tricky_literal(&mut self) {
        let mut options = vec!["'it''s ? -- /*'", "'#?'", "''", "'$1 ?'"];
        match self.backend {
            Backend::Postgres => options.extend(["$$ ? ' $$", "$t$ ? $1 ' $t$", r"E'\' ? '"]),
            Backend::MySql => options.extend([r"'\' ? '", "\"? -- \""]),
            Backend::Sqlite => options.extend([r"'\'", "X'00'"]),
        }
        let text = self.c.one(&options);
        self.sql(text);
    }

    /// A condition binding the secret to the redacted column.
    fn secret_condition(&mut self, q: Option<&str>) {
        let shape = self.c.pick(18);
        let cast = match self.backend {
            Backend::MySql => "CHAR",
            _ => "TEXT",
        };
        match shape {
            0 => {
                self.redacted(q);
                let op = self
                    .c
                    .one(&["=", "<>", "!=", "<", ">=", "LIKE", "NOT LIKE"]);
                self.sql(op);
                self.secret();
            }
            1 => {
                self.secret();
                self.sql("=");
                self.redacted(q);
            }
            2 => {
                self.redacted(q);
                self.sql("IN (");
                self.value_for("owner");
                self.sql(",");
                self.secret();
                self.sql(")");
            }
            3 => {
                self.redacted(q);
                self.sql("BETWEEN");
                self.secret();
                self.sql("AND");
                self.secret();
            }
            4 => {
                self.redacted(q);
                self.sql("= lower(");
                self.secret();
                self.sql(")");
            }
            5 => {
                self.redacted(q);
                self.sql("= CAST(");
                self.secret();
                self.sql(&format!("AS {cast})"));
            }
            6 => {
                self.sql("(");
                self.column(q, "owner");
                self.sql(",");
                self.redacted(q);
                self.sql(") = (");
                self.value_for("owner");
                self.sql(",");
                self.secret();
                self.sql(")");
            }
            7 => {
                self.sql("(");
                self.column(q, "owner");
                self.sql(",");
                self.redacted(q);
                self.sql(") IN ((");
                self.value_for("owner");
                self.sql(",");
                self.secret();
                self.sql("))");
            }
            8 => {
                self.redacted(q);
                self.sql("= (SELECT");
                self.secret();
                self.sql(")");
            }
            9 => {
                self.redacted(q);
                self.sql("IN (SELECT");
                self.secret();
                self.sql(")");
            }
            10 => {
                self.sql("NOT");
                self.redacted(q);
                self.sql("=");
                self.secret();
            }
            11 => {
                self.column(q, "owner");
                self.sql("=");
                self.value_for("owner");
                self.sql_one(&["AND", "OR"]);
                self.redacted(q);
                self.sql("=");
                self.secret();
            }
            12 => {
                self.redacted(q);
                self.sql("=");
                self.secret();
                self.sql("||");
                self.tricky_literal();
            }
            13 if self.backend == Backend::Postgres => {
                self.redacted(q);
                self.sql_one(&["::text =", "="]);
                self.secret();
                self.sql("::text");
            }
            14 => {
                self.sql("owner ||");
                self.redacted(q);
                self.sql("=");
                self.secret();
            }
            15 => {
                self.redacted(q);
                self.sql("= CASE WHEN");
                self.column(q, "id");
                self.sql("= 1 THEN");
                self.secret();
                self.sql("ELSE");
                self.secret();
                self.sql("END");
            }
            16 => {
                self.tricky_literal();
                self.sql("<>");
                self.tricky_literal();
                self.sql("AND");
                self.redacted(q);
                self.sql("=");
                self.secret();
            }
            _ => {
                self.redacted(q);
                self.sql("=");
                self.secret();
                self.sql("AND");
                self.column(q, "id");
                self.sql("=");
                self.value_for("id");
            }
        }
    }

    fn returning(&mut self) {
        if self.backend != Backend::MySql && self.c.pick(3) == 0 {
            self.sql("RETURNING owner, password_hash");
        }
    }

    fn update(&mut self) {
        self.sql("UPDATE");
        let modifiers: &[&str] = match self.backend {
            Backend::Sqlite => &[
                "",
                "OR REPLACE",
                "OR IGNORE",
                "OR ABORT",
                "OR FAIL",
                "OR ROLLBACK",
            ],
            Backend::MySql => &["", "LOW_PRIORITY", "IGNORE", "LOW_PRIORITY IGNORE"],
            Backend::Postgres => &["", "ONLY"],
        };
        let modifier = self.c.one(modifiers);
        if !modifier.is_empty() {
            self.sql(modifier);
        }
        let q = self.table("account", true);
        self.sql("SET");
        if self.c.flag() {
            self.column(None, "balance");
            self.sql("=");
            self.value_for("balance");
            self.sql(",");
        }
        let q = q.as_deref();
        match self.c.pick(3) {
            0 => {
                self.sql("(");
                self.column(None, "owner");
                self.sql(",");
                self.redacted(None);
                self.sql(") = (");
                self.value_for("owner");
                self.sql(",");
                self.secret();
                self.sql(")");
            }
            _ => {
                self.redacted(if self.backend == Backend::MySql {
                    q
                } else {
                    None
                });
                self.sql("=");
                self.secret();
            }
        }
        self.sql("WHERE");
        if self.c.flag() {
            self.secret_condition(q);
        } else {
            self.column(q, "id");
            self.sql("=");
            self.value_for("id");
        }
        self.returning();
    }

    fn select(&mut self) {
        match self.c.pick(6) {
            0 => {
                self.sql("WITH x AS (SELECT id,");
                self.redacted(None);
                self.sql("AS ph FROM");
                self.table("account", false);
                self.sql(") SELECT * FROM x WHERE ph =");
                self.secret();
            }
            1 => {
                self.sql("WITH x(i, owner) AS (SELECT id,");
                self.redacted(None);
                self.sql("FROM");
                self.table("account", false);
                self.sql(") SELECT * FROM x WHERE owner =");
                self.secret();
            }
            2 => {
                self.sql("SELECT * FROM (SELECT");
                self.redacted(None);
                self.sql_one(&["AS owner", "owner", "AS \"owner\""]);
                self.sql("FROM");
                self.table("account", false);
                self.sql(") d WHERE d.owner =");
                self.secret();
            }
            3 => {
                self.sql("SELECT * FROM (SELECT owner FROM exfil UNION SELECT");
                self.redacted(None);
                self.sql("FROM");
                self.table("account", false);
                self.sql(") u WHERE owner =");
                self.secret();
            }
            _ => {
                self.sql("SELECT");
                self.sql_one(&["*", "id", "owner, password_hash", "count(*)"]);
                self.sql("FROM");
                let q = self.table("account", true);
                if self.c.flag() {
                    self.sql("JOIN audit_log AS l ON l.record_id =");
                    self.tricky_literal();
                }
                self.sql("WHERE");
                self.secret_condition(q.as_deref());
                if self.c.flag() {
                    self.sql("ORDER BY id LIMIT");
                    self.param(5i64);
                }
            }
        }
    }

    fn insert(&mut self) {
        let verbs: &[&str] = match self.backend {
            Backend::Sqlite => &[
                "INSERT INTO",
                "INSERT OR REPLACE INTO",
                "INSERT OR IGNORE INTO",
                "REPLACE INTO",
            ],
            Backend::MySql => &[
                "INSERT INTO",
                "INSERT IGNORE INTO",
                "INSERT LOW_PRIORITY INTO",
                "INSERT",
                "REPLACE INTO",
                "REPLACE",
            ],
            Backend::Postgres => &["INSERT INTO"],
        };
        let verb = self.c.one(verbs);
        self.sql(verb);
        self.table("account", false);
        if self.backend == Backend::MySql && self.c.pick(4) == 0 {
            self.sql("SET owner =");
            self.value_for("owner");
            self.sql(",");
            self.redacted(None);
            self.sql("=");
            self.secret();
            return;
        }
        let redacted_first = self.c.flag();
        self.sql("(");
        if redacted_first {
            self.redacted(None);
            self.sql(", owner, balance) ");
        } else {
            self.sql("owner,");
            self.redacted(None);
            self.sql(", balance)");
        }
        let rows = 1 + self.c.pick(3);
        match self.c.pick(4) {
            0 => {
                self.sql("SELECT");
                self.row_values(redacted_first);
            }
            _ => {
                self.sql("VALUES");
                for row in 0..rows {
                    if row > 0 {
                        self.sql(",");
                    }
                    self.sql("(");
                    self.row_values(redacted_first);
                    self.sql(")");
                }
            }
        }
        match (self.backend, self.c.pick(3)) {
            (Backend::MySql, 1) => {
                self.sql("ON DUPLICATE KEY UPDATE");
                self.redacted(None);
                self.sql("=");
                self.secret();
            }
            (Backend::MySql, _) => {}
            (_, 1) => {
                self.sql("ON CONFLICT (id) DO UPDATE SET");
                self.redacted(None);
                self.sql("=");
                self.secret();
            }
            (_, 2) => self.sql("ON CONFLICT DO NOTHING"),
            _ => {}
        }
        self.returning();
    }

    /// The values of one row of `account (owner, <redacted>, balance)` (or redacted first).
    fn row_values(&mut self, redacted_first: bool) {
        let secret_value = |g: &mut Self| match g.c.pick(5) {
            0 => {
                g.sql("CAST(");
                g.secret();
                g.sql(if g.backend == Backend::MySql {
                    "AS CHAR)"
                } else {
                    "AS TEXT)"
                });
            }
            1 => {
                g.sql("(");
                g.secret();
                g.sql(")");
            }
            2 => {
                g.sql("lower(");
                g.secret();
                g.sql(")");
            }
            _ => g.secret(),
        };
        if redacted_first {
            secret_value(self);
            self.sql(",");
            self.value_for("owner");
        } else {
            self.value_for("owner");
            self.sql(",");
            secret_value(self);
        }
        self.sql(",");
        self.value_for("balance");
    }

    fn delete(&mut self) {
        self.sql("DELETE");
        if self.backend == Backend::MySql {
            let modifier = self.c.one(&["", "LOW_PRIORITY", "QUICK", "IGNORE"]);
            if !modifier.is_empty() {
                self.sql(modifier);
            }
        }
        self.sql("FROM");
        let q = self.table("account", self.backend != Backend::MySql);
        self.sql("WHERE");
        self.secret_condition(q.as_deref());
        self.returning();
    }

    /// The history API's value search and the audit INSERT of a redacted value.
    fn audit(&mut self) {
        let column = self.c.one(&["password_hash", "note"]);
        if self.c.flag() {
            self.sql("SELECT id FROM audit_log WHERE table_name =");
            self.param("account");
            self.sql("AND column_name =");
            self.param(column);
            self.sql_one(&["AND new_value =", "AND old_value ="]);
            self.param(format!("\"{SECRET}\""));
        } else {
            self.sql(
                "INSERT INTO audit_log (changeset_id, table_name, record_id, operation, \
                 column_name, old_value, new_value, changed_at) VALUES (",
            );
            self.param("c1");
            self.sql(",");
            let table = if self.c.flag() { "account" } else { "ACCOUNT" };
            self.param(table);
            self.sql(", '1', 'update',");
            self.param(column);
            self.sql(", NULL,");
            self.param(format!("\"{SECRET}\""));
            self.sql(",");
            self.param("2026-01-01T00:00:00Z");
            self.sql(")");
        }
    }

    fn statement(&mut self) {
        match self.c.pick(9) {
            0 | 1 => self.update(),
            2 | 3 => self.select(),
            4 | 5 => self.insert(),
            6 => self.delete(),
            7 => self.audit(),
            _ if self.backend == Backend::Sqlite => {
                // The shape of a buffered SQLite update: old-row read and write in one string.
                self.sql("SELECT 0 AS \"m\", * FROM account WHERE id =");
                self.value_for("id");
                self.sql(";");
                self.update();
            }
            _ => self.update(),
        }
    }

    /// Whitespace or a comment of the backend's dialect.
    fn separator(&mut self) -> &'static str {
        let mut options = vec![
            " ",
            " ",
            "\n",
            "\t",
            " /* c ? ' */ ",
            " /**/ ",
            "-- c ? '\n",
        ];
        match self.backend {
            Backend::MySql => {
                options.extend(["# c ? '\n", " /*+ hint ? */ ", "--\n", "/*!50000 */"])
            }
            Backend::Postgres => options.extend([" /* a /* ? */ ' */ ", "-- c \r"]),
            Backend::Sqlite => options.extend(["-- c\r\n"]),
        }
        self.c.one(&options)
    }

    /// The SQL and values: placeholders numbered in the backend's style (PostgreSQL `$N` and
    /// SQLite `?NNN` maybe out of order).
    fn finish(mut self) -> (String, Vec<Value>) {
        let pieces = std::mem::take(&mut self.pieces);
        let params = pieces
            .iter()
            .filter(|p| matches!(p, Piece::Param(_)))
            .count();
        // Positions: in order, or reversed (`$2 ... $1`).
        let reversed = self.backend != Backend::MySql && self.c.pick(3) == 0;
        let numbered = match self.backend {
            Backend::Postgres => true,
            Backend::Sqlite => reversed || self.c.pick(4) == 0,
            Backend::MySql => false,
        };
        let mut values: Vec<Option<Value>> = vec![None; params];
        let mut sql = String::new();
        let mut n = 0;
        for piece in pieces {
            sql.push_str(self.separator());
            match piece {
                Piece::Sql(text) => sql.push_str(&text),
                Piece::Param(value) => {
                    let position = if reversed { params - 1 - n } else { n };
                    n += 1;
                    values[position] = Some(value);
                    match (self.backend, numbered) {
                        (Backend::Postgres, _) => sql.push_str(&format!("${}", position + 1)),
                        (_, true) => sql.push_str(&format!("?{}", position + 1)),
                        _ => sql.push('?'),
                    }
                }
            }
        }
        sql.push_str(self.separator());
        (sql, values.into_iter().map(Option::unwrap).collect())
    }
}

fn generate(bytes: &[u8], backend: Backend) -> (String, Vec<Value>) {
    let mut generator = Gen {
        c: Choices { bytes, at: 0 },
        backend,
        pieces: Vec::new(),
    };
    generator.statement();
    generator.finish()
}

fn db_backend(backend: Backend) -> DbBackend {
    match backend {
        Backend::Sqlite => DbBackend::Sqlite,
        Backend::MySql => DbBackend::MySql,
        Backend::Postgres => DbBackend::Postgres,
    }
}

fn logger_options() -> audit_core::query_log::QueryLoggerBuilder {
    QueryLogger::builder()
        .log_params(true)
        .redact_entity::<account::Entity>()
        .redact_column("account", "note")
}

/// The generated statements of `backend` through the logger's callback: none leaks.
fn no_secret_in_any_event(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let logger = runtime.block_on(async {
        let mut db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        logger_options().attach(&mut db).unwrap()
    });
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let config = ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(bytes in proptest::collection::vec(any::<u8>(), 96))| {
        let (sql, values) = generate(&bytes, backend);
        let statement = Statement::from_sql_and_values(db_backend(backend), &sql, values);
        logger.observe(&Info {
            elapsed: Duration::from_micros(5),
            statement: &statement,
            failed: false,
        });
        let events = capture.take();
        prop_assert_eq!(events.len(), 1);
        prop_assert!(!events[0].contains(SECRET), "{:?} leaked: {}\n{}", backend, sql, events[0]);
    });
    assert!(logger.counters().total().statements >= 10_000);
}

#[test]
fn no_secret_in_any_event_sqlite() {
    no_secret_in_any_event(Backend::Sqlite);
}

#[test]
fn no_secret_in_any_event_postgres() {
    no_secret_in_any_event(Backend::Postgres);
}

#[test]
fn no_secret_in_any_event_mariadb() {
    no_secret_in_any_event(Backend::MySql);
}

/// A sample of generated statements run for real through a logged connection.
async fn sample_runs_for_real(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    fresh
        .db
        .execute_unprepared("CREATE TABLE exfil (owner VARCHAR(64))")
        .await
        .unwrap();
    logger_options().attach(&mut fresh.db).unwrap();
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let mut runner = TestRunner::deterministic();
    let bytes = proptest::collection::vec(any::<u8>(), 96);
    let (mut ok, total) = (0, 300);
    for _ in 0..total {
        let choices = bytes.new_tree(&mut runner).unwrap().current();
        let (sql, values) = generate(&choices, backend);
        let statement = Statement::from_sql_and_values(db_backend(backend), &sql, values);
        if fresh.db.query_all_raw(statement).await.is_ok() {
            ok += 1;
        }
        let events = capture.take();
        assert_eq!(events.len(), 1, "{sql}");
        assert!(
            !events[0].contains(SECRET),
            "{backend:?} leaked: {sql}\n{}",
            events[0]
        );
    }
    eprintln!("{backend:?}: {ok} of {total} generated statements ran without error");
    assert!(ok * 4 >= total, "{backend:?}: only {ok} of {total} ran");
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn sample_runs_for_real_sqlite() {
    sample_runs_for_real(Backend::Sqlite).await;
}

#[tokio::test]
async fn sample_runs_for_real_postgres() {
    sample_runs_for_real(Backend::Postgres).await;
}

#[tokio::test]
async fn sample_runs_for_real_mariadb() {
    sample_runs_for_real(Backend::MySql).await;
}
