//! Property: after any sequence of inserts, updates and deletes of a record, `as_of` at
//! every step's time, and `at_version` at every version, give back exactly the state the
//! database held then.

mod common;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use common::{Backend, create_table, setup};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, ModelTrait};

mod item {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

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
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Values for every column; a write sets those its mask selects (an insert sets all).
#[derive(Clone, Debug)]
struct Fields {
    n: i64,
    s: Option<String>,
    f: f64,
    b: bool,
    data: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
enum Op {
    /// Insert when the record is absent, else update the masked columns.
    Write(Fields, [bool; 5]),
    /// Delete when present.
    Delete,
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        any::<i64>(),
        proptest::option::of("\\PC{0,12}"),
        prop_oneof![
            proptest::num::f64::NORMAL,
            proptest::num::f64::SUBNORMAL,
            proptest::num::f64::ZERO
        ],
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
    )
        .prop_map(|(n, s, f, b, data)| Fields { n, s, f, b, data })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (fields(), any::<[bool; 5]>()).prop_map(|(f, m)| Op::Write(f, m)),
        1 => Just(Op::Delete),
    ];
    proptest::collection::vec(op, 1..10)
}

/// Applies `op` to record `id` through the audited write path.
async fn apply(db: &DatabaseConnection, id: i32, op: &Op) {
    let current = item::Entity::find_by_id(id).one(db).await.unwrap();
    match (op, current) {
        (Op::Write(f, _), None) => {
            item::ActiveModel {
                id: Set(id),
                n: Set(f.n),
                s: Set(f.s.clone()),
                f: Set(f.f),
                b: Set(f.b),
                data: Set(f.data.clone()),
            }
            .insert(db)
            .await
            .unwrap();
        }
        (Op::Write(f, mask), Some(current)) => {
            let mut am: item::ActiveModel = current.into();
            if mask[0] {
                am.n = Set(f.n);
            }
            if mask[1] {
                am.s = Set(f.s.clone());
            }
            if mask[2] {
                am.f = Set(f.f);
            }
            if mask[3] {
                am.b = Set(f.b);
            }
            if mask[4] {
                am.data = Set(f.data.clone());
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
