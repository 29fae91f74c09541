//! Expansion: turns a checked model into code. Never fails.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::{Errors, Field, Input, SeaOrmStruct, StructAttrs};
use crate::valid;

const TIMESTAMP_FIELDS: [&str; 2] = ["created_at", "updated_at"];

pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let parsed = Input::from_syn(input, &mut errors);
    if let Some(parsed) = &parsed {
        valid::check(parsed, &mut errors);
    }
    if let Err(error) = errors.finish() {
        let mut tokens = error.to_compile_error();
        // An empty behaviour impl keeps SeaORM's own code compiling, so the user sees our
        // errors alone instead of a cascade of follow-on ones.
        if matches!(
            parsed,
            Some(Input::Model {
                is_entity: true,
                ..
            })
        ) {
            let orm = quote!(::audit_core::__private::sea_orm);
            tokens.extend(quote!(impl #orm::ActiveModelBehavior for ActiveModel {}));
        }
        return tokens;
    }
    match parsed {
        Some(Input::Model {
            attrs,
            sea_orm,
            fields,
            ..
        }) => expand(&attrs, &sea_orm, &fields),
        _ => TokenStream::new(),
    }
}

fn expand(attrs: &StructAttrs, sea_orm: &SeaOrmStruct, fields: &[Field<'_>]) -> TokenStream {
    let behavior = behavior_impl(attrs.hooks);
    let audited = audited_entity_impl(attrs, sea_orm, fields);
    quote! {
        #[doc(hidden)]
        const _: () = {
            #behavior
            #audited
        };
    }
}

fn behavior_impl(hooks: bool) -> TokenStream {
    let p = quote!(::audit_core::__private);
    let orm = quote!(#p::sea_orm);
    // `AuditHooks` requires `HooksEnabled`, which only `#[audit(hooks)]` implements: an
    // `impl AuditHooks` whose hooks would never run does not compile.
    let enabled = hooks.then(|| quote!(impl #p::HooksEnabled for ActiveModel {}));
    let (new, user_before_save, user_after_save, user_before_delete, user_after_delete) = if hooks {
        let h = quote!(<Self as ::audit_core::AuditHooks>);
        (
            quote!(fn new() -> Self { #h::new() }),
            quote!(let am = #h::before_save(am, db, insert).await?;),
            quote!(let model = #h::after_save(model, db, insert).await?;),
            quote!(let am = #h::before_delete(am, db).await?;),
            quote!(let am = #h::after_delete(am, db).await?;),
        )
    } else {
        Default::default()
    };
    quote! {
        #enabled

        #[#p::async_trait]
        impl #orm::ActiveModelBehavior for ActiveModel {
            #new

            async fn before_save<C>(self, db: &C, insert: bool) -> ::core::result::Result<Self, #orm::DbErr>
            where
                C: #orm::ConnectionTrait,
            {
                let am = self;
                #user_before_save
                #p::before_save::<Entity, C>(am, db, insert).await
            }

            async fn after_save<C>(
                model: Model,
                db: &C,
                insert: bool,
            ) -> ::core::result::Result<Model, #orm::DbErr>
            where
                C: #orm::ConnectionTrait,
            {
                #p::after_save::<Entity, C>(&model, db, insert).await?;
                #user_after_save
                ::core::result::Result::Ok(model)
            }

            async fn before_delete<C>(self, db: &C) -> ::core::result::Result<Self, #orm::DbErr>
            where
                C: #orm::ConnectionTrait,
            {
                let am = self;
                #user_before_delete
                #p::before_delete::<Entity, C>(am, db).await
            }

            async fn after_delete<C>(self, db: &C) -> ::core::result::Result<Self, #orm::DbErr>
            where
                C: #orm::ConnectionTrait,
            {
                #p::after_delete::<Entity, C>(&self, db).await?;
                let am = self;
                #user_after_delete
                ::core::result::Result::Ok(am)
            }
        }
    }
}

fn audited_entity_impl(
    attrs: &StructAttrs,
    sea_orm: &SeaOrmStruct,
    fields: &[Field<'_>],
) -> TokenStream {
    let p = quote!(::audit_core::__private);
    let orm = quote!(#p::sea_orm);
    // Two entities of one table name in two schemas are two tables: the schema is part of
    // the label, so their records never share a history.
    let table = match (&attrs.table, &sea_orm.schema_name, &sea_orm.table_name) {
        (Some(label), _, _) => quote!(#label),
        (None, Some(schema), Some(table)) => {
            let label = format!("{}.{}", schema.value(), table.value());
            quote!(#label)
        }
        _ => quote!(#orm::EntityName::table_name(&Entity)),
    };
    // Matched by variant, exhaustively: a column SeaORM names differently, or one more
    // column, is a compile error here rather than a policy applied to the wrong column.
    let policies = fields.iter().map(|field| {
        let variant = &field.variant;
        let timestamp = attrs.skip_timestamps
            && TIMESTAMP_FIELDS.contains(&field.ident.to_string().trim_start_matches("r#"));
        let policy = if field.attrs.skip.is_some() || timestamp {
            quote!(Skip)
        } else if field.attrs.redact.is_some() {
            quote!(Redact)
        } else if field.attrs.personal.is_some() {
            quote!(Personal)
        } else {
            quote!(Record)
        };
        quote!(Column::#variant => ::audit_core::ColumnPolicy::#policy,)
    });
    let decoders = fields.iter().map(|field| {
        let (ty, variant) = (field.ty, &field.variant);
        quote!(Column::#variant => #p::decode_column::<#ty>(table, column_name, json),)
    });
    let capture = attrs
        .capture
        .as_ref()
        .filter(|mode| mode.value() == "database")
        .map(|_| {
            quote! {
                fn capture_mode() -> ::audit_core::CaptureMode {
                    ::audit_core::CaptureMode::Database
                }
            }
        });
    let subject = data_subject_fn(attrs, fields);
    quote! {
        impl ::audit_core::AuditedEntity for Entity {
            fn audit_table() -> &'static str {
                #table
            }

            #capture
            #subject

            fn column_policy(column: &Column) -> ::audit_core::ColumnPolicy {
                match column {
                    #(#policies)*
                }
            }

            fn decode_value(
                column: &Column,
                json: &#p::Json,
            ) -> ::core::result::Result<#orm::Value, ::audit_core::AuditError> {
                let table = <Self as ::audit_core::AuditedEntity>::audit_table();
                let column_name = #orm::IdenStatic::as_str(column);
                match column {
                    #(#decoders)*
                }
            }
        }
    }
}

/// `data_subject`, for an entity with `#[audit(personal)]` columns: the subject is what
/// the `#[audit(subject_with = "...")]` function returns for the model, else the
/// `#[audit(subject = "...")]` field's value, else the record's primary key; its kind is
/// `#[audit(subject_kind = "...")]`, else the audit label.
fn data_subject_fn(attrs: &StructAttrs, fields: &[Field<'_>]) -> Option<TokenStream> {
    if !fields.iter().any(|f| f.attrs.personal.is_some()) {
        return None;
    }
    let orm = quote!(::audit_core::__private::sea_orm);
    let kind = match &attrs.subject_kind {
        Some(kind) => quote!(#kind),
        None => quote!(<Self as ::audit_core::AuditedEntity>::audit_table()),
    };
    let with = attrs
        .subject_with
        .as_ref()
        .and_then(|w| w.parse::<syn::ExprPath>().ok());
    let field = attrs
        .subject
        .as_ref()
        .and_then(|s| fields.iter().find(|f| f.ident == s.value().as_str()));
    let record_is_subject = with.is_none() && field.is_none();
    let key = match (with, field) {
        (Some(with), _) => {
            quote!(#orm::sea_query::IntoValueTuple::into_value_tuple(#with(model)))
        }
        (None, Some(field)) => {
            let variant = &field.variant;
            quote!(#orm::sea_query::ValueTuple::One(#orm::ModelTrait::get(model, Column::#variant)))
        }
        (None, None) => quote!(#orm::ModelTrait::get_primary_key_value(model)),
    };
    let record_subject_kind = record_is_subject.then(|| {
        quote! {
            fn record_subject_kind() -> ::core::option::Option<&'static str> {
                ::core::option::Option::Some(#kind)
            }
        }
    });
    Some(quote! {
        #record_subject_kind

        fn data_subject(model: &Model) -> ::core::option::Option<::audit_core::erasure::Subject> {
            ::core::option::Option::Some(::audit_core::erasure::Subject::of(#kind, &#key))
        }

        fn active_data_subject(
            am: &ActiveModel,
        ) -> ::core::option::Option<::audit_core::erasure::Subject> {
            let model: Model = #orm::TryIntoModel::try_into_model(::core::clone::Clone::clone(am)).ok()?;
            <Self as ::audit_core::AuditedEntity>::data_subject(&model)
        }
    })
}
