//! The cross-table feed, one changeset, and the export of a filter.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::html::{self, esc, shown};
use super::params::{ChangesetParams, FeedParams, RecordParams, query_string};
use super::{Ctx, Failure, Shared, respond};
use crate::trail::{EXPORT_PAGE, Filter, Format};
use crate::{AuditEntry, HistoryQuery};

/// `GET /`: the newest changes of every table the reader may see, filtered, one page.
pub(super) async fn feed(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(params): Query<FeedParams>,
) -> Response {
    respond(&ctx, feed_page(&shared, &ctx, params.cleaned()).await)
}

async fn feed_page(shared: &Shared, ctx: &Ctx, params: FeedParams) -> Result<Response, Failure> {
    let filter = params.filter().map_err(Failure::BadInput)?;
    let before = params.before().map_err(Failure::BadInput)?;
    let size = params.size(shared.page_size).map_err(Failure::BadInput)?;
    let mut query = visible(ctx, &filter)?;
    if let Some(cursor) = before {
        query = query.after(cursor);
    }
    let page = query.page(&shared.db, size).await?;

    let base = &ctx.base;
    let mut body = filter_form(base, &params);
    let _ = write!(
        body,
        r#"<p class="actions"><a href="{base}/export?{csv}" download>Export CSV</a> <a href="{base}/export?{ndjson}" download>Export NDJSON</a></p>"#,
        base = esc(base),
        csv = esc(&params.export("csv")),
        ndjson = esc(&params.export("ndjson")),
    );
    if page.entries.is_empty() {
        body.push_str(r#"<p class="message">No changes match these filters.</p>"#);
    } else {
        body.push_str(&rows_table(base, &page.entries, true));
    }
    body.push_str(r#"<nav class="pager" aria-label="Pages">"#);
    if before.is_some() {
        let _ = write!(
            body,
            r#"<a href="{}?{}">Newest</a>"#,
            esc(&html::home(base)),
            esc(&params.with_before(None))
        );
    }
    if let Some(next) = page.next {
        let _ = write!(
            body,
            r#"<a href="{}?{}" rel="next">Older changes</a>"#,
            esc(&html::home(base)),
            esc(&params.with_before(Some(next)))
        );
    }
    body.push_str("</nav>");
    Ok(Html(html::page(base, "Recent changes", &ctx.access, &body)).into_response())
}

/// `GET /changeset?id=`: every row of one write that the reader may see.
pub(super) async fn changeset(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(params): Query<ChangesetParams>,
) -> Response {
    respond(&ctx, changeset_page(&shared, &ctx, params).await)
}

async fn changeset_page(
    shared: &Shared,
    ctx: &Ctx,
    params: ChangesetParams,
) -> Result<Response, Failure> {
    let filter = Filter {
        changeset: Some(params.id.clone()),
        ..Filter::default()
    };
    let rows = visible(ctx, &filter)?
        .oldest_first()
        .fetch(&shared.db)
        .await?;
    if rows.is_empty() {
        return Err(Failure::NotFound(format!(
            "no changeset `{}` in the trail you may see",
            params.id
        )));
    }
    let first = &rows[0];
    let mut body = format!(
        r#"<p>Written {} by {} <span class="op {op}">{op}</span> {}</p>"#,
        html::time(first.changed_at),
        html::maybe(first.actor.as_deref()),
        html::context(first.context.as_ref()),
        op = first.operation.as_str(),
    );
    body.push_str(&rows_table(&ctx.base, &rows, false));
    let title = format!("Changeset {}", params.id);
    Ok(Html(html::page(&ctx.base, &title, &ctx.access, &body)).into_response())
}

/// `GET /export?<filter>&format=csv|ndjson`: every row of the filter, newest first,
/// streamed one page of [`EXPORT_PAGE`] rows at a time.
pub(super) async fn export(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(params): Query<FeedParams>,
) -> Response {
    respond(&ctx, export_stream(shared, &ctx, params.cleaned()))
}

fn export_stream(shared: Arc<Shared>, ctx: &Ctx, params: FeedParams) -> Result<Response, Failure> {
    let (format, name) = match params.format.as_deref() {
        Some("csv") => (Format::Csv, "audit-trail.csv"),
        Some("ndjson") => (Format::Ndjson, "audit-trail.ndjson"),
        other => {
            return Err(Failure::BadInput(format!(
                "format: `{}` is not csv or ndjson",
                other.unwrap_or("")
            )));
        }
    };
    let filter = params.filter().map_err(Failure::BadInput)?;
    let query = visible(ctx, &filter)?;
    let pages = futures_util::stream::unfold(Some((None, true)), move |state| {
        let (shared, query) = (shared.clone(), query.clone());
        async move {
            let (cursor, first) = state?;
            let mut page_query = query;
            if let Some(cursor) = cursor {
                page_query = page_query.after(cursor);
            }
            let bytes = match page_query.page(&shared.db, EXPORT_PAGE).await {
                Ok(page) => format
                    .encode(&page.entries, first)
                    .map(|bytes| (bytes, page.next.map(|next| (Some(next), false))))
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            Some(match bytes {
                Ok((bytes, next)) => (Ok::<_, std::io::Error>(bytes), next),
                Err(error) => {
                    tracing::error!(error = %error, "audit viewer: export stopped");
                    (Err(std::io::Error::other("export stopped")), None)
                }
            })
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(r#"attachment; filename="{name}""#),
            ),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

/// The query of `filter` within what the reader may see: a table outside the access is
/// refused; no table means every table the access allows.
pub(super) fn visible(ctx: &Ctx, filter: &Filter) -> Result<HistoryQuery, Failure> {
    if let Some(table) = &filter.table
        && !ctx.access.may_see(table)
    {
        return Err(Failure::Forbidden);
    }
    let mut query = filter.query()?;
    if let (None, Some(tables)) = (&filter.table, ctx.access.limited_to()) {
        query = query.tables(tables.iter().cloned());
    }
    Ok(query)
}

/// The filter form, filled with the current filter.
fn filter_form(base: &str, params: &FeedParams) -> String {
    let field = |name: &str, label: &str, value: &Option<String>, hint: &str| {
        format!(
            r#"<label>{label}<input name="{name}" value="{}" placeholder="{hint}"></label>"#,
            esc(value.as_deref().unwrap_or(""))
        )
    };
    let op = params.op.as_deref().unwrap_or("");
    let options: String = ["", "insert", "update", "delete"]
        .iter()
        .map(|o| {
            format!(
                r#"<option value="{o}"{}>{}</option>"#,
                if *o == op { " selected" } else { "" },
                if o.is_empty() { "any" } else { o }
            )
        })
        .collect();
    format!(
        r#"<form class="filters" method="get" action="{home}" role="search">{}{}{}<label>Operation<select name="op">{options}</select></label>{}{}{}{}<div class="actions"><button type="submit">Filter</button> <a href="{home}">Clear</a></div></form>"#,
        field("actor", "Actor", &params.actor, "bob"),
        field("table", "Table", &params.table, "order"),
        field("column", "Column", &params.column, "status"),
        field("since", "Since (UTC)", &params.since, "2026-01-31"),
        field(
            "until",
            "Until (UTC)",
            &params.until,
            "2026-02-01T12:00:00Z"
        ),
        field("changeset", "Changeset", &params.changeset, "id"),
        field(
            "where",
            "Where column=value",
            &params.value,
            "status=closed"
        ),
        home = esc(&html::home(base)),
    )
}

/// Audit rows as a table, each linking to its record's timeline and its changeset.
fn rows_table(base: &str, rows: &[AuditEntry], with_changeset: bool) -> String {
    let mut out = String::from(
        r#"<div class="table-wrap"><table class="rows"><thead><tr><th scope="col">Time</th><th scope="col">Table</th><th scope="col">Record</th><th scope="col">Operation</th><th scope="col">Column</th><th scope="col">Change</th><th scope="col">Actor</th>"#,
    );
    if with_changeset {
        out.push_str(r#"<th scope="col">Changeset</th>"#);
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        let record = query_string(&RecordParams::of(&row.table, &row.record_id));
        let actor = match &row.actor {
            Some(actor) => format!(
                r#"<a href="{}?{}">{}</a>"#,
                esc(&html::home(base)),
                esc(&query_string(&[("actor", actor)])),
                shown(actor)
            ),
            None => html::maybe(None),
        };
        let _ = write!(
            out,
            r#"<tr><td data-label="Time">{time}</td><td data-label="Table">{table}</td><td data-label="Record"><a href="{base}/record?{record}">{key}</a></td><td data-label="Operation"><span class="op {op}">{op}</span></td><td data-label="Column">{column}</td><td data-label="Change" class="change">{change}</td><td data-label="Actor">{actor}</td>"#,
            time = html::time(row.changed_at),
            table = shown(&row.table),
            base = esc(base),
            record = esc(&record),
            key = shown(&row.record_id),
            op = row.operation.as_str(),
            column = shown(&row.column),
            change = html::change(row.old_value.as_ref(), row.new_value.as_ref()),
        );
        if with_changeset {
            let _ = write!(
                out,
                r#"<td data-label="Changeset"><a href="{}/changeset?{}" title="{}">{}</a></td>"#,
                esc(base),
                esc(&query_string(&[("id", &row.changeset_id)])),
                shown(&row.changeset_id),
                shown(short(&row.changeset_id)),
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The last 8 characters of an id, for a link to the whole (a UUIDv7's first ones are
/// its time, shared by every write of the same moment).
pub(super) fn short(id: &str) -> &str {
    let count = id.chars().count();
    id.char_indices()
        .nth(count.saturating_sub(8))
        .map_or(id, |(at, _)| &id[at..])
}
