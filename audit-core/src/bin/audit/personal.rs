//! Personal values (`#[audit(personal)]`) as the command line shows them: without the
//! entity types it cannot open them, but it can tell which ones no key opens any more.

use std::collections::HashSet;

use audit_core::AuditError;
use audit_core::erasure::ERASED;
use audit_core::trail::RecordTrail;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use serde_json::Value as Json;

/// The key table (`audit_subject_key`, made by `create_audit_table`; the erasure's audit
/// rows carry the same label).
const KEY_TABLE: &str = audit_core::erasure::ERASURE_LABEL;
/// What the text of a sealed value starts with (AES-256-GCM).
const PREFIX: &str = "aes256gcm:";
/// The `enc` of 0.1's sealed objects (XChaCha20-Poly1305).
const XCHACHA: &str = "xchacha20poly1305";
/// Key ids per statement.
const IDS_PER_STATEMENT: usize = 500;

/// The key id of a value in sealed form (`"aes256gcm:<key id>:<base64url>"`, or 0.1's
/// `{"c": <hex>, "enc": "xchacha20poly1305", "key": <key id>, "n": <hex>}`).
pub fn sealed_key_id(json: &Json) -> Option<&str> {
    if let Some(text) = json.as_str() {
        let (key_id, data) = text.strip_prefix(PREFIX)?.split_once(':')?;
        return (!data.is_empty()).then_some(key_id);
    }
    let object = json.as_object()?;
    let hex_field = |k: &str| object.get(k).and_then(Json::as_str).is_some();
    if object.len() != 4
        || object.get("enc").and_then(Json::as_str) != Some(XCHACHA)
        || !hex_field("c")
        || !hex_field("n")
    {
        return None;
    }
    object.get("key")?.as_str()
}

/// Which of `ids` have a data key in the key table.
pub async fn stored_keys(
    db: &DatabaseConnection,
    ids: &[String],
) -> Result<HashSet<String>, AuditError> {
    let backend = db.get_database_backend();
    let mut found = HashSet::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let marks: Vec<String> = (1..=chunk.len())
            .map(|i| match backend {
                DbBackend::Postgres => format!("${i}"),
                _ => "?".to_owned(),
            })
            .collect();
        let sql = format!(
            "SELECT key_id FROM {KEY_TABLE} WHERE key_id IN ({})",
            marks.join(", ")
        );
        let values = chunk.iter().map(|id| Value::from(id.as_str()));
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(AuditError::Read)?;
        for row in rows {
            found.insert(
                row.try_get::<String>("", "key_id")
                    .map_err(AuditError::Read)?,
            );
        }
    }
    Ok(found)
}

/// Replaces every sealed value of `record` whose data key was destroyed (its subject
/// erased) with the [`ERASED`] marker, as the library's typed reads show it. Sealed values
/// whose key exists stay in sealed form (only the application, with the entity and its
/// key-encryption key, opens them).
pub async fn mark_erased(
    db: &DatabaseConnection,
    record: &mut RecordTrail,
) -> Result<(), AuditError> {
    let mut ids: Vec<String> = record
        .versions
        .iter()
        .flat_map(|v| &v.changes)
        .flat_map(|c| [&c.old_value, &c.new_value])
        .filter_map(|v| v.as_ref().and_then(sealed_key_id).map(str::to_owned))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    let stored = stored_keys(db, &ids).await?;
    for change in record.versions.iter_mut().flat_map(|v| &mut v.changes) {
        for slot in [&mut change.old_value, &mut change.new_value] {
            let erased = slot
                .as_ref()
                .and_then(sealed_key_id)
                .is_some_and(|id| !stored.contains(id));
            if erased {
                *slot = Some(ERASED.into());
            }
        }
    }
    Ok(())
}
