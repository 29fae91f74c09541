//! The query builder over the trail: which rows, in which order, one page at a time.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, IntoValueTuple, Order, Query, ValueTuple};
use sea_orm::{ConnectionTrait, DbBackend, IdenStatic, PrimaryKeyTrait, Statement, Value};
use serde_json::Value as Json;

use super::entry::{AuditEntry, COLUMNS};
use crate::key::record_ids;
use crate::record::{changeset_window, time_value};
use crate::value::stored_forms;
use crate::{AuditError, AuditedEntity, Operation, config};

/// The primary key value of entity `E` (`i32`, `(String, i64)`, ...).
pub type KeyOf<E> = <<E as sea_orm::EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

/// A read of the audit trail: filters, order and page, run with [`fetch`](Self::fetch) or
/// [`page`](Self::page). Start from [`history`], [`table_history`] or [`all_history`].
///
/// Every read is ordered by the rows' `id` (the order they were written), oldest first
/// unless [`newest_first`](Self::newest_first). Pages are keyset pages: the next page
/// starts after the last row's id, so reading far into a large trail stays cheap.
///
/// ```
/// use audit_core::Operation;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// # audit_core::create_audit_table(&db).await?;
/// let week_ago = chrono::Utc::now() - chrono::Duration::days(7);
/// // Every update of the last week that closed a `ticket`, newest first.
/// let query = audit_core::all_history()
///     .table("ticket")
///     .column_named("status")
///     .new_value("closed")
///     .operation(Operation::Update)
///     .since(week_ago)
///     .newest_first();
/// assert!(query.fetch(&db).await?.is_empty());
/// let page = query.page(&db, 50).await?;
/// assert!(page.entries.is_empty() && page.next.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use = "a query does nothing until `fetch` or `page` is awaited"]
pub struct HistoryQuery {
    table: Option<String>,
    /// The record's key text, and the texts earlier versions wrote for the same key.
    record_id: Vec<String>,
    columns: Vec<String>,
    actor: Option<String>,
    operation: Option<Operation>,
    changeset: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// The value's stored form and its earlier forms (see [`crate::value`]).
    old_value: Vec<Json>,
    new_value: Vec<Json>,
    newest_first: bool,
    after: Option<i64>,
    limit: Option<u64>,
    /// The entity's `#[audit(personal)]` columns: opened on read, refused in value filters.
    personal: Vec<&'static str>,
}

/// The history of one record of `E`, by primary key (a tuple for a composite key); the
/// key is taken like SeaORM's `find_by_id` takes it (`history::<E>("id")` for a `String` key).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # use audit_core::Audited;
/// # use sea_orm::entity::prelude::*;
/// # use sea_orm::{ActiveValue::Set, Database, Schema};
/// # mod ticket {
/// #     use super::*;
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
/// #     #[sea_orm(table_name = "ticket")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key)]
/// #         pub id: i32,
/// #         pub status: String,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = Database::connect("sqlite::memory:").await?;
/// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(ticket::Entity)).await?;
/// # audit_core::create_audit_table(&db).await?;
/// # let t = ticket::ActiveModel { status: Set("open".into()), ..Default::default() }.insert(&db).await?;
/// # std::thread::sleep(std::time::Duration::from_millis(2));
/// # let opened = chrono::Utc::now();
/// # std::thread::sleep(std::time::Duration::from_millis(2));
/// # let mut am: ticket::ActiveModel = t.into();
/// # am.status = Set("closed".into());
/// # am.update(&db).await?;
/// // Ticket 1 was inserted `open`, then (after the instant `opened`) set to `closed`.
/// let entries = audit_core::history::<ticket::Entity>(1).fetch(&db).await?;
/// let changes: Vec<_> = entries.iter().map(|e| (e.operation.as_str(), e.column.as_str())).collect();
/// assert_eq!(changes, [("insert", "id"), ("insert", "status"), ("update", "status")]);
/// # Ok(())
/// # }
/// ```
pub fn history<E: AuditedEntity>(key: impl Into<KeyOf<E>>) -> HistoryQuery {
    record_history::<E>(&key.into().into_value_tuple())
}

/// [`history`] of the record with primary key `key`.
pub(crate) fn record_history<E: AuditedEntity>(key: &ValueTuple) -> HistoryQuery {
    HistoryQuery {
        record_id: record_ids(key),
        ..table_history::<E>()
    }
}

/// The history of every record of `E` (example in the [module docs](mod@crate::history)).
pub fn table_history<E: AuditedEntity>() -> HistoryQuery {
    HistoryQuery {
        personal: crate::erasure::personal_columns::<E>(),
        ..all_history().table(E::audit_table())
    }
}

/// The whole trail, every table.
pub fn all_history() -> HistoryQuery {
    HistoryQuery::default()
}

/// One page of a [`HistoryQuery`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Page {
    /// The rows of this page, in the query's order.
    pub entries: Vec<AuditEntry>,
    /// The cursor of the next page (pass it to [`HistoryQuery::after`]), `None` on the last.
    pub next: Option<i64>,
}

impl HistoryQuery {
    /// Only rows of the table labelled `table` (see [`AuditedEntity::audit_table`]).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// Only rows of the record whose key text is `record_id` (see [`crate::record_id`]).
    pub fn record_id(mut self, record_id: impl Into<String>) -> Self {
        self.record_id = vec![record_id.into()];
        self
    }

    /// Only rows of `column`; call again to add more columns.
    pub fn column(self, column: impl IdenStatic) -> Self {
        self.column_named(column.as_str())
    }

    /// Only rows of the column named `name`; call again to add more columns.
    pub fn column_named(mut self, name: impl Into<String>) -> Self {
        self.columns.push(name.into());
        self
    }

    /// Only changes made by `actor`.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Only rows of `operation`.
    pub fn operation(mut self, operation: Operation) -> Self {
        self.operation = Some(operation);
        self
    }

    /// Only rows of the changeset `changeset_id`.
    pub fn changeset(mut self, changeset_id: impl Into<String>) -> Self {
        self.changeset = Some(changeset_id.into());
        self
    }

    /// Only changes at or after `at`.
    pub fn since(mut self, at: DateTime<Utc>) -> Self {
        self.since = Some(at);
        self
    }

    /// Only changes at or before `at`.
    pub fn until(mut self, at: DateTime<Utc>) -> Self {
        self.until = Some(at);
        self
    }

    /// Only rows whose new value is `value`, e.g. every time a status became `"closed"`
    /// (combine with [`column`](Self::column)). SQL NULL is `Value::String(None)` or any
    /// other null value.
    ///
    /// The value is compared in its stored form (see [`crate::value`]): JSON with its keys
    /// in any order, and the forms earlier versions stored (a native enum's serde form),
    /// match too.
    pub fn new_value(mut self, value: impl Into<Value>) -> Self {
        self.new_value = stored_forms(&value.into());
        self
    }

    /// Only rows whose new value is the recorded JSON `json` (for readers without entity
    /// types, such as [`crate::trail`]).
    pub(crate) fn new_json(mut self, json: Json) -> Self {
        self.new_value = vec![json];
        self
    }

    /// Only rows whose old value is `value` (compared as [`new_value`](Self::new_value)).
    pub fn old_value(mut self, value: impl Into<Value>) -> Self {
        self.old_value = stored_forms(&value.into());
        self
    }

    /// Oldest first (the default).
    pub fn oldest_first(mut self) -> Self {
        self.newest_first = false;
        self
    }

    /// Newest first.
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    /// Starts after the row with id `cursor` (a [`Page::next`] or any [`AuditEntry::id`]).
    pub fn after(mut self, cursor: i64) -> Self {
        self.after = Some(cursor);
        self
    }

    /// At most `limit` rows.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The `SELECT` this query runs on `backend` (for logging or `EXPLAIN`).
    pub fn statement(&self, backend: DbBackend) -> Statement {
        let col = |name: &str| Expr::col(Alias::new(name));
        let mut select = Query::select();
        select
            .columns(COLUMNS.map(Alias::new))
            .from(Alias::new(config::table_name()));
        let text = |s: &String| Value::String(Some(s.clone()));
        if let Some(table) = &self.table {
            select.and_where(col("table_name").eq(text(table)));
        }
        match self.record_id.as_slice() {
            [] => {}
            [one] => {
                select.and_where(col("record_id").eq(text(one)));
            }
            many => {
                select.and_where(col("record_id").is_in(many.iter().map(text)));
            }
        }
        match self.columns.as_slice() {
            [] => {}
            [one] => {
                select.and_where(col("column_name").eq(text(one)));
            }
            many => {
                select.and_where(col("column_name").is_in(many.iter().map(text)));
            }
        }
        if let Some(actor) = &self.actor {
            select.and_where(col("actor").eq(text(actor)));
        }
        if let Some(operation) = self.operation {
            select.and_where(col("operation").eq(operation.as_str()));
        }
        if let Some(changeset) = &self.changeset {
            select.and_where(col("changeset_id").eq(text(changeset)));
            // The changeset's millisecond, which the time index finds.
            if let Some((start, end)) = changeset_window(changeset) {
                select.and_where(col("changed_at").gte(time_value(backend, start)));
                select.and_where(col("changed_at").lt(time_value(backend, end)));
            }
        }
        if let Some(at) = self.since {
            select.and_where(col("changed_at").gte(time_value(backend, at.trunc_subsecs(6))));
        }
        if let Some(at) = self.until {
            select.and_where(col("changed_at").lte(time_value(backend, at.trunc_subsecs(6))));
        }
        for (column, forms) in [
            ("old_value", &self.old_value),
            ("new_value", &self.new_value),
        ] {
            match forms.as_slice() {
                [] => {}
                [one] => {
                    select.and_where(col(column).eq(json_bind(backend, one)));
                }
                many => {
                    let binds = many.iter().map(|json| json_bind(backend, json));
                    select.and_where(col(column).is_in(binds));
                }
            }
        }
        if let Some(cursor) = self.after {
            select.and_where(if self.newest_first {
                col("id").lt(cursor)
            } else {
                col("id").gt(cursor)
            });
        }
        let order = if self.newest_first {
            Order::Desc
        } else {
            Order::Asc
        };
        select.order_by(Alias::new("id"), order);
        if let Some(limit) = self.limit {
            select.limit(limit);
        }
        backend.build(&select)
    }

    /// Runs the query.
    pub async fn fetch<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<AuditEntry>, AuditError> {
        self.check_personal_filter()?;
        let backend = db.get_database_backend();
        let span = tracing::debug_span!(
            "audit.history",
            db.system = crate::spans::db_system(backend),
            audit.rows = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let read = async {
            let rows = db
                .query_all_raw(self.statement(backend))
                .await
                .map_err(AuditError::Read)?;
            tracing::Span::current().record("audit.rows", rows.len());
            let mut entries = rows
                .iter()
                .map(|row| AuditEntry::from_row(backend, row))
                .collect::<Result<Vec<_>, _>>()?;
            crate::erasure::open_entries(db, &self.personal, &mut entries).await?;
            Ok(entries)
        };
        crate::spans::traced(span, read).await
    }

    /// A value filter that could match a personal column is refused: the database holds
    /// only its ciphertext, so the filter would silently miss its changes.
    fn check_personal_filter(&self) -> Result<(), AuditError> {
        if self.personal.is_empty() || (self.old_value.is_empty() && self.new_value.is_empty()) {
            return Ok(());
        }
        let hit = match self.columns.as_slice() {
            [] => self.personal.first().copied(),
            columns => self
                .personal
                .iter()
                .copied()
                .find(|p| columns.iter().any(|c| c == p)),
        };
        match hit {
            Some(column) => Err(AuditError::PersonalFilter {
                table: self.table.clone().unwrap_or_default(),
                column: column.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Runs the query for one page of at most `size` rows (this query's own
    /// [`after`](Self::after) is the start; its [`limit`](Self::limit) is replaced).
    pub async fn page<C: ConnectionTrait>(&self, db: &C, size: u64) -> Result<Page, AuditError> {
        let mut entries = self.clone().limit(size.saturating_add(1)).fetch(db).await?;
        let more = entries.len() as u64 > size;
        entries.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        let next = more.then(|| entries.last().map(|e| e.id)).flatten();
        Ok(Page { entries, next })
    }
}

/// A JSON value as compared with a stored one: `jsonb` on PostgreSQL (equal JSON, whatever
/// its text), and on MySQL and SQLite the compact text the runtime writes (keys sorted, so
/// equal JSON is equal text, `serde_json/preserve_order` or not).
fn json_bind(backend: DbBackend, json: &Json) -> Value {
    match backend {
        DbBackend::Postgres => Value::Json(Some(Box::new(json.clone()))),
        _ => Value::String(Some(json.to_string())),
    }
}
