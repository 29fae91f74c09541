//! One audit row, typed.

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{DbBackend, DbErr, QueryResult};
use serde_json::Value as Json;

use crate::{AuditError, Operation};

/// One audit row: one column of one record in one write.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let rows = audit_core::history::<ticket::Entity>(1).newest_first().fetch(&db).await?;
/// let last = &rows[0];
/// assert_eq!((last.table.as_str(), last.record_id.as_str(), last.column.as_str()), ("ticket", "1", "status"));
/// assert_eq!(last.operation, audit_core::Operation::Update);
/// assert_eq!(last.old_value, Some("open".into()));
/// assert_eq!(last.new_value, Some("closed".into()));
/// assert_eq!(last.actor.as_deref(), Some("bob"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct AuditEntry {
    /// The row's id: increases with every write, the order of the trail.
    pub id: i64,
    /// The write this row belongs to (one per insert, update or delete).
    pub changeset_id: String,
    /// The audited table's label (see [`crate::AuditedEntity::audit_table`]).
    pub table: String,
    /// The record's key in text form (see [`crate::record_id`]).
    pub record_id: String,
    /// What the write did.
    pub operation: Operation,
    /// The column.
    pub column: String,
    /// The value before the write: `None` for inserts, JSON `null` for SQL NULL.
    pub old_value: Option<Json>,
    /// The value after the write: `None` for deletes, JSON `null` for SQL NULL.
    pub new_value: Option<Json>,
    /// Who made the change, if known.
    pub actor: Option<String>,
    /// When the change was written (microseconds).
    pub changed_at: DateTime<Utc>,
    /// The metadata of the write (request id, reason, ...), if any.
    pub context: Option<Json>,
    /// For a personal column read through an entity's history: whether its values were
    /// decrypted, or read as a marker (see [`crate::erasure::Personal`]).
    pub personal: Option<crate::erasure::Personal>,
}

/// The columns read for an [`AuditEntry`], in its field order.
pub(crate) const COLUMNS: [&str; 11] = [
    "id",
    "changeset_id",
    "table_name",
    "record_id",
    "operation",
    "column_name",
    "old_value",
    "new_value",
    "actor",
    "changed_at",
    "context",
];

impl AuditEntry {
    /// Reads one row selected with [`COLUMNS`].
    pub(crate) fn from_row(backend: DbBackend, row: &QueryResult) -> Result<Self, AuditError> {
        let old_value = json_column(backend, row, "old_value")?;
        let new_value = json_column(backend, row, "new_value")?;
        Self::with_values(backend, row, old_value, new_value)
    }

    /// [`AuditEntry::from_row`] for a read of an entity's history where the values of its
    /// `personal` columns are selected as text on every backend: those values are left
    /// `None` here and returned as stored (old, new), for the erasure step to open without
    /// building a JSON object of each sealed value first.
    pub(crate) fn from_personal_row(
        backend: DbBackend,
        row: &QueryResult,
        personal: &[&str],
    ) -> Result<(Self, [Option<String>; 2]), AuditError> {
        let text = |col: &str| {
            row.try_get::<Option<String>>("", col)
                .map_err(AuditError::Read)
        };
        let stored = [text("old_value")?, text("new_value")?];
        let column: String = row.try_get("", "column_name").map_err(AuditError::Read)?;
        if personal.contains(&column.as_str()) {
            return Ok((Self::with_values(backend, row, None, None)?, stored));
        }
        let [old, new] = stored;
        let old_value = old.map(|t| parse_json("old_value", &t)).transpose()?;
        let new_value = new.map(|t| parse_json("new_value", &t)).transpose()?;
        Ok((
            Self::with_values(backend, row, old_value, new_value)?,
            [None, None],
        ))
    }

    /// The entry of `row` with the values given.
    fn with_values(
        backend: DbBackend,
        row: &QueryResult,
        old_value: Option<Json>,
        new_value: Option<Json>,
    ) -> Result<Self, AuditError> {
        let read = |e: DbErr| AuditError::Read(e);
        let operation: String = row.try_get("", "operation").map_err(read)?;
        Ok(AuditEntry {
            id: row.try_get("", "id").map_err(read)?,
            changeset_id: row.try_get("", "changeset_id").map_err(read)?,
            table: row.try_get("", "table_name").map_err(read)?,
            record_id: row.try_get("", "record_id").map_err(read)?,
            operation: operation.parse()?,
            column: row.try_get("", "column_name").map_err(read)?,
            old_value,
            new_value,
            actor: row.try_get("", "actor").map_err(read)?,
            changed_at: changed_at(backend, row)?,
            context: json_column(backend, row, "context")?,
            personal: None,
        })
    }
}

/// JSON column `col` of `row` (PostgreSQL's `jsonb`, text elsewhere).
fn json_column(
    backend: DbBackend,
    row: &QueryResult,
    col: &str,
) -> Result<Option<Json>, AuditError> {
    if backend == DbBackend::Postgres {
        return row
            .try_get::<Option<Json>>("", col)
            .map_err(AuditError::Read);
    }
    let text: Option<String> = row.try_get("", col).map_err(AuditError::Read)?;
    text.map(|t| parse_json(col, &t)).transpose()
}

/// `text`, the stored value of column `col`, as JSON.
pub(crate) fn parse_json(col: &str, text: &str) -> Result<Json, AuditError> {
    serde_json::from_str(text)
        .map_err(|e| AuditError::Read(DbErr::Custom(format!("audit `{col}` is not JSON: {e}"))))
}

fn changed_at(backend: DbBackend, row: &QueryResult) -> Result<DateTime<Utc>, AuditError> {
    let read = |e: DbErr| AuditError::Read(e);
    match backend {
        DbBackend::Postgres => row.try_get("", "changed_at").map_err(read),
        DbBackend::MySql => row
            .try_get::<NaiveDateTime>("", "changed_at")
            .map(|t| t.and_utc())
            .map_err(read),
        _ => {
            let text: String = row.try_get("", "changed_at").map_err(read)?;
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    AuditError::Read(DbErr::Custom(format!(
                        "audit `changed_at` {text:?} is not a timestamp: {e}"
                    )))
                })
        }
    }
}
