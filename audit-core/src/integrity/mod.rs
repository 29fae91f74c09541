//! Tamper evidence for the audit trail (cargo feature `integrity`).
//!
//! A [`Sealer`] reads committed audit rows and seals them into blocks: each row's hash
//! over a canonical encoding of all its columns ([`SealedRow::leaf_hash`]) becomes a leaf
//! of one RFC 6962 Merkle log over the whole trail, and each block records exactly which
//! ids it covers, the log's root and size after it, and the hash of the previous block.
//! Every block yields a [`Digest`] signed with the application's Ed25519 key, handed to a
//! [`DigestSink`] so that a copy lives outside the database. [`verify`] recomputes
//! everything against trusted digests and names the first bad row or block
//! ([`Tamper`]); [`prove_row`] and [`prove_consistency`] build proofs that
//! [`verify_row`] and [`verify_consistency`] check offline.
//!
//! The write path is unchanged: the sealer works after commit, on its own tables
//! (`<audit table>_seal_blocks`, `<audit table>_seal_nodes`, made by [`install`]).

mod canonical_json;
mod digest;
mod encode;
mod error;
mod ids;
mod leaves;
pub mod merkle;
mod proof;
mod rows;
mod seal;
mod store;
mod verify;

pub use digest::{Digest, DigestSink, FileSink, SignedDigest};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use encode::SealedRow;
pub use error::IntegrityError;
pub use proof::{
    ConsistencyProof, InclusionProof, locate, prove_changeset, prove_consistency, prove_row,
    sealed_row, verify_consistency, verify_row,
};
pub use seal::{Sealer, SealerTask};
pub use store::{IntegrityOptions, install, install_with};
pub use verify::{Tamper, Verified, verify, verify_since};
