//! The optional access log: one row per successful read of a sensitive table (who, which
//! table, when, with which statement), written in batches by a background task so the
//! caller's query never waits for it.
//!
//! SeaORM's metric callback does not report how many rows a statement returned, so the
//! access log records none. Reads made by the audit write path itself (the old row read
//! before an update or delete) count as reads too.
//!
//! The statement callback only `try_send`s into a bounded channel. When the channel is full
//! (or the writer is gone) the entry is dropped and counted, and a WARN event says so.
//! The writer runs its inserts inside a task-local marker, so a logger attached to the
//! writer's own connection ignores them: access logging never logs itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Value};
use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot};

use super::TARGET;
use super::params::Slot;
use super::parse::Parsed;
use super::tokens::Token;
use crate::record::{json_value, time_value};
use crate::{AuditContext, AuditError};

tokio::task_local! {
    static IN_WRITER: ();
}

/// Whether the current task is the access-log writer.
pub(crate) fn in_writer() -> bool {
    IN_WRITER.try_with(|_| ()).is_ok()
}

/// Options of the access log, passed to
/// [`QueryLoggerBuilder::access_log`](super::QueryLoggerBuilder::access_log).
///
/// ```
/// use audit_core::query_log::AccessLog;
/// let access = AccessLog::new()
///     .sensitive_table("payroll")
///     .capacity(50_000)
///     .batch_size(500);
/// ```
#[derive(Clone, Debug)]
#[must_use = "an access log does nothing until passed to `QueryLoggerBuilder::access_log`"]
pub struct AccessLog {
    table: String,
    sensitive: Vec<String>,
    capacity: usize,
    batch_size: usize,
    max_delay: Duration,
    connection: Option<DatabaseConnection>,
}

impl Default for AccessLog {
    fn default() -> Self {
        Self::new()
    }
}

impl AccessLog {
    /// Table `audit_access_log`, no sensitive tables yet, room for 10,000 queued entries,
    /// batches of up to 256 rows, entries waiting at most 200 ms for others to share their
    /// `INSERT`.
    ///
    /// ```
    /// let _access = audit_core::query_log::AccessLog::new();
    /// ```
    pub fn new() -> Self {
        AccessLog {
            table: "audit_access_log".to_owned(),
            sensitive: Vec::new(),
            capacity: 10_000,
            batch_size: 256,
            max_delay: Duration::from_millis(200),
            connection: None,
        }
    }

    /// Marks `E`'s table as sensitive: its reads are recorded.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let _access = audit_core::query_log::AccessLog::new().sensitive::<ticket::Entity>();
    /// # Ok(())
    /// # }
    /// ```
    pub fn sensitive<E: EntityTrait>(self) -> Self {
        let table = E::default().table_name().to_owned();
        self.sensitive_table(table)
    }

    /// Marks the table named `table` as sensitive.
    ///
    /// ```
    /// let _access = audit_core::query_log::AccessLog::new().sensitive_table("payroll");
    /// ```
    pub fn sensitive_table(mut self, table: impl Into<String>) -> Self {
        self.sensitive.push(table.into());
        self
    }

    /// Names the access-log table (default `audit_access_log`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = sea_orm::Database::connect("sqlite::memory:").await?;
    /// let access = audit_core::query_log::AccessLog::new().table_name("reads");
    /// access.create_table(&db).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn table_name(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// How many entries may wait for the writer before new ones are dropped (at least 1).
    ///
    /// ```
    /// let _access = audit_core::query_log::AccessLog::new().capacity(100_000);
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// At most this many rows per `INSERT` (at least 1).
    ///
    /// ```
    /// let _access = audit_core::query_log::AccessLog::new().batch_size(1_000);
    /// ```
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// How long the writer waits, after an entry arrives, for more to write in the same
    /// `INSERT` (unless the batch is full or a flush is asked for). Fewer, larger inserts
    /// keep the writer off the connection the application uses.
    ///
    /// ```
    /// let _access = audit_core::query_log::AccessLog::new().max_delay(std::time::Duration::from_millis(50));
    /// ```
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The connection the writer uses (default: the logged connection's pool, without the
    /// logger). A pool of its own keeps the writer from ever taking a connection the
    /// application is waiting for.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A pool of its own for the writer.
    /// let writer = sea_orm::Database::connect("sqlite::memory:").await?;
    /// let _access = audit_core::query_log::AccessLog::new().connection(writer);
    /// # Ok(())
    /// # }
    /// ```
    pub fn connection(mut self, db: DatabaseConnection) -> Self {
        self.connection = Some(db);
        self
    }

    /// Creates the access-log table and its indexes if they do not exist yet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = sea_orm::Database::connect("sqlite::memory:").await?;
    /// let access = audit_core::query_log::AccessLog::new();
    /// access.create_table(&db).await?;
    /// access.create_table(&db).await?; // idempotent
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_table<C: ConnectionTrait>(&self, db: &C) -> Result<(), AuditError> {
        crate::config::validate_table_name("access log table", &self.table)?;
        for sql in table_sql(db.get_database_backend(), &self.table) {
            db.execute_unprepared(&sql)
                .await
                .map_err(|source| AuditError::Write {
                    table: self.table.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Starts the writer task on the current tokio runtime. `logged` is the connection the
    /// logger is about to be attached to (cloned before that, so without the logger).
    pub(crate) fn start(self, logged: &DatabaseConnection) -> Result<AccessSender, AuditError> {
        crate::config::validate_table_name("access log table", &self.table)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            AuditError::Config(
                "the access log starts a writer task: attach the query logger inside a tokio runtime"
                    .to_owned(),
            )
        })?;
        let (tx, rx) = mpsc::channel(self.capacity);
        let stats = Arc::new(Stats::default());
        let db = self.connection.unwrap_or_else(|| logged.clone());
        let writer = Writer {
            db,
            table: self.table,
            batch_size: self.batch_size,
            max_delay: self.max_delay,
            stats: Arc::clone(&stats),
        };
        runtime.spawn(IN_WRITER.scope((), writer.run(rx)));
        Ok(AccessSender {
            tx,
            sensitive: self.sensitive,
            stats,
        })
    }
}

fn table_sql(backend: DbBackend, table: &str) -> Vec<String> {
    let indexes = [("table", "table_name"), ("actor", "actor")];
    match backend {
        DbBackend::Postgres => {
            let mut sql = vec![format!(
                r#"CREATE TABLE IF NOT EXISTS "{table}" (
                    "id" BIGSERIAL PRIMARY KEY,
                    "table_name" VARCHAR(128) NOT NULL,
                    "actor" VARCHAR(255),
                    "accessed_at" TIMESTAMPTZ NOT NULL,
                    "context" JSONB,
                    "statement" TEXT NOT NULL
                )"#
            )];
            sql.extend(indexes.map(|(suffix, column)| {
                format!(
                    r#"CREATE INDEX IF NOT EXISTS "{table}_{suffix}" ON "{table}" ("{column}", "accessed_at")"#
                )
            }));
            sql
        }
        DbBackend::MySql => vec![format!(
            r#"CREATE TABLE IF NOT EXISTS `{table}` (
                `id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                `table_name` VARCHAR(128) NOT NULL,
                `actor` VARCHAR(255) NULL,
                `accessed_at` DATETIME(6) NOT NULL,
                `context` LONGTEXT NULL CHECK (`context` IS NULL OR JSON_VALID(`context`)),
                `statement` LONGTEXT NOT NULL{}
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"#,
            indexes
                .map(|(suffix, column)| format!(
                    ",\n                INDEX `{table}_{suffix}` (`{column}`, `accessed_at`)"
                ))
                .concat()
        )],
        _ => {
            let mut sql = vec![format!(
                r#"CREATE TABLE IF NOT EXISTS "{table}" (
                    "id" INTEGER PRIMARY KEY AUTOINCREMENT,
                    "table_name" TEXT NOT NULL,
                    "actor" TEXT,
                    "accessed_at" TEXT NOT NULL,
                    "context" TEXT CHECK ("context" IS NULL OR json_valid("context")),
                    "statement" TEXT NOT NULL
                )"#
            )];
            sql.extend(indexes.map(|(suffix, column)| {
                format!(
                    r#"CREATE INDEX IF NOT EXISTS "{table}_{suffix}" ON "{table}" ("{column}", "accessed_at")"#
                )
            }));
            sql
        }
    }
}

/// What the access log has done since it started.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mut db = demo_db().await?;
/// use audit_core::query_log::{AccessLog, QueryLogger};
/// let access = AccessLog::new().sensitive::<ticket::Entity>();
/// access.create_table(&db).await?;
/// let logger = QueryLogger::builder().access_log(access).attach(&mut db)?;
/// ticket::Entity::find().all(&db).await?;
/// logger.flush_access_log().await;
/// let stats = logger.access_log_stats().unwrap();
/// assert_eq!((stats.written, stats.dropped, stats.failed), (1, 0, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessLogStats {
    /// Rows written to the access-log table.
    pub written: u64,
    /// Entries dropped because the queue was full or the writer had stopped.
    pub dropped: u64,
    /// Entries lost because their `INSERT` failed (each failure is logged at WARN).
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Stats {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

struct Entry {
    table: String,
    actor: Option<String>,
    context: Option<Json>,
    at: DateTime<Utc>,
    statement: String,
    backend: DbBackend,
}

enum Message {
    Entry(Entry),
    Flush(oneshot::Sender<()>),
}

/// The callback's end of the access log.
#[derive(Debug)]
pub(crate) struct AccessSender {
    tx: mpsc::Sender<Message>,
    sensitive: Vec<String>,
    stats: Arc<Stats>,
}

impl AccessSender {
    /// The sensitive tables a successful statement read: every one it names, when it returns
    /// or copies data; for a read of the audit trail, those whose rows it may return (all,
    /// unless an `AND`-only filter on `table_name` pins them); all when it cannot be read.
    pub(super) fn tables_read<'s>(
        &'s self,
        parsed: &Parsed<'_>,
        values: &[Value],
        audit_table: &str,
    ) -> Vec<&'s str> {
        let all = self.sensitive.iter().map(String::as_str);
        if parsed.unreadable.is_some() {
            return all.collect();
        }
        if !parsed.reads {
            return Vec::new();
        }
        let mut read: Vec<&str> = all.clone().filter(|t| parsed.names(t)).collect();
        if parsed.names(audit_table) {
            let trail: Vec<&str> = match pinned_trail_tables(parsed, values, audit_table) {
                Some(pinned) => all
                    .filter(|t| pinned.iter().any(|p| p.eq_ignore_ascii_case(t)))
                    .collect(),
                None => all.collect(),
            };
            for table in trail {
                if !read.contains(&table) {
                    read.push(table);
                }
            }
        }
        read
    }

    /// Queues one entry per table in `tables`; never waits.
    pub fn record(&self, tables: &[&str], statement: &sea_orm::Statement, context: &AuditContext) {
        let at = Utc::now().trunc_subsecs(6);
        for table in tables {
            let entry = Entry {
                table: (*table).to_owned(),
                actor: context.actor_name().map(str::to_owned),
                context: context.context_json(),
                at,
                statement: statement.sql.clone(),
                backend: statement.db_backend,
            };
            if self.tx.try_send(Message::Entry(entry)).is_err() {
                let dropped = self.stats.dropped.fetch_add(1, Relaxed) + 1;
                // Said at the first drop, then at every power of two.
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        target: TARGET,
                        dropped,
                        "access log queue full or writer stopped: entries dropped"
                    );
                }
            }
        }
    }

    /// Waits until every entry queued before this call is written (or has failed).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    pub fn stats(&self) -> AccessLogStats {
        AccessLogStats {
            written: self.stats.written.load(Relaxed),
            dropped: self.stats.dropped.load(Relaxed),
            failed: self.stats.failed.load(Relaxed),
        }
    }
}

/// The `table_name` values a read of the audit table is limited to, when it is one plain
/// `SELECT` of that table alone, without functions or subqueries, whose filter is `AND`s of
/// `table_name = ?` (or `IN (?, ...)`) and other conditions; `None` when its rows may belong
/// to any table.
fn pinned_trail_tables(
    parsed: &Parsed<'_>,
    values: &[Value],
    audit_table: &str,
) -> Option<Vec<String>> {
    let tokens = &parsed.tokens;
    let count = |f: &dyn Fn(&Token<'_>) -> bool| tokens.iter().filter(|t| f(t)).count();
    let plain = parsed.tables.len() == 1
        && !parsed.derived
        && count(&|t| t.is_keyword("select")) == 1
        && count(&|t| t.ident().is_some_and(|i| i.eq_ignore_ascii_case(audit_table))) == 1
        && count(&|t| t.is_any(&["or", "not", "join", "xor", "case", "is"])) == 0
        && count(&|t| matches!(t, Token::Punct(';' | '|'))) == 0
        // Parentheses only open `IN` lists.
        && tokens
            .iter()
            .enumerate()
            .all(|(i, t)| *t != Token::Punct('(') || (i > 0 && tokens[i - 1].is_keyword("in")));
    if !plain {
        return None;
    }
    let mut pinned = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        let Token::Param(param) = *token else {
            continue;
        };
        let Some(Slot::Column { column, .. }) = parsed.slots.get(param) else {
            continue;
        };
        if !column.eq_ignore_ascii_case("table_name") {
            continue;
        }
        // `table_name = ?` (not `<>`, `<=`, ...) or a member of `table_name IN (...)`.
        let equals =
            at >= 2 && tokens[at - 1] == Token::Punct('=') && tokens[at - 2].ident().is_some();
        let listed = at >= 1 && matches!(tokens[at - 1], Token::Punct('(' | ','));
        match values.get(param) {
            Some(Value::String(Some(text))) if equals || listed => pinned.push(text.clone()),
            _ => return None,
        }
    }
    (!pinned.is_empty()).then_some(pinned)
}

struct Writer {
    db: DatabaseConnection,
    table: String,
    batch_size: usize,
    max_delay: Duration,
    stats: Arc<Stats>,
}

impl Writer {
    /// Writes batches until every sender is gone.
    async fn run(self, mut rx: mpsc::Receiver<Message>) {
        let mut messages = Vec::with_capacity(self.batch_size);
        while rx.recv_many(&mut messages, self.batch_size).await > 0 {
            let flush = |m: &Message| matches!(m, Message::Flush(_));
            if messages.len() < self.batch_size && !messages.iter().any(flush) {
                tokio::time::sleep(self.max_delay).await;
                while messages.len() < self.batch_size {
                    match rx.try_recv() {
                        Ok(message) => messages.push(message),
                        Err(_) => break,
                    }
                }
            }
            let mut entries = Vec::with_capacity(messages.len());
            let mut acks = Vec::new();
            for message in messages.drain(..) {
                match message {
                    Message::Entry(entry) => entries.push(entry),
                    Message::Flush(ack) => acks.push(ack),
                }
            }
            if !entries.is_empty() {
                self.write(&entries).await;
            }
            for ack in acks {
                let _ = ack.send(());
            }
        }
    }

    async fn write(&self, entries: &[Entry]) {
        let backend = entries[0].backend;
        let mut insert = Query::insert();
        insert.into_table(Alias::new(&self.table)).columns(
            ["table_name", "actor", "accessed_at", "context", "statement"].map(Alias::new),
        );
        for entry in entries {
            insert.values_panic(
                [
                    entry.table.as_str().into(),
                    entry.actor.clone().into(),
                    time_value(backend, entry.at),
                    json_value(entry.context.as_ref()),
                    entry.statement.as_str().into(),
                ]
                .map(sea_orm::sea_query::SimpleExpr::Value),
            );
        }
        let count = entries.len() as u64;
        match self.db.execute_raw(backend.build(&insert)).await {
            Ok(_) => {
                self.stats.written.fetch_add(count, Relaxed);
            }
            Err(error) => {
                self.stats.failed.fetch_add(count, Relaxed);
                tracing::warn!(
                    target: TARGET,
                    table = %self.table,
                    lost = count,
                    %error,
                    "access log write failed"
                );
            }
        }
    }
}
