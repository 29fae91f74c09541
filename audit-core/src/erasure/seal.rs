//! The write path's one step for personal data: sealing rows before they are inserted.

use sea_orm::ConnectionTrait;

use crate::AuditError;
use crate::record::{Changeset, ColumnChange};

/// Sealed copies of the personal rows of `rows`, by index (`None`: write the row as it
/// is); empty when no row is personal. Fails, before anything is written, without a
/// key-encryption key, with one that does not open a subject's key, or for a record
/// without its subject.
#[cfg(feature = "erasure")]
pub(crate) async fn seal_rows<C: ConnectionTrait>(
    db: &C,
    rows: &[(&Changeset, &ColumnChange)],
) -> Result<Vec<Option<ColumnChange>>, AuditError> {
    use std::collections::HashMap;

    use serde_json::Value as Json;

    use super::cipher::{Place, seal};

    if rows.iter().all(|(_, row)| row.subject.is_none()) {
        return Ok(Vec::new());
    }
    let kek = super::kek::current()?;
    // The key id of each side's subject, by row; fails for a side without its subject.
    let mut key_ids: HashMap<(&str, &str), String> = HashMap::new();
    let mut sides: Vec<Option<[Option<String>; 2]>> = Vec::with_capacity(rows.len());
    for (changeset, row) in rows {
        let Some(subjects) = &row.subject else {
            sides.push(None);
            continue;
        };
        let mut ids = [None, None];
        for (slot, (side, value)) in ids.iter_mut().zip([("old", &row.old), ("new", &row.new)]) {
            if value.is_none() {
                continue;
            }
            let subject = subjects.side(side);
            let Some(id) = &subject.id else {
                return Err(AuditError::Personal(format!(
                    "`{}` record {} has no data subject (its subject is NULL), so its \
                     personal column `{}` cannot be sealed",
                    changeset.table, row.record_id, row.column
                )));
            };
            let key_id = key_ids
                .entry((subject.kind, id))
                .or_insert_with(|| kek.subject_key_id(subject.kind, id));
            *slot = Some(key_id.clone());
        }
        sides.push(Some(ids));
    }
    let mut ids: Vec<String> = key_ids.into_values().collect();
    ids.sort_unstable();
    ids.dedup();
    // The keys the writes read ahead (the rows of one changeset are consecutive).
    let mut hints: Vec<&super::KeyHints> = rows
        .iter()
        .map(|(changeset, _)| &changeset.keys)
        .filter(|hints| hints.holds_any())
        .collect();
    hints.dedup_by(|a, b| std::ptr::eq(*a, *b));
    let keys = super::keys::data_keys_hinted(db, &*kek, &ids, true, &hints).await?;
    let mut sealed = Vec::with_capacity(rows.len());
    for ((changeset, row), side_ids) in rows.iter().zip(sides) {
        let Some([old_id, new_id]) = side_ids else {
            sealed.push(None);
            continue;
        };
        let seal_side = |side, id: Option<String>, value: &Option<Json>| {
            let (Some(key_id), Some(value)) = (id, value) else {
                return Ok(None);
            };
            let key = keys
                .get(&key_id)
                .ok_or_else(|| AuditError::Personal(format!("data key {key_id} is missing")))?;
            let place = Place {
                table: changeset.table,
                record_id: &row.record_id,
                column: row.column,
                changeset_id: &changeset.id,
                side,
            };
            seal(key, &key_id, &place, value).map(Some)
        };
        sealed.push(Some(ColumnChange {
            record_id: row.record_id.clone(),
            operation: row.operation,
            column: row.column,
            old: seal_side("old", old_id, &row.old)?,
            new: seal_side("new", new_id, &row.new)?,
            subject: None,
        }));
    }
    Ok(sealed)
}

/// Without the `erasure` feature personal rows cannot be sealed: writing them fails.
#[cfg(not(feature = "erasure"))]
pub(crate) async fn seal_rows<C: ConnectionTrait>(
    _db: &C,
    rows: &[(&Changeset, &ColumnChange)],
) -> Result<Vec<Option<ColumnChange>>, AuditError> {
    match rows.iter().find(|(_, row)| row.subject.is_some()) {
        None => Ok(Vec::new()),
        Some((changeset, row)) => Err(AuditError::Personal(format!(
            "`{}.{}` is `#[audit(personal)]` and audit-core was built without its `erasure` feature",
            changeset.table, row.column
        ))),
    }
}
