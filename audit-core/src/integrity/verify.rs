//! `verify`: recomputes every row hash, block and the Merkle log from the database, in
//! pages (memory bounded by two pages of rows and one block's leaf hashes), and checks
//! them against trusted signed digests.

use ed25519_dalek::VerifyingKey;
use sea_orm::ConnectionTrait;

use super::IntegrityError;
use super::digest::{Digest, SignedDigest};
use super::ids::IdSet;
use super::leaves::Leaves;
use super::merkle::{Frontier, Hash};
use super::rows;
use super::store::{self, Block, Tables, genesis_hash};

/// Blocks read per query (each holds up to 32 bytes per row of leaf hashes).
const PAGE_BLOCKS: u64 = 4;

/// What was found wrong: the first bad row or block in log order, and how it went bad.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, IntegrityError, Sealer, SigningKey, Tamper};
/// # integrity::install(&db).await?;
/// let key = SigningKey::from_bytes(&[7; 32]);
/// let digests = Sealer::new(key.clone()).seal(&db).await?;
/// // Someone with the database's credentials rewrites history.
/// db.execute_unprepared("UPDATE audit_log SET actor = 'carol' WHERE id = 5").await?;
/// let verdict = integrity::verify(&db, &key.verifying_key(), &digests).await;
/// assert!(matches!(verdict, Err(IntegrityError::Tampered(Tamper::EditedRow { id: 5, .. }))));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// A sealed row's columns changed.
    EditedRow {
        /// The row.
        id: i64,
        /// Its block.
        block: u64,
    },
    /// A row appeared where the sealer saw none (at an id it had closed).
    InsertedRow {
        /// The row.
        id: i64,
    },
    /// A sealed row is gone.
    DeletedRow {
        /// The missing row.
        id: i64,
        /// Its block.
        block: u64,
    },
    /// The content of sealed row `other` now sits at row `id` (rows swapped or moved).
    ReorderedRows {
        /// The first row whose content is another's.
        id: i64,
        /// The row whose sealed content it holds.
        other: i64,
        /// The block.
        block: u64,
    },
    /// A row was moved from one changeset to another.
    MovedRow {
        /// The row.
        id: i64,
        /// The changeset it was sealed in.
        from_changeset: String,
        /// The changeset it claims now.
        to_changeset: String,
        /// The block.
        block: u64,
    },
    /// A block is missing from the chain.
    DeletedBlock {
        /// The missing block.
        block: u64,
    },
    /// A block's own fields changed (or the chain link to it broke).
    EditedBlock {
        /// The block.
        block: u64,
    },
    /// The trail ends before a trusted digest: rows and blocks were cut off its end.
    TruncatedTail {
        /// The trusted digest's block.
        trusted_block: u64,
        /// The trusted digest's tree size.
        trusted_tree_size: u64,
        /// Rows in the log as found.
        tree_size: u64,
    },
    /// The trail is self-consistent but not the one a trusted digest signed: it was
    /// rewritten with recomputed hashes. The first changed row is among leaves
    /// `first_leaf..tree_size` of the log.
    Rewritten {
        /// The trusted digest that does not match.
        block: u64,
        /// The first leaf that may differ (the previous matching digest's size).
        first_leaf: u64,
        /// The digest's tree size.
        tree_size: u64,
    },
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tamper::EditedRow { id, block } => write!(f, "row {id} (block {block}) was edited"),
            Tamper::InsertedRow { id } => write!(f, "row {id} was inserted after sealing"),
            Tamper::DeletedRow { id, block } => write!(f, "row {id} (block {block}) was deleted"),
            Tamper::ReorderedRows { id, other, block } => write!(
                f,
                "row {id} (block {block}) holds the sealed content of row {other}"
            ),
            Tamper::MovedRow {
                id,
                from_changeset,
                to_changeset,
                block,
            } => write!(
                f,
                "row {id} (block {block}) was moved from changeset {from_changeset} to {to_changeset}"
            ),
            Tamper::DeletedBlock { block } => write!(f, "block {block} was deleted"),
            Tamper::EditedBlock { block } => write!(f, "block {block} was edited"),
            Tamper::TruncatedTail {
                trusted_block,
                trusted_tree_size,
                tree_size,
            } => write!(
                f,
                "the trail was truncated: {tree_size} rows sealed, the digest of block \
                 {trusted_block} signed {trusted_tree_size}"
            ),
            Tamper::Rewritten {
                block,
                first_leaf,
                tree_size,
            } => write!(
                f,
                "the trail was rewritten: it differs from the digest of block {block} \
                 within leaves {first_leaf}..{tree_size}"
            ),
        }
    }
}

/// A trail that verified.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// let key = SigningKey::from_bytes(&[7; 32]);
/// let digests = Sealer::new(key.clone()).seal(&db).await?;
/// let verified = integrity::verify(&db, &key.verifying_key(), &digests).await?;
/// assert_eq!((verified.blocks, verified.rows, verified.unsealed), (1, 5, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// Blocks checked by this run.
    pub blocks: u64,
    /// Rows checked by this run.
    pub rows: u64,
    /// The log's size after the last block.
    pub tree_size: u64,
    /// The last block's digest as recomputed (unsigned): its root matches every trusted
    /// digest checked. `None` for a trail with no block yet.
    pub last: Option<Digest>,
    /// Rows not sealed yet (written since the last seal, or late commits still watched).
    pub unsealed: u64,
}

/// Verifies the whole trail against `trusted` digests (each checked with `key`; pass the
/// newest you hold, or all of them to locate a rewrite more closely).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// let key = SigningKey::from_bytes(&[7; 32]);
/// let digests = Sealer::new(key.clone()).seal(&db).await?;
/// let verified = integrity::verify(&db, &key.verifying_key(), &digests).await?;
/// assert_eq!(verified.tree_size, 5);
/// # Ok(())
/// # }
/// ```
pub async fn verify<C: ConnectionTrait>(
    db: &C,
    key: &VerifyingKey,
    trusted: &[SignedDigest],
) -> Result<Verified, IntegrityError> {
    let trusted = check_signatures(key, trusted)?;
    Run::new(db, trusted, None).await?.run().await
}

/// Verifies only what was sealed after `since`, a digest a previous [`verify`] checked:
/// costs the new rows only. The block `since` names must still match it. Rows sealed
/// before it are not re-read: run a full [`verify`] from time to time as well.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// let key = SigningKey::from_bytes(&[7; 32]);
/// let sealer = Sealer::new(key.clone());
/// let checked = sealer.seal(&db).await?.pop().unwrap();
/// # audit_core::bulk::update_many::<ticket::Entity>().col_expr(ticket::Column::Note, Expr::value("later")).exec(&db).await?;
/// let newer = sealer.seal(&db).await?;
/// // Only the rows sealed after `checked` are read.
/// let verified = integrity::verify_since(&db, &key.verifying_key(), &checked, &newer).await?;
/// assert_eq!(verified.rows, 1);
/// # Ok(())
/// # }
/// ```
pub async fn verify_since<C: ConnectionTrait>(
    db: &C,
    key: &VerifyingKey,
    since: &SignedDigest,
    trusted: &[SignedDigest],
) -> Result<Verified, IntegrityError> {
    let since = since.verify(key)?.clone();
    let trusted = check_signatures(key, trusted)?;
    Run::new(db, trusted, Some(since)).await?.run().await
}

fn check_signatures(
    key: &VerifyingKey,
    trusted: &[SignedDigest],
) -> Result<Vec<Digest>, IntegrityError> {
    let mut digests = trusted
        .iter()
        .map(|d| d.verify(key).cloned())
        .collect::<Result<Vec<_>, _>>()?;
    digests.sort_by_key(|d| (d.tree_size, d.block));
    Ok(digests)
}

fn tampered<T>(t: Tamper) -> Result<T, IntegrityError> {
    Err(IntegrityError::Tampered(t))
}

/// The state of one verification, block by block.
struct Run<'a, C> {
    db: &'a C,
    tables: Tables,
    trusted: Vec<Digest>,
    /// Index of the next trusted digest to match, by tree size.
    next_trusted: usize,
    /// The tree size of the last trusted digest matched.
    matched: u64,
    trail: Option<String>,
    block_no: i64,
    prev_hash: Option<Hash>,
    high: i64,
    frontier: Frontier,
    /// Ids the previous block still watched for late commits.
    watched: IdSet,
    /// Rows seen at skipped ids, not sealed yet.
    waiting: IdSet,
    /// The rows' ids and leaf hashes, read ahead.
    leaves: Leaves,
    blocks: u64,
    rows: u64,
    last: Option<Digest>,
}

impl<'a, C: ConnectionTrait> Run<'a, C> {
    async fn new(
        db: &'a C,
        trusted: Vec<Digest>,
        since: Option<Digest>,
    ) -> Result<Run<'a, C>, IntegrityError> {
        let tables = Tables::current()?;
        let mut run = Run {
            leaves: Leaves::after(&tables.audit, i64::MIN),
            db,
            tables,
            trusted,
            next_trusted: 0,
            matched: 0,
            trail: None,
            block_no: -1,
            prev_hash: None,
            high: 0,
            frontier: Frontier::default(),
            watched: IdSet::default(),
            waiting: IdSet::default(),
            blocks: 0,
            rows: 0,
            last: None,
        };
        if let Some(since) = since {
            let start = i64::try_from(since.block).unwrap_or(i64::MAX);
            let blocks = store::blocks_after(db, &run.tables, start - 1, 1).await;
            let block = match blocks {
                Ok(mut b) if b.first().is_some_and(|b| b.block_no == start) => b.remove(0),
                Ok(_) => {
                    return tampered(Tamper::TruncatedTail {
                        trusted_block: since.block,
                        trusted_tree_size: since.tree_size,
                        tree_size: 0,
                    });
                }
                Err(IntegrityError::Malformed { block, .. }) => {
                    return tampered(Tamper::EditedBlock {
                        block: block as u64,
                    });
                }
                Err(e) => return Err(e),
            };
            run.check_trail(&block.trail)?;
            if block.compute_hash() != block.block_hash
                || block.block_hash != since.block_hash
                || block.log_root != since.root
                || block.tree_size as u64 != since.tree_size
            {
                return tampered(Tamper::Rewritten {
                    block: since.block,
                    first_leaf: 0,
                    tree_size: since.tree_size,
                });
            }
            run.block_no = block.block_no;
            run.prev_hash = Some(block.block_hash);
            run.high = block.high_id;
            run.leaves = Leaves::after(&run.tables.audit, block.high_id);
            run.frontier = block.frontier.clone();
            run.watched = block.open_gaps.all();
            run.waiting = IdSet::from_sorted(
                rows::in_set(db, &run.tables.audit, &run.watched)
                    .await?
                    .iter()
                    .map(|r| r.id),
            );
            run.matched = since.tree_size;
            run.trusted.retain(|d| d.tree_size > since.tree_size);
        }
        Ok(run)
    }

    fn check_trail(&mut self, trail: &str) -> Result<(), IntegrityError> {
        if let Some(d) = self.trusted.iter().find(|d| d.trail != trail) {
            return Err(IntegrityError::WrongTrail {
                digest: d.trail.clone(),
                database: trail.to_owned(),
            });
        }
        self.trail = Some(trail.to_owned());
        Ok(())
    }

    async fn run(mut self) -> Result<Verified, IntegrityError> {
        loop {
            let blocks = match store::blocks_after(
                self.db,
                &self.tables,
                self.block_no,
                PAGE_BLOCKS,
            )
            .await
            {
                Ok(blocks) => blocks,
                Err(IntegrityError::Malformed { block, .. }) => {
                    return tampered(Tamper::EditedBlock {
                        block: block as u64,
                    });
                }
                Err(e) => return Err(e),
            };
            if blocks.is_empty() {
                break;
            }
            for block in blocks {
                self.block(block).await?;
            }
        }
        if let Some(d) = self.trusted.get(self.next_trusted) {
            return tampered(Tamper::TruncatedTail {
                trusted_block: d.block,
                trusted_tree_size: d.tree_size,
                tree_size: self.frontier.size(),
            });
        }
        let unsealed =
            rows::count_after(self.db, &self.tables.audit, self.high).await? + self.waiting.count();
        Ok(Verified {
            blocks: self.blocks,
            rows: self.rows,
            tree_size: self.frontier.size(),
            last: self.last,
            unsealed,
        })
    }

    async fn block(&mut self, block: Block) -> Result<(), IntegrityError> {
        let no = block.block_no as u64;
        let expected = self.block_no + 1;
        if block.block_no != expected {
            return tampered(Tamper::DeletedBlock {
                block: expected as u64,
            });
        }
        if self.trail.is_none() {
            self.check_trail(&block.trail)?;
        }
        let prev_hash = self.prev_hash.unwrap_or_else(|| genesis_hash(&block.trail));
        if block.compute_hash() != block.block_hash {
            return tampered(Tamper::EditedBlock { block: no });
        }
        if block.prev_hash != prev_hash || Some(&block.trail) != self.trail.as_ref() {
            return tampered(Tamper::EditedBlock {
                block: no.saturating_sub(1),
            });
        }
        let coverage = block.coverage();
        let consistent = block.low_id == self.high
            && block.high_id >= block.low_id
            && block.row_count as u64 == coverage.count()
            && block.leaves.len() as u64 == 32 * coverage.count()
            && block.tree_size as u64 == self.frontier.size() + coverage.count()
            && block.stragglers.minus(&self.watched).is_empty()
            && block
                .stragglers
                .ranges()
                .last()
                .is_none_or(|r| r.1 <= block.low_id);
        if !consistent {
            return tampered(Tamper::EditedBlock { block: no });
        }

        let before = self.frontier.clone();
        let mut leaves: Vec<Hash> = Vec::with_capacity(coverage.count() as usize);
        // Late commits first, as sealed.
        let late = rows::in_set(self.db, &self.tables.audit, &block.stragglers).await?;
        let mut late_rows = late.iter();
        for id in block.stragglers.iter() {
            match late_rows.next() {
                Some(row) if row.id == id => leaves.push(row.leaf_hash()),
                _ => return tampered(Tamper::DeletedRow { id, block: no }),
            }
        }
        // Then the main range.
        let mut main = IdSet::default();
        if block.high_id > block.low_id {
            main.push(block.low_id + 1, block.high_id);
        }
        let main = main.minus(&block.skipped);
        let mut expect = main.iter();
        let mut seen_skipped = IdSet::default();
        loop {
            let id = match self.leaves.peek(self.db).await? {
                Some(&(id, _)) if id <= block.high_id => id,
                _ => break,
            };
            if id <= block.low_id {
                return tampered(Tamper::InsertedRow { id });
            }
            if block.skipped.contains(id) {
                seen_skipped.push(id, id);
                self.leaves.pop();
                continue;
            }
            match expect.next() {
                Some(e) if e == id => {}
                Some(e) => return tampered(Tamper::DeletedRow { id: e, block: no }),
                None => return tampered(Tamper::InsertedRow { id }),
            }
            if let Some((_, leaf)) = self.leaves.pop() {
                leaves.push(leaf);
            }
        }
        if let Some(e) = expect.next() {
            return tampered(Tamper::DeletedRow { id: e, block: no });
        }

        // The log, and the trusted digests whose size falls in this block.
        let mut roots_at = Vec::new();
        for leaf in &leaves {
            self.frontier.push(*leaf, |_, _, _| {});
            let size = self.frontier.size();
            for d in self.trusted[self.next_trusted..]
                .iter()
                .take_while(|d| d.tree_size <= size)
                .filter(|d| d.tree_size == size)
            {
                roots_at.push((d.clone(), self.frontier.root()));
            }
        }
        if self.frontier.root() != block.log_root || self.frontier != block.frontier {
            return tampered(self.locate(&block, &before, &coverage, &leaves).await?);
        }
        // Rows that showed up at ids the sealer no longer watches were never sealed.
        let watched_now = block.open_gaps.all();
        let waiting = self.waiting.union(&seen_skipped).minus(&block.stragglers);
        if let Some(id) = waiting.minus(&watched_now).iter().next() {
            return tampered(Tamper::InsertedRow { id });
        }
        self.waiting = waiting;
        self.watched = watched_now;

        for (d, root) in roots_at {
            if root != d.root || (d.block == no && d.block_hash != block.block_hash) {
                return tampered(Tamper::Rewritten {
                    block: d.block,
                    first_leaf: self.matched,
                    tree_size: d.tree_size,
                });
            }
            self.matched = d.tree_size;
            self.next_trusted += 1;
        }
        if let Some(d) = self.trusted.get(self.next_trusted)
            && d.tree_size < self.frontier.size()
        {
            // A digest whose size is no block's end in this trail: skipped by the loop.
            return tampered(Tamper::Rewritten {
                block: d.block,
                first_leaf: self.matched,
                tree_size: d.tree_size,
            });
        }
        self.blocks += 1;
        self.rows += leaves.len() as u64;
        self.block_no = block.block_no;
        self.prev_hash = Some(block.block_hash);
        self.high = block.high_id;
        self.last = Some(Digest {
            trail: block.trail.clone(),
            block: no,
            tree_size: block.tree_size as u64,
            root: block.log_root,
            block_hash: block.block_hash,
            sealed_at: chrono::DateTime::from_timestamp_micros(block.sealed_at).unwrap_or_default(),
        });
        Ok(())
    }

    /// The block's rows do not lead to its root: finds the first row that differs from
    /// what was sealed, and how.
    async fn locate(
        &self,
        block: &Block,
        before: &Frontier,
        coverage: &IdSet,
        leaves: &[Hash],
    ) -> Result<Tamper, IntegrityError> {
        let no = block.block_no as u64;
        let sealed: Vec<Hash> = block.leaf_hashes().collect();
        let mut check = before.clone();
        sealed.iter().for_each(|l| check.push(*l, |_, _, _| {}));
        if check.root() != block.log_root || check != block.frontier {
            return Ok(Tamper::EditedBlock { block: no });
        }
        let ids: Vec<i64> = coverage.iter().collect();
        let Some(i) = (0..sealed.len()).find(|&i| leaves.get(i) != Some(&sealed[i])) else {
            return Ok(Tamper::EditedBlock { block: no });
        };
        let id = ids[i];
        let rows = rows::in_set(self.db, &self.tables.audit, coverage).await?;
        let Some(row) = rows.iter().find(|r| r.id == id) else {
            return Ok(Tamper::DeletedRow { id, block: no });
        };
        for (j, other) in ids.iter().enumerate() {
            let mut moved = row.clone();
            moved.id = *other;
            if j != i && moved.leaf_hash() == sealed[j] {
                return Ok(Tamper::ReorderedRows {
                    id,
                    other: *other,
                    block: no,
                });
            }
        }
        let mut changesets: Vec<&str> = rows.iter().map(|r| r.changeset_id.as_str()).collect();
        changesets.sort_unstable();
        changesets.dedup();
        for changeset in changesets {
            let mut moved = row.clone();
            moved.changeset_id = changeset.to_owned();
            if changeset != row.changeset_id && moved.leaf_hash() == sealed[i] {
                return Ok(Tamper::MovedRow {
                    id,
                    from_changeset: changeset.to_owned(),
                    to_changeset: row.changeset_id.clone(),
                    block: no,
                });
            }
        }
        Ok(Tamper::EditedRow { id, block: no })
    }
}
