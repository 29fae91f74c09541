//! Tamper fuzz on every backend. A trail is written once per backend by 8 concurrent tasks
//! through every write path (hooks via `ActiveModel`, `audit_core::bulk`,
//! `audit_core::transaction`, with rolled-back writes leaving gaps on PostgreSQL and
//! MariaDB; personal columns sealed with their subject's key, and subjects erased), sealed
//! by the background sealer while they write. Then each case applies one
//! random tampering inside a transaction, runs `verify` against the published digests,
//! checks the verdict names exactly the first bad row or block and the kind of tampering,
//! and rolls back. Value-preserving rewrites (JSON text re-serialised) must verify: no
//! false positives. `AUDIT_TAMPER_CASES` cases per backend (1,000 by default; the
//! ignored `long_run` runs 10,000).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_core::integrity::{
    self, IntegrityError, SealedRow, Sealer, SignedDigest, SigningKey, Tamper,
};
use common::{Backend, FreshDb, account, new_account, setup};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    Statement, TransactionTrait, Value,
};

/// A person whose `email` is personal data: written sealed, erased by some writers.
mod person {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "person")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        #[audit(personal)]
        pub email: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

const TASKS: usize = 8;
const BLOCK_ROWS: u64 = 24;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[3; 32])
}

/// A sealed trail and what the test knows of it.
struct Trail {
    fresh: FreshDb,
    digests: Vec<SignedDigest>,
    /// Every row, in log order, with its block.
    rows: Vec<(SealedRow, u64)>,
    /// Ids inside the sealed range with no row (rolled back or removed before sealing).
    gaps: Vec<i64>,
}

async fn writer(db: DatabaseConnection, task: usize, backend: Backend) -> Result<(), DbErr> {
    for round in 0..4 {
        let name = |k: usize| format!("t{task}-r{round}-{k}");
        // Hooks.
        let model = new_account(&name(0), round).insert(&db).await?;
        let mut model: account::ActiveModel = model.into();
        model.balance = Set(round + 10);
        model.update(&db).await?;
        // Bulk.
        let created =
            audit_core::bulk::insert_many([new_account(&name(1), 1), new_account(&name(2), 2)])
                .exec_with_returning(&db)
                .await?;
        let ids: Vec<i32> = created.iter().map(|m| m.id).collect();
        audit_core::bulk::update_many::<account::Entity>()
            .col_expr(account::Column::Note, Expr::value(format!("bulk {task}")))
            .filter(account::Column::Id.is_in(ids))
            .exec(&db)
            .await?;
        // A buffered transaction.
        let owner = name(3);
        audit_core::transaction(&db, |txn| {
            Box::pin(async move {
                let model = new_account(&owner, 3).insert(txn).await?;
                let mut model: account::ActiveModel = model.into();
                model.note = Set(Some("in a transaction".into()));
                model.update(txn).await?;
                Ok::<_, DbErr>(())
            })
        })
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
        // Personal data, and an erasure of every other subject.
        let id = (task * 10) as i32 + round as i32;
        let person = person::ActiveModel {
            id: Set(id),
            email: Set(format!("{}@example.org", name(5))),
        }
        .insert(&db)
        .await?;
        let mut person: person::ActiveModel = person.into();
        person.email = Set(format!("{}@example.net", name(5)));
        person.update(&db).await?;
        if round % 2 == 1 {
            audit_core::erase_subject(&db, "person", id)
                .await
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        // A write rolled back: its ids are burnt on PostgreSQL and MariaDB.
        if backend != Backend::Sqlite {
            let txn = db.begin().await?;
            new_account(&name(4), 4).insert(&txn).await?;
            txn.rollback().await?;
        }
    }
    Ok(())
}

async fn build(backend: Backend) -> Option<Trail> {
    let pool = if backend == Backend::Sqlite { 1 } else { 10 };
    let fresh = setup(backend, pool).await?;
    let db = &fresh.db;
    integrity::install(db).await.expect("install");
    common::create_table(db, person::Entity).await;
    audit_core::erasure::set_key_encryption_key(Some(Arc::new(
        audit_core::erasure::LocalKek::new([4; 32]),
    )));
    let digests = Arc::new(Mutex::new(Vec::new()));
    let sink = digests.clone();
    let sealer = Sealer::new(key())
        .with_max_block_rows(BLOCK_ROWS)
        .with_sink(move |d: &SignedDigest| {
            sink.lock().unwrap().push(d.clone());
            Ok(())
        });
    let task = sealer
        .clone()
        .with_interval(Duration::from_millis(30))
        .spawn(db.clone());
    let writers: Vec<_> = (0..TASKS)
        .map(|t| tokio::spawn(writer(db.clone(), t, backend)))
        .collect();
    for w in writers {
        w.await.expect("join").expect("writer");
    }
    task.stop().await.expect("sealer");
    // An id removed before it was sealed (a gap on SQLite too), then close every gap.
    let audit_max: i64 = max_id(db).await;
    execute(
        db,
        &format!(
            "INSERT INTO audit_log (id, changeset_id, table_name, record_id, operation, \
             column_name, changed_at) SELECT {}, changeset_id, table_name, record_id, \
             operation, column_name, changed_at FROM audit_log WHERE id = {audit_max}",
            audit_max + 1
        ),
    )
    .await;
    new_account("last", 1).insert(db).await.expect("write");
    execute(
        db,
        &format!("DELETE FROM audit_log WHERE id = {}", audit_max + 1),
    )
    .await;
    sealer
        .with_straggler_window(Duration::ZERO)
        .seal(db)
        .await
        .expect("final seal");
    let digests = digests.lock().unwrap().clone();
    assert!(digests.len() > 10, "{backend:?}: {} blocks", digests.len());
    let vk = key().verifying_key();
    integrity::verify(db, &vk, &digests)
        .await
        .expect("untampered trail verifies");

    let mut rows = Vec::new();
    for row in common::audit_rows(db).await.expect("rows") {
        let index = integrity::locate(db, row.id)
            .await
            .expect("locate")
            .expect("sealed");
        let block = digests
            .iter()
            .find(|d| d.digest.tree_size > index)
            .expect("a block")
            .digest
            .block;
        let sealed = integrity::sealed_row(db, row.id)
            .await
            .expect("read")
            .expect("row");
        rows.push((index, sealed, block));
    }
    rows.sort_by_key(|r| r.0);
    let erasures = rows
        .iter()
        .filter(|r| r.1.table == audit_core::erasure::ERASURE_LABEL)
        .count();
    let sealed = rows
        .iter()
        .filter(|r| {
            r.1.new_value
                .as_ref()
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.starts_with("aes256gcm:"))
        })
        .count();
    assert_eq!(erasures, TASKS * 2, "{backend:?}: erasures in the trail");
    assert!(sealed >= TASKS * 8, "{backend:?}: {sealed} sealed values");
    let ids: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.1.id).collect();
    let gaps = (*ids.first()?..*ids.last()?)
        .filter(|id| !ids.contains(id))
        .collect();
    Some(Trail {
        fresh,
        digests,
        rows: rows
            .into_iter()
            .map(|(_, row, block)| (row, block))
            .collect(),
        gaps,
    })
}

async fn max_id(db: &impl ConnectionTrait) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT MAX(id) AS m FROM audit_log",
        ))
        .await
        .expect("max")
        .expect("a row");
    row.try_get("", "m").expect("max id")
}

async fn execute(db: &impl ConnectionTrait, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Writes `row`'s columns over audit row `id` (`insert`: as a new row `row.id`). With
/// `pretty`, JSON text is written re-serialised (same values, other text).
async fn put(db: &impl ConnectionTrait, row: &SealedRow, insert: bool, pretty: bool) {
    let backend = db.get_database_backend();
    let json = |v: &Option<serde_json::Value>| match (backend, v) {
        (DbBackend::Postgres, v) => Value::Json(v.clone().map(Box::new)),
        (_, None) => Value::String(None),
        (_, Some(v)) if pretty => Value::String(Some(serde_json::to_string_pretty(v).unwrap())),
        (_, Some(v)) => Value::String(Some(v.to_string())),
    };
    let time = match backend {
        DbBackend::Sqlite => Value::String(Some(
            row.changed_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        )),
        _ => Value::ChronoDateTimeUtc(Some(row.changed_at)),
    };
    let values = vec![
        row.changeset_id.clone().into(),
        row.table.clone().into(),
        row.record_id.clone().into(),
        row.operation.clone().into(),
        row.column.clone().into(),
        json(&row.old_value),
        json(&row.new_value),
        Value::String(row.actor.clone()),
        time,
        json(&row.context),
        row.id.into(),
    ];
    let p = |i: usize| {
        if backend == DbBackend::Postgres {
            format!("${i}")
        } else {
            "?".into()
        }
    };
    let columns = [
        "changeset_id",
        "table_name",
        "record_id",
        "operation",
        "column_name",
        "old_value",
        "new_value",
        "actor",
        "changed_at",
        "context",
    ];
    let sql = if insert {
        format!(
            "INSERT INTO audit_log ({}, id) VALUES ({})",
            columns.join(", "),
            (1..=11).map(p).collect::<Vec<_>>().join(", ")
        )
    } else {
        let sets: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = {}", p(i + 1)))
            .collect();
        format!(
            "UPDATE audit_log SET {} WHERE id = {}",
            sets.join(", "),
            p(11)
        )
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .expect("write row");
}

/// What one case does, and what `verify` must say.
enum Expect {
    Tamper(Tamper),
    /// A rewrite: `Rewritten` from at or before this leaf.
    RewrittenFrom(u64),
    /// A rewrite from the first block: a new trail, refused.
    WrongTrail,
    Intact,
}

async fn case(trail: &Trail, kind: u8, a: u64, b: u64) -> Result<(), TestCaseError> {
    let db = &trail.fresh.db;
    let backend = db.get_database_backend();
    let rows = &trail.rows;
    let pick = |seed: u64| &rows[(seed % rows.len() as u64) as usize];
    let last_block = trail.digests.last().expect("digests").digest.block;
    let txn = db.begin().await.expect("begin");
    let expect = match kind {
        // An edited column.
        0 => {
            let (row, block) = pick(a);
            let mut edited = row.clone();
            match b % 10 {
                0 => edited.changeset_id = "00000000-0000-7000-8000-000000000000".into(),
                1 => edited.table.push('x'),
                2 => edited.record_id.push('x'),
                3 => {
                    edited.operation = if row.operation == "insert" {
                        "update"
                    } else {
                        "insert"
                    }
                    .into()
                }
                4 => edited.column.push('x'),
                5 => edited.old_value = Some(serde_json::json!({"tampered": b})),
                6 => edited.new_value = Some(serde_json::json!(b as i64 - 1)),
                7 => edited.actor = Some("mallory".into()),
                8 => edited.changed_at -= chrono::Duration::microseconds(1 + (b % 1000) as i64),
                _ => edited.context = Some(serde_json::json!(["x"])),
            }
            put(&txn, &edited, false, false).await;
            let siblings = rows
                .iter()
                .filter(|r| r.1 == *block && r.0.changeset_id == row.changeset_id)
                .count();
            if b.is_multiple_of(10) && siblings > 1 {
                // A new changeset id moves the row out of its changeset.
                Expect::Tamper(Tamper::MovedRow {
                    id: row.id,
                    from_changeset: row.changeset_id.clone(),
                    to_changeset: edited.changeset_id,
                    block: *block,
                })
            } else {
                Expect::Tamper(Tamper::EditedRow {
                    id: row.id,
                    block: *block,
                })
            }
        }
        // An inserted row, in a gap or below every id.
        1 => {
            let mut copy = pick(a).0.clone();
            copy.id = match trail.gaps.get((b % (trail.gaps.len() as u64 + 1)) as usize) {
                Some(gap) => *gap,
                None => -5,
            };
            put(&txn, &copy, true, false).await;
            Expect::Tamper(Tamper::InsertedRow { id: copy.id })
        }
        // A deleted row.
        2 => {
            let (row, block) = pick(a);
            execute(
                &txn,
                &format!("DELETE FROM audit_log WHERE id = {}", row.id),
            )
            .await;
            Expect::Tamper(Tamper::DeletedRow {
                id: row.id,
                block: *block,
            })
        }
        // Two rows of one block swapped.
        3 => {
            let i = (a % rows.len() as u64) as usize;
            let block = rows[i].1;
            let same: Vec<usize> = (0..rows.len())
                .filter(|&j| rows[j].1 == block && j != i)
                .collect();
            let j = same[(b % same.len() as u64) as usize];
            let (first, second) = (i.min(j), i.max(j));
            let (p, q) = (&rows[first].0, &rows[second].0);
            let (mut p2, mut q2) = (q.clone(), p.clone());
            p2.id = p.id;
            q2.id = q.id;
            put(&txn, &p2, false, false).await;
            put(&txn, &q2, false, false).await;
            Expect::Tamper(Tamper::ReorderedRows {
                id: p.id,
                other: q.id,
                block,
            })
        }
        // A row moved to another changeset of its block.
        4 => {
            let i = (a % rows.len() as u64) as usize;
            let (row, block) = &rows[i];
            let in_block: Vec<&SealedRow> = rows
                .iter()
                .filter(|r| r.1 == *block)
                .map(|r| &r.0)
                .collect();
            let siblings = in_block
                .iter()
                .filter(|r| r.changeset_id == row.changeset_id)
                .count();
            let others: Vec<&str> = in_block
                .iter()
                .map(|r| r.changeset_id.as_str())
                .filter(|c| *c != row.changeset_id)
                .collect();
            if siblings < 2 || others.is_empty() {
                return txn
                    .rollback()
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()));
            }
            let mut moved = row.clone();
            moved.changeset_id = others[(b % others.len() as u64) as usize].to_owned();
            put(&txn, &moved, false, false).await;
            Expect::Tamper(Tamper::MovedRow {
                id: row.id,
                from_changeset: row.changeset_id.clone(),
                to_changeset: moved.changeset_id,
                block: *block,
            })
        }
        // A deleted block.
        5 => {
            let block = a % (last_block + 1);
            execute(
                &txn,
                &format!("DELETE FROM audit_log_seal_blocks WHERE block_no = {block}"),
            )
            .await;
            if block == last_block {
                Expect::Tamper(truncated(trail, last_block - 1))
            } else {
                Expect::Tamper(Tamper::DeletedBlock { block })
            }
        }
        // The tail cut off: blocks and their rows.
        6 => {
            let keep = a % last_block; // blocks 0..=keep stay
            let size = trail.digests[keep as usize].digest.tree_size as usize;
            execute(
                &txn,
                &format!("DELETE FROM audit_log_seal_blocks WHERE block_no > {keep}"),
            )
            .await;
            let ids: Vec<String> = rows[size..].iter().map(|r| r.0.id.to_string()).collect();
            execute(
                &txn,
                &format!("DELETE FROM audit_log WHERE id IN ({})", ids.join(", ")),
            )
            .await;
            Expect::Tamper(truncated(trail, keep))
        }
        // A block's own fields.
        7 => {
            let block = a % (last_block + 1);
            let column = ["sealed_at", "row_count", "tree_size", "high_id"][(b % 4) as usize];
            execute(
                &txn,
                &format!(
                    "UPDATE audit_log_seal_blocks SET {column} = {column} + 1 WHERE block_no = {block}"
                ),
            )
            .await;
            Expect::Tamper(Tamper::EditedBlock { block })
        }
        // A row edited and every hash from its block on recomputed with the real sealer.
        8 => {
            let i = (a % rows.len() as u64) as usize;
            let (row, block) = &rows[i];
            let mut edited = row.clone();
            edited.actor = Some("mallory".into());
            put(&txn, &edited, false, false).await;
            execute(
                &txn,
                &format!("DELETE FROM audit_log_seal_blocks WHERE block_no >= {block}"),
            )
            .await;
            execute(&txn, "DELETE FROM audit_log_seal_nodes").await;
            Sealer::new(key())
                .with_max_block_rows(BLOCK_ROWS)
                .with_straggler_window(Duration::ZERO)
                .seal(&txn)
                .await
                .expect("reseal");
            if *block == 0 {
                Expect::WrongTrail
            } else {
                Expect::RewrittenFrom(i as u64)
            }
        }
        // Same values, other JSON text, or rewritten unchanged: must verify.
        _ => {
            let (row, _) = pick(a);
            put(&txn, row, false, true).await;
            Expect::Intact
        }
    };
    let started = std::time::Instant::now();
    let verdict = integrity::verify(&txn, &key().verifying_key(), &trail.digests).await;
    if std::env::var("AUDIT_TAMPER_TIMING").is_ok() {
        eprintln!("kind {kind}: verify {:?}", started.elapsed());
    }
    txn.rollback().await.expect("rollback");
    let ok = match (&expect, &verdict) {
        (Expect::Tamper(t), Err(IntegrityError::Tampered(found))) => t == found,
        (
            Expect::RewrittenFrom(leaf),
            Err(IntegrityError::Tampered(Tamper::Rewritten { first_leaf, .. })),
        ) => first_leaf <= leaf,
        (Expect::WrongTrail, Err(IntegrityError::WrongTrail { .. })) => true,
        (Expect::Intact, Ok(v)) => v.tree_size == rows.len() as u64 && v.unsealed == 0,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        let wanted = match expect {
            Expect::Tamper(t) => format!("{t:?}"),
            Expect::RewrittenFrom(l) => format!("Rewritten from leaf <= {l}"),
            Expect::WrongTrail => "WrongTrail".into(),
            Expect::Intact => "verified".into(),
        };
        Err(TestCaseError::fail(format!(
            "{backend:?} kind {kind}: expected {wanted}, got {verdict:?}"
        )))
    }
}

/// Blocks `0..=kept` remain: the first trusted digest past them is reported.
fn truncated(trail: &Trail, kept: u64) -> Tamper {
    let first_lost = &trail.digests[kept as usize + 1].digest;
    Tamper::TruncatedTail {
        trusted_block: first_lost.block,
        trusted_tree_size: first_lost.tree_size,
        tree_size: trail.digests[kept as usize].digest.tree_size,
    }
}

fn fuzz(cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for backend in Backend::ALL {
        let Some(trail) = rt.block_on(build(backend)) else {
            continue;
        };
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let started = std::time::Instant::now();
        runner
            .run(&(0u8..10, any::<u64>(), any::<u64>()), |(kind, a, b)| {
                rt.block_on(case(&trail, kind, a, b))
            })
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        eprintln!(
            "{backend:?}: {cases} tamper cases over {} rows in {} blocks: all as expected ({:.1} s)",
            trail.rows.len(),
            trail.digests.len(),
            started.elapsed().as_secs_f64()
        );
    }
}

fn cases() -> u32 {
    std::env::var("AUDIT_TAMPER_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
}

#[test]
fn every_tampering_is_detected_and_named() {
    fuzz(cases());
}

#[test]
#[ignore = "long run: 10,000 cases per backend"]
fn long_run() {
    fuzz(10_000);
}
