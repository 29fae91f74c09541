//! Crypto-shredding: personal data in the trail that can be erased without touching it.
//!
//! Columns marked `#[audit(personal)]` are recorded sealed: each old and new value is
//! encrypted with AES-256-GCM under a data key of its own data subject (by default
//! the record itself; `#[audit(subject = "user_id")]` names the column holding it, and
//! `#[audit(subject_kind = "user")]` the kind of subject, by default the audit label), with
//! a fresh random nonce and associated data binding the table, record, column, changeset
//! and side (old or new), so a sealed value moved anywhere else no longer opens.
//!
//! One 256-bit data key per subject is made on first use and stored wrapped by the
//! application's [`KeyEncryptionKey`] in the table `audit_subject_key` (made by
//! [`crate::create_audit_table`]), under a key id that is an HMAC of the subject's kind and
//! id: the key table holds no personal data. [`erase_subject`] deletes that one row and
//! records the erasure in the trail; every sealed value of the subject, in the trail and in
//! its backups, then reads as [`ERASED`] ([`Personal::Erased`]).
//!
//! A sealed value is stored as the JSON string
//! `"aes256gcm:<key id>:<base64url of nonce, ciphertext and tag>"` (0.1 stored JSON objects
//! `{"c":"<ciphertext hex>","enc":"xchacha20poly1305","key":"<key id>","n":"<nonce hex>"}`,
//! which still open).
//!
//! Reads through an entity ([`crate::history()`], [`crate::table_history`] and everything
//! built on them: versions, `as_of`, diffs, undo) open the values and mark each personal
//! entry with [`AuditEntry::personal`](crate::AuditEntry::personal); readers without the
//! entity type ([`crate::all_history`], [`crate::trail`]) see the sealed form. Value filters
//! on personal columns fail with [`AuditError::PersonalFilter`].
//!
//! Fail closed: with no key-encryption key configured, or one that does not open the
//! subject's data key, an audited write of personal columns fails and writes nothing.
//! Without the `erasure` feature such writes always fail.

#[cfg(feature = "erasure")]
pub(crate) mod cipher;
#[cfg(feature = "erasure")]
mod erase;
#[cfg(feature = "erasure")]
mod kek;
#[cfg(feature = "erasure")]
mod keys;
mod open;
pub(crate) mod prefetch;
mod seal;

use std::fmt;

use sea_orm::sea_query::ValueTuple;
use sea_orm::{ConnectionTrait, Iterable};

#[cfg(feature = "erasure")]
pub use erase::{ERASURE_LABEL, erase_subject};
#[cfg(feature = "erasure")]
pub use kek::{KeyEncryptionKey, LocalKek, set_key_encryption_key, with_key_encryption_key};
#[cfg(feature = "erasure")]
pub(crate) use keys::key_table_sql;
pub(crate) use open::{ReadKeys, open_entries};
#[cfg(feature = "erasure")]
pub(crate) use open::{select_keys, select_subject_key};
pub(crate) use prefetch::KeyHints;
pub(crate) use seal::seal_rows;

use crate::{AuditError, AuditedEntity, ColumnPolicy};

/// The marker a personal value reads as once its subject was erased.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/person.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = person_db().await?;
/// audit_core::erasure::erase_subject(&db, "user", 1).await?;
/// let rows = audit_core::history::<person::Entity>(1).column(person::Column::Email).fetch(&db).await?;
/// assert_eq!(rows[0].new_value, Some(audit_core::erasure::ERASED.into()));
/// # Ok(())
/// # }
/// ```
pub const ERASED: &str = "[erased]";
/// The marker a personal value reads as when it does not open (moved, altered).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/person.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = person_db().await?;
/// use audit_core::erasure::{KeyEncryptionKey, Personal};
/// // Someone moves the ciphertext of person 1's email onto another row: it does not open there.
/// # use sea_orm::ConnectionTrait;
/// db.execute_unprepared("INSERT INTO audit_log (changeset_id, table_name, record_id, operation, column_name, new_value, changed_at) \
///     SELECT changeset_id, table_name, '2', operation, column_name, new_value, changed_at FROM audit_log WHERE column_name = 'email'").await?;
/// let moved = audit_core::history::<person::Entity>(2).fetch(&db).await?;
/// assert_eq!(moved[0].new_value, Some(audit_core::erasure::UNREADABLE.into()));
/// assert_eq!(moved[0].personal, Some(Personal::Unreadable));
/// # let _ = audit_core::erasure::LocalKek::new([7; 32]).subject_key_id("user", "1");
/// # Ok(())
/// # }
/// ```
pub const UNREADABLE: &str = "[unreadable]";

/// What became of a personal column's values when the trail was read.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/person.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = person_db().await?;
/// use audit_core::erasure::Personal;
/// let rows = audit_core::history::<person::Entity>(1).fetch(&db).await?;
/// let email = rows.iter().find(|e| e.column == "email").unwrap();
/// assert_eq!(email.personal, Some(Personal::Readable));
/// assert_eq!(email.new_value, Some("ann@example.com".into()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Personal {
    /// Decrypted: the values are the recorded ones.
    Readable,
    /// The subject's key was erased: the values read as [`ERASED`].
    Erased,
    /// A value did not open under its subject's key (moved to another row, or altered):
    /// it reads as [`UNREADABLE`].
    Unreadable,
}

impl Personal {
    /// Why the values cannot be given back (`"erased"`, `"unreadable"`), if they cannot.
    ///
    /// ```
    /// use audit_core::erasure::Personal;
    /// assert_eq!(Personal::Readable.lost(), None);
    /// assert_eq!(Personal::Erased.lost(), Some("erased"));
    /// ```
    pub fn lost(self) -> Option<&'static str> {
        match self {
            Personal::Readable => None,
            Personal::Erased => Some("erased"),
            Personal::Unreadable => Some("unreadable"),
        }
    }
}

/// The data subject of a record's personal columns: its kind and its id (in
/// [`crate::record_id`]'s text form). Made by the generated code.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/person.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = person_db().await?;
/// use audit_core::AuditedEntity;
/// use audit_core::erasure::Subject;
/// use sea_orm::sea_query::ValueTuple;
/// let ann = person::Entity::find_by_id(1).one(&db).await?.unwrap();
/// assert!(person::Entity::data_subject(&ann) == Some(Subject::of("user", &ValueTuple::One(1i32.into()))));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Subject {
    pub(crate) kind: &'static str,
    /// `None` when the subject column is NULL: the write is refused.
    pub(crate) id: Option<String>,
}

impl Subject {
    /// The subject of kind `kind` whose key (or subject column's value) is `key`.
    ///
    /// ```
    /// use audit_core::erasure::Subject;
    /// use sea_orm::sea_query::ValueTuple;
    /// assert!(Subject::of("user", &ValueTuple::One(1i32.into())) != Subject::of("team", &ValueTuple::One(1i32.into())));
    /// ```
    pub fn of(kind: &'static str, key: &ValueTuple) -> Self {
        Subject {
            kind,
            id: subject_id(key),
        }
    }

    /// No subject: writes of personal columns of `kind` are refused.
    pub(crate) fn missing(kind: &'static str) -> Self {
        Subject { kind, id: None }
    }
}

/// The subjects of the two values of a personal audit row: an update that moves a record
/// to another subject seals its old value with the old subject's key and its new value
/// with the new one's, so erasing either subject erases exactly its own values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sides {
    pub old: Subject,
    pub new: Subject,
}

impl Sides {
    /// The subjects of a record going from `old` to `new` (`None` before an insert and
    /// after a delete; not both).
    pub(crate) fn of<E: AuditedEntity>(old: Option<&E::Model>, new: Option<&E::Model>) -> Self {
        let subject = |model: &E::Model| {
            E::data_subject(model).unwrap_or_else(|| Subject::missing(E::audit_table()))
        };
        let old = old.map(subject);
        let new = new.map(subject);
        let either = || {
            old.clone()
                .or(new.clone())
                .expect("a record before or after")
        };
        Sides {
            old: old.clone().unwrap_or_else(either),
            new: new.clone().unwrap_or_else(either),
        }
    }

    /// The subject of the side `"old"` or `"new"`.
    #[cfg(feature = "erasure")]
    pub(crate) fn side(&self, side: &str) -> &Subject {
        if side == "old" { &self.old } else { &self.new }
    }
}

/// The subject id is personal data: it is never printed.
impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The key id of `subject`'s data key under the configured key-encryption key; `None`
/// without one (or for a NULL subject).
pub(crate) fn subject_key_id(subject: &Subject) -> Option<String> {
    #[cfg(feature = "erasure")]
    return Some(
        kek::current()
            .ok()?
            .subject_key_id(subject.kind, subject.id.as_ref()?),
    );
    #[cfg(not(feature = "erasure"))]
    {
        let _ = subject;
        None
    }
}

/// The text form of a subject key; `None` for SQL NULL.
pub(crate) fn subject_id(key: &ValueTuple) -> Option<String> {
    if let ValueTuple::One(value) = key
        && crate::value::encode(value).is_null()
    {
        return None;
    }
    Some(crate::record_id(key))
}

/// Refuses, before an audited write of `E` changes anything, a write of personal columns
/// that cannot be sealed: no key-encryption key, one that does not open the key table's
/// check row (a wrong key), or no `erasure` feature. Outside a transaction the database
/// commits the change at once, so finding any of these only when the rows are sealed would
/// leave a change without its trail.
pub(crate) async fn check_ready<E: AuditedEntity, C: ConnectionTrait>(
    db: &C,
) -> Result<(), AuditError> {
    if !E::Column::iter().any(|c| E::column_policy(&c) == ColumnPolicy::Personal) {
        return Ok(());
    }
    #[cfg(feature = "erasure")]
    return keys::check_kek(db, kek::current()?.as_ref()).await;
    #[cfg(not(feature = "erasure"))]
    {
        let _ = db;
        Err(AuditError::Personal(format!(
            "`{}` has `#[audit(personal)]` columns and audit-core was built without its `erasure` feature",
            E::audit_table()
        )))
    }
}

/// The `#[audit(personal)]` columns of `E`.
pub(crate) fn personal_columns<E: AuditedEntity>() -> Vec<&'static str> {
    E::Column::iter()
        .filter(|c| E::column_policy(c) == ColumnPolicy::Personal)
        .map(|c| sea_orm::IdenStatic::as_str(&c))
        .collect()
}
