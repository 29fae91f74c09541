//! The history API on every backend: queries and pages, versions, past states, diffs and
//! undo, on a plain entity, the `account` entity (redacted and skipped columns) and a
//! composite key.

mod common;

use std::time::Duration;

use audit_core::history::{ColumnDiff, KeyOf};
use audit_core::{AuditContext, AuditError, OnConflict, Operation, with_actor};
use chrono::{DateTime, Utc};
use common::{Backend, account, create_table, new_account, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IdenStatic, ModelTrait};
use serde_json::json;

mod ticket {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "ticket")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub title: String,
        pub status: String,
        pub priority: i32,
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

mod membership {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "membership")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: i64,
        pub role: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A new ticket.
fn new_ticket(title: &str) -> ticket::ActiveModel {
    ticket::ActiveModel {
        title: Set(title.to_owned()),
        status: Set("open".to_owned()),
        priority: Set(1),
        note: Set(None),
        ..Default::default()
    }
}

/// Waits until the clock has moved on, and returns an instant strictly between the
/// writes before and after it.
async fn tick() -> DateTime<Utc> {
    tokio::time::sleep(Duration::from_millis(3)).await;
    let at = Utc::now();
    tokio::time::sleep(Duration::from_millis(3)).await;
    at
}

async fn set_ticket(db: &DatabaseConnection, id: i32, f: impl FnOnce(&mut ticket::ActiveModel)) {
    let current = ticket::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let mut am: ticket::ActiveModel = current.into();
    f(&mut am);
    am.update(db).await.unwrap();
}

async fn fresh(backend: Backend) -> Option<common::FreshDb> {
    let fresh = setup(backend, 1).await?;
    create_table(&fresh.db, ticket::Entity).await;
    create_table(&fresh.db, membership::Entity).await;
    Some(fresh)
}

async fn queries(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    let t0 = tick().await;
    let a = with_actor("alice", new_ticket("a").insert(db))
        .await
        .unwrap();
    let b = with_actor("bob", new_ticket("b").insert(db)).await.unwrap();
    let t1 = tick().await;
    with_actor(
        "bob",
        set_ticket(db, a.id, |t| t.status = Set("closed".into())),
    )
    .await;
    with_actor("alice", set_ticket(db, b.id, |t| t.priority = Set(5))).await;
    with_actor(
        "carol",
        set_ticket(db, b.id, |t| t.status = Set("closed".into())),
    )
    .await;
    let t2 = tick().await;
    with_actor(
        "alice",
        set_ticket(db, a.id, |t| t.status = Set("open".into())),
    )
    .await;
    with_actor("bob", new_account("dave", 7).insert(db))
        .await
        .unwrap();

    // One record, oldest first: its insert (5 columns), then its two updates.
    let rows = audit_core::history::<ticket::Entity>(a.id)
        .fetch(db)
        .await
        .unwrap();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| (r.operation, r.column.as_str(), r.new_value.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (Operation::Insert, "id", Some(json!(a.id))),
            (Operation::Insert, "title", Some(json!("a"))),
            (Operation::Insert, "status", Some(json!("open"))),
            (Operation::Insert, "priority", Some(json!(1))),
            (Operation::Insert, "note", Some(json!(null))),
            (Operation::Update, "status", Some(json!("closed"))),
            (Operation::Update, "status", Some(json!("open"))),
        ],
        "{backend:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.table == "ticket" && r.record_id == a.id.to_string())
    );
    assert_eq!(rows[5].old_value, Some(json!("open")));
    assert_eq!(rows[5].actor.as_deref(), Some("bob"));
    assert!(
        rows.windows(2)
            .all(|w| w[0].id < w[1].id && w[0].changed_at <= w[1].changed_at)
    );
    assert!(rows[0].changed_at >= t0.trunc_micros() && rows[6].changed_at >= t2.trunc_micros());

    // Newest first is the same rows reversed.
    let newest = audit_core::history::<ticket::Entity>(a.id)
        .newest_first()
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(newest, rows.iter().rev().cloned().collect::<Vec<_>>());

    // A whole table, and everything.
    let table = audit_core::table_history::<ticket::Entity>()
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(table.len(), 5 + 5 + 4, "{backend:?}");
    let all = audit_core::all_history().fetch(db).await.unwrap();
    assert_eq!(all.len(), table.len() + 5);
    assert_eq!(all.last().unwrap().table, "account");

    // Filters: by value (every time a ticket's status became "closed"), actor, operation,
    // changeset, time range, column, old value and NULL.
    let closed = audit_core::table_history::<ticket::Entity>()
        .column(ticket::Column::Status)
        .new_value("closed")
        .fetch(db)
        .await
        .unwrap();
    let closers: Vec<_> = closed
        .iter()
        .map(|r| (r.record_id.clone(), r.actor.clone()))
        .collect();
    assert_eq!(
        closers,
        [
            (a.id.to_string(), Some("bob".to_owned())),
            (b.id.to_string(), Some("carol".to_owned()))
        ],
        "{backend:?}"
    );
    let reopened = audit_core::table_history::<ticket::Entity>()
        .column(ticket::Column::Status)
        .old_value("closed")
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].actor.as_deref(), Some("alice"));
    let null_notes = audit_core::table_history::<ticket::Entity>()
        .column(ticket::Column::Note)
        .new_value(Option::<String>::None)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(
        null_notes.len(),
        2,
        "{backend:?}: JSON null matches a NULL filter"
    );
    let numbers = audit_core::all_history()
        .column_named("priority")
        .new_value(5)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(numbers.len(), 1);
    assert_eq!(numbers[0].old_value, Some(json!(1)));

    let by_bob = audit_core::all_history()
        .actor("bob")
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(by_bob.len(), 5 + 1 + 5, "{backend:?}");
    let updates = audit_core::all_history()
        .operation(Operation::Update)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(updates.len(), 4);
    let changeset = audit_core::all_history()
        .changeset(updates[1].changeset_id.clone())
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(changeset, vec![updates[1].clone()]);
    let middle = audit_core::all_history()
        .since(t1)
        .until(t2)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(
        middle.len(),
        3,
        "{backend:?}: the three updates between t1 and t2"
    );
    assert!(middle.iter().all(|r| r.operation == Operation::Update));
    let before = audit_core::all_history().until(t0).fetch(db).await.unwrap();
    assert!(before.is_empty());
    let columns = audit_core::table_history::<ticket::Entity>()
        .column(ticket::Column::Title)
        .column(ticket::Column::Priority)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(columns.len(), 2 + 2 + 1);
    assert!(
        columns
            .iter()
            .all(|r| r.column == "title" || r.column == "priority")
    );

    // Keyset pages, both orders: together exactly the full result, no row twice.
    for newest_first in [false, true] {
        let query = if newest_first {
            audit_core::all_history().newest_first()
        } else {
            audit_core::all_history()
        };
        let mut paged = Vec::new();
        let mut cursor = None;
        loop {
            let q = match cursor {
                Some(c) => query.clone().after(c),
                None => query.clone(),
            };
            let page = q.page(db, 4).await.unwrap();
            assert!(page.entries.len() <= 4);
            paged.extend(page.entries);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut expected = all.clone();
        if newest_first {
            expected.reverse();
        }
        assert_eq!(paged, expected, "{backend:?} newest_first={newest_first}");
    }
    let limited = audit_core::all_history().limit(3).fetch(db).await.unwrap();
    assert_eq!(limited, all[..3].to_vec());
    fresh.cleanup().await.unwrap();
}

trait TruncMicros {
    fn trunc_micros(self) -> Self;
}

impl TruncMicros for DateTime<Utc> {
    fn trunc_micros(self) -> Self {
        chrono::SubsecRound::trunc_subsecs(self, 6)
    }
}

#[tokio::test]
async fn queries_sqlite() {
    queries(Backend::Sqlite).await;
}

#[tokio::test]
async fn queries_postgres() {
    queries(Backend::Postgres).await;
}

#[tokio::test]
async fn queries_mysql() {
    queries(Backend::MySql).await;
}

async fn versions_states_diffs(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    let before_insert = tick().await;
    let v1 = AuditContext::new()
        .actor("alice")
        .reason("new")
        .scope(new_ticket("printer").insert(db))
        .await
        .unwrap();
    let id = v1.id;
    let after_v1 = tick().await;
    with_actor(
        "bob",
        set_ticket(db, id, |t| {
            t.status = Set("closed".into());
            t.note = Set(Some("fixed".into()));
        }),
    )
    .await;
    let v2 = ticket::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let after_v2 = tick().await;
    with_actor("carol", set_ticket(db, id, |t| t.priority = Set(3))).await;
    let v3 = ticket::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let after_v3 = tick().await;
    with_actor("dave", v3.clone().delete(db)).await.unwrap();
    let after_delete = tick().await;

    // Versions: one per write, numbered, with actor, context and the changed columns.
    let versions = audit_core::versions::<ticket::Entity>(db, id)
        .await
        .unwrap();
    let summary: Vec<_> = versions
        .iter()
        .map(|v| {
            (
                v.number,
                v.operation,
                v.actor.clone().unwrap(),
                v.changes.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, Operation::Insert, "alice".to_owned(), 5),
            (2, Operation::Update, "bob".to_owned(), 2),
            (3, Operation::Update, "carol".to_owned(), 1),
            (4, Operation::Delete, "dave".to_owned(), 5),
        ],
        "{backend:?}"
    );
    assert_eq!(versions[0].context, Some(json!({"reason": "new"})));
    assert_eq!(versions[1].changes[1].column, "note");
    assert_eq!(versions[1].changes[1].old_value, Some(json!(null)));
    assert_eq!(versions[1].changes[1].new_value, Some(json!("fixed")));
    assert!(versions[1].changed_at > after_v1.trunc_micros());

    // Past states, by time and by version: exactly the models that were stored.
    let as_of = |at| audit_core::as_of::<ticket::Entity>(db, id, at);
    assert_eq!(as_of(before_insert).await.unwrap(), None);
    assert_eq!(as_of(after_v1).await.unwrap(), Some(v1.clone()));
    assert_eq!(as_of(after_v2).await.unwrap(), Some(v2.clone()));
    assert_eq!(as_of(after_v3).await.unwrap(), Some(v3.clone()));
    assert_eq!(as_of(after_delete).await.unwrap(), None);
    assert_eq!(
        as_of(versions[1].changed_at).await.unwrap(),
        Some(v2.clone()),
        "{backend:?}: a write's own instant includes it"
    );
    for (number, expected) in [(1, Some(&v1)), (2, Some(&v2)), (3, Some(&v3)), (4, None)] {
        let model = audit_core::at_version::<ticket::Entity>(db, id, number)
            .await
            .unwrap();
        assert_eq!(model.as_ref(), expected, "{backend:?} version {number}");
    }
    for missing in [0, 5] {
        let err = audit_core::at_version::<ticket::Entity>(db, id, missing)
            .await
            .unwrap_err();
        assert!(matches!(err, AuditError::NotFound(_)), "{err}");
    }
    let snapshot = audit_core::history::snapshot_at_version::<ticket::Entity>(db, id, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (snapshot.version, snapshot.changeset_id.as_str()),
        (2, versions[1].changeset_id.as_str())
    );
    assert!(snapshot.unrecorded().is_empty());

    // Diffs between versions and between instants.
    let d = |column: &str, from: serde_json::Value, to: serde_json::Value| {
        (column.to_owned(), Some(from), Some(to))
    };
    let tuples = |diffs: Vec<ColumnDiff>| -> Vec<_> {
        diffs
            .into_iter()
            .map(|c| (c.column, c.old_value, c.new_value))
            .collect()
    };
    let diff = audit_core::diff_versions::<ticket::Entity>(db, id, 1, 3)
        .await
        .unwrap();
    assert_eq!(
        tuples(diff),
        [
            d("status", json!("open"), json!("closed")),
            d("priority", json!(1), json!(3)),
            d("note", json!(null), json!("fixed")),
        ],
        "{backend:?}"
    );
    let back = audit_core::diff_versions::<ticket::Entity>(db, id, 3, 2)
        .await
        .unwrap();
    assert_eq!(tuples(back), [d("priority", json!(3), json!(1))]);
    assert!(
        audit_core::diff_versions::<ticket::Entity>(db, id, 2, 2)
            .await
            .unwrap()
            .is_empty()
    );
    let timed = audit_core::diff_times::<ticket::Entity>(db, id, after_v2, after_v3)
        .await
        .unwrap();
    assert_eq!(tuples(timed), [d("priority", json!(1), json!(3))]);
    let created = audit_core::diff_times::<ticket::Entity>(db, id, before_insert, after_v1)
        .await
        .unwrap();
    assert_eq!(created.len(), 5);
    assert!(
        created
            .iter()
            .all(|c| c.old_value.is_none() && c.new_value.is_some())
    );
    let deleted = audit_core::diff_versions::<ticket::Entity>(db, id, 3, 4)
        .await
        .unwrap();
    assert!(
        deleted
            .iter()
            .all(|c| c.old_value.is_some() && c.new_value.is_none())
    );
    assert_eq!(deleted.len(), 5);

    // `account` has a redacted and a skipped column: the strict rebuild says so, the
    // snapshot gives every other column, and diffs show the redacted change as such.
    let acc = new_account("erin", 10).insert(db).await.unwrap();
    let mut am: account::ActiveModel = acc.clone().into();
    am.password_hash = Set("rotated".into());
    am.balance = Set(20);
    am.update(db).await.unwrap();
    let now = tick().await;
    let err = audit_core::as_of::<account::Entity>(db, acc.id, now)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuditError::NotRecorded { column, policy: "redacted", .. } if column == "password_hash"),
        "{err}"
    );
    let snapshot = audit_core::history::snapshot_as_of::<account::Entity>(db, acc.id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        snapshot
            .unrecorded()
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        ["password_hash", "last_seen_at"]
    );
    assert_eq!(
        snapshot.get(account::Column::Balance).unwrap(),
        20i64.into()
    );
    assert_eq!(snapshot.get(account::Column::Owner).unwrap(), "erin".into());
    let skipped = snapshot.get(account::Column::LastSeenAt).unwrap_err();
    assert!(
        matches!(
            skipped,
            AuditError::NotRecorded {
                policy: "skipped",
                ..
            }
        ),
        "{skipped}"
    );
    let partial = snapshot.into_active_model().unwrap();
    assert_eq!(partial.balance, Set(20));
    assert!(partial.password_hash.is_not_set() && partial.last_seen_at.is_not_set());
    let diff = audit_core::diff_versions::<account::Entity>(db, acc.id, 1, 2)
        .await
        .unwrap();
    assert_eq!(
        tuples(diff),
        [
            d("balance", json!(10), json!(20)),
            d(
                "password_hash",
                json!(audit_core::REDACTED),
                json!(audit_core::REDACTED)
            ),
        ],
        "{backend:?}"
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn versions_states_diffs_sqlite() {
    versions_states_diffs(Backend::Sqlite).await;
}

#[tokio::test]
async fn versions_states_diffs_postgres() {
    versions_states_diffs(Backend::Postgres).await;
}

#[tokio::test]
async fn versions_states_diffs_mysql() {
    versions_states_diffs(Backend::MySql).await;
}

async fn last_changeset<E: audit_core::AuditedEntity>(
    db: &DatabaseConnection,
    key: KeyOf<E>,
) -> String {
    audit_core::history::<E>(key)
        .newest_first()
        .limit(1)
        .fetch(db)
        .await
        .unwrap()
        .remove(0)
        .changeset_id
}

async fn undo(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    let t = with_actor("alice", new_ticket("disk").insert(db))
        .await
        .unwrap();
    with_actor(
        "bob",
        set_ticket(db, t.id, |t| {
            t.status = Set("closed".into());
            t.priority = Set(9);
        }),
    )
    .await;
    let bobs = last_changeset::<ticket::Entity>(db, t.id).await;
    with_actor(
        "carol",
        set_ticket(db, t.id, |t| t.title = Set("disk 2".into())),
    )
    .await;

    // Reverting bob's change writes back just his columns, as a new audited write by the
    // actor in force; carol's later title change stays.
    let reverted = with_actor(
        "admin",
        audit_core::revert::<ticket::Entity>(db, t.id, &bobs, OnConflict::Refuse),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (
            reverted.status.as_str(),
            reverted.priority,
            reverted.title.as_str()
        ),
        ("open", 1, "disk 2")
    );
    assert_eq!(
        ticket::Entity::find_by_id(t.id).one(db).await.unwrap(),
        Some(reverted.clone())
    );
    let last = audit_core::versions::<ticket::Entity>(db, t.id)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        (last.number, last.operation, last.actor.as_deref()),
        (4, Operation::Update, Some("admin"))
    );
    let cols: Vec<_> = last
        .changes
        .iter()
        .map(|c| (c.column.as_str(), c.new_value.clone()))
        .collect();
    assert_eq!(
        cols,
        [
            ("status", Some(json!("open"))),
            ("priority", Some(json!(1)))
        ],
        "{backend:?}"
    );

    // Reverting it again would overwrite the revert itself: refused, unless forced.
    let err = audit_core::revert::<ticket::Entity>(db, t.id, &bobs, OnConflict::Refuse)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuditError::Conflict { column, later_changeset, .. }
            if column == "status" && *later_changeset == last.changeset_id),
        "{err}"
    );
    assert_eq!(
        ticket::Entity::find_by_id(t.id).one(db).await.unwrap(),
        Some(reverted.clone())
    );
    let forced = audit_core::revert::<ticket::Entity>(db, t.id, &bobs, OnConflict::Overwrite)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (forced.status.as_str(), forced.priority),
        ("open", 1),
        "old values again"
    );
    let unknown = audit_core::revert::<ticket::Entity>(db, t.id, "no-such", OnConflict::Refuse)
        .await
        .unwrap_err();
    assert!(matches!(unknown, AuditError::NotFound(_)), "{unknown}");

    // Restore after a delete: the exact last state, audited as an insert by the actor.
    let before_delete = ticket::Entity::find_by_id(t.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    with_actor("dave", before_delete.clone().delete(db))
        .await
        .unwrap();
    let not_deleted = audit_core::restore::<ticket::Entity>(db, 999_999)
        .await
        .unwrap_err();
    assert!(
        matches!(not_deleted, AuditError::NotFound(_)),
        "{not_deleted}"
    );
    let restored = with_actor("erin", audit_core::restore::<ticket::Entity>(db, t.id))
        .await
        .unwrap();
    assert_eq!(restored, before_delete, "{backend:?}");
    assert_eq!(
        ticket::Entity::find_by_id(t.id).one(db).await.unwrap(),
        Some(before_delete.clone())
    );
    let last = audit_core::versions::<ticket::Entity>(db, t.id)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        (last.operation, last.actor.as_deref()),
        (Operation::Insert, Some("erin"))
    );
    let again = audit_core::restore::<ticket::Entity>(db, t.id)
        .await
        .unwrap_err();
    assert!(matches!(again, AuditError::NotFound(_)), "{again}");

    // Reverting the original insert deletes the record, refused while later writes exist.
    let versions = audit_core::versions::<ticket::Entity>(db, t.id)
        .await
        .unwrap();
    let insert = versions[0].changeset_id.clone();
    let err = audit_core::revert::<ticket::Entity>(db, t.id, &insert, OnConflict::Refuse)
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::Conflict { .. }), "{err}");
    let fresh_ticket = new_ticket("tmp").insert(db).await.unwrap();
    let only = last_changeset::<ticket::Entity>(db, fresh_ticket.id).await;
    let gone = audit_core::revert::<ticket::Entity>(db, fresh_ticket.id, &only, OnConflict::Refuse)
        .await
        .unwrap();
    assert_eq!(gone, None);
    assert_eq!(
        ticket::Entity::find_by_id(fresh_ticket.id)
            .one(db)
            .await
            .unwrap(),
        None
    );
    // An update of a record deleted since cannot be reverted.
    let versions = audit_core::versions::<ticket::Entity>(db, fresh_ticket.id)
        .await
        .unwrap();
    assert_eq!(versions.last().unwrap().operation, Operation::Delete);

    // `account`: redacted and skipped columns cannot be restored from the trail; the
    // caller supplies them, or the restore is refused. An update touching the redacted
    // column cannot be reverted.
    let acc = new_account("frank", 5).insert(db).await.unwrap();
    let mut am: account::ActiveModel = acc.clone().into();
    am.password_hash = Set("new".into());
    am.update(db).await.unwrap();
    let rotation = last_changeset::<account::Entity>(db, acc.id).await;
    let err = audit_core::revert::<account::Entity>(db, acc.id, &rotation, OnConflict::Overwrite)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::NotRecorded {
                policy: "redacted",
                ..
            }
        ),
        "{err}"
    );
    let current = account::Entity::find_by_id(acc.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    current.clone().delete(db).await.unwrap();
    let err = audit_core::restore::<account::Entity>(db, acc.id)
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::NotRecorded { .. }), "{err}");
    let half = account::ActiveModel {
        password_hash: Set("reset".into()),
        ..Default::default()
    };
    let err = audit_core::restore_with::<account::Entity>(db, acc.id, half.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuditError::NotRecorded { column, policy: "skipped", .. } if column == "last_seen_at"),
        "{err}"
    );
    assert_eq!(
        account::Entity::find_by_id(acc.id).one(db).await.unwrap(),
        None,
        "nothing written"
    );
    let full = account::ActiveModel {
        last_seen_at: Set(None),
        ..half
    };
    let restored = audit_core::restore_with::<account::Entity>(db, acc.id, full)
        .await
        .unwrap();
    assert_eq!(
        restored,
        account::Model {
            password_hash: "reset".into(),
            ..current
        }
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn undo_sqlite() {
    undo(Backend::Sqlite).await;
}

#[tokio::test]
async fn undo_postgres() {
    undo(Backend::Postgres).await;
}

#[tokio::test]
async fn undo_mysql() {
    undo(Backend::MySql).await;
}

async fn composite_keys(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    let key = || ("eu".to_owned(), 7i64);
    let m = membership::ActiveModel {
        org: Set("eu".into()),
        user_id: Set(7),
        role: Set("member".into()),
    };
    let v1 = m.insert(db).await.unwrap();
    // A neighbour with an overlapping key part stays out of the record's history.
    membership::ActiveModel {
        org: Set("eu".into()),
        user_id: Set(8),
        role: Set("owner".into()),
    }
    .insert(db)
    .await
    .unwrap();
    let after_v1 = tick().await;
    let mut am: membership::ActiveModel = v1.clone().into();
    am.role = Set("admin".into());
    let v2 = am.update(db).await.unwrap();

    let rows = audit_core::history::<membership::Entity>(key())
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 4, "{backend:?}");
    assert!(rows.iter().all(|r| r.record_id == r#"["eu",7]"#));
    assert_eq!(
        audit_core::as_of::<membership::Entity>(db, key(), after_v1)
            .await
            .unwrap(),
        Some(v1.clone())
    );
    assert_eq!(
        audit_core::at_version::<membership::Entity>(db, key(), 2)
            .await
            .unwrap(),
        Some(v2.clone())
    );
    let diff = audit_core::diff_versions::<membership::Entity>(db, key(), 1, 2)
        .await
        .unwrap();
    assert_eq!(diff.len(), 1);
    assert_eq!(diff[0].column, "role");
    let change = last_changeset::<membership::Entity>(db, key()).await;
    let back = audit_core::revert::<membership::Entity>(db, key(), &change, OnConflict::Refuse)
        .await
        .unwrap();
    assert_eq!(back, Some(v1.clone()));
    v1.clone().delete(db).await.unwrap();
    let restored = audit_core::restore::<membership::Entity>(db, key())
        .await
        .unwrap();
    assert_eq!(restored, v1);
    assert_eq!(
        audit_core::versions::<membership::Entity>(db, key())
            .await
            .unwrap()
            .len(),
        5
    );
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn composite_keys_sqlite() {
    composite_keys(Backend::Sqlite).await;
}

#[tokio::test]
async fn composite_keys_postgres() {
    composite_keys(Backend::Postgres).await;
}

#[tokio::test]
async fn composite_keys_mysql() {
    composite_keys(Backend::MySql).await;
}

mod labelled {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "labelled")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub meta: Json,
        pub score: Option<f64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

async fn value_filters(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    create_table(db, labelled::Entity).await;
    let write = |meta: serde_json::Value, score: Option<f64>| labelled::ActiveModel {
        meta: Set(meta),
        score: Set(score),
        ..Default::default()
    };
    let a = write(json!({"b": 1, "a": [true, null, "x"]}), Some(0.1))
        .insert(db)
        .await
        .unwrap();
    write(json!({"a": [true, null, "x"]}), Some(0.25))
        .insert(db)
        .await
        .unwrap();
    write(json!([{"a": 1}]), None).insert(db).await.unwrap();

    // JSON values match as JSON, whatever order the keys were written in.
    let by_object = audit_core::table_history::<labelled::Entity>()
        .column(labelled::Column::Meta)
        .new_value(json!({"a": [true, null, "x"], "b": 1}))
        .fetch(db)
        .await
        .unwrap();
    let ids: Vec<_> = by_object.iter().map(|r| r.record_id.clone()).collect();
    assert_eq!(ids, [a.id.to_string()], "{backend:?}");
    let by_array = audit_core::all_history()
        .column_named("meta")
        .new_value(json!([{"a": 1}]))
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(by_array.len(), 1, "{backend:?}");
    // Floats match by value; SQL NULL by `null`.
    let by_float = audit_core::all_history()
        .column_named("score")
        .new_value(0.1f64)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(by_float.len(), 1, "{backend:?}");
    assert_eq!(by_float[0].new_value, Some(json!(0.1)));
    let by_null = audit_core::all_history()
        .column_named("score")
        .new_value(Option::<f64>::None)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(by_null.len(), 1, "{backend:?}");
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn value_filters_sqlite() {
    value_filters(Backend::Sqlite).await;
}

#[tokio::test]
async fn value_filters_postgres() {
    value_filters(Backend::Postgres).await;
}

#[tokio::test]
async fn value_filters_mysql() {
    value_filters(Backend::MySql).await;
}
