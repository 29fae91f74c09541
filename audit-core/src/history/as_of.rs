//! Point in time: a record rebuilt as it was at an instant or at a version.

use std::fmt;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, IdenStatic, Iterable, TryIntoModel, Value,
};

use sea_orm::sea_query::IntoValueTuple;

use super::query::{KeyOf, history};
use super::state::RecordState;
use super::versions::{Version, group, record_versions};
use crate::{AuditError, AuditedEntity, ColumnPolicy, record_id};

/// A record of `E` rebuilt from the trail, column by column. Columns the trail cannot
/// give back (`#[audit(redact)]`, `#[audit(skip)]`, or absent because the trail starts
/// after the record was created) are known to be unknown: [`get`](Self::get) and
/// [`into_model`](Self::into_model) fail with [`AuditError::NotRecorded`] for them, and
/// [`into_active_model`](Self::into_active_model) leaves them `NotSet`. No guessed value.
#[non_exhaustive]
pub struct Snapshot<E: EntityTrait> {
    /// The last version applied (the record's state right after it).
    pub version: u32,
    /// That version's changeset.
    pub changeset_id: String,
    /// When that version was written.
    pub changed_at: DateTime<Utc>,
    values: Vec<(E::Column, Recalled)>,
}

/// One column of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq)]
enum Recalled {
    Value(Value),
    /// Not rebuildable: `redacted`, `skipped`, `missing`, or a personal value `erased` or
    /// `unreadable`.
    Unknown(&'static str),
}

impl<E: EntityTrait> fmt::Debug for Snapshot<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Snapshot");
        s.field("version", &self.version)
            .field("changeset_id", &self.changeset_id)
            .field("changed_at", &self.changed_at);
        for (column, value) in &self.values {
            match value {
                Recalled::Value(v) => s.field(column.as_str(), v),
                Recalled::Unknown(why) => s.field(column.as_str(), why),
            };
        }
        s.finish()
    }
}

impl<E: AuditedEntity> Snapshot<E> {
    /// Rebuilds the record after `versions`; `None` when it did not exist then.
    pub(crate) fn rebuild(versions: &[Version]) -> Result<Option<Self>, AuditError> {
        let state = RecordState::after(versions);
        let Some(last) = versions.last().filter(|_| state.exists) else {
            return Ok(None);
        };
        let values = E::Column::iter()
            .map(|column| {
                let recalled = match E::column_policy(&column) {
                    ColumnPolicy::Skip => Recalled::Unknown("skipped"),
                    ColumnPolicy::Redact => Recalled::Unknown("redacted"),
                    ColumnPolicy::Record | ColumnPolicy::Personal => {
                        match state.column(column.as_str()) {
                            Some(known) if let Some(lost) = known.lost => Recalled::Unknown(lost),
                            Some(known) => Recalled::Value(E::decode_value(&column, &known.value)?),
                            None => Recalled::Unknown("missing"),
                        }
                    }
                };
                Ok((column, recalled))
            })
            .collect::<Result<_, AuditError>>()?;
        Ok(Some(Snapshot {
            version: last.number,
            changeset_id: last.changeset_id.clone(),
            changed_at: last.changed_at,
            values,
        }))
    }

    /// The value of `column`, or [`AuditError::NotRecorded`] when the trail cannot give it.
    pub fn get(&self, column: E::Column) -> Result<Value, AuditError> {
        let found = self
            .values
            .iter()
            .find(|(c, _)| c.as_str() == column.as_str())
            .map(|(_, v)| v);
        match found {
            Some(Recalled::Value(value)) => Ok(value.clone()),
            Some(Recalled::Unknown(policy)) => Err(not_recorded::<E>(column, policy)),
            None => Err(not_recorded::<E>(column, "missing")),
        }
    }

    /// The columns this snapshot cannot give back.
    pub fn unrecorded(&self) -> Vec<E::Column> {
        self.values
            .iter()
            .filter(|(_, v)| matches!(v, Recalled::Unknown(_)))
            .map(|(c, _)| *c)
            .collect()
    }

    /// The whole model, or [`AuditError::NotRecorded`] naming the first column the trail
    /// cannot give back.
    pub fn into_model(self) -> Result<E::Model, AuditError>
    where
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        if let Some((column, Recalled::Unknown(policy))) = self
            .values
            .iter()
            .find(|(_, v)| matches!(v, Recalled::Unknown(_)))
        {
            return Err(not_recorded::<E>(*column, policy));
        }
        self.into_active_model()?
            .try_into_model()
            .map_err(|e| decode_err::<E>("", e))
    }

    /// A partial model: every column the trail knows is `Set`, the others are `NotSet`.
    pub fn into_active_model(self) -> Result<E::ActiveModel, AuditError> {
        let mut am = <E::ActiveModel as ActiveModelTrait>::default();
        for (column, recalled) in self.values {
            if let Recalled::Value(value) = recalled {
                am.try_set(column, value)
                    .map_err(|e| decode_err::<E>(column.as_str(), e))?;
            }
        }
        Ok(am)
    }
}

fn decode_err<E: AuditedEntity>(column: &str, err: sea_orm::DbErr) -> AuditError {
    AuditError::Decode {
        table: E::audit_table().to_owned(),
        column: column.to_owned(),
        reason: err.to_string(),
    }
}

fn not_recorded<E: AuditedEntity>(column: E::Column, policy: &'static str) -> AuditError {
    AuditError::NotRecorded {
        table: E::audit_table().to_owned(),
        column: column.as_str().to_owned(),
        policy,
    }
}

/// The record of `E` with primary key `key` as it was at `at`: its state after every
/// write stamped at or before `at`. `None` before its insert and after its delete.
/// Fails with [`AuditError::NotRecorded`] when a column is redacted or skipped; use
/// [`snapshot_as_of`] for the columns that can be rebuilt.
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
/// let then = audit_core::as_of::<ticket::Entity>(&db, 1, opened).await?;
/// assert_eq!(then.map(|t| t.status).as_deref(), Some("open"));
/// let before = opened - chrono::Duration::days(1);
/// assert_eq!(audit_core::as_of::<ticket::Entity>(&db, 1, before).await?, None);
/// # Ok(())
/// # }
/// ```
pub async fn as_of<E>(
    db: &impl ConnectionTrait,
    key: impl Into<KeyOf<E>>,
    at: DateTime<Utc>,
) -> Result<Option<E::Model>, AuditError>
where
    E: AuditedEntity,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    snapshot_as_of::<E>(db, key, at)
        .await?
        .map(Snapshot::into_model)
        .transpose()
}

/// [`as_of`], as a [`Snapshot`] that keeps the columns the trail cannot give back apart.
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
/// use audit_core::history::snapshot_as_of;
///
/// let snapshot = snapshot_as_of::<ticket::Entity>(&db, 1, chrono::Utc::now()).await?.unwrap();
/// assert_eq!(snapshot.version, 2);
/// assert_eq!(snapshot.get(ticket::Column::Status)?, "closed".into());
/// assert!(snapshot.unrecorded().is_empty());
/// # Ok(())
/// # }
/// ```
pub async fn snapshot_as_of<E>(
    db: &impl ConnectionTrait,
    key: impl Into<KeyOf<E>>,
    at: DateTime<Utc>,
) -> Result<Option<Snapshot<E>>, AuditError>
where
    E: AuditedEntity,
{
    let versions = group(history::<E>(key).until(at).fetch(db).await?);
    Snapshot::rebuild(&versions)
}

/// The record of `E` with primary key `key` right after its version `number` (see
/// [`versions`](super::versions())); `None` when that version is a delete.
/// [`AuditError::NotFound`] when there is no such version.
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
/// let first = audit_core::at_version::<ticket::Entity>(&db, 1, 1).await?;
/// assert_eq!(first.map(|t| t.status).as_deref(), Some("open"));
/// assert!(audit_core::at_version::<ticket::Entity>(&db, 1, 3).await.is_err());
/// # Ok(())
/// # }
/// ```
pub async fn at_version<E>(
    db: &impl ConnectionTrait,
    key: impl Into<KeyOf<E>>,
    number: u32,
) -> Result<Option<E::Model>, AuditError>
where
    E: AuditedEntity,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    snapshot_at_version::<E>(db, key, number)
        .await?
        .map(Snapshot::into_model)
        .transpose()
}

/// [`at_version`], as a [`Snapshot`].
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
/// let snapshot = audit_core::history::snapshot_at_version::<ticket::Entity>(&db, 1, 1).await?;
/// let model = snapshot.unwrap().into_model()?;
/// assert_eq!(model.status, "open");
/// # Ok(())
/// # }
/// ```
pub async fn snapshot_at_version<E>(
    db: &impl ConnectionTrait,
    key: impl Into<KeyOf<E>>,
    number: u32,
) -> Result<Option<Snapshot<E>>, AuditError>
where
    E: AuditedEntity,
{
    let key = key.into().into_value_tuple();
    let record = record_id(&key);
    let versions = record_versions::<E, _>(db, &key).await?;
    let upto = versions_upto::<E>(&versions, number, &record)?;
    Snapshot::rebuild(upto)
}

/// The first `number` versions, or [`AuditError::NotFound`].
pub(crate) fn versions_upto<'a, E: AuditedEntity>(
    versions: &'a [Version],
    number: u32,
    record: &str,
) -> Result<&'a [Version], AuditError> {
    let count = usize::try_from(number).unwrap_or(usize::MAX);
    if number == 0 || count > versions.len() {
        return Err(AuditError::NotFound(format!(
            "version {number} of `{}` {record} (it has {} versions)",
            E::audit_table(),
            versions.len()
        )));
    }
    Ok(&versions[..count])
}
