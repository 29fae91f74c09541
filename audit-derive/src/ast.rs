//! Parse stage: the derive input and its attributes as a small model. Collects every
//! malformed attribute instead of stopping at the first.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type};

/// The `#[audit(...)]` keys a field may carry.
#[derive(Default)]
pub struct FieldAttrs {
    pub skip: Option<Span>,
    pub redact: Option<Span>,
    /// `personal`: the values are sealed with the data subject's key (crypto-shredding).
    pub personal: Option<Span>,
}

/// One column of the entity, in declaration order.
pub struct Field<'a> {
    pub ident: &'a Ident,
    /// The entity's `Column` variant for this field, named as SeaORM names it.
    pub variant: Ident,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
    pub primary_key: bool,
}

/// The `#[audit(...)]` keys the struct may carry.
#[derive(Default)]
pub struct StructAttrs {
    pub table: Option<LitStr>,
    pub skip_timestamps: bool,
    pub hooks: bool,
    /// `capture = "hooks" | "database"`: who writes the trail.
    pub capture: Option<LitStr>,
    /// `subject = "user_id"`: the field holding the data subject of the personal columns.
    pub subject: Option<LitStr>,
    /// `subject_with = "path::to::fn"`: a function of the model giving its data subject.
    pub subject_with: Option<LitStr>,
    /// `subject_kind = "user"`: the namespace of subject ids (default: the audit label).
    pub subject_kind: Option<LitStr>,
}

/// The little we read of `#[sea_orm(...)]` on the struct.
#[derive(Default)]
pub struct SeaOrmStruct {
    /// `table_name = "..."`: present on every compact-format (`DeriveEntityModel`) model.
    pub table_name: Option<LitStr>,
    /// `schema_name = "..."`: part of the record's identity in the trail.
    pub schema_name: Option<LitStr>,
}

/// What the derive was given.
pub enum Input<'a> {
    /// A `Model` struct with named fields.
    Model {
        ident: &'a Ident,
        /// Whether the struct carries `#[sea_orm(...)]`, i.e. SeaORM generates its `ActiveModel`.
        is_entity: bool,
        sea_orm: SeaOrmStruct,
        attrs: StructAttrs,
        fields: Vec<Field<'a>>,
    },
    /// The `ModelEx` twin that `#[sea_orm::model]` copies our derive onto: nothing to do.
    ModelEx,
}

/// Collects errors; reports all of them at once.
#[derive(Default)]
pub struct Errors(Vec<syn::Error>);

impl Errors {
    pub fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, message));
    }

    pub fn add(&mut self, error: syn::Error) {
        self.0.push(error);
    }

    pub fn finish(self) -> Result<(), syn::Error> {
        let mut errors = self.0.into_iter();
        let Some(mut first) = errors.next() else {
            return Ok(());
        };
        first.extend(errors);
        Err(first)
    }
}

impl<'a> Input<'a> {
    pub fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Option<Input<'a>> {
        if input.ident == "ModelEx" {
            return Some(Input::ModelEx);
        }
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                other => {
                    errors.push(
                        other.span(),
                        "`#[derive(Audited)]` needs a struct with named fields, like a SeaORM `Model`",
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                errors.push(
                    data.enum_token.span,
                    "`#[derive(Audited)]` goes on a SeaORM `Model` struct, not on an enum",
                );
                return None;
            }
            Data::Union(data) => {
                errors.push(
                    data.union_token.span,
                    "`#[derive(Audited)]` goes on a SeaORM `Model` struct, not on a union",
                );
                return None;
            }
        };
        let attrs = struct_attrs(input, errors);
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                let sea_orm = sea_orm_field(field, errors);
                let ident = field.ident.as_ref().expect("named field");
                (!sea_orm.ignore).then(|| Field {
                    variant: column_variant(ident, sea_orm.enum_name),
                    ident,
                    ty: &field.ty,
                    attrs: field_attrs(field, errors),
                    primary_key: sea_orm.primary_key,
                })
            })
            .collect();
        let is_entity = input.attrs.iter().any(|a| a.path().is_ident("sea_orm"));
        Some(Input::Model {
            ident: &input.ident,
            is_entity,
            sea_orm: sea_orm_struct(input, errors),
            attrs,
            fields,
        })
    }
}

fn struct_attrs(input: &DeriveInput, errors: &mut Errors) -> StructAttrs {
    let mut attrs = StructAttrs::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("audit")) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let span = meta.path.span();
            match key.as_str() {
                "table" => match meta.value()?.parse::<syn::Expr>()? {
                    syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(value), .. }) => {
                        if attrs.table.replace(value).is_some() {
                            errors.push(span, "duplicate `#[audit(table)]`");
                        }
                    }
                    other => errors.push(
                        other.span(),
                        "`#[audit(table = ...)]` takes a string literal, e.g. `table = \"accounts\"`",
                    ),
                },
                "capture" => match meta.value()?.parse::<syn::Expr>()? {
                    syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(value), .. }) => {
                        if attrs.capture.replace(value).is_some() {
                            errors.push(span, "duplicate `#[audit(capture)]`");
                        }
                    }
                    other => errors.push(
                        other.span(),
                        "`#[audit(capture = ...)]` takes a string literal: `capture = \"database\"` \
                         or `capture = \"hooks\"`",
                    ),
                },
                "subject" => set_str(&meta, &mut attrs.subject, &key, "subject = \"user_id\"", errors)?,
                "subject_with" => set_str(
                    &meta,
                    &mut attrs.subject_with,
                    &key,
                    "subject_with = \"crate::owner_of\"",
                    errors,
                )?,
                "subject_kind" => {
                    set_str(&meta, &mut attrs.subject_kind, &key, "subject_kind = \"user\"", errors)?
                }
                "skip_timestamps" => set_flag(&mut attrs.skip_timestamps, span, &key, errors),
                "hooks" => set_flag(&mut attrs.hooks, span, &key, errors),
                "skip" | "redact" | "personal" => errors.push(
                    span,
                    format!("`#[audit({key})]` goes on a field, not on the struct"),
                ),
                _ => {
                    errors.push(
                        span,
                        format!(
                            "unknown `#[audit]` key `{key}` on the struct: expected `table = \"...\"`, \
                             `skip_timestamps`, `hooks`, `capture = \"database\"`, `subject = \"...\"`, \
                             `subject_with = \"...\"` or `subject_kind = \"...\"`"
                        ),
                    );
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.add(error);
        }
    }
    attrs
}

fn field_attrs(field: &syn::Field, errors: &mut Errors) -> FieldAttrs {
    let mut attrs = FieldAttrs::default();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("audit")) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let span = meta.path.span();
            let slot = match key.as_str() {
                "skip" => &mut attrs.skip,
                "redact" => &mut attrs.redact,
                "personal" => &mut attrs.personal,
                _ => {
                    errors.push(
                        span,
                        format!(
                            "unknown `#[audit]` key `{key}` on a field: expected `skip`, `redact` or `personal`"
                        ),
                    );
                    return Ok(());
                }
            };
            if slot.replace(span).is_some() {
                errors.push(span, format!("duplicate `#[audit({key})]`"));
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.add(error);
        }
    }
    attrs
}

/// Consumes a key's value (`= expr`) or arguments (`(...)`), whatever their form.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _: proc_macro2::Group = meta.input.parse()?;
    }
    Ok(())
}

/// Reads `key = "..."` into `slot`.
fn set_str(
    meta: &syn::meta::ParseNestedMeta<'_>,
    slot: &mut Option<LitStr>,
    key: &str,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<()> {
    let span = meta.path.span();
    match meta.value()?.parse::<syn::Expr>()? {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(value),
            ..
        }) => {
            if slot.replace(value).is_some() {
                errors.push(span, format!("duplicate `#[audit({key})]`"));
            }
        }
        other => errors.push(
            other.span(),
            format!("`#[audit({key} = ...)]` takes a string literal, e.g. `{example}`"),
        ),
    }
    Ok(())
}

fn set_flag(flag: &mut bool, span: Span, key: &str, errors: &mut Errors) {
    if std::mem::replace(flag, true) {
        errors.push(span, format!("duplicate `#[audit({key})]`"));
    }
}

/// The little we read of `#[sea_orm(...)]` on a field; everything else is SeaORM's.
#[derive(Default)]
struct SeaOrmField {
    primary_key: bool,
    ignore: bool,
    enum_name: Option<LitStr>,
}

fn sea_orm_struct(input: &DeriveInput, errors: &mut Errors) -> SeaOrmStruct {
    let mut found = SeaOrmStruct::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("sea_orm")) {
        let result = attr.parse_nested_meta(|meta| {
            let slot = if meta.path.is_ident("table_name") {
                &mut found.table_name
            } else if meta.path.is_ident("schema_name") {
                &mut found.schema_name
            } else {
                return skip_value(&meta);
            };
            let mut expr = meta.value()?.parse::<syn::Expr>()?;
            // A literal passed through a `macro_rules!` fragment arrives in an invisible group.
            while let syn::Expr::Group(group) = expr {
                expr = *group.expr;
            }
            // SeaORM reports its own malformed attributes.
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(value),
                ..
            }) = expr
            {
                *slot = Some(value);
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.add(error);
        }
    }
    found
}

/// The `Column` variant SeaORM's `DeriveEntityModel` makes for field `ident`: its
/// `enum_name`, else the field's name in UpperCamelCase, escaped as SeaORM escapes it.
fn column_variant(ident: &Ident, enum_name: Option<LitStr>) -> Ident {
    use heck::ToUpperCamelCase;
    let name = match &enum_name {
        Some(name) => name.value(),
        None => ident
            .to_string()
            .trim_start_matches("r#")
            .to_upper_camel_case(),
    };
    let span = enum_name.map_or(ident.span(), |n| n.span());
    if matches!(name.as_str(), "crate" | "Self" | "self") {
        return Ident::new(&format!("{name}_"), span);
    }
    syn::parse_str::<Ident>(&name)
        .map(|mut parsed| {
            parsed.set_span(span);
            parsed
        })
        .unwrap_or_else(|_| Ident::new_raw(&name, span))
}

fn sea_orm_field(field: &syn::Field, errors: &mut Errors) -> SeaOrmField {
    let mut found = SeaOrmField::default();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("sea_orm")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("primary_key") {
                found.primary_key = true;
            } else if meta.path.is_ident("ignore") {
                found.ignore = true;
            } else if meta.path.is_ident("enum_name") {
                if let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(value),
                    ..
                }) = meta.value()?.parse::<syn::Expr>()?
                {
                    found.enum_name = Some(value);
                }
                return Ok(());
            }
            skip_value(&meta)
        });
        if let Err(error) = result {
            errors.add(error);
        }
    }
    found
}
