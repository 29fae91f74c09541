//! The write path behind the generated hooks: read old state, diff, record.
//!
//! Updates and deletes read the old row from the database in `before_save` /
//! `before_delete`, through the hook's own connection and under a row lock where the
//! backend has one (`SELECT ... FOR UPDATE` on PostgreSQL and MySQL). The audit rows are
//! written in `after_save` / `after_delete`, once the change has succeeded, so a write
//! that fails leaves no audit row. The old row travels from the first hook to the second
//! in a stash keyed by connection, task, entity and primary key.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, FromQueryResult, Iterable, ModelTrait, QueryFilter,
    QuerySelect, QueryTrait,
};

use crate::entity::{AuditedEntity, ColumnPolicy, REDACTED};
use crate::key::{primary_key_condition, record_id};
use crate::record::{self, Changeset, ColumnChange};
use crate::{AuditError, Operation, config, current_context, transaction};

/// Hook: runs before `insert`, `update` and `save`.
pub async fn before_save<E, C>(
    am: E::ActiveModel,
    db: &C,
    insert: bool,
) -> Result<E::ActiveModel, DbErr>
where
    E: AuditedEntity,
    C: ConnectionTrait,
{
    if skip_connection(db) {
        return Ok(am);
    }
    check_transaction::<E, C>()?;
    if !insert && let Some(key) = am.get_primary_key_value() {
        stash_old_row::<E, C>(db, key).await?;
    }
    Ok(am)
}

/// Hook: runs after `insert`, `update` and `save` succeeded, with the row as stored.
pub async fn after_save<E, C>(model: &E::Model, db: &C, insert: bool) -> Result<(), DbErr>
where
    E: AuditedEntity,
    C: ConnectionTrait,
{
    if skip_connection(db) {
        return Ok(());
    }
    let changes = if insert {
        row_changes::<E>(Operation::Insert, None, Some(model))
    } else {
        let id = record_id(&model.get_primary_key_value());
        let old = take_old::<E, C>(db, id.clone())?.ok_or_else(|| {
            DbErr::Custom(format!(
                "audit: the old state of `{}` {id} was not captured before the update",
                E::audit_table(),
            ))
        })?;
        row_changes::<E>(Operation::Update, Some(&old), Some(model))
    };
    write::<E, C>(db, changes).await
}

/// Hook: runs before `delete`: the same capture of the old row as before an update.
pub async fn before_delete<E, C>(am: E::ActiveModel, db: &C) -> Result<E::ActiveModel, DbErr>
where
    E: AuditedEntity,
    C: ConnectionTrait,
{
    before_save::<E, C>(am, db, false).await
}

/// Hook: runs after `delete`.
pub async fn after_delete<E, C>(am: &E::ActiveModel, db: &C) -> Result<(), DbErr>
where
    E: AuditedEntity,
    C: ConnectionTrait,
{
    if skip_connection(db) {
        return Ok(());
    }
    let Some(key) = am.get_primary_key_value() else {
        return Ok(());
    };
    // No old row: there was nothing to delete.
    let Some(old) = take_old::<E, C>(db, record_id(&key))? else {
        return Ok(());
    };
    write::<E, C>(db, row_changes::<E>(Operation::Delete, Some(&old), None)).await
}

/// The audit rows for one record going from `old` to `new` (`None` before an insert and
/// after a delete): every recorded column for inserts and deletes, only the changed ones
/// for updates.
pub(crate) fn row_changes<E: AuditedEntity>(
    operation: Operation,
    old: Option<&E::Model>,
    new: Option<&E::Model>,
) -> Vec<ColumnChange> {
    let Some(model) = new.or(old) else {
        return Vec::new();
    };
    let record_id = record_id(&model.get_primary_key_value());
    let mut rows = Vec::new();
    for column in E::Column::iter() {
        let policy = E::column_policy(&column);
        if policy == ColumnPolicy::Skip {
            continue;
        }
        let old_value = old.map(|m| m.get(column));
        let new_value = new.map(|m| m.get(column));
        if operation == Operation::Update && crate::value::surely_equal(&old_value, &new_value) {
            continue;
        }
        let old_json = old_value.as_ref().map(crate::value::encode);
        let new_json = new_value.as_ref().map(crate::value::encode);
        if operation == Operation::Update && old_json == new_json {
            continue;
        }
        let shown = |json: Option<serde_json::Value>| match policy {
            ColumnPolicy::Redact => json.map(|_| serde_json::Value::from(REDACTED)),
            _ => json,
        };
        rows.push(ColumnChange {
            record_id: record_id.clone(),
            operation,
            column: sea_orm::IdenStatic::as_str(&column),
            old: shown(old_json),
            new: shown(new_json),
        });
    }
    rows
}

async fn write<E: AuditedEntity, C: ConnectionTrait>(
    db: &C,
    changes: Vec<ColumnChange>,
) -> Result<(), DbErr> {
    if changes.is_empty() {
        return Ok(());
    }
    let changeset = Changeset::begin(E::audit_table(), &current_context());
    match crate::transaction::defer(db, (changeset, changes)) {
        None => Ok(()),
        Some((changeset, changes)) => record::write(db, &changeset, &changes)
            .await
            .map_err(DbErr::from),
    }
}

/// Mock connections replay canned results; audit statements would consume them.
/// Nothing is recorded while auditing is switched off ([`config::is_enabled`]).
fn skip_connection<C: ConnectionTrait>(db: &C) -> bool {
    db.is_mock_connection() || !config::is_enabled()
}

/// Whether `C` is a transaction. SeaORM's `ConnectionTrait` cannot say, so this reads
/// the type's name: `DatabaseTransaction` (and wrappers named `...Transaction`) count.
pub(crate) fn is_transaction<C>() -> bool {
    std::any::type_name::<C>().contains("Transaction")
}

pub(crate) fn check_transaction<E: AuditedEntity, C>() -> Result<(), AuditError> {
    if config::config().require_transaction && !is_transaction::<C>() {
        return Err(AuditError::NotInTransaction {
            table: E::audit_table().to_owned(),
        });
    }
    Ok(())
}

async fn stash_old_row<E, C>(db: &C, key: sea_orm::sea_query::ValueTuple) -> Result<(), DbErr>
where
    E: AuditedEntity,
    C: ConnectionTrait,
{
    let id = record_id(&key);
    // `all`, not `one`: at most one row matches the key, and `one`'s `LIMIT ?` makes
    // SQLite re-prepare the statement on every run (a bound LIMIT is a plan input).
    let select = E::find()
        .filter(primary_key_condition::<E>(key))
        .lock_exclusive()
        .build(db.get_database_backend());
    let key = (TypeId::of::<E>(), id.clone());
    let Some(select) = transaction::read_old_row_later(db, key, select) else {
        return Ok(());
    };
    let old = E::find()
        .from_raw_sql(select)
        .all(db)
        .await
        .map_err(|e| DbErr::from(AuditError::Read(e)))?
        .pop();
    match old {
        Some(old) => stash::<E, C>(db, id, old),
        // No row: drop what an earlier failed write of this record left here, or the
        // `after_*` hook would record it as this write's old state.
        None => discard::<E, C>(db, id),
    }
    Ok(())
}

/// The old row of the write of record `id` of `E` through `db`: read with the write's own
/// statement ([`transaction::read_old_row_later`]) or stashed by `before_*`.
fn take_old<E: AuditedEntity, C>(db: &C, id: String) -> Result<Option<E::Model>, DbErr> {
    let Some(rows) = transaction::take_old_row(db, &(TypeId::of::<E>(), id.clone())) else {
        return Ok(take_stashed::<E, C>(db, &id));
    };
    rows.first()
        .map(|row| E::Model::from_query_result(row, ""))
        .transpose()
        .map_err(|e| DbErr::from(AuditError::Read(e)))
}

/// Connection, task (tasks sharing one pool outside a transaction stay apart), entity, key.
type StashKey = (usize, Option<tokio::task::Id>, TypeId, String);
type Stashed = Vec<(Instant, Box<dyn Any + Send>)>;

/// Old rows between the `before_*` and `after_*` hooks of one write. An entry whose
/// write failed (so no `after_*` hook ran) is dropped after [`STASH_TTL`].
static STASH: Mutex<Option<HashMap<StashKey, Stashed>>> = Mutex::new(None);
const STASH_TTL: Duration = Duration::from_secs(600);
const STASH_SWEEP_AT: usize = 1024;

fn stash_key<E: 'static, C>(db: &C, record_id: String) -> StashKey {
    (
        std::ptr::from_ref(db) as usize,
        tokio::task::try_id(),
        TypeId::of::<E>(),
        record_id,
    )
}

fn discard<E: AuditedEntity, C>(db: &C, record_id: String) {
    let mut guard = STASH.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(map) = guard.as_mut() {
        map.remove(&stash_key::<E, C>(db, record_id));
    }
}

fn stash<E: AuditedEntity, C>(db: &C, record_id: String, old: E::Model) {
    let mut guard = STASH.lock().unwrap_or_else(PoisonError::into_inner);
    let map = guard.get_or_insert_with(HashMap::new);
    if map.len() >= STASH_SWEEP_AT {
        map.retain(|_, entries| {
            entries.retain(|(at, _)| at.elapsed() < STASH_TTL);
            !entries.is_empty()
        });
    }
    map.entry(stash_key::<E, C>(db, record_id))
        .or_default()
        .push((Instant::now(), Box::new(old)));
}

fn take_stashed<E: AuditedEntity, C>(db: &C, record_id: &str) -> Option<E::Model> {
    let mut guard = STASH.lock().unwrap_or_else(PoisonError::into_inner);
    let map = guard.as_mut()?;
    let key = stash_key::<E, C>(db, record_id.to_owned());
    let entries = map.get_mut(&key)?;
    let (_, old) = entries.pop()?;
    if entries.is_empty() {
        map.remove(&key);
    }
    old.downcast::<E::Model>().ok().map(|b| *b)
}
