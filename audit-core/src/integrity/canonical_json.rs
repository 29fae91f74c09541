//! The canonical encoding of a JSON value straight from its text: the same bytes as
//! encoding the parsed `serde_json::Value` (see `encode.rs`), without building the value.
//! serde_json's parser drives a visitor that writes the encoding as it reads.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Appends the canonical encoding of the JSON document `text` to `out`.
pub(crate) fn encode_json_text(out: &mut Vec<u8>, text: &str) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    Canonical(out).deserialize(&mut de)?;
    de.end()
}

/// Writes one value's encoding into the buffer it holds.
struct Canonical<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for Canonical<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

fn length(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_be_bytes());
}

fn string(out: &mut Vec<u8>, s: &str) {
    length(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

impl<'de> Visitor<'de> for Canonical<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push(b'n');
        Ok(())
    }

    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.0.push(if b { b't' } else { b'f' });
        Ok(())
    }

    fn visit_i64<E>(self, i: i64) -> Result<(), E> {
        self.0.push(b'i');
        self.0.extend_from_slice(&i.to_be_bytes());
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<(), E> {
        // As `Number::as_i64` does: a u64 that fits is encoded as an i64.
        match i64::try_from(u) {
            Ok(i) => self.visit_i64(i),
            Err(_) => {
                self.0.push(b'u');
                self.0.extend_from_slice(&u.to_be_bytes());
                Ok(())
            }
        }
    }

    fn visit_f64<E>(self, f: f64) -> Result<(), E> {
        // PostgreSQL's numeric has no negative zero.
        let f = if f == 0.0 { 0.0 } else { f };
        self.0.push(b'd');
        self.0.extend_from_slice(&f.to_bits().to_be_bytes());
        Ok(())
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        self.0.push(b's');
        string(self.0, s);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push(b'a');
        let count_at = self.0.len();
        length(self.0, 0);
        let mut count = 0;
        while seq.next_element_seed(Canonical(self.0))?.is_some() {
            count += 1;
        }
        self.0[count_at..count_at + 8].copy_from_slice(&(count as u64).to_be_bytes());
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Entries are encoded by sorted key; a repeated key keeps its last value, as in
        // the parsed map.
        let mut values = Vec::new();
        let mut entries: Vec<(Cow<'de, str>, std::ops::Range<usize>)> = Vec::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let start = values.len();
            map.next_value_seed(Canonical(&mut values))?;
            entries.push((key, start..values.len()));
        }
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut unique: Vec<&(Cow<str>, std::ops::Range<usize>)> = Vec::new();
        for entry in &entries {
            match unique.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => unique.push(entry),
            }
        }
        self.0.push(b'o');
        length(self.0, unique.len());
        for (key, range) in unique {
            string(self.0, key);
            self.0.extend_from_slice(&values[range.clone()]);
        }
        Ok(())
    }
}

/// An object key, borrowed from the text when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Cow<'de, str>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_value(text: &str) -> Vec<u8> {
        let value: serde_json::Value = serde_json::from_str(text).expect("json");
        let mut out = Vec::new();
        super::super::encode::json_value(&mut out, &value);
        out
    }

    fn by_text(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode_json_text(&mut out, text).expect("json");
        out
    }

    #[test]
    fn encodes_as_the_parsed_value_does() {
        let samples = [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "-0.0",
            "0.0",
            "1.0",
            "1e3",
            "-7",
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "3.141592653589793",
            "1e-320",
            r#""""#,
            r#""a\"b\\c\u00e9\ud83d\ude00""#,
            "[]",
            "[1, [2, [3, {}]], \"x\"]",
            "{}",
            r#"{"v": 1}"#,
            r#"{"b": [1, 2.5, null], "a": "x"}"#,
            r#"{ "a" : "x", "b" : [1, 2.5, null] }"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"b": 1, "a": {"z": 1, "y": [true]}, "b": {"c": null}, "é": 0, "e\u0301": 1}"#,
            r#"{"\u0061": 1, "a": 2}"#,
        ];
        for text in samples {
            assert_eq!(by_text(text), by_value(text), "{text}");
        }
    }

    #[test]
    fn rejects_what_the_parser_rejects() {
        for text in ["", "{", "[1,]", "1 2", "nul", "{\"a\" 1}", "\"\\x\""] {
            let mut out = Vec::new();
            assert!(encode_json_text(&mut out, text).is_err(), "{text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "{text}"
            );
        }
    }
}
