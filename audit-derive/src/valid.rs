//! Validation: the only stage that makes user errors. Checks every rule, reports all.

use crate::ast::{Errors, Input};

pub fn check(input: &Input<'_>, errors: &mut Errors) {
    let Input::Model {
        ident,
        sea_orm,
        attrs,
        fields,
        ..
    } = input
    else {
        return;
    };
    if sea_orm.table_name.is_none() {
        errors.push(
            ident.span(),
            "`#[derive(Audited)]` needs SeaORM's compact entity format: \
             `#[derive(DeriveEntityModel)]` with `#[sea_orm(table_name = \"...\")]` on the `Model`; \
             the expanded format (`DeriveEntity`, `DeriveModel`, `DeriveActiveModel`, `DeriveColumn`, \
             `DerivePrimaryKey` and hand-written impls, as `sea-orm-cli generate entity --expanded-format` \
             writes it) is not supported: generate the entity without `--expanded-format`",
        );
        return;
    }
    if !fields.iter().any(|f| f.primary_key) {
        errors.push(
            ident.span(),
            "`#[derive(Audited)]` needs a field marked `#[sea_orm(primary_key)]` to identify audited records",
        );
    }
    for field in fields {
        if let (Some(_), Some(redact)) = (field.attrs.skip, field.attrs.redact) {
            errors.push(
                redact,
                format!(
                    "field `{}` cannot be both `#[audit(skip)]` and `#[audit(redact)]`: skip leaves it out of \
                     the trail, redact records the change without its values; pick one",
                    field.ident
                ),
            );
        }
        if field.primary_key
            && let Some(span) = field.attrs.skip.or(field.attrs.redact)
        {
            errors.push(
                span,
                format!(
                    "primary key `{}` identifies audited records and cannot be skipped or redacted",
                    field.ident
                ),
            );
        }
    }
    if let Some(table) = &attrs.table
        && table.value().trim().is_empty()
    {
        errors.push(
            table.span(),
            "`#[audit(table = \"...\")]` needs a non-empty name",
        );
    }
    if let Some(capture) = &attrs.capture
        && !matches!(capture.value().as_str(), "hooks" | "database")
    {
        errors.push(
            capture.span(),
            format!(
                "unknown capture mode `{}`: expected `capture = \"database\"` (triggers write the \
                 trail, see `audit_core::db_capture`) or `capture = \"hooks\"` (the default)",
                capture.value()
            ),
        );
    }
}
