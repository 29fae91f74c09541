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
/// ```
/// # use sea_orm::{DatabaseConnection, DbErr, TransactionError};
/// # async fn demo(db: &DatabaseConnection) -> Result<(), TransactionError<DbErr>> {
/// audit_core::transaction(db, |txn| {
///     Box::pin(async move {
///         // e.g. `account.update(txn).await?;` for many accounts: one audit INSERT at commit.
///         let _ = txn;
///         Ok::<_, DbErr>(())
///     })
/// })
/// .await
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
    let inner = db.begin().await.map_err(TransactionError::Connection)?;
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
/// rows wait in a buffer until the transaction commits (see the [module docs](self)).
pub struct AuditTransaction {
    inner: DatabaseTransaction,
    buffer: Arc<Buffer>,
}

/// The audit rows waiting to be written, and a lock that keeps flushes in order.
#[derive(Default)]
struct Buffer {
    batches: Mutex<Vec<Batch>>,
    flushing: tokio::sync::Mutex<()>,
}

impl AuditTransaction {
    /// Writes the buffered audit rows now, through this transaction.
    pub async fn flush(&self) -> Result<(), DbErr> {
        let _in_order = self.buffer.flushing.lock().await;
        let batches = std::mem::take(&mut *lock(&self.buffer.batches));
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
    // Generic code cannot downcast `C` (it need not be `'static`); the registry maps the
    // address of each live `AuditTransaction` to its buffer, and the type name tells that
    // `db` is one, not some other value that happens to sit at the same address.
    if std::any::type_name::<C>() != std::any::type_name::<AuditTransaction>() {
        return Some(batch);
    }
    let Some(buffer) = lock(&REGISTRY).get(&address(db)).cloned() else {
        return Some(batch);
    };
    let mut batches = lock(&buffer.batches);
    let held: usize = batches.iter().map(|(_, rows)| rows.len()).sum();
    if held + batch.1.len() > FLUSH_AT_ROWS {
        // Written at once, through the transaction: naming the audit table, the
        // statement flushes what is buffered first, so the order holds.
        return Some(batch);
    }
    batches.push(batch);
    None
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
        self.inner.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.flush_for(sql).await?;
        self.inner.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.flush_for(&stmt.sql).await?;
        self.inner.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.flush_for(&stmt.sql).await?;
        self.inner.query_all_raw(stmt).await
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
