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
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// let digests = Sealer::new(SigningKey::from_bytes(&[7; 32])).seal(&db).await?;
/// let digest = &digests[0].digest;
/// assert_eq!((digest.block, digest.tree_size), (0, 5));
/// # Ok(())
/// # }
/// ```
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
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity::{self, Sealer, SigningKey};
    /// # integrity::install(&db).await?;
    /// let digest = Sealer::new(SigningKey::from_bytes(&[7; 32])).seal(&db).await?.remove(0).digest;
    /// let mut other = digest.clone();
    /// other.tree_size += 1;
    /// assert_ne!(digest.message(), other.message());
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity::{self, Sealer, SigningKey};
    /// # integrity::install(&db).await?;
    /// let key = SigningKey::from_bytes(&[7; 32]);
    /// let digest = Sealer::new(key.clone()).seal(&db).await?.remove(0).digest;
    /// let signed = digest.clone().sign(&key);
    /// assert_eq!(signed.verify(&key.verifying_key())?, &digest);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sign(self, key: &SigningKey) -> SignedDigest {
        let signature = key.sign(&self.message()).to_bytes();
        SignedDigest {
            digest: self,
            signature,
        }
    }
}

/// A [`Digest`] with its Ed25519 signature: the small thing to keep outside the database.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// let key = SigningKey::from_bytes(&[7; 32]);
/// let signed = Sealer::new(key.clone()).seal(&db).await?.remove(0);
/// // Kept outside the database as one JSON line; read back and checked.
/// let kept = integrity::SignedDigest::from_json(&signed.to_json())?;
/// assert_eq!(kept.verify(&key.verifying_key())?, &signed.digest);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedDigest {
    /// What is signed.
    pub digest: Digest,
    /// The Ed25519 signature over [`Digest::message`].
    pub signature: [u8; 64],
}

impl SignedDigest {
    /// The digest, if its signature verifies with `key` (strict Ed25519 verification).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity::{self, IntegrityError, Sealer, SigningKey};
    /// # integrity::install(&db).await?;
    /// let signed = Sealer::new(SigningKey::from_bytes(&[7; 32])).seal(&db).await?.remove(0);
    /// let stranger = SigningKey::from_bytes(&[8; 32]).verifying_key();
    /// assert!(matches!(signed.verify(&stranger), Err(IntegrityError::BadSignature { block: 0 })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn verify(&self, key: &VerifyingKey) -> Result<&Digest, IntegrityError> {
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.digest.message(), &signature)
            .map_err(|_| IntegrityError::BadSignature {
                block: self.digest.block,
            })?;
        Ok(&self.digest)
    }

    /// One line of JSON, hashes and signature in hex.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity::{self, Sealer, SigningKey};
    /// # integrity::install(&db).await?;
    /// let signed = Sealer::new(SigningKey::from_bytes(&[7; 32])).seal(&db).await?.remove(0);
    /// let line = signed.to_json();
    /// assert!(!line.contains('\n'));
    /// assert_eq!(integrity::SignedDigest::from_json(&line)?, signed);
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// use audit_core::integrity::{IntegrityError, SignedDigest};
    /// assert!(matches!(SignedDigest::from_json("{\"block\": 1}"), Err(IntegrityError::Input(_))));
    /// ```
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
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use std::sync::{Arc, Mutex};
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// // A closure is a sink: here it keeps the digests in memory; yours would send them away.
/// let kept = Arc::new(Mutex::new(Vec::new()));
/// let sink = {
///     let kept = kept.clone();
///     move |digest: &integrity::SignedDigest| {
///         kept.lock().unwrap().push(digest.to_json());
///         Ok(())
///     }
/// };
/// Sealer::new(SigningKey::from_bytes(&[7; 32])).with_sink(sink).seal(&db).await?;
/// assert_eq!(kept.lock().unwrap().len(), 1);
/// # Ok(())
/// # }
/// ```
pub trait DigestSink: Send + Sync {
    /// Stores or sends one digest. An error stops the seal that made it (the block stays
    /// sealed; the next seal sends its own, newer digest).
    ///
    /// ```
    /// use audit_core::integrity::DigestSink;
    /// struct Refuse;
    /// impl DigestSink for Refuse {
    ///     fn publish(&self, _digest: &audit_core::integrity::SignedDigest) -> Result<(), String> {
    ///         Err("the digest store is down".into()) // the seal that made it fails
    ///     }
    /// }
    /// # let _ = Refuse;
    /// ```
    fn publish(&self, digest: &SignedDigest) -> Result<(), String>;
}

impl<F: Fn(&SignedDigest) -> Result<(), String> + Send + Sync> DigestSink for F {
    fn publish(&self, digest: &SignedDigest) -> Result<(), String> {
        self(digest)
    }
}

/// A sink appending one JSON line per digest to a file (synced to disk before the seal
/// returns). Point it at storage the database's users cannot rewrite.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, FileSink, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// let path = std::env::temp_dir().join(format!("doc-digests-{}.jsonl", std::process::id()));
/// let key = SigningKey::from_bytes(&[7; 32]);
/// Sealer::new(key.clone()).with_sink(FileSink::new(&path)).seal(&db).await?;
/// let kept = FileSink::read(&path)?;
/// integrity::verify(&db, &key.verifying_key(), &kept).await?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSink {
    /// A sink appending to `path` (created if missing).
    ///
    /// ```
    /// let _sink = audit_core::integrity::FileSink::new("/var/lib/app/digests.jsonl");
    /// ```
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSink {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Every digest in a file written by a [`FileSink`], oldest first.
    ///
    /// ```
    /// let missing = audit_core::integrity::FileSink::read("/nonexistent/digests.jsonl");
    /// assert!(missing.unwrap_err().to_string().contains("digest file"));
    /// ```
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
