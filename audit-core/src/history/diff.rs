//! What changed in a record between two versions or two instants.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::IntoValueTuple;
use sea_orm::{ConnectionTrait, IdenStatic, Iterable};
use serde_json::Value as Json;

use super::as_of::versions_upto;
use super::query::KeyOf;
use super::state::RecordState;
use super::versions::{Version, record_versions, versions};
use crate::{AuditError, AuditedEntity, ColumnPolicy, record_id};

/// One column that differs between two states of a record.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let changed = audit_core::diff_versions::<ticket::Entity>(&db, 1, 1, 2).await?;
/// assert_eq!(changed.len(), 1);
/// assert_eq!(changed[0].column, "status");
/// assert_eq!((changed[0].old_value.clone(), changed[0].new_value.clone()), (Some("open".into()), Some("closed".into())));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ColumnDiff {
    /// The column.
    pub column: String,
    /// Its value in the first state (`None`: the record did not exist).
    pub old_value: Option<Json>,
    /// Its value in the second state (`None`: the record did not exist).
    pub new_value: Option<Json>,
}

/// The columns of the record of `E` with primary key `key` that differ between version
/// `from` and version `to` (see [`versions`](super::versions())), in column order. A
/// redacted column that was written in between is listed with the redaction marker on
/// both sides; skipped columns never appear.
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
/// let diff = audit_core::diff_versions::<ticket::Entity>(&db, 1, 1, 2).await?;
/// assert_eq!(diff.len(), 1);
/// assert_eq!(diff[0].column, "status");
/// assert_eq!((diff[0].old_value.clone(), diff[0].new_value.clone()), (Some("open".into()), Some("closed".into())));
/// # Ok(())
/// # }
/// ```
pub async fn diff_versions<E>(
    db: &impl ConnectionTrait,
    key: impl Into<KeyOf<E>>,
    from: u32,
    to: u32,
) -> Result<Vec<ColumnDiff>, AuditError>
where
    E: AuditedEntity,
{
    let key = key.into().into_value_tuple();
    let record = record_id(&key);
    let all = record_versions::<E, _>(db, &key).await?;
    let a = RecordState::after(versions_upto::<E>(&all, from, &record)?);
    let b = RecordState::after(versions_upto::<E>(&all, to, &record)?);
    Ok(diff_states::<E>(&a, &b))
}

/// [`diff_versions`] between the record's states at two instants (see
/// [`as_of`](super::as_of())).
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
/// let diff = audit_core::diff_times::<ticket::Entity>(&db, 1, opened, chrono::Utc::now()).await?;
/// assert_eq!(diff[0].column, "status");
/// assert_eq!(diff[0].new_value, Some("closed".into()));
/// # Ok(())
/// # }
/// ```
pub async fn diff_times<E>(
    db: &impl ConnectionTrait,
    key: impl Into<KeyOf<E>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ColumnDiff>, AuditError>
where
    E: AuditedEntity,
{
    let all = versions::<E>(db, key).await?;
    let until = |at: DateTime<Utc>| all.iter().filter(move |v: &&Version| v.changed_at <= at);
    let a = RecordState::after(until(from));
    let b = RecordState::after(until(to));
    Ok(diff_states::<E>(&a, &b))
}

fn diff_states<E: AuditedEntity>(a: &RecordState, b: &RecordState) -> Vec<ColumnDiff> {
    E::Column::iter()
        .filter(|column| E::column_policy(column) != ColumnPolicy::Skip)
        .filter_map(|column| {
            let name = column.as_str();
            let (x, y) = (a.column(name), b.column(name));
            let changed = match (x, y) {
                (Some(x), Some(y)) => {
                    x.value != y.value
                        || ((E::column_policy(&column) == ColumnPolicy::Redact
                            || x.lost.is_some()
                            || y.lost.is_some())
                            && x.changeset_id != y.changeset_id)
                }
                (None, None) => false,
                _ => true,
            };
            changed.then(|| ColumnDiff {
                column: name.to_owned(),
                old_value: x.map(|s| s.value.clone()),
                new_value: y.map(|s| s.value.clone()),
            })
        })
        .collect()
}
