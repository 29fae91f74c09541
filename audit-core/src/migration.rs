//! The audit table as a sea-orm-migration migration (feature `migration`).
//!
//! ```
//! use audit_core::migration::CreateAuditTable;
//! use sea_orm_migration::{MigrationTrait, MigratorTrait};
//!
//! struct Migrator;
//!
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
//!         vec![Box::new(CreateAuditTable::default()) /* , your migrations */]
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = sea_orm::Database::connect("sqlite::memory:").await?;
//! Migrator::up(&db, None).await?;
//! assert!(audit_core::all_history().fetch(&db).await?.is_empty());
//! Migrator::down(&db, None).await?; // drops the audit table
//! assert!(audit_core::all_history().fetch(&db).await.is_err());
//! # Ok(())
//! # }
//! ```

use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

use crate::schema::{AuditTableOptions, create_audit_table_with};

/// Creates the audit table and its indexes (and, with `options.append_only`, the triggers
/// that make it append-only); `down` drops the table.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use audit_core::{AuditTableOptions, migration::CreateAuditTable};
/// use sea_orm_migration::{MigrationTrait, MigratorTrait};
/// struct Migrator;
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///         let options = AuditTableOptions::append_only();
///         vec![Box::new(CreateAuditTable { options })]
///     }
/// }
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// Migrator::up(&db, None).await?;
/// // Append-only: the audit table takes new rows and refuses to lose any.
/// use sea_orm::ConnectionTrait;
/// db.execute_unprepared(
///     "INSERT INTO audit_log (changeset_id, table_name, record_id, operation, column_name, \
///      new_value, changed_at) VALUES ('c1', 'ticket', '1', 'insert', 'status', '\"open\"', \
///      '2026-01-01T00:00:00.000000Z')",
/// )
/// .await?;
/// assert!(db.execute_unprepared("DELETE FROM audit_log").await.is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CreateAuditTable {
    /// What to create besides the table.
    pub options: AuditTableOptions,
}

impl MigrationName for CreateAuditTable {
    fn name(&self) -> &str {
        "m20261124_000001_create_audit_table"
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl MigrationTrait for CreateAuditTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_audit_table_with(manager.get_connection(), self.options)
            .await
            .map_err(DbErr::from)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = crate::config::table_name();
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "DROP TABLE {}",
                crate::schema::quote(manager.get_database_backend(), &table)
            ))
            .await
            .map(drop)
    }
}
