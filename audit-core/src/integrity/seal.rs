//! The sealer: seals committed audit rows into chained blocks of the Merkle log, signs a
//! digest per block and hands it to the sink. It reads the audit table and writes only its
//! own tables, so audited writes never wait for it, nor for each other.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use ed25519_dalek::SigningKey;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionSession, TransactionTrait};

use super::IntegrityError;
use super::digest::{Digest, DigestSink, SignedDigest};
use super::ids::IdSet;
use super::rows;
use super::store::{self, Block, NODE_LEVEL, OpenGaps, Tables, genesis_hash};

/// Seals audit rows. Cheap to clone; one per trail and process.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # audit_core::integrity::install(&db).await?;
/// use audit_core::integrity::{Sealer, SigningKey};
/// let key = SigningKey::from_bytes(&[7; 32]); // from your secret store
/// let digests = Sealer::new(key).seal(&db).await?;
/// assert_eq!(digests[0].digest.tree_size, 5); // ticket 1's five audit rows
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sealer {
    key: SigningKey,
    sink: Option<Arc<dyn DigestSink>>,
    max_block_rows: u64,
    straggler_window: Duration,
    interval: Duration,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key", &"<secret>")
            .field("max_block_rows", &self.max_block_rows)
            .field("straggler_window", &self.straggler_window)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer signing with `key`: no sink, blocks of at most 16,384 rows, gaps watched
    /// for late commits for one hour, sealing every second when spawned.
    ///
    /// ```
    /// use audit_core::integrity::{Sealer, SigningKey};
    /// let _sealer = Sealer::new(SigningKey::from_bytes(&[7; 32])); // the key from your secret store
    /// ```
    pub fn new(key: SigningKey) -> Self {
        Sealer {
            key,
            sink: None,
            max_block_rows: 16_384,
            straggler_window: Duration::from_secs(3600),
            interval: Duration::from_secs(1),
        }
    }

    /// Sends every new signed digest to `sink`.
    ///
    /// ```
    /// use audit_core::integrity::{FileSink, Sealer, SigningKey};
    /// let _sealer = Sealer::new(SigningKey::from_bytes(&[7; 32])).with_sink(FileSink::new("digests.jsonl"));
    /// ```
    pub fn with_sink(mut self, sink: impl DigestSink + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Caps the rows of one block (at least 1).
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity::{self, Sealer, SigningKey};
    /// # integrity::install(&db).await?;
    /// let digests = Sealer::new(SigningKey::from_bytes(&[7; 32])).with_max_block_rows(2).seal(&db).await?;
    /// assert_eq!(digests.len(), 3); // 5 rows in blocks of at most 2
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_max_block_rows(mut self, rows: u64) -> Self {
        self.max_block_rows = rows.max(1);
        self
    }

    /// How long an id that was missing when rows above it were sealed is watched for a
    /// late commit (a transaction that took its id before and committed after). A row that
    /// commits at such an id later than this is reported by `verify` as inserted.
    ///
    /// ```
    /// use audit_core::integrity::{Sealer, SigningKey};
    /// use std::time::Duration;
    /// // Watch ids that were missing (transactions still open) for 10 minutes instead of an hour.
    /// let _sealer = Sealer::new(SigningKey::from_bytes(&[7; 32])).with_straggler_window(Duration::from_secs(600));
    /// ```
    pub fn with_straggler_window(mut self, window: Duration) -> Self {
        self.straggler_window = window;
        self
    }

    /// How often a spawned sealer seals: the bound on the time between a commit and its
    /// seal, plus one seal's duration.
    ///
    /// ```
    /// use audit_core::integrity::{Sealer, SigningKey};
    /// let _sealer = Sealer::new(SigningKey::from_bytes(&[7; 32])).with_interval(std::time::Duration::from_secs(5));
    /// ```
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The public key that checks this sealer's digests.
    ///
    /// ```
    /// use audit_core::integrity::{Sealer, SigningKey};
    /// let key = SigningKey::from_bytes(&[7; 32]);
    /// assert_eq!(Sealer::new(key.clone()).verifying_key(), key.verifying_key());
    /// ```
    pub fn verifying_key(&self) -> super::VerifyingKey {
        self.key.verifying_key()
    }

    /// Seals every committed, unsealed row (in blocks of at most the configured size) and
    /// returns the new blocks' signed digests, oldest first, after handing each to the sink.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity::{self, Sealer, SigningKey};
    /// # integrity::install(&db).await?;
    /// let sealer = Sealer::new(SigningKey::from_bytes(&[7; 32]));
    /// assert_eq!(sealer.seal(&db).await?.len(), 1);
    /// assert!(sealer.seal(&db).await?.is_empty()); // nothing new to seal
    /// # Ok(())
    /// # }
    /// ```
    pub async fn seal<C: ConnectionTrait + TransactionTrait>(
        &self,
        db: &C,
    ) -> Result<Vec<SignedDigest>, IntegrityError> {
        let tables = Tables::current()?;
        let mut digests = Vec::new();
        while let Some((digest, full)) = self.seal_block(db, &tables).await? {
            if let Some(sink) = &self.sink {
                sink.publish(&digest).map_err(IntegrityError::Sink)?;
            }
            digests.push(digest);
            if !full {
                break;
            }
        }
        Ok(digests)
    }

    /// Seals one block; `None` when nothing is waiting. The flag says the block is full.
    async fn seal_block<C: ConnectionTrait + TransactionTrait>(
        &self,
        db: &C,
        tables: &Tables,
    ) -> Result<Option<(SignedDigest, bool)>, IntegrityError> {
        let last = store::last_block(db, tables).await?;
        let (trail, block_no, low, prev_hash, mut frontier, gaps) = match last {
            Some(b) => (
                b.trail,
                b.block_no + 1,
                b.high_id,
                b.block_hash,
                b.frontier,
                b.open_gaps,
            ),
            None => {
                let trail = uuid::Uuid::now_v7().to_string();
                let genesis = genesis_hash(&trail);
                (
                    trail,
                    0,
                    0,
                    genesis,
                    Default::default(),
                    OpenGaps::default(),
                )
            }
        };
        let late = rows::in_set(db, &tables.audit, &gaps.all()).await?;
        let fresh = rows::range(db, &tables.audit, low, i64::MAX, self.max_block_rows).await?;
        if late.is_empty() && fresh.is_empty() {
            return Ok(None);
        }
        let full = fresh.len() as u64 >= self.max_block_rows;
        let high = fresh.last().map_or(low, |r| r.id);
        let mut main = IdSet::default();
        if high > low {
            main.push(low + 1, high);
        }
        let skipped = main.minus(&IdSet::from_sorted(fresh.iter().map(|r| r.id)));
        let stragglers = IdSet::from_sorted(late.iter().map(|r| r.id));

        let now = Utc::now().trunc_subsecs(6);
        let window = i64::try_from(self.straggler_window.as_secs()).unwrap_or(i64::MAX);
        let mut open: Vec<(i64, IdSet)> = gaps
            .0
            .iter()
            .filter(|(secs, _)| now.timestamp().saturating_sub(*secs) < window)
            .map(|(secs, set)| (*secs, set.minus(&stragglers)))
            .filter(|(_, set)| !set.is_empty())
            .collect();
        if !skipped.is_empty() && !self.straggler_window.is_zero() {
            open.push((now.timestamp(), skipped.clone()));
        }

        let mut leaves = Vec::with_capacity((late.len() + fresh.len()) * 32);
        let mut nodes = Vec::new();
        for row in late.iter().chain(&fresh) {
            let leaf = row.leaf_hash();
            leaves.extend_from_slice(&leaf);
            frontier.push(leaf, |level, index, hash| {
                if level >= NODE_LEVEL {
                    nodes.push((level, index, *hash));
                }
            });
        }
        let mut block = Block {
            block_no,
            trail,
            low_id: low,
            high_id: high,
            skipped,
            stragglers,
            open_gaps: OpenGaps(open),
            row_count: (late.len() + fresh.len()) as i64,
            tree_size: frontier.size() as i64,
            log_root: frontier.root(),
            frontier,
            prev_hash,
            block_hash: [0; 32],
            sealed_at: now.timestamp_micros(),
            leaves,
        };
        block.block_hash = block.compute_hash();
        let txn = db.begin().await?;
        store::insert_block(&txn, tables, &block, &nodes).await?;
        txn.commit().await?;
        let digest = Digest {
            trail: block.trail,
            block: block.block_no as u64,
            tree_size: block.tree_size as u64,
            root: block.log_root,
            block_hash: block.block_hash,
            sealed_at: now,
        };
        Ok(Some((digest.sign(&self.key), full)))
    }

    /// Runs this sealer in the background on `db` (a tokio task), sealing every interval
    /// until [`SealerTask::stop`]. A failed seal is logged (`tracing`, without row values)
    /// and retried at the next interval.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity::{self, Sealer, SigningKey};
    /// # integrity::install(&db).await?;
    /// let task = Sealer::new(SigningKey::from_bytes(&[7; 32]))
    ///     .with_interval(std::time::Duration::from_millis(50))
    ///     .spawn(db.clone());
    /// task.stop().await?; // one last seal
    /// assert_eq!(integrity::locate(&db, 5).await?, Some(4));
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn(self, db: DatabaseConnection) -> SealerTask {
        let stop = Arc::new(tokio::sync::Notify::new());
        let notified = stop.clone();
        let handle = tokio::spawn(async move {
            loop {
                if let Err(error) = self.seal(&db).await {
                    tracing::warn!(%error, "audit sealer: seal failed; retrying");
                }
                let wait = tokio::time::timeout(self.interval, notified.notified()).await;
                if wait.is_ok() {
                    break;
                }
            }
            self.seal(&db).await.map(|_| ())
        });
        SealerTask { stop, handle }
    }
}

/// A sealer running in the background (see [`Sealer::spawn`]).
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// # use audit_core::integrity::{self, Sealer, SigningKey};
/// # integrity::install(&db).await?;
/// let task = Sealer::new(SigningKey::from_bytes(&[7; 32])).spawn(db.clone());
/// task.stop().await?;
/// assert!(integrity::locate(&db, 1).await?.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SealerTask {
    stop: Arc<tokio::sync::Notify>,
    handle: tokio::task::JoinHandle<Result<(), IntegrityError>>,
}

impl SealerTask {
    /// Stops the task after one last seal, and returns that seal's outcome.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// # use audit_core::integrity::{self, Sealer, SigningKey};
    /// # integrity::install(&db).await?;
    /// Sealer::new(SigningKey::from_bytes(&[7; 32])).spawn(db.clone()).stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stop(self) -> Result<(), IntegrityError> {
        self.stop.notify_one();
        self.handle
            .await
            .map_err(|e| IntegrityError::Input(format!("sealer task failed: {e}")))?
    }
}
