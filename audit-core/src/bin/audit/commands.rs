//! The subcommands' runners: read the trail, print it for people or programs.

use std::io::{IsTerminal, Write};

use audit_core::AuditError;
use audit_core::trail::{self, Filter, Format, RecordTrail, entry_json, time_text, version_json};
use sea_orm::DatabaseConnection;
use serde_json::{Value as Json, json};

use crate::Failure;
use crate::args::ExportFormat;
use crate::render::{Look, Table, new_style, old_style, operation_style, safe_json, value};

/// How results are printed.
#[derive(Clone, Copy, Debug)]
pub enum Output {
    /// Aligned tables.
    Human(Look),
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl Output {
    /// Prints `items` for programs: an array (or `whole`) as JSON, or one item per line.
    pub fn programs(self, whole: Json, items: &[Json]) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        match self {
            Output::Ndjson => {
                for item in items {
                    writeln!(out, "{}", safe_json(&item.to_string()))?;
                }
            }
            _ => {
                let text = serde_json::to_string_pretty(&whole).unwrap_or_default();
                writeln!(out, "{}", safe_json(&text))?;
            }
        }
        Ok(())
    }
}

pub fn print(text: &str) -> Result<(), Failure> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

async fn load(db: &DatabaseConnection, table: &str, key: &str) -> Result<RecordTrail, Failure> {
    let mut record = RecordTrail::load(db, table, key).await?;
    crate::personal::mark_erased(db, &mut record).await?;
    if record.versions.is_empty() {
        return Err(AuditError::NotFound(format!(
            "`{table}` {key}: the trail holds nothing for it"
        ))
        .into());
    }
    Ok(record)
}

/// `history TABLE KEY`.
pub async fn history(
    db: &DatabaseConnection,
    out: Output,
    table: &str,
    key: &str,
) -> Result<(), Failure> {
    let record = load(db, table, key).await?;
    let Output::Human(look) = out else {
        let items: Vec<Json> = record.versions.iter().map(version_json).collect();
        let whole = json!({"table": table, "record_id": key, "versions": items});
        return out.programs(whole, &items);
    };
    let mut t = Table::new(
        look,
        vec![
            "VERSION",
            "CHANGED AT",
            "ACTOR",
            "OP",
            "COLUMN",
            "OLD",
            "NEW",
        ],
    );
    for v in &record.versions {
        for (i, c) in v.changes.iter().enumerate() {
            let first = i == 0;
            let cell = |s: String| if first { s } else { String::new() };
            t.styled(vec![
                (cell(v.number.to_string()), Default::default()),
                (cell(time_text(v.changed_at)), Default::default()),
                (
                    cell(v.actor.clone().unwrap_or_else(|| "-".into())),
                    Default::default(),
                ),
                (
                    cell(v.operation.to_string()),
                    operation_style(v.operation.as_str()),
                ),
                (c.column.clone(), Default::default()),
                (value(c.old_value.as_ref()), old_style()),
                (value(c.new_value.as_ref()), new_style()),
            ]);
        }
    }
    print(&t.render())
}

/// `feed`.
pub async fn feed(
    db: &DatabaseConnection,
    out: Output,
    filter: &Filter,
    limit: u64,
    before: Option<i64>,
) -> Result<(), Failure> {
    let page = trail::feed(db, filter, before, limit.max(1)).await?;
    let Output::Human(look) = out else {
        let items: Vec<Json> = page.entries.iter().map(entry_json).collect();
        return out.programs(json!({"entries": items, "next": page.next}), &items);
    };
    let mut t = Table::new(
        look,
        vec![
            "ID",
            "CHANGED AT",
            "ACTOR",
            "TABLE",
            "KEY",
            "OP",
            "COLUMN",
            "OLD",
            "NEW",
        ],
    );
    for e in &page.entries {
        t.styled(vec![
            (e.id.to_string(), Default::default()),
            (time_text(e.changed_at), Default::default()),
            (
                e.actor.clone().unwrap_or_else(|| "-".into()),
                Default::default(),
            ),
            (e.table.clone(), Default::default()),
            (e.record_id.clone(), Default::default()),
            (
                e.operation.to_string(),
                operation_style(e.operation.as_str()),
            ),
            (e.column.clone(), Default::default()),
            (value(e.old_value.as_ref()), old_style()),
            (value(e.new_value.as_ref()), new_style()),
        ]);
    }
    print(&t.render())?;
    if let Some(next) = page.next {
        eprintln!("more: add --before {next}");
    }
    Ok(())
}

/// `show CHANGESET`.
pub async fn show(db: &DatabaseConnection, out: Output, id: &str) -> Result<(), Failure> {
    let rows = trail::changeset(db, id).await?;
    let Some(first) = rows.first() else {
        return Err(AuditError::NotFound(format!("changeset {id}")).into());
    };
    let Output::Human(look) = out else {
        let items: Vec<Json> = rows.iter().map(entry_json).collect();
        let whole = json!({
            "changeset_id": id,
            "changed_at": time_text(first.changed_at),
            "actor": first.actor,
            "context": first.context,
            "rows": items,
        });
        return out.programs(whole, &items);
    };
    let mut head = Table::new(look, vec!["CHANGESET", "CHANGED AT", "ACTOR", "CONTEXT"]);
    head.row(vec![
        id.to_owned(),
        time_text(first.changed_at),
        first.actor.clone().unwrap_or_else(|| "-".into()),
        value(first.context.as_ref()),
    ]);
    let mut t = Table::new(look, vec!["TABLE", "KEY", "OP", "COLUMN", "OLD", "NEW"]);
    for e in &rows {
        t.styled(vec![
            (e.table.clone(), Default::default()),
            (e.record_id.clone(), Default::default()),
            (
                e.operation.to_string(),
                operation_style(e.operation.as_str()),
            ),
            (e.column.clone(), Default::default()),
            (value(e.old_value.as_ref()), old_style()),
            (value(e.new_value.as_ref()), new_style()),
        ]);
    }
    print(&format!("{}\n{}", head.render(), t.render()))
}

/// `as-of TABLE KEY TIME|--version N`.
pub async fn as_of(
    db: &DatabaseConnection,
    out: Output,
    table: &str,
    key: &str,
    time: Option<&str>,
    version: Option<u32>,
) -> Result<(), Failure> {
    let record = load(db, table, key).await?;
    let state = match (version, time) {
        (Some(n), _) => record.at_version(n)?,
        (None, Some(text)) => record.as_of(Filter::parse_time(text)?),
        (None, None) => return Err(AuditError::Input("give a time or --version".into()).into()),
    };
    let Output::Human(look) = out else {
        let whole = state.to_json();
        return out.programs(whole.clone(), &[whole]);
    };
    let Some(number) = state.version.filter(|_| state.exists) else {
        let when = state
            .version
            .map_or("before its first version".to_owned(), |n| {
                format!("after version {n}, a delete")
            });
        print(&format!("`{table}` {key} did not exist then ({when})\n"))?;
        return Ok(());
    };
    let mut head = Table::new(look, vec!["VERSION", "CHANGESET", "CHANGED AT"]);
    head.row(vec![
        number.to_string(),
        state.changeset_id.clone().unwrap_or_default(),
        state.changed_at.map(time_text).unwrap_or_default(),
    ]);
    let mut t = Table::new(look, vec!["COLUMN", "VALUE"]);
    for (column, json) in &state.columns {
        t.row(vec![column.clone(), value(Some(json))]);
    }
    print(&format!("{}\n{}", head.render(), t.render()))
}

/// `diff TABLE KEY V1 V2`.
pub async fn diff(
    db: &DatabaseConnection,
    out: Output,
    table: &str,
    key: &str,
    from: u32,
    to: u32,
) -> Result<(), Failure> {
    let record = load(db, table, key).await?;
    let diff = record.diff(from, to)?;
    let Output::Human(look) = out else {
        let items: Vec<Json> = diff
            .iter()
            .map(|d| json!({"column": d.column, "from": d.old_value, "to": d.new_value}))
            .collect();
        return out.programs(Json::Array(items.clone()), &items);
    };
    let mut t = Table::new(look, vec!["COLUMN", "VERSION A", "VERSION B"]);
    for d in &diff {
        t.styled(vec![
            (d.column.clone(), Default::default()),
            (value(d.old_value.as_ref()), old_style()),
            (value(d.new_value.as_ref()), new_style()),
        ]);
    }
    print(&format!(
        "`{table}` {key}: version {from} -> version {to}\n{}",
        t.render()
    ))
}

/// `export`.
pub async fn export(
    db: &DatabaseConnection,
    filter: &Filter,
    format: ExportFormat,
    output: Option<&std::path::Path>,
) -> Result<(), Failure> {
    let format = match format {
        ExportFormat::Csv => Format::Csv,
        ExportFormat::Ndjson => Format::Ndjson,
    };
    let mut sink: Box<dyn Write> = match output {
        Some(path) => Box::new(std::fs::File::create(path)?),
        // An export holds the values exactly as recorded, unescaped: not for a terminal.
        None if std::io::stdout().is_terminal() => {
            return Err(Failure::Usage(
                "an export is not shown on a terminal: redirect it or pass --output FILE".into(),
            ));
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = std::io::BufWriter::new(&mut sink);
    // Drawn on standard error, and only when it is a terminal.
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos} rows exported ({per_sec}) {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let rows = trail::export(db, filter, format, &mut sink, |n| bar.set_position(n))
        .await
        .map_err(|e| match e {
            trail::ExportError::Read(e) => Failure::from(e),
            trail::ExportError::Write(e) => Failure::from(e),
        })?;
    bar.finish_and_clear();
    if output.is_some() {
        eprintln!("exported {rows} rows");
    }
    Ok(())
}
