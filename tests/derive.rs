//! What the derive generates, on SQLite: both entity formats of SeaORM 2, user hooks beside
//! auditing, the struct attributes, composite keys, renamed and ignored columns, and
//! hygiene (a decoy `audit_core` module, warnings denied).
#![deny(warnings)]

mod common;

use common::{Backend, FreshDb, audit_rows, create_table};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ModelTrait};
use serde_json::json;

/// The classic format, with user hooks, a table label, skipped timestamps, a renamed column
/// and an ignored field.
mod note {
    use audit_core::{AuditHooks, Audited};
    use sea_orm::ActiveValue::Set;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "note")]
    #[audit(table = "notes", skip_timestamps, hooks)]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(column_name = "body_text")]
        pub body: String,
        /// Set by the user's hook on every save; audited like any column.
        pub revision: i32,
        pub created_at: Option<ChronoDateTimeUtc>,
        pub updated_at: Option<ChronoDateTimeUtc>,
        #[sea_orm(ignore)]
        pub scratch: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[audit_core::async_trait]
    impl AuditHooks for ActiveModel {
        fn new() -> Self {
            Self {
                revision: Set(0),
                ..<Self as ActiveModelTrait>::default()
            }
        }

        async fn before_save<C: ConnectionTrait>(
            mut self,
            _db: &C,
            insert: bool,
        ) -> Result<Self, DbErr> {
            let now = chrono::Utc::now();
            if insert {
                self.created_at = Set(Some(now));
            } else {
                let revision = self.revision.clone().unwrap();
                self.revision = Set(revision + 1);
            }
            self.updated_at = Set(Some(now));
            Ok(self)
        }

        async fn after_save<C: ConnectionTrait>(
            mut model: Model,
            _db: &C,
            _insert: bool,
        ) -> Result<Model, DbErr> {
            model.scratch = 42;
            Ok(model)
        }
    }
}

/// The `#[sea_orm::model]` format, where the derive list is copied onto `ModelEx` too.
mod author {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "author")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
        #[sea_orm(has_many)]
        pub books: HasMany<super::book::Entity>,
    }
}

mod book {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "book")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub title: String,
        pub author_id: i32,
        #[sea_orm(belongs_to, from = "author_id", to = "id")]
        pub author: HasOne<super::author::Entity>,
    }
}

/// A composite primary key, and a decoy `audit_core` module the generated code must not pick up.
mod membership {
    #[allow(dead_code)]
    mod audit_core {}

    use ::audit_core::Audited;
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

async fn fresh() -> FreshDb {
    let fresh = FreshDb::connect(Backend::Sqlite, 1)
        .await
        .unwrap()
        .expect("sqlite");
    audit_core::create_audit_table(&fresh.db).await.unwrap();
    fresh
}

#[tokio::test]
async fn user_hooks_run_beside_auditing() {
    let fresh = fresh().await;
    let db = &fresh.db;
    create_table(db, note::Entity).await;

    // `new()` is the user's: revision starts at 0.
    let mut am = <note::ActiveModel as sea_orm::ActiveModelBehavior>::new();
    am.body = Set("draft".into());
    let saved = am.insert(db).await.unwrap();
    assert_eq!(saved.scratch, 42, "the user's after_save ran");
    assert!(saved.created_at.is_some(), "the user's before_save ran");

    let mut am: note::ActiveModel = saved.into();
    am.body = Set("final".into());
    am.update(db).await.unwrap();

    let rows = audit_rows(db).await.unwrap();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.table_name.as_str(),
                r.operation.as_str(),
                r.column_name.as_str(),
                r.new_value.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("notes", "insert", "id", Some(json!(1))),
            ("notes", "insert", "body_text", Some(json!("draft"))),
            ("notes", "insert", "revision", Some(json!(0))),
            ("notes", "update", "body_text", Some(json!("final"))),
            // Set by the user's before_save, which runs before the audit's: audited.
            ("notes", "update", "revision", Some(json!(1))),
        ],
        "table label, column name, skipped timestamps, hook-set values"
    );
}

#[tokio::test]
async fn new_entity_format_is_audited_once() {
    let fresh = fresh().await;
    let db = &fresh.db;
    create_table(db, author::Entity).await;
    create_table(db, book::Entity).await;

    let author = author::ActiveModel {
        name: Set("Ursula".into()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    book::ActiveModel {
        title: Set("Earthsea".into()),
        author_id: Set(author.id),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let rows = audit_rows(db).await.unwrap();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| (r.table_name.as_str(), r.column_name.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("author", "id"),
            ("author", "name"),
            ("book", "id"),
            ("book", "title"),
            ("book", "author_id")
        ]
    );
}

#[tokio::test]
async fn composite_key_is_a_json_array() {
    let fresh = fresh().await;
    let db = &fresh.db;
    create_table(db, membership::Entity).await;

    let model = membership::ActiveModel {
        org: Set("acme/eu \"west\"".into()),
        user_id: Set(7),
        role: Set("admin".into()),
    }
    .insert(db)
    .await
    .unwrap();
    let mut am: membership::ActiveModel = model.into();
    am.role = Set("owner".into());
    am.update(db).await.unwrap().delete(db).await.unwrap();

    let rows = audit_rows(db).await.unwrap();
    let expected_id = json!(["acme/eu \"west\"", 7]).to_string();
    assert!(rows.iter().all(|r| r.record_id == expected_id), "{rows:?}");
    let update: Vec<_> = rows.iter().filter(|r| r.operation == "update").collect();
    assert_eq!(update.len(), 1);
    assert_eq!(
        (update[0].old_value.clone(), update[0].new_value.clone()),
        (Some(json!("admin")), Some(json!("owner")))
    );
    let deleted: Vec<_> = rows
        .iter()
        .filter(|r| r.operation == "delete")
        .map(|r| r.column_name.as_str())
        .collect();
    assert_eq!(deleted, ["org", "user_id", "role"]);
}
