//! Sealing one value under a data key, bound to where it is stored: AES-256-GCM for new
//! writes; XChaCha20-Poly1305 values (sealed by 0.1) still open.

use aes_gcm::Aes256Gcm;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use serde_json::Value as Json;

use crate::AuditError;

/// The algorithm a sealed value names in its `enc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    /// AES-256-GCM, 12-byte random nonces: what new values are sealed with (its
    /// authentication key is set up once per data key, not once per value).
    Aes256Gcm,
    /// XChaCha20-Poly1305, 24-byte nonces: opened only.
    XChaCha20Poly1305,
}

impl Algorithm {
    fn named(enc: &str) -> Option<Self> {
        match enc {
            "aes256gcm" => Some(Algorithm::Aes256Gcm),
            "xchacha20poly1305" => Some(Algorithm::XChaCha20Poly1305),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Aes256Gcm => "aes256gcm",
            Algorithm::XChaCha20Poly1305 => "xchacha20poly1305",
        }
    }
}

/// A subject's data key, ready to seal and open.
pub(crate) struct DataKey {
    aes: Aes256Gcm,
    xchacha: XChaCha20Poly1305,
}

impl DataKey {
    /// 32 fresh random bytes.
    pub fn generate() -> Vec<u8> {
        Aes256Gcm::generate_key(&mut OsRng).to_vec()
    }

    /// The key of `bytes` (32 of them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        let wrong = |_| AuditError::Personal("a data key is not 32 bytes".into());
        Ok(DataKey {
            aes: Aes256Gcm::new_from_slice(bytes).map_err(wrong)?,
            xchacha: XChaCha20Poly1305::new_from_slice(bytes).map_err(wrong)?,
        })
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
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let plain = serde_json::to_vec(value).map_err(|e| AuditError::Personal(e.to_string()))?;
    let aad = place.associated_data(key_id);
    let payload = Payload {
        msg: &plain,
        aad: &aad,
    };
    let ciphertext = key
        .aes
        .encrypt(&nonce, payload)
        .map_err(|_| AuditError::Personal("encryption failed".into()))?;
    let mut stored = serde_json::Map::new();
    stored.insert("c".into(), hex::encode(ciphertext).into());
    stored.insert("enc".into(), Algorithm::Aes256Gcm.name().into());
    stored.insert("key".into(), key_id.into());
    stored.insert("n".into(), hex::encode(nonce).into());
    Ok(Json::Object(stored))
}

/// A stored value in sealed form.
pub(crate) struct Sealed<'a> {
    pub key_id: &'a str,
    nonce: Nonce,
    ciphertext: Vec<u8>,
}

/// A sealed value's nonce, of its algorithm's length.
enum Nonce {
    Aes256Gcm([u8; 12]),
    XChaCha20Poly1305([u8; 24]),
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

/// The stored form's four fields, borrowed from its text.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredForm<'a> {
    c: &'a str,
    enc: &'a str,
    key: &'a str,
    n: &'a str,
}

impl<'a> StoredForm<'a> {
    fn sealed(self) -> Option<Sealed<'a>> {
        let algorithm = Algorithm::named(self.enc)?;
        // (Decoded into buffers of the right size: `hex::decode` grows its `Vec` as it
        // goes, a fifth of what sealed values added to a history read.)
        let nonce = match algorithm {
            Algorithm::Aes256Gcm => Nonce::Aes256Gcm(decode_array(self.n)?),
            Algorithm::XChaCha20Poly1305 => Nonce::XChaCha20Poly1305(decode_array(self.n)?),
        };
        let mut ciphertext = vec![0; self.c.len() / 2];
        hex::decode_to_slice(self.c, &mut ciphertext).ok()?;
        Some(Sealed {
            key_id: self.key,
            nonce,
            ciphertext,
        })
    }
}

/// `json` as a sealed value, `None` if it is not one.
pub(crate) fn parse(json: &Json) -> Option<Sealed<'_>> {
    let object = json.as_object()?;
    let field = |name: &str| object.get(name)?.as_str();
    if object.len() != 4 {
        return None;
    }
    StoredForm {
        c: field("c")?,
        enc: field("enc")?,
        key: field("key")?,
        n: field("n")?,
    }
    .sealed()
}

/// The stored text of a value as a sealed value, read without building its JSON object;
/// `None` if it is not one (or is spelled with escapes: see [`parse`]).
pub(crate) fn parse_text(text: &str) -> Option<Sealed<'_>> {
    serde_json::from_str::<StoredForm<'_>>(text).ok()?.sealed()
}

/// The `N` bytes `hex` spells, `None` if it spells anything else.
fn decode_array<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let mut bytes = [0; N];
    hex::decode_to_slice(hex, &mut bytes).ok()?;
    Some(bytes)
}

/// The value `sealed` holds, `None` if it does not open under `key` at `place`.
pub(crate) fn open(key: &DataKey, sealed: &Sealed<'_>, place: &Place<'_>) -> Option<Json> {
    let aad = place.associated_data(sealed.key_id);
    let payload = Payload {
        msg: &sealed.ciphertext,
        aad: &aad,
    };
    let plain = match sealed.nonce {
        Nonce::Aes256Gcm(nonce) => key.aes.decrypt(&nonce.into(), payload),
        Nonce::XChaCha20Poly1305(nonce) => key.xchacha.decrypt(&nonce.into(), payload),
    }
    .ok()?;
    serde_json::from_slice(&plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE: Place<'static> = Place {
        table: "person",
        record_id: "1",
        column: "email",
        changeset_id: "c1",
        side: "new",
    };

    #[test]
    fn sealed_values_open_only_where_they_were_sealed() {
        let key = DataKey::from_bytes(&[7; 32]).unwrap();
        let value = Json::from("ann@example.org");
        let stored = seal(&key, "k1", &PLACE, &value).unwrap();
        assert_eq!(stored["enc"], "aes256gcm");
        assert!(!stored.to_string().contains("ann@"));
        let sealed = parse(&stored).unwrap();
        assert_eq!(open(&key, &sealed, &PLACE), Some(value));
        let elsewhere = Place {
            side: "old",
            ..PLACE
        };
        assert_eq!(open(&key, &sealed, &elsewhere), None);
        let other = DataKey::from_bytes(&[8; 32]).unwrap();
        assert_eq!(open(&other, &sealed, &PLACE), None);
    }

    /// A value 0.1 sealed with XChaCha20-Poly1305 (its stored form, built here with the
    /// same associated data) still opens.
    #[test]
    fn values_sealed_with_xchacha20poly1305_still_open() {
        let bytes = [7; 32];
        let nonce = [3; 24];
        let ciphertext = XChaCha20Poly1305::new_from_slice(&bytes)
            .unwrap()
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: br#""ann@example.org""#,
                    aad: &PLACE.associated_data("k1"),
                },
            )
            .unwrap();
        let stored = serde_json::json!({
            "c": hex::encode(ciphertext),
            "enc": "xchacha20poly1305",
            "key": "k1",
            "n": hex::encode(nonce),
        });
        let key = DataKey::from_bytes(&bytes).unwrap();
        let sealed = parse(&stored).unwrap();
        assert_eq!(open(&key, &sealed, &PLACE), Some("ann@example.org".into()));
    }

    #[test]
    fn a_nonce_of_the_wrong_length_is_not_a_sealed_value() {
        let key = DataKey::from_bytes(&[7; 32]).unwrap();
        let mut stored = seal(&key, "k1", &PLACE, &Json::from(1)).unwrap();
        stored["enc"] = "xchacha20poly1305".into();
        assert!(parse(&stored).is_none());
        stored["enc"] = "rot13".into();
        assert!(parse(&stored).is_none());
    }
}
