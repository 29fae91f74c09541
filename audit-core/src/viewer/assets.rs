//! The viewer's stylesheet and script, served from its own routes (the CSP allows no
//! inline ones).

use axum::http::header;
use axum::response::IntoResponse;

/// The stylesheet.
pub(super) async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/viewer.css"),
    )
}

/// The script: local times on hover, nothing else (every page works without it).
pub(super) async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/viewer.js"),
    )
}
