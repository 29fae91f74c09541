//! Writing audit rows: one multi-row `INSERT` per write, chunked under every backend's limits.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Value};
use serde_json::Value as Json;

use crate::spans;
use crate::{AuditContext, AuditError, Operation, config};

/// At most this many audit rows go in one `INSERT` (10 bind parameters each, far under
/// SQLite's 32,766, PostgreSQL's 65,535 and MySQL's 65,535). Measured: on PostgreSQL a
/// 500-row statement took ~48 ms where two of 200 rows take ~10 ms (the cost per statement
/// grows faster than its rows), so bigger is not better.
const ROWS_PER_STATEMENT: usize = 200;
/// At most this many bind parameters in one statement, counted as PostgreSQL binds them
/// (each changeset's shared values once). Measured on PostgreSQL 15: a 200-row
/// statement of one changeset (1,005 parameters) took ~2 ms, one of 200 rows from 100
/// changesets (1,500 parameters) took ~45 ms.
const PARAMS_PER_STATEMENT: usize = 1_005;
/// A statement is cut early once its values pass this many bytes, to stay under
/// MySQL's `max_allowed_packet` (16 MiB by default).
const BYTES_PER_STATEMENT: usize = 4 << 20;

/// What the rows of one write share: one changeset.
#[derive(Clone, Debug)]
pub(crate) struct Changeset {
    pub id: String,
    pub table: &'static str,
    pub actor: Option<String>,
    pub context: Option<Json>,
    pub at: DateTime<Utc>,
    /// Data keys the write read ahead with its old row, for sealing its personal rows.
    pub keys: crate::erasure::KeyHints,
}

impl Changeset {
    /// A new changeset for `table`, stamped now, with the actor and context in force. Its
    /// id is a UUIDv7 of the same instant, so [`changeset_window`] finds its rows by time.
    pub fn begin(table: &'static str, context: &AuditContext) -> Self {
        let at = Utc::now().trunc_subsecs(6);
        let secs = u64::try_from(at.timestamp()).unwrap_or(0);
        let stamp = uuid::Timestamp::from_unix(uuid::NoContext, secs, at.timestamp_subsec_nanos());
        Changeset {
            id: uuid::Uuid::new_v7(stamp).to_string(),
            table,
            actor: context.actor_name().map(str::to_owned),
            context: context.context_json(),
            at,
            keys: Default::default(),
        }
    }
}

/// The millisecond in which the rows of changeset `id` were stamped: every changeset id
/// this library makes is a UUIDv7 of its rows' `changed_at`. `None` for any other id.
pub(crate) fn changeset_window(id: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    if uuid.get_version() != Some(uuid::Version::SortRand) {
        return None;
    }
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    let start = DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)?;
    Some((start, start + chrono::Duration::milliseconds(1)))
}

/// One audit row: one column of one record.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ColumnChange {
    pub record_id: String,
    pub operation: Operation,
    pub column: &'static str,
    pub old: Option<Json>,
    pub new: Option<Json>,
    /// For a personal column: whose keys seal `old` and `new` when the row is written.
    pub subject: Option<crate::erasure::Sides>,
}

impl ColumnChange {
    fn approx_bytes(&self) -> usize {
        let len = |v: &Option<Json>| v.as_ref().map_or(0, json_len);
        64 + self.record_id.len() + self.column.len() + len(&self.old) + len(&self.new)
    }
}

fn json_len(json: &Json) -> usize {
    match json {
        Json::String(s) => s.len() + 2,
        Json::Array(items) => items.iter().map(json_len).sum::<usize>() + 2,
        Json::Object(map) => {
            map.iter()
                .map(|(k, v)| k.len() + json_len(v) + 4)
                .sum::<usize>()
                + 2
        }
        _ => 8,
    }
}

/// The audit rows of one write: its changeset and one row per recorded column.
pub(crate) type Batch = (Changeset, Vec<ColumnChange>);

/// Writes the rows of one changeset through `db` (so inside the caller's transaction).
pub(crate) async fn write<C: ConnectionTrait>(
    db: &C,
    changeset: &Changeset,
    rows: &[ColumnChange],
) -> Result<(), AuditError> {
    write_rows(db, rows.iter().map(|row| (changeset, row)).collect()).await
}

/// Writes the rows of several changesets, in order, in as few statements as the limits allow.
pub(crate) async fn write_batches<C: ConnectionTrait>(
    db: &C,
    batches: &[Batch],
) -> Result<(), AuditError> {
    let rows = batches
        .iter()
        .flat_map(|(changeset, rows)| rows.iter().map(move |row| (changeset, row)))
        .collect();
    write_rows(db, rows).await
}

async fn write_rows<C: ConnectionTrait>(
    db: &C,
    rows: Vec<(&Changeset, &ColumnChange)>,
) -> Result<(), AuditError> {
    let span = tracing::debug_span!(
        "audit.write",
        db.system = spans::db_system(db.get_database_backend()),
        audit.rows = rows.len(),
        otel.status_code = tracing::field::Empty,
    );
    spans::traced(span, write_rows_now(db, rows)).await
}

async fn write_rows_now<C: ConnectionTrait>(
    db: &C,
    rows: Vec<(&Changeset, &ColumnChange)>,
) -> Result<(), AuditError> {
    let table = config::table_name();
    let backend = db.get_database_backend();
    let sealed = crate::erasure::seal_rows(db, &rows).await?;
    let rows: Vec<(&Changeset, &ColumnChange)> = rows
        .iter()
        .enumerate()
        .map(|(i, &(changeset, row))| {
            (
                changeset,
                sealed.get(i).and_then(Option::as_ref).unwrap_or(row),
            )
        })
        .collect();
    let mut start = 0;
    while start < rows.len() {
        let (mut end, mut bytes, mut params) = (start, 0, 0);
        while end < rows.len()
            && end - start < ROWS_PER_STATEMENT
            && (end == start || (bytes < BYTES_PER_STATEMENT && params < PARAMS_PER_STATEMENT))
        {
            let (changeset, row) = rows[end];
            if end == start || !std::ptr::eq(rows[end - 1].0, changeset) {
                params += SHARED_COLUMNS.len();
            }
            params += ROW_COLUMNS.len();
            bytes += row.approx_bytes();
            end += 1;
        }
        let statement = insert_statement(backend, &table, &rows[start..end]);
        db.execute_raw(statement)
            .await
            .map_err(|source| AuditError::Write {
                table: table.clone(),
                source,
            })?;
        start = end;
    }
    Ok(())
}

/// The columns of `audit_log` an audit row fills: first the five one changeset shares,
/// then the five of each row.
const SHARED_COLUMNS: [&str; 5] = [
    "changeset_id",
    "table_name",
    "actor",
    "changed_at",
    "context",
];
const ROW_COLUMNS: [&str; 5] = [
    "record_id",
    "operation",
    "column_name",
    "old_value",
    "new_value",
];

/// One multi-row `INSERT`, built as text: sea-query's builder cloned every value twice and
/// dominated the cost of an audited write. On PostgreSQL (`$N`) each changeset's five
/// shared values are bound once and referenced from each of its rows; SQLite and MySQL get
/// positional `?` and repeated values (sqlx looks up every SQLite `?NNN` by name, which
/// costs quadratic time in a statement of thousands of parameters). JSON is bound as text
/// on SQLite and MySQL (whose JSON columns are text) and as `jsonb` on PostgreSQL.
fn insert_statement(
    backend: DbBackend,
    table: &str,
    rows: &[(&Changeset, &ColumnChange)],
) -> sea_orm::Statement {
    let quote = if backend == DbBackend::MySql {
        '`'
    } else {
        '"'
    };
    let numbered = backend == DbBackend::Postgres;
    let columns: Vec<String> = SHARED_COLUMNS
        .iter()
        .chain(&ROW_COLUMNS)
        .map(|c| format!("{quote}{c}{quote}"))
        .collect();
    let mut sql = String::with_capacity(64 + rows.len() * 64);
    sql.push_str(&format!(
        "INSERT INTO {quote}{table}{quote} ({}) VALUES ",
        columns.join(", ")
    ));
    let shared = |changeset: &Changeset| {
        [
            Value::String(Some(changeset.id.clone())),
            Value::String(Some(changeset.table.to_owned())),
            Value::String(changeset.actor.clone()),
            time_value(backend, changeset.at),
            bound_json(backend, changeset.context.as_ref()),
        ]
    };
    let mut values = Vec::with_capacity(10 * rows.len());
    // PostgreSQL: the placeholders of the changeset whose shared values were bound last.
    let mut shared_sql: Option<(*const Changeset, String)> = None;
    for (i, (changeset, row)) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        if numbered {
            let bound = shared_sql
                .as_ref()
                .is_some_and(|(at, _)| std::ptr::eq(*at, *changeset));
            if !bound {
                let first = values.len() + 1;
                values.extend(shared(changeset));
                let text = (first..first + SHARED_COLUMNS.len())
                    .map(|n| format!("${n}, "))
                    .collect();
                shared_sql = Some((std::ptr::from_ref(*changeset), text));
            }
            if let Some((_, text)) = &shared_sql {
                sql.push_str(text);
            }
        } else {
            values.extend(shared(changeset));
            sql.push_str("?, ?, ?, ?, ?, ");
        }
        values.extend([
            Value::String(Some(row.record_id.clone())),
            Value::String(Some(row.operation.as_str().to_owned())),
            Value::String(Some(row.column.to_owned())),
            bound_json(backend, row.old.as_ref()),
            bound_json(backend, row.new.as_ref()),
        ]);
        for k in 0..ROW_COLUMNS.len() {
            if k > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push_str(&format!("${}", values.len() - ROW_COLUMNS.len() + k + 1));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

/// A JSON value as bound by [`insert_statement`]: text where the column is text.
fn bound_json(backend: DbBackend, json: Option<&Json>) -> Value {
    match backend {
        DbBackend::Postgres => json_value(json),
        _ => Value::String(json.map(Json::to_string)),
    }
}

/// A JSON value as bound to the audit table: SQL NULL for `None`, text on SQLite and
/// MySQL (whose JSON columns are text), `jsonb` on PostgreSQL.
pub(crate) fn json_value(json: Option<&Json>) -> Value {
    Value::Json(json.map(|j| Box::new(j.clone())))
}

/// A timestamp as bound to `changed_at`. SQLite stores text, so it gets one fixed-width
/// format whose text order is time order.
pub(crate) fn time_value(backend: DbBackend, at: DateTime<Utc>) -> Value {
    match backend {
        DbBackend::Sqlite => Value::String(Some(at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())),
        _ => Value::ChronoDateTimeUtc(Some(at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changeset_window_holds_its_rows_time() {
        for _ in 0..100 {
            let changeset = Changeset::begin("t", &AuditContext::new());
            let (start, end) = changeset_window(&changeset.id).expect("a UUIDv7");
            assert!(start <= changeset.at && changeset.at < end, "{changeset:?}");
        }
        assert_eq!(changeset_window("4242"), None);
        // A UUIDv4.
        assert_eq!(
            changeset_window("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            None
        );
    }
}
