//! Primary keys: their text form in `audit_log.record_id` and their filter condition.

use sea_orm::sea_query::ValueTuple;
use sea_orm::{ColumnTrait, Condition, EntityTrait, Iterable, PrimaryKeyToColumn};
use serde_json::Value as Json;

use crate::value::{encode, stored_forms};

/// The text stored in `record_id`: a single key as its plain text (`42`, `abc`), a
/// composite key as a JSON array of its typed values (`[7,"eu"]`).
///
/// ```
/// use audit_core::record_id;
/// use sea_orm::sea_query::ValueTuple;
///
/// assert_eq!(record_id(&ValueTuple::One(42i32.into())), "42");
/// assert_eq!(record_id(&ValueTuple::One("abc".into())), "abc");
/// assert_eq!(record_id(&ValueTuple::Two(7i32.into(), "eu".into())), r#"[7,"eu"]"#);
/// ```
pub fn record_id(key: &ValueTuple) -> String {
    match key {
        ValueTuple::One(value) => match encode(value) {
            Json::String(text) => text,
            other => other.to_string(),
        },
        many => Json::Array(many.clone().into_iter().map(|v| encode(&v)).collect()).to_string(),
    }
}

/// The texts `record_id` may hold for `key`: [`record_id`], then the text earlier versions
/// wrote for the same key where it differs (a native-enum key in sea-query's serde form).
pub(crate) fn record_ids(key: &ValueTuple) -> Vec<String> {
    let text = |json: Json| match json {
        Json::String(text) => text,
        other => other.to_string(),
    };
    let mut ids = vec![record_id(key)];
    let earlier = match key {
        ValueTuple::One(value) => stored_forms(value)
            .into_iter()
            .skip(1)
            .map(text)
            .next_back(),
        many => {
            let forms: Vec<Vec<Json>> =
                many.clone().into_iter().map(|v| stored_forms(&v)).collect();
            forms.iter().any(|f| f.len() > 1).then(|| {
                Json::Array(
                    forms
                        .into_iter()
                        .map(|f| f.into_iter().last().unwrap_or(Json::Null))
                        .collect(),
                )
                .to_string()
            })
        }
    };
    if let Some(earlier) = earlier.filter(|e| !ids.contains(e)) {
        ids.push(earlier);
    }
    ids
}

/// `pk1 = ? AND pk2 = ? ...` for entity `E`.
pub(crate) fn primary_key_condition<E: EntityTrait>(key: ValueTuple) -> Condition {
    E::PrimaryKey::iter()
        .map(|pk| pk.into_column())
        .zip(key)
        .fold(Condition::all(), |cond, (column, value)| {
            cond.add(column.eq(value))
        })
}
