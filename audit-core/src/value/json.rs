//! JSON in one text form: object keys sorted, at every depth.
//!
//! `serde_json` keeps object keys sorted unless its `preserve_order` feature is on (any
//! crate in a build can turn it on), and then keeps them in insertion order. The trail
//! stores and compares JSON as text on SQLite and MySQL, so it sorts the keys itself.

use serde_json::{Map, Value as Json};

/// `json` with every object's keys sorted.
pub(crate) fn canonical(json: &Json) -> Json {
    match json {
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Whether `a` and `b` are written as the same text (`==` on JSON ignores key order).
pub(crate) fn same_text(a: &Json, b: &Json) -> bool {
    a == b && serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}
