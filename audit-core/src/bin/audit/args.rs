//! The command line's arguments (clap derive).

use audit_core::Operation;
use audit_core::trail::Filter;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Read the audit trail of any database holding it: no entity types needed.
///
/// Exit codes: 0 success (for `verify` and `prove`: the trail or proof verified);
/// 1 the database or the output failed; 2 bad usage or input (a malformed key, digest or
/// key-encryption key, an unconfirmed `erase`); 3 the record, version or changeset is not
/// in the trail, or (`prove`) the row is not sealed under the digest; 4 (`verify`,
/// `prove`) tampering detected or the trail or proof does not verify: a bad signature,
/// a digest of another trail, an invalid proof; the first bad block or row is named.
#[derive(Debug, Parser)]
#[command(name = "audit")]
pub struct Cli {
    /// Database URL (sqlite://..., postgres://..., mysql://...).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub url: Option<String>,
    /// PostgreSQL schema holding the audit table (its search path).
    #[arg(long, global = true)]
    pub schema: Option<String>,
    /// Name of the audit table.
    #[arg(long, default_value = "audit_log", global = true)]
    pub audit_table: String,
    /// Print JSON for programs instead of tables.
    #[arg(long, global = true, conflicts_with = "ndjson")]
    pub json: bool,
    /// Print one JSON object per line.
    #[arg(long, global = true)]
    pub ndjson: bool,
    /// When to colour the tables (auto: only on a terminal, and never with NO_COLOR set).
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    pub color: ColorWhen,
    /// Show values whole instead of cut at 60 characters (still escaped).
    #[arg(long, global = true)]
    pub full: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// When to colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal only.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One record's history: every version, column by column.
    History {
        /// The table label.
        table: String,
        /// The record's key text (`42`, `abc`, `[7,"eu"]` for a composite key).
        key: String,
    },
    /// Recent changes across tables, newest first, one keyset page.
    Feed {
        #[command(flatten)]
        filter: FilterArgs,
        /// Rows per page.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Start below this row id (the `next` of the previous page).
        #[arg(long)]
        before: Option<i64>,
    },
    /// One changeset: every row of one write.
    Show {
        /// The changeset id.
        changeset: String,
    },
    /// The record rebuilt from the trail as of an instant or a version.
    AsOf {
        /// The table label.
        table: String,
        /// The record's key text.
        key: String,
        /// The instant (RFC 3339, or a date for its midnight UTC).
        #[arg(required_unless_present = "version", conflicts_with = "version")]
        time: Option<String>,
        /// The version number instead of an instant.
        #[arg(long)]
        version: Option<u32>,
    },
    /// The columns that differ between two versions of a record.
    Diff {
        /// The table label.
        table: String,
        /// The record's key text.
        key: String,
        /// The first version.
        from: u32,
        /// The second version.
        to: u32,
    },
    /// Every row of a filter as CSV or NDJSON, streamed.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// The format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Verify the sealed trail: every row hash, block and the Merkle log, against the
    /// signed digests kept outside the database. Exit 0 intact, 4 tampered (the first bad
    /// block or row is named) or not verifiable with this key and these digests.
    Verify {
        /// The sealer's Ed25519 public key: 64 hex digits, or a file holding them (or the
        /// 32 raw bytes).
        #[arg(long, value_name = "HEX_OR_FILE")]
        public_key: String,
        /// The trusted signed digests (the JSON lines a `FileSink` writes); all of them
        /// are checked, the newest against truncation and rewrites. Without it only the
        /// database's own chain is checked, which cannot show a cut tail or a rewrite.
        #[arg(long, value_name = "FILE")]
        digest: Option<std::path::PathBuf>,
    },
    /// Print the inclusion proof of one audit row against the newest signed digest, and
    /// check it. Exit 0 valid, 4 invalid, 3 the row is not found or not sealed under it.
    Prove {
        /// The audit row's id.
        row_id: i64,
        /// The sealer's Ed25519 public key: 64 hex digits, or a file holding them.
        #[arg(long, value_name = "HEX_OR_FILE")]
        public_key: String,
        /// The signed digests (JSON lines); the proof is against the newest.
        #[arg(long, value_name = "FILE")]
        digest: std::path::PathBuf,
    },
    /// Erase a data subject (crypto-shredding): destroy its data key, so every personal
    /// value of it in the trail reads as erased. Cannot be undone.
    Erase {
        /// The subject's kind (`#[audit(subject_kind)]`, by default the audit label).
        kind: String,
        /// The subject's id as the trail writes keys: `42`, `abc`, `[7,"eu"]` for a tuple.
        subject: String,
        /// A file holding the key-encryption key (64 hex digits, or the 32 raw bytes);
        /// wins over `--kek-hex` and `AUDIT_KEK`.
        #[arg(long, value_name = "FILE")]
        kek_file: Option<std::path::PathBuf>,
        /// The key-encryption key as 64 hex digits (prefer the environment variable or a
        /// file: arguments are visible to other users). Never printed.
        #[arg(long, env = "AUDIT_KEK", hide_env_values = true, value_name = "HEX")]
        kek_hex: Option<String>,
        /// Who erases (recorded as the erasure's actor).
        #[arg(long)]
        actor: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

/// The feed's filters.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only changes by this actor.
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this table label.
    #[arg(long)]
    pub table: Option<String>,
    /// Only this record key (with --table).
    #[arg(long, requires = "table")]
    pub key: Option<String>,
    /// Only this column.
    #[arg(long)]
    pub column: Option<String>,
    /// Only this operation.
    #[arg(long, value_parser = parse_operation)]
    pub op: Option<Operation>,
    /// Only changes at or after this instant (RFC 3339 or a date).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only changes at or before this instant.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only this changeset.
    #[arg(long)]
    pub changeset: Option<String>,
    /// Only rows that set COLUMN to VALUE (VALUE as JSON, or else as text).
    #[arg(long = "where", value_name = "COLUMN=VALUE", value_parser = parse_where)]
    pub value: Option<(String, serde_json::Value)>,
}

impl FilterArgs {
    /// The library's filter.
    pub fn filter(&self) -> Filter {
        Filter {
            actor: self.actor.clone(),
            table: self.table.clone(),
            record_id: self.key.clone(),
            column: self.column.clone(),
            operation: self.op,
            since: self.since,
            until: self.until,
            changeset: self.changeset.clone(),
            value: self.value.clone(),
        }
    }
}

fn parse_operation(text: &str) -> Result<Operation, String> {
    text.parse()
        .map_err(|e: audit_core::AuditError| e.to_string())
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    Filter::parse_time(text).map_err(|e| e.to_string())
}

fn parse_where(text: &str) -> Result<(String, serde_json::Value), String> {
    Filter::parse_where(text).map_err(|e| e.to_string())
}
