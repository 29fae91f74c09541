//! Sealing one value under a data key, bound to where it is stored.
//!
//! New values are sealed with AES-256-GCM and stored as the JSON string
//! `"aes256gcm:<key id>:<base64url of nonce, ciphertext and tag>"`; the JSON objects 0.1
//! stored (`{"c": <hex>, "enc": "xchacha20poly1305", "key": <key id>, "n": <hex>}`,
//! XChaCha20-Poly1305) still open.

use aes_gcm::Aes256Gcm;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, AeadCore, AeadInPlace, KeyInit, OsRng, Payload};
use serde_json::Value as Json;

use crate::AuditError;

/// What the stored text of a value sealed with AES-256-GCM starts with.
pub(crate) const PREFIX: &str = "aes256gcm:";
/// AES-256-GCM's nonce length.
const NONCE_LEN: usize = 12;
/// The tag length of both algorithms.
const TAG_LEN: usize = 16;
/// The `enc` of 0.1's sealed objects.
const XCHACHA: &str = "xchacha20poly1305";

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
        let mut ad = Vec::new();
        self.associated_data_into(key_id, &mut ad);
        ad
    }

    /// [`Place::associated_data`], written over `ad`.
    fn associated_data_into(&self, key_id: &str, ad: &mut Vec<u8>) {
        let parts = [
            key_id,
            self.table,
            self.record_id,
            self.column,
            self.changeset_id,
            self.side,
        ];
        ad.clear();
        for part in parts {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            ad.extend_from_slice(&len.to_be_bytes());
            ad.extend_from_slice(part.as_bytes());
        }
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
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(Json::String(format!(
        "{PREFIX}{key_id}:{}",
        URL_SAFE_NO_PAD.encode(sealed)
    )))
}

/// A stored value in sealed form.
pub(crate) struct Sealed<'a> {
    pub key_id: &'a str,
    xchacha: bool,
    /// Nonce, ciphertext and tag, opened in place.
    data: Vec<u8>,
}

impl Sealed<'_> {
    /// The same value under the key id `key_id` (the parsed id, kept elsewhere).
    pub(crate) fn with_key_id<'b>(self, key_id: &'b str) -> Sealed<'b> {
        Sealed {
            key_id,
            xchacha: self.xchacha,
            data: self.data,
        }
    }
}

/// `json` as a sealed value, `None` if it is not one.
pub(crate) fn parse(json: &Json) -> Option<Sealed<'_>> {
    match json {
        Json::String(text) => parse_str(text),
        Json::Object(object) => {
            let field = |name: &str| object.get(name)?.as_str();
            if object.len() != 4 || field("enc")? != XCHACHA {
                return None;
            }
            let mut data = hex::decode(field("n")?).ok()?;
            if data.len() != 24 {
                return None;
            }
            data.extend(hex::decode(field("c")?).ok()?);
            Some(Sealed {
                key_id: field("key")?,
                xchacha: true,
                data,
            })
        }
        _ => None,
    }
}

/// The stored text of a value (JSON) as a sealed value, read without building a JSON
/// value first; `None` if it is not one, or is spelled with escapes (see [`parse`]).
pub(crate) fn parse_text(text: &str) -> Option<Sealed<'_>> {
    parse_str(serde_json::from_str::<&str>(text).ok()?)
}

/// `"aes256gcm:<key id>:<base64url>"` as a sealed value.
fn parse_str(text: &str) -> Option<Sealed<'_>> {
    let (key_id, data) = text.strip_prefix(PREFIX)?.split_once(':')?;
    let data = URL_SAFE_NO_PAD.decode(data).ok()?;
    (data.len() >= NONCE_LEN + TAG_LEN).then_some(Sealed {
        key_id,
        xchacha: false,
        data,
    })
}

/// The value `sealed` holds, `None` if it does not open under `key` at `place`. Opens in
/// place, with `ad` as room for the associated data (one allocation per read, not three
/// per value).
pub(crate) fn open(
    key: &DataKey,
    sealed: &mut Sealed<'_>,
    place: &Place<'_>,
    ad: &mut Vec<u8>,
) -> Option<Json> {
    place.associated_data_into(sealed.key_id, ad);
    let nonce_len = if sealed.xchacha { 24 } else { NONCE_LEN };
    if sealed.data.len() < nonce_len + TAG_LEN {
        return None;
    }
    let (nonce, rest) = sealed.data.split_at_mut(nonce_len);
    let (msg, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
    let tag = <[u8; TAG_LEN]>::try_from(&*tag).ok()?.into();
    if sealed.xchacha {
        let nonce = <[u8; 24]>::try_from(&*nonce).ok()?.into();
        key.xchacha
            .decrypt_in_place_detached(&nonce, ad, msg, &tag)
            .ok()?;
    } else {
        let nonce = <[u8; NONCE_LEN]>::try_from(&*nonce).ok()?.into();
        key.aes
            .decrypt_in_place_detached(&nonce, ad, msg, &tag)
            .ok()?;
    }
    serde_json::from_slice(msg).ok()
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

    fn open_json(key: &DataKey, stored: &Json, place: &Place<'_>) -> Option<Json> {
        open(key, &mut parse(stored)?, place, &mut Vec::new())
    }

    #[test]
    fn sealed_values_open_only_where_they_were_sealed() {
        let key = DataKey::from_bytes(&[7; 32]).unwrap();
        let value = Json::from("ann@example.org");
        let stored = seal(&key, "k1", &PLACE, &value).unwrap();
        let text = stored.as_str().unwrap();
        assert!(text.starts_with("aes256gcm:k1:"), "{text}");
        assert!(!text.contains("ann@"));
        let stored_text = stored.to_string();
        let mut sealed = parse_text(&stored_text).unwrap();
        assert_eq!(
            open(&key, &mut sealed, &PLACE, &mut Vec::new()),
            Some(value.clone())
        );
        assert_eq!(open_json(&key, &stored, &PLACE), Some(value));
        let elsewhere = Place {
            side: "old",
            ..PLACE
        };
        assert_eq!(open_json(&key, &stored, &elsewhere), None);
        let other = DataKey::from_bytes(&[8; 32]).unwrap();
        assert_eq!(open_json(&other, &stored, &PLACE), None);
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
        assert_eq!(
            open_json(&key, &stored, &PLACE),
            Some("ann@example.org".into())
        );
    }

    #[test]
    fn other_text_is_not_a_sealed_value() {
        for text in [
            "aes256gcm:k1",
            "aes256gcm:k1:",
            "aes256gcm:k1:AAAA",
            "aes256gcm:k1:not base64!",
            "rot13:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(parse(&Json::from(text)).is_none(), "{text}");
        }
        let object = serde_json::json!({"c": "00", "enc": "rot13", "key": "k1", "n": "00"});
        assert!(parse(&object).is_none());
        let short_nonce = serde_json::json!({"c": "00", "enc": XCHACHA, "key": "k1", "n": "00"});
        assert!(parse(&short_nonce).is_none());
    }
}
