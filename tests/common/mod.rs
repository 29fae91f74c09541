//! Shared by the integration tests: fresh databases on every backend, a test entity, and
//! a raw reader of `audit_log` rows.
#![allow(dead_code)]

use audit_core::AuditedEntity;
use sea_orm::{ConnectionTrait, DbErr, Schema, Statement};
pub use seaorm_audit::{Backend, FreshDb};
use serde_json::Value as Json;

/// A fresh database on `backend` with the audit table and `account` created, or `None`
/// (the skip is printed) when that backend's URL is unset.
pub async fn setup(backend: Backend, max_connections: u32) -> Option<FreshDb> {
    let fresh = FreshDb::connect(backend, max_connections)
        .await
        .expect("connect");
    let fresh = fresh?;
    audit_core::create_audit_table(&fresh.db)
        .await
        .expect("create audit table");
    create_table(&fresh.db, account::Entity).await;
    install_capture::<account::Entity>(&fresh.db).await;
    Some(fresh)
}

/// Whether this build runs the suites under database capture (the root package's feature
/// `database-capture-suites`): `account` and the entities of `tests/hostile_input.rs` are
/// then `#[audit(capture = "database")]`, and their triggers write the trail.
pub const DATABASE_CAPTURE: bool = cfg!(feature = "database-capture-suites");

/// Installs the capture triggers of `E` under [`DATABASE_CAPTURE`] (a no-op otherwise).
pub async fn install_capture<E: AuditedEntity>(db: &sea_orm::DatabaseConnection) {
    if DATABASE_CAPTURE {
        audit_core::db_capture::install::<E, _>(db)
            .await
            .expect("install database capture");
    }
}

/// Creates the table of `entity`.
pub async fn create_table<E: sea_orm::EntityTrait>(db: &sea_orm::DatabaseConnection, entity: E) {
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(entity))
        .await
        .expect("create table");
}

/// Makes the database refuse audit rows whose actor is `blocked`: a trigger on SQLite, a
/// `CHECK` constraint on the others.
pub async fn refuse_blocked_actor<C: ConnectionTrait>(db: &C, backend: Backend) {
    let rule = if backend == Backend::Sqlite {
        "CREATE TRIGGER audit_no_blocked BEFORE INSERT ON audit_log WHEN NEW.actor = 'blocked' \
         BEGIN SELECT RAISE(ABORT, 'audit_no_blocked: actor blocked'); END"
    } else {
        "ALTER TABLE audit_log ADD CONSTRAINT audit_no_blocked \
         CHECK (actor IS NULL OR actor <> 'blocked')"
    };
    db.execute_unprepared(rule).await.expect("refusal rule");
}

/// One `audit_log` row as stored, read back without the history API.
#[derive(Clone, Debug, PartialEq)]
pub struct RawRow {
    pub id: i64,
    pub changeset_id: String,
    pub table_name: String,
    pub record_id: String,
    pub operation: String,
    pub column_name: String,
    pub old_value: Option<Json>,
    pub new_value: Option<Json>,
    pub actor: Option<String>,
    pub context: Option<Json>,
}

/// Every `audit_log` row, oldest first.
pub async fn audit_rows<C: ConnectionTrait>(db: &C) -> Result<Vec<RawRow>, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, changeset_id, table_name, record_id, operation, column_name, \
             old_value, new_value, actor, context FROM audit_log ORDER BY id",
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            let json = |col: &str| -> Result<Option<Json>, DbErr> {
                if backend == sea_orm::DbBackend::Postgres {
                    row.try_get::<Option<Json>>("", col)
                } else {
                    let text: Option<String> = row.try_get("", col)?;
                    Ok(text.map(|t| serde_json::from_str(&t).expect("valid JSON")))
                }
            };
            Ok(RawRow {
                id: row.try_get("", "id")?,
                changeset_id: row.try_get("", "changeset_id")?,
                table_name: row.try_get("", "table_name")?,
                record_id: row.try_get("", "record_id")?,
                operation: row.try_get("", "operation")?,
                column_name: row.try_get("", "column_name")?,
                old_value: json("old_value")?,
                new_value: json("new_value")?,
                actor: row.try_get("", "actor")?,
                context: json("context")?,
            })
        })
        .collect()
}

/// The test entity of most tests (captured by the database under [`DATABASE_CAPTURE`]).
pub mod account {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "account")]
    #[cfg_attr(feature = "database-capture-suites", audit(capture = "database"))]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(unique)]
        pub owner: String,
        pub balance: i64,
        pub note: Option<String>,
        #[audit(redact)]
        pub password_hash: String,
        #[audit(skip)]
        pub last_seen_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A new `account` active model for `owner` with `balance`.
pub fn new_account(owner: &str, balance: i64) -> account::ActiveModel {
    use sea_orm::ActiveValue::Set;
    account::ActiveModel {
        owner: Set(owner.to_owned()),
        balance: Set(balance),
        note: Set(None),
        password_hash: Set(format!("hash-of-{owner}")),
        last_seen_at: Set(None),
        ..Default::default()
    }
}
