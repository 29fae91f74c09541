//! The database-captured entities whose capture this process installed or checked.
//!
//! The hooks of an entity marked `#[audit(capture = "database")]` write no audit rows: the
//! triggers do. So before letting such a write through, the hooks make sure the triggers
//! were installed or checked at start-up ([`super::install`], [`super::check`]); a write
//! of an entity nobody did that for is refused, since its change might have no trail.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

static READY: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Mutex::default);

fn ready() -> MutexGuard<'static, HashSet<&'static str>> {
    READY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records that the capture of the entity labelled `label` is in place.
pub(super) fn mark(label: &'static str) {
    ready().insert(label);
}

/// Forgets it (the capture was removed).
pub(super) fn unmark(label: &str) {
    ready().remove(label);
}

/// Whether the capture of the entity labelled `label` was installed or checked.
pub(crate) fn is_ready(label: &str) -> bool {
    ready().contains(label)
}

/// Whether any entity is captured by the database in this process.
pub(crate) fn any() -> bool {
    !ready().is_empty()
}
