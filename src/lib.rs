//! Shared support for the examples, tests and benchmark of `audit-core` (not published):
//! connecting to each backend with a fresh, isolated database.
//!
//! PostgreSQL and MySQL/MariaDB are reached through `AUDIT_POSTGRES_URL` and
//! `AUDIT_MYSQL_URL`; SQLite needs nothing.

pub mod bench_account;

/// The workspace README: its `rust` blocks run as doc tests of this package.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

/// Environment variable holding the PostgreSQL URL for tests.
pub const POSTGRES_URL_VAR: &str = "AUDIT_POSTGRES_URL";
/// Environment variable holding the MySQL/MariaDB URL for tests.
pub const MYSQL_URL_VAR: &str = "AUDIT_MYSQL_URL";

/// A backend the project is tested on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded: always available.
    Sqlite,
    /// PostgreSQL, when `AUDIT_POSTGRES_URL` is set.
    Postgres,
    /// MySQL or MariaDB, when `AUDIT_MYSQL_URL` is set.
    MySql,
}

impl Backend {
    /// Every backend.
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

    /// The server URL for this backend, `None` when its variable is unset (SQLite: always set).
    pub fn url(self) -> Option<String> {
        match self {
            Backend::Sqlite => Some("sqlite::memory:".to_owned()),
            Backend::Postgres => std::env::var(POSTGRES_URL_VAR)
                .ok()
                .filter(|u| !u.is_empty()),
            Backend::MySql => std::env::var(MYSQL_URL_VAR).ok().filter(|u| !u.is_empty()),
        }
    }

    /// SeaORM's name for the backend.
    pub fn db_backend(self) -> DbBackend {
        match self {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
            Backend::MySql => DbBackend::MySql,
        }
    }
}

/// A fresh database on one backend: its own PostgreSQL schema, MySQL database or SQLite file.
pub struct FreshDb {
    /// The connection pool, scoped to the fresh database.
    pub db: DatabaseConnection,
    /// Which backend it is.
    pub backend: Backend,
    name: String,
    admin_url: String,
    url: String,
    schema: Option<String>,
    _dir: Option<TempDir>,
}

/// A temporary folder removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "audit_t{}_{}_{}",
        std::process::id(),
        nanos % 100_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl FreshDb {
    /// A fresh database with a pool of `max_connections`, or `None` (after printing why) when
    /// the backend's URL is not set.
    pub async fn connect(backend: Backend, max_connections: u32) -> Result<Option<FreshDb>, DbErr> {
        let Some(url) = backend.url() else {
            eprintln!(
                "skipped on {backend:?}: set {} to run it",
                if backend == Backend::Postgres {
                    POSTGRES_URL_VAR
                } else {
                    MYSQL_URL_VAR
                }
            );
            return Ok(None);
        };
        Self::connect_url(backend, &url, max_connections)
            .await
            .map(Some)
    }

    /// A fresh database on the server at `url` (for SQLite the URL is ignored: a new file
    /// in a temporary folder), with a pool of `max_connections`.
    pub async fn connect_url(
        backend: Backend,
        url: &str,
        max_connections: u32,
    ) -> Result<FreshDb, DbErr> {
        let name = unique_name();
        let (db_url, dir, schema) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).map_err(|e| DbErr::Custom(e.to_string()))?;
                let file = dir.join("test.db");
                (
                    format!("sqlite://{}?mode=rwc", file.display()),
                    Some(TempDir(dir)),
                    None,
                )
            }
            Backend::Postgres => {
                let admin = Database::connect(url).await?;
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA \"{name}\""))
                    .await?;
                admin.close().await?;
                (url.to_owned(), None, Some(name.clone()))
            }
            Backend::MySql => {
                let admin = Database::connect(url).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE `{name}`"))
                    .await?;
                admin.close().await?;
                let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
                (format!("{base}/{name}"), None, None)
            }
        };
        let mut options = ConnectOptions::new(&db_url);
        options.max_connections(max_connections).sqlx_logging(false);
        if let Some(schema) = &schema {
            options.set_schema_search_path(schema);
        }
        let db = Database::connect(options).await?;
        if backend == Backend::Sqlite {
            db.execute_unprepared(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
            )
            .await?;
        }
        Ok(FreshDb {
            db,
            backend,
            name,
            admin_url: url.to_owned(),
            url: db_url,
            schema,
            _dir: dir,
        })
    }

    /// The URL of the fresh database (with [`FreshDb::schema`] on PostgreSQL), for another
    /// connection or process to open it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The PostgreSQL schema the fresh database is (its connections' search path).
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Drops the fresh schema or database.
    pub async fn cleanup(self) -> Result<(), DbErr> {
        self.db.close().await?;
        let sql = match self.backend {
            Backend::Sqlite => return Ok(()),
            Backend::Postgres => format!("DROP SCHEMA \"{}\" CASCADE", self.name),
            Backend::MySql => format!("DROP DATABASE `{}`", self.name),
        };
        let admin = Database::connect(&self.admin_url).await?;
        if self.backend == Backend::Postgres {
            // Event triggers (the audit table's DDL guard) belong to the database, and
            // refuse the schema's drop while they stand.
            admin
                .execute_unprepared(&format!(
                    "DO $$ DECLARE e record; BEGIN FOR e IN SELECT evtname FROM pg_event_trigger \
                     WHERE left(evtname, {len}) = '{name}_' LOOP \
                     EXECUTE format('DROP EVENT TRIGGER %I', e.evtname); END LOOP; END $$",
                    len = self.name.len() + 1,
                    name = self.name
                ))
                .await?;
        }
        admin.execute_unprepared(&sql).await?;
        admin.close().await
    }
}
