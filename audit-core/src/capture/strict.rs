//! Strict mode ([`crate::AuditConfig::require_transaction`]): audited writes only inside a
//! transaction, so a change and its audit rows commit together.
//!
//! SeaORM's hooks see the connection only as a generic `C: ConnectionTrait`, which
//! cannot say whether it is a transaction and cannot be downcast (it need not be
//! `'static`). Its `TypeId`, lifetimes erased (the `typeid` crate), is therefore compared
//! with those of the types the library knows (never their names): SeaORM's
//! `DatabaseTransaction`, [`AuditTransaction`] and [`AuditSavepoint`] are transactions.
//! `DatabaseExecutor` (what sea-orm-migration's `SchemaManager` hands out) may hold a
//! connection or a transaction, so the database is asked: on PostgreSQL by trying a
//! savepoint (it exists only in a transaction block), on MariaDB `@@in_transaction`. Where the database cannot say (SQLite, MySQL) and for every other
//! type, the write is refused with an error that names the type.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseExecutor, DatabaseTransaction, DbBackend, DbErr,
    Statement,
};

use crate::entity::AuditedEntity;
use crate::{AuditError, AuditSavepoint, AuditTransaction, config};

/// Refuses the write in strict mode unless `db` is surely a transaction.
pub(super) async fn check<E: AuditedEntity, C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    if !config::config().require_transaction {
        return Ok(());
    }
    if in_transaction(db).await? {
        Ok(())
    } else {
        Err(AuditError::NotInTransaction {
            table: E::audit_table().to_owned(),
        }
        .into())
    }
}

/// Whether `db` is surely a transaction; an error where that cannot be told (an unknown
/// connection type, a `DatabaseExecutor` on SQLite).
pub(crate) async fn in_transaction<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    let id = typeid::of::<C>();
    let known_transaction = [
        typeid::of::<DatabaseTransaction>(),
        typeid::of::<AuditTransaction>(),
        typeid::of::<AuditSavepoint>(),
    ];
    if known_transaction.contains(&id) {
        Ok(true)
    } else if id == typeid::of::<DatabaseExecutor<'static>>() {
        ask_database(db).await
    } else if id == typeid::of::<DatabaseConnection>() {
        Ok(false)
    } else {
        let name = std::any::type_name::<C>();
        Err(AuditError::Input(format!(
            "cannot tell whether `{name}` is a transaction: run audited writes through a \
             `DatabaseTransaction`, `audit_core::transaction` or a `DatabaseExecutor`"
        ))
        .into())
    }
}

/// Whether the connection behind `db` is inside a transaction, asked of the database.
async fn ask_database<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => return postgres_in_transaction(db).await,
        DbBackend::MySql => "SELECT @@in_transaction = 1 AS t",
        _ => {
            return Err(AuditError::Input(
                "strict mode cannot ask SQLite whether a `DatabaseExecutor` holds a \
                 transaction: pass the `DatabaseTransaction` itself"
                    .to_owned(),
            )
            .into());
        }
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .map_err(|e| {
            DbErr::from(AuditError::Input(format!(
                "strict mode could not ask the database whether a `DatabaseExecutor` holds a \
                 transaction ({e}): pass the `DatabaseTransaction` itself"
            )))
        })?;
    let answer = match row {
        Some(row) => row
            .try_get::<bool>("", "t")
            .or_else(|_| row.try_get::<i64>("", "t").map(|v| v == 1))?,
        None => false,
    };
    Ok(answer)
}

/// PostgreSQL has no "in a transaction?" function that holds under the extended query
/// protocol (`transaction_timestamp()` and `statement_timestamp()` differ there even
/// outside one), so a savepoint is tried: it exists only inside a transaction block.
async fn postgres_in_transaction<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    match db.execute_unprepared("SAVEPOINT audit_strict_probe").await {
        Ok(_) => {
            db.execute_unprepared("RELEASE SAVEPOINT audit_strict_probe")
                .await?;
            Ok(true)
        }
        // 25P01 no_active_sql_transaction: "SAVEPOINT can only be used in transaction blocks".
        Err(e) if e.to_string().contains("transaction blocks") => Ok(false),
        Err(e) => Err(DbErr::from(AuditError::Input(format!(
            "strict mode could not ask the database whether a `DatabaseExecutor` holds a \
             transaction ({e}): pass the `DatabaseTransaction` itself"
        )))),
    }
}
