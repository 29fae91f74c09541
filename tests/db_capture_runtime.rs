//! `#[audit(capture = "database")]` wired into the runtime: the hooks of such an entity
//! write no audit rows (the triggers do, once per change), they hand the scope's actor and
//! context to the database in every kind of transaction, raw SQL inside
//! `audit_core::transaction` is attributed to the scope, and every way the library could
//! let a change through without its trail is refused before the change. The history API
//! (`as_of`, `diff_*`, `revert`, `restore`) works unchanged on the rows the triggers wrote.

mod common;

use audit_core::{AuditContext, db_capture, with_actor};
use common::{Backend, FreshDb, RawRow, audit_rows, create_table};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Set, TransactionTrait,
};
use serde_json::json;

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

/// Captured by the database, with no redacted or skipped column: the whole record can be
/// rebuilt from the trail.
mod card {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "card")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub status: String,
        pub points: i64,
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

fn card(status: &str, points: i64) -> card::Model {
    card::Model {
        id: 1,
        status: status.into(),
        points,
    }
}

/// A pause longer than the coarsest database clock (SQLite's, in milliseconds), so the
/// instants taken between writes fall strictly between their `changed_at`.
async fn tick() -> chrono::DateTime<chrono::Utc> {
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let now = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    now
}

/// Raw SQL writes a card's trail (the triggers alone); `as_of`, `diff_times`,
/// `diff_versions`, `revert` and `restore` read it like a hook-written one, and the undo
/// writes are recorded once each, by the triggers, with the scope's actor.
async fn history_api_on_trigger_rows(backend: Backend) {
    let Some(fresh) = FreshDb::connect(backend, 2).await.unwrap() else {
        return;
    };
    let db = &fresh.db;
    create_table(db, card::Entity).await;
    db_capture::install::<card::Entity, _>(db).await.unwrap();
    let before_insert = tick().await;
    db.execute_unprepared("INSERT INTO card (id, status, points) VALUES (1, 'open', 3)")
        .await
        .unwrap();
    let opened = tick().await;
    with_actor(
        "bob",
        audit_core::transaction(db, |txn| {
            Box::pin(async move {
                txn.execute_unprepared("UPDATE card SET status = 'closed', points = 5 WHERE id = 1")
                    .await
                    .map(drop)
            })
        }),
    )
    .await
    .unwrap();
    let closed = tick().await;

    let at = |t| audit_core::as_of::<card::Entity>(db, 1, t);
    assert_eq!(at(before_insert).await.unwrap(), None, "{backend:?}");
    assert_eq!(
        at(opened).await.unwrap(),
        Some(card("open", 3)),
        "{backend:?}"
    );
    assert_eq!(
        at(closed).await.unwrap(),
        Some(card("closed", 5)),
        "{backend:?}"
    );
    let diff: Vec<_> = audit_core::diff_times::<card::Entity>(db, 1, opened, closed)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.column, d.old_value, d.new_value))
        .collect();
    let closing = [
        (
            "status".to_owned(),
            Some(json!("open")),
            Some(json!("closed")),
        ),
        ("points".to_owned(), Some(json!(3)), Some(json!(5))),
    ];
    assert_eq!(diff, closing, "{backend:?}: diff_times");
    let diff: Vec<_> = audit_core::diff_versions::<card::Entity>(db, 1, 1, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.column, d.old_value, d.new_value))
        .collect();
    assert_eq!(diff, closing, "{backend:?}: diff_versions");

    // Revert the raw UPDATE; then restore the card after a raw DELETE.
    let versions = audit_core::versions::<card::Entity>(db, 1).await.unwrap();
    let reverted = with_actor(
        "carol",
        audit_core::revert::<card::Entity>(
            db,
            1,
            &versions[1].changeset_id,
            audit_core::OnConflict::Refuse,
        ),
    )
    .await
    .unwrap();
    assert_eq!(reverted, Some(card("open", 3)), "{backend:?}: reverted");
    db.execute_unprepared("DELETE FROM card WHERE id = 1")
        .await
        .unwrap();
    let restored = with_actor("dave", audit_core::restore::<card::Entity>(db, 1))
        .await
        .unwrap();
    assert_eq!(restored, card("open", 3), "{backend:?}: restored");
    assert_eq!(
        card::Entity::find_by_id(1).one(db).await.unwrap(),
        Some(card("open", 3)),
        "{backend:?}: stored"
    );
    let trail: Vec<_> = audit_core::versions::<card::Entity>(db, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.operation, v.actor, v.changes.len()))
        .collect();
    use audit_core::Operation::{Delete, Insert, Update};
    let actor = |a: &str| Some(a.to_owned());
    assert_eq!(
        trail,
        [
            (Insert, None, 3),
            (Update, actor("bob"), 2),
            (Update, actor("carol"), 2),
            (Delete, None, 3),
            (Insert, actor("dave"), 3),
        ],
        "{backend:?}: each undo recorded once, with its actor"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn history_api_on_trigger_rows_sqlite() {
    history_api_on_trigger_rows(Backend::Sqlite).await;
}

#[tokio::test]
async fn history_api_on_trigger_rows_postgres() {
    history_api_on_trigger_rows(Backend::Postgres).await;
}

#[tokio::test]
async fn history_api_on_trigger_rows_mysql() {
    history_api_on_trigger_rows(Backend::MySql).await;
}
