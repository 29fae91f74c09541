//! The feed's filters, parsed from text (command-line flags, query strings).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value as Json;

use crate::{AuditError, HistoryQuery, Operation, all_history};

/// Which audit rows a feed shows. Every field narrows it; the default is the whole trail.
///
/// ```
/// use audit_core::trail::Filter;
/// let filter = Filter {
///     actor: Some("bob".into()),
///     since: Some(Filter::parse_time("2026-01-01")?),
///     value: Some(Filter::parse_where("status=closed")?),
///     ..Filter::default()
/// };
/// assert_eq!(filter.value, Some(("status".to_owned(), serde_json::json!("closed"))));
/// # Ok::<(), audit_core::AuditError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Only changes made by this actor.
    pub actor: Option<String>,
    /// Only rows of this table label.
    pub table: Option<String>,
    /// Only rows of this record key (text form, see [`crate::record_id`]).
    pub record_id: Option<String>,
    /// Only rows of this column.
    pub column: Option<String>,
    /// Only rows of this operation.
    pub operation: Option<Operation>,
    /// Only changes at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only changes at or before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only rows of this changeset.
    pub changeset: Option<String>,
    /// Only rows where this column was set to this recorded value (`--where col=value`).
    pub value: Option<(String, Json)>,
}

impl Filter {
    /// The query for this filter, newest first. Fails when [`column`](Self::column) and
    /// [`value`](Self::value) name different columns (no row could match both).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::trail::Filter;
    /// let filter = Filter { column: Some("status".into()), ..Filter::default() };
    /// assert_eq!(filter.query()?.fetch(&db).await?.len(), 2);
    /// let contradiction = Filter { column: Some("note".into()), value: Some(Filter::parse_where("status=open")?), ..Filter::default() };
    /// assert!(contradiction.query().is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn query(&self) -> Result<HistoryQuery, AuditError> {
        let mut query = all_history().newest_first();
        if let Some(table) = &self.table {
            query = query.table(table);
        }
        if let Some(record) = &self.record_id {
            query = query.record_id(record);
        }
        if let Some(actor) = &self.actor {
            query = query.actor(actor);
        }
        if let Some(operation) = self.operation {
            query = query.operation(operation);
        }
        if let Some(at) = self.since {
            query = query.since(at);
        }
        if let Some(at) = self.until {
            query = query.until(at);
        }
        if self.since.is_some() || self.until.is_some() {
            query = query.by_time();
        }
        if let Some(changeset) = &self.changeset {
            query = query.changeset(changeset);
        }
        match (&self.column, &self.value) {
            (Some(column), Some((other, _))) if column != other => {
                return Err(AuditError::Input(format!(
                    "column `{column}` and the `where` column `{other}` differ: no row has both"
                )));
            }
            (_, Some((column, json))) => query = query.column_named(column).new_json(json.clone()),
            (Some(column), None) => query = query.column_named(column),
            (None, None) => {}
        }
        Ok(query)
    }

    /// An instant: RFC 3339 (`2026-03-01T12:00:00Z`), or a date (`2026-03-01`, its midnight UTC).
    ///
    /// ```
    /// use audit_core::trail::Filter;
    /// assert_eq!(Filter::parse_time("2026-03-01")?, Filter::parse_time("2026-03-01T00:00:00Z")?);
    /// assert!(Filter::parse_time("yesterday").is_err());
    /// # Ok::<(), audit_core::AuditError>(())
    /// ```
    pub fn parse_time(text: &str) -> Result<DateTime<Utc>, AuditError> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(at.with_timezone(&Utc));
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .ok_or_else(|| {
                AuditError::Input(format!(
                    "`{text}` is not a time: use RFC 3339 (2026-03-01T12:00:00Z) or a date (2026-03-01)"
                ))
            })
    }

    /// `column=value`: the value as JSON when it parses as JSON (`5`, `true`, `null`,
    /// `"5"`), otherwise as a string (`closed`).
    ///
    /// ```
    /// use audit_core::trail::Filter;
    /// use serde_json::json;
    /// assert_eq!(Filter::parse_where("balance=5")?, ("balance".to_owned(), json!(5)));
    /// assert_eq!(Filter::parse_where("status=closed")?, ("status".to_owned(), json!("closed")));
    /// assert!(Filter::parse_where("no equals sign").is_err());
    /// # Ok::<(), audit_core::AuditError>(())
    /// ```
    pub fn parse_where(text: &str) -> Result<(String, Json), AuditError> {
        let (column, value) = text
            .split_once('=')
            .filter(|(c, _)| !c.is_empty())
            .ok_or_else(|| AuditError::Input(format!("`{text}` is not `column=value`")))?;
        let json = serde_json::from_str(value).unwrap_or_else(|_| Json::String(value.to_owned()));
        Ok((column.to_owned(), json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn where_values_are_json_or_text() {
        assert_eq!(Filter::parse_where("n=5").unwrap(), ("n".into(), json!(5)));
        assert_eq!(
            Filter::parse_where("s=\"5\"").unwrap(),
            ("s".into(), json!("5"))
        );
        assert_eq!(
            Filter::parse_where("s=a=b").unwrap(),
            ("s".into(), json!("a=b"))
        );
        assert_eq!(Filter::parse_where("s=").unwrap(), ("s".into(), json!("")));
        assert!(Filter::parse_where("=5").is_err());
        assert!(Filter::parse_where("status").is_err());
    }

    #[test]
    fn times_are_rfc3339_or_dates() {
        let t = Filter::parse_time("2026-03-01T12:00:00+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-01T10:00:00+00:00");
        let d = Filter::parse_time("2026-03-01").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert!(Filter::parse_time("yesterday").is_err());
    }

    #[test]
    fn conflicting_columns_are_refused() {
        let filter = Filter {
            column: Some("a".into()),
            value: Some(("b".into(), json!(1))),
            ..Filter::default()
        };
        assert!(matches!(filter.query(), Err(AuditError::Input(_))));
        let same = Filter {
            column: Some("b".into()),
            ..filter
        };
        assert!(same.query().is_ok());
    }
}
