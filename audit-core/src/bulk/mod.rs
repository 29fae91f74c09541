//! Audited bulk writes: the audited counterparts of SeaORM's `insert_many`, `update_many`
//! and `delete_many`, which bypass `ActiveModelBehavior` hooks.
//!
//! Each call runs in a transaction of its own (a savepoint inside the caller's
//! transaction), so the change and its audit rows commit or roll back together. Old
//! values are read in that transaction: `update_many` reads the matching rows first,
//! `SELECT ... FOR UPDATE` on PostgreSQL and MySQL (SQLite has one writer at a time), then
//! updates exactly those rows by primary key; `delete_many` takes the old rows from
//! `DELETE ... RETURNING`. New rows come from `RETURNING` where the backend has it
//! (MariaDB has no `UPDATE ... RETURNING`, so updated rows are read back by key).
//! Statements are cut in chunks under each backend's bind-parameter limit, and the audit
//! rows go in multi-row `INSERT`s, so the number of statements grows with the number of
//! chunks, not of rows.
//!
//! All audit rows of one bulk call share one changeset id, and they are exactly the rows
//! the same writes made one model at a time would leave (per record, per column; updates
//! record only the columns that changed). Your own `ActiveModelBehavior` /
//! [`AuditHooks`](crate::AuditHooks) hooks do not run, as with SeaORM's own bulk calls.
//! With auditing switched off ([`crate::set_enabled`], [`crate::without_auditing`]) the
//! same calls run only the change itself.
//!
//! The calls read like SeaORM's: build, then `exec(&db)` or `exec_with_returning(&db)`.
//!
#![cfg_attr(feature = "derive", doc = "```rust")]
#![cfg_attr(not(feature = "derive"), doc = "```ignore")]
//! # use audit_core::Audited;
//! # use sea_orm::entity::prelude::*;
//! # use sea_orm::{ActiveValue::Set, Database, Schema};
//! # mod account {
//! #     use super::*;
//! #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
//! #     #[sea_orm(table_name = "account")]
//! #     pub struct Model {
//! #         #[sea_orm(primary_key)]
//! #         pub id: i32,
//! #         pub balance: i64,
//! #     }
//! #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! #     pub enum Relation {}
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let db = Database::connect("sqlite::memory:").await?;
//! # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(account::Entity)).await?;
//! # audit_core::create_audit_table(&db).await?;
//! use audit_core::bulk;
//! use sea_orm::sea_query::{Expr, ExprTrait};
//!
//! let models = (0..3).map(|i| account::ActiveModel { balance: Set(i * 50), ..Default::default() });
//! let created = bulk::insert_many(models).exec_with_returning(&db).await?;
//! assert_eq!(created.len(), 3);
//! let raised = bulk::update_many::<account::Entity>()
//!     .col_expr(account::Column::Balance, Expr::col(account::Column::Balance).add(10))
//!     .filter(account::Column::Balance.lt(100))
//!     .exec(&db)
//!     .await?;
//! assert_eq!(raised, 2);
//! let closed = bulk::delete_many::<account::Entity>()
//!     .filter(account::Column::Balance.eq(10))
//!     .exec(&db)
//!     .await?;
//! assert_eq!(closed, 1);
//! # Ok(())
//! # }
//! ```

mod delete;
mod insert;
mod update;

pub use delete::{DeleteMany, delete_many};
pub use insert::{InsertMany, insert_many};
pub use update::{UpdateMany, update_many};

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query, ValueTuple};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable,
    ModelTrait, PrimaryKeyToColumn, Statement,
};

use crate::capture::row_changes;
use crate::db_capture::handoff;
use crate::entity::{AuditedEntity, CaptureMode};
use crate::record::{self, Changeset, ColumnChange};
use crate::{Operation, current_context, is_enabled};

/// Whether a bulk call writes audit rows itself: auditing is on and `E`'s triggers do not
/// (`#[audit(capture = "database")]` entities are recorded by the database).
fn records<E: AuditedEntity>() -> bool {
    is_enabled() && E::capture_mode() == CaptureMode::Hooks
}

/// For a database-captured entity, hands the scope's actor and context to the triggers
/// inside the bulk call's transaction.
async fn hand_scope<E: AuditedEntity, C: ConnectionTrait>(txn: &C) -> Result<(), DbErr> {
    if is_enabled() && E::capture_mode() == CaptureMode::Database {
        handoff::before_write::<E, C>(txn).await?;
    }
    Ok(())
}

/// Ends what [`hand_scope`] began, before the commit.
async fn end_scope<E: AuditedEntity, C: ConnectionTrait>(txn: &C) -> Result<(), DbErr> {
    if is_enabled() && E::capture_mode() == CaptureMode::Database {
        handoff::after_write(txn).await?;
    }
    Ok(())
}

/// The most bind parameters one statement may carry on `backend` (SQLite's default
/// `SQLITE_MAX_VARIABLE_NUMBER` since 3.32, the wire-protocol limit of the others).
fn max_params(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 32_766,
        _ => 65_535,
    }
}

/// The primary key columns of `E`.
fn key_columns<E: EntityTrait>() -> Vec<E::Column> {
    E::PrimaryKey::iter().map(|pk| pk.into_column()).collect()
}

/// `pk IN (...)`, or `(pk1, pk2) IN ((?, ?), ...)` for a composite key: one flat list,
/// where an `OR` per key made an expression tree as deep as the keys were many (a stack
/// overflow past ~1,000 keys, "Expression tree is too large" on SQLite).
///
/// PostgreSQL turns a row-value list into one `OR`ed comparison per key, tested against
/// every row (2 minutes for 100,000 keys in 5,000-key statements), so there the list is a
/// `VALUES` table it joins: `(pk1, pk2) IN (SELECT * FROM (VALUES (?, ?), ...))`.
fn keys_condition<E: EntityTrait>(backend: DbBackend, keys: Vec<ValueTuple>) -> Condition {
    let columns = key_columns::<E>();
    if let [column] = columns.as_slice() {
        let values = keys.into_iter().flat_map(ValueTuple::into_iter);
        return Condition::all().add(column.is_in(values));
    }
    let tuple = Expr::tuple(columns.into_iter().map(Expr::col));
    if backend == DbBackend::Postgres {
        let table = Query::select()
            .column(Asterisk)
            .from_values(keys, Alias::new("audit_keys"))
            .to_owned();
        return Condition::all().add(tuple.in_subquery(table));
    }
    Condition::all().add(tuple.in_tuples(keys))
}

/// `stmt` with `RETURNING` every column of `E`, for backends where SeaORM does not add it
/// (MariaDB, SQLite without `sqlite-use-returning-for-3_35`), read back as models.
async fn returning_raw<E, C>(db: &C, mut stmt: Statement) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let quote = if db.get_database_backend() == DbBackend::MySql {
        '`'
    } else {
        '"'
    };
    let columns: Vec<String> = E::Column::iter()
        .map(|c| format!("{quote}{}{quote}", c.as_str()))
        .collect();
    stmt.sql.push_str(" RETURNING ");
    stmt.sql.push_str(&columns.join(", "));
    E::find().from_raw_sql(stmt).all(db).await
}

/// Writes the audit rows of `pairs` (old, new) as one changeset.
async fn record<'m, E, C>(
    db: &C,
    operation: Operation,
    pairs: impl IntoIterator<Item = (Option<&'m E::Model>, Option<&'m E::Model>)>,
) -> Result<(), DbErr>
where
    E: AuditedEntity,
    C: ConnectionTrait,
{
    let rows: Vec<ColumnChange> = pairs
        .into_iter()
        .flat_map(|(old, new)| row_changes::<E>(operation, old, new))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let changeset = Changeset::begin(E::audit_table(), &current_context());
    record::write(db, &changeset, &rows)
        .await
        .map_err(DbErr::from)
}

/// The text form of `model`'s primary key, as in `audit_log.record_id`.
fn model_record_id<M: ModelTrait>(model: &M) -> String {
    crate::key::record_id(&model.get_primary_key_value())
}
