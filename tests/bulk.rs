//! Audited bulk writes on every backend: the trail equals the one row-by-row writes
//! leave, failures leave nothing, and statements grow with chunks, not rows.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_core::bulk;
use common::{Backend, RawRow, account, audit_rows, new_account, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ExprTrait, ModelTrait,
    PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde_json::Value as Json;

use account::Column as Col;

/// Thirty accounts; every third one already has note `vip`.
fn models() -> Vec<account::ActiveModel> {
    (0..30)
        .map(|i| {
            let mut model = new_account(&format!("user{i}"), i * 10);
            if i % 3 == 0 {
                model.note = Set(Some("vip".into()));
            }
            model
        })
        .collect()
}

/// The bulk calls under test.
async fn bulk_writes(db: &DatabaseConnection) {
    let created = bulk::insert_many(models())
        .exec_with_returning(db)
        .await
        .unwrap();
    assert_eq!(created.len(), 30);
    assert_eq!(created[29].owner, "user29");
    let raised = bulk::update_many::<account::Entity>()
        .col_expr(Col::Balance, Expr::col(Col::Balance).add(7))
        .col_expr(Col::Note, Expr::val("vip"))
        .filter(Col::Balance.gte(100))
        .exec(db)
        .await
        .unwrap();
    assert_eq!(raised, 20);
    // Rows 0 and 3 already have the note: they match but record nothing.
    let noted = bulk::update_many::<account::Entity>()
        .set(account::ActiveModel {
            note: Set(Some("vip".into())),
            ..Default::default()
        })
        .filter(Col::Balance.lt(50))
        .exec_with_returning(db)
        .await
        .unwrap();
    assert_eq!(noted.len(), 5);
    assert!(noted.iter().all(|m| m.note.as_deref() == Some("vip")));
    let deleted = bulk::delete_many::<account::Entity>()
        .filter(Col::Balance.gt(250))
        .exec(db)
        .await
        .unwrap();
    assert_eq!(deleted, 5);
}

/// The same writes, one model at a time through the hooks.
async fn row_by_row_writes(db: &DatabaseConnection) {
    for model in models() {
        model.insert(db).await.unwrap();
    }
    let find = |cond| {
        account::Entity::find()
            .filter(cond)
            .order_by_asc(Col::Id)
            .all(db)
    };
    for row in find(Col::Balance.gte(100)).await.unwrap() {
        let mut am: account::ActiveModel = row.clone().into();
        am.balance = Set(row.balance + 7);
        am.note = Set(Some("vip".into()));
        am.update(db).await.unwrap();
    }
    for row in find(Col::Balance.lt(50)).await.unwrap() {
        let mut am: account::ActiveModel = row.into();
        am.note = Set(Some("vip".into()));
        am.update(db).await.unwrap();
    }
    for row in find(Col::Balance.gt(250)).await.unwrap() {
        row.delete(db).await.unwrap();
    }
}

type TrailRow = (String, String, String, String, Option<Json>, Option<Json>);

/// The trail without ids, changesets and times, in a stable order.
fn trail(rows: &[RawRow]) -> Vec<TrailRow> {
    let mut trail: Vec<_> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.actor.as_deref(), Some("loader"));
            (
                r.operation.clone(),
                format!("{:>8}", r.record_id),
                r.table_name.clone(),
                r.column_name.clone(),
                r.old_value.clone(),
                r.new_value.clone(),
            )
        })
        .collect();
    trail.sort_by(|a, b| (&a.0, &a.1, &a.3).cmp(&(&b.0, &b.1, &b.3)));
    trail
}

async fn matches_row_by_row(backend: Backend) {
    let Some(bulk_db) = setup(backend, 1).await else {
        return;
    };
    let rows_db = setup(backend, 1).await.unwrap();
    audit_core::with_actor("loader", bulk_writes(&bulk_db.db)).await;
    audit_core::with_actor("loader", row_by_row_writes(&rows_db.db)).await;

    let bulk_rows = audit_rows(&bulk_db.db).await.unwrap();
    let single_rows = audit_rows(&rows_db.db).await.unwrap();
    // 30 inserts x 5 audited columns; 20 balances + 14 notes (6 rows were `vip`
    // already); 3 notes; 5 deletes x 5 columns.
    assert_eq!(bulk_rows.len(), 150 + 34 + 3 + 25, "{backend:?}");
    assert_eq!(trail(&bulk_rows), trail(&single_rows), "{backend:?}");
    let mut changesets: Vec<_> = bulk_rows.iter().map(|r| &r.changeset_id).collect();
    changesets.dedup();
    assert_eq!(changesets.len(), 4, "one changeset per bulk call");

    let all = account::Entity::find().order_by_asc(Col::Id);
    assert_eq!(
        all.clone().all(&bulk_db.db).await.unwrap(),
        all.all(&rows_db.db).await.unwrap()
    );
    bulk_db.cleanup().await.unwrap();
    rows_db.cleanup().await.unwrap();
}

#[tokio::test]
async fn matches_row_by_row_sqlite() {
    matches_row_by_row(Backend::Sqlite).await;
}

#[tokio::test]
async fn matches_row_by_row_postgres() {
    matches_row_by_row(Backend::Postgres).await;
}

#[tokio::test]
async fn matches_row_by_row_mysql() {
    matches_row_by_row(Backend::MySql).await;
}

async fn failures_leave_nothing(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    let accounts = || account::Entity::find().count(db);
    bulk::insert_many([new_account("a", 1), new_account("b", 2)])
        .exec_with_returning(db)
        .await
        .unwrap();
    let before = audit_rows(db).await.unwrap();
    assert_eq!(before.len(), 10);

    // A duplicate owner fails the insert: neither row nor any audit row stays.
    let duplicate = [new_account("c", 3), new_account("a", 4)];
    assert!(
        bulk::insert_many(duplicate)
            .exec_with_returning(db)
            .await
            .is_err()
    );
    // Giving both rows one owner fails the update.
    let same_owner = bulk::update_many::<account::Entity>()
        .col_expr(Col::Owner, Expr::val("same"))
        .exec(db)
        .await;
    assert!(same_owner.is_err(), "{backend:?}");
    // A key column cannot be changed in bulk.
    let rekey = bulk::update_many::<account::Entity>()
        .col_expr(Col::Id, Expr::col(Col::Id).add(100))
        .exec(db)
        .await;
    assert!(rekey.unwrap_err().to_string().contains("primary key"));
    assert_eq!(accounts().await.unwrap(), 2);
    assert_eq!(audit_rows(db).await.unwrap(), before, "{backend:?}");

    // Inside the caller's transaction, a rollback takes the bulk writes with it.
    let txn = db.begin().await.unwrap();
    bulk::insert_many([new_account("d", 5)])
        .exec_with_returning(&txn)
        .await
        .unwrap();
    bulk::delete_many::<account::Entity>()
        .exec(&txn)
        .await
        .unwrap();
    assert_eq!(account::Entity::find().count(&txn).await.unwrap(), 0);
    txn.rollback().await.unwrap();
    assert_eq!(accounts().await.unwrap(), 2);
    assert_eq!(audit_rows(db).await.unwrap(), before, "{backend:?}");
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn failures_leave_nothing_sqlite() {
    failures_leave_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn failures_leave_nothing_postgres() {
    failures_leave_nothing(Backend::Postgres).await;
}

#[tokio::test]
async fn failures_leave_nothing_mysql() {
    failures_leave_nothing(Backend::MySql).await;
}

/// Audit rows per multi-row `INSERT` (`ROWS_PER_STATEMENT` in `audit-core/src/record.rs`).
const AUDIT_ROWS_PER_STATEMENT: usize = 200;

/// Statements counted through SeaORM's metric callback (`BEGIN`/`COMMIT` not included).
async fn count_statements<F: Future>(counter: &AtomicUsize, fut: F) -> (usize, F::Output) {
    let start = counter.load(Ordering::SeqCst);
    let out = fut.await;
    (counter.load(Ordering::SeqCst) - start, out)
}

async fn statements_grow_with_chunks(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    let counter = Arc::new(AtomicUsize::new(0));
    let seen = counter.clone();
    fresh.db.set_metric_callback(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let db = &fresh.db;
    let seed = (0..10_000).map(|i| new_account(&format!("u{i}"), i));
    let (seeded, _) = count_statements(
        &counter,
        audit_core::without_auditing(bulk::insert_many(seed).exec_with_returning(db)),
    )
    .await;
    assert!(
        seeded <= 3,
        "{backend:?}: {seeded} statements for 10,000 inserts"
    );
    assert!(audit_rows(db).await.unwrap().is_empty(), "auditing was off");

    let raise = |limit: i64| {
        bulk::update_many::<account::Entity>()
            .col_expr(Col::Balance, Expr::col(Col::Balance).add(1))
            .filter(Col::Balance.lt(limit))
            .exec(db)
    };
    let (few, updated) = count_statements(&counter, raise(10)).await;
    assert_eq!(updated.unwrap(), 10);
    let (many, updated) = count_statements(&counter, raise(20_000)).await;
    assert_eq!(updated.unwrap(), 10_000);
    assert_eq!(audit_rows(db).await.unwrap().len(), 10_010);
    // Read, update (and on MariaDB read back) in one chunk, then 10,000 audit rows in
    // multi-row INSERTs: a few dozen statements, where row by row would take 30,000.
    assert!(few <= 4, "{backend:?}: {few} statements for 10 rows");
    assert!(
        many <= few + 10_000_usize.div_ceil(AUDIT_ROWS_PER_STATEMENT),
        "{backend:?}: {many} statements for 10,000 rows"
    );

    let (deleting, deleted) =
        count_statements(&counter, bulk::delete_many::<account::Entity>().exec(db)).await;
    assert_eq!(deleted.unwrap(), 10_000);
    assert!(
        deleting <= 1 + 50_000_usize.div_ceil(AUDIT_ROWS_PER_STATEMENT),
        "{backend:?}: {deleting} statements"
    );
    assert_eq!(audit_rows(db).await.unwrap().len(), 10_010 + 50_000);
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn statements_grow_with_chunks_sqlite() {
    statements_grow_with_chunks(Backend::Sqlite).await;
}

#[tokio::test]
async fn statements_grow_with_chunks_postgres() {
    statements_grow_with_chunks(Backend::Postgres).await;
}

#[tokio::test]
async fn statements_grow_with_chunks_mysql() {
    statements_grow_with_chunks(Backend::MySql).await;
}

async fn switch_turns_auditing_off(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    let quiet = async {
        let created = new_account("quiet", 1).insert(db).await.unwrap();
        let mut am: account::ActiveModel = created.into();
        am.balance = Set(2);
        am.update(db).await.unwrap();
        bulk::update_many::<account::Entity>()
            .col_expr(Col::Balance, Expr::val(3))
            .exec(db)
            .await
            .unwrap()
    };
    assert!(audit_core::is_enabled());
    assert_eq!(audit_core::without_auditing(quiet).await, 1);
    assert!(audit_rows(db).await.unwrap().is_empty(), "{backend:?}");
    // Back on outside the scope.
    new_account("loud", 1).insert(db).await.unwrap();
    assert_eq!(audit_rows(db).await.unwrap().len(), 5);
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn switch_turns_auditing_off_sqlite() {
    switch_turns_auditing_off(Backend::Sqlite).await;
}

#[tokio::test]
async fn switch_turns_auditing_off_postgres() {
    switch_turns_auditing_off(Backend::Postgres).await;
}

#[tokio::test]
async fn switch_turns_auditing_off_mysql() {
    switch_turns_auditing_off(Backend::MySql).await;
}

/// A composite primary key, for the 100,000-row update.
mod pair {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "pair")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub region: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub n: i64,
        pub v: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Audit rows of `column`, counted in SQL.
async fn count_rows(db: &DatabaseConnection, column: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let sql = format!("SELECT COUNT(*) AS n FROM audit_log WHERE column_name = '{column}'");
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

/// `update_many` of 100,000 rows with a composite key: one flat `(a, b) IN (...)` list
/// per chunk, where an `OR` per key overflowed the stack past ~1,000 rows (and SQLite
/// refused the expression tree).
async fn composite_keys_at_scale(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    common::create_table(db, pair::Entity).await;
    const ROWS: i64 = 100_000;
    let seed = (0..ROWS).map(|n| pair::ActiveModel {
        region: Set(if n % 2 == 0 { "eu" } else { "us" }.into()),
        n: Set(n),
        v: Set(n),
    });
    let started = std::time::Instant::now();
    audit_core::without_auditing(bulk::insert_many(seed).exec(db))
        .await
        .unwrap();
    println!("{backend:?}: {ROWS} rows seeded in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let updated = bulk::update_many::<pair::Entity>()
        .col_expr(pair::Column::V, Expr::col(pair::Column::V).add(1))
        .exec(db)
        .await
        .unwrap();
    println!(
        "{backend:?}: {ROWS} composite-key rows updated and audited in {:?}",
        started.elapsed()
    );
    assert_eq!(updated, ROWS as u64);
    assert_eq!(count_rows(db, "v").await, ROWS);
    let history = audit_core::history::<pair::Entity>(("us".to_owned(), 77_777))
        .fetch(db)
        .await
        .unwrap();
    let changes: Vec<_> = history
        .iter()
        .map(|e| (e.column.as_str(), e.old_value.clone(), e.new_value.clone()))
        .collect();
    assert_eq!(
        changes,
        [("v", Some(77_777.into()), Some(77_778.into()))],
        "{backend:?}"
    );
    let row = pair::Entity::find_by_id(("us".to_owned(), 77_777))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.v, 77_778);
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn composite_keys_at_scale_sqlite() {
    composite_keys_at_scale(Backend::Sqlite).await;
}

#[tokio::test]
async fn composite_keys_at_scale_postgres() {
    composite_keys_at_scale(Backend::Postgres).await;
}

#[tokio::test]
async fn composite_keys_at_scale_mysql() {
    composite_keys_at_scale(Backend::MySql).await;
}

/// A table whose every column has a default.
mod stamp {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "stamp")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Rows with no column set have no multi-row `INSERT`: they go in alone, in order, and
/// are audited like the others.
async fn defaulted_rows_insert(backend: Backend) {
    let Some(fresh) = setup(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    common::create_table(db, stamp::Entity).await;
    let noted = |note: &str| stamp::ActiveModel {
        note: Set(Some(note.into())),
        ..Default::default()
    };
    let rows = [
        <stamp::ActiveModel as Default>::default(),
        noted("a"),
        noted("b"),
        <stamp::ActiveModel as Default>::default(),
        <stamp::ActiveModel as Default>::default(),
        noted("c"),
    ];
    let inserted = bulk::insert_many(rows)
        .exec_with_returning(db)
        .await
        .unwrap();
    let seen: Vec<_> = inserted.iter().map(|m| (m.id, m.note.clone())).collect();
    let note = |s: &str| Some(s.to_owned());
    assert_eq!(
        seen,
        [
            (1, None),
            (2, note("a")),
            (3, note("b")),
            (4, None),
            (5, None),
            (6, note("c"))
        ],
        "{backend:?}"
    );
    let trail = audit_rows(db).await.unwrap();
    assert_eq!(trail.len(), 12, "{backend:?}: id and note of six rows");
    assert_eq!(
        bulk::insert_many([<stamp::ActiveModel as Default>::default()])
            .exec(db)
            .await
            .unwrap(),
        1
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn defaulted_rows_insert_sqlite() {
    defaulted_rows_insert(Backend::Sqlite).await;
}

#[tokio::test]
async fn defaulted_rows_insert_postgres() {
    defaulted_rows_insert(Backend::Postgres).await;
}

#[tokio::test]
async fn defaulted_rows_insert_mysql() {
    defaulted_rows_insert(Backend::MySql).await;
}
