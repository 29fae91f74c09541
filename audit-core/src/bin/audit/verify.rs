//! `verify`: the sealed trail checked against the signed digests kept outside the database.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use audit_core::integrity::{self, FileSink, IntegrityError, SignedDigest, Tamper, VerifyingKey};
use sea_orm::DatabaseConnection;
use serde_json::{Value as Json, json};

use crate::commands::{Output, print};
use crate::{Failure, failed_verification};

/// The sealer's public key from 64 hex digits, or from a file holding them (or the 32
/// raw bytes).
pub fn public_key(text: &str) -> Result<VerifyingKey, Failure> {
    let bad = |why: &str| Failure::Usage(format!("--public-key: {why}"));
    let bytes: Vec<u8> = match hex::decode(text.trim()) {
        Ok(bytes) if bytes.len() == 32 => bytes,
        _ if Path::new(text).is_file() => {
            let raw = std::fs::read(text).map_err(|e| bad(&e.to_string()))?;
            match std::str::from_utf8(&raw)
                .ok()
                .map(str::trim)
                .map(hex::decode)
            {
                Some(Ok(bytes)) => bytes,
                _ => raw,
            }
        }
        _ => return Err(bad("neither 64 hex digits nor a readable file")),
    };
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| bad("an Ed25519 public key is 32 bytes (64 hex digits)"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not a valid Ed25519 public key"))
}

/// The signed digests of a digest file, oldest first.
pub fn digests(path: &Path) -> Result<Vec<SignedDigest>, Failure> {
    Ok(FileSink::read(path)?)
}

/// A spinner on standard error while `fut` runs, only when it is a terminal.
pub async fn with_spinner<F: Future>(message: &'static str, fut: F) -> F::Output {
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(100));
    let out = fut.await;
    bar.finish_and_clear();
    out
}

/// The first bad row or block, for programs.
pub fn tamper_json(t: &Tamper) -> Json {
    let mut out = match t {
        Tamper::EditedRow { id, block } => json!({"kind": "edited_row", "row": id, "block": block}),
        Tamper::InsertedRow { id } => json!({"kind": "inserted_row", "row": id}),
        Tamper::DeletedRow { id, block } => {
            json!({"kind": "deleted_row", "row": id, "block": block})
        }
        Tamper::ReorderedRows { id, other, block } => {
            json!({"kind": "reordered_rows", "row": id, "content_of": other, "block": block})
        }
        Tamper::MovedRow {
            id,
            from_changeset,
            to_changeset,
            block,
        } => json!({
            "kind": "moved_row", "row": id, "block": block,
            "from_changeset": from_changeset, "to_changeset": to_changeset,
        }),
        Tamper::DeletedBlock { block } => json!({"kind": "deleted_block", "block": block}),
        Tamper::EditedBlock { block } => json!({"kind": "edited_block", "block": block}),
        Tamper::TruncatedTail {
            trusted_block,
            trusted_tree_size,
            tree_size,
        } => json!({
            "kind": "truncated_tail", "block": trusted_block,
            "trusted_tree_size": trusted_tree_size, "tree_size": tree_size,
        }),
        Tamper::Rewritten {
            block,
            first_leaf,
            tree_size,
        } => json!({
            "kind": "rewritten", "block": block,
            "first_leaf": first_leaf, "tree_size": tree_size,
        }),
        _ => json!({"kind": "other"}),
    };
    out["message"] = t.to_string().into();
    out
}

/// `verify --public-key KEY [--digest FILE]`.
pub async fn verify(
    db: &DatabaseConnection,
    out: Output,
    key: &str,
    digest: Option<&Path>,
) -> Result<(), Failure> {
    let key = public_key(key)?;
    let trusted = match digest {
        Some(path) => digests(path)?,
        None => Vec::new(),
    };
    if trusted.is_empty() {
        eprintln!(
            "audit: warning: no signed digest given (--digest FILE): only the database's own \
             chain is checked, a cut tail or a rewritten trail cannot be detected"
        );
    }
    let newest = trusted.iter().max_by_key(|d| d.digest.tree_size);
    let against = newest.map(|d| {
        json!({"digests": trusted.len(), "newest_block": d.digest.block, "newest_tree_size": d.digest.tree_size})
    });
    let verdict = with_spinner(
        "verifying the sealed trail",
        integrity::verify(db, &key, &trusted),
    )
    .await;
    let verified = match verdict {
        Ok(verified) => verified,
        Err(e) if failed_verification(&e) => {
            report_failure(out, &e, against)?;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let last = verified.last.as_ref().map(|d| {
        json!({
            "block": d.block,
            "tree_size": d.tree_size,
            "root": hex::encode(d.root),
            "block_hash": hex::encode(d.block_hash),
            "sealed_at": audit_core::trail::time_text(d.sealed_at),
        })
    });
    if !matches!(out, Output::Human(_)) {
        let whole = json!({
            "result": "intact",
            "blocks": verified.blocks,
            "rows": verified.rows,
            "tree_size": verified.tree_size,
            "unsealed": verified.unsealed,
            "last_block": last,
            "trusted": against,
        });
        return out.programs(whole.clone(), &[whole]);
    }
    let mut text = format!(
        "intact: {} blocks, {} rows verified (log of {} rows); {} rows not sealed yet\n",
        verified.blocks, verified.rows, verified.tree_size, verified.unsealed
    );
    if let Some(d) = &verified.last {
        text.push_str(&format!(
            "last block: {}, sealed {}, root {}\n",
            d.block,
            audit_core::trail::time_text(d.sealed_at),
            hex::encode(d.root)
        ));
    }
    match newest {
        Some(d) => text.push_str(&format!(
            "checked against {} signed digests (newest: block {}, {} rows)\n",
            trusted.len(),
            d.digest.block,
            d.digest.tree_size
        )),
        None => text.push_str("checked against no signed digest\n"),
    }
    print(&text)
}

/// Prints the verdict of a trail that does not verify (the reason also goes to stderr).
fn report_failure(out: Output, e: &IntegrityError, against: Option<Json>) -> Result<(), Failure> {
    let (result, first_bad) = match e {
        IntegrityError::Tampered(t) => ("tampered", tamper_json(t)),
        other => ("unverified", json!({"message": other.to_string()})),
    };
    if !matches!(out, Output::Human(_)) {
        let whole = json!({"result": result, "first_bad": first_bad, "trusted": against});
        return out.programs(whole.clone(), &[whole]);
    }
    let reason = match e {
        IntegrityError::Tampered(t) => t.to_string(),
        other => other.to_string(),
    };
    // A tamperer chose the changeset ids a `MovedRow` names: escaped like any value.
    let reason = audit_core::trail::escape_text(&reason, None);
    print(&format!("{}: {reason}\n", result.to_uppercase()))
}
