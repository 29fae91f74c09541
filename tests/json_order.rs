//! JSON value filters find what was written whatever the order of an object's keys, with
//! serde_json's `preserve_order` on (`cargo test --test json_order --features
//! preserve-order`, run by `.ci/run`) as without it (issue: "no change without its trail",
//! item 12).

use audit_core::Audited;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Schema};
use seaorm_audit::{Backend, FreshDb};
use serde_json::json;

mod doc {
    use super::*;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub body: Json,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

async fn filters_ignore_key_order(backend: Backend) {
    let Some(fresh) = FreshDb::connect(backend, 2).await.unwrap() else {
        return;
    };
    let db = &fresh.db;
    audit_core::create_audit_table(db).await.unwrap();
    db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(doc::Entity))
        .await
        .unwrap();

    // With `preserve_order` the keys keep the order they were written in.
    let written = json!({"b": 2, "a": {"d": 4, "c": 3}});
    let text = written.to_string();
    if cfg!(feature = "preserve-order") {
        assert_eq!(text, r#"{"b":2,"a":{"d":4,"c":3}}"#);
    } else {
        assert_eq!(text, r#"{"a":{"c":3,"d":4},"b":2}"#);
    }
    doc::ActiveModel {
        body: Set(written.clone()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();

    for query in [
        written,
        json!({"a": {"c": 3, "d": 4}, "b": 2}),
        json!({"a": {"d": 4, "c": 3}, "b": 2}),
    ] {
        let found = audit_core::table_history::<doc::Entity>()
            .column(doc::Column::Body)
            .new_value(query.clone())
            .fetch(db)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{backend:?}: {query}");
        assert_eq!(found[0].new_value.as_ref(), Some(&query), "{backend:?}");
    }
    fresh.cleanup().await.unwrap();
}

#[tokio::test]
async fn filters_ignore_key_order_sqlite() {
    filters_ignore_key_order(Backend::Sqlite).await;
}

#[tokio::test]
async fn filters_ignore_key_order_postgres() {
    filters_ignore_key_order(Backend::Postgres).await;
}

#[tokio::test]
async fn filters_ignore_key_order_mysql() {
    filters_ignore_key_order(Backend::MySql).await;
}
