//! Viewer page times at scale (issue 17): seeds `--rows` audit rows (default 10,000,000)
//! on PostgreSQL, then requests every kind of page through the viewer's router,
//! interleaved, `--samples` times each (default 200), with random filters, cursors and
//! records, and prints each kind's p50 / p95 / max in ms and its SQL statements per page
//! (counted by the query logger). JSON lines on standard output, notes on standard error.
//!
//! `AUDIT_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo run --release
//! --example bench_viewer -- [--rows N] [--samples N] [--reseed]`. The trail lives in the
//! schema `bench_viewer`, kept between runs (seeding 10M rows takes minutes): it is seeded
//! again only when it holds another number of rows, or with `--reseed`.
//!
//! The trail: 20 tables of 10,000 records each, 4 columns per write, 500 actors, one
//! write every 12 s over a year (so ~12 versions per record), changeset ids real UUIDv7s
//! of their rows' millisecond, as the runtime writes them; column `c0` is a status
//! (`open`, `pending`, `closed`, spread evenly), the others numbers.

use std::time::{Duration, Instant};

use audit_core::query_log::QueryLogger;
use audit_core::viewer::{Access, Viewer};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;
use tower::ServiceExt;

type Error = Box<dyn std::error::Error>;

const SCHEMA: &str = "bench_viewer";
/// Bumped when the seeded data changes, so an older seed is not reused.
const SEED_VERSION: i64 = 2;
const TABLES: u64 = 20;
const RECORDS: u64 = 10_000;
const ACTORS: u64 = 500;

struct Args {
    rows: u64,
    samples: usize,
    reseed: bool,
}

fn args() -> Result<Args, Error> {
    let mut args = Args {
        rows: 10_000_000,
        samples: 200,
        reseed: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--rows" => args.rows = it.next().ok_or("--rows N")?.parse()?,
            "--samples" => args.samples = it.next().ok_or("--samples N")?.parse()?,
            "--reseed" => args.reseed = true,
            other => return Err(format!("unknown flag `{other}`").into()),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args()?;
    let Ok(url) = std::env::var("AUDIT_POSTGRES_URL") else {
        eprintln!("bench_viewer: set AUDIT_POSTGRES_URL (it runs on PostgreSQL)");
        return Ok(());
    };
    let admin = Database::connect(&url).await?;
    admin
        .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        .await?;
    admin.close().await?;
    let mut options = ConnectOptions::new(&url);
    options
        .set_schema_search_path(SCHEMA)
        .max_connections(4)
        .sqlx_logging(false);
    let mut db = Database::connect(options).await?;
    seed(&db, args.rows, args.reseed).await?;

    let logger = QueryLogger::attach(&mut db);
    let router = Viewer::new(db.clone(), |_: &axum::http::request::Parts| {
        Some(Access::all("bench"))
    })
    .router();
    let max_id = scalar(&db, "SELECT MAX(id) FROM audit_log").await?;
    let mut kinds: Vec<Kind> = KINDS
        .iter()
        .map(|name| Kind {
            name,
            times: Vec::new(),
            statements: 0,
        })
        .collect();
    let mut rng = fastrand::Rng::with_seed(17);
    for _ in 0..args.samples {
        for kind in &mut kinds {
            let path = path_of(kind.name, &mut rng, &db, max_id).await?;
            let before = logger.counters().total().statements;
            let started = Instant::now();
            let response = router
                .clone()
                .oneshot(Request::get(&path).body(Body::empty())?)
                .await?;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 64 << 20).await?;
            kind.times.push(started.elapsed());
            let statements = logger.counters().total().statements - before;
            kind.statements = kind.statements.max(statements);
            if status != StatusCode::OK {
                return Err(format!("{path}: {status}: {}", String::from_utf8_lossy(&body)).into());
            }
        }
    }
    eprintln!(
        "{:<16} {:>9} {:>9} {:>9} {:>11}",
        "page", "p50 ms", "p95 ms", "max ms", "statements"
    );
    for kind in &mut kinds {
        kind.times.sort();
        let (p50, p95, max) = (
            percentile(&kind.times, 0.50),
            percentile(&kind.times, 0.95),
            percentile(&kind.times, 1.0),
        );
        eprintln!(
            "{:<16} {p50:>9.2} {p95:>9.2} {max:>9.2} {:>11}",
            kind.name, kind.statements
        );
        println!(
            "{}",
            json!({
                "bench": "viewer", "backend": "postgres", "rows": args.rows, "page": kind.name,
                "samples": kind.times.len(), "p50_ms": p50, "p95_ms": p95, "max_ms": max,
                "statements_per_page": kind.statements,
            })
        );
    }
    Ok(())
}

struct Kind {
    name: &'static str,
    times: Vec<Duration>,
    statements: u64,
}

const KINDS: [&str; 11] = [
    "feed",
    "feed_deep",
    "feed_actor",
    "feed_column",
    "feed_where",
    "feed_day",
    "timeline",
    "as_of",
    "compare",
    "changeset",
    "export_page",
];

/// A random page of `kind`.
async fn path_of(
    kind: &str,
    rng: &mut fastrand::Rng,
    db: &DatabaseConnection,
    max_id: i64,
) -> Result<String, Error> {
    let table = rng.u64(0..TABLES);
    let record = rng.u64(0..RECORDS);
    let cursor = rng.i64(1..=max_id);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).ok_or("date")?
        + chrono::Days::new(rng.u64(0..340));
    Ok(match kind {
        "feed" => "/".to_owned(),
        "feed_deep" => format!("/?before={cursor}"),
        "feed_actor" => format!("/?actor=user{}&before={cursor}", rng.u64(0..ACTORS)),
        "feed_column" => format!("/?table=t{table}&column=c{}", rng.u64(0..4)),
        "feed_where" => format!("/?table=t{table}&where=c0%3D%22closed%22&before={cursor}"),
        "feed_day" => format!("/?since={day}&until={}", day + chrono::Days::new(1)),
        "timeline" => format!("/record?table=t{table}&key={record}"),
        "as_of" => format!("/record/as-of?table=t{table}&key={record}&at={day}"),
        "compare" => format!("/record/compare?table=t{table}&key={record}"),
        "changeset" => {
            let sql = format!("SELECT changeset_id FROM audit_log WHERE id = {cursor}");
            let row = db
                .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                .await?
                .ok_or("no row")?;
            format!(
                "/changeset?id={}",
                row.try_get::<String>("", "changeset_id")?
            )
        }
        "export_page" => format!("/?actor=user{}&size=500", rng.u64(0..ACTORS)),
        other => return Err(format!("no page kind {other}").into()),
    })
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> Result<i64, Error> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or("no row")?;
    Ok(row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0))
}

/// The trail of `rows` rows, seeded in batches of a million by `INSERT … SELECT`.
async fn seed(db: &DatabaseConnection, rows: u64, reseed: bool) -> Result<(), Error> {
    audit_core::create_audit_table(db).await?;
    db.execute_unprepared("CREATE TABLE IF NOT EXISTS bench_seed (version BIGINT NOT NULL)")
        .await?;
    let have = scalar(db, "SELECT COUNT(*) FROM audit_log").await?;
    let version = scalar(db, "SELECT MAX(version) FROM bench_seed").await?;
    if !reseed && u64::try_from(have)? == rows && version == SEED_VERSION {
        eprintln!("bench_viewer: reusing {have} rows in schema {SCHEMA}");
        return Ok(());
    }
    db.execute_unprepared("TRUNCATE audit_log RESTART IDENTITY")
        .await?;
    let started = Instant::now();
    let batch = 1_000_000u64;
    let mut from = 0u64;
    while from < rows {
        let to = (from + batch).min(rows);
        db.execute_unprepared(&format!(
            "INSERT INTO audit_log (changeset_id, table_name, record_id, operation, column_name, \
             old_value, new_value, actor, changed_at, context)
             SELECT
               substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || lpad(to_hex((w % 4096)::int), 3, '0')
                 || '-8' || lpad(to_hex(((w / 4096) % 4096)::int), 3, '0') || '-' || lpad(to_hex(w), 12, '0'),
               't' || (w % {TABLES}),
               ((w / {TABLES}) % {RECORDS})::text,
               CASE WHEN w < {TABLES} * {RECORDS} THEN 'insert' ELSE 'update' END,
               'c' || (g % 4),
               CASE WHEN w < {TABLES} * {RECORDS} THEN NULL
                    WHEN g % 4 = 0 THEN to_jsonb((ARRAY['open', 'pending', 'closed'])[1 + (w * 7 + w / 13 + 2) % 3])
                    ELSE to_jsonb((w - 1) % 100000) END,
               CASE WHEN g % 4 = 0 THEN to_jsonb((ARRAY['open', 'pending', 'closed'])[1 + (w * 7 + w / 13) % 3])
                    ELSE to_jsonb(w % 100000) END,
               'user' || (w % {ACTORS}),
               at,
               jsonb_build_object('request_id', 'req-' || w)
             FROM (
               SELECT g, w, at, lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') AS h
               FROM (
                 SELECT g, g / 4 AS w,
                        timestamptz '2026-01-01 00:00:00+00' + (g / 4) * interval '12 seconds'
                          + ((g / 4) % 1000) * interval '1 millisecond' AS at
                 FROM generate_series({from}::bigint, {last}::bigint) AS g
               ) s
             ) t
             ORDER BY g",
            last = to - 1,
        ))
        .await?;
        eprintln!(
            "bench_viewer: seeded {to} rows ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
        from = to;
    }
    db.execute_unprepared("ANALYZE audit_log").await?;
    db.execute_unprepared(&format!(
        "DELETE FROM bench_seed; INSERT INTO bench_seed VALUES ({SEED_VERSION})"
    ))
    .await?;
    Ok(())
}
