//! Database capture of the write paths the hooks never see: upserts and foreign-key
//! cascades; and its installation: idempotent, removable, a migration step, and a
//! start-up check that names what drifted.

mod common;
#[path = "db_capture/support.rs"]
mod support;

use audit_core::db_capture;
use common::{Backend, account, audit_rows, create_table, new_account};
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};
use sea_orm_migration::{MigrationTrait, SchemaManager};
use serde_json::json;
use support::{captured, captured_account, raw};

mod parent {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "parent")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

mod child {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    /// A composite key, so the cascade's rows show the JSON-array record id too.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "child")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub parent_id: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub slot: String,
        pub label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::parent::Entity",
            from = "Column::ParentId",
            to = "super::parent::Column::Id",
            on_delete = "Cascade"
        )]
        Parent,
    }

    impl Related<super::parent::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Parent.def()
        }
    }
}

/// `account` as it would be declared after adding a column.
mod account_added {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "account")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub owner: String,
        pub balance: i64,
        pub note: Option<String>,
        #[audit(redact)]
        pub password_hash: String,
        #[audit(skip)]
        pub last_seen_at: Option<ChronoDateTimeUtc>,
        pub email: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// `account` with `note` now redacted.
mod account_redacted {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "account")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub owner: String,
        pub balance: i64,
        #[audit(redact)]
        pub note: Option<String>,
        #[audit(redact)]
        pub password_hash: String,
        #[audit(skip)]
        pub last_seen_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

fn ops(rows: &[common::RawRow]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|r| {
            (
                r.record_id.clone(),
                r.operation.clone(),
                r.column_name.clone(),
            )
        })
        .collect()
}

async fn upserts(backend: Backend) {
    let Some(fresh) = captured(backend).await else {
        return;
    };
    let db = &fresh.db;
    raw(
        db,
        "INSERT INTO account (id, owner, balance, password_hash) VALUES (1, 'ann', 1, 'h')",
    )
    .await;
    let start = audit_rows(db).await.unwrap().len();
    // SeaORM's upsert: ON CONFLICT DO UPDATE / ON DUPLICATE KEY UPDATE.
    let am = account::ActiveModel {
        id: Set(1),
        ..new_account("ann", 5)
    };
    account::Entity::insert(am)
        .on_conflict(
            OnConflict::column(account::Column::Id)
                .update_column(account::Column::Balance)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .unwrap();
    let rows = audit_rows(db).await.unwrap();
    let new = &rows[start..];
    assert_eq!(
        ops(new),
        [("1".into(), "update".into(), "balance".into())],
        "{new:?}"
    );
    assert_eq!(
        (new[0].old_value.clone(), new[0].new_value.clone()),
        (Some(json!(1)), Some(json!(5)))
    );
    // One statement inserting one row and updating another.
    let both = match backend {
        Backend::MySql => {
            "INSERT INTO account (id, owner, balance, password_hash) VALUES \
                           (1, 'ann', 6, 'h'), (2, 'bob', 2, 'h') \
                           ON DUPLICATE KEY UPDATE balance = VALUES(balance)"
        }
        _ => {
            "INSERT INTO account (id, owner, balance, password_hash) VALUES \
              (1, 'ann', 6, 'h'), (2, 'bob', 2, 'h') \
              ON CONFLICT (id) DO UPDATE SET balance = excluded.balance"
        }
    };
    let start = rows.len();
    raw(db, both).await;
    let rows = audit_rows(db).await.unwrap();
    let mut got = ops(&rows[start..]);
    got.sort();
    let mut want: Vec<(String, String, String)> =
        ["balance", "id", "note", "owner", "password_hash"]
            .iter()
            .map(|c| ("2".into(), "insert".into(), (*c).into()))
            .collect();
    want.push(("1".into(), "update".into(), "balance".into()));
    want.sort();
    assert_eq!(got, want);
    // Replacing a row: its delete (old values) and the insert (new ones).
    let replace = match backend {
        Backend::MySql => {
            "REPLACE INTO account (id, owner, balance, password_hash) VALUES (2, 'bea', 3, 'h')"
        }
        Backend::Sqlite => {
            "INSERT OR REPLACE INTO account (id, owner, balance, password_hash) VALUES (2, 'bea', 3, 'h')"
        }
        Backend::Postgres => return fresh.cleanup().await.unwrap(),
    };
    let start = rows.len();
    raw(db, replace).await;
    let rows = audit_rows(db).await.unwrap();
    let new = &rows[start..];
    let owner = |op: &str| {
        new.iter()
            .find(|r| r.operation == op && r.column_name == "owner")
            .cloned()
    };
    assert_eq!(
        owner("delete").map(|r| r.old_value),
        Some(Some(json!("bob"))),
        "{new:?}"
    );
    assert_eq!(
        owner("insert").map(|r| r.new_value),
        Some(Some(json!("bea"))),
        "{new:?}"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn upserts_sqlite() {
    upserts(Backend::Sqlite).await;
}

#[tokio::test]
async fn upserts_postgres() {
    upserts(Backend::Postgres).await;
}

#[tokio::test]
async fn upserts_mysql() {
    upserts(Backend::MySql).await;
}

/// A foreign-key cascade deletes children inside the parent's statement: PostgreSQL and
/// SQLite fire the children's triggers; MySQL fires none (documented: no trail).
async fn cascades(backend: Backend) {
    let Some(fresh) = captured(backend).await else {
        return;
    };
    let db = &fresh.db;
    create_table(db, parent::Entity).await;
    create_table(db, child::Entity).await;
    db_capture::install_all(
        db,
        &[
            db_capture::Capture::of::<parent::Entity>().unwrap(),
            db_capture::Capture::of::<child::Entity>().unwrap(),
        ],
    )
    .await
    .unwrap();
    raw(db, "INSERT INTO parent (id, name) VALUES (1, 'p')").await;
    raw(
        db,
        "INSERT INTO child (parent_id, slot, label) VALUES (1, 'a', 'x'), (1, 'b', 'y')",
    )
    .await;
    let start = audit_rows(db).await.unwrap().len();
    raw(db, "DELETE FROM parent WHERE id = 1").await;
    let rows = audit_rows(db).await.unwrap();
    let children: Vec<_> = rows[start..]
        .iter()
        .filter(|r| r.table_name == "child")
        .collect();
    assert!(
        rows[start..]
            .iter()
            .any(|r| r.table_name == "parent" && r.operation == "delete")
    );
    if backend == Backend::MySql {
        assert!(
            children.is_empty(),
            "MySQL fires no triggers for cascades: {children:?}"
        );
    } else {
        let mut ids: Vec<_> = children
            .iter()
            .filter(|r| r.column_name == "label")
            .map(|r| (r.record_id.as_str(), r.old_value.clone()))
            .collect();
        ids.sort_by(|a, b| a.0.cmp(b.0));
        assert_eq!(
            ids,
            [
                (r#"[1,"a"]"#, Some(json!("x"))),
                (r#"[1,"b"]"#, Some(json!("y")))
            ]
        );
        assert!(children.iter().all(|r| r.operation == "delete"));
    }
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn cascades_sqlite() {
    cascades(Backend::Sqlite).await;
}

#[tokio::test]
async fn cascades_postgres() {
    cascades(Backend::Postgres).await;
}

#[tokio::test]
async fn cascades_mysql() {
    cascades(Backend::MySql).await;
}

/// Install twice, check, drift (a column added, a policy changed, a trigger dropped, a
/// column renamed in the database), uninstall, and the migration step.
async fn install_and_drift(backend: Backend) {
    let Some(fresh) = captured(backend).await else {
        return;
    };
    let db = &fresh.db;
    db_capture::install::<captured_account::Entity, _>(db)
        .await
        .unwrap();
    db_capture::check::<captured_account::Entity, _>(db)
        .await
        .unwrap();
    raw(
        db,
        "INSERT INTO account (id, owner, balance, password_hash) VALUES (1, 'ann', 1, 'h')",
    )
    .await;
    assert_eq!(
        audit_rows(db).await.unwrap().len(),
        5,
        "installed twice, captured once"
    );

    let message = |e: audit_core::AuditError| e.to_string();
    raw(db, "ALTER TABLE account ADD COLUMN email TEXT").await;
    let err = message(
        db_capture::check::<account_added::Entity, _>(db)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("`account.email` is not captured"), "{err}");
    let err = message(
        db_capture::check::<account_redacted::Entity, _>(db)
            .await
            .unwrap_err(),
    );
    assert!(
        err.contains("`account.note`") && err.contains("redact"),
        "{err}"
    );
    db_capture::install::<account_added::Entity, _>(db)
        .await
        .unwrap();
    db_capture::check::<account_added::Entity, _>(db)
        .await
        .unwrap();
    let err = message(
        db_capture::check::<captured_account::Entity, _>(db)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("`account.email` is captured but"), "{err}");
    db_capture::install::<captured_account::Entity, _>(db)
        .await
        .unwrap();

    let drop = match backend {
        Backend::Postgres => "DROP TRIGGER account_audit_update ON account",
        _ => "DROP TRIGGER account_audit_update",
    };
    raw(db, drop).await;
    let err = message(
        db_capture::check::<captured_account::Entity, _>(db)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("`account_audit_update` is missing"), "{err}");
    db_capture::install::<captured_account::Entity, _>(db)
        .await
        .unwrap();
    raw(db, "ALTER TABLE account RENAME COLUMN note TO memo").await;
    let err = message(
        db_capture::check::<captured_account::Entity, _>(db)
            .await
            .unwrap_err(),
    );
    assert!(
        err.contains("`account.note` is not in the database table"),
        "{err}"
    );
    raw(db, "ALTER TABLE account RENAME COLUMN memo TO note").await;
    db_capture::install::<captured_account::Entity, _>(db)
        .await
        .unwrap();
    db_capture::check::<captured_account::Entity, _>(db)
        .await
        .unwrap();

    // Removing capture: nothing more is recorded, and the check says so.
    db_capture::uninstall::<captured_account::Entity, _>(db)
        .await
        .unwrap();
    let err = message(
        db_capture::check::<captured_account::Entity, _>(db)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("not installed"), "{err}");
    let count = audit_rows(db).await.unwrap().len();
    raw(db, "UPDATE account SET balance = 2").await;
    assert_eq!(audit_rows(db).await.unwrap().len(), count);

    // The migration step.
    let step = db_capture::InstallCapture::new(
        "m20261203_000001_capture",
        vec![db_capture::Capture::of::<captured_account::Entity>().unwrap()],
    );
    let manager = SchemaManager::new(db);
    step.up(&manager).await.unwrap();
    db_capture::check::<captured_account::Entity, _>(db)
        .await
        .unwrap();
    raw(db, "UPDATE account SET balance = 3").await;
    assert_eq!(audit_rows(db).await.unwrap().len(), count + 1);
    step.down(&manager).await.unwrap();
    assert!(
        db_capture::check::<captured_account::Entity, _>(db)
            .await
            .is_err()
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn install_and_drift_sqlite() {
    install_and_drift(Backend::Sqlite).await;
}

#[tokio::test]
async fn install_and_drift_postgres() {
    install_and_drift(Backend::Postgres).await;
}

#[tokio::test]
async fn install_and_drift_mysql() {
    install_and_drift(Backend::MySql).await;
}
