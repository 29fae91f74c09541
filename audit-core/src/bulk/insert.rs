//! Audited `insert_many`.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, IntoActiveModel, Iterable, QueryTrait,
    TransactionSession, TransactionTrait,
};

use super::{max_params, record, returning_raw};
use crate::entity::AuditedEntity;
use crate::{Operation, is_enabled};

/// Inserts `models` and records every audited column of each new row, in one
/// transaction; returns the rows as stored (generated keys and defaults included).
///
/// Rows go in multi-row `INSERT ... RETURNING` statements cut under the backend's
/// bind-parameter limit (MariaDB 10.5+ for `RETURNING` on MySQL-family servers).
pub async fn insert_many<E, C, I>(db: &C, models: I) -> Result<Vec<E::Model>, DbErr>
where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E>,
    C: TransactionTrait,
    I: IntoIterator<Item = E::ActiveModel>,
{
    let mut models = models.into_iter().peekable();
    if models.peek().is_none() {
        return Ok(Vec::new());
    }
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    let rows_per_statement = (max_params(backend) / E::Column::iter().count().max(1)).max(1);
    let mut inserted = Vec::new();
    loop {
        let chunk: Vec<E::ActiveModel> = models.by_ref().take(rows_per_statement).collect();
        if chunk.is_empty() {
            break;
        }
        let insert = E::insert_many(chunk);
        let rows = if txn.support_returning() {
            insert.exec_with_returning(&txn).await?
        } else {
            returning_raw::<E, _>(&txn, insert.build(backend)).await?
        };
        inserted.extend(rows);
    }
    if is_enabled() {
        record::<E, _>(
            &txn,
            Operation::Insert,
            inserted.iter().map(|model| (None, Some(model))),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(inserted)
}
