//! One record: its timeline, its state as of a time or version, two versions compared.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};

use super::feed::short;
use super::html::{self, esc, shown};
use super::params::{RecordParams, cursor, page_size, query_string};
use super::{Ctx, Failure, Shared, respond, revert};
use crate::history::Version;
use crate::trail::{Filter, Rebuilt, RecordTrail};
use crate::{AuditEntry, all_history};

/// `GET /record?table=&key=`: the record's changes, newest first, one keyset page,
/// grouped by the write that made them.
pub(super) async fn timeline(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(params): Query<RecordParams>,
) -> Response {
    respond(&ctx, timeline_page(&shared, &ctx, params.cleaned()).await)
}

async fn timeline_page(
    shared: &Shared,
    ctx: &Ctx,
    params: RecordParams,
) -> Result<Response, Failure> {
    allowed(ctx, &params)?;
    let before = cursor(params.before.as_deref()).map_err(Failure::BadInput)?;
    let size = page_size(params.size.as_deref(), shared.page_size).map_err(Failure::BadInput)?;
    let mut query = all_history()
        .table(&params.table)
        .record_id(&params.key)
        .newest_first();
    if let Some(cursor) = before {
        query = query.after(cursor);
    }
    let page = query.page(&shared.db, size).await?;
    if page.entries.is_empty() && before.is_none() {
        return Err(not_recorded(&params));
    }
    let base = &ctx.base;
    let record = RecordParams::of(&params.table, &params.key);
    let mut body = record_links(base, &record);
    let mut rows = page.entries.as_slice();
    while let Some(first) = rows.first() {
        let run = rows
            .iter()
            .take_while(|r| r.changeset_id == first.changeset_id)
            .count();
        body.push_str(&write_group(shared, ctx, &record, &rows[..run]));
        rows = &rows[run..];
    }
    body.push_str(r#"<nav class="pager" aria-label="Pages">"#);
    if before.is_some() {
        let _ = write!(
            body,
            r#"<a href="{}/record?{}">Newest</a>"#,
            esc(base),
            esc(&params.link(|p| p.before = None))
        );
    }
    if let Some(next) = page.next {
        let _ = write!(
            body,
            r#"<a href="{}/record?{}" rel="next">Older changes</a>"#,
            esc(base),
            esc(&params.link(|p| p.before = Some(next.to_string())))
        );
    }
    body.push_str("</nav>");
    let title = format!("{} {}", params.table, params.key);
    Ok(Html(html::page(base, &title, &ctx.access, &body)).into_response())
}

/// One write's rows of the record (newest first as read), shown in write order.
fn write_group(shared: &Shared, ctx: &Ctx, record: &RecordParams, rows: &[AuditEntry]) -> String {
    let base = esc(&ctx.base);
    let first = &rows[0];
    let changeset = &first.changeset_id;
    let with_changeset = |p: &mut RecordParams| p.changeset = Some(changeset.clone());
    let mut out = format!(
        r#"<section class="version"><div class="meta"><span class="op {op}">{op}</span> {time} <span>by {actor}</span> {context} <a href="{base}/changeset?{cs}" title="{cs_full}">changeset {cs_short}</a> <a href="{base}/record/as-of?{after}">record after this change</a> <a href="{base}/record/compare?{compare}">compare with previous</a>"#,
        op = first.operation.as_str(),
        time = html::time(first.changed_at),
        actor = html::maybe(first.actor.as_deref()),
        context = html::context(first.context.as_ref()),
        cs = esc(&query_string(&[("id", changeset)])),
        cs_full = shown(changeset),
        cs_short = shown(short(changeset)),
        after = esc(&record.link(with_changeset)),
        compare = esc(&record.link(with_changeset)),
    );
    if revert::offered(shared, ctx, &record.table) {
        let _ = write!(
            out,
            r#" <a class="revert" href="{base}/revert?{}">revert…</a>"#,
            esc(&record.link(with_changeset))
        );
    }
    out.push_str(r#"</div><div class="table-wrap"><table><thead><tr><th scope="col">Column</th><th scope="col">Change</th></tr></thead><tbody>"#);
    for row in rows.iter().rev() {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="change">{}</td></tr>"#,
            shown(&row.column),
            html::change(row.old_value.as_ref(), row.new_value.as_ref())
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

/// `GET /record/as-of?table=&key=` with `at=TIME`, `version=N` or `changeset=ID`
/// (default: now): the record rebuilt from its trail.
pub(super) async fn as_of(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(params): Query<RecordParams>,
) -> Response {
    respond(&ctx, as_of_page(&shared, &ctx, params.cleaned()).await)
}

async fn as_of_page(shared: &Shared, ctx: &Ctx, params: RecordParams) -> Result<Response, Failure> {
    allowed(ctx, &params)?;
    let at = params
        .at
        .as_deref()
        .map(Filter::parse_time)
        .transpose()
        .map_err(|e| Failure::BadInput(format!("at: {e}")))?;
    let version =
        RecordParams::number("version", params.version.as_deref()).map_err(Failure::BadInput)?;
    let trail = RecordTrail::load(&shared.db, &params.table, &params.key).await?;
    if trail.versions.is_empty() {
        return Err(not_recorded(&params));
    }
    let rebuilt = match (version, &params.changeset, at) {
        (Some(number), _, _) => trail.at_version(number)?,
        (None, Some(changeset), _) => trail.at_version(number_of(&trail, changeset)?)?,
        (None, None, Some(at)) => trail.as_of(at),
        (None, None, None) => trail.as_of(chrono::Utc::now()),
    };
    let base = &ctx.base;
    let record = RecordParams::of(&params.table, &params.key);
    let mut body = record_links(base, &record);
    let _ = write!(
        body,
        r#"<form class="filters" method="get" action="{b}/record/as-of"><input type="hidden" name="table" value="{t}"><input type="hidden" name="key" value="{k}"><label>As of (UTC)<input name="at" value="{at}" placeholder="2026-01-31T12:00:00Z"></label>{select}<div class="actions"><button type="submit">Show</button></div></form>"#,
        b = esc(base),
        t = esc(&params.table),
        k = esc(&params.key),
        at = esc(params.at.as_deref().unwrap_or("")),
        select = version_select(
            &trail,
            "version",
            "Or version",
            rebuilt.version.filter(|_| at.is_none())
        ),
    );
    body.push_str(&state_table(&trail, &rebuilt));
    let title = format!("{} {} as of", params.table, params.key);
    Ok(Html(html::page(base, &title, &ctx.access, &body)).into_response())
}

/// `GET /record/compare?table=&key=&from=N&to=M` (or `changeset=ID` for that write and
/// the one before): the columns that differ between two versions.
pub(super) async fn compare(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(params): Query<RecordParams>,
) -> Response {
    respond(&ctx, compare_page(&shared, &ctx, params.cleaned()).await)
}

async fn compare_page(
    shared: &Shared,
    ctx: &Ctx,
    params: RecordParams,
) -> Result<Response, Failure> {
    allowed(ctx, &params)?;
    let from = RecordParams::number("from", params.from.as_deref()).map_err(Failure::BadInput)?;
    let to = RecordParams::number("to", params.to.as_deref()).map_err(Failure::BadInput)?;
    let trail = RecordTrail::load(&shared.db, &params.table, &params.key).await?;
    let last = u32::try_from(trail.versions.len()).unwrap_or(u32::MAX);
    if last == 0 {
        return Err(not_recorded(&params));
    }
    let to = match (to, &params.changeset) {
        (Some(to), _) => to,
        (None, Some(changeset)) => number_of(&trail, changeset)?,
        (None, None) => last,
    };
    let from = from.unwrap_or(to.saturating_sub(1).max(1));
    let changes = trail.diff(from, to)?;
    let (older, newer) = (trail.version(from)?, trail.version(to)?);

    let base = &ctx.base;
    let record = RecordParams::of(&params.table, &params.key);
    let mut body = record_links(base, &record);
    let _ = write!(
        body,
        r#"<form class="filters" method="get" action="{b}/record/compare"><input type="hidden" name="table" value="{t}"><input type="hidden" name="key" value="{k}">{from}{to}<div class="actions"><button type="submit">Compare</button></div></form>"#,
        b = esc(base),
        t = esc(&params.table),
        k = esc(&params.key),
        from = version_select(&trail, "from", "From version", Some(from)),
        to = version_select(&trail, "to", "To version", Some(to)),
    );
    let _ = write!(
        body,
        r#"<p>Version {from} ({}, by {}) compared with version {to} ({}, by {}).</p>"#,
        html::time(older.changed_at),
        html::maybe(older.actor.as_deref()),
        html::time(newer.changed_at),
        html::maybe(newer.actor.as_deref()),
    );
    if changes.is_empty() {
        body.push_str(r#"<p class="message">No column differs between these versions.</p>"#);
    } else {
        let _ = write!(
            body,
            r#"<div class="table-wrap"><table><thead><tr><th scope="col">Column</th><th scope="col">Version {from} → version {to}</th></tr></thead><tbody>"#
        );
        for change in &changes {
            let _ = write!(
                body,
                r#"<tr><td>{}</td><td class="change">{}</td></tr>"#,
                shown(&change.column),
                html::change(change.old_value.as_ref(), change.new_value.as_ref())
            );
        }
        body.push_str("</tbody></table></div>");
    }
    if revert::offered(shared, ctx, &params.table) && to > 1 {
        let _ = write!(
            body,
            r#"<p><a class="revert" href="{}/revert?{}">Revert version {to}…</a></p>"#,
            esc(base),
            esc(&record.link(|p| p.changeset = Some(newer.changeset_id.clone())))
        );
    }
    let title = format!("{} {}: compare versions", params.table, params.key);
    Ok(Html(html::page(base, &title, &ctx.access, &body)).into_response())
}

/// Refuses a record of a table the access does not cover.
pub(super) fn allowed(ctx: &Ctx, params: &RecordParams) -> Result<(), Failure> {
    if ctx.access.may_see(&params.table) {
        Ok(())
    } else {
        Err(Failure::Forbidden)
    }
}

fn not_recorded(params: &RecordParams) -> Failure {
    Failure::NotFound(format!(
        "the trail holds nothing for record `{}` of table `{}`",
        params.key, params.table
    ))
}

/// The number of the version written by `changeset`.
pub(super) fn number_of(trail: &RecordTrail, changeset: &str) -> Result<u32, Failure> {
    trail
        .versions
        .iter()
        .find(|v| v.changeset_id == changeset)
        .map(|v| v.number)
        .ok_or_else(|| {
            Failure::NotFound(format!(
                "changeset `{changeset}` did not write record `{}` of table `{}`",
                trail.record_id, trail.table
            ))
        })
}

/// The record's page links: timeline, state now, compare.
fn record_links(base: &str, record: &RecordParams) -> String {
    let link = esc(&query_string(record));
    let base = esc(base);
    format!(
        r#"<nav class="actions" aria-label="Record"><a href="{base}/record?{link}">Timeline</a> <a href="{base}/record/as-of?{link}">As of…</a> <a href="{base}/record/compare?{link}">Compare versions</a></nav>"#
    )
}

/// A `<select>` of the record's versions.
fn version_select(trail: &RecordTrail, name: &str, label: &str, selected: Option<u32>) -> String {
    let mut out = format!(r#"<label>{label}<select name="{name}"><option value="">–</option>"#);
    for version in trail.versions.iter().rev() {
        let _ = write!(
            out,
            r#"<option value="{n}"{sel}>{n}: {op} {at}{by}</option>"#,
            n = version.number,
            sel = if selected == Some(version.number) {
                " selected"
            } else {
                ""
            },
            op = version.operation.as_str(),
            at = version.changed_at.format("%Y-%m-%d %H:%M:%S"),
            by = version_actor(version),
        );
    }
    out.push_str("</select></label>");
    out
}

fn version_actor(version: &Version) -> String {
    version
        .actor
        .as_deref()
        .map(|a| format!(" by {}", shown(a)))
        .unwrap_or_default()
}

/// The rebuilt record as a column/value table, or why there is none.
fn state_table(trail: &RecordTrail, rebuilt: &Rebuilt) -> String {
    let total = trail.versions.len();
    let mut out = match (rebuilt.version, rebuilt.changed_at) {
        (Some(n), Some(at)) => format!(
            "<p>After version {n} of {total}, written {}{}.</p>",
            html::time(at),
            trail.version(n).map(version_actor).unwrap_or_default()
        ),
        _ => "<p>Before its first version.</p>".to_owned(),
    };
    if !rebuilt.exists {
        out.push_str(r#"<p class="message">The record did not exist then.</p>"#);
        return out;
    }
    out.push_str(r#"<div class="table-wrap"><table><thead><tr><th scope="col">Column</th><th scope="col">Value</th></tr></thead><tbody>"#);
    for (column, value) in &rebuilt.columns {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            shown(column),
            html::value(Some(value))
        );
    }
    out.push_str("</tbody></table></div>");
    out.push_str(r#"<p class="muted">Skipped columns are never recorded and do not appear.</p>"#);
    out
}
