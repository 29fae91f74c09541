#![cfg_attr(feature = "derive", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "derive"),
    doc = "A per-column audit trail for SeaORM 2. The guide and its examples need the \
           `derive` feature (on by default): `#[derive(Audited)]` is how entities are audited."
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bulk;
mod capture;
mod config;
mod context;
pub mod db_capture;
mod entity;
pub mod erasure;
mod error;
pub mod history;
mod hooks;
#[cfg(feature = "integrity")]
pub mod integrity;
mod key;
#[cfg(feature = "migration")]
#[cfg_attr(docsrs, doc(cfg(feature = "migration")))]
pub mod migration;
mod operation;
#[cfg(feature = "query-log")]
#[cfg_attr(docsrs, doc(cfg(feature = "query-log")))]
pub mod query_log;
mod record;
pub mod schema;
mod spans;
pub mod trail;
mod transaction;
pub mod value;
#[cfg(feature = "viewer")]
#[cfg_attr(docsrs, doc(cfg(feature = "viewer")))]
pub mod viewer;

pub use capture::limits;
pub use config::{AuditConfig, config, configure, is_enabled, set_enabled, without_auditing};
pub use context::{
    AuditContext, clear_actor_provider, current_actor, current_context, set_actor_provider,
    with_actor,
};
pub use entity::{AuditedEntity, CaptureMode, ColumnPolicy, REDACTED};
#[cfg(feature = "erasure")]
pub use erasure::erase_subject;
pub use error::{AuditError, DecodeError, audit_error};
pub use history::{
    AuditEntry, ColumnDiff, HistoryQuery, KeyOf, OnConflict, Snapshot, Version, all_history, as_of,
    at_version, diff_times, diff_versions, history, restore, restore_with, revert, table_history,
    versions,
};
pub use hooks::AuditHooks;
pub use key::record_id;
pub use operation::Operation;
pub use schema::{AuditTableOptions, create_audit_table, create_audit_table_with};
/// The attribute an [`AuditHooks`] impl needs (`#[audit_core::async_trait]`), re-exported
/// from SeaORM's.
#[doc(no_inline)]
pub use sea_orm::prelude::async_trait::async_trait;
pub use transaction::{
    AuditSavepoint, AuditTransaction, FLUSH_AT_ROWS, transaction, transaction_with_options,
};

#[cfg(feature = "derive")]
#[cfg_attr(docsrs, doc(cfg(feature = "derive")))]
pub use audit_derive::Audited;

/// Re-exports for generated code; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::capture::stash::{MAX_ENTRIES as MAX_STASHED, stashed_records};
    pub use crate::capture::{after_delete, after_save, before_delete, before_save};
    pub use crate::hooks::HooksEnabled;
    pub use crate::value::decode_column;
    pub use sea_orm;
    pub use sea_orm::prelude::async_trait::async_trait;
    pub use serde_json::Value as Json;
}
