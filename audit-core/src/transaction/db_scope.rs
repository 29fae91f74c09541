//! The actor and context an audited transaction hands to database capture
//! ([`crate::db_capture`]): when it begins (so raw SQL inside it is attributed), whenever
//! a hook of a database-captured entity runs under another scope, and cleared before the
//! commit on SQLite and MySQL, where the scope is a row of the transaction.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::state::ScopeKey;
use super::{AuditTransaction, lock, shared_of};
use crate::db_capture::{clear_scope_statements, ready, scope_statements};
use crate::{AuditContext, current_context};

fn key_of(context: &AuditContext) -> ScopeKey {
    (
        context.actor_name().map(str::to_owned),
        context.context_json().map(|json| json.to_string()),
    )
}

impl AuditTransaction {
    /// Hands the scope in force when the transaction begins, if this process captures
    /// any entity in the database and the scope holds an actor or a context.
    pub(super) async fn hand_initial_scope(&self) -> Result<(), DbErr> {
        // Every audited transaction passes here: without database capture, nothing to do
        // (and no context to clone).
        if !ready::any() {
            return Ok(());
        }
        let context = current_context();
        let key = key_of(&context);
        if key == (None, None) {
            return Ok(());
        }
        for statement in scope_statements(self.inner.get_database_backend(), &context) {
            self.shared
                .run(&self.inner, self.inner.execute_raw(statement))
                .await?;
        }
        lock(&self.shared.state).db_scope = Some(key);
        Ok(())
    }

    /// Clears a handed scope before the commit (SQLite, MySQL; PostgreSQL's ends with the
    /// transaction).
    pub(super) async fn clear_scope(&self) -> Result<(), DbErr> {
        let backend = self.inner.get_database_backend();
        if backend == DbBackend::Postgres || lock(&self.shared.state).db_scope.is_none() {
            return Ok(());
        }
        for statement in clear_scope_statements(backend) {
            self.shared
                .run(&self.inner, self.inner.execute_raw(statement))
                .await?;
        }
        Ok(())
    }
}

/// Hands `context` to database capture through `db` when `db` is an [`AuditTransaction`]
/// (`None` otherwise), unless it already holds that scope.
pub(crate) async fn hand_scope<C: ConnectionTrait>(
    db: &C,
    context: &AuditContext,
) -> Option<Result<(), DbErr>> {
    let shared = shared_of(db)?;
    let key = key_of(context);
    if lock(&shared.state).db_scope.as_ref() == Some(&key) {
        return Some(Ok(()));
    }
    for statement in scope_statements(db.get_database_backend(), context) {
        if let Err(e) = db.execute_raw(statement).await {
            return Some(Err(e));
        }
    }
    lock(&shared.state).db_scope = Some(key);
    Some(Ok(()))
}

/// Whether `db` is a live [`AuditTransaction`].
pub(crate) fn is_audited<C>(db: &C) -> bool {
    shared_of(db).is_some()
}
