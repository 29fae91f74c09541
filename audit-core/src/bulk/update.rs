//! Audited `update_many`.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, DbErr, IdenStatic,
    Iterable, ModelTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionSession,
    TransactionTrait,
};

use super::{key_columns, keys_condition, max_params, model_record_id, record};
use crate::entity::AuditedEntity;
use crate::{AuditError, Operation, is_enabled};

/// At most this many composite keys in one `UPDATE ... WHERE (a, b) IN (...)`.
const COMPOSITE_KEYS_PER_STATEMENT: usize = 5_000;

/// Starts an audited `UPDATE` of the rows of `E` that match a filter, like SeaORM's
/// `Entity::update_many()`; see [`UpdateMany`].
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let changed = audit_core::bulk::update_many::<ticket::Entity>()
///     .col_expr(ticket::Column::Status, Expr::value("archived"))
///     .filter(ticket::Column::Status.eq("closed"))
///     .exec(&db)
///     .await?;
/// assert_eq!(changed, 1);
/// let last = audit_core::history::<ticket::Entity>(1).newest_first().limit(1).fetch(&db).await?;
/// assert_eq!((last[0].old_value.clone(), last[0].new_value.clone()), (Some("closed".into()), Some("archived".into())));
/// # Ok(())
/// # }
/// ```
pub fn update_many<E: AuditedEntity>() -> UpdateMany<E> {
    UpdateMany {
        values: Vec::new(),
        filter: Condition::all(),
    }
}

/// An audited `UPDATE ... SET ... WHERE ...`, built like SeaORM's `UpdateMany`.
///
/// Each changed row gets one audit row per audited column whose value changed, old value
/// read in the same transaction (locked on PostgreSQL and MySQL), new value as stored.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let none = audit_core::bulk::update_many::<ticket::Entity>()
///     .col_expr(ticket::Column::Note, Expr::value("n/a"))
///     .filter(ticket::Column::Status.eq("open"))
///     .exec(&db)
///     .await?;
/// assert_eq!(none, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "an update does nothing until `exec` is awaited"]
pub struct UpdateMany<E: AuditedEntity> {
    values: Vec<(E::Column, Expr)>,
    filter: Condition,
}

impl<E: AuditedEntity> UpdateMany<E> {
    /// Sets `column` to `expr` (which may refer to the row's columns).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// // An expression over the row's own columns.
    /// let changed = audit_core::bulk::update_many::<ticket::Entity>()
    ///     .col_expr(ticket::Column::Note, Expr::cust("upper(note)"))
    ///     .exec_with_returning(&db)
    ///     .await?;
    /// assert_eq!(changed[0].note, "PRINTER JAM");
    /// # Ok(())
    /// # }
    /// ```
    pub fn col_expr(mut self, column: E::Column, expr: impl Into<Expr>) -> Self {
        self.values.push((column, expr.into()));
        self
    }

    /// Sets every column that is `Set` in `model` to its value.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let values = ticket::ActiveModel { note: Set("toner".into()), ..Default::default() };
    /// let changed = audit_core::bulk::update_many::<ticket::Entity>().set(values).exec_with_returning(&db).await?;
    /// assert_eq!(changed[0].note, "toner");
    /// # Ok(())
    /// # }
    /// ```
    pub fn set<A: ActiveModelTrait<Entity = E>>(mut self, model: A) -> Self {
        for column in E::Column::iter() {
            if let ActiveValue::Set(value) = model.get(column) {
                self.values.push((column, column.save_as(Expr::val(value))));
            }
        }
        self
    }

    /// Restricts the update to rows matching `condition` (several calls are `AND`ed).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let changed = audit_core::bulk::update_many::<ticket::Entity>()
    ///     .col_expr(ticket::Column::Status, Expr::value("open"))
    ///     .filter(ticket::Column::Id.eq(1))
    ///     .exec(&db)
    ///     .await?;
    /// assert_eq!(changed, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn filter(mut self, condition: impl IntoCondition) -> Self {
        self.filter = self.filter.add(condition.into_condition());
        self
    }

    /// Runs the update; returns how many rows it matched (with auditing off, SeaORM's
    /// `rows_affected`, which on MySQL counts only rows whose values changed).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let unchanged = audit_core::bulk::update_many::<ticket::Entity>()
    ///     .col_expr(ticket::Column::Status, Expr::value("open"))
    ///     .filter(ticket::Column::Id.eq(99))
    ///     .exec(&db)
    ///     .await?;
    /// assert_eq!(unchanged, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exec<C>(self, db: &C) -> Result<u64, DbErr>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        if self.values.is_empty() {
            return Ok(0);
        }
        self.check_key_untouched()?;
        if !is_enabled() {
            let update = self.statement().filter(self.filter.clone());
            return Ok(update.exec(db).await?.rows_affected);
        }
        Ok(self.run(db).await?.len() as u64)
    }

    /// Runs the update; returns the updated rows as stored, in primary key order.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let changed = audit_core::bulk::update_many::<ticket::Entity>()
    ///     .col_expr(ticket::Column::Status, Expr::value("reopened"))
    ///     .exec_with_returning(&db)
    ///     .await?;
    /// assert_eq!(changed[0].status, "reopened");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exec_with_returning<C>(self, db: &C) -> Result<Vec<E::Model>, DbErr>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        if self.values.is_empty() {
            return Ok(Vec::new());
        }
        self.check_key_untouched()?;
        self.run(db).await
    }

    /// Reads the matching rows locked, updates them by key in chunks, records the changes.
    async fn run<C: TransactionTrait>(self, db: &C) -> Result<Vec<E::Model>, DbErr> {
        let txn = db.begin().await?;
        super::hand_scope::<E, _>(&txn).await?;
        let mut select = E::find().filter(self.filter.clone());
        for column in key_columns::<E>() {
            select = select.order_by_asc(column);
        }
        let old = select.lock_exclusive().all(&txn).await?;
        let mut new: HashMap<String, E::Model> = HashMap::with_capacity(old.len());
        for chunk in old.chunks(self.keys_per_statement(&txn)?) {
            let keys = || chunk.iter().map(|m| m.get_primary_key_value()).collect();
            let backend = txn.get_database_backend();
            let update = self
                .statement()
                .filter(keys_condition::<E>(backend, keys()));
            let rows = if txn.support_returning() {
                update.exec_with_returning(&txn).await?
            } else {
                update.exec(&txn).await?;
                E::find()
                    .filter(keys_condition::<E>(backend, keys()))
                    .all(&txn)
                    .await?
            };
            new.extend(rows.into_iter().map(|m| (model_record_id(&m), m)));
        }
        let pairs: Vec<(&E::Model, E::Model)> = old
            .iter()
            .filter_map(|o| new.remove(&model_record_id(o)).map(|n| (o, n)))
            .collect();
        if super::records::<E>() {
            record::<E, _>(
                &txn,
                Operation::Update,
                pairs.iter().map(|(o, n)| (Some(*o), Some(n))),
            )
            .await?;
        }
        super::end_scope::<E, _>(&txn).await?;
        txn.commit().await?;
        Ok(pairs.into_iter().map(|(_, n)| n).collect())
    }

    /// The `UPDATE ... SET` part, without a filter.
    fn statement(&self) -> sea_orm::UpdateMany<E> {
        self.values
            .iter()
            .fold(E::update_many(), |update, (column, expr)| {
                update.col_expr(*column, expr.clone())
            })
    }

    /// How many keys fit in one `UPDATE` beside the `SET` values' parameters.
    fn keys_per_statement<T: ConnectionTrait>(&self, db: &T) -> Result<usize, AuditError> {
        let backend = db.get_database_backend();
        let set_params = self
            .statement()
            .build(backend)
            .values
            .map_or(0, |v| v.0.len());
        let per_key = key_columns::<E>().len().max(1);
        let room = max_params(backend).saturating_sub(set_params) / per_key;
        if room == 0 {
            return Err(AuditError::Input(format!(
                "bulk update of `{}` binds {set_params} values in SET, leaving no room for keys",
                E::audit_table()
            )));
        }
        // PostgreSQL expands `(a, b) IN ((..), ..)` into one comparison per key and runs
        // out of stack depth past ~30,000 keys; a few thousand per statement stay cheap.
        let room = if per_key > 1 {
            room.min(COMPOSITE_KEYS_PER_STATEMENT)
        } else {
            room
        };
        Ok(room)
    }

    /// Changing a key would detach the audit trail from its record.
    fn check_key_untouched(&self) -> Result<(), AuditError> {
        let keys: Vec<&str> = key_columns::<E>().iter().map(|c| c.as_str()).collect();
        match self.values.iter().find(|(c, _)| keys.contains(&c.as_str())) {
            Some((column, _)) => Err(AuditError::Input(format!(
                "bulk update cannot change primary key column `{}.{}`",
                E::audit_table(),
                column.as_str()
            ))),
            None => Ok(()),
        }
    }
}
