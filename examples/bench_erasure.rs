//! Erasure benchmark (BENCH.md JSON lines on standard output, notes on standard error):
//!
//! - `W2` (update each: load a row by id, change `balance` and `note`, save) on a table
//!   whose two changed columns are `#[audit(personal)]` (mode `personal`) and on the same
//!   table without (mode `plain`), interleaved in 10 slices (`--writes` per mode, default
//!   2,000).
//! - `E1` `erase_subject` of a subject with 10 audit rows and of one with `--rows`
//!   (default 1,000,000): milliseconds each.
//! - `E2` history reads of a record (20 versions) with the two personal columns and of
//!   the same record without, interleaved (`--reads` per mode, default 1,000): p50, p99.
//!
//! Runs on SQLite, and on PostgreSQL when `AUDIT_POSTGRES_URL` is set:
//! `cargo run --release --example bench_erasure -- [--writes N] [--rows N] [--reads N]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_core::erasure::{self, LocalKek};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Schema,
};
use seaorm_audit::{Backend, FreshDb};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

/// The benchmark's account with `balance` and `note` personal (its own subject).
mod personal {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "personal")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub owner: String,
        #[audit(personal)]
        pub balance: i64,
        #[audit(personal)]
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// The same table, nothing personal.
mod plain {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "plain")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub owner: String,
        pub balance: i64,
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

struct Args {
    writes: i32,
    rows: u64,
    reads: usize,
}

fn args() -> Args {
    let mut args = Args {
        writes: 2_000,
        rows: 1_000_000,
        reads: 1_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        match flag.as_str() {
            "--writes" => args.writes = value.max(10) as i32,
            "--rows" => args.rows = value.max(10),
            "--reads" => args.reads = value.max(10) as usize,
            other => eprintln!("unknown flag {other}"),
        }
    }
    args
}

fn name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::MySql => "mysql",
    }
}

fn line(backend: Backend, workload: &str, mode: &str, n: u64, secs: f64) -> serde_json::Value {
    json!({
        "impl": "seaorm-audit",
        "backend": name(backend),
        "workload": workload,
        "mode": mode,
        "n": n,
        "secs": (secs * 1e6).round() / 1e6,
        "ops_per_sec": (n as f64 / secs).round(),
    })
}

async fn connect(backend: Backend) -> Result<Option<FreshDb>, Error> {
    let Some(fresh) = FreshDb::connect(backend, 1).await? else {
        return Ok(None);
    };
    let db = &fresh.db;
    if backend == Backend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        db.execute_unprepared("PRAGMA synchronous=NORMAL").await?;
    }
    audit_core::create_audit_table(db).await?;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(personal::Entity))
        .await?;
    db.execute(&schema.create_table_from_entity(plain::Entity))
        .await?;
    Ok(Some(fresh))
}

/// Inserts rows `ids` of both tables (untimed setup).
async fn insert(db: &DatabaseConnection, ids: std::ops::Range<i32>) -> Result<(), Error> {
    for id in ids {
        let note = Some(format!("note {id}"));
        personal::ActiveModel {
            id: Set(id),
            owner: Set(format!("owner {id}")),
            balance: Set(i64::from(id)),
            note: Set(note.clone()),
        }
        .insert(db)
        .await?;
        plain::ActiveModel {
            id: Set(id),
            owner: Set(format!("owner {id}")),
            balance: Set(i64::from(id)),
            note: Set(note),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// W2 on `ids` of one table.
async fn update_each(
    db: &DatabaseConnection,
    personal: bool,
    ids: std::ops::Range<i32>,
    round: i64,
) -> Result<f64, Error> {
    let started = Instant::now();
    for id in ids {
        let balance = i64::from(id) + round;
        let note = Some(format!("updated {id} in {round}"));
        if personal {
            let mut am: personal::ActiveModel = personal::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or("row")?
                .into();
            am.balance = Set(balance);
            am.note = Set(note);
            am.update(db).await?;
        } else {
            let mut am: plain::ActiveModel = plain::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or("row")?
                .into();
            am.balance = Set(balance);
            am.note = Set(note);
            am.update(db).await?;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn write_overhead(
    backend: Backend,
    db: &DatabaseConnection,
    args: &Args,
) -> Result<(), Error> {
    let slices = 10;
    let per = args.writes / slices;
    let mut secs = [0.0f64; 2]; // [plain, personal]
    for slice in 0..slices {
        let ids = slice * per + 1..(slice + 1) * per + 1;
        insert(db, ids.clone()).await?;
        let order = if slice % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for personal in order {
            secs[personal as usize] += update_each(db, personal, ids.clone(), 1).await?;
        }
    }
    let n = (per * slices) as u64;
    println!("{}", line(backend, "W2", "plain", n, secs[0]));
    println!("{}", line(backend, "W2", "personal", n, secs[1]));
    eprintln!(
        "{} W2: personal/plain = {:.3} ({:+.1} µs per op)",
        name(backend),
        secs[1] / secs[0],
        (secs[1] - secs[0]) / n as f64 * 1e6
    );
    Ok(())
}

/// Copies the audit rows of `personal` record `id` until the subject has `rows` of them
/// (one statement), as if its record had been written that often.
async fn grow_subject(db: &DatabaseConnection, id: i32, rows: u64) -> Result<(), Error> {
    let columns = "changeset_id, table_name, record_id, operation, column_name, old_value, \
                   new_value, actor, changed_at, context";
    let series = match db.get_database_backend() {
        DbBackend::Postgres => format!("generate_series(1, {rows}) AS s(i)"),
        _ => format!(
            "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows}) \
             SELECT i FROM s) AS s"
        ),
    };
    let sql = format!(
        "INSERT INTO audit_log ({columns}) SELECT {columns} FROM ( \
           SELECT a.* FROM audit_log a WHERE a.table_name = 'personal' AND a.record_id = '{id}' \
             AND a.column_name = 'note' AND a.operation = 'insert') AS one CROSS JOIN {series}"
    );
    db.execute_unprepared(&sql).await?;
    Ok(())
}

async fn erase_cost(backend: Backend, db: &DatabaseConnection, args: &Args) -> Result<(), Error> {
    // Record `small` with 10 personal audit rows (an insert and 4 updates of 2 columns),
    // record `large` grown to `rows`.
    let (small, large) = (1_000_001, 1_000_002);
    insert(db, small..large + 1).await?;
    for round in 1..=4 {
        update_each(db, true, small..small + 1, round).await?;
    }
    let started = Instant::now();
    grow_subject(db, large, args.rows).await?;
    eprintln!(
        "{}: {} audit rows of one subject written in {:.1} s",
        name(backend),
        args.rows,
        started.elapsed().as_secs_f64()
    );
    for (id, rows) in [(small, 10), (large, args.rows)] {
        let started = Instant::now();
        let had_key = erasure::erase_subject(db, "personal", id).await?;
        let secs = started.elapsed().as_secs_f64();
        assert!(had_key, "the subject had a key");
        let mut e1 = line(backend, "E1", "audited", 1, secs);
        e1["subject_rows"] = json!(rows);
        e1["ms"] = json!((secs * 1e4).round() / 10.0);
        println!("{e1}");
    }
    Ok(())
}

/// `reads` history reads of a record with 20 versions, p50 and p99 in µs, per mode.
async fn history_reads(
    backend: Backend,
    db: &DatabaseConnection,
    args: &Args,
) -> Result<(), Error> {
    let id = 2_000_000;
    insert(db, id..id + 1).await?;
    for round in 1..20 {
        update_each(db, true, id..id + 1, round).await?;
        update_each(db, false, id..id + 1, round).await?;
    }
    let mut times = [Vec::new(), Vec::new()]; // [plain, personal]
    for read in 0..args.reads {
        let order = if read % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for personal in order {
            let started = Instant::now();
            let entries = if personal {
                audit_core::history::<personal::Entity>(id)
                    .fetch(db)
                    .await?
            } else {
                audit_core::history::<plain::Entity>(id).fetch(db).await?
            };
            times[personal as usize].push(started.elapsed());
            assert_eq!(
                entries.len(),
                4 + 19 * 2,
                "an insert of 4 columns, 19 updates of 2"
            );
        }
    }
    let mut p50 = [0.0; 2];
    for (mode, times) in ["plain", "personal"].iter().zip(&mut times) {
        times.sort();
        let total: Duration = times.iter().sum();
        let mut e2 = line(backend, "E2", mode, times.len() as u64, total.as_secs_f64());
        e2["p50_us"] = json!(times[times.len() / 2].as_micros() as u64);
        e2["p99_us"] = json!(times[times.len() * 99 / 100].as_micros() as u64);
        p50[(*mode == "personal") as usize] = times[times.len() / 2].as_secs_f64();
        println!("{e2}");
    }
    eprintln!(
        "{} E2: personal/plain p50 = {:.3}",
        name(backend),
        p50[1] / p50[0]
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args();
    erasure::set_key_encryption_key(Some(Arc::new(LocalKek::new([9; 32]))));
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(fresh) = connect(backend).await? else {
            eprintln!("{}: skipped (no URL)", name(backend));
            continue;
        };
        write_overhead(backend, &fresh.db, &args).await?;
        history_reads(backend, &fresh.db, &args).await?;
        erase_cost(backend, &fresh.db, &args).await?;
        fresh.cleanup().await?;
    }
    Ok(())
}
