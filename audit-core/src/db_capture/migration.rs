//! Database capture as a sea-orm-migration step (feature `migration`).

use sea_orm::DbErr;
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

use super::{Capture, install_all, uninstall_all};

/// Installs the capture of a set of entities; `down` removes it. Run it after the
/// migrations that create (or change) the captured tables, and add a new one whenever an
/// audited entity's columns or policies change.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// use audit_core::db_capture::{Capture, InstallCapture};
/// use sea_orm_migration::{MigrationTrait, MigratorTrait};
///
/// struct Migrator;
///
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///         vec![
///             Box::new(audit_core::migration::CreateAuditTable::default()),
///             /* your tables */
///             // `memo::Model` is marked `#[audit(capture = "database")]`.
///             Box::new(InstallCapture::new(
///                 "m20261203_000001_capture_memo",
///                 vec![Capture::of::<memo::Entity>().unwrap()],
///             )),
///         ]
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = Database::connect("sqlite::memory:").await?;
/// # db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(memo::Entity)).await?;
/// Migrator::up(&db, None).await?;
/// audit_core::db_capture::check::<memo::Entity, _>(&db).await?;
/// Migrator::down(&db, None).await?; // removes the capture, then the audit table
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct InstallCapture {
    name: String,
    captures: Vec<Capture>,
}

impl InstallCapture {
    /// A migration named `name` installing `captures` (example at [`InstallCapture`]).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::db_capture::{Capture, InstallCapture};
    /// use sea_orm_migration::MigrationName;
    /// let step = InstallCapture::new("m20261203_000001_capture_memo", vec![Capture::of::<memo::Entity>()?]);
    /// assert_eq!(step.name(), "m20261203_000001_capture_memo");
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(name: impl Into<String>, captures: Vec<Capture>) -> Self {
        InstallCapture {
            name: name.into(),
            captures,
        }
    }
}

impl MigrationName for InstallCapture {
    fn name(&self) -> &str {
        &self.name
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl MigrationTrait for InstallCapture {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        install_all(manager.get_connection(), &self.captures)
            .await
            .map_err(DbErr::from)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        uninstall_all(manager.get_connection(), &self.captures)
            .await
            .map_err(DbErr::from)
    }
}
