//! Integrity benchmark (BENCH.md JSON lines on standard output, notes on standard error):
//!
//! - `S1` sealing: audit rows sealed per second (`--rows`, default 1,000,000).
//! - `V1` verify of that trail from its last digest: rows per second and the peak
//!   resident memory during the verify (`peak_rss_mib`), in this process (mode `audited`,
//!   after writing and sealing the trail) and in a process of its own, as a verify job
//!   runs (mode `own_process`: this program again, with `--verify-child`; on SQLite its
//!   connection reads rows 8,192 at a time, `row_buffer_size`, instead of sqlx's 50).
//! - `V2` inclusion proofs at that size: build and check (`--proofs`, default 1,000), p50
//!   and p99 in µs, and the largest proof's bytes against `32 × ⌈log₂ n⌉`.
//! - `W1`/`W2` with integrity on (a background sealer on its own connection, default
//!   interval) and off, interleaved in 10 slices (`--writes` per mode, default 2,000).
//!
//! Runs on SQLite, and on PostgreSQL when `AUDIT_POSTGRES_URL` is set:
//! `cargo run --release --example bench_integrity -- [--rows N] [--proofs N] [--writes N]`.

use std::time::{Duration, Instant};

use audit_core::integrity::{self, Sealer, SignedDigest, SigningKey};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, Schema};
use seaorm_audit::bench_account::{self as account, row};
use seaorm_audit::{Backend, FreshDb};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

struct Args {
    rows: u64,
    proofs: usize,
    writes: i64,
}

fn args() -> Args {
    let mut args = Args {
        rows: 1_000_000,
        proofs: 1_000,
        writes: 2_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        match flag.as_str() {
            "--rows" => args.rows = value.max(1),
            "--proofs" => args.proofs = value.max(1) as usize,
            "--writes" => args.writes = value.max(10) as i64,
            other => eprintln!("unknown flag {other}"),
        }
    }
    args
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
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

/// Peak resident memory (MiB) since the last [`reset_peak_rss`].
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn connect(backend: Backend, pool: u32) -> Result<Option<FreshDb>, Error> {
    let Some(fresh) = FreshDb::connect(backend, pool).await? else {
        return Ok(None);
    };
    if backend == Backend::Sqlite {
        fresh
            .db
            .execute_unprepared("PRAGMA journal_mode=WAL")
            .await?;
        fresh
            .db
            .execute_unprepared("PRAGMA synchronous=NORMAL")
            .await?;
    }
    audit_core::create_audit_table(&fresh.db).await?;
    integrity::install(&fresh.db).await?;
    Ok(Some(fresh))
}

/// Fills the audit table with `n` rows in one statement (4 rows per changeset).
async fn fill(db: &impl ConnectionTrait, n: u64) -> Result<(), Error> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "INSERT INTO audit_log (changeset_id, table_name, record_id, operation, column_name, \
             old_value, new_value, actor, changed_at, context) \
             SELECT 'cs-' || (i / 4), 'account', (i / 4)::text, 'update', 'c' || (i % 4), \
             jsonb_build_object('v', i), jsonb_build_object('v', i + 1), 'bench', \
             now(), NULL FROM generate_series(1, {n}) AS i"
        ),
        _ => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
             INSERT INTO audit_log (changeset_id, table_name, record_id, operation, column_name, \
             old_value, new_value, actor, changed_at, context) \
             SELECT 'cs-' || (i / 4), 'account', CAST(i / 4 AS TEXT), 'update', 'c' || (i % 4), \
             '{{\"v\":' || i || '}}', '{{\"v\":' || (i + 1) || '}}', 'bench', \
             '2026-01-01T00:00:00.000000Z', NULL FROM s"
        ),
    };
    db.execute_unprepared(&sql).await?;
    Ok(())
}

async fn trail_workloads(backend: Backend, args: &Args) -> Result<(), Error> {
    let Some(fresh) = connect(backend, 2).await? else {
        return Ok(());
    };
    let db = &fresh.db;
    let vk = key().verifying_key();
    let started = Instant::now();
    fill(db, args.rows).await?;
    eprintln!(
        "{}: filled {} rows in {:.1} s",
        name(backend),
        args.rows,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let digests: Vec<SignedDigest> = Sealer::new(key()).seal(db).await?;
    let secs = started.elapsed().as_secs_f64();
    println!("{}", line(backend, "S1", "audited", args.rows, secs));
    let last = digests.last().ok_or("no digest")?.clone();

    reset_peak_rss();
    let started = Instant::now();
    let verified = integrity::verify(db, &vk, std::slice::from_ref(&last)).await?;
    let secs = started.elapsed().as_secs_f64();
    let mut v1 = line(backend, "V1", "audited", verified.rows, secs);
    v1["rows_per_sec"] = v1["ops_per_sec"].clone();
    v1["peak_rss_mib"] = json!((peak_rss_mib() * 10.0).round() / 10.0);
    println!("{v1}");
    verify_in_own_process(backend, &fresh, &last)?;

    let n = last.digest.tree_size;
    let mut times = Vec::with_capacity(args.proofs);
    let mut largest = 0;
    let step = (args.rows / args.proofs as u64).max(1) as i64;
    for k in 0..args.proofs as i64 {
        let id = 1 + (k * step) % args.rows as i64;
        let started = Instant::now();
        let row = integrity::sealed_row(db, id).await?.ok_or("row")?;
        let proof = integrity::prove_row(db, id, &last.digest).await?;
        integrity::verify_row(&row, &proof, &last, &vk)?;
        times.push(started.elapsed());
        largest = largest.max(32 * proof.hashes.len());
    }
    times.sort();
    let total: Duration = times.iter().sum();
    let mut v2 = line(
        backend,
        "V2",
        "audited",
        args.proofs as u64,
        total.as_secs_f64(),
    );
    v2["p50_us"] = json!(times[times.len() / 2].as_micros() as u64);
    v2["p99_us"] = json!(times[times.len() * 99 / 100].as_micros() as u64);
    v2["proof_bytes"] = json!(largest);
    v2["bound_bytes"] = json!(32 * (n as f64).log2().ceil() as u64);
    println!("{v2}");
    Ok(())
}

/// W1 (insert each) and W2 (update each) with the sealer off and on, interleaved.
async fn write_overhead(backend: Backend, args: &Args) -> Result<(), Error> {
    // Writes run one at a time; the pool's second connection is the sealer's.
    let Some(fresh) = connect(backend, 2).await? else {
        return Ok(());
    };
    let db = &fresh.db;
    db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(account::Entity))
        .await?;
    let slices = 10;
    let per = args.writes / slices;
    let mut secs = [[0.0f64; 2]; 2]; // [workload][off, on]
    let mut next = 0i64;
    for slice in 0..slices {
        for on in if slice % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        } {
            let task = on.then(|| Sealer::new(key()).spawn(db.clone()));
            let started = Instant::now();
            let mut ids = Vec::with_capacity(per as usize);
            for _ in 0..per {
                next += 1;
                ids.push(row(next).insert(db).await?.id);
            }
            secs[0][on as usize] += started.elapsed().as_secs_f64();
            let started = Instant::now();
            for id in ids {
                let model = account::Entity::find_by_id(id)
                    .one(db)
                    .await?
                    .ok_or("row")?;
                let mut model: account::ActiveModel = model.into();
                model.balance = Set(id as i64 + 1);
                model.note = Set(Some(format!("updated {id}")));
                model.update(db).await?;
            }
            secs[1][on as usize] += started.elapsed().as_secs_f64();
            if let Some(task) = task {
                task.stop().await?;
            }
        }
    }
    for (w, workload) in ["W1", "W2"].iter().enumerate() {
        for (m, mode) in ["integrity_off", "integrity_on"].iter().enumerate() {
            println!(
                "{}",
                line(backend, workload, mode, (per * slices) as u64, secs[w][m])
            );
        }
        let added_us = (secs[w][1] - secs[w][0]) / (per * slices) as f64 * 1e6;
        eprintln!(
            "{} {workload}: integrity on/off = {:.3} ({added_us:+.1} µs per op)",
            name(backend),
            secs[w][1] / secs[w][0]
        );
    }
    Ok(())
}

/// Runs `V1` again in a process of its own (this program with `--verify-child`), and
/// prints the line it prints.
fn verify_in_own_process(
    backend: Backend,
    fresh: &FreshDb,
    last: &SignedDigest,
) -> Result<(), Error> {
    let digest = std::env::temp_dir().join(format!("bench-digest-{}.json", std::process::id()));
    std::fs::write(&digest, last.to_json())?;
    let output = std::process::Command::new(std::env::current_exe()?)
        .arg("--verify-child")
        .arg(name(backend))
        .arg(fresh.url())
        .arg(fresh.schema().unwrap_or(""))
        .arg(&digest)
        .output()?;
    let _ = std::fs::remove_file(&digest);
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned().into());
    }
    print!("{}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}

/// The child of [`verify_in_own_process`]: `--verify-child <backend> <url> <schema> <digest
/// file>`.
async fn verify_child(args: &[String]) -> Result<(), Error> {
    let [backend, url, schema, digest] = args else {
        return Err("--verify-child <backend> <url> <schema> <digest file>".into());
    };
    let backend = match backend.as_str() {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        _ => Backend::MySql,
    };
    let mut options = sea_orm::ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    if !schema.is_empty() {
        options.set_schema_search_path(schema);
    }
    options.map_sqlx_sqlite_opts(|o| o.row_buffer_size(8_192));
    let db = sea_orm::Database::connect(options).await?;
    let last = SignedDigest::from_json(&std::fs::read_to_string(digest)?)?;
    let started = Instant::now();
    let verified =
        integrity::verify(&db, &key().verifying_key(), std::slice::from_ref(&last)).await?;
    let secs = started.elapsed().as_secs_f64();
    let mut v1 = line(backend, "V1", "own_process", verified.rows, secs);
    v1["rows_per_sec"] = v1["ops_per_sec"].clone();
    v1["peak_rss_mib"] = json!((peak_rss_mib() * 10.0).round() / 10.0);
    println!("{v1}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--verify-child") {
        return verify_child(&argv[2..]).await;
    }
    let args = args();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        trail_workloads(backend, &args).await?;
        write_overhead(backend, &args).await?;
    }
    Ok(())
}
