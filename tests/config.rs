//! Process-wide settings (own test binary: they are global). A custom audit table name and
//! strict mode, which refuses audited writes outside a transaction; the global actor provider.

mod common;

use audit_core::{AuditConfig, AuditError};
use common::{Backend, FreshDb, account, audit_rows, create_table, new_account, setup};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Statement, TransactionTrait};

/// The tests here change process-wide settings: one at a time.
static GLOBAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn count(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

#[tokio::test]
async fn custom_table_and_strict_mode() {
    let _global = GLOBAL.lock().await;
    let mut bad = AuditConfig::default();
    bad.table_name = "audit log; drop".into();
    let err = audit_core::configure(bad).unwrap_err();
    assert!(matches!(err, AuditError::Config(_)), "{err}");
    assert!(
        err.to_string().contains("audit log; drop"),
        "names the bad value: {err}"
    );
    assert_eq!(
        audit_core::config(),
        AuditConfig::DEFAULT,
        "a rejected config changes nothing"
    );

    let mut trail = AuditConfig::default();
    trail.table_name = "trail".into();
    trail.require_transaction = true;
    audit_core::configure(trail).unwrap();
    let fresh = FreshDb::connect(Backend::Sqlite, 1).await.unwrap().unwrap();
    let db = &fresh.db;
    audit_core::create_audit_table(db).await.unwrap();
    audit_core::create_audit_table(db)
        .await
        .expect("idempotent");
    create_table(db, account::Entity).await;

    let err = new_account("outside", 1).insert(db).await.unwrap_err();
    assert!(err.to_string().contains("outside a transaction"), "{err}");
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM account").await,
        0,
        "nothing written"
    );

    let txn = db.begin().await.unwrap();
    let created = new_account("inside", 1).insert(&txn).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM trail WHERE operation = 'insert'").await,
        5
    );

    let err = account::Entity::find_by_id(created.id)
        .one(db)
        .await
        .unwrap()
        .map(|m| async move { sea_orm::ModelTrait::delete(m, db).await })
        .unwrap()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("strict mode"), "{err}");
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM account").await,
        1,
        "delete refused"
    );
    audit_core::configure(AuditConfig::DEFAULT).unwrap();
}

#[tokio::test]
async fn provider_is_the_fallback_and_scopes_win() {
    let _global = GLOBAL.lock().await;
    let Some(fresh) = setup(Backend::Sqlite, 1).await else {
        return;
    };
    let db = &fresh.db;
    audit_core::set_actor_provider(|| Some("system".to_owned()));
    new_account("a", 1).insert(db).await.unwrap();
    audit_core::with_actor("alice", new_account("b", 2).insert(db))
        .await
        .unwrap();
    audit_core::clear_actor_provider();
    new_account("c", 3).insert(db).await.unwrap();

    let actors: Vec<_> = audit_rows(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.column_name == "owner")
        .map(|r| r.actor)
        .collect();
    assert_eq!(
        actors,
        [Some("system".to_owned()), Some("alice".to_owned()), None]
    );
}

/// Strict mode tells a transaction by its type, never its name (issue "no change without
/// its trail", item 11): `DatabaseExecutor::Transaction`, which sea-orm-migration hands
/// out, passes where the database can say it is one; `DatabaseExecutor::Connection` and
/// `DatabaseConnection` are refused before anything is written.
async fn strict_mode_knows_transactions(backend: Backend) {
    let _global = GLOBAL.lock().await;
    let Some(fresh) = setup(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    let mut strict = AuditConfig::default();
    strict.require_transaction = true;
    audit_core::configure(strict).unwrap();

    let txn = db.begin().await.unwrap();
    let through_executor = new_account("executor", 1)
        .insert(&sea_orm::DatabaseExecutor::from(&txn))
        .await;
    if backend == Backend::Sqlite {
        // SQLite cannot be asked whether a connection is in a transaction.
        let err = through_executor.unwrap_err().to_string();
        assert!(
            err.contains("pass the `DatabaseTransaction` itself"),
            "{err}"
        );
    } else {
        through_executor.unwrap();
    }
    new_account("transaction", 2).insert(&txn).await.unwrap();
    txn.commit().await.unwrap();
    let err = new_account("pool", 3)
        .insert(&sea_orm::DatabaseExecutor::from(db))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("outside a transaction") || err.contains("itself"),
        "{err}"
    );
    let err = new_account("connection", 4).insert(db).await.unwrap_err();
    assert!(err.to_string().contains("outside a transaction"), "{err}");
    audit_core::transaction(db, |txn| {
        Box::pin(async move { new_account("buffered", 5).insert(txn).await.map(|_| ()) })
    })
    .await
    .unwrap();
    audit_core::configure(AuditConfig::DEFAULT).unwrap();

    let owners: Vec<String> = account::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.owner)
        .collect();
    let expected: &[&str] = if backend == Backend::Sqlite {
        &["transaction", "buffered"]
    } else {
        &["executor", "transaction", "buffered"]
    };
    assert_eq!(
        owners, expected,
        "{backend:?}: refused writes wrote nothing"
    );
    let audited = audit_rows(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.column_name == "owner")
        .count();
    assert_eq!(audited, expected.len(), "{backend:?}: one trail per write");
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn strict_mode_knows_transactions_sqlite() {
    strict_mode_knows_transactions(Backend::Sqlite).await;
}

#[tokio::test]
async fn strict_mode_knows_transactions_postgres() {
    strict_mode_knows_transactions(Backend::Postgres).await;
}

#[tokio::test]
async fn strict_mode_knows_transactions_mysql() {
    strict_mode_knows_transactions(Backend::MySql).await;
}
