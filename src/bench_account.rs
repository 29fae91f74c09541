//! The `account` table of `BENCH.md`, audited, and its deterministic rows: shared by the
//! benchmark and the query-log overhead measurement.

use audit_core::Audited;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use serde_json::json;

/// The `account` table of `BENCH.md`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "account")]
pub struct Model {
    /// Auto-increment key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Owner name.
    pub owner: String,
    /// E-mail address.
    pub email: String,
    /// Balance, changed by the update workloads.
    pub balance: i64,
    /// Active flag.
    pub active: bool,
    /// Optional score.
    pub score: Option<f64>,
    /// Creation time (UTC).
    pub created_at: ChronoDateTimeUtc,
    /// Optional JSON tags.
    pub tags: Option<Json>,
    /// Optional note, changed by the update workloads.
    pub note: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

/// Row number `r`, with values that depend on `r` alone.
pub fn row(r: i64) -> ActiveModel {
    let base = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    ActiveModel {
        owner: Set(format!("owner {r}")),
        email: Set(format!("user{r}@example.com")),
        balance: Set(r * 37 % 100_000),
        active: Set(r % 2 == 0),
        score: Set((r % 5 != 0).then_some(r as f64 * 0.25)),
        created_at: Set(base + chrono::Duration::seconds(r)),
        tags: Set((r % 3 != 0).then(|| json!(["bench", format!("t{}", r % 10)]))),
        note: Set((r % 4 != 0).then(|| format!("note {r}"))),
        ..Default::default()
    }
}
