//! Hostile and odd input on every backend: every value, key and name either round-trips
//! exactly (in the data and in the trail) or fails cleanly before anything is written.
//! `.ci/run` runs it in both capture modes: hooks, and database capture (feature
//! `database-capture-suites`), where the triggers encode every value.

mod common;

use audit_core::{AuditTableOptions, AuditedEntity};
use common::{
    Backend, DATABASE_CAPTURE, FreshDb, RawRow, audit_rows, create_table, install_capture, setup,
};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ModelTrait,
    TransactionTrait, Value,
};
use serde_json::{Value as Json, json};

/// A table named with a reserved word, a string key and a column named `group`.
mod order {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "order")]
    #[cfg_attr(feature = "database-capture-suites", audit(capture = "database"))]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(column_type = "Text")]
        pub group: String,
        pub data: Vec<u8>,
        pub doc: Json,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A mixed-case table with mixed-case and reserved column names.
mod user {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "User")]
    #[cfg_attr(feature = "database-capture-suites", audit(capture = "database"))]
    pub struct Model {
        #[sea_orm(primary_key, column_name = "ID")]
        pub id: i32,
        #[sea_orm(column_name = "UserName")]
        pub user_name: String,
        #[sea_orm(column_name = "eMail")]
        pub email: Option<String>,
        #[sea_orm(column_name = "select")]
        pub select: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

const HOSTILE: &[&str] = &[
    "",
    "it's \"quoted\" `back` ''",
    "back\\slash\\\\ and \\' and \\\" and \\0 and \\x00",
    "100% of _under_scores_ LIKE '%_' ESCAPE '\\'",
    "-- line comment",
    "/* block */ comment */ #hash",
    "'); DELETE FROM audit_log; --",
    "\"; DROP TABLE \"order\"; --",
    "$1 ? ?? :name @p1 %s {} {{}}",
    "tab\there\r\nnewline\u{1}\u{1f}\u{7f}",
    "ünïcödé 🦀 ǅ \u{202e}rtl\u{202c} \u{feff}bom \u{ffff} \u{2028}",
    "combining e\u{301} and zero\u{200b}width",
    "  leading and trailing spaces  ",
    "{\"looks\": [\"like\", \"json\"]}",
    "null",
];

/// Bytes that are not UTF-8: a lone continuation byte, an overlong form, NUL, 0xff.
const NOT_UTF8: &[u8] = &[
    0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0xc0, 0xaf, 0xed, 0xa0, 0x80,
];

async fn fresh(backend: Backend) -> Option<FreshDb> {
    let fresh = setup(backend, 2).await?;
    let db = &fresh.db;
    audit_core::create_audit_table_with(db, AuditTableOptions::append_only())
        .await
        .unwrap();
    create_table(db, order::Entity).await;
    create_table(db, user::Entity).await;
    if backend == Backend::MySql {
        // `Text` is MySQL's 64 KiB TEXT; the 10 MiB values need LONGTEXT.
        db.execute_unprepared("ALTER TABLE `order` MODIFY `group` LONGTEXT NOT NULL")
            .await
            .unwrap();
    }
    install_capture::<order::Entity>(db).await;
    install_capture::<user::Entity>(db).await;
    Some(fresh)
}

fn order_row(id: &str, group: &str, doc: Json) -> order::Model {
    order::Model {
        id: id.to_owned(),
        group: group.to_owned(),
        data: NOT_UTF8.to_vec(),
        doc,
    }
}

fn active(model: &order::Model) -> order::ActiveModel {
    order::ActiveModel {
        id: Set(model.id.clone()),
        group: Set(model.group.clone()),
        data: Set(model.data.clone()),
        doc: Set(model.doc.clone()),
    }
}

/// The audit rows of one `order` record as (operation, column, old, new).
fn trail(rows: &[RawRow], id: &str) -> Vec<(String, String, Option<Json>, Option<Json>)> {
    rows.iter()
        .filter(|r| r.table_name == "order" && r.record_id == id)
        .map(|r| {
            (
                r.operation.clone(),
                r.column_name.clone(),
                r.old_value.clone(),
                r.new_value.clone(),
            )
        })
        .collect()
}

/// Checks that every value recorded for `model` decodes back to the model's value.
fn assert_decodes(rows: &[RawRow], model: &order::Model, backend: Backend) {
    let expected = [
        (order::Column::Id, Value::from(model.id.clone())),
        (order::Column::Group, Value::from(model.group.clone())),
        (order::Column::Data, Value::from(model.data.clone())),
        (order::Column::Doc, Value::from(model.doc.clone())),
    ];
    for (column, value) in expected {
        let name = sea_orm::IdenStatic::as_str(&column);
        let recorded = rows
            .iter()
            .rev()
            .find(|r| r.record_id == model.id && r.column_name == name && r.new_value.is_some())
            .and_then(|r| r.new_value.clone())
            .unwrap_or_else(|| panic!("{backend:?}: {name} of {:?} recorded", model.id));
        assert_eq!(
            order::Entity::decode_value(&column, &recorded).unwrap(),
            value,
            "{backend:?}: {name} of {:?} decodes to the stored value",
            model.id
        );
    }
}

async fn hostile_values(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    let models: Vec<_> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let id = format!("key/{i}/\"ü🦀\"%_'\\ -- x");
            order_row(
                &id,
                text,
                json!({"text": text, "list": [text, i], "nested": {"k'\"": text}}),
            )
        })
        .collect();
    for model in &models {
        let stored = active(model).insert(db).await.unwrap();
        assert_eq!(&stored, model, "{backend:?}: insert returns it exactly");
        let read = order::Entity::find_by_id(model.id.clone())
            .one(db)
            .await
            .unwrap();
        assert_eq!(read.as_ref(), Some(model), "{backend:?}: stored exactly");
    }
    // Update each row to the next row's values, then delete it.
    for (i, model) in models.iter().enumerate() {
        let next = &models[(i + 1) % models.len()];
        let mut am = active(model);
        am.group = Set(next.group.clone());
        am.doc = Set(next.doc.clone());
        am.data = Set(model.data.iter().rev().copied().collect());
        let updated = am.update(db).await.unwrap();
        assert_eq!(updated.group, next.group);
        updated.delete(db).await.unwrap();
    }
    let rows = audit_rows(db).await.unwrap();
    for (i, model) in models.iter().enumerate() {
        let next = &models[(i + 1) % models.len()];
        let reversed: Vec<u8> = model.data.iter().rev().copied().collect();
        let encode = |v: Value| audit_core::value::encode(&v);
        let id = json!(model.id);
        let (group, doc, data) = (
            json!(model.group),
            model.doc.clone(),
            encode(model.data.clone().into()),
        );
        let (next_group, next_doc, rev) =
            (json!(next.group), next.doc.clone(), encode(reversed.into()));
        let mut expected = vec![
            ("insert", "id", None, Some(id.clone())),
            ("insert", "group", None, Some(group.clone())),
            ("insert", "data", None, Some(data.clone())),
            ("insert", "doc", None, Some(doc.clone())),
        ];
        if model.group != next.group {
            expected.push(("update", "group", Some(group), Some(next_group.clone())));
        }
        expected.push(("update", "data", Some(data), Some(rev.clone())));
        if model.doc != next.doc {
            expected.push(("update", "doc", Some(doc), Some(next_doc.clone())));
        }
        expected.extend([
            ("delete", "id", Some(id), None),
            ("delete", "group", Some(next_group), None),
            ("delete", "data", Some(rev), None),
            ("delete", "doc", Some(next_doc), None),
        ]);
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(op, col, old, new)| (op.to_owned(), col.to_owned(), old, new))
            .collect();
        assert_eq!(
            trail(&rows, &model.id),
            expected,
            "{backend:?}: trail of {:?}",
            model.id
        );
        let inserted: Vec<_> = rows
            .iter()
            .filter(|r| r.operation == "insert")
            .cloned()
            .collect();
        assert_decodes(&inserted, model, backend);
        // The history API finds the record by its key and rebuilds it exactly.
        let versions = audit_core::versions::<order::Entity>(db, model.id.clone())
            .await
            .unwrap();
        assert_eq!(versions.len(), 3, "{backend:?}: versions of {:?}", model.id);
        let first = audit_core::at_version::<order::Entity>(db, model.id.clone(), 1)
            .await
            .unwrap();
        assert_eq!(
            first.as_ref(),
            Some(model),
            "{backend:?}: version 1 of {:?}",
            model.id
        );
    }
    assert!(rows.iter().all(|r| r.table_name == "order"));
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn hostile_values_sqlite() {
    hostile_values(Backend::Sqlite).await;
}

#[tokio::test]
async fn hostile_values_postgres() {
    hostile_values(Backend::Postgres).await;
}

#[tokio::test]
async fn hostile_values_mysql() {
    hostile_values(Backend::MySql).await;
}

/// Inserts or updates `model` in a transaction: it either round-trips exactly (in the table
/// and the trail) or fails, leaving both as they were. Returns the error, if any.
async fn round_trips_or_fails_cleanly(
    db: &DatabaseConnection,
    backend: Backend,
    model: order::Model,
    what: &str,
) -> Option<String> {
    let before = (
        order::Entity::find().all(db).await.unwrap(),
        audit_rows(db).await.unwrap(),
    );
    let exists = before.0.iter().any(|m| m.id == model.id);
    let am = active(&model);
    // An explicit transaction, dropped (rolled back) on error: `db.transaction` would
    // report a failed ROLLBACK instead of the write's own error.
    let result = async {
        let txn = db.begin().await?;
        let stored = if exists {
            am.update(&txn).await?
        } else {
            am.insert(&txn).await?
        };
        txn.commit().await?;
        Ok::<_, DbErr>(stored)
    }
    .await;
    match result {
        Ok(stored) => {
            assert_eq!(stored, model, "{what}: returned exactly");
            let read = order::Entity::find_by_id(model.id.clone())
                .one(db)
                .await
                .unwrap();
            assert_eq!(read.as_ref(), Some(&model), "{what}: stored exactly");
            let rows = audit_rows(db).await.unwrap();
            assert_decodes(&rows, &model, backend);
            None
        }
        Err(err) => {
            eprintln!(
                "{what}: refused: {}",
                err.to_string().chars().take(300).collect::<String>()
            );
            let after = (
                order::Entity::find().all(db).await.unwrap(),
                audit_rows(db).await.unwrap(),
            );
            assert!(after == before, "{what}: nothing half-written");
            Some(err.to_string())
        }
    }
}

async fn nul_bytes(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    let with_nul = order_row("nul-key", "before\0after", json!("x"));
    let json_nul = order_row("nul-json", "x", json!({"k": "a\0b"}));
    let mut outcomes = Vec::new();
    for model in [with_nul.clone(), json_nul.clone()] {
        // Outside a transaction too: the data statement fails before any audit write.
        let before = audit_rows(db).await.unwrap();
        let result = active(&model).insert(db).await;
        if result.is_err() {
            assert!(order::Entity::find().all(db).await.unwrap().is_empty());
            assert_eq!(audit_rows(db).await.unwrap(), before);
        }
        outcomes.push(result.map(drop).map_err(|e| e.to_string()));
    }
    if backend == Backend::Postgres {
        // PostgreSQL text and jsonb cannot hold NUL: a clear error, nothing written.
        for outcome in &outcomes {
            let err = outcome.clone().expect_err("PostgreSQL rejects NUL");
            assert!(
                err.contains("0x00") || err.contains("Unicode escape"),
                "{err}"
            );
        }
        // An update to a NUL value fails the same way and leaves the row and trail alone.
        let plain = order_row("nul-key", "plain", json!("x"));
        active(&plain).insert(db).await.unwrap();
        let err = round_trips_or_fails_cleanly(db, backend, with_nul, "postgres: NUL update").await;
        assert!(err.expect("refused").contains("0x00"));
    } else {
        assert!(
            outcomes.iter().all(Result::is_ok),
            "{backend:?}: {outcomes:?}"
        );
        for model in [&with_nul, &json_nul] {
            let read = order::Entity::find_by_id(model.id.clone())
                .one(db)
                .await
                .unwrap();
            assert_eq!(read.as_ref(), Some(model), "{backend:?}: NUL round-trips");
        }
        assert_decodes(&audit_rows(db).await.unwrap(), &with_nul, backend);
        assert_decodes(&audit_rows(db).await.unwrap(), &json_nul, backend);
    }
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn nul_bytes_sqlite() {
    nul_bytes(Backend::Sqlite).await;
}

#[tokio::test]
async fn nul_bytes_postgres() {
    nul_bytes(Backend::Postgres).await;
}

#[tokio::test]
async fn nul_bytes_mysql() {
    nul_bytes(Backend::MySql).await;
}

/// 10 MiB of text full of characters JSON must escape.
fn big_text(seed: char) -> String {
    let unit = format!("{seed}\"quote\" back\\slash \u{1} ünï 🦀 %_ -- \n");
    unit.repeat((10 << 20) / unit.len() + 1)
}

async fn big_values(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    let first = order_row("big", &big_text('a'), json!({"small": "doc"}));
    let what = format!("{backend:?}: 10 MiB insert");
    let inserted = round_trips_or_fails_cleanly(db, backend, first, &what).await;
    assert_eq!(inserted, None, "{what} round-trips");
    // An update's audit row holds the old and the new 10 MiB (JSON-escaped, over 20 MiB):
    // sent by the hooks, over MySQL's `max_allowed_packet` (16 MiB by default), so MariaDB
    // refuses that audit write, and the transaction takes the update with it. The trigger
    // writes it inside the server, where no packet limit applies.
    let second = order_row("big", &big_text('b'), json!({"small": "doc"}));
    let what = format!("{backend:?}: 10 MiB update");
    let updated = round_trips_or_fails_cleanly(db, backend, second, &what).await;
    if backend == Backend::MySql && !DATABASE_CAPTURE {
        let err = updated.expect("MariaDB refuses a 20 MiB audit row");
        assert!(err.contains("audit write to `audit_log` failed"), "{err}");
    } else {
        assert_eq!(updated, None, "{what} round-trips");
    }
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn big_values_sqlite() {
    big_values(Backend::Sqlite).await;
}

#[tokio::test]
async fn big_values_postgres() {
    big_values(Backend::Postgres).await;
}

#[tokio::test]
async fn big_values_mysql() {
    big_values(Backend::MySql).await;
}

fn nested(depth: usize) -> Json {
    (0..depth).fold(json!("leaf"), |inner, i| {
        if i % 2 == 0 {
            json!([inner])
        } else {
            json!({ "k": inner })
        }
    })
}

async fn deep_json(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    let mut outcomes = Vec::new();
    for depth in [30, 100, 1000] {
        let model = order_row(&format!("deep-{depth}"), "x", nested(depth));
        let what = format!("{backend:?}: JSON nested {depth} deep");
        outcomes.push((
            depth,
            round_trips_or_fails_cleanly(db, backend, model, &what).await,
        ));
    }
    let round_trips: Vec<_> = outcomes
        .iter()
        .map(|(d, err)| (*d, err.is_none()))
        .collect();
    eprintln!("{backend:?}: nested JSON round-trips at depth: {round_trips:?}");
    // Depth 30 everywhere; 100 where the JSON type allows it (MariaDB's stops at 32
    // levels); 1000 nowhere: serde_json stops at 128 levels, so SeaORM cannot read the
    // row back, and the transaction is rolled back.
    let expected = match backend {
        Backend::MySql => [(30, true), (100, false), (1000, false)],
        _ => [(30, true), (100, true), (1000, false)],
    };
    assert_eq!(round_trips, expected, "{backend:?}");
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn deep_json_sqlite() {
    deep_json(Backend::Sqlite).await;
}

#[tokio::test]
async fn deep_json_postgres() {
    deep_json(Backend::Postgres).await;
}

#[tokio::test]
async fn deep_json_mysql() {
    deep_json(Backend::MySql).await;
}

async fn reserved_names(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    let created = user::ActiveModel {
        user_name: Set("Robert'); DROP TABLE \"User\";--".into()),
        email: Set(None),
        select: Set(1),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let mut am: user::ActiveModel = created.clone().into();
    am.email = Set(Some("bobby@tables".into()));
    am.select = Set(2);
    let txn = db.begin().await.unwrap();
    let updated = am.update(&txn).await.unwrap();
    txn.commit().await.unwrap();
    updated.clone().delete(db).await.unwrap();

    let rows: Vec<_> = audit_rows(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            assert_eq!(r.table_name, "User", "{backend:?}");
            assert_eq!(r.record_id, created.id.to_string(), "{backend:?}");
            (r.operation, r.column_name, r.old_value, r.new_value)
        })
        .collect();
    let name = json!(created.user_name);
    let expected = [
        ("insert", "ID", None, Some(json!(created.id))),
        ("insert", "UserName", None, Some(name.clone())),
        ("insert", "eMail", None, Some(json!(null))),
        ("insert", "select", None, Some(json!(1))),
        (
            "update",
            "eMail",
            Some(json!(null)),
            Some(json!("bobby@tables")),
        ),
        ("update", "select", Some(json!(1)), Some(json!(2))),
        ("delete", "ID", Some(json!(created.id)), None),
        ("delete", "UserName", Some(name), None),
        ("delete", "eMail", Some(json!("bobby@tables")), None),
        ("delete", "select", Some(json!(2)), None),
    ]
    .map(|(op, col, old, new)| (op.to_owned(), col.to_owned(), old, new));
    assert_eq!(rows, expected, "{backend:?}");
    let second = audit_core::at_version::<user::Entity>(db, created.id, 2)
        .await
        .unwrap();
    assert_eq!(second, Some(updated), "{backend:?}: rebuilt from the trail");
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn reserved_names_sqlite() {
    reserved_names(Backend::Sqlite).await;
}

#[tokio::test]
async fn reserved_names_postgres() {
    reserved_names(Backend::Postgres).await;
}

#[tokio::test]
async fn reserved_names_mysql() {
    reserved_names(Backend::MySql).await;
}
