//! What can go wrong while sealing, verifying or proving.

use sea_orm::DbErr;

use super::merkle::ProofError;
use super::verify::Tamper;
use crate::AuditError;

/// An error of the integrity layer. [`IntegrityError::Tampered`] is the one verdict that
/// the trail is not what was sealed; every other variant means it could not be checked.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, IntegrityError, SigningKey};
/// # integrity::install(&db).await?;
/// # use audit_core::integrity::Sealer;
/// let key = SigningKey::from_bytes(&[7; 32]);
/// Sealer::new(key.clone()).seal(&db).await?;
/// // A digest of another trail (another database) cannot vouch for this one; the trail
/// // could not be checked, which is neither "verified" nor "tampered".
/// let elsewhere = demo_db().await?;
/// integrity::install(&elsewhere).await?;
/// let foreign = Sealer::new(key.clone()).seal(&elsewhere).await?;
/// let verdict = integrity::verify(&db, &key.verifying_key(), &foreign).await;
/// assert!(matches!(verdict, Err(IntegrityError::WrongTrail { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// The trail was changed after it was sealed.
    #[error("the audit trail was tampered with: {0}")]
    Tampered(Tamper),
    /// A digest's signature does not verify with the given key.
    #[error("digest of block {block} has an invalid signature")]
    BadSignature {
        /// The block the digest claims.
        block: u64,
    },
    /// A digest belongs to another trail than the one in the database.
    #[error("digest is of trail `{digest}`, the database holds trail `{database}`")]
    WrongTrail {
        /// The digest's trail id.
        digest: String,
        /// The database's trail id.
        database: String,
    },
    /// A proof does not verify.
    #[error("proof rejected: {0}")]
    Proof(#[from] ProofError),
    /// A row given with a proof is not the row the proof is for.
    #[error("the proof is for leaf {proof_leaf}, not for row {row}")]
    WrongRow {
        /// The row's id.
        row: i64,
        /// The leaf the proof is for.
        proof_leaf: u64,
    },
    /// The row or changeset is not sealed under the given digest.
    #[error("not sealed under this digest: {0}")]
    NotSealed(String),
    /// A digest or proof could not be parsed.
    #[error("malformed input: {0}")]
    Input(String),
    /// A stored block could not be read (an unparsable field).
    #[error("block {block} has a malformed `{what}`")]
    Malformed {
        /// The block number.
        block: i64,
        /// The field.
        what: String,
    },
    /// The digest sink refused a digest.
    #[error("digest sink failed: {0}")]
    Sink(String),
    /// A database statement failed.
    #[error("integrity database access failed: {0}")]
    Db(#[from] DbErr),
    /// An error of the audit layer.
    #[error(transparent)]
    Audit(#[from] AuditError),
}
