//! The cost of the query logger on BENCH.md's W2 (load one `account` row by id, change
//! `balance` and `note`, save; own transaction), audited in every mode:
//!
//! - `off`: no logger;
//! - `logger`: `QueryLogger::attach` with the default options, no subscriber listening;
//! - `logger+fmt`: the same, with a `tracing_subscriber::fmt` subscriber at DEBUG writing
//!   every event to a sink (so events are built and formatted);
//! - `logger+access`: default options plus the access log recording every read of `account`.
//!
//! Modes run interleaved in slices on fresh rows; each mode's time is the sum of its slices,
//! and `median_ratio` is the median over slices of the mode's time over `off`'s time in
//! the same round (robust to a shared machine's drift).
//! `cargo run --release --example query_log_overhead -- [sqlite|postgres|mysql] [N]`

use std::time::{Duration, Instant};

use audit_core::query_log::{AccessLog, QueryLogger};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, DatabaseConnection, Schema, TransactionTrait};
use seaorm_audit::{Backend, FreshDb};

use seaorm_audit::bench_account as account;

const MODES: [&str; 4] = ["off", "logger", "logger+fmt", "logger+access"];
const SLICES: usize = 40;

/// One W2 operation on row `id`.
async fn update_one(db: &DatabaseConnection, id: i32) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let model = account::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DbErr::RecordNotFound(format!("account {id}")))?;
    let balance = model.balance + 1;
    let mut am: account::ActiveModel = model.into();
    am.balance = Set(balance);
    am.note = Set(Some(format!("updated {balance}")));
    am.update(&txn).await?;
    txn.commit().await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let backend = match args.next().as_deref() {
        Some("postgres") => Backend::Postgres,
        Some("mysql") => Backend::MySql,
        _ => Backend::Sqlite,
    };
    let n: usize = args.next().map_or(Ok(5000), |a| a.parse())?;
    let Some(fresh) = FreshDb::connect(backend, 1).await? else {
        return Ok(());
    };
    let base = fresh.db.clone();
    let schema = Schema::new(base.get_database_backend());
    base.execute(&schema.create_table_from_entity(account::Entity))
        .await?;
    audit_core::create_audit_table(&base).await?;
    let access = AccessLog::new().sensitive::<account::Entity>();
    access.create_table(&base).await?;

    let total = i32::try_from(n * MODES.len())?;
    for chunk in (1..=total).collect::<Vec<_>>().chunks(500) {
        account::Entity::insert_many(chunk.iter().map(|&i| account::row(i64::from(i))))
            .exec(&base)
            .await?;
    }

    let mut logged = base.clone();
    QueryLogger::attach(&mut logged);
    let mut fmt_logged = base.clone();
    QueryLogger::attach(&mut fmt_logged);
    let mut access_logged = base.clone();
    let access_logger = QueryLogger::builder()
        .access_log(access)
        .attach(&mut access_logged)?;

    let per_slice = n / SLICES;
    let mut secs = [Duration::ZERO; MODES.len()];
    let mut ratios: [Vec<f64>; MODES.len()] = Default::default();
    let mut next_id = [0i32; MODES.len()];
    for slice in 0..SLICES {
        let mut round = [Duration::ZERO; MODES.len()];
        for step in 0..MODES.len() {
            // Rotate the order so no mode always runs first.
            let mode = (slice + step) % MODES.len();
            let db = [&base, &logged, &fmt_logged, &access_logged][mode];
            let _guard = (mode == 2).then(|| {
                let sink = tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::DEBUG)
                    .with_writer(std::io::sink)
                    .finish();
                tracing::subscriber::set_default(sink)
            });
            let start = Instant::now();
            for _ in 0..per_slice {
                let id = i32::try_from(mode * n)? + next_id[mode] + 1;
                next_id[mode] += 1;
                update_one(db, id).await?;
            }
            round[mode] = start.elapsed();
            secs[mode] += round[mode];
        }
        for (mode, time) in round.iter().enumerate() {
            ratios[mode].push(time.as_secs_f64() / round[0].as_secs_f64());
        }
    }
    access_logger.flush_access_log().await;

    let ops = per_slice * SLICES;
    let off = secs[0].as_secs_f64();
    for (mode, (secs, ratios)) in MODES.iter().zip(secs.iter().zip(&mut ratios)) {
        ratios.sort_by(f64::total_cmp);
        println!(
            r#"{{"impl":"audit-core","backend":"{backend:?}","workload":"W2","mode":"audited/{mode}","n":{ops},"secs":{:.3},"ops_per_sec":{:.1},"overhead":{:.3},"median_ratio":{:.3}}}"#,
            secs.as_secs_f64(),
            ops as f64 / secs.as_secs_f64(),
            secs.as_secs_f64() / off,
            ratios[ratios.len() / 2]
        );
    }
    eprintln!("access log: {:?}", access_logger.access_log_stats());
    fresh.cleanup().await?;
    Ok(())
}
