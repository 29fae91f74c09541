//! The pages' query strings: parsed strictly, every bad field named, and written back
//! into links (shareable: a page's address is all its state).

use serde::{Deserialize, Serialize};

use crate::Operation;
use crate::trail::Filter;

/// Rows per page when the link does not say.
pub(super) const DEFAULT_PAGE: u64 = 50;
/// The most rows one page may ask for.
pub(super) const MAX_PAGE: u64 = 500;

/// The feed's filters and cursor, as the filter form submits them (empty fields unset).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(super) struct FeedParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changeset: Option<String>,
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl FeedParams {
    /// The same parameters with empty fields unset (a submitted form sends them all).
    pub fn cleaned(self) -> Self {
        let keep = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        FeedParams {
            actor: keep(self.actor),
            table: keep(self.table),
            column: keep(self.column),
            op: keep(self.op),
            since: keep(self.since),
            until: keep(self.until),
            changeset: keep(self.changeset),
            value: keep(self.value),
            before: keep(self.before),
            size: keep(self.size),
            format: keep(self.format),
        }
    }

    /// The filter these parameters describe, or the first bad field and why.
    pub fn filter(&self) -> Result<Filter, String> {
        let time = |field: &str, text: &Option<String>| {
            text.as_deref()
                .map(Filter::parse_time)
                .transpose()
                .map_err(|e| format!("{field}: {e}"))
        };
        let operation = self
            .op
            .as_deref()
            .map(|op| {
                op.parse::<Operation>()
                    .map_err(|_| format!("op: `{op}` is not insert, update or delete"))
            })
            .transpose()?;
        let value = self
            .value
            .as_deref()
            .map(Filter::parse_where)
            .transpose()
            .map_err(|e| format!("where: {e}"))?;
        Ok(Filter {
            actor: self.actor.clone(),
            table: self.table.clone(),
            record_id: None,
            column: self.column.clone(),
            operation,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            changeset: self.changeset.clone(),
            value,
        })
    }

    /// The keyset cursor: rows with ids below it.
    pub fn before(&self) -> Result<Option<i64>, String> {
        cursor(self.before.as_deref())
    }

    /// Rows per page, 1 to [`MAX_PAGE`].
    pub fn size(&self, default: u64) -> Result<u64, String> {
        page_size(self.size.as_deref(), default)
    }

    /// This page's address with another cursor (`None`: the first page).
    pub fn with_before(&self, before: Option<i64>) -> String {
        let mut next = self.clone();
        next.before = before.map(|b| b.to_string());
        next.format = None;
        query_string(&next)
    }

    /// The export address of this filter in `format`, all pages.
    pub fn export(&self, format: &str) -> String {
        let mut export = self.clone();
        export.before = None;
        export.size = None;
        export.format = Some(format.to_owned());
        query_string(&export)
    }
}

/// One record, by table label and key text, and what the record pages ask of it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(super) struct RecordParams {
    pub table: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changeset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl RecordParams {
    /// The record's pages' address (`record`, `record/as-of`, ...) with only its key.
    pub fn of(table: &str, key: &str) -> Self {
        RecordParams {
            table: table.to_owned(),
            key: key.to_owned(),
            ..RecordParams::default()
        }
    }

    /// The same parameters with empty optional fields unset.
    pub fn cleaned(self) -> Self {
        let keep = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        RecordParams {
            before: keep(self.before),
            size: keep(self.size),
            at: keep(self.at),
            version: keep(self.version),
            changeset: keep(self.changeset),
            from: keep(self.from),
            to: keep(self.to),
            ..self
        }
    }

    /// A version number field (`version`, `from`, `to`).
    pub fn number(field: &str, text: Option<&str>) -> Result<Option<u32>, String> {
        text.map(|t| {
            t.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{field}: `{t}` is not a version number (1, 2, ...)"))
        })
        .transpose()
    }

    /// This address with fields set by `edit`.
    pub fn link(&self, edit: impl FnOnce(&mut RecordParams)) -> String {
        let mut next = self.clone();
        edit(&mut next);
        query_string(&next)
    }
}

/// A changeset, by id.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct ChangesetParams {
    pub id: String,
}

/// A keyset cursor field.
pub(super) fn cursor(text: Option<&str>) -> Result<Option<i64>, String> {
    text.map(|t| {
        t.parse::<i64>()
            .map_err(|_| format!("before: `{t}` is not a row id"))
    })
    .transpose()
}

/// A page size field.
pub(super) fn page_size(text: Option<&str>, default: u64) -> Result<u64, String> {
    match text {
        None => Ok(default),
        Some(t) => t
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| format!("size: `{t}` is not a page size from 1 to {MAX_PAGE}")),
    }
}

/// Parameters as a query string (`a=1&b=x%20y`).
pub(super) fn query_string(params: &impl Serialize) -> String {
    serde_urlencoded::to_string(params).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_unset_and_bad_ones_named() {
        let params = FeedParams {
            actor: Some(" ".into()),
            op: Some("update".into()),
            ..FeedParams::default()
        }
        .cleaned();
        assert_eq!(params.actor, None);
        assert_eq!(params.filter().unwrap().operation, Some(Operation::Update));
        let bad = FeedParams {
            since: Some("yesterday".into()),
            ..FeedParams::default()
        };
        assert!(bad.filter().unwrap_err().starts_with("since:"));
        assert!(page_size(Some("0"), 50).is_err());
        assert!(page_size(Some("501"), 50).is_err());
        assert!(cursor(Some("x")).unwrap_err().contains("before"));
    }

    #[test]
    fn links_keep_the_filter_and_encode_it() {
        let params = FeedParams {
            actor: Some("a&b=c".into()),
            ..FeedParams::default()
        };
        assert_eq!(params.with_before(Some(7)), "actor=a%26b%3Dc&before=7");
        assert_eq!(params.export("csv"), "actor=a%26b%3Dc&format=csv");
    }
}
