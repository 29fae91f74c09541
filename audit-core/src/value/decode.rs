//! Typed JSON back into a column's value, driven by the column's Rust type.

use std::borrow::Cow;

use sea_orm::sea_query::{ArrayType, ColumnType, Enum, OptionEnum, Value, ValueType};
use serde_json::Value as Json;

use crate::{AuditError, DecodeError};

/// Decodes typed JSON back into the value of a column of Rust type `T` (the form
/// [`encode`](super::encode) wrote, or the form an earlier version wrote).
///
/// JSON `null` decodes to SQL NULL where `T` is nullable; for a non-nullable JSON column
/// it is the JSON value `null`.
///
/// ```
/// use audit_core::value::decode;
/// use sea_orm::Value;
/// use serde_json::json;
///
/// let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
/// assert_eq!(decode::<chrono::NaiveDate>(&json!("2024-02-29")), Ok(Value::from(day)));
/// assert!(decode::<i8>(&json!(300)).is_err());
/// ```
pub fn decode<T: ValueType>(json: &Json) -> Result<Value, DecodeError> {
    decode_reason::<T>(json).map_err(DecodeError::new)
}

fn decode_reason<T: ValueType>(json: &Json) -> Result<Value, String> {
    let kind = T::array_type();
    let array = is_array(&T::column_type());
    let null = if array {
        null_array(&kind)
    } else {
        null_of(&kind)
    };
    if json.is_null() && T::try_from(null.clone()).is_ok() {
        return Ok(null);
    }
    let value = if json.is_object() && (array || !matches!(kind, ArrayType::Json)) {
        // Only earlier versions wrote an object for a value that is not JSON: sea-query's
        // serde form, `{"Variant": ..}`.
        serde_json::from_value(json.clone()).map_err(|e| format!("cannot parse {json}: {e}"))?
    } else if array {
        decode_array(kind, json)?
    } else {
        decode_as(&kind, json)?
    };
    T::try_from(value.clone())
        .map_err(|_| format!("{json} is not a valid value of this column"))?;
    Ok(value)
}

/// [`decode`], with an error naming the table and column.
///
/// ```
/// let err = audit_core::value::decode_column::<i32>("ticket", "id", &serde_json::json!("x"));
/// assert!(err.unwrap_err().to_string().contains("ticket.id"));
/// ```
pub fn decode_column<T: ValueType>(
    table: &str,
    column: &str,
    json: &Json,
) -> Result<Value, AuditError> {
    decode_reason::<T>(json).map_err(|reason| AuditError::Decode {
        table: table.to_owned(),
        column: column.to_owned(),
        reason,
    })
}

#[cfg(feature = "postgres-array")]
fn is_array(column: &ColumnType) -> bool {
    matches!(column, ColumnType::Array(_))
}

#[cfg(not(feature = "postgres-array"))]
fn is_array(_: &ColumnType) -> bool {
    false
}

#[cfg(feature = "postgres-array")]
fn null_array(kind: &ArrayType) -> Value {
    Value::Array(kind.clone(), None)
}

#[cfg(not(feature = "postgres-array"))]
fn null_array(kind: &ArrayType) -> Value {
    null_of(kind)
}

#[cfg(feature = "postgres-array")]
fn decode_array(kind: ArrayType, json: &Json) -> Result<Value, String> {
    let items = json
        .as_array()
        .ok_or_else(|| format!("expected an array, found {json}"))?
        .iter()
        .map(|item| {
            if item.is_null() {
                Ok(null_of(&kind))
            } else {
                decode_as(&kind, item)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(kind, Some(Box::new(items))))
}

#[cfg(not(feature = "postgres-array"))]
fn decode_array(kind: ArrayType, json: &Json) -> Result<Value, String> {
    decode_as(&kind, json)
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
        ArrayType::Enum(type_name) => Value::Enum(OptionEnum::Some(Box::new(Enum {
            type_name: (**type_name).clone(),
            value: Cow::Owned(text()?.to_owned()),
        }))),
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
        ArrayType::ChronoDate => Value::ChronoDate(Some(date(text()?)?)),
        ArrayType::ChronoTime => Value::ChronoTime(Some(time(text()?)?)),
        ArrayType::ChronoDateTime => Value::ChronoDateTime(Some(date_time(text()?)?)),
        ArrayType::ChronoDateTimeUtc => {
            Value::ChronoDateTimeUtc(Some(text()?.parse().map_err(|e| parse_err(&e))?))
        }
        ArrayType::ChronoDateTimeLocal => {
            Value::ChronoDateTimeLocal(Some(text()?.parse().map_err(|e| parse_err(&e))?))
        }
        ArrayType::ChronoDateTimeWithTimeZone => {
            Value::ChronoDateTimeWithTimeZone(Some(offset_date_time(text()?)?))
        }
        #[cfg(feature = "with-time")]
        ArrayType::TimeDate => Value::TimeDate(Some(super::time_crate::date(date(text()?)?)?)),
        #[cfg(feature = "with-time")]
        ArrayType::TimeTime => Value::TimeTime(Some(super::time_crate::time(time(text()?)?)?)),
        #[cfg(feature = "with-time")]
        ArrayType::TimeDateTime => {
            Value::TimeDateTime(Some(super::time_crate::date_time(date_time(text()?)?)?))
        }
        #[cfg(feature = "with-time")]
        ArrayType::TimeDateTimeWithTimeZone => Value::TimeDateTimeWithTimeZone(Some(
            super::time_crate::offset_date_time(offset_date_time(text()?)?)?,
        )),
        #[cfg(feature = "with-uuid")]
        ArrayType::Uuid => Value::Uuid(Some(text()?.parse().map_err(|e| parse_err(&e))?)),
        #[cfg(feature = "with-rust_decimal")]
        ArrayType::Decimal => Value::Decimal(Some(text()?.parse().map_err(|e| parse_err(&e))?)),
        #[cfg(feature = "with-bigdecimal")]
        ArrayType::BigDecimal => {
            Value::BigDecimal(Some(Box::new(text()?.parse().map_err(|e| parse_err(&e))?)))
        }
        #[allow(unreachable_patterns)]
        _ => serde_json::from_value(json.clone()).map_err(|e| parse_err(&e))?,
    })
}

fn date(text: &str) -> Result<chrono::NaiveDate, String> {
    text.parse()
        .map_err(|e| format!("cannot parse {text:?}: {e}"))
}

fn time(text: &str) -> Result<chrono::NaiveTime, String> {
    text.parse()
        .map_err(|e| format!("cannot parse {text:?}: {e}"))
}

fn date_time(text: &str) -> Result<chrono::NaiveDateTime, String> {
    text.parse()
        .map_err(|e| format!("cannot parse {text:?}: {e}"))
}

fn offset_date_time(text: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    chrono::DateTime::parse_from_rfc3339(text).map_err(|e| format!("cannot parse {text:?}: {e}"))
}

/// The SQL NULL of a column of kind `kind`.
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
        ArrayType::Enum(type_name) => Value::Enum(OptionEnum::None((**type_name).clone())),
        ArrayType::Char => Value::Char(None),
        ArrayType::Bytes => Value::Bytes(None),
        ArrayType::Json => Value::Json(None),
        ArrayType::ChronoDate => Value::ChronoDate(None),
        ArrayType::ChronoTime => Value::ChronoTime(None),
        ArrayType::ChronoDateTime => Value::ChronoDateTime(None),
        ArrayType::ChronoDateTimeUtc => Value::ChronoDateTimeUtc(None),
        ArrayType::ChronoDateTimeLocal => Value::ChronoDateTimeLocal(None),
        ArrayType::ChronoDateTimeWithTimeZone => Value::ChronoDateTimeWithTimeZone(None),
        #[cfg(feature = "with-time")]
        ArrayType::TimeDate => Value::TimeDate(None),
        #[cfg(feature = "with-time")]
        ArrayType::TimeTime => Value::TimeTime(None),
        #[cfg(feature = "with-time")]
        ArrayType::TimeDateTime => Value::TimeDateTime(None),
        #[cfg(feature = "with-time")]
        ArrayType::TimeDateTimeWithTimeZone => Value::TimeDateTimeWithTimeZone(None),
        #[cfg(feature = "with-uuid")]
        ArrayType::Uuid => Value::Uuid(None),
        #[cfg(feature = "with-rust_decimal")]
        ArrayType::Decimal => Value::Decimal(None),
        #[cfg(feature = "with-bigdecimal")]
        ArrayType::BigDecimal => Value::BigDecimal(None),
        #[allow(unreachable_patterns)]
        _ => Value::String(None),
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

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err(format!("{text:?} is not hex-encoded bytes"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}
