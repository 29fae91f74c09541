//! Faults on every backend: rolled-back transactions, audit writes the database refuses,
//! connections killed mid-transaction, panics inside a scoped actor, and the append-only
//! triggers of the schema helper. `.ci/run` runs it in both capture modes: hooks, and
//! database capture (feature `database-capture-suites`), where the audit insert that fails
//! is the trigger's, inside the change's own statement.

mod common;

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Poll;
use std::time::Duration;

use audit_core::{AuditTableOptions, current_actor, with_actor};
use common::{
    Backend, DATABASE_CAPTURE, FreshDb, account, audit_rows, new_account, refuse_blocked_actor,
    setup,
};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, ModelTrait, QuerySelect, Statement, TransactionError,
    TransactionTrait,
};
use serde_json::json;

async fn fresh(backend: Backend, pool: u32) -> Option<FreshDb> {
    let fresh = setup(backend, pool).await?;
    audit_core::create_audit_table_with(&fresh.db, AuditTableOptions::append_only())
        .await
        .expect("append-only triggers");
    Some(fresh)
}

async fn balance(db: &DatabaseConnection, id: i32) -> Option<i64> {
    account::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .map(|m| m.balance)
}

/// Sets the balance of account `id` through `db` (a connection or a transaction).
async fn set_balance<C: ConnectionTrait>(db: &C, id: i32, balance: i64) -> Result<(), DbErr> {
    let row = account::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(id.to_string()))?;
    let mut am: account::ActiveModel = row.into();
    am.balance = Set(balance);
    am.update(db).await.map(drop)
}

/// What the error of a write whose audit insert failed must contain: the hooks name the
/// audit write; under database capture the trigger's `INSERT` fails inside the change's own
/// statement, and the error is the database's, naming `refused` (the table or the rule).
fn audit_failure(refused: &str) -> &str {
    if DATABASE_CAPTURE {
        refused
    } else {
        "audit write to `audit_log` failed"
    }
}

async fn run_sql<C: ConnectionTrait>(db: &C, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(drop)
}

async fn query_i64<C: ConnectionTrait>(db: &C, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .expect("one row");
    row.try_get_by_index(0).unwrap()
}

/// The trail and the data agree: the account's balance trail is one chain ending at the
/// stored balance (or at nothing once deleted), and `updates` updates were recorded.
async fn assert_trail_matches(db: &DatabaseConnection, id: i32, updates: usize, what: &str) {
    let rows = audit_rows(db).await.unwrap();
    let chain: Vec<_> = rows
        .iter()
        .filter(|r| r.record_id == id.to_string() && r.column_name == "balance")
        .collect();
    let mut last = None;
    for row in &chain {
        assert_eq!(row.old_value, last, "{what}: the chain is unbroken");
        last = row.new_value.clone();
    }
    assert_eq!(
        last,
        balance(db, id).await.map(|b| json!(b)),
        "{what}: trail ends at the data"
    );
    let recorded = chain.iter().filter(|r| r.operation == "update").count();
    assert_eq!(recorded, updates, "{what}: recorded updates");
}

// ---- (a) rollback ----------------------------------------------------------------------

async fn rollback_leaves_nothing(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    let kept = new_account("kept", 10).insert(db).await.unwrap();
    let before = audit_rows(db).await.unwrap();

    // Explicit rollback after an insert, an update and a delete.
    let txn = db.begin().await.unwrap();
    let created = new_account("gone", 1).insert(&txn).await.unwrap();
    set_balance(&txn, kept.id, 11).await.unwrap();
    created.delete(&txn).await.unwrap();
    new_account("gone-too", 2).insert(&txn).await.unwrap();
    assert!(
        audit_rows(&txn).await.unwrap().len() > before.len(),
        "{backend:?}: written"
    );
    txn.rollback().await.unwrap();
    assert_eq!(
        audit_rows(db).await.unwrap(),
        before,
        "{backend:?}: rollback"
    );

    // A transaction dropped without commit rolls back too.
    {
        let txn = db.begin().await.unwrap();
        set_balance(&txn, kept.id, 12).await.unwrap();
    }
    assert_eq!(
        audit_rows(db).await.unwrap(),
        before,
        "{backend:?}: dropped"
    );

    // A rolled-back savepoint takes its audit rows with it; the outer work stays.
    let txn = db.begin().await.unwrap();
    set_balance(&txn, kept.id, 13).await.unwrap();
    let nested = txn.begin().await.unwrap();
    set_balance(&nested, kept.id, 14).await.unwrap();
    nested.rollback().await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(balance(db, kept.id).await, Some(13));
    assert_trail_matches(db, kept.id, 1, &format!("{backend:?}: savepoint")).await;
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn rollback_leaves_nothing_sqlite() {
    rollback_leaves_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn rollback_leaves_nothing_postgres() {
    rollback_leaves_nothing(Backend::Postgres).await;
}

#[tokio::test]
async fn rollback_leaves_nothing_mysql() {
    rollback_leaves_nothing(Backend::MySql).await;
}

// ---- (b) the audit insert fails ---------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Op {
    Insert,
    Update,
    Delete,
}

async fn attempt(txn: &DatabaseTransaction, op: Op, id: i32) -> Result<(), DbErr> {
    match op {
        Op::Insert => new_account("refused", 5).insert(txn).await.map(drop),
        Op::Update => set_balance(txn, id, 99).await,
        Op::Delete => account::Entity::find_by_id(id)
            .one(txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(id.to_string()))?
            .delete(txn)
            .await
            .map(drop),
    }
}

/// Inside `db.transaction`, an insert, an update and a delete whose audit write fails each
/// return an error naming the audit write (see [`audit_failure`]: under database capture,
/// `refused`), and none of them is committed.
async fn assert_refused(db: &DatabaseConnection, id: i32, actor: &str, refused: &str, what: &str) {
    let state = || async { account::Entity::find().all(db).await.unwrap() };
    let before = state().await;
    for op in [Op::Insert, Op::Update, Op::Delete] {
        let result: Result<(), TransactionError<DbErr>> = with_actor(
            actor,
            db.transaction::<_, (), DbErr>(move |txn| Box::pin(attempt(txn, op, id))),
        )
        .await;
        let err = result.expect_err(&format!("{what}: the {op:?} must fail"));
        assert!(
            err.to_string().contains(audit_failure(refused)),
            "{what}: the {op:?}'s error names the audit write: {err}"
        );
        assert_eq!(
            state().await,
            before,
            "{what}: nothing of the {op:?} is committed"
        );
    }
}

async fn audit_table_dropped(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    let created = new_account("a", 1).insert(db).await.unwrap();
    run_sql(db, "DROP TABLE audit_log").await.unwrap();
    assert_refused(
        db,
        created.id,
        "alice",
        "audit_log",
        &format!("{backend:?}: table dropped"),
    )
    .await;

    // Outside a transaction the caller gets the error too. Under hooks capture the change
    // has already succeeded when its audit write fails, and it stays; under database
    // capture the change and its audit insert are one statement, and nothing stays.
    let err = set_balance(db, created.id, 2).await.unwrap_err();
    assert!(
        err.to_string().contains(audit_failure("audit_log")),
        "{err}"
    );
    assert_eq!(
        balance(db, created.id).await,
        Some(if DATABASE_CAPTURE { 1 } else { 2 }),
        "{backend:?}: autocommit change stays only under hooks capture"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn audit_table_dropped_sqlite() {
    audit_table_dropped(Backend::Sqlite).await;
}

#[tokio::test]
async fn audit_table_dropped_postgres() {
    audit_table_dropped(Backend::Postgres).await;
}

#[tokio::test]
async fn audit_table_dropped_mysql() {
    audit_table_dropped(Backend::MySql).await;
}

async fn audit_constraint_fails(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    let created = new_account("a", 1).insert(db).await.unwrap();
    refuse_blocked_actor(db, backend).await;
    let before = audit_rows(db).await.unwrap();
    assert_refused(
        db,
        created.id,
        "blocked",
        "audit_no_blocked",
        &format!("{backend:?}: constraint"),
    )
    .await;
    assert_eq!(audit_rows(db).await.unwrap(), before);
    // A caller that ignores the error and commits anyway: PostgreSQL has aborted the
    // transaction, so nothing commits; under hooks capture SQLite and MariaDB commit the
    // change without its audit rows (documented under "What does not hold"); under
    // database capture the failed statement took its change with it, so nothing commits.
    let txn = db.begin().await.unwrap();
    assert!(
        with_actor("blocked", set_balance(&txn, created.id, 7))
            .await
            .is_err()
    );
    let committed = txn.commit().await;
    let stored = balance(db, created.id).await;
    let old = if backend == Backend::Postgres || DATABASE_CAPTURE {
        assert_eq!(
            stored,
            Some(1),
            "{backend:?}: nothing commits ({committed:?})"
        );
        1
    } else {
        committed.unwrap();
        assert_eq!(
            stored,
            Some(7),
            "{backend:?}: the change commits without audit rows"
        );
        7
    };
    assert_eq!(audit_rows(db).await.unwrap(), before);
    // The same write by another actor goes through (in a transaction: under database
    // capture a scoped write outside one is refused).
    with_actor(
        "allowed",
        db.transaction::<_, (), DbErr>(|txn| Box::pin(set_balance(txn, created.id, 3))),
    )
    .await
    .unwrap();
    let balances: Vec<_> = audit_rows(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.operation == "update" && r.column_name == "balance")
        .map(|r| (r.old_value, r.new_value))
        .collect();
    assert_eq!(
        balances,
        [(Some(json!(old)), Some(json!(3)))],
        "{backend:?}"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn audit_constraint_fails_sqlite() {
    audit_constraint_fails(Backend::Sqlite).await;
}

#[tokio::test]
async fn audit_constraint_fails_postgres() {
    audit_constraint_fails(Backend::Postgres).await;
}

#[tokio::test]
async fn audit_constraint_fails_mysql() {
    audit_constraint_fails(Backend::MySql).await;
}

static ROLES: AtomicU32 = AtomicU32::new(0);

fn role_name() -> String {
    format!(
        "audit_noins_{}_{}",
        std::process::id(),
        ROLES.fetch_add(1, Ordering::Relaxed)
    )
}

/// PostgreSQL: a role that may change `account` but only read `audit_log`, taken with
/// `SET LOCAL ROLE` inside the transaction. Under database capture the trigger runs as
/// that role too (it is not `SECURITY DEFINER`), so its audit insert is refused the same.
#[tokio::test]
async fn audit_insert_not_permitted_postgres() {
    let Some(fresh) = fresh(Backend::Postgres, 2).await else {
        return;
    };
    let db = &fresh.db;
    let created = new_account("a", 1).insert(db).await.unwrap();
    let role = role_name();
    let schema: String = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_schema()",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    for sql in [
        format!("CREATE ROLE {role} NOLOGIN"),
        format!("GRANT USAGE ON SCHEMA \"{schema}\" TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON account TO {role}"),
        format!("GRANT USAGE ON ALL SEQUENCES IN SCHEMA \"{schema}\" TO {role}"),
        format!("GRANT SELECT ON audit_log TO {role}"),
    ] {
        run_sql(db, &sql).await.unwrap();
    }
    let result = db
        .transaction::<_, (), DbErr>(|txn| {
            let role = role.clone();
            Box::pin(async move {
                run_sql(txn, &format!("SET LOCAL ROLE {role}")).await?;
                set_balance(txn, created.id, 2).await
            })
        })
        .await;
    let err = result.expect_err("the audit insert is not permitted");
    assert!(
        err.to_string().contains(audit_failure("audit_log")),
        "{err}"
    );
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert_eq!(balance(db, created.id).await, Some(1), "nothing committed");
    assert_trail_matches(db, created.id, 0, "postgres: permission").await;
    run_sql(db, &format!("DROP OWNED BY {role}")).await.unwrap();
    run_sql(db, &format!("DROP ROLE {role}")).await.unwrap();
    fresh.cleanup().await.unwrap();
}

/// MariaDB: a user with every privilege on `account` and only `SELECT` on `audit_log`.
/// Under hooks capture its audit insert is refused, and the change with it; under database
/// capture the trigger inserts with its definer's privileges, so the user's change commits
/// with its trail (the user cannot change the table without it).
#[tokio::test]
async fn audit_insert_not_permitted_mysql() {
    let Some(fresh) = fresh(Backend::MySql, 2).await else {
        return;
    };
    let db = &fresh.db;
    let created = new_account("a", 1).insert(db).await.unwrap();
    let user = role_name();
    let database: String = db
        .query_one_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT DATABASE()",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    for sql in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.`account` TO '{user}'@'%'"),
        format!("GRANT SELECT ON `{database}`.`audit_log` TO '{user}'@'%'"),
    ] {
        run_sql(db, &sql).await.unwrap();
    }
    let url = Backend::MySql.url().unwrap();
    let host = url.rsplit_once('@').map_or(url.as_str(), |(_, h)| h);
    let host = host.split_once('/').map_or(host, |(h, _)| h);
    let limited = Database::connect(format!("mysql://{user}:pw@{host}/{database}"))
        .await
        .unwrap();
    let result = limited
        .transaction::<_, (), DbErr>(|txn| Box::pin(set_balance(txn, created.id, 2)))
        .await;
    limited.close().await.unwrap();
    if DATABASE_CAPTURE {
        result.expect("the trigger writes the trail as its definer");
        assert_eq!(balance(db, created.id).await, Some(2), "committed");
        assert_trail_matches(db, created.id, 1, "mysql: trigger's definer").await;
    } else {
        let err = result.expect_err("the audit insert is not permitted");
        assert!(
            err.to_string()
                .contains("audit write to `audit_log` failed"),
            "{err}"
        );
        assert!(err.to_string().contains("INSERT command denied"), "{err}");
        assert_eq!(balance(db, created.id).await, Some(1), "nothing committed");
        assert_trail_matches(db, created.id, 0, "mysql: permission").await;
    }
    run_sql(db, &format!("DROP USER '{user}'@'%'"))
        .await
        .unwrap();
    fresh.cleanup().await.unwrap();
}

// ---- (c) the connection is killed mid-transaction ----------------------------------------

async fn backend_pid<C: ConnectionTrait>(db: &C) -> i64 {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT pg_backend_pid()::bigint",
        _ => "SELECT CAST(CONNECTION_ID() AS SIGNED)",
    };
    query_i64(db, sql).await
}

async fn kill(db: &DatabaseConnection, pid: i64) {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!("SELECT pg_terminate_backend({pid})"),
        _ => format!("KILL {pid}"),
    };
    run_sql(db, &sql).await.unwrap();
}

/// Waits until connection `pid` is blocked on a lock in the audit `INSERT`: the one the
/// hooks send or, under database capture, the trigger's (PostgreSQL shows the `UPDATE`
/// that fired it, MariaDB the trigger's own statement, waiting for a row lock).
async fn wait_until_blocked_writing_trail(db: &DatabaseConnection, pid: i64) {
    let (postgres, mysql_wait) = if DATABASE_CAPTURE {
        (
            "UPDATE \"account\"",
            // (INNODB_TRX does not always show the trigger's wait as `LOCK WAIT`; the
            // trigger's insert still running after a second, with the blocker's lock held,
            // is waiting for it.)
            "(ID IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX \
             WHERE trx_state = 'LOCK WAIT') OR TIME >= 1)",
        )
    } else {
        ("INSERT", "STATE = 'Update'")
    };
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {pid} \
             AND wait_event_type = 'Lock' AND query LIKE '{postgres}%'"
        ),
        _ => format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {pid} \
             AND {mysql_wait} AND INFO LIKE 'INSERT INTO `audit_log`%'"
        ),
    };
    for _ in 0..200 {
        if query_i64(db, &sql).await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "SELECT coalesce(wait_event_type, '-') || ' ' || coalesce(state, '-') || ' ' || \
             left(coalesce(query, '-'), 80) AS s FROM pg_stat_activity WHERE pid = {pid}"
        ),
        _ => format!(
            "SELECT CONCAT(COALESCE(STATE, '-'), ' ', LEFT(COALESCE(INFO, '-'), 80)) AS s \
             FROM information_schema.PROCESSLIST WHERE ID = {pid}"
        ),
    };
    let seen = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), state))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get_by_index::<String>(0).ok());
    panic!("connection {pid} never blocked writing the trail (last seen: {seen:?})");
}

async fn killed_mid_transaction(backend: Backend) {
    let Some(fresh) = fresh(backend, 4).await else {
        return;
    };
    let db = fresh.db.clone();
    let created = new_account("a", 1).insert(&db).await.unwrap();

    // Killed after the data and audit writes, before commit.
    let txn = db.begin().await.unwrap();
    let pid = backend_pid(&txn).await;
    set_balance(&txn, created.id, 2).await.unwrap();
    kill(&db, pid).await;
    assert!(
        txn.commit().await.is_err(),
        "{backend:?}: commit on a killed connection"
    );
    assert_eq!(balance(&db, created.id).await, Some(1));
    assert_trail_matches(
        &db,
        created.id,
        0,
        &format!("{backend:?}: killed before commit"),
    )
    .await;

    // Killed while the audit insert waits on a lock held by another transaction.
    let blocker = db.begin().await.unwrap();
    let lock = match backend {
        Backend::Postgres => "LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE",
        _ => "SELECT id FROM audit_log FOR UPDATE",
    };
    run_sql(&blocker, lock).await.unwrap();
    let victim_db = db.clone();
    let (pid_tx, pid_rx) = tokio::sync::oneshot::channel();
    let victim = tokio::spawn(async move {
        let txn = victim_db.begin().await?;
        pid_tx.send(backend_pid(&txn).await).ok();
        set_balance(&txn, created.id, 3).await?;
        txn.commit().await
    });
    let pid = pid_rx.await.unwrap();
    wait_until_blocked_writing_trail(&db, pid).await;
    kill(&db, pid).await;
    let result = victim.await.unwrap();
    blocker.rollback().await.unwrap();
    assert!(result.is_err(), "{backend:?}: the killed write fails");
    assert_eq!(balance(&db, created.id).await, Some(1));
    assert_trail_matches(
        &db,
        created.id,
        0,
        &format!("{backend:?}: killed in audit write"),
    )
    .await;

    // The pool recovers and the next write extends the same chain.
    set_balance(&db, created.id, 4).await.unwrap();
    assert_trail_matches(&db, created.id, 1, &format!("{backend:?}: after the kills")).await;
    fresh.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_transaction_postgres() {
    killed_mid_transaction(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_transaction_mysql() {
    killed_mid_transaction(Backend::MySql).await;
}

// ---- (d) a panic inside a scoped actor -------------------------------------------------

/// Polls `fut` in the current task, catching a panic instead of unwinding further.
async fn catch_panic<F: Future>(fut: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await
}

/// Inserts an account owned by `owner` in a transaction of its own.
async fn insert_committed(db: &DatabaseConnection, owner: &str) {
    let txn = db.begin().await.unwrap();
    new_account(owner, 1).insert(&txn).await.unwrap();
    txn.commit().await.unwrap();
}

async fn panic_does_not_leak_actor(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = fresh.db.clone();

    // Caught in the same task, after an audited write and an `.await` inside the scope.
    let inner = db.clone();
    let caught = catch_panic(with_actor("mallory", async move {
        let txn = inner.begin().await.unwrap();
        new_account("m1", 1).insert(&txn).await.unwrap();
        tokio::task::yield_now().await;
        panic!("boom inside the scope");
    }))
    .await;
    assert!(caught.is_err());
    assert_eq!(current_actor(), None, "{backend:?}: same task");
    new_account("after-1", 1).insert(&db).await.unwrap();

    // In a spawned task on this thread, nested under an outer scope. (The scoped writes
    // commit in their own transactions: under database capture a scoped write outside one
    // is refused.)
    let outer = with_actor("alice", async {
        let inner = db.clone();
        let joined = tokio::spawn(with_actor("mallory", async move {
            insert_committed(&inner, "m2").await;
            panic!("boom in a task");
        }))
        .await;
        assert!(joined.unwrap_err().is_panic());
        insert_committed(&db, "after-2").await;
        current_actor()
    })
    .await;
    assert_eq!(
        outer.as_deref(),
        Some("alice"),
        "{backend:?}: outer scope intact"
    );
    new_account("after-3", 1).insert(&db).await.unwrap();

    let rows = audit_rows(&db).await.unwrap();
    let actor_of = |owner: &str| {
        let id = rows
            .iter()
            .find(|r| r.column_name == "owner" && r.new_value == Some(json!(owner)))
            .map(|r| r.record_id.clone())
            .expect("inserted");
        let actors: Vec<_> = rows
            .iter()
            .filter(|r| r.record_id == id)
            .map(|r| r.actor.clone())
            .collect();
        assert!(actors.windows(2).all(|w| w[0] == w[1]));
        actors[0].clone()
    };
    assert_eq!(actor_of("after-1"), None, "{backend:?}");
    assert_eq!(actor_of("after-2").as_deref(), Some("alice"), "{backend:?}");
    assert_eq!(actor_of("after-3"), None, "{backend:?}");
    // The write inside the panicking transaction was rolled back; the one outside it stays
    // with its own actor.
    assert_eq!(actor_of("m2").as_deref(), Some("mallory"), "{backend:?}");
    assert!(
        !rows.iter().any(|r| r.new_value == Some(json!("m1"))),
        "{backend:?}: the panicking transaction left nothing"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn panic_does_not_leak_actor_sqlite() {
    panic_does_not_leak_actor(Backend::Sqlite).await;
}

#[tokio::test]
async fn panic_does_not_leak_actor_postgres() {
    panic_does_not_leak_actor(Backend::Postgres).await;
}

#[tokio::test]
async fn panic_does_not_leak_actor_mysql() {
    panic_does_not_leak_actor(Backend::MySql).await;
}

// ---- append-only trail -----------------------------------------------------------------

async fn append_only(backend: Backend) {
    let Some(fresh) = fresh(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    // Installing the triggers again is a no-op.
    audit_core::create_audit_table_with(db, AuditTableOptions::append_only())
        .await
        .unwrap();
    // The library's whole write path works under the triggers.
    let created = new_account("a", 1).insert(db).await.unwrap();
    set_balance(db, created.id, 2).await.unwrap();
    created.delete(db).await.unwrap();
    let before = audit_rows(db).await.unwrap();
    assert_eq!(before.len(), 11, "{backend:?}");

    for sql in [
        "UPDATE audit_log SET actor = 'mallory'",
        "UPDATE audit_log SET new_value = NULL WHERE column_name = 'balance'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE operation = 'delete'",
    ] {
        let err = run_sql(db, sql).await.expect_err(sql);
        assert!(
            err.to_string().contains("append-only"),
            "{backend:?}: {sql}: {err}"
        );
    }
    // PostgreSQL's TRUNCATE fires no row triggers: a statement trigger refuses it.
    // (MySQL's TRUNCATE fires no triggers at all; SQLite has no TRUNCATE.)
    if backend == Backend::Postgres {
        let err = run_sql(db, "TRUNCATE audit_log")
            .await
            .expect_err("TRUNCATE");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    // Also inside a transaction that then commits.
    let txn = db.begin().await.unwrap();
    assert!(run_sql(&txn, "DELETE FROM audit_log").await.is_err());
    if backend == Backend::Postgres {
        txn.rollback().await.unwrap();
    } else {
        txn.commit().await.unwrap();
    }
    assert_eq!(
        audit_rows(db).await.unwrap(),
        before,
        "{backend:?}: trail unchanged"
    );

    // Without the option the table is a plain table (the triggers are what refuses).
    let Some(plain) = setup(backend, 1).await else {
        return;
    };
    new_account("b", 1).insert(&plain.db).await.unwrap();
    run_sql(&plain.db, "DELETE FROM audit_log").await.unwrap();
    plain.cleanup().await.unwrap();
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn append_only_sqlite() {
    append_only(Backend::Sqlite).await;
}

#[tokio::test]
async fn append_only_postgres() {
    append_only(Backend::Postgres).await;
}

#[tokio::test]
async fn append_only_mysql() {
    append_only(Backend::MySql).await;
}

// ---- failed writes leave no state behind -----------------------------------------------

/// An update that fails after its old row was read must not leave that row behind for a
/// later write of the same record on the same connection: a delete that finds no row
/// records nothing.
async fn failed_write_leaves_no_state(backend: Backend) {
    let Some(fresh) = fresh(backend, 1).await else {
        return;
    };
    let db = &fresh.db;
    new_account("a", 1).insert(db).await.unwrap();
    let b = new_account("b", 2).insert(db).await.unwrap();
    let mut am: account::ActiveModel = b.clone().into();
    am.owner = Set("a".into());
    assert!(am.update(db).await.is_err(), "unique owner");
    // The row goes away behind the library's back (raw SQL, audited only under database
    // capture).
    run_sql(db, &format!("DELETE FROM account WHERE id = {}", b.id))
        .await
        .unwrap();
    let before = audit_rows(db).await.unwrap();
    let gone = account::ActiveModel {
        id: Set(b.id),
        ..Default::default()
    };
    assert_eq!(gone.delete(db).await.unwrap().rows_affected, 0);
    let after = audit_rows(db).await.unwrap();
    let added: Vec<_> = after[before.len()..]
        .iter()
        .map(|r| (&r.operation, &r.record_id))
        .collect();
    assert!(
        added.is_empty(),
        "{backend:?}: a delete of nothing recorded {added:?}"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn failed_write_leaves_no_state_sqlite() {
    failed_write_leaves_no_state(Backend::Sqlite).await;
}

#[tokio::test]
async fn failed_write_leaves_no_state_postgres() {
    failed_write_leaves_no_state(Backend::Postgres).await;
}

#[tokio::test]
async fn failed_write_leaves_no_state_mysql() {
    failed_write_leaves_no_state(Backend::MySql).await;
}
