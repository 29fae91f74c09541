//! Crypto-shredding on every backend: personal columns stored sealed and read back in
//! clear, sealed values bound to their row, erasure of one subject (others untouched,
//! recorded, still verifying), wrong or missing key-encryption keys refused, value filters
//! on personal columns refused, and no plaintext in SQLite's files outside the live table.

mod common;

use std::sync::Arc;

use audit_core::erasure::{self, ERASED, LocalKek, Personal, UNREADABLE};
use audit_core::integrity::{self, Sealer, SigningKey};
use audit_core::{AuditError, Operation, audit_error};
use common::{Backend, FreshDb, create_table};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Statement, TransactionTrait,
};
use serde_json::json;

/// A person: the data subject of its own personal columns, of kind `user`.
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
        #[audit(personal)]
        pub name: Option<String>,
        pub plan: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Data about a person stored in another table: its subject is `user_id`.
mod shipment {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "shipment")]
    #[audit(subject = "user_id", subject_kind = "user")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub user_id: i32,
        #[audit(personal)]
        pub address: String,
        pub status: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

fn kek(byte: u8) -> Arc<LocalKek> {
    Arc::new(LocalKek::new([byte; 32]))
}

async fn fresh(backend: Backend, pool: u32) -> Option<FreshDb> {
    let fresh = FreshDb::connect(backend, pool).await.expect("connect")?;
    audit_core::create_audit_table(&fresh.db)
        .await
        .expect("audit table");
    create_table(&fresh.db, person::Entity).await;
    create_table(&fresh.db, shipment::Entity).await;
    Some(fresh)
}

async fn add_person(db: &impl ConnectionTrait, id: i32, email: &str) -> person::Model {
    person::ActiveModel {
        id: Set(id),
        email: Set(email.into()),
        name: Set(Some(format!("person {id}"))),
        plan: Set("free".into()),
    }
    .insert(db)
    .await
    .expect("insert person")
}

async fn set_email(
    db: &impl ConnectionTrait,
    model: person::Model,
    email: &str,
) -> Result<person::Model, sea_orm::DbErr> {
    let mut am: person::ActiveModel = model.into();
    am.email = Set(email.into());
    am.plan = Set("paid".into());
    am.update(db).await
}

async fn add_shipment(db: &impl ConnectionTrait, id: i32, user_id: i32, address: &str) {
    shipment::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        address: Set(address.into()),
        status: Set("sent".into()),
    }
    .insert(db)
    .await
    .expect("insert shipment");
}

/// Every stored old and new value of the trail, as text.
async fn stored_text(db: &DatabaseConnection) -> String {
    let rows = common::audit_rows(db).await.expect("rows");
    rows.iter()
        .flat_map(|r| [&r.old_value, &r.new_value])
        .map(|v| format!("{v:?}"))
        .collect()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

macro_rules! on_every_backend {
    ($scenario:ident: $($test:ident => $backend:ident),+) => {
        $(
            #[tokio::test]
            async fn $test() {
                $scenario(Backend::$backend).await;
            }
        )+
    };
}

async fn sealed_and_read_in_clear(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    erasure::with_key_encryption_key(kek(1), async {
        let ann = add_person(db, 1, "ann@example.org").await;
        let before_update = chrono::Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        set_email(db, ann, "ann@new.example.org")
            .await
            .expect("update");

        // Stored: sealed objects, no plaintext; the other column in clear.
        let text = stored_text(db).await;
        assert!(
            !text.contains("ann@"),
            "{backend:?}: plaintext stored: {text}"
        );
        assert!(
            text.contains("aes256gcm") && text.contains("paid"),
            "{text}"
        );

        // Read: the history in clear, marked readable.
        let entries = audit_core::history::<person::Entity>(1)
            .fetch(db)
            .await
            .expect("history");
        let email: Vec<_> = entries.iter().filter(|e| e.column == "email").collect();
        assert_eq!(email[0].new_value, Some(json!("ann@example.org")));
        assert_eq!(email[1].old_value, Some(json!("ann@example.org")));
        assert_eq!(email[1].new_value, Some(json!("ann@new.example.org")));
        assert!(email.iter().all(|e| e.personal == Some(Personal::Readable)));
        let plan = entries.iter().find(|e| e.column == "plan").expect("plan");
        assert_eq!(plan.personal, None);

        // Point in time, diff and undo through the same reads.
        let then = audit_core::as_of::<person::Entity>(db, 1, before_update)
            .await
            .expect("as_of")
            .expect("existed");
        assert_eq!(then.email, "ann@example.org");
        assert_eq!(then.name.as_deref(), Some("person 1"));
        let diff = audit_core::diff_versions::<person::Entity>(db, 1, 1, 2)
            .await
            .expect("diff");
        let changed = diff
            .iter()
            .find(|d| d.column == "email")
            .expect("email changed");
        assert_eq!(changed.new_value, Some(json!("ann@new.example.org")));
        let versions = audit_core::versions::<person::Entity>(db, 1)
            .await
            .expect("versions");
        let undo = audit_core::revert::<person::Entity>(
            db,
            1,
            &versions[1].changeset_id,
            audit_core::OnConflict::Refuse,
        );
        let reverted = undo.await.expect("revert").expect("exists");
        assert_eq!(reverted.email, "ann@example.org");
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(sealed_and_read_in_clear:
    sealed_and_read_in_clear_sqlite => Sqlite,
    sealed_and_read_in_clear_postgres => Postgres,
    sealed_and_read_in_clear_mysql => MySql);

async fn moved_ciphertext_does_not_open(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    erasure::with_key_encryption_key(kek(1), async {
        // One subject, two rows: the same data key, so only the binding can refuse the move.
        add_shipment(db, 1, 7, "1 First Street").await;
        add_shipment(db, 2, 7, "2 Second Street").await;
        let rows = common::audit_rows(db).await.expect("rows");
        let sealed_of = |record: &str| {
            rows.iter()
                .find(|r| r.record_id == record && r.column_name == "address")
                .and_then(|r| r.new_value.clone())
                .expect("sealed address")
        };
        let moved = sealed_of("1").to_string();
        let cast = if backend == Backend::Postgres { "::jsonb" } else { "" };
        let sql = format!(
            "UPDATE audit_log SET new_value = '{moved}'{cast} WHERE record_id = '2' AND column_name = 'address'"
        );
        db.execute_unprepared(&sql).await.expect("move the ciphertext");

        let entries = audit_core::history::<shipment::Entity>(2).fetch(db).await.expect("a whole read");
        let address = entries.iter().find(|e| e.column == "address").expect("address");
        assert_eq!(address.personal, Some(Personal::Unreadable), "{backend:?}");
        assert_eq!(address.new_value, Some(json!(UNREADABLE)));
        let status = entries.iter().find(|e| e.column == "status").expect("status");
        assert_eq!(status.new_value, Some(json!("sent")));
        let first = audit_core::history::<shipment::Entity>(1).fetch(db).await.expect("read");
        assert!(first.iter().any(|e| e.new_value == Some(json!("1 First Street"))));
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(moved_ciphertext_does_not_open:
    moved_ciphertext_does_not_open_sqlite => Sqlite,
    moved_ciphertext_does_not_open_postgres => Postgres,
    moved_ciphertext_does_not_open_mysql => MySql);

async fn erasing_one_subject(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    erasure::with_key_encryption_key(kek(1), async {
        let ann = add_person(db, 1, "ann@example.org").await;
        set_email(db, ann, "ann@new.example.org")
            .await
            .expect("update");
        add_person(db, 2, "bob@example.org").await;
        add_shipment(db, 10, 1, "Ann's Street").await;
        add_shipment(db, 20, 2, "Bob's Street").await;
        let keys_before = count(db, "SELECT COUNT(*) FROM audit_subject_key").await;

        let erased = audit_core::with_actor("dpo", audit_core::erase_subject(db, "user", 1));
        assert!(erased.await.expect("erase"), "{backend:?}: a key existed");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM audit_subject_key").await,
            keys_before - 1
        );

        // Ann's personal values, in both tables, read as erased; her plan in clear.
        let ann = audit_core::history::<person::Entity>(1)
            .fetch(db)
            .await
            .expect("a whole read");
        for entry in ann
            .iter()
            .filter(|e| e.column == "email" || e.column == "name")
        {
            assert_eq!(
                entry.personal,
                Some(Personal::Erased),
                "{backend:?}: {entry:?}"
            );
            assert!(entry.new_value == Some(json!(ERASED)));
        }
        assert!(
            ann.iter()
                .any(|e| e.column == "plan" && e.new_value == Some(json!("paid")))
        );
        let snapshot =
            audit_core::history::snapshot_as_of::<person::Entity>(db, 1, chrono::Utc::now())
                .await
                .expect("snapshot")
                .expect("exists");
        assert!(matches!(
            snapshot.get(person::Column::Email),
            Err(AuditError::NotRecorded {
                policy: "erased",
                ..
            })
        ));
        assert_eq!(
            snapshot.get(person::Column::Plan).expect("plan"),
            "paid".into()
        );
        let shipped = audit_core::history::<shipment::Entity>(10)
            .fetch(db)
            .await
            .expect("read");
        let address = shipped
            .iter()
            .find(|e| e.column == "address")
            .expect("address");
        assert_eq!(address.personal, Some(Personal::Erased));

        // Bob is untouched.
        let bob = audit_core::as_of::<person::Entity>(db, 2, chrono::Utc::now())
            .await
            .expect("as_of")
            .expect("exists");
        assert_eq!(bob.email, "bob@example.org");
        let shipped = audit_core::history::<shipment::Entity>(20)
            .fetch(db)
            .await
            .expect("read");
        assert!(
            shipped
                .iter()
                .any(|e| e.new_value == Some(json!("Bob's Street")))
        );

        // The erasure is in the trail: who, which key, no personal data.
        let rows = common::audit_rows(db).await.expect("rows");
        let row = rows.last().expect("the erasure row");
        assert_eq!(row.table_name, erasure::ERASURE_LABEL);
        assert_eq!(
            (row.operation.as_str(), row.actor.as_deref()),
            ("delete", Some("dpo"))
        );
        assert_eq!(row.record_id.len(), 64, "a keyed hash, not the subject id");
        assert_eq!(
            row.old_value,
            Some(json!({"destroyed": true, "kind": "user"}))
        );

        // Again: nothing left to destroy, still recorded.
        assert!(
            !audit_core::erase_subject(db, "user", 1)
                .await
                .expect("erase again")
        );
        let after = common::audit_rows(db).await.expect("rows");
        assert_eq!(after.len(), rows.len() + 1);
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(erasing_one_subject:
    erasing_one_subject_sqlite => Sqlite,
    erasing_one_subject_postgres => Postgres,
    erasing_one_subject_mysql => MySql);

async fn verifies_after_erasure(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    integrity::install(db).await.expect("install integrity");
    let sealer = Sealer::new(SigningKey::from_bytes(&[42; 32])).with_max_block_rows(8);
    erasure::with_key_encryption_key(kek(1), async {
        for id in 1..=6 {
            let model = add_person(db, id, &format!("p{id}@example.org")).await;
            set_email(db, model, &format!("q{id}@example.org"))
                .await
                .expect("update");
        }
        let before = sealer.seal(db).await.expect("seal");
        audit_core::erase_subject(db, "user", 3)
            .await
            .expect("erase");
        add_person(db, 7, "late@example.org").await;
        let mut digests = before;
        digests.extend(sealer.seal(db).await.expect("seal"));
        let verified = integrity::verify(db, &sealer.verifying_key(), &digests)
            .await
            .expect("verifies after the erasure");
        assert_eq!(verified.unsealed, 0, "{backend:?}");
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(verifies_after_erasure:
    verifies_after_erasure_sqlite => Sqlite,
    verifies_after_erasure_postgres => Postgres,
    verifies_after_erasure_mysql => MySql);

fn personal_error(err: &sea_orm::DbErr) -> bool {
    matches!(audit_error(err), Some(AuditError::Personal(_)))
}

async fn wrong_or_missing_kek_refused(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    let ann = erasure::with_key_encryption_key(kek(1), add_person(db, 1, "ann@example.org")).await;
    let rows = common::audit_rows(db).await.expect("rows").len();

    // No key-encryption key: refused before the change.
    let err = set_email(db, ann.clone(), "x@example.org")
        .await
        .expect_err("no KEK");
    assert!(personal_error(&err), "{backend:?}: {err}");

    // The wrong one, on a known subject and on a new one: refused, nothing written.
    for write in 0..2 {
        let result = erasure::with_key_encryption_key(kek(2), async {
            let txn = db.begin().await.expect("begin");
            let written = match write {
                0 => set_email(&txn, ann.clone(), "x@example.org")
                    .await
                    .map(|_| ()),
                _ => person::ActiveModel {
                    id: Set(2),
                    email: Set("new@example.org".into()),
                    name: Set(None),
                    plan: Set("free".into()),
                }
                .insert(&txn)
                .await
                .map(|_| ()),
            };
            match written {
                Ok(()) => txn.commit().await,
                Err(e) => Err(e),
            }
        })
        .await;
        let err = result.expect_err("wrong KEK");
        assert!(personal_error(&err), "{backend:?}: {err}");
    }
    // And outside any transaction, where the database commits each statement at once: the
    // wrong key is refused before the change (it once was found only after it).
    let known =
        erasure::with_key_encryption_key(kek(2), set_email(db, ann.clone(), "x@example.org"));
    let err = known.await.expect_err("wrong KEK, known subject");
    assert!(personal_error(&err), "{backend:?}: {err}");
    let new = person::ActiveModel {
        id: Set(3),
        email: Set("new@example.org".into()),
        name: Set(None),
        plan: Set("free".into()),
    };
    let err = erasure::with_key_encryption_key(kek(2), new.insert(db))
        .await
        .expect_err("wrong KEK, new subject");
    assert!(personal_error(&err), "{backend:?}: {err}");
    assert_eq!(common::audit_rows(db).await.expect("rows").len(), rows);
    let live = person::Entity::find().all(db).await.expect("live rows");
    assert_eq!(live, vec![ann], "{backend:?}: the live table is unchanged");
    // Reading with the wrong key is a clear error too.
    let read = erasure::with_key_encryption_key(
        kek(2),
        audit_core::history::<person::Entity>(1).fetch(db),
    )
    .await;
    assert!(matches!(read, Err(AuditError::Personal(_))), "{read:?}");
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(wrong_or_missing_kek_refused:
    wrong_or_missing_kek_refused_sqlite => Sqlite,
    wrong_or_missing_kek_refused_postgres => Postgres,
    wrong_or_missing_kek_refused_mysql => MySql);

async fn value_filters_on_personal_columns_refused(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    erasure::with_key_encryption_key(kek(1), async {
        add_person(db, 1, "ann@example.org").await;
        let by_email = audit_core::table_history::<person::Entity>()
            .column(person::Column::Email)
            .new_value("ann@example.org")
            .fetch(db)
            .await;
        assert!(
            matches!(&by_email, Err(AuditError::PersonalFilter { column, .. }) if column == "email"),
            "{backend:?}: {by_email:?}"
        );
        // Without a column the filter could match a personal one: refused as well.
        let any = audit_core::table_history::<person::Entity>().old_value("x").fetch(db).await;
        assert!(matches!(any, Err(AuditError::PersonalFilter { .. })), "{any:?}");
        // On a column in clear: answered.
        let free = audit_core::table_history::<person::Entity>()
            .column(person::Column::Plan)
            .new_value("free")
            .operation(Operation::Insert)
            .fetch(db)
            .await
            .expect("filter on a clear column");
        assert_eq!(free.len(), 1);
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(value_filters_on_personal_columns_refused:
    value_filters_on_personal_columns_refused_sqlite => Sqlite,
    value_filters_on_personal_columns_refused_postgres => Postgres,
    value_filters_on_personal_columns_refused_mysql => MySql);

/// SQLite's database file and WAL, byte for byte: the old personal values, which only the
/// trail still holds, are not in them; an old value of a column in clear is (the search
/// works). `secure_delete` and checkpoints keep the live table's own old bytes out.
#[tokio::test]
async fn canary_sqlite_files_hold_no_plaintext_outside_the_live_table() {
    let fresh = fresh(Backend::Sqlite, 1).await.expect("SQLite");
    let db = &fresh.db;
    db.execute_unprepared("PRAGMA secure_delete = ON")
        .await
        .expect("pragma");
    let canaries: Vec<String> = (0..20)
        .map(|i| format!("canary-{i}-{}@example.org", std::process::id()))
        .collect();
    erasure::with_key_encryption_key(kek(1), async {
        let mut models = Vec::new();
        for (i, email) in canaries.iter().enumerate() {
            models.push(add_person(db, i as i32, email).await);
        }
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .expect("checkpoint");
        for (i, model) in models.into_iter().enumerate() {
            set_email(db, model, &format!("now-{i}@example.org"))
                .await
                .expect("update");
        }
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .expect("checkpoint");
        // Written since the checkpoint: sealed rows in the WAL too.
        audit_core::erase_subject(db, "user", 0)
            .await
            .expect("erase");
        add_person(db, 100, "wal@new.example.org").await;
    })
    .await;
    let file = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA database_list",
        ))
        .await
        .expect("database_list")
        .expect("main")
        .try_get::<String>("", "file")
        .expect("file name");
    let mut bytes = std::fs::read(&file).expect("database file");
    bytes.extend(std::fs::read(format!("{file}-wal")).unwrap_or_default());
    let holds = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    for canary in &canaries {
        assert!(!holds(canary), "{canary} found in the SQLite files");
    }
    assert!(
        holds("now-3@example.org"),
        "the live table's value is there (the search works)"
    );
    assert!(holds("wal@new.example.org"), "the WAL was searched");
    fresh.cleanup().await.expect("cleanup");
}

/// An update or delete of personal columns outside a transaction reads the subject's key
/// and the key table's check row with its old row: no statement of its own for the keys on
/// SQLite and PostgreSQL (MySQL reads them apart, see `erasure::prefetch`), the wrong
/// key-encryption key still refused before the change, and the values still read in clear.
async fn keys_read_with_the_old_row(backend: Backend) {
    let Some(mut fresh) = fresh(backend, 2).await else {
        return;
    };
    let logger = audit_core::query_log::QueryLogger::attach(&mut fresh.db);
    let db = &fresh.db;
    erasure::with_key_encryption_key(kek(1), async {
        let ann = add_person(db, 1, "ann@example.org").await;
        let before = logger.counters().total().statements;
        let ann = set_email(db, ann, "ann@example.net").await.expect("update");
        let statements = logger.counters().total().statements - before;
        // The old row (with the keys), the update, the audit rows; MySQL adds two reads of
        // the key table and one of the updated row (it has no `RETURNING`).
        let expected = if backend == Backend::MySql { 6 } else { 3 };
        assert_eq!(
            statements, expected,
            "{backend:?}: statements of one update"
        );
        let entries = audit_core::history::<person::Entity>(1)
            .column(person::Column::Email)
            .fetch(db)
            .await
            .expect("history");
        let emails: Vec<_> = entries.iter().map(|e| e.new_value.clone()).collect();
        assert_eq!(
            emails,
            [
                Some(json!("ann@example.org")),
                Some(json!("ann@example.net"))
            ]
        );

        // The wrong key-encryption key: the delete is refused before it is made.
        let am: person::ActiveModel = ann.clone().into();
        let err = erasure::with_key_encryption_key(kek(2), am.delete(db))
            .await
            .expect_err("wrong KEK");
        assert!(personal_error(&err), "{backend:?}: {err}");
        assert!(
            person::Entity::find_by_id(1)
                .one(db)
                .await
                .expect("read")
                .is_some(),
            "{backend:?}: the row is still there"
        );

        let am: person::ActiveModel = ann.into();
        am.delete(db).await.expect("delete");
        let deleted = audit_core::history::<person::Entity>(1)
            .fetch(db)
            .await
            .expect("history");
        let last = deleted.last().expect("the delete's rows");
        assert_eq!(last.operation, Operation::Delete);
        assert!(deleted.iter().any(|e| e.operation == Operation::Delete
            && e.column == "email"
            && e.old_value == Some(json!("ann@example.net"))));
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(keys_read_with_the_old_row:
    keys_read_with_the_old_row_sqlite => Sqlite,
    keys_read_with_the_old_row_postgres => Postgres,
    keys_read_with_the_old_row_mysql => MySql);

/// A history read opens its values with the keys read in its own statement: a record that
/// is its own subject reads its subject's one key once (not per row), a record whose
/// subject is a column reads each row's; either way one statement, in clear, and erased
/// values as erased.
async fn history_reads_keys_in_its_own_statement(backend: Backend) {
    let Some(mut fresh) = fresh(backend, 2).await else {
        return;
    };
    let logger = audit_core::query_log::QueryLogger::attach(&mut fresh.db);
    let db = &fresh.db;
    erasure::with_key_encryption_key(kek(1), async {
        let ann = add_person(db, 1, "ann@example.org").await;
        set_email(db, ann, "ann@example.net").await.expect("update");
        add_shipment(db, 10, 1, "Ann's Street").await;
        add_person(db, 2, "bob@example.org").await;

        let own = audit_core::history::<person::Entity>(1).statement(db.get_database_backend());
        // One subquery: the subject's key.
        assert_eq!(own.sql.matches("SELECT").count(), 2, "{}", own.sql);
        assert!(!own.sql.contains("audit_old_key"), "{}", own.sql);
        let by_column =
            audit_core::history::<shipment::Entity>(10).statement(db.get_database_backend());
        assert!(by_column.sql.contains("audit_old_key"), "{}", by_column.sql);

        let emails = |entries: &[audit_core::AuditEntry]| -> Vec<_> {
            entries
                .iter()
                .filter(|e| e.column == "email")
                .map(|e| (e.old_value.clone(), e.new_value.clone(), e.personal))
                .collect()
        };
        let before = logger.counters().total().statements;
        let ann = audit_core::history::<person::Entity>(1)
            .fetch(db)
            .await
            .expect("history");
        let shipment = audit_core::history::<shipment::Entity>(10)
            .fetch(db)
            .await
            .expect("history");
        assert_eq!(logger.counters().total().statements - before, 2);
        let readable = Some(Personal::Readable);
        assert_eq!(
            emails(&ann),
            [
                (None, Some(json!("ann@example.org")), readable),
                (
                    Some(json!("ann@example.org")),
                    Some(json!("ann@example.net")),
                    readable
                ),
            ]
        );
        assert!(shipment.iter().any(|e| e.column == "address"
            && e.new_value == Some(json!("Ann's Street"))
            && e.personal == readable));
        // Pages (a `LIMIT`, whichever row carried the key) read in clear too.
        let mut seen = Vec::new();
        let mut query = audit_core::history::<person::Entity>(1)
            .column(person::Column::Email)
            .newest_first();
        loop {
            let page = query.clone().page(db, 1).await.expect("page");
            seen.extend(emails(&page.entries));
            match page.next {
                Some(next) => query = query.after(next),
                None => break,
            }
        }
        seen.reverse();
        assert_eq!(seen, emails(&ann), "{backend:?}");

        audit_core::erase_subject(db, "user", 1)
            .await
            .expect("erase");
        let ann = audit_core::history::<person::Entity>(1)
            .fetch(db)
            .await
            .expect("history");
        let erased = Some(Personal::Erased);
        assert_eq!(
            emails(&ann),
            [
                (None, Some(json!(ERASED)), erased),
                (Some(json!(ERASED)), Some(json!(ERASED)), erased),
            ]
        );
        let bob = audit_core::history::<person::Entity>(2)
            .fetch(db)
            .await
            .expect("history");
        assert_eq!(
            emails(&bob),
            [(None, Some(json!("bob@example.org")), readable)]
        );
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(history_reads_keys_in_its_own_statement:
    history_reads_keys_in_its_own_statement_sqlite => Sqlite,
    history_reads_keys_in_its_own_statement_postgres => Postgres,
    history_reads_keys_in_its_own_statement_mysql => MySql);

/// A personal column's values that are not in the plain stored form still read: one recorded
/// before the column was personal reads as it is; a sealed value spelled with escapes
/// (SQLite keeps text as written) opens like the value it spells.
async fn values_not_in_the_plain_stored_form_still_read(backend: Backend) {
    let Some(fresh) = fresh(backend, 2).await else {
        return;
    };
    let db = &fresh.db;
    erasure::with_key_encryption_key(kek(1), async {
        add_person(db, 1, "ann@example.org").await;
        let json = |text: &str| match backend {
            Backend::Postgres => format!("CAST('{text}' AS jsonb)"),
            _ => format!("'{text}'"),
        };
        let legacy = format!(
            "INSERT INTO audit_log (changeset_id, table_name, record_id, operation, column_name, \
             old_value, new_value, actor, changed_at, context) \
             SELECT 'legacy', table_name, record_id, 'update', column_name, {}, {}, actor, \
             changed_at, context FROM audit_log WHERE column_name = 'email'",
            json(r#""was@example.org""#),
            json(r#""plain@example.org""#),
        );
        db.execute_unprepared(&legacy).await.expect("legacy row");
        if backend == Backend::Sqlite {
            let escaped = "INSERT INTO audit_log (changeset_id, table_name, record_id, \
                 operation, column_name, old_value, new_value, actor, changed_at, context) \
                 SELECT changeset_id, table_name, record_id, operation, column_name, old_value, \
                 replace(new_value, '\"aes256gcm:', '\"aes256\\u0067cm:'), \
                 actor, changed_at, context FROM audit_log \
                 WHERE column_name = 'email' AND operation = 'insert'";
            db.execute_unprepared(escaped).await.expect("escaped row");
            let spelled =
                r"SELECT COUNT(*) FROM audit_log WHERE instr(new_value, 'aes256\u0067cm') > 0";
            assert_eq!(
                count(db, spelled).await,
                1,
                "the stored text keeps its escape"
            );
        }

        let entries = audit_core::history::<person::Entity>(1)
            .column(person::Column::Email)
            .fetch(db)
            .await
            .expect("history");
        let values: Vec<_> = entries
            .iter()
            .map(|e| (e.old_value.clone(), e.new_value.clone(), e.personal))
            .collect();
        let opened = (
            None,
            Some(json!("ann@example.org")),
            Some(Personal::Readable),
        );
        let legacy = (
            Some(json!("was@example.org")),
            Some(json!("plain@example.org")),
            None,
        );
        let expected = match backend {
            Backend::Sqlite => vec![opened.clone(), legacy, opened],
            _ => vec![opened, legacy],
        };
        assert_eq!(values, expected, "{backend:?}");
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(values_not_in_the_plain_stored_form_still_read:
    values_not_in_the_plain_stored_form_still_read_sqlite => Sqlite,
    values_not_in_the_plain_stored_form_still_read_postgres => Postgres,
    values_not_in_the_plain_stored_form_still_read_mysql => MySql);
