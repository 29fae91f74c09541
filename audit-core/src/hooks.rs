//! Your own `ActiveModelBehavior` hooks beside auditing.

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait};

/// Implemented by `#[derive(Audited)]` for the `ActiveModel` of a model marked
/// `#[audit(hooks)]`, the only models whose [`AuditHooks`] run.
#[diagnostic::on_unimplemented(
    message = "the hooks of `{Self}` would never run: its model lacks `#[audit(hooks)]`",
    label = "`impl AuditHooks` needs `#[audit(hooks)]` on the model",
    note = "add `#[audit(hooks)]` to the `Model` that derives `Audited`"
)]
pub trait HooksEnabled {}

type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// The hooks of an audited entity's own, for `#[audit(hooks)]`.
///
/// `#[derive(Audited)]` writes the entity's `ActiveModelBehavior` impl, so an entity that
/// needs hooks of its own (timestamps, validation) marks the model `#[audit(hooks)]` and
/// implements this trait instead, with the same signatures. Your `before_*` hooks run
/// before the audit's (so values they set are audited), your `after_*` hooks after it.
///
/// The impl carries `#[audit_core::async_trait]`. Without `#[audit(hooks)]` on the model
/// an `impl AuditHooks` does not compile (its hooks would never run).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// use audit_core::{AuditHooks, Audited};
/// use sea_orm::entity::prelude::*;
/// use sea_orm::{ActiveValue::Set, Database, Schema};
///
/// mod note {
///     use super::*;
///
///     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
///     #[sea_orm(table_name = "note")]
///     #[audit(hooks)]
///     pub struct Model {
///         #[sea_orm(primary_key)]
///         pub id: i32,
///         pub text: String,
///         pub updated_at: Option<ChronoDateTimeUtc>,
///     }
///
///     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
///     pub enum Relation {}
///
///     #[audit_core::async_trait]
///     impl AuditHooks for ActiveModel {
///         async fn before_save<C: ConnectionTrait>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr> {
///             self.updated_at = Set(Some(chrono::Utc::now()));
///             Ok(self)
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = Database::connect("sqlite::memory:").await?;
/// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(note::Entity)).await?;
/// # audit_core::create_audit_table(&db).await?;
/// let saved = note::ActiveModel { text: Set("hi".into()), ..Default::default() }.insert(&db).await?;
/// assert!(saved.updated_at.is_some()); // set by your hook, and audited:
/// let columns: Vec<String> = audit_core::history::<note::Entity>(saved.id)
///     .fetch(&db)
///     .await?
///     .into_iter()
///     .map(|entry| entry.column)
///     .collect();
/// assert_eq!(columns, ["id", "text", "updated_at"]);
/// # Ok(())
/// # }
/// ```
#[sea_orm::prelude::async_trait::async_trait]
pub trait AuditHooks: ActiveModelTrait + Send + HooksEnabled {
    /// Builds a fresh ActiveModel (default: every column `NotSet`).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// use audit_core::{AuditHooks, Audited};
    /// # use sea_orm::entity::prelude::*;
    /// # use sea_orm::{ActiveValue::Set, Database, Schema};
    /// mod note {
    ///     use super::*;
    ///     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    ///     #[sea_orm(table_name = "note")]
    ///     #[audit(hooks)]
    ///     pub struct Model {
    ///         #[sea_orm(primary_key)]
    ///         pub id: i32,
    ///         pub text: String,
    ///     }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {}
    ///     #[audit_core::async_trait]
    ///     impl AuditHooks for ActiveModel {
    ///         fn new() -> Self {
    ///             Self { text: Set("(empty)".into()), ..ActiveModelTrait::default() }
    ///         }
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(note::Entity)).await?;
    /// # audit_core::create_audit_table(&db).await?;
    /// let saved = <note::ActiveModel as ActiveModelBehavior>::new().insert(&db).await?;
    /// assert_eq!(saved.text, "(empty)");
    /// # Ok(())
    /// # }
    /// ```
    fn new() -> Self {
        <Self as ActiveModelTrait>::default()
    }

    /// Runs before `insert`, `update` and `save`, before the audit reads the old row.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// use audit_core::{AuditHooks, Audited};
    /// # use sea_orm::entity::prelude::*;
    /// # use sea_orm::{ActiveValue::Set, Database, Schema};
    /// mod note {
    ///     use super::*;
    ///     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    ///     #[sea_orm(table_name = "note")]
    ///     #[audit(hooks)]
    ///     pub struct Model {
    ///         #[sea_orm(primary_key)]
    ///         pub id: i32,
    ///         pub text: String,
    ///     }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {}
    ///     #[audit_core::async_trait]
    ///     impl AuditHooks for ActiveModel {
    ///         async fn before_save<C: ConnectionTrait>(self, _db: &C, _insert: bool) -> Result<Self, DbErr> {
    ///             if self.text.as_ref().is_empty() {
    ///                 return Err(DbErr::Custom("a note needs text".into()));
    ///             }
    ///             Ok(self)
    ///         }
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(note::Entity)).await?;
    /// # audit_core::create_audit_table(&db).await?;
    /// let refused = note::ActiveModel { text: Set(String::new()), ..Default::default() }.insert(&db).await;
    /// assert!(refused.is_err());
    /// // Refused before anything was written: no note, no audit row.
    /// assert!(note::Entity::find().all(&db).await?.is_empty());
    /// assert!(audit_core::all_history().fetch(&db).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    async fn before_save<C>(self, db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        let _ = (db, insert);
        Ok(self)
    }

    /// Runs after `insert`, `update` and `save`, after the audit rows are written.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// use audit_core::{AuditHooks, Audited};
    /// # use sea_orm::entity::prelude::*;
    /// # use sea_orm::{ActiveValue::Set, Database, Schema};
    /// mod note {
    ///     use super::*;
    ///     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    ///     #[sea_orm(table_name = "note")]
    ///     #[audit(hooks)]
    ///     pub struct Model {
    ///         #[sea_orm(primary_key)]
    ///         pub id: i32,
    ///         pub text: String,
    ///     }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {}
    ///     #[audit_core::async_trait]
    ///     impl AuditHooks for ActiveModel {
    ///         async fn after_save<C: ConnectionTrait>(model: Model, db: &C, _insert: bool) -> Result<Model, DbErr> {
    ///             // The audit rows of this write are already there.
    ///             let rows = audit_core::history::<Entity>(model.id).fetch(db).await.map_err(DbErr::from)?;
    ///             assert!(!rows.is_empty());
    ///             Ok(model)
    ///         }
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(note::Entity)).await?;
    /// # audit_core::create_audit_table(&db).await?;
    /// note::ActiveModel { text: Set("hi".into()), ..Default::default() }.insert(&db).await?;
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// use audit_core::{AuditHooks, Audited};
    /// # use sea_orm::entity::prelude::*;
    /// # use sea_orm::{ActiveValue::Set, Database, Schema};
    /// mod note {
    ///     use super::*;
    ///     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    ///     #[sea_orm(table_name = "note")]
    ///     #[audit(hooks)]
    ///     pub struct Model {
    ///         #[sea_orm(primary_key)]
    ///         pub id: i32,
    ///         pub text: String,
    ///     }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {}
    ///     #[audit_core::async_trait]
    ///     impl AuditHooks for ActiveModel {
    ///         async fn before_delete<C: ConnectionTrait>(self, _db: &C) -> Result<Self, DbErr> {
    ///             Err(DbErr::Custom("notes are kept".into()))
    ///         }
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(note::Entity)).await?;
    /// # audit_core::create_audit_table(&db).await?;
    /// let kept = note::ActiveModel { text: Set("hi".into()), ..Default::default() }.insert(&db).await?;
    /// assert!(kept.clone().delete(&db).await.is_err());
    /// assert_eq!(note::Entity::find().all(&db).await?, [kept]);
    /// # Ok(())
    /// # }
    /// ```
    async fn before_delete<C>(self, db: &C) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        let _ = db;
        Ok(self)
    }

    /// Runs after `delete`, after the audit rows are written.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// use audit_core::{AuditHooks, Audited};
    /// # use sea_orm::entity::prelude::*;
    /// # use sea_orm::{ActiveValue::Set, Database, Schema};
    /// mod note {
    ///     use super::*;
    ///     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    ///     #[sea_orm(table_name = "note")]
    ///     #[audit(hooks)]
    ///     pub struct Model {
    ///         #[sea_orm(primary_key)]
    ///         pub id: i32,
    ///         pub text: String,
    ///     }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {}
    ///     #[audit_core::async_trait]
    ///     impl AuditHooks for ActiveModel {
    ///         async fn after_delete<C: ConnectionTrait>(self, db: &C) -> Result<Self, DbErr> {
    ///             // The delete's audit rows are written, in the same transaction.
    ///             let id = *self.id.as_ref();
    ///             let rows = audit_core::history::<Entity>(id).operation(audit_core::Operation::Delete).fetch(db).await.map_err(DbErr::from)?;
    ///             assert_eq!(rows.len(), 2);
    ///             Ok(self)
    ///         }
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(note::Entity)).await?;
    /// # audit_core::create_audit_table(&db).await?;
    /// let note = note::ActiveModel { text: Set("hi".into()), ..Default::default() }.insert(&db).await?;
    /// note.delete(&db).await?;
    /// # Ok(())
    /// # }
    /// ```
    async fn after_delete<C>(self, db: &C) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        let _ = db;
        Ok(self)
    }
}
