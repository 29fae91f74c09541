//! The write path behind the generated hooks: check, read old state, diff, record.
//!
//! Updates and deletes read the old row from the database in `before_save` /
//! `before_delete`, through the hook's own connection and under a row lock where the
//! backend has one (`SELECT ... FOR UPDATE` on PostgreSQL and MySQL). The audit rows are
//! written in `after_save` / `after_delete`, once the change has succeeded, so a write
//! that fails leaves no audit row. Inside [`crate::transaction`] the old row is kept by
//! the transaction itself; on other connections it waits in the [`stash`].
//!
//! An entity marked `#[audit(capture = "database")]` is recorded by triggers instead: its
//! hooks run the same checks, write no rows, and hand the scope to the database
//! ([`crate::db_capture`]).
//!
//! Everything the audit table could refuse (actor, context, key) is checked in the
//! `before_*` hook, before the change is made ([`limits`]). When an `after_*` hook cannot
//! record a change that did happen, it returns an error and dooms the transaction the
//! change ran in where it can ([`crate::transaction`] and its savepoints always;
//! PostgreSQL transactions always), so that change cannot commit.

pub mod limits;
pub(crate) mod stash;
pub(crate) mod strict;

use std::any::TypeId;

use sea_orm::sea_query::ValueTuple;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, FromQueryResult, Iterable, ModelTrait, QueryFilter,
    QueryResult, QuerySelect, QueryTrait,
};

use crate::db_capture::handoff;
use crate::entity::{AuditedEntity, CaptureMode, ColumnPolicy, REDACTED};
use crate::erasure::prefetch::{self, Prefetch};
use crate::erasure::{KeyHints, Sides};
use crate::key::{primary_key_condition, record_id};
use crate::record::{self, Changeset, ColumnChange};
use crate::transaction::{self, Begun, StoredKey, WriteKey};
use crate::{AuditError, Operation, config, current_context};

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
    let key = am.get_primary_key_value();
    let prefetch = check_write::<E, C>(db, &am, !insert && key.is_some()).await?;
    if E::capture_mode() == CaptureMode::Database {
        handoff::before_write::<E, C>(db).await?;
        return Ok(am);
    }
    if let Some(key) = &key {
        limits::check_record_id(E::audit_table(), &record_id(key))?;
    }
    if !insert && let Some(key) = key {
        capture_old_row::<E, C>(db, key, Operation::Update, prefetch).await?;
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
    if E::capture_mode() == CaptureMode::Database {
        return handoff::after_write(db).await;
    }
    let id = record_id(&model.get_primary_key_value());
    let (changes, keys) = if insert {
        if let Err(e) = limits::check_record_id(E::audit_table(), &id) {
            return Err(unrecorded(db, e.to_string()).await);
        }
        let changes = row_changes::<E>(Operation::Insert, None, Some(model));
        (changes, KeyHints::default())
    } else {
        let (Some(old), keys) = take_old_row::<E, C>(db, id.clone(), Some(model)).await? else {
            let reason = format!(
                "the old state of `{}` {id} was not captured before the update",
                E::audit_table()
            );
            return Err(unrecorded(db, reason).await);
        };
        let changes = row_changes::<E>(Operation::Update, Some(&old), Some(model));
        (changes, keys)
    };
    write::<E, C>(db, changes, keys).await
}

/// Hook: runs before `delete`: the same checks and capture of the old row as an update.
pub async fn before_delete<E, C>(am: E::ActiveModel, db: &C) -> Result<E::ActiveModel, DbErr>
where
    E: AuditedEntity,
    C: ConnectionTrait,
{
    if skip_connection(db) {
        return Ok(am);
    }
    let key = am.get_primary_key_value();
    let prefetch = check_write::<E, C>(db, &am, key.is_some()).await?;
    if E::capture_mode() == CaptureMode::Database {
        handoff::before_write::<E, C>(db).await?;
        return Ok(am);
    }
    if let Some(key) = key {
        limits::check_record_id(E::audit_table(), &record_id(&key))?;
        capture_old_row::<E, C>(db, key, Operation::Delete, prefetch).await?;
    }
    Ok(am)
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
    if E::capture_mode() == CaptureMode::Database {
        return handoff::after_write(db).await;
    }
    let Some(key) = am.get_primary_key_value() else {
        return Ok(());
    };
    // No old row: there was nothing to delete.
    let (Some(old), keys) = take_old_row::<E, C>(db, record_id(&key), None).await? else {
        return Ok(());
    };
    write::<E, C>(
        db,
        row_changes::<E>(Operation::Delete, Some(&old), None),
        keys,
    )
    .await
}

/// The checks every audited write of `am` passes before it changes anything: strict mode,
/// the actor and context the audit table must hold, and a key-encryption key that can seal
/// its personal columns. Where the hooks will read the write's old row (`of_a_key`: an
/// update or delete of a key) and can read its keys with it, that read checks the key
/// instead: the returned [`prefetch`] plan.
async fn check_write<E: AuditedEntity, C: ConnectionTrait>(
    db: &C,
    am: &E::ActiveModel,
    of_a_key: bool,
) -> Result<Option<Prefetch>, DbErr> {
    strict::check::<E, C>(db).await?;
    limits::check_scope(E::audit_table(), &current_context())?;
    let prefetch = (of_a_key && E::capture_mode() == CaptureMode::Hooks)
        .then(|| prefetch::plan::<E, C>(db, am))
        .flatten();
    if prefetch.is_none() {
        crate::erasure::check_ready::<E, C>(db).await?;
    }
    Ok(prefetch)
}

/// Reads the old row of the write of `key` and keeps it for the `after_*` hook: in the
/// [`crate::transaction`] the write runs in, or in the [`stash`]. An update's row is
/// filed under the record id the database stores (a key it treats as equal to the one
/// given may be spelled differently), which is what its `after_save` sees; a delete's
/// under the key given, which is what its `after_delete` sees.
///
/// With `prefetch` (never inside a [`crate::transaction`]) the same statement reads the
/// write's keys, and checks them before the change is made.
async fn capture_old_row<E, C>(
    db: &C,
    key: ValueTuple,
    operation: Operation,
    prefetch: Option<Prefetch>,
) -> Result<(), DbErr>
where
    E: AuditedEntity,
    C: ConnectionTrait,
{
    let id = record_id(&key);
    // `all`, not `one`: at most one row matches the key, and `one`'s `LIMIT ?` makes
    // SQLite re-prepare the statement on every run (a bound LIMIT is a plan input).
    let mut select = E::find()
        .filter(primary_key_condition::<E>(key))
        .lock_exclusive();
    if let Some(prefetch) = &prefetch {
        select = prefetch.add_to(select);
    }
    let select = select.build(db.get_database_backend());
    let write_key: WriteKey = (
        TypeId::of::<E>(),
        id.clone(),
        operation == Operation::Delete,
    );
    let stored = (operation == Operation::Update).then_some(stored_key::<E> as StoredKey);
    let read_error = |e| DbErr::from(AuditError::Read(e));
    match transaction::begin_write(db, write_key.clone(), select, stored)? {
        Begun::Deferred => {}
        Begun::ReadNow(select) => {
            let rows = db.query_all_raw(select).await.map_err(read_error)?;
            transaction::file_old_row(db, write_key, rows, stored);
        }
        Begun::NotBuffered(select) => {
            let rows = db.query_all_raw(select).await.map_err(read_error)?;
            let keys = match prefetch {
                Some(prefetch) => prefetch.read(db, rows.first()).await?,
                None => KeyHints::default(),
            };
            let old = rows
                .first()
                .map(|row| E::Model::from_query_result(row, ""))
                .transpose()
                .map_err(read_error)?;
            let filed_under = match (&old, operation) {
                (Some(old), Operation::Update) => record_id(&old.get_primary_key_value()),
                _ => id,
            };
            let delete = operation == Operation::Delete;
            stash::put::<E, C>(db, filed_under, delete, old, keys).await;
        }
    }
    Ok(())
}

/// The record id the database stores, from an old row read by [`capture_old_row`].
fn stored_key<E: AuditedEntity>(row: &QueryResult) -> Option<String> {
    let model = E::Model::from_query_result(row, "").ok()?;
    Some(record_id(&model.get_primary_key_value()))
}

/// The old row of the write of record `id` of `E` through `db`, whose new row is `new`
/// (`None` for a delete), with the keys read ahead with it. `None`: the record did not
/// exist. A write whose old row cannot be found, or told apart from another's, is an
/// error that dooms the transaction.
async fn take_old_row<E: AuditedEntity, C: ConnectionTrait>(
    db: &C,
    id: String,
    new: Option<&E::Model>,
) -> Result<(Option<E::Model>, KeyHints), DbErr> {
    let write_key: WriteKey = (TypeId::of::<E>(), id.clone(), new.is_none());
    if let Some(rows) = transaction::finish_write(db, &write_key) {
        let old = rows?
            .first()
            .map(|row| E::Model::from_query_result(row, ""))
            .transpose()
            .map_err(|e| DbErr::from(AuditError::Read(e)))?;
        return Ok((old, KeyHints::default()));
    }
    match stash::take::<E, C>(db, id.clone(), new).await {
        Ok(old) => Ok(old),
        Err(missing) => {
            let why = match missing {
                stash::Missing::NotCaptured => "was not captured before the change",
                stash::Missing::Ambiguous => {
                    "cannot be told apart from that of another write of the same record \
                     overlapping it on this connection (run overlapping writes in \
                     separate tasks or transactions)"
                }
            };
            let reason = format!("the old state of `{}` {id} {why}", E::audit_table());
            Err(unrecorded(db, reason).await)
        }
    }
}

/// A change that happened and cannot be recorded: dooms the transaction it ran in where
/// the library can, and returns the error for the caller.
async fn unrecorded<C: ConnectionTrait>(db: &C, reason: String) -> DbErr {
    transaction::doom(db, &reason).await;
    DbErr::Custom(format!("audit: {reason}"))
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
    let mut sides = None;
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
        let subject = (policy == ColumnPolicy::Personal).then(|| {
            sides
                .get_or_insert_with(|| Sides::of::<E>(old, new))
                .clone()
        });
        rows.push(ColumnChange {
            record_id: record_id.clone(),
            operation,
            column: sea_orm::IdenStatic::as_str(&column),
            old: shown(old_json),
            new: shown(new_json),
            subject,
        });
    }
    rows
}

/// Records `changes` as one changeset, sealing personal rows with `keys` where they hold
/// the subject's key.
async fn write<E: AuditedEntity, C: ConnectionTrait>(
    db: &C,
    changes: Vec<ColumnChange>,
    keys: KeyHints,
) -> Result<(), DbErr> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut changeset = Changeset::begin(E::audit_table(), &current_context());
    changeset.keys = keys;
    let Some((changeset, changes)) = transaction::defer(db, (changeset, changes)) else {
        return Ok(());
    };
    match record::write(db, &changeset, &changes).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let reason = e.to_string();
            transaction::doom(db, &reason).await;
            Err(DbErr::from(e))
        }
    }
}

/// Mock connections replay canned results; audit statements would consume them.
/// Nothing is recorded while auditing is switched off ([`config::is_enabled`]).
fn skip_connection<C: ConnectionTrait>(db: &C) -> bool {
    db.is_mock_connection() || !config::is_enabled()
}
