//! The write path on every backend: insert, update, delete and save each leave exactly
//! the audit rows they should, with typed values, actor and context.

mod common;

use common::{Backend, account, audit_rows, new_account, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, EntityTrait, ModelTrait, TransactionTrait};
use serde_json::json;

async fn insert_update_delete(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;

    let created = audit_core::with_actor("alice", new_account("alice", 100).insert(db))
        .await
        .unwrap();
    let rows = audit_rows(db).await.unwrap();
    let columns: Vec<_> = rows.iter().map(|r| r.column_name.as_str()).collect();
    assert_eq!(
        columns,
        ["id", "owner", "balance", "note", "password_hash"],
        "{backend:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.operation == "insert" && r.old_value.is_none())
    );
    assert!(rows.iter().all(|r| r.actor.as_deref() == Some("alice")));
    assert!(rows.iter().all(|r| r.changeset_id == rows[0].changeset_id));
    assert_eq!(rows[0].record_id, created.id.to_string());
    assert_eq!(rows[1].new_value, Some(json!("alice")));
    assert_eq!(
        rows[2].new_value,
        Some(json!(100)),
        "a number stays a number"
    );
    assert_eq!(
        rows[3].new_value,
        Some(json!(null)),
        "JSON null where the value was NULL"
    );
    assert_eq!(rows[4].new_value, Some(json!(audit_core::REDACTED)));

    // An update records only what changed, with the old value read from the database.
    let mut am: account::ActiveModel = created.clone().into();
    am.balance = Set(250);
    am.note = Set(Some("raise".into()));
    am.password_hash = Set("new-hash".into());
    am.last_seen_at = Set(Some(chrono::Utc::now()));
    audit_core::AuditContext::new()
        .actor("bob")
        .request_id("req-1")
        .reason("ticket")
        .scope(am.update(db))
        .await
        .unwrap();
    let rows = audit_rows(db).await.unwrap();
    let update: Vec<_> = rows.iter().filter(|r| r.operation == "update").collect();
    let changed: Vec<_> = update
        .iter()
        .map(|r| {
            (
                r.column_name.as_str(),
                r.old_value.clone(),
                r.new_value.clone(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("balance", Some(json!(100)), Some(json!(250))),
            ("note", Some(json!(null)), Some(json!("raise"))),
            (
                "password_hash",
                Some(json!("[redacted]")),
                Some(json!("[redacted]"))
            ),
        ],
        "{backend:?}"
    );
    assert!(update.iter().all(|r| r.actor.as_deref() == Some("bob")));
    assert_eq!(
        update[0].context,
        Some(json!({"request_id": "req-1", "reason": "ticket"}))
    );
    assert_ne!(update[0].changeset_id, rows[0].changeset_id);

    // An update that changes nothing records nothing.
    let current = account::Entity::find_by_id(created.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let mut same: account::ActiveModel = current.clone().into();
    same.balance = Set(current.balance);
    same.reset(account::Column::Balance);
    same.update(db).await.unwrap();
    assert_eq!(
        audit_rows(db).await.unwrap().len(),
        rows.len(),
        "no rows for a no-op update"
    );

    // A delete records every audited column's old value.
    current.delete(db).await.unwrap();
    let rows = audit_rows(db).await.unwrap();
    let deleted: Vec<_> = rows.iter().filter(|r| r.operation == "delete").collect();
    assert_eq!(deleted.len(), 5);
    assert!(deleted.iter().all(|r| r.new_value.is_none()));
    assert_eq!(deleted[2].old_value, Some(json!(250)));
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn insert_update_delete_sqlite() {
    insert_update_delete(Backend::Sqlite).await;
}

#[tokio::test]
async fn insert_update_delete_postgres() {
    insert_update_delete(Backend::Postgres).await;
}

#[tokio::test]
async fn insert_update_delete_mysql() {
    insert_update_delete(Backend::MySql).await;
}

async fn failed_update_leaves_no_row(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    new_account("a", 1).insert(db).await.unwrap();
    let b = new_account("b", 2).insert(db).await.unwrap();
    let before = audit_rows(db).await.unwrap().len();

    // Outside a transaction: the unique constraint fails the update; no audit row appears.
    let mut am: account::ActiveModel = b.clone().into();
    am.owner = Set("a".into());
    assert!(am.clone().update(db).await.is_err());
    assert_eq!(
        audit_rows(db).await.unwrap().len(),
        before,
        "{backend:?}: outside a transaction"
    );

    // Inside one, the failed statement leaves no row even if the transaction commits.
    let txn = db.begin().await.unwrap();
    assert!(am.update(&txn).await.is_err());
    if backend == Backend::Postgres {
        txn.rollback().await.unwrap(); // PostgreSQL aborts the transaction on the error
    } else {
        txn.commit().await.unwrap();
    }
    assert_eq!(
        audit_rows(db).await.unwrap().len(),
        before,
        "{backend:?}: inside a transaction"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn failed_update_leaves_no_row_sqlite() {
    failed_update_leaves_no_row(Backend::Sqlite).await;
}

#[tokio::test]
async fn failed_update_leaves_no_row_postgres() {
    failed_update_leaves_no_row(Backend::Postgres).await;
}

#[tokio::test]
async fn failed_update_leaves_no_row_mysql() {
    failed_update_leaves_no_row(Backend::MySql).await;
}

async fn save_inserts_then_updates(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    let saved = new_account("carol", 5).save(db).await.unwrap();
    let mut am = saved;
    am.balance = Set(6);
    am.save(db).await.unwrap();
    let ops: Vec<_> = audit_rows(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.operation, r.column_name, r.new_value))
        .filter(|(op, column, _)| op == "update" || column == "balance")
        .collect();
    assert_eq!(
        ops,
        [
            ("insert".to_owned(), "balance".to_owned(), Some(json!(5))),
            ("update".to_owned(), "balance".to_owned(), Some(json!(6))),
        ],
        "{backend:?}"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn save_inserts_then_updates_sqlite() {
    save_inserts_then_updates(Backend::Sqlite).await;
}

#[tokio::test]
async fn save_inserts_then_updates_postgres() {
    save_inserts_then_updates(Backend::Postgres).await;
}

#[tokio::test]
async fn save_inserts_then_updates_mysql() {
    save_inserts_then_updates(Backend::MySql).await;
}
