//! Reading the trail back: queries, versions, past states, diffs and undo.
//!
//! - [`history`], [`table_history`], [`all_history`]: a [`HistoryQuery`] of typed
//!   [`AuditEntry`] rows, filtered by column, actor, operation, changeset, time or value,
//!   in either order, in keyset pages.
//! - [`versions`](versions()): a record's writes as numbered [`Version`]s.
//! - [`as_of`](as_of()), [`at_version`]: the model as it was; [`snapshot_as_of`] and
//!   [`snapshot_at_version`] when some columns are redacted or skipped.
//! - [`diff_versions`], [`diff_times`]: which columns changed, from what, to what.
//! - [`revert`], [`restore`], [`restore_with`]: undo through the audited write path.
//!
//! A record's reads use the `(table_name, record_id, id)` index, so they cost the same
//! however large the trail grows.

mod as_of;
mod diff;
mod entry;
mod query;
mod state;
mod undo;
mod versions;

pub use as_of::{Snapshot, as_of, at_version, snapshot_as_of, snapshot_at_version};
pub use diff::{ColumnDiff, diff_times, diff_versions};
pub use entry::AuditEntry;
pub use query::{HistoryQuery, KeyOf, Page, all_history, history, table_history};
pub use undo::{OnConflict, restore, restore_with, revert};
pub use versions::{Change, Version, versions};
