//! The read path's one step for personal data: opening the sealed values of entries.

use sea_orm::ConnectionTrait;

use crate::{AuditEntry, AuditError};

/// Opens the sealed values of the entries of `personal` columns in place, and marks each
/// with [`AuditEntry::personal`]: a value whose subject was erased reads as
/// [`super::ERASED`], one that does not open as [`super::UNREADABLE`]. Values not in
/// sealed form (recorded before the column was personal) are left as they are. Fails
/// without a key-encryption key, or with one that does not open a subject's key.
#[cfg(feature = "erasure")]
pub(crate) async fn open_entries<C: ConnectionTrait>(
    db: &C,
    personal: &[&'static str],
    entries: &mut [AuditEntry],
) -> Result<(), AuditError> {
    use super::Personal;
    use super::cipher::{Place, open, parse};

    let is_personal = |e: &AuditEntry| personal.iter().any(|p| *p == e.column);
    let mut ids: Vec<String> = entries
        .iter()
        .filter(|e| is_personal(e))
        .flat_map(|e| [&e.old_value, &e.new_value])
        .filter_map(|v| v.as_ref().and_then(parse).map(|s| s.key_id.to_owned()))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    let kek = super::kek::current()?;
    let keys = super::keys::data_keys(db, &*kek, &ids, false).await?;
    for entry in entries.iter_mut().filter(|e| is_personal(e)) {
        let mut state = None;
        for side in ["old", "new"] {
            let slot = if side == "old" {
                &entry.old_value
            } else {
                &entry.new_value
            };
            let Some(sealed) = slot.as_ref().and_then(parse) else {
                continue;
            };
            let place = Place {
                table: &entry.table,
                record_id: &entry.record_id,
                column: &entry.column,
                changeset_id: &entry.changeset_id,
                side,
            };
            let (value, outcome) = match keys.get(sealed.key_id) {
                None => (super::ERASED.into(), Personal::Erased),
                Some(key) => match open(key, &sealed, &place) {
                    Some(value) => (value, Personal::Readable),
                    None => (super::UNREADABLE.into(), Personal::Unreadable),
                },
            };
            if state.is_none_or(|s| s == Personal::Readable) {
                state = Some(outcome);
            }
            let slot = if side == "old" {
                &mut entry.old_value
            } else {
                &mut entry.new_value
            };
            *slot = Some(value);
        }
        entry.personal = state;
    }
    Ok(())
}

/// Without the `erasure` feature sealed values cannot be opened: reading them fails.
#[cfg(not(feature = "erasure"))]
pub(crate) async fn open_entries<C: ConnectionTrait>(
    _db: &C,
    personal: &[&'static str],
    entries: &mut [AuditEntry],
) -> Result<(), AuditError> {
    match entries
        .iter()
        .find(|e| personal.contains(&e.column.as_str()))
    {
        None => Ok(()),
        Some(entry) => Err(AuditError::Personal(format!(
            "`{}.{}` is `#[audit(personal)]` and audit-core was built without its `erasure` feature",
            entry.table, entry.column
        ))),
    }
}
