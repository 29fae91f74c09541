//! The audit table: its DDL on each backend, created by one idempotent call.

use sea_orm::{ConnectionTrait, DbBackend};

use crate::{AuditError, config};

/// Options for [`create_audit_table_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct AuditTableOptions {
    /// Install triggers that reject every `UPDATE` and `DELETE` (and on PostgreSQL
    /// `TRUNCATE`) on the audit table, making it append-only for every client of the
    /// database, not just this library.
    pub append_only: bool,
    /// Also index `(table_name, column_name, changed_at)`, for queries over one column of a
    /// whole table ("every time `status` became `closed`"). Off by default: its entries
    /// scatter over one page per column, which on SQLite more than doubled the cost of
    /// an audited write's commit in our measurements. A value query scoped to one record
    /// does not need it.
    pub column_index: bool,
}

impl AuditTableOptions {
    /// Options with the append-only triggers turned on.
    pub fn append_only() -> Self {
        Self::default().with_append_only()
    }

    /// These options with the append-only triggers turned on.
    pub fn with_append_only(mut self) -> Self {
        self.append_only = true;
        self
    }

    /// These options with the column index turned on.
    pub fn with_column_index(mut self) -> Self {
        self.column_index = true;
        self
    }

    /// The indexes these options create.
    fn indexes(self) -> impl Iterator<Item = &'static (&'static str, &'static [&'static str])> {
        INDEXES
            .iter()
            .filter(move |(suffix, _)| *suffix != "column" || self.column_index)
    }
}

/// Creates the audit table (named by [`crate::config`], `audit_log` by default) and its
/// indexes if they do not exist yet. Safe to call on every start.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// audit_core::create_audit_table(&db).await?;
/// audit_core::create_audit_table(&db).await?; // again: nothing to do
/// let entries = audit_core::all_history().fetch(&db).await?;
/// assert!(entries.is_empty());
/// # Ok(())
/// # }
/// ```
pub async fn create_audit_table<C: ConnectionTrait>(db: &C) -> Result<(), AuditError> {
    create_audit_table_with(db, AuditTableOptions::default()).await
}

/// [`create_audit_table`] with options, e.g. append-only triggers.
///
/// ```
/// use audit_core::AuditTableOptions;
/// use sea_orm::ConnectionTrait;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// audit_core::create_audit_table_with(&db, AuditTableOptions::append_only()).await?;
/// db.execute_unprepared(
///     "INSERT INTO audit_log (changeset_id, table_name, record_id, operation, column_name, changed_at) \
///      VALUES ('c1', 'account', '1', 'insert', 'id', '2026-01-01T00:00:00Z')",
/// )
/// .await?;
/// // Rows can be added, never changed or removed, by any client.
/// assert!(db.execute_unprepared("DELETE FROM audit_log").await.is_err());
/// assert!(db.execute_unprepared("UPDATE audit_log SET actor = 'x'").await.is_err());
/// # Ok(())
/// # }
/// ```
pub async fn create_audit_table_with<C: ConnectionTrait>(
    db: &C,
    options: AuditTableOptions,
) -> Result<(), AuditError> {
    let table = config::table_name();
    for sql in audit_table_sql(db.get_database_backend(), &table, options)? {
        db.execute_unprepared(&sql)
            .await
            .map_err(|source| AuditError::Write {
                table: table.clone(),
                source,
            })?;
    }
    Ok(())
}

/// The statements [`create_audit_table_with`] runs, for a migration tool of your own.
/// On MySQL the indexes are part of `CREATE TABLE`, so options that add an index take
/// effect when the table is created. Fails with [`AuditError::Config`] on a table name
/// [`crate::configure`] would refuse (1 to 63 ASCII letters, digits or `_`, not starting
/// with a digit): it is written into the SQL as it is.
///
/// ```
/// use audit_core::{AuditTableOptions, schema::audit_table_sql};
/// use sea_orm::DbBackend;
///
/// let sql = audit_table_sql(DbBackend::Postgres, "audit_log", AuditTableOptions::default())?;
/// assert!(sql[0].starts_with(r#"CREATE TABLE IF NOT EXISTS "audit_log""#));
/// assert!(audit_table_sql(DbBackend::Postgres, "x\"; DROP", Default::default()).is_err());
/// # Ok::<(), audit_core::AuditError>(())
/// ```
pub fn audit_table_sql(
    backend: DbBackend,
    table: &str,
    options: AuditTableOptions,
) -> Result<Vec<String>, AuditError> {
    config::validate_table_name("audit table", table)?;
    let mut sql = vec![create_table_sql(backend, table, options)];
    // MySQL has no `CREATE INDEX IF NOT EXISTS`: there the indexes are part of `CREATE TABLE`.
    if backend != DbBackend::MySql {
        sql.extend(options.indexes().map(|(suffix, columns)| {
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                quote(backend, &format!("{table}_{suffix}")),
                quote(backend, table),
                quoted_list(backend, columns)
            )
        }));
    }
    if options.append_only {
        sql.extend(append_only_sql(backend, table));
    }
    Ok(sql)
}

/// The indexes: a record's history, an actor's activity, a time range (which also finds
/// a changeset: its id is a UUIDv7 of its rows' time), and (with
/// [`AuditTableOptions::column_index`]) one column's changes in a table.
const INDEXES: [(&str, &[&str]); 4] = [
    ("record", &["table_name", "record_id", "id"]),
    ("actor", &["actor", "changed_at"]),
    ("time", &["changed_at"]),
    ("column", &["table_name", "column_name", "changed_at"]),
];

fn quoted_list(backend: DbBackend, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| quote(backend, c))
        .collect::<Vec<_>>()
        .join(", ")
}

fn create_table_sql(backend: DbBackend, table: &str, options: AuditTableOptions) -> String {
    let t = quote(backend, table);
    match backend {
        DbBackend::Postgres => format!(
            r#"CREATE TABLE IF NOT EXISTS {t} (
                "id" BIGSERIAL PRIMARY KEY,
                "changeset_id" VARCHAR(36) NOT NULL,
                "table_name" VARCHAR(128) NOT NULL,
                "record_id" VARCHAR(255) NOT NULL,
                "operation" VARCHAR(6) NOT NULL CHECK ("operation" IN ('insert', 'update', 'delete')),
                "column_name" VARCHAR(128) NOT NULL,
                "old_value" JSONB,
                "new_value" JSONB,
                "actor" VARCHAR(255),
                "changed_at" TIMESTAMPTZ NOT NULL,
                "context" JSONB
            )"#
        ),
        DbBackend::MySql => format!(
            r#"CREATE TABLE IF NOT EXISTS {t} (
                `id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                `changeset_id` VARCHAR(36) NOT NULL,
                `table_name` VARCHAR(128) NOT NULL,
                `record_id` VARCHAR(255) NOT NULL,
                `operation` VARCHAR(6) NOT NULL CHECK (`operation` IN ('insert', 'update', 'delete')),
                `column_name` VARCHAR(128) NOT NULL,
                `old_value` LONGTEXT NULL CHECK (`old_value` IS NULL OR JSON_VALID(`old_value`)),
                `new_value` LONGTEXT NULL CHECK (`new_value` IS NULL OR JSON_VALID(`new_value`)),
                `actor` VARCHAR(255) NULL,
                `changed_at` DATETIME(6) NOT NULL,
                `context` LONGTEXT NULL CHECK (`context` IS NULL OR JSON_VALID(`context`)){indexes}
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"#,
            indexes = options
                .indexes()
                .map(|(suffix, columns)| format!(
                    ",\n                INDEX `{table}_{suffix}` ({})",
                    quoted_list(backend, columns)
                ))
                .collect::<String>()
        ),
        // No AUTOINCREMENT: it adds a `sqlite_sequence` write to every commit, and rowids are
        // only reused after the newest row is deleted, which an append-only trail never does.
        _ => format!(
            r#"CREATE TABLE IF NOT EXISTS {t} (
                "id" INTEGER PRIMARY KEY,
                "changeset_id" TEXT NOT NULL,
                "table_name" TEXT NOT NULL,
                "record_id" TEXT NOT NULL,
                "operation" TEXT NOT NULL CHECK ("operation" IN ('insert', 'update', 'delete')),
                "column_name" TEXT NOT NULL,
                "old_value" TEXT CHECK ("old_value" IS NULL OR json_valid("old_value")),
                "new_value" TEXT CHECK ("new_value" IS NULL OR json_valid("new_value")),
                "actor" TEXT,
                "changed_at" TEXT NOT NULL,
                "context" TEXT CHECK ("context" IS NULL OR json_valid("context"))
            )"#
        ),
    }
}

fn append_only_sql(backend: DbBackend, table: &str) -> Vec<String> {
    let t = quote(backend, table);
    let message = format!("{table} is append-only: audit rows cannot be updated or deleted");
    match backend {
        DbBackend::Postgres => {
            let function = quote(backend, &format!("{table}_append_only"));
            vec![
                format!(
                    "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS \
                     $audit$ BEGIN RAISE EXCEPTION '{message}'; END $audit$"
                ),
                format!("DROP TRIGGER IF EXISTS {function} ON {t}"),
                format!(
                    "CREATE TRIGGER {function} BEFORE UPDATE OR DELETE OR TRUNCATE ON {t} \
                     FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                ),
            ]
        }
        DbBackend::MySql => ["update", "delete"]
            .iter()
            .map(|op| {
                let trigger = quote(backend, &format!("{table}_no_{op}"));
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {trigger} BEFORE {op} ON {t} FOR EACH ROW \
                     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'"
                )
            })
            .collect(),
        _ => ["update", "delete"]
            .iter()
            .map(|op| {
                let trigger = quote(backend, &format!("{table}_no_{op}"));
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {trigger} BEFORE {op} ON {t} \
                     BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
            })
            .collect(),
    }
}

/// Quotes an identifier for `backend`. Names reaching here are validated by
/// [`crate::configure`] (letters, digits, `_`), so no escaping is needed.
pub(crate) fn quote(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::MySql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    }
}
