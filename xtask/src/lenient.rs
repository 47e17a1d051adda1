//! Reading rules for shapes services send but no spec describes: every collection field reads
//! `null` as empty (and drops `null` items), every date-time field reads a time without an
//! offset as UTC. typify has no setting for either, so they are attached to its output here,
//! by kind of field, never by name: a field added to a spec gets its rule without anyone
//! listing it.
//!
//! The rewrite depends on the exact shape typify emits (a `Vec`/map field with a bare serde
//! `default`, an `Option<DateTime<Utc>>` field). If a generator upgrade changes that shape, the
//! fields found here no longer match the properties the spec declares, and generation fails
//! naming them rather than silently dropping a rule.

use anyhow::{Result, bail};
use quote::ToTokens;
use serde_json::Value;
use syn::punctuated::Punctuated;

/// The functions the rules attach; they live in each generated crate's `lenient` module.
const VEC_RULE: &str = "crate::lenient::vec";
const MAP_RULE: &str = "crate::lenient::map";
const DATE_TIME_RULE: &str = "crate::lenient::date_time";

/// What the rules were attached to, by JSON property name (one entry per field).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub collections: Vec<String>,
    pub date_times: Vec<String>,
}

/// Attaches the rules to the generated `types` module, then checks that they reached exactly
/// the collection and date-time properties the spec declares. Date-times a conversion maps to
/// a hand-written type are not typify's to emit: `date_times_converted` says so.
pub fn apply(file: &mut syn::File, spec: &Value, date_times_converted: bool) -> Result<Applied> {
    let Some(types) = file.items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(module) if module.ident == "types" => module.content.as_mut(),
        _ => None,
    }) else {
        bail!("the generator emitted no `types` module: the reading rules have nowhere to go");
    };
    let mut applied = Applied::default();
    for item in &mut types.1 {
        if let syn::Item::Struct(model) = item
            && derives_deserialize(&model.attrs)
        {
            apply_to_struct(model, &mut applied)?;
        }
    }

    let mut declared = declared_properties(spec);
    if date_times_converted {
        declared.date_times.clear();
    }
    check_coverage("collection", &declared.collections, &applied.collections)?;
    check_coverage("date-time", &declared.date_times, &applied.date_times)?;
    Ok(applied)
}

enum Kind {
    Vec,
    Map,
    DateTime,
}

fn apply_to_struct(model: &mut syn::ItemStruct, applied: &mut Applied) -> Result<()> {
    let syn::Fields::Named(fields) = &mut model.fields else {
        return Ok(());
    };
    let model_name = model.ident.to_string();
    for field in &mut fields.named {
        let where_ = format!(
            "{model_name}.{}",
            field
                .ident
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        let Some(kind) = kind_of(&field.ty, &where_)? else {
            continue;
        };
        let Some(attr) = field.attrs.iter_mut().find(|a| a.path().is_ident("serde")) else {
            bail!("{where_}: no serde attribute where the reading rule expects typify's");
        };
        let mut metas =
            attr.parse_args_with(Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)?;
        if metas
            .iter()
            .any(|m| m.path().is_ident("deserialize_with") || m.path().is_ident("with"))
        {
            bail!("{where_}: already has a deserializer; the reading rule would replace it");
        }
        let has_bare_default = metas
            .iter()
            .any(|m| matches!(m, syn::Meta::Path(p) if p.is_ident("default")));
        let rule = match kind {
            Kind::Vec | Kind::Map => {
                // A missing collection already reads as empty through this `default`; without
                // it the field is required, and `null` for a required list is not this rule's.
                if !has_bare_default {
                    bail!(
                        "{where_}: a collection without a serde `default` (a required list?); \
                         the null-as-empty rule expects typify's optional-collection shape"
                    );
                }
                if matches!(kind, Kind::Vec) {
                    VEC_RULE
                } else {
                    MAP_RULE
                }
            }
            Kind::DateTime => {
                if metas.iter().any(|m| m.path().is_ident("default")) {
                    bail!(
                        "{where_}: an optional date-time with a serde default is not typify's shape"
                    );
                }
                // With a deserializer of its own, a missing `Option` field needs `default`.
                metas.push(syn::parse_quote!(default));
                DATE_TIME_RULE
            }
        };
        metas.push(syn::parse_quote!(deserialize_with = #rule));
        *attr = syn::parse_quote!(#[serde(#metas)]);
        let json_name = json_name(&metas, field);
        match kind {
            Kind::Vec | Kind::Map => applied.collections.push(json_name),
            Kind::DateTime => applied.date_times.push(json_name),
        }
    }
    Ok(())
}

/// The kind of rule a field type calls for; an error for collection or date-time shapes the
/// rules do not know, so that a changed generator cannot slip past them.
fn kind_of(ty: &syn::Type, name: &str) -> Result<Option<Kind>> {
    let Some((last, args)) = last_segment(ty) else {
        return Ok(None);
    };
    match last.as_str() {
        "Vec" => Ok(Some(Kind::Vec)),
        "BTreeMap" => Ok(Some(Kind::Map)),
        "HashMap" | "IndexMap" => {
            bail!("{name}: no reading rule for a {last}; the generator is set to BTreeMap")
        }
        "DateTime" => {
            bail!("{name}: a required date-time; the reading rule knows optional ones only")
        }
        "Option" => {
            let inner = args.and_then(|inner| last_segment(&inner)).map(|(n, _)| n);
            match inner.as_deref() {
                Some("DateTime") => Ok(Some(Kind::DateTime)),
                Some(collection @ ("Vec" | "BTreeMap" | "HashMap")) => bail!(
                    "{name}: an optional {collection}; the null-as-empty rule expects a plain \
                     collection with a serde `default` (did the generator change?)"
                ),
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// The last path segment of a type and its first generic argument.
pub(crate) fn last_segment(ty: &syn::Type) -> Option<(String, Option<syn::Type>)> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let segment = path.path.segments.last()?;
    let first_arg = match &segment.arguments {
        syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        }),
        _ => None,
    };
    Some((segment.ident.to_string(), first_arg))
}

/// The `rename` among a field's serde `metas`, or the field's own name.
pub(crate) fn json_name(
    metas: &Punctuated<syn::Meta, syn::Token![,]>,
    field: &syn::Field,
) -> String {
    for meta in metas {
        if let syn::Meta::NameValue(nv) = meta
            && nv.path.is_ident("rename")
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(name),
                ..
            }) = &nv.value
        {
            return name.value();
        }
    }
    field
        .ident
        .as_ref()
        .map(|ident| ident.to_string().trim_start_matches("r#").to_owned())
        .unwrap_or_default()
}

fn derives_deserialize(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|attr| {
            attr.to_token_stream()
                .to_string()
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|word| word == "Deserialize")
        })
}

/// Every property of every object schema in the spec, by kind, with `$ref`s to component
/// schemas followed one step.
fn declared_properties(spec: &Value) -> Applied {
    let components = spec.pointer("/components/schemas");
    let resolve = |schema: &'_ Value| -> Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix("#/components/schemas/")
                .and_then(|name| components.and_then(|c| c.get(name)))
                .cloned()
                .unwrap_or(Value::Null),
            None => schema.clone(),
        }
    };
    fn walk(value: &Value, resolve: &dyn Fn(&Value) -> Value, found: &mut Applied) {
        match value {
            Value::Object(object) => {
                if let Some(Value::Object(properties)) = object.get("properties") {
                    for (name, schema) in properties {
                        let schema = resolve(schema);
                        let is_type =
                            |t: &str| schema.get("type").and_then(Value::as_str) == Some(t);
                        let is_map = is_type("object")
                            && schema.get("properties").is_none()
                            && schema
                                .get("additionalProperties")
                                .is_some_and(|extra| extra != &Value::Bool(false));
                        if is_type("array") || is_map {
                            found.collections.push(name.clone());
                        } else if is_type("string")
                            && schema.get("format").and_then(Value::as_str) == Some("date-time")
                        {
                            found.date_times.push(name.clone());
                        }
                    }
                }
                for child in object.values() {
                    walk(child, resolve, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, resolve, found)),
            _ => {}
        }
    }
    let mut found = Applied::default();
    walk(spec, &resolve, &mut found);
    found
}

fn check_coverage(kind: &str, declared: &[String], applied: &[String]) -> Result<()> {
    let mut declared = declared.to_vec();
    let mut applied = applied.to_vec();
    declared.sort();
    applied.sort();
    if declared == applied {
        return Ok(());
    }
    bail!(
        "the {kind} reading rule reached [{}] but the spec declares {kind} properties [{}]; \
         the generator's output no longer has the shape xtask/src/lenient.rs rewrites",
        applied.join(", "),
        declared.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec_with(properties: Value) -> Value {
        json!({"components": {"schemas": {"thing": {"type": "object", "properties": properties}}}})
    }

    fn types(item: syn::ItemStruct) -> syn::File {
        syn::parse_quote! {
            pub mod types {
                #item
            }
        }
    }

    /// The serde attribute of every field of the one struct, as tokens.
    fn serde_attrs(file: &syn::File) -> Vec<String> {
        let syn::Item::Mod(module) = &file.items[0] else {
            panic!()
        };
        let syn::Item::Struct(model) = &module.content.as_ref().unwrap().1[0] else {
            panic!()
        };
        model
            .fields
            .iter()
            .flat_map(|f| f.attrs.iter().filter(|a| a.path().is_ident("serde")))
            .map(|a| a.to_token_stream().to_string())
            .collect()
    }

    #[test]
    fn collections_and_date_times_get_their_rules_and_nothing_else_changes() {
        let mut file = types(syn::parse_quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize)]
            pub struct Thing {
                #[serde(rename = "itemList", default, skip_serializing_if = "::std::vec::Vec::is_empty")]
                pub item_list: ::std::vec::Vec<::std::string::String>,
                #[serde(default, skip_serializing_if = ":: std :: collections :: BTreeMap::is_empty")]
                pub tags: ::std::collections::BTreeMap<::std::string::String, ::std::string::String>,
                #[serde(rename = "at", skip_serializing_if = "::std::option::Option::is_none")]
                pub at: ::std::option::Option<::chrono::DateTime<::chrono::offset::Utc>>,
                #[serde(skip_serializing_if = "::std::option::Option::is_none")]
                pub name: ::std::option::Option<::std::string::String>,
            }
        });
        let spec = spec_with(json!({
            "itemList": {"type": "array", "items": {"type": "string"}},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "at": {"type": "string", "format": "date-time"},
            "name": {"type": "string"},
        }));
        let applied = apply(&mut file, &spec, false).unwrap();
        assert_eq!(
            applied,
            Applied {
                collections: vec!["itemList".into(), "tags".into()],
                date_times: vec!["at".into()],
            }
        );
        let expected: [syn::Attribute; 4] = [
            syn::parse_quote!(#[serde(rename = "itemList", default, skip_serializing_if = "::std::vec::Vec::is_empty", deserialize_with = "crate::lenient::vec")]),
            syn::parse_quote!(#[serde(default, skip_serializing_if = ":: std :: collections :: BTreeMap::is_empty", deserialize_with = "crate::lenient::map")]),
            syn::parse_quote!(#[serde(rename = "at", skip_serializing_if = "::std::option::Option::is_none", default, deserialize_with = "crate::lenient::date_time")]),
            syn::parse_quote!(#[serde(skip_serializing_if = "::std::option::Option::is_none")]),
        ];
        assert_eq!(
            serde_attrs(&file),
            expected.map(|a| a.to_token_stream().to_string())
        );
    }

    #[test]
    fn a_collection_typify_no_longer_defaults_is_refused() {
        let mut file = types(syn::parse_quote! {
            #[derive(::serde::Deserialize)]
            pub struct Thing {
                #[serde(rename = "itemList")]
                pub item_list: ::std::vec::Vec<::std::string::String>,
            }
        });
        let spec = spec_with(json!({"itemList": {"type": "array", "items": {"type": "string"}}}));
        let err = apply(&mut file, &spec, false).unwrap_err().to_string();
        assert!(
            err.contains("Thing.item_list: a collection without a serde `default`"),
            "{err}"
        );
    }

    #[test]
    fn a_collection_emitted_as_an_option_is_refused() {
        let mut file = types(syn::parse_quote! {
            #[derive(::serde::Deserialize)]
            pub struct Thing {
                #[serde(default, skip_serializing_if = "::std::option::Option::is_none")]
                pub resources: ::std::option::Option<::std::vec::Vec<::std::string::String>>,
            }
        });
        let spec = spec_with(json!({"resources": {"type": "array", "items": {"type": "string"}}}));
        let err = apply(&mut file, &spec, false).unwrap_err().to_string();
        assert!(err.contains("Thing.resources: an optional Vec"), "{err}");
    }

    #[test]
    fn a_declared_collection_the_rule_did_not_reach_is_refused() {
        // E.g. a generator that emits a list as a newtype the rule does not recognise.
        let mut file = types(syn::parse_quote! {
            #[derive(::serde::Deserialize)]
            pub struct Thing {
                #[serde(default)]
                pub resources: Resources,
            }
        });
        let spec = spec_with(json!({
            "resources": {"$ref": "#/components/schemas/list"},
        }));
        let mut spec = spec;
        spec["components"]["schemas"]["list"] =
            json!({"type": "array", "items": {"type": "string"}});
        let err = apply(&mut file, &spec, false).unwrap_err().to_string();
        assert_eq!(
            err,
            "the collection reading rule reached [] but the spec declares collection properties \
             [resources]; the generator's output no longer has the shape xtask/src/lenient.rs rewrites"
        );
    }

    #[test]
    fn a_field_with_its_own_deserializer_is_refused() {
        let mut file = types(syn::parse_quote! {
            #[derive(::serde::Deserialize)]
            pub struct Thing {
                #[serde(default, deserialize_with = "other")]
                pub items: ::std::vec::Vec<u8>,
            }
        });
        let spec = spec_with(json!({"items": {"type": "array", "items": {"type": "integer"}}}));
        let err = apply(&mut file, &spec, false).unwrap_err().to_string();
        assert!(
            err.contains("Thing.items: already has a deserializer"),
            "{err}"
        );
    }

    #[test]
    fn converted_date_times_are_not_expected() {
        let mut file = types(syn::parse_quote! {
            #[derive(::serde::Deserialize)]
            pub struct Thing {
                pub timestamp: crate::Timestamp,
            }
        });
        let spec = spec_with(json!({"timestamp": {"type": "string", "format": "date-time"}}));
        assert_eq!(
            apply(&mut file.clone(), &spec, true).unwrap(),
            Applied::default()
        );
        let err = apply(&mut file, &spec, false).unwrap_err().to_string();
        assert!(err.contains("date-time reading rule reached []"), "{err}");
    }
}
