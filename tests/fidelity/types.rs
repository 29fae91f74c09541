//! Entities of the column types beyond SeaORM's defaults (`with-time`, `with-bigdecimal`,
//! `with-uuid`'s `fmt` forms, native and active enums, JSON arrays, PostgreSQL arrays) for
//! `tests/fidelity_types.rs`.
#![allow(dead_code)]
// `Tea`'s variants (and those of the enum `DeriveActiveEnum` derives from it) all end in
// `Tea`, as in SeaORM's own tests and issue 11.
#![allow(clippy::enum_variant_names)]

use sea_orm::FromJsonQueryResult;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A native database enum: `CREATE TYPE tea` on PostgreSQL, `ENUM(..)` on MySQL, text on
/// SQLite. The names are those of SeaORM's own test suite and of issue 11.
#[derive(Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "Enum", db_type = "Enum", enum_name = "tea")]
pub enum Tea {
    #[sea_orm(string_value = "EverydayTea")]
    EverydayTea,
    #[sea_orm(string_value = "BreakfastTea")]
    BreakfastTea,
    #[sea_orm(string_value = "AfternoonTea")]
    AfternoonTea,
}

/// A string active enum.
#[derive(Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(1))")]
pub enum Category {
    #[sea_orm(string_value = "B")]
    Big,
    #[sea_orm(string_value = "S")]
    Small,
}

/// An integer active enum.
#[derive(Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "i32", db_type = "Integer")]
pub enum Shade {
    #[sea_orm(num_value = 0)]
    Black,
    #[sea_orm(num_value = 1)]
    White,
}

/// An element of a JSON array column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Step {
    pub name: String,
    pub n: i64,
}

/// A custom value type over a PostgreSQL `text[]`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveValueType)]
pub struct Labels(pub Vec<String>);

/// The time crate's four types, and `BigDecimal`.
pub mod timed {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "timed")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub date: TimeDate,
        pub time: TimeTime,
        pub naive: TimeDateTime,
        pub zoned: TimeDateTimeWithTimeZone,
        #[sea_orm(column_type = "Decimal(Some((38, 10)))")]
        pub big: BigDecimal,
        pub o_date: Option<TimeDate>,
        pub o_time: Option<TimeTime>,
        pub o_naive: Option<TimeDateTime>,
        pub o_zoned: Option<TimeDateTimeWithTimeZone>,
        #[sea_orm(column_type = "Decimal(Some((38, 10)))", nullable)]
        pub o_big: Option<BigDecimal>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A native enum as the primary key and as a column; active enums, as options.
pub mod brew {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    use super::{Category, Shade, Tea};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "brew")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tea: Tea,
        pub served: Tea,
        pub o_served: Option<Tea>,
        pub category: Option<Category>,
        pub shade: Option<Shade>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// `Vec<T: FromJsonQueryResult>` in a JSON column.
pub mod json_list {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    use super::Step;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "json_list")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        #[sea_orm(column_type = "JsonBinary")]
        pub steps: Vec<Step>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Every `uuid::fmt` form.
pub mod uuid_forms {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;
    use uuid::fmt::{Braced, Hyphenated, Simple, Urn};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "uuid_forms")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub plain: Uuid,
        pub braced: Braced,
        pub hyphenated: Hyphenated,
        pub simple: Simple,
        pub urn: Urn,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Enums and `uuid` forms as plain and optional columns, and an optional JSON array, on
/// an `i32` key (for the property of `tests/history_props_types.rs`).
pub mod variety {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;
    use uuid::fmt::{Braced, Hyphenated, Simple, Urn};

    use super::{Category, Shade, Step, Tea};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "variety")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub tea: Tea,
        pub o_tea: Option<Tea>,
        pub category: Category,
        pub shade: Option<Shade>,
        pub plain: Uuid,
        pub o_plain: Option<Uuid>,
        pub braced: Braced,
        pub simple: Option<Simple>,
        pub urn: Urn,
        pub hyphenated: Option<Hyphenated>,
        #[sea_orm(column_type = "JsonBinary", nullable)]
        pub steps: Option<Vec<Step>>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// SeaORM's default types not in `tests/history_props.rs`'s item: small integers, `f32`,
/// JSON, chrono's five types and `rust_decimal` (for `tests/history_props_types.rs`).
pub mod classic {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "classic")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub small: i16,
        pub int: Option<i32>,
        pub single: f32,
        pub json: Option<Json>,
        pub date: Date,
        pub time: Option<Time>,
        pub naive: DateTime,
        pub utc: Option<DateTimeUtc>,
        pub fixed: DateTimeWithTimeZone,
        #[sea_orm(column_type = "Decimal(Some((20, 6)))")]
        pub decimal: Decimal,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// A text primary key longer than `VARCHAR(255)`.
pub mod long_key {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "long_key")]
    pub struct Model {
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(300))"
        )]
        pub id: String,
        pub note: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// PostgreSQL arrays of every element kind.
pub mod collection {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;
    use uuid::fmt::Hyphenated;

    use super::{Category, Labels, Shade, Tea};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "collection")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub integers: Vec<i32>,
        pub o_integers: Option<Vec<i32>>,
        pub strings: Vec<String>,
        pub uuids: Vec<Uuid>,
        pub hyphenated: Vec<Hyphenated>,
        pub teas: Vec<Tea>,
        pub o_teas: Option<Vec<Tea>>,
        pub categories: Vec<Category>,
        pub shades: Vec<Shade>,
        pub labels: Labels,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Columns of SeaORM's default types, for what each backend keeps of a value written
/// with more precision than the column holds.
pub mod kept {
    use audit_core::Audited;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "kept")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub fixed: DateTimeWithTimeZone,
        pub zoned: TimeDateTimeWithTimeZone,
        pub naive: DateTime,
        pub time: Time,
        #[sea_orm(column_type = "Decimal(Some((30, 10)))")]
        pub decimal: Decimal,
        #[sea_orm(column_type = "Decimal(Some((30, 10)))")]
        pub big: BigDecimal,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}
