#![doc = include_str!("../README.md")]

mod ast;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Generates the entity's `ActiveModelBehavior` impl, recording every insert, update and
/// delete in the audit trail: **remove your `impl ActiveModelBehavior for ActiveModel {}`**
/// (E0119 otherwise) and move hooks of your own to `audit_core::AuditHooks` with
/// `#[audit(hooks)]`. See the crate docs for the `#[audit(...)]` attributes.
///
/// ```
/// use audit_core::{Audited, AuditedEntity, ColumnPolicy};
/// use sea_orm::entity::prelude::*;
///
/// #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
/// #[sea_orm(table_name = "account")]
/// #[audit(table = "accounts")]
/// pub struct Model {
///     #[sea_orm(primary_key)]
///     pub id: i32,
///     pub email: String,
///     #[audit(redact)]
///     pub password_hash: String,
///     #[audit(skip)]
///     pub last_seen: Option<i64>,
/// }
///
/// #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// pub enum Relation {}
///
/// assert_eq!(Entity::audit_table(), "accounts");
/// assert_eq!(Entity::column_policy(&Column::Email), ColumnPolicy::Record);
/// assert_eq!(Entity::column_policy(&Column::PasswordHash), ColumnPolicy::Redact);
/// assert_eq!(Entity::column_policy(&Column::LastSeen), ColumnPolicy::Skip);
/// ```
#[proc_macro_derive(Audited, attributes(audit))]
pub fn derive_audited(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
