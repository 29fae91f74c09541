//! `prove`: the inclusion proof of one audit row against the newest signed digest, checked.

use std::path::Path;

use audit_core::AuditError;
use audit_core::integrity::{self, InclusionProof, SealedRow, SignedDigest};
use audit_core::trail::time_text;
use sea_orm::DatabaseConnection;
use serde_json::{Value as Json, json};

use crate::commands::{Output, print};
use crate::render::{Table, value};
use crate::verify::{digests, public_key};
use crate::{Failure, failed_verification};

fn row_json(row: &SealedRow) -> Json {
    json!({
        "id": row.id,
        "changeset_id": row.changeset_id,
        "table": row.table,
        "record_id": row.record_id,
        "operation": row.operation,
        "column": row.column,
        "old_value": row.old_value,
        "new_value": row.new_value,
        "actor": row.actor,
        "changed_at": time_text(row.changed_at),
        "context": row.context,
    })
}

fn proof_json(proof: &InclusionProof) -> Json {
    json!({
        "trail": proof.trail,
        "row_id": proof.row_id,
        "leaf_index": proof.leaf_index,
        "tree_size": proof.tree_size,
        "hashes": proof.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
    })
}

/// `prove ROW_ID --public-key KEY --digest FILE`.
pub async fn prove(
    db: &DatabaseConnection,
    out: Output,
    id: i64,
    key: &str,
    digest: &Path,
) -> Result<(), Failure> {
    let key = public_key(key)?;
    let kept = digests(digest)?;
    let Some(newest) = kept.iter().max_by_key(|d| d.digest.tree_size) else {
        return Err(Failure::Usage(format!(
            "{}: the digest file holds no digest",
            digest.display()
        )));
    };
    let row = integrity::sealed_row(db, id)
        .await?
        .ok_or_else(|| AuditError::NotFound(format!("audit row {id}")))?;
    let proof = integrity::prove_row(db, id, &newest.digest).await?;
    let check = match integrity::verify_row(&row, &proof, newest, &key) {
        Err(e) if !failed_verification(&e) => return Err(e.into()),
        check => check,
    };
    show(out, &row, &proof, newest, check.as_ref().err())?;
    check.map_err(Failure::from)
}

fn show(
    out: Output,
    row: &SealedRow,
    proof: &InclusionProof,
    digest: &SignedDigest,
    error: Option<&integrity::IntegrityError>,
) -> Result<(), Failure> {
    let Output::Human(look) = out else {
        let signed: Json = serde_json::from_str(&digest.to_json()).unwrap_or_default();
        let whole = json!({
            "valid": error.is_none(),
            "error": error.map(ToString::to_string),
            "row": row_json(row),
            "proof": proof_json(proof),
            "digest": signed,
        });
        return out.programs(whole.clone(), &[whole]);
    };
    let mut fields = Table::new(look, vec!["FIELD", "VALUE"]);
    let text = |s: &str| s.to_owned();
    for (name, cell) in [
        ("id", row.id.to_string()),
        ("changeset", text(&row.changeset_id)),
        ("table", text(&row.table)),
        ("key", text(&row.record_id)),
        ("op", text(&row.operation)),
        ("column", text(&row.column)),
        ("old", value(row.old_value.as_ref())),
        ("new", value(row.new_value.as_ref())),
        ("actor", row.actor.clone().unwrap_or_else(|| "-".into())),
        ("changed at", time_text(row.changed_at)),
        ("context", value(row.context.as_ref())),
    ] {
        fields.row(vec![name.to_owned(), cell]);
    }
    let d = &digest.digest;
    let mut path = Table::new(look, vec!["LEVEL", "HASH"]);
    for (i, hash) in proof.hashes.iter().enumerate() {
        path.row(vec![i.to_string(), hex::encode(hash)]);
    }
    let verdict = match error {
        None => "valid: the row as stored is in the log the digest signs".to_owned(),
        Some(e) => format!(
            "INVALID: {}",
            audit_core::trail::escape_text(&e.to_string(), None)
        ),
    };
    print(&format!(
        "row {} is leaf {} of the log of {} rows signed by the digest of block {} \
         (sealed {}, root {})\n{}\naudit path ({} hashes, leaf side first):\n{}\n{verdict}\n",
        row.id,
        proof.leaf_index,
        proof.tree_size,
        d.block,
        time_text(d.sealed_at),
        hex::encode(d.root),
        fields.render(),
        proof.hashes.len(),
        path.render(),
    ))
}
