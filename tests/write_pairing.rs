//! Pairing an update's `before_save` with its `after_save` outside an audited transaction
//! (own test binary: it reads the process-wide stash's size). Writers polled by an
//! executor that is not tokio's, writers `join!`ed in one task, and memory under
//! thousands of failed writes, on every backend.

mod common;

use std::collections::BTreeSet;

use common::{Backend, FreshDb, account, audit_rows, new_account, setup};
use futures::task::SpawnExt;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait};

const TASKS: i64 = 8;
const UPDATES: i64 = 100;

fn balance_am(id: i32, balance: i64) -> account::ActiveModel {
    account::ActiveModel {
        id: Set(id),
        balance: Set(balance),
        ..Default::default()
    }
}

/// The balances the trail records as new values of `id`'s updates.
async fn recorded_balances(fresh: &FreshDb, id: i32) -> Vec<i64> {
    audit_rows(&fresh.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.record_id == id.to_string() && r.operation == "update" && r.column_name == "balance"
        })
        .filter_map(|r| r.new_value.and_then(|v| v.as_i64()))
        .collect()
}

/// 8 tasks x 100 updates of one row through one pool, polled by `futures`' `LocalPool`
/// (no tokio task ids there; tokio only drives the sockets): every update has its row.
fn non_tokio_executor(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(fresh) = runtime.block_on(setup(backend, 4)) else {
        return;
    };
    let id = runtime
        .block_on(new_account("a", 0).insert(&fresh.db))
        .unwrap()
        .id;
    let _context = runtime.enter();
    let mut pool = futures::executor::LocalPool::new();
    let spawner = pool.spawner();
    let handles: Vec<_> = (0..TASKS)
        .map(|task| {
            let db = fresh.db.clone();
            spawner
                .spawn_with_handle(async move {
                    assert!(tokio::task::try_id().is_none(), "not a tokio task");
                    for i in 0..UPDATES {
                        balance_am(id, task * 1_000 + i + 1)
                            .update(&db)
                            .await
                            .expect("every update is audited");
                    }
                })
                .unwrap()
        })
        .collect();
    pool.run_until(futures::future::join_all(handles));
    let mut recorded = runtime.block_on(recorded_balances(&fresh, id));
    recorded.sort_unstable();
    let written: Vec<i64> = (0..TASKS)
        .flat_map(|task| (0..UPDATES).map(move |i| task * 1_000 + i + 1))
        .collect();
    if backend == Backend::MySql {
        // MariaDB has no `UPDATE ... RETURNING`: SeaORM reads the row back after the
        // update, and outside a transaction another task's update may land in between,
        // so the recorded new value can be that task's. One row per update all the same.
        assert_eq!(
            recorded.len(),
            written.len(),
            "{backend:?}: one row per update"
        );
    } else {
        assert_eq!(recorded, written, "{backend:?}: one row per update");
    }
    runtime.block_on(fresh.cleanup()).unwrap();
}

/// Two writers of one row `join!`ed in one task: each update is recorded, or fails with an
/// error saying why; none is `Ok` without its row.
async fn joined_writers(backend: Backend) {
    let Some(fresh) = setup(backend, 4).await else {
        return;
    };
    let id = new_account("a", 0).insert(&fresh.db).await.unwrap().id;
    let mut ok = BTreeSet::new();
    for i in 0..50 {
        let (a, b) = (2 * i + 1, 2 * i + 2);
        let (ra, rb) = tokio::join!(
            balance_am(id, a).update(&fresh.db),
            balance_am(id, b).update(&fresh.db)
        );
        for (value, result) in [(a, ra), (b, rb)] {
            match result {
                Ok(_) => {
                    ok.insert(value);
                }
                Err(e) => assert!(
                    e.to_string().contains("old state of `account`"),
                    "{backend:?}: {e}"
                ),
            }
        }
    }
    let recorded = recorded_balances(&fresh, id).await;
    assert_eq!(
        recorded.len(),
        ok.len(),
        "{backend:?}: one row per Ok update"
    );
    // (MariaDB reads the new row back after the update, so another writer's value may
    // be what it recorded; see `non_tokio_executor`.)
    let recorded: BTreeSet<i64> = recorded.into_iter().collect();
    assert!(
        backend == Backend::MySql || ok.is_subset(&recorded),
        "{backend:?}: an Ok update without its row: {:?}",
        ok.difference(&recorded).collect::<Vec<_>>()
    );
    fresh.cleanup().await.unwrap();
}

/// Thousands of failed updates of one record, and of many, keep the stash bounded.
async fn failed_writes_stay_bounded(backend: Backend) {
    let Some(fresh) = setup(backend, 2).await else {
        return;
    };
    new_account("taken", 0).insert(&fresh.db).await.unwrap();
    let victim = new_account("b", 0).insert(&fresh.db).await.unwrap().id;
    let start = audit_core::__private::stashed_records();
    for _ in 0..1_000 {
        let am = account::ActiveModel {
            id: Set(victim),
            owner: Set("taken".into()),
            ..Default::default()
        };
        assert!(am.update(&fresh.db).await.is_err(), "unique owner");
    }
    let grown = audit_core::__private::stashed_records().saturating_sub(start);
    assert!(grown <= 2, "{backend:?}: {grown} records stashed");
    fresh.cleanup().await.unwrap();
}

#[test]
fn pairing_on_every_backend() {
    for backend in Backend::ALL {
        non_tokio_executor(backend);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in Backend::ALL {
        runtime.block_on(joined_writers(backend));
        runtime.block_on(failed_writes_stay_bounded(backend));
    }
    // Failed writes of many records: at most the stash's bound, whatever their number.
    runtime.block_on(async {
        let Some(fresh) = setup(Backend::Sqlite, 1).await else {
            return;
        };
        let n = audit_core::__private::MAX_STASHED + 500;
        fresh
            .db
            .execute_unprepared(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
                 INSERT INTO account (owner, balance, password_hash) \
                 SELECT 'o' || i, 0, 'h' FROM n"
            ))
            .await
            .unwrap();
        for id in 1..=i32::try_from(n).unwrap() {
            let am = account::ActiveModel {
                id: Set(id),
                owner: Set("o1".into()),
                ..Default::default()
            };
            let _ = am.update(&fresh.db).await;
        }
        let stashed = audit_core::__private::stashed_records();
        assert!(
            stashed <= audit_core::__private::MAX_STASHED,
            "{stashed} records stashed"
        );
        fresh.cleanup().await.unwrap();
    });
}
