//! One record's trail, untyped: its versions, its state at a version or an instant, and
//! the difference of two versions.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value as Json};

use crate::history::{Change, ColumnDiff, Version};
use crate::history::{RecordState, group};
use crate::{AuditError, all_history};

/// Every version of one record, read by table label and key text in one indexed statement.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_core::create_audit_table(&db).await?;
/// use audit_core::trail::RecordTrail;
/// let trail = RecordTrail::load(&db, "ticket", "1").await?;
/// assert!(trail.versions.is_empty());
/// assert!(!trail.at_version(1).is_ok());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RecordTrail {
    /// The table label.
    pub table: String,
    /// The record's key text.
    pub record_id: String,
    /// Its versions, oldest first, numbered from 1.
    pub versions: Vec<Version>,
}

/// A record rebuilt from its trail: the recorded columns in the order the trail first
/// names them. A redacted column holds the [`crate::REDACTED`] marker; a skipped column
/// is absent (the trail never names it).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let record = audit_core::trail::RecordTrail::load(&db, "ticket", "1").await?;
/// let now = record.as_of(chrono::Utc::now());
/// assert!(now.exists);
/// assert_eq!(now.version, Some(2));
/// assert!(now.columns.contains(&("secret".into(), audit_core::REDACTED.into())));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Rebuilt {
    /// Whether the record existed then (false before its insert and after its delete).
    pub exists: bool,
    /// The last version applied, `None` before the first.
    pub version: Option<u32>,
    /// That version's changeset.
    pub changeset_id: Option<String>,
    /// When that version was written.
    pub changed_at: Option<DateTime<Utc>>,
    /// The columns' values (empty when the record did not exist).
    pub columns: Vec<(String, Json)>,
}

impl Rebuilt {
    /// As JSON: `{"exists":..,"version":..,"changeset_id":..,"changed_at":..,"columns":{..}}`.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let record = audit_core::trail::RecordTrail::load(&db, "ticket", "1").await?;
    /// let json = record.at_version(2)?.to_json();
    /// assert_eq!(json["columns"]["status"], "closed");
    /// assert_eq!(json["version"], 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_json(&self) -> Json {
        let columns: Map<String, Json> = self.columns.iter().cloned().collect();
        serde_json::json!({
            "exists": self.exists,
            "version": self.version,
            "changeset_id": self.changeset_id,
            "changed_at": self.changed_at.map(super::time_text),
            "columns": columns,
        })
    }
}

impl RecordTrail {
    /// Reads the record's rows (the `(table_name, record_id, id)` index) as versions.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let record = audit_core::trail::RecordTrail::load(&db, "ticket", "1").await?;
    /// assert_eq!(record.versions.len(), 2);
    /// let nothing = audit_core::trail::RecordTrail::load(&db, "ticket", "99").await?;
    /// assert!(nothing.versions.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn load(
        db: &impl ConnectionTrait,
        table: &str,
        record_id: &str,
    ) -> Result<Self, AuditError> {
        let rows = all_history()
            .table(table)
            .record_id(record_id)
            .fetch(db)
            .await?;
        Ok(RecordTrail {
            table: table.to_owned(),
            record_id: record_id.to_owned(),
            versions: group(rows),
        })
    }

    /// Version `number`, or [`AuditError::NotFound`].
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let record = audit_core::trail::RecordTrail::load(&db, "ticket", "1").await?;
    /// assert_eq!(record.version(2)?.actor.as_deref(), Some("bob"));
    /// assert!(matches!(record.version(3), Err(audit_core::AuditError::NotFound(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn version(&self, number: u32) -> Result<&Version, AuditError> {
        self.upto(number).map(|upto| &upto[upto.len() - 1])
    }

    /// The record right after version `number`, or [`AuditError::NotFound`].
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let record = audit_core::trail::RecordTrail::load(&db, "ticket", "1").await?;
    /// let first = record.at_version(1)?;
    /// assert!(first.columns.contains(&("status".into(), "open".into())));
    /// # Ok(())
    /// # }
    /// ```
    pub fn at_version(&self, number: u32) -> Result<Rebuilt, AuditError> {
        Ok(self.rebuild(self.upto(number)?))
    }

    /// The record as it was at `at`: after every version written at or before it.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let record = audit_core::trail::RecordTrail::load(&db, "ticket", "1").await?;
    /// let before = record.as_of(chrono::Utc::now() - chrono::Duration::days(1));
    /// assert!(!before.exists && before.columns.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn as_of(&self, at: DateTime<Utc>) -> Rebuilt {
        let count = self.versions.partition_point(|v| v.changed_at <= at);
        self.rebuild(&self.versions[..count])
    }

    /// The columns that differ between the states after versions `from` and `to`, in
    /// the trail's column order. A redacted column written in between is listed (with the
    /// marker on both sides), since its value may have changed.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let record = audit_core::trail::RecordTrail::load(&db, "ticket", "1").await?;
    /// let changed = record.diff(1, 2)?;
    /// assert_eq!(changed.len(), 1);
    /// assert_eq!(changed[0].column, "status");
    /// # Ok(())
    /// # }
    /// ```
    pub fn diff(&self, from: u32, to: u32) -> Result<Vec<ColumnDiff>, AuditError> {
        let (a, b) = (self.upto(from)?, self.upto(to)?);
        let (x, y) = (RecordState::after(a), RecordState::after(b));
        Ok(self
            .column_order()
            .into_iter()
            .filter_map(|name| {
                let (p, q) = (x.column(&name), y.column(&name));
                let changed = match (p, q) {
                    (Some(p), Some(q)) => {
                        p.value != q.value
                            || (is_redacted(&p.value) && p.changeset_id != q.changeset_id)
                    }
                    (None, None) => false,
                    _ => true,
                };
                changed.then(|| ColumnDiff {
                    column: name,
                    old_value: p.map(|s| s.value.clone()),
                    new_value: q.map(|s| s.value.clone()),
                })
            })
            .collect())
    }

    fn upto(&self, number: u32) -> Result<&[Version], AuditError> {
        let count = usize::try_from(number).unwrap_or(usize::MAX);
        if number == 0 || count > self.versions.len() {
            return Err(AuditError::NotFound(format!(
                "version {number} of `{}` {} (it has {} versions)",
                self.table,
                self.record_id,
                self.versions.len()
            )));
        }
        Ok(&self.versions[..count])
    }

    fn rebuild(&self, versions: &[Version]) -> Rebuilt {
        let state = RecordState::after(versions);
        let last = versions.last();
        let columns = if state.exists {
            self.column_order()
                .into_iter()
                .filter_map(|name| {
                    let value = state.column(&name)?.value.clone();
                    Some((name, value))
                })
                .collect()
        } else {
            Vec::new()
        };
        Rebuilt {
            exists: state.exists,
            version: last.map(|v| v.number),
            changeset_id: last.map(|v| v.changeset_id.clone()),
            changed_at: last.map(|v| v.changed_at),
            columns,
        }
    }

    /// Every column the trail names, in first-seen order.
    fn column_order(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for Change { column, .. } in self.versions.iter().flat_map(|v| &v.changes) {
            if !names.contains(column) {
                names.push(column.clone());
            }
        }
        names
    }
}

/// Whether a recorded value is the redaction marker.
///
/// ```
/// use audit_core::trail::is_redacted;
/// assert!(is_redacted(&serde_json::json!(audit_core::REDACTED)));
/// assert!(!is_redacted(&serde_json::json!("hunter2")));
/// ```
pub fn is_redacted(value: &Json) -> bool {
    value.as_str() == Some(crate::REDACTED)
}
