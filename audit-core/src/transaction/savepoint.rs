//! Savepoints of an audited transaction.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, IsolationLevel,
    QueryResult, Statement, TransactionError, TransactionOptions, TransactionSession,
    TransactionTrait,
};

use super::control::{self, Control};
use super::state::lock;
use super::{DOOM_STATEMENT, Shared};

/// A savepoint inside an [`AuditTransaction`](super::AuditTransaction), from its `begin()`
/// (or a nested `transaction(..)`): the change and the audit rows written through it, or
/// through the outer transaction while it is open, commit or roll back together.
///
/// A savepoint that let a change through without its audit rows (an audit write failed,
/// a statement was cancelled while it ran) refuses to commit; rolled back, it undoes the
/// change with the rest, and the outer transaction carries on.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use sea_orm::{TransactionSession, TransactionTrait};
/// audit_core::transaction(&db, |txn| {
///     Box::pin(async move {
///         let savepoint = txn.begin().await?;
///         ticket::ActiveModel { status: Set("draft".into()), note: Set(String::new()), secret: Set(String::new()), ..Default::default() }
///             .insert(&savepoint)
///             .await?;
///         savepoint.rollback().await?; // the insert and its audit rows are undone together
///         Ok::<_, DbErr>(())
///     })
/// })
/// .await?;
/// assert_eq!(ticket::Entity::find().all(&db).await?.len(), 1);
/// assert_eq!(audit_core::table_history::<ticket::Entity>().fetch(&db).await?.len(), 5);
/// # Ok(())
/// # }
/// ```
pub struct AuditSavepoint {
    inner: Option<DatabaseTransaction>,
    shared: Arc<Shared>,
    /// Why this savepoint must not commit, once something made that so.
    dirty: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for AuditSavepoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSavepoint")
            .field("open", &self.inner.is_some())
            .field("dirty", &*lock_dirty(&self.dirty))
            .finish_non_exhaustive()
    }
}

fn lock_dirty(dirty: &Mutex<Option<String>>) -> std::sync::MutexGuard<'_, Option<String>> {
    dirty.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AuditSavepoint {
    /// Begins a savepoint on `parent`, counted open in `shared` until it ends.
    pub(super) async fn begin(
        parent: &DatabaseTransaction,
        shared: &Arc<Shared>,
        options: TransactionOptions,
    ) -> Result<AuditSavepoint, DbErr> {
        lock(&shared.state).check()?;
        let inner = parent.begin_with_options(options).await?;
        lock(&shared.state).open_savepoints += 1;
        Ok(AuditSavepoint {
            inner: Some(inner),
            shared: Arc::clone(shared),
            dirty: Arc::default(),
        })
    }

    fn inner(&self) -> Result<&DatabaseTransaction, DbErr> {
        self.inner
            .as_ref()
            .ok_or_else(|| DbErr::Custom("audit: this savepoint has ended".to_owned()))
    }

    /// Ends the savepoint: no longer counted open.
    fn close(&mut self) -> Option<DatabaseTransaction> {
        let inner = self.inner.take()?;
        let mut state = lock(&self.shared.state);
        state.open_savepoints = state.open_savepoints.saturating_sub(1);
        Some(inner)
    }

    fn mark_dirty(&self, reason: &str) -> DbErr {
        let mut dirty = lock_dirty(&self.dirty);
        let reason = dirty.get_or_insert_with(|| reason.to_owned());
        DbErr::Custom(format!(
            "audit: this savepoint cannot commit: {reason}; roll it back"
        ))
    }

    /// Refuses statements once the whole transaction is doomed, and raw SQL that would
    /// end the wrapper's transaction.
    fn prepare(&self, sql: &str) -> Result<&DatabaseTransaction, DbErr> {
        lock(&self.shared.state).check()?;
        if control::classify(sql) == Control::Transaction {
            return Err(DbErr::Custom(
                "audit: raw BEGIN / COMMIT / ROLLBACK inside an audited transaction are \
                 refused: use the savepoint's commit() or rollback()"
                    .to_owned(),
            ));
        }
        self.inner()
    }

    /// Runs one statement; a statement cancelled while it runs makes the savepoint dirty.
    async fn run<T>(&self, statement: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        let mut in_flight = InFlight {
            savepoint: self,
            done: false,
        };
        let result = statement.await;
        in_flight.done = true;
        result
    }
}

struct InFlight<'a> {
    savepoint: &'a AuditSavepoint,
    done: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.savepoint.mark_dirty(
                "a statement was cancelled while it ran, so whether the database applied \
                 it, and whether its audit rows exist, is unknown",
            );
        }
    }
}

impl Drop for AuditSavepoint {
    fn drop(&mut self) {
        // The inner transaction rolls itself back when dropped.
        self.close();
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl TransactionSession for AuditSavepoint {
    async fn commit(mut self) -> Result<(), DbErr> {
        let dirty = lock_dirty(&self.dirty).clone();
        let inner = self
            .close()
            .ok_or_else(|| DbErr::Custom("audit: savepoint ended".into()))?;
        if let Some(reason) = dirty {
            let _ = inner.rollback().await;
            let err =
                lock(&self.shared.state).doom(format!("a savepoint was committed after {reason}"));
            return Err(err);
        }
        lock(&self.shared.state).check()?;
        inner.commit().await
    }

    async fn rollback(mut self) -> Result<(), DbErr> {
        match self.close() {
            Some(inner) => inner.rollback().await,
            None => Ok(()),
        }
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl ConnectionTrait for AuditSavepoint {
    fn get_database_backend(&self) -> DbBackend {
        self.inner
            .as_ref()
            .map_or(DbBackend::Sqlite, |inner| inner.get_database_backend())
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let inner = self.prepare(&stmt.sql)?;
        self.run(inner.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        if sql == DOOM_STATEMENT {
            return Err(self.mark_dirty("an audited write could not be recorded"));
        }
        let inner = self.prepare(sql)?;
        self.run(inner.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let inner = self.prepare(&stmt.sql)?;
        self.run(inner.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let inner = self.prepare(&stmt.sql)?;
        self.run(inner.query_all_raw(stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(ConnectionTrait::support_returning)
    }

    fn is_mock_connection(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(ConnectionTrait::is_mock_connection)
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl TransactionTrait for AuditSavepoint {
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
        AuditSavepoint::begin(self.inner()?, &self.shared, options).await
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
        run(savepoint, callback).await
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
        run(savepoint, callback).await
    }
}

/// Runs `callback` in `savepoint`: committed on `Ok`, rolled back on `Err`.
pub(super) async fn run<F, T, E>(
    savepoint: AuditSavepoint,
    callback: F,
) -> Result<T, TransactionError<E>>
where
    F: for<'c> FnOnce(
            &'c AuditSavepoint,
        ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
        + Send,
    T: Send,
    E: std::fmt::Display + std::fmt::Debug + Send,
{
    let result = callback(&savepoint).await;
    match result {
        Ok(value) => {
            savepoint
                .commit()
                .await
                .map_err(TransactionError::Connection)?;
            Ok(value)
        }
        Err(e) => {
            savepoint
                .rollback()
                .await
                .map_err(TransactionError::Connection)?;
            Err(TransactionError::Transaction(e))
        }
    }
}
