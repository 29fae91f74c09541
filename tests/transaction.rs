//! Buffered audited transactions (`audit_core::transaction`) on every backend: the trail
//! equals the one unbuffered writes leave, it is written in a few multi-row statements at
//! commit, reads inside the transaction see it, order holds across nested transactions,
//! and a transaction that rolls back or cannot write its trail commits nothing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_core::{bulk, with_actor};
use common::{Backend, RawRow, account, audit_rows, new_account, refuse_blocked_actor, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    ExprTrait, ModelTrait, PaginatorTrait, TransactionError, TransactionTrait,
};
use serde_json::json;

use account::Column as Col;

/// Inserts five accounts, updates each twice, deletes two: through `db`.
async fn writes<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(new_account(&format!("user{i}"), i).insert(db).await?.id);
    }
    for round in 1..=2 {
        for &id in &ids {
            account::ActiveModel {
                id: Set(id),
                balance: Set(i64::from(id) * 100 + round),
                note: Set(Some(format!("round {round}"))),
                ..Default::default()
            }
            .update(db)
            .await?;
        }
    }
    for &id in &ids[..2] {
        let model = account::Entity::find_by_id(id).one(db).await?;
        model.expect("row").delete(db).await?;
    }
    Ok(())
}

/// What the trail says, without ids, changeset ids and times.
fn trail(rows: &[RawRow]) -> Vec<(String, String, String, String, String)> {
    rows.iter()
        .map(|r| {
            (
                r.record_id.clone(),
                r.operation.clone(),
                r.column_name.clone(),
                format!("{:?}", r.old_value),
                format!("{:?}", r.new_value),
            )
        })
        .collect()
}

async fn same_trail_as_unbuffered(backend: Backend) {
    let (Some(plain), Some(buffered)) = (setup(backend, 1).await, setup(backend, 1).await) else {
        return;
    };
    let txn = plain.db.begin().await.unwrap();
    writes(&txn).await.unwrap();
    txn.commit().await.unwrap();
    audit_core::transaction(&buffered.db, |txn| Box::pin(writes(txn)))
        .await
        .unwrap();
    let expected = audit_rows(&plain.db).await.unwrap();
    let actual = audit_rows(&buffered.db).await.unwrap();
    assert_eq!(expected.len(), 5 * 5 + 10 * 2 + 2 * 5, "{backend:?}");
    assert_eq!(trail(&actual), trail(&expected), "{backend:?}");
    // One changeset per write, as unbuffered.
    let changesets = |rows: &[RawRow]| {
        let mut ids: Vec<_> = rows.iter().map(|r| r.changeset_id.clone()).collect();
        ids.dedup();
        ids.len()
    };
    assert_eq!(changesets(&actual), 5 + 10 + 2, "{backend:?}");
    plain.cleanup().await.unwrap();
    buffered.cleanup().await.unwrap();
}

#[tokio::test]
async fn same_trail_as_unbuffered_sqlite() {
    same_trail_as_unbuffered(Backend::Sqlite).await;
}

#[tokio::test]
async fn same_trail_as_unbuffered_postgres() {
    same_trail_as_unbuffered(Backend::Postgres).await;
}

#[tokio::test]
async fn same_trail_as_unbuffered_mysql() {
    same_trail_as_unbuffered(Backend::MySql).await;
}

/// Counts the statements `db` runs: audit `INSERT`s, and all.
fn count_statements(db: &mut DatabaseConnection) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (inserts, all) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (seen_inserts, seen_all) = (Arc::clone(&inserts), Arc::clone(&all));
    db.set_metric_callback(move |info| {
        let sql = info.statement.sql.trim_start();
        if sql.starts_with("INSERT INTO \"audit_log\"")
            || sql.starts_with("INSERT INTO `audit_log`")
        {
            seen_inserts.fetch_add(1, Ordering::Relaxed);
        }
        seen_all.fetch_add(1, Ordering::Relaxed);
    });
    (inserts, all)
}

/// Updates the balance and note of `ids`.
async fn set_balances<C: ConnectionTrait>(db: &C, ids: Vec<i32>) -> Result<(), DbErr> {
    for id in ids {
        account::ActiveModel {
            id: Set(id),
            balance: Set(1),
            note: Set(Some("x".into())),
            ..Default::default()
        }
        .update(db)
        .await?;
    }
    Ok(())
}

async fn one_insert_per_chunk(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    let (counter, all) = count_statements(&mut fresh.db);
    let db = &fresh.db;
    let ids: Vec<i32> = audit_core::without_auditing(async {
        let mut ids = Vec::new();
        for i in 0..150 {
            ids.push(
                new_account(&format!("u{i}"), 0)
                    .insert(db)
                    .await
                    .unwrap()
                    .id,
            );
        }
        ids
    })
    .await;
    // 50 writes, 100 audit rows: one INSERT at commit instead of 50.
    let first = ids[..50].to_vec();
    all.store(0, Ordering::Relaxed);
    audit_core::transaction(db, |txn| Box::pin(set_balances(txn, first)))
        .await
        .unwrap();
    assert_eq!(counter.swap(0, Ordering::Relaxed), 1, "{backend:?}");
    if backend == Backend::Sqlite {
        // Each old-row read rode with its UPDATE: 50 statements and the audit INSERT.
        assert_eq!(all.load(Ordering::Relaxed), 51);
    }
    // 100 writes, 200 audit rows from 100 changesets: 1,500 parameters, cut in two
    // statements (at most 1,005 parameters each).
    let rest = ids[50..].to_vec();
    audit_core::transaction(db, |txn| Box::pin(set_balances(txn, rest)))
        .await
        .unwrap();
    assert_eq!(counter.swap(0, Ordering::Relaxed), 2, "{backend:?}");
    assert_eq!(audit_rows(db).await.unwrap().len(), 300, "{backend:?}");
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn one_insert_per_chunk_sqlite() {
    one_insert_per_chunk(Backend::Sqlite).await;
}

#[tokio::test]
async fn one_insert_per_chunk_postgres() {
    one_insert_per_chunk(Backend::Postgres).await;
}

#[tokio::test]
async fn one_insert_per_chunk_mysql() {
    one_insert_per_chunk(Backend::MySql).await;
}

/// Inside the transaction, the history API sees buffered rows, and a nested bulk write
/// (a savepoint) lands after them: the chain of old and new values is unbroken.
async fn reads_and_nesting_keep_order(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    let id = audit_core::transaction(db, |txn| {
        Box::pin(async move {
            let id = new_account("a", 1).insert(txn).await?.id;
            let mut am: account::ActiveModel = account::Entity::find_by_id(id)
                .one(txn)
                .await?
                .expect("row")
                .into();
            am.balance = Set(2);
            am.update(txn).await?;
            bulk::update_many::<account::Entity>()
                .col_expr(Col::Balance, Expr::col(Col::Balance).add(1))
                .filter(Col::Id.eq(id))
                .exec(txn)
                .await?;
            let seen = audit_core::history::<account::Entity>(id)
                .fetch(txn)
                .await
                .map_err(DbErr::from)?;
            assert_eq!(seen.len(), 5 + 1 + 1, "every write visible inside");
            let mut am: account::ActiveModel = account::Entity::find_by_id(id)
                .one(txn)
                .await?
                .expect("row")
                .into();
            am.balance = Set(10);
            am.update(txn).await?;
            Ok::<_, DbErr>(id)
        })
    })
    .await
    .unwrap();
    let balances: Vec<_> = audit_rows(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.record_id == id.to_string() && r.column_name == "balance")
        .map(|r| (r.old_value, r.new_value))
        .collect();
    assert_eq!(
        balances,
        [
            (None, Some(json!(1))),
            (Some(json!(1)), Some(json!(2))),
            (Some(json!(2)), Some(json!(3))),
            (Some(json!(3)), Some(json!(10))),
        ],
        "{backend:?}"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn reads_and_nesting_keep_order_sqlite() {
    reads_and_nesting_keep_order(Backend::Sqlite).await;
}

#[tokio::test]
async fn reads_and_nesting_keep_order_postgres() {
    reads_and_nesting_keep_order(Backend::Postgres).await;
}

#[tokio::test]
async fn reads_and_nesting_keep_order_mysql() {
    reads_and_nesting_keep_order(Backend::MySql).await;
}

/// A closure that fails, and a trail the database refuses at commit: nothing commits.
async fn failures_commit_nothing(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    let failed = audit_core::transaction(db, |txn| {
        Box::pin(async move {
            new_account("gone", 1).insert(txn).await?;
            Err::<(), _>(DbErr::Custom("changed my mind".into()))
        })
    })
    .await;
    assert!(matches!(failed, Err(TransactionError::Transaction(_))));
    assert_eq!(account::Entity::find().count(db).await.unwrap(), 0);
    assert!(audit_rows(db).await.unwrap().is_empty(), "{backend:?}");

    // The database refuses audit rows by actor `blocked`: the refusal comes at commit,
    // when the buffer is written, and the change rolls back with it. (Unbuffered, SQLite
    // and MariaDB would commit the change if the caller ignored the audit error.)
    refuse_blocked_actor(db, backend).await;
    let refused = with_actor(
        "blocked",
        audit_core::transaction(db, |txn| {
            Box::pin(async move { new_account("refused", 1).insert(txn).await })
        }),
    )
    .await;
    assert!(
        matches!(refused, Err(TransactionError::Connection(_))),
        "{backend:?}: {refused:?}"
    );
    assert_eq!(account::Entity::find().count(db).await.unwrap(), 0);
    assert!(audit_rows(db).await.unwrap().is_empty(), "{backend:?}");
    // Another actor's transaction goes through.
    with_actor(
        "allowed",
        audit_core::transaction(db, |txn| {
            Box::pin(async move { new_account("kept", 1).insert(txn).await })
        }),
    )
    .await
    .unwrap();
    assert_eq!(account::Entity::find().count(db).await.unwrap(), 1);
    assert!(
        audit_rows(db)
            .await
            .unwrap()
            .iter()
            .all(|r| r.actor.as_deref() == Some("allowed")),
        "{backend:?}"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn failures_commit_nothing_sqlite() {
    failures_commit_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn failures_commit_nothing_postgres() {
    failures_commit_nothing(Backend::Postgres).await;
}

#[tokio::test]
async fn failures_commit_nothing_mysql() {
    failures_commit_nothing(Backend::MySql).await;
}

/// Past `FLUSH_AT_ROWS` buffered rows a write goes out at once, after the buffer.
#[tokio::test]
async fn large_transactions_flush_in_order() {
    let Some(fresh) = setup(Backend::Sqlite, 1).await else {
        return;
    };
    let db = &fresh.db;
    // Each insert records 5 rows (the skipped column records none).
    let inserts = audit_core::FLUSH_AT_ROWS / 5 + 10;
    audit_core::transaction(db, |txn| {
        Box::pin(async move {
            for i in 0..inserts {
                new_account(&format!("u{i}"), 0).insert(txn).await?;
            }
            Ok::<_, DbErr>(())
        })
    })
    .await
    .unwrap();
    let rows = audit_rows(db).await.unwrap();
    assert_eq!(rows.len(), inserts * 5);
    let records: Vec<i64> = rows.iter().map(|r| r.record_id.parse().unwrap()).collect();
    assert!(records.is_sorted(), "audit rows in write order");
    fresh.cleanup().await.unwrap();
}

/// SQLite's old-row reads ride with the write's statement: a write of a missing row
/// records nothing, and leaves nothing behind for the next write of that row.
#[tokio::test]
async fn missing_rows_record_nothing_sqlite() {
    let Some(fresh) = setup(Backend::Sqlite, 1).await else {
        return;
    };
    let db = &fresh.db;
    let id = new_account("a", 1).insert(db).await.unwrap().id;
    audit_core::transaction(db, |txn| {
        Box::pin(async move {
            let missing = account::ActiveModel {
                id: Set(id + 1),
                balance: Set(5),
                ..Default::default()
            };
            assert!(missing.update(txn).await.is_err());
            let deleted = account::ActiveModel {
                id: Set(id + 1),
                ..Default::default()
            }
            .delete(txn)
            .await?;
            assert_eq!(deleted.rows_affected, 0);
            account::ActiveModel {
                id: Set(id),
                balance: Set(2),
                ..Default::default()
            }
            .update(txn)
            .await?;
            account::ActiveModel {
                id: Set(id),
                ..Default::default()
            }
            .delete(txn)
            .await?;
            Ok::<_, DbErr>(())
        })
    })
    .await
    .unwrap();
    let rows = audit_rows(db).await.unwrap();
    assert!(rows.iter().all(|r| r.record_id == id.to_string()));
    let count = |op: &str| rows.iter().filter(|r| r.operation == op).count();
    assert_eq!(
        (count("insert"), count("update"), count("delete")),
        (5, 1, 5)
    );
    let balance: Vec<_> = rows
        .iter()
        .filter(|r| r.column_name == "balance")
        .map(|r| {
            (
                r.operation.as_str(),
                r.old_value.clone(),
                r.new_value.clone(),
            )
        })
        .collect();
    assert_eq!(
        balance,
        [
            ("insert", None, Some(json!(1))),
            ("update", Some(json!(1)), Some(json!(2))),
            ("delete", Some(json!(2)), None),
        ]
    );
    fresh.cleanup().await.unwrap();
}
