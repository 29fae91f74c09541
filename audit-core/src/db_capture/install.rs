//! Installing, removing and checking the capture of entities.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::model::{Capture, Kind};
use super::{mysql, postgres, ready, sqlite, trigger_name};
use crate::{AuditError, AuditedEntity};

/// Installs (or reinstalls) the capture of entity `E`: creates the audit table if needed,
/// (re)creates the triggers and records what they capture for [`check`]. Idempotent.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = empty_db().await?;
/// // `memo::Model` is marked `#[audit(capture = "database")]`.
/// audit_core::db_capture::install::<memo::Entity, _>(&db).await?;
/// audit_core::db_capture::install::<memo::Entity, _>(&db).await?; // idempotent
/// // Raw SQL is captured from now on, with the actor of the current scope.
/// audit_core::with_actor("carol", audit_core::transaction(&db, |txn| {
///     Box::pin(async move { txn.execute_unprepared("INSERT INTO memo (body) VALUES ('hi')").await })
/// }))
/// .await?;
/// let rows = audit_core::table_history::<memo::Entity>().fetch(&db).await?;
/// assert!(rows.iter().all(|row| row.actor.as_deref() == Some("carol")));
/// # Ok(())
/// # }
/// ```
pub async fn install<E: AuditedEntity, C: ConnectionTrait>(db: &C) -> Result<(), AuditError> {
    install_all(db, &[Capture::of::<E>()?]).await
}

/// [`install`] for several entities (build each with [`Capture::of`]).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::db_capture::{Capture, install_all};
/// install_all(&db, &[Capture::of::<memo::Entity>()?]).await?;
/// // Raw SQL, from any client, is in the trail now.
/// db.execute_unprepared("INSERT INTO memo (body) VALUES ('hello')").await?;
/// let rows = audit_core::table_history::<memo::Entity>().fetch(&db).await?;
/// assert_eq!(rows.len(), 2); // id and body
/// # Ok(())
/// # }
/// ```
pub async fn install_all<C: ConnectionTrait>(
    db: &C,
    captures: &[Capture],
) -> Result<(), AuditError> {
    crate::create_audit_table(db).await?;
    let backend = db.get_database_backend();
    for capture in captures {
        if backend != DbBackend::Postgres
            && let Some(c) = capture.columns.iter().find(|c| c.kind == Kind::Array)
        {
            return Err(AuditError::Config(format!(
                "database capture of array column `{}.{}` needs PostgreSQL",
                capture.table, c.name
            )));
        }
        let mut sql = vec![metadata_table_sql(backend, &capture.audit_table)];
        sql.extend(match backend {
            DbBackend::Postgres => postgres::install_sql(capture),
            DbBackend::MySql => mysql::install_sql(capture),
            _ => sqlite::install_sql(capture),
        });
        for statement in sql {
            run(db, capture, Statement::from_string(backend, statement)).await?;
        }
        let meta = metadata_table(&capture.audit_table);
        run(
            db,
            capture,
            Statement::from_sql_and_values(
                backend,
                format!(
                    "DELETE FROM {meta} WHERE table_name = {}",
                    param(backend, 1)
                ),
                [text(&capture.table)],
            ),
        )
        .await?;
        run(
            db,
            capture,
            Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO {meta} (table_name, spec) VALUES ({}, {})",
                    param(backend, 1),
                    param(backend, 2)
                ),
                [text(&capture.table), text(&capture.spec().join("\n"))],
            ),
        )
        .await?;
        ready::mark(capture.label);
    }
    Ok(())
}

/// Removes the capture of entity `E`: its triggers and its record. Idempotent.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::db_capture::{install, uninstall};
/// install::<memo::Entity, _>(&db).await?;
/// uninstall::<memo::Entity, _>(&db).await?;
/// db.execute_unprepared("INSERT INTO memo (body) VALUES ('unseen')").await?;
/// assert!(audit_core::table_history::<memo::Entity>().fetch(&db).await?.is_empty());
/// # Ok(())
/// # }
/// ```
pub async fn uninstall<E: AuditedEntity, C: ConnectionTrait>(db: &C) -> Result<(), AuditError> {
    uninstall_all(db, &[Capture::of::<E>()?]).await
}

/// [`uninstall`] for several entities.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::db_capture::{Capture, install_all, uninstall_all};
/// let captures = [Capture::of::<memo::Entity>()?];
/// install_all(&db, &captures).await?;
/// uninstall_all(&db, &captures).await?;
/// assert!(audit_core::db_capture::check::<memo::Entity, _>(&db).await.is_err());
/// # Ok(())
/// # }
/// ```
pub async fn uninstall_all<C: ConnectionTrait>(
    db: &C,
    captures: &[Capture],
) -> Result<(), AuditError> {
    let backend = db.get_database_backend();
    for capture in captures {
        let mut sql = match backend {
            DbBackend::Postgres => postgres::uninstall_sql(capture),
            DbBackend::MySql => mysql::uninstall_sql(capture),
            _ => sqlite::uninstall_sql(capture),
        };
        sql.push(metadata_table_sql(backend, &capture.audit_table));
        for statement in sql {
            run(db, capture, Statement::from_string(backend, statement)).await?;
        }
        run(
            db,
            capture,
            Statement::from_sql_and_values(
                backend,
                format!(
                    "DELETE FROM {} WHERE table_name = {}",
                    metadata_table(&capture.audit_table),
                    param(backend, 1)
                ),
                [text(&capture.table)],
            ),
        )
        .await?;
        ready::unmark(capture.label);
    }
    Ok(())
}

/// The start-up check: fails, naming the table and column, when the installed capture of
/// `E` no longer matches the entity (a column added, renamed or removed, a policy or type
/// changed, a trigger dropped, a column missing from the table). Fix it with [`install`].
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::db_capture::{check, install};
/// // Not installed yet: the start-up check refuses, naming the table.
/// let err = check::<memo::Entity, _>(&db).await.unwrap_err();
/// assert!(err.to_string().contains("memo"), "{err}");
/// install::<memo::Entity, _>(&db).await?;
/// check::<memo::Entity, _>(&db).await?;
/// // Someone drops a trigger behind our back: the check sees it.
/// let sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'memo'";
/// let triggers = db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await?;
/// let name: String = triggers[0].try_get("", "name")?;
/// db.execute_unprepared(&format!("DROP TRIGGER {name}")).await?;
/// assert!(check::<memo::Entity, _>(&db).await.is_err());
/// # Ok(())
/// # }
/// ```
pub async fn check<E: AuditedEntity, C: ConnectionTrait>(db: &C) -> Result<(), AuditError> {
    check_all(db, &[Capture::of::<E>()?]).await
}

/// [`check`] for several entities.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::db_capture::{Capture, check_all, install_all};
/// let captures = [Capture::of::<memo::Entity>()?];
/// install_all(&db, &captures).await?;
/// check_all(&db, &captures).await?; // at start-up, before serving writes
/// # Ok(())
/// # }
/// ```
pub async fn check_all<C: ConnectionTrait>(db: &C, captures: &[Capture]) -> Result<(), AuditError> {
    for capture in captures {
        check_one(db, capture).await?;
        ready::mark(capture.label);
    }
    Ok(())
}

async fn check_one<C: ConnectionTrait>(db: &C, capture: &Capture) -> Result<(), AuditError> {
    let backend = db.get_database_backend();
    let table = &capture.table;
    let drift = |what: String| {
        AuditError::Config(format!(
            "database capture of `{table}` does not match the entity: {what}; run \
             `audit_core::db_capture::install`"
        ))
    };
    let stored = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT spec FROM {} WHERE table_name = {}",
                metadata_table(&capture.audit_table),
                param(backend, 1)
            ),
            [text(table)],
        ))
        .await
        .map_err(|_| drift("it is not installed".to_owned()))?;
    let Some(row) = stored.first() else {
        return Err(drift("it is not installed".to_owned()));
    };
    let stored: String = row.try_get("", "spec").map_err(AuditError::Read)?;
    if let Some(what) = spec_difference(table, &stored, &capture.spec()) {
        return Err(drift(what));
    }
    let (triggers_sql, columns_sql) = match backend {
        DbBackend::Postgres => (postgres::triggers_sql(), postgres::table_columns_sql()),
        DbBackend::MySql => (mysql::triggers_sql(), mysql::table_columns_sql()),
        _ => (sqlite::triggers_sql(), sqlite::table_columns_sql()),
    };
    let names = |sql: &'static str| async move {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, [text(table)]))
            .await
            .map_err(AuditError::Read)?;
        rows.iter()
            .map(|row| row.try_get::<String>("", "name").map_err(AuditError::Read))
            .collect::<Result<Vec<_>, _>>()
    };
    let triggers = names(triggers_sql).await?;
    let ops: &[&str] = match backend {
        DbBackend::Postgres => &["insert", "update", "delete", "truncate"],
        _ => &["insert", "update", "delete"],
    };
    for op in ops {
        let name = trigger_name(capture, op);
        if !triggers.contains(&name) {
            return Err(drift(format!("its trigger `{name}` is missing")));
        }
    }
    let columns = names(columns_sql).await?;
    for column in capture.key.iter().chain(&capture.columns) {
        if !columns.iter().any(|c| c == column.name) {
            return Err(drift(format!(
                "column `{table}.{}` is not in the database table",
                column.name
            )));
        }
    }
    Ok(())
}

/// What differs between the installed description and the entity's, naming the column.
fn spec_difference(table: &str, stored: &str, current: &[String]) -> Option<String> {
    let split = |lines: Vec<&str>| {
        let mut facts = BTreeMap::new();
        let mut columns = BTreeMap::new();
        for line in lines {
            let mut words = line.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("column"), Some(name), rest) => {
                    columns.insert(name.to_owned(), rest.unwrap_or("").to_owned());
                }
                (Some(fact), value, _) => {
                    facts.insert(fact.to_owned(), value.unwrap_or("").to_owned());
                }
                _ => {}
            }
        }
        (facts, columns)
    };
    let (old_facts, old_columns) = split(stored.lines().collect());
    let (new_facts, new_columns) = split(current.iter().map(String::as_str).collect());
    for (fact, value) in &new_facts {
        let installed = old_facts.get(fact).map_or("nothing", String::as_str);
        if installed != value {
            return Some(format!(
                "its {fact} is `{installed}`, the entity's is `{value}`"
            ));
        }
    }
    for (name, what) in &new_columns {
        match old_columns.get(name) {
            None => {
                return Some(format!(
                    "column `{table}.{name}` is not captured (added, renamed or no longer \
                     skipped since the capture was installed)"
                ));
            }
            Some(installed) if installed != what => {
                return Some(format!(
                    "column `{table}.{name}` is captured as `{installed}`, the entity \
                     declares `{what}`"
                ));
            }
            Some(_) => {}
        }
    }
    old_columns
        .keys()
        .find(|name| !new_columns.contains_key(*name))
        .map(|name| {
            format!(
                "column `{table}.{name}` is captured but is no longer an audited column of the \
             entity (removed, renamed or now skipped)"
            )
        })
}

async fn run<C: ConnectionTrait>(
    db: &C,
    capture: &Capture,
    statement: Statement,
) -> Result<(), AuditError> {
    db.execute_raw(statement)
        .await
        .map(drop)
        .map_err(|source| AuditError::Write {
            table: capture.table.clone(),
            source,
        })
}

/// What each installed capture writes, for [`check`].
fn metadata_table(audit_table: &str) -> String {
    format!("{audit_table}_capture")
}

fn metadata_table_sql(backend: DbBackend, audit_table: &str) -> String {
    let name = metadata_table(audit_table);
    match backend {
        DbBackend::MySql => format!(
            "CREATE TABLE IF NOT EXISTS {name} (table_name VARCHAR(128) NOT NULL PRIMARY KEY, \
             spec LONGTEXT NOT NULL)"
        ),
        _ => format!(
            "CREATE TABLE IF NOT EXISTS {name} (table_name VARCHAR(128) NOT NULL PRIMARY KEY, \
             spec TEXT NOT NULL)"
        ),
    }
}

fn param(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

fn text(s: &str) -> Value {
    Value::String(Some(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::spec_difference;

    fn spec(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| (*l).to_owned()).collect()
    }

    #[test]
    fn a_difference_names_the_column() {
        let installed = "version 1\nkey id\ncolumn id integer record\ncolumn note text record";
        let same = spec(&[
            "version 1",
            "key id",
            "column id integer record",
            "column note text record",
        ]);
        assert_eq!(spec_difference("t", installed, &same), None);
        let added = spec(&[
            "version 1",
            "key id",
            "column id integer record",
            "column note text record",
            "column email text record",
        ]);
        let err = spec_difference("t", installed, &added).unwrap();
        assert!(err.contains("`t.email` is not captured"), "{err}");
        let redacted = spec(&[
            "version 1",
            "key id",
            "column id integer record",
            "column note text redact",
        ]);
        let err = spec_difference("t", installed, &redacted).unwrap();
        assert!(err.contains("`t.note`") && err.contains("redact"), "{err}");
        let removed = spec(&["version 1", "key id", "column id integer record"]);
        let err = spec_difference("t", installed, &removed).unwrap();
        assert!(err.contains("`t.note` is captured but"), "{err}");
        let newer = spec(&[
            "version 2",
            "key id",
            "column id integer record",
            "column note text record",
        ]);
        assert!(
            spec_difference("t", installed, &newer)
                .unwrap()
                .contains("version")
        );
    }
}
