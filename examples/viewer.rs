//! The web viewer on a demo trail: `cargo run --example viewer`, then open the address it
//! prints (http://127.0.0.1:3000/audit).
//!
//! It seeds a shop's `customer` and `order` tables on SQLite (a file in the temporary
//! folder; `--url postgres://...` or `DATABASE_URL` uses a `viewer_demo` schema on
//! PostgreSQL instead), writes a few hundred audited changes as several people, and
//! serves the viewer under `/audit`. The authorization hook here lets in requests from
//! this machine only (as `demo-admin`, reverts allowed); an application would check its
//! own session instead. `--port 0` picks a free port.

use std::net::SocketAddr;

use audit_core::viewer::{Access, Viewer};
use audit_core::{AuditContext, Audited};
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectOptions, Database, Schema};

mod customer {
    use super::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "customer")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
        pub tier: String,
        #[audit(redact)]
        pub card_token: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

mod order {
    use super::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "order")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub customer_id: i32,
        pub status: String,
        pub total_cents: i64,
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Requests from this machine only; everyone else gets 403.
fn local_only(request: &Parts) -> Option<Access> {
    let ConnectInfo(peer) = request.extensions.get::<ConnectInfo<SocketAddr>>()?;
    peer.ip()
        .is_loopback()
        .then(|| Access::all("demo-admin").with_revert())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut url = std::env::var("DATABASE_URL").ok();
    let mut port = 3000u16;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next(),
            "--port" => port = args.next().ok_or("--port needs a number")?.parse()?,
            other => return Err(format!("unknown argument `{other}` (--url URL, --port N)").into()),
        }
    }
    let db = connect(url.as_deref()).await?;
    seed(&db).await?;

    let app = axum::Router::new().nest(
        "/audit",
        Viewer::new(db, local_only)
            .page_size(25)
            .revertible::<order::Entity, i32>()
            .revertible::<customer::Entity, i32>()
            .router(),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("audit viewer on http://{}/audit", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// A fresh demo database: a new SQLite file, or a `viewer_demo` schema on PostgreSQL.
async fn connect(url: Option<&str>) -> Result<DatabaseConnection, DbErr> {
    match url {
        Some(url) if url.starts_with("postgres") => {
            let admin = Database::connect(url).await?;
            admin
                .execute_unprepared(
                    "DROP SCHEMA IF EXISTS viewer_demo CASCADE; CREATE SCHEMA viewer_demo",
                )
                .await?;
            admin.close().await?;
            let mut options = ConnectOptions::new(url);
            options.set_schema_search_path("viewer_demo");
            Database::connect(options).await
        }
        Some(url) => Database::connect(url).await,
        None => {
            let file =
                std::env::temp_dir().join(format!("audit-viewer-demo-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&file);
            Database::connect(format!("sqlite://{}?mode=rwc", file.display())).await
        }
    }
}

/// Customers and orders, changed by support staff, a warehouse job and customers.
async fn seed(db: &DatabaseConnection) -> Result<(), DbErr> {
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(customer::Entity))
        .await?;
    db.execute(&schema.create_table_from_entity(order::Entity))
        .await?;
    audit_core::create_audit_table(db).await?;

    let names = [
        "Ada Lovelace",
        "Grace Hopper",
        "Alan Turing",
        "Edsger Dijkstra",
        "Barbara Liskov",
    ];
    for (i, name) in names.iter().enumerate() {
        let scope = AuditContext::new()
            .actor("signup-form")
            .request_id(format!("req-{}", 100 + i));
        scope
            .scope(
                customer::ActiveModel {
                    name: Set((*name).to_owned()),
                    tier: Set("standard".into()),
                    card_token: Set(format!("tok_{i}_secret")),
                    ..Default::default()
                }
                .insert(db),
            )
            .await?;
    }
    for n in 0..40i64 {
        let customer_id = i32::try_from(n % 5).unwrap_or(0) + 1;
        let placed = audit_core::with_actor(
            names[usize::try_from(n % 5).unwrap_or(0)],
            order::ActiveModel {
                customer_id: Set(customer_id),
                status: Set("placed".into()),
                total_cents: Set(1_000 + n * 250),
                note: Set(None),
                ..Default::default()
            }
            .insert(db),
        )
        .await?;
        let mut packed: order::ActiveModel = placed.into();
        packed.status = Set("packed".into());
        let packed = AuditContext::new()
            .actor("warehouse-job")
            .reason("nightly packing run")
            .scope(packed.update(db))
            .await?;
        if n % 3 == 0 {
            let mut fixed: order::ActiveModel = packed.into();
            fixed.total_cents = Set(900 + n * 250);
            fixed.note = Set(Some(format!("Refunded 1.00 after call #{}", 7000 + n)));
            AuditContext::new()
                .actor("support:maria")
                .ip("10.1.2.3")
                .reason("price match")
                .scope(fixed.update(db))
                .await?;
        } else if n % 7 == 1 {
            let duplicate: order::ActiveModel = packed.into();
            AuditContext::new()
                .actor("support:li")
                .reason("duplicate order")
                .scope(duplicate.delete(db))
                .await?;
        }
    }
    let gold = customer::Entity::find_by_id(2)
        .one(db)
        .await?
        .ok_or(DbErr::RecordNotFound("customer 2".into()))?;
    let mut upgraded: customer::ActiveModel = gold.into();
    upgraded.tier = Set("gold".into());
    upgraded.card_token = Set("tok_new_secret".into());
    audit_core::with_actor("support:maria", upgraded.update(db)).await?;
    Ok(())
}
