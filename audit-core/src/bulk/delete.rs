//! Audited `delete_many`.

use sea_orm::sea_query::IntoCondition;
use sea_orm::{
    Condition, ConnectionTrait, DbErr, QueryFilter, QueryTrait, TransactionSession,
    TransactionTrait,
};

use super::{record, returning_raw};
use crate::entity::AuditedEntity;
use crate::{Operation, is_enabled};

/// Starts an audited `DELETE` of the rows of `E` that match a filter, like SeaORM's
/// `Entity::delete_many()`; see [`DeleteMany`].
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let gone = audit_core::bulk::delete_many::<ticket::Entity>()
///     .filter(ticket::Column::Status.eq("closed"))
///     .exec(&db)
///     .await?;
/// assert_eq!(gone, 1);
/// // Each deleted row's columns are in the trail with their old values.
/// let deleted = audit_core::history::<ticket::Entity>(1).operation(audit_core::Operation::Delete).fetch(&db).await?;
/// assert_eq!(deleted.len(), 4);
/// # Ok(())
/// # }
/// ```
pub fn delete_many<E: AuditedEntity>() -> DeleteMany<E> {
    DeleteMany {
        filter: Condition::all(),
        _entity: std::marker::PhantomData,
    }
}

/// An audited `DELETE ... WHERE ...`, built like SeaORM's `DeleteMany`.
///
/// Each deleted row gets one audit row per audited column with its old value, taken
/// from `DELETE ... RETURNING` (the very rows deleted, in the same statement).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// let none = audit_core::bulk::delete_many::<ticket::Entity>()
///     .filter(ticket::Column::Status.eq("open"))
///     .exec(&db)
///     .await?;
/// assert_eq!(none, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a delete does nothing until `exec` is awaited"]
pub struct DeleteMany<E> {
    filter: Condition,
    _entity: std::marker::PhantomData<E>,
}

impl<E: AuditedEntity> DeleteMany<E> {
    /// Restricts the delete to rows matching `condition` (several calls are `AND`ed).
    /// Without a filter every row is deleted, as with SeaORM's `delete_many`.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let deleted = audit_core::bulk::delete_many::<ticket::Entity>()
    ///     .filter(ticket::Column::Status.eq("closed"))
    ///     .filter(ticket::Column::Note.contains("printer"))
    ///     .exec(&db)
    ///     .await?;
    /// assert_eq!(deleted, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn filter(mut self, condition: impl IntoCondition) -> Self {
        self.filter = self.filter.add(condition.into_condition());
        self
    }

    /// Runs the delete; returns how many rows it removed.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// assert_eq!(audit_core::bulk::delete_many::<ticket::Entity>().exec(&db).await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exec<C>(self, db: &C) -> Result<u64, DbErr>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        if !is_enabled() {
            let delete = E::delete_many().filter(self.filter);
            return Ok(delete.exec(db).await?.rows_affected);
        }
        Ok(self.exec_with_returning(db).await?.len() as u64)
    }

    /// Runs the delete; returns the deleted rows as they were.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let deleted = audit_core::bulk::delete_many::<ticket::Entity>().exec_with_returning(&db).await?;
    /// assert_eq!(deleted[0].status, "closed");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exec_with_returning<C: TransactionTrait>(
        self,
        db: &C,
    ) -> Result<Vec<E::Model>, DbErr> {
        let txn = db.begin().await?;
        super::hand_scope::<E, _>(&txn).await?;
        let delete = E::delete_many().filter(self.filter);
        let old = if txn.support_returning() {
            delete.exec_with_returning(&txn).await?
        } else {
            let statement = delete.build(txn.get_database_backend());
            returning_raw::<E, _>(&txn, statement).await?
        };
        if super::records::<E>() {
            record::<E, _>(&txn, Operation::Delete, old.iter().map(|m| (Some(m), None))).await?;
        }
        super::end_scope::<E, _>(&txn).await?;
        txn.commit().await?;
        Ok(old)
    }
}
