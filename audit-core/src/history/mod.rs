//! Reading the trail back: queries, versions, past states, diffs and undo.
//!
//! - [`history`], [`table_history`], [`all_history`]: a [`HistoryQuery`] of typed
//!   [`AuditEntry`] rows, filtered by column, actor, operation, changeset, time or value,
//!   in either order, in keyset pages.
//! - [`versions`](versions()): a record's writes as numbered [`Version`]s.
//! - [`as_of`](as_of()), [`at_version`]: the model as it was; [`snapshot_as_of`] and
//!   [`snapshot_at_version`] when some columns are redacted or skipped.
//! - [`diff_versions`], [`diff_times`]: which columns changed, from what, to what.
//! - [`revert`], [`restore`], [`restore_with`]: undo through the audited write path.
//!
//! A record's reads use the `(table_name, record_id, id)` index, so they cost the same
//! however large the trail grows.
//!
#![cfg_attr(feature = "derive", doc = "```rust")]
#![cfg_attr(not(feature = "derive"), doc = "```ignore")]
//! # use audit_core::Audited;
//! # use sea_orm::entity::prelude::*;
//! # use sea_orm::{ActiveValue::Set, Database, Schema};
//! # mod ticket {
//! #     use super::*;
//! #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
//! #     #[sea_orm(table_name = "ticket")]
//! #     pub struct Model {
//! #         #[sea_orm(primary_key)]
//! #         pub id: i32,
//! #         pub status: String,
//! #     }
//! #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! #     pub enum Relation {}
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let db = Database::connect("sqlite::memory:").await?;
//! # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(ticket::Entity)).await?;
//! # audit_core::create_audit_table(&db).await?;
//! # let t = ticket::ActiveModel { status: Set("open".into()), ..Default::default() }.insert(&db).await?;
//! # let opened = chrono::Utc::now();
//! # tokio::time::sleep(std::time::Duration::from_millis(2)).await;
//! # let mut am: ticket::ActiveModel = t.into();
//! # am.status = Set("closed".into());
//! # audit_core::with_actor("bob", am.update(&db)).await?;
//! use audit_core::OnConflict;
//!
//! // One record's history, newest first, in keyset pages of 50 rows.
//! let page = audit_core::history::<ticket::Entity>(1).newest_first().page(&db, 50).await?;
//! assert_eq!(page.entries[0].new_value, Some(serde_json::json!("closed")));
//!
//! // Every time any ticket was closed, and by whom (an indexed query).
//! let closed = audit_core::table_history::<ticket::Entity>()
//!     .column(ticket::Column::Status)
//!     .new_value("closed")
//!     .fetch(&db)
//!     .await?;
//! assert_eq!(closed[0].actor.as_deref(), Some("bob"));
//!
//! // The record's versions, the model as it was at an instant, and what changed.
//! let versions = audit_core::versions::<ticket::Entity>(&db, 1).await?;
//! let then = audit_core::as_of::<ticket::Entity>(&db, 1, opened).await?;
//! assert_eq!(then.map(|t| t.status).as_deref(), Some("open"));
//! let diff = audit_core::diff_versions::<ticket::Entity>(&db, 1, 1, 2).await?;
//! assert_eq!((diff[0].column.as_str(), diff[0].new_value.clone()), ("status", Some("closed".into())));
//!
//! // Undo Bob's change: an audited write by the current actor. It is refused with
//! // `AuditError::Conflict` if a later write changed the same column, unless forced.
//! let undo = audit_core::revert::<ticket::Entity>(&db, 1, &versions[1].changeset_id, OnConflict::Refuse);
//! let reopened = audit_core::with_actor("admin", undo).await?;
//! assert_eq!(reopened.map(|t| t.status).as_deref(), Some("open"));
//! # Ok(())
//! # }
//! ```

mod as_of;
mod diff;
mod entry;
mod query;
mod state;
mod undo;
mod versions;

pub use as_of::{Snapshot, as_of, at_version, snapshot_as_of, snapshot_at_version};
pub use diff::{ColumnDiff, diff_times, diff_versions};
pub use entry::AuditEntry;
pub use query::{HistoryQuery, KeyOf, Page, all_history, history, table_history};
pub use undo::{OnConflict, restore, restore_with, revert};
pub use versions::{Change, Version, versions};

#[cfg(feature = "erasure")]
pub(crate) use entry::parse_json;
pub(crate) use state::RecordState;
pub(crate) use versions::group;
