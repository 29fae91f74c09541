//! Database capture as a sea-orm-migration step (feature `migration`).

use sea_orm::DbErr;
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

use super::{Capture, install_all, uninstall_all};

/// Installs the capture of a set of entities; `down` removes it. Run it after the
/// migrations that create (or change) the captured tables, and add a new one whenever an
/// audited entity's columns or policies change.
///
/// ```ignore
/// use audit_core::db_capture::{Capture, InstallCapture};
///
/// // `account::Model` is marked `#[audit(capture = "database")]`.
/// fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///     vec![
///         Box::new(audit_core::migration::CreateAuditTable::default()),
///         /* your tables */
///         Box::new(InstallCapture::new(
///             "m20261203_000001_capture",
///             vec![Capture::of::<account::Entity>().unwrap()],
///         )),
///     ]
/// }
/// ```
#[derive(Clone, Debug)]
pub struct InstallCapture {
    name: String,
    captures: Vec<Capture>,
}

impl InstallCapture {
    /// A migration named `name` installing `captures`.
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
