//! The actor and context of the current transaction, handed to the database.

use sea_orm::{DbBackend, Statement, Value};

use super::{mysql, postgres, sqlite};
use crate::{AuditContext, config};

/// The statements that hand `context` to the triggers, to run first in a transaction.
///
/// PostgreSQL keeps it until the transaction ends (`set_config(.., true)`). SQLite and
/// MySQL keep it in a row of the transaction (a table in `main` on SQLite, a table keyed
/// by `CONNECTION_ID()` on MySQL), which a rollback removes; before a commit run
/// [`clear_scope_statements`], or the row would be committed with it. The tables are
/// created by [`super::install`].
///
/// ```
/// use audit_core::{AuditContext, db_capture};
/// use sea_orm::DbBackend;
///
/// let context = AuditContext::new().actor("alice").request_id("r-1");
/// let statements = db_capture::scope_statements(DbBackend::Postgres, &context);
/// assert_eq!(statements.len(), 1);
/// assert!(statements[0].sql.contains("set_config"));
/// ```
pub fn scope_statements(backend: DbBackend, context: &AuditContext) -> Vec<Statement> {
    let actor = context.actor_name().map(str::to_owned);
    let json = context.context_json().map(|j| j.to_string());
    let statement = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            postgres::scope_sql(),
            [
                Value::String(Some(actor.unwrap_or_default())),
                Value::String(Some(json.unwrap_or_else(|| "null".to_owned()))),
            ],
        ),
        DbBackend::MySql => Statement::from_sql_and_values(
            backend,
            mysql::scope_sql(&config::table_name()),
            [Value::String(actor), Value::String(json)],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            sqlite::scope_sql(&config::table_name()),
            [Value::String(actor), Value::String(json)],
        ),
    };
    vec![statement]
}

/// The statements that end the scope [`scope_statements`] began, to run last before the
/// commit (none on PostgreSQL).
///
/// ```
/// use audit_core::db_capture;
/// use sea_orm::DbBackend;
///
/// assert!(db_capture::clear_scope_statements(DbBackend::Postgres).is_empty());
/// assert_eq!(db_capture::clear_scope_statements(DbBackend::Sqlite).len(), 1);
/// ```
pub fn clear_scope_statements(backend: DbBackend) -> Vec<Statement> {
    match backend {
        DbBackend::Postgres => Vec::new(),
        DbBackend::MySql => vec![Statement::from_string(
            backend,
            mysql::clear_sql(&config::table_name()),
        )],
        _ => vec![Statement::from_string(
            backend,
            sqlite::clear_sql(&config::table_name()),
        )],
    }
}
