//! The history reads use the audit table's indexes, not full scans: `EXPLAIN` of the
//! statements the history API runs, on every backend, over a trail of 100,000 rows.
//!
//! Run with `--nocapture` to see the plans.

mod common;

use audit_core::AuditTableOptions;
use audit_core::HistoryQuery;
use common::{Backend, create_table, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, Statement};

mod ticket {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "ticket")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub status: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Fills the trail with 100,000 rows over 4 tables, 10,000 records, 1,000 actors and
/// 8 columns (one table's one column is 1 row in 32), in one `INSERT ... SELECT` over a
/// cross join of digits.
async fn fill(db: &DatabaseConnection, backend: Backend) {
    let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                  UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                  UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let text = |expr: &str| match backend {
        Backend::Postgres => format!("CAST({expr} AS VARCHAR)"),
        Backend::MySql => format!("CAST({expr} AS CHAR)"),
        Backend::Sqlite => format!("CAST({expr} AS TEXT)"),
    };
    let (json, at) = match backend {
        Backend::Postgres => (
            "'\"x\"'::jsonb",
            "CAST('2024-01-01T00:00:00Z' AS TIMESTAMPTZ)",
        ),
        Backend::MySql => ("'\"x\"'", "'2024-01-01 00:00:00'"),
        Backend::Sqlite => ("'\"x\"'", "'2024-01-01T00:00:00.000000Z'"),
    };
    let n = "(a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d)";
    let sql = format!(
        "INSERT INTO audit_log (changeset_id, table_name, record_id, operation, column_name, \
         old_value, new_value, actor, changed_at, context) \
         SELECT {changeset}, \
         CASE {n} % 4 WHEN 0 THEN 'ticket' WHEN 1 THEN 'account' WHEN 2 THEN 'orders' ELSE 'users' END, \
         {record}, 'update', \
         CASE ({n} / 4) % 8 WHEN 0 THEN 'status' WHEN 1 THEN 'title' WHEN 2 THEN 'note' \
         WHEN 3 THEN 'owner' WHEN 4 THEN 'due' WHEN 5 THEN 'tags' WHEN 6 THEN 'body' \
         ELSE 'kind' END, \
         {json}, {json}, {actor}, {at}, NULL \
         FROM {digits} a, {digits} b, {digits} c, {digits} e, {digits} f",
        changeset = text(n),
        record = text(&format!("{n} / 10")),
        actor = text(&format!("{n} % 1000")),
    );
    db.execute_unprepared(&sql).await.unwrap();
    let analyze = match backend {
        Backend::Postgres => "ANALYZE audit_log",
        Backend::MySql => "ANALYZE TABLE audit_log",
        Backend::Sqlite => "ANALYZE",
    };
    db.execute_unprepared(analyze).await.unwrap();
}

/// The plan of `query` on this backend, one line per step.
async fn plan(db: &DatabaseConnection, query: &HistoryQuery) -> String {
    let backend = db.get_database_backend();
    let statement = query.statement(backend);
    let prefix = match backend {
        DbBackend::Sqlite => "EXPLAIN QUERY PLAN ",
        _ => "EXPLAIN ",
    };
    let explain = Statement::from_sql_and_values(
        backend,
        format!("{prefix}{}", statement.sql),
        statement.values.map(|v| v.0).unwrap_or_default(),
    );
    let rows = db.query_all_raw(explain).await.unwrap();
    let lines: Vec<String> = rows
        .iter()
        .map(|row| match backend {
            DbBackend::Sqlite => row.try_get::<String>("", "detail").unwrap(),
            DbBackend::Postgres => row.try_get::<String>("", "QUERY PLAN").unwrap(),
            _ => {
                let get = |col| {
                    row.try_get::<Option<String>>("", col)
                        .unwrap()
                        .unwrap_or_default()
                };
                format!(
                    "table={} type={} key={} extra={}",
                    get("table"),
                    get("type"),
                    get("key"),
                    get("Extra")
                )
            }
        })
        .collect();
    lines.join("\n")
}

/// Asserts the plan reads through `index` and scans nothing whole.
fn assert_uses(backend: Backend, what: &str, plan: &str, index: &str) {
    println!("--- {backend:?}: {what}\n{plan}");
    assert!(
        plan.contains(index),
        "{backend:?} {what}: expected index `{index}` in\n{plan}"
    );
    let full_scan = match backend {
        Backend::Postgres => plan.contains("Seq Scan"),
        Backend::MySql => plan.contains("type=ALL"),
        Backend::Sqlite => plan.lines().any(|l| l.starts_with("SCAN audit_log")),
    };
    assert!(!full_scan, "{backend:?} {what}: full scan in\n{plan}");
}

async fn plans(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    // The column index is opt-in; options apply when the table is created.
    db.execute_unprepared("DROP TABLE audit_log").await.unwrap();
    audit_core::create_audit_table_with(db, AuditTableOptions::default().with_column_index())
        .await
        .unwrap();
    create_table(db, ticket::Entity).await;
    fill(db, backend).await;

    let record = audit_core::history::<ticket::Entity>(42);
    assert_uses(
        backend,
        "one record's history",
        &plan(db, &record).await,
        "audit_log_record",
    );
    let newest = audit_core::history::<ticket::Entity>(42)
        .newest_first()
        .after(1_000_000)
        .limit(20);
    assert_uses(
        backend,
        "a page of one record, newest first",
        &plan(db, &newest).await,
        "audit_log_record",
    );
    let until = audit_core::history::<ticket::Entity>(42).until(chrono::Utc::now());
    assert_uses(
        backend,
        "one record as of an instant",
        &plan(db, &until).await,
        "audit_log_record",
    );
    // A changeset id is a UUIDv7 of its rows' time: the time index finds it.
    let written = ticket::ActiveModel {
        status: Set("open".into()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    // The filler rows share ids with the new ticket: take the insert's own changeset.
    let mut entries = audit_core::history::<ticket::Entity>(written.id)
        .fetch(db)
        .await
        .unwrap();
    let id = entries.last().unwrap().changeset_id.clone();
    entries.retain(|e| e.changeset_id == id);
    assert_eq!(entries.len(), 2, "{backend:?}: the insert's id and status");
    let changeset = audit_core::all_history().changeset(id);
    assert_uses(
        backend,
        "one changeset",
        &plan(db, &changeset).await,
        "audit_log_time",
    );
    assert_eq!(changeset.fetch(db).await.unwrap(), entries, "{backend:?}");
    let actor = audit_core::all_history().actor("42");
    assert_uses(
        backend,
        "one actor's changes",
        &plan(db, &actor).await,
        "audit_log_actor",
    );
    let closed = audit_core::table_history::<ticket::Entity>()
        .column(ticket::Column::Status)
        .new_value("closed");
    assert_uses(
        backend,
        "every time a status became \"closed\"",
        &plan(db, &closed).await,
        "audit_log_column",
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn plans_sqlite() {
    plans(Backend::Sqlite).await;
}

#[tokio::test]
async fn plans_postgres() {
    plans(Backend::Postgres).await;
}

#[tokio::test]
async fn plans_mysql() {
    plans(Backend::MySql).await;
}
