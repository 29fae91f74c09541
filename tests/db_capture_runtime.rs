//! `#[audit(capture = "database")]` wired into the runtime: the hooks of such an entity
//! write no audit rows (the triggers do, once per change), they hand the scope's actor and
//! context to the database in every kind of transaction, raw SQL inside
//! `audit_core::transaction` is attributed to the scope, and every way the library could
//! let a change through without its trail is refused before the change.

mod common;

use audit_core::{AuditContext, db_capture, with_actor};
use common::{Backend, FreshDb, RawRow, audit_rows, create_table};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Set, TransactionTrait,
};

mod ticket {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "ticket")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub status: String,
        #[audit(redact)]
        pub secret: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Captured by the database, but never installed nor checked by this process.
mod unchecked {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "unchecked")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub status: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

fn ticket(id: i32, status: &str) -> ticket::ActiveModel {
    ticket::ActiveModel {
        id: Set(id),
        status: Set(status.into()),
        secret: Set(format!("s-{id}")),
    }
}

/// One `status` row of the trail: (record, operation, old, new, actor).
type StatusRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The `status` rows of the trail: (record, operation, old, new, actor).
fn statuses(rows: &[RawRow]) -> Vec<StatusRow> {
    let text =
        |v: &Option<serde_json::Value>| v.as_ref().and_then(|v| v.as_str().map(str::to_owned));
    rows.iter()
        .filter(|r| r.table_name == "ticket" && r.column_name == "status")
        .map(|r| {
            (
                r.record_id.clone(),
                r.operation.clone(),
                text(&r.old_value),
                text(&r.new_value),
                r.actor.clone(),
            )
        })
        .collect()
}

fn row(id: &str, op: &str, old: Option<&str>, new: Option<&str>, actor: Option<&str>) -> StatusRow {
    (
        id.to_owned(),
        op.to_owned(),
        old.map(str::to_owned),
        new.map(str::to_owned),
        actor.map(str::to_owned),
    )
}

async fn database_capture_in_the_runtime(backend: Backend) {
    let Some(fresh) = FreshDb::connect(backend, 2).await.unwrap() else {
        return;
    };
    let db = &fresh.db;
    audit_core::create_audit_table(db).await.unwrap();
    create_table(db, ticket::Entity).await;
    create_table(db, unchecked::Entity).await;

    // A hooks-captured entity cannot be given triggers too (its changes would be
    // recorded twice).
    let err = db_capture::install::<common::account::Entity, _>(db)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("captured by its hooks"), "{err}");

    // A database-captured entity nobody installed or checked: its writes are refused,
    // before anything is written.
    let err = unchecked::ActiveModel {
        id: Set(1),
        status: Set("x".into()),
    }
    .insert(db)
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("has not installed or checked its capture"),
        "{err}"
    );
    assert!(unchecked::Entity::find().all(db).await.unwrap().is_empty());

    db_capture::install::<ticket::Entity, _>(db).await.unwrap();
    db_capture::check::<ticket::Entity, _>(db).await.unwrap();

    // Outside a transaction: without a scope the write goes through (NULL actor); with
    // one it is refused, since the database could not tie the actor to the write.
    ticket(1, "open").insert(db).await.unwrap();
    let err = with_actor("alice", ticket(2, "open").insert(db))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("inside `audit_core::transaction`"), "{err}");
    assert!(
        ticket::Entity::find_by_id(2)
            .one(db)
            .await
            .unwrap()
            .is_none()
    );

    // A plain transaction: the hooks hand the actor over for each write.
    with_actor("bob", async {
        let txn = db.begin().await?;
        let mut am = ticket(1, "open");
        am.status = Set("triaged".into());
        am.update(&txn).await?;
        ticket(2, "open").insert(&txn).await?;
        txn.commit().await
    })
    .await
    .unwrap();

    // `audit_core::transaction`: the scope at its start covers raw SQL too, a nested
    // scope is handed over when a hook runs under it, and bulk calls record once.
    with_actor(
        "carol",
        audit_core::transaction(db, |txn| {
            Box::pin(async move {
                txn.execute_unprepared("UPDATE ticket SET status = 'closed' WHERE id = 1")
                    .await?;
                with_actor("dave", ticket(3, "open").insert(txn)).await?;
                audit_core::bulk::update_many::<ticket::Entity>()
                    .col_expr(ticket::Column::Status, Expr::val("bulk"))
                    .filter(ticket::Column::Id.gte(2))
                    .exec(txn)
                    .await?;
                Ok::<_, DbErr>(())
            })
        }),
    )
    .await
    .unwrap();

    // After the commit no scope is left behind: an unscoped raw write has no actor.
    db.execute_unprepared("UPDATE ticket SET status = 'raw' WHERE id = 1")
        .await
        .unwrap();
    AuditContext::new()
        .actor("erin")
        .request_id("r-9")
        .scope(audit_core::transaction(db, |txn| {
            Box::pin(async move {
                let t = ticket::Entity::find_by_id(3).one(txn).await?.unwrap();
                sea_orm::ModelTrait::delete(t, txn).await?;
                Ok::<_, DbErr>(())
            })
        }))
        .await
        .unwrap();

    let rows = audit_rows(db).await.unwrap();
    assert_eq!(
        statuses(&rows),
        [
            row("1", "insert", None, Some("open"), None),
            row("1", "update", Some("open"), Some("triaged"), Some("bob")),
            row("2", "insert", None, Some("open"), Some("bob")),
            row(
                "1",
                "update",
                Some("triaged"),
                Some("closed"),
                Some("carol")
            ),
            row("3", "insert", None, Some("open"), Some("dave")),
            row("2", "update", Some("open"), Some("bulk"), Some("carol")),
            row("3", "update", Some("open"), Some("bulk"), Some("carol")),
            row("1", "update", Some("closed"), Some("raw"), None),
            row("3", "delete", Some("bulk"), None, Some("erin")),
        ],
        "{backend:?}: one row per change, each with its scope's actor"
    );
    // Redacted by the triggers as by the hooks; the context reached the database.
    assert!(
        rows.iter()
            .filter(|r| r.column_name == "secret")
            .all(|r| r.new_value.as_ref().is_none_or(|v| v == "[redacted]")),
        "{backend:?}"
    );
    let erased = rows
        .iter()
        .rev()
        .find(|r| r.actor.as_deref() == Some("erin"))
        .unwrap();
    assert_eq!(
        erased.context.as_ref().and_then(|c| c.get("request_id")),
        Some(&serde_json::json!("r-9")),
        "{backend:?}"
    );
    // History reads the database's rows like the hooks'.
    let history = audit_core::history::<ticket::Entity>(1)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(history.iter().filter(|e| e.column == "status").count(), 4);
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn database_capture_in_the_runtime_sqlite() {
    database_capture_in_the_runtime(Backend::Sqlite).await;
}

#[tokio::test]
async fn database_capture_in_the_runtime_postgres() {
    database_capture_in_the_runtime(Backend::Postgres).await;
}

#[tokio::test]
async fn database_capture_in_the_runtime_mysql() {
    database_capture_in_the_runtime(Backend::MySql).await;
}
