//! The canonical encoding of one audit row, and its leaf hash.
//!
//! Version 1: the domain tag `seaorm-audit:row:v1`, then every column in table order, each
//! fixed-width or length-prefixed (big-endian `u64`), optional ones behind a presence
//! byte. JSON values are encoded by value, not by text (objects by sorted key, numbers by
//! kind and value), so a backend that rewrites JSON text (PostgreSQL `jsonb` reorders keys
//! and drops whitespace) does not change a row's hash, while any change of any value does.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::canonical_json::encode_json_text;
use super::merkle::{Hash, leaf_hash};

const DOMAIN: &[u8] = b"seaorm-audit:row:v1";

/// One audit row as the sealer and the verifier read it: every column of the audit table.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity;
/// let row = integrity::sealed_row(&db, 1).await?.unwrap();
/// assert_eq!((row.table.as_str(), row.record_id.as_str()), ("ticket", "1"));
/// assert_eq!(row.actor.as_deref(), Some("alice"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SealedRow {
    /// `id`.
    pub id: i64,
    /// `changeset_id`.
    pub changeset_id: String,
    /// `table_name`.
    pub table: String,
    /// `record_id`.
    pub record_id: String,
    /// `operation`, as stored.
    pub operation: String,
    /// `column_name`.
    pub column: String,
    /// `old_value` (`None` for SQL NULL).
    pub old_value: Option<Json>,
    /// `new_value` (`None` for SQL NULL).
    pub new_value: Option<Json>,
    /// `actor`.
    pub actor: Option<String>,
    /// `changed_at`, to the microsecond.
    pub changed_at: DateTime<Utc>,
    /// `context`.
    pub context: Option<Json>,
}

impl SealedRow {
    /// The row's canonical encoding (version 1).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity;
    /// let mut row = integrity::sealed_row(&db, 1).await?.unwrap();
    /// let sealed = row.encode();
    /// row.actor = Some("mallory".into());
    /// assert_ne!(row.encode(), sealed); // every column is in the encoding
    /// # Ok(())
    /// # }
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        // Parsed JSON values cannot fail to encode.
        let _ = self.columns().encode_into(&mut out);
        out
    }

    fn columns(&self) -> Columns<'_> {
        Columns {
            id: self.id,
            changeset_id: &self.changeset_id,
            table: &self.table,
            record_id: &self.record_id,
            operation: &self.operation,
            column: &self.column,
            old_value: self.old_value.as_ref().map(JsonColumn::Parsed),
            new_value: self.new_value.as_ref().map(JsonColumn::Parsed),
            actor: self.actor.as_deref(),
            changed_at_micros: self.changed_at.timestamp_micros(),
            context: self.context.as_ref().map(JsonColumn::Parsed),
        }
    }

    /// The row's RFC 6962 leaf hash: `SHA-256(0x00 ‖ encode())`.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity::{self, merkle};
    /// let row = integrity::sealed_row(&db, 1).await?.unwrap();
    /// assert_eq!(row.leaf_hash(), merkle::leaf_hash(&row.encode()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}

/// A JSON column, parsed or as stored text.
pub(crate) enum JsonColumn<'a> {
    Parsed(&'a Json),
    Text(&'a str),
}

/// An audit row's columns, borrowed: what the encoding is made of.
pub(crate) struct Columns<'a> {
    pub id: i64,
    pub changeset_id: &'a str,
    pub table: &'a str,
    pub record_id: &'a str,
    pub operation: &'a str,
    pub column: &'a str,
    pub old_value: Option<JsonColumn<'a>>,
    pub new_value: Option<JsonColumn<'a>>,
    pub actor: Option<&'a str>,
    pub changed_at_micros: i64,
    pub context: Option<JsonColumn<'a>>,
}

impl Columns<'_> {
    /// Appends the canonical encoding (version 1); fails only on JSON text that does not
    /// parse.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        bytes(out, DOMAIN);
        out.extend_from_slice(&self.id.to_be_bytes());
        bytes(out, self.changeset_id.as_bytes());
        bytes(out, self.table.as_bytes());
        bytes(out, self.record_id.as_bytes());
        bytes(out, self.operation.as_bytes());
        bytes(out, self.column.as_bytes());
        optional_json(out, self.old_value.as_ref())?;
        optional_json(out, self.new_value.as_ref())?;
        match self.actor {
            None => out.push(0),
            Some(actor) => {
                out.push(1);
                bytes(out, actor.as_bytes());
            }
        }
        out.extend_from_slice(&self.changed_at_micros.to_be_bytes());
        optional_json(out, self.context.as_ref())
    }

    /// The leaf hash, encoding into `scratch` (cleared first) to spare an allocation.
    pub fn leaf_hash(&self, scratch: &mut Vec<u8>) -> Result<Hash, serde_json::Error> {
        scratch.clear();
        self.encode_into(scratch)?;
        Ok(leaf_hash(scratch))
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

fn optional_json(
    out: &mut Vec<u8>,
    json: Option<&JsonColumn<'_>>,
) -> Result<(), serde_json::Error> {
    match json {
        None => out.push(0),
        Some(json) => {
            out.push(1);
            match json {
                JsonColumn::Parsed(json) => json_value(out, json),
                JsonColumn::Text(text) => encode_json_text(out, text)?,
            }
        }
    }
    Ok(())
}

/// Appends the canonical encoding of a parsed JSON value.
pub(crate) fn json_value(out: &mut Vec<u8>, json: &Json) {
    match json {
        Json::Null => out.push(b'n'),
        Json::Bool(false) => out.push(b'f'),
        Json::Bool(true) => out.push(b't'),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(b'i');
                out.extend_from_slice(&i.to_be_bytes());
            } else if let Some(u) = n.as_u64() {
                out.push(b'u');
                out.extend_from_slice(&u.to_be_bytes());
            } else {
                // PostgreSQL's numeric has no negative zero.
                let f = n.as_f64().unwrap_or_default();
                let f = if f == 0.0 { 0.0 } else { f };
                out.push(b'd');
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
        }
        Json::String(s) => {
            out.push(b's');
            bytes(out, s.as_bytes());
        }
        Json::Array(items) => {
            out.push(b'a');
            out.extend_from_slice(&(items.len() as u64).to_be_bytes());
            items.iter().for_each(|item| json_value(out, item));
        }
        Json::Object(map) => {
            out.push(b'o');
            out.extend_from_slice(&(map.len() as u64).to_be_bytes());
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (key, item) in entries {
                bytes(out, key.as_bytes());
                json_value(out, item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> SealedRow {
        SealedRow {
            id: 7,
            changeset_id: "c".into(),
            table: "account".into(),
            record_id: "1".into(),
            operation: "update".into(),
            column: "balance".into(),
            old_value: Some(serde_json::json!({"b": [1, 2.5, null], "a": "x"})),
            new_value: Some(Json::Null),
            actor: None,
            changed_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("time"),
            context: None,
        }
    }

    #[test]
    fn json_text_form_does_not_change_the_hash() {
        let mut reordered = row();
        reordered.old_value =
            Some(serde_json::from_str(r#"{ "a" : "x", "b" : [1, 2.5, null] }"#).expect("json"));
        assert_eq!(row().leaf_hash(), reordered.leaf_hash());
    }

    #[test]
    fn every_column_is_covered_and_fields_do_not_run_together() {
        let base = row().leaf_hash();
        type Edit = Box<dyn Fn(&mut SealedRow)>;
        let edits: Vec<Edit> = vec![
            Box::new(|r| r.id = 8),
            Box::new(|r| r.changeset_id.push('x')),
            Box::new(|r| r.table.push('x')),
            Box::new(|r| r.record_id.push('x')),
            Box::new(|r| r.operation = "insert".into()),
            Box::new(|r| r.column.push('x')),
            Box::new(|r| r.old_value = None),
            Box::new(|r| r.new_value = None),
            Box::new(|r| r.new_value = Some(Json::Bool(false))),
            Box::new(|r| r.actor = Some(String::new())),
            Box::new(|r| r.changed_at += chrono::Duration::microseconds(1)),
            Box::new(|r| r.context = Some(Json::Null)),
            // Moving a byte from one field to the next.
            Box::new(|r| {
                r.table = "accoun".into();
                r.record_id = "t1".into();
            }),
            Box::new(|r| r.old_value = Some(serde_json::json!({"b": [1, 2.5], "a": "x"}))),
            Box::new(|r| r.old_value = Some(serde_json::json!({"b": [1, 2.5, null], "a": "y"}))),
            Box::new(|r| r.old_value = Some(serde_json::json!({"b": ["1", 2.5, null], "a": "x"}))),
        ];
        let mut seen = std::collections::HashSet::new();
        for edit in &edits {
            let mut r = row();
            edit(&mut r);
            let hash = r.leaf_hash();
            assert_ne!(hash, base, "{r:?}");
            assert!(seen.insert(hash), "two edits collide: {r:?}");
        }
    }
}
