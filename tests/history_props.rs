//! Property: after any sequence of inserts, updates and deletes of a record, `as_of` at
//! every step's time, and `at_version` at every version, give back exactly the state the
//! database held then: integers, text, floats, booleans, bytes, the time crate's four
//! types (nanoseconds and offsets included, whatever each backend keeps of them),
//! `BigDecimal` and a JSON array column.

mod common;
#[path = "props/as_of.rs"]
mod props;

use common::{Backend, create_table};
use props::{ops, property};
use proptest::prelude::*;
use sea_orm::ActiveValue::Set;
use sea_orm::Iterable;
use sea_orm::entity::prelude::{BigDecimal, TimeDate, TimeDateTimeWithTimeZone, TimeTime};
use time::{PrimitiveDateTime, UtcOffset};

mod item {
    use audit_core::Audited;
    use sea_orm::FromJsonQueryResult;
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    /// An element of the JSON array column.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
    pub struct Step {
        pub name: String,
        pub n: i64,
    }

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "item")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub n: i64,
        pub s: Option<String>,
        pub f: f64,
        pub b: bool,
        pub data: Option<Vec<u8>>,
        pub day: TimeDate,
        pub clock: Option<TimeTime>,
        pub stamp: TimeDateTime,
        pub moment: Option<TimeDateTimeWithTimeZone>,
        #[sea_orm(column_type = "Decimal(Some((38, 10)))")]
        pub amount: BigDecimal,
        #[sea_orm(column_type = "JsonBinary")]
        pub steps: Vec<Step>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Values for every column but the key.
#[derive(Clone, Debug)]
struct Fields {
    n: i64,
    s: Option<String>,
    f: f64,
    b: bool,
    data: Option<Vec<u8>>,
    day: TimeDate,
    clock: Option<TimeTime>,
    stamp: PrimitiveDateTime,
    moment: Option<TimeDateTimeWithTimeZone>,
    amount: BigDecimal,
    steps: Vec<item::Step>,
}

/// How many columns [`Fields`] has.
const COLUMNS: usize = 11;

/// A date of years 1000 to 9999 (MySQL's `DATE` range).
fn day() -> impl Strategy<Value = TimeDate> {
    (1000..=9999i32, 1..=365u16).prop_map(|(y, d)| TimeDate::from_ordinal_date(y, d).unwrap())
}

/// A time of day to the nanosecond.
fn clock() -> impl Strategy<Value = TimeTime> {
    (0..24u8, 0..60u8, 0..60u8, 0..1_000_000_000u32)
        .prop_map(|(h, m, s, nano)| TimeTime::from_hms_nano(h, m, s, nano).unwrap())
}

/// An instant of 1971 to 2037 (MySQL's `TIMESTAMP` range) at an offset of whole minutes
/// within ±14 hours.
fn moment() -> impl Strategy<Value = TimeDateTimeWithTimeZone> {
    (1971..=2037i32, 1..=365u16, clock(), -14 * 60..=14 * 60i32).prop_map(|(y, d, t, minutes)| {
        let date = TimeDate::from_ordinal_date(y, d).unwrap();
        let offset = UtcOffset::from_whole_seconds(minutes * 60).unwrap();
        PrimitiveDateTime::new(date, t).assume_offset(offset)
    })
}

/// A decimal of up to 16 digits, 0 to 6 of them after the point.
fn amount() -> impl Strategy<Value = BigDecimal> {
    (-999_999_999_999_999i64..=999_999_999_999_999, 0..=6u32)
        .prop_map(|(digits, scale)| format!("{digits}e-{scale}").parse().unwrap())
}

fn steps() -> impl Strategy<Value = Vec<item::Step>> {
    let step = ("\\PC{0,6}", any::<i64>()).prop_map(|(name, n)| item::Step { name, n });
    proptest::collection::vec(step, 0..4)
}

fn fields() -> impl Strategy<Value = Fields> {
    let plain = (
        any::<i64>(),
        proptest::option::of("\\PC{0,12}"),
        prop_oneof![
            proptest::num::f64::NORMAL,
            proptest::num::f64::SUBNORMAL,
            proptest::num::f64::ZERO
        ],
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
    );
    let typed = (
        day(),
        proptest::option::of(clock()),
        (day(), clock()).prop_map(|(d, t)| PrimitiveDateTime::new(d, t)),
        proptest::option::of(moment()),
        amount(),
        steps(),
    );
    (plain, typed).prop_map(
        |((n, s, f, b, data), (day, clock, stamp, moment, amount, steps))| Fields {
            n,
            s,
            f,
            b,
            data,
            day,
            clock,
            stamp,
            moment,
            amount,
            steps,
        },
    )
}

/// Every column set to `f` (the key is the property's to set).
fn active_model(f: &Fields) -> item::ActiveModel {
    item::ActiveModel {
        id: Set(0),
        n: Set(f.n),
        s: Set(f.s.clone()),
        f: Set(f.f),
        b: Set(f.b),
        data: Set(f.data.clone()),
        day: Set(f.day),
        clock: Set(f.clock),
        stamp: Set(f.stamp),
        moment: Set(f.moment),
        amount: Set(f.amount.clone()),
        steps: Set(f.steps.clone()),
    }
}

fn run(backend: Backend, cases: u32) {
    assert_eq!(
        item::Column::iter().count(),
        COLUMNS + 1,
        "a mask bit a column"
    );
    let models = fields().prop_map(|f| active_model(&f));
    property::<item::Entity>(backend, cases, ops(models, COLUMNS), async |db| {
        create_table(db, item::Entity).await
    });
}

#[test]
fn as_of_matches_every_step_sqlite() {
    run(Backend::Sqlite, 48);
}

#[test]
fn as_of_matches_every_step_postgres() {
    run(Backend::Postgres, 12);
}

#[test]
fn as_of_matches_every_step_mysql() {
    run(Backend::MySql, 12);
}
