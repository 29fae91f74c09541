//! Audited `insert_many`.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, IntoActiveModel, Iterable, QueryTrait,
    TransactionSession, TransactionTrait,
};

use super::{max_params, record, returning_raw};
use crate::Operation;
use crate::entity::AuditedEntity;

/// Starts an audited insert of `models`, like SeaORM's `Entity::insert_many(models)`; the
/// entity is the models' own. Run it with [`InsertMany::exec`] or
/// [`InsertMany::exec_with_returning`].
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = empty_db().await?;
/// let tickets = ["a", "b", "c"].map(|note| ticket::ActiveModel {
///     status: Set("open".into()),
///     note: Set(note.into()),
///     secret: Set(String::new()),
///     ..Default::default()
/// });
/// assert_eq!(audit_core::bulk::insert_many(tickets).exec(&db).await?, 3);
/// // 3 rows × 4 columns, each recorded as an insert.
/// assert_eq!(audit_core::table_history::<ticket::Entity>().fetch(&db).await?.len(), 12);
/// # Ok(())
/// # }
/// ```
pub fn insert_many<A, I>(models: I) -> InsertMany<A>
where
    A: ActiveModelTrait,
    I: IntoIterator<Item = A>,
{
    InsertMany {
        models: models.into_iter().collect(),
    }
}

/// An audited multi-row `INSERT`: every audited column of each new row is recorded, in
/// the insert's own transaction.
///
/// Rows go in multi-row `INSERT ... RETURNING` statements cut under the backend's
/// bind-parameter limit (MariaDB 10.5+ for `RETURNING` on MySQL-family servers). A row
/// with no column set (every value the table's default) has no multi-row form: it is
/// inserted alone, in order, as `INSERT ... DEFAULT VALUES`.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = empty_db().await?;
/// let one = ticket::ActiveModel { status: Set("open".into()), note: Set("x".into()), secret: Set(String::new()), ..Default::default() };
/// let inserted = audit_core::bulk::insert_many([one]).exec_with_returning(&db).await?;
/// assert_eq!(inserted[0].id, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "an insert does nothing until `exec` is awaited"]
pub struct InsertMany<A> {
    models: Vec<A>,
}

impl<A, E> InsertMany<A>
where
    A: ActiveModelTrait<Entity = E>,
    E: AuditedEntity<ActiveModel = A>,
    E::Model: IntoActiveModel<A>,
{
    /// Runs the insert; returns how many rows it inserted.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = empty_db().await?;
    /// let none: Vec<ticket::ActiveModel> = Vec::new();
    /// assert_eq!(audit_core::bulk::insert_many(none).exec(&db).await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exec<C: TransactionTrait>(self, db: &C) -> Result<u64, DbErr> {
        Ok(self.exec_with_returning(db).await?.len() as u64)
    }

    /// Runs the insert; returns the rows as stored (generated keys and defaults
    /// included), in the order given.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = empty_db().await?;
    /// let rows = ["x", "y"].map(|note| ticket::ActiveModel { status: Set("open".into()), note: Set(note.into()), secret: Set(String::new()), ..Default::default() });
    /// let stored = audit_core::bulk::insert_many(rows).exec_with_returning(&db).await?;
    /// let ids: Vec<i32> = stored.iter().map(|t| t.id).collect();
    /// assert_eq!(ids, [1, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exec_with_returning<C: TransactionTrait>(
        self,
        db: &C,
    ) -> Result<Vec<E::Model>, DbErr> {
        if self.models.is_empty() {
            return Ok(Vec::new());
        }
        let txn = db.begin().await?;
        super::hand_scope::<E, _>(&txn).await?;
        let backend = txn.get_database_backend();
        let rows_per_statement = (max_params(backend) / E::Column::iter().count().max(1)).max(1);
        let mut inserted = Vec::with_capacity(self.models.len());
        let mut batch = Vec::new();
        for model in self.models {
            if E::Column::iter().any(|c| !model.get(c).is_not_set()) {
                batch.push(model);
                if batch.len() == rows_per_statement {
                    inserted.extend(insert_rows::<E, _>(&txn, std::mem::take(&mut batch)).await?);
                }
            } else {
                inserted.extend(insert_rows::<E, _>(&txn, std::mem::take(&mut batch)).await?);
                let insert = E::insert(model);
                let row = if txn.support_returning() {
                    vec![insert.exec_with_returning(&txn).await?]
                } else {
                    returning_raw::<E, _>(&txn, insert.build(backend)).await?
                };
                inserted.extend(row);
            }
        }
        inserted.extend(insert_rows::<E, _>(&txn, batch).await?);
        if super::records::<E>() {
            record::<E, _>(
                &txn,
                Operation::Insert,
                inserted.iter().map(|model| (None, Some(model))),
            )
            .await?;
        }
        super::end_scope::<E, _>(&txn).await?;
        txn.commit().await?;
        Ok(inserted)
    }
}

/// One multi-row `INSERT ... RETURNING` of `rows` (none when `rows` is empty).
async fn insert_rows<E, C>(txn: &C, rows: Vec<E::ActiveModel>) -> Result<Vec<E::Model>, DbErr>
where
    E: AuditedEntity,
    E::Model: IntoActiveModel<E::ActiveModel>,
    C: ConnectionTrait,
{
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let insert = E::insert_many(rows);
    if txn.support_returning() {
        insert.exec_with_returning(txn).await
    } else {
        returning_raw::<E, _>(txn, insert.build(txn.get_database_backend())).await
    }
}
