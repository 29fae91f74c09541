//! A record's state as the trail knows it, folded from its versions.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::versions::Version;
use crate::Operation;

/// A record after some of its versions.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RecordState {
    /// Whether the record existed.
    pub exists: bool,
    /// The recorded columns' values (as recorded: redacted columns hold the marker).
    pub columns: HashMap<String, ColumnState>,
}

/// One column's value and the write that last set it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ColumnState {
    pub value: Json,
    pub changeset_id: String,
    /// Why a personal value cannot be given back (`erased`, `unreadable`), if it cannot.
    pub lost: Option<&'static str>,
}

impl RecordState {
    /// The state after `versions`, applied in order.
    pub fn after<'a>(versions: impl IntoIterator<Item = &'a Version>) -> Self {
        let mut state = RecordState::default();
        for version in versions {
            state.apply(version);
        }
        state
    }

    fn apply(&mut self, version: &Version) {
        match version.operation {
            Operation::Delete => {
                self.exists = false;
                self.columns.clear();
                return;
            }
            Operation::Insert => self.columns.clear(),
            Operation::Update => {}
        }
        self.exists = true;
        for change in &version.changes {
            if let Some(value) = &change.new_value {
                self.columns.insert(
                    change.column.clone(),
                    ColumnState {
                        value: value.clone(),
                        changeset_id: version.changeset_id.clone(),
                        lost: change.personal.and_then(crate::erasure::Personal::lost),
                    },
                );
            }
        }
    }

    /// The column's state, `None` when the record did not exist or the column is unknown.
    pub fn column(&self, column: &str) -> Option<&ColumnState> {
        self.columns.get(column).filter(|_| self.exists)
    }
}
