//! The query builder over the trail: which rows, in which order, one page at a time.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, IntoValueTuple, Order, Query, QueryStatementBuilder,
    ValueTuple,
};
use sea_orm::{ConnectionTrait, DbBackend, IdenStatic, PrimaryKeyTrait, Statement, Value};
use serde_json::Value as Json;

use super::entry::{AuditEntry, COLUMNS};
use crate::key::record_ids;
use crate::record::{changeset_window, time_value};
use crate::value::stored_forms;
use crate::{AuditError, AuditedEntity, Operation, config};

/// The primary key value of entity `E` (`i32`, `(String, i64)`, ...).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// use audit_core::KeyOf;
/// # use audit_core::Audited;
/// # use sea_orm::entity::prelude::*;
/// # #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
/// # #[sea_orm(table_name = "line")]
/// # pub struct Model {
/// #     #[sea_orm(primary_key, auto_increment = false)]
/// #     pub order_id: i32,
/// #     #[sea_orm(primary_key, auto_increment = false)]
/// #     pub sku: String,
/// # }
/// # #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// # pub enum Relation {}
/// // A composite key is a tuple.
/// let key: KeyOf<Entity> = (7, "tea".to_owned());
/// let _query = audit_core::history::<Entity>(key);
/// ```
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
    /// Only rows of one of these tables (an authorization limit), when set.
    tables: Option<Vec<String>>,
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
    /// Ordered by `(changed_at, id)` instead of `id`: see [`HistoryQuery::by_time`].
    by_time: bool,
    after: Option<i64>,
    limit: Option<u64>,
    /// The entity's `#[audit(personal)]` columns: opened on read, refused in value filters.
    personal: Vec<&'static str>,
    /// The data subject of the record read, where the record is its own subject: its key
    /// is read once with the rows (see [`AuditedEntity::record_subject_kind`]).
    record_subject: Option<crate::erasure::Subject>,
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
        record_subject: E::record_subject_kind().map(|kind| crate::erasure::Subject::of(kind, key)),
        ..table_history::<E>()
    }
}

/// The history of every record of `E` (example in the [module docs](mod@crate::history)).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// // Every audit row of every ticket, oldest first.
/// let rows = audit_core::table_history::<ticket::Entity>().fetch(&db).await?;
/// assert!(rows.iter().all(|row| row.table == "ticket"));
/// assert_eq!(rows.len(), 5); // 4 columns inserted, 1 updated
/// # Ok(())
/// # }
/// ```
pub fn table_history<E: AuditedEntity>() -> HistoryQuery {
    HistoryQuery {
        personal: crate::erasure::personal_columns::<E>(),
        ..all_history().table(E::audit_table())
    }
}

/// The whole trail, every table.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// // The last write made anywhere.
/// let newest = audit_core::all_history().newest_first().limit(1).fetch(&db).await?;
/// assert_eq!(newest[0].actor.as_deref(), Some("bob"));
/// # Ok(())
/// # }
/// ```
pub fn all_history() -> HistoryQuery {
    HistoryQuery::default()
}

/// One page of a [`HistoryQuery`].
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let mut next = None;
/// let mut seen = 0;
/// loop {
///     let mut query = audit_core::history::<ticket::Entity>(1);
///     if let Some(cursor) = next {
///         query = query.after(cursor);
///     }
///     let page = query.page(&db, 2).await?;
///     seen += page.entries.len();
///     match page.next {
///         Some(cursor) => next = Some(cursor),
///         None => break,
///     }
/// }
/// assert_eq!(seen, 5);
/// # Ok(())
/// # }
/// ```
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
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let rows = audit_core::all_history().table("ticket").fetch(&db).await?;
    /// assert_eq!(rows.len(), 5);
    /// assert!(audit_core::all_history().table("invoice").fetch(&db).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// Only rows of one of the tables labelled `tables` (none when it is empty): the
    /// limit of what a reader may see, on top of any other filter.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let rows = audit_core::all_history().tables(["ticket", "invoice"]).fetch(&db).await?;
    /// assert_eq!(rows.len(), 5);
    /// let none: [&str; 0] = [];
    /// assert!(audit_core::all_history().tables(none).fetch(&db).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn tables<T: Into<String>>(mut self, tables: impl IntoIterator<Item = T>) -> Self {
        self.tables = Some(tables.into_iter().map(Into::into).collect());
        self
    }

    /// Only rows of the record whose key text is `record_id` (see [`crate::record_id`]).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let key = audit_core::record_id(&sea_orm::sea_query::ValueTuple::One(1i32.into()));
    /// let rows = audit_core::all_history().table("ticket").record_id(key).fetch(&db).await?;
    /// assert_eq!(rows.len(), 5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn record_id(mut self, record_id: impl Into<String>) -> Self {
        self.record_id = vec![record_id.into()];
        self.record_subject = None;
        self
    }

    /// Only rows of `column`; call again to add more columns.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let statuses = audit_core::history::<ticket::Entity>(1)
    ///     .column(ticket::Column::Status)
    ///     .fetch(&db)
    ///     .await?;
    /// let values: Vec<_> = statuses.iter().map(|row| row.new_value.clone()).collect();
    /// assert_eq!(values, [Some("open".into()), Some("closed".into())]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn column(self, column: impl IdenStatic) -> Self {
        self.column_named(column.as_str())
    }

    /// Only rows of the column named `name`; call again to add more columns.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let rows = audit_core::all_history()
    ///     .column_named("status")
    ///     .column_named("note")
    ///     .fetch(&db)
    ///     .await?;
    /// assert_eq!(rows.len(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn column_named(mut self, name: impl Into<String>) -> Self {
        self.columns.push(name.into());
        self
    }

    /// Only changes made by `actor`.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let by_bob = audit_core::history::<ticket::Entity>(1).actor("bob").fetch(&db).await?;
    /// assert_eq!(by_bob.len(), 1);
    /// assert_eq!(by_bob[0].column, "status");
    /// # Ok(())
    /// # }
    /// ```
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Only rows of `operation`.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::Operation;
    /// let updates = audit_core::all_history().operation(Operation::Update).fetch(&db).await?;
    /// assert_eq!(updates.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn operation(mut self, operation: Operation) -> Self {
        self.operation = Some(operation);
        self
    }

    /// Only rows of the changeset `changeset_id`.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let first = &audit_core::history::<ticket::Entity>(1).limit(1).fetch(&db).await?[0];
    /// // Every row of the insert (one per column) shares its changeset.
    /// let insert = audit_core::all_history().changeset(first.changeset_id.clone()).fetch(&db).await?;
    /// assert_eq!(insert.len(), 4);
    /// # Ok(())
    /// # }
    /// ```
    pub fn changeset(mut self, changeset_id: impl Into<String>) -> Self {
        self.changeset = Some(changeset_id.into());
        self
    }

    /// Only changes at or after `at`.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    /// assert_eq!(audit_core::all_history().since(hour_ago).fetch(&db).await?.len(), 5);
    /// assert!(audit_core::all_history().since(chrono::Utc::now() + chrono::Duration::hours(1)).fetch(&db).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn since(mut self, at: DateTime<Utc>) -> Self {
        self.since = Some(at);
        self
    }

    /// Only changes at or before `at`.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    /// assert!(audit_core::all_history().until(hour_ago).fetch(&db).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// // Who closed ticket 1?
    /// let closed = audit_core::history::<ticket::Entity>(1)
    ///     .column(ticket::Column::Status)
    ///     .new_value("closed")
    ///     .fetch(&db)
    ///     .await?;
    /// assert_eq!(closed[0].actor.as_deref(), Some("bob"));
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let reopened_from_open = audit_core::all_history().old_value("open").fetch(&db).await?;
    /// assert_eq!(reopened_from_open[0].new_value, Some("closed".into()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn old_value(mut self, value: impl Into<Value>) -> Self {
        self.old_value = stored_forms(&value.into());
        self
    }

    /// Oldest first (the default).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let rows = audit_core::all_history().newest_first().oldest_first().fetch(&db).await?;
    /// assert!(rows.windows(2).all(|pair| pair[0].id < pair[1].id));
    /// # Ok(())
    /// # }
    /// ```
    pub fn oldest_first(mut self) -> Self {
        self.newest_first = false;
        self
    }

    /// Newest first.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let rows = audit_core::all_history().newest_first().fetch(&db).await?;
    /// assert!(rows.windows(2).all(|pair| pair[0].id > pair[1].id));
    /// # Ok(())
    /// # }
    /// ```
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    /// Starts after the row with id `cursor` (a [`Page::next`] or any [`AuditEntry::id`]).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let all = audit_core::all_history().fetch(&db).await?;
    /// let rest = audit_core::all_history().after(all[1].id).fetch(&db).await?;
    /// assert_eq!(rest, all[2..]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn after(mut self, cursor: i64) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Orders by change time, then id (the cursor of [`after`](Self::after) still a row
    /// id). The same order as by id but for writes whose times and ids disagree (a
    /// transaction that stamped its rows before another committed); what it buys is the
    /// time index for a time range: a one-day window of a 10M-row trail is read from that
    /// index instead of scanning the id order down to it. [`trail::Filter`] uses it
    /// whenever it has `since` or `until`.
    ///
    /// [`trail::Filter`]: crate::trail::Filter
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let since = chrono::Utc::now() - chrono::Duration::hours(1);
    /// let query = audit_core::all_history().since(since).newest_first().by_time();
    /// let first = query.page(&db, 2).await?;
    /// let rest = query.after(first.next.unwrap()).fetch(&db).await?;
    /// assert_eq!(first.entries.len() + rest.len(), 5);
    /// assert!(first.entries[1].changed_at >= rest[0].changed_at);
    /// # Ok(())
    /// # }
    /// ```
    pub fn by_time(mut self) -> Self {
        self.by_time = true;
        self
    }

    /// At most `limit` rows.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// assert_eq!(audit_core::all_history().limit(2).fetch(&db).await?.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The `SELECT` this query runs on `backend` (for logging or `EXPLAIN`).
    ///
    /// ```
    /// use sea_orm::DbBackend;
    /// let select = audit_core::all_history().actor("bob").limit(10).statement(DbBackend::Postgres);
    /// assert!(select.sql.starts_with(r#"SELECT "id", "changeset_id""#), "{}", select.sql);
    /// assert!(select.sql.contains(r#"WHERE "actor" = $1"#), "{}", select.sql);
    /// ```
    pub fn statement(&self, backend: DbBackend) -> Statement {
        self.statement_with(backend, self.record_key_id().as_deref())
    }

    /// The key id of the record's data subject, where the record is its own subject and a
    /// key-encryption key is configured.
    fn record_key_id(&self) -> Option<String> {
        if self.personal.is_empty() {
            return None;
        }
        crate::erasure::subject_key_id(self.record_subject.as_ref()?)
    }

    /// [`HistoryQuery::statement`], reading the wrapped key stored under `record_key` (the
    /// record's subject's key id) once, else each row's keys.
    fn statement_with(&self, backend: DbBackend, record_key: Option<&str>) -> Statement {
        let col = |name: &str| Expr::col(Alias::new(name));
        let mut select = Query::select();
        if self.personal.is_empty() || backend != DbBackend::Postgres {
            select.columns(COLUMNS.map(Alias::new));
        } else {
            // The values as text, as the other backends store them (for personal columns:
            // see `AuditEntry::from_personal_row`).
            for name in COLUMNS {
                match name {
                    "old_value" | "new_value" => select.expr_as(
                        Expr::col(Alias::new(name)).cast_as(Alias::new("text")),
                        Alias::new(name),
                    ),
                    _ => select.column(Alias::new(name)),
                };
            }
        }
        select.from(Alias::new(config::table_name()));
        let text = |s: &String| Value::String(Some(s.clone()));
        if let Some(table) = &self.table {
            select.and_where(col("table_name").eq(text(table)));
        }
        if let Some(tables) = &self.tables {
            select.and_where(col("table_name").is_in(tables.iter().map(text)));
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
        let past = |left: Expr, right: Expr| {
            if self.newest_first {
                left.lt(right)
            } else {
                left.gt(right)
            }
        };
        match self.after {
            Some(cursor) if self.by_time => {
                // (changed_at, id) beyond the cursor row's: its time read in the statement.
                let at_cursor = || {
                    let mut time = Query::select();
                    time.column(Alias::new("changed_at"))
                        .from(Alias::new(config::table_name()))
                        .and_where(col("id").eq(cursor));
                    Expr::SubQuery(None, Box::new(time.into_sub_query_statement()))
                };
                select.cond_where(
                    Condition::any()
                        .add(past(col("changed_at"), at_cursor()))
                        .add(
                            Condition::all()
                                .add(col("changed_at").eq(at_cursor()))
                                .add(past(col("id"), Expr::val(cursor))),
                        ),
                );
            }
            Some(cursor) => {
                select.and_where(past(col("id"), Expr::val(cursor)));
            }
            None => {}
        }
        let order = if self.newest_first {
            Order::Desc
        } else {
            Order::Asc
        };
        if self.by_time {
            select.order_by(Alias::new("changed_at"), order.clone());
        }
        select.order_by(Alias::new("id"), order);
        if let Some(limit) = self.limit {
            select.limit(limit);
        }
        // The subjects' wrapped keys, read with the rows (no second statement to open them).
        #[cfg(feature = "erasure")]
        match record_key {
            _ if self.personal.is_empty() => {}
            Some(key_id) => crate::erasure::select_subject_key(&mut select, key_id),
            None => crate::erasure::select_keys(&mut select, backend, &config::table_name()),
        }
        #[cfg(not(feature = "erasure"))]
        let _ = record_key;
        backend.build(&select)
    }

    /// Runs the query.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let rows = audit_core::history::<ticket::Entity>(1).fetch(&db).await?;
    /// let secret = rows.iter().find(|row| row.column == "secret").unwrap();
    /// assert_eq!(secret.new_value, Some(audit_core::REDACTED.into()));
    /// # Ok(())
    /// # }
    /// ```
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
            let record_key = self.record_key_id();
            let rows = db
                .query_all_raw(self.statement_with(backend, record_key.as_deref()))
                .await
                .map_err(AuditError::Read)?;
            tracing::Span::current().record("audit.rows", rows.len());
            if self.personal.is_empty() {
                return rows
                    .iter()
                    .map(|row| AuditEntry::from_row(backend, row))
                    .collect::<Result<Vec<_>, _>>();
            }
            let (mut entries, stored): (Vec<_>, Vec<_>) = rows
                .iter()
                .map(|row| AuditEntry::from_personal_row(backend, row, &self.personal))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .unzip();
            let keys = crate::erasure::ReadKeys::from_rows(&rows, record_key);
            crate::erasure::open_entries(db, &self.personal, &mut entries, &stored, &keys).await?;
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
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let page = audit_core::history::<ticket::Entity>(1).page(&db, 4).await?;
    /// assert_eq!(page.entries.len(), 4);
    /// let last = audit_core::history::<ticket::Entity>(1).after(page.next.unwrap()).page(&db, 4).await?;
    /// assert_eq!((last.entries.len(), last.next), (1, None));
    /// # Ok(())
    /// # }
    /// ```
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
