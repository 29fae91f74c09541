//! Shared by the database capture tests: captured databases, scopes, trails compared.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;

use audit_core::{AuditContext, AuditedEntity, db_capture};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, IdenStatic, Iterable,
    TransactionTrait,
};

use crate::common::{self, Backend, FreshDb, RawRow, audit_rows};

/// `account` of `tests/common` (same table, same label, same columns), captured by the
/// database: the triggers installed for it record `account`'s changes, whichever of the
/// two entities the test writes through (`account`'s hooks then run under
/// `without_auditing`, so only the triggers record).
pub mod captured_account {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "account")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(unique)]
        pub owner: String,
        pub balance: i64,
        pub note: Option<String>,
        #[audit(redact)]
        pub password_hash: String,
        #[audit(skip)]
        pub last_seen_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A fresh database with `account` captured by the database.
pub async fn captured(backend: Backend) -> Option<FreshDb> {
    let fresh = common::setup(backend, 1).await?;
    db_capture::install::<captured_account::Entity, _>(&fresh.db)
        .await
        .expect("install");
    if backend == Backend::Sqlite {
        // REPLACE's deletes fire delete triggers only with recursive triggers on.
        fresh
            .db
            .execute_unprepared("PRAGMA recursive_triggers = ON")
            .await
            .unwrap();
    }
    Some(fresh)
}

/// Runs `sql`, which must succeed.
pub async fn raw<C: ConnectionTrait>(db: &C, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Runs `body` in a transaction whose scope is `context`, handed to the triggers the way
/// the runtime does: the scope first, cleared before the commit.
pub async fn in_scope<F>(db: &DatabaseConnection, context: &AuditContext, body: F)
where
    F: for<'a> FnOnce(&'a DatabaseTransaction) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
{
    let tx = db.begin().await.unwrap();
    let backend = tx.get_database_backend();
    for statement in db_capture::scope_statements(backend, context) {
        tx.execute_raw(statement).await.unwrap();
    }
    body(&tx).await;
    for statement in db_capture::clear_scope_statements(backend) {
        tx.execute_raw(statement).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// The trail in changesets, in order, each changeset's rows ordered by record and column.
pub async fn trail<C: ConnectionTrait>(db: &C) -> Vec<Vec<RawRow>> {
    let mut changesets: Vec<Vec<RawRow>> = Vec::new();
    for row in audit_rows(db).await.unwrap() {
        match changesets.last_mut() {
            Some(last) if last[0].changeset_id == row.changeset_id => last.push(row),
            _ => changesets.push(vec![row]),
        }
    }
    for changeset in &mut changesets {
        changeset
            .sort_by(|a, b| (&a.record_id, &a.column_name).cmp(&(&b.record_id, &b.column_name)));
    }
    changesets
}

/// The two trails record the same changes (ids, times and changeset ids aside): per
/// changeset the same records, operations and columns, and values that decode to the same
/// value of the column (same `Debug` text). Values whose stored JSON differs but decodes
/// the same are printed.
pub fn assert_same_trail<E: AuditedEntity>(hooks: &[Vec<RawRow>], db: &[Vec<RawRow>], what: &str) {
    assert_eq!(hooks.len(), db.len(), "{what}: changesets");
    let mut byte_different = Vec::new();
    for (n, (a, b)) in hooks.iter().zip(db).enumerate() {
        let key = |r: &RawRow| {
            (
                r.record_id.clone(),
                r.operation.clone(),
                r.column_name.clone(),
            )
        };
        let keys_a: Vec<_> = a.iter().map(key).collect();
        let keys_b: Vec<_> = b.iter().map(key).collect();
        assert_eq!(keys_a, keys_b, "{what}: changeset {n}");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.table_name, y.table_name);
            for (side, u, v) in [
                ("old", &x.old_value, &y.old_value),
                ("new", &x.new_value, &y.new_value),
            ] {
                if u == v {
                    continue;
                }
                let column = E::Column::iter()
                    .find(|c| c.as_str() == x.column_name)
                    .expect("a column of the entity");
                let decoded = |j: &Option<serde_json::Value>| {
                    j.as_ref()
                        .map(|j| format!("{:?}", E::decode_value(&column, j)))
                };
                assert_eq!(
                    decoded(u),
                    decoded(v),
                    "{what}: changeset {n} {} {side} value of `{}`: {} vs {}",
                    x.operation,
                    x.column_name,
                    cut(u),
                    cut(v)
                );
                byte_different.push(format!(
                    "{} {side}: {} vs {}",
                    x.column_name,
                    cut(u),
                    cut(v)
                ));
            }
        }
    }
    if !byte_different.is_empty() {
        eprintln!(
            "{what}: decode-identical, stored differently:\n  {}",
            byte_different.join("\n  ")
        );
    }
}

fn cut(json: &Option<serde_json::Value>) -> String {
    let text = json.as_ref().map_or("NULL".to_owned(), |j| j.to_string());
    text.chars().take(80).collect()
}
