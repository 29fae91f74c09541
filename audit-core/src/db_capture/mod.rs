//! Database capture: triggers generated from `#[derive(Audited)]` write the trail inside
//! every statement that changes an audited table, whatever sent it (SeaORM's bulk
//! methods, raw SQL, another service, an operator's console).
//!
//! The trail is the one the hooks write: the same rows, the same typed JSON (decoded by
//! the same history API), redacted and skipped columns alike, updates recording only the
//! columns whose stored value changed. What differs per backend:
//!
//! | | PostgreSQL | SQLite | MariaDB/MySQL |
//! | --- | --- | --- | --- |
//! | triggers | per statement, transition tables, one `INSERT ... SELECT` | per row | per row |
//! | changeset | one per statement and table | one per row | one per row |
//! | `changed_at` | `clock_timestamp()` at the statement's end (µs) | the statement's `'now'` (ms) | `UTC_TIMESTAMP(6)` of the statement |
//! | scope | `set_config('audit.*', .., true)` | a one-row table in `main` | a row per connection (`CONNECTION_ID()`) |
//! | not captured | - | `INSERT OR REPLACE` deletes unless `PRAGMA recursive_triggers = ON` | foreign-key cascades (MySQL fires no triggers for them) |
//!
//! The actor and context of a transaction reach the triggers through
//! [`scope_statements`], run when the transaction starts, and [`clear_scope_statements`],
//! run last before it commits. On every backend the scope is part of the transaction, so
//! a rollback or a dropped transaction takes it away too. A write outside any scope
//! records a NULL actor and `{"db_user": ...}` (the database user; `null` on SQLite) as
//! its context.
//!
//! An `UPDATE` that changes a primary key is refused (the trail is keyed by it): delete
//! and insert the row instead.

pub(crate) mod handoff;
mod install;
#[cfg(feature = "migration")]
mod migration;
mod model;
mod mysql;
mod postgres;
pub(crate) mod ready;
mod scope;
mod sqlite;

pub use install::{check, check_all, install, install_all, uninstall, uninstall_all};
#[cfg(feature = "migration")]
pub use migration::InstallCapture;
pub use model::Capture;
pub use scope::{clear_scope_statements, scope_statements};

/// The version of the generated capture; a new one makes [`check`] ask for a reinstall.
const VERSION: u32 = 1;

/// The audit table's columns every trigger writes, in this order.
const COLUMNS: &str = "changeset_id, table_name, record_id, operation, column_name, \
                       old_value, new_value, actor, changed_at, context";

/// The trigger (and PostgreSQL function) of `op` on `capture`'s table.
fn trigger_name(capture: &Capture, op: &str) -> String {
    format!("{}_audit_{op}", capture.table)
}
