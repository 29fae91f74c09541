//! The one error type of `audit_core`, and how it travels through SeaORM's `DbErr`.

use std::sync::Arc;

use sea_orm::DbErr;

/// Everything that can go wrong while writing or reading the audit trail.
///
/// The history API returns it directly. The write path (the hooks of `#[derive(Audited)]`,
/// [`crate::bulk`], [`crate::AuditTransaction`]) must return SeaORM's [`DbErr`], so there
/// an `AuditError` travels inside one: [`audit_error`] gets it back, and
/// [`AuditError::db_err`] reaches the database's own error underneath. A failure of the
/// change itself (a constraint violation, a lost connection) stays the plain `DbErr`
/// SeaORM returned, with its [`DbErr::sql_err`].
///
/// ```
/// use audit_core::{AuditError, audit_error};
/// use sea_orm::DbErr;
///
/// let refused = AuditError::NotInTransaction { table: "account".into() };
/// let err: DbErr = refused.into(); // what a hook returns
/// assert!(matches!(audit_error(&err), Some(AuditError::NotInTransaction { .. })));
/// // A database failure is not an audit failure:
/// assert!(audit_error(&DbErr::RecordNotUpdated).is_none());
/// // and comes back as itself:
/// assert!(matches!(AuditError::from(DbErr::RecordNotUpdated), AuditError::Database(_)));
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The database refused a statement issued by the audit layer.
    #[error("audit write to `{table}` failed: {source}")]
    Write {
        /// The audit table that was written.
        table: String,
        /// What the database said.
        #[source]
        source: DbErr,
    },
    /// A read of the audited table or of the audit table failed.
    #[error("audit read failed: {0}")]
    Read(#[source] DbErr),
    /// Strict mode is on and an audited write ran outside a transaction.
    #[error(
        "audited write to `{table}` outside a transaction refused (strict mode): \
         run it inside `db.begin()` / `db.transaction(..)`"
    )]
    NotInTransaction {
        /// The audited table.
        table: String,
    },
    /// A configuration value was rejected.
    #[error("invalid audit configuration: {0}")]
    Config(String),
    /// An audit value could not be decoded back into the column's type.
    #[error("cannot decode audited value of `{table}.{column}`: {reason}")]
    Decode {
        /// The audited table.
        table: String,
        /// The column whose value failed to decode.
        column: String,
        /// Why it failed.
        reason: String,
    },
    /// A key or value given by the caller does not fit the audit schema.
    #[error("invalid audit input: {0}")]
    Input(String),
    /// A history operation needs a column the trail does not hold.
    #[error("column `{table}.{column}` is {policy} in the audit trail, so it cannot be rebuilt")]
    NotRecorded {
        /// The audited table.
        table: String,
        /// The column that is not recorded.
        column: String,
        /// `redacted` or `skipped`.
        policy: &'static str,
    },
    /// An undo would overwrite a later change of the same column.
    #[error(
        "undo conflicts with a later change of `{table}.{column}` \
         (changeset {later_changeset}); pass `OnConflict::Overwrite` to overwrite it"
    )]
    Conflict {
        /// The audited table.
        table: String,
        /// The column changed again later.
        column: String,
        /// The changeset of the later change.
        later_changeset: String,
    },
    /// Personal data (`#[audit(personal)]`) could not be sealed or opened: no or the wrong
    /// key-encryption key, a record without its data subject, or audit-core built without
    /// its `erasure` feature. The write it came from wrote nothing.
    #[error("audit personal data: {0}")]
    Personal(String),
    /// A value filter on a personal column: the database holds only its ciphertext.
    #[error(
        "cannot filter `{table}.{column}` by value: it is `#[audit(personal)]`, stored \
         encrypted, and the database cannot compare ciphertext"
    )]
    PersonalFilter {
        /// The audited table.
        table: String,
        /// The personal column.
        column: String,
    },
    /// The requested record, version or changeset is not in the trail.
    #[error("not found in the audit trail: {0}")]
    NotFound(String),
    /// A statement that is not the audit layer's own failed: the change itself, or a
    /// transaction's `BEGIN` / `COMMIT` (from [`From<DbErr>`]).
    #[error(transparent)]
    Database(DbErr),
}

impl AuditError {
    /// The database's error underneath, if the database refused something (a
    /// [`Write`](Self::Write), a [`Read`](Self::Read) or a [`Database`](Self::Database)).
    ///
    /// ```
    /// use audit_core::AuditError;
    /// use sea_orm::DbErr;
    ///
    /// let err = AuditError::Write { table: "audit_log".into(), source: DbErr::RecordNotInserted };
    /// assert!(matches!(err.db_err(), Some(DbErr::RecordNotInserted)));
    /// assert!(AuditError::NotFound("changeset x".into()).db_err().is_none());
    /// ```
    pub fn db_err(&self) -> Option<&DbErr> {
        match self {
            AuditError::Write { source, .. } => Some(source),
            AuditError::Read(source) | AuditError::Database(source) => Some(source),
            _ => None,
        }
    }
}

/// The audit failure inside a [`DbErr`], if it is one (see [`AuditError`]).
///
/// The write path wraps an [`AuditError`] in [`DbErr::TryIntoErr`] (the one `DbErr`
/// variant that carries a typed error), so it survives SeaORM's signatures with its
/// [`source`](std::error::Error::source) chain; its text reads
/// ``Error converting `AuditError` into `DbErr`: <the audit error>``.
///
/// ```
/// use audit_core::{AuditError, audit_error};
/// use sea_orm::DbErr;
///
/// let err = DbErr::from(AuditError::Input("bad key".into()));
/// assert_eq!(audit_error(&err).unwrap().to_string(), "invalid audit input: bad key");
/// assert!(audit_error(&DbErr::Custom("other".into())).is_none());
/// ```
pub fn audit_error(err: &DbErr) -> Option<&AuditError> {
    match err {
        DbErr::TryIntoErr { source, .. } => source.downcast_ref::<AuditError>(),
        _ => None,
    }
}

impl From<AuditError> for DbErr {
    /// A failed audit read stays the database's own error; anything else is wrapped so
    /// that [`audit_error`] finds it.
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::Read(inner) | AuditError::Database(inner) => inner,
            other => DbErr::TryIntoErr {
                from: "AuditError",
                into: "DbErr",
                source: Arc::new(other),
            },
        }
    }
}

impl From<DbErr> for AuditError {
    /// Unwraps an audit failure carried by `err` (see [`audit_error`]); any other error
    /// becomes [`AuditError::Database`].
    fn from(err: DbErr) -> Self {
        audit_error(&err)
            .cloned()
            .unwrap_or(AuditError::Database(err))
    }
}

/// A recorded JSON value that does not decode into the column's type
/// (from [`crate::value::decode`]).
///
/// ```
/// let err = audit_core::value::decode::<i32>(&serde_json::json!("x")).unwrap_err();
/// assert_eq!(err.to_string(), "\"x\" is out of range for this integer column");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DecodeError {
    reason: String,
}

impl DecodeError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// Why the value did not decode.
    ///
    /// ```
    /// let err = audit_core::value::decode::<bool>(&serde_json::json!(3)).unwrap_err();
    /// assert!(!err.reason().is_empty());
    /// ```
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
