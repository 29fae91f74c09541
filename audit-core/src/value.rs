//! Lossless conversion between column values and the typed JSON stored in the trail.
//!
//! Numbers stay numbers, strings stay strings and JSON columns are stored as the JSON
//! itself. Where JSON has no exact type the value is a string in a fixed format:
//! decimals (`"12.50"`), UUIDs, dates and times (RFC 3339 with nanoseconds),
//! non-finite floats (`"NaN"`, `"inf"`, `"-inf"`), `"-0"`, floats so large that JSON
//! parsers reject their digits (near `f64::MAX`) and bytes (lowercase hex). A SQL
//! NULL is JSON `null`. Decoding is driven by the column's Rust type, so every value
//! round-trips exactly. `sea_query`'s own `sea_value_to_json_value` is not used: it
//! turns decimals into floats, timestamps into SQL literals and panics on non-UTF-8 bytes.

use sea_orm::sea_query::{ArrayType, Value, ValueType};
use serde_json::Value as Json;

use crate::{AuditError, DecodeError};

/// Encodes one column value as typed JSON.
///
/// ```
/// use audit_core::value::encode;
/// use sea_orm::Value;
/// use serde_json::json;
///
/// assert_eq!(encode(&Value::BigInt(Some(42))), json!(42));
/// assert_eq!(encode(&Value::Double(Some(f64::NAN))), json!("NaN"));
/// assert_eq!(encode(&Value::Bytes(Some(vec![0xde, 0xad]))), json!("dead"));
/// assert_eq!(encode(&Value::String(None)), json!(null)); // SQL NULL
/// ```
pub fn encode(value: &Value) -> Json {
    match value {
        Value::Bool(v) => opt(v, |v| Json::Bool(*v)),
        Value::TinyInt(v) => opt(v, |v| Json::from(*v)),
        Value::SmallInt(v) => opt(v, |v| Json::from(*v)),
        Value::Int(v) => opt(v, |v| Json::from(*v)),
        Value::BigInt(v) => opt(v, |v| Json::from(*v)),
        Value::TinyUnsigned(v) => opt(v, |v| Json::from(*v)),
        Value::SmallUnsigned(v) => opt(v, |v| Json::from(*v)),
        Value::Unsigned(v) => opt(v, |v| Json::from(*v)),
        Value::BigUnsigned(v) => opt(v, |v| Json::from(*v)),
        Value::Float(v) => opt(v, |v| float(f64::from(*v), v.to_string())),
        Value::Double(v) => opt(v, |v| float(*v, v.to_string())),
        Value::String(v) => opt(v, |v| Json::String(v.clone())),
        Value::Char(v) => opt(v, |v| Json::String(v.to_string())),
        Value::Bytes(v) => opt(v, |v| Json::String(hex(v))),
        Value::Json(v) => opt(v, |v| (**v).clone()),
        Value::ChronoDate(v) => opt(v, |v| Json::String(v.to_string())),
        Value::ChronoTime(v) => opt(v, |v| Json::String(v.format("%H:%M:%S%.f").to_string())),
        Value::ChronoDateTime(v) => opt(v, |v| {
            Json::String(v.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
        }),
        Value::ChronoDateTimeUtc(v) => opt(v, |v| Json::String(rfc3339(v))),
        Value::ChronoDateTimeLocal(v) => opt(v, |v| Json::String(rfc3339(v))),
        Value::ChronoDateTimeWithTimeZone(v) => opt(v, |v| Json::String(rfc3339(v))),
        #[cfg(feature = "with-uuid")]
        Value::Uuid(v) => opt(v, |v| Json::String(v.to_string())),
        #[cfg(feature = "with-rust_decimal")]
        Value::Decimal(v) => opt(v, |v| Json::String(v.to_string())),
        other => serde_json::to_value(other).unwrap_or(Json::Null),
    }
}

/// Whether two column values are equal *and* encode identically, decided without encoding
/// them (the cheap test before [`encode`]-and-compare in a diff). `false` means "not known":
/// floats (`-0.0 == 0.0`, NaN), offsets (equal instants) and decimals (`1.0 == 1.00`) are
/// equal by `==` yet stored differently, so they are always left to the encoded comparison.
pub(crate) fn surely_equal(a: &Option<Value>, b: &Option<Value>) -> bool {
    let exact = |v: &Value| {
        matches!(
            v,
            Value::Bool(_)
                | Value::TinyInt(_)
                | Value::SmallInt(_)
                | Value::Int(_)
                | Value::BigInt(_)
                | Value::TinyUnsigned(_)
                | Value::SmallUnsigned(_)
                | Value::Unsigned(_)
                | Value::BigUnsigned(_)
                | Value::String(_)
                | Value::Char(_)
                | Value::Bytes(_)
                | Value::Json(_)
                | Value::ChronoDate(_)
                | Value::ChronoTime(_)
                | Value::ChronoDateTime(_)
                | Value::ChronoDateTimeUtc(_)
        ) || is_uuid(v)
    };
    match (a, b) {
        (Some(a), Some(b)) => exact(a) && a == b,
        _ => false,
    }
}

/// Decodes typed JSON back into the value of a column of Rust type `T`.
///
/// JSON `null` decodes to SQL NULL where `T` is nullable; for a non-nullable JSON column
/// it is the JSON value `null`.
///
/// ```
/// use audit_core::value::{decode, encode};
/// use sea_orm::Value;
/// use serde_json::json;
///
/// assert_eq!(decode::<i64>(&json!(42))?, Value::BigInt(Some(42)));
/// assert_eq!(decode::<Option<String>>(&json!(null))?, Value::String(None));
/// let nan = decode::<f64>(&encode(&Value::Double(Some(f64::NAN))))?;
/// assert!(matches!(nan, Value::Double(Some(v)) if v.is_nan()));
/// assert!(decode::<i8>(&json!(300)).is_err());
/// # Ok::<(), audit_core::DecodeError>(())
/// ```
pub fn decode<T: ValueType>(json: &Json) -> Result<Value, DecodeError> {
    let kind = T::array_type();
    if json.is_null() && T::try_from(null_of(&kind)).is_ok() {
        return Ok(null_of(&kind));
    }
    let value = decode_as(&kind, json).map_err(DecodeError::new)?;
    T::try_from(value.clone())
        .map_err(|_| DecodeError::new(format!("{json} is not a valid value of this column")))?;
    Ok(value)
}

/// [`decode`], with an error naming the table and column.
///
/// ```
/// use audit_core::{AuditError, value::decode_column};
///
/// let err = decode_column::<i32>("account", "balance", &serde_json::json!("x")).unwrap_err();
/// assert!(matches!(&err, AuditError::Decode { column, .. } if column == "balance"));
/// assert!(err.to_string().starts_with("cannot decode audited value of `account.balance`"));
/// ```
pub fn decode_column<T: ValueType>(
    table: &str,
    column: &str,
    json: &Json,
) -> Result<Value, AuditError> {
    decode::<T>(json).map_err(|err| AuditError::Decode {
        table: table.to_owned(),
        column: column.to_owned(),
        reason: err.reason().to_owned(),
    })
}

fn decode_as(kind: &ArrayType, json: &Json) -> Result<Value, String> {
    if json.is_null() && !matches!(kind, ArrayType::Json) {
        return Err("null is not a valid value of this non-nullable column".to_owned());
    }
    let text = || {
        json.as_str()
            .ok_or_else(|| format!("expected a string, found {json}"))
    };
    let parse_err = |e: &dyn std::fmt::Display| format!("cannot parse {json}: {e}");
    Ok(match kind {
        ArrayType::Bool => Value::Bool(Some(json.as_bool().ok_or("expected a boolean")?)),
        ArrayType::TinyInt => Value::TinyInt(Some(int(json)?)),
        ArrayType::SmallInt => Value::SmallInt(Some(int(json)?)),
        ArrayType::Int => Value::Int(Some(int(json)?)),
        ArrayType::BigInt => Value::BigInt(Some(int(json)?)),
        ArrayType::TinyUnsigned => Value::TinyUnsigned(Some(uint(json)?)),
        ArrayType::SmallUnsigned => Value::SmallUnsigned(Some(uint(json)?)),
        ArrayType::Unsigned => Value::Unsigned(Some(uint(json)?)),
        ArrayType::BigUnsigned => Value::BigUnsigned(Some(uint(json)?)),
        ArrayType::Float => Value::Float(Some(unfloat(json)? as f32)),
        ArrayType::Double => Value::Double(Some(unfloat(json)?)),
        ArrayType::String => Value::String(Some(text()?.to_owned())),
        ArrayType::Char => {
            let s = text()?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Value::Char(Some(c)),
                _ => return Err(format!("expected one character, found {json}")),
            }
        }
        ArrayType::Bytes => Value::Bytes(Some(unhex(text()?)?)),
        ArrayType::Json => Value::Json(Some(Box::new(json.clone()))),
        ArrayType::ChronoDate => {
            Value::ChronoDate(Some(text()?.parse().map_err(|e| parse_err(&e))?))
        }
        ArrayType::ChronoTime => {
            Value::ChronoTime(Some(text()?.parse().map_err(|e| parse_err(&e))?))
        }
        ArrayType::ChronoDateTime => {
            Value::ChronoDateTime(Some(text()?.parse().map_err(|e| parse_err(&e))?))
        }
        ArrayType::ChronoDateTimeUtc => {
            Value::ChronoDateTimeUtc(Some(text()?.parse().map_err(|e| parse_err(&e))?))
        }
        ArrayType::ChronoDateTimeLocal => {
            Value::ChronoDateTimeLocal(Some(text()?.parse().map_err(|e| parse_err(&e))?))
        }
        ArrayType::ChronoDateTimeWithTimeZone => {
            let parsed =
                chrono::DateTime::parse_from_rfc3339(text()?).map_err(|e| parse_err(&e))?;
            Value::ChronoDateTimeWithTimeZone(Some(parsed))
        }
        #[cfg(feature = "with-uuid")]
        ArrayType::Uuid => Value::Uuid(Some(text()?.parse().map_err(|e| parse_err(&e))?)),
        #[cfg(feature = "with-rust_decimal")]
        ArrayType::Decimal => Value::Decimal(Some(text()?.parse().map_err(|e| parse_err(&e))?)),
        _ => serde_json::from_value(json.clone()).map_err(|e| parse_err(&e))?,
    })
}

fn null_of(kind: &ArrayType) -> Value {
    match kind {
        ArrayType::Bool => Value::Bool(None),
        ArrayType::TinyInt => Value::TinyInt(None),
        ArrayType::SmallInt => Value::SmallInt(None),
        ArrayType::Int => Value::Int(None),
        ArrayType::BigInt => Value::BigInt(None),
        ArrayType::TinyUnsigned => Value::TinyUnsigned(None),
        ArrayType::SmallUnsigned => Value::SmallUnsigned(None),
        ArrayType::Unsigned => Value::Unsigned(None),
        ArrayType::BigUnsigned => Value::BigUnsigned(None),
        ArrayType::Float => Value::Float(None),
        ArrayType::Double => Value::Double(None),
        ArrayType::String => Value::String(None),
        ArrayType::Char => Value::Char(None),
        ArrayType::Bytes => Value::Bytes(None),
        ArrayType::Json => Value::Json(None),
        ArrayType::ChronoDate => Value::ChronoDate(None),
        ArrayType::ChronoTime => Value::ChronoTime(None),
        ArrayType::ChronoDateTime => Value::ChronoDateTime(None),
        ArrayType::ChronoDateTimeUtc => Value::ChronoDateTimeUtc(None),
        ArrayType::ChronoDateTimeLocal => Value::ChronoDateTimeLocal(None),
        ArrayType::ChronoDateTimeWithTimeZone => Value::ChronoDateTimeWithTimeZone(None),
        #[cfg(feature = "with-uuid")]
        #[cfg(feature = "with-uuid")]
        ArrayType::Uuid => Value::Uuid(None),
        #[cfg(feature = "with-rust_decimal")]
        ArrayType::Decimal => Value::Decimal(None),
        _ => Value::String(None),
    }
}

/// Whether `v` is a UUID (compared exactly, like the other types of `surely_equal`).
fn is_uuid(v: &Value) -> bool {
    #[cfg(feature = "with-uuid")]
    return matches!(v, Value::Uuid(_));
    #[cfg(not(feature = "with-uuid"))]
    return {
        let _ = v;
        false
    };
}

fn opt<T>(value: &Option<T>, f: impl FnOnce(&T) -> Json) -> Json {
    value.as_ref().map_or(Json::Null, f)
}

fn float(v: f64, text: String) -> Json {
    // Shortest text that round-trips in the value's own width, read back as a number.
    // Non-finite values, the finite ones whose plain digits JSON parsers reject as out of
    // range (near `f64::MAX`, which would otherwise become `null`) and `-0` (PostgreSQL's
    // `jsonb` drops the sign of a zero) stay text.
    let negative_zero = v == 0.0 && v.is_sign_negative();
    match serde_json::from_str::<Json>(&text) {
        Ok(number) if v.is_finite() && !negative_zero => number,
        _ => Json::String(text),
    }
}

fn unfloat(json: &Json) -> Result<f64, String> {
    match json {
        Json::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a float")),
        Json::String(s) => s.parse().map_err(|_| format!("{s:?} is not a float")),
        other => Err(format!("expected a number, found {other}")),
    }
}

fn int<T: TryFrom<i64>>(json: &Json) -> Result<T, String> {
    json.as_i64()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("{json} is out of range for this integer column"))
}

fn uint<T: TryFrom<u64>>(json: &Json) -> Result<T, String> {
    json.as_u64()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("{json} is out of range for this integer column"))
}

fn rfc3339<Tz: chrono::TimeZone>(v: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err(format!("{text:?} is not hex-encoded bytes"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut agrees with comparing encodings: it never calls two values equal that
    /// are stored differently.
    #[test]
    fn surely_equal_never_hides_a_stored_change() {
        let at = |s: &str| {
            Value::ChronoDateTimeWithTimeZone(Some(
                chrono::DateTime::parse_from_rfc3339(s).unwrap(),
            ))
        };
        let mut pairs = vec![
            (Value::Double(Some(0.0)), Value::Double(Some(-0.0))),
            (Value::Double(Some(f64::NAN)), Value::Double(Some(f64::NAN))),
            (at("2026-01-01T00:00:00Z"), at("2026-01-01T01:00:00+01:00")),
            (Value::BigInt(Some(7)), Value::BigInt(Some(7))),
            (
                Value::String(Some("a".into())),
                Value::String(Some("a".into())),
            ),
            (
                Value::String(Some("a".into())),
                Value::String(Some("b".into())),
            ),
            (Value::String(None), Value::String(None)),
            (
                Value::Json(Some(Box::new(serde_json::json!({"a": 1, "b": 2})))),
                Value::Json(Some(Box::new(serde_json::json!({"b": 2, "a": 1})))),
            ),
        ];
        #[cfg(feature = "with-rust_decimal")]
        {
            let decimal = |s: &str| Value::Decimal(Some(s.parse().unwrap()));
            pairs.push((decimal("1.0"), decimal("1.00")));
        }
        for (a, b) in pairs {
            if surely_equal(&Some(a.clone()), &Some(b.clone())) {
                assert_eq!(encode(&a), encode(&b), "{a:?} vs {b:?}");
            }
        }
        assert!(!surely_equal(
            &Some(Value::Double(Some(0.0))),
            &Some(Value::Double(Some(-0.0)))
        ));
        assert!(surely_equal(
            &Some(Value::BigInt(Some(7))),
            &Some(Value::BigInt(Some(7)))
        ));
        assert!(!surely_equal(&None, &Some(Value::BigInt(Some(7)))));
    }
}
