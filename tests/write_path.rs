//! The write path fails closed (issue: "no change without its trail"), on every backend:
//! savepoints inside an audited transaction, flush errors the closure ignores, statements
//! cancelled mid-flight, keys the database treats as equal but spelled differently, input
//! the audit table cannot hold, and attacks on the append-only triggers.

mod common;

use std::time::Duration;

use audit_core::{AuditContext, AuditTableOptions, with_actor};
use common::{Backend, FreshDb, account, audit_rows, new_account, refuse_blocked_actor, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, ModelTrait, TransactionSession,
    TransactionTrait,
};
use serde_json::json;

/// Runs `$name(backend)` as one test per backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
            #[tokio::test]
            async fn mysql() {
                super::$name(Backend::MySql).await;
            }
        }
    )*};
}

on_every_backend!(
    savepoints_roll_back_outer_writes_and_keep_order,
    ignored_flush_errors_do_not_commit,
    cancelled_statements_do_not_commit,
    keys_equal_under_collation_keep_their_trail,
    input_the_trail_cannot_hold_is_refused_before_the_change,
    append_only_holds_against_replace_and_replication_role,
);

async fn run_sql<C: ConnectionTrait>(db: &C, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(drop)
}

async fn balance(fresh: &FreshDb, id: i32) -> i64 {
    account::Entity::find_by_id(id)
        .one(&fresh.db)
        .await
        .unwrap()
        .expect("the account")
        .balance
}

fn balance_am(id: i32, balance: i64) -> account::ActiveModel {
    account::ActiveModel {
        id: Set(id),
        balance: Set(balance),
        ..Default::default()
    }
}

/// The balances the trail records for account `id`, as (old, new), oldest first.
async fn balance_trail(fresh: &FreshDb, id: i32) -> Vec<(Option<i64>, Option<i64>)> {
    audit_rows(&fresh.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.column_name == "balance" && r.record_id == id.to_string())
        .map(|r| {
            let int = |v: Option<serde_json::Value>| v.and_then(|v| v.as_i64());
            (int(r.old_value), int(r.new_value))
        })
        .collect()
}

// ---- 1. savepoints -------------------------------------------------------------------

async fn savepoints_roll_back_outer_writes_and_keep_order(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let id = new_account("a", 100).insert(&fresh.db).await.unwrap().id;

    // A write through the outer transaction while a savepoint is open rolls back with it.
    audit_core::transaction(&fresh.db, |txn| {
        Box::pin(async move {
            let savepoint = txn.begin().await?;
            balance_am(id, 999).update(txn).await?;
            savepoint.rollback().await?;
            // The same with raw SQL savepoints.
            txn.execute_unprepared("SAVEPOINT raw_sp").await?;
            balance_am(id, 777).update(txn).await?;
            txn.execute_unprepared("ROLLBACK TO SAVEPOINT raw_sp")
                .await?;
            txn.execute_unprepared("RELEASE SAVEPOINT raw_sp").await?;
            Ok::<_, DbErr>(())
        })
    })
    .await
    .unwrap();
    assert_eq!(balance(&fresh, id).await, 100, "{backend:?}");
    assert_eq!(
        balance_trail(&fresh, id).await,
        [(None, Some(100))],
        "{backend:?}: no row for a change that rolled back"
    );

    // Savepoints that commit keep the trail in write order.
    audit_core::transaction(&fresh.db, |txn| {
        Box::pin(async move {
            balance_am(id, 1).update(txn).await?;
            let savepoint = txn.begin().await?;
            balance_am(id, 2).update(txn).await?;
            balance_am(id, 3).update(&savepoint).await?;
            savepoint.commit().await?;
            balance_am(id, 4).update(txn).await?;
            Ok::<_, DbErr>(())
        })
    })
    .await
    .unwrap();
    assert_eq!(
        balance_trail(&fresh, id).await,
        [
            (None, Some(100)),
            (Some(100), Some(1)),
            (Some(1), Some(2)),
            (Some(2), Some(3)),
            (Some(3), Some(4)),
        ],
        "{backend:?}"
    );
    let now = chrono::Utc::now() + chrono::Duration::seconds(1);
    let rebuilt = audit_core::history::snapshot_as_of::<account::Entity>(&fresh.db, id, now)
        .await
        .unwrap()
        .expect("a rebuilt state");
    assert_eq!(
        rebuilt.get(account::Column::Balance).unwrap(),
        4i64.into(),
        "{backend:?}: as_of(now) is the row"
    );
    assert_eq!(balance(&fresh, id).await, 4);

    // Raw transaction control would end the wrapper's own transaction: refused.
    let result = audit_core::transaction(&fresh.db, |txn| {
        Box::pin(async move {
            let err = txn.execute_unprepared("COMMIT").await.unwrap_err();
            assert!(err.to_string().contains("refused"), "{err}");
            Ok::<_, DbErr>(())
        })
    })
    .await;
    assert!(result.is_ok(), "{backend:?}: {result:?}");
    fresh.cleanup().await.unwrap();
}

// ---- 2. flush errors the closure ignores ---------------------------------------------

async fn ignored_flush_errors_do_not_commit(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let id = new_account("a", 100).insert(&fresh.db).await.unwrap().id;
    refuse_blocked_actor(&fresh.db, backend).await;
    let before = audit_rows(&fresh.db).await.unwrap();

    // A history read flushes the buffer; the flush fails, the closure shrugs it off.
    let result = with_actor(
        "blocked",
        audit_core::transaction(&fresh.db, |txn| {
            Box::pin(async move {
                balance_am(id, 5).update(txn).await?;
                let read = audit_core::history::<account::Entity>(id).fetch(txn).await;
                assert!(read.is_err(), "the flush fails");
                Ok::<_, DbErr>(())
            })
        }),
    )
    .await;
    let err = result.expect_err("a transaction whose audit rows failed must not commit");
    assert!(
        err.to_string().contains("cannot commit"),
        "{backend:?}: {err}"
    );
    assert_eq!(balance(&fresh, id).await, 100, "{backend:?}: rolled back");
    assert_eq!(audit_rows(&fresh.db).await.unwrap(), before);

    // An audit write that fails while a savepoint is open (written at once), ignored.
    let result = with_actor(
        "blocked",
        audit_core::transaction(&fresh.db, |txn| {
            Box::pin(async move {
                let savepoint = txn.begin().await?;
                let _ignored = balance_am(id, 6).update(&savepoint).await;
                savepoint.commit().await
            })
        }),
    )
    .await;
    assert!(result.is_err(), "{backend:?}: {result:?}");
    assert_eq!(balance(&fresh, id).await, 100, "{backend:?}");
    assert_eq!(audit_rows(&fresh.db).await.unwrap(), before);

    // The threshold flush (SQLite: the cheapest place to write 10,000 audit rows).
    if backend == Backend::Sqlite {
        let result = with_actor(
            "blocked",
            audit_core::transaction(&fresh.db, |txn| {
                Box::pin(async move {
                    let per_insert = 5;
                    for i in 0..=audit_core::FLUSH_AT_ROWS / per_insert {
                        let _ignored = new_account(&format!("bulk-{i}"), 1).insert(txn).await;
                    }
                    Ok::<_, DbErr>(())
                })
            }),
        )
        .await;
        assert!(result.is_err(), "{result:?}");
        assert_eq!(
            account::Entity::find().all(&fresh.db).await.unwrap().len(),
            1
        );
        assert_eq!(audit_rows(&fresh.db).await.unwrap(), before);
    }
    fresh.cleanup().await.unwrap();
}

// ---- 3. cancelled statements ---------------------------------------------------------

/// Makes every update of `account` take about half a second inside the database.
async fn slow_updates(fresh: &FreshDb) {
    let sql: &[&str] = match fresh.backend {
        Backend::Postgres => &[
            "CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$",
            "CREATE TRIGGER slow BEFORE UPDATE ON account FOR EACH ROW \
             EXECUTE FUNCTION slow_update()",
        ],
        Backend::MySql => {
            &["CREATE TRIGGER slow BEFORE UPDATE ON account FOR EACH ROW SET @slept = SLEEP(0.5)"]
        }
        Backend::Sqlite => &["CREATE TRIGGER slow BEFORE UPDATE ON account BEGIN \
              SELECT count(*) FROM (WITH RECURSIVE c(x) AS \
              (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT x FROM c); END"],
    };
    for statement in sql {
        run_sql(&fresh.db, statement).await.unwrap();
    }
}

async fn cancelled_statements_do_not_commit(backend: Backend) {
    let Some(fresh) = setup(backend, 2).await else {
        return;
    };
    let id = new_account("a", 100).insert(&fresh.db).await.unwrap().id;
    slow_updates(&fresh).await;
    let before = audit_rows(&fresh.db).await.unwrap();
    let result = audit_core::transaction(&fresh.db, |txn| {
        Box::pin(async move {
            let write = balance_am(id, 5).update(txn);
            let timed_out = tokio::time::timeout(Duration::from_millis(50), write).await;
            assert!(timed_out.is_err(), "the update was cancelled mid-flight");
            Ok::<_, DbErr>(())
        })
    })
    .await;
    let err = result.expect_err("a cancelled write must keep its transaction from committing");
    assert!(err.to_string().contains("cancelled"), "{backend:?}: {err}");
    assert_eq!(balance(&fresh, id).await, 100, "{backend:?}: rolled back");
    assert_eq!(audit_rows(&fresh.db).await.unwrap(), before);
    fresh.cleanup().await.unwrap();
}

// ---- 5. keys equal under the database's collation -----------------------------------

mod coded {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "coded")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// `coded` with a key column the database compares case-insensitively (PostgreSQL:
/// `CHAR(8)`, which ignores trailing blanks), or (`wide`) one that holds long keys.
async fn create_coded(fresh: &FreshDb, wide: bool) {
    let sql = match fresh.backend {
        Backend::Sqlite => {
            "CREATE TABLE coded (code TEXT PRIMARY KEY COLLATE NOCASE, label TEXT NOT NULL)"
        }
        Backend::MySql => {
            "CREATE TABLE coded (code VARCHAR(700) COLLATE utf8mb4_general_ci PRIMARY KEY, \
             label VARCHAR(64) NOT NULL) DEFAULT CHARSET = utf8mb4"
        }
        Backend::Postgres if wide => {
            "CREATE TABLE coded (code VARCHAR(700) PRIMARY KEY, label TEXT NOT NULL)"
        }
        Backend::Postgres => "CREATE TABLE coded (code CHAR(8) PRIMARY KEY, label TEXT NOT NULL)",
    };
    run_sql(&fresh.db, sql).await.unwrap();
}

async fn keys_equal_under_collation_keep_their_trail(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    create_coded(&fresh, false).await;
    let db = &fresh.db;
    let stored = coded::ActiveModel {
        code: Set("alice".into()),
        label: Set("v1".into()),
    }
    .insert(db)
    .await
    .unwrap()
    .code;
    // The key as the caller spells it: another case (PostgreSQL: without the padding).
    let spelled = if backend == Backend::Postgres {
        "alice".to_owned()
    } else {
        "ALICE".to_owned()
    };
    let relabel = |label: &str| coded::ActiveModel {
        code: Set(spelled.clone()),
        label: Set(label.into()),
    };
    relabel("v2").update(db).await.unwrap();
    let in_txn = relabel("v3");
    audit_core::transaction(db, |txn| {
        Box::pin(async move { in_txn.update(txn).await.map(drop) })
    })
    .await
    .unwrap();
    coded::ActiveModel {
        code: Set(spelled.clone()),
        ..Default::default()
    }
    .delete(db)
    .await
    .unwrap();
    let trail: Vec<_> = audit_rows(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.table_name == "coded" && r.column_name == "label")
        .map(|r| (r.record_id, r.operation, r.old_value, r.new_value))
        .collect();
    let row = |op: &str, old: Option<&str>, new: Option<&str>| {
        (
            stored.clone(),
            op.to_owned(),
            old.map(|v| json!(v)),
            new.map(|v| json!(v)),
        )
    };
    assert_eq!(
        trail,
        [
            row("insert", None, Some("v1")),
            row("update", Some("v1"), Some("v2")),
            row("update", Some("v2"), Some("v3")),
            row("delete", Some("v3"), None),
        ],
        "{backend:?}: one history, under the key as stored"
    );
    fresh.cleanup().await.unwrap();
}

// ---- 8. input the audit table cannot hold --------------------------------------------

async fn input_the_trail_cannot_hold_is_refused_before_the_change(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    create_coded(&fresh, true).await;
    let db = &fresh.db;
    let id = new_account("a", 100).insert(db).await.unwrap().id;
    let before = audit_rows(db).await.unwrap();

    let deep = (0..200).fold(json!(1), |inner, _| json!([inner]));
    let refused = [
        (AuditContext::new().actor("eve\0"), "NUL"),
        (
            AuditContext::new().actor("x".repeat(600)),
            "actor is 600 characters",
        ),
        (AuditContext::new().with("note", "a\0b"), "NUL"),
        (AuditContext::new().with("deep", deep), "levels deep"),
    ];
    for (context, expected) in refused {
        // Outside a transaction and inside one: refused before the change is made.
        let err = context
            .clone()
            .scope(balance_am(id, 5).update(db))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{backend:?}: {err}");
        let result = context
            .scope(audit_core::transaction(db, |txn| {
                Box::pin(async move { balance_am(id, 6).update(txn).await.map(drop) })
            }))
            .await;
        assert!(result.is_err(), "{backend:?}");
        assert_eq!(balance(&fresh, id).await, 100, "{backend:?}: {expected}");
    }
    let long_key = "k".repeat(600);
    let err = coded::ActiveModel {
        code: Set(long_key),
        label: Set("x".into()),
    }
    .insert(db)
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("key of `coded`"),
        "{backend:?}: {err}"
    );
    assert_eq!(coded::Entity::find().all(db).await.unwrap().len(), 0);
    assert_eq!(
        audit_rows(db).await.unwrap(),
        before,
        "{backend:?}: nothing written"
    );

    // What used to overflow `VARCHAR(255)` now fits, on every backend.
    let actor = "a".repeat(400);
    with_actor(actor.clone(), balance_am(id, 7).update(db))
        .await
        .unwrap();
    let key = "k".repeat(400);
    coded::ActiveModel {
        code: Set(key.clone()),
        label: Set("x".into()),
    }
    .insert(db)
    .await
    .unwrap();
    let rows = audit_rows(db).await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.actor.as_deref() == Some(actor.as_str()))
    );
    assert!(rows.iter().any(|r| r.record_id.trim_end() == key));
    fresh.cleanup().await.unwrap();
}

// ---- 10. append-only -----------------------------------------------------------------

async fn append_only_holds_against_replace_and_replication_role(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    let options = if backend == Backend::Postgres {
        AuditTableOptions::default().with_ddl_guard()
    } else {
        AuditTableOptions::append_only()
    };
    audit_core::create_audit_table_with(db, options)
        .await
        .unwrap();
    // Installing again is a no-op, also with the guard on.
    audit_core::create_audit_table_with(db, options)
        .await
        .unwrap();
    let id = new_account("a", 1).insert(db).await.unwrap().id;
    balance_am(id, 2).update(db).await.unwrap();
    let before = audit_rows(db).await.unwrap();
    let first = before[0].id;
    let forged = format!(
        "(id, changeset_id, table_name, record_id, operation, column_name, old_value, \
         new_value, actor, changed_at, context) VALUES ({first}, 'c', 'account', '1', \
         'update', 'balance', NULL, NULL, 'mallory', '2020-01-01 00:00:00', NULL)"
    );
    let attacks: Vec<String> = match backend {
        Backend::Sqlite => vec![
            format!("INSERT OR REPLACE INTO audit_log {forged}"),
            format!("REPLACE INTO audit_log {forged}"),
            "UPDATE OR REPLACE audit_log SET actor = 'mallory'".into(),
        ],
        Backend::MySql => vec![
            format!("REPLACE INTO audit_log {forged}"),
            format!("INSERT INTO audit_log {forged} ON DUPLICATE KEY UPDATE actor = 'mallory'"),
        ],
        Backend::Postgres => vec![
            "SET session_replication_role = replica; UPDATE audit_log SET actor = 'mallory'".into(),
            "SET session_replication_role = replica; DELETE FROM audit_log".into(),
            "ALTER TABLE audit_log ALTER COLUMN actor TYPE text USING 'mallory'".into(),
            "ALTER TABLE audit_log DISABLE TRIGGER ALL".into(),
            "ALTER TABLE audit_log RENAME TO old_trail".into(),
            "DROP TRIGGER audit_log_append_only ON audit_log".into(),
            "DROP FUNCTION audit_log_append_only() CASCADE".into(),
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$"
                .into(),
            "DROP TABLE audit_log".into(),
        ],
    };
    for attack in &attacks {
        // Each attack in a transaction of its own, rolled back whatever happens (the
        // `SET` must not outlive it), on a connection of its own.
        let txn = db.begin().await.unwrap();
        let result = run_sql(&txn, attack).await;
        txn.rollback().await.unwrap();
        assert!(result.is_err(), "{backend:?}: {attack} went through");
        let after = audit_rows(db).await.unwrap();
        assert_eq!(after, before, "{backend:?}: {attack} changed the trail");
    }
    // The library itself still writes under the guard.
    account::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .delete(db)
        .await
        .unwrap();
    assert!(audit_rows(db).await.unwrap().len() > before.len());
    fresh.cleanup().await.unwrap();
}
