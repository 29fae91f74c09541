//! Value fidelity of the column types beyond SeaORM's defaults: the time crate's four
//! types, `BigDecimal`, native database enums (also as a primary key), active enums,
//! `Vec<T: FromJsonQueryResult>` in a JSON column, the `uuid::fmt` forms, a 300-character
//! text key and (PostgreSQL) arrays of every element kind.
//!
//! Each type makes the round trip of `tests/fidelity/round_trip.rs` (stored, rebuilt by
//! time and by version, reverted, deleted and restored, every model identical to what the
//! database held), and the trail's JSON, read with raw SQL, is the form
//! `audit_core::value` documents for it. Where the backend keeps less than was written
//! (PostgreSQL and MySQL keep no offset; decimals as SQLite `REAL`), the expected form is
//! of what it kept.

mod common;
#[path = "fidelity/round_trip.rs"]
mod round_trip;
#[path = "fidelity/types.rs"]
mod types;

use common::{Backend, audit_rows, create_table, setup};
use round_trip::round_trip;
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, Schema};
use serde_json::{Value as Json, json};
use time::macros::{date, datetime, time};
use types::{Category, Labels, Shade, Step, Tea};
use types::{brew, collection, json_list, kept, long_key, timed, uuid_forms};

/// The values of `table`'s first insert, read from `audit_log` with raw SQL, as one JSON
/// object of column to stored value.
async fn first_insert(db: &DatabaseConnection, table: &str) -> Json {
    let rows = audit_rows(db).await.unwrap();
    let first = rows
        .iter()
        .find(|r| r.table_name == table && r.operation == "insert")
        .unwrap_or_else(|| panic!("no insert of {table}"));
    let values = rows
        .iter()
        .filter(|r| r.changeset_id == first.changeset_id)
        .map(|r| (r.column_name.clone(), r.new_value.clone().unwrap()));
    Json::Object(values.collect())
}

/// Asserts that `table`'s trail holds a JSON `null` new value (a NULL written), not SQL
/// NULL or a serde form, for each of `columns`.
async fn assert_stored_null(db: &DatabaseConnection, table: &str, columns: &[&str]) {
    let rows = audit_rows(db).await.unwrap();
    for column in columns {
        let found = rows.iter().any(|r| {
            r.table_name == table && r.column_name == *column && r.new_value == Some(Json::Null)
        });
        assert!(found, "{table}.{column}: no JSON null stored");
    }
}

/// Column types MySQL needs for the time values: fractional seconds need an explicit
/// precision, and a `DATETIME` holds years 1000 to 9999 where a `TIMESTAMP` holds 1970
/// to 2038.
const MYSQL_TIMED: &str = "ALTER TABLE timed \
    MODIFY time TIME(6) NOT NULL, MODIFY o_time TIME(6) NULL, \
    MODIFY naive DATETIME(6) NOT NULL, MODIFY o_naive DATETIME(6) NULL, \
    MODIFY zoned DATETIME(6) NOT NULL, MODIFY o_zoned DATETIME(6) NULL";

/// The smallest and largest `BigDecimal`s the backend stores: SQLite stores decimals as
/// `REAL`, so there only values a `f64` holds exactly.
fn big_range(backend: Backend) -> (BigDecimal, BigDecimal) {
    let d = |s: &str| s.parse::<BigDecimal>().unwrap();
    match backend {
        Backend::Sqlite => (d("-1234.5"), d("1099511627775.75")),
        _ => (
            d("-9999999999999999999999999999.9999999999"),
            d("9999999999999999999999999999.9999999999"),
        ),
    }
}

/// `timed` with every column set from these values, the options too.
fn timed_model(
    date: TimeDate,
    time: TimeTime,
    zoned: TimeDateTimeWithTimeZone,
    big: BigDecimal,
) -> timed::Model {
    let naive = TimeDateTime::new(date, time);
    timed::Model {
        id: 1,
        date,
        time,
        naive,
        zoned,
        big: big.clone(),
        o_date: Some(date),
        o_time: Some(time),
        o_naive: Some(naive),
        o_zoned: Some(zoned),
        o_big: Some(big),
    }
}

async fn time_crate_and_big_decimal(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    create_table(db, timed::Entity).await;
    if backend == Backend::MySql {
        db.execute_unprepared(MYSQL_TIMED).await.unwrap();
    }
    let (low, high) = big_range(backend);
    let everyday = timed_model(
        date!(2024 - 02 - 29),
        time!(12:30:45.123456),
        datetime!(2024-02-29 12:30:45.123456 +05:30),
        "12.50".parse().unwrap(),
    );
    let nulls = timed::Model {
        o_date: None,
        o_time: None,
        o_naive: None,
        o_zoned: None,
        o_big: None,
        ..everyday.clone()
    };
    let states = [
        everyday,
        timed_model(
            date!(1000 - 01 - 01),
            time!(00:00:00),
            datetime!(1970-01-02 00:00:00.000001 +05:30),
            low,
        ),
        timed_model(
            date!(9999 - 12 - 31),
            time!(23:59:59.999999),
            datetime!(2038-01-18 12:00:00.999999 -09:30),
            high,
        ),
        nulls,
    ];
    round_trip::<timed::Entity>(db, 1, &states, &format!("{backend:?} timed")).await;

    // PostgreSQL's `timestamptz` and MySQL keep the instant, not the offset. MySQL's
    // `DECIMAL(38, 10)` pads the scale; sqlx reads a PostgreSQL `numeric` as a
    // `BigDecimal` padded to whole base-10000 digits only; SQLite's `REAL` drops it.
    let zoned = match backend {
        Backend::Sqlite => "2024-02-29T12:30:45.123456+05:30",
        _ => "2024-02-29T07:00:45.123456Z",
    };
    let big = match backend {
        Backend::Sqlite => "12.5",
        Backend::Postgres => "12.5000",
        Backend::MySql => "12.5000000000",
    };
    assert_eq!(
        first_insert(db, "timed").await,
        json!({
            "id": 1,
            "date": "2024-02-29", "o_date": "2024-02-29",
            "time": "12:30:45.123456", "o_time": "12:30:45.123456",
            "naive": "2024-02-29T12:30:45.123456", "o_naive": "2024-02-29T12:30:45.123456",
            "zoned": zoned, "o_zoned": zoned,
            "big": big, "o_big": big,
        }),
        "{backend:?}"
    );
    let options = ["o_date", "o_time", "o_naive", "o_zoned", "o_big"];
    assert_stored_null(db, "timed", &options).await;

    // A time-crate value filter finds the rows that stored it.
    let leap_day = audit_core::table_history::<timed::Entity>()
        .column(timed::Column::Date)
        .new_value(date!(2024 - 02 - 29))
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(
        leap_day.len(),
        2,
        "{backend:?}: the insert and the update to `nulls`"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn time_crate_and_big_decimal_sqlite() {
    time_crate_and_big_decimal(Backend::Sqlite).await;
}

#[tokio::test]
async fn time_crate_and_big_decimal_postgres() {
    time_crate_and_big_decimal(Backend::Postgres).await;
}

#[tokio::test]
async fn time_crate_and_big_decimal_mysql() {
    time_crate_and_big_decimal(Backend::MySql).await;
}

/// Creates the `tea` type where the backend has named enum types (PostgreSQL).
async fn create_tea_type(db: &DatabaseConnection) {
    let schema = Schema::new(db.get_database_backend());
    if let Some(create) = schema.create_enum_from_active_enum::<Tea>() {
        db.execute(&create).await.unwrap();
    }
}

async fn enums(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    create_tea_type(db).await;
    create_table(db, brew::Entity).await;
    let state = |served, o_served, category, shade| brew::Model {
        tea: Tea::EverydayTea,
        served,
        o_served,
        category,
        shade,
    };
    let states = [
        state(
            Tea::AfternoonTea,
            Some(Tea::BreakfastTea),
            Some(Category::Big),
            Some(Shade::White),
        ),
        state(Tea::BreakfastTea, None, None, None),
        state(
            Tea::AfternoonTea,
            Some(Tea::AfternoonTea),
            Some(Category::Small),
            Some(Shade::Black),
        ),
    ];
    round_trip::<brew::Entity>(db, Tea::EverydayTea, &states, &format!("{backend:?} brew")).await;

    assert_eq!(
        first_insert(db, "brew").await,
        json!({
            "tea": "EverydayTea",
            "served": "AfternoonTea",
            "o_served": "BreakfastTea",
            "category": "B",
            "shade": 1,
        }),
        "{backend:?}"
    );
    assert_stored_null(db, "brew", &["o_served", "category", "shade"]).await;
    let rows = audit_rows(db).await.unwrap();
    assert!(
        rows.iter().all(|r| r.record_id == "EverydayTea"),
        "{backend:?}"
    );

    // A native enum's value filter finds the same rows given the enum or its text.
    let served = async |value: sea_orm::Value| {
        let query = audit_core::table_history::<brew::Entity>()
            .column(brew::Column::Served)
            .new_value(value);
        query.fetch(db).await.unwrap()
    };
    let by_enum = served(Tea::AfternoonTea.into()).await;
    let by_text = served("AfternoonTea".into()).await;
    let ids = |entries: &[audit_core::AuditEntry]| entries.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        by_enum.len(),
        2,
        "{backend:?}: the insert and the third state"
    );
    assert_eq!(ids(&by_enum), ids(&by_text), "{backend:?}");
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn enums_sqlite() {
    enums(Backend::Sqlite).await;
}

#[tokio::test]
async fn enums_postgres() {
    enums(Backend::Postgres).await;
}

#[tokio::test]
async fn enums_mysql() {
    enums(Backend::MySql).await;
}

async fn json_arrays_uuid_forms_and_long_keys(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    let what = |t: &str| format!("{backend:?} {t}");

    create_table(db, json_list::Entity).await;
    let step = |name: &str, n| Step {
        name: name.into(),
        n,
    };
    let steps = |steps| json_list::Model { id: 1, steps };
    let states = [
        steps(vec![step("ünï \"q\"", i64::MIN), step("b", 2)]),
        steps(vec![]),
        steps(vec![step("c", i64::MAX)]),
    ];
    round_trip::<json_list::Entity>(db, 1, &states, &what("json_list")).await;
    let expected =
        json!({"id": 1, "steps": [{"name": "ünï \"q\"", "n": i64::MIN}, {"name": "b", "n": 2}]});
    assert_eq!(first_insert(db, "json_list").await, expected, "{backend:?}");

    create_table(db, uuid_forms::Entity).await;
    let forms = |text: &str| {
        let uuid = Uuid::parse_str(text).unwrap();
        uuid_forms::Model {
            id: 1,
            plain: uuid,
            braced: uuid.braced(),
            hyphenated: uuid.hyphenated(),
            simple: uuid.simple(),
            urn: uuid.urn(),
        }
    };
    let text = "0191e3c0-7b2a-7cc5-9e1f-3a1b2c3d4e5f";
    let states = [forms(text), forms("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")];
    round_trip::<uuid_forms::Entity>(db, 1, &states, &what("uuid_forms")).await;
    let expected = json!({
        "id": 1, "plain": text, "braced": text, "hyphenated": text, "simple": text, "urn": text,
    });
    assert_eq!(
        first_insert(db, "uuid_forms").await,
        expected,
        "{backend:?}"
    );

    // `record_id` holds a key past `VARCHAR(255)` on every backend (MySQL's is 512).
    create_table(db, long_key::Entity).await;
    let key: String = "ключ🔑".repeat(60);
    assert_eq!(key.chars().count(), 300);
    let note = |note: &str| long_key::Model {
        id: key.clone(),
        note: note.into(),
    };
    let states = [note("first"), note("second")];
    round_trip::<long_key::Entity>(db, key.clone(), &states, &what("long_key")).await;
    let rows = audit_rows(db).await.unwrap();
    let keyed: Vec<_> = rows.iter().filter(|r| r.table_name == "long_key").collect();
    assert!(!keyed.is_empty());
    assert!(keyed.iter().all(|r| r.record_id == key), "{backend:?}");
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn json_arrays_uuid_forms_and_long_keys_sqlite() {
    json_arrays_uuid_forms_and_long_keys(Backend::Sqlite).await;
}

#[tokio::test]
async fn json_arrays_uuid_forms_and_long_keys_postgres() {
    json_arrays_uuid_forms_and_long_keys(Backend::Postgres).await;
}

#[tokio::test]
async fn json_arrays_uuid_forms_and_long_keys_mysql() {
    json_arrays_uuid_forms_and_long_keys(Backend::MySql).await;
}

/// A `collection` of `n`-flavoured arrays; `o_integers` and `o_teas` NULL when `none`.
fn collection_model(n: i32, none: bool) -> collection::Model {
    let uuid = Uuid::from_u128(u128::try_from(n).unwrap());
    collection::Model {
        id: 1,
        integers: vec![n, i32::MIN, i32::MAX],
        o_integers: (!none).then(|| vec![n]),
        strings: vec![format!("ü \"{n}\""), String::new()],
        uuids: vec![uuid, Uuid::nil()],
        hyphenated: vec![uuid.hyphenated()],
        teas: vec![Tea::EverydayTea, Tea::AfternoonTea],
        o_teas: (!none).then(|| vec![Tea::BreakfastTea]),
        categories: vec![Category::Big, Category::Small],
        shades: vec![Shade::White, Shade::Black],
        labels: Labels(vec!["a".into(), format!("{n}")]),
    }
}

/// PostgreSQL alone has array columns.
#[tokio::test]
async fn postgres_arrays() {
    let Some(fresh) = setup(Backend::Postgres, 1).await else {
        return;
    };
    let db = &fresh.db;
    create_tea_type(db).await;
    create_table(db, collection::Entity).await;
    let empty = collection::Model {
        integers: vec![],
        strings: vec![],
        uuids: vec![],
        hyphenated: vec![],
        teas: vec![],
        o_teas: Some(vec![]),
        categories: vec![],
        shades: vec![],
        labels: Labels(vec![]),
        ..collection_model(0, false)
    };
    let states = [collection_model(7, false), collection_model(8, true), empty];
    round_trip::<collection::Entity>(db, 1, &states, "collection").await;

    let uuid = "00000000-0000-0000-0000-000000000007";
    let nil = "00000000-0000-0000-0000-000000000000";
    assert_eq!(
        first_insert(db, "collection").await,
        json!({
            "id": 1,
            "integers": [7, i32::MIN, i32::MAX],
            "o_integers": [7],
            "strings": ["ü \"7\"", ""],
            "uuids": [uuid, nil],
            "hyphenated": [uuid],
            "teas": ["EverydayTea", "AfternoonTea"],
            "o_teas": ["BreakfastTea"],
            "categories": ["B", "S"],
            "shades": [1, 0],
            "labels": ["a", "7"],
        })
    );
    assert_stored_null(db, "collection", &["o_integers", "o_teas"]).await;
    fresh.cleanup().await.unwrap();
}

/// What each backend keeps of values written with more precision than its default
/// column types hold (the README's table): the trail records what was kept, and the
/// history API rebuilds that, not what was written.
async fn what_each_backend_keeps(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    create_table(db, kept::Entity).await;
    let instant = chrono::NaiveDate::from_ymd_opt(2024, 2, 29)
        .unwrap()
        .and_hms_nano_opt(12, 30, 45, 500_000_900)
        .unwrap();
    let offset = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    let written = kept::Model {
        id: 1,
        fixed: instant.and_local_timezone(offset).unwrap(),
        zoned: datetime!(2024-02-29 12:30:45.5000009 +05:30),
        naive: instant,
        time: instant.time(),
        decimal: "1234567890.0123456789".parse().unwrap(),
        big: "1234567890.0123456789".parse().unwrap(),
    };
    round_trip::all_set::<kept::Entity>(written.clone())
        .insert(db)
        .await
        .unwrap();
    // Written: 12:30:45.500000900 at +05:30, 1234567890.0123456789.
    let expected = match backend {
        // Text keeps nanoseconds and the offset; `REAL` keeps a `f64`, which SeaORM reads
        // back as the nearest 16-digit `Decimal`, or as the `f64`'s exact `BigDecimal`.
        Backend::Sqlite => json!({
            "fixed": "2024-02-29T12:30:45.500000900+05:30",
            "zoned": "2024-02-29T12:30:45.500000900+05:30",
            "naive": "2024-02-29T12:30:45.500000900",
            "time": "12:30:45.500000900",
            "decimal": "1234567890.012346",
            "big": "1234567890.012345790863037109375",
        }),
        // Microseconds, cut not rounded; `timestamptz` keeps the instant in UTC; `numeric`
        // keeps every digit (sqlx pads a `BigDecimal`'s scale to whole base-10000 digits).
        Backend::Postgres => json!({
            "fixed": "2024-02-29T07:00:45.500Z",
            "zoned": "2024-02-29T07:00:45.500Z",
            "naive": "2024-02-29T12:30:45.500",
            "time": "12:30:45.500",
            "decimal": "1234567890.0123456789",
            "big": "1234567890.012345678900",
        }),
        // Columns without a precision keep whole seconds, cut not rounded; `TIMESTAMP`
        // keeps the instant in UTC; `DECIMAL` keeps every digit.
        Backend::MySql => json!({
            "fixed": "2024-02-29T07:00:45Z",
            "zoned": "2024-02-29T07:00:45Z",
            "naive": "2024-02-29T12:30:45",
            "time": "12:30:45",
            "decimal": "1234567890.0123456789",
            "big": "1234567890.0123456789",
        }),
    };
    let mut stored = first_insert(db, "kept").await;
    stored.as_object_mut().unwrap().remove("id");
    assert_eq!(stored, expected, "{backend:?}");
    let read = kept::Entity::find_by_id(1).one(db).await.unwrap().unwrap();
    let at = round_trip::tick().await;
    let rebuilt = audit_core::as_of::<kept::Entity>(db, 1, at)
        .await
        .unwrap()
        .unwrap();
    round_trip::assert_same(&rebuilt, &read, true, &format!("{backend:?}: rebuilt"));
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn what_each_backend_keeps_sqlite() {
    what_each_backend_keeps(Backend::Sqlite).await;
}

#[tokio::test]
async fn what_each_backend_keeps_postgres() {
    what_each_backend_keeps(Backend::Postgres).await;
}

#[tokio::test]
async fn what_each_backend_keeps_mysql() {
    what_each_backend_keeps(Backend::MySql).await;
}
