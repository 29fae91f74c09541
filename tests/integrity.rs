//! Tamper evidence on every backend: sealing, `verify`, incremental verification, proofs
//! checked offline, bad input refused with typed errors, late commits on PostgreSQL and
//! MariaDB, and the background sealer.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_core::AuditContext;
use audit_core::integrity::{
    self, FileSink, IntegrityError, Sealer, SignedDigest, SigningKey, Tamper, merkle::ProofError,
};
use common::{Backend, FreshDb, account, new_account, setup};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, TransactionTrait};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

async fn trail(backend: Backend, pool: u32) -> Option<FreshDb> {
    let fresh = setup(backend, pool).await?;
    integrity::install(&fresh.db).await.expect("install");
    Some(fresh)
}

/// Inserts and updates `n` accounts through the hooks, with a JSON context whose keys are
/// out of order (PostgreSQL's `jsonb` stores them reordered).
async fn write(db: &DatabaseConnection, prefix: &str, n: i64) {
    for i in 0..n {
        let context = AuditContext::new()
            .actor(format!("user-{i}"))
            .with("zeta", serde_json::json!({"b": 1, "a": [true, 2.5]}))
            .with("alpha", i);
        context
            .scope(async {
                let model = new_account(&format!("{prefix}{i}"), i)
                    .insert(db)
                    .await
                    .expect("insert");
                let mut model: account::ActiveModel = model.into();
                model.balance = Set(i + 100);
                model.note = Set(Some(format!("note {i}")));
                model.update(db).await.expect("update");
            })
            .await;
    }
}

fn tampered(result: Result<integrity::Verified, IntegrityError>) -> Tamper {
    match result {
        Err(IntegrityError::Tampered(t)) => t,
        other => panic!("expected tampering, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seals_verifies_and_proves_on_every_backend() {
    for backend in Backend::ALL {
        let Some(fresh) = trail(backend, 4).await else {
            continue;
        };
        let db = &fresh.db;
        let vk = key().verifying_key();
        write(db, "a", 12).await;
        let published = Arc::new(Mutex::new(Vec::<SignedDigest>::new()));
        let sink = published.clone();
        let sealer =
            Sealer::new(key())
                .with_max_block_rows(16)
                .with_sink(move |d: &SignedDigest| {
                    sink.lock().unwrap().push(d.clone());
                    Ok(())
                });
        let first = sealer.seal(db).await.expect("seal");
        assert!(first.len() > 2, "{backend:?}: several blocks of 16 rows");
        assert_eq!(
            *published.lock().unwrap(),
            first,
            "{backend:?}: all published"
        );
        let rows = common::audit_rows(db).await.expect("rows").len() as u64;
        let d1 = first.last().expect("a digest").clone();
        assert_eq!(d1.digest.tree_size, rows);

        let ok = integrity::verify(db, &vk, &first).await.expect("verifies");
        assert_eq!((ok.rows, ok.tree_size, ok.unsealed), (rows, rows, 0));
        assert_eq!(ok.last.as_ref(), Some(&d1.digest));
        assert!(
            sealer.seal(db).await.expect("seal").is_empty(),
            "nothing new"
        );

        // New rows: unsealed until the next seal, then verified incrementally.
        write(db, "b", 3).await;
        let ok = integrity::verify(db, &vk, std::slice::from_ref(&d1))
            .await
            .expect("verifies");
        assert!(ok.unsealed > 0);
        let d2 = sealer.seal(db).await.expect("seal").pop().expect("digest");
        let ok = integrity::verify_since(db, &vk, &d1, std::slice::from_ref(&d2))
            .await
            .expect("incremental");
        assert_eq!(ok.rows, d2.digest.tree_size - d1.digest.tree_size);
        assert_eq!(ok.unsealed, 0);

        // An inclusion proof, checked offline; and what must not pass.
        let id = 5;
        let row = integrity::sealed_row(db, id)
            .await
            .expect("read")
            .expect("row");
        let proof = integrity::prove_row(db, id, &d2.digest)
            .await
            .expect("proof");
        integrity::verify_row(&row, &proof, &d2, &vk).expect("proof verifies");
        let n = d2.digest.tree_size as f64;
        assert!(proof.hashes.len() <= n.log2().ceil() as usize);
        // Every row's proof, against both digests (blocks of 16 rows: proofs read leaf
        // hashes across block boundaries).
        let rows = common::audit_rows(db).await.expect("rows");
        for digest in [&d1, &d2] {
            for audit_row in rows.iter().take(digest.digest.tree_size as usize) {
                let row = integrity::sealed_row(db, audit_row.id)
                    .await
                    .expect("read")
                    .expect("row");
                let proof = integrity::prove_row(db, row.id, &digest.digest)
                    .await
                    .expect("proof");
                integrity::verify_row(&row, &proof, digest, &vk)
                    .unwrap_or_else(|e| panic!("{backend:?}: row {}: {e}", row.id));
            }
        }
        let other = integrity::sealed_row(db, 6)
            .await
            .expect("read")
            .expect("row");
        assert!(matches!(
            integrity::verify_row(&other, &proof, &d2, &vk),
            Err(IntegrityError::WrongRow { row: 6, .. })
        ));
        let mut short = proof.clone();
        short.hashes.pop();
        assert!(matches!(
            integrity::verify_row(&row, &short, &d2, &vk),
            Err(IntegrityError::Proof(ProofError::WrongLength { .. }))
        ));
        let mut edited = row.clone();
        edited.actor = Some("mallory".into());
        assert!(matches!(
            integrity::verify_row(&edited, &proof, &d2, &vk),
            Err(IntegrityError::Proof(ProofError::RootMismatch))
        ));
        let stranger = SigningKey::from_bytes(&[9; 32]).verifying_key();
        assert!(matches!(
            integrity::verify_row(&row, &proof, &d2, &stranger),
            Err(IntegrityError::BadSignature { .. })
        ));
        let mut forged = d2.clone();
        forged.digest.tree_size += 1;
        assert!(matches!(
            integrity::verify(db, &vk, &[forged]).await,
            Err(IntegrityError::BadSignature { .. })
        ));
        let proof_from_old = integrity::prove_row(db, id, &d1.digest)
            .await
            .expect("proof");
        assert!(integrity::verify_row(&row, &proof_from_old, &d2, &vk).is_err());

        // A changeset's rows, and consistency between the two digests.
        let rows_of = integrity::prove_changeset(db, &row.changeset_id, &d2.digest)
            .await
            .expect("changeset proof");
        assert!(rows_of.len() > 1);
        for (row, proof) in &rows_of {
            integrity::verify_row(row, proof, &d2, &vk).expect("changeset row verifies");
        }
        let consistency = integrity::prove_consistency(db, &d1.digest, &d2.digest)
            .await
            .expect("consistency");
        integrity::verify_consistency(&d1, &d2, &consistency, &vk).expect("consistent");
        assert!(integrity::verify_consistency(&d2, &d1, &consistency, &vk).is_err());
        let mut bad = consistency.clone();
        bad.hashes[0][0] ^= 1;
        assert!(integrity::verify_consistency(&d1, &d2, &bad, &vk).is_err());

        // A digest of another trail, even signed with the same key.
        let Some(elsewhere) = trail(backend, 1).await else {
            continue;
        };
        write(&elsewhere.db, "c", 1).await;
        let foreign = sealer.seal(&elsewhere.db).await.expect("seal").pop();
        let foreign = foreign.expect("digest");
        assert!(matches!(
            integrity::verify(db, &vk, std::slice::from_ref(&foreign)).await,
            Err(IntegrityError::WrongTrail { .. })
        ));
        assert!(matches!(
            integrity::verify_row(&row, &proof, &foreign, &vk),
            Err(IntegrityError::WrongTrail { .. })
        ));

        // Cutting the last block and its rows off is caught by the digest only.
        let txn = db.begin().await.expect("begin");
        let last = d2.digest.block;
        sea_orm::ConnectionTrait::execute_unprepared(
            &txn,
            &format!(
                "DELETE FROM audit_log WHERE id > (SELECT high_id FROM audit_log_seal_blocks \
                 WHERE block_no = {})",
                last - 1
            ),
        )
        .await
        .expect("cut rows");
        sea_orm::ConnectionTrait::execute_unprepared(
            &txn,
            &format!("DELETE FROM audit_log_seal_blocks WHERE block_no = {last}"),
        )
        .await
        .expect("cut block");
        integrity::verify(&txn, &vk, &[])
            .await
            .expect("no digest: not caught");
        assert!(matches!(
            tampered(integrity::verify(&txn, &vk, std::slice::from_ref(&d2)).await),
            Tamper::TruncatedTail { trusted_block, .. } if trusted_block == last
        ));
        txn.rollback().await.expect("rollback");
        integrity::verify(db, &vk, &[d2]).await.expect("restored");
    }
}

#[tokio::test]
async fn file_sink_keeps_every_digest() {
    let Some(fresh) = trail(Backend::Sqlite, 1).await else {
        return;
    };
    let path = std::env::temp_dir().join(format!("digests-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sealer = Sealer::new(key())
        .with_max_block_rows(5)
        .with_sink(FileSink::new(&path));
    write(&fresh.db, "a", 4).await;
    let digests = sealer.seal(&fresh.db).await.expect("seal");
    assert_eq!(FileSink::read(&path).expect("read"), digests);
    let kept = FileSink::read(&path).expect("read");
    integrity::verify(&fresh.db, &key().verifying_key(), &kept)
        .await
        .expect("verifies from the file");
    std::fs::remove_file(&path).expect("cleanup");
}

/// PostgreSQL and MariaDB assign ids before commit: a transaction holding an early id
/// commits after later rows were sealed. Its rows go in a later block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_commits_are_sealed_in_a_later_block() {
    for backend in [Backend::Postgres, Backend::MySql] {
        for window in [Duration::from_secs(3600), Duration::ZERO] {
            let Some(fresh) = trail(backend, 4).await else {
                continue;
            };
            let db = &fresh.db;
            let vk = key().verifying_key();
            let sealer = Sealer::new(key()).with_straggler_window(window);
            write(db, "before", 2).await;
            let held = db.begin().await.expect("begin");
            new_account("late", 1).insert(&held).await.expect("insert");
            write(db, "after", 3).await;
            let d1 = sealer.seal(db).await.expect("seal").pop().expect("digest");
            let ok = integrity::verify(db, &vk, std::slice::from_ref(&d1))
                .await
                .expect("verify");
            assert_eq!(ok.unsealed, 0, "{backend:?}: the held rows are not visible");
            held.commit().await.expect("commit");
            let rows = common::audit_rows(db).await.expect("rows");
            let changeset = rows
                .iter()
                .find(|r| r.new_value == Some(serde_json::json!("late")))
                .map(|r| r.changeset_id.clone())
                .expect("the late insert's rows");
            let late = rows
                .iter()
                .filter(|r| r.changeset_id == changeset)
                .map(|r| r.id)
                .min()
                .expect("a late row");
            assert!(
                rows.iter()
                    .any(|r| r.id > late && r.changeset_id != changeset)
            );
            if window.is_zero() {
                // Not watched: the late row is reported, never silently left out.
                assert_eq!(
                    tampered(integrity::verify(db, &vk, &[d1]).await),
                    Tamper::InsertedRow { id: late },
                    "{backend:?}"
                );
                continue;
            }
            let ok = integrity::verify(db, &vk, std::slice::from_ref(&d1))
                .await
                .expect("verify");
            assert!(ok.unsealed >= 1, "{backend:?}: the late rows wait");
            let d2 = sealer.seal(db).await.expect("seal").pop().expect("digest");
            let ok = integrity::verify(db, &vk, &[d1.clone(), d2.clone()])
                .await
                .expect("verifies with the late rows");
            assert_eq!(ok.unsealed, 0, "{backend:?}");
            assert_eq!(
                ok.tree_size,
                common::audit_rows(db).await.expect("rows").len() as u64
            );
            let index = integrity::locate(db, late).await.expect("locate");
            assert!(
                index.expect("sealed") >= d1.digest.tree_size,
                "in the later block"
            );
            let row = integrity::sealed_row(db, late)
                .await
                .expect("read")
                .expect("row");
            let proof = integrity::prove_row(db, late, &d2.digest)
                .await
                .expect("proof");
            integrity::verify_row(&row, &proof, &d2, &vk).expect("late row proven");
            integrity::verify_since(db, &vk, &d1, &[d2])
                .await
                .expect("incremental");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_sealer_seals_soon_after_commit() {
    for backend in Backend::ALL {
        let Some(fresh) = trail(backend, 4).await else {
            continue;
        };
        let vk = key().verifying_key();
        let task = Sealer::new(key())
            .with_interval(Duration::from_millis(200))
            .spawn(fresh.db.clone());
        write(&fresh.db, "a", 3).await;
        let written = Instant::now();
        loop {
            let ok = integrity::verify(&fresh.db, &vk, &[])
                .await
                .expect("verify");
            if ok.unsealed == 0 && ok.tree_size > 0 {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(5),
                "{backend:?}: sealed in 5 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        task.stop().await.expect("stops cleanly");
    }
}

/// Values that need escaping anywhere (quotes, backslashes, control characters, line and
/// paragraph separators, astral characters, JSON-looking text) verify as sealed on every
/// backend, and an edit of such a row is named. (SQLite's `verify` reads each row packed in
/// a JSON array; this is the text it must unpack exactly.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_verify_and_their_edits_are_named() {
    let hostile =
        "q\"uo'te \\ back\\slash \n\t\r \u{1} \u{1f} \u{2028}\u{2029} é 😀 {\"a\":\"\\u0041\"}";
    for backend in Backend::ALL {
        let Some(fresh) = trail(backend, 2).await else {
            continue;
        };
        let db = &fresh.db;
        audit_core::with_actor(hostile, async {
            let model = new_account(hostile, 1).insert(db).await.expect("insert");
            let mut model: account::ActiveModel = model.into();
            model.note = Set(Some(format!("{hostile} 2")));
            model.update(db).await.expect("update");
        })
        .await;
        let vk = key().verifying_key();
        let digest = Sealer::new(key())
            .seal(db)
            .await
            .expect("seal")
            .pop()
            .expect("digest");
        let verified = integrity::verify(db, &vk, std::slice::from_ref(&digest))
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        assert_eq!(verified.rows, digest.digest.tree_size, "{backend:?}");

        let rows = common::audit_rows(db).await.expect("rows");
        let target = rows
            .iter()
            .find(|r| r.column_name == "note" && r.operation == "update")
            .expect("the update of note")
            .id;
        let edit = format!(
            "UPDATE audit_log SET actor = '{}' WHERE id = {target}",
            hostile.replace('\'', "''").replace(
                '\\',
                match backend {
                    Backend::MySql => "\\\\",
                    _ => "\\",
                }
            ) + "!"
        );
        db.execute_unprepared(&edit).await.expect("edit");
        assert!(
            matches!(
                tampered(integrity::verify(db, &vk, std::slice::from_ref(&digest)).await),
                Tamper::EditedRow { id, .. } if id == target
            ),
            "{backend:?}"
        );
        fresh.cleanup().await.expect("cleanup");
    }
}
