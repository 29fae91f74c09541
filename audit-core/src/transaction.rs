//! Audited transactions: the audit rows of every write in one transaction are buffered
//! and written together, in multi-row `INSERT`s, just before it commits.
//!
//! [`transaction`] runs a closure like SeaORM's `TransactionTrait::transaction`, handing
//! it an [`AuditTransaction`]. Audited writes through it keep their rows in memory instead
//! of writing one `INSERT` each. The buffer is written, in order, through the same
//! transaction:
//! - before it commits (so a failed audit write means no commit: the change rolls back);
//! - before any statement whose SQL names the audit table (the history API, your own SQL),
//!   so reads inside the transaction see every row;
//! - before a nested transaction begins (bulk writes, `revert`, your own savepoints), so
//!   audit row ids stay in the order the writes happened;
//! - once it holds [`FLUSH_AT_ROWS`] rows, to bound memory.
//!
//! A transaction that rolls back (the closure returns `Err`, panics, or the flush or
//! commit fails) drops its buffer with it: nothing is recorded that did not happen.
//!
//! On SQLite an update's old-row read also waits: it runs in one round trip with the
//! write's own statement (`SELECT <old row>; UPDATE ... RETURNING ...`, which SQLite runs
//! in order, in the same transaction, with no statement between them), instead of a round
//! trip of its own. Where the write's statement returns no rows to split (a `DELETE`), the
//! read runs just before it, as it would without the buffer.

use std::any::TypeId;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, IsolationLevel,
    QueryResult, Statement, TransactionError, TransactionOptions, TransactionTrait,
};

use crate::config;
use crate::record::{self, Batch};

/// A buffered transaction holds at most this many audit rows before writing them.
pub const FLUSH_AT_ROWS: usize = 10_000;

/// Runs `callback` in a transaction whose audit rows are written together at commit.
///
/// The drop-in counterpart of SeaORM's `db.transaction(...)`: the closure gets an
/// [`AuditTransaction`] (a [`ConnectionTrait`] and [`TransactionTrait`]) to write through.
/// It commits when the closure returns `Ok` and rolls back when it returns `Err`.
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
        buffer: Arc::default(),
    };
    let result = {
        let _registered = Registration::new(&txn);
        let result = callback(&txn).await;
        if result.is_ok() {
            txn.flush().await.map_err(TransactionError::Connection)?;
        }
        result
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
            txn.inner
                .rollback()
                .await
                .map_err(TransactionError::Connection)?;
            Err(TransactionError::Transaction(e))
        }
    }
}

/// The transaction [`transaction`] hands its closure: a SeaORM transaction whose audit
/// rows wait in a buffer until the transaction commits.
///
/// The buffer is written, in order, through the same transaction: before it commits (a
/// failed audit write means no commit), before any statement whose SQL names the audit
/// table (the history API, your own SQL; call [`flush`](Self::flush) before reading a view
/// over it), before a nested transaction begins (bulk writes, `revert`, your savepoints),
/// and once it holds [`FLUSH_AT_ROWS`] rows. A transaction that rolls back drops its buffer.
pub struct AuditTransaction {
    inner: DatabaseTransaction,
    buffer: Arc<Buffer>,
}

impl std::fmt::Debug for AuditTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows = self.buffer.pending.try_lock().map(|p| p.rows).ok();
        f.debug_struct("AuditTransaction")
            .field("buffered_rows", &rows)
            .finish_non_exhaustive()
    }
}

/// The audit rows waiting to be written, a lock that keeps flushes in order, and the
/// old-row reads waiting for the next statement.
#[derive(Default)]
struct Buffer {
    pending: Mutex<Pending>,
    flushing: tokio::sync::Mutex<()>,
    old_rows: Mutex<OldRows>,
}

/// The buffered writes, and how many audit rows they hold.
#[derive(Default)]
struct Pending {
    batches: Vec<Batch>,
    rows: usize,
}

/// Which write an old-row read belongs to: the entity's type and the record id.
pub(crate) type WriteKey = (TypeId, String);

/// Old-row reads (SQLite): asked for by `before_save`, run with the next statement, taken
/// by `after_save` / `after_delete`.
#[derive(Default)]
struct OldRows {
    wanted: Vec<(WriteKey, Statement)>,
    read: Vec<(WriteKey, Vec<QueryResult>)>,
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
        let _in_order = self.buffer.flushing.lock().await;
        let batches = std::mem::take(&mut *lock(&self.buffer.pending)).batches;
        if batches.is_empty() {
            return Ok(());
        }
        record::write_batches(&self.inner, &batches)
            .await
            .map_err(DbErr::from)
    }

    /// Flushes first when `sql` names the audit table.
    async fn flush_for(&self, sql: &str) -> Result<(), DbErr> {
        let table = config::table_name();
        if contains_ignore_case(sql, &table) {
            self.flush().await?;
        }
        Ok(())
    }

    /// Runs `stmt` for its rows, with the wanted old-row reads in the same round trip.
    async fn query_with_old_rows(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.flush_for(&stmt.sql).await?;
        let wanted = std::mem::take(&mut lock(&self.buffer.old_rows).wanted);
        if wanted.is_empty() {
            return self.inner.query_all_raw(stmt).await;
        }
        let mut sql = String::new();
        let mut values = Vec::new();
        for (i, (_, select)) in wanted.iter().enumerate() {
            sql.push_str(&marked(&select.sql, i));
            sql.push_str("; ");
            values.extend(select.values.iter().flat_map(|v| v.0.iter().cloned()));
        }
        sql.push_str(&stmt.sql);
        values.extend(stmt.values.into_iter().flat_map(|v| v.0));
        let rows = self
            .inner
            .query_all_raw(Statement::from_sql_and_values(stmt.db_backend, sql, values))
            .await?;
        let mut old: Vec<(WriteKey, Vec<QueryResult>)> = wanted
            .into_iter()
            .map(|(key, _)| (key, Vec::new()))
            .collect();
        let mut own = Vec::with_capacity(rows.len());
        for row in rows {
            let read = row.try_get::<i64>("", OLD_ROW_MARKER).ok();
            match read.and_then(|i| old.get_mut(usize::try_from(i).ok()?)) {
                Some((_, rows)) => rows.push(row),
                None => own.push(row),
            }
        }
        lock(&self.buffer.old_rows).read.extend(old);
        Ok(own)
    }

    /// Runs the wanted old-row reads now, for a statement whose rows cannot carry them.
    async fn read_old_rows_now(&self) -> Result<(), DbErr> {
        let wanted = std::mem::take(&mut lock(&self.buffer.old_rows).wanted);
        for (key, select) in wanted {
            let rows = self.inner.query_all_raw(select).await?;
            lock(&self.buffer.old_rows).read.push((key, rows));
        }
        Ok(())
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Buffers one write's audit rows when `db` is an [`AuditTransaction`] with room left;
/// otherwise hands them back, to be written at once.
pub(crate) fn defer<C>(db: &C, batch: Batch) -> Option<Batch> {
    let Some(buffer) = buffer_of(db) else {
        return Some(batch);
    };
    let mut pending = lock(&buffer.pending);
    if pending.rows + batch.1.len() > FLUSH_AT_ROWS {
        // Written at once, through the transaction: naming the audit table, the
        // statement flushes what is buffered first, so the order holds.
        return Some(batch);
    }
    pending.rows += batch.1.len();
    pending.batches.push(batch);
    None
}

/// Asks for the old row of the write `key` to be read with the next statement, when `db`
/// is an [`AuditTransaction`] on SQLite; otherwise hands `select` back, to be run now.
pub(crate) fn read_old_row_later<C: ConnectionTrait>(
    db: &C,
    key: WriteKey,
    select: Statement,
) -> Option<Statement> {
    if db.get_database_backend() != DbBackend::Sqlite || !select.sql.starts_with("SELECT ") {
        return Some(select);
    }
    let Some(buffer) = buffer_of(db) else {
        return Some(select);
    };
    let mut old_rows = lock(&buffer.old_rows);
    old_rows.read.retain(|(k, _)| *k != key);
    old_rows.wanted.retain(|(k, _)| *k != key);
    old_rows.wanted.push((key, select));
    None
}

/// The rows read for the write `key` by [`read_old_row_later`], if they were.
pub(crate) fn take_old_row<C>(db: &C, key: &WriteKey) -> Option<Vec<QueryResult>> {
    let buffer = buffer_of(db)?;
    let mut old_rows = lock(&buffer.old_rows);
    let at = old_rows.read.iter().position(|(k, _)| k == key)?;
    Some(old_rows.read.swap_remove(at).1)
}

/// The buffer of `db`, when it is a live [`AuditTransaction`].
fn buffer_of<C>(db: &C) -> Option<Arc<Buffer>> {
    // Generic code cannot downcast `C` (it need not be `'static`); the registry maps the
    // address of each live `AuditTransaction` to its buffer, and the type name tells that
    // `db` is one, not some other value that happens to sit at the same address.
    if std::any::type_name::<C>() != std::any::type_name::<AuditTransaction>() {
        return None;
    }
    lock(&REGISTRY).get(&address(db)).cloned()
}

/// Live `AuditTransaction`s by address. An entry lives exactly as long as the closure of
/// [`transaction`] runs, during which the transaction cannot move.
static REGISTRY: LazyLock<Mutex<HashMap<usize, Arc<Buffer>>>> = LazyLock::new(Mutex::default);

fn address<T>(value: &T) -> usize {
    std::ptr::from_ref(value) as usize
}

/// Registers a transaction for the lifetime of the guard (also on panic).
struct Registration(usize);

impl Registration {
    fn new(txn: &AuditTransaction) -> Self {
        let at = address(txn);
        lock(&REGISTRY).insert(at, Arc::clone(&txn.buffer));
        Registration(at)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&REGISTRY).remove(&self.0);
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl ConnectionTrait for AuditTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.flush_for(&stmt.sql).await?;
        self.read_old_rows_now().await?;
        self.inner.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.flush_for(sql).await?;
        self.read_old_rows_now().await?;
        self.inner.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if lock(&self.buffer.old_rows).wanted.is_empty() {
            self.flush_for(&stmt.sql).await?;
            return self.inner.query_one_raw(stmt).await;
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

/// Nested transactions are plain SeaORM savepoints, begun after a flush.
#[sea_orm::prelude::async_trait::async_trait]
impl TransactionTrait for AuditTransaction {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.flush().await?;
        self.inner.begin().await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.flush().await?;
        self.inner
            .begin_with_config(isolation_level, access_mode)
            .await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.flush().await?;
        self.inner.begin_with_options(options).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.flush().await.map_err(TransactionError::Connection)?;
        self.inner.transaction(callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.flush().await.map_err(TransactionError::Connection)?;
        self.inner
            .transaction_with_config(callback, isolation_level, access_mode)
            .await
    }
}
