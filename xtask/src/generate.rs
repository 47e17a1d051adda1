//! One spec in, one formatted Rust file out; the same bytes every time.

use anyhow::{Context, Result, anyhow, bail};
use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle, TypePatch};
use quote::quote;
use sha2::{Digest, Sha256};

use crate::{lenient, properties, validate};

/// What to generate from one spec, and how the generated Rust names are shortened.
pub struct Target {
    pub spec: &'static str,
    pub output: &'static str,
    /// (name typify derives from the schema, the short public name)
    pub renames: &'static [(&'static str, &'static str)],
    /// Generated type names must not keep this prefix: a schema added to the spec without a
    /// rename here would otherwise leak a long name into the public API.
    pub forbidden_prefix: Option<&'static str>,
    /// Schemas replaced by a handwritten type: (schema as JSON, Rust path).
    pub conversions: &'static [(&'static str, &'static str)],
    /// Where the property table of the spec's models goes (see `properties.rs`), if anywhere.
    pub properties: Option<&'static str>,
    /// Where the reading rules the models call (`crate::lenient`) are written.
    pub lenient: &'static str,
}

/// The reading rules, one source for both generated crates.
const LENIENT: &str = include_str!("../templates/lenient.rs");

/// What one spec generates: (output path, file contents), the client first.
pub type Outputs = Vec<(&'static str, String)>;

pub const TARGETS: &[Target] = &[
    Target {
        spec: "openapi/graph-audit-events.yaml",
        output: "crates/auditkit-graph/src/generated/mod.rs",
        renames: &[
            ("MicrosoftGraphAuditEvent", "AuditEvent"),
            ("MicrosoftGraphAuditActor", "AuditActor"),
            ("MicrosoftGraphAuditResource", "AuditResource"),
            ("MicrosoftGraphAuditProperty", "AuditProperty"),
            ("MicrosoftGraphRoleScopeTagInfo", "RoleScopeTagInfo"),
            (
                "MicrosoftGraphAuditEventCollectionResponse",
                "AuditEventCollectionResponse",
            ),
            ("MicrosoftGraphODataErrorsODataError", "ODataError"),
            ("MicrosoftGraphODataErrorsMainError", "MainError"),
            ("MicrosoftGraphODataErrorsErrorDetails", "ErrorDetails"),
            ("MicrosoftGraphODataErrorsInnerError", "InnerError"),
        ],
        forbidden_prefix: Some("MicrosoftGraph"),
        conversions: &[],
        properties: Some("crates/auditkit-graph/src/generated/properties.rs"),
        lenient: "crates/auditkit-graph/src/generated/lenient.rs",
    },
    Target {
        spec: "openapi/adobe-audit-service.yaml",
        output: "crates/auditkit-adobe/src/generated/mod.rs",
        renames: &[("Auditevent", "AuditEvent")],
        forbidden_prefix: None,
        // Adobe documents exactly `2017-10-31T00:02:04.232Z`; chrono would write whatever
        // precision the value has, so the one date-time maps to a type that always writes
        // milliseconds and `Z`.
        conversions: &[(
            r#"{"type": "string", "format": "date-time"}"#,
            "crate::Timestamp",
        )],
        // The Audit Service has no query language: nothing looks its properties up by name.
        properties: None,
        lenient: "crates/auditkit-adobe/src/generated/lenient.rs",
    },
];

/// The generated client and models of one spec.
#[cfg(test)]
pub fn generate(target: &Target, spec_text: &str) -> Result<String> {
    Ok(generate_all(target, spec_text)?.swap_remove(0).1)
}

/// Every file one spec generates: the client and models, then the property table if the
/// target has one.
pub fn generate_all(target: &Target, spec_text: &str) -> Result<Outputs> {
    let raw: serde_json::Value = serde_yaml_ng::from_str(spec_text)
        .with_context(|| format!("{}: not valid YAML", target.spec))?;
    let problems = validate::problems(&raw);
    if !problems.is_empty() {
        bail!(
            "{} cannot be generated:\n  {}",
            target.spec,
            problems.join("\n  ")
        );
    }
    let api: openapiv3::OpenAPI = serde_json::from_value(raw.clone())
        .with_context(|| format!("{}: not a valid OpenAPI 3.0 document", target.spec))?;

    let mut generator = Generator::new(&settings(target)?);
    let tokens = run_without_panicking(|| generator.generate_tokens(&api))
        .with_context(|| format!("{}: the generator refused the spec", target.spec))?
        .map_err(|err| anyhow!("{}: the generator refused the spec: {err}", target.spec))?;

    let mut file: syn::File = syn::parse2(tokens).context("the generator emitted invalid Rust")?;
    check_names(target, &file)?;
    lenient::apply(&mut file, &raw, converts_date_times(target)?)
        .with_context(|| format!("{}: cannot attach the reading rules", target.spec))?;
    let properties = target
        .properties
        .map(|output| {
            properties::generate(target, &raw, &file)
                .with_context(|| format!("{}: cannot write the property table", target.spec))
                .map(|table| (output, table))
        })
        .transpose()?;
    // The one seam between a generated client and auditkit: every request goes through the
    // runtime's pipeline (the impl must live in the crate of `Client`, the orphan rule).
    file.items.push(syn::parse_quote! {
        impl progenitor_client::ClientHooks<auditkit_runtime::Pipeline> for Client {
            async fn exec(
                &self,
                request: reqwest::Request,
                info: &progenitor_client::OperationInfo,
            ) -> reqwest::Result<reqwest::Response> {
                self.inner.execute(&self.client, request, info.operation_id).await
            }
        }
    });
    gate_client_behind_feature(&mut file);
    gate_json_schema_behind_feature(&mut file.items);

    let client_header = header(target.spec, spec_text, "xtask/src/generate.rs");
    let mut outputs = vec![(
        target.output,
        format!("{client_header}\n{}", prettyplease::unparse(&file)),
    )];
    let rules_header = header(target.spec, spec_text, "xtask/templates/lenient.rs");
    outputs.push((target.lenient, format!("{rules_header}\n{LENIENT}")));
    if let Some((output, table)) = properties {
        let table_header = header(target.spec, spec_text, "xtask/src/properties.rs");
        outputs.push((
            output,
            format!("{table_header}\n{}", prettyplease::unparse(&table)),
        ));
    }
    Ok(outputs)
}

/// Names the spec and its hash, and says where to make a change instead.
fn header(spec: &str, spec_text: &str, generator: &str) -> String {
    let digest = hex(&Sha256::digest(spec_text.as_bytes()));
    format!(
        "// @generated by `cargo xtask generate` from {spec}\n\
         // spec sha256: {digest}\n\
         // DO NOT EDIT. Change the spec or {generator}, then run `cargo xtask generate`.\n"
    )
}

fn settings(target: &Target) -> Result<GenerationSettings> {
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_inner_type(quote!(auditkit_runtime::Pipeline))
        .with_hooks(HooksMode::Expected)
        .with_derive("PartialEq")
        .with_derive("schemars::JsonSchema")
        // Ordered maps: an Adobe event's tags serialise the same way every time.
        .with_map_type("::std::collections::BTreeMap");
    for (from, to) in target.renames {
        settings.with_patch(from, TypePatch::default().with_rename(to));
    }
    for (schema, rust_type) in target.conversions {
        let schema: schemars::schema::SchemaObject = serde_json::from_str(schema)
            .with_context(|| format!("bad conversion schema {schema}"))?;
        settings.with_conversion(schema, rust_type, std::iter::empty());
    }
    Ok(settings)
}

/// Whether a conversion maps `format: date-time` to a hand-written type, which then owns how
/// times are read.
fn converts_date_times(target: &Target) -> Result<bool> {
    for (schema, _) in target.conversions {
        let schema: serde_json::Value = serde_json::from_str(schema)
            .with_context(|| format!("bad conversion schema {schema}"))?;
        if schema["format"] == "date-time" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// progenitor still panics on some inputs the validator does not know about; turn that into
/// an error naming the spec instead of a backtrace.
fn run_without_panicking<T>(f: impl FnOnce() -> T) -> Result<T> {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous_hook);
    outcome.map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        anyhow!("progenitor panicked: {message}")
    })
}

fn check_names(target: &Target, file: &syn::File) -> Result<()> {
    let Some(prefix) = target.forbidden_prefix else {
        return Ok(());
    };
    let long: Vec<String> = type_names(file)
        .into_iter()
        .filter(|name| name.starts_with(prefix))
        .collect();
    if long.is_empty() {
        return Ok(());
    }
    bail!(
        "{}: generated types kept their long names: {}; add renames to the target in xtask/src/generate.rs",
        target.spec,
        long.join(", ")
    )
}

fn type_names(file: &syn::File) -> Vec<String> {
    fn walk(items: &[syn::Item], names: &mut Vec<String>) {
        for item in items {
            match item {
                syn::Item::Struct(s) => names.push(s.ident.to_string()),
                syn::Item::Enum(e) => names.push(e.ident.to_string()),
                syn::Item::Type(t) => names.push(t.ident.to_string()),
                syn::Item::Mod(m) => {
                    if let Some((_, inner)) = &m.content {
                        walk(inner, names);
                    }
                }
                _ => {}
            }
        }
    }
    let mut names = Vec::new();
    walk(&file.items, &mut names);
    names
}

/// The models must build without reqwest, so everything but the `types` module is compiled
/// only with the crate's `client` feature.
fn gate_client_behind_feature(file: &mut syn::File) {
    let gate: syn::Attribute = syn::parse_quote!(#[cfg(feature = "client")]);
    for item in &mut file.items {
        if let syn::Item::Mod(module) = item
            && module.ident == "types"
        {
            continue;
        }
        if let Some(attrs) = item_attrs(item) {
            attrs.insert(0, gate.clone());
        }
    }
}

/// `JsonSchema` derives only with the crate's `json-schema` feature: schemars' derive pulls a
/// second major version of syn and adds a fifth of a clean build of an application on
/// auditkit, for a trait few applications use (BENCHMARKS.md, compile time).
fn gate_json_schema_behind_feature(items: &mut [syn::Item]) {
    let is_json_schema = |path: &syn::Path| {
        let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        names == ["schemars", "JsonSchema"]
    };
    for item in items {
        let attrs = match item {
            syn::Item::Struct(i) => &mut i.attrs,
            syn::Item::Enum(i) => &mut i.attrs,
            syn::Item::Mod(module) => {
                if let Some((_, inner)) = &mut module.content {
                    gate_json_schema_behind_feature(inner);
                }
                continue;
            }
            _ => continue,
        };
        let mut gated_at = None;
        for (index, attr) in attrs.iter_mut().enumerate() {
            if !attr.path().is_ident("derive") {
                continue;
            }
            let Ok(paths) = attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            ) else {
                continue;
            };
            let kept: Vec<&syn::Path> = paths.iter().filter(|p| !is_json_schema(p)).collect();
            if kept.len() < paths.len() {
                gated_at = Some(index);
                *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
            }
        }
        // Right after the other derives: before the `serde` attributes, which schemars also
        // reads as its helper attributes.
        if let Some(index) = gated_at {
            attrs.insert(
                index + 1,
                syn::parse_quote!(
                    #[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
                ),
            );
        }
    }
}

fn item_attrs(item: &mut syn::Item) -> Option<&mut Vec<syn::Attribute>> {
    Some(match item {
        syn::Item::Const(i) => &mut i.attrs,
        syn::Item::Enum(i) => &mut i.attrs,
        syn::Item::Fn(i) => &mut i.attrs,
        syn::Item::Impl(i) => &mut i.attrs,
        syn::Item::Mod(i) => &mut i.attrs,
        syn::Item::Static(i) => &mut i.attrs,
        syn::Item::Struct(i) => &mut i.attrs,
        syn::Item::Trait(i) => &mut i.attrs,
        syn::Item::Type(i) => &mut i.attrs,
        syn::Item::Use(i) => &mut i.attrs,
        _ => return None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> String {
        let root = crate::workspace_root();
        std::fs::read_to_string(root.join(path)).unwrap()
    }

    #[test]
    fn two_runs_give_identical_bytes() {
        for target in TARGETS {
            let spec = read(target.spec);
            assert_eq!(
                generate(target, &spec).unwrap(),
                generate(target, &spec).unwrap(),
                "{}",
                target.spec
            );
        }
    }

    #[test]
    fn committed_code_matches_the_specs() {
        for target in TARGETS {
            let generated = generate(target, &read(target.spec)).unwrap();
            assert!(
                generated == read(target.output),
                "{} is stale: run `cargo xtask generate`",
                target.output
            );
        }
    }

    #[test]
    fn editing_a_schema_property_makes_the_committed_code_stale() {
        let target = &TARGETS[0];
        let spec = read(target.spec);
        let edited = spec.replacen(
            "        componentName:\n          type: string",
            "        componentName:\n          type: integer",
            1,
        );
        assert_ne!(spec, edited, "the edit must apply");
        let regenerated = generate(target, &edited).unwrap();
        assert_ne!(regenerated, read(target.output));
        assert!(
            regenerated.contains("pub component_name: ::std::option::Option<i64>"),
            "the edit reaches the model"
        );
    }

    #[test]
    fn header_names_the_spec_and_its_hash() {
        for target in TARGETS {
            let spec = read(target.spec);
            let code = generate(target, &spec).unwrap();
            let digest = hex(&Sha256::digest(spec.as_bytes()));
            assert!(code.starts_with(&format!("// @generated by `cargo xtask generate` from {}\n// spec sha256: {digest}\n// DO NOT EDIT", target.spec)));
        }
    }

    #[test]
    fn a_missing_rename_is_refused() {
        let target = Target {
            renames: &[],
            ..TARGETS[0]
        };
        let err = generate(&target, &read(target.spec))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("kept their long names: MicrosoftGraph"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_spec_is_refused_with_its_name() {
        let target = &TARGETS[1];
        let spec = read(target.spec).replace("      operationId: createAuditEvent\n", "");
        let err = format!("{:#}", generate(target, &spec).unwrap_err());
        assert_eq!(
            err,
            "openapi/adobe-audit-service.yaml cannot be generated:\n  POST /audits: missing operationId"
        );
    }

    #[test]
    fn only_the_models_build_without_the_client_feature() {
        let code = generate(&TARGETS[0], &read(TARGETS[0].spec)).unwrap();
        let file: syn::File = syn::parse_str(code.split_once("\n\n").unwrap().1).unwrap();
        for item in &file.items {
            let is_types = matches!(item, syn::Item::Mod(m) if m.ident == "types");
            let gated = quote!(#item)
                .to_string()
                .starts_with("# [cfg (feature = \"client\")]");
            assert_eq!(
                gated,
                !is_types,
                "{}",
                quote!(#item)
                    .to_string()
                    .chars()
                    .take(80)
                    .collect::<String>()
            );
        }
    }

    #[test]
    fn a_generator_shape_the_reading_rules_miss_fails_generation() {
        // A list typify would emit as a newtype (a `$ref` to an array schema) is not the shape
        // the rule rewrites: generation must stop instead of dropping the rule.
        let target = &TARGETS[0];
        let spec = read(target.spec).replacen(
            "        resources:\n          type: array\n          items:\n            $ref: '#/components/schemas/microsoft.graph.auditResource'\n",
            "        resources:\n          $ref: '#/components/schemas/resourceList'\n",
            1,
        ).replacen(
            "  schemas:\n",
            "  schemas:\n    resourceList:\n      type: array\n      items:\n        $ref: '#/components/schemas/microsoft.graph.auditResource'\n",
            1,
        );
        assert_ne!(spec, read(target.spec), "the edit must apply");
        let err = format!("{:#}", generate(target, &spec).unwrap_err());
        assert!(err.contains("the collection reading rule reached"), "{err}");
    }
}
