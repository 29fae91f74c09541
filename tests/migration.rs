//! The audit table shipped as a sea-orm-migration migration, up and down, on every backend.

mod common;

use audit_core::migration::CreateAuditTable;
use common::{Backend, FreshDb, account, audit_rows, create_table, new_account};
use sea_orm::ActiveModelTrait;
use sea_orm_migration::{MigrationTrait, MigratorTrait};

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateAuditTable::default())]
    }
}

async fn up_and_down(backend: Backend) {
    let Some(fresh) = FreshDb::connect(backend, 1).await.unwrap() else {
        return;
    };
    let db = &fresh.db;
    create_table(db, account::Entity).await;
    Migrator::up(db, None).await.unwrap();
    new_account("alice", 1).insert(db).await.unwrap();
    assert_eq!(audit_rows(db).await.unwrap().len(), 5, "{backend:?}");

    Migrator::down(db, None).await.unwrap();
    assert!(
        audit_rows(db).await.is_err(),
        "{backend:?}: the table is gone"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn migration_sqlite() {
    up_and_down(Backend::Sqlite).await;
}

#[tokio::test]
async fn migration_postgres() {
    up_and_down(Backend::Postgres).await;
}

#[tokio::test]
async fn migration_mysql() {
    up_and_down(Backend::MySql).await;
}
