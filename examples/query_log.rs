//! Query logging: every statement as one readable log line (kind, tables, time, actor,
//! parameters with the redacted column withheld), a slow-query warning, counters, and an
//! access log of who read the sensitive `account` table.
//!
//! `cargo run --example query_log` runs on SQLite in memory. `RUST_LOG` replaces the
//! default filter `audit_core::query=debug` (e.g. `RUST_LOG=audit_core::query=warn` keeps
//! only slow and failed statements).

use std::time::Duration;

use audit_core::query_log::{AccessLog, QueryLogger};
use audit_core::{AuditContext, Audited};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectOptions, Database, Schema, Statement};
use tracing_subscriber::EnvFilter;

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
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("audit_core::query=debug"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();

    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1).sqlx_logging(false);
    let mut db = Database::connect(options).await?;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(account::Entity))
        .await?;
    audit_core::create_audit_table(&db).await?;
    let access = AccessLog::new().sensitive::<account::Entity>();
    access.create_table(&db).await?;

    // One call: from here on every statement through `db` (and its clones) is logged.
    let logger = QueryLogger::builder()
        .log_params(true)
        .redact_entity::<account::Entity>()
        .slow_threshold(Duration::from_millis(50))
        .access_log(access)
        .attach(&mut db)?;

    AuditContext::new()
        .actor("alice")
        .request_id("req-1")
        .scope(async {
            let created = account::ActiveModel {
                owner: Set("alice".into()),
                balance: Set(100),
                password_hash: Set("$argon2id$v=19$secret".into()),
                ..Default::default()
            }
            .insert(&db)
            .await?;
            let mut am: account::ActiveModel = account::Entity::find_by_id(created.id)
                .one(&db)
                .await?
                .ok_or(DbErr::RecordNotFound("account".into()))?
                .into();
            am.balance = Set(250);
            am.update(&db).await?;
            Ok::<_, DbErr>(())
        })
        .await?;

    // A slow statement is logged at WARN.
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) \
         SELECT count(*) FROM c",
    ))
    .await?;

    logger.flush_access_log().await;
    println!("\nstatements by kind:");
    for (kind, counters) in logger.counters().iter() {
        if counters.statements > 0 {
            println!(
                "  {:<7} {:>3} run, {} failed, {:>9.3} ms total, {:>9.3} ms max",
                kind.as_str(),
                counters.statements,
                counters.failures,
                counters.total.as_secs_f64() * 1e3,
                counters.max.as_secs_f64() * 1e3,
            );
        }
    }
    println!("  slow: {}", logger.counters().slow);

    println!("\naccess log (reads of `account`):");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT actor, accessed_at, statement FROM audit_access_log ORDER BY id",
        ))
        .await?;
    for row in rows {
        let actor: Option<String> = row.try_get("", "actor")?;
        let at: String = row.try_get("", "accessed_at")?;
        let statement: String = row.try_get("", "statement")?;
        println!("  {at}  {:<6} {statement}", actor.unwrap_or_default());
    }
    Ok(())
}
