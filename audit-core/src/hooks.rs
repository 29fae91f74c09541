//! Your own `ActiveModelBehavior` hooks beside auditing.

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait};

type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// The hooks of an audited entity's own, for `#[audit(hooks)]`.
///
/// `#[derive(Audited)]` writes the entity's `ActiveModelBehavior` impl, so an entity that
/// needs hooks of its own (timestamps, validation) marks the model `#[audit(hooks)]` and
/// implements this trait instead, with the same signatures. Your `before_*` hooks run
/// before the audit's (so values they set are audited), your `after_*` hooks after it.
///
/// ```ignore
/// #[audit_core::__private::async_trait]
/// impl audit_core::AuditHooks for ActiveModel {
///     async fn before_save<C: ConnectionTrait>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr> {
///         self.updated_at = Set(chrono::Utc::now());
///         Ok(self)
///     }
/// }
/// ```
#[sea_orm::prelude::async_trait::async_trait]
pub trait AuditHooks: ActiveModelTrait + Send {
    /// Builds a fresh ActiveModel (default: every column `NotSet`).
    fn new() -> Self {
        <Self as ActiveModelTrait>::default()
    }

    /// Runs before `insert`, `update` and `save`, before the audit reads the old row.
    async fn before_save<C>(self, db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        let _ = (db, insert);
        Ok(self)
    }

    /// Runs after `insert`, `update` and `save`, after the audit rows are written.
    async fn after_save<C>(
        model: ModelOf<Self>,
        db: &C,
        insert: bool,
    ) -> Result<ModelOf<Self>, DbErr>
    where
        C: ConnectionTrait,
    {
        let _ = (db, insert);
        Ok(model)
    }

    /// Runs before `delete`, before the audit reads the old row.
    async fn before_delete<C>(self, db: &C) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        let _ = db;
        Ok(self)
    }

    /// Runs after `delete`, after the audit rows are written.
    async fn after_delete<C>(self, db: &C) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        let _ = db;
        Ok(self)
    }
}
