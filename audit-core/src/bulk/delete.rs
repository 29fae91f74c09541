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
#[derive(Debug)]
#[must_use = "a delete does nothing until `exec` is awaited"]
pub struct DeleteMany<E> {
    filter: Condition,
    _entity: std::marker::PhantomData<E>,
}

impl<E: AuditedEntity> DeleteMany<E> {
    /// Restricts the delete to rows matching `condition` (several calls are `AND`ed).
    /// Without a filter every row is deleted, as with SeaORM's `delete_many`.
    pub fn filter(mut self, condition: impl IntoCondition) -> Self {
        self.filter = self.filter.add(condition.into_condition());
        self
    }

    /// Runs the delete; returns how many rows it removed.
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
