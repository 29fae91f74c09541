//! Reading keys ahead: an update or delete of personal columns on a connection the library
//! does not buffer reads the key table's check row and the subject's wrapped data key in
//! the same `SELECT` as its old row (scalar subqueries), so its keys cost no statement of
//! their own: the check row is opened before the change is made (a wrong key-encryption
//! key fails the write, nothing written) and the data key seals its audit rows after it.
//!
//! Not on MySQL and MariaDB, where the old row is read `FOR UPDATE` and whether that locks
//! the rows a subquery reads is not something to rely on: every writer would queue on the
//! one check row. There the keys are read by statements of their own.

use sea_orm::{ConnectionTrait, QueryResult};

use crate::AuditError;

/// The wrapped data keys read with a write's old row, by key id (nothing where the write
/// read none); handed to the sealing of its audit rows.
#[derive(Clone, Default)]
pub(crate) struct KeyHints {
    #[cfg(feature = "erasure")]
    wrapped: Vec<(String, Vec<u8>)>,
}

/// Wrapped keys are not printed.
impl std::fmt::Debug for KeyHints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyHints").finish_non_exhaustive()
    }
}

/// What a write reads ahead with its old row: the check row always, and the key of the
/// subject its active model names (when every column of it is set).
pub(crate) struct Prefetch {
    #[cfg(feature = "erasure")]
    subject_key_id: Option<String>,
}

/// The read-ahead for a write of `am` through `db`; `None` where the keys are read by
/// statements of their own: no personal columns, MySQL, a buffered transaction (it reads
/// the keys of all its writes at once), no key-encryption key (the write then fails on
/// its own check), or no `erasure` feature.
pub(crate) fn plan<E: crate::AuditedEntity, C: ConnectionTrait>(
    db: &C,
    am: &E::ActiveModel,
) -> Option<Prefetch> {
    #[cfg(feature = "erasure")]
    {
        if super::personal_columns::<E>().is_empty()
            || db.get_database_backend() == sea_orm::DbBackend::MySql
            || crate::transaction::buffers(db)
        {
            return None;
        }
        let kek = super::kek::current().ok()?;
        let subject_key_id =
            E::active_data_subject(am).and_then(|s| s.id.map(|id| kek.subject_key_id(s.kind, &id)));
        Some(Prefetch { subject_key_id })
    }
    #[cfg(not(feature = "erasure"))]
    {
        let _ = (db, am);
        None
    }
}

#[cfg(feature = "erasure")]
impl Prefetch {
    /// The `SELECT` of `select`'s old row with the keys added as two more columns.
    pub(crate) fn add_to<E: sea_orm::EntityTrait>(
        &self,
        select: sea_orm::Select<E>,
    ) -> sea_orm::Select<E> {
        use sea_orm::QuerySelect;

        use sea_orm::sea_query::Expr;

        let check = super::keys::wrapped_subquery(Expr::val(super::keys::CHECK_ID));
        let subject = match &self.subject_key_id {
            Some(id) => super::keys::wrapped_subquery(Expr::val(id.as_str())),
            None => Expr::null(),
        };
        select
            .column_as(check, CHECK_COLUMN)
            .column_as(subject, SUBJECT_COLUMN)
    }

    /// Checks the key-encryption key against the check row read with the old row `row`
    /// and keeps the subject's wrapped key; without an old row (no record: the write will
    /// change nothing, unless a concurrent insert raced it), asks the key table itself.
    pub(crate) async fn read<C: ConnectionTrait>(
        self,
        db: &C,
        row: Option<&QueryResult>,
    ) -> Result<KeyHints, AuditError> {
        let kek = super::kek::current()?;
        let Some(row) = row else {
            super::keys::check_kek(db, kek.as_ref()).await?;
            return Ok(KeyHints::default());
        };
        let column = |name| -> Result<Option<String>, AuditError> {
            row.try_get("", name).map_err(AuditError::Read)
        };
        if let Some(check) = column(CHECK_COLUMN)? {
            let check = super::keys::decode_wrapped(super::keys::CHECK_ID, &check)?;
            kek.unwrap(super::keys::CHECK_ID, &check).await?;
        }
        let wrapped = match (self.subject_key_id, column(SUBJECT_COLUMN)?) {
            (Some(id), Some(key)) => {
                let key = super::keys::decode_wrapped(&id, &key)?;
                vec![(id, key)]
            }
            _ => Vec::new(),
        };
        Ok(KeyHints { wrapped })
    }
}

#[cfg(not(feature = "erasure"))]
impl Prefetch {
    pub(crate) fn add_to<E: sea_orm::EntityTrait>(
        &self,
        select: sea_orm::Select<E>,
    ) -> sea_orm::Select<E> {
        select
    }

    pub(crate) async fn read<C: ConnectionTrait>(
        self,
        _db: &C,
        _row: Option<&QueryResult>,
    ) -> Result<KeyHints, AuditError> {
        Ok(KeyHints::default())
    }
}

/// The names of the two added columns.
#[cfg(feature = "erasure")]
const CHECK_COLUMN: &str = "audit_core_kek_check";
#[cfg(feature = "erasure")]
const SUBJECT_COLUMN: &str = "audit_core_subject_key";

#[cfg(feature = "erasure")]
impl KeyHints {
    /// Whether the write read any key ahead.
    pub(crate) fn holds_any(&self) -> bool {
        !self.wrapped.is_empty()
    }

    /// The wrapped keys of `ids` if these hints hold every one of them.
    pub(crate) fn covering(
        hints: &[&KeyHints],
        ids: &[String],
    ) -> Option<std::collections::HashMap<String, Vec<u8>>> {
        let all = || hints.iter().flat_map(|h| h.wrapped.iter());
        ids.iter()
            .map(|id| {
                all()
                    .find(|(held, _)| held == id)
                    .map(|(_, key)| (id.clone(), key.clone()))
            })
            .collect()
    }
}
