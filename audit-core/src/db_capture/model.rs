//! What the database needs to know to capture an entity: its table, key and columns with
//! their value kinds and policies, read from the derive's metadata.

use sea_orm::sea_query::ColumnType;
use sea_orm::{ColumnTrait, IdenStatic, Iterable, PrimaryKeyToColumn};

use crate::{AuditError, AuditedEntity, CaptureMode, ColumnPolicy, config};

/// How a column's value is turned into the trail's JSON (see [`crate::value`]); one
/// encoder per kind and backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `true` / `false`.
    Bool,
    /// A JSON number, any integer width.
    Integer,
    /// A float (`f32`/`f64`): a JSON number; non-finite values and `-0` as text.
    Float,
    /// A JSON string: text, chars and enums (their string value).
    Text,
    /// Lowercase hex text.
    Bytes,
    /// The JSON itself.
    Json,
    /// `"2024-02-29"`.
    Date,
    /// `"12:30:45.123456"` (0, 3 or 6 fraction digits).
    Time,
    /// `"2024-02-29T12:30:45.123"`, no offset.
    DateTime,
    /// RFC 3339 with offset (`Z` for UTC).
    DateTimeTz,
    /// Decimal text with its scale (`"12.50"`).
    Decimal,
    /// Hyphenated lowercase UUID text.
    Uuid,
    /// A PostgreSQL array of integers, text or booleans: a JSON array.
    Array,
}

impl Kind {
    fn of(column_type: &ColumnType) -> Option<Kind> {
        Some(match column_type {
            ColumnType::Boolean => Kind::Bool,
            ColumnType::TinyInteger
            | ColumnType::SmallInteger
            | ColumnType::Integer
            | ColumnType::BigInteger
            | ColumnType::TinyUnsigned
            | ColumnType::SmallUnsigned
            | ColumnType::Unsigned
            | ColumnType::BigUnsigned => Kind::Integer,
            ColumnType::Float | ColumnType::Double => Kind::Float,
            ColumnType::Char(_)
            | ColumnType::String(_)
            | ColumnType::Text
            | ColumnType::Enum { .. } => Kind::Text,
            ColumnType::Blob | ColumnType::Binary(_) | ColumnType::VarBinary(_) => Kind::Bytes,
            ColumnType::Json | ColumnType::JsonBinary => Kind::Json,
            ColumnType::Date => Kind::Date,
            ColumnType::Time => Kind::Time,
            ColumnType::DateTime | ColumnType::Timestamp => Kind::DateTime,
            ColumnType::TimestampWithTimeZone => Kind::DateTimeTz,
            ColumnType::Decimal(_) => Kind::Decimal,
            ColumnType::Uuid => Kind::Uuid,
            ColumnType::Array(inner)
                if matches!(
                    Kind::of(inner),
                    Some(Kind::Integer | Kind::Text | Kind::Bool)
                ) =>
            {
                Kind::Array
            }
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Bool => "bool",
            Kind::Integer => "integer",
            Kind::Float => "float",
            Kind::Text => "text",
            Kind::Bytes => "bytes",
            Kind::Json => "json",
            Kind::Date => "date",
            Kind::Time => "time",
            Kind::DateTime => "datetime",
            Kind::DateTimeTz => "datetimetz",
            Kind::Decimal => "decimal",
            Kind::Uuid => "uuid",
            Kind::Array => "array",
        }
    }
}

/// One captured column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub policy: ColumnPolicy,
}

/// Database capture of one audited entity: the table it watches and what it writes to the
/// trail. Built from the entity's `#[derive(Audited)]` metadata with [`Capture::of`];
/// installed with [`super::install`].
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// # include!("../../doctest/ticket.rs");
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let db = demo_db().await?;
/// use audit_core::db_capture::{Capture, install_all};
/// // Only entities marked `#[audit(capture = "database")]` can be captured by the database:
/// // `ticket`'s hooks already record it, and both would record every change twice.
/// assert!(Capture::of::<ticket::Entity>().is_err());
/// install_all(&db, &[Capture::of::<memo::Entity>()?]).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    pub(crate) table: String,
    pub(crate) label: &'static str,
    pub(crate) audit_table: String,
    pub(crate) key: Vec<Column>,
    /// The columns in the trail (skipped ones left out), in entity order.
    pub(crate) columns: Vec<Column>,
}

impl Capture {
    /// The capture of entity `E`, which must be marked `#[audit(capture = "database")]`.
    /// Fails, naming the column, when a column's type has no database encoder (e.g. an
    /// interval or a network address) or a name cannot be used in generated SQL.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # mod account {
    /// #     use audit_core::Audited;
    /// #     use sea_orm::entity::prelude::*;
    /// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    /// #     #[sea_orm(table_name = "account")]
    /// #     #[audit(capture = "database")]
    /// #     pub struct Model {
    /// #         #[sea_orm(primary_key)]
    /// #         pub id: i32,
    /// #         pub balance: i64,
    /// #         #[audit(skip)]
    /// #         pub seen: Option<i64>,
    /// #     }
    /// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    /// #     pub enum Relation {}
    /// # }
    /// let capture = audit_core::db_capture::Capture::of::<account::Entity>().unwrap();
    /// assert_eq!(capture.table(), "account");
    /// ```
    pub fn of<E: AuditedEntity>() -> Result<Capture, AuditError> {
        if E::capture_mode() != CaptureMode::Database {
            return Err(AuditError::Config(format!(
                "`{}` is captured by its hooks: mark its `Model` `#[audit(capture = \"database\")]` \
                 to capture it in the database (with both, every change would be recorded twice)",
                E::audit_table()
            )));
        }
        Self::beside_hooks::<E>()
    }

    /// [`Capture::of`] an entity whose hooks record too, for tests that compare the two
    /// trails (its hooks must then run under [`crate::without_auditing`]).
    #[doc(hidden)]
    pub fn beside_hooks<E: AuditedEntity>() -> Result<Capture, AuditError> {
        let table = E::default().table_name().to_owned();
        let audit_table = config::table_name();
        check_name("table", &table)?;
        if table.len() > 48 {
            return Err(AuditError::Config(format!(
                "database capture needs a table name of at most 48 characters (its trigger \
                 names add 15): `{table}`"
            )));
        }
        let describe = |column: E::Column, policy| {
            let name = IdenStatic::as_str(&column);
            check_name(&format!("column of `{table}`"), name)?;
            if policy == ColumnPolicy::Personal {
                return Err(AuditError::Config(format!(
                    "database capture cannot encrypt personal column `{table}.{name}` with \
                     the application's key; use hooks capture for this entity"
                )));
            }
            let column_type = column.def().get_column_type().clone();
            let kind = Kind::of(&column_type).ok_or_else(|| {
                AuditError::Config(format!(
                    "database capture cannot encode column `{table}.{name}` of type \
                     {column_type:?}; mark it `#[audit(skip)]` or use hooks capture"
                ))
            })?;
            Ok(Column { name, kind, policy })
        };
        let key = E::PrimaryKey::iter()
            .map(|pk| describe(pk.into_column(), ColumnPolicy::Record))
            .collect::<Result<Vec<_>, AuditError>>()?;
        let columns = E::Column::iter()
            .filter(|c| E::column_policy(c) != ColumnPolicy::Skip)
            .map(|c| describe(c, E::column_policy(&c)))
            .collect::<Result<Vec<_>, AuditError>>()?;
        Ok(Capture {
            table,
            label: E::audit_table(),
            audit_table,
            key,
            columns,
        })
    }

    /// The captured table's name.
    ///
    #[cfg_attr(feature = "derive", doc = "```")]
    #[cfg_attr(not(feature = "derive"), doc = "```ignore")]
    /// # include!("../../doctest/ticket.rs");
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let db = demo_db().await?;
    /// let capture = audit_core::db_capture::Capture::of::<memo::Entity>()?;
    /// assert_eq!(capture.table(), "memo");
    /// # Ok(())
    /// # }
    /// ```
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The description stored with an installed capture, one line per fact, compared
    /// line by line at start-up ([`super::check`]): a change of any of them means the
    /// installed triggers no longer write what the entity declares.
    pub(crate) fn spec(&self) -> Vec<String> {
        let mut lines = vec![
            format!("version {}", super::VERSION),
            format!("label {}", self.label),
            format!("audit_table {}", self.audit_table),
            format!(
                "key {}",
                self.key
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ];
        lines.extend(self.columns.iter().map(|c| {
            let policy = match c.policy {
                ColumnPolicy::Redact => "redact",
                _ => "record",
            };
            format!("column {} {} {policy}", c.name, c.kind.name())
        }));
        lines
    }
}

/// Names go into generated SQL unquoted-safe: letters, digits and `_` only.
fn check_name(what: &str, name: &str) -> Result<(), AuditError> {
    config::validate_table_name(what, name)
}
