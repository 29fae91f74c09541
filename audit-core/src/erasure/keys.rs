//! The key table: one wrapped data key per subject, under its keyed-hash key id.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::cipher::DataKey;
use super::kek::KeyEncryptionKey;
use super::prefetch::KeyHints;
use crate::AuditError;
use crate::schema::{placeholders, quote};

/// The key table's name.
pub(crate) const KEY_TABLE: &str = "audit_subject_key";
/// The id of the row that checks the key-encryption key: a random key wrapped by the first
/// key-encryption key that wrote. Subject key ids are 64 hex digits, never this.
pub(crate) const CHECK_ID: &str = "kek-check";
/// At most this many key ids in one statement.
const IDS_PER_STATEMENT: usize = 500;

/// `CREATE TABLE IF NOT EXISTS` of the key table on `backend`.
pub(crate) fn key_table_sql(backend: DbBackend) -> String {
    let t = quote(backend, KEY_TABLE);
    match backend {
        DbBackend::MySql => format!(
            "CREATE TABLE IF NOT EXISTS {t} (`key_id` VARCHAR(64) NOT NULL PRIMARY KEY, \
             `wrapped` TEXT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        ),
        _ => format!(
            r#"CREATE TABLE IF NOT EXISTS {t} ("key_id" VARCHAR(64) NOT NULL PRIMARY KEY, "wrapped" TEXT NOT NULL)"#
        ),
    }
}

fn db_error(source: sea_orm::DbErr) -> AuditError {
    AuditError::Write {
        table: KEY_TABLE.to_owned(),
        source,
    }
}

/// The wrapped keys stored under `ids` (absent ids: no key, or erased).
async fn load<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> Result<HashMap<String, Vec<u8>>, AuditError> {
    let backend = db.get_database_backend();
    let mut found = HashMap::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let sql = format!(
            "SELECT {k}, {w} FROM {t} WHERE {k} IN ({})",
            placeholders(backend, 0, chunk.len()),
            k = quote(backend, "key_id"),
            w = quote(backend, "wrapped"),
            t = quote(backend, KEY_TABLE),
        );
        let values = chunk.iter().map(|id| Value::from(id.as_str()));
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(AuditError::Read)?;
        for row in rows {
            let id: String = row.try_get("", "key_id").map_err(AuditError::Read)?;
            let wrapped: String = row.try_get("", "wrapped").map_err(AuditError::Read)?;
            let wrapped = decode_wrapped(&id, &wrapped)?;
            found.insert(id, wrapped);
        }
    }
    Ok(found)
}

/// The stored (hex) form of the wrapped key of `id`, as bytes.
pub(crate) fn decode_wrapped(id: &str, stored: &str) -> Result<Vec<u8>, AuditError> {
    hex::decode(stored).map_err(|_| AuditError::Personal(format!("data key {id} is not hex")))
}

/// `(SELECT wrapped FROM audit_subject_key WHERE key_id = <key_id>)`: one wrapped key, or
/// NULL. `key_id` may be a value or an expression over the outer query's row.
pub(crate) fn wrapped_subquery(key_id: sea_orm::sea_query::Expr) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SubQueryStatement};

    let column = |name: &str| Expr::col((Alias::new(KEY_TABLE), Alias::new(name)));
    let select = Query::select()
        .expr(column("wrapped"))
        .from(Alias::new(KEY_TABLE))
        .and_where(column("key_id").eq(key_id))
        .to_owned();
    Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(select)))
}

/// Stores `keys` (id, wrapped), leaving any id already stored as it is.
async fn insert_new<C: ConnectionTrait>(
    db: &C,
    keys: &[(String, Vec<u8>)],
) -> Result<(), AuditError> {
    let backend = db.get_database_backend();
    for chunk in keys.chunks(IDS_PER_STATEMENT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", placeholders(backend, 2 * i, 2)))
            .collect();
        let (verb, tail) = match backend {
            DbBackend::MySql => ("INSERT IGNORE", ""),
            DbBackend::Postgres => ("INSERT", " ON CONFLICT DO NOTHING"),
            _ => ("INSERT OR IGNORE", ""),
        };
        let sql = format!(
            "{verb} INTO {} ({}, {}) VALUES {}{tail}",
            quote(backend, KEY_TABLE),
            quote(backend, "key_id"),
            quote(backend, "wrapped"),
            rows.join(", ")
        );
        let values = chunk.iter().flat_map(|(id, wrapped)| {
            [Value::from(id.as_str()), Value::from(hex::encode(wrapped))]
        });
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Deletes the key stored under `id`; whether there was one.
pub(crate) async fn delete<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, AuditError> {
    let backend = db.get_database_backend();
    let sql = format!(
        "DELETE FROM {} WHERE {} = {}",
        quote(backend, KEY_TABLE),
        quote(backend, "key_id"),
        placeholders(backend, 0, 1)
    );
    let done = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [Value::from(id)],
        ))
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

/// Refuses a key-encryption key that does not open the key table's check row: a wrong
/// key, found before a write changes anything. (No check row yet: the first key will make it.)
pub(crate) async fn check_kek<C: ConnectionTrait>(
    db: &C,
    kek: &dyn KeyEncryptionKey,
) -> Result<(), AuditError> {
    if let Some(check) = load(db, &[CHECK_ID.to_owned()]).await?.remove(CHECK_ID) {
        kek.unwrap(CHECK_ID, &check).await?;
    }
    Ok(())
}

/// The data keys of `ids`, unwrapped; with `create`, a key is made and stored for every id
/// that has none (a concurrent writer's key wins), else such ids are left out.
///
/// A key is only made once the key-encryption key in force opens the table's check row
/// (made with the first key): a wrong key-encryption key names subjects differently, so
/// without it every known subject would look new and get a second key.
pub(crate) async fn data_keys<C: ConnectionTrait>(
    db: &C,
    kek: &dyn KeyEncryptionKey,
    ids: &[String],
    create: bool,
) -> Result<HashMap<String, DataKey>, AuditError> {
    data_keys_hinted(db, kek, ids, create, &[]).await
}

/// [`data_keys`], where `hints` holds keys a write read ahead ([`super::prefetch`]): when
/// they cover every id, the key table is not read again.
pub(crate) async fn data_keys_hinted<C: ConnectionTrait>(
    db: &C,
    kek: &dyn KeyEncryptionKey,
    ids: &[String],
    create: bool,
    hints: &[&KeyHints],
) -> Result<HashMap<String, DataKey>, AuditError> {
    let mut query: Vec<String> = ids.to_vec();
    if create {
        query.push(CHECK_ID.to_owned());
    }
    let mut wrapped = match KeyHints::covering(hints, ids) {
        Some(held) => held,
        None => load(db, &query).await?,
    };
    let check = wrapped.remove(CHECK_ID);
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !wrapped.contains_key(*id))
        .cloned()
        .collect();
    if create && !missing.is_empty() {
        let mut new = Vec::with_capacity(missing.len() + 1);
        match check {
            Some(check) => {
                kek.unwrap(CHECK_ID, &check).await?;
            }
            None => new.push((
                CHECK_ID.to_owned(),
                kek.wrap(CHECK_ID, &DataKey::generate()).await?,
            )),
        }
        for id in &missing {
            new.push((id.clone(), kek.wrap(id, &DataKey::generate()).await?));
        }
        insert_new(db, &new).await?;
        // The check row too: a concurrent first writer's may have won.
        let mut stored = load(db, &query).await?;
        if let Some(check) = stored.remove(CHECK_ID) {
            kek.unwrap(CHECK_ID, &check).await?;
        }
        stored.retain(|id, _| missing.contains(id));
        if stored.len() != missing.len() {
            return Err(AuditError::Personal(
                "a data key could not be stored in the key table".into(),
            ));
        }
        wrapped.extend(stored);
    }
    let mut keys = HashMap::with_capacity(wrapped.len());
    for (id, wrapped) in wrapped {
        let key = DataKey::from_bytes(&kek.unwrap(&id, &wrapped).await?)?;
        keys.insert(id, key);
    }
    Ok(keys)
}
