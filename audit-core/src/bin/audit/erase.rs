//! `erase`: crypto-shredding of one data subject, after a confirmation.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use audit_core::AuditError;
use audit_core::erasure::{self, KeyEncryptionKey, LocalKek};
use sea_orm::sea_query::ValueTuple;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};
use serde_json::{Value as Json, json};

use crate::Failure;
use crate::commands::{Output, print};

/// Where the key-encryption key comes from: a file wins over the hex text.
#[derive(Clone, Copy, Debug)]
pub struct Kek<'a> {
    /// `--kek-file`.
    pub file: Option<&'a Path>,
    /// `--kek-hex` or `AUDIT_KEK`.
    pub hex: Option<&'a str>,
}

impl Kek<'_> {
    /// The key; errors never hold any of its bytes.
    fn load(self) -> Result<LocalKek, Failure> {
        let bad = || Failure::Usage("a key-encryption key is 64 hex digits (32 bytes)".into());
        if let Some(path) = self.file {
            let raw = std::fs::read(path)
                .map_err(|e| Failure::Usage(format!("--kek-file {}: {e}", path.display())))?;
            if let Ok(secret) = <[u8; 32]>::try_from(raw.as_slice()) {
                return Ok(LocalKek::new(secret));
            }
            let text = std::str::from_utf8(&raw).map_err(|_| bad())?;
            return LocalKek::from_hex(text).map_err(|_| bad());
        }
        match self.hex.filter(|h| !h.trim().is_empty()) {
            Some(hex) => LocalKek::from_hex(hex).map_err(|_| bad()),
            None => Err(Failure::Usage(
                "no key-encryption key: pass --kek-file FILE, or set AUDIT_KEK".into(),
            )),
        }
    }
}

/// The subject as `erase_subject` takes it: a JSON array of two or more scalars is a
/// tuple (a composite key), anything else the id's text (the text form of a single key
/// is the same for a number and for its digits as a string).
fn subject_tuple(text: &str) -> Result<ValueTuple, Failure> {
    if let Ok(Json::Array(items)) = serde_json::from_str::<Json>(text)
        && items.len() >= 2
    {
        let values = items
            .iter()
            .map(|item| match item {
                Json::String(s) => Ok(Value::from(s.clone())),
                Json::Bool(b) => Ok(Value::from(*b)),
                Json::Number(n) if n.is_i64() => Ok(Value::from(n.as_i64())),
                Json::Number(n) if n.is_u64() => Ok(Value::from(n.as_u64())),
                _ => Err(Failure::Usage(format!(
                    "subject: a tuple of numbers, strings or booleans, not {item}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(ValueTuple::Many(values));
    }
    Ok(ValueTuple::One(Value::from(text.to_owned())))
}

/// The row that checks the key-encryption key: a key wrapped by the first one that wrote.
const CHECK_ID: &str = "kek-check";

/// Refuses a key-encryption key that is not the one that wrote the key table: with
/// another key the subject's key id differs and nothing would be erased.
async fn check_kek(db: &DatabaseConnection, kek: &LocalKek) -> Result<(), Failure> {
    let backend = db.get_database_backend();
    let mark = match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?",
    };
    let sql = format!(
        "SELECT wrapped FROM {} WHERE key_id = {mark}",
        erasure::ERASURE_LABEL
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [CHECK_ID.into()],
        ))
        .await
        .map_err(AuditError::Read)?;
    let Some(row) = row else {
        return Ok(());
    };
    let wrapped: String = row.try_get("", "wrapped").map_err(AuditError::Read)?;
    let refused = || {
        Failure::Usage(
            "the key-encryption key is not the one that wrote this database's keys: nothing erased"
                .into(),
        )
    };
    let wrapped = hex::decode(wrapped).map_err(|_| refused())?;
    kek.unwrap(CHECK_ID, &wrapped)
        .await
        .map(drop)
        .map_err(|_| refused())
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(kind: &str) -> Result<(), Failure> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Failure::Usage(
            "erasing cannot be undone: pass --yes, or run it on a terminal to confirm".into(),
        ));
    }
    let kind = audit_core::trail::escape_text(kind, Some(60));
    eprint!(
        "Erase this `{kind}` subject? Every personal value of it in the trail becomes \
         unreadable, for good. Type yes to go on: "
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(Failure::Usage("not confirmed: nothing erased".into()))
    }
}

/// `erase KIND SUBJECT (--kek-file FILE | --kek-hex HEX | AUDIT_KEK) [--actor A] [--yes]`.
pub async fn erase(
    db: &DatabaseConnection,
    out: Output,
    kind: &str,
    subject: &str,
    kek: Kek<'_>,
    actor: Option<&str>,
    yes: bool,
) -> Result<(), Failure> {
    let kek = kek.load()?;
    let tuple = subject_tuple(subject)?;
    if kind.is_empty() {
        return Err(Failure::Usage("the subject's kind is empty".into()));
    }
    check_kek(db, &kek).await?;
    if !yes {
        confirm(kind)?;
    }
    let key_id = kek.subject_key_id(kind, &audit_core::record_id(&tuple));
    let kek: Arc<dyn KeyEncryptionKey> = Arc::new(kek);
    let erase = erasure::erase_subject(db, kind, tuple);
    let destroyed = match actor {
        Some(actor) => {
            let erase = audit_core::with_actor(actor, erase);
            erasure::with_key_encryption_key(kek, erase).await?
        }
        None => erasure::with_key_encryption_key(kek, erase).await?,
    };
    // The subject's id is personal data: never printed, only its kind and key id.
    if !matches!(out, Output::Human(_)) {
        let whole = json!({"kind": kind, "key_id": key_id, "destroyed": destroyed});
        return out.programs(whole.clone(), &[whole]);
    }
    let kind = audit_core::trail::escape_text(kind, Some(60));
    let text = if destroyed {
        format!(
            "erased: the data key {key_id} of the `{kind}` subject was destroyed; its personal \
             values now read as {}\n",
            erasure::ERASED
        )
    } else {
        format!(
            "erased: the `{kind}` subject had no data key ({key_id}), so no personal value of \
             it was stored under this key-encryption key\n"
        )
    };
    print(&format!(
        "{text}the erasure is recorded in the trail (table {}, key {key_id})\n",
        erasure::ERASURE_LABEL
    ))
}
