//! Which bound values may be logged: never those of `#[audit(redact)]` columns, and, failing
//! closed, none that cannot be attributed in a statement touching a table with such columns.

use sea_orm::{Iterable, Value};
use serde_json::Value as Json;

use super::params::Slot;
use super::parse::Parsed;
use crate::entity::{AuditedEntity, ColumnPolicy, REDACTED};

/// The redacted columns of each registered table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redactions {
    tables: Vec<(String, Vec<String>)>,
}

impl Redactions {
    /// Registers the `#[audit(redact)]` columns of `E`, under its SQL table name and its
    /// label in the trail.
    pub fn add_entity<E: AuditedEntity>(&mut self) {
        let table = E::default().table_name().to_owned();
        for column in E::Column::iter() {
            if matches!(
                E::column_policy(&column),
                ColumnPolicy::Redact | ColumnPolicy::Personal
            ) {
                let column = sea_orm::IdenStatic::as_str(&column);
                self.add(&table, column);
                self.add(E::audit_table(), column);
            }
        }
    }

    /// Registers one redacted column.
    pub fn add(&mut self, table: &str, column: &str) {
        let index = match self.position(table) {
            Some(index) => index,
            None => {
                self.tables.push((table.to_owned(), Vec::new()));
                self.tables.len() - 1
            }
        };
        let columns = &mut self.tables[index].1;
        if !columns.iter().any(|c| c.eq_ignore_ascii_case(column)) {
            columns.push(column.to_owned());
        }
    }

    fn position(&self, table: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|(t, _)| t.eq_ignore_ascii_case(table))
    }

    fn redacts_column(&self, table: &str, column: &str) -> bool {
        self.position(table).is_some_and(|i| {
            self.tables[i]
                .1
                .iter()
                .any(|c| c.eq_ignore_ascii_case(column))
        })
    }

    fn redacts_anywhere(&self, column: &str) -> bool {
        self.tables
            .iter()
            .any(|(_, columns)| columns.iter().any(|c| c.eq_ignore_ascii_case(column)))
    }

    /// Whether a statement may carry a redacted value: it cannot be read, or it names a
    /// registered table, a redacted column or the audit table (anywhere, as any name).
    fn sensitive(&self, parsed: &Parsed<'_>, audit_table: &str) -> bool {
        parsed.unreadable.is_some()
            || parsed.names(audit_table)
            || self.tables.iter().any(|(table, columns)| {
                parsed.names(table) || columns.iter().any(|c| parsed.names(c))
            })
    }

    /// For each parameter of an audit-table `INSERT`, whether it may be shown as an
    /// `old_value`/`new_value`: its row's `table_name` and `column_name` are bound text
    /// naming a column that is not redacted. `None` when the statement is no such `INSERT`.
    fn audit_values_shown(
        &self,
        parsed: &Parsed<'_>,
        values: &[Value],
        audit_table: &str,
    ) -> Option<Vec<bool>> {
        let insert = parsed.insert.as_ref()?;
        if !insert.table.eq_ignore_ascii_case(audit_table) {
            return None;
        }
        let rows = insert.rows(values.len(), ["table_name", "column_name"]);
        let text = |param: Option<usize>| match param.and_then(|p| values.get(p)) {
            Some(Value::String(Some(text))) => Some(text.as_str()),
            _ => None,
        };
        let row_shown: Vec<bool> = rows
            .keys
            .iter()
            .map(|[table, column]| match (text(*table), text(*column)) {
                (Some(table), Some(column)) => !self.redacts_column(table, column),
                _ => false,
            })
            .collect();
        Some(
            rows.row_of
                .iter()
                .map(|row| row.is_some_and(|r| row_shown[r]))
                .collect(),
        )
    }

    /// Which of the bound values must be withheld.
    pub(super) fn withheld(
        &self,
        parsed: &Parsed<'_>,
        values: &[Value],
        audit_table: &str,
    ) -> Vec<bool> {
        if self.tables.is_empty() || !self.sensitive(parsed, audit_table) {
            return vec![false; values.len()];
        }
        if parsed.unreadable.is_some() {
            return vec![true; values.len()];
        }
        let audit = parsed.names(audit_table);
        let audit_shown = if audit {
            self.audit_values_shown(parsed, values, audit_table)
        } else {
            None
        };
        (0..values.len())
            .map(
                |i| match parsed.slots.get(i).copied().unwrap_or(Slot::Unknown) {
                    Slot::NotColumn => false,
                    Slot::Unknown => true,
                    Slot::Column { column, .. } => {
                        self.redacts_anywhere(column)
                            || parsed.derived
                            || parsed.is_alias(column)
                            || (audit
                                && ["old_value", "new_value"]
                                    .iter()
                                    .any(|c| c.eq_ignore_ascii_case(column))
                                && !audit_shown.as_ref().is_some_and(|shown| shown[i]))
                    }
                },
            )
            .collect()
    }

    /// The bound values as a JSON array, with withheld ones replaced by [`REDACTED`].
    pub(super) fn render(
        &self,
        parsed: &Parsed<'_>,
        values: &[Value],
        audit_table: &str,
    ) -> String {
        let withheld = self.withheld(parsed, values, audit_table);
        let shown: Vec<Json> = values
            .iter()
            .zip(withheld)
            .map(|(value, withheld)| {
                if withheld {
                    Json::from(REDACTED)
                } else {
                    crate::value::encode(value)
                }
            })
            .collect();
        Json::Array(shown).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query_log::parse::parse;
    use sea_orm::DbBackend;

    fn render(sql: &str, values: &[Value]) -> String {
        let mut redactions = Redactions::default();
        redactions.add("account", "password_hash");
        let parsed = parse(sql, DbBackend::Sqlite, values.len());
        redactions.render(&parsed, values, "audit_log")
    }

    #[test]
    fn redacted_column_is_withheld_in_insert_and_where() {
        let values = [Value::from("alice"), Value::from("secret")];
        assert_eq!(
            render(
                r#"INSERT INTO "account" ("owner", "password_hash") VALUES (?, ?)"#,
                &values
            ),
            r#"["alice","[redacted]"]"#
        );
        assert_eq!(
            render(
                r#"SELECT * FROM "account" WHERE "owner" = ? AND "account"."password_hash" = ?"#,
                &values
            ),
            r#"["alice","[redacted]"]"#
        );
    }

    #[test]
    fn unattributed_value_fails_closed_only_where_redaction_applies() {
        let values = [Value::from("x")];
        assert_eq!(
            render(r#"SELECT lower(?) FROM "account""#, &values),
            r#"["[redacted]"]"#
        );
        assert_eq!(
            render(r#"SELECT lower(?) FROM "other""#, &values),
            r#"["x"]"#
        );
        assert_eq!(render("SELECT ?", &values), r#"["x"]"#);
        assert_eq!(render("SELECT ?, ?", &values), r#"["[redacted]"]"#);
        assert_eq!(
            render(r#"SELECT * FROM "account" LIMIT ?"#, &[Value::from(1)]),
            "[1]"
        );
    }
}
