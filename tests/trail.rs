//! The untyped reader of the trail (`audit_core::trail`) on every backend: the feed's
//! filters and keyset pages, a changeset, a record rebuilt at a version or an instant,
//! the diff of two versions, and the export formats.

mod common;

use audit_core::trail::{self, Filter, Format, RecordTrail};
use audit_core::{Operation, REDACTED};
use common::{Backend, account, new_account, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, DatabaseConnection, ModelTrait};
use serde_json::json;

/// Account 1: insert (alice), two updates (bob, carol); account 2: insert and delete.
async fn seed(db: &DatabaseConnection) -> Vec<chrono::DateTime<chrono::Utc>> {
    let mut marks = Vec::new();
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(3));
    let a = audit_core::with_actor("alice", new_account("ann", 10).insert(db))
        .await
        .unwrap();
    tick().await;
    marks.push(chrono::Utc::now());
    tick().await;
    let mut am: account::ActiveModel = a.into();
    am.balance = Set(20);
    am.password_hash = Set("new-hash".into());
    let a = audit_core::with_actor("bob", am.update(db)).await.unwrap();
    tick().await;
    marks.push(chrono::Utc::now());
    tick().await;
    let mut am: account::ActiveModel = a.into();
    am.note = Set(Some("vip".into()));
    audit_core::with_actor("carol", am.update(db))
        .await
        .unwrap();
    let b = audit_core::with_actor("alice", new_account("ben", 5).insert(db))
        .await
        .unwrap();
    audit_core::with_actor("alice", b.delete(db)).await.unwrap();
    marks
}

#[tokio::test]
async fn feed_filters_and_pages() {
    for backend in Backend::ALL {
        let Some(fresh) = setup(backend, 2).await else {
            continue;
        };
        let db = &fresh.db;
        let marks = seed(db).await;

        let all = trail::feed(db, &Filter::default(), None, 1000)
            .await
            .unwrap();
        assert!(all.next.is_none());
        assert!(
            all.entries.windows(2).all(|w| w[0].id > w[1].id),
            "newest first"
        );

        // Keyset pages of 3 cover the feed exactly once, in order.
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let page = trail::feed(db, &Filter::default(), cursor, 3)
                .await
                .unwrap();
            assert!(page.entries.len() <= 3);
            seen.extend(page.entries.iter().map(|e| e.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, all.entries.iter().map(|e| e.id).collect::<Vec<_>>());

        let by = |filter: Filter| async move {
            trail::feed(db, &filter, None, 1000).await.unwrap().entries
        };
        let bob = by(Filter {
            actor: Some("bob".into()),
            ..Filter::default()
        })
        .await;
        assert_eq!(bob.len(), 2, "{backend:?}: balance and password_hash");
        assert!(bob.iter().all(|e| e.actor.as_deref() == Some("bob")));

        let deletes = by(Filter {
            operation: Some(Operation::Delete),
            ..Filter::default()
        })
        .await;
        assert!(
            deletes
                .iter()
                .all(|e| e.record_id == "2" && e.operation == Operation::Delete)
        );
        assert!(!deletes.is_empty());

        let notes = by(Filter {
            column: Some("note".into()),
            ..Filter::default()
        })
        .await;
        assert!(notes.iter().all(|e| e.column == "note"));
        assert_eq!(
            notes.len(),
            4,
            "{backend:?}: two inserts, one update, one delete"
        );

        let vip = by(Filter {
            value: Some(Filter::parse_where("note=vip").unwrap()),
            ..Filter::default()
        })
        .await;
        assert_eq!(vip.len(), 1);
        assert_eq!(vip[0].actor.as_deref(), Some("carol"));
        let twenty = by(Filter {
            value: Some(Filter::parse_where("balance=20").unwrap()),
            ..Filter::default()
        })
        .await;
        assert_eq!(
            twenty.len(),
            1,
            "{backend:?}: numbers match as JSON numbers"
        );

        let window = by(Filter {
            since: Some(marks[0]),
            until: Some(marks[1]),
            ..Filter::default()
        })
        .await;
        assert_eq!(
            window.len(),
            2,
            "{backend:?}: only bob's write is between the marks"
        );
        assert!(window.iter().all(|e| e.actor.as_deref() == Some("bob")));

        // A time filter pages by (time, id) from the time index: pages of 1 (every tie
        // of a changeset's rows crossing a page edge) cover it once, newest first.
        let since = Filter {
            since: Some(marks[0]),
            ..Filter::default()
        };
        let (mut paged, mut cursor) = (Vec::new(), None);
        loop {
            let page = trail::feed(db, &since, cursor, 1).await.unwrap();
            paged.extend(page.entries.iter().map(|e| (e.changed_at, e.id)));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut expected: Vec<_> = all
            .entries
            .iter()
            .filter(|e| e.changed_at >= marks[0])
            .map(|e| (e.changed_at, e.id))
            .collect();
        expected.sort_by(|a, b| b.cmp(a));
        assert_eq!(paged, expected, "{backend:?}");
        assert!(expected.len() > 4);

        let record = by(Filter {
            table: Some("account".into()),
            record_id: Some("2".into()),
            ..Filter::default()
        })
        .await;
        assert!(record.iter().all(|e| e.record_id == "2"));

        let changeset = trail::changeset(db, &bob[0].changeset_id).await.unwrap();
        assert_eq!(changeset.iter().map(|e| e.id).collect::<Vec<_>>(), {
            let mut ids: Vec<_> = bob.iter().map(|e| e.id).collect();
            ids.sort();
            ids
        });
        assert!(
            trail::changeset(db, "not-a-changeset")
                .await
                .unwrap()
                .is_empty()
        );
        fresh.cleanup().await.unwrap();
    }
}

#[tokio::test]
async fn records_rebuilt_and_diffed() {
    for backend in Backend::ALL {
        let Some(fresh) = setup(backend, 2).await else {
            continue;
        };
        let db = &fresh.db;
        let marks = seed(db).await;
        let one = RecordTrail::load(db, "account", "1").await.unwrap();
        assert_eq!(one.versions.len(), 3);

        let v1 = one.at_version(1).unwrap();
        assert!(v1.exists);
        assert_eq!(v1.version, Some(1));
        let names: Vec<&str> = v1.columns.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            names,
            ["id", "owner", "balance", "note", "password_hash"],
            "skip is absent"
        );
        assert_eq!(v1.columns[2].1, json!(10));
        assert_eq!(v1.columns[4].1, json!(REDACTED));

        // As of a time between the writes: the state after bob's update.
        let then = one.as_of(marks[1]);
        assert_eq!(then.version, Some(2));
        assert_eq!(then.to_json()["columns"]["balance"], json!(20));
        assert_eq!(then.to_json()["columns"]["note"], json!(null));
        let before = one.as_of(marks[0] - chrono::Duration::hours(1));
        assert!(!before.exists && before.version.is_none() && before.columns.is_empty());

        let diff = one.diff(1, 3).unwrap();
        let cols: Vec<&str> = diff.iter().map(|d| d.column.as_str()).collect();
        assert_eq!(cols, ["balance", "note", "password_hash"], "{backend:?}");
        assert_eq!(
            (diff[0].old_value.clone(), diff[0].new_value.clone()),
            (Some(json!(10)), Some(json!(20)))
        );
        assert_eq!(
            diff[2].old_value,
            Some(json!(REDACTED)),
            "a rewritten redacted column is listed"
        );
        assert!(one.diff(2, 2).unwrap().is_empty());
        assert!(matches!(
            one.at_version(4),
            Err(audit_core::AuditError::NotFound(_))
        ));
        assert!(matches!(
            one.diff(0, 1),
            Err(audit_core::AuditError::NotFound(_))
        ));

        let two = RecordTrail::load(db, "account", "2").await.unwrap();
        let gone = two.at_version(2).unwrap();
        assert!(!gone.exists && gone.columns.is_empty());
        let diff = two.diff(1, 2).unwrap();
        assert!(
            diff.iter()
                .all(|d| d.old_value.is_some() && d.new_value.is_none())
        );
        fresh.cleanup().await.unwrap();
    }
}

#[tokio::test]
async fn exports_stream_every_row() {
    for backend in Backend::ALL {
        let Some(fresh) = setup(backend, 2).await else {
            continue;
        };
        let db = &fresh.db;
        // More rows than one export page, so the export crosses page boundaries.
        let mut am = new_account("many", 0).insert(db).await.unwrap();
        for n in 1..=(trail::EXPORT_PAGE / 2 + 10) as i64 {
            let mut edit: account::ActiveModel = am.into();
            edit.balance = Set(n);
            edit.note = Set(Some(format!("n{n}")));
            am = edit.update(db).await.unwrap();
        }
        let all = trail::feed(db, &Filter::default(), None, 10_000)
            .await
            .unwrap()
            .entries;
        assert!(all.len() as u64 > trail::EXPORT_PAGE);

        let mut ndjson = Vec::new();
        let mut calls = Vec::new();
        let rows = trail::export(db, &Filter::default(), Format::Ndjson, &mut ndjson, |n| {
            calls.push(n)
        })
        .await
        .unwrap();
        assert_eq!(rows, all.len() as u64);
        assert_eq!(calls.len(), 2, "{backend:?}: one progress call per page");
        let lines: Vec<serde_json::Value> = String::from_utf8(ndjson)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), all.len());
        assert_eq!(lines[0], trail::entry_json(&all[0]));
        assert_eq!(lines[all.len() - 1]["id"], json!(all[all.len() - 1].id));

        let mut csv = Vec::new();
        let filter = Filter {
            column: Some("note".into()),
            ..Filter::default()
        };
        trail::export(db, &filter, Format::Csv, &mut csv, |_| {})
            .await
            .unwrap();
        let text = String::from_utf8(csv).unwrap();
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("id,changeset_id,table_name")
        );
        let first: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(first[5], "note");
        assert_eq!(
            first[7],
            format!("\"\"\"n{}\"\"\"", trail::EXPORT_PAGE / 2 + 10),
            "JSON text, CSV-quoted"
        );
        assert_eq!(
            text.lines().count(),
            1 + trail::EXPORT_PAGE as usize / 2 + 10 + 1
        );
        fresh.cleanup().await.unwrap();
    }
}
