// Shared setup of the erasure doc examples (included as hidden lines; not part of the crate).
// A `person` whose `email` is personal data, subject kind `user`; person 1 (ann@example.com)
// was inserted under the key-encryption key of 32 bytes of 7.
use audit_core::Audited;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, Database, Schema};
use std::sync::Arc;

mod person {
    use super::*;
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

/// Person 1 written under the process-wide key-encryption key.
#[allow(dead_code)]
async fn person_db() -> Result<DatabaseConnection, DbErr> {
    audit_core::erasure::set_key_encryption_key(Some(Arc::new(
        audit_core::erasure::LocalKek::new([7; 32]),
    )));
    let db = Database::connect("sqlite::memory:").await?;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(person::Entity)).await?;
    audit_core::create_audit_table(&db).await?;
    person::ActiveModel {
        id: Set(1),
        email: Set("ann@example.com".into()),
        plan: Set("free".into()),
    }
    .insert(&db)
    .await?;
    Ok(db)
}
