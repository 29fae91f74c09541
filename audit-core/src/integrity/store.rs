//! The sealer's own tables, next to the audit table: `<audit>_seal_blocks` (one row per
//! sealed block) and `<audit>_seal_nodes` (the hashes of the Merkle log's perfect subtrees
//! of 256 leaves or more, for proofs). Both are created by [`install`] and, like the audit
//! table, can be made append-only.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};

use super::IntegrityError;
use super::ids::IdSet;
use super::merkle::{Frontier, Hash};
use crate::config;
use crate::schema::{placeholders, quote};

/// Perfect subtrees of `2^NODE_LEVEL` leaves or more are stored; smaller ones are rebuilt
/// from the leaf hashes of their block.
pub(crate) const NODE_LEVEL: u32 = 8;

/// Options for [`install_with`].
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::integrity::{self, IntegrityOptions};
/// integrity::install_with(&db, IntegrityOptions::append_only()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntegrityOptions {
    /// Install triggers that reject every `UPDATE` and `DELETE` (and on PostgreSQL
    /// `TRUNCATE`) on the sealer's tables.
    pub append_only: bool,
}

impl IntegrityOptions {
    /// Options with the append-only triggers turned on.
    ///
    /// ```
    /// assert!(audit_core::integrity::IntegrityOptions::append_only().append_only);
    /// ```
    pub fn append_only() -> Self {
        IntegrityOptions { append_only: true }
    }
}

/// The names of the sealer's tables for the configured audit table.
pub(crate) struct Tables {
    pub audit: String,
    pub blocks: String,
    pub nodes: String,
}

impl Tables {
    pub fn current() -> Result<Tables, IntegrityError> {
        let audit = config::table_name();
        let tables = Tables {
            blocks: format!("{audit}_seal_blocks"),
            nodes: format!("{audit}_seal_nodes"),
            audit,
        };
        config::validate_table_name("seal table", &tables.blocks).map_err(IntegrityError::Audit)?;
        Ok(tables)
    }
}

/// Creates the sealer's tables for the configured audit table if they do not exist yet.
/// Safe to call on every start.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// audit_core::integrity::install(&db).await?;
/// audit_core::integrity::install(&db).await?; // safe on every start
/// # Ok(())
/// # }
/// ```
pub async fn install<C: ConnectionTrait>(db: &C) -> Result<(), IntegrityError> {
    install_with(db, IntegrityOptions::default()).await
}

/// [`install`] with options.
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::integrity::{self, IntegrityOptions};
/// integrity::install_with(&db, IntegrityOptions::append_only()).await?;
/// integrity::Sealer::new(integrity::SigningKey::from_bytes(&[7; 32])).seal(&db).await?;
/// // The seal tables refuse rewrites now.
/// assert!(db.execute_unprepared("DELETE FROM audit_log_seal_blocks").await.is_err());
/// # Ok(())
/// # }
/// ```
pub async fn install_with<C: ConnectionTrait>(
    db: &C,
    options: IntegrityOptions,
) -> Result<(), IntegrityError> {
    let tables = Tables::current()?;
    let backend = db.get_database_backend();
    let mut sql = create_sql(backend, &tables);
    if options.append_only {
        sql.extend(append_only_sql(backend, &tables.blocks));
        sql.extend(append_only_sql(backend, &tables.nodes));
    }
    for statement in sql {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

fn create_sql(backend: DbBackend, tables: &Tables) -> Vec<String> {
    let (big, text, blob, short) = match backend {
        DbBackend::Postgres => ("BIGINT", "TEXT", "BYTEA", "VARCHAR(64)"),
        DbBackend::MySql => ("BIGINT", "LONGTEXT", "LONGBLOB", "VARCHAR(64)"),
        _ => ("INTEGER", "TEXT", "BLOB", "TEXT"),
    };
    let suffix = if backend == DbBackend::MySql {
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    } else {
        ""
    };
    let q = |name: &str| quote(backend, name);
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {blocks} (
                {block_no} {big} NOT NULL PRIMARY KEY,
                {trail} {short} NOT NULL,
                {low_id} {big} NOT NULL,
                {high_id} {big} NOT NULL,
                {skipped} {text} NOT NULL,
                {stragglers} {text} NOT NULL,
                {open_gaps} {text} NOT NULL,
                {row_count} {big} NOT NULL,
                {tree_size} {big} NOT NULL,
                {log_root} {short} NOT NULL,
                {frontier} {text} NOT NULL,
                {prev_hash} {short} NOT NULL,
                {block_hash} {short} NOT NULL,
                {sealed_at} {big} NOT NULL,
                {leaves} {blob} NOT NULL
            ){suffix}",
            blocks = q(&tables.blocks),
            block_no = q("block_no"),
            trail = q("trail_id"),
            low_id = q("low_id"),
            high_id = q("high_id"),
            skipped = q("skipped"),
            stragglers = q("stragglers"),
            open_gaps = q("open_gaps"),
            row_count = q("row_count"),
            tree_size = q("tree_size"),
            log_root = q("log_root"),
            frontier = q("frontier"),
            prev_hash = q("prev_hash"),
            block_hash = q("block_hash"),
            sealed_at = q("sealed_at"),
            leaves = q("leaves"),
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {nodes} (
                {level} {big} NOT NULL,
                {idx} {big} NOT NULL,
                {hash} {short} NOT NULL,
                PRIMARY KEY ({level}, {idx})
            ){suffix}",
            nodes = q(&tables.nodes),
            level = q("level"),
            idx = q("idx"),
            hash = q("hash"),
        ),
    ]
}

fn append_only_sql(backend: DbBackend, table: &str) -> Vec<String> {
    let t = quote(backend, table);
    let message = format!("{table} is append-only: sealed blocks cannot be updated or deleted");
    match backend {
        DbBackend::Postgres => {
            let function = quote(backend, &format!("{table}_append_only"));
            vec![
                format!(
                    "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS \
                     $audit$ BEGIN RAISE EXCEPTION '{message}'; END $audit$"
                ),
                format!("DROP TRIGGER IF EXISTS {function} ON {t}"),
                format!(
                    "CREATE TRIGGER {function} BEFORE UPDATE OR DELETE OR TRUNCATE ON {t} \
                     FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                ),
            ]
        }
        DbBackend::MySql => ["update", "delete"]
            .iter()
            .map(|op| {
                let trigger = quote(backend, &format!("{table}_no_{op}"));
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {trigger} BEFORE {op} ON {t} FOR EACH ROW \
                     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'"
                )
            })
            .collect(),
        _ => ["update", "delete"]
            .iter()
            .map(|op| {
                let trigger = quote(backend, &format!("{table}_no_{op}"));
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {trigger} BEFORE {op} ON {t} \
                     BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
            })
            .collect(),
    }
}

/// Gaps the sealer still watches for stragglers: the ids skipped at one time, by time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OpenGaps(pub Vec<(i64, IdSet)>);

impl OpenGaps {
    pub fn all(&self) -> IdSet {
        self.0
            .iter()
            .fold(IdSet::default(), |all, (_, set)| all.union(set))
    }

    fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|(secs, set)| format!("{secs}:{set}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    fn parse(text: &str) -> Option<OpenGaps> {
        if text.is_empty() {
            return Some(OpenGaps::default());
        }
        text.split(';')
            .map(|group| {
                let (secs, set) = group.split_once(':')?;
                Some((secs.parse().ok()?, IdSet::parse(set)?))
            })
            .collect::<Option<Vec<_>>>()
            .map(OpenGaps)
    }
}

/// One sealed block, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub block_no: i64,
    pub trail: String,
    /// The main id range is `(low_id, high_id]`.
    pub low_id: i64,
    pub high_id: i64,
    /// Ids of the main range the block does not cover.
    pub skipped: IdSet,
    /// Ids at or below `low_id` the block covers (late commits).
    pub stragglers: IdSet,
    /// Gaps still watched after this block.
    pub open_gaps: OpenGaps,
    pub row_count: i64,
    /// Leaves in the Merkle log after this block.
    pub tree_size: i64,
    pub log_root: Hash,
    pub frontier: Frontier,
    pub prev_hash: Hash,
    pub block_hash: Hash,
    /// Microseconds since the Unix epoch.
    pub sealed_at: i64,
    /// The leaf hashes of the block's rows, in log order.
    pub leaves: Vec<u8>,
}

const BLOCK_DOMAIN: &[u8] = b"seaorm-audit:block:v1";
const GENESIS_DOMAIN: &[u8] = b"seaorm-audit:genesis:v1";

/// The `prev_hash` of a trail's first block.
pub(crate) fn genesis_hash(trail: &str) -> Hash {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(GENESIS_DOMAIN);
    h.update(trail.as_bytes());
    h.finalize().into()
}

impl Block {
    /// The ids the block covers, in log order: stragglers, then its main range.
    pub fn coverage(&self) -> IdSet {
        let mut main = IdSet::default();
        if self.high_id > self.low_id {
            main.push(self.low_id + 1, self.high_id);
        }
        self.stragglers.union(&main.minus(&self.skipped))
    }

    /// The hash over every other field of the block (and so over the previous block).
    pub fn compute_hash(&self) -> Hash {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        let text = |h: &mut Sha256, s: &str| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        h.update(BLOCK_DOMAIN);
        text(&mut h, &self.trail);
        h.update(self.block_no.to_be_bytes());
        h.update(self.prev_hash);
        h.update(self.low_id.to_be_bytes());
        h.update(self.high_id.to_be_bytes());
        text(&mut h, &self.skipped.to_string());
        text(&mut h, &self.stragglers.to_string());
        text(&mut h, &self.open_gaps.to_text());
        h.update(self.row_count.to_be_bytes());
        h.update(self.tree_size.to_be_bytes());
        h.update(self.log_root);
        text(&mut h, &frontier_text(&self.frontier));
        h.update(self.sealed_at.to_be_bytes());
        h.update(Sha256::digest(&self.leaves));
        h.finalize().into()
    }

    /// The leaf hashes, one per covered row.
    pub fn leaf_hashes(&self) -> impl Iterator<Item = Hash> + '_ {
        self.leaves
            .chunks_exact(32)
            .map(|c| c.try_into().unwrap_or_default())
    }

    /// Columns, in [`Block::values`] order.
    const COLUMNS: [&'static str; 15] = [
        "block_no",
        "trail_id",
        "low_id",
        "high_id",
        "skipped",
        "stragglers",
        "open_gaps",
        "row_count",
        "tree_size",
        "log_root",
        "frontier",
        "prev_hash",
        "block_hash",
        "sealed_at",
        "leaves",
    ];

    fn values(&self) -> Vec<Value> {
        vec![
            self.block_no.into(),
            self.trail.clone().into(),
            self.low_id.into(),
            self.high_id.into(),
            self.skipped.to_string().into(),
            self.stragglers.to_string().into(),
            self.open_gaps.to_text().into(),
            self.row_count.into(),
            self.tree_size.into(),
            hex::encode(self.log_root).into(),
            frontier_text(&self.frontier).into(),
            hex::encode(self.prev_hash).into(),
            hex::encode(self.block_hash).into(),
            self.sealed_at.into(),
            Value::Bytes(Some(self.leaves.clone())),
        ]
    }

    fn from_row(row: &QueryResult) -> Result<Block, IntegrityError> {
        let block_no: i64 = row.try_get("", "block_no")?;
        let bad = |what: &str| IntegrityError::Malformed {
            block: block_no,
            what: what.to_owned(),
        };
        let text = |col: &str| -> Result<String, IntegrityError> { Ok(row.try_get("", col)?) };
        let hash = |col: &str| -> Result<Hash, IntegrityError> {
            parse_hash(&text(col)?).ok_or_else(|| bad(col))
        };
        let tree_size: i64 = row.try_get("", "tree_size")?;
        Ok(Block {
            block_no,
            trail: text("trail_id")?,
            low_id: row.try_get("", "low_id")?,
            high_id: row.try_get("", "high_id")?,
            skipped: IdSet::parse(&text("skipped")?).ok_or_else(|| bad("skipped"))?,
            stragglers: IdSet::parse(&text("stragglers")?).ok_or_else(|| bad("stragglers"))?,
            open_gaps: OpenGaps::parse(&text("open_gaps")?).ok_or_else(|| bad("open_gaps"))?,
            row_count: row.try_get("", "row_count")?,
            tree_size,
            log_root: hash("log_root")?,
            frontier: parse_frontier(u64::try_from(tree_size).unwrap_or(0), &text("frontier")?)
                .ok_or_else(|| bad("frontier"))?,
            prev_hash: hash("prev_hash")?,
            block_hash: hash("block_hash")?,
            sealed_at: row.try_get("", "sealed_at")?,
            leaves: row.try_get("", "leaves")?,
        })
    }
}

fn frontier_text(frontier: &Frontier) -> String {
    frontier.hashes().iter().map(hex::encode).collect()
}

fn parse_frontier(size: u64, text: &str) -> Option<Frontier> {
    if !text.len().is_multiple_of(64) {
        return None;
    }
    let hashes = (0..text.len() / 64)
        .map(|i| parse_hash(&text[i * 64..i * 64 + 64]))
        .collect::<Option<Vec<_>>>()?;
    Frontier::from_parts(size, hashes)
}

pub(crate) fn parse_hash(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}

fn select_blocks(backend: DbBackend, tables: &Tables, tail: &str) -> String {
    select_blocks_with(backend, tables, true, tail)
}

/// [`select_blocks`]; without `leaves`, their column reads as empty (a block's leaf hashes
/// are 32 bytes a row: half a megabyte for a full block, which locating a row never needs).
fn select_blocks_with(backend: DbBackend, tables: &Tables, leaves: bool, tail: &str) -> String {
    let columns: Vec<String> = Block::COLUMNS
        .iter()
        .map(|c| match *c {
            "leaves" if !leaves => format!("substr({0}, 1, 0) AS {0}", quote(backend, c)),
            _ => quote(backend, c),
        })
        .collect();
    format!(
        "SELECT {} FROM {} {tail}",
        columns.join(", "),
        quote(backend, &tables.blocks)
    )
}

/// The newest block, if any.
pub(crate) async fn last_block<C: ConnectionTrait>(
    db: &C,
    tables: &Tables,
) -> Result<Option<Block>, IntegrityError> {
    let backend = db.get_database_backend();
    let sql = select_blocks(backend, tables, "ORDER BY block_no DESC LIMIT 1");
    db.query_one_raw(Statement::from_string(backend, sql))
        .await?
        .map(|row| Block::from_row(&row))
        .transpose()
}

/// Up to `limit` blocks after `after`, in order.
pub(crate) async fn blocks_after<C: ConnectionTrait>(
    db: &C,
    tables: &Tables,
    after: i64,
    limit: u64,
) -> Result<Vec<Block>, IntegrityError> {
    let backend = db.get_database_backend();
    let sql = select_blocks(
        backend,
        tables,
        &format!("WHERE block_no > {after} ORDER BY block_no LIMIT {limit}"),
    );
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.iter().map(Block::from_row).collect()
}

/// The leaf hashes (32 bytes each) of leaves `start..end` held by the block that holds
/// leaf `start` (fewer when that block ends first), read without the block's other leaves;
/// `None` when no block holds `start`.
pub(crate) async fn leaf_hashes<C: ConnectionTrait>(
    db: &C,
    tables: &Tables,
    start: u64,
    end: u64,
) -> Result<Option<(i64, Vec<u8>)>, IntegrityError> {
    let backend = db.get_database_backend();
    let from = format!("({start} - (tree_size - row_count)) * 32 + 1");
    let from = match backend {
        DbBackend::Postgres => format!("CAST({from} AS INTEGER)"),
        _ => from,
    };
    let sql = format!(
        "SELECT block_no, substr(leaves, {from}, {len}) AS leaves FROM {t} \
         WHERE tree_size > {start} ORDER BY tree_size LIMIT 1",
        len = end.saturating_sub(start) * 32,
        t = quote(backend, &tables.blocks),
    );
    let Some(row) = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((
        row.try_get("", "block_no")?,
        row.try_get("", "leaves")?,
    )))
}

/// The block whose main range holds `id`, if any (its leaf hashes left out).
pub(crate) async fn block_of_id<C: ConnectionTrait>(
    db: &C,
    tables: &Tables,
    id: i64,
) -> Result<Option<Block>, IntegrityError> {
    let backend = db.get_database_backend();
    let sql = select_blocks_with(
        backend,
        tables,
        false,
        &format!("WHERE low_id < {id} AND high_id >= {id} ORDER BY block_no LIMIT 1"),
    );
    db.query_one_raw(Statement::from_string(backend, sql))
        .await?
        .map(|row| Block::from_row(&row))
        .transpose()
}

/// Blocks after `after` that cover stragglers (their leaf hashes left out).
pub(crate) async fn straggler_blocks<C: ConnectionTrait>(
    db: &C,
    tables: &Tables,
    after: i64,
) -> Result<Vec<Block>, IntegrityError> {
    let backend = db.get_database_backend();
    let sql = select_blocks_with(
        backend,
        tables,
        false,
        &format!("WHERE block_no > {after} AND stragglers <> '' ORDER BY block_no"),
    );
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.iter().map(Block::from_row).collect()
}

/// Writes `block` and the perfect subtree `nodes` it completed.
pub(crate) async fn insert_block<C: ConnectionTrait>(
    db: &C,
    tables: &Tables,
    block: &Block,
    nodes: &[(u32, u64, Hash)],
) -> Result<(), IntegrityError> {
    let backend = db.get_database_backend();
    let columns: Vec<String> = Block::COLUMNS.iter().map(|c| quote(backend, c)).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(backend, &tables.blocks),
        columns.join(", "),
        placeholders(backend, 0, Block::COLUMNS.len())
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, block.values()))
        .await?;
    for chunk in nodes.chunks(500) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", placeholders(backend, i * 3, 3)))
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}, {}, {}) VALUES {}",
            quote(backend, &tables.nodes),
            quote(backend, "level"),
            quote(backend, "idx"),
            quote(backend, "hash"),
            rows.join(", ")
        );
        let values = chunk
            .iter()
            .flat_map(|(level, idx, hash)| {
                [
                    Value::from(i64::from(*level)),
                    Value::from(*idx as i64),
                    Value::from(hex::encode(hash)),
                ]
            })
            .collect::<Vec<_>>();
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// The stored hashes of perfect subtrees `(level, index)`; absent ones are left out.
pub(crate) async fn nodes<C: ConnectionTrait>(
    db: &C,
    tables: &Tables,
    wanted: &[(u32, u64)],
) -> Result<Vec<(u32, u64, Hash)>, IntegrityError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let condition: Vec<String> = wanted
        .iter()
        .map(|(level, idx)| format!("(level = {level} AND idx = {idx})"))
        .collect();
    let sql = format!(
        "SELECT level, idx, hash FROM {} WHERE {}",
        quote(backend, &tables.nodes),
        condition.join(" OR ")
    );
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.iter()
        .map(|row| {
            let level: i64 = row.try_get("", "level")?;
            let idx: i64 = row.try_get("", "idx")?;
            let text: String = row.try_get("", "hash")?;
            let hash =
                parse_hash(&text).ok_or(DbErr::Custom("stored node hash is not hex".into()))?;
            Ok((level as u32, idx as u64, hash))
        })
        .collect()
}
