//! `#[derive(Audited)]`: per-column audit trail hooks for SeaORM entities.
//!
//! **It writes the entity's `ActiveModelBehavior` impl: remove your
//! `impl ActiveModelBehavior for ActiveModel {}`** (otherwise: `E0119 conflicting
//! implementations of trait ActiveModelBehavior`), and move hooks of your own to
//! `audit_core::AuditHooks` with `#[audit(hooks)]` on the model.
//!
//! Use it through `audit_core`, which re-exports it: `use audit_core::Audited;`.
//! The derive goes on the entity's `Model`, next to `DeriveEntityModel` (SeaORM's compact
//! entity format; the expanded format is refused with an error saying so).
//!
//! Struct attributes, `#[audit(...)]` on the `Model`:
//! - `table = "label"`: the name written to `audit_log.table_name` (default: the table name,
//!   `schema.table` when the entity has `#[sea_orm(schema_name = "schema")]`).
//! - `skip_timestamps`: leave the `created_at` and `updated_at` columns out of the trail.
//! - `hooks`: keep hooks of your own; implement `audit_core::AuditHooks` for `ActiveModel`
//!   (with `#[audit_core::async_trait]`). An `impl AuditHooks` without `hooks` does not compile.
//!
//! Field attributes:
//! - `#[audit(skip)]`: the column never appears in the trail.
//! - `#[audit(redact)]`: changes are recorded, values are replaced by a marker.
//!
//! ```ignore
//! #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
//! #[sea_orm(table_name = "account")]
//! #[audit(table = "accounts", skip_timestamps)]
//! pub struct Model {
//!     #[sea_orm(primary_key)]
//!     pub id: i32,
//!     #[audit(redact)]
//!     pub password_hash: String,
//!     #[audit(skip)]
//!     pub last_seen_at: Option<ChronoDateTimeUtc>,
//! }
//! ```

mod ast;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Generates the entity's `ActiveModelBehavior` impl, recording every insert, update and
/// delete in the audit trail: **remove your `impl ActiveModelBehavior for ActiveModel {}`**
/// (E0119 otherwise) and move hooks of your own to `audit_core::AuditHooks` with
/// `#[audit(hooks)]`. See the crate docs for the `#[audit(...)]` attributes.
#[proc_macro_derive(Audited, attributes(audit))]
pub fn derive_audited(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
