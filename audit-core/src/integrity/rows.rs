//! Reading audit rows for sealing and verification, every column as stored.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement};
use serde_json::Value as Json;

use super::IntegrityError;
use super::encode::{Columns, JsonColumn, SealedRow};
use super::ids::IdSet;
use super::merkle::Hash;
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

/// The rows with `id > after`, ascending, at most `limit`, in the column order
/// [`leaves`] hashes (one prepared statement; JSON columns as text).
pub(crate) async fn page_after<C: ConnectionTrait>(
    db: &C,
    table: &str,
    after: i64,
    limit: u64,
) -> Result<Vec<QueryResult>, IntegrityError> {
    let backend = db.get_database_backend();
    let (json, next) = match backend {
        DbBackend::Postgres => ("::text", "$1 ORDER BY id LIMIT $2"),
        _ => ("", "? ORDER BY id LIMIT ?"),
    };
    let columns = "changeset_id, table_name, record_id, operation, column_name";
    let sql = match backend {
        // One packed column instead of ten: sqlx's SQLite worker copies every value of
        // every row, and that per-value cost, not SQLite, bounded `verify` there.
        DbBackend::Sqlite => format!(
            "SELECT id, json_array({columns}, old_value, new_value, actor, changed_at, \
             context) AS packed FROM {} WHERE id > {next}",
            quote(backend, table)
        ),
        _ => format!(
            "SELECT id, {columns}, old_value{json}, new_value{json}, actor, changed_at, \
             context{json} FROM {} WHERE id > {next}",
            quote(backend, table)
        ),
    };
    let values = [
        after.into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    Ok(db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?)
}

/// The id of a row of [`page_after`].
pub(crate) fn page_id(row: &QueryResult) -> Result<i64, IntegrityError> {
    Ok(row.try_get_by_index(0)?)
}

/// The id and leaf hash of each row of [`page_after`], in order (JSON columns hashed
/// from their text).
pub(crate) fn leaves(
    backend: DbBackend,
    rows: &[QueryResult],
) -> Result<Vec<(i64, Hash)>, IntegrityError> {
    let mut scratch = Vec::with_capacity(512);
    rows.iter()
        .map(|row| leaf(backend, row, &mut scratch))
        .collect()
}

/// The ten columns after the id of a SQLite row of [`page_after`], packed in a JSON array:
/// text (borrowed where it needs no unescaping) or NULL.
#[derive(serde::Deserialize)]
struct Packed<'a>(
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Option<Cow<'a, str>>,
);

/// A row's columns but its id and time, as text (borrowed where they can be).
struct RowText<'a> {
    changeset_id: Cow<'a, str>,
    table: Cow<'a, str>,
    record_id: Cow<'a, str>,
    operation: Cow<'a, str>,
    column: Cow<'a, str>,
    old_value: Option<Cow<'a, str>>,
    new_value: Option<Cow<'a, str>>,
    actor: Option<Cow<'a, str>>,
    context: Option<Cow<'a, str>>,
}

impl RowText<'_> {
    /// The leaf hash of row `id` with these columns, written at `changed_at_micros`.
    fn leaf(
        &self,
        id: i64,
        changed_at_micros: i64,
        scratch: &mut Vec<u8>,
    ) -> Result<(i64, Hash), IntegrityError> {
        let columns = Columns {
            id,
            changeset_id: &self.changeset_id,
            table: &self.table,
            record_id: &self.record_id,
            operation: &self.operation,
            column: &self.column,
            old_value: self.old_value.as_deref().map(JsonColumn::Text),
            new_value: self.new_value.as_deref().map(JsonColumn::Text),
            actor: self.actor.as_deref(),
            changed_at_micros,
            context: self.context.as_deref().map(JsonColumn::Text),
        };
        let hash = columns.leaf_hash(scratch).map_err(|e| {
            DbErr::Custom(format!(
                "audit row {id} holds a JSON column that is not JSON: {e}"
            ))
        })?;
        Ok((id, hash))
    }
}

/// A row's id and leaf hash, from its columns in [`page_after`]'s order.
fn leaf(
    backend: DbBackend,
    row: &QueryResult,
    scratch: &mut Vec<u8>,
) -> Result<(i64, Hash), IntegrityError> {
    if backend == DbBackend::Sqlite {
        return packed_leaf(row, scratch);
    }
    let text = |i: usize| row.try_get_by_index::<String>(i).map(Cow::Owned);
    let optional = |i: usize| {
        row.try_get_by_index::<Option<String>>(i)
            .map(|t| t.map(Cow::Owned))
    };
    let id: i64 = row.try_get_by_index(0)?;
    let columns = RowText {
        changeset_id: text(1)?,
        table: text(2)?,
        record_id: text(3)?,
        operation: text(4)?,
        column: text(5)?,
        old_value: optional(6)?,
        new_value: optional(7)?,
        actor: optional(8)?,
        context: optional(10)?,
    };
    let changed_at = changed_at_by_index(backend, row, 9)?;
    columns.leaf(id, changed_at.timestamp_micros(), scratch)
}

/// [`leaf`] of a SQLite row, its columns packed (see [`Packed`]).
fn packed_leaf(row: &QueryResult, scratch: &mut Vec<u8>) -> Result<(i64, Hash), IntegrityError> {
    let id: i64 = row.try_get_by_index(0)?;
    let text: String = row.try_get_by_index(1)?;
    // A column that is not text (a number stored where text belongs) fails the read, as
    // it does when read column by column.
    let Packed(changeset_id, table, record_id, operation, column, old, new, actor, at, context) =
        serde_json::from_str(&text).map_err(|e| {
            DbErr::Custom(format!("audit row {id} has a column that is not text: {e}"))
        })?;
    let changed_at = DateTime::parse_from_rfc3339(&at)
        .map_err(|e| DbErr::Custom(format!("audit `changed_at` is not a timestamp: {e}")))?;
    let columns = RowText {
        changeset_id,
        table,
        record_id,
        operation,
        column,
        old_value: old,
        new_value: new,
        actor,
        context,
    };
    columns.leaf(id, changed_at.timestamp_micros(), scratch)
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
        changed_at: changed_at_by_index(backend, row, 9)?,
        context: json("context")?,
    })
}

fn changed_at_by_index(
    backend: DbBackend,
    row: &QueryResult,
    index: usize,
) -> Result<DateTime<Utc>, DbErr> {
    match backend {
        DbBackend::Postgres => row.try_get_by_index(index),
        DbBackend::MySql => row
            .try_get_by_index::<NaiveDateTime>(index)
            .map(|t| t.and_utc()),
        _ => {
            let text: String = row.try_get_by_index(index)?;
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| DbErr::Custom(format!("audit `changed_at` is not a timestamp: {e}")))
        }
    }
}
