// Shared setup of the doc examples (included as hidden lines; not part of the crate).
// A `ticket` entity and an in-memory SQLite database where ticket 1 was opened by alice
// (status "open", note "printer jam") and closed by bob (status "closed"); and a `memo`
// entity captured by the database (its table is created, its capture is not installed).
use audit_core::Audited;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, Database, Schema};

mod ticket {
    use super::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "ticket")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub status: String,
        pub note: String,
        #[audit(redact)]
        pub secret: String,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

mod memo {
    use super::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "memo")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub body: String,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// An empty database with the `ticket` and audit tables.
#[allow(dead_code)]
async fn empty_db() -> Result<DatabaseConnection, DbErr> {
    let db = Database::connect("sqlite::memory:").await?;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(ticket::Entity)).await?;
    db.execute(&schema.create_table_from_entity(memo::Entity)).await?;
    audit_core::create_audit_table(&db).await?;
    Ok(db)
}

/// Ticket 1: inserted "open" by alice, then set to "closed" by bob.
#[allow(dead_code)]
async fn demo_db() -> Result<DatabaseConnection, DbErr> {
    let db = empty_db().await?;
    let opened = audit_core::with_actor(
        "alice",
        ticket::ActiveModel {
            status: Set("open".into()),
            note: Set("printer jam".into()),
            secret: Set("s3cret".into()),
            ..Default::default()
        }
        .insert(&db),
    )
    .await?;
    let mut closing: ticket::ActiveModel = opened.into();
    closing.status = Set("closed".into());
    audit_core::with_actor("bob", closing.update(&db)).await?;
    Ok(db)
}
