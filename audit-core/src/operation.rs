//! The kind of write an audit row records.

use std::fmt;
use std::str::FromStr;

use crate::AuditError;

/// The write an audit row records, stored as `insert`, `update` or `delete`.
///
/// ```
/// use audit_core::Operation;
///
/// assert_eq!(Operation::Update.as_str(), "update");
/// assert_eq!(Operation::Delete.to_string(), "delete");
/// assert_eq!("insert".parse::<Operation>()?, Operation::Insert);
/// assert!("upsert".parse::<Operation>().is_err());
/// # Ok::<(), audit_core::AuditError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Operation {
    /// A new row.
    Insert,
    /// A change of an existing row.
    Update,
    /// A removed row.
    Delete,
}

impl Operation {
    /// The text stored in `audit_log.operation`.
    ///
    /// ```
    /// assert_eq!(audit_core::Operation::Insert.as_str(), "insert");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = AuditError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "insert" => Ok(Operation::Insert),
            "update" => Ok(Operation::Update),
            "delete" => Ok(Operation::Delete),
            other => Err(AuditError::Input(format!(
                "unknown operation `{other}`: expected `insert`, `update` or `delete`"
            ))),
        }
    }
}
