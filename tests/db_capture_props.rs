//! Database capture against hooks capture on random write sequences, and the scope of
//! one transaction never reaching another's rows.

mod common;
#[path = "db_capture/support.rs"]
mod support;

use audit_core::{AuditContext, db_capture};
use common::{Backend, FreshDb, account, audit_rows, new_account, setup};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    ModelTrait, Set,
};
use support::{assert_same_trail, in_scope, raw, trail};

#[derive(Clone, Debug)]
enum Op {
    Insert {
        balance: i64,
        note: Option<String>,
    },
    Update {
        pick: usize,
        balance: i64,
        note: Option<Option<String>>,
        hash: Option<String>,
        seen: bool,
    },
    Delete {
        pick: usize,
    },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let note = || prop::option::of("[a-z'\"\\\\ é]{0,4}");
    let op = prop_oneof![
        (0..3i64, note()).prop_map(|(balance, note)| Op::Insert { balance, note }),
        (
            any::<usize>(),
            0..3i64,
            prop::option::of(note()),
            prop::option::of("[ab]"),
            any::<bool>()
        )
            .prop_map(|(pick, balance, note, hash, seen)| Op::Update {
                pick,
                balance,
                note,
                hash,
                seen
            }),
        any::<usize>().prop_map(|pick| Op::Delete { pick }),
    ];
    prop::collection::vec(op, 1..12)
}

/// Applies `ops` to `db`, returning the ids inserted (the same on both databases).
async fn apply(db: &DatabaseConnection, ops: &[Op], start: usize) -> Vec<i32> {
    let mut live: Vec<i32> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        match op {
            Op::Insert { balance, note } => {
                let mut am = new_account(&format!("o{}", start + n), *balance);
                am.note = Set(note.clone());
                live.push(am.insert(db).await.unwrap().id);
            }
            Op::Update {
                pick,
                balance,
                note,
                hash,
                seen,
            } if !live.is_empty() => {
                let id = live[pick % live.len()];
                let mut am = account::Entity::find_by_id(id)
                    .one(db)
                    .await
                    .unwrap()
                    .unwrap()
                    .into_active_model();
                am.balance = Set(*balance);
                if let Some(note) = note {
                    am.note = Set(note.clone());
                }
                if let Some(hash) = hash {
                    am.password_hash = Set(hash.clone());
                }
                if *seen {
                    am.last_seen_at = Set(Some(
                        chrono::DateTime::from_timestamp(1_700_000_000 + n as i64, 0).unwrap(),
                    ));
                }
                am.update(db).await.unwrap();
            }
            Op::Delete { pick } if !live.is_empty() => {
                let id = live.remove(pick % live.len());
                let model = account::Entity::find_by_id(id)
                    .one(db)
                    .await
                    .unwrap()
                    .unwrap();
                model.delete(db).await.unwrap();
            }
            _ => {}
        }
    }
    live
}

async fn reset(db: &DatabaseConnection) {
    audit_core::without_auditing(async {
        raw(db, "DELETE FROM account").await;
        raw(db, "DELETE FROM audit_log").await;
    })
    .await;
}

fn property(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some((hooks, triggers)) = rt.block_on(async {
        let hooks = setup(backend, 1).await?;
        let triggers = support::captured(backend).await?;
        Some((hooks, triggers))
    }) else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let start = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&ops(), |ops| {
        let start = start.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(async {
            reset(&hooks.db).await;
            reset(&triggers.db).await;
            let a = apply(&hooks.db, &ops, start).await;
            let b = audit_core::without_auditing(apply(&triggers.db, &ops, start)).await;
            assert_eq!(a, b, "the same ids");
            let what = format!("{backend:?} {ops:?}");
            assert_same_trail::<account::Entity>(
                &trail(&hooks.db).await,
                &trail(&triggers.db).await,
                &what,
            );
        });
        Ok(())
    });
    rt.block_on(async {
        hooks.cleanup().await.unwrap();
        triggers.cleanup().await.unwrap();
    });
    if let Err(failure) = result {
        panic!("{backend:?}: {failure}");
    }
}

#[test]
fn same_trail_as_hooks_sqlite() {
    property(Backend::Sqlite, 32);
}

#[test]
fn same_trail_as_hooks_postgres() {
    property(Backend::Postgres, 12);
}

#[test]
fn same_trail_as_hooks_mysql() {
    property(Backend::MySql, 12);
}

/// `transactions` transactions through one pool of 4, 4 at a time, each with its own
/// actor (alternating with writes outside any scope, and with transactions that roll
/// back or are dropped with their scope still set): every row has the actor of the
/// transaction that wrote it, or none.
async fn no_leak(backend: Backend, transactions: usize) {
    let Some(fresh) = FreshDb::connect(backend, 4).await.unwrap() else {
        return;
    };
    let db = &fresh.db;
    audit_core::create_audit_table(db).await.unwrap();
    common::create_table(db, account::Entity).await;
    db_capture::install::<support::captured_account::Entity, _>(db)
        .await
        .unwrap();
    for id in 1..=4 {
        raw(db, &format!("INSERT INTO account (id, owner, balance, password_hash) VALUES ({id}, 'o{id}', 0, 'h')")).await;
    }
    let workers = (0..4).map(|worker| {
        let db = db.clone();
        tokio::spawn(async move {
            for i in (worker..transactions).step_by(4) {
                let id = worker + 1;
                let update =
                    format!("UPDATE account SET balance = {i}, note = 'tx-{i}' WHERE id = {id}");
                match i % 10 {
                    // Outside any scope.
                    3 => raw(&db, &update).await,
                    // Scope set, then the transaction is dropped (rolled back).
                    7 => {
                        let tx = sea_orm::TransactionTrait::begin(&db).await.unwrap();
                        let ctx = AuditContext::new().actor(format!("dropped-{i}"));
                        for s in db_capture::scope_statements(tx.get_database_backend(), &ctx) {
                            tx.execute_raw(s).await.unwrap();
                        }
                        raw(&tx, &update).await;
                        drop(tx);
                    }
                    _ => {
                        let ctx = AuditContext::new().actor(format!("user-{i}"));
                        in_scope(&db, &ctx, |tx| {
                            Box::pin(async move { raw(tx, &update).await })
                        })
                        .await;
                    }
                }
            }
        })
    });
    for worker in workers.collect::<Vec<_>>() {
        worker.await.unwrap();
    }
    let rows = audit_rows(db).await.unwrap();
    let mut checked = 0;
    for row in rows
        .iter()
        .filter(|r| r.column_name == "note" && r.operation == "update")
    {
        let note = row.new_value.as_ref().and_then(|v| v.as_str()).unwrap();
        let i: usize = note.trim_start_matches("tx-").parse().unwrap();
        let expected = (i % 10 != 3).then(|| format!("user-{i}"));
        assert_eq!(row.actor, expected, "row of transaction {i}");
        assert_ne!(i % 10, 7, "a rolled-back transaction left a row");
        checked += 1;
    }
    let committed = (0..transactions).filter(|i| i % 10 != 7).count();
    assert_eq!(checked, committed, "one row per committed write");
    eprintln!(
        "{backend:?}: {transactions} transactions, {checked} rows checked, 0 with another's actor"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_leak_sqlite() {
    no_leak(Backend::Sqlite, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_leak_postgres() {
    no_leak(Backend::Postgres, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_leak_mysql() {
    no_leak(Backend::MySql, 400).await;
}

/// The figure: 10,000 transactions (`cargo test --release --test db_capture_props
/// -- --ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn no_leak_10k() {
    for backend in Backend::ALL {
        no_leak(backend, 10_000).await;
    }
}
