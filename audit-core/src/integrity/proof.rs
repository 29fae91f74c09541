//! Inclusion proofs (RFC 6962) for a row or a changeset against a digest, and consistency
//! proofs (RFC 9162) between two digests: built from the database, checked offline with
//! only the proof, the row and the signed digest.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::IntegrityError;
use super::digest::{Digest, SignedDigest};
use super::encode::SealedRow;
use super::merkle::{self, Hash, Range};
use super::rows;
use super::store::{self, Block, NODE_LEVEL, Tables};
use crate::schema::quote;

/// Proof that one audit row is leaf `leaf_index` of the log a digest signed.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// # let key = SigningKey::from_bytes(&[7; 32]);
/// let digests = Sealer::new(key.clone()).seal(&db).await?;
/// let latest = digests.last().unwrap();
/// let proof = integrity::prove_row(&db, 1, &latest.digest).await?;
/// assert_eq!((proof.row_id, proof.tree_size), (1, 5));
/// assert!(proof.hashes.len() <= 3); // ⌈log₂ 5⌉
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// The trail.
    pub trail: String,
    /// The row's id.
    pub row_id: i64,
    /// The row's position in the log.
    pub leaf_index: u64,
    /// The log size the proof is for (the digest's).
    pub tree_size: u64,
    /// The audit path, leaf side first (at most ⌈log₂ n⌉ hashes).
    pub hashes: Vec<Hash>,
}

/// Proof that the log of one digest is a prefix of the log of a later one.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// # let key = SigningKey::from_bytes(&[7; 32]);
/// let sealer = Sealer::new(key.clone());
/// let old = sealer.seal(&db).await?.pop().unwrap();
/// # let t = ticket::Entity::find_by_id(1).one(&db).await?.unwrap();
/// # let mut am: ticket::ActiveModel = t.into();
/// # am.note = Set("fixed".into());
/// # am.update(&db).await?;
/// let new = sealer.seal(&db).await?.pop().unwrap(); // after one more write
/// let proof = integrity::prove_consistency(&db, &old.digest, &new.digest).await?;
/// assert_eq!((proof.old_size, proof.new_size), (5, 6));
/// integrity::verify_consistency(&old, &new, &proof, &key.verifying_key())?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older size.
    pub old_size: u64,
    /// The newer size.
    pub new_size: u64,
    /// The proof's hashes.
    pub hashes: Vec<Hash>,
}

/// The position of row `id` in the log, `None` when it is not sealed.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// assert_eq!(integrity::locate(&db, 1).await?, None); // not sealed yet
/// Sealer::new(SigningKey::from_bytes(&[7; 32])).seal(&db).await?;
/// assert_eq!(integrity::locate(&db, 1).await?, Some(0));
/// # Ok(())
/// # }
/// ```
pub async fn locate<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<u64>, IntegrityError> {
    let tables = Tables::current()?;
    let Some(block) = store::block_of_id(db, &tables, id).await? else {
        return Ok(None);
    };
    let start = |b: &Block| (b.tree_size - b.row_count) as u64;
    if !block.skipped.contains(id) {
        let main_rank = (id - block.low_id - 1) as u64 - block.skipped.rank(id);
        return Ok(Some(start(&block) + block.stragglers.count() + main_rank));
    }
    for late in store::straggler_blocks(db, &tables, block.block_no).await? {
        if late.stragglers.contains(id) {
            return Ok(Some(start(&late) + late.stragglers.rank(id)));
        }
    }
    Ok(None)
}

/// An inclusion proof of row `id` against `digest`.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// # let key = SigningKey::from_bytes(&[7; 32]);
/// let latest = Sealer::new(key.clone()).seal(&db).await?.pop().unwrap();
/// let proof = integrity::prove_row(&db, 3, &latest.digest).await?;
/// let row = integrity::sealed_row(&db, 3).await?.unwrap();
/// integrity::verify_row(&row, &proof, &latest, &key.verifying_key())?;
/// # Ok(())
/// # }
/// ```
pub async fn prove_row<C: ConnectionTrait>(
    db: &C,
    id: i64,
    digest: &Digest,
) -> Result<InclusionProof, IntegrityError> {
    let index = locate(db, id)
        .await?
        .filter(|i| *i < digest.tree_size)
        .ok_or_else(|| {
            IntegrityError::NotSealed(format!(
                "row {id} is not among the {} rows of block {}'s digest",
                digest.tree_size, digest.block
            ))
        })?;
    let ranges = merkle::inclusion_ranges(index, digest.tree_size);
    Ok(InclusionProof {
        trail: digest.trail.clone(),
        row_id: id,
        leaf_index: index,
        tree_size: digest.tree_size,
        hashes: range_hashes(db, &ranges).await?,
    })
}

/// Every row of changeset `changeset_id`, each with its inclusion proof against `digest`.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// # let key = SigningKey::from_bytes(&[7; 32]);
/// let latest = Sealer::new(key.clone()).seal(&db).await?.pop().unwrap();
/// let insert = audit_core::versions::<ticket::Entity>(&db, 1).await?[0].changeset_id.clone();
/// let proven = integrity::prove_changeset(&db, &insert, &latest.digest).await?;
/// assert_eq!(proven.len(), 4); // the insert's four columns
/// for (row, proof) in &proven {
///     integrity::verify_row(row, proof, &latest, &key.verifying_key())?;
/// }
/// # Ok(())
/// # }
/// ```
pub async fn prove_changeset<C: ConnectionTrait>(
    db: &C,
    changeset_id: &str,
    digest: &Digest,
) -> Result<Vec<(SealedRow, InclusionProof)>, IntegrityError> {
    let tables = Tables::current()?;
    let backend = db.get_database_backend();
    let placeholder = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "SELECT id FROM {} WHERE changeset_id = {placeholder} ORDER BY id",
        quote(backend, &tables.audit)
    );
    let ids = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [changeset_id.into()],
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<i64>("", "id"))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(IntegrityError::NotSealed(format!(
            "changeset {changeset_id} has no rows"
        )));
    }
    let set = super::ids::IdSet::from_sorted(ids.iter().copied());
    let rows = rows::in_set(db, &tables.audit, &set).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let proof = prove_row(db, row.id, digest).await?;
        out.push((row, proof));
    }
    Ok(out)
}

/// A consistency proof from the log of `old` to the log of `new`.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// # let key = SigningKey::from_bytes(&[7; 32]);
/// let sealer = Sealer::new(key.clone());
/// let yesterday = sealer.seal(&db).await?.pop().unwrap();
/// # audit_core::bulk::update_many::<ticket::Entity>().col_expr(ticket::Column::Note, Expr::value("later")).exec(&db).await?;
/// let today = sealer.seal(&db).await?.pop().unwrap();
/// // Today's log extends yesterday's: nothing sealed then was rewritten since.
/// let proof = integrity::prove_consistency(&db, &yesterday.digest, &today.digest).await?;
/// integrity::verify_consistency(&yesterday, &today, &proof, &key.verifying_key())?;
/// # Ok(())
/// # }
/// ```
pub async fn prove_consistency<C: ConnectionTrait>(
    db: &C,
    old: &Digest,
    new: &Digest,
) -> Result<ConsistencyProof, IntegrityError> {
    if old.tree_size > new.tree_size {
        return Err(IntegrityError::Input(format!(
            "digest of block {} is newer than that of block {}",
            old.block, new.block
        )));
    }
    let ranges = merkle::consistency_ranges(old.tree_size, new.tree_size);
    Ok(ConsistencyProof {
        old_size: old.tree_size,
        new_size: new.tree_size,
        hashes: range_hashes(db, &ranges).await?,
    })
}

/// Checks offline that `row`, as given, was sealed under `digest` (whose signature is
/// checked with `key`).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # audit_core::integrity::install(&db).await?;
/// use audit_core::integrity::{self, Sealer, SigningKey};
/// # let key = SigningKey::from_bytes(&[7; 32]);
/// # let latest = Sealer::new(key.clone()).seal(&db).await?.pop().unwrap();
/// # let proof = integrity::prove_row(&db, 2, &latest.digest).await?;
/// // What you hand out: the row, its proof and the signed digest.
/// let mut row = integrity::sealed_row(&db, 2).await?.unwrap();
/// integrity::verify_row(&row, &proof, &latest, &key.verifying_key())?;
/// row.new_value = Some("someone else".into()); // any change to the row
/// assert!(integrity::verify_row(&row, &proof, &latest, &key.verifying_key()).is_err());
/// # Ok(())
/// # }
/// ```
pub fn verify_row(
    row: &SealedRow,
    proof: &InclusionProof,
    digest: &SignedDigest,
    key: &VerifyingKey,
) -> Result<(), IntegrityError> {
    let digest = digest.verify(key)?;
    if proof.trail != digest.trail {
        return Err(IntegrityError::WrongTrail {
            digest: digest.trail.clone(),
            database: proof.trail.clone(),
        });
    }
    if proof.row_id != row.id {
        return Err(IntegrityError::WrongRow {
            row: row.id,
            proof_leaf: proof.leaf_index,
        });
    }
    if proof.tree_size != digest.tree_size {
        return Err(IntegrityError::Input(format!(
            "the proof is for a log of {} rows, the digest signs {}",
            proof.tree_size, digest.tree_size
        )));
    }
    merkle::verify_inclusion(
        proof.leaf_index,
        proof.tree_size,
        &row.leaf_hash(),
        &proof.hashes,
        &digest.root,
    )?;
    Ok(())
}

/// Checks offline that the log `new` signs extends the log `old` signs.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// # let key = SigningKey::from_bytes(&[7; 32]);
/// let sealer = Sealer::new(key.clone());
/// let old = sealer.seal(&db).await?.pop().unwrap();
/// # audit_core::bulk::update_many::<ticket::Entity>().col_expr(ticket::Column::Note, Expr::value("later")).exec(&db).await?;
/// let new = sealer.seal(&db).await?.pop().unwrap();
/// let proof = integrity::prove_consistency(&db, &old.digest, &new.digest).await?;
/// // Offline: the newer log extends the older one, nothing rewritten.
/// integrity::verify_consistency(&old, &new, &proof, &key.verifying_key())?;
/// // The proof in the wrong direction does not verify.
/// assert!(integrity::verify_consistency(&new, &old, &proof, &key.verifying_key()).is_err());
/// # Ok(())
/// # }
/// ```
pub fn verify_consistency(
    old: &SignedDigest,
    new: &SignedDigest,
    proof: &ConsistencyProof,
    key: &VerifyingKey,
) -> Result<(), IntegrityError> {
    let (old, new) = (old.verify(key)?, new.verify(key)?);
    if old.trail != new.trail {
        return Err(IntegrityError::WrongTrail {
            digest: new.trail.clone(),
            database: old.trail.clone(),
        });
    }
    if (proof.old_size, proof.new_size) != (old.tree_size, new.tree_size) {
        return Err(IntegrityError::Input(
            "the proof is for other tree sizes than the digests'".into(),
        ));
    }
    merkle::verify_consistency(
        old.tree_size,
        new.tree_size,
        &old.root,
        &new.root,
        &proof.hashes,
    )?;
    Ok(())
}

/// The hashes of `ranges`, from stored perfect subtrees and, below [`NODE_LEVEL`], from
/// the leaf hashes of their blocks.
async fn range_hashes<C: ConnectionTrait>(
    db: &C,
    ranges: &[Range],
) -> Result<Vec<Hash>, IntegrityError> {
    let tables = Tables::current()?;
    let mut parts = Vec::new();
    ranges
        .iter()
        .for_each(|r| merkle::perfect_parts(*r, &mut parts));
    let (stored, small): (Vec<_>, Vec<_>) = parts.into_iter().partition(|p| p.0 >= NODE_LEVEL);
    let mut known: HashMap<(u32, u64), Hash> = store::nodes(db, &tables, &stored)
        .await?
        .into_iter()
        .map(|(level, idx, hash)| ((level, idx), hash))
        .collect();
    // The leaves below the stored level, read a window at a time: from the first leaf
    // not yet read to the end of its aligned run of `2^NODE_LEVEL` leaves (the proof's
    // small subtrees lie in one such run, but for those at the tree's right edge).
    let mut small = small;
    small.sort_by_key(|(level, idx)| idx << level);
    let mut window: Option<(u64, i64, Vec<u8>)> = None;
    for (level, idx) in small {
        let (start, end) = (idx << level, (idx + 1) << level);
        let mut frontier = merkle::Frontier::default();
        for leaf in start..end {
            let held = window.as_ref().is_some_and(|(first, _, bytes)| {
                *first <= leaf && leaf < first + (bytes.len() / 32) as u64
            });
            if !held {
                let run_end = ((leaf >> NODE_LEVEL) + 1) << NODE_LEVEL;
                window = store::leaf_hashes(db, &tables, leaf, run_end)
                    .await?
                    .map(|(block, bytes)| (leaf, block, bytes));
            }
            let (first, block, bytes) = window
                .as_ref()
                .ok_or_else(|| IntegrityError::NotSealed(format!("leaf {leaf}")))?;
            let at = (leaf - first) as usize * 32;
            let hash: Hash = bytes
                .get(at..at + 32)
                .and_then(|h| h.try_into().ok())
                .ok_or(IntegrityError::Malformed {
                    block: *block,
                    what: "leaves".into(),
                })?;
            frontier.push(hash, |_, _, _| {});
        }
        known.insert((level, idx), frontier.root());
    }
    let mut missing = None;
    let hashes = ranges
        .iter()
        .map(|r| {
            merkle::range_hash(*r, &mut |level, idx| {
                known.get(&(level, idx)).copied().unwrap_or_else(|| {
                    missing = Some((level, idx));
                    [0; 32]
                })
            })
        })
        .collect();
    match missing {
        Some((level, idx)) => Err(IntegrityError::NotSealed(format!(
            "subtree {idx} of level {level} is not stored"
        ))),
        None => Ok(hashes),
    }
}

/// Audit row `id` with every column as the sealer hashes it (to hand out with its proof).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity;
/// let row = integrity::sealed_row(&db, 5).await?.unwrap();
/// assert_eq!((row.operation.as_str(), row.column.as_str()), ("update", "status"));
/// assert_eq!(row.new_value, Some("closed".into()));
/// # Ok(())
/// # }
/// ```
pub async fn sealed_row<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<SealedRow>, IntegrityError> {
    let tables = Tables::current()?;
    let mut set = super::ids::IdSet::default();
    set.push(id, id);
    Ok(rows::in_set(db, &tables.audit, &set).await?.pop())
}
