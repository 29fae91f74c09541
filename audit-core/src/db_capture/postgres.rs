//! PostgreSQL: statement-level `AFTER` triggers over transition tables, so one statement
//! writes its whole trail with one set-based `INSERT ... SELECT`, whatever its row count;
//! `TRUNCATE` is recorded (as deletes, before the rows go) by a `BEFORE TRUNCATE` trigger.

use super::model::{Capture, Column, Kind};
use super::{COLUMNS, trigger_name};
use crate::{ColumnPolicy, REDACTED};

/// The statements that (re)install the capture of `capture`, idempotently.
pub(crate) fn install_sql(capture: &Capture) -> Vec<String> {
    let table = q(&capture.table);
    let mut sql = Vec::new();
    let ops = [
        (
            "insert",
            "AFTER INSERT",
            "REFERENCING NEW TABLE AS audit_new ",
        ),
        (
            "update",
            "AFTER UPDATE",
            "REFERENCING OLD TABLE AS audit_old NEW TABLE AS audit_new ",
        ),
        (
            "delete",
            "AFTER DELETE",
            "REFERENCING OLD TABLE AS audit_old ",
        ),
        ("truncate", "BEFORE TRUNCATE", ""),
    ];
    for (op, event, referencing) in ops {
        let name = q(&trigger_name(capture, op));
        sql.push(format!(
            "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql \
             SET search_path FROM CURRENT AS $audit$\n{}\n$audit$",
            function_body(capture, op)
        ));
        sql.push(format!("DROP TRIGGER IF EXISTS {name} ON {table}"));
        sql.push(format!(
            "CREATE TRIGGER {name} {event} ON {table} {referencing}FOR EACH STATEMENT \
             EXECUTE FUNCTION {name}()"
        ));
    }
    sql
}

/// The statements that remove it.
pub(crate) fn uninstall_sql(capture: &Capture) -> Vec<String> {
    ["insert", "update", "delete", "truncate"]
        .iter()
        .flat_map(|op| {
            let name = q(&trigger_name(capture, op));
            [
                format!("DROP TRIGGER IF EXISTS {name} ON {}", q(&capture.table)),
                format!("DROP FUNCTION IF EXISTS {name}()"),
            ]
        })
        .collect()
}

/// The names of the installed triggers on `capture`'s table, for the start-up check.
pub(crate) fn triggers_sql() -> &'static str {
    "SELECT tgname::text AS name FROM pg_trigger \
     WHERE tgrelid = to_regclass($1) AND NOT tgisinternal"
}

/// The columns the table has, for the start-up check.
pub(crate) fn table_columns_sql() -> &'static str {
    "SELECT attname::text AS name FROM pg_attribute \
     WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped"
}

/// Sets the scope of the current transaction (reset by PostgreSQL at its end).
pub(crate) fn scope_sql() -> &'static str {
    "SELECT set_config('audit.actor', $1, true), set_config('audit.context', $2, true)"
}

fn function_body(capture: &Capture, op: &str) -> String {
    let audit = q(&capture.audit_table);
    let label = literal(capture.label);
    let (source, rows) = match op {
        "insert" => (
            "audit_new n".to_owned(),
            values(&capture.columns, |c| {
                ("NULL".into(), shown(c, &encode(c.kind, &col("n", c))))
            }),
        ),
        "delete" => (
            "audit_old o".to_owned(),
            values(&capture.columns, |c| {
                (shown(c, &encode(c.kind, &col("o", c))), "NULL".into())
            }),
        ),
        "truncate" => (
            format!("{} o", q(&capture.table)),
            values(&capture.columns, |c| {
                (shown(c, &encode(c.kind, &col("o", c))), "NULL".into())
            }),
        ),
        _ => (
            format!("audit_old o JOIN audit_new n ON {}", key_join(capture)),
            changed_columns(&capture.columns),
        ),
    };
    let key_side = if matches!(op, "insert" | "update") {
        "n"
    } else {
        "o"
    };
    let operation = if op == "truncate" { "delete" } else { op };
    let key_check = if op == "update" {
        format!(
            "IF EXISTS (SELECT 1 FROM audit_old o WHERE NOT EXISTS \
             (SELECT 1 FROM audit_new n WHERE {})) THEN\n  \
             RAISE EXCEPTION 'audit: an UPDATE of `{}` changed a primary key; \
             delete and insert the row instead';\nEND IF;\n",
            key_join(capture),
            capture.table
        )
    } else {
        String::new()
    };
    format!(
        "DECLARE\n  _audit_at timestamptz := clock_timestamp();\n  \
         _audit_ms bigint := floor(extract(epoch FROM _audit_at) * 1000);\n  \
         _audit_h text := lpad(to_hex(_audit_ms), 12, '0');\n  \
         _audit_r text := replace(gen_random_uuid()::text, '-', '');\n  \
         _audit_cs text := substr(_audit_h, 1, 8) || '-' || substr(_audit_h, 9, 4) || '-7' \
         || substr(_audit_r, 1, 3) || '-' \
         || substr('89ab', (get_byte(decode(substr(_audit_r, 13, 2), 'hex'), 0) % 4) + 1, 1) \
         || substr(_audit_r, 4, 3) || '-' || substr(_audit_r, 20, 12);\n  \
         _audit_actor text := NULLIF(current_setting('audit.actor', true), '');\n  \
         _audit_scope text := current_setting('audit.context', true);\n  \
         _audit_ctx jsonb := CASE WHEN _audit_scope IS NULL OR _audit_scope = '' \
         THEN jsonb_build_object('db_user', current_user) \
         WHEN _audit_scope = 'null' THEN NULL ELSE _audit_scope::jsonb END;\n\
         BEGIN\n{key_check}\
         INSERT INTO {audit} ({COLUMNS})\n\
         SELECT _audit_cs, {label}, {rid}, '{operation}', c.audit_column, c.audit_old, c.audit_new, _audit_actor, _audit_at, _audit_ctx\n\
         FROM {source} CROSS JOIN LATERAL ({rows}) AS c(audit_column, audit_old, audit_new);\n\
         RETURN NULL;\nEND",
        rid = record_id(capture, key_side),
    )
}

/// `VALUES ('a', old, new), ...` for every column.
fn values(columns: &[Column], pair: impl Fn(&Column) -> (String, String)) -> String {
    let rows: Vec<String> = columns
        .iter()
        .map(|c| {
            let (old, new) = pair(c);
            format!("({}, {old}::jsonb, {new}::jsonb)", literal(c.name))
        })
        .collect();
    format!("VALUES {}", rows.join(", "))
}

/// One branch per column, kept only when the column's stored value changed.
fn changed_columns(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| {
            let (old, new) = (col("o", c), col("n", c));
            let changed = match c.kind {
                // Equal values that the trail stores differently are changes.
                Kind::Float | Kind::Decimal | Kind::Json | Kind::Array => format!(
                    "{} IS DISTINCT FROM {}",
                    encode(c.kind, &old),
                    encode(c.kind, &new)
                ),
                _ => format!("{old} IS DISTINCT FROM {new}"),
            };
            format!(
                "SELECT {}::text, {}::jsonb, {}::jsonb WHERE {changed}",
                literal(c.name),
                shown(c, &encode(c.kind, &old)),
                shown(c, &encode(c.kind, &new))
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn key_join(capture: &Capture) -> String {
    capture
        .key
        .iter()
        .map(|k| format!("{} = {}", col("o", k), col("n", k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `record_id` as [`crate::record_id`] writes it.
fn record_id(capture: &Capture, side: &str) -> String {
    match capture.key.as_slice() {
        [one] => format!("({} #>> '{{}}')", encode(one.kind, &col(side, one))),
        many => {
            let parts: Vec<String> = many
                .iter()
                .map(|k| format!("({})::text", encode(k.kind, &col(side, k))))
                .collect();
            format!("'[' || {} || ']'", parts.join(" || ',' || "))
        }
    }
}

fn shown(column: &Column, encoded: &str) -> String {
    match column.policy {
        ColumnPolicy::Redact => format!("to_jsonb({}::text)", literal(REDACTED)),
        _ => encoded.to_owned(),
    }
}

/// The trail's JSON of `x` (SQL NULL becomes JSON `null`), as `value::encode` writes it.
pub(crate) fn encode(kind: Kind, x: &str) -> String {
    let frac = |us: &str| {
        format!(
            "CASE WHEN {us} = 0 THEN '' WHEN {us} % 1000 = 0 \
             THEN '.' || lpad(({us} / 1000)::text, 3, '0') ELSE '.' || lpad({us}::text, 6, '0') END"
        )
    };
    let micros = format!("(extract(microseconds FROM {x})::bigint % 1000000)");
    let value = match kind {
        Kind::Bool | Kind::Integer | Kind::Json | Kind::Array => format!("to_jsonb({x})"),
        Kind::Float => format!(
            "CASE WHEN {x} IN ('NaN', 'Infinity', '-Infinity') OR ({x} = 0 AND {x}::text LIKE '-%') \
             THEN to_jsonb(CASE {x}::text WHEN 'Infinity' THEN 'inf' WHEN '-Infinity' THEN '-inf' \
             ELSE {x}::text END) ELSE to_jsonb({x}) END"
        ),
        Kind::Text | Kind::Decimal | Kind::Uuid => format!("to_jsonb({x}::text)"),
        Kind::Bytes => format!("to_jsonb(encode({x}, 'hex'))"),
        Kind::Date => format!("to_jsonb(to_char({x}, 'YYYY-MM-DD'))"),
        Kind::Time => format!("to_jsonb(to_char({x}, 'HH24:MI:SS') || {})", frac(&micros)),
        Kind::DateTime => format!(
            "to_jsonb(to_char({x}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || {})",
            frac(&micros)
        ),
        Kind::DateTimeTz => format!(
            "to_jsonb(to_char({x} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || {} || 'Z')",
            frac(&micros)
        ),
    };
    format!("(CASE WHEN {x} IS NULL THEN 'null'::jsonb ELSE {value} END)")
}

fn col(side: &str, column: &Column) -> String {
    format!("{side}.{}", q(column.name))
}

fn q(name: &str) -> String {
    format!("\"{name}\"")
}

/// A SQL string literal (names reaching here are validated; labels may hold anything).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
