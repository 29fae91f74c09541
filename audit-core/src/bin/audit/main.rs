//! `audit`: read the audit trail of any database from the command line.
//!
//! Exit codes: 0 success (`verify`, `prove`: verified); 1 the database or the output
//! failed; 2 bad usage or input; 3 the record, version or changeset is not in the trail,
//! or the row is not sealed; 4 tampering detected, or the trail or proof does not verify.

mod args;
mod commands;
mod erase;
mod personal;
mod prove;
mod render;
mod verify;

use std::io::IsTerminal;
use std::process::ExitCode;

use audit_core::AuditError;
use audit_core::integrity::IntegrityError;
use clap::Parser;
use sea_orm::{ConnectOptions, Database};

use args::{Cli, ColorWhen, Command};
use commands::Output;
use render::Look;

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
pub enum Failure {
    /// From the library: a read, bad input, or not found.
    Audit(AuditError),
    /// From the integrity layer: tampering, a proof or signature that does not verify,
    /// a row not sealed, bad input, or a read.
    Integrity(IntegrityError),
    /// Writing the output failed.
    Io(std::io::Error),
    /// No database URL.
    Usage(String),
}

impl From<AuditError> for Failure {
    fn from(e: AuditError) -> Self {
        Failure::Audit(e)
    }
}

impl From<IntegrityError> for Failure {
    fn from(e: IntegrityError) -> Self {
        match e {
            IntegrityError::Audit(e) => Failure::Audit(e),
            e => Failure::Integrity(e),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Audit(AuditError::NotFound(_)) => 3,
            Failure::Audit(AuditError::Input(_) | AuditError::Config(_)) | Failure::Usage(_) => 2,
            Failure::Integrity(e) if failed_verification(e) => 4,
            Failure::Integrity(IntegrityError::NotSealed(_)) => 3,
            Failure::Integrity(IntegrityError::Input(_)) => 2,
            Failure::Audit(_) | Failure::Integrity(_) | Failure::Io(_) => 1,
        }
    }
}

/// Whether `e` is the verdict that the trail or a proof does not verify (exit code 4):
/// tampering, a signature or proof that fails, a digest of another trail, a stored block
/// that does not parse.
pub fn failed_verification(e: &IntegrityError) -> bool {
    matches!(
        e,
        IntegrityError::Tampered(_)
            | IntegrityError::BadSignature { .. }
            | IntegrityError::WrongTrail { .. }
            | IntegrityError::Proof(_)
            | IntegrityError::WrongRow { .. }
            | IntegrityError::Malformed { .. }
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&Failure::Io(e)),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`audit feed | head`) is the reader's choice, not an error.
        Err(Failure::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(failure) => fail(&failure),
    }
}

fn fail(failure: &Failure) -> ExitCode {
    match failure {
        Failure::Audit(e) => eprintln!("audit: {e}"),
        // Values a tamperer wrote (changeset ids) may be in it: escaped.
        Failure::Integrity(e) => eprintln!(
            "audit: {}",
            audit_core::trail::escape_text(&e.to_string(), None)
        ),
        Failure::Io(e) => eprintln!("audit: {e}"),
        Failure::Usage(e) => eprintln!("audit: {e}"),
    }
    ExitCode::from(failure.exit_code())
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let mut settings = audit_core::config();
    settings.table_name = cli.audit_table.clone().into();
    audit_core::configure(settings)?;
    let url = cli
        .url
        .clone()
        .ok_or_else(|| Failure::Usage("no database: set DATABASE_URL or pass --url".into()))?;
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    if let Some(schema) = &cli.schema {
        options.set_schema_search_path(schema.clone());
    }
    // The driver's message, never the URL (it may hold a password).
    let db = Database::connect(options).await.map_err(AuditError::Read)?;
    let color = match cli.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
        }
    };
    let out = if cli.ndjson {
        Output::Ndjson
    } else if cli.json {
        Output::Json
    } else {
        Output::Human(Look {
            color,
            max_cell: (!cli.full).then_some(60),
        })
    };
    match &cli.command {
        Command::History { table, key } => commands::history(&db, out, table, key).await,
        Command::Feed {
            filter,
            limit,
            before,
        } => commands::feed(&db, out, &filter.filter(), *limit, *before).await,
        Command::Show { changeset } => commands::show(&db, out, changeset).await,
        Command::AsOf {
            table,
            key,
            time,
            version,
        } => commands::as_of(&db, out, table, key, time.as_deref(), *version).await,
        Command::Diff {
            table,
            key,
            from,
            to,
        } => commands::diff(&db, out, table, key, *from, *to).await,
        Command::Export {
            filter,
            format,
            output,
        } => commands::export(&db, &filter.filter(), *format, output.as_deref()).await,
        Command::Verify { public_key, digest } => {
            verify::verify(&db, out, public_key, digest.as_deref()).await
        }
        Command::Prove {
            row_id,
            public_key,
            digest,
        } => prove::prove(&db, out, *row_id, public_key, digest).await,
        Command::Erase {
            kind,
            subject,
            kek_file,
            kek_hex,
            actor,
            yes,
        } => {
            let kek = erase::Kek {
                file: kek_file.as_deref(),
                hex: kek_hex.as_deref(),
            };
            erase::erase(&db, out, kind, subject, kek, actor.as_deref(), *yes).await
        }
    }
}
