//! Reverting a change from the viewer: a confirmation page, then a POST carrying a CSRF
//! token bound to the actor and the change, made as a new audited write by that actor.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form};
use hmac::{Hmac, Mac};
use sea_orm::{ActiveModelBehavior, DatabaseConnection, IntoActiveModel};
use serde::Deserialize;
use sha2::Sha256;

use super::html::{self, esc, shown};
use super::params::{RecordParams, query_string};
use super::record::{allowed, number_of};
use super::{Ctx, Failure, Shared, respond};
use crate::trail::RecordTrail;
use crate::{AuditContext, AuditError, AuditedEntity, KeyOf, OnConflict};

/// A registered entity's revert: (connection, key text, changeset) → the audited undo.
pub(crate) type Reverter = Arc<
    dyn Fn(
            DatabaseConnection,
            String,
            String,
        ) -> Pin<Box<dyn Future<Output = Result<(), AuditError>> + Send>>
        + Send
        + Sync,
>;

/// The revert of `E`, its key parsed from the record key text as `K`.
pub(crate) fn reverter<E, K>() -> Reverter
where
    E: AuditedEntity,
    K: FromStr + Into<KeyOf<E>> + Send + 'static,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelBehavior + Send,
{
    Arc::new(|db, key, changeset| {
        Box::pin(async move {
            let parsed = key.parse::<K>().map_err(|_| {
                AuditError::Input(format!("`{key}` is not a key of `{}`", E::audit_table()))
            })?;
            crate::revert::<E>(&db, parsed, &changeset, OnConflict::Refuse)
                .await
                .map(|_| ())
        })
    })
}

/// Whether this reader is offered reverts of `table`'s changes.
pub(super) fn offered(shared: &Shared, ctx: &Ctx, table: &str) -> bool {
    ctx.access.may_revert() && shared.reverters.contains_key(table)
}

/// `GET /revert?table=&key=&changeset=`: what the revert would undo, and the form that
/// does it.
pub(super) async fn confirm(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Query(params): Query<RecordParams>,
) -> Response {
    respond(&ctx, confirm_page(&shared, &ctx, params.cleaned()).await)
}

async fn confirm_page(
    shared: &Shared,
    ctx: &Ctx,
    params: RecordParams,
) -> Result<Response, Failure> {
    allowed(ctx, &params)?;
    if !offered(shared, ctx, &params.table) {
        return Err(Failure::Forbidden);
    }
    let changeset = params
        .changeset
        .clone()
        .ok_or_else(|| Failure::BadInput("changeset: missing".into()))?;
    let trail = RecordTrail::load(&shared.db, &params.table, &params.key).await?;
    let version = trail.version(number_of(&trail, &changeset)?)?;
    let base = esc(&ctx.base);
    let mut body = format!(
        r#"<p>Revert the <span class="op {op}">{op}</span> of {time} by {actor}? The undo is a new write, recorded in the trail as yours ({me}); it is refused if a later change touched the same columns.</p><div class="table-wrap"><table><thead><tr><th scope="col">Column</th><th scope="col">The change to undo</th></tr></thead><tbody>"#,
        op = version.operation.as_str(),
        time = html::time(version.changed_at),
        actor = html::maybe(version.actor.as_deref()),
        me = shown(ctx.access.actor()),
    );
    for change in &version.changes {
        let _ = write!(
            body,
            r#"<tr><td>{}</td><td class="change">{}</td></tr>"#,
            shown(&change.column),
            html::change(change.old_value.as_ref(), change.new_value.as_ref())
        );
    }
    let _ = write!(
        body,
        r#"</tbody></table></div><form method="post" action="{base}/revert"><input type="hidden" name="table" value="{t}"><input type="hidden" name="key" value="{k}"><input type="hidden" name="changeset" value="{c}"><input type="hidden" name="token" value="{token}"><div class="actions"><button class="danger" type="submit">Revert this change</button> <a href="{base}/record?{back}">Cancel</a></div></form>"#,
        t = esc(&params.table),
        k = esc(&params.key),
        c = esc(&changeset),
        token = token(shared, ctx, &params.table, &params.key, &changeset),
        back = esc(&query_string(&RecordParams::of(&params.table, &params.key))),
    );
    Ok(Html(html::page(&ctx.base, "Revert a change", &ctx.access, &body)).into_response())
}

/// The confirmed revert form.
#[derive(Debug, Deserialize)]
pub(super) struct RevertForm {
    table: String,
    key: String,
    changeset: String,
    token: String,
}

/// `POST /revert`: checks the token, reverts as the signed-in actor, and sends the
/// reader back to the record's timeline.
pub(super) async fn apply(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Form(form): Form<RevertForm>,
) -> Response {
    respond(&ctx, apply_revert(&shared, &ctx, form).await)
}

async fn apply_revert(shared: &Shared, ctx: &Ctx, form: RevertForm) -> Result<Response, Failure> {
    if !ctx.access.may_see(&form.table) || !offered(shared, ctx, &form.table) {
        return Err(Failure::Forbidden);
    }
    if !token_matches(shared, ctx, &form) {
        return Err(Failure::Forbidden);
    }
    let reverter = shared.reverters[form.table.as_str()].clone();
    let undo = reverter(shared.db.clone(), form.key.clone(), form.changeset.clone());
    let outcome = AuditContext::new()
        .actor(ctx.access.actor())
        .with("via", "audit viewer")
        .scope(undo)
        .await;
    match outcome {
        Ok(()) => {}
        Err(error @ (AuditError::Conflict { .. } | AuditError::NotRecorded { .. })) => {
            return Err(Failure::Conflict(error.to_string()));
        }
        Err(other) => return Err(other.into()),
    }
    let back = format!(
        "{}/record?{}",
        ctx.base,
        query_string(&RecordParams::of(&form.table, &form.key))
    );
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response())
}

/// The token of one revert form: HMAC-SHA256 over the actor and the change, so a token
/// cannot be replayed by another reader or for another change.
fn token(shared: &Shared, ctx: &Ctx, table: &str, key: &str, changeset: &str) -> String {
    hex::encode(
        mac(shared, ctx, table, key, changeset)
            .finalize()
            .into_bytes(),
    )
}

fn token_matches(shared: &Shared, ctx: &Ctx, form: &RevertForm) -> bool {
    let Ok(bytes) = hex::decode(&form.token) else {
        return false;
    };
    mac(shared, ctx, &form.table, &form.key, &form.changeset)
        .verify_slice(&bytes)
        .is_ok()
}

fn mac(shared: &Shared, ctx: &Ctx, table: &str, key: &str, changeset: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&shared.secret).expect("any key length");
    for part in [
        "audit-viewer-revert-v1",
        ctx.access.actor(),
        table,
        key,
        changeset,
    ] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac
}
