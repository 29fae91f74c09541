use serde_json::json;

use super::*;

/// The shortcut agrees with comparing encodings: it never calls two values equal that
/// are stored differently.
#[test]
fn surely_equal_never_hides_a_stored_change() {
    let decimal = |s: &str| Value::Decimal(Some(s.parse().unwrap()));
    let at = |s: &str| {
        Value::ChronoDateTimeWithTimeZone(Some(chrono::DateTime::parse_from_rfc3339(s).unwrap()))
    };
    let pairs = [
        (Value::Double(Some(0.0)), Value::Double(Some(-0.0))),
        (Value::Double(Some(f64::NAN)), Value::Double(Some(f64::NAN))),
        (decimal("1.0"), decimal("1.00")),
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
            Value::Json(Some(Box::new(json!({"a": 1, "b": 2})))),
            Value::Json(Some(Box::new(json!({"b": 2, "a": 1})))),
        ),
    ];
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

/// Object keys come out sorted at every depth, whatever order the map keeps.
#[test]
fn json_is_written_with_sorted_keys() {
    let mut inner = serde_json::Map::new();
    inner.insert("z".into(), json!(1));
    inner.insert("a".into(), json!([{"y": 1, "b": 2}]));
    let mut outer = serde_json::Map::new();
    outer.insert("k".into(), Json::Object(inner));
    outer.insert("c".into(), json!(null));
    let text = encode(&Value::Json(Some(Box::new(Json::Object(outer))))).to_string();
    assert_eq!(text, r#"{"c":null,"k":{"a":[{"b":2,"y":1}],"z":1}}"#);
}

#[cfg(feature = "with-time")]
mod time {
    use sea_orm::sea_query::value::prelude::time::{
        Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset,
    };

    use super::*;

    fn chrono_twin(v: &Value) -> Value {
        let date =
            |d: &Date| chrono::NaiveDate::from_yo_opt(d.year(), u32::from(d.ordinal())).unwrap();
        let time = |t: &Time| {
            let (h, m, s, n) = t.as_hms_nano();
            chrono::NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), n).unwrap()
        };
        match v {
            Value::TimeDate(Some(d)) => date(d).into(),
            Value::TimeTime(Some(t)) => time(t).into(),
            Value::TimeDateTime(Some(t)) => {
                chrono::NaiveDateTime::new(date(&t.date()), time(&t.time())).into()
            }
            Value::TimeDateTimeWithTimeZone(Some(t)) => {
                let tz = chrono::FixedOffset::east_opt(t.offset().whole_seconds()).unwrap();
                chrono::NaiveDateTime::new(date(&t.date()), time(&t.time()))
                    .and_local_timezone(tz)
                    .unwrap()
                    .into()
            }
            other => panic!("not a time value: {other:?}"),
        }
    }

    /// time-crate values are written as the same text as their chrono twins, and decode
    /// back to themselves.
    #[test]
    fn time_values_are_written_like_chrono_values() {
        let date = Date::from_calendar_date(2024, Month::March, 5).unwrap();
        let values: Vec<Value> = vec![
            date.into(),
            Date::from_calendar_date(1, Month::January, 1)
                .unwrap()
                .into(),
            Time::from_hms_nano(10, 20, 30, 123_457_000).unwrap().into(),
            Time::from_hms(0, 0, 0).unwrap().into(),
            PrimitiveDateTime::new(date, Time::from_hms_nano(23, 59, 59, 999_999_999).unwrap())
                .into(),
            PrimitiveDateTime::new(date, Time::from_hms_milli(1, 2, 3, 4).unwrap())
                .assume_offset(UtcOffset::from_hms(5, 30, 0).unwrap())
                .into(),
            PrimitiveDateTime::new(date, Time::MIDNIGHT)
                .assume_utc()
                .into(),
            PrimitiveDateTime::new(date, Time::MIDNIGHT)
                .assume_offset(UtcOffset::from_hms(-9, -45, 0).unwrap())
                .into(),
        ];
        for value in values {
            let json = encode(&value);
            assert!(json.is_string(), "{value:?} -> {json}");
            assert_eq!(json, encode(&chrono_twin(&value)), "{value:?}");
            let back = match &value {
                Value::TimeDate(_) => decode::<Date>(&json),
                Value::TimeTime(_) => decode::<Time>(&json),
                Value::TimeDateTime(_) => decode::<PrimitiveDateTime>(&json),
                _ => decode::<OffsetDateTime>(&json),
            };
            let back = back.unwrap();
            assert_eq!(back, value);
            assert_eq!(format!("{back:?}"), format!("{value:?}"), "offset kept");
        }
        assert_eq!(encode(&Value::TimeDateTimeWithTimeZone(None)), Json::Null);
        assert_eq!(
            decode::<Option<OffsetDateTime>>(&Json::Null),
            Ok(Value::TimeDateTimeWithTimeZone(None))
        );
    }

    /// Rows written before this form (sea-query's serde form) still decode.
    #[test]
    fn earlier_time_forms_still_decode() {
        let date = Date::from_calendar_date(2024, Month::March, 5).unwrap();
        let old = serde_form(&Value::from(date));
        assert!(old.is_object(), "{old}");
        assert_eq!(decode::<Date>(&old), Ok(Value::from(date)));
        let forms = stored_forms(&Value::from(date));
        assert_eq!(forms, vec![json!("2024-03-05"), old]);
        let old_null = serde_form(&Value::TimeDateTimeWithTimeZone(None));
        assert_eq!(
            decode::<Option<OffsetDateTime>>(&old_null),
            Ok(Value::TimeDateTimeWithTimeZone(None))
        );
    }
}

#[cfg(feature = "postgres-array")]
mod arrays {
    use sea_orm::sea_query::ArrayType;

    use super::*;

    #[test]
    fn arrays_are_json_arrays_of_their_elements() {
        assert_eq!(encode(&Value::from(vec![1, -2])), json!([1, -2]));
        let uuids = vec![uuid::Uuid::nil()];
        assert_eq!(
            encode(&Value::from(uuids.clone())),
            json!(["00000000-0000-0000-0000-000000000000"])
        );
        assert_eq!(
            decode::<Vec<uuid::Uuid>>(&encode(&Value::from(uuids.clone()))),
            Ok(Value::from(uuids))
        );
        assert_eq!(encode(&Value::Array(ArrayType::Int, None)), Json::Null);
        assert_eq!(
            decode::<Option<Vec<i32>>>(&Json::Null),
            Ok(Value::Array(ArrayType::Int, None))
        );
        let with_nulls = Value::Array(
            ArrayType::String,
            Some(Box::new(vec![Value::from("a"), Value::String(None)])),
        );
        assert_eq!(encode(&with_nulls), json!(["a", null]));
        assert_eq!(
            decode::<Vec<Option<String>>>(&json!(["a", null])),
            Ok(with_nulls)
        );
        assert!(decode::<Vec<i32>>(&json!(["x"])).is_err());
        assert!(decode::<Vec<i32>>(&json!(1)).is_err());
        assert!(decode::<i32>(&json!([1])).is_err());
    }

    #[test]
    fn earlier_array_forms_still_decode() {
        let value = Value::from(vec![1, 2]);
        let old = serde_form(&value);
        assert_eq!(old, json!({"Array": ["Int", [{"Int": 1}, {"Int": 2}]]}));
        assert_eq!(decode::<Vec<i32>>(&old), Ok(value.clone()));
        assert_eq!(stored_forms(&value), vec![json!([1, 2]), old]);
        let old_null = json!({"Array": ["Int", null]});
        assert_eq!(
            decode::<Option<Vec<i32>>>(&old_null),
            Ok(Value::Array(ArrayType::Int, None))
        );
    }
}

/// Native enums are their string value; their serde form still decodes.
#[test]
fn native_enums_are_their_string() {
    use sea_orm::sea_query::{ArrayType, Enum, ValueType, ValueTypeErr};

    #[derive(Debug, PartialEq)]
    struct Tea(String);
    impl ValueType for Tea {
        fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
            match v {
                Value::Enum(OptionEnum::Some(e)) => Ok(Tea(e.value.to_string())),
                _ => Err(ValueTypeErr),
            }
        }
        fn type_name() -> String {
            "Tea".into()
        }
        fn array_type() -> ArrayType {
            ArrayType::Enum(Box::new("tea".into()))
        }
        fn column_type() -> sea_orm::sea_query::ColumnType {
            sea_orm::sea_query::ColumnType::Text
        }
    }
    let value = Value::Enum(OptionEnum::Some(Box::new(Enum {
        type_name: "tea".into(),
        value: "AfternoonTea".into(),
    })));
    assert_eq!(encode(&value), json!("AfternoonTea"));
    assert_eq!(decode::<Tea>(&json!("AfternoonTea")), Ok(value.clone()));
    assert_eq!(decode::<Tea>(&serde_form(&value)), Ok(value.clone()));
    assert_eq!(
        encode(&Value::Enum(OptionEnum::None("tea".into()))),
        Json::Null
    );
    assert_eq!(stored_forms(&value)[0], json!("AfternoonTea"));
    assert_eq!(stored_forms(&value).len(), 2);
}
