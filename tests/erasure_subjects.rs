//! Who the data subject of a personal value is, on every backend: a composite key, a
//! function of the model (`subject_with`), and an update that moves a record from one
//! subject to another (its old value stays with the old subject, its new one goes with
//! the new).

mod common;

use std::sync::Arc;

use audit_core::erasure::{self, ERASED, LocalKek, Personal};
use audit_core::{AuditEntry, erase_subject};
use common::{Backend, FreshDb, create_table};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait};
use serde_json::json;

/// A team membership: its composite key is the subject of its personal column.
mod membership {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "membership")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub team_id: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: i32,
        #[audit(personal)]
        pub nickname: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A message whose subject is its author within a tenant: a function of two columns.
mod message {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "message")]
    #[audit(subject_with = "author", subject_kind = "tenant_user")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub tenant: String,
        pub author_id: i32,
        #[audit(personal)]
        pub body: String,
    }

    /// The message's data subject: its author, as `(tenant, author_id)`.
    pub fn author(model: &Model) -> (String, i32) {
        (model.tenant.clone(), model.author_id)
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

async fn fresh(backend: Backend) -> Option<FreshDb> {
    let fresh = FreshDb::connect(backend, 2).await.expect("connect")?;
    audit_core::create_audit_table(&fresh.db)
        .await
        .expect("audit table");
    create_table(&fresh.db, membership::Entity).await;
    create_table(&fresh.db, message::Entity).await;
    Some(fresh)
}

fn kek() -> Arc<LocalKek> {
    Arc::new(LocalKek::new([5; 32]))
}

async fn add_member(db: &impl ConnectionTrait, team_id: i32, user_id: i32, nickname: &str) {
    membership::ActiveModel {
        team_id: Set(team_id),
        user_id: Set(user_id),
        nickname: Set(nickname.into()),
    }
    .insert(db)
    .await
    .expect("insert membership");
}

async fn add_message(db: &impl ConnectionTrait, id: i32, tenant: &str, author_id: i32, body: &str) {
    message::ActiveModel {
        id: Set(id),
        tenant: Set(tenant.into()),
        author_id: Set(author_id),
        body: Set(body.into()),
    }
    .insert(db)
    .await
    .expect("insert message");
}

/// The entries of `column` in `entries`.
fn of<'a>(entries: &'a [AuditEntry], column: &str) -> Vec<&'a AuditEntry> {
    entries.iter().filter(|e| e.column == column).collect()
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

async fn composite_keys_and_subject_functions(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    erasure::with_key_encryption_key(kek(), async {
        add_member(db, 1, 2, "ace").await;
        add_member(db, 2, 1, "deuce").await;
        add_message(db, 1, "acme", 7, "hello from 7").await;
        add_message(db, 2, "acme", 8, "hello from 8").await;
        add_message(db, 3, "globex", 7, "another tenant's 7").await;

        // A composite key, erased as a tuple: (1, 2) only, not (2, 1).
        assert!(
            erase_subject(db, "membership", (1, 2))
                .await
                .expect("erase")
        );
        let erased = audit_core::history::<membership::Entity>((1, 2))
            .fetch(db)
            .await
            .expect("read");
        assert_eq!(of(&erased, "nickname")[0].personal, Some(Personal::Erased));
        let kept = audit_core::history::<membership::Entity>((2, 1))
            .fetch(db)
            .await
            .expect("read");
        assert_eq!(of(&kept, "nickname")[0].new_value, Some(json!("deuce")));

        // A subject function of (tenant, author): ("acme", 7) only.
        assert!(
            erase_subject(db, "tenant_user", ("acme".to_string(), 7))
                .await
                .expect("erase")
        );
        let body = |id: i32| async move {
            let entries = audit_core::history::<message::Entity>(id)
                .fetch(db)
                .await
                .expect("read");
            of(&entries, "body")[0].new_value.clone()
        };
        assert_eq!(body(1).await, Some(json!(ERASED)), "{backend:?}");
        assert_eq!(body(2).await, Some(json!("hello from 8")));
        assert_eq!(body(3).await, Some(json!("another tenant's 7")));
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(composite_keys_and_subject_functions:
    composite_keys_and_subject_functions_sqlite => Sqlite,
    composite_keys_and_subject_functions_postgres => Postgres,
    composite_keys_and_subject_functions_mysql => MySql);

async fn a_record_moved_to_another_subject(backend: Backend) {
    let Some(fresh) = fresh(backend).await else {
        return;
    };
    let db = &fresh.db;
    erasure::with_key_encryption_key(kek(), async {
        add_message(db, 1, "acme", 7, "written by 7").await;
        // Handed to author 8 and rewritten: the old body is 7's, the new one 8's.
        let mut am: message::ActiveModel = message::ActiveModel {
            id: Set(1),
            ..Default::default()
        };
        am.author_id = Set(8);
        am.body = Set("rewritten by 8".into());
        am.update(db).await.expect("update");

        erase_subject(db, "tenant_user", ("acme".to_string(), 7))
            .await
            .expect("erase 7");
        let entries = audit_core::history::<message::Entity>(1)
            .fetch(db)
            .await
            .expect("read");
        let body = of(&entries, "body");
        assert_eq!(body.len(), 2, "{backend:?}: insert and update");
        assert_eq!(body[0].new_value, Some(json!(ERASED)), "the insert was 7's");
        assert_eq!(
            body[1].old_value,
            Some(json!(ERASED)),
            "the old body was 7's"
        );
        assert_eq!(
            body[1].new_value,
            Some(json!("rewritten by 8")),
            "the new body is 8's"
        );
        assert_eq!(body[1].personal, Some(Personal::Erased));

        erase_subject(db, "tenant_user", ("acme".to_string(), 8))
            .await
            .expect("erase 8");
        let entries = audit_core::history::<message::Entity>(1)
            .fetch(db)
            .await
            .expect("read");
        assert_eq!(of(&entries, "body")[1].new_value, Some(json!(ERASED)));
    })
    .await;
    fresh.cleanup().await.expect("cleanup");
}

on_every_backend!(a_record_moved_to_another_subject:
    a_record_moved_to_another_subject_sqlite => Sqlite,
    a_record_moved_to_another_subject_postgres => Postgres,
    a_record_moved_to_another_subject_mysql => MySql);
