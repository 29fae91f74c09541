//! Concurrency on every backend: many tasks writing through one pool keep the trail a
//! single unbroken chain per row, and never mix up actors or contexts. The soak test
//! (`--ignored`, sized by `AUDIT_SOAK_OPS`) runs mixed audited writes from many tasks and
//! checks every committed change against a ledger kept by the test. `.ci/run` runs it in
//! both capture modes: hooks, and database capture (feature `database-capture-suites`).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use audit_core::{AuditContext, AuditTableOptions};
use common::{Backend, DATABASE_CAPTURE, FreshDb, RawRow, account, audit_rows, new_account, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, IsolationLevel,
    ModelTrait, QuerySelect, SqliteTransactionMode, TransactionError, TransactionOptions,
    TransactionTrait,
};
use serde_json::{Value as Json, json};
use tokio::sync::Mutex;

const TASKS: usize = 8;
const UPDATES_PER_TASK: i64 = 200;

/// A fresh database with `pool` connections and the append-only audit table, so any
/// UPDATE or DELETE of audit rows by the library would fail these tests.
async fn fresh(backend: Backend, pool: u32) -> Option<FreshDb> {
    let fresh = setup(backend, pool).await?;
    audit_core::create_audit_table_with(&fresh.db, AuditTableOptions::append_only())
        .await
        .expect("append-only triggers");
    Some(fresh)
}

/// A write transaction. On SQLite it is `IMMEDIATE`: SQLite has no row locks, so the
/// write lock is taken up front (waiting up to the busy timeout) instead of failing the
/// upgrade from a read.
async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    begin_with(db, None).await
}

async fn begin_with(
    db: &DatabaseConnection,
    isolation_level: Option<IsolationLevel>,
) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        isolation_level,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Whether a failed transaction may simply be run again.
fn retryable(err: &DbErr) -> bool {
    let text = err.to_string().to_lowercase();
    [
        "deadlock",
        "could not serialize",
        "database is locked",
        "busy",
        "lock wait timeout",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Runs `attempt` until it commits or fails with an error that is not retryable; returns
/// its value and how many retries it took.
async fn with_retry<T, F, Fut>(mut attempt: F) -> (T, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Ok(value) => return (value, retries),
            Err(err) if retryable(&err) && retries < 1000 => retries += 1,
            Err(err) => panic!("transaction failed after {retries} retries: {err}"),
        }
    }
}

/// Reads account `id` under a row lock, adds `delta` to its balance and commits.
async fn add_to_balance(db: &DatabaseConnection, id: i32, delta: i64) -> Result<(), DbErr> {
    let txn = begin(db).await?;
    let row = account::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("account {id}")))?;
    let mut am: account::ActiveModel = row.clone().into();
    am.balance = Set(row.balance + delta);
    am.update(&txn).await?;
    txn.commit().await
}

/// Sets the balance of account `id` without reading it first: only the audit layer reads
/// the old row, so the chain holds only if it reads under the row lock.
async fn blind_set_balance(
    db: &DatabaseConnection,
    isolation: Option<IsolationLevel>,
    id: i32,
    balance: i64,
) -> Result<(), DbErr> {
    let txn = begin_with(db, isolation).await?;
    let am = account::ActiveModel {
        id: Set(id),
        balance: Set(balance),
        ..Default::default()
    };
    am.update(&txn).await?;
    txn.commit().await
}

/// [`blind_set_balance`] in a buffered `audit_core::transaction` (on SQLite the old-row
/// read rides in one round trip with the UPDATE).
async fn buffered_set_balance(db: &DatabaseConnection, id: i32, balance: i64) -> Result<(), DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    audit_core::transaction_with_options(db, options, |txn| {
        Box::pin(async move {
            account::ActiveModel {
                id: Set(id),
                balance: Set(balance),
                ..Default::default()
            }
            .update(txn)
            .await
        })
    })
    .await
    .map(drop)
    .map_err(|e| match e {
        TransactionError::Connection(e) | TransactionError::Transaction(e) => e,
    })
}

fn rows_of<'a>(rows: &'a [RawRow], record: &str, column: &str) -> Vec<&'a RawRow> {
    rows.iter()
        .filter(|r| r.table_name == "account" && r.record_id == record && r.column_name == column)
        .collect()
}

/// Runs `write(db, task, n)` `per_task` times in each of [`TASKS`] tasks, each task with
/// its own actor, retrying what is retryable; returns the number of retries.
async fn in_tasks<F, Fut>(db: &Arc<DatabaseConnection>, per_task: i64, write: F) -> u32
where
    F: Fn(Arc<DatabaseConnection>, i64, i64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), DbErr>> + Send,
{
    let tasks: Vec<_> = (0..TASKS as i64)
        .map(|task| {
            let (db, write) = (db.clone(), write.clone());
            let scope = AuditContext::new().actor(format!("task-{task}"));
            tokio::spawn(scope.scope(async move {
                let mut retries = 0;
                for n in 0..per_task {
                    retries += with_retry(|| write(db.clone(), task, n)).await.1;
                }
                retries
            }))
        })
        .collect();
    let mut retries = 0;
    for task in tasks {
        retries += task.await.unwrap();
    }
    retries
}

async fn same_row_chain(backend: Backend) {
    let Some(fresh) = fresh(backend, TASKS as u32).await else {
        return;
    };
    let db = Arc::new(fresh.db.clone());
    let id = new_account("shared", 0).insert(&*db).await.unwrap().id;
    let balance = || async {
        account::Entity::find_by_id(id)
            .one(&*db)
            .await
            .unwrap()
            .unwrap()
            .balance
    };
    let per_phase = TASKS as i64 * UPDATES_PER_TASK;

    // Read-modify-write under the test's own row lock: no update is lost.
    let started = Instant::now();
    let retries = in_tasks(&db, UPDATES_PER_TASK, move |db, _, _| async move {
        add_to_balance(&db, id, 1).await
    })
    .await;
    eprintln!(
        "{backend:?}: {per_phase} read-modify-write transactions on one row in {:?} ({retries} retries)",
        started.elapsed()
    );
    assert_eq!(
        balance().await,
        per_phase,
        "{backend:?}: no update was lost"
    );

    // Blind writes: only the audit layer reads the old row, so the chain below holds only
    // if it reads under the row lock.
    let started = Instant::now();
    let retries = in_tasks(&db, UPDATES_PER_TASK, move |db, task, n| async move {
        blind_set_balance(&db, None, id, -(task * 1000 + n + 1)).await
    })
    .await;
    eprintln!(
        "{backend:?}: {per_phase} blind update transactions on one row in {:?} ({retries} retries)",
        started.elapsed()
    );

    // The same blind writes in buffered audited transactions.
    let started = Instant::now();
    let retries = in_tasks(&db, UPDATES_PER_TASK, move |db, task, n| async move {
        buffered_set_balance(&db, id, task * 1000 + n + 1).await
    })
    .await;
    eprintln!(
        "{backend:?}: {per_phase} buffered blind update transactions on one row in {:?} ({retries} retries)",
        started.elapsed()
    );
    let mut committed = 3 * per_phase;
    let mut per_actor = 3 * UPDATES_PER_TASK;

    // PostgreSQL REPEATABLE READ: concurrent updates fail with serialization errors and
    // are retried; the failed attempts leave no audit rows.
    if backend == Backend::Postgres {
        let started = Instant::now();
        let retries = in_tasks(&db, 50, move |db, task, n| async move {
            let isolation = Some(IsolationLevel::RepeatableRead);
            blind_set_balance(&db, isolation, id, task * 1000 + n + 1).await
        })
        .await;
        eprintln!(
            "{backend:?}: {} REPEATABLE READ blind updates in {:?} ({retries} retries)",
            TASKS * 50,
            started.elapsed()
        );
        assert!(
            retries > 0,
            "serialization failures were provoked and retried"
        );
        committed += TASKS as i64 * 50;
        per_actor += 50;
    }
    let row = account::Entity::find_by_id(id)
        .one(&*db)
        .await
        .unwrap()
        .unwrap();
    let rows = audit_rows(&*db).await.unwrap();
    let chain = rows_of(&rows, &id.to_string(), "balance");
    let updates: Vec<_> = chain.iter().filter(|r| r.operation == "update").collect();
    assert_eq!(
        updates.len() as i64,
        committed,
        "{backend:?}: one audit row per committed update"
    );
    let mut expected_old = json!(0);
    for (n, update) in updates.iter().enumerate() {
        assert_eq!(
            update.old_value.as_ref(),
            Some(&expected_old),
            "{backend:?}: update #{n}'s old value is the previous update's new value"
        );
        expected_old = update.new_value.clone().expect("an update has a new value");
    }
    assert_eq!(
        expected_old,
        json!(row.balance),
        "{backend:?}: the last new value is the row's value"
    );
    // Every task's updates carry its own actor, and each task's share is all there.
    for task in 0..TASKS {
        let actor = format!("task-{task}");
        let mine = updates
            .iter()
            .filter(|r| r.actor.as_deref() == Some(actor.as_str()))
            .count();
        assert_eq!(mine as i64, per_actor, "{backend:?}: {actor}");
    }
    fresh.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_row_chain_sqlite() {
    same_row_chain(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_row_chain_postgres() {
    same_row_chain(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_row_chain_mysql() {
    same_row_chain(Backend::MySql).await;
}

/// 8 tasks on 8 rows, each with its own actor and context, interleaving through one pool
/// across worker threads: no row carries another task's actor or context.
async fn actors_stay_apart(backend: Backend) {
    let Some(fresh) = fresh(backend, 4).await else {
        return;
    };
    let db = Arc::new(fresh.db.clone());
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let db = db.clone();
            let context = AuditContext::new()
                .actor(format!("actor-{task}"))
                .request_id(format!("req-{task}"))
                .with("task", task);
            tokio::spawn(context.scope(async move {
                let owner = format!("owner-{task}");
                let created = with_retry(|| async {
                    let txn = begin(&db).await?;
                    let created = new_account(&owner, 0).insert(&txn).await?;
                    txn.commit().await?;
                    Ok(created)
                })
                .await
                .0;
                for _ in 0..25 {
                    with_retry(|| add_to_balance(&db, created.id, 1)).await;
                    tokio::task::yield_now().await;
                }
                with_retry(|| async {
                    let txn = begin(&db).await?;
                    account::Entity::find_by_id(created.id)
                        .one(&txn)
                        .await?
                        .ok_or_else(|| DbErr::RecordNotFound(owner.clone()))?
                        .delete(&txn)
                        .await?;
                    txn.commit().await
                })
                .await;
                created.id
            }))
        })
        .collect();
    let mut ids = BTreeMap::new();
    for (task, handle) in tasks.into_iter().enumerate() {
        ids.insert(handle.await.unwrap().to_string(), task);
    }
    let rows = audit_rows(&*db).await.unwrap();
    assert_eq!(
        rows.len(),
        TASKS * (5 + 25 + 5),
        "{backend:?}: insert, 25 updates and delete per task"
    );
    for row in &rows {
        let task = ids[&row.record_id];
        assert_eq!(
            row.actor.as_deref(),
            Some(format!("actor-{task}").as_str()),
            "{backend:?}: record {} carries its own task's actor",
            row.record_id
        );
        assert_eq!(
            row.context,
            Some(json!({"request_id": format!("req-{task}"), "task": task})),
            "{backend:?}: record {} carries its own task's context",
            row.record_id
        );
    }
    fresh.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actors_stay_apart_sqlite() {
    actors_stay_apart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actors_stay_apart_postgres() {
    actors_stay_apart(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actors_stay_apart_mysql() {
    actors_stay_apart(Backend::MySql).await;
}

/// What the soak test expects of the trail: per record, the audit rows of each operation,
/// and the record's last committed state (`None` once deleted).
#[derive(Default)]
struct Ledger {
    rows: BTreeMap<(String, &'static str), usize>,
    state: BTreeMap<String, Option<(i64, Option<String>)>>,
    changes: usize,
}

impl Ledger {
    fn record(
        &mut self,
        id: i32,
        operation: &'static str,
        rows: usize,
        state: Option<(i64, Option<String>)>,
    ) {
        *self.rows.entry((id.to_string(), operation)).or_default() += rows;
        // Tasks report their commits in any order. Updates of one row commit in the order
        // of their balances (each adds at least 1 under the row lock): an update reported
        // after a later one does not take the state back.
        let stale = match (self.state.get(&id.to_string()), &state) {
            (Some(Some((last, _))), Some((balance, _))) => operation == "update" && balance < last,
            _ => false,
        };
        if !stale {
            self.state.insert(id.to_string(), state);
        }
        self.changes += 1;
    }
}

/// A small deterministic generator (xorshift), so a failing soak can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const HOT_ROWS: i32 = 8;
const SOAK_TASKS: usize = 16;

/// One committed change and the audit rows it must have left.
enum Done {
    Insert(account::Model),
    Update(account::Model, usize),
    Delete(i32),
}

/// One random audited write in its own transaction: update a hot row (contended), or
/// insert, update or delete one of the task's own rows.
async fn soak_step(
    db: &DatabaseConnection,
    rng: &mut Rng,
    task: usize,
    step: usize,
    own: &[i32],
) -> Result<Done, DbErr> {
    let pick = rng.below(10);
    let delta = rng.below(100) as i64 + 1;
    let note = (rng.below(2) == 0).then(|| format!("n{}", rng.below(3)));
    let txn = begin(db).await?;
    let done = match pick {
        0..=1 => {
            let created = new_account(&format!("t{task}-{step}"), delta)
                .insert(&txn)
                .await?;
            Done::Insert(created)
        }
        2 if !own.is_empty() => {
            let id = own[rng.below(own.len() as u64) as usize];
            account::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(id.to_string()))?
                .delete(&txn)
                .await?;
            Done::Delete(id)
        }
        _ => {
            let id = if pick < 7 || own.is_empty() {
                rng.below(HOT_ROWS as u64) as i32 + 1
            } else {
                own[rng.below(own.len() as u64) as usize]
            };
            let row = account::Entity::find_by_id(id)
                .lock_exclusive()
                .one(&txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(id.to_string()))?;
            let changed = 1 + usize::from(note != row.note);
            let mut am: account::ActiveModel = row.clone().into();
            am.balance = Set(row.balance + delta);
            am.note = Set(note);
            Done::Update(am.update(&txn).await?, changed)
        }
    };
    txn.commit().await?;
    Ok(done)
}

async fn soak(backend: Backend) {
    let ops: usize = std::env::var("AUDIT_SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let Some(fresh) = fresh(backend, 8).await else {
        return;
    };
    let db = Arc::new(fresh.db.clone());
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    for hot in 0..HOT_ROWS {
        let created = new_account(&format!("hot-{hot}"), 0)
            .insert(&*db)
            .await
            .unwrap();
        ledger
            .lock()
            .await
            .record(created.id, "insert", 5, Some((0, None)));
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..SOAK_TASKS)
        .map(|task| {
            let db = db.clone();
            let ledger = ledger.clone();
            tokio::spawn(audit_core::with_actor(format!("soak-{task}"), async move {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((task as u64 + 1) * 0x1000_0001));
                let mut own = Vec::new();
                let mut retries = 0;
                for step in 0..ops / SOAK_TASKS {
                    let seed = rng.below(u64::MAX) | 1;
                    let (done, tries) = with_retry(|| {
                        // Each retry replays the same random choices.
                        let mut replay = Rng(seed);
                        let own = own.clone();
                        let db = db.clone();
                        async move { soak_step(&db, &mut replay, task, step, &own).await }
                    })
                    .await;
                    retries += tries;
                    let mut ledger = ledger.lock().await;
                    match done {
                        Done::Insert(m) => {
                            own.push(m.id);
                            ledger.record(m.id, "insert", 5, Some((m.balance, m.note)));
                        }
                        Done::Update(m, changed) => {
                            ledger.record(m.id, "update", changed, Some((m.balance, m.note)));
                        }
                        Done::Delete(id) => {
                            own.retain(|&o| o != id);
                            ledger.record(id, "delete", 5, None);
                        }
                    }
                }
                retries
            }))
        })
        .collect();
    let mut retries = 0;
    for task in tasks {
        retries += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let ledger = ledger.lock().await;
    eprintln!(
        "soak {backend:?}, {} capture: {} committed audited writes from {SOAK_TASKS} tasks over \
         8 connections in {elapsed:.2?}: {:.0} writes/s ({retries} retries)",
        if DATABASE_CAPTURE {
            "database"
        } else {
            "hooks"
        },
        ledger.changes - HOT_ROWS as usize,
        (ledger.changes - HOT_ROWS as usize) as f64 / elapsed.as_secs_f64()
    );

    let rows = audit_rows(&*db).await.unwrap();
    let mut found: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    for row in &rows {
        let op = match row.operation.as_str() {
            "insert" => "insert",
            "update" => "update",
            _ => "delete",
        };
        *found.entry((row.record_id.clone(), op)).or_default() += 1;
    }
    assert_eq!(
        found, ledger.rows,
        "{backend:?}: audit rows per record and operation"
    );
    // Replaying each record's trail gives its committed state.
    for (id, state) in &ledger.state {
        let mut balance: Option<Json> = None;
        let mut note: Option<Json> = None;
        let mut deleted = false;
        for row in rows.iter().filter(|r| &r.record_id == id) {
            let slot = match row.column_name.as_str() {
                "balance" => &mut balance,
                "note" => &mut note,
                _ => continue,
            };
            if row.operation != "insert" {
                assert_eq!(&row.old_value, slot, "{backend:?}: record {id} chain");
            }
            deleted = row.operation == "delete";
            *slot = row.new_value.clone();
        }
        let replayed = (!deleted).then(|| (balance.unwrap(), note.unwrap()));
        let expected = state.as_ref().map(|(b, n)| (json!(b), json!(n)));
        assert_eq!(
            replayed, expected,
            "{backend:?}: record {id} replays to its state"
        );
        let stored = account::Entity::find_by_id(id.parse::<i32>().unwrap())
            .one(&*db)
            .await
            .unwrap()
            .map(|m| (json!(m.balance), json!(m.note)));
        assert_eq!(stored, expected, "{backend:?}: record {id} as stored");
    }
    fresh.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak test: run with --ignored, sized by AUDIT_SOAK_OPS"]
async fn soak_sqlite() {
    soak(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak test: run with --ignored, sized by AUDIT_SOAK_OPS"]
async fn soak_postgres() {
    soak(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak test: run with --ignored, sized by AUDIT_SOAK_OPS"]
async fn soak_mysql() {
    soak(Backend::MySql).await;
}
