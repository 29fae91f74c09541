//! Fresh databases for the command line's tests, with the arguments that reach them,
//! and raw audit rows with fixed values (so the output is the same on every run).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value,
};
use serde_json::Value as Json;

/// A fresh SQLite file, PostgreSQL schema or MySQL database, dropped by [`Fresh::cleanup`].
pub struct Fresh {
    pub db: DatabaseConnection,
    pub backend: DbBackend,
    /// `--url ...` (and `--schema ...`) for the binary.
    pub args: Vec<String>,
    name: String,
    admin_url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The backends to run on: SQLite always, the others when their URL variable is set.
pub fn backends() -> Vec<(DbBackend, String)> {
    let mut out = vec![(DbBackend::Sqlite, String::new())];
    for (backend, var) in [
        (DbBackend::Postgres, "AUDIT_POSTGRES_URL"),
        (DbBackend::MySql, "AUDIT_MYSQL_URL"),
    ] {
        match std::env::var(var).ok().filter(|u| !u.is_empty()) {
            Some(url) => out.push((backend, url)),
            None => eprintln!("skipped on {backend:?}: set {var} to run it"),
        }
    }
    out
}

impl Fresh {
    pub async fn new(backend: DbBackend, url: &str) -> Fresh {
        let name = format!(
            "audit_cli{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let (db_url, schema) = match backend {
            DbBackend::Sqlite => {
                let file = std::env::temp_dir().join(format!("{name}.db"));
                (format!("sqlite://{}?mode=rwc", file.display()), None)
            }
            DbBackend::Postgres => {
                let admin = Database::connect(url).await.unwrap();
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA \"{name}\""))
                    .await
                    .unwrap();
                (url.to_owned(), Some(name.clone()))
            }
            _ => {
                let admin = Database::connect(url).await.unwrap();
                admin
                    .execute_unprepared(&format!("CREATE DATABASE `{name}`"))
                    .await
                    .unwrap();
                let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
                (format!("{base}/{name}"), None)
            }
        };
        let mut options = ConnectOptions::new(db_url.clone());
        options.max_connections(2).sqlx_logging(false);
        let mut args = vec!["--url".to_owned(), db_url];
        if let Some(schema) = schema {
            options.set_schema_search_path(schema.clone());
            args.extend(["--schema".to_owned(), schema]);
        }
        let db = Database::connect(options).await.unwrap();
        audit_core::create_audit_table(&db).await.unwrap();
        Fresh {
            db,
            backend,
            args,
            name,
            admin_url: url.to_owned(),
        }
    }

    pub async fn cleanup(self) {
        self.db.close().await.unwrap();
        let sql = match self.backend {
            DbBackend::Sqlite => {
                let _ =
                    std::fs::remove_file(std::env::temp_dir().join(format!("{}.db", self.name)));
                return;
            }
            DbBackend::Postgres => format!("DROP SCHEMA \"{}\" CASCADE", self.name),
            _ => format!("DROP DATABASE `{}`", self.name),
        };
        let admin = Database::connect(&self.admin_url).await.unwrap();
        admin.execute_unprepared(&sql).await.unwrap();
    }
}

/// One audit row to insert as is.
pub struct Row<'a> {
    pub changed_at: &'a str,
    pub table: &'a str,
    pub record: &'a str,
    pub operation: &'a str,
    pub column: &'a str,
    pub old: Option<Json>,
    pub new: Option<Json>,
    pub actor: Option<&'a str>,
    pub context: Option<Json>,
}

/// The changeset id of a write at `at`: a UUIDv7 of that millisecond (fixed random bits).
pub fn changeset_id(at: DateTime<Utc>, n: u8) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap();
    uuid::Builder::from_unix_timestamp_millis(ms, &[n; 10])
        .into_uuid()
        .to_string()
}

/// Inserts `rows` with bound values (ids are assigned in order).
pub async fn insert(db: &DatabaseConnection, rows: &[Row<'_>]) {
    let backend = db.get_database_backend();
    for (i, row) in rows.iter().enumerate() {
        let at: DateTime<Utc> = DateTime::parse_from_rfc3339(row.changed_at).unwrap().into();
        let json = |v: &Option<Json>| match backend {
            DbBackend::Postgres => Value::Json(v.clone().map(Box::new)),
            _ => Value::String(v.as_ref().map(Json::to_string)),
        };
        let time = match backend {
            DbBackend::Sqlite => {
                Value::String(Some(at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()))
            }
            _ => Value::ChronoDateTimeUtc(Some(at)),
        };
        let marks: Vec<String> = (1..=10)
            .map(|n| {
                if backend == DbBackend::Postgres {
                    format!("${n}")
                } else {
                    "?".to_owned()
                }
            })
            .collect();
        let sql = format!(
            "INSERT INTO audit_log (changeset_id, table_name, record_id, operation, column_name, \
             old_value, new_value, actor, changed_at, context) VALUES ({})",
            marks.join(", ")
        );
        // Rows of one write (same instant, same record) share one changeset.
        let first = rows
            .iter()
            .position(|r| r.changed_at == row.changed_at && r.record == row.record)
            .unwrap_or(i);
        let cs = changeset_id(at, u8::try_from(first % 256).unwrap());
        let values = vec![
            Value::String(Some(cs)),
            Value::String(Some(row.table.to_owned())),
            Value::String(Some(row.record.to_owned())),
            Value::String(Some(row.operation.to_owned())),
            Value::String(Some(row.column.to_owned())),
            json(&row.old),
            json(&row.new),
            Value::String(row.actor.map(str::to_owned)),
            time,
            json(&row.context),
        ];
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .unwrap();
    }
}
