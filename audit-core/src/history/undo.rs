//! Undo: revert one write of a record, or restore a deleted record, through the audited
//! write path (so the undo is in the trail too, with the actor in force).

use std::str::FromStr;

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue, ConnectionTrait, DbErr, EntityTrait,
    IdenStatic, IntoActiveModel, Iterable, QueryFilter, QuerySelect, TransactionSession,
    TransactionTrait,
};

use sea_orm::sea_query::IntoValueTuple;

use super::query::{KeyOf, record_history};
use super::versions::{Version, group};
use crate::key::primary_key_condition;
use crate::{AuditError, AuditedEntity, ColumnPolicy, Operation, record_id};

/// What an undo does when a later write changed a column it would write back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnConflict {
    /// Refuse with [`AuditError::Conflict`] (the default).
    #[default]
    Refuse,
    /// Write the old values anyway, overwriting the later change.
    Overwrite,
}

/// Reverts the write `changeset_id` of the record of `E` with primary key `key`, in one
/// transaction, through the audited write path:
///
/// - an update: the columns it changed get their old values back (the other columns are
///   left as they are now); returns the record as it is afterwards;
/// - an insert: the record is deleted; returns `None`;
/// - a delete: the record is inserted again from its last state (as [`restore`]).
///
/// Refuses with [`AuditError::Conflict`] when a later write changed one of those columns
/// (for an insert: any later write), unless `on_conflict` is [`OnConflict::Overwrite`];
/// with [`AuditError::NotRecorded`] when a value to write back is redacted or skipped;
/// with [`AuditError::NotFound`] when the changeset is not in the record's history or
/// the record to change no longer exists.
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
/// # let t = ticket::ActiveModel { status: Set("open".into()), ..Default::default() }.insert(&db).await?;
/// # std::thread::sleep(std::time::Duration::from_millis(2));
/// # let opened = chrono::Utc::now();
/// # std::thread::sleep(std::time::Duration::from_millis(2));
/// # let mut am: ticket::ActiveModel = t.into();
/// # am.status = Set("closed".into());
/// # am.update(&db).await?;
/// // Ticket 1 was inserted `open`, then (after the instant `opened`) set to `closed`.
/// use audit_core::OnConflict;
///
/// let versions = audit_core::versions::<ticket::Entity>(&db, 1).await?;
/// let closing = &versions[1].changeset_id;
/// let reopened = audit_core::revert::<ticket::Entity>(&db, 1, closing, OnConflict::Refuse).await?;
/// assert_eq!(reopened.map(|t| t.status).as_deref(), Some("open"));
/// // The undo is a write of its own, in the trail:
/// assert_eq!(audit_core::versions::<ticket::Entity>(&db, 1).await?.len(), 3);
/// # Ok(())
/// # }
/// ```
pub async fn revert<E>(
    db: &impl TransactionTrait,
    key: impl Into<KeyOf<E>>,
    changeset_id: &str,
    on_conflict: OnConflict,
) -> Result<Option<E::Model>, AuditError>
where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelBehavior + Send,
{
    let changeset_id = changeset_id.to_owned();
    in_transaction::<E, _, _>(db, key.into(), move |txn, record| {
        Box::pin(
            async move { revert_in::<E, _>(txn, record, &changeset_id, on_conflict, None).await },
        )
    })
    .await
}

/// Inserts the deleted record of `E` with primary key `key` again, with the values it had
/// when it was deleted, through the audited write path. Fails with
/// [`AuditError::NotRecorded`] when a column is redacted or skipped (use
/// [`restore_with`]), [`AuditError::NotFound`] when the record's last write is not a delete.
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
/// # let t = ticket::ActiveModel { status: Set("open".into()), ..Default::default() }.insert(&db).await?;
/// # std::thread::sleep(std::time::Duration::from_millis(2));
/// # let opened = chrono::Utc::now();
/// # std::thread::sleep(std::time::Duration::from_millis(2));
/// # let mut am: ticket::ActiveModel = t.into();
/// # am.status = Set("closed".into());
/// # am.update(&db).await?;
/// // Ticket 1 was inserted `open`, then (after the instant `opened`) set to `closed`.
/// let ticket = ticket::Entity::find_by_id(1).one(&db).await?.unwrap();
/// ticket.delete(&db).await?;
/// let back = audit_core::restore::<ticket::Entity>(&db, 1).await?;
/// assert_eq!(back.status, "closed");
/// assert!(audit_core::restore::<ticket::Entity>(&db, 1).await.is_err()); // not deleted now
/// # Ok(())
/// # }
/// ```
pub async fn restore<E>(
    db: &impl TransactionTrait,
    key: impl Into<KeyOf<E>>,
) -> Result<E::Model, AuditError>
where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelBehavior + Send,
{
    restore_inner::<E, _>(db, key.into(), None).await
}

/// [`restore`], taking the columns the trail cannot give back (redacted, skipped) from
/// `fill`; every such column must be set in `fill` (e.g. a new password hash for a
/// `#[audit(redact)]` column). Otherwise as [`restore`], which has an example.
pub async fn restore_with<E>(
    db: &impl TransactionTrait,
    key: impl Into<KeyOf<E>>,
    fill: E::ActiveModel,
) -> Result<E::Model, AuditError>
where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelBehavior + Send,
{
    restore_inner::<E, _>(db, key.into(), Some(fill)).await
}

async fn restore_inner<E, C>(
    db: &C,
    key: KeyOf<E>,
    fill: Option<E::ActiveModel>,
) -> Result<E::Model, AuditError>
where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelBehavior + Send,
    C: TransactionTrait,
{
    let restored = in_transaction::<E, C, _>(db, key, |txn, record| {
        Box::pin(async move {
            let last = record
                .versions
                .last()
                .filter(|v| v.operation == Operation::Delete)
                .ok_or_else(|| {
                    AuditError::NotFound(format!(
                        "a deleted `{}` {} to restore: its last recorded write is not a delete",
                        E::audit_table(),
                        record.id
                    ))
                })?
                .changeset_id
                .clone();
            revert_in::<E, C::Transaction>(txn, record, &last, OnConflict::Refuse, fill).await
        })
    })
    .await?;
    restored.ok_or_else(|| AuditError::NotFound(format!("the restored `{}` row", E::audit_table())))
}

/// The record an undo works on, read inside its transaction.
struct Record<E: EntityTrait> {
    id: String,
    current: Option<E::Model>,
    versions: Vec<Version>,
}

type Step<'a, T> = std::pin::Pin<Box<dyn Future<Output = Result<T, AuditError>> + Send + 'a>>;

/// Locks the record's row (where it exists), reads its history, runs `step`, commits.
async fn in_transaction<E, C, T>(
    db: &C,
    key: KeyOf<E>,
    step: impl for<'t> FnOnce(&'t C::Transaction, Record<E>) -> Step<'t, T>,
) -> Result<T, AuditError>
where
    E: AuditedEntity,
    C: TransactionTrait,
{
    let key = key.into_value_tuple();
    let id = record_id(&key);
    let txn = db.begin().await.map_err(AuditError::Read)?;
    let current = E::find()
        .filter(primary_key_condition::<E>(key.clone()))
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(AuditError::Read)?;
    let versions = group(record_history::<E>(&key).fetch(&txn).await?);
    let record = Record {
        id,
        current,
        versions,
    };
    let out = step(&txn, record).await?;
    txn.commit().await.map_err(write_err::<E>)?;
    Ok(out)
}

async fn revert_in<E, C>(
    txn: &C,
    record: Record<E>,
    changeset_id: &str,
    on_conflict: OnConflict,
    fill: Option<E::ActiveModel>,
) -> Result<Option<E::Model>, AuditError>
where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelBehavior + Send,
    C: ConnectionTrait,
{
    let table = E::audit_table();
    let index = record
        .versions
        .iter()
        .position(|v| v.changeset_id == changeset_id)
        .ok_or_else(|| {
            AuditError::NotFound(format!(
                "changeset {changeset_id} in the history of `{table}` {}",
                record.id
            ))
        })?;
    let target = &record.versions[index];
    let later = &record.versions[index + 1..];
    let gone = || {
        AuditError::NotFound(format!(
            "`{table}` {} to revert: it no longer exists (restore it first)",
            record.id
        ))
    };
    match target.operation {
        Operation::Update => {
            let current = record.current.ok_or_else(gone)?;
            let mut am = current.into_active_model();
            for change in &target.changes {
                let column = column_of::<E>(&change.column)?;
                if !recorded(E::column_policy(&column)) {
                    return Err(unrecorded::<E>(column));
                }
                if let Some(lost) = change.personal.and_then(crate::erasure::Personal::lost) {
                    return Err(personal_lost::<E>(column, lost));
                }
                if on_conflict == OnConflict::Refuse
                    && let Some(v) = later.iter().find(|v| touches(v, &change.column))
                {
                    return Err(conflict::<E>(&change.column, v));
                }
                let old = change
                    .old_value
                    .as_ref()
                    .ok_or_else(|| unrecorded::<E>(column))?;
                am.try_set(column, E::decode_value(&column, old)?)
                    .map_err(write_err::<E>)?;
            }
            am.update(txn).await.map(Some).map_err(write_err::<E>)
        }
        Operation::Insert => {
            let current = record.current.ok_or_else(gone)?;
            if on_conflict == OnConflict::Refuse
                && let Some(v) = later.first()
            {
                let column = v.changes.first().map_or("", |c| c.column.as_str());
                return Err(conflict::<E>(column, v));
            }
            current
                .into_active_model()
                .delete(txn)
                .await
                .map_err(write_err::<E>)?;
            Ok(None)
        }
        Operation::Delete => {
            if let Some(v) = later.first().filter(|_| on_conflict == OnConflict::Refuse) {
                let column = v.changes.first().map_or("", |c| c.column.as_str());
                return Err(conflict::<E>(column, v));
            }
            if record.current.is_some() {
                let last = record.versions.last().unwrap_or(target);
                return Err(conflict::<E>("*", last));
            }
            let am = rebuild_deleted::<E>(target, fill)?;
            am.insert(txn).await.map(Some).map_err(write_err::<E>)
        }
    }
}

/// The active model of a deleted record, from the old values its delete recorded, with
/// the columns the trail lacks taken from `fill`.
fn rebuild_deleted<E: AuditedEntity>(
    delete: &Version,
    fill: Option<E::ActiveModel>,
) -> Result<E::ActiveModel, AuditError> {
    let mut am = <E::ActiveModel as ActiveModelTrait>::default();
    for column in E::Column::iter() {
        let recorded = delete
            .changes
            .iter()
            .find(|c| c.column == column.as_str())
            .filter(|c| {
                c.personal
                    .and_then(crate::erasure::Personal::lost)
                    .is_none()
            })
            .and_then(|c| c.old_value.as_ref())
            .filter(|_| recorded(E::column_policy(&column)));
        let value = match (recorded, fill.as_ref().map(|f| f.get(column))) {
            (Some(json), _) => E::decode_value(&column, json)?,
            (None, Some(ActiveValue::Set(v) | ActiveValue::Unchanged(v))) => v,
            (None, _) => return Err(unrecorded::<E>(column)),
        };
        am.try_set(column, value).map_err(write_err::<E>)?;
    }
    Ok(am)
}

fn touches(version: &Version, column: &str) -> bool {
    version.operation != Operation::Update || version.changes.iter().any(|c| c.column == column)
}

fn column_of<E: AuditedEntity>(name: &str) -> Result<E::Column, AuditError> {
    E::Column::from_str(name).map_err(|_| AuditError::Decode {
        table: E::audit_table().to_owned(),
        column: name.to_owned(),
        reason: "the entity has no such column".to_owned(),
    })
}

/// Whether a column's values are in the trail (in clear or sealed).
fn recorded(policy: ColumnPolicy) -> bool {
    matches!(policy, ColumnPolicy::Record | ColumnPolicy::Personal)
}

fn personal_lost<E: AuditedEntity>(column: E::Column, lost: &'static str) -> AuditError {
    AuditError::NotRecorded {
        table: E::audit_table().to_owned(),
        column: column.as_str().to_owned(),
        policy: lost,
    }
}

fn unrecorded<E: AuditedEntity>(column: E::Column) -> AuditError {
    AuditError::NotRecorded {
        table: E::audit_table().to_owned(),
        column: column.as_str().to_owned(),
        policy: match E::column_policy(&column) {
            ColumnPolicy::Redact => "redacted",
            ColumnPolicy::Skip => "skipped",
            ColumnPolicy::Record | ColumnPolicy::Personal => "missing",
        },
    }
}

fn conflict<E: AuditedEntity>(column: &str, later: &Version) -> AuditError {
    AuditError::Conflict {
        table: E::audit_table().to_owned(),
        column: column.to_owned(),
        later_changeset: later.changeset_id.clone(),
    }
}

fn write_err<E: AuditedEntity>(source: DbErr) -> AuditError {
    AuditError::Write {
        table: E::audit_table().to_owned(),
        source,
    }
}
