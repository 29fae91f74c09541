//! Lossless conversion between column values and the typed JSON stored in the trail.
//!
//! Every value is stored in one form, whatever crate or feature produced it:
//!
//! | column value | stored as |
//! | --- | --- |
//! | SQL NULL (any type) | `null` |
//! | `bool` | `true` / `false` |
//! | integers (`i8` to `u64`) | a JSON number |
//! | `f32`, `f64` | a JSON number; `"NaN"`, `"inf"`, `"-inf"`, `"-0"` and the digits JSON parsers reject (near `f64::MAX`) as text |
//! | `String`, `char`, string active enums | a JSON string |
//! | native database enums (`rs_type = "Enum"`) | the variant's string value: `"AfternoonTea"` |
//! | integer active enums | a JSON number (the enum's `num_value`) |
//! | `Vec<u8>` | lowercase hex text: `"00ff7f"` |
//! | `Json` and `FromJsonQueryResult` types | the JSON itself, object keys sorted (one text form, so value filters compare equal JSON equal on every backend) |
//! | dates (chrono `NaiveDate`, time `Date`) | `"2024-02-29"` |
//! | times (chrono `NaiveTime`, time `Time`) | `"12:30:45.123456"` (0, 3, 6 or 9 fractional digits, as needed) |
//! | date-times without offset (chrono `NaiveDateTime`, time `PrimitiveDateTime`) | `"2024-02-29T12:30:45.123456"` |
//! | date-times with offset (chrono `DateTime<Tz>`, time `OffsetDateTime`) | RFC 3339: `"2024-02-29T12:30:45.123456+05:30"`, `Z` for UTC |
//! | `rust_decimal::Decimal`, `bigdecimal::BigDecimal` | its exact text, scale kept: `"12.50"` |
//! | `Uuid` (and the `uuid::fmt` forms) | hyphenated lowercase text |
//! | arrays (`Vec<T>` of any type above, PostgreSQL arrays or JSON columns) | a JSON array of the elements' forms; `null` elements where an element is NULL |
//!
//! Decoding is driven by the column's Rust type, so every value round-trips exactly.
//! Rows written by earlier versions, which stored time-crate values, native enums,
//! arrays and big decimals in sea-query's serde form (`{"TimeDate":[2024,65]}`,
//! `{"Enum":{"Some":{..}}}`, `{"Array":["Int",[..]]}`), still decode, and value filters
//! ([`HistoryQuery::new_value`](crate::HistoryQuery::new_value)) find both forms.
//! `sea_query`'s own `sea_value_to_json_value` is not used: it turns decimals into floats,
//! timestamps into SQL literals and panics on non-UTF-8 bytes.
//!
//! Each optional type is encoded as above when audit-core's feature of the same name as
//! SeaORM's is on (`with-time`, `with-uuid`, `with-rust_decimal`, `with-bigdecimal`,
//! `postgres-array`); a type whose feature is off in audit-core but on in SeaORM is stored
//! in sea-query's serde form, and decoded from it.
//!
//! ```
//! use audit_core::value::{decode, encode};
//! use sea_orm::Value;
//! use serde_json::json;
//!
//! let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
//! assert_eq!(encode(&Value::from(day)), json!("2024-02-29"));
//! assert_eq!(encode(&Value::Int(None)), json!(null));
//! assert_eq!(decode::<Option<i64>>(&json!(null)), Ok(Value::BigInt(None)));
//! ```

mod decode;
mod json;
#[cfg(feature = "with-time")]
mod time_crate;

use sea_orm::sea_query::{OptionEnum, Value};
use serde_json::Value as Json;

pub use decode::{decode, decode_column};
pub(crate) use json::canonical;

/// Encodes one column value as typed JSON (see the [module docs](self) for each type's form).
///
/// ```
/// # use sea_orm::Value;
/// # use serde_json::json;
/// let key_order = json!({"b": 2, "a": 1});
/// assert_eq!(audit_core::value::encode(&Value::from(key_order)).to_string(), r#"{"a":1,"b":2}"#);
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
        Value::Enum(OptionEnum::Some(v)) => Json::String(v.value.to_string()),
        Value::Enum(OptionEnum::None(_)) => Json::Null,
        Value::Bytes(v) => opt(v, |v| Json::String(hex(v))),
        Value::Json(v) => opt(v, |v| canonical(v)),
        Value::ChronoDate(v) => opt(v, |v| Json::String(v.to_string())),
        Value::ChronoTime(v) => opt(v, |v| Json::String(naive_time(v))),
        Value::ChronoDateTime(v) => opt(v, |v| Json::String(naive_date_time(v))),
        Value::ChronoDateTimeUtc(v) => opt(v, |v| rfc3339(v).unwrap_or_else(|| serde_form(value))),
        Value::ChronoDateTimeLocal(v) => {
            opt(v, |v| rfc3339(v).unwrap_or_else(|| serde_form(value)))
        }
        Value::ChronoDateTimeWithTimeZone(v) => {
            opt(v, |v| rfc3339(v).unwrap_or_else(|| serde_form(value)))
        }
        #[cfg(feature = "with-time")]
        Value::TimeDate(v) => opt(v, |v| time_crate::encode_date(*v)),
        #[cfg(feature = "with-time")]
        Value::TimeTime(v) => opt(v, |v| time_crate::encode_time(*v)),
        #[cfg(feature = "with-time")]
        Value::TimeDateTime(v) => opt(v, |v| time_crate::encode_date_time(*v)),
        #[cfg(feature = "with-time")]
        Value::TimeDateTimeWithTimeZone(v) => opt(v, |v| time_crate::encode_offset(*v)),
        #[cfg(feature = "with-uuid")]
        Value::Uuid(v) => opt(v, |v| Json::String(v.to_string())),
        #[cfg(feature = "with-rust_decimal")]
        Value::Decimal(v) => opt(v, |v| Json::String(v.to_string())),
        #[cfg(feature = "with-bigdecimal")]
        Value::BigDecimal(v) => opt(v, |v| Json::String(v.to_string())),
        #[cfg(feature = "postgres-array")]
        Value::Array(_, v) => opt(v, |items| Json::Array(items.iter().map(encode).collect())),
        #[allow(unreachable_patterns)]
        other => serde_form(other),
    }
}

/// Every form `value` may be stored in: its [`encode`]d form, then the forms earlier
/// versions wrote for it (sea-query's serde form, JSON with its keys in insertion order),
/// so a value filter finds rows of either.
pub(crate) fn stored_forms(value: &Value) -> Vec<Json> {
    let current = encode(value);
    let earlier = match value {
        Value::Json(Some(json)) => Some((**json).clone()),
        Value::Enum(_) => Some(serde_form(value)),
        #[cfg(feature = "with-time")]
        Value::TimeDate(_)
        | Value::TimeTime(_)
        | Value::TimeDateTime(_)
        | Value::TimeDateTimeWithTimeZone(_) => Some(serde_form(value)),
        #[cfg(feature = "with-bigdecimal")]
        Value::BigDecimal(_) => Some(serde_form(value)),
        #[cfg(feature = "postgres-array")]
        Value::Array(..) => Some(serde_form(value)),
        _ => None,
    };
    let mut forms = vec![current];
    if let Some(earlier) = earlier
        && !forms.iter().any(|f| json::same_text(f, &earlier))
    {
        forms.push(earlier);
    }
    forms
}

/// sea-query's serde form (`{"Variant": ..}`): what earlier versions stored for the types
/// they had no form of their own for, and the form of types whose feature is off here.
fn serde_form(value: &Value) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

/// Whether two column values are equal *and* encode identically, decided without encoding
/// them (the cheap test before [`encode`]-and-compare in a diff). `false` means "not known":
/// floats (`-0.0 == 0.0`, NaN), offsets (equal instants) and decimals (`1.0 == 1.00`) are
/// equal by `==` yet stored differently, so they are always left to the encoded comparison.
pub(crate) fn surely_equal(a: &Option<Value>, b: &Option<Value>) -> bool {
    let exact = |v: &Value| match v {
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
        | Value::Enum(_)
        | Value::Bytes(_)
        | Value::Json(_)
        | Value::ChronoDate(_)
        | Value::ChronoTime(_)
        | Value::ChronoDateTime(_)
        | Value::ChronoDateTimeUtc(_) => true,
        #[cfg(feature = "with-time")]
        Value::TimeDate(_) | Value::TimeTime(_) | Value::TimeDateTime(_) => true,
        #[cfg(feature = "with-uuid")]
        Value::Uuid(_) => true,
        _ => false,
    };
    match (a, b) {
        (Some(a), Some(b)) => exact(a) && a == b,
        _ => false,
    }
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

fn naive_time(v: &chrono::NaiveTime) -> String {
    v.format("%H:%M:%S%.f").to_string()
}

fn naive_date_time(v: &chrono::NaiveDateTime) -> String {
    v.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

/// RFC 3339 text, `Z` for UTC; `None` for the years RFC 3339 cannot write (before 0 or
/// after 9999), which keep sea-query's serde form.
fn rfc3339<Tz: chrono::TimeZone>(v: &chrono::DateTime<Tz>) -> Option<Json>
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::Datelike;
    (0..=9999)
        .contains(&v.year())
        .then(|| Json::String(v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
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

#[cfg(test)]
mod tests;
