#![doc = include_str!("../README.md")]

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
