//! Export of a filter as CSV or NDJSON, streamed one keyset page at a time.

use std::io::Write;

use sea_orm::ConnectionTrait;

use super::{Filter, entry_json, feed, time_text};
use crate::{AuditEntry, AuditError};

/// Rows read per statement by [`export`].
///
/// ```
/// assert_eq!(audit_core::trail::EXPORT_PAGE, 1000);
/// ```
pub const EXPORT_PAGE: u64 = 1000;

/// An export format.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::trail::{Format, export};
/// let mut csv = Vec::new();
/// let rows = export(&db, &Default::default(), Format::Csv, &mut csv, |_| {}).await?;
/// let text = String::from_utf8(csv)?;
/// assert_eq!(text.lines().count() as u64, rows + 1); // a header line, then one per row
/// assert!(text.starts_with("id,changeset_id,table_name,record_id,operation,column_name"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180 CSV with a header line; values, old and new, as JSON text.
    Csv,
    /// One JSON object per line (see [`entry_json`]).
    Ndjson,
}

/// Why an export stopped.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::trail::{ExportError, Format, export};
/// struct Full;
/// impl std::io::Write for Full {
///     fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
///         Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full"))
///     }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
/// let failed = export(&db, &Default::default(), Format::Ndjson, &mut Full, |_| {}).await;
/// assert!(matches!(failed, Err(ExportError::Write(_))));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the trail failed.
    #[error(transparent)]
    Read(#[from] AuditError),
    /// Writing the output failed.
    #[error("export write failed: {0}")]
    Write(#[from] std::io::Error),
}

/// The CSV header: the audit table's columns.
const HEADER: [&str; 11] = [
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

impl Format {
    /// The bytes for `entries`, preceded by the header line when `header` (CSV only).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::trail::Format;
    /// let rows = audit_core::history::<ticket::Entity>(1).fetch(&db).await?;
    /// let ndjson = Format::Ndjson.encode(&rows, false)?;
    /// assert_eq!(String::from_utf8(ndjson)?.lines().count(), rows.len());
    /// # Ok(())
    /// # }
    /// ```
    pub fn encode(self, entries: &[AuditEntry], header: bool) -> Result<Vec<u8>, ExportError> {
        match self {
            Format::Ndjson => {
                let mut out = Vec::new();
                for entry in entries {
                    serde_json::to_writer(&mut out, &entry_json(entry))
                        .map_err(std::io::Error::from)?;
                    out.push(b'\n');
                }
                Ok(out)
            }
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(Vec::new());
                if header {
                    csv.write_record(HEADER).map_err(std::io::Error::from)?;
                }
                let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
                for e in entries {
                    csv.write_record([
                        e.id.to_string(),
                        e.changeset_id.clone(),
                        e.table.clone(),
                        e.record_id.clone(),
                        e.operation.as_str().to_owned(),
                        e.column.clone(),
                        json(&e.old_value).unwrap_or_default(),
                        json(&e.new_value).unwrap_or_default(),
                        e.actor.clone().unwrap_or_default(),
                        time_text(e.changed_at),
                        json(&e.context).unwrap_or_default(),
                    ])
                    .map_err(std::io::Error::from)?;
                }
                Ok(csv.into_inner().map_err(|e| e.into_error())?)
            }
        }
    }

    /// The media type of the format.
    ///
    /// ```
    /// use audit_core::trail::Format;
    /// assert_eq!(Format::Csv.content_type(), "text/csv; charset=utf-8");
    /// ```
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// Writes every row of `filter`, newest first, to `out` in `format`, reading
/// [`EXPORT_PAGE`] rows per statement and holding one page in memory at a time.
/// `progress` is called with the number of rows written so far after each page.
/// Returns the number of rows written.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_core::create_audit_table(&db).await?;
/// use audit_core::trail::{Filter, Format, export};
/// let mut out = Vec::new();
/// let rows = export(&db, &Filter::default(), Format::Csv, &mut out, |_| {}).await?;
/// assert_eq!(rows, 0);
/// assert!(out.starts_with(b"id,changeset_id,"));
/// # Ok(()) }
/// ```
pub async fn export(
    db: &impl ConnectionTrait,
    filter: &Filter,
    format: Format,
    out: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> Result<u64, ExportError> {
    let mut cursor = None;
    let mut written = 0u64;
    loop {
        let page = feed(db, filter, cursor, EXPORT_PAGE).await?;
        out.write_all(&format.encode(&page.entries, cursor.is_none())?)?;
        written += page.entries.len() as u64;
        progress(written);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out.flush()?;
    Ok(written)
}
