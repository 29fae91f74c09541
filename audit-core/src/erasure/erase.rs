//! Erasing a data subject: destroying its one data key, and recording that.

use sea_orm::sea_query::ValueTuple;
use sea_orm::{ConnectionTrait, TransactionSession, TransactionTrait, Value};

use crate::record::{self, Changeset, ColumnChange};
use crate::{AuditError, Operation, current_context};

/// The `table_name` of the audit row an erasure writes (its `record_id` is the subject's
/// key id, its operation `delete`, its column `data_key`, its old value
/// `{"destroyed": <whether a key existed>, "kind": <kind>}`).
pub const ERASURE_LABEL: &str = "audit_subject_key";

/// Erases the subject `subject` of kind `kind` (as declared with `#[audit(subject_kind)]`,
/// by default the audit label; `subject` is the subject column's value or the record's
/// key): deletes its data key and records the erasure in the trail, by the current actor,
/// in one transaction. Every personal value of the subject then reads as
/// [`ERASED`](super::ERASED); its other columns and other subjects are untouched. Costs
/// one keyed delete, however many audit rows the subject has. Returns whether the subject
/// had a key (the erasure is recorded either way).
pub async fn erase_subject<C>(
    db: &C,
    kind: &str,
    subject: impl Into<Value>,
) -> Result<bool, AuditError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let subject = super::subject_id(&ValueTuple::One(subject.into()))
        .ok_or_else(|| AuditError::Input("the subject to erase is NULL".into()))?;
    let key_id = super::kek::current()?.subject_key_id(kind, &subject);
    let txn = db.begin().await.map_err(AuditError::Database)?;
    let destroyed = super::keys::delete(&txn, &key_id).await?;
    let changeset = Changeset::begin(ERASURE_LABEL, &current_context());
    let row = ColumnChange {
        record_id: key_id,
        operation: Operation::Delete,
        column: "data_key",
        old: Some(serde_json::json!({ "destroyed": destroyed, "kind": kind })),
        new: None,
        subject: None,
    };
    record::write(&txn, &changeset, &[row]).await?;
    txn.commit().await.map_err(AuditError::Database)?;
    Ok(destroyed)
}
