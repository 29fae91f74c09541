//! The query logger's own cost per statement, with no database in the way: a corpus of
//! statements of each backend's dialect (selects, audited updates with a redacted column,
//! inserts, the audit table's own multi-row insert) fed to [`QueryLogger::observe`], with
//! and without `log_params`, with no subscriber listening and with a `fmt` subscriber at
//! DEBUG writing to a sink. Modes are interleaved over rounds; the figure is the median
//! round's nanoseconds per statement.
//! `cargo run --release --example query_log_cost -- [ROUNDS] [STATEMENTS_PER_ROUND]`

use std::time::{Duration, Instant};

use audit_core::query_log::QueryLogger;
use sea_orm::metric::Info;
use sea_orm::{Database, DbBackend, Statement, Value};
use seaorm_audit::bench_account as account;

fn corpus(backend: DbBackend) -> Vec<Statement> {
    let q = |name: &str| match backend {
        DbBackend::MySql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    };
    let p = |i: usize| match backend {
        DbBackend::Postgres => format!("${i}"),
        _ => "?".to_owned(),
    };
    let (account, id, balance, note, hash) = (
        q("account"),
        q("id"),
        q("balance"),
        q("note"),
        q("password_hash"),
    );
    let s = |sql: String, values: Vec<Value>| Statement::from_sql_and_values(backend, sql, values);
    vec![
        s(
            format!(
                "SELECT {id}, {balance}, {note} FROM {account} WHERE {account}.{id} = {}",
                p(1)
            ),
            vec![7.into()],
        ),
        s(
            format!(
                "UPDATE {account} SET {balance} = {}, {note} = {}, {hash} = {} WHERE {account}.{id} = {}",
                p(1),
                p(2),
                p(3),
                p(4)
            ),
            vec![
                10i64.into(),
                "a note".into(),
                "secret-hash".into(),
                7.into(),
            ],
        ),
        s(
            format!(
                "INSERT INTO {account} ({balance}, {note}, {hash}) VALUES ({}, {}, {})",
                p(1),
                p(2),
                p(3)
            ),
            vec![1i64.into(), "hello".into(), "secret-hash".into()],
        ),
        s(
            format!(
                "INSERT INTO {} ({}, {}, {}, {}, {}) VALUES ({}, {}, {}, {}, {}), ({}, {}, {}, {}, {})",
                q("audit_log"),
                q("changeset_id"),
                q("table_name"),
                q("record_id"),
                q("column_name"),
                q("new_value"),
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7),
                p(8),
                p(9),
                p(10)
            ),
            vec![
                "c".into(),
                "account".into(),
                "7".into(),
                "balance".into(),
                "10".into(),
                "c".into(),
                "account".into(),
                "7".into(),
                "password_hash".into(),
                "\"[redacted]\"".into(),
            ],
        ),
    ]
}

const MODES: [&str; 4] = ["plain", "params", "plain+fmt", "params+fmt"];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(Ok(21), |a| a.parse())?;
    let per_round: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
        // `observe` is fed by hand: the connection only lends the logger its settings.
        let mut plain_db = Database::connect("sqlite::memory:").await?;
        let plain = QueryLogger::builder()
            .redact_entity::<account::Entity>()
            .attach(&mut plain_db)?;
        let mut params_db = Database::connect("sqlite::memory:").await?;
        let params = QueryLogger::builder()
            .redact_entity::<account::Entity>()
            .log_params(true)
            .attach(&mut params_db)?;
        let statements = corpus(backend);
        let mut per_mode: [Vec<f64>; MODES.len()] = Default::default();
        for round in 0..rounds {
            for step in 0..MODES.len() {
                let mode = (round + step) % MODES.len();
                let logger = if mode.is_multiple_of(2) {
                    &plain
                } else {
                    &params
                };
                let _guard = (mode >= 2).then(|| {
                    let sink = tracing_subscriber::fmt()
                        .with_max_level(tracing::Level::DEBUG)
                        .with_writer(std::io::sink)
                        .finish();
                    tracing::subscriber::set_default(sink)
                });
                let start = Instant::now();
                for i in 0..per_round {
                    let statement = &statements[i % statements.len()];
                    logger.observe(&Info {
                        elapsed: Duration::from_micros(50),
                        statement,
                        failed: false,
                    });
                }
                per_mode[mode].push(start.elapsed().as_nanos() as f64 / per_round as f64);
            }
        }
        for (mode, times) in MODES.iter().zip(&mut per_mode) {
            times.sort_by(f64::total_cmp);
            println!(
                r#"{{"impl":"audit-core","backend":"{backend:?}","workload":"query_log_per_statement","mode":"{mode}","statements":{},"ns_per_statement":{:.0}}}"#,
                rounds * per_round,
                times[times.len() / 2]
            );
        }
        // Every statement of the corpus was understood (none fell back to withholding all).
        assert_eq!(
            plain.counters().unreadable + params.counters().unreadable,
            0
        );
    }
    Ok(())
}
