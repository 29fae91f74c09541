//! The property of `tests/history_props.rs` (after any sequence of writes, `as_of` and
//! `at_version` give back every state the database held) over SeaORM's default types that
//! property does not hold (small integers, `f32`, JSON, chrono, `rust_decimal`) and the
//! types beyond: native and active enums, every `uuid::fmt` form, `Option<Vec<T>>` of a JSON
//! struct, and (PostgreSQL) arrays of every element kind.

mod common;
#[path = "props/as_of.rs"]
mod props;
#[path = "fidelity/types.rs"]
mod types;

use std::fmt::Debug;

use common::{Backend, create_table};
use props::{ops, property};
use proptest::prelude::*;
use proptest::sample::select;
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, DatabaseConnection, Iterable, Schema};
use serde_json::json;
use types::{Category, Labels, Shade, Step, Tea, classic, collection, variety};
use uuid::Uuid;

/// Creates the `tea` type where the backend has named enum types (PostgreSQL).
async fn create_tea_type(db: &DatabaseConnection) {
    let schema = Schema::new(db.get_database_backend());
    if let Some(create) = schema.create_enum_from_active_enum::<Tea>() {
        db.execute(&create).await.unwrap();
    }
}

fn tea() -> impl Strategy<Value = Tea> {
    select(Tea::iter().collect::<Vec<_>>())
}

fn category() -> impl Strategy<Value = Category> {
    select(Category::iter().collect::<Vec<_>>())
}

fn shade() -> impl Strategy<Value = Shade> {
    select(Shade::iter().collect::<Vec<_>>())
}

fn uuid() -> impl Strategy<Value = Uuid> {
    prop_oneof![
        Just(Uuid::nil()),
        Just(Uuid::max()),
        any::<u128>().prop_map(Uuid::from_u128)
    ]
}

/// Text PostgreSQL can hold (no NUL), often the quotes, commas, braces and `NULL` that
/// array literals escape.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,6}", "[\"',{}\\\\ ]{0,6}", Just("NULL".to_string())]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = (text(), any::<i64>()).prop_map(|(name, n)| Step { name, n });
    proptest::collection::vec(step, 0..4)
}

fn variety_model() -> impl Strategy<Value = variety::ActiveModel> {
    let enums = (
        tea(),
        proptest::option::of(tea()),
        category(),
        proptest::option::of(shade()),
    );
    let uuids = (
        uuid(),
        proptest::option::of(uuid()),
        uuid(),
        proptest::option::of(uuid()),
        uuid(),
        proptest::option::of(uuid()),
    );
    (enums, uuids, proptest::option::of(steps())).prop_map(
        |(
            (tea, o_tea, category, shade),
            (plain, o_plain, braced, simple, urn, hyphenated),
            steps,
        )| {
            variety::ActiveModel {
                id: Set(0),
                tea: Set(tea),
                o_tea: Set(o_tea),
                category: Set(category),
                shade: Set(shade),
                plain: Set(plain),
                o_plain: Set(o_plain),
                braced: Set(braced.braced()),
                simple: Set(simple.map(Uuid::simple)),
                urn: Set(urn.urn()),
                hyphenated: Set(hyphenated.map(Uuid::hyphenated)),
                steps: Set(steps),
            }
        },
    )
}

fn variety(backend: Backend, cases: u32) {
    let columns = variety::Column::iter().count() - 1;
    property::<variety::Entity>(backend, cases, ops(variety_model(), columns), async |db| {
        create_tea_type(db).await;
        create_table(db, variety::Entity).await;
    });
}

#[test]
fn enums_uuids_and_json_lists_sqlite() {
    variety(Backend::Sqlite, 48);
}

#[test]
fn enums_uuids_and_json_lists_postgres() {
    variety(Backend::Postgres, 12);
}

#[test]
fn enums_uuids_and_json_lists_mysql() {
    variety(Backend::MySql, 12);
}

fn day() -> impl Strategy<Value = chrono::NaiveDate> {
    (1000..=9999i32, 1..=365u32)
        .prop_map(|(y, d)| chrono::NaiveDate::from_yo_opt(y, d).expect("a day"))
}

fn clock() -> impl Strategy<Value = chrono::NaiveTime> {
    (0..86_400u32, 0..1_000_000u32).prop_map(|(s, micro)| {
        chrono::NaiveTime::from_num_seconds_from_midnight_opt(s, micro * 1000).expect("a time")
    })
}

/// An instant of 1971 to 2037 (MySQL's `TIMESTAMP` range).
fn instant() -> impl Strategy<Value = chrono::DateTime<chrono::Utc>> {
    (31_536_000..2_114_380_800i64, 0..1_000_000u32).prop_map(|(s, micro)| {
        chrono::DateTime::from_timestamp(s, micro * 1000).expect("an instant")
    })
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    (text(), any::<i32>(), any::<bool>())
        .prop_map(|(s, n, b)| json!({"s": s, "n": n, "b": b, "list": [n, s]}))
}

/// A decimal of up to 14 digits, 0 to 6 of them after the point.
fn decimal() -> impl Strategy<Value = sea_orm::prelude::Decimal> {
    (-99_999_999_999_999i64..=99_999_999_999_999, 0..=6u32)
        .prop_map(|(digits, scale)| sea_orm::prelude::Decimal::new(digits, scale))
}

fn classic_model() -> impl Strategy<Value = classic::ActiveModel> {
    let numbers = (
        any::<i16>(),
        proptest::option::of(any::<i32>()),
        prop_oneof![proptest::num::f32::NORMAL, proptest::num::f32::ZERO],
        proptest::option::of(json_value()),
        decimal(),
    );
    let times = (
        day(),
        proptest::option::of(clock()),
        (day(), clock()).prop_map(|(d, t)| d.and_time(t)),
        proptest::option::of(instant()),
        (instant(), -14 * 60..=14 * 60i32).prop_map(|(at, minutes)| {
            at.with_timezone(&chrono::FixedOffset::east_opt(minutes * 60).expect("an offset"))
        }),
    );
    (numbers, times).prop_map(
        |((small, int, single, json, decimal), (date, time, naive, utc, fixed))| {
            classic::ActiveModel {
                id: Set(0),
                small: Set(small),
                int: Set(int),
                single: Set(single),
                json: Set(json),
                date: Set(date),
                time: Set(time),
                naive: Set(naive),
                utc: Set(utc),
                fixed: Set(fixed),
                decimal: Set(decimal),
            }
        },
    )
}

fn classic(backend: Backend, cases: u32) {
    let columns = classic::Column::iter().count() - 1;
    property::<classic::Entity>(backend, cases, ops(classic_model(), columns), async |db| {
        create_table(db, classic::Entity).await
    });
}

#[test]
fn default_types_sqlite() {
    classic(Backend::Sqlite, 48);
}

#[test]
fn default_types_postgres() {
    classic(Backend::Postgres, 12);
}

#[test]
fn default_types_mysql() {
    classic(Backend::MySql, 12);
}

fn list<T: Debug>(element: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    proptest::collection::vec(element, 0..4)
}

fn collection_model() -> impl Strategy<Value = collection::ActiveModel> {
    let numbers = (list(any::<i32>()), proptest::option::of(list(any::<i32>())));
    let texts = (list(text()), list(text()).prop_map(Labels));
    let uuids = (list(uuid()), list(uuid().prop_map(Uuid::hyphenated)));
    let enums = (
        list(tea()),
        proptest::option::of(list(tea())),
        list(category()),
        list(shade()),
    );
    (numbers, texts, uuids, enums).prop_map(
        |(
            (integers, o_integers),
            (strings, labels),
            (uuids, hyphenated),
            (teas, o_teas, categories, shades),
        )| {
            collection::ActiveModel {
                id: Set(0),
                integers: Set(integers),
                o_integers: Set(o_integers),
                strings: Set(strings),
                uuids: Set(uuids),
                hyphenated: Set(hyphenated),
                teas: Set(teas),
                o_teas: Set(o_teas),
                categories: Set(categories),
                shades: Set(shades),
                labels: Set(labels),
            }
        },
    )
}

/// PostgreSQL alone has array columns.
#[test]
fn arrays_postgres() {
    let columns = collection::Column::iter().count() - 1;
    property::<collection::Entity>(
        Backend::Postgres,
        24,
        ops(collection_model(), columns),
        async |db| {
            create_tea_type(db).await;
            create_table(db, collection::Entity).await;
        },
    );
}
