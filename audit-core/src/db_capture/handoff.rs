//! The hooks of a database-captured entity: they write no audit rows (the triggers do),
//! they hand the scope's actor and context to the database.
//!
//! Inside [`crate::transaction`] the scope is handed once per change of scope and
//! cleared before the commit. Inside any other transaction it is handed before each
//! write and, on SQLite and MySQL (where it is a row of the transaction), cleared after
//! it. Outside a transaction the database cannot tie a scope to the write (each
//! statement may take another pooled connection), so a write with an actor or context
//! there is refused; one with neither records a NULL actor, like any other unscoped
//! change.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::{clear_scope_statements, ready, scope_statements};
use crate::capture::strict;
use crate::entity::AuditedEntity;
use crate::{AuditContext, AuditError, current_context, transaction};

/// Runs in the `before_*` hook of a database-captured entity.
pub(crate) async fn before_write<E: AuditedEntity, C: ConnectionTrait>(
    db: &C,
) -> Result<(), DbErr> {
    let table = E::audit_table();
    if !ready::is_ready(table) {
        return Err(AuditError::Config(format!(
            "`{table}` is captured by the database (`#[audit(capture = \"database\")]`), but \
             this process has not installed or checked its capture: call \
             `audit_core::db_capture::install` or `check` for it at start-up"
        ))
        .into());
    }
    let context = current_context();
    if is_empty(&context) {
        return Ok(());
    }
    if let Some(handed) = transaction::hand_scope(db, &context).await {
        return handed;
    }
    if !strict::in_transaction(db).await.unwrap_or(false) {
        return Err(AuditError::Input(format!(
            "`{table}` is captured by the database, which is handed the actor and context \
             through the transaction: write it inside `audit_core::transaction` or \
             `db.begin()`, or outside any actor and context scope"
        ))
        .into());
    }
    for statement in scope_statements(db.get_database_backend(), &context) {
        db.execute_raw(statement).await?;
    }
    Ok(())
}

/// Runs in the `after_*` hook of a database-captured entity, once its change succeeded.
pub(crate) async fn after_write<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let context = current_context();
    let backend = db.get_database_backend();
    if is_empty(&context) || backend == DbBackend::Postgres || transaction::is_audited(db) {
        // PostgreSQL's scope ends with the transaction; an audited transaction clears
        // its own before committing.
        return Ok(());
    }
    for statement in clear_scope_statements(backend) {
        db.execute_raw(statement).await?;
    }
    Ok(())
}

fn is_empty(context: &AuditContext) -> bool {
    context.actor_name().is_none() && context.context_json().is_none()
}
