//! Property: after any sequence of inserts, updates and deletes of a record, `as_of` at
//! every step's time, and `at_version` at every version, give back exactly the state the
//! database held then: integers, text, floats, booleans, bytes, the time crate's four
//! types (nanoseconds and offsets included, whatever each backend keeps of them),
//! `BigDecimal` and a JSON array column.

mod common;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use common::{Backend, create_table, setup};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::{BigDecimal, TimeDate, TimeDateTimeWithTimeZone, TimeTime};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Iterable, ModelTrait};
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

/// Values for every column but the key; a write sets those its mask selects (an insert
/// sets all).
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

#[derive(Clone, Debug)]
enum Op {
    /// Insert when the record is absent, else update the masked columns.
    Write(Box<Fields>, [bool; COLUMNS]),
    /// Delete when present.
    Delete,
}

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

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (fields(), any::<[bool; COLUMNS]>()).prop_map(|(f, m)| Op::Write(Box::new(f), m)),
        1 => Just(Op::Delete),
    ];
    proptest::collection::vec(op, 1..10)
}

/// Every column of record `id` set to `f`.
fn active_model(id: i32, f: &Fields) -> item::ActiveModel {
    item::ActiveModel {
        id: Set(id),
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

/// Applies `op` to record `id` through the audited write path.
async fn apply(db: &DatabaseConnection, id: i32, op: &Op) {
    let current = item::Entity::find_by_id(id).one(db).await.unwrap();
    match (op, current) {
        (Op::Write(f, _), None) => {
            active_model(id, f).insert(db).await.unwrap();
        }
        (Op::Write(f, mask), Some(current)) => {
            let new = active_model(id, f);
            let mut am: item::ActiveModel = current.into();
            let columns = item::Column::iter().skip(1); // all but `id`
            for (column, _) in columns.zip(mask).filter(|(_, set)| **set) {
                am.set(column, new.get(column).into_value().unwrap());
            }
            am.update(db).await.unwrap();
        }
        (Op::Delete, Some(current)) => {
            current.delete(db).await.unwrap();
        }
        (Op::Delete, None) => {}
    }
}

/// An instant after every write so far, and before any later one.
async fn step_time() -> DateTime<Utc> {
    let at = Utc::now().trunc_subsecs(6);
    while Utc::now().trunc_subsecs(6) <= at {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    at
}

async fn check(db: &DatabaseConnection, id: i32, ops: &[Op]) -> Result<(), TestCaseError> {
    // `Debug` tells apart what `==` does not (the sign of a zero).
    let exact = |state: &Option<item::Model>| format!("{state:?}");
    let start = step_time().await;
    let mut truth = Vec::new();
    for op in ops {
        apply(db, id, op).await;
        let state = item::Entity::find_by_id(id).one(db).await.unwrap();
        truth.push((step_time().await, state));
    }
    let before = audit_core::as_of::<item::Entity>(db, id, start)
        .await
        .unwrap();
    prop_assert_eq!(before, None);
    for (step, (at, state)) in truth.iter().enumerate() {
        let rebuilt = audit_core::as_of::<item::Entity>(db, id, *at)
            .await
            .unwrap();
        prop_assert_eq!(exact(&rebuilt), exact(state), "as_of after step {}", step);
    }
    // Every version is a state the record went through, in order.
    let versions = audit_core::versions::<item::Entity>(db, id).await.unwrap();
    let mut distinct: Vec<&Option<item::Model>> = vec![&None];
    for (_, state) in &truth {
        if distinct.last().map(|s| exact(s)) != Some(exact(state)) {
            distinct.push(state);
        }
    }
    distinct.remove(0);
    prop_assert_eq!(versions.len(), distinct.len());
    for (version, state) in versions.iter().zip(distinct) {
        let rebuilt = audit_core::at_version::<item::Entity>(db, id, version.number)
            .await
            .unwrap();
        prop_assert_eq!(exact(&rebuilt), exact(state), "version {}", version.number);
    }
    Ok(())
}

fn property(backend: Backend, cases: u32) {
    assert_eq!(
        item::Column::iter().count(),
        COLUMNS + 1,
        "a mask bit a column"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(fresh) = rt.block_on(async {
        let fresh = setup(backend, 1).await?;
        create_table(&fresh.db, item::Entity).await;
        Some(fresh)
    }) else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let next_id = std::sync::atomic::AtomicI32::new(0);
    let result = runner.run(&ops(), |ops| {
        let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        rt.block_on(check(&fresh.db, id, &ops))
    });
    rt.block_on(fresh.cleanup()).unwrap();
    if let Err(failure) = result {
        panic!("{backend:?}: {failure}");
    }
}

#[test]
fn as_of_matches_every_step_sqlite() {
    property(Backend::Sqlite, 48);
}

#[test]
fn as_of_matches_every_step_postgres() {
    property(Backend::Postgres, 12);
}

#[test]
fn as_of_matches_every_step_mysql() {
    property(Backend::MySql, 12);
}
