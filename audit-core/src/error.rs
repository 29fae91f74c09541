//! The one error type of `audit_core`.

use sea_orm::DbErr;

/// Everything that can go wrong while writing or reading the audit trail.
#[derive(Debug, thiserror::Error)]
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
    /// The requested record, version or changeset is not in the trail.
    #[error("not found in the audit trail: {0}")]
    NotFound(String),
}

impl From<AuditError> for DbErr {
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::Read(inner) => inner,
            other => DbErr::Custom(other.to_string()),
        }
    }
}
