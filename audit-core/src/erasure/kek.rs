//! The key-encryption key: the application's secret that wraps every data key.

use std::future::Future;
use std::sync::{Arc, RwLock};

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::AuditError;

/// Wraps and unwraps the data keys of subjects, and names them. Implement it over a KMS
/// or an HSM; [`LocalKek`] is an in-process key from the application's configuration.
///
/// `wrap` and `unwrap` must bind `key_id` (as associated data or the like), so a wrapped
/// key copied to another subject's row does not unwrap.
#[crate::async_trait]
pub trait KeyEncryptionKey: Send + Sync {
    /// `data_key` wrapped for the subject whose key id is `key_id`.
    async fn wrap(&self, key_id: &str, data_key: &[u8]) -> Result<Vec<u8>, AuditError>;

    /// The data key `wrapped` holds; an error if this key did not wrap it for `key_id`.
    async fn unwrap(&self, key_id: &str, wrapped: &[u8]) -> Result<Vec<u8>, AuditError>;

    /// The key id of subject `subject` of kind `kind`: a keyed hash, so the key table
    /// holds no personal data. At most 64 characters.
    fn subject_key_id(&self, kind: &str, subject: &str) -> String;
}

/// A key-encryption key held in the process, from 32 bytes of configuration. It wraps
/// with XChaCha20-Poly1305 and names subjects with HMAC-SHA256, each under its own key
/// derived from the 32 bytes.
pub struct LocalKek {
    wrap: XChaCha20Poly1305,
    index: [u8; 32],
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl LocalKek {
    /// The key of these 32 secret bytes.
    pub fn new(secret: [u8; 32]) -> Self {
        let wrap = hmac(&secret, &[b"seaorm-audit kek wrap v1"]);
        LocalKek {
            wrap: XChaCha20Poly1305::new(&wrap.into()),
            index: hmac(&secret, &[b"seaorm-audit subject id v1"]),
        }
    }

    /// The key of 64 hex digits (32 bytes), e.g. from an environment variable.
    pub fn from_hex(hex_secret: &str) -> Result<Self, AuditError> {
        let bytes = hex::decode(hex_secret.trim()).ok();
        let secret: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
            AuditError::Config("a key-encryption key is 64 hex digits (32 bytes)".into())
        })?;
        Ok(LocalKek::new(secret))
    }
}

/// The secret is never printed.
impl std::fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKek(..)")
    }
}

#[crate::async_trait]
impl KeyEncryptionKey for LocalKek {
    async fn wrap(&self, key_id: &str, data_key: &[u8]) -> Result<Vec<u8>, AuditError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: data_key,
            aad: key_id.as_bytes(),
        };
        let mut wrapped = nonce.to_vec();
        wrapped.extend(
            self.wrap
                .encrypt(&nonce, payload)
                .map_err(|_| AuditError::Personal("wrapping a data key failed".into()))?,
        );
        Ok(wrapped)
    }

    async fn unwrap(&self, key_id: &str, wrapped: &[u8]) -> Result<Vec<u8>, AuditError> {
        let refused = || {
            AuditError::Personal(format!(
                "the key-encryption key does not open data key {key_id} (wrong key-encryption key?)"
            ))
        };
        let Some((nonce, sealed)) = wrapped.split_first_chunk::<24>() else {
            return Err(refused());
        };
        let payload = Payload {
            msg: sealed,
            aad: key_id.as_bytes(),
        };
        self.wrap
            .decrypt(&chacha20poly1305::XNonce::from(*nonce), payload)
            .map_err(|_| refused())
    }

    fn subject_key_id(&self, kind: &str, subject: &str) -> String {
        hex::encode(hmac(&self.index, &[kind.as_bytes(), subject.as_bytes()]))
    }
}

static PROCESS_KEK: RwLock<Option<Arc<dyn KeyEncryptionKey>>> = RwLock::new(None);

tokio::task_local! {
    static SCOPED_KEK: Arc<dyn KeyEncryptionKey>;
}

/// Sets (or with `None` removes) the process-wide key-encryption key. Until one is set,
/// audited writes of personal columns fail.
pub fn set_key_encryption_key(kek: Option<Arc<dyn KeyEncryptionKey>>) {
    *PROCESS_KEK.write().unwrap_or_else(|e| e.into_inner()) = kek;
}

/// Runs `fut` with `kek` as the key-encryption key of this task (in place of the
/// process-wide one), e.g. one per tenant.
pub async fn with_key_encryption_key<F: Future>(
    kek: Arc<dyn KeyEncryptionKey>,
    fut: F,
) -> F::Output {
    SCOPED_KEK.scope(kek, fut).await
}

/// The key-encryption key in force: this task's, else the process's.
pub(crate) fn current() -> Result<Arc<dyn KeyEncryptionKey>, AuditError> {
    if let Ok(kek) = SCOPED_KEK.try_with(Arc::clone) {
        return Ok(kek);
    }
    PROCESS_KEK
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| {
            AuditError::Personal(
                "no key-encryption key is configured (audit_core::erasure::set_key_encryption_key)"
                    .into(),
            )
        })
}
