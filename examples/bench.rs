//! The benchmark of `BENCH.md`: workloads W1–W6 on an audited `account` table, `plain`
//! against `audited`, one JSON line per workload and mode on standard output.
//!
//! ```text
//! cargo run --release --example bench -- --n 5000                   # SQLite (temp file)
//! cargo run --release --example bench -- --n 5000 --url postgres://postgres@127.0.0.1:5432/test
//! cargo run --release --example bench -- --n 5000 --url mysql://root@127.0.0.1:3306/test
//! ```
//!
//! Options: `--n` operations per workload and mode (5000), `--url` a PostgreSQL or
//! MySQL/MariaDB server (a fresh schema or database is made and dropped), `--slices`
//! timing slices per mode (20), `--reads` history reads of W5/W6 (1000), `--history-rows`
//! audit rows W6 needs (1,000,000), `--bulk-rows` rows of the bulk `update_many`
//! measurement (10,000; 0 skips it); for profiling, `--slow-ms` prints statements slower
//! than that and `--only W1,W4,B1` runs only those parts (W5 and W6 go together);
//! `--capture hooks|database` chooses who writes the trail (default `hooks`, the library's
//! default): under `database` the triggers of `audit_core::db_capture` write it (installed
//! for audited slices, removed for plain ones, untimed), the hooks are off in both modes,
//! and every audited transaction hands its scope (an actor) to the database first.
//!
//! Both modes run the same code: the same entity, hooks and statements for the change, and
//! every transaction an `audit_core::transaction` (audit rows buffered and written at
//! commit; on SQLite an update's old-row read rides with its `UPDATE`); `plain` only
//! switches auditing off with `audit_core::set_enabled(false)`. The modes
//! alternate in slices (plain, audited, audited, plain, ...), each on fresh rows, and each
//! mode's secs is the sum of its slices. W3 runs each slice's operations in one
//! transaction. W5/W6 read through the public history API (`audit_core::history`).
//! Everything but the JSON lines (versions, setup, ratios, µs per operation, the bulk
//! measurement) goes to standard error.

use std::time::{Duration, Instant};

use audit_core::bulk;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseConnection, DbBackend, ExprTrait, Statement, TransactionTrait};
use seaorm_audit::{Backend, FreshDb};
use serde_json::json;

const IMPL: &str = "seaorm-audit";

use seaorm_audit::bench_account as account;

type Error = Box<dyn std::error::Error>;

struct Args {
    n: usize,
    url: Option<String>,
    slices: usize,
    reads: usize,
    history_rows: u64,
    bulk_rows: usize,
    slow_ms: Option<u64>,
    only: Option<String>,
    capture: Capture,
}

/// Who writes the trail in audited mode.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Capture {
    Hooks,
    Database,
}

impl Args {
    fn parse() -> Result<Args, Error> {
        let mut args = Args {
            n: 5000,
            url: None,
            slices: 20,
            reads: 1000,
            history_rows: 1_000_000,
            bulk_rows: 10_000,
            slow_ms: None,
            only: None,
            capture: Capture::Hooks,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("`{flag}` needs a value"));
            match flag.as_str() {
                "--n" => args.n = value()?.parse()?,
                "--url" => args.url = Some(value()?),
                "--slices" => args.slices = value()?.parse()?,
                "--reads" => args.reads = value()?.parse()?,
                "--history-rows" => args.history_rows = value()?.parse()?,
                "--bulk-rows" => args.bulk_rows = value()?.parse()?,
                "--slow-ms" => args.slow_ms = Some(value()?.parse()?),
                "--only" => args.only = Some(value()?),
                "--capture" => {
                    args.capture = match value()?.as_str() {
                        "hooks" => Capture::Hooks,
                        "database" => Capture::Database,
                        other => {
                            return Err(
                                format!("`--capture {other}`: expected hooks or database").into()
                            );
                        }
                    }
                }
                other => {
                    return Err(format!("unknown option `{other}` (see the example's docs)").into());
                }
            }
        }
        if args.n == 0 || args.slices == 0 || args.reads == 0 {
            return Err("`--n`, `--slices` and `--reads` must be at least 1".into());
        }
        args.slices = args.slices.min(args.n);
        Ok(args)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Audited,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Audited => "audited",
        }
    }

    /// The slice order: plain, audited, audited, plain, ...
    fn order(slice: usize) -> [Mode; 2] {
        if slice.is_multiple_of(2) {
            [Mode::Plain, Mode::Audited]
        } else {
            [Mode::Audited, Mode::Plain]
        }
    }
}

struct Bench {
    db: DatabaseConnection,
    backend: Backend,
    args: Args,
    next_row: i64,
    /// Records written in audited mode: the W5/W6 reads pick from these.
    audited_ids: Vec<i32>,
    /// Whether the capture triggers are installed (`--capture database`).
    installed: bool,
}

/// One workload's result in one mode.
struct Timing {
    secs: f64,
    n: usize,
}

impl Bench {
    fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    fn capture_name(&self) -> &'static str {
        match self.args.capture {
            Capture::Hooks => "hooks",
            Capture::Database => "database",
        }
    }

    /// Switches capture for `mode` (untimed): the hooks' on/off switch, or the triggers
    /// installed or removed.
    async fn set_mode(&mut self, mode: Mode) -> Result<(), Error> {
        let audited = mode == Mode::Audited;
        audit_core::set_enabled(audited && self.args.capture == Capture::Hooks);
        let want = audited && self.args.capture == Capture::Database;
        // One entity switches between the modes at run time: its triggers go in beside its
        // hooks, which are switched off meanwhile (an application marks the model
        // `#[audit(capture = "database")]` instead), and the scope is handed by hand.
        let capture = || audit_core::db_capture::Capture::beside_hooks::<account::Entity>();
        if want && !self.installed {
            audit_core::db_capture::install_all(&self.db, &[capture()?]).await?;
        } else if !want && self.installed {
            audit_core::db_capture::uninstall_all(&self.db, &[capture()?]).await?;
        }
        self.installed = want;
        Ok(())
    }

    /// Whether audited transactions hand their scope to the database.
    fn scoped(&self, mode: Mode) -> bool {
        mode == Mode::Audited && self.args.capture == Capture::Database
    }

    fn slice_ops(&self, slice: usize) -> usize {
        let (n, s) = (self.args.n, self.args.slices);
        n / s + usize::from(slice < n % s)
    }

    fn fresh_rows(&mut self, count: usize) -> Vec<account::ActiveModel> {
        let rows = (self.next_row..self.next_row + count as i64)
            .map(account::row)
            .collect();
        self.next_row += count as i64;
        rows
    }

    /// Untimed setup: `count` fresh rows, inserted in bulk (audited in audited mode, so
    /// their history starts with the insert).
    async fn seed(&mut self, count: usize, mode: Mode) -> Result<Vec<i32>, Error> {
        let rows = self.fresh_rows(count);
        self.set_mode(mode).await?;
        let created = bulk::insert_many(rows)
            .exec_with_returning(&self.db)
            .await?;
        Ok(created.into_iter().map(|m| m.id).collect())
    }

    /// Runs `workload` over every slice in both modes; prints one line per mode.
    async fn run(
        &mut self,
        id: &str,
        name: &str,
        workload: Workload,
    ) -> Result<[Timing; 2], Error> {
        let mut secs = [Duration::ZERO; 2];
        for slice in 0..self.args.slices {
            let ops = self.slice_ops(slice);
            for mode in Mode::order(slice) {
                let ids = match workload {
                    Workload::InsertEach => Vec::new(),
                    _ => self.seed(ops, mode).await?,
                };
                let rows = match workload {
                    Workload::InsertEach => self.fresh_rows(ops),
                    _ => Vec::new(),
                };
                self.set_mode(mode).await?;
                let scoped = self.scoped(mode);
                let start = Instant::now();
                let touched = workload.run(&self.db, rows, &ids, scoped).await?;
                secs[mode as usize] += start.elapsed();
                if mode == Mode::Audited {
                    self.audited_ids.extend(touched);
                }
            }
        }
        audit_core::set_enabled(true);
        let timings = secs.map(|d| Timing {
            secs: d.as_secs_f64(),
            n: self.args.n,
        });
        for mode in [Mode::Plain, Mode::Audited] {
            self.print(id, mode, &timings[mode as usize], None);
        }
        eprintln!("{id} {name}: {}", overhead(&timings));
        Ok(timings)
    }

    fn print(&self, id: &str, mode: Mode, timing: &Timing, latency: Option<(f64, f64)>) {
        let mut line = json!({
            "impl": IMPL,
            "backend": self.backend_name(),
            "workload": id,
            "mode": mode.as_str(),
            "capture": self.capture_name(),
            "n": timing.n,
            "secs": round(timing.secs, 6),
            "ops_per_sec": round(timing.n as f64 / timing.secs, 1),
        });
        if let Some((p50, p99)) = latency {
            line["p50_us"] = json!(round(p50, 1));
            line["p99_us"] = json!(round(p99, 1));
        }
        println!("{line}");
    }

    /// W5/W6: the full history of `reads` records spread evenly over the audited ones.
    async fn history(&self, id: &str) -> Result<f64, Error> {
        self.analyze().await?;
        let step = (self.audited_ids.len() / self.args.reads).max(1);
        let targets: Vec<i32> = self
            .audited_ids
            .iter()
            .step_by(step)
            .take(self.args.reads)
            .copied()
            .collect();
        let mut micros = Vec::with_capacity(targets.len());
        let mut rows = 0;
        for target in &targets {
            let start = Instant::now();
            let entries = audit_core::history::<account::Entity>(*target)
                .fetch(&self.db)
                .await?;
            micros.push(start.elapsed().as_secs_f64() * 1e6);
            rows += entries.len();
        }
        let total = micros.iter().sum::<f64>() / 1e6;
        micros.sort_by(f64::total_cmp);
        let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
        let (p50, p99) = (at(0.50), at(0.99));
        let timing = Timing {
            secs: total,
            n: targets.len(),
        };
        self.print(id, Mode::Audited, &timing, Some((p50, p99)));
        eprintln!(
            "{id}: {} reads, {:.1} audit rows per history, p50 {p50:.1} µs, p99 {p99:.1} µs, audit table {} rows",
            targets.len(),
            rows as f64 / targets.len() as f64,
            self.audit_rows().await?
        );
        Ok(p50)
    }

    async fn audit_rows(&self) -> Result<i64, Error> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM audit_log",
            ))
            .await?
            .ok_or("COUNT(*) returned no row")?;
        Ok(row.try_get("", "n")?)
    }

    async fn analyze(&self) -> Result<(), Error> {
        let sql = match self.backend {
            Backend::Sqlite => "ANALYZE",
            Backend::Postgres => "ANALYZE audit_log",
            Backend::MySql => "ANALYZE TABLE audit_log",
        };
        self.db.execute_unprepared(sql).await?;
        Ok(())
    }

    /// Untimed: fills `audit_log` up to `--history-rows` with one bulk `INSERT ... SELECT`
    /// of update rows (9 per fake record) for records other than the ones W6 reads.
    async fn seed_history(&self) -> Result<(), Error> {
        let have = self.audit_rows().await?;
        let need = i64::try_from(self.args.history_rows)? - have;
        if need <= 0 {
            return Ok(());
        }
        let start = Instant::now();
        let db = &self.db;
        db.execute_unprepared("CREATE TABLE bench_digits (d INTEGER NOT NULL)")
            .await?;
        db.execute_unprepared(
            "INSERT INTO bench_digits (d) VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)",
        )
        .await?;
        let digits = need.to_string().len();
        let k = (0..digits)
            .map(|i| format!("{}*t{i}.d", 10_i64.pow(i as u32)))
            .collect::<Vec<_>>()
            .join(" + ");
        let from = (0..digits)
            .map(|i| format!("bench_digits t{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let base = self.next_row + 1_000_000;
        let columns = "changeset_id, table_name, record_id, operation, column_name, \
                       old_value, new_value, actor, changed_at, context";
        let select = match self.backend {
            Backend::Sqlite => format!(
                "SELECT 'seed-' || (k / 9), 'account', CAST({base} + k / 9 AS TEXT), 'update', \
                 'balance', '1', '2', 'seed', '2026-01-01T00:00:00.000000Z', NULL"
            ),
            Backend::Postgres => format!(
                "SELECT 'seed-' || (k / 9), 'account', ({base} + k / 9)::text, 'update', \
                 'balance', '1'::jsonb, '2'::jsonb, 'seed', now(), NULL"
            ),
            Backend::MySql => format!(
                "SELECT CONCAT('seed-', k DIV 9), 'account', CAST({base} + k DIV 9 AS CHAR), \
                 'update', 'balance', '1', '2', 'seed', NOW(6), NULL"
            ),
        };
        db.execute_unprepared(&format!(
            "INSERT INTO audit_log ({columns}) {select} FROM (SELECT {k} AS k FROM {from}) seq \
             WHERE k < {need}"
        ))
        .await?;
        db.execute_unprepared("DROP TABLE bench_digits").await?;
        eprintln!(
            "W6 setup: {need} audit rows seeded in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// B1: one statement changing `balance` and `note` of `--bulk-rows` rows, with its
    /// commit, plain against audited, 3 rounds each, alternating: `bulk::update_many`
    /// under hooks capture, SeaORM's own `update_many` (the raw `UPDATE`) under database
    /// capture.
    async fn bulk_update(&mut self) -> Result<(), Error> {
        let rows = self.args.bulk_rows;
        if rows == 0 {
            return Ok(());
        }
        let mut secs = [0.0; 2];
        for round in 0..3 {
            for mode in Mode::order(round) {
                let ids = self.seed(rows, Mode::Plain).await?;
                let (Some(&lo), Some(&hi)) = (ids.iter().min(), ids.iter().max()) else {
                    continue;
                };
                self.set_mode(mode).await?;
                let scoped = self.scoped(mode);
                let start = Instant::now();
                let updated = if self.args.capture == Capture::Hooks {
                    bulk::update_many::<account::Entity>()
                        .col_expr(
                            account::Column::Balance,
                            Expr::col(account::Column::Balance).add(1),
                        )
                        .col_expr(account::Column::Note, Expr::val("bulk"))
                        .filter(account::Column::Id.between(lo, hi))
                        .exec(&self.db)
                        .await?
                } else {
                    let txn = self.db.begin().await?;
                    scope(&txn, scoped).await?;
                    let result = account::Entity::update_many()
                        .col_expr(
                            account::Column::Balance,
                            Expr::col(account::Column::Balance).add(1),
                        )
                        .col_expr(account::Column::Note, Expr::val("bulk"))
                        .filter(account::Column::Id.between(lo, hi))
                        .exec(&txn)
                        .await?;
                    unscope(&txn, scoped).await?;
                    txn.commit().await?;
                    result.rows_affected
                };
                secs[mode as usize] += start.elapsed().as_secs_f64();
                if updated != rows as u64 {
                    return Err(format!("bulk update changed {updated} rows, not {rows}").into());
                }
            }
        }
        self.set_mode(Mode::Audited).await?;
        audit_core::set_enabled(true);
        for mode in [Mode::Plain, Mode::Audited] {
            let line = json!({
                "impl": IMPL,
                "backend": self.backend_name(),
                "workload": "B1",
                "mode": mode.as_str(),
                "capture": self.capture_name(),
                "n": rows,
                "reps": 3,
                "secs": round(secs[mode as usize], 6),
                "ops_per_sec": round(rows as f64 * 3.0 / secs[mode as usize], 1),
            });
            println!("{line}");
        }
        eprintln!(
            "B1 update_many of {rows} rows (x3): plain {:.1} ms, audited {:.1} ms, ratio {:.2}, +{:.2} µs per row",
            secs[0] / 3.0 * 1e3,
            secs[1] / 3.0 * 1e3,
            secs[1] / secs[0],
            (secs[1] - secs[0]) / 3.0 / rows as f64 * 1e6
        );
        Ok(())
    }
}

/// Hands the scope of the transaction to the database (`--capture database`, audited).
async fn scope<C: ConnectionTrait>(txn: &C, on: bool) -> Result<(), DbErr> {
    if on {
        let context = audit_core::AuditContext::new().actor("bench");
        for statement in
            audit_core::db_capture::scope_statements(txn.get_database_backend(), &context)
        {
            txn.execute_raw(statement).await?;
        }
    }
    Ok(())
}

/// Ends it, before the commit.
async fn unscope<C: ConnectionTrait>(txn: &C, on: bool) -> Result<(), DbErr> {
    if on {
        for statement in audit_core::db_capture::clear_scope_statements(txn.get_database_backend())
        {
            txn.execute_raw(statement).await?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Workload {
    InsertEach,
    UpdateEach,
    UpdateBatch,
    DeleteEach,
}

impl Workload {
    /// The timed part of one slice; returns the ids it wrote. Every transaction is an
    /// `audit_core::transaction` (buffered audit rows, one write at commit) in both modes.
    async fn run(
        self,
        db: &DatabaseConnection,
        rows: Vec<account::ActiveModel>,
        ids: &[i32],
        scoped: bool,
    ) -> Result<Vec<i32>, Error> {
        match self {
            Workload::InsertEach => {
                let mut created = Vec::with_capacity(rows.len());
                for row in rows {
                    let model = audit_core::transaction(db, |txn| {
                        Box::pin(async move {
                            scope(txn, scoped).await?;
                            let model = row.insert(txn).await?;
                            unscope(txn, scoped).await?;
                            Ok::<_, DbErr>(model)
                        })
                    })
                    .await?;
                    created.push(model.id);
                }
                return Ok(created);
            }
            Workload::UpdateEach => {
                for &id in ids {
                    audit_core::transaction(db, |txn| {
                        Box::pin(async move {
                            scope(txn, scoped).await?;
                            update_one(txn, id).await?;
                            unscope(txn, scoped).await
                        })
                    })
                    .await?;
                }
            }
            Workload::UpdateBatch => {
                let ids = ids.to_vec();
                audit_core::transaction(db, |txn| {
                    Box::pin(async move {
                        scope(txn, scoped).await?;
                        for id in ids {
                            update_one(txn, id).await?;
                        }
                        unscope(txn, scoped).await
                    })
                })
                .await?;
            }
            Workload::DeleteEach => {
                for &id in ids {
                    audit_core::transaction(db, |txn| {
                        Box::pin(async move {
                            scope(txn, scoped).await?;
                            account::ActiveModel {
                                id: Set(id),
                                ..Default::default()
                            }
                            .delete(txn)
                            .await?;
                            unscope(txn, scoped).await
                        })
                    })
                    .await?;
                }
            }
        }
        Ok(ids.to_vec())
    }
}

/// W2/W3's operation: load by id, change `balance` and `note`, save.
async fn update_one<C: ConnectionTrait>(db: &C, id: i32) -> Result<(), DbErr> {
    let model = account::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("account {id}")))?;
    let balance = model.balance;
    let mut am: account::ActiveModel = model.into();
    am.balance = Set(balance + 1);
    am.note = Set(Some(format!("updated {id} from {balance}")));
    am.update(db).await?;
    Ok(())
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10_f64.powi(digits);
    (x * f).round() / f
}

fn overhead(t: &[Timing; 2]) -> String {
    format!(
        "plain {:.3} s, audited {:.3} s, ratio {:.2}, +{:.1} µs/op",
        t[0].secs,
        t[1].secs,
        t[1].secs / t[0].secs,
        (t[1].secs - t[0].secs) / t[0].n as f64 * 1e6
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args = Args::parse()?;
    let backend = match args.url.as_deref() {
        None => Backend::Sqlite,
        Some(url) if url.starts_with("postgres") => Backend::Postgres,
        Some(url) if url.starts_with("mysql") || url.starts_with("mariadb") => Backend::MySql,
        Some(url) if url.starts_with("sqlite") => Backend::Sqlite,
        Some(url) => {
            return Err(format!("`--url {url}`: expected postgres://, mysql:// or sqlite:").into());
        }
    };
    let mut fresh = FreshDb::connect_url(backend, args.url.as_deref().unwrap_or(""), 1).await?;
    if let Some(ms) = args.slow_ms {
        // Profiling aid: every statement slower than `--slow-ms` on standard error.
        fresh.db.set_metric_callback(move |info| {
            if info.elapsed >= Duration::from_millis(ms) {
                let sql: String = info.statement.sql.chars().take(100).collect();
                eprintln!("slow {:>8.1} ms  {sql}", info.elapsed.as_secs_f64() * 1e3);
            }
        });
    }
    let db = fresh.db.clone();
    audit_core::create_audit_table(&db).await?;
    let schema = sea_orm::Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(account::Entity))
        .await?;
    let version = match db.get_database_backend() {
        DbBackend::Sqlite => "SELECT 'SQLite ' || sqlite_version() AS v",
        _ => "SELECT version() AS v",
    };
    if let Some(row) = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), version))
        .await?
    {
        let v: String = row.try_get("", "v")?;
        eprintln!(
            "{IMPL} bench: {v}; n = {} in {} slices per mode; capture {}",
            args.n,
            args.slices,
            match args.capture {
                Capture::Hooks => "hooks",
                Capture::Database => "database",
            }
        );
    }

    let mut bench = Bench {
        db,
        backend,
        args,
        next_row: 0,
        audited_ids: Vec::new(),
        installed: false,
    };
    let only = bench.args.only.clone();
    let wanted = |id: &str| only.as_ref().is_none_or(|o| o.split(',').any(|w| w == id));
    let mut results = Vec::new();
    for (id, name, workload) in [
        ("W1", "insert_each", Workload::InsertEach),
        ("W2", "update_each", Workload::UpdateEach),
        ("W3", "update_batch", Workload::UpdateBatch),
        ("W4", "delete_each", Workload::DeleteEach),
    ] {
        if wanted(id) {
            results.push((id, bench.run(id, name, workload).await?));
        }
    }
    if wanted("B1") || wanted("bulk") {
        bench.bulk_update().await?;
    }
    let mut scale = None;
    if (wanted("W5") || wanted("W6")) && !bench.audited_ids.is_empty() {
        let w5 = bench.history("W5").await?;
        bench.seed_history().await?;
        let w6 = bench.history("W6").await?;
        scale = Some(w6 / w5);
    }

    eprintln!("summary (ratio = audited secs / plain secs; µs/op = (audited - plain) / n):");
    for (id, t) in &results {
        eprintln!("  {id}: {}", overhead(t));
    }
    if let Some(scale) = scale {
        eprintln!("  W6 p50 / W5 p50: {scale:.2}");
    }
    drop(bench);
    fresh.cleanup().await?;
    Ok(())
}
