//! Audited `delete_many`.

use sea_orm::sea_query::IntoCondition;
use sea_orm::{
    Condition, ConnectionTrait, DbErr, QueryFilter, QueryTrait, TransactionSession,
    TransactionTrait,
};

use super::{record, returning_raw};
use crate::entity::AuditedEntity;
use crate::{Operation, is_enabled};

/// Starts an audited `DELETE` of the rows of `E` that match a filter; see [`DeleteMany`].
pub fn delete_many<E, C>(db: &C) -> DeleteMany<'_, E, C>
where
    E: AuditedEntity,
    C: ConnectionTrait + TransactionTrait,
{
    DeleteMany {
        db,
        filter: Condition::all(),
        _entity: std::marker::PhantomData,
    }
}

/// An audited `DELETE ... WHERE ...`, built like SeaORM's `DeleteMany`.
///
/// Each deleted row gets one audit row per audited column with its old value, taken
/// from `DELETE ... RETURNING` (the very rows deleted, in the same statement).
#[must_use = "a delete does nothing until `exec` is awaited"]
pub struct DeleteMany<'db, E, C> {
    db: &'db C,
    filter: Condition,
    _entity: std::marker::PhantomData<E>,
}

impl<E, C> std::fmt::Debug for DeleteMany<'_, E, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteMany")
            .field("entity", &std::any::type_name::<E>())
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl<E, C> DeleteMany<'_, E, C>
where
    E: AuditedEntity,
    C: ConnectionTrait + TransactionTrait,
{
    /// Restricts the delete to rows matching `condition` (several calls are `AND`ed).
    /// Without a filter every row is deleted, as with SeaORM's `delete_many`.
    pub fn filter(mut self, condition: impl IntoCondition) -> Self {
        self.filter = self.filter.add(condition.into_condition());
        self
    }

    /// Runs the delete; returns how many rows it removed.
    pub async fn exec(self) -> Result<u64, DbErr> {
        if !is_enabled() {
            let delete = E::delete_many().filter(self.filter);
            return Ok(delete.exec(self.db).await?.rows_affected);
        }
        Ok(self.exec_with_returning().await?.len() as u64)
    }

    /// Runs the delete; returns the deleted rows as they were.
    pub async fn exec_with_returning(self) -> Result<Vec<E::Model>, DbErr> {
        let txn = self.db.begin().await?;
        let delete = E::delete_many().filter(self.filter);
        let old = if txn.support_returning() {
            delete.exec_with_returning(&txn).await?
        } else {
            let statement = delete.build(txn.get_database_backend());
            returning_raw::<E, _>(&txn, statement).await?
        };
        if is_enabled() {
            record::<E, _>(&txn, Operation::Delete, old.iter().map(|m| (Some(m), None))).await?;
        }
        txn.commit().await?;
        Ok(old)
    }
}
