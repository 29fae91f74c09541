//! Quickstart: audit an `account` table on SQLite, with no setup.
//!
//! `cargo run --example quickstart` creates the schema in memory, writes as three actors
//! (one of them with raw SQL, recorded by database capture) and prints the audit trail.

use audit_core::{AuditContext, Audited};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, Database, Iterable, Schema, TransactionTrait};

mod account {
    use super::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "account")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub owner: String,
        pub balance: i64,
        #[audit(redact)]
        pub password_hash: String,
        #[audit(skip)]
        pub last_seen_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Captured by the database: its triggers record every change, raw SQL included.
mod ticket {
    use super::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "ticket")]
    #[audit(capture = "database")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub status: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::connect("sqlite::memory:").await?;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(account::Entity))
        .await?;
    audit_core::create_audit_table(&db).await?;

    // Alice opens an account, in a transaction: the audit rows commit with it.
    let id = audit_core::with_actor("alice", async {
        let txn = db.begin().await?;
        let created = account::ActiveModel {
            owner: Set("alice".into()),
            balance: Set(100),
            password_hash: Set("$argon2id$v=19$secret".into()),
            last_seen_at: Set(Some(chrono::Utc::now())),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok::<_, DbErr>(created.id)
    })
    .await?;

    // Bob, from the back office, corrects the balance and rotates the password.
    AuditContext::new()
        .actor("bob")
        .request_id("req-7")
        .reason("ticket #42")
        .scope(async {
            let mut account: account::ActiveModel = account::Entity::find_by_id(id)
                .one(&db)
                .await?
                .expect("created above")
                .into();
            account.balance = Set(250);
            account.password_hash = Set("$argon2id$v=19$rotated".into());
            account.last_seen_at = Set(Some(chrono::Utc::now()));
            account.update(&db).await?;
            Ok::<_, DbErr>(())
        })
        .await?;

    // Alice closes it: the delete records every column's last value.
    audit_core::with_actor("alice", async {
        let account = account::Entity::find_by_id(id)
            .one(&db)
            .await?
            .expect("created above");
        account.delete(&db).await?;
        Ok::<_, DbErr>(())
    })
    .await?;

    // Carol, in support, closes a ticket with raw SQL. The ticket table is captured by the
    // database, so the change is in the trail, with the actor of her scope.
    db.execute(&schema.create_table_from_entity(ticket::Entity))
        .await?;
    audit_core::db_capture::install::<ticket::Entity, _>(&db).await?;
    db.execute_unprepared("INSERT INTO ticket (id, status) VALUES (7, 'open')")
        .await?;
    audit_core::with_actor(
        "carol",
        audit_core::transaction(&db, |txn| {
            Box::pin(async move {
                txn.execute_unprepared("UPDATE ticket SET status = 'closed' WHERE id = 7")
                    .await?;
                Ok::<_, DbErr>(())
            })
        }),
    )
    .await?;

    print_trail(&db).await?;

    // The account as it was after Bob's change (its version 2), rebuilt from the trail:
    // the redacted and skipped columns cannot be rebuilt, so they stay `NotSet`.
    let past = audit_core::history::snapshot_at_version::<account::Entity>(&db, id, 2)
        .await?
        .expect("the account existed at version 2");
    println!(
        "\naccount {id} at version {} ({}), rebuilt from the trail:",
        past.version, past.changed_at
    );
    for column in account::Column::iter() {
        match past.get(column) {
            Ok(value) => println!(
                "  {:<14} {}",
                column.as_str(),
                audit_core::value::encode(&value)
            ),
            Err(_) => println!("  {:<14} (not recorded)", column.as_str()),
        }
    }

    // What changed between the account's versions 1 and 2.
    println!("\nversion 1 -> 2:");
    for change in audit_core::diff_versions::<account::Entity>(&db, id, 1, 2).await? {
        let show = |v: Option<serde_json::Value>| v.map_or("∅".to_owned(), |v| v.to_string());
        println!(
            "  {}: {} -> {}",
            change.column,
            show(change.old_value),
            show(change.new_value)
        );
    }
    Ok(())
}

async fn print_trail(db: &DatabaseConnection) -> Result<(), audit_core::AuditError> {
    let entries = audit_core::all_history().oldest_first().fetch(db).await?;
    println!(
        "{:<27} {:<6} {:<8} {:<9} {:<14} change",
        "time (UTC)", "actor", "table", "operation", "column"
    );
    for entry in entries {
        let show = |value: &Option<serde_json::Value>| {
            value.as_ref().map_or("∅".to_owned(), ToString::to_string)
        };
        println!(
            "{:<27} {:<6} {:<8} {:<9} {:<14} {} -> {}",
            entry
                .changed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            entry.actor.as_deref().unwrap_or("-"),
            entry.table,
            entry.operation,
            entry.column,
            show(&entry.old_value),
            show(&entry.new_value),
        );
    }
    Ok(())
}
