//! Sealing one value: XChaCha20-Poly1305 under a data key, bound to where it is stored.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::Value as Json;

use crate::AuditError;

/// The `enc` of a sealed value.
const ALGORITHM: &str = "xchacha20poly1305";

/// A subject's data key, ready to seal and open.
pub(crate) struct DataKey(XChaCha20Poly1305);

impl DataKey {
    /// 32 fresh random bytes.
    pub fn generate() -> Vec<u8> {
        XChaCha20Poly1305::generate_key(&mut OsRng).to_vec()
    }

    /// The key of `bytes` (32 of them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        XChaCha20Poly1305::new_from_slice(bytes)
            .map(DataKey)
            .map_err(|_| AuditError::Personal("a data key is not 32 bytes".into()))
    }
}

/// Where a value is stored: what its associated data binds it to.
pub(crate) struct Place<'a> {
    pub table: &'a str,
    pub record_id: &'a str,
    pub column: &'a str,
    pub changeset_id: &'a str,
    /// `old` or `new`.
    pub side: &'static str,
}

impl Place<'_> {
    /// The associated data: each part length-prefixed, so no two places share it.
    fn associated_data(&self, key_id: &str) -> Vec<u8> {
        let parts = [
            key_id,
            self.table,
            self.record_id,
            self.column,
            self.changeset_id,
            self.side,
        ];
        let mut ad = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
        for part in parts {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            ad.extend_from_slice(&len.to_be_bytes());
            ad.extend_from_slice(part.as_bytes());
        }
        ad
    }
}

/// `value` sealed under `key` (whose id is `key_id`) for `place`, in its stored form.
pub(crate) fn seal(
    key: &DataKey,
    key_id: &str,
    place: &Place<'_>,
    value: &Json,
) -> Result<Json, AuditError> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let plain = serde_json::to_vec(value).map_err(|e| AuditError::Personal(e.to_string()))?;
    let aad = place.associated_data(key_id);
    let ciphertext = key
        .0
        .encrypt(
            &nonce,
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .map_err(|_| AuditError::Personal("encryption failed".into()))?;
    let mut stored = serde_json::Map::new();
    stored.insert("c".into(), hex::encode(ciphertext).into());
    stored.insert("enc".into(), ALGORITHM.into());
    stored.insert("key".into(), key_id.into());
    stored.insert("n".into(), hex::encode(nonce).into());
    Ok(Json::Object(stored))
}

/// A stored value in sealed form.
pub(crate) struct Sealed<'a> {
    pub key_id: &'a str,
    nonce: [u8; 24],
    ciphertext: Vec<u8>,
}

impl Sealed<'_> {
    /// The same value under the key id `key_id` (the parsed id, kept elsewhere).
    pub(crate) fn with_key_id<'b>(self, key_id: &'b str) -> Sealed<'b> {
        Sealed {
            key_id,
            nonce: self.nonce,
            ciphertext: self.ciphertext,
        }
    }
}

/// `json` as a sealed value, `None` if it is not one.
pub(crate) fn parse(json: &Json) -> Option<Sealed<'_>> {
    let object = json.as_object()?;
    if object.len() != 4 || object.get("enc")?.as_str()? != ALGORITHM {
        return None;
    }
    let nonce = hex::decode(object.get("n")?.as_str()?)
        .ok()?
        .try_into()
        .ok()?;
    let ciphertext = hex::decode(object.get("c")?.as_str()?).ok()?;
    Some(Sealed {
        key_id: object.get("key")?.as_str()?,
        nonce,
        ciphertext,
    })
}

/// The value `sealed` holds, `None` if it does not open under `key` at `place`.
pub(crate) fn open(key: &DataKey, sealed: &Sealed<'_>, place: &Place<'_>) -> Option<Json> {
    let aad = place.associated_data(sealed.key_id);
    let plain = key
        .0
        .decrypt(
            &XNonce::from(sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: &aad,
            },
        )
        .ok()?;
    serde_json::from_slice(&plain).ok()
}
