//! Validation: the only stage that makes user errors. Checks every rule, reports all.

use crate::ast::{Errors, Field, Input, StructAttrs};

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
        check_personal(field, attrs, errors);
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
    if let Some(subject) = &attrs.subject
        && !fields.iter().any(|f| f.ident == subject.value().as_str())
    {
        errors.push(
            subject.span(),
            format!(
                "`#[audit(subject = \"{}\")]` names no field of this model: it must name the \
                 field holding the data subject of the personal columns (e.g. `user_id`)",
                subject.value()
            ),
        );
    }
    if let (Some(subject), Some(with)) = (&attrs.subject, &attrs.subject_with) {
        errors.push(
            with.span(),
            format!(
                "`#[audit(subject_with = \"{}\")]` and `#[audit(subject = \"{}\")]` both name \
                 the data subject: keep one",
                with.value(),
                subject.value()
            ),
        );
    }
    if let Some(with) = &attrs.subject_with
        && with.parse::<syn::ExprPath>().is_err()
    {
        errors.push(
            with.span(),
            format!(
                "`#[audit(subject_with = \"{}\")]` must be the path of a function \
                 `fn(&Model) -> impl IntoValueTuple`, e.g. `subject_with = \"crate::owner_of\"`",
                with.value()
            ),
        );
    }
    if let Some(kind) = &attrs.subject_kind
        && kind.value().trim().is_empty()
    {
        errors.push(
            kind.span(),
            "`#[audit(subject_kind = \"...\")]` needs a non-empty name",
        );
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

/// `#[audit(personal)]`: not with `skip` or `redact`, not on the primary key (stored in
/// clear as `record_id`), not with database capture (triggers cannot encrypt with the
/// application's key).
fn check_personal(field: &Field<'_>, attrs: &StructAttrs, errors: &mut Errors) {
    let Some(personal) = field.attrs.personal else {
        return;
    };
    let name = field.ident;
    for (other, key) in [(field.attrs.skip, "skip"), (field.attrs.redact, "redact")] {
        if other.is_some() {
            errors.push(
                personal,
                format!(
                    "field `{name}` cannot be both `#[audit({key})]` and `#[audit(personal)]`: personal \
                     records its values sealed with the data subject's key; pick one"
                ),
            );
        }
    }
    if field.primary_key {
        errors.push(
            personal,
            format!(
                "primary key `{name}` cannot be `#[audit(personal)]`: it identifies the record and is \
                 stored in clear as its `record_id`"
            ),
        );
    }
    if let Some(capture) = attrs.capture.as_ref().filter(|c| c.value() == "database") {
        let mut error = syn::Error::new(
            personal,
            format!(
                "field `{name}` cannot be `#[audit(personal)]` with `capture = \"database\"`: the \
                 database's triggers cannot encrypt with the application's key; use hooks capture \
                 for this entity"
            ),
        );
        error.combine(syn::Error::new(
            capture.span(),
            "database capture chosen here",
        ));
        errors.add(error);
    }
}
