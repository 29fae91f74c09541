//! The property of `tests/history_props*.rs`, for any audited entity whose key is an `i32`
//! and its first column: after any sequence of inserts, updates (of any subset of the
//! other columns) and deletes of a record, `as_of` at every step's time, and `at_version`
//! at every version, give back exactly the state the database held then.

use std::fmt::Debug;
use std::time::Duration;

use audit_core::{AuditedEntity, KeyOf};
use chrono::{DateTime, SubsecRound, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DatabaseConnection, IntoActiveModel, Iterable,
    ModelTrait, TryIntoModel,
};

use crate::common::{Backend, setup};

#[derive(Clone, Debug)]
pub enum Op<A> {
    /// Insert `A` (every column set; its key is replaced by the record's) when the record is absent, else update the columns
    /// after the key that the mask selects to their values in `A`.
    Write(Box<A>, Vec<bool>),
    /// Delete when present.
    Delete,
}

/// Sequences of 1 to 9 operations on models drawn from `model`, for an entity of
/// `columns` columns besides its key.
pub fn ops<A: Clone + Debug>(
    model: impl Strategy<Value = A>,
    columns: usize,
) -> impl Strategy<Value = Vec<Op<A>>> {
    let mask = proptest::collection::vec(any::<bool>(), columns);
    let op = prop_oneof![
        4 => (model, mask).prop_map(|(m, mask)| Op::Write(Box::new(m), mask)),
        1 => Just(Op::Delete),
    ];
    proptest::collection::vec(op, 1..10)
}

/// Applies `op` to record `id` through the audited write path.
async fn apply<E>(db: &DatabaseConnection, id: i32, op: &Op<E::ActiveModel>)
where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel:
        ActiveModelTrait<Entity = E> + ActiveModelBehavior + TryIntoModel<E::Model> + Send,
    i32: Into<KeyOf<E>>,
{
    let current = E::find_by_id(id).one(db).await.unwrap();
    match (op, current) {
        (Op::Write(new, _), None) => {
            let mut new = (**new).clone();
            new.set(E::Column::iter().next().unwrap(), sea_orm::Value::from(id));
            new.insert(db).await.unwrap();
        }
        (Op::Write(new, mask), Some(current)) => {
            let mut am = current.into_active_model();
            let columns = E::Column::iter().skip(1); // all but the key
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

async fn check<E>(
    db: &DatabaseConnection,
    id: i32,
    ops: &[Op<E::ActiveModel>],
) -> Result<(), TestCaseError>
where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel:
        ActiveModelTrait<Entity = E> + ActiveModelBehavior + TryIntoModel<E::Model> + Send,
    i32: Into<KeyOf<E>>,
{
    // `Debug` tells apart what `==` does not (the sign of a zero).
    let exact = |state: &Option<E::Model>| format!("{state:?}");
    let start = step_time().await;
    let mut truth = Vec::new();
    for op in ops {
        apply::<E>(db, id, op).await;
        let state = E::find_by_id(id).one(db).await.unwrap();
        truth.push((step_time().await, state));
    }
    let before = audit_core::as_of::<E>(db, id, start).await.unwrap();
    prop_assert_eq!(exact(&before), exact(&None));
    for (step, (at, state)) in truth.iter().enumerate() {
        let rebuilt = audit_core::as_of::<E>(db, id, *at).await.unwrap();
        prop_assert_eq!(exact(&rebuilt), exact(state), "as_of after step {}", step);
    }
    // Every version is a state the record went through, in order.
    let versions = audit_core::versions::<E>(db, id).await.unwrap();
    let mut distinct: Vec<&Option<E::Model>> = vec![&None];
    for (_, state) in &truth {
        if distinct.last().map(|s| exact(s)) != Some(exact(state)) {
            distinct.push(state);
        }
    }
    distinct.remove(0);
    prop_assert_eq!(versions.len(), distinct.len());
    for (version, state) in versions.iter().zip(distinct) {
        let rebuilt = audit_core::at_version::<E>(db, id, version.number)
            .await
            .unwrap();
        prop_assert_eq!(exact(&rebuilt), exact(state), "version {}", version.number);
    }
    Ok(())
}

/// Runs `cases` cases of the property for `E` on a fresh database of `backend` (skipped,
/// saying so, when its URL is unset); `prepare` creates `E`'s table (and its types).
pub fn property<E>(
    backend: Backend,
    cases: u32,
    strategy: impl Strategy<Value = Vec<Op<E::ActiveModel>>>,
    prepare: impl AsyncFnOnce(&DatabaseConnection),
) where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel:
        ActiveModelTrait<Entity = E> + ActiveModelBehavior + TryIntoModel<E::Model> + Send,
    i32: Into<KeyOf<E>>,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(fresh) = rt.block_on(async {
        let fresh = setup(backend, 1).await?;
        prepare(&fresh.db).await;
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
    let result = runner.run(&strategy, |ops| {
        let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        rt.block_on(check::<E>(&fresh.db, id, &ops))
    });
    rt.block_on(fresh.cleanup()).unwrap();
    if let Err(failure) = result {
        panic!("{backend:?}: {failure}");
    }
}
