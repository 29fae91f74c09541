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
    /// Registers the `#[audit(redact)]` columns of `E`, under its SQL table name.
    pub fn add_entity<E: AuditedEntity>(&mut self) {
        let table = E::default().table_name().to_owned();
        for column in E::Column::iter() {
            if E::column_policy(&column) == ColumnPolicy::Redact {
                self.add(&table, sea_orm::IdenStatic::as_str(&column));
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

    /// Whether the value in `slot` of a statement touching `tables` must be withheld.
    fn withholds(&self, tables: &[&str], slot: Slot<'_>) -> bool {
        if self.tables.is_empty() {
            return false;
        }
        match slot {
            Slot::NotColumn => false,
            Slot::Column {
                table: Some(table),
                column,
            } if self.position(table).is_some()
                || tables.iter().any(|t| t.eq_ignore_ascii_case(table)) =>
            {
                self.redacts_column(table, column)
            }
            // Unqualified, or qualified by an alias: any table it may belong to.
            Slot::Column { column, .. } if tables.is_empty() => self
                .tables
                .iter()
                .any(|(t, _)| self.redacts_column(t, column)),
            Slot::Column { column, .. } => tables.iter().any(|t| self.redacts_column(t, column)),
            Slot::Unknown if tables.is_empty() => true,
            Slot::Unknown => tables.iter().any(|t| self.position(t).is_some()),
        }
    }

    /// The bound values as a JSON array, with withheld ones replaced by [`REDACTED`].
    pub fn render(&self, parsed: &Parsed<'_>, values: &[Value]) -> String {
        let shown: Vec<Json> = values
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let slot = parsed.slots.get(i).copied().unwrap_or(Slot::Unknown);
                if self.withholds(&parsed.tables, slot) {
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
        redactions.render(&parsed, values)
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
        assert_eq!(render("SELECT ?", &values), r#"["[redacted]"]"#);
        assert_eq!(
            render(r#"SELECT * FROM "account" LIMIT ?"#, &[Value::from(1)]),
            "[1]"
        );
    }
}
