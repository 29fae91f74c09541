//! Canaries for personal data outside the live table, on PostgreSQL and MariaDB: known
//! personal values are written and then overwritten, so that they live on only in the
//! trail. They must appear in no query-log event (with `log_params(true)`), no other
//! `tracing` event, no error message, and (PostgreSQL) nowhere in a `pg_dump` of the
//! database; after erasure, no copy of them decrypts. (SQLite's files: `tests/erasure.rs`.)

mod common;

use std::sync::{Arc, Mutex};

use audit_core::erasure::{self, ERASED, LocalKek};
use audit_core::query_log::QueryLogger;
use common::{Backend, FreshDb, create_table};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Statement};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

mod person {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "person")]
    #[audit(subject_kind = "user")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        #[audit(personal)]
        pub email: String,
        pub plan: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Every `tracing` event of every target and level, as text.
#[derive(Clone, Default)]
struct Everything(Arc<Mutex<String>>);

struct Text<'a>(&'a mut String);

impl Visit for Text<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?}\n", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!("{}={value}\n", field.name()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Everything {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut text = self.0.lock().unwrap();
        text.push_str(event.metadata().target());
        text.push('\n');
        event.record(&mut Text(&mut text));
    }
}

fn kek(byte: u8) -> Arc<LocalKek> {
    Arc::new(LocalKek::new([byte; 32]))
}

fn canary(i: i32) -> String {
    format!("canary-{i}-{}@example.org", std::process::id())
}

/// Writes persons 0..10 with canary emails, then overwrites each, so the canaries live
/// on only in the trail; returns every error message seen on the way.
async fn write_canaries(db: &DatabaseConnection) -> Vec<String> {
    for i in 0..10 {
        let model = person::ActiveModel {
            id: Set(i),
            email: Set(canary(i)),
            plan: Set("plan-in-clear".into()),
        }
        .insert(db)
        .await
        .expect("insert");
        let mut am: person::ActiveModel = model.into();
        am.email = Set(format!("now-{i}@example.org"));
        am.update(db).await.expect("update");
    }
    let mut errors = Vec::new();
    // A value filter on the personal column, naming a canary.
    let filter = audit_core::history::<person::Entity>(0)
        .column(person::Column::Email)
        .old_value(canary(0))
        .fetch(db)
        .await
        .expect_err("a value filter on a personal column");
    errors.push(format!("{filter} {filter:?}"));
    // A write under the wrong key-encryption key, carrying a canary.
    let wrong = erasure::with_key_encryption_key(kek(2), async {
        person::ActiveModel {
            id: Set(50),
            email: Set(canary(50)),
            plan: Set("free".into()),
        }
        .insert(db)
        .await
        .expect_err("the wrong key-encryption key")
    })
    .await;
    errors.push(format!("{wrong} {wrong:?}"));
    assert!(
        person::Entity::find_by_id(50)
            .one(db)
            .await
            .unwrap()
            .is_none(),
        "nothing written under the wrong key"
    );
    errors
}

fn pg_dump(backend: Backend, schema: &str) -> String {
    let url = backend.url().expect("the URL");
    let out = std::process::Command::new("pg_dump")
        .args(["--no-owner", "--schema", schema, &url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("text")
}

async fn canaries(backend: Backend) {
    let Some(mut fresh) = FreshDb::connect(backend, 1).await.expect("connect") else {
        return;
    };
    audit_core::create_audit_table(&fresh.db)
        .await
        .expect("audit table");
    create_table(&fresh.db, person::Entity).await;
    let _logger = QueryLogger::builder()
        .redact_entity::<person::Entity>()
        .log_params(true)
        .attach(&mut fresh.db)
        .expect("query logger");
    let db = &fresh.db;
    let events = Everything::default();
    let errors = {
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
        erasure::with_key_encryption_key(kek(1), write_canaries(db)).await
    };
    let events = events.0.lock().unwrap().clone();
    assert!(
        events.contains("audit_log"),
        "{backend:?}: the logger saw the writes"
    );
    let dump = if backend == Backend::Postgres {
        let schema = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT current_schema()",
            ))
            .await
            .expect("schema")
            .expect("a row")
            .try_get_by_index::<String>(0)
            .expect("text");
        let dump = pg_dump(backend, &schema);
        assert!(
            dump.contains("now-3@example.org"),
            "the dump holds the live table"
        );
        dump
    } else {
        String::new()
    };
    for i in (0..10).chain([50]) {
        let canary = canary(i);
        assert!(
            !events.contains(&canary),
            "{backend:?}: {canary} in a tracing event"
        );
        assert!(!dump.contains(&canary), "{backend:?}: {canary} in pg_dump");
        for error in &errors {
            assert!(
                !error.contains(&canary),
                "{backend:?}: {canary} in an error: {error}"
            );
        }
    }
    // After erasure no copy decrypts: the trail reads as erased.
    erasure::with_key_encryption_key(kek(1), async {
        audit_core::erase_subject(db, "user", 4)
            .await
            .expect("erase");
        let entries = audit_core::history::<person::Entity>(4)
            .column(person::Column::Email)
            .fetch(db)
            .await
            .expect("read");
        assert!(
            entries.iter().all(|e| e.new_value == Some(json!(ERASED))),
            "{entries:?}"
        );
        assert_eq!(entries[1].old_value, Some(json!(ERASED)));
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

#[tokio::test]
async fn canaries_postgres() {
    canaries(Backend::Postgres).await;
}

#[tokio::test]
async fn canaries_mysql() {
    canaries(Backend::MySql).await;
}

#[tokio::test]
async fn canaries_sqlite() {
    canaries(Backend::Sqlite).await;
}
