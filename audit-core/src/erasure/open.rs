//! The read path's one step for personal data: opening the sealed values of entries.

use sea_orm::ConnectionTrait;
#[cfg(feature = "erasure")]
use sea_orm::DbBackend;
use sea_orm::QueryResult;
#[cfg(feature = "erasure")]
use sea_orm::sea_query::{Alias, Expr, SelectStatement};

use crate::{AuditEntry, AuditError};

/// The wrapped data keys read in a history's own statement, so that opening its values
/// needs no second one.
pub(crate) enum ReadKeys {
    /// Per row, its two values' (see [`select_keys`]).
    #[cfg_attr(not(feature = "erasure"), allow(dead_code))]
    PerRow(Vec<RowKeys>),
    /// One subject's, read once (see [`select_subject_key`]): its key id and the wrapped key
    /// stored under it (`None`: no key, or erased).
    #[cfg_attr(not(feature = "erasure"), allow(dead_code))]
    Subject {
        key_id: String,
        wrapped: Option<String>,
    },
}

/// The wrapped data keys of one audit row's two values, read in the row's own statement
/// (see [`select_keys`]): per side, the key id the database found in the stored value and
/// the wrapped key stored under that id (`None`: no key, or erased).
pub(crate) struct RowKeys {
    #[cfg_attr(not(feature = "erasure"), allow(dead_code))]
    sides: [(Option<String>, Option<String>); 2],
}

/// The alias of the column [`select_subject_key`] adds.
#[cfg(feature = "erasure")]
const SUBJECT_KEY_COLUMN: &str = "audit_subject_key";

/// Adds to `select` the wrapped data key stored under `key_id`, as a subquery that does not
/// depend on the row: the database evaluates it once, whatever the number of rows.
#[cfg(feature = "erasure")]
pub(crate) fn select_subject_key(select: &mut SelectStatement, key_id: &str) {
    select.expr_as(
        super::keys::wrapped_subquery(Expr::val(key_id)),
        Alias::new(SUBJECT_KEY_COLUMN),
    );
}

/// The aliases of the columns [`select_keys`] adds: per side, its key id and wrapped key.
#[cfg(feature = "erasure")]
const KEY_COLUMNS: [[&str; 2]; 2] = [
    ["audit_old_key_id", "audit_old_key"],
    ["audit_new_key_id", "audit_new_key"],
];

/// Adds to `select` (a read of `table`) the key id of each of a row's two stored values
/// and the wrapped data key stored under it, so that opening the values needs no second
/// statement. The key id is read from the value's JSON by the database; [`open_entries`]
/// uses these columns only where that id is the one it parses from the sealed value.
#[cfg(feature = "erasure")]
pub(crate) fn select_keys(select: &mut SelectStatement, backend: DbBackend, table: &str) {
    use crate::schema::quote;
    for (side, [id_alias, key_alias]) in ["old_value", "new_value"].iter().zip(KEY_COLUMNS) {
        let value = format!("{}.{}", quote(backend, table), quote(backend, side));
        // `aes256gcm:<key id>:...`, or 0.1's object with its `key`.
        let from = super::cipher::PREFIX.len() + 1;
        let key_id = match backend {
            DbBackend::Postgres => format!(
                "(CASE WHEN jsonb_typeof({value}) = 'string' \
                 THEN split_part(substr({value} #>> '{{}}', {from}), ':', 1) \
                 ELSE {value} ->> 'key' END)"
            ),
            DbBackend::MySql => format!(
                "(CASE WHEN JSON_TYPE({value}) = 'STRING' \
                 THEN SUBSTRING_INDEX(SUBSTR(JSON_UNQUOTE({value}), {from}), ':', 1) \
                 ELSE JSON_UNQUOTE(JSON_EXTRACT({value}, '$.key')) END)"
            ),
            // (Text that is not JSON fails the statement; it would fail the read anyway.)
            _ => format!(
                "(CASE json_type({value}) WHEN 'text' \
                 THEN substr(json_extract({value}, '$'), {from}, \
                 instr(substr(json_extract({value}, '$'), {from}), ':') - 1) \
                 ELSE json_extract({value}, '$.key') END)"
            ),
        };
        select.expr_as(Expr::cust(key_id.clone()), Alias::new(id_alias));
        select.expr_as(
            super::keys::wrapped_subquery(Expr::cust(key_id)),
            Alias::new(key_alias),
        );
    }
}

/// Text column `col` of `row`. A column the database typed otherwise than as text
/// (SQLite's `json_extract` of a number) reads as absent.
#[cfg(feature = "erasure")]
fn text(row: &QueryResult, col: &str) -> Option<String> {
    row.try_get::<Option<String>>("", col).ok().flatten()
}

impl ReadKeys {
    /// The keys [`select_subject_key`] (when `subject_key` names the key id it read) or
    /// [`select_keys`] added to `rows`.
    #[cfg(feature = "erasure")]
    pub(crate) fn from_rows(rows: &[QueryResult], subject_key: Option<String>) -> Self {
        match subject_key {
            Some(key_id) => ReadKeys::Subject {
                key_id,
                wrapped: rows.first().and_then(|row| text(row, SUBJECT_KEY_COLUMN)),
            },
            None => ReadKeys::PerRow(
                rows.iter()
                    .map(|row| RowKeys {
                        sides: KEY_COLUMNS.map(|[id, key]| (text(row, id), text(row, key))),
                    })
                    .collect(),
            ),
        }
    }

    #[cfg(not(feature = "erasure"))]
    pub(crate) fn from_rows(_rows: &[QueryResult], _subject_key: Option<String>) -> Self {
        ReadKeys::PerRow(Vec::new())
    }

    /// The wrapped key read for `key_id`, the id of side `side` of entry `entry`:
    /// `Some(None)` when the read found none stored, `None` when it did not look.
    #[cfg(feature = "erasure")]
    fn read_for(&self, entry: usize, side: usize, key_id: &str) -> Option<Option<&str>> {
        match self {
            ReadKeys::PerRow(rows) => match &rows[entry].sides[side] {
                (Some(id), wrapped) if id == key_id => Some(wrapped.as_deref()),
                _ => None,
            },
            ReadKeys::Subject {
                key_id: id,
                wrapped,
            } if id == key_id => Some(wrapped.as_deref()),
            ReadKeys::Subject { .. } => None,
        }
    }
}

/// Opens the sealed values of the entries of `personal` columns, `stored` as text (old,
/// new; one pair per entry, see [`AuditEntry::from_personal_row`]) into the entries, and marks each
/// with [`AuditEntry::personal`]: a value whose subject was erased reads as
/// [`super::ERASED`], one that does not open as [`super::UNREADABLE`]. Values not in
/// sealed form (recorded before the column was personal) are left as they are. Fails
/// without a key-encryption key, or with one that does not open a subject's key.
///
/// `read_keys` are the keys read with the entries; a key id they do not cover is looked up
/// in the key table.
#[cfg(feature = "erasure")]
pub(crate) async fn open_entries<C: ConnectionTrait>(
    db: &C,
    personal: &[&'static str],
    entries: &mut [AuditEntry],
    stored: &[[Option<String>; 2]],
    read_keys: &ReadKeys,
) -> Result<(), AuditError> {
    use super::Personal;
    use super::cipher::{DataKey, Place, Sealed, open, parse, parse_text};

    /// One sealed value: where it is, and the index of its key id in `ids`.
    struct Opening {
        entry: usize,
        side: usize,
        key: usize,
        sealed: Sealed<'static>,
    }

    let mut ids: Vec<String> = Vec::new();
    // Per key id: the wrapped key read with the rows (`Some(None)`: none stored), `None`
    // when no row's columns named that id.
    let mut found: Vec<Option<Option<&str>>> = Vec::new();
    let mut openings = Vec::new();
    for (index, (entry, stored)) in entries.iter_mut().zip(stored).enumerate() {
        if !personal.contains(&entry.column.as_str()) {
            continue;
        }
        for (side, text) in stored.iter().enumerate() {
            let Some(text) = text else { continue };
            // The stored form without escapes is read straight from its text; any other
            // text is parsed as JSON, and opened if it is a sealed value after all.
            let parsed;
            let sealed = match parse_text(text) {
                Some(sealed) => sealed,
                None => {
                    let name = ["old_value", "new_value"][side];
                    parsed = crate::history::parse_json(name, text)?;
                    match parse(&parsed) {
                        Some(sealed) => sealed,
                        None => {
                            // Recorded before the column was personal: as it is.
                            let slot = match side {
                                0 => &mut entry.old_value,
                                _ => &mut entry.new_value,
                            };
                            *slot = Some(parsed);
                            continue;
                        }
                    }
                }
            };
            let key = match ids.iter().position(|id| id == sealed.key_id) {
                Some(key) => key,
                None => {
                    ids.push(sealed.key_id.to_owned());
                    found.push(None);
                    ids.len() - 1
                }
            };
            if found[key].is_none() {
                found[key] = read_keys.read_for(index, side, sealed.key_id);
            }
            openings.push(Opening {
                entry: index,
                side,
                key,
                sealed: sealed.with_key_id(""),
            });
        }
    }
    if openings.is_empty() {
        return Ok(());
    }
    let kek = super::kek::current()?;
    // The keys the rows did not carry, from the key table.
    let missing: Vec<String> = ids
        .iter()
        .zip(&found)
        .filter(|(_, found)| found.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    let mut looked_up = if missing.is_empty() {
        Default::default()
    } else {
        super::keys::data_keys(db, &*kek, &missing, false).await?
    };
    let mut keys: Vec<Option<DataKey>> = Vec::with_capacity(ids.len());
    for (id, found) in ids.iter().zip(&found) {
        keys.push(match found {
            None => looked_up.remove(id),
            Some(None) => None,
            Some(Some(wrapped)) => {
                let wrapped = super::keys::decode_wrapped(id, wrapped)?;
                Some(DataKey::from_bytes(&kek.unwrap(id, &wrapped).await?)?)
            }
        });
    }
    let mut states: Vec<Option<Personal>> = vec![None; entries.len()];
    let mut ad = Vec::new();
    for opening in openings {
        let entry = &mut entries[opening.entry];
        let side = ["old", "new"][opening.side];
        let (value, outcome) = match &keys[opening.key] {
            None => (super::ERASED.into(), Personal::Erased),
            Some(key) => {
                let place = Place {
                    table: &entry.table,
                    record_id: &entry.record_id,
                    column: &entry.column,
                    changeset_id: &entry.changeset_id,
                    side,
                };
                let mut sealed = opening.sealed.with_key_id(&ids[opening.key]);
                match open(key, &mut sealed, &place, &mut ad) {
                    Some(value) => (value, Personal::Readable),
                    None => (super::UNREADABLE.into(), Personal::Unreadable),
                }
            }
        };
        let state = &mut states[opening.entry];
        if state.is_none_or(|s| s == Personal::Readable) {
            *state = Some(outcome);
        }
        let slot = if opening.side == 0 {
            &mut entry.old_value
        } else {
            &mut entry.new_value
        };
        *slot = Some(value);
    }
    for (entry, state) in entries.iter_mut().zip(states) {
        if state.is_some() {
            entry.personal = state;
        }
    }
    Ok(())
}

/// Without the `erasure` feature sealed values cannot be opened: reading them fails.
#[cfg(not(feature = "erasure"))]
pub(crate) async fn open_entries<C: ConnectionTrait>(
    _db: &C,
    personal: &[&'static str],
    entries: &mut [AuditEntry],
    _stored: &[[Option<String>; 2]],
    _read_keys: &ReadKeys,
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
