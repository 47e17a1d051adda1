//! The property table of a spec's models: for every object schema, each property's JSON name,
//! the generated field that holds it, its OData (Edm) type, whether it is a collection or a
//! nested object, and whether `$filter` / `$orderby` take it (`x-auditkit-filterable`,
//! `x-auditkit-sortable`). From the same facts come typed access to a model's values by JSON
//! name and the typed constants of the facade's filter builder, so neither is written by hand.
//!
//! Field names are read from the generated models, not recomputed: the table names exactly
//! the fields typify emitted, and generation fails when a spec property has no field (or the
//! other way round) instead of writing a table that does not match the code.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;
use syn::punctuated::Punctuated;

use crate::generate::Target;
use crate::lenient::{self, last_segment};

const FILTERABLE: &str = "x-auditkit-filterable";
const SORTABLE: &str = "x-auditkit-sortable";

/// A scalar OData type, or a nested object (a model of this spec, by its Rust name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Edm {
    String,
    DateTimeOffset,
    Guid,
    Int32,
    Int64,
    Boolean,
    Double,
    Complex(String),
}

/// What the generated Rust field holds around the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `T`: a required property.
    Bare,
    /// `Option<T>`.
    Optional,
    /// `Vec<T>`: a collection.
    Vec,
}

struct Row {
    json_name: String,
    field: Ident,
    edm: Edm,
    shape: Shape,
    filterable: bool,
    sortable: bool,
    nullable: bool,
    description: Option<String>,
}

struct Model {
    schema: String,
    rust_name: String,
    rows: Vec<Row>,
}

/// The `properties` module of `target`, from the spec and the generated models in `file`.
pub fn generate(target: &Target, spec: &Value, file: &syn::File) -> Result<syn::File> {
    let models = models(target, spec, file)?;
    let tokens = emit(&models);
    syn::parse2(tokens).context("the property table is not valid Rust")
}

/// typify's name for a schema (`microsoft.graph.auditEvent` → `MicrosoftGraphAuditEvent`),
/// then the target's rename. A name typify spells otherwise is not found among the generated
/// structs and stops generation, naming the schema.
fn rust_name(target: &Target, schema: &str) -> String {
    let typify: String = schema
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect();
    target
        .renames
        .iter()
        .find(|(from, _)| *from == typify)
        .map_or(typify, |(_, to)| (*to).to_owned())
}

fn models(target: &Target, spec: &Value, file: &syn::File) -> Result<Vec<Model>> {
    let structs = generated_structs(file)?;
    let schemas = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .context("the spec has no components/schemas")?;
    let is_model = |schema: &Value| schema.get("properties").is_some_and(Value::is_object);
    let mut models = Vec::new();
    for (schema_name, schema) in schemas {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let rust_name = rust_name(target, schema_name);
        let fields = structs.get(&rust_name).with_context(|| {
            format!(
                "schema {schema_name}: no generated struct {rust_name} to take field names from"
            )
        })?;
        let mut rows = Vec::new();
        for (json_name, property) in properties {
            let at = format!("{schema_name}.{json_name}");
            let (field, ty) = fields
                .iter()
                .find(|(name, _, _)| name == json_name)
                .map(|(_, field, ty)| (field.clone(), ty.clone()))
                .with_context(|| format!("{at}: no field of {rust_name} holds it"))?;
            let (edm, collection) = edm_type(target, schemas, property, &is_model)
                .with_context(|| format!("{at}: no OData type"))?;
            let shape = shape(&ty, &edm, collection).with_context(|| {
                format!("{at}: the generated field does not hold what the spec declares")
            })?;
            rows.push(Row {
                json_name: json_name.clone(),
                field,
                edm,
                shape,
                filterable: flag(property, FILTERABLE).with_context(|| at.clone())?,
                sortable: flag(property, SORTABLE).with_context(|| at.clone())?,
                nullable: flag(property, "nullable").with_context(|| at.clone())?,
                description: property
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        if let Some((extra, _, _)) = fields
            .iter()
            .find(|(name, _, _)| !properties.contains_key(name))
        {
            bail!("{rust_name}.{extra}: a generated field no property of {schema_name} declares");
        }
        // Sorted here, not by whatever order the JSON map keeps: the table is the same bytes
        // whichever serde_json features the build enables.
        rows.sort_by(|a, b| a.json_name.cmp(&b.json_name));
        for row in &rows {
            if row.sortable && (row.shape == Shape::Vec || matches!(row.edm, Edm::Complex(_))) {
                bail!(
                    "{schema_name}.{}: {SORTABLE} on a collection or nested object; OData sorts by scalars",
                    row.json_name
                );
            }
            if row.filterable && row.shape == Shape::Vec {
                bail!(
                    "{schema_name}.{}: {FILTERABLE} on a collection, which needs any/all",
                    row.json_name
                );
            }
        }
        models.push(Model {
            schema: schema_name.clone(),
            rust_name,
            rows,
        });
    }
    models.sort_by(|a, b| a.rust_name.cmp(&b.rust_name));
    Ok(models)
}

fn flag(property: &Value, name: &str) -> Result<bool> {
    match property.get(name) {
        None => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(other) => bail!("{name} must be true or false, not {other}"),
    }
}

/// The Edm type of a property and whether it is a collection (of that type).
fn edm_type(
    target: &Target,
    schemas: &serde_json::Map<String, Value>,
    property: &Value,
    is_model: &dyn Fn(&Value) -> bool,
) -> Result<(Edm, bool)> {
    if let Some(reference) = property.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .with_context(|| format!("{reference} is not a component schema"))?;
        let schema = schemas
            .get(name)
            .with_context(|| format!("{reference} names no schema"))?;
        if is_model(schema) {
            return Ok((Edm::Complex(rust_name(target, name)), false));
        }
        return edm_type(target, schemas, schema, is_model);
    }
    let text = |key: &str| property.get(key).and_then(Value::as_str);
    let edm = match (text("type"), text("format")) {
        (Some("array"), _) => {
            let items = property.get("items").context("an array without items")?;
            let (edm, nested) = edm_type(target, schemas, items, is_model)?;
            if nested {
                bail!("a collection of collections has no OData type");
            }
            return Ok((edm, true));
        }
        (Some("string"), None) => Edm::String,
        (Some("string"), Some("date-time")) => Edm::DateTimeOffset,
        (Some("string"), Some("uuid")) => Edm::Guid,
        (Some("integer"), Some("int32")) => Edm::Int32,
        (Some("integer"), None | Some("int64")) => Edm::Int64,
        (Some("boolean"), None) => Edm::Boolean,
        (Some("number"), None | Some("double")) => Edm::Double,
        (Some("object"), _) => {
            bail!("an inline object has no model of its own; declare it as a component schema")
        }
        (kind, format) => bail!("type {kind:?} with format {format:?} is not mapped to Edm"),
    };
    Ok((edm, false))
}

/// How the field's Rust type wraps a value of `edm`; an error when the type is not the one the
/// Edm type calls for (a conversion or a generator change the table would misdescribe).
fn shape(ty: &syn::Type, edm: &Edm, collection: bool) -> Result<Shape> {
    let (outer, inner) = last_segment(ty).context("not a path type")?;
    let (shape, value) = match outer.as_str() {
        "Option" => (Shape::Optional, inner.context("Option without a type")?),
        "Vec" => (Shape::Vec, inner.context("Vec without a type")?),
        _ => (Shape::Bare, ty.clone()),
    };
    if (shape == Shape::Vec) != collection {
        bail!("collection in the spec and {outer} in the model disagree");
    }
    let (held, _) = last_segment(&value).context("not a path type")?;
    let expected = match edm {
        Edm::String => "String",
        Edm::DateTimeOffset => "DateTime",
        Edm::Guid => "Uuid",
        Edm::Int32 => "i32",
        Edm::Int64 => "i64",
        Edm::Boolean => "bool",
        Edm::Double => "f64",
        Edm::Complex(name) => name.as_str(),
    };
    if held != expected {
        bail!("the field holds {held}, the spec's type is held as {expected}");
    }
    Ok(shape)
}

/// `(JSON name, field, type)` of every named field of every struct in the `types` module.
type Fields = Vec<(String, Ident, syn::Type)>;

fn generated_structs(file: &syn::File) -> Result<BTreeMap<String, Fields>> {
    let types = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Mod(module) if module.ident == "types" => module.content.as_ref(),
            _ => None,
        })
        .context("the generator emitted no `types` module")?;
    let mut structs = BTreeMap::new();
    for item in &types.1 {
        let syn::Item::Struct(model) = item else {
            continue;
        };
        let syn::Fields::Named(named) = &model.fields else {
            continue;
        };
        let mut fields = Vec::new();
        for field in &named.named {
            let ident = field
                .ident
                .clone()
                .context("a named field without a name")?;
            fields.push((serde_name(field), ident, field.ty.clone()));
        }
        structs.insert(model.ident.to_string(), fields);
    }
    Ok(structs)
}

/// The field's `#[serde(rename = "…")]`, or its own name.
fn serde_name(field: &syn::Field) -> String {
    let metas: Punctuated<syn::Meta, syn::Token![,]> = field
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("serde"))
        .filter_map(|attr| {
            attr.parse_args_with(Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
                .ok()
        })
        .flat_map(Punctuated::into_iter)
        .collect();
    lenient::json_name(&metas, field)
}

// ---------------------------------------------------------------------------------------------
// Emitting
// ---------------------------------------------------------------------------------------------

/// `AuditEvent` → `AUDIT_EVENT`, `ODataError` → `ODATA_ERROR`.
fn static_name(rust_name: &str) -> Ident {
    let mut out = String::new();
    let mut after_lower = false;
    for c in rust_name.chars() {
        if c.is_ascii_uppercase() && after_lower {
            out.push('_');
        }
        after_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    format_ident!("{out}")
}

/// `activityDateTime` → `ActivityDateTime`, `request-id` → `RequestId`.
fn constant_name(json_name: &str) -> Ident {
    let mut out = String::new();
    let mut upper = true;
    for c in json_name.chars() {
        if !c.is_ascii_alphanumeric() {
            upper = true;
            continue;
        }
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = false;
    }
    format_ident!("{out}")
}

fn edm_tokens(edm: &Edm) -> TokenStream {
    match edm {
        Edm::String => quote!(EdmType::String),
        Edm::DateTimeOffset => quote!(EdmType::DateTimeOffset),
        Edm::Guid => quote!(EdmType::Guid),
        Edm::Int32 => quote!(EdmType::Int32),
        Edm::Int64 => quote!(EdmType::Int64),
        Edm::Boolean => quote!(EdmType::Boolean),
        Edm::Double => quote!(EdmType::Double),
        Edm::Complex(name) => {
            let model = static_name(name);
            quote!(EdmType::Complex(&#model))
        }
    }
}

/// The kind marker of `typed::Property<K>` for a scalar Edm type.
fn kind_tokens(edm: &Edm) -> Option<TokenStream> {
    Some(match edm {
        Edm::String => quote!(Text),
        Edm::DateTimeOffset => quote!(DateTimeOffset),
        Edm::Guid => quote!(Guid),
        Edm::Int32 => quote!(Int32),
        Edm::Int64 => quote!(Int64),
        Edm::Boolean => quote!(Boolean),
        Edm::Double => quote!(Double),
        Edm::Complex(_) => return None,
    })
}

/// The `Collection` variant of a collection of `edm`, and the Rust type of its items.
fn collection_variant(edm: &Edm) -> (Ident, TokenStream) {
    match edm {
        Edm::String => (format_ident!("String"), quote!(::std::string::String)),
        Edm::DateTimeOffset => (
            format_ident!("DateTimeOffset"),
            quote!(::chrono::DateTime<::chrono::offset::Utc>),
        ),
        Edm::Guid => (format_ident!("Guid"), quote!(::uuid::Uuid)),
        Edm::Int32 => (format_ident!("Int32"), quote!(i32)),
        Edm::Int64 => (format_ident!("Int64"), quote!(i64)),
        Edm::Boolean => (format_ident!("Boolean"), quote!(bool)),
        Edm::Double => (format_ident!("Double"), quote!(f64)),
        Edm::Complex(name) => {
            let ident = format_ident!("{name}");
            (ident.clone(), quote!(super::types::#ident))
        }
    }
}

/// A `Value` from `v`, a reference to one value of `edm`.
fn value_tokens(edm: &Edm) -> TokenStream {
    match edm {
        Edm::String => quote!(Value::String(v.as_str())),
        Edm::DateTimeOffset => quote!(Value::DateTimeOffset(*v)),
        Edm::Guid => quote!(Value::Guid(*v)),
        Edm::Int32 => quote!(Value::Int32(*v)),
        Edm::Int64 => quote!(Value::Int64(*v)),
        Edm::Boolean => quote!(Value::Boolean(*v)),
        Edm::Double => quote!(Value::Double(*v)),
        Edm::Complex(name) => {
            let ident = format_ident!("{name}");
            quote!(Value::Object(Object::#ident(v)))
        }
    }
}

fn emit(models: &[Model]) -> TokenStream {
    let statics = models.iter().map(emit_model);
    let all = models.iter().map(|m| static_name(&m.rust_name));
    let object_variants = models.iter().map(|m| {
        let ident = format_ident!("{}", m.rust_name);
        let doc = format!("[`{0}`](super::types::{0}).", m.rust_name);
        quote!(#[doc = #doc] #ident(&'a super::types::#ident))
    });
    let object_models = models.iter().map(|m| {
        let ident = format_ident!("{}", m.rust_name);
        let model = static_name(&m.rust_name);
        quote!(Object::#ident(_) => &#model)
    });
    let object_gets = models.iter().map(emit_get);
    let object_froms = models.iter().map(|m| {
        let ident = format_ident!("{}", m.rust_name);
        quote! {
            impl<'a> ::std::convert::From<&'a super::types::#ident> for Object<'a> {
                fn from(model: &'a super::types::#ident) -> Self {
                    Object::#ident(model)
                }
            }
        }
    });
    let mut item_types: Vec<Edm> = models
        .iter()
        .flat_map(|m| m.rows.iter())
        .filter(|row| row.shape == Shape::Vec)
        .map(|row| row.edm.clone())
        .collect();
    item_types.sort();
    item_types.dedup();
    let collection_variants = item_types.iter().map(|edm| {
        let (ident, ty) = collection_variant(edm);
        quote!(#ident(&'a [#ty]))
    });
    let collection_lens = item_types.iter().map(|edm| {
        let (ident, _) = collection_variant(edm);
        quote!(Collection::#ident(items) => items.len())
    });
    let collection_gets = item_types.iter().map(|edm| {
        let (ident, _) = collection_variant(edm);
        let value = value_tokens(edm);
        quote!(Collection::#ident(items) => items.get(index).map(|v| #value))
    });
    let fields = models.iter().filter_map(emit_fields);

    quote! {
        //! Every property of every model of the spec, as the spec declares it: a table to look
        //! properties up by JSON name, typed access to a model's values by that name, and the
        //! typed constants of the filterable ones ([`typed`](crate::properties::typed)).

        /// The properties of one model (one object schema of the spec).
        #[derive(Debug, PartialEq, Eq)]
        pub struct Model {
            /// The schema's name in the spec, e.g. `microsoft.graph.auditEvent`.
            pub schema: &'static str,
            /// The generated model, e.g. `AuditEvent`.
            pub rust_name: &'static str,
            /// Sorted by JSON name.
            pub properties: &'static [Property],
        }

        impl Model {
            /// The property with this JSON name (case-sensitive, as on the wire).
            pub fn property(&'static self, json_name: &str) -> Option<&'static Property> {
                self.properties.iter().find(|property| property.json_name == json_name)
            }
        }

        /// One property of a model.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Property {
            /// The key on the wire, e.g. `activityDateTime`.
            pub json_name: &'static str,
            /// The field of the generated model, e.g. `activity_date_time`.
            pub rust_name: &'static str,
            /// Its OData type; for a collection, the type of its items.
            pub edm_type: EdmType,
            /// Whether it is a collection (a JSON array).
            pub collection: bool,
            /// `x-auditkit-filterable` in the spec: `$filter` may compare it (a nested object:
            /// with `null`, and its own filterable properties through a path such as
            /// `actor/userPrincipalName`).
            pub filterable: bool,
            /// `x-auditkit-sortable` in the spec: `$orderby` may sort by it.
            pub sortable: bool,
            /// `nullable: true` in the spec: a body may carry `null` for it.
            pub nullable: bool,
        }

        impl Property {
            /// Whether the value is a nested object (an OData complex type).
            pub fn is_object(&self) -> bool {
                ::std::matches!(self.edm_type, EdmType::Complex(_))
            }
        }

        /// The OData (Edm) type of a property, from the schema's `type` and `format`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum EdmType {
            /// `type: string`.
            String,
            /// `type: string, format: date-time`.
            DateTimeOffset,
            /// `type: string, format: uuid`.
            Guid,
            /// `type: integer, format: int32`.
            Int32,
            /// `type: integer` (`format: int64` or none).
            Int64,
            /// `type: boolean`.
            Boolean,
            /// `type: number`.
            Double,
            /// A `$ref` to another model: a nested object.
            Complex(&'static Model),
        }

        impl EdmType {
            /// `Edm.String`, …, or the complex type's schema name.
            pub fn name(&self) -> &'static str {
                match self {
                    EdmType::String => "Edm.String",
                    EdmType::DateTimeOffset => "Edm.DateTimeOffset",
                    EdmType::Guid => "Edm.Guid",
                    EdmType::Int32 => "Edm.Int32",
                    EdmType::Int64 => "Edm.Int64",
                    EdmType::Boolean => "Edm.Boolean",
                    EdmType::Double => "Edm.Double",
                    EdmType::Complex(model) => model.schema,
                }
            }
        }

        #(#statics)*

        /// Every model of the spec, by Rust name.
        pub static MODELS: &[&Model] = &[#(&#all),*];

        /// The value of one property of a model, borrowed from it.
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Value<'a> {
            /// Absent (`None`): what OData calls null.
            Null,
            String(&'a str),
            DateTimeOffset(::chrono::DateTime<::chrono::offset::Utc>),
            Guid(::uuid::Uuid),
            Int32(i32),
            Int64(i64),
            Boolean(bool),
            Double(f64),
            /// A nested object.
            Object(Object<'a>),
            /// A collection (possibly empty: a missing collection reads as empty).
            Collection(Collection<'a>),
        }

        /// A model whose properties can be read by JSON name.
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Object<'a> {
            #(#object_variants),*
        }

        impl<'a> Object<'a> {
            /// The table of this model.
            pub fn model(self) -> &'static Model {
                match self {
                    #(#object_models),*
                }
            }

            /// The value of the property with this JSON name; `None` when the model has no
            /// such property.
            pub fn get(self, json_name: &str) -> Option<Value<'a>> {
                match self {
                    #(#object_gets),*
                }
            }
        }

        #(#object_froms)*

        /// `Null` for an absent value, else what `read` makes of it.
        fn optional<'a, T>(value: &'a Option<T>, read: impl FnOnce(&'a T) -> Value<'a>) -> Value<'a> {
            value.as_ref().map_or(Value::Null, read)
        }

        /// The items of a collection property.
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Collection<'a> {
            #(#collection_variants),*
        }

        impl<'a> Collection<'a> {
            pub fn len(self) -> usize {
                match self {
                    #(#collection_lens),*
                }
            }

            pub fn is_empty(self) -> bool {
                self.len() == 0
            }

            /// The item at `index`.
            pub fn get(self, index: usize) -> Option<Value<'a>> {
                match self {
                    #(#collection_gets),*
                }
            }
        }

        /// Typed constants of the filterable properties: a property's kind (its Edm type) is
        /// part of its Rust type, so code that writes filters can refuse a value of the wrong
        /// kind at compile time.
        pub mod typed {
            use ::std::marker::PhantomData;

            /// Kind of an `Edm.String` property.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum Text {}
            /// Kind of an `Edm.DateTimeOffset` property.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum DateTimeOffset {}
            /// Kind of an `Edm.Guid` property.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum Guid {}
            /// Kind of an `Edm.Int32` property.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum Int32 {}
            /// Kind of an `Edm.Int64` property.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum Int64 {}
            /// Kind of an `Edm.Boolean` property.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum Boolean {}
            /// Kind of an `Edm.Double` property.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum Double {}

            /// A filterable property whose kind is `K`.
            #[derive(Debug, PartialEq, Eq)]
            pub struct Property<K> {
                name: &'static str,
                kind: PhantomData<K>,
            }

            // By hand: derived impls would demand `K: Copy`, which generic code cannot promise.
            impl<K> ::std::clone::Clone for Property<K> {
                fn clone(&self) -> Self {
                    *self
                }
            }
            impl<K> ::std::marker::Copy for Property<K> {}

            impl<K> Property<K> {
                const fn new(name: &'static str) -> Self {
                    Self { name, kind: PhantomData }
                }

                /// The name on the wire, also what `$select` takes.
                pub const fn name(self) -> &'static str {
                    self.name
                }
            }

            impl<K> ::std::fmt::Display for Property<K> {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.write_str(self.name)
                }
            }

            #(#fields)*
        }
    }
}

fn emit_model(model: &Model) -> TokenStream {
    let name = static_name(&model.rust_name);
    let schema = Literal::string(&model.schema);
    let rust_name = Literal::string(&model.rust_name);
    let doc = format!(
        "The properties of [`{0}`](super::types::{0}) (`{1}`).",
        model.rust_name, model.schema
    );
    let rows = model.rows.iter().map(|row| {
        let json_name = Literal::string(&row.json_name);
        let rust_name = Literal::string(&row.field.to_string());
        let edm = edm_tokens(&row.edm);
        let collection = row.shape == Shape::Vec;
        let (filterable, sortable, nullable) = (row.filterable, row.sortable, row.nullable);
        quote! {
            Property {
                json_name: #json_name,
                rust_name: #rust_name,
                edm_type: #edm,
                collection: #collection,
                filterable: #filterable,
                sortable: #sortable,
                nullable: #nullable,
            }
        }
    });
    quote! {
        #[doc = #doc]
        pub static #name: Model = Model {
            schema: #schema,
            rust_name: #rust_name,
            properties: &[#(#rows),*],
        };
    }
}

fn emit_get(model: &Model) -> TokenStream {
    let ident = format_ident!("{}", model.rust_name);
    let arms = model.rows.iter().map(|row| {
        let json_name = Literal::string(&row.json_name);
        let field = &row.field;
        let value = value_tokens(&row.edm);
        let read = match row.shape {
            Shape::Bare => quote!({ let v = &model.#field; #value }),
            Shape::Optional => quote!(optional(&model.#field, |v| #value)),
            Shape::Vec => {
                let (variant, _) = collection_variant(&row.edm);
                quote!(Value::Collection(Collection::#variant(&model.#field)))
            }
        };
        quote!(#json_name => Some(#read))
    });
    quote! {
        Object::#ident(model) => match json_name {
            #(#arms,)*
            _ => None,
        }
    }
}

/// `{Model}Field`: a constant per filterable scalar property, for models that have any.
fn emit_fields(model: &Model) -> Option<TokenStream> {
    let rows: Vec<&Row> = model
        .rows
        .iter()
        .filter(|row| row.filterable && row.shape != Shape::Vec)
        .filter(|row| kind_tokens(&row.edm).is_some())
        .collect();
    if rows.is_empty() {
        return None;
    }
    let namespace = format_ident!("{}Field", model.rust_name);
    let doc = format!(
        "The filterable properties of `{}`, each typed by its kind. A namespace rather than \
         an enum: each constant has its own kind, which an enum's variants could not.",
        model.schema
    );
    let constants = rows.iter().map(|row| {
        let name = constant_name(&row.json_name);
        let json_name = Literal::string(&row.json_name);
        let kind = kind_tokens(&row.edm);
        let doc = row
            .description
            .as_deref()
            .map(|text| quote!(#[doc = #text]));
        quote! {
            #doc
            pub const #name: Property<#kind> = Property::new(#json_name);
        }
    });
    let names = rows.iter().map(|row| Literal::string(&row.json_name));
    Some(quote! {
        #[doc = #doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum #namespace {}

        #[allow(non_upper_case_globals)]
        impl #namespace {
            #(#constants)*

            /// The JSON names of the constants above, in their order.
            pub const NAMES: &'static [&'static str] = &[#(#names),*];
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::generate::{TARGETS, generate_all};

    fn read(path: &str) -> String {
        std::fs::read_to_string(crate::workspace_root().join(path)).unwrap()
    }

    /// The Graph spec with `edit` applied (which must change it), and what it generates.
    fn generated_with(from: &str, to: &str) -> Result<(String, String), String> {
        let target = &TARGETS[0];
        let spec = read(target.spec);
        let edited = spec.replacen(from, to, 1);
        assert_ne!(spec, edited, "the edit must apply");
        let outputs = generate_all(target, &edited).map_err(|err| format!("{err:#}"))?;
        let mut files = outputs.into_iter();
        let (_, client) = files.next().unwrap();
        let (_, table) = files
            .find(|(path, _)| path.ends_with("properties.rs"))
            .unwrap();
        Ok((client, table))
    }

    /// The whole `category` property of `auditEvent`: new properties go after it.
    const AFTER_CATEGORY: &str = "        category:\n          type: string\n          nullable: true\n          \
         description: Audit category.\n          x-auditkit-filterable: true\n          \
         x-auditkit-sortable: true\n";

    #[test]
    fn the_committed_table_matches_the_spec() {
        let target = &TARGETS[0];
        let outputs = generate_all(target, &read(target.spec)).unwrap();
        let (path, table) = outputs
            .iter()
            .find(|(path, _)| Some(*path) == target.properties)
            .unwrap();
        assert!(
            *table == read(path),
            "{path} is stale: run `cargo xtask generate`"
        );
        assert!(table.starts_with(
            "// @generated by `cargo xtask generate` from openapi/graph-audit-events.yaml\n"
        ));
        // The table is for the models-only build as well.
        assert!(!table.contains("feature = \"client\""));
    }

    #[test]
    fn a_property_added_to_the_spec_reaches_the_table_the_accessors_and_the_fields() {
        let (client, table) = generated_with(
            AFTER_CATEGORY,
            &format!(
                "{AFTER_CATEGORY}        riskLevel:\n          type: string\n          nullable: true\n          description: How risky.\n          x-auditkit-filterable: true\n          x-auditkit-sortable: true\n"
            ),
        )
        .unwrap();
        assert!(client.contains("pub risk_level: ::std::option::Option<::std::string::String>"));
        assert!(table.contains(
            "json_name: \"riskLevel\",\n            rust_name: \"risk_level\",\n            edm_type: EdmType::String,\n            collection: false,\n            filterable: true,\n            sortable: true,"
        ), "{table}");
        assert!(
            table.contains("\"riskLevel\" => {"),
            "the accessor reads it"
        );
        assert!(table.contains("&model.risk_level,"), "from its field");
        assert!(table.contains("///How risky.\n        pub const RiskLevel: Property<Text> = Property::new(\"riskLevel\");"));
        // Nothing else moved: `category` keeps its flags and its constant.
        assert!(
            table.contains("pub const Category: Property<Text> = Property::new(\"category\");")
        );
    }

    #[test]
    fn the_flags_decide_what_is_filterable_and_sortable() {
        let (_, table) = generated_with(
            "          description: Component name.\n          x-auditkit-filterable: true\n          x-auditkit-sortable: true\n",
            "          description: Component name.\n",
        )
        .unwrap();
        assert!(table.contains(
            "json_name: \"componentName\",\n            rust_name: \"component_name\",\n            edm_type: EdmType::String,\n            collection: false,\n            filterable: false,\n            sortable: false,"
        ));
        assert!(!table.contains("pub const ComponentName"));
    }

    #[test]
    fn types_and_shapes_come_from_the_schema() {
        let (_, table) = generated_with(AFTER_CATEGORY, &format!(
            "{AFTER_CATEGORY}        retries:\n          type: integer\n          format: int32\n          x-auditkit-filterable: true\n        tags:\n          type: array\n          items:\n            type: string\n"
        ))
        .unwrap();
        assert!(table.contains("json_name: \"retries\",\n            rust_name: \"retries\",\n            edm_type: EdmType::Int32,"));
        assert!(table.contains("pub const Retries: Property<Int32>"));
        assert!(table.contains("json_name: \"tags\",\n            rust_name: \"tags\",\n            edm_type: EdmType::String,\n            collection: true,"));
        assert!(table.contains("Value::Collection(Collection::String(&model.tags))"));
        assert!(table.contains("json_name: \"actor\",\n            rust_name: \"actor\",\n            edm_type: EdmType::Complex(&AUDIT_ACTOR),\n            collection: false,\n            filterable: true,\n            sortable: false,"));
    }

    #[test]
    fn flags_the_table_cannot_honour_are_refused() {
        let err = generated_with(
            "          description: Resources being modified.\n",
            "          description: Resources being modified.\n          x-auditkit-filterable: true\n",
        )
        .unwrap_err();
        assert!(
            err.contains(
                "microsoft.graph.auditEvent.resources: x-auditkit-filterable on a collection"
            ),
            "{err}"
        );
        let err = generated_with(
            "          $ref: '#/components/schemas/microsoft.graph.auditActor'\n          x-auditkit-filterable: true\n",
            "          $ref: '#/components/schemas/microsoft.graph.auditActor'\n          x-auditkit-filterable: true\n          x-auditkit-sortable: true\n",
        )
        .unwrap_err();
        assert!(err.contains("microsoft.graph.auditEvent.actor: x-auditkit-sortable on a collection or nested object"), "{err}");
        let err = generated_with(
            "          description: Component name.\n          x-auditkit-filterable: true\n",
            "          description: Component name.\n          x-auditkit-filterable: 'yes'\n",
        )
        .unwrap_err();
        assert!(err.contains("microsoft.graph.auditEvent.componentName: x-auditkit-filterable must be true or false"), "{err}");
    }

    #[test]
    fn a_type_without_an_edm_mapping_is_refused() {
        let err = generated_with(
            AFTER_CATEGORY,
            &format!(
                "{AFTER_CATEGORY}        when:\n          type: string\n          format: date\n"
            ),
        )
        .unwrap_err();
        assert!(
            err.contains("microsoft.graph.auditEvent.when: no OData type"),
            "{err}"
        );
    }
}
