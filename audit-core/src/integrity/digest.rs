//! Signed digests: what a sealed block commits to, signed with Ed25519, and where they go.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{Value as Json, json};

use super::IntegrityError;
use super::merkle::Hash;
use super::store::parse_hash;

const DIGEST_DOMAIN: &[u8] = b"seaorm-audit:digest:v1";

/// What one sealed block commits to: the whole log up to and including it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// The trail's id, chosen at its first seal (a digest of another trail is refused).
    pub trail: String,
    /// The block number (from 0).
    pub block: u64,
    /// Rows in the Merkle log after this block.
    pub tree_size: u64,
    /// The Merkle log's root at `tree_size` (RFC 6962).
    pub root: Hash,
    /// The block's hash, which chains every earlier block.
    pub block_hash: Hash,
    /// When the block was sealed.
    pub sealed_at: DateTime<Utc>,
}

impl Digest {
    /// The signed message: a domain tag and every field, length-prefixed where variable.
    pub fn message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(DIGEST_DOMAIN);
        out.extend_from_slice(&(self.trail.len() as u64).to_be_bytes());
        out.extend_from_slice(self.trail.as_bytes());
        out.extend_from_slice(&self.block.to_be_bytes());
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.block_hash);
        out.extend_from_slice(&self.sealed_at.timestamp_micros().to_be_bytes());
        out
    }

    /// This digest signed with `key`.
    pub fn sign(self, key: &SigningKey) -> SignedDigest {
        let signature = key.sign(&self.message()).to_bytes();
        SignedDigest {
            digest: self,
            signature,
        }
    }
}

/// A [`Digest`] with its Ed25519 signature: the small thing to keep outside the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedDigest {
    /// What is signed.
    pub digest: Digest,
    /// The Ed25519 signature over [`Digest::message`].
    pub signature: [u8; 64],
}

impl SignedDigest {
    /// The digest, if its signature verifies with `key` (strict Ed25519 verification).
    pub fn verify(&self, key: &VerifyingKey) -> Result<&Digest, IntegrityError> {
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.digest.message(), &signature)
            .map_err(|_| IntegrityError::BadSignature {
                block: self.digest.block,
            })?;
        Ok(&self.digest)
    }

    /// One line of JSON, hashes and signature in hex.
    pub fn to_json(&self) -> String {
        let d = &self.digest;
        json!({
            "trail": d.trail,
            "block": d.block,
            "tree_size": d.tree_size,
            "root": hex::encode(d.root),
            "block_hash": hex::encode(d.block_hash),
            "sealed_at_us": d.sealed_at.timestamp_micros(),
            "signature": hex::encode(self.signature),
        })
        .to_string()
    }

    /// Parses [`SignedDigest::to_json`]'s form. The signature is not checked here.
    pub fn from_json(text: &str) -> Result<SignedDigest, IntegrityError> {
        let bad = |what: &str| IntegrityError::Input(format!("digest: bad or missing `{what}`"));
        let v: Json = serde_json::from_str(text).map_err(|_| bad("JSON"))?;
        let text = |k: &str| v.get(k).and_then(Json::as_str).ok_or_else(|| bad(k));
        let number = |k: &str| v.get(k).and_then(Json::as_u64).ok_or_else(|| bad(k));
        let hash = |k: &str| parse_hash(text(k)?).ok_or_else(|| bad(k));
        let micros = v
            .get("sealed_at_us")
            .and_then(Json::as_i64)
            .ok_or_else(|| bad("sealed_at_us"))?;
        let signature = hex::decode(text("signature")?)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("signature"))?;
        Ok(SignedDigest {
            digest: Digest {
                trail: text("trail")?.to_owned(),
                block: number("block")?,
                tree_size: number("tree_size")?,
                root: hash("root")?,
                block_hash: hash("block_hash")?,
                sealed_at: DateTime::from_timestamp_micros(micros)
                    .ok_or_else(|| bad("sealed_at_us"))?,
            },
            signature,
        })
    }
}

/// Where the sealer sends each new signed digest, so that a copy lives outside the
/// database. A closure `Fn(&SignedDigest) -> Result<(), String>` is a sink.
pub trait DigestSink: Send + Sync {
    /// Stores or sends one digest. An error stops the seal that made it (the block stays
    /// sealed; the next seal sends its own, newer digest).
    fn publish(&self, digest: &SignedDigest) -> Result<(), String>;
}

impl<F: Fn(&SignedDigest) -> Result<(), String> + Send + Sync> DigestSink for F {
    fn publish(&self, digest: &SignedDigest) -> Result<(), String> {
        self(digest)
    }
}

/// A sink appending one JSON line per digest to a file (synced to disk before the seal
/// returns). Point it at storage the database's users cannot rewrite.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSink {
    /// A sink appending to `path` (created if missing).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSink {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Every digest in a file written by a [`FileSink`], oldest first.
    pub fn read(path: impl AsRef<std::path::Path>) -> Result<Vec<SignedDigest>, IntegrityError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| IntegrityError::Input(format!("digest file: {e}")))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(SignedDigest::from_json)
            .collect()
    }
}

impl DigestSink for FileSink {
    fn publish(&self, digest: &SignedDigest) -> Result<(), String> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        writeln!(file, "{}", digest.to_json())
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest {
            trail: "t".into(),
            block: 3,
            tree_size: 10,
            root: [1; 32],
            block_hash: [2; 32],
            sealed_at: DateTime::from_timestamp_micros(1_700_000_000_000_001).expect("time"),
        }
    }

    #[test]
    fn signatures_verify_only_unchanged_with_the_right_key() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let signed = digest().sign(&key);
        assert_eq!(signed.verify(&key.verifying_key()).expect("ok"), &digest());
        let parsed = SignedDigest::from_json(&signed.to_json()).expect("parse");
        assert_eq!(parsed, signed);
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(matches!(
            signed.verify(&other),
            Err(IntegrityError::BadSignature { block: 3 })
        ));
        let mut edited = signed.clone();
        edited.digest.tree_size += 1;
        assert!(edited.verify(&key.verifying_key()).is_err());
        let mut edited = signed;
        edited.signature[5] ^= 1;
        assert!(edited.verify(&key.verifying_key()).is_err());
        assert!(matches!(
            SignedDigest::from_json("{\"trail\":1}"),
            Err(IntegrityError::Input(_))
        ));
    }
}
