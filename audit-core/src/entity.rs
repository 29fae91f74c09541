//! What `#[derive(Audited)]` tells the runtime about an entity.

use sea_orm::{EntityTrait, Value};
use serde_json::Value as Json;

use crate::AuditError;

/// How one column appears in the trail.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::{AuditedEntity, ColumnPolicy};
/// assert_eq!(ticket::Entity::column_policy(&ticket::Column::Status), ColumnPolicy::Record);
/// assert_eq!(ticket::Entity::column_policy(&ticket::Column::Secret), ColumnPolicy::Redact);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnPolicy {
    /// Old and new values are recorded.
    Record,
    /// The change is recorded, its values are replaced by [`REDACTED`].
    Redact,
    /// The column never appears in the trail.
    Skip,
    /// Old and new values are recorded sealed with the key of the record's data subject
    /// (`#[audit(personal)]`, see [`crate::erasure`]).
    Personal,
}

/// The marker stored instead of the old and new values of a `#[audit(redact)]` column.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// // `secret` is `#[audit(redact)]`: its change is recorded, its value is not.
/// let rows = audit_core::history::<ticket::Entity>(1).column(ticket::Column::Secret).fetch(&db).await?;
/// assert_eq!(rows[0].new_value, Some(audit_core::REDACTED.into()));
/// # Ok(())
/// # }
/// ```
pub const REDACTED: &str = "[redacted]";

/// Who writes an entity's audit rows, chosen on the model with `#[audit(capture = "...")]`.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::{AuditedEntity, CaptureMode};
/// // `ticket` has no `#[audit(capture = "database")]`: its hooks write the trail.
/// assert_eq!(ticket::Entity::capture_mode(), CaptureMode::Hooks);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureMode {
    /// The generated `ActiveModelBehavior` hooks (the default): writes through SeaORM's
    /// `ActiveModel` methods and [`crate::bulk`] are recorded.
    #[default]
    Hooks,
    /// Triggers in the database ([`crate::db_capture`], `capture = "database"`): every
    /// statement that changes the table is recorded, whatever sent it. The hooks write no
    /// rows; they hand the scope's actor and context to the database.
    Database,
}

/// An entity whose writes are audited. Implemented by `#[derive(Audited)]`; not meant to
/// be implemented by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not audited",
    label = "this entity has no audit trail",
    note = "add `#[derive(Audited)]` (`use audit_core::Audited;`) to the entity's `Model`, \
            next to `DeriveEntityModel`"
)]
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::AuditedEntity;
/// // Implemented by `#[derive(Audited)]` on `ticket::Model`.
/// assert_eq!(ticket::Entity::audit_table(), "ticket");
/// # Ok(())
/// # }
/// ```
pub trait AuditedEntity: EntityTrait {
    /// The label written to `audit_log.table_name` (the table name unless
    /// `#[audit(table = "...")]` renames it).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::AuditedEntity;
    /// assert_eq!(ticket::Entity::audit_table(), "ticket");
    /// # Ok(())
    /// # }
    /// ```
    fn audit_table() -> &'static str;

    /// How `column` appears in the trail.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::{AuditedEntity, ColumnPolicy};
    /// assert_eq!(ticket::Entity::column_policy(&ticket::Column::Note), ColumnPolicy::Record);
    /// # Ok(())
    /// # }
    /// ```
    fn column_policy(column: &Self::Column) -> ColumnPolicy;

    /// Decodes a recorded JSON value back into `column`'s value.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::AuditedEntity;
    /// let value = ticket::Entity::decode_value(&ticket::Column::Id, &serde_json::json!(1))?;
    /// assert_eq!(value, sea_orm::Value::Int(Some(1)));
    /// # Ok(())
    /// # }
    /// ```
    fn decode_value(column: &Self::Column, json: &Json) -> Result<Value, AuditError>;

    /// The data subject whose key seals `model`'s `#[audit(personal)]` columns; `None`
    /// (the default) for an entity without personal columns.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::AuditedEntity;
    /// // `ticket` has no `#[audit(personal)]` column, so no data subject.
    /// let t = ticket::Entity::find_by_id(1).one(&db).await?.unwrap();
    /// assert!(ticket::Entity::data_subject(&t).is_none());
    /// # Ok(())
    /// # }
    /// ```
    fn data_subject(model: &<Self as EntityTrait>::Model) -> Option<crate::erasure::Subject> {
        let _ = model;
        None
    }

    /// The kind of data subject when each record is its own subject (`#[audit(personal)]`
    /// columns without `subject` or `subject_with`), else `None`: a record's history then
    /// names its subject's key before reading, and reads that key once, not per row.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../doctest/person.rs");
    /// # fn main() {
    /// use audit_core::AuditedEntity;
    /// // `person` has `#[audit(subject_kind = "user")]` and no `subject`.
    /// assert_eq!(person::Entity::record_subject_kind(), Some("user"));
    /// # }
    /// ```
    fn record_subject_kind() -> Option<&'static str> {
        None
    }

    /// The data subject of the record an active model writes, where every column of it is
    /// set (else `None`): lets the write read the subject's key with its old row.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../doctest/person.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = person_db().await?;
    /// use audit_core::AuditedEntity;
    /// let ann: person::ActiveModel = person::Entity::find_by_id(1).one(&db).await?.unwrap().into();
    /// assert!(person::Entity::active_data_subject(&ann).is_some());
    /// assert!(person::Entity::active_data_subject(&Default::default()).is_none());
    /// # Ok(())
    /// # }
    /// ```
    fn active_data_subject(
        am: &<Self as EntityTrait>::ActiveModel,
    ) -> Option<crate::erasure::Subject> {
        let _ = am;
        None
    }

    /// Who writes the trail (`#[audit(capture = "database")]`; default: the hooks).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::{AuditedEntity, CaptureMode};
    /// assert_eq!(ticket::Entity::capture_mode(), CaptureMode::Hooks);
    /// # Ok(())
    /// # }
    /// ```
    fn capture_mode() -> CaptureMode {
        CaptureMode::Hooks
    }
}
