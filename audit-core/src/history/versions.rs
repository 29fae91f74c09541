//! A record's history grouped by write: its versions.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::Value as Json;

use super::entry::AuditEntry;
use sea_orm::sea_query::{IntoValueTuple, ValueTuple};

use super::query::{KeyOf, record_history};
use crate::{AuditError, AuditedEntity, Operation};

/// One write of one record: version `number` of it.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let versions = audit_core::versions::<ticket::Entity>(&db, 1).await?;
/// let close = &versions[1];
/// assert_eq!((close.number, close.actor.as_deref()), (2, Some("bob")));
/// assert_eq!(close.changes.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Version {
    /// 1 for the record's first recorded write, then 2, 3, ...
    pub number: u32,
    /// The write's changeset.
    pub changeset_id: String,
    /// What the write did.
    pub operation: Operation,
    /// When it was written.
    pub changed_at: DateTime<Utc>,
    /// Who wrote it, if known.
    pub actor: Option<String>,
    /// The write's metadata, if any.
    pub context: Option<Json>,
    /// The columns it changed (every recorded column for inserts and deletes).
    pub changes: Vec<Change>,
}

/// One column's change in a [`Version`].
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let versions = audit_core::versions::<ticket::Entity>(&db, 1).await?;
/// let change = &versions[1].changes[0];
/// assert_eq!(change.column, "status");
/// assert_eq!((change.old_value.clone(), change.new_value.clone()), (Some("open".into()), Some("closed".into())));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Change {
    /// The column.
    pub column: String,
    /// The value before (`None` for an insert).
    pub old_value: Option<Json>,
    /// The value after (`None` for a delete).
    pub new_value: Option<Json>,
    /// For a personal column: decrypted, or a marker (see [`AuditEntry::personal`]).
    pub personal: Option<crate::erasure::Personal>,
}

/// Every version of the record of `E` with primary key `key`, oldest first. Empty when
/// the trail holds nothing for it.
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
/// let versions = audit_core::versions::<ticket::Entity>(&db, 1).await?;
/// assert_eq!(versions.len(), 2);
/// assert_eq!((versions[1].number, versions[1].operation), (2, audit_core::Operation::Update));
/// assert_eq!(versions[1].changes[0].new_value, Some(serde_json::json!("closed")));
/// # Ok(())
/// # }
/// ```
pub async fn versions<E>(
    db: &impl ConnectionTrait,
    key: impl Into<KeyOf<E>>,
) -> Result<Vec<Version>, AuditError>
where
    E: AuditedEntity,
{
    record_versions::<E, _>(db, &key.into().into_value_tuple()).await
}

/// [`versions`] of the record with primary key `key`.
pub(crate) async fn record_versions<E, C>(
    db: &C,
    key: &ValueTuple,
) -> Result<Vec<Version>, AuditError>
where
    E: AuditedEntity,
    C: ConnectionTrait,
{
    Ok(group(record_history::<E>(key).fetch(db).await?))
}

/// Groups a record's rows, in id order, into versions numbered from 1.
pub(crate) fn group(entries: Vec<AuditEntry>) -> Vec<Version> {
    let mut versions: Vec<Version> = Vec::new();
    for entry in entries {
        let change = Change {
            column: entry.column,
            old_value: entry.old_value,
            new_value: entry.new_value,
            personal: entry.personal,
        };
        match versions.last_mut() {
            Some(last) if last.changeset_id == entry.changeset_id => last.changes.push(change),
            _ => versions.push(Version {
                number: u32::try_from(versions.len() + 1).unwrap_or(u32::MAX),
                changeset_id: entry.changeset_id,
                operation: entry.operation,
                changed_at: entry.changed_at,
                actor: entry.actor,
                context: entry.context,
                changes: vec![change],
            }),
        }
    }
    versions
}
