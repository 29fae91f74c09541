//! Reading audit rows for sealing and verification, every column as stored.

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement};
use serde_json::Value as Json;

use super::IntegrityError;
use super::encode::SealedRow;
use super::ids::IdSet;
use crate::schema::quote;

const COLUMNS: &str = "id, changeset_id, table_name, record_id, operation, column_name, \
                       old_value, new_value, actor, changed_at, context";

/// Rows with `id` in `(after, upto]`, ascending, at most `limit`.
pub(crate) async fn range<C: ConnectionTrait>(
    db: &C,
    table: &str,
    after: i64,
    upto: i64,
    limit: u64,
) -> Result<Vec<SealedRow>, IntegrityError> {
    select(
        db,
        table,
        &format!("id > {after} AND id <= {upto} ORDER BY id LIMIT {limit}"),
    )
    .await
}

/// The rows whose ids are in `ids`, ascending.
pub(crate) async fn in_set<C: ConnectionTrait>(
    db: &C,
    table: &str,
    ids: &IdSet,
) -> Result<Vec<SealedRow>, IntegrityError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let condition: Vec<String> = ids
        .ranges()
        .iter()
        .map(|(lo, hi)| format!("(id >= {lo} AND id <= {hi})"))
        .collect();
    select(
        db,
        table,
        &format!("({}) ORDER BY id", condition.join(" OR ")),
    )
    .await
}

/// How many rows have `id > after`.
pub(crate) async fn count_after<C: ConnectionTrait>(
    db: &C,
    table: &str,
    after: i64,
) -> Result<u64, IntegrityError> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE id > {after}",
        quote(backend, table)
    );
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(n as u64)
}

async fn select<C: ConnectionTrait>(
    db: &C,
    table: &str,
    condition: &str,
) -> Result<Vec<SealedRow>, IntegrityError> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT {COLUMNS} FROM {} WHERE {condition}",
        quote(backend, table)
    );
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.iter().map(|row| read(backend, row)).collect()
}

fn read(backend: DbBackend, row: &QueryResult) -> Result<SealedRow, IntegrityError> {
    let json = |col: &str| -> Result<Option<Json>, DbErr> {
        if backend == DbBackend::Postgres {
            return row.try_get::<Option<Json>>("", col);
        }
        let text: Option<String> = row.try_get("", col)?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| DbErr::Custom(format!("audit `{col}` is not JSON: {e}")))
        })
        .transpose()
    };
    Ok(SealedRow {
        id: row.try_get("", "id")?,
        changeset_id: row.try_get("", "changeset_id")?,
        table: row.try_get("", "table_name")?,
        record_id: row.try_get("", "record_id")?,
        operation: row.try_get("", "operation")?,
        column: row.try_get("", "column_name")?,
        old_value: json("old_value")?,
        new_value: json("new_value")?,
        actor: row.try_get("", "actor")?,
        changed_at: changed_at(backend, row)?,
        context: json("context")?,
    })
}

fn changed_at(backend: DbBackend, row: &QueryResult) -> Result<DateTime<Utc>, DbErr> {
    match backend {
        DbBackend::Postgres => row.try_get("", "changed_at"),
        DbBackend::MySql => row
            .try_get::<NaiveDateTime>("", "changed_at")
            .map(|t| t.and_utc()),
        _ => {
            let text: String = row.try_get("", "changed_at")?;
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| DbErr::Custom(format!("audit `changed_at` is not a timestamp: {e}")))
        }
    }
}
