//! Audited transactions: the audit rows of every write in one transaction are buffered
//! and written together, in multi-row `INSERT`s, just before it commits, and the
//! transaction refuses to commit whenever it cannot be sure every change has its rows.
//!
//! [`transaction`] runs a closure like SeaORM's `TransactionTrait::transaction`, handing
//! it an [`AuditTransaction`]. Audited writes through it keep their rows in memory instead
//! of writing one `INSERT` each. The buffer is written, in order, through the same
//! transaction:
//! - before it commits;
//! - before any statement whose SQL names the audit table (the history API, your own SQL),
//!   so reads inside the transaction see every row;
//! - before a savepoint begins ([`AuditTransaction::begin`], or `SAVEPOINT` in raw SQL);
//!   while a savepoint is open, audit rows are written at once, inside it, so they roll
//!   back with it;
//! - once it holds [`FLUSH_AT_ROWS`] rows, to bound memory.
//!
//! **It fails closed.** The transaction rolls back and [`transaction`] returns an error,
//! never `Ok`, when anything in it could have left a change without its audit rows:
//! - an audit write or flush failed, even if the closure ignored the error;
//! - a statement was cancelled while it ran (a dropped future, `tokio::time::timeout`,
//!   `select!`): the database may have applied it, and its audit hook never ran;
//! - a write's `before_*` hook ran and its `after_*` hook did not;
//! - two audited writes of one record overlapped (e.g. `join!`ed on one transaction);
//! - on PostgreSQL, any statement failed (PostgreSQL has then aborted the transaction,
//!   and a `COMMIT` would silently roll it back);
//! - raw SQL tried to `COMMIT`, `ROLLBACK` or `BEGIN` the wrapper's own transaction
//!   (refused before it runs), or rewound a savepoint the wrapper did not see begin.
//!
//! Once doomed, every further statement through the transaction fails at once with the
//! reason. A transaction that rolls back drops its buffer with it: nothing is recorded
//! that did not happen.
//!
//! On SQLite an update's old-row read also waits: it runs in one round trip with the
//! write's own statement (`SELECT <old row>; UPDATE ... RETURNING ...`, which SQLite runs
//! in order, in the same transaction, with no statement between them), instead of a round
//! trip of its own. Where the write's statement returns no rows to split (a `DELETE`), the
//! read runs just before it, as it would without the buffer.

mod control;
mod db_scope;
mod savepoint;
mod state;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, IsolationLevel,
    QueryResult, Statement, TransactionError, TransactionOptions, TransactionTrait,
};

pub(crate) use db_scope::{hand_scope, is_audited};
pub use savepoint::AuditSavepoint;
pub(crate) use state::{StoredKey, WriteKey};

use crate::config;
use crate::record::{self, Batch};
use control::Control;
use state::{OldRow, State, lock};

/// A buffered transaction holds at most this many audit rows before writing them.
///
/// ```
/// // A buffered transaction writes its audit rows at commit, or whenever this many wait.
/// assert_eq!(audit_core::FLUSH_AT_ROWS, 10_000);
/// ```
pub const FLUSH_AT_ROWS: usize = 10_000;

/// Runs `callback` in a transaction whose audit rows are written together at commit.
///
/// The drop-in counterpart of SeaORM's `db.transaction(...)`: the closure gets an
/// [`AuditTransaction`] (a [`ConnectionTrait`] and [`TransactionTrait`]) to write through.
/// It commits when the closure returns `Ok` and the transaction is sure of its trail (see
/// [`AuditTransaction`]), and rolls back otherwise.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # use audit_core::Audited;
/// # use sea_orm::entity::prelude::*;
/// # use sea_orm::{ActiveValue::Set, Database, Schema};
/// # mod ticket {
/// #     use super::*;
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
/// #     #[sea_orm(table_name = "ticket")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #         pub status: String,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = Database::connect("sqlite::memory:").await?;
/// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(ticket::Entity)).await?;
/// # audit_core::create_audit_table(&db).await?;
/// use sea_orm::TransactionError;
///
/// audit_core::transaction(&db, |txn| {
///     Box::pin(async move {
///         for status in ["open", "triaged", "closed"] {
///             ticket::ActiveModel { status: Set(status.into()), ..Default::default() }
///                 .insert(txn)
///                 .await?;
///         }
///         Ok::<_, DbErr>(()) // commits: the 6 audit rows go in one INSERT just before
///     })
/// })
/// .await?;
/// assert_eq!(audit_core::table_history::<ticket::Entity>().fetch(&db).await?.len(), 6);
///
/// let failed = audit_core::transaction(&db, |txn| {
///     Box::pin(async move {
///         ticket::ActiveModel { status: Set("lost".into()), ..Default::default() }
///             .insert(txn)
///             .await?;
///         Err::<(), _>(DbErr::Custom("changed my mind".into())) // rolls back, rows and all
///     })
/// })
/// .await;
/// assert!(matches!(failed, Err(TransactionError::Transaction(_))));
/// assert_eq!(audit_core::table_history::<ticket::Entity>().fetch(&db).await?.len(), 6);
/// # Ok(())
/// # }
/// ```
pub async fn transaction<C, F, T, E>(db: &C, callback: F) -> Result<T, TransactionError<E>>
where
    C: TransactionTrait<Transaction = DatabaseTransaction>,
    F: for<'c> FnOnce(
            &'c AuditTransaction,
        ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
        + Send,
    T: Send,
    E: std::fmt::Display + std::fmt::Debug + Send,
{
    transaction_with_options(db, TransactionOptions::default(), callback).await
}

/// [`transaction`] begun with `options`: an isolation level, an access mode, or SQLite's
/// `IMMEDIATE` mode, which takes the write lock up front (concurrent SQLite writers then
/// wait for each other instead of failing to upgrade a read).
///
/// ```
/// use sea_orm::{DbErr, SqliteTransactionMode, TransactionOptions};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// let options = TransactionOptions {
///     sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
///     ..Default::default()
/// };
/// let answer = audit_core::transaction_with_options(&db, options, |_txn| {
///     Box::pin(async move { Ok::<_, DbErr>(42) })
/// })
/// .await?;
/// assert_eq!(answer, 42);
/// # Ok(())
/// # }
/// ```
pub async fn transaction_with_options<C, F, T, E>(
    db: &C,
    options: TransactionOptions,
    callback: F,
) -> Result<T, TransactionError<E>>
where
    C: TransactionTrait<Transaction = DatabaseTransaction>,
    F: for<'c> FnOnce(
            &'c AuditTransaction,
        ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
        + Send,
    T: Send,
    E: std::fmt::Display + std::fmt::Debug + Send,
{
    let inner = db
        .begin_with_options(options)
        .await
        .map_err(TransactionError::Connection)?;
    let txn = AuditTransaction {
        inner,
        shared: Arc::default(),
    };
    let result = {
        let _registered = Registration::new(&txn);
        if let Err(e) = txn.hand_initial_scope().await {
            let _ = txn.inner.rollback().await;
            return Err(TransactionError::Connection(e));
        }
        let result = callback(&txn).await;
        match result {
            Ok(value) => txn.finish().await.map(|()| value),
            Err(e) => Err(TransactionError::Transaction(e)),
        }
    };
    match result {
        Ok(value) => {
            txn.inner
                .commit()
                .await
                .map_err(TransactionError::Connection)?;
            Ok(value)
        }
        Err(e) => {
            // The first error is the one to report; a failed rollback of a doomed
            // transaction (the connection may be gone) changes nothing about it.
            let _ = txn.inner.rollback().await;
            Err(e)
        }
    }
}

/// The transaction [`transaction`] hands its closure: a SeaORM transaction whose audit
/// rows wait in a buffer until the transaction commits (it fails closed: see [`transaction`]).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use sea_orm::ConnectionTrait;
/// let count = audit_core::transaction(&db, |txn| {
///     Box::pin(async move {
///         // An AuditTransaction is a ConnectionTrait: SeaORM's API works through it.
///         let found = ticket::Entity::find().all(txn).await?;
///         Ok::<_, DbErr>((found.len(), txn.get_database_backend()))
///     })
/// })
/// .await?;
/// assert_eq!(count, (1, sea_orm::DbBackend::Sqlite));
/// # Ok(())
/// # }
/// ```
pub struct AuditTransaction {
    inner: DatabaseTransaction,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuditTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("AuditTransaction")
            .field("backend", &self.inner.get_database_backend())
            .field("buffered_rows", &state.rows)
            .field("doomed", &state.doomed)
            .finish_non_exhaustive()
    }
}

/// What an audited transaction and its savepoints share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Keeps flushes in order.
    flushing: tokio::sync::Mutex<()>,
}

/// The column that tells an old-row read's rows from the statement's own.
const OLD_ROW_MARKER: &str = "__audit_old_row";

impl AuditTransaction {
    /// Writes the buffered audit rows now, through this transaction. Statements that name
    /// the audit table flush by themselves; call this before reading a view over it.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # use audit_core::Audited;
    /// # use sea_orm::entity::prelude::*;
    /// # use sea_orm::{ActiveValue::Set, Database, Schema};
    /// # mod ticket {
    /// #     use super::*;
    /// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    /// #     #[sea_orm(table_name = "ticket")]
    /// #     pub struct Model {
    /// #         #[sea_orm(primary_key)]
    /// #         pub id: i32,
    /// #         pub status: String,
    /// #     }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {}
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(ticket::Entity)).await?;
    /// # audit_core::create_audit_table(&db).await?;
    /// use sea_orm::{ConnectionTrait, DbBackend, Statement};
    ///
    /// db.execute_unprepared("CREATE VIEW trail AS SELECT * FROM audit_log").await?;
    /// let count = Statement::from_string(DbBackend::Sqlite, "SELECT COUNT(*) AS n FROM trail");
    /// let (before, after) = audit_core::transaction(&db, |txn| {
    ///     let count = count.clone();
    ///     Box::pin(async move {
    ///         ticket::ActiveModel { status: Set("open".into()), ..Default::default() }
    ///             .insert(txn)
    ///             .await?;
    ///         let n = |row: Option<sea_orm::QueryResult>| row.map(|r| r.try_get::<i64>("", "n"));
    ///         let before = n(txn.query_one_raw(count.clone()).await?).transpose()?;
    ///         txn.flush().await?;
    ///         let after = n(txn.query_one_raw(count).await?).transpose()?;
    ///         Ok::<_, DbErr>((before, after))
    ///     })
    /// })
    /// .await?;
    /// assert_eq!((before, after), (Some(0), Some(2))); // the view did not name `audit_log`
    /// # Ok(())
    /// # }
    /// ```
    pub async fn flush(&self) -> Result<(), DbErr> {
        self.shared.flush(&self.inner).await
    }

    /// The last step before commit: flush, then make sure every begun write finished.
    async fn finish<E>(&self) -> Result<(), TransactionError<E>>
    where
        E: std::fmt::Display + std::fmt::Debug,
    {
        self.flush().await.map_err(TransactionError::Connection)?;
        self.clear_scope()
            .await
            .map_err(TransactionError::Connection)?;
        let mut state = lock(&self.shared.state);
        let unfinished = state.writes.iter().find(|(_, old)| old.may_have_changed());
        if let Some(((_, id, _), _)) = unfinished {
            let reason = format!(
                "the audited write of record {id} began but never finished (it was \
                 cancelled or failed before reaching the database)"
            );
            return Err(TransactionError::Connection(state.doom(reason)));
        }
        state.check().map_err(TransactionError::Connection)
    }

    /// Runs one statement of the caller's: refused once doomed; flushes first when it
    /// names the audit table; savepoints and transaction control are followed.
    async fn prepare(&self, sql: &str) -> Result<(), DbErr> {
        lock(&self.shared.state).check()?;
        match control::classify(sql) {
            Control::None => {}
            Control::Transaction => {
                return Err(DbErr::Custom(
                    "audit: raw BEGIN / COMMIT / ROLLBACK inside an audited transaction \
                     are refused: return from the closure to commit, or an error to roll back"
                        .to_owned(),
                ));
            }
            Control::Savepoint => {
                self.flush().await?;
                lock(&self.shared.state).unbuffered = true;
            }
            Control::EndSavepoint => {
                let mut state = lock(&self.shared.state);
                if !state.unbuffered && !state.batches.is_empty() {
                    return Err(
                        state.doom("raw SQL ended a savepoint the audit buffer did not see begin")
                    );
                }
            }
        }
        if contains_ignore_case(sql, &config::table_name()) {
            self.flush().await?;
        }
        Ok(())
    }

    /// Runs `stmt` for its rows, with the wanted old-row reads in the same round trip.
    async fn query_with_old_rows(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.prepare(&stmt.sql).await?;
        let wanted = std::mem::take(&mut lock(&self.shared.state).wanted);
        if wanted.is_empty() {
            return self
                .shared
                .run(&self.inner, self.inner.query_all_raw(stmt))
                .await;
        }
        let mut sql = String::new();
        let mut values = Vec::new();
        for (i, (_, select, _)) in wanted.iter().enumerate() {
            sql.push_str(&marked(&select.sql, i));
            sql.push_str("; ");
            values.extend(select.values.iter().flat_map(|v| v.0.iter().cloned()));
        }
        sql.push_str(&stmt.sql);
        values.extend(stmt.values.into_iter().flat_map(|v| v.0));
        let batch = Statement::from_sql_and_values(stmt.db_backend, sql, values);
        let rows = self
            .shared
            .run(&self.inner, self.inner.query_all_raw(batch))
            .await?;
        let mut old: Vec<Vec<QueryResult>> = wanted.iter().map(|_| Vec::new()).collect();
        let mut own = Vec::with_capacity(rows.len());
        for row in rows {
            let read = row.try_get::<i64>("", OLD_ROW_MARKER).ok();
            match read.and_then(|i| old.get_mut(usize::try_from(i).ok()?)) {
                Some(rows) => rows.push(row),
                None => own.push(row),
            }
        }
        let mut state = lock(&self.shared.state);
        for ((key, _, stored_key), rows) in wanted.into_iter().zip(old) {
            // Read in one round trip with the write's own statement, which has run.
            state.record_old_row(key, rows, stored_key, 1);
        }
        Ok(own)
    }

    /// Runs the wanted old-row reads now, for a statement whose rows cannot carry them.
    async fn read_old_rows_now(&self) -> Result<(), DbErr> {
        let wanted = std::mem::take(&mut lock(&self.shared.state).wanted);
        for (key, select, stored_key) in wanted {
            let rows = self
                .shared
                .run(&self.inner, self.inner.query_all_raw(select))
                .await?;
            lock(&self.shared.state).record_old_row(key, rows, stored_key, 0);
        }
        Ok(())
    }
}

impl Shared {
    /// Writes the buffered audit rows through `inner`. A failure dooms the transaction.
    async fn flush(&self, inner: &DatabaseTransaction) -> Result<(), DbErr> {
        let _in_order = self.flushing.lock().await;
        let batches = {
            let mut state = lock(&self.state);
            state.check()?;
            state.rows = 0;
            std::mem::take(&mut state.batches)
        };
        if batches.is_empty() {
            return Ok(());
        }
        let span = tracing::debug_span!(
            "audit.flush",
            db.system = crate::spans::db_system(inner.get_database_backend()),
            audit.changesets = batches.len(),
            otel.status_code = tracing::field::Empty,
        );
        let write = self.run(inner, async {
            record::write_batches(inner, &batches)
                .await
                .map_err(DbErr::from)
        });
        let written = crate::spans::traced(span, write).await;
        if let Err(e) = &written {
            let _ = lock(&self.state).doom(format!("its audit rows could not be written ({e})"));
        }
        written
    }

    /// Runs one statement on the transaction's connection. A statement cancelled while
    /// it runs dooms the transaction (the database may have applied it); so does any
    /// failure on PostgreSQL, which has then aborted the transaction. Elsewhere a failed
    /// statement changed nothing: the begun writes whose own statement it may have been
    /// (their old row not read yet, or read just before it) are forgotten.
    async fn run<T>(
        &self,
        inner: &DatabaseTransaction,
        statement: impl Future<Output = Result<T, DbErr>>,
    ) -> Result<T, DbErr> {
        let mut in_flight = InFlight {
            state: &self.state,
            done: false,
        };
        let result = statement.await;
        in_flight.done = true;
        if let Err(e) = &result {
            let mut state = lock(&self.state);
            if inner.get_database_backend() == DbBackend::Postgres {
                let _ = state.doom(format!(
                    "a statement failed and PostgreSQL aborted it ({e})"
                ));
            } else {
                state.writes.clear();
                state.wanted.clear();
            }
        }
        result
    }
}

/// Dooms the transaction when dropped before its statement finished.
struct InFlight<'a> {
    state: &'a Mutex<State>,
    done: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = lock(self.state).doom(
                "a statement was cancelled while it ran, so whether the database applied \
                 it, and whether its audit rows exist, is unknown",
            );
        }
    }
}

impl State {
    /// Files the old row read for `key`, under the record id the database stores.
    fn record_old_row(
        &mut self,
        key: WriteKey,
        rows: Vec<QueryResult>,
        stored_key: Option<StoredKey>,
        statements_after: u32,
    ) {
        if self.writes.remove(&key).is_none() {
            // The write was forgotten meanwhile (a failed statement): nothing to file.
            return;
        }
        let key = match stored_key.zip(rows.first()).and_then(|(f, row)| f(row)) {
            Some(stored) => (key.0, stored, key.2),
            None => key,
        };
        let old = OldRow::Read {
            rows,
            statements_after,
        };
        self.writes.insert(key, old);
    }
}

/// `select` (a `SELECT ...` of SeaORM's) with the marker column `i` in front.
fn marked(select: &str, i: usize) -> String {
    let rest = select.strip_prefix("SELECT ").unwrap_or(select);
    format!("SELECT {i} AS \"{OLD_ROW_MARKER}\", {rest}")
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Raw SQL the write path sends through a connection to say that a change it just let
/// through has no audit rows. An [`AuditTransaction`] or [`AuditSavepoint`] takes it as
/// "doom this transaction" and sends nothing; any other connection sends it, and the
/// database rejects it (on PostgreSQL that aborts the caller's transaction, so its
/// `COMMIT` cannot make the change permanent).
pub(crate) const DOOM_STATEMENT: &str =
    "SELECT audit_core_refuses_to_commit_a_change_without_its_audit_rows()";

/// Makes the transaction `db` runs in unable to commit, where the library can: see
/// [`DOOM_STATEMENT`].
pub(crate) async fn doom<C: ConnectionTrait>(db: &C, reason: &str) {
    if let Some(shared) = shared_of(db) {
        let _ = lock(&shared.state).doom(reason);
    } else {
        let _ = db.execute_unprepared(DOOM_STATEMENT).await;
    }
}

/// Whether `db` is an [`AuditTransaction`] or [`AuditSavepoint`], which keep their
/// writes' state and buffer their audit rows.
#[cfg(feature = "erasure")]
pub(crate) fn buffers<C>(db: &C) -> bool {
    shared_of(db).is_some()
}

/// What [`begin_write`] asks of the caller.
pub(crate) enum Begun {
    /// `db` is not an [`AuditTransaction`]: the caller keeps the write's state itself.
    NotBuffered(Statement),
    /// Run this read of the old row through `db` now, then [`file_old_row`] its rows.
    ReadNow(Statement),
    /// The old row will be read with the write's own statement (SQLite).
    Deferred,
}

/// Begins the write `key` on `db`: refused when another write of the same record is
/// still under way in the same audited transaction (their old rows could not be told
/// apart), or once the transaction is doomed.
pub(crate) fn begin_write<C: ConnectionTrait>(
    db: &C,
    key: WriteKey,
    select: Statement,
    stored_key: Option<StoredKey>,
) -> Result<Begun, DbErr> {
    let Some(shared) = shared_of(db) else {
        return Ok(Begun::NotBuffered(select));
    };
    let mut state = lock(&shared.state);
    state.check()?;
    // A write whose read found no row changed nothing (SeaORM then fails it without a
    // database error): its state may go.
    if state.writes.get(&key).is_some_and(|old| !old.is_spent()) {
        return Err(state.doom(format!(
            "two audited writes of record {} overlapped in one transaction",
            key.1
        )));
    }
    state.writes.insert(key.clone(), OldRow::Wanted);
    let defer = db.get_database_backend() == DbBackend::Sqlite && select.sql.starts_with("SELECT ");
    if defer {
        state.wanted.push((key, select, stored_key));
        Ok(Begun::Deferred)
    } else {
        Ok(Begun::ReadNow(select))
    }
}

/// Files the old row read for the write `key` (see [`Begun::ReadNow`]).
pub(crate) fn file_old_row<C>(
    db: &C,
    key: WriteKey,
    rows: Vec<QueryResult>,
    stored_key: Option<StoredKey>,
) {
    if let Some(shared) = shared_of(db) {
        lock(&shared.state).record_old_row(key, rows, stored_key, 0);
    }
}

/// Ends the write `key` on `db`, handing back its old row: `None` when `db` is not an
/// [`AuditTransaction`]. A write whose old row is missing dooms the transaction.
pub(crate) fn finish_write<C>(db: &C, key: &WriteKey) -> Option<Result<Vec<QueryResult>, DbErr>> {
    let shared = shared_of(db)?;
    let mut state = lock(&shared.state);
    if let Err(e) = state.check() {
        return Some(Err(e));
    }
    match state.writes.remove(key) {
        Some(OldRow::Read { rows, .. }) => Some(Ok(rows)),
        _ => Some(Err(state.doom(format!(
            "the old state of record {} was not captured before its change",
            key.1
        )))),
    }
}

/// Buffers one write's audit rows when `db` is an [`AuditTransaction`] with room left and
/// no savepoint open; otherwise hands them back, to be written at once.
pub(crate) fn defer<C>(db: &C, batch: Batch) -> Option<Batch> {
    let Some(shared) = shared_of(db) else {
        return Some(batch);
    };
    let mut state = lock(&shared.state);
    if state.writes_through() || state.rows + batch.1.len() > FLUSH_AT_ROWS {
        // Written at once, through the transaction: naming the audit table, the
        // statement flushes what is buffered first, so the order holds.
        return Some(batch);
    }
    state.rows += batch.1.len();
    state.batches.push(batch);
    None
}

/// The shared state of `db`, when it is a live [`AuditTransaction`].
fn shared_of<C>(db: &C) -> Option<Arc<Shared>> {
    // Generic code cannot downcast `C` (it need not be `'static`); the registry maps the
    // address of each live `AuditTransaction` to its state, and the type's id (lifetimes
    // erased) tells that `db` is one, not some other value at the same address.
    if typeid::of::<C>() != typeid::of::<AuditTransaction>() {
        return None;
    }
    lock_registry().get(&address(db)).cloned()
}

/// Live `AuditTransaction`s by address. An entry lives exactly as long as the closure of
/// [`transaction`] runs, during which the transaction cannot move.
static REGISTRY: LazyLock<Mutex<HashMap<usize, Arc<Shared>>>> = LazyLock::new(Mutex::default);

fn lock_registry() -> std::sync::MutexGuard<'static, HashMap<usize, Arc<Shared>>> {
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn address<T>(value: &T) -> usize {
    std::ptr::from_ref(value) as usize
}

/// Registers a transaction for the lifetime of the guard (also on panic).
struct Registration(usize);

impl Registration {
    fn new(txn: &AuditTransaction) -> Self {
        let at = address(txn);
        lock_registry().insert(at, Arc::clone(&txn.shared));
        Registration(at)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock_registry().remove(&self.0);
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl ConnectionTrait for AuditTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.prepare(&stmt.sql).await?;
        self.read_old_rows_now().await?;
        self.shared
            .run(&self.inner, self.inner.execute_raw(stmt))
            .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        if sql == DOOM_STATEMENT {
            let mut state = lock(&self.shared.state);
            return Err(state.doom("an audited write could not be recorded"));
        }
        self.prepare(sql).await?;
        self.read_old_rows_now().await?;
        self.shared
            .run(&self.inner, self.inner.execute_unprepared(sql))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if lock(&self.shared.state).wanted.is_empty() {
            self.prepare(&stmt.sql).await?;
            return self
                .shared
                .run(&self.inner, self.inner.query_one_raw(stmt))
                .await;
        }
        Ok(self.query_with_old_rows(stmt).await?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.query_with_old_rows(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.inner.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.inner.is_mock_connection()
    }
}

/// Nested transactions are savepoints, begun after a flush; while one is open, audit
/// rows are written at once, inside it.
#[sea_orm::prelude::async_trait::async_trait]
impl TransactionTrait for AuditTransaction {
    type Transaction = AuditSavepoint;

    async fn begin(&self) -> Result<AuditSavepoint, DbErr> {
        self.begin_with_options(TransactionOptions::default()).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<AuditSavepoint, DbErr> {
        let options = TransactionOptions {
            isolation_level,
            access_mode,
            ..Default::default()
        };
        self.begin_with_options(options).await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<AuditSavepoint, DbErr> {
        self.flush().await?;
        AuditSavepoint::begin(&self.inner, &self.shared, options).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c AuditSavepoint,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let savepoint = self.begin().await.map_err(TransactionError::Connection)?;
        savepoint::run(savepoint, callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c AuditSavepoint,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let savepoint = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        savepoint::run(savepoint, callback).await
    }
}
