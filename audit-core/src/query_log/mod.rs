//! Query logging: every statement a connection runs, as a `tracing` event with its SQL,
//! kind, tables, time, outcome and the audit scope's actor and context; counters for
//! metrics; and an optional access log of reads of sensitive tables.
//!
//! Built on SeaORM's metric callback ([`DatabaseConnection::set_metric_callback`]), which
//! runs synchronously in the task that ran the statement, so the actor and context of
//! [`AuditContext::scope`](crate::AuditContext::scope) are the ones in force for it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use audit_core::query_log::QueryLogger;
//! let mut db = sea_orm::Database::connect("sqlite::memory:").await?;
//! // Attach before cloning `db`: clones made earlier do not log.
//! let logger = QueryLogger::builder()
//!     .slow_threshold(std::time::Duration::from_millis(200))
//!     .attach(&mut db)?;
//! // ... run queries through `db` ...
//! let selects = logger.counters().kind(audit_core::query_log::QueryKind::Select);
//! println!("{} selects, {:?} in total", selects.statements, selects.total);
//! # Ok(()) }
//! ```
//!
//! Events go to target [`TARGET`] (`audit_core::query`), at the builder's level (DEBUG by
//! default), or at WARN for a failed or slow statement. Their fields: `backend`, `kind`
//! (`select`, `insert`, `update`, `delete`, `other`), `tables` (comma-separated, when they
//! can be read off the SQL), `sql`, `elapsed_us`, `success`, `slow`, `actor` and `context`
//! (JSON) when set, and `params` (JSON array) when [`QueryLoggerBuilder::log_params`] is on
//! and the statement has bound values.
//!
//! What SeaORM does not meter is not logged: `execute_unprepared` (raw SQL text without
//! parameters), `BEGIN`/`COMMIT`/`ROLLBACK`, and anything on a mock, proxy or disconnected
//! connection. Redaction knows the columns you register
//! ([`QueryLoggerBuilder::redact_entity`]); register every entity with `#[audit(redact)]`
//! columns before turning [`QueryLoggerBuilder::log_params`] on.

mod access_log;
mod counters;
mod params;
mod parse;
mod redact;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use sea_orm::metric::Info;
use tracing::Level;

pub use access_log::{AccessLog, AccessLogStats};
pub use counters::{KindCounters, QueryCounters};
pub use parse::QueryKind;

use crate::entity::AuditedEntity;
use crate::{AuditError, current_context};
use access_log::AccessSender;
use redact::Redactions;

/// The `tracing` target of every event of the query logger.
pub const TARGET: &str = "audit_core::query";

/// A query logger attached to a [`DatabaseConnection`]: read its counters and access-log
/// statistics here. Cheap to clone; the connection keeps logging when this is dropped.
#[derive(Clone, Debug)]
pub struct QueryLogger {
    shared: Arc<Shared>,
}

impl QueryLogger {
    /// Attaches a logger with the default options: events at DEBUG, no parameters, no
    /// slow-query threshold, no access log. Replaces any metric callback `db` had.
    pub fn attach(db: &mut DatabaseConnection) -> QueryLogger {
        let shared = Arc::new(Shared::new(QueryLoggerBuilder::default(), None));
        install(db, &shared);
        QueryLogger { shared }
    }

    /// A builder for a logger with options.
    pub fn builder() -> QueryLoggerBuilder {
        QueryLoggerBuilder::default()
    }

    /// The counters since the logger was attached.
    pub fn counters(&self) -> QueryCounters {
        self.shared.counters.snapshot()
    }

    /// What the access log has written and dropped, `None` when it is off.
    pub fn access_log_stats(&self) -> Option<AccessLogStats> {
        self.shared.access.as_ref().map(AccessSender::stats)
    }

    /// Waits until every access-log entry queued so far is written (returns at once when
    /// the access log is off).
    pub async fn flush_access_log(&self) {
        if let Some(access) = &self.shared.access {
            access.flush().await;
        }
    }
}

/// Options of a [`QueryLogger`]; [`QueryLoggerBuilder::attach`] installs it.
#[derive(Clone, Debug)]
#[must_use = "a logger does nothing until `attach`ed"]
pub struct QueryLoggerBuilder {
    level: Level,
    log_params: bool,
    slow: Option<Duration>,
    redactions: Redactions,
    access_log: Option<AccessLog>,
}

impl Default for QueryLoggerBuilder {
    fn default() -> Self {
        QueryLoggerBuilder {
            level: Level::DEBUG,
            log_params: false,
            slow: None,
            redactions: Redactions::default(),
            access_log: None,
        }
    }
}

impl QueryLoggerBuilder {
    /// The level of the event of a statement that neither failed nor was slow (default DEBUG).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Logs bound parameter values in the `params` field (default off). Values of columns
    /// registered with [`redact_entity`](Self::redact_entity) or
    /// [`redact_column`](Self::redact_column) are replaced by [`REDACTED`](crate::REDACTED),
    /// and so is any value that cannot be attributed to a column in a statement touching a
    /// table with redacted columns.
    pub fn log_params(mut self, on: bool) -> Self {
        self.log_params = on;
        self
    }

    /// Statements taking at least `threshold` are logged at WARN and counted as slow.
    pub fn slow_threshold(mut self, threshold: Duration) -> Self {
        self.slow = Some(threshold);
        self
    }

    /// Never logs the values of `E`'s `#[audit(redact)]` columns.
    pub fn redact_entity<E: AuditedEntity>(mut self) -> Self {
        self.redactions.add_entity::<E>();
        self
    }

    /// Never logs the values of `table.column` (for tables without `#[derive(Audited)]`).
    pub fn redact_column(mut self, table: &str, column: &str) -> Self {
        self.redactions.add(table, column);
        self
    }

    /// Records reads of sensitive tables in an access-log table (see [`AccessLog`]).
    pub fn access_log(mut self, access_log: AccessLog) -> Self {
        self.access_log = Some(access_log);
        self
    }

    /// Attaches the logger to `db`, replacing any metric callback it had. Do this before
    /// cloning `db`: clones made earlier do not log. Fails when the access log is on and
    /// its table name is invalid or there is no tokio runtime to run its writer.
    pub fn attach(mut self, db: &mut DatabaseConnection) -> Result<QueryLogger, AuditError> {
        let access = match self.access_log.take() {
            Some(access_log) => Some(access_log.start(db)?),
            None => None,
        };
        let shared = Arc::new(Shared::new(self, access));
        install(db, &shared);
        Ok(QueryLogger { shared })
    }
}

fn install(db: &mut DatabaseConnection, shared: &Arc<Shared>) {
    let shared = Arc::clone(shared);
    db.set_metric_callback(move |info| shared.on_statement(info));
}

#[derive(Debug)]
struct Shared {
    options: QueryLoggerBuilder,
    counters: counters::Counters,
    access: Option<AccessSender>,
}

/// A `tracing` macro at a level chosen at run time.
macro_rules! at_level {
    ($level:expr, $macro:ident!($($args:tt)*)) => {
        match $level {
            Level::ERROR => tracing::$macro!(target: TARGET, Level::ERROR, $($args)*),
            Level::WARN => tracing::$macro!(target: TARGET, Level::WARN, $($args)*),
            Level::INFO => tracing::$macro!(target: TARGET, Level::INFO, $($args)*),
            Level::DEBUG => tracing::$macro!(target: TARGET, Level::DEBUG, $($args)*),
            _ => tracing::$macro!(target: TARGET, Level::TRACE, $($args)*),
        }
    };
}

impl Shared {
    fn new(options: QueryLoggerBuilder, access: Option<AccessSender>) -> Self {
        Shared {
            options,
            counters: counters::Counters::default(),
            access,
        }
    }

    fn on_statement(&self, info: &Info<'_>) {
        if access_log::in_writer() {
            return;
        }
        let statement = info.statement;
        let kind = QueryKind::of(&statement.sql);
        let slow = self.options.slow.is_some_and(|t| info.elapsed >= t);
        self.counters.record(kind, info.elapsed, info.failed, slow);
        let level = if info.failed || slow {
            Level::WARN
        } else {
            self.options.level
        };
        let emit = at_level!(level, enabled!());
        let access = self
            .access
            .as_ref()
            .filter(|_| kind == QueryKind::Select && !info.failed);
        if !emit && access.is_none() {
            return;
        }
        let values = statement.values.as_ref().map_or(&[][..], |v| &v.0[..]);
        let parsed = parse::parse(&statement.sql, statement.db_backend, values.len());
        let context = current_context();
        if let Some(access) = access.filter(|a| a.wants(&parsed.tables)) {
            access.record(&parsed.tables, statement, &context);
        }
        if !emit {
            return;
        }
        let params = (self.options.log_params && !values.is_empty())
            .then(|| self.options.redactions.render(&parsed, values));
        let tables = (!parsed.tables.is_empty()).then(|| parsed.tables.join(","));
        let context_json = context.context_json();
        let message = match (info.failed, slow) {
            (true, _) => "query failed",
            (false, true) => "slow query",
            (false, false) => "query",
        };
        at_level!(
            level,
            event!(
                backend = backend_name(statement.db_backend),
                kind = kind.as_str(),
                tables = tables.as_deref(),
                sql = %statement.sql,
                elapsed_us = u64::try_from(info.elapsed.as_micros()).unwrap_or(u64::MAX),
                success = !info.failed,
                slow,
                actor = context.actor_name(),
                context = context_json.as_ref().map(tracing::field::display),
                params = params.as_deref().map(tracing::field::display),
                "{message}"
            )
        );
    }
}

fn backend_name(backend: sea_orm::DbBackend) -> &'static str {
    match backend {
        sea_orm::DbBackend::Postgres => "postgres",
        sea_orm::DbBackend::MySql => "mysql",
        _ => "sqlite",
    }
}
