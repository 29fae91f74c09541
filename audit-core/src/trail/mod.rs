//! Reading any trail without entity types: the feed behind the `audit` command line and
//! the web viewer.
//!
//! Everything here works on any database holding the audit table, by table label and
//! record key text, with no entity compiled in:
//!
//! - [`Filter`]: the feed's filters (actor, table, column, operation, time range,
//!   changeset, `column=value`), as a newest-first [`HistoryQuery`](crate::HistoryQuery);
//!   [`feed`] reads one keyset page of it (no `OFFSET`: the next page starts below the
//!   last row's id, so page 10,000 costs what page 1 costs).
//! - [`changeset`]: the rows of one write.
//! - [`RecordTrail`]: one record's versions, its state at a version or an instant
//!   ([`Rebuilt`], folded from the per-column JSON values) and the diff of two versions.
//! - [`export`] (feature `export`): CSV or NDJSON of a filter, streamed page by page in
//!   constant memory.
//!
#![cfg_attr(feature = "derive", doc = "```")]
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
//! # let mut am: ticket::ActiveModel = t.into();
//! # am.status = Set("closed".into());
//! # audit_core::with_actor("bob", am.update(&db)).await?;
//! use audit_core::trail::{self, Filter, RecordTrail};
//!
//! // Bob's changes, newest first, 50 rows a page.
//! let filter = Filter { actor: Some("bob".into()), ..Filter::default() };
//! let page = trail::feed(&db, &filter, None, 50).await?;
//! assert_eq!(page.entries[0].new_value, Some(serde_json::json!("closed")));
//!
//! // Ticket 1 as it was after its first version, and what version 2 changed.
//! let record = RecordTrail::load(&db, "ticket", "1").await?;
//! let first = record.at_version(1)?;
//! assert_eq!(first.columns, vec![("id".into(), 1.into()), ("status".into(), "open".into())]);
//! assert_eq!(record.diff(1, 2)?[0].new_value, Some("closed".into()));
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "export")]
mod export;
mod filter;
mod record;
mod text;

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::ConnectionTrait;
use serde_json::{Value as Json, json};

#[cfg(feature = "export")]
pub use export::{EXPORT_PAGE, ExportError, Format, export};
pub use filter::Filter;
pub use record::{Rebuilt, RecordTrail, is_redacted};
pub use text::{escape_text, is_unsafe_char};

use crate::history::{Page, Version};
use crate::{AuditEntry, AuditError, all_history};

/// One keyset page of the feed of `filter`, newest first: at most `size` rows with ids
/// below `before` (a previous [`Page::next`]), and the cursor of the next page.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::trail::{self, Filter};
/// let filter = Filter { table: Some("ticket".into()), ..Filter::default() };
/// let first = trail::feed(&db, &filter, None, 3).await?;
/// assert_eq!(first.entries[0].actor.as_deref(), Some("bob")); // newest first
/// let rest = trail::feed(&db, &filter, first.next, 3).await?;
/// assert_eq!((first.entries.len(), rest.entries.len(), rest.next), (3, 2, None));
/// # Ok(())
/// # }
/// ```
pub async fn feed(
    db: &impl ConnectionTrait,
    filter: &Filter,
    before: Option<i64>,
    size: u64,
) -> Result<Page, AuditError> {
    let mut query = filter.query()?;
    if let Some(cursor) = before {
        query = query.after(cursor);
    }
    query.page(db, size).await
}

/// The rows of the changeset `id`, in write order (empty when there is none). Reads one
/// millisecond of the time index: a changeset id is a UUIDv7 of its rows' time.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let newest = &audit_core::trail::feed(&db, &Default::default(), None, 1).await?.entries[0];
/// let rows = audit_core::trail::changeset(&db, &newest.changeset_id).await?;
/// assert_eq!(rows.len(), 1); // bob's update changed one column
/// assert!(audit_core::trail::changeset(&db, "no-such-id").await?.is_empty());
/// # Ok(())
/// # }
/// ```
pub async fn changeset(db: &impl ConnectionTrait, id: &str) -> Result<Vec<AuditEntry>, AuditError> {
    all_history().changeset(id).fetch(db).await
}

/// An audit row as a JSON object with the audit table's column names.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let rows = audit_core::history::<ticket::Entity>(1).newest_first().limit(1).fetch(&db).await?;
/// let json = audit_core::trail::entry_json(&rows[0]);
/// assert_eq!(json["column_name"], "status");
/// assert_eq!(json["old_value"], "open");
/// assert_eq!(json["actor"], "bob");
/// # Ok(())
/// # }
/// ```
pub fn entry_json(entry: &AuditEntry) -> Json {
    json!({
        "id": entry.id,
        "changeset_id": entry.changeset_id,
        "table_name": entry.table,
        "record_id": entry.record_id,
        "operation": entry.operation.as_str(),
        "column_name": entry.column,
        "old_value": entry.old_value,
        "new_value": entry.new_value,
        "actor": entry.actor,
        "changed_at": time_text(entry.changed_at),
        "context": entry.context,
    })
}

/// A version as a JSON object, its changes as `{"column","old_value","new_value"}`.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let versions = audit_core::versions::<ticket::Entity>(&db, 1).await?;
/// let json = audit_core::trail::version_json(&versions[1]);
/// assert_eq!(json["version"], 2);
/// assert_eq!(json["changes"][0]["new_value"], "closed");
/// # Ok(())
/// # }
/// ```
pub fn version_json(version: &Version) -> Json {
    json!({
        "version": version.number,
        "changeset_id": version.changeset_id,
        "operation": version.operation.as_str(),
        "changed_at": time_text(version.changed_at),
        "actor": version.actor,
        "context": version.context,
        "changes": version.changes.iter().map(|c| json!({
            "column": c.column,
            "old_value": c.old_value,
            "new_value": c.new_value,
        })).collect::<Vec<_>>(),
    })
}

/// An instant as the trail shows it: RFC 3339 in UTC with microseconds.
///
/// ```
/// use chrono::TimeZone;
/// let at = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// assert_eq!(audit_core::trail::time_text(at), "2026-03-01T12:00:00.000000Z");
/// ```
pub fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}
