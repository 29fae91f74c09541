//! What one [`AuditTransaction`](super::AuditTransaction) knows about itself: buffered
//! audit rows, the writes whose `before_*` hook ran and whose `after_*` hook has not yet,
//! open savepoints, and whether it can still commit.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sea_orm::{DbErr, QueryResult, Statement};

use crate::record::Batch;

/// Which write a piece of per-write state belongs to: the entity's type, the record id,
/// and whether it is a delete (a failed update's state never meets a later delete).
pub(crate) type WriteKey = (TypeId, String, bool);

/// Turns an old row read from the database into the record id the database stores, so a
/// key the database treats as equal but the caller spelled differently (`ALICE` for
/// `alice` under a case-insensitive collation) still finds its write.
pub(crate) type StoredKey = fn(&QueryResult) -> Option<String>;

/// The state of one audited transaction (shared by its savepoints).
#[derive(Default)]
pub(super) struct State {
    /// Buffered writes, in write order, and how many audit rows they hold.
    pub batches: Vec<Batch>,
    pub rows: usize,
    /// Writes begun (`before_*` ran) and not yet finished (`after_*`), by record: the old
    /// row once it is read.
    pub writes: HashMap<WriteKey, OldRow>,
    /// Old-row reads (SQLite) waiting to ride with the next statement.
    pub wanted: Vec<(WriteKey, Statement, Option<StoredKey>)>,
    /// Savepoints begun through [`AuditTransaction::begin`](super::AuditTransaction) and
    /// still open: while any is, audit rows are written at once, inside it.
    pub open_savepoints: usize,
    /// Set once a savepoint was made with raw SQL: the library cannot follow its
    /// `ROLLBACK TO`, so every later audit row is written at once.
    pub unbuffered: bool,
    /// Why this transaction must not commit, once something made that so.
    pub doomed: Option<String>,
    /// The actor and context last handed to database capture, if any was.
    pub db_scope: Option<ScopeKey>,
}

/// An actor and a context (as JSON text), as handed to database capture.
pub(super) type ScopeKey = (Option<String>, Option<String>);

/// The old row of a begun write.
pub(super) enum OldRow {
    /// To be read with the next statement (SQLite).
    Wanted,
    /// Read: the rows the key matched (none when the record did not exist), and how many
    /// statements have run since (the first is the write's own).
    Read {
        rows: Vec<QueryResult>,
        statements_after: u32,
    },
}

impl OldRow {
    /// Whether the write this belongs to may have changed the database: its own
    /// statement ran, and found the record.
    pub fn may_have_changed(&self) -> bool {
        matches!(self, OldRow::Read { rows, statements_after } if !rows.is_empty() && *statements_after > 0)
    }

    /// Whether the write this belongs to can no longer change anything (its record did
    /// not exist, and its statement already ran).
    pub fn is_spent(&self) -> bool {
        matches!(self, OldRow::Read { rows, statements_after } if rows.is_empty() && *statements_after > 0)
    }
}

impl State {
    /// Marks the transaction as unable to commit, keeping the first reason; returns the
    /// error to report.
    pub fn doom(&mut self, reason: impl Into<String>) -> DbErr {
        let reason = self.doomed.get_or_insert_with(|| reason.into());
        doomed_error(reason)
    }

    /// The error every statement gets once the transaction is doomed.
    pub fn check(&self) -> Result<(), DbErr> {
        match &self.doomed {
            Some(reason) => Err(doomed_error(reason)),
            None => Ok(()),
        }
    }

    /// Whether audit rows must be written at once instead of buffered.
    pub fn writes_through(&self) -> bool {
        self.open_savepoints > 0 || self.unbuffered
    }
}

/// The error of a doomed transaction.
fn doomed_error(reason: &str) -> DbErr {
    DbErr::Custom(format!(
        "audit: this transaction cannot commit: {reason}; it will be rolled back"
    ))
}

pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
