//! Erasing a data subject: destroying its one data key, and recording that.

use sea_orm::sea_query::IntoValueTuple;
use sea_orm::{ConnectionTrait, TransactionSession, TransactionTrait};

use crate::record::{self, Changeset, ColumnChange};
use crate::{AuditError, Operation, current_context};

/// The `table_name` of the audit row an erasure writes (its `record_id` is the subject's
/// key id, its operation `delete`, its column `data_key`, its old value
/// `{"destroyed": <whether a key existed>, "kind": <kind>}`).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/person.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = person_db().await?;
/// audit_core::erasure::erase_subject(&db, "user", 1).await?;
/// let erasures = audit_core::all_history().table(audit_core::erasure::ERASURE_LABEL).fetch(&db).await?;
/// assert_eq!(erasures.len(), 1);
/// # Ok(())
/// # }
/// ```
pub const ERASURE_LABEL: &str = "audit_subject_key";

/// Erases the subject `subject` of kind `kind` (as declared with `#[audit(subject_kind)]`,
/// by default the audit label; `subject` is the subject column's value, the record's key
/// (a tuple for a composite key) or what the `subject_with` function returns): deletes
/// its data key and records the erasure in the trail, by the current actor, in one
/// transaction. Every personal value of the subject then reads as
/// [`ERASED`](super::ERASED); its other columns and other subjects are untouched. Costs
/// one keyed delete, however many audit rows the subject has. Returns whether the subject
/// had a key (the erasure is recorded either way).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/person.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = person_db().await?;
/// use audit_core::erasure::{ERASED, Personal, erase_subject};
/// let had_key = audit_core::with_actor("dpo", erase_subject(&db, "user", 1)).await?;
/// assert!(had_key);
/// let email = audit_core::history::<person::Entity>(1).column(person::Column::Email).fetch(&db).await?;
/// assert_eq!(email[0].new_value, Some(ERASED.into()));
/// assert_eq!(email[0].personal, Some(Personal::Erased));
/// let plan = audit_core::history::<person::Entity>(1).column(person::Column::Plan).fetch(&db).await?;
/// assert_eq!(plan[0].new_value, Some("free".into())); // not personal: untouched
/// # Ok(())
/// # }
/// ```
pub async fn erase_subject<C>(
    db: &C,
    kind: &str,
    subject: impl IntoValueTuple,
) -> Result<bool, AuditError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let subject = super::subject_id(&subject.into_value_tuple())
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
