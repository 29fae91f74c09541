//! One table name in two PostgreSQL schemas is two tables, and two histories: the trail's
//! label is `schema.table`, so neither history shows the other's rows, and `revert`
//! writes a record's own old value back (issue: "no change without its trail", item 6).

use audit_core::{Audited, OnConflict};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};
use seaorm_audit::{Backend, FreshDb};

mod left {
    use super::*;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(schema_name = "audit_two_schemas_left", table_name = "item")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

mod right {
    use super::*;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(schema_name = "audit_two_schemas_right", table_name = "item")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

#[tokio::test]
async fn same_table_name_in_two_schemas_postgres() {
    let Some(fresh) = FreshDb::connect(Backend::Postgres, 2).await.unwrap() else {
        return;
    };
    let db = &fresh.db;
    audit_core::create_audit_table(db).await.unwrap();
    for schema in ["audit_two_schemas_left", "audit_two_schemas_right"] {
        db.execute_unprepared(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; DROP TABLE IF EXISTS {schema}.item; \
             CREATE TABLE {schema}.item (id integer PRIMARY KEY, label text NOT NULL)"
        ))
        .await
        .unwrap();
    }

    let l = left::ActiveModel {
        id: Set(1),
        label: Set("left v1".into()),
    }
    .insert(db)
    .await
    .unwrap();
    let r = right::ActiveModel {
        id: Set(1),
        label: Set("right v1".into()),
    }
    .insert(db)
    .await
    .unwrap();
    let mut l: left::ActiveModel = l.into();
    l.label = Set("left v2".into());
    l.update(db).await.unwrap();
    let mut r: right::ActiveModel = r.into();
    r.label = Set("right v2".into());
    r.update(db).await.unwrap();

    let labels =
        |entries: Vec<audit_core::AuditEntry>| -> Vec<(String, Option<serde_json::Value>)> {
            entries
                .into_iter()
                .filter(|e| e.column == "label")
                .map(|e| (e.table, e.new_value))
                .collect()
        };
    let left_history = audit_core::history::<left::Entity>(1)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(
        labels(left_history),
        [
            (
                "audit_two_schemas_left.item".to_owned(),
                Some("left v1".into())
            ),
            (
                "audit_two_schemas_left.item".to_owned(),
                Some("left v2".into())
            ),
        ]
    );
    let right_history = audit_core::history::<right::Entity>(1)
        .fetch(db)
        .await
        .unwrap();
    assert_eq!(
        labels(right_history),
        [
            (
                "audit_two_schemas_right.item".to_owned(),
                Some("right v1".into())
            ),
            (
                "audit_two_schemas_right.item".to_owned(),
                Some("right v2".into())
            ),
        ]
    );

    // Undoing the left record's update writes the left record's old value, and only there.
    let versions = audit_core::versions::<left::Entity>(db, 1).await.unwrap();
    let reverted =
        audit_core::revert::<left::Entity>(db, 1, &versions[1].changeset_id, OnConflict::Refuse)
            .await
            .unwrap();
    assert_eq!(reverted.map(|m| m.label).as_deref(), Some("left v1"));
    let right_now = right::Entity::find_by_id(1).one(db).await.unwrap().unwrap();
    assert_eq!(right_now.label, "right v2");

    for schema in ["audit_two_schemas_left", "audit_two_schemas_right"] {
        db.execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
    fresh.cleanup().await.unwrap();
}
