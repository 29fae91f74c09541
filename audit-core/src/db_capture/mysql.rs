//! MariaDB/MySQL: row triggers. The scope of the current transaction is a row of a small
//! InnoDB table keyed by `CONNECTION_ID()`, written when the transaction starts and
//! deleted before it commits. Being a row of the transaction, it also goes with a
//! rollback, a dropped transaction or a lost connection, so a pooled connection never
//! carries one transaction's actor into the next (session variables would outlive it).
//! MySQL does not fire triggers for changes made by foreign-key cascades: those changes
//! have no trail.

use super::model::{Capture, Column, Kind};
use super::{COLUMNS, trigger_name};
use crate::{ColumnPolicy, REDACTED};

/// The table holding each connection's current scope.
pub(crate) fn scope_table(audit_table: &str) -> String {
    format!("{audit_table}_scope")
}

fn scope_table_sql(audit_table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (conn BIGINT UNSIGNED NOT NULL PRIMARY KEY, \
         actor VARCHAR(255) NULL, context LONGTEXT NULL) ENGINE=InnoDB",
        q(&scope_table(audit_table))
    )
}

/// Sets the scope of the transaction that is starting.
pub(crate) fn scope_sql(audit_table: &str) -> String {
    format!(
        "REPLACE INTO {} (conn, actor, context) VALUES (CONNECTION_ID(), ?, ?)",
        q(&scope_table(audit_table))
    )
}

/// Clears it, before the commit.
pub(crate) fn clear_sql(audit_table: &str) -> String {
    format!(
        "DELETE FROM {} WHERE conn = CONNECTION_ID()",
        q(&scope_table(audit_table))
    )
}

/// The statements that (re)install the capture of `capture`.
pub(crate) fn install_sql(capture: &Capture) -> Vec<String> {
    let mut sql = vec![scope_table_sql(&capture.audit_table)];
    for op in ["insert", "update", "delete"] {
        let name = q(&trigger_name(capture, op));
        sql.push(format!("DROP TRIGGER IF EXISTS {name}"));
        sql.push(format!(
            "CREATE TRIGGER {name} AFTER {} ON {} FOR EACH ROW BEGIN\n{}\nEND",
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
    "SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS \
     WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?"
}

/// The columns of table `?`.
pub(crate) fn table_columns_sql() -> &'static str {
    "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS \
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
}

fn body(capture: &Capture, op: &str) -> String {
    let side = if op == "delete" { "OLD" } else { "NEW" };
    let rows = match op {
        "insert" => branches(&capture.columns, |c| {
            (
                "NULL".into(),
                shown(c, &encode(c.kind, &col("NEW", c))),
                None,
            )
        }),
        "delete" => branches(&capture.columns, |c| {
            (
                shown(c, &encode(c.kind, &col("OLD", c))),
                "NULL".into(),
                None,
            )
        }),
        _ => branches(&capture.columns, |c| {
            let (old, new) = (
                encode(c.kind, &col("OLD", c)),
                encode(c.kind, &col("NEW", c)),
            );
            let changed = format!("NOT (BINARY {old} <=> BINARY {new})");
            (shown(c, &old), shown(c, &new), Some(changed))
        }),
    };
    let key_check = if op == "update" {
        let changed: Vec<String> = capture
            .key
            .iter()
            .map(|k| {
                format!(
                    "NOT (BINARY {} <=> BINARY {})",
                    col("NEW", k),
                    col("OLD", k)
                )
            })
            .collect();
        format!(
            "IF {} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit: an UPDATE of `{}` \
             changed a primary key; delete and insert the row instead'; END IF;\n",
            changed.join(" OR "),
            capture.table
        )
    } else {
        String::new()
    };
    format!(
        "DECLARE _audit_at DATETIME(6);\n\
         DECLARE _audit_h CHAR(12);\n\
         DECLARE _audit_r CHAR(32);\n\
         DECLARE _audit_cs CHAR(36);\n\
         DECLARE _audit_scoped INT;\n\
         DECLARE _audit_actor VARCHAR(255);\n\
         DECLARE _audit_ctx LONGTEXT;\n\
         {key_check}\
         SET _audit_at = UTC_TIMESTAMP(6);\n\
         SET _audit_h = LPAD(LOWER(HEX(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', _audit_at) DIV 1000)), 12, '0');\n\
         SET _audit_r = MD5(RAND());\n\
         SET _audit_cs = CONCAT(SUBSTR(_audit_h, 1, 8), '-', SUBSTR(_audit_h, 9, 4), '-7', \
         SUBSTR(_audit_r, 1, 3), '-', SUBSTR('89ab', FLOOR(RAND() * 4) + 1, 1), \
         SUBSTR(_audit_r, 4, 3), '-', SUBSTR(_audit_r, 20, 12));\n\
         SELECT COUNT(*), MAX(actor), MAX(context) INTO _audit_scoped, _audit_actor, _audit_ctx \
         FROM {scope} WHERE conn = CONNECTION_ID();\n\
         IF _audit_scoped = 0 THEN SET _audit_ctx = JSON_OBJECT('db_user', CURRENT_USER()); END IF;\n\
         INSERT INTO {audit} ({COLUMNS})\n\
         SELECT _audit_cs, {label}, {rid}, '{op}', \
         c.n, c.o, c.v, _audit_actor, _audit_at, _audit_ctx\n\
         FROM ({rows}) AS c;",
        audit = q(&capture.audit_table),
        scope = q(&scope_table(&capture.audit_table)),
        label = literal(capture.label),
        rid = record_id(capture, side),
    )
}

/// `SELECT 'a' AS n, old AS o, new AS v [WHERE changed] UNION ALL ...`
fn branches(
    columns: &[Column],
    row: impl Fn(&Column) -> (String, String, Option<String>),
) -> String {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (old, new, changed) = row(c);
            let names = if i == 0 {
                (" AS n", " AS o", " AS v")
            } else {
                ("", "", "")
            };
            let filter = changed.map_or(String::new(), |w| format!(" FROM DUAL WHERE {w}"));
            format!(
                "SELECT {}{}, {old}{}, {new}{}{filter}",
                literal(c.name),
                names.0,
                names.1,
                names.2
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn record_id(capture: &Capture, side: &str) -> String {
    match capture.key.as_slice() {
        [one] if one.kind == Kind::Integer || one.kind == Kind::Text => {
            format!("CAST({} AS CHAR)", col(side, one))
        }
        [one] => format!("JSON_UNQUOTE({})", encode(one.kind, &col(side, one))),
        many => {
            let parts: Vec<String> = many.iter().map(|k| encode(k.kind, &col(side, k))).collect();
            format!("CONCAT('[', {}, ']')", parts.join(", ',', "))
        }
    }
}

fn shown(column: &Column, encoded: &str) -> String {
    match column.policy {
        ColumnPolicy::Redact => format!("JSON_QUOTE({})", literal(REDACTED)),
        _ => encoded.to_owned(),
    }
}

/// The trail's JSON text of `x` (SQL NULL becomes `null`), as `value::encode` writes it
/// for the values sqlx-mysql stores (`DateTime<Utc>` columns read in the session's time
/// zone, which sqlx sets to UTC).
pub(crate) fn encode(kind: Kind, x: &str) -> String {
    let frac = format!(
        "CASE WHEN MICROSECOND({x}) = 0 THEN '' WHEN MICROSECOND({x}) % 1000 = 0 \
         THEN CONCAT('.', LPAD(MICROSECOND({x}) DIV 1000, 3, '0')) \
         ELSE CONCAT('.', LPAD(MICROSECOND({x}), 6, '0')) END"
    );
    let value = match kind {
        Kind::Bool => format!("IF({x}, 'true', 'false')"),
        Kind::Integer => format!("CAST({x} AS CHAR)"),
        // A `FLOAT` prints 6 digits; as a double, every digit it holds.
        Kind::Float => format!("CAST(CAST({x} AS DOUBLE) AS CHAR)"),
        Kind::Text | Kind::Array => format!("JSON_QUOTE({x})"),
        Kind::Decimal => format!("JSON_QUOTE(CAST({x} AS CHAR))"),
        Kind::Bytes => format!("CONCAT('\"', LOWER(HEX({x})), '\"')"),
        Kind::Json => format!("JSON_COMPACT({x})"),
        Kind::Uuid => {
            let h = format!("LOWER(HEX({x}))");
            format!(
                "IF(LENGTH({x}) = 16, CONCAT('\"', SUBSTR({h}, 1, 8), '-', SUBSTR({h}, 9, 4), '-', \
                 SUBSTR({h}, 13, 4), '-', SUBSTR({h}, 17, 4), '-', SUBSTR({h}, 21), '\"'), \
                 JSON_QUOTE({x}))"
            )
        }
        Kind::Date => format!("JSON_QUOTE(DATE_FORMAT({x}, '%Y-%m-%d'))"),
        Kind::Time => format!("JSON_QUOTE(CONCAT(TIME_FORMAT({x}, '%H:%i:%s'), {frac}))"),
        Kind::DateTime => {
            format!("JSON_QUOTE(CONCAT(DATE_FORMAT({x}, '%Y-%m-%dT%H:%i:%s'), {frac}))")
        }
        Kind::DateTimeTz => {
            format!("JSON_QUOTE(CONCAT(DATE_FORMAT({x}, '%Y-%m-%dT%H:%i:%s'), {frac}, 'Z'))")
        }
    };
    format!("(CASE WHEN {x} IS NULL THEN 'null' ELSE {value} END)")
}

fn col(side: &str, column: &Column) -> String {
    format!("{side}.{}", q(column.name))
}

fn q(name: &str) -> String {
    format!("`{name}`")
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}
