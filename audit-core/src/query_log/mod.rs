//! Query logging: every statement a connection runs, as a `tracing` event with its SQL,
//! kind, tables, time, outcome and the audit scope's actor and context; counters for
//! metrics; and an optional access log of reads of sensitive tables.
//!
//! Built on SeaORM's metric callback ([`DatabaseConnection::set_metric_callback`]), which
//! runs synchronously in the task that ran the statement, so the actor and context of
//! [`AuditContext::scope`](crate::AuditContext::scope) are the ones in force for it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use audit_core::query_log::QueryLogger;
//! use sea_orm::ConnectionTrait;
//! let mut db = sea_orm::Database::connect("sqlite::memory:").await?;
//! // Attach before cloning `db`: clones made earlier do not log.
//! let logger = QueryLogger::builder()
//!     .slow_threshold(std::time::Duration::from_millis(200))
//!     .attach(&mut db)?;
//! db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), "SELECT 1")).await?;
//! let selects = logger.counters().kind(audit_core::query_log::QueryKind::Select);
//! assert_eq!(selects.statements, 1);
//! println!("{} selects, {:?} in total", selects.statements, selects.total);
//! # Ok(())
//! # }
//! ```
//!
//! Events go to target [`TARGET`] (`audit_core::query`), at the builder's level (DEBUG by
//! default), or at WARN for a failed or slow statement. Their fields follow OpenTelemetry's
//! database conventions as SeaORM's `tracing-spans` feature names them: `db.system`
//! (`postgresql`, `mysql`, `sqlite`), `db.operation` (`SELECT`, `INSERT`, `UPDATE`,
//! `DELETE`, `EXECUTE`), `db.statement` (the SQL, placeholders and all, never the bound
//! values), `otel.status_code` (`OK`, `ERROR`); and the logger's own: `tables`
//! (comma-separated, when they can be read off the SQL), `elapsed_us`, `slow`, `actor` and
//! `context` (JSON) when set, and `params` (JSON array) when
//! [`QueryLoggerBuilder::log_params`] is on and the statement has bound values.
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
pub use sea_orm::metric::Info;
use tracing::Level;

pub use access_log::{AccessLog, AccessLogStats};
pub use counters::{KindCounters, QueryCounters};
pub use parse::QueryKind;

use crate::entity::AuditedEntity;
use crate::{AuditError, current_context};
use access_log::AccessSender;
use redact::Redactions;

/// The `tracing` target of every event of the query logger.
///
/// ```
/// // Route the logger's events with a `tracing` filter, e.g. `RUST_LOG=audit_core::query=debug`.
/// assert_eq!(audit_core::query_log::TARGET, "audit_core::query");
/// ```
pub const TARGET: &str = "audit_core::query";

/// A query logger attached to a [`DatabaseConnection`]: read its counters and access-log
/// statistics here. Cheap to clone; the connection keeps logging when this is dropped.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mut db = demo_db().await?;
/// use audit_core::query_log::{QueryKind, QueryLogger};
/// let logger = QueryLogger::attach(&mut db);
/// ticket::Entity::find().all(&db).await?;
/// assert_eq!(logger.counters().kind(QueryKind::Select).statements, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct QueryLogger {
    shared: Arc<Shared>,
}

impl QueryLogger {
    /// Attaches a logger with the default options: events at DEBUG, no parameters, no
    /// slow-query threshold, no access log. It takes `db`'s metric callback slot: see
    /// [`QueryLoggerBuilder::attach`].
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// let logger = audit_core::query_log::QueryLogger::attach(&mut db);
    /// ticket::Entity::find_by_id(1).one(&db).await?;
    /// assert_eq!(logger.counters().total().statements, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn attach(db: &mut DatabaseConnection) -> QueryLogger {
        let shared = Arc::new(Shared::new(QueryLoggerBuilder::default(), None));
        install(db, &shared);
        QueryLogger { shared }
    }

    /// A builder for a logger with options.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// use std::time::Duration;
    /// let logger = audit_core::query_log::QueryLogger::builder()
    ///     .slow_threshold(Duration::ZERO) // every statement is slow
    ///     .attach(&mut db)?;
    /// ticket::Entity::find().all(&db).await?;
    /// assert_eq!(logger.counters().slow, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> QueryLoggerBuilder {
        QueryLoggerBuilder::default()
    }

    /// Logs one statement, as the callback [`attach`](Self::attach) installs does: for a
    /// metric callback of your own set after the logger's (SeaORM has one slot), call this
    /// from it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use audit_core::query_log::QueryLogger;
    /// use sea_orm::ConnectionTrait;
    /// let mut db = sea_orm::Database::connect("sqlite::memory:").await?;
    /// let logger = QueryLogger::attach(&mut db);
    /// let observer = logger.clone();
    /// db.set_metric_callback(move |info| {
    ///     // ... your own metrics ...
    ///     observer.observe(info);
    /// });
    /// db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), "SELECT 1")).await?;
    /// assert_eq!(logger.counters().total().statements, 1); // still counted
    /// # Ok(())
    /// # }
    /// ```
    pub fn observe(&self, info: &Info<'_>) {
        self.shared.on_statement(info);
    }

    /// The counters since the logger was attached.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// use audit_core::query_log::{QueryKind, QueryLogger};
    /// let logger = QueryLogger::attach(&mut db);
    /// # let t = ticket::Entity::find_by_id(1).one(&db).await?.unwrap();
    /// # let mut am: ticket::ActiveModel = t.into();
    /// # am.note = Set("fixed".into());
    /// # am.update(&db).await?;
    /// // An audited update: the old row's read, the update and its audit row's insert.
    /// let counters = logger.counters();
    /// assert_eq!(counters.kind(QueryKind::Update).statements, 1);
    /// assert!(counters.kind(QueryKind::Insert).statements >= 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn counters(&self) -> QueryCounters {
        self.shared.counters.snapshot()
    }

    /// What the access log has written and dropped, `None` when it is off.
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
    /// assert_eq!(logger.access_log_stats().unwrap().written, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn access_log_stats(&self) -> Option<AccessLogStats> {
        self.shared.access.as_ref().map(AccessSender::stats)
    }

    /// Waits until every access-log entry queued so far is written (returns at once when
    /// the access log is off).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// use audit_core::query_log::{AccessLog, QueryLogger};
    /// let access = AccessLog::new().sensitive_table("ticket");
    /// access.create_table(&db).await?;
    /// let logger = QueryLogger::builder().access_log(access).attach(&mut db)?;
    /// audit_core::with_actor("auditor", ticket::Entity::find().all(&db)).await?;
    /// logger.flush_access_log().await; // the entry is in the table now
    /// let rows = db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), "SELECT actor FROM audit_access_log")).await?;
    /// assert_eq!(rows[0].try_get::<String>("", "actor")?, "auditor");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn flush_access_log(&self) {
        if let Some(access) = &self.shared.access {
            access.flush().await;
        }
    }
}

/// Options of a [`QueryLogger`]; [`QueryLoggerBuilder::attach`] installs it.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mut db = demo_db().await?;
/// use audit_core::query_log::QueryLogger;
/// let logger = QueryLogger::builder()
///     .level(tracing::Level::INFO)
///     .log_params(true)
///     .redact_entity::<ticket::Entity>() // `secret` never reaches the log
///     .attach(&mut db)?;
/// # let _ = logger;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a logger does nothing until `attach`ed"]
pub struct QueryLoggerBuilder {
    level: Level,
    log_params: bool,
    slow: Option<Duration>,
    redactions: Redactions,
    access_log: Option<AccessLog>,
    chained: Option<Chained>,
}

/// A metric callback the logger calls after its own work.
#[derive(Clone)]
struct Chained(Arc<dyn Fn(&Info<'_>) + Send + Sync>);

impl std::fmt::Debug for Chained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Chained(..)")
    }
}

impl Default for QueryLoggerBuilder {
    fn default() -> Self {
        QueryLoggerBuilder {
            level: Level::DEBUG,
            log_params: false,
            slow: None,
            redactions: Redactions::default(),
            access_log: None,
            chained: None,
        }
    }
}

impl QueryLoggerBuilder {
    /// The level of the event of a statement that neither failed nor was slow (default DEBUG).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// let _logger = audit_core::query_log::QueryLogger::builder().level(tracing::Level::TRACE).attach(&mut db)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Logs bound parameter values in the `params` field (default off). Values of columns
    /// registered with [`redact_entity`](Self::redact_entity) or
    /// [`redact_column`](Self::redact_column) are replaced by [`REDACTED`](crate::REDACTED),
    /// and so is any value that cannot be attributed to a column in a statement touching a
    /// table with redacted columns.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// let _logger = audit_core::query_log::QueryLogger::builder()
    ///     .redact_entity::<ticket::Entity>()
    ///     .log_params(true)
    ///     .attach(&mut db)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn log_params(mut self, on: bool) -> Self {
        self.log_params = on;
        self
    }

    /// Statements taking at least `threshold` are logged at WARN and counted as slow.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// use std::time::Duration;
    /// let logger = audit_core::query_log::QueryLogger::builder().slow_threshold(Duration::from_secs(60)).attach(&mut db)?;
    /// ticket::Entity::find().all(&db).await?;
    /// assert_eq!(logger.counters().slow, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn slow_threshold(mut self, threshold: Duration) -> Self {
        self.slow = Some(threshold);
        self
    }

    /// Never logs the values of `E`'s `#[audit(redact)]` columns.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// let _logger = audit_core::query_log::QueryLogger::builder().redact_entity::<ticket::Entity>().log_params(true).attach(&mut db)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn redact_entity<E: AuditedEntity>(mut self) -> Self {
        self.redactions.add_entity::<E>();
        self
    }

    /// Never logs the values of `table.column` (for tables without `#[derive(Audited)]`).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// // A table without `#[derive(Audited)]`.
    /// let _logger = audit_core::query_log::QueryLogger::builder().redact_column("session", "token").log_params(true).attach(&mut db)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn redact_column(mut self, table: &str, column: &str) -> Self {
        self.redactions.add(table, column);
        self
    }

    /// Records reads of sensitive tables in an access-log table (see [`AccessLog`]).
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
    /// let _logger = QueryLogger::builder().access_log(access).attach(&mut db)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn access_log(mut self, access_log: AccessLog) -> Self {
        self.access_log = Some(access_log);
        self
    }

    /// A metric callback of your own, called after the logger for every statement: SeaORM
    /// keeps one callback per connection, so pass yours here instead of
    /// [`DatabaseConnection::set_metric_callback`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use audit_core::query_log::QueryLogger;
    /// use sea_orm::ConnectionTrait;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// static MINE: AtomicU64 = AtomicU64::new(0);
    /// let mut db = sea_orm::Database::connect("sqlite::memory:").await?;
    /// QueryLogger::builder()
    ///     .chain(|_info| {
    ///         MINE.fetch_add(1, Ordering::Relaxed); // your own metrics
    ///     })
    ///     .attach(&mut db)?;
    /// db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), "SELECT 1")).await?;
    /// assert_eq!(MINE.load(Ordering::Relaxed), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn chain(mut self, callback: impl Fn(&Info<'_>) + Send + Sync + 'static) -> Self {
        self.chained = Some(Chained(Arc::new(callback)));
        self
    }

    /// Attaches the logger to `db`. Do this before cloning `db`: clones made earlier do not
    /// log. Fails when the access log is on and its table name is invalid or there is no
    /// tokio runtime to run its writer.
    ///
    /// SeaORM 2.0 keeps one metric callback per connection and offers no way to read or
    /// detect it ([`DatabaseConnection::set_metric_callback`] is its only accessor), so the
    /// logger cannot find a callback set before: it takes the slot. Hand your own callback
    /// to [`chain`](Self::chain), or call [`QueryLogger::observe`] from a callback you set
    /// after this.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut db = demo_db().await?;
    /// use audit_core::query_log::{AccessLog, QueryLogger};
    /// // An invalid access-log table name is refused before anything is attached.
    /// let refused = QueryLogger::builder().access_log(AccessLog::new().table_name("no spaces")).attach(&mut db);
    /// assert!(refused.is_err());
    /// let logger = QueryLogger::builder().attach(&mut db)?;
    /// ticket::Entity::find().all(&db).await?;
    /// assert_eq!(logger.counters().total().statements, 1);
    /// # Ok(())
    /// # }
    /// ```
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
        if !access_log::in_writer() {
            self.log(info);
        }
        if let Some(Chained(callback)) = &self.options.chained {
            callback(info);
        }
    }

    fn log(&self, info: &Info<'_>) {
        let statement = info.statement;
        let kind = QueryKind::of(&statement.sql, statement.db_backend);
        let slow = self.options.slow.is_some_and(|t| info.elapsed >= t);
        self.counters.record(kind, info.elapsed, info.failed, slow);
        let level = if info.failed || slow {
            Level::WARN
        } else {
            self.options.level
        };
        let emit = at_level!(level, enabled!());
        let access = self.access.as_ref().filter(|_| !info.failed);
        if !emit && access.is_none() {
            return;
        }
        let values = statement.values.as_ref().map_or(&[][..], |v| &v.0[..]);
        let parsed = parse::parse(&statement.sql, statement.db_backend, values.len());
        if parsed.unreadable.is_some() {
            self.counters.record_unreadable();
        }
        let audit_table = crate::config().table_name;
        let context = current_context();
        if let Some(access) = access {
            let read = access.tables_read(&parsed, values, &audit_table);
            if !read.is_empty() {
                access.record(&read, statement, &context);
            }
        }
        if !emit {
            return;
        }
        let params = (self.options.log_params && !values.is_empty()).then(|| {
            self.options
                .redactions
                .render(&parsed, values, &audit_table)
        });
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
                db.system = crate::spans::db_system(statement.db_backend),
                db.operation = kind.operation(),
                db.statement = %statement.sql,
                otel.status_code = if info.failed { "ERROR" } else { "OK" },
                tables = tables.as_deref(),
                elapsed_us = u64::try_from(info.elapsed.as_micros()).unwrap_or(u64::MAX),
                slow,
                actor = context.actor_name(),
                context = context_json.as_ref().map(tracing::field::display),
                params = params.as_deref().map(tracing::field::display),
                "{message}"
            )
        );
    }
}
