//! The audit's own work is traced (issue: query log, "the audit write path emits nothing
//! today"): `audit.write`, `audit.flush` and `audit.history` spans at DEBUG, with
//! OpenTelemetry's field names and the outcome, never a value.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{Backend, account, new_account, setup};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// A span's fields by name.
type SpanFields = BTreeMap<String, String>;

/// Every span's name and fields, as they were opened and recorded.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, SpanFields)>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S>
    for Spans
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.push((attrs.metadata().name().to_owned(), fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(spans.len() - 1);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(index) = ctx
            .span(id)
            .and_then(|s| s.extensions().get::<usize>().copied())
        else {
            return;
        };
        values.record(&mut Fields(&mut self.0.lock().unwrap()[index].1));
    }
}

impl Spans {
    fn named(&self, name: &str) -> Vec<SpanFields> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

#[tokio::test]
async fn audit_work_is_traced_sqlite() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(
        spans
            .clone()
            .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
    );
    let _guard = tracing::subscriber::set_default(subscriber);
    // Current-thread runtime: the subscriber set above sees every span of the test.
    let fresh = setup(Backend::Sqlite, 1).await.unwrap();
    let db = &fresh.db;

    let saved = new_account("alice", 10).insert(db).await.unwrap();
    let write = spans.named("audit.write");
    assert_eq!(write.len(), 1);
    assert_eq!(write[0]["db.system"], "sqlite");
    assert_eq!(write[0]["audit.rows"], "5"); // id, owner, balance, note, password_hash
    assert_eq!(write[0]["otel.status_code"], "OK");

    audit_core::transaction(db, |txn| {
        Box::pin(async move {
            new_account("bob", 20).insert(txn).await?;
            new_account("carol", 30).insert(txn).await?;
            Ok::<_, DbErr>(())
        })
    })
    .await
    .unwrap();
    let flush = spans.named("audit.flush");
    assert_eq!(flush.len(), 1);
    assert_eq!(flush[0]["audit.changesets"], "2");
    assert_eq!(flush[0]["otel.status_code"], "OK");

    let entries = audit_core::history::<account::Entity>(saved.id)
        .fetch(db)
        .await
        .unwrap();
    let history = spans.named("audit.history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["audit.rows"], entries.len().to_string());
    assert_eq!(history[0]["otel.status_code"], "OK");

    // A failed audit write is traced as an error, with no value of the write in the span.
    db.execute_unprepared(
        "CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'no'); END",
    )
    .await
    .unwrap();
    let failed = new_account("mallory-secret-owner", 40).insert(db).await;
    assert!(failed.is_err());
    let write = spans.named("audit.write");
    assert_eq!(write.len(), 3);
    assert_eq!(write[2]["otel.status_code"], "ERROR");
    let all = format!("{:?}", spans.0.lock().unwrap());
    assert!(!all.contains("mallory-secret-owner"), "{all}");
    assert!(!all.contains("hash-of-"), "{all}");
    fresh.cleanup().await.unwrap();
}
