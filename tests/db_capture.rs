//! Database capture: the triggers `audit_core::db_capture` generates write the trail of
//! every change to an audited table, whatever path made it, with the values the hooks
//! would have written.

mod common;
#[path = "db_capture/every.rs"]
mod every_type;
#[path = "db_capture/support.rs"]
mod support;

use audit_core::db_capture;
use common::{Backend, account, audit_rows, create_table, new_account};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::json;
use support::{assert_same_trail, captured, in_scope, raw, trail};

async fn raw_and_bulk_writes(backend: Backend) {
    let Some(fresh) = captured(backend).await else {
        return;
    };
    let db = &fresh.db;
    // Raw SQL: one row, then many in one statement.
    raw(
        db,
        "INSERT INTO account (id, owner, balance, note, password_hash, last_seen_at) \
             VALUES (1, 'ann', 10, NULL, 'h1', NULL)",
    )
    .await;
    raw(
        db,
        "INSERT INTO account (id, owner, balance, note, password_hash, last_seen_at) \
             VALUES (2, 'bob', 20, 'x', 'h2', NULL), (3, 'cy', 30, NULL, 'h3', NULL)",
    )
    .await;
    raw(
        db,
        "UPDATE account SET balance = balance + 1, last_seen_at = NULL WHERE id >= 1",
    )
    .await;
    // The skipped column alone changing records nothing.
    let seen = if backend == Backend::Sqlite {
        "'2026-01-01 00:00:00+00:00'"
    } else {
        "'2026-01-01 00:00:00'"
    };
    raw(
        db,
        &format!("UPDATE account SET last_seen_at = {seen} WHERE id = 1"),
    )
    .await;
    raw(db, "DELETE FROM account WHERE id IN (2, 3)").await;
    let rows = audit_rows(db).await.unwrap();
    let ops: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.record_id.as_str(),
                r.operation.as_str(),
                r.column_name.as_str(),
            )
        })
        .collect();
    // 3 inserts x 5 recorded columns, 3 updates x 1 column, 2 deletes x 5 columns.
    assert_eq!(rows.len(), 15 + 3 + 10, "{ops:?}");
    assert!(
        rows.iter().all(|r| r.column_name != "last_seen_at"),
        "skipped column recorded"
    );
    let hash = rows
        .iter()
        .find(|r| r.column_name == "password_hash" && r.record_id == "2")
        .unwrap();
    assert_eq!(hash.new_value, Some(json!(audit_core::REDACTED)));
    let update = rows
        .iter()
        .find(|r| r.operation == "update" && r.record_id == "3")
        .unwrap();
    assert_eq!(
        (update.old_value.clone(), update.new_value.clone()),
        (Some(json!(30)), Some(json!(31)))
    );
    let deleted = rows
        .iter()
        .find(|r| r.operation == "delete" && r.record_id == "2" && r.column_name == "note")
        .unwrap();
    assert_eq!(
        (deleted.old_value.clone(), deleted.new_value.clone()),
        (Some(json!("x")), None)
    );
    // No scope: no actor, the database user in the context.
    assert!(rows.iter().all(|r| r.actor.is_none()));
    assert!(rows.iter().all(|r| {
        r.context
            .as_ref()
            .is_some_and(|c| c.get("db_user").is_some())
    }));
    // One changeset per statement on PostgreSQL, per row elsewhere.
    let changesets = |op: &str| {
        let mut ids: Vec<&str> = rows
            .iter()
            .filter(|r| r.operation == op)
            .map(|r| r.changeset_id.as_str())
            .collect();
        ids.dedup();
        ids.len()
    };
    let per_statement = backend == Backend::Postgres;
    assert_eq!(changesets("insert"), if per_statement { 2 } else { 3 });
    assert_eq!(changesets("update"), if per_statement { 1 } else { 3 });
    // A changeset id finds its rows through the history API.
    let id = &rows[0].changeset_id;
    let found = audit_core::all_history()
        .changeset(id.clone())
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        rows.iter().filter(|r| &r.changeset_id == id).count()
    );

    // SeaORM's bulk methods, which no hook sees.
    let before = audit_rows(db).await.unwrap().len();
    let with_id = |id, owner, balance| account::ActiveModel {
        id: Set(id),
        ..new_account(owner, balance)
    };
    account::Entity::insert_many([with_id(10, "dee", 40), with_id(11, "eve", 50)])
        .exec(db)
        .await
        .unwrap();
    account::Entity::update_many()
        .col_expr(account::Column::Note, Expr::value("bulk"))
        .filter(account::Column::Balance.gte(40))
        .exec(db)
        .await
        .unwrap();
    let dee = account::Entity::find()
        .filter(account::Column::Owner.eq("dee"))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let mut am = dee.clone().into_active_model();
    am.balance = Set(41);
    account::Entity::update(am).exec(db).await.unwrap();
    account::Entity::delete_many()
        .filter(account::Column::Owner.eq("eve"))
        .exec(db)
        .await
        .unwrap();
    let rows = audit_rows(db).await.unwrap();
    let new: Vec<_> = rows[before..]
        .iter()
        .map(|r| (r.operation.as_str(), r.column_name.as_str()))
        .collect();
    assert_eq!(
        new.iter().filter(|(op, _)| *op == "insert").count(),
        10,
        "{new:?}"
    );
    assert_eq!(
        new.iter().filter(|r| *r == &("update", "note")).count(),
        2,
        "{new:?}"
    );
    assert_eq!(
        new.iter().filter(|r| *r == &("update", "balance")).count(),
        1,
        "{new:?}"
    );
    assert_eq!(
        new.iter().filter(|(op, _)| *op == "delete").count(),
        5,
        "{new:?}"
    );

    // The history API reads database-written rows like hook-written ones.
    let versions = audit_core::versions::<account::Entity>(db, dee.id)
        .await
        .unwrap();
    assert_eq!(versions.len(), 3);
    let entries = audit_core::history::<account::Entity>(dee.id)
        .fetch(db)
        .await
        .unwrap();
    let inserted = entries.iter().find(|e| e.column == "balance").unwrap();
    assert_eq!(
        (inserted.operation, inserted.new_value.clone()),
        (audit_core::Operation::Insert, Some(json!(40)))
    );
    let diff = audit_core::diff_versions::<account::Entity>(db, dee.id, 2, 3)
        .await
        .unwrap();
    assert_eq!(diff.len(), 1);
    assert_eq!(diff[0].column, "balance");
    // Restore a row deleted by raw SQL (the restore's own insert is captured too).
    let fill = account::ActiveModel {
        password_hash: Set("h2".into()),
        last_seen_at: Set(None),
        ..Default::default()
    };
    audit_core::without_auditing(audit_core::restore_with::<account::Entity>(db, 2, fill))
        .await
        .unwrap();
    let back = account::Entity::find_by_id(2)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (back.owner.as_str(), back.balance, back.note.as_deref()),
        ("bob", 21, Some("x"))
    );
    let last = audit_rows(db).await.unwrap();
    assert_eq!(
        last.last()
            .map(|r| (r.record_id.as_str(), r.operation.as_str())),
        Some(("2", "insert"))
    );
    // Revert the bulk update of `dee`'s note, made by `update_many`.
    let note_change = audit_core::history::<account::Entity>(dee.id)
        .column(account::Column::Note)
        .operation(audit_core::Operation::Update)
        .fetch(db)
        .await
        .unwrap();
    let reverted = audit_core::without_auditing(audit_core::revert::<account::Entity>(
        db,
        dee.id,
        &note_change[0].changeset_id,
        audit_core::OnConflict::Refuse,
    ))
    .await
    .unwrap()
    .unwrap();
    assert_eq!((reverted.note, reverted.balance), (None, 41));
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn raw_and_bulk_writes_sqlite() {
    raw_and_bulk_writes(Backend::Sqlite).await;
}

#[tokio::test]
async fn raw_and_bulk_writes_postgres() {
    raw_and_bulk_writes(Backend::Postgres).await;
}

#[tokio::test]
async fn raw_and_bulk_writes_mysql() {
    raw_and_bulk_writes(Backend::MySql).await;
}

/// Every column type of `tests/fidelity.rs`: the same writes through the hooks (one
/// database) and through the triggers (another) leave trails that decode identically.
async fn every_type_same_trail(backend: Backend) {
    use every_type::{every, high, low, nulls};
    let (Some(hooks), Some(triggers)) = (
        common::setup(backend, 1).await,
        common::setup(backend, 1).await,
    ) else {
        return;
    };
    for db in [&hooks.db, &triggers.db] {
        create_table(db, every::Entity).await;
        if backend == Backend::MySql {
            db.execute_unprepared(every_type::MYSQL_TYPES)
                .await
                .unwrap();
        }
    }
    db_capture::install_all(
        &triggers.db,
        &[db_capture::Capture::beside_hooks::<every::Entity>().unwrap()],
    )
    .await
    .unwrap();
    let states = [low(backend), high(backend), nulls(), low(backend)];
    for via_hooks in [true, false] {
        let db = if via_hooks { &hooks.db } else { &triggers.db };
        let write = async {
            for (step, state) in states.iter().enumerate() {
                let am = every_type::all_set::<every::Entity>(state.clone());
                if step == 0 {
                    am.insert(db).await.unwrap()
                } else {
                    am.update(db).await.unwrap()
                };
            }
            every::Entity::delete_by_id(1).exec(db).await.unwrap();
        };
        if via_hooks {
            write.await;
        } else {
            audit_core::without_auditing(write).await;
        }
    }
    // The hooks saw no delete (`delete_by_id`): compare the writes before it, then check
    // the trigger's delete holds the last state.
    let hooks_trail = trail(&hooks.db).await;
    let trigger_trail = trail(&triggers.db).await;
    assert_eq!(trigger_trail.len(), hooks_trail.len() + 1);
    assert_same_trail::<every::Entity>(
        &hooks_trail,
        &trigger_trail[..hooks_trail.len()],
        &format!("{backend:?}"),
    );
    let deleted = trigger_trail.last().unwrap();
    assert!(deleted.iter().all(|r| r.operation == "delete"));
    let rebuilt = audit_core::as_of::<every::Entity>(&triggers.db, 1, chrono::Utc::now())
        .await
        .unwrap();
    assert!(rebuilt.is_none(), "deleted");
    let restored =
        audit_core::without_auditing(audit_core::restore::<every::Entity>(&triggers.db, 1))
            .await
            .unwrap();
    let stored = every::Entity::find_by_id(1)
        .one(&triggers.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(restored, stored);
    let last = audit_core::at_version::<every::Entity>(&triggers.db, 1, 4)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(format!("{stored:?}"), format!("{last:?}"));
    hooks.cleanup().await.unwrap();
    triggers.cleanup().await.unwrap();
}

#[tokio::test]
async fn every_type_same_trail_sqlite() {
    every_type_same_trail(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_type_same_trail_postgres() {
    every_type_same_trail(Backend::Postgres).await;
}

#[tokio::test]
async fn every_type_same_trail_mysql() {
    every_type_same_trail(Backend::MySql).await;
}

/// The scope's actor and context reach the triggers; a savepoint rolled back takes its
/// rows with it; a statement that fails midway leaves neither changes nor rows.
async fn scope_savepoints_and_failures(backend: Backend) {
    let Some(fresh) = captured(backend).await else {
        return;
    };
    let db = &fresh.db;
    let context = audit_core::AuditContext::new()
        .actor("alice")
        .request_id("r-1");
    in_scope(db, &context, |tx| {
        Box::pin(async move {
            raw(
                tx,
                "INSERT INTO account (id, owner, balance, password_hash) VALUES (1, 'ann', 1, 'h')",
            )
            .await;
            let inner = tx.begin().await.unwrap();
            raw(&inner, "UPDATE account SET balance = 99 WHERE id = 1").await;
            inner.rollback().await.unwrap();
            raw(tx, "UPDATE account SET balance = 2 WHERE id = 1").await;
        })
    })
    .await;
    let rows = audit_rows(db).await.unwrap();
    assert!(
        rows.iter().all(|r| r.actor.as_deref() == Some("alice")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.context == Some(json!({"request_id": "r-1"})))
    );
    let updates: Vec<_> = rows.iter().filter(|r| r.operation == "update").collect();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        (updates[0].old_value.clone(), updates[0].new_value.clone()),
        (Some(json!(1)), Some(json!(2)))
    );
    // A scope without metadata: the actor, no context (as the hooks write it).
    let plain = audit_core::AuditContext::new().actor("bob");
    in_scope(db, &plain, |tx| {
        Box::pin(async move {
            raw(tx, "UPDATE account SET balance = 3 WHERE id = 1").await;
        })
    })
    .await;
    let last = audit_rows(db).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.actor.as_deref(), last.context.clone()),
        (Some("bob"), None)
    );
    // After the scope, a write from elsewhere has no actor.
    raw(db, "UPDATE account SET balance = 4 WHERE id = 1").await;
    let last = audit_rows(db).await.unwrap().pop().unwrap();
    assert_eq!(last.actor, None);

    // A statement failing on its second row: neither the first row's change nor its trail.
    raw(
        db,
        "INSERT INTO account (id, owner, balance, password_hash) VALUES (2, 'bob', 1, 'h')",
    )
    .await;
    let count = audit_rows(db).await.unwrap().len();
    let failed = db
        .execute_unprepared("UPDATE account SET owner = 'same' WHERE id IN (1, 2)")
        .await;
    assert!(failed.is_err());
    assert_eq!(audit_rows(db).await.unwrap().len(), count);
    // An UPDATE changing a primary key is refused.
    let err = db
        .execute_unprepared("UPDATE account SET id = 7 WHERE id = 2")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("changed a primary key"), "{err}");
    // A statement cancelled mid-flight (PostgreSQL: statement_timeout; MariaDB:
    // max_statement_time): its changes and its rows go together.
    let cancelled = match backend {
        Backend::Postgres => {
            Some("UPDATE account SET balance = balance + 1 WHERE pg_sleep(0.3) IS NOT NULL")
        }
        Backend::MySql => Some(
            "SET STATEMENT max_statement_time = 0.1 FOR \
             UPDATE account SET balance = balance + 1 WHERE SLEEP(0.3) = 0",
        ),
        Backend::Sqlite => None,
    };
    if let Some(sql) = cancelled {
        let tx = db.begin().await.unwrap();
        if backend == Backend::Postgres {
            raw(&tx, "SET LOCAL statement_timeout = '100ms'").await;
        }
        assert!(tx.execute_unprepared(sql).await.is_err());
        drop(tx);
        assert_eq!(audit_rows(db).await.unwrap().len(), count);
        let balance = account::Entity::find_by_id(1)
            .one(db)
            .await
            .unwrap()
            .unwrap()
            .balance;
        assert_eq!(balance, 4);
    }
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn scope_savepoints_and_failures_sqlite() {
    scope_savepoints_and_failures(Backend::Sqlite).await;
}

#[tokio::test]
async fn scope_savepoints_and_failures_postgres() {
    scope_savepoints_and_failures(Backend::Postgres).await;
}

#[tokio::test]
async fn scope_savepoints_and_failures_mysql() {
    scope_savepoints_and_failures(Backend::MySql).await;
}
