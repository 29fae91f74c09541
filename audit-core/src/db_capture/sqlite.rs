//! SQLite: row triggers. SQLite has no session variables and a trigger in `main` cannot
//! read a `TEMP` table, so the scope of the current transaction is one row of a small
//! table in `main` ([`scope_table`]), written when the transaction starts and deleted
//! before it commits (a rollback removes it too). SQLite has one writer at a time, so
//! one row is enough.

use super::model::{Capture, Column, Kind};
use super::{COLUMNS, trigger_name};
use crate::{ColumnPolicy, REDACTED};

/// The table holding the current transaction's scope.
pub(crate) fn scope_table(audit_table: &str) -> String {
    format!("{audit_table}_scope")
}

/// Creates the scope table.
pub(crate) fn scope_table_sql(audit_table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (id INTEGER PRIMARY KEY CHECK (id = 1), actor TEXT, \
         context TEXT)",
        q(&scope_table(audit_table))
    )
}

/// Sets the scope of the transaction that is starting.
pub(crate) fn scope_sql(audit_table: &str) -> String {
    format!(
        "INSERT OR REPLACE INTO {} (id, actor, context) VALUES (1, ?, ?)",
        q(&scope_table(audit_table))
    )
}

/// Clears it, before the commit.
pub(crate) fn clear_sql(audit_table: &str) -> String {
    format!("DELETE FROM {}", q(&scope_table(audit_table)))
}

/// The statements that (re)install the capture of `capture`.
pub(crate) fn install_sql(capture: &Capture) -> Vec<String> {
    let mut sql = vec![scope_table_sql(&capture.audit_table)];
    for op in ["insert", "update", "delete"] {
        let name = q(&trigger_name(capture, op));
        sql.push(format!("DROP TRIGGER IF EXISTS {name}"));
        sql.push(format!(
            "CREATE TRIGGER {name} AFTER {} ON {} BEGIN\n{}\nEND",
            op.to_uppercase(),
            q(&capture.table),
            body(capture, op)
        ));
    }
    sql
}

/// The statements that remove it.
pub(crate) fn uninstall_sql(capture: &Capture) -> Vec<String> {
    ["insert", "update", "delete"]
        .iter()
        .map(|op| format!("DROP TRIGGER IF EXISTS {}", q(&trigger_name(capture, op))))
        .collect()
}

/// The names of the installed triggers on table `?`.
pub(crate) fn triggers_sql() -> &'static str {
    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?"
}

/// The columns of table `?`.
pub(crate) fn table_columns_sql() -> &'static str {
    "SELECT name FROM pragma_table_info(?)"
}

fn body(capture: &Capture, op: &str) -> String {
    let scope = q(&scope_table(&capture.audit_table));
    let ms = "(CAST(strftime('%s', 'now') AS INTEGER) * 1000 \
              + CAST(substr(strftime('%f', 'now'), 4, 3) AS INTEGER))";
    let h = format!("printf('%012x', {ms})");
    let rand = |n: u32| format!("lower(hex(randomblob({n})))");
    let cs = format!(
        "substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-7' || substr({r2}, 1, 3) || '-' \
         || substr('89ab', abs(random() % 4) + 1, 1) || substr({r2}, 1, 3) || '-' || {r6}",
        r2 = rand(2),
        r6 = rand(6)
    );
    let side = if op == "delete" { "OLD" } else { "NEW" };
    let (rows, filter) = match op {
        "insert" => (
            values(&capture.columns, |c| {
                ("NULL".into(), shown(c, &encode(c.kind, &col("NEW", c))))
            }),
            "",
        ),
        "delete" => (
            values(&capture.columns, |c| {
                (shown(c, &encode(c.kind, &col("OLD", c))), "NULL".into())
            }),
            "",
        ),
        _ => (changed_values(&capture.columns), " WHERE c.column4"),
    };
    let key_check = if op == "update" {
        let changed: Vec<String> = capture
            .key
            .iter()
            .map(|k| format!("{} IS NOT {}", col("NEW", k), col("OLD", k)))
            .collect();
        format!(
            "SELECT RAISE(ABORT, 'audit: an UPDATE of `{}` changed a primary key; delete and \
             insert the row instead') WHERE {};\n",
            capture.table,
            changed.join(" OR ")
        )
    } else {
        String::new()
    };
    // `s` is one row, not flattened into the join (it has a LIMIT), so the statement's
    // changeset id is drawn once per row change.
    format!(
        "{key_check}INSERT INTO {audit} ({COLUMNS})\n\
         SELECT s.cs, {label}, {rid}, '{op}', c.column1, c.column2, c.column3, s.actor, s.at, s.ctx\n\
         FROM (SELECT {cs} AS cs, strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z' AS at, \
         (SELECT max(actor) FROM {scope}) AS actor, \
         (SELECT CASE WHEN count(*) = 0 THEN '{{\"db_user\":null}}' ELSE max(context) END \
         FROM {scope}) AS ctx LIMIT 1) AS s\n\
         CROSS JOIN ({rows}) AS c{filter};",
        audit = q(&capture.audit_table),
        label = literal(capture.label),
        rid = record_id(capture, side),
    )
}

fn values(columns: &[Column], pair: impl Fn(&Column) -> (String, String)) -> String {
    let rows: Vec<String> = columns
        .iter()
        .map(|c| {
            let (old, new) = pair(c);
            format!("({}, {old}, {new})", literal(c.name))
        })
        .collect();
    format!("VALUES {}", rows.join(", "))
}

fn changed_values(columns: &[Column]) -> String {
    let rows: Vec<String> = columns
        .iter()
        .map(|c| {
            let (old, new) = (
                encode(c.kind, &col("OLD", c)),
                encode(c.kind, &col("NEW", c)),
            );
            format!(
                "({}, {}, {}, {old} IS NOT {new})",
                literal(c.name),
                shown(c, &old),
                shown(c, &new)
            )
        })
        .collect();
    format!("VALUES {}", rows.join(", "))
}

fn record_id(capture: &Capture, side: &str) -> String {
    match capture.key.as_slice() {
        [one] if one.kind == Kind::Integer || one.kind == Kind::Text => {
            format!("CAST({} AS TEXT)", col(side, one))
        }
        [one] => format!(
            "CAST(json_extract({}, '$') AS TEXT)",
            encode(one.kind, &col(side, one))
        ),
        many => {
            let parts: Vec<String> = many.iter().map(|k| encode(k.kind, &col(side, k))).collect();
            format!("'[' || {} || ']'", parts.join(" || ',' || "))
        }
    }
}

fn shown(column: &Column, encoded: &str) -> String {
    match column.policy {
        ColumnPolicy::Redact => format!("json_quote({})", literal(REDACTED)),
        _ => encoded.to_owned(),
    }
}

/// The trail's JSON text of `x` (SQL NULL becomes `null`), as `value::encode` writes it
/// for the values sqlx-sqlite stores.
pub(crate) fn encode(kind: Kind, x: &str) -> String {
    match kind {
        Kind::Bool => {
            format!("CASE WHEN {x} IS NULL THEN 'null' WHEN {x} THEN 'true' ELSE 'false' END")
        }
        Kind::Integer | Kind::Text | Kind::Date | Kind::Time | Kind::Array => {
            format!("json_quote({x})")
        }
        // The shortest of 15, 16 or 17 digits that reads back as the same double.
        Kind::Float => {
            // Without `!` SQLite prints at most 16 digits.
            let g = |digits: u32| {
                let bang = if digits > 16 { "!" } else { "" };
                format!("printf('%{bang}.{digits}g', {x})")
            };
            format!(
                "CASE WHEN {x} = 9e999 THEN '\"inf\"' WHEN {x} = -9e999 THEN '\"-inf\"' \
                 WHEN typeof({x}) <> 'real' THEN json_quote({x}) \
                 WHEN CAST({g15} AS REAL) = {x} THEN {g15} \
                 WHEN CAST({g16} AS REAL) = {x} THEN {g16} ELSE {g17} END",
                g15 = g(15),
                g16 = g(16),
                g17 = g(17)
            )
        }
        Kind::Decimal => format!("json_quote(CAST({x} AS TEXT))"),
        Kind::Bytes => {
            format!("CASE WHEN {x} IS NULL THEN 'null' ELSE '\"' || lower(hex({x})) || '\"' END")
        }
        Kind::Json => format!("COALESCE(json({x}), 'null')"),
        Kind::Uuid => {
            let h = format!("lower(hex({x}))");
            format!(
                "CASE WHEN typeof({x}) = 'blob' THEN '\"' || substr({h}, 1, 8) || '-' || \
                 substr({h}, 9, 4) || '-' || substr({h}, 13, 4) || '-' || substr({h}, 17, 4) \
                 || '-' || substr({h}, 21) || '\"' ELSE json_quote({x}) END"
            )
        }
        Kind::DateTime => format!("json_quote(replace({x}, ' ', 'T'))"),
        Kind::DateTimeTz => format!(
            "json_quote(CASE WHEN {x} LIKE '%+00:00' \
             THEN substr(replace({x}, ' ', 'T'), 1, length({x}) - 6) || 'Z' \
             ELSE replace({x}, ' ', 'T') END)"
        ),
    }
}

fn col(side: &str, column: &Column) -> String {
    format!("{side}.{}", q(column.name))
}

fn q(name: &str) -> String {
    format!("\"{name}\"")
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
