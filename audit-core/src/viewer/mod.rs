//! The web viewer: the trail's pages as an axum [`Router`] the application mounts in its
//! own server, under any prefix, behind its own authorization (feature `viewer`).
//!
//! Pages: the cross-table feed (filters by actor, table, column, operation, time,
//! changeset and `column=value`), one record's timeline, the record as of a time or a
//! version, the comparison of two versions, one changeset, and CSV / NDJSON export of the
//! current filter. Every list pages by keyset (`before=<row id>`, never `OFFSET`); every
//! address carries its whole state, so links can be shared. A page runs at most one SQL
//! statement (asserted in `tests/viewer.rs`).
//!
//! Security: nothing is served until [`Authorize`] grants the request an [`Access`]
//! (refused: 403); read-only unless the access allows reverts *and* the entity was
//! registered with [`Viewer::revertible`], and then a revert is a new audited write by the
//! signed-in actor, behind a confirmation page and a CSRF token. Every recorded value is
//! HTML-escaped, with invisible and reordering characters shown as escapes and long values
//! cut; redacted, sealed and erased values are shown as labels. Every response carries a
//! Content-Security-Policy that allows no inline script or style.
//!
//! ```no_run
//! # async fn serve(db: sea_orm::DatabaseConnection) -> std::io::Result<()> {
//! use audit_core::viewer::{Access, Viewer};
//! use axum::http::request::Parts;
//!
//! // Who may see what: here a header set by the application's own login layer.
//! let authorize = |request: &Parts| {
//!     let user = request.headers.get("x-user")?.to_str().ok()?;
//!     Some(Access::tables(user, ["order", "customer"]))
//! };
//! let app = axum::Router::new().nest("/audit", Viewer::new(db, authorize).router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod access;
mod assets;
mod feed;
mod html;
mod params;
mod record;
mod revert;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use sea_orm::{ActiveModelBehavior, DatabaseConnection, IntoActiveModel};

pub use access::{Access, Authorize};

use crate::{AuditError, AuditedEntity, KeyOf};
use revert::Reverter;

/// The Content-Security-Policy of every response: the viewer's own stylesheet and
/// script, no inline script or style, no frames, forms only back to the viewer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The viewer of one database's trail, configured, then turned into a [`Router`].
///
/// ```
/// use audit_core::viewer::{Access, Viewer};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// audit_core::create_audit_table(&db).await?;
/// let router = Viewer::new(db, |_: &axum::http::request::Parts| Some(Access::all("alice")))
///     .page_size(20)
///     .router();
/// # let _ = router;
/// # Ok(()) }
/// ```
pub struct Viewer {
    shared: Shared,
}

/// What every page handler reads: the connection, the hook, the registered reverts.
pub(crate) struct Shared {
    db: DatabaseConnection,
    authorize: Box<dyn Authorize>,
    reverters: HashMap<&'static str, Reverter>,
    secret: [u8; 32],
    page_size: u64,
}

/// One authorized request: its access, and the prefix the viewer is mounted under.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    access: Access,
    base: String,
}

impl Viewer {
    /// A read-only viewer of the trail in `db`, serving what `authorize` grants.
    pub fn new(db: DatabaseConnection, authorize: impl Authorize) -> Self {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system's random source");
        Viewer {
            shared: Shared {
                db,
                authorize: Box::new(authorize),
                reverters: HashMap::new(),
                secret,
                page_size: params::DEFAULT_PAGE,
            },
        }
    }

    /// Rows per page when the address does not say (1 to 500; default 50).
    pub fn page_size(mut self, size: u64) -> Self {
        self.shared.page_size = size.clamp(1, params::MAX_PAGE);
        self
    }

    /// The key of the CSRF tokens of revert forms. By default a random one per viewer;
    /// set the same one on every instance behind a load balancer.
    pub fn csrf_secret(mut self, secret: [u8; 32]) -> Self {
        self.shared.secret = secret;
        self
    }

    /// Lets readers whose [`Access`] allows it revert a change of `E` (its key parsed as
    /// `K` from the record key text), through [`crate::revert`] with
    /// [`OnConflict::Refuse`](crate::OnConflict::Refuse), as the signed-in actor.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// use audit_core::viewer::{Access, Viewer};
    /// let admin = |_: &axum::http::request::Parts| Some(Access::all("root").with_revert());
    /// let router = Viewer::new(db, admin).revertible::<ticket::Entity, i32>().router();
    /// # let _ = router;
    /// # Ok(()) }
    /// ```
    pub fn revertible<E, K>(mut self) -> Self
    where
        E: AuditedEntity,
        K: FromStr + Into<KeyOf<E>> + Send + 'static,
        E::Model: IntoActiveModel<E::ActiveModel>,
        E::ActiveModel: ActiveModelBehavior + Send,
    {
        self.shared
            .reverters
            .insert(E::audit_table(), revert::reverter::<E, K>());
        self
    }

    /// The viewer's pages as a router, to mount with [`Router::nest`] (or serve alone).
    pub fn router(self) -> Router {
        let shared = Arc::new(self.shared);
        Router::new()
            .route("/", get(feed::feed))
            .route("/changeset", get(feed::changeset))
            .route("/export", get(feed::export))
            .route("/record", get(record::timeline))
            .route("/record/as-of", get(record::as_of))
            .route("/record/compare", get(record::compare))
            .route("/revert", get(revert::confirm).post(revert::apply))
            .route("/assets/viewer.css", get(assets::css))
            .route("/assets/viewer.js", get(assets::js))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
            .with_state(shared)
    }
}

/// Every request: refused with 403 unless the hook grants it, and every response with
/// the security headers.
async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let base = base_of(&parts);
    let mut response = match shared.authorize.authorize(&parts) {
        None => Failure::Forbidden.respond(&base),
        Some(access) => {
            parts.extensions.insert(Ctx { access, base });
            next.run(Request::from_parts(parts, body)).await
        }
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The prefix the router is mounted under (`/audit`), from the original address.
fn base_of(parts: &axum::http::request::Parts) -> String {
    let inner = parts.uri.path();
    let original = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(inner, |o| o.0.path());
    let base = if inner == "/" {
        original.trim_end_matches('/')
    } else {
        original.strip_suffix(inner).unwrap_or("")
    };
    base.to_owned()
}

async fn not_found(ctx: axum::Extension<Ctx>) -> Response {
    Failure::NotFound("no such page".into()).respond(&ctx.base)
}

/// Why a page was not served.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A bad address: the field and what is wrong with it (400).
    BadInput(String),
    /// The access does not cover it (403).
    Forbidden,
    /// Nothing there (404).
    NotFound(String),
    /// The revert could not be made as asked (409), with the library's reason.
    Conflict(String),
    /// The database failed (500); the cause goes to the log, not the page.
    Internal(AuditError),
}

impl Failure {
    fn respond(self, base: &str) -> Response {
        let (status, title, text) = match self {
            Failure::BadInput(text) => (StatusCode::BAD_REQUEST, "Bad request", text),
            Failure::Forbidden => (
                StatusCode::FORBIDDEN,
                "Forbidden",
                "You may not see this part of the audit trail.".to_owned(),
            ),
            Failure::NotFound(text) => (StatusCode::NOT_FOUND, "Not found", text),
            Failure::Conflict(text) => (StatusCode::CONFLICT, "Not reverted", text),
            Failure::Internal(error) => {
                tracing::error!(error = %error, "audit viewer: a page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Error",
                    "The audit trail could not be read; the server log has the cause.".to_owned(),
                )
            }
        };
        (status, Html(html::message(base, title, &text))).into_response()
    }
}

impl From<AuditError> for Failure {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::Input(text) => Failure::BadInput(text),
            AuditError::NotFound(text) => Failure::NotFound(text),
            other => Failure::Internal(other),
        }
    }
}

/// A handler's outcome as a response: the page, or its failure's page.
pub(crate) fn respond(ctx: &Ctx, page: Result<Response, Failure>) -> Response {
    page.unwrap_or_else(|failure| failure.respond(&ctx.base))
}
