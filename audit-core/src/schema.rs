//! The audit table: its DDL on each backend, created by one idempotent call.

use sea_orm::{ConnectionTrait, DbBackend};

use crate::{AuditError, config};

/// Options for [`create_audit_table_with`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use audit_core::{AuditTableOptions, create_audit_table_with};
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// create_audit_table_with(&db, AuditTableOptions::append_only().with_column_index()).await?;
/// # Ok(())
/// # }
/// ```
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
    /// PostgreSQL only, with [`append_only`](Self::append_only): an event trigger that
    /// refuses `ALTER TABLE` and `DROP` of the audit table and of its append-only trigger
    /// and function (which would otherwise let the table's owner rewrite or remove rows
    /// without a row trigger firing). Creating an event trigger needs a superuser.
    pub ddl_guard: bool,
}

impl AuditTableOptions {
    /// Options with the append-only triggers turned on.
    ///
    /// ```
    /// let options = audit_core::AuditTableOptions::append_only();
    /// assert!(options.append_only && !options.column_index);
    /// ```
    pub fn append_only() -> Self {
        Self::default().with_append_only()
    }

    /// These options with the append-only triggers turned on.
    ///
    /// ```
    /// let options = audit_core::AuditTableOptions::default().with_append_only();
    /// assert!(options.append_only);
    /// ```
    pub fn with_append_only(mut self) -> Self {
        self.append_only = true;
        self
    }

    /// These options with the PostgreSQL DDL guard (and append-only) turned on.
    ///
    /// ```
    /// let options = audit_core::AuditTableOptions::default().with_ddl_guard();
    /// assert!(options.append_only && options.ddl_guard);
    /// ```
    pub fn with_ddl_guard(mut self) -> Self {
        self.append_only = true;
        self.ddl_guard = true;
        self
    }

    /// These options with the column index turned on.
    ///
    /// ```
    /// let options = audit_core::AuditTableOptions::default().with_column_index();
    /// assert!(options.column_index && !options.append_only);
    /// ```
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
    if options.ddl_guard && backend == DbBackend::Postgres {
        sql.push(ddl_guard_sql(table));
    }
    #[cfg(feature = "erasure")]
    sql.push(crate::erasure::key_table_sql(backend));
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
                "record_id" TEXT NOT NULL,
                "operation" VARCHAR(6) NOT NULL CHECK ("operation" IN ('insert', 'update', 'delete')),
                "column_name" VARCHAR(128) NOT NULL,
                "old_value" JSONB,
                "new_value" JSONB,
                "actor" TEXT,
                "changed_at" TIMESTAMPTZ NOT NULL,
                "context" JSONB
            )"#
        ),
        DbBackend::MySql => format!(
            r#"CREATE TABLE IF NOT EXISTS {t} (
                `id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                `changeset_id` VARCHAR(36) NOT NULL,
                `table_name` VARCHAR(128) NOT NULL,
                `record_id` VARCHAR(512) NOT NULL,
                `operation` VARCHAR(6) NOT NULL CHECK (`operation` IN ('insert', 'update', 'delete')),
                `column_name` VARCHAR(128) NOT NULL,
                `old_value` LONGTEXT NULL CHECK (`old_value` IS NULL OR JSON_VALID(`old_value`)),
                `new_value` LONGTEXT NULL CHECK (`new_value` IS NULL OR JSON_VALID(`new_value`)),
                `actor` VARCHAR(512) NULL,
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
            let name = format!("{table}_append_only");
            let function = quote(backend, &name);
            // Created once, never replaced: with the DDL guard on, replacing is refused.
            // `ALWAYS`: the trigger fires even under `session_replication_role = replica`.
            vec![format!(
                "DO $install$ BEGIN \
                 IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '{t}'::regclass \
                 AND tgname = '{name}') THEN \
                 CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS \
                 $fn$ BEGIN RAISE EXCEPTION '{message}'; END $fn$; \
                 CREATE TRIGGER {function} BEFORE UPDATE OR DELETE OR TRUNCATE ON {t} \
                 FOR EACH STATEMENT EXECUTE FUNCTION {function}(); \
                 ALTER TABLE {t} ENABLE ALWAYS TRIGGER {function}; \
                 END IF; END $install$"
            )]
        }
        // `REPLACE INTO` deletes the row it replaces, and MySQL fires delete triggers for it.
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
        _ => {
            let mut sql: Vec<String> = ["update", "delete"]
                .iter()
                .map(|op| {
                    let trigger = quote(backend, &format!("{table}_no_{op}"));
                    format!(
                        "CREATE TRIGGER IF NOT EXISTS {trigger} BEFORE {op} ON {t} \
                         BEGIN SELECT RAISE(ABORT, '{message}'); END"
                    )
                })
                .collect();
            // `INSERT OR REPLACE` / `REPLACE INTO` delete the row they replace without firing
            // delete triggers (unless `recursive_triggers` is on): refuse an existing id.
            let trigger = quote(backend, &format!("{table}_no_replace"));
            sql.push(format!(
                "CREATE TRIGGER IF NOT EXISTS {trigger} BEFORE INSERT ON {t} \
                 WHEN EXISTS (SELECT 1 FROM {t} WHERE \"id\" = NEW.\"id\") \
                 BEGIN SELECT RAISE(ABORT, '{message}'); END"
            ));
            sql
        }
    }
}

/// PostgreSQL: an event trigger refusing DDL on the audit table, its append-only
/// trigger and function, and the guard itself. Event triggers belong to the database,
/// so the name carries the table's schema.
fn ddl_guard_sql(table: &str) -> String {
    format!(
        r#"DO $install$
DECLARE
    s text := current_schema();
    guard text := left(s || '_{table}_ddl_guard', 58);
    t text := quote_ident(s) || '.' || quote_ident('{table}');
BEGIN
    IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = guard) THEN
        RETURN;
    END IF;
    EXECUTE format(
        $fn$CREATE FUNCTION %I.%I() RETURNS event_trigger LANGUAGE plpgsql AS $body$
        DECLARE
            protected text[] := ARRAY[%L, %L, %L, %L];
        BEGIN
            IF TG_EVENT = 'sql_drop' THEN
                IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d
                           WHERE d.object_identity = ANY (protected) OR d.objid = %s) THEN
                    RAISE EXCEPTION 'the audit table %% is protected: DDL refused', protected[1];
                END IF;
            ELSIF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
                          WHERE c.object_identity = ANY (protected) OR c.objid = %s) THEN
                RAISE EXCEPTION 'the audit table %% is protected: DDL refused', protected[1];
            END IF;
        END $body$$fn$,
        s, '{table}_ddl_guard',
        t,
        quote_ident('{table}_append_only') || ' on ' || t,
        quote_ident(s) || '.' || quote_ident('{table}_append_only') || '()',
        quote_ident(s) || '.' || quote_ident('{table}_ddl_guard') || '()',
        t::regclass::oid, t::regclass::oid
    );
    EXECUTE format('CREATE EVENT TRIGGER %I ON ddl_command_end EXECUTE FUNCTION %I.%I()',
                   guard, s, '{table}_ddl_guard');
    EXECUTE format('CREATE EVENT TRIGGER %I ON sql_drop EXECUTE FUNCTION %I.%I()',
                   guard || '_drop', s, '{table}_ddl_guard');
END $install$"#
    )
}

/// Quotes an identifier for `backend`. Names reaching here are validated by
/// [`crate::configure`] (letters, digits, `_`), so no escaping is needed.
pub(crate) fn quote(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::MySql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    }
}

/// `?, ?, ...` (or `$n, ...` on PostgreSQL) for `count` bind values after the first `offset`.
#[cfg(any(feature = "integrity", feature = "erasure"))]
pub(crate) fn placeholders(backend: DbBackend, offset: usize, count: usize) -> String {
    (offset + 1..=offset + count)
        .map(|n| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
