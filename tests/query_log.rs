//! The query logger on every backend: the fields of its `tracing` events (captured by a test
//! subscriber), parameter redaction, slow queries, counters, and the access log.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_core::AuditContext;
use audit_core::query_log::{AccessLog, QueryKind, QueryLogger, TARGET};
use common::{Backend, account, new_account, setup};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement,
    TransactionTrait,
};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One captured event of the query logger: its level and fields as text.
#[derive(Clone, Debug)]
struct Event {
    level: tracing::Level,
    fields: BTreeMap<String, String>,
}

impl Event {
    fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Event>>>);

impl Capture {
    /// Captures the logger's events on this thread until the guard drops.
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::set_default(subscriber)
    }

    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Event {
            level: *event.metadata().level(),
            fields,
        });
    }
}

/// The events of `kind` (`select`, ...: `db.operation` in lowercase) whose tables are `table`.
fn with_kind<'a>(events: &'a [Event], kind: &str, table: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| {
            e.get("db.operation")
                .is_some_and(|o| o.eq_ignore_ascii_case(kind))
                && e.get("tables") == Some(table)
        })
        .collect()
}

async fn events_carry_statement_fields(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    let logger = QueryLogger::attach(&mut fresh.db);
    let capture = Capture::default();
    let _guard = capture.install();
    let db = &fresh.db;

    let scope = AuditContext::new().actor("alice").request_id("req-7");
    let created = scope
        .clone()
        .scope(new_account("alice", 10).insert(db))
        .await
        .unwrap();
    let found = scope
        .scope(account::Entity::find_by_id(created.id).one(db))
        .await
        .unwrap();
    assert!(found.is_some());

    let events = capture.events();
    let inserts = with_kind(&events, "insert", "account");
    assert_eq!(inserts.len(), 1, "{backend:?}: {events:#?}");
    let insert = inserts[0];
    assert_eq!(insert.level, tracing::Level::DEBUG);
    assert!(
        insert
            .get("db.statement")
            .unwrap()
            .starts_with("INSERT INTO")
    );
    assert_eq!(insert.get("otel.status_code"), Some("OK"));
    assert_eq!(insert.get("slow"), Some("false"));
    assert_eq!(insert.get("actor"), Some("alice"));
    assert_eq!(insert.get("context"), Some(r#"{"request_id":"req-7"}"#));
    assert!(insert.get("elapsed_us").unwrap().parse::<u64>().is_ok());
    assert_eq!(insert.get("params"), None, "parameters are off by default");
    let expected_system = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
        Backend::MySql => "mysql",
    };
    assert_eq!(insert.get("db.system"), Some(expected_system));
    // The audit rows of the insert are statements too, in the same scope.
    let audit_insert = with_kind(&events, "insert", "audit_log");
    assert_eq!(audit_insert.len(), 1);
    assert_eq!(audit_insert[0].get("actor"), Some("alice"));
    let selects = with_kind(&events, "select", "account");
    assert!(!selects.is_empty());
    assert!(selects.iter().all(|e| e.get("actor") == Some("alice")));

    // Outside any scope: no actor, no context.
    capture.clear();
    let sql = format!(
        "DELETE FROM {} WHERE 1 = 0",
        if backend == Backend::MySql {
            "`account`"
        } else {
            "\"account\""
        }
    );
    db.execute_unprepared(&sql).await.unwrap();
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    let events = capture.events();
    assert_eq!(
        events.len(),
        1,
        "execute_unprepared is not metered by SeaORM: {events:#?}"
    );
    assert_eq!(events[0].get("db.operation"), Some("DELETE"));
    assert_eq!(events[0].get("actor"), None);
    assert_eq!(events[0].get("context"), None);

    // A failing statement: WARN, success=false, counted as a failure of its kind.
    let missing = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM no_such_table",
        ))
        .await;
    assert!(missing.is_err());
    let failed = capture.events().pop().unwrap();
    assert_eq!(failed.level, tracing::Level::WARN);
    assert_eq!(failed.get("otel.status_code"), Some("ERROR"));
    assert_eq!(failed.get("tables"), Some("no_such_table"));

    let counters = logger.counters();
    let select = counters.kind(QueryKind::Select);
    assert_eq!(select.failures, 1);
    assert_eq!(select.statements, selects.len() as u64 + 1);
    assert!(select.max <= select.total && select.total > Duration::ZERO);
    assert_eq!(counters.kind(QueryKind::Insert).statements, 2);
    assert_eq!(counters.kind(QueryKind::Delete).statements, 1);
    assert_eq!(counters.total().failures, 1);
    fresh.cleanup().await.unwrap();
}

async fn parameters_are_redacted(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    QueryLogger::builder()
        .log_params(true)
        .redact_entity::<account::Entity>()
        .attach(&mut fresh.db)
        .unwrap();
    let capture = Capture::default();
    let _guard = capture.install();
    let db = &fresh.db;

    let created = new_account("alice", 10).insert(db).await.unwrap();
    account::Entity::find()
        .filter(account::Column::PasswordHash.eq("hash-of-alice"))
        .filter(account::Column::Owner.eq("alice"))
        .all(db)
        .await
        .unwrap();
    // A parameter that cannot be attributed to a column of a table with redacted columns.
    let backend_sql = db.get_database_backend();
    let placeholder = if backend_sql == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    db.query_all_raw(Statement::from_sql_and_values(
        backend_sql,
        format!("SELECT id FROM account WHERE password_hash = lower({placeholder})"),
        ["hash-of-alice".into()],
    ))
    .await
    .unwrap();

    let events = capture.events();
    for event in &events {
        let params = event.get("params").expect("params are logged");
        assert!(
            !params.contains("hash-of-alice"),
            "{backend:?} leaked: {event:#?}"
        );
    }
    let insert = with_kind(&events, "insert", "account")[0];
    let params: serde_json::Value = serde_json::from_str(insert.get("params").unwrap()).unwrap();
    assert!(params.as_array().unwrap().contains(&"alice".into()));
    assert!(params.as_array().unwrap().contains(&"[redacted]".into()));
    assert!(params.as_array().unwrap().contains(&10.into()));
    let filtered = events
        .iter()
        .find(|e| {
            e.get("db.statement").unwrap().contains("password_hash\" =")
                || e.get("db.statement").unwrap().contains("password_hash` =")
        })
        .unwrap();
    assert_eq!(filtered.get("params"), Some(r#"["[redacted]","alice"]"#));
    let raw = events.last().unwrap();
    assert_eq!(raw.get("params"), Some(r#"["[redacted]"]"#));
    // The audit rows of the insert hold the marker, not the value, for the redacted column.
    assert!(
        with_kind(&events, "insert", "audit_log")[0]
            .get("params")
            .unwrap()
            .contains(&created.id.to_string())
    );
    fresh.cleanup().await.unwrap();
}

async fn slow_statements_warn(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    let logger = QueryLogger::builder()
        .slow_threshold(Duration::from_millis(150))
        .attach(&mut fresh.db)
        .unwrap();
    let capture = Capture::default();
    let _guard = capture.install();
    let db = &fresh.db;

    let slow_sql = match backend {
        Backend::Postgres => "SELECT pg_sleep(0.3)",
        Backend::MySql => "SELECT SLEEP(0.3)",
        Backend::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) \
             SELECT count(*) FROM c"
        }
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), slow_sql))
        .await
        .unwrap();
    account::Entity::find().all(db).await.unwrap();

    let events = capture.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0].level, tracing::Level::WARN);
    assert_eq!(events[0].get("slow"), Some("true"));
    assert_eq!(events[0].get("message"), Some("slow query"));
    assert_eq!(events[0].get("db.statement"), Some(slow_sql));
    assert!(events[0].get("elapsed_us").unwrap().parse::<u64>().unwrap() >= 150_000);
    assert_eq!(events[1].get("slow"), Some("false"));
    assert_eq!(events[1].level, tracing::Level::DEBUG);
    let counters = logger.counters();
    assert_eq!(counters.slow, 1);
    assert!(counters.kind(QueryKind::Select).max >= Duration::from_millis(150));
    fresh.cleanup().await.unwrap();
}

/// `(table_name, actor, statement)` of every access-log row.
async fn access_rows(db: &impl ConnectionTrait) -> Vec<(String, Option<String>, String)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT table_name, actor, statement FROM audit_access_log ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "table_name").unwrap(),
                r.try_get("", "actor").unwrap(),
                r.try_get("", "statement").unwrap(),
            )
        })
        .collect()
}

async fn access_log_records_sensitive_reads(backend: Backend) {
    let Some(mut fresh) = setup(backend, 2).await else {
        return;
    };
    let access = AccessLog::new().sensitive::<account::Entity>();
    access.create_table(&fresh.db).await.unwrap();
    // The writer's own connection carries a logger too: its inserts must not be logged.
    let mut writer_db = fresh.db.clone();
    let writer_logger = QueryLogger::attach(&mut writer_db);
    let logger = QueryLogger::builder()
        .access_log(access.connection(writer_db))
        .attach(&mut fresh.db)
        .unwrap();
    let capture = Capture::default();
    let _guard = capture.install();
    let db = &fresh.db;

    let created = new_account("alice", 10).insert(db).await.unwrap();
    audit_core::with_actor("bob", async {
        account::Entity::find_by_id(created.id)
            .one(db)
            .await
            .unwrap();
        common::audit_rows(db).await.unwrap();
    })
    .await;
    logger.flush_access_log().await;

    let rows = access_rows(db).await;
    assert!(
        rows.iter().all(|(t, _, _)| t == "account"),
        "{backend:?}: {rows:#?}"
    );
    // The insert's own read (`RETURNING`, or MySQL's read of the new row) is recorded.
    assert!(
        rows.iter().any(|(_, actor, _)| actor.is_none()),
        "{rows:#?}"
    );
    let bob: Vec<_> = rows
        .iter()
        .filter(|(_, actor, _)| actor.as_deref() == Some("bob"))
        .collect();
    assert_eq!(bob.len(), 2, "{backend:?}: {rows:#?}");
    assert!(bob[0].2.starts_with("SELECT"), "{}", bob[0].2);
    // Reading the whole trail returns the account's recorded values: a read of `account`.
    assert!(bob[1].2.contains("FROM audit_log"), "{}", bob[1].2);
    let stats = logger.access_log_stats().unwrap();
    assert_eq!(
        (stats.written, stats.dropped, stats.failed),
        (rows.len() as u64, 0, 0)
    );
    assert_eq!(
        writer_logger.counters().total().statements,
        0,
        "the writer is not logged"
    );
    fresh.cleanup().await.unwrap();
}

async fn access_log_overflow_is_counted(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    let access = AccessLog::new()
        .sensitive_table("account")
        .capacity(2)
        .batch_size(1);
    access.create_table(&fresh.db).await.unwrap();
    let logger = QueryLogger::builder()
        .access_log(access)
        .attach(&mut fresh.db)
        .unwrap();
    let capture = Capture::default();
    let _guard = capture.install();

    // The pool's only connection is held by this transaction, so the writer cannot write
    // while it runs: the queue fills and further entries are dropped, the reads go on.
    let txn = fresh.db.begin().await.unwrap();
    for _ in 0..20 {
        account::Entity::find().all(&txn).await.unwrap();
    }
    txn.commit().await.unwrap();
    logger.flush_access_log().await;

    let stats = logger.access_log_stats().unwrap();
    assert!(stats.dropped >= 17, "{backend:?}: {stats:?}");
    assert_eq!(stats.written + stats.dropped, 20, "{stats:?}");
    assert_eq!(access_rows(&fresh.db).await.len() as u64, stats.written);
    let warned = capture
        .events()
        .iter()
        .any(|e| e.level == tracing::Level::WARN && e.get("dropped") == Some("1"));
    assert!(warned, "the first drop is reported");
    fresh.cleanup().await.unwrap();
}

/// Two tasks with different actors, on a multi-threaded runtime: each statement carries the
/// actor of the task that ran it (the callback runs in the caller's task).
async fn actor_follows_the_task(backend: Backend) {
    let Some(mut fresh) = setup(backend, 2).await else {
        return;
    };
    QueryLogger::builder()
        .log_params(true)
        .attach(&mut fresh.db)
        .unwrap();
    let capture = Capture::default();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(capture.clone()));
    let tasks: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|actor| {
            let db = fresh.db.clone();
            let work = audit_core::with_actor(actor, async move {
                for _ in 0..20 {
                    account::Entity::find()
                        .filter(account::Column::Owner.eq(actor))
                        .all(&db)
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
            });
            tokio::spawn(tracing::instrument::WithSubscriber::with_subscriber(
                work,
                dispatch.clone(),
            ))
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let events = capture.events();
    assert_eq!(events.len(), 40, "{backend:?}");
    for event in &events {
        let params = event.get("params").unwrap();
        let actor = event.get("actor").unwrap();
        assert!(
            params.contains(&format!("\"{actor}\"")),
            "{params} run by {actor}"
        );
    }
    fresh.cleanup().await.unwrap();
}

/// The placeholders of `backend`: `$1, $2, ...` on PostgreSQL, `?` elsewhere.
fn placeholders(sql: &str, backend: Backend) -> String {
    if backend != Backend::Postgres {
        return sql.to_owned();
    }
    let mut out = String::new();
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `sql` (with `?` placeholders) with `values`, expecting it to succeed.
async fn run(db: &impl ConnectionTrait, backend: Backend, sql: &str, values: Vec<sea_orm::Value>) {
    let sql = placeholders(sql, backend);
    db.query_all_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        &sql,
        values,
    ))
    .await
    .unwrap_or_else(|e| panic!("{backend:?}: {sql}: {e}"));
}

/// The `params` of the last event whose statement is `sql`'s.
fn params_of(events: &[Event], sql: &str, backend: Backend) -> String {
    let sql = placeholders(sql, backend);
    events
        .iter()
        .rev()
        .find(|e| e.get("db.statement") == Some(sql.as_str()))
        .and_then(|e| e.get("params"))
        .unwrap_or_else(|| panic!("no event for {sql}: {events:#?}"))
        .to_owned()
}

/// Every row of the issue's table of leaks, as a hostile user would try them: the secret
/// never reaches an event, and values of other columns still do.
async fn redacted_values_never_leak(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    let logger = QueryLogger::builder()
        .log_params(true)
        .redact_entity::<account::Entity>()
        .redact_column("account", "note")
        .attach(&mut fresh.db)
        .unwrap();
    let capture = Capture::default();
    let _guard = capture.install();
    let db = &fresh.db;
    let secret = "s3cret-7f2b";
    let created = new_account("alice", 10).insert(db).await.unwrap();
    let id = created.id;

    let mut statements = vec![
        // An alias spelled like another table.
        "SELECT audit_log.id FROM account AS audit_log JOIN audit_log AS l \
         ON l.record_id = 'x' WHERE audit_log.password_hash = ?",
        "UPDATE account SET password_hash = ? WHERE id = ?",
    ];
    match backend {
        Backend::Sqlite => statements.extend([
            "UPDATE OR REPLACE account SET password_hash = ? WHERE id = ?",
            "UPDATE OR IGNORE \"account\" SET password_hash = ? WHERE id = ?",
            "UPDATE [account] SET password_hash = ?2 WHERE id = ?1",
        ]),
        Backend::MySql => statements.extend([
            "UPDATE IGNORE account SET password_hash = ? WHERE id = ?",
            "UPDATE LOW_PRIORITY `account` SET password_hash = ? WHERE id = ?",
            "UPDATE account SET password_hash = # comment\n ? WHERE id = ?",
            "UPDATE account SET balance = balance --1\n, password_hash = ? WHERE id = ?",
        ]),
        Backend::Postgres => statements.extend([
            "UPDATE ONLY account SET password_hash = ? WHERE id = ? AND note IS DISTINCT FROM $q$ ' ? $q$",
            "UPDATE account SET password_hash = ? WHERE id = ? AND note IS DISTINCT FROM E'\\' ?'",
        ]),
    }
    for sql in &statements {
        let values = if sql.contains("?2") {
            vec![id.into(), secret.into()]
        } else if sql.contains("WHERE id") {
            vec![secret.into(), id.into()]
        } else {
            vec![secret.into()]
        };
        run(db, backend, sql, values).await;
        if sql.contains("WHERE id") {
            // Attributed: the secret is withheld, the id is not.
            let params = params_of(&capture.events(), sql, backend);
            let expected = if sql.contains("?2") {
                format!(r#"[{id},"[redacted]"]"#)
            } else {
                format!(r#"["[redacted]",{id}]"#)
            };
            assert_eq!(params, expected, "{backend:?}: {sql}");
        }
    }

    // The history API's own value search.
    use audit_core::table_history;
    table_history::<account::Entity>()
        .column(account::Column::PasswordHash)
        .new_value(secret)
        .fetch(db)
        .await
        .unwrap();
    table_history::<account::Entity>()
        .column(account::Column::PasswordHash)
        .old_value(secret)
        .fetch(db)
        .await
        .unwrap();
    // A column redacted with `.redact_column` but recorded in the trail: neither the write
    // nor the audit INSERT carrying it logs it.
    let mut am: account::ActiveModel = created.into();
    am.note = sea_orm::ActiveValue::Set(Some(secret.to_owned()));
    am.balance = sea_orm::ActiveValue::Set(4242);
    am.update(db).await.unwrap();

    let events = capture.events();
    for event in &events {
        for (field, value) in &event.fields {
            assert!(
                !value.contains(secret),
                "{backend:?} leaked in {field}: {event:#?}"
            );
        }
    }
    // The audit INSERT of that update still shows the value of a column not redacted.
    let audit_insert = with_kind(&events, "insert", "audit_log");
    let last = audit_insert.last().unwrap().get("params").unwrap();
    assert!(last.contains("4242"), "{backend:?}: {last}");
    assert!(last.contains("[redacted]"), "{backend:?}: {last}");
    assert_eq!(logger.counters().unreadable, 0);
    fresh.cleanup().await.unwrap();
}

/// A statement the logger cannot read has every parameter withheld, and is counted.
async fn unreadable_statements_withhold_everything(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    let logger = QueryLogger::builder()
        .log_params(true)
        .redact_entity::<account::Entity>()
        .attach(&mut fresh.db)
        .unwrap();
    let capture = Capture::default();
    let _guard = capture.install();
    let db = &fresh.db;
    let sql = match backend {
        // Whether `\` escapes depends on the server's sql_mode.
        Backend::MySql => r"SELECT id FROM account WHERE owner = ? AND note <> 'a\'b'",
        // `U&` escapes spell any name.
        Backend::Postgres => r"SELECT id FROM account WHERE owner = ? AND owner <> U&'\0061'",
        // A statement the logger does not know.
        Backend::Sqlite => "ATTACH DATABASE ? AS extra",
    };
    let value = if backend == Backend::Sqlite {
        ":memory:"
    } else {
        "alice"
    };
    run(db, backend, sql, vec![value.into()]).await;
    assert_eq!(
        params_of(&capture.events(), sql, backend),
        r#"["[redacted]"]"#
    );
    assert_eq!(logger.counters().unreadable, 1);
    fresh.cleanup().await.unwrap();
}

/// Every read the issue found missing is in the access log; writes that return nothing,
/// and history reads pinned to other tables, are not.
async fn access_log_sees_every_read(backend: Backend) {
    let Some(mut fresh) = setup(backend, 2).await else {
        return;
    };
    fresh
        .db
        .execute_unprepared("CREATE TABLE exfil (owner VARCHAR(64), secret VARCHAR(128))")
        .await
        .unwrap();
    let access = AccessLog::new().sensitive::<account::Entity>();
    access.create_table(&fresh.db).await.unwrap();
    let created = new_account("alice", 10).insert(&fresh.db).await.unwrap();
    let logger = QueryLogger::builder()
        .access_log(access)
        .attach(&mut fresh.db)
        .unwrap();
    let db = &fresh.db;
    let id = created.id;

    let mut reads = vec![
        "/* request 42 */ SELECT owner, password_hash FROM account",
        "-- note\nSELECT owner, password_hash FROM account",
        "INSERT INTO exfil SELECT owner, password_hash FROM account",
    ];
    match backend {
        Backend::MySql => reads.push("# note\nSELECT owner, password_hash FROM account"),
        Backend::Postgres => reads.extend([
            "SELECT $t$ FROM x $t$, password_hash FROM account",
            "SELECT E'\\' FROM x', password_hash FROM account",
            "UPDATE account SET balance = balance WHERE id = ? RETURNING owner, password_hash",
        ]),
        Backend::Sqlite => reads.push(
            "UPDATE account SET balance = balance WHERE id = ? RETURNING owner, password_hash",
        ),
    }
    for sql in &reads {
        let values = if sql.contains('?') {
            vec![id.into()]
        } else {
            vec![]
        };
        audit_core::with_actor("mallory", run(db, backend, sql, values)).await;
    }
    // The trail of a sensitive record is a read of it.
    audit_core::with_actor(
        "mallory",
        audit_core::history::<account::Entity>(id).fetch(db),
    )
    .await
    .unwrap();
    // Not reads of `account`: a write returning nothing, the trail of another table.
    audit_core::with_actor("bob", async {
        run(
            db,
            backend,
            "UPDATE account SET balance = ? WHERE id = ?",
            vec![5.into(), id.into()],
        )
        .await;
        audit_core::all_history()
            .table("exfil")
            .fetch(db)
            .await
            .unwrap();
    })
    .await;
    logger.flush_access_log().await;

    let rows = access_rows(db).await;
    let statements: Vec<&str> = rows.iter().map(|(_, _, s)| s.as_str()).collect();
    for sql in &reads {
        let sql = placeholders(sql, backend);
        assert!(
            statements.contains(&sql.as_str()),
            "{backend:?}: {sql} missing: {rows:#?}"
        );
    }
    assert_eq!(rows.len(), reads.len() + 1, "{backend:?}: {rows:#?}");
    let trail = rows.last().unwrap();
    assert_eq!(
        (trail.0.as_str(), trail.1.as_deref()),
        ("account", Some("mallory"))
    );
    assert!(trail.2.contains("audit_log"), "{}", trail.2);
    assert!(
        rows.iter()
            .all(|(_, actor, _)| actor.as_deref() == Some("mallory"))
    );
    fresh.cleanup().await.unwrap();
}

/// The counters count a buffered SQLite update (`SELECT <old row>; UPDATE ...` in one
/// statement) as an update, and a chained callback sees every statement.
async fn counters_and_chained_callback(backend: Backend) {
    let Some(mut fresh) = setup(backend, 1).await else {
        return;
    };
    let created = new_account("alice", 10).insert(&fresh.db).await.unwrap();
    let chained = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = Arc::clone(&chained);
    let logger = QueryLogger::builder()
        .chain(move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .attach(&mut fresh.db)
        .unwrap();
    let capture = Capture::default();
    let _guard = capture.install();
    audit_core::transaction(&fresh.db, |txn| {
        let mut am: account::ActiveModel = created.clone().into();
        am.balance = sea_orm::ActiveValue::Set(20);
        Box::pin(async move { am.update(txn).await.map(|_| ()) })
    })
    .await
    .unwrap();
    let events = capture.events();
    for event in &events {
        let sql = event.get("db.statement").unwrap();
        if sql.contains(" SET ") {
            assert_eq!(event.get("db.operation"), Some("UPDATE"), "{sql}");
        }
    }
    let counters = logger.counters();
    assert_eq!(
        counters.kind(QueryKind::Update).statements,
        1,
        "{events:#?}"
    );
    assert_eq!(
        chained.load(std::sync::atomic::Ordering::Relaxed),
        counters.total().statements
    );
    assert_eq!(counters.total().statements, events.len() as u64);
    fresh.cleanup().await.unwrap();
}

mod multi_thread {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn actor_follows_the_task_sqlite() {
        super::actor_follows_the_task(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn actor_follows_the_task_postgres() {
        super::actor_follows_the_task(super::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn actor_follows_the_task_mariadb() {
        super::actor_follows_the_task(super::Backend::MySql).await;
    }
}

macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Postgres).await;
            })*
        }
        mod mariadb {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::MySql).await;
            })*
        }
    };
}

per_backend!(
    events_carry_statement_fields,
    parameters_are_redacted,
    slow_statements_warn,
    access_log_records_sensitive_reads,
    access_log_overflow_is_counted,
    redacted_values_never_leak,
    unreadable_statements_withhold_everything,
    access_log_sees_every_read,
    counters_and_chained_callback,
);
