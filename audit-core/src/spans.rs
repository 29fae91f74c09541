//! Tracing spans of the audit's own work, at DEBUG (quiet by default): `audit.write` (audit
//! rows written), `audit.flush` (a buffered transaction's rows written) and `audit.history`
//! (a history query). Field names follow OpenTelemetry's database conventions, like the
//! query logger's; a span records its outcome in `otel.status_code`, never an error's
//! text (a driver's message may quote a value).

use std::future::Future;

use sea_orm::DbBackend;
use tracing::{Instrument, Span};

/// OpenTelemetry's `db.system` value of `backend`.
pub(crate) fn db_system(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgresql",
        DbBackend::MySql => "mysql",
        _ => "sqlite",
    }
}

/// Runs `work` inside `span` (which declares an empty `otel.status_code`) and records
/// whether it succeeded.
pub(crate) async fn traced<T, E>(
    span: Span,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let result = work.instrument(span.clone()).await;
    span.record(
        "otel.status_code",
        if result.is_ok() { "OK" } else { "ERROR" },
    );
    result
}
