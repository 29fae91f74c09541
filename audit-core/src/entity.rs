//! What `#[derive(Audited)]` tells the runtime about an entity.

use sea_orm::{EntityTrait, Value};
use serde_json::Value as Json;

use crate::AuditError;

/// How one column appears in the trail.
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
pub const REDACTED: &str = "[redacted]";

/// Who writes an entity's audit rows, chosen on the model with `#[audit(capture = "...")]`.
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
pub trait AuditedEntity: EntityTrait {
    /// The label written to `audit_log.table_name` (the table name unless
    /// `#[audit(table = "...")]` renames it).
    fn audit_table() -> &'static str;

    /// How `column` appears in the trail.
    fn column_policy(column: &Self::Column) -> ColumnPolicy;

    /// Decodes a recorded JSON value back into `column`'s value.
    fn decode_value(column: &Self::Column, json: &Json) -> Result<Value, AuditError>;

    /// The data subject whose key seals `model`'s `#[audit(personal)]` columns; `None`
    /// (the default) for an entity without personal columns.
    fn data_subject(model: &<Self as EntityTrait>::Model) -> Option<crate::erasure::Subject> {
        let _ = model;
        None
    }

    /// Who writes the trail (`#[audit(capture = "database")]`; default: the hooks).
    fn capture_mode() -> CaptureMode {
        CaptureMode::Hooks
    }
}
