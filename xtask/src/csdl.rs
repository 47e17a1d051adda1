//! Microsoft's Graph metadata (CSDL), cut down to the Intune audit events: the `auditEvent`
//! entity (with the key `id` of its base `entity`), the complex types it reaches
//! (`auditActor`, `auditResource`, `auditProperty`), the `deviceManagement/auditEvents` entity
//! set, and the functions bound to a collection of audit events (`getAuditCategories`,
//! `getAuditActivityTypes`).
//!
//! `cargo xtask import-graph --csdl FILE` writes the slice of FILE to
//! [`SLICE`] with its provenance and prints what changed against the committed slice:
//! types, properties and functions added, removed or retyped, breaking or compatible.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// The committed slice, relative to the workspace root.
pub const SLICE: &str = "openapi/upstream/graph-v1.0-audit-events.csdl.xml";

const NAMESPACE: &str = "microsoft.graph";
const ENTITY: &str = "auditEvent";
const CONTAINER_ENTITY: &str = "deviceManagement";
const ENTITY_SET: &str = "auditEvents";

/// One structured type of the slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type {
    /// `EntityType` or `ComplexType`.
    pub kind: String,
    /// An entity's key properties (its base types' included): `id`.
    pub key: Vec<String>,
    pub properties: BTreeMap<String, Property>,
}

/// One property: its Edm or `graph.` type (`Collection(…)` for a collection) and whether it
/// may be null (CSDL's default is yes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub ty: String,
    pub nullable: bool,
}

/// A function bound to `Collection(graph.auditEvent)`: its parameters after the binding one,
/// and what it returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// `Function` or `Action`.
    pub element: String,
    /// The binding parameter's type: the collection of audit events, or one of them.
    pub binding: String,
    pub parameters: Vec<(String, String)>,
    /// The return type; empty for an action that returns nothing.
    pub returns: String,
}

/// The slice: what auditkit's Graph spec is derived from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub types: BTreeMap<String, Type>,
    /// `deviceManagement/auditEvents`, as `Collection(graph.auditEvent)`, if the file has it.
    pub entity_set: Option<String>,
    pub functions: BTreeMap<String, Function>,
}

fn local(ty: &str) -> Option<&str> {
    let inner = ty
        .strip_prefix("Collection(")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(ty);
    inner
        .strip_prefix("graph.")
        .or_else(|| inner.strip_prefix("microsoft.graph."))
}

/// The slice of a CSDL document (Microsoft's whole file, or a slice written before).
pub fn slice(csdl: &str) -> Result<Slice> {
    let document = roxmltree::Document::parse(csdl).context("not XML")?;
    let schema = document
        .descendants()
        .find(|node| node.has_tag_name("Schema") && node.attribute("Namespace") == Some(NAMESPACE))
        .with_context(|| format!("no Schema of namespace {NAMESPACE}"))?;
    let named = |tag: &str, name: &str| {
        schema
            .children()
            .find(|node| node.has_tag_name(tag) && node.attribute("Name") == Some(name))
    };
    let structured = |name: &str| named("EntityType", name).or_else(|| named("ComplexType", name));

    let mut types = BTreeMap::new();
    let mut pending = vec![ENTITY.to_owned()];
    while let Some(name) = pending.pop() {
        if types.contains_key(&name) {
            continue;
        }
        let Some(node) = structured(&name) else {
            // An enumeration or a type definition: its members (or underlying type) are what
            // the slice keeps of it.
            let simple = named("EnumType", &name)
                .or_else(|| named("TypeDefinition", &name))
                .with_context(|| format!("no type {name}"))?;
            let mut properties = BTreeMap::new();
            for member in simple.children().filter(|n| n.has_tag_name("Member")) {
                if let Some(member_name) = member.attribute("Name") {
                    properties.insert(
                        member_name.to_owned(),
                        Property {
                            ty: member.attribute("Value").unwrap_or_default().to_owned(),
                            nullable: false,
                        },
                    );
                }
            }
            if let Some(underlying) = simple.attribute("UnderlyingType") {
                properties.insert(
                    "UnderlyingType".to_owned(),
                    Property {
                        ty: underlying.to_owned(),
                        nullable: false,
                    },
                );
            }
            types.insert(
                name,
                Type {
                    kind: simple.tag_name().name().to_owned(),
                    key: Vec::new(),
                    properties,
                },
            );
            continue;
        };
        let mut properties = BTreeMap::new();
        let mut key = Vec::new();
        // The key and the other properties of the base types come first (entity's `id`).
        let mut chain = vec![node];
        while let Some(base) = chain
            .last()
            .and_then(|n| n.attribute("BaseType"))
            .and_then(local)
        {
            chain.push(structured(base).with_context(|| format!("no base type {base}"))?);
        }
        for level in chain.iter().rev() {
            for reference in level
                .children()
                .filter(|n| n.has_tag_name("Key"))
                .flat_map(|k| k.children().filter(|n| n.has_tag_name("PropertyRef")))
            {
                key.extend(reference.attribute("Name").map(str::to_owned));
            }
            // Navigation properties are part of the type too (they decide what `$expand`
            // can reach); the slice keeps them beside the structural ones.
            for property in level
                .children()
                .filter(|n| n.has_tag_name("Property") || n.has_tag_name("NavigationProperty"))
            {
                let (Some(property_name), Some(ty)) =
                    (property.attribute("Name"), property.attribute("Type"))
                else {
                    bail!("{name}: a Property without Name or Type");
                };
                if let Some(referenced) = local(ty) {
                    pending.push(referenced.to_owned());
                }
                properties.insert(
                    property_name.to_owned(),
                    Property {
                        ty: ty.to_owned(),
                        nullable: property.attribute("Nullable") != Some("false"),
                    },
                );
            }
        }
        types.insert(
            name,
            Type {
                kind: node.tag_name().name().to_owned(),
                key,
                properties,
            },
        );
    }

    let entity_set = named("EntityType", CONTAINER_ENTITY)
        .and_then(|container| {
            container.children().find(|n| {
                n.has_tag_name("NavigationProperty") && n.attribute("Name") == Some(ENTITY_SET)
            })
        })
        .and_then(|navigation| navigation.attribute("Type"))
        .map(str::to_owned);

    // Functions and actions bound to the collection of audit events, or to one of them.
    let bindings = [
        format!("Collection(graph.{ENTITY})"),
        format!("Collection({NAMESPACE}.{ENTITY})"),
        format!("graph.{ENTITY}"),
        format!("{NAMESPACE}.{ENTITY}"),
    ];
    let mut functions = BTreeMap::new();
    for function in schema
        .children()
        .filter(|n| n.has_tag_name("Function") || n.has_tag_name("Action"))
    {
        let mut parameters = function.children().filter(|n| n.has_tag_name("Parameter"));
        let binding = parameters.next().and_then(|p| p.attribute("Type"));
        let bound_here = function.attribute("IsBound") == Some("true")
            && binding.is_some_and(|ty| bindings.iter().any(|b| b == ty));
        if !bound_here {
            continue;
        }
        // A function of the collection is named as before; anything else says what it is.
        let kind = match (
            function.tag_name().name(),
            binding.is_some_and(|b| b.starts_with("Collection(")),
        ) {
            ("Function", true) => "",
            ("Function", false) => "function of one event ",
            (_, true) => "action ",
            (_, false) => "action of one event ",
        };
        let name = function
            .attribute("Name")
            .context("a Function without Name")?;
        let returns = function
            .children()
            .find(|n| n.has_tag_name("ReturnType"))
            .and_then(|r| r.attribute("Type"));
        if returns.is_none() && function.has_tag_name("Function") {
            bail!("function {name}: no ReturnType");
        }
        let returns = returns.unwrap_or_default();
        let parameters: Vec<(String, String)> = parameters
            .map(|p| {
                (
                    p.attribute("Name").unwrap_or_default().to_owned(),
                    p.attribute("Type").unwrap_or_default().to_owned(),
                )
            })
            .collect();
        // Overloads share a name: each is told apart by its parameters' names.
        let names: Vec<&str> = parameters.iter().map(|(n, _)| n.as_str()).collect();
        functions.insert(
            format!("{kind}{name}({})", names.join(",")),
            Function {
                element: function.tag_name().name().to_owned(),
                binding: binding.unwrap_or_default().to_owned(),
                parameters,
                returns: returns.to_owned(),
            },
        );
    }
    Ok(Slice {
        types,
        entity_set,
        functions,
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The slice as a CSDL document, the same bytes for the same slice; `source` names where it
/// was cut from (a file name and its SHA-256).
pub fn to_xml(slice: &Slice, source: &str) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(
        xml,
        "<!-- The Intune audit events slice of Microsoft Graph's CSDL, written by `cargo xtask \
         import-graph`; do not edit.\n     Source: {} -->",
        escape(source).replace("--", "- -")
    );
    xml.push_str(
        "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n  \
         <edmx:DataServices>\n    \
         <Schema Namespace=\"microsoft.graph\" Alias=\"graph\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n",
    );
    for (name, ty) in &slice.types {
        let _ = writeln!(xml, "      <{} Name=\"{}\">", ty.kind, escape(name));
        if !ty.key.is_empty() {
            xml.push_str("        <Key>\n");
            for key in &ty.key {
                let _ = writeln!(xml, "          <PropertyRef Name=\"{}\" />", escape(key));
            }
            xml.push_str("        </Key>\n");
        }
        for (property, Property { ty, nullable }) in &ty.properties {
            let null = if *nullable { "" } else { " Nullable=\"false\"" };
            let _ = writeln!(
                xml,
                "        <Property Name=\"{}\" Type=\"{}\"{null} />",
                escape(property),
                escape(ty)
            );
        }
        let _ = writeln!(xml, "      </{}>", ty.kind);
    }
    if let Some(set) = &slice.entity_set {
        let _ = writeln!(
            xml,
            "      <EntityType Name=\"{CONTAINER_ENTITY}\">\n        <NavigationProperty Name=\"{ENTITY_SET}\" Type=\"{}\" ContainsTarget=\"true\" />\n      </EntityType>",
            escape(set)
        );
    }
    for (key, function) in &slice.functions {
        let name = key
            .split('(')
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .unwrap_or(key);
        let _ = writeln!(
            xml,
            "      <{} Name=\"{}\" IsBound=\"true\">\n        <Parameter Name=\"bindingParameter\" Type=\"{}\" />",
            function.element,
            escape(name),
            escape(&function.binding)
        );
        for (parameter, ty) in &function.parameters {
            let _ = writeln!(
                xml,
                "        <Parameter Name=\"{}\" Type=\"{}\" />",
                escape(parameter),
                escape(ty)
            );
        }
        if !function.returns.is_empty() {
            let _ = writeln!(
                xml,
                "        <ReturnType Type=\"{}\" />",
                escape(&function.returns)
            );
        }
        let _ = writeln!(xml, "      </{}>", function.element);
    }
    xml.push_str("    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n");
    xml
}

/// Where a slice was cut from: the file's name and its SHA-256.
pub fn source(name: &str, bytes: &[u8]) -> String {
    let digest: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{name} ({} bytes, sha256 {digest})", bytes.len())
}

/// What changed from `old` to `new`, breaking changes first. Removing or retyping anything is
/// breaking, and so is a change of nullability (a client that relied on a value now meets
/// `null`, or the other way round); additions are compatible.
pub fn changes(old: &Slice, new: &Slice) -> Vec<(bool, String)> {
    let mut changes = Vec::new();
    for (name, before) in &old.types {
        let Some(after) = new.types.get(name) else {
            changes.push((true, format!("removed type {name}")));
            continue;
        };
        if after.kind != before.kind {
            changes.push((
                true,
                format!("{name} changed from {} to {}", before.kind, after.kind),
            ));
        }
        if after.key != before.key {
            changes.push((
                true,
                format!(
                    "the key of {name} changed: {:?} -> {:?}",
                    before.key, after.key
                ),
            ));
        }
        for (property, was) in &before.properties {
            match after.properties.get(property) {
                None => changes.push((true, format!("removed property {name}.{property}"))),
                Some(now) if now.ty != was.ty => changes.push((
                    true,
                    format!(
                        "retyped property {name}.{property}: {} -> {}",
                        was.ty, now.ty
                    ),
                )),
                Some(now) if now.nullable != was.nullable => changes.push((
                    true,
                    format!(
                        "property {name}.{property} is now {}",
                        if now.nullable {
                            "nullable"
                        } else {
                            "not nullable"
                        }
                    ),
                )),
                Some(_) => {}
            }
        }
        for (property, now) in &after.properties {
            if !before.properties.contains_key(property) {
                // A value every create must now carry breaks the creates that lack it.
                let breaking = !now.nullable && before.kind != "EnumType";
                let note = if breaking { " (not nullable)" } else { "" };
                changes.push((
                    breaking,
                    format!("added property {name}.{property}: {}{note}", now.ty),
                ));
            }
        }
    }
    for name in new.types.keys().filter(|n| !old.types.contains_key(*n)) {
        changes.push((false, format!("added type {name}")));
    }
    if old.entity_set != new.entity_set {
        changes.push((
            true,
            format!(
                "the entity set {CONTAINER_ENTITY}/{ENTITY_SET} changed: {:?} -> {:?}",
                old.entity_set, new.entity_set
            ),
        ));
    }
    for (name, before) in &old.functions {
        match new.functions.get(name) {
            None => changes.push((true, format!("removed function {name}"))),
            Some(after) if after != before => changes.push((
                true,
                format!(
                    "changed function {name}: ({:?}) -> {} became ({:?}) -> {}",
                    before.parameters, before.returns, after.parameters, after.returns
                ),
            )),
            Some(_) => {}
        }
    }
    for name in new
        .functions
        .keys()
        .filter(|n| !old.functions.contains_key(*n))
    {
        changes.push((false, format!("added function {name}")));
    }
    changes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    changes
}

/// The printed report of [`changes`].
pub fn report(old: &Slice, new: &Slice) -> String {
    let changes = changes(old, new);
    if changes.is_empty() {
        return "the audit events slice is unchanged".to_owned();
    }
    let breaking = changes.iter().filter(|(b, _)| *b).count();
    let mut text = format!(
        "the audit events slice changed: {breaking} breaking, {} compatible",
        changes.len() - breaking
    );
    for (is_breaking, change) in &changes {
        let kind = if *is_breaking {
            "breaking"
        } else {
            "compatible"
        };
        let _ = write!(text, "\n  {kind:>10}: {change}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed() -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::read_to_string(root.join(SLICE)).expect("the committed slice")
    }

    #[test]
    fn the_committed_slice_holds_the_audit_types_and_reads_back_to_the_same_bytes() {
        let text = committed();
        let slice = slice(&text).unwrap();
        assert_eq!(
            slice.types.keys().collect::<Vec<_>>(),
            ["auditActor", "auditEvent", "auditProperty", "auditResource"]
        );
        let event = &slice.types["auditEvent"];
        assert_eq!(
            event.properties["id"],
            Property {
                ty: "Edm.String".into(),
                nullable: false
            },
            "the key of the base type"
        );
        assert_eq!(event.key, ["id"]);
        assert!(!event.properties["activityDateTime"].nullable);
        assert!(event.properties["displayName"].nullable);
        assert_eq!(
            slice.entity_set.as_deref(),
            Some("Collection(graph.auditEvent)")
        );
        assert_eq!(
            slice.functions.keys().collect::<Vec<_>>(),
            ["getAuditActivityTypes(category)", "getAuditCategories()"]
        );
        assert_eq!(
            slice.functions["getAuditActivityTypes(category)"].parameters,
            [("category".to_owned(), "Edm.String".to_owned())]
        );
        // Written again from what it reads, the slice is the same file but for its source line.
        let source = text
            .lines()
            .nth(2)
            .and_then(|line| line.trim().strip_prefix("Source: "))
            .and_then(|line| line.strip_suffix(" -->"))
            .unwrap();
        assert_eq!(to_xml(&slice, source), text);
    }

    #[test]
    fn an_altered_csdl_reports_what_changed_and_whether_it_breaks() {
        let old = slice(&committed()).unwrap();
        let altered = committed()
            .replace(
                "<Property Name=\"componentName\" Type=\"Edm.String\" />\n",
                "",
            )
            .replace(
                "<Property Name=\"category\" Type=\"Edm.String\" />",
                "<Property Name=\"category\" Type=\"Edm.Int32\" />",
            )
            .replace(
                "<Property Name=\"newValue\" Type=\"Edm.String\" />",
                "<Property Name=\"newValue\" Type=\"Edm.String\" />\n        <Property Name=\"riskLevel\" Type=\"Edm.String\" />",
            )
            .replace(
                "<Property Name=\"correlationId\" Type=\"Edm.Guid\" Nullable=\"false\" />",
                "<Property Name=\"correlationId\" Type=\"Edm.Guid\" />",
            )
            .replace(
                "<Function Name=\"getAuditCategories\" IsBound=\"true\">",
                "<Function Name=\"getAuditCategoriesRenamed\" IsBound=\"true\">",
            );
        let text = report(&old, &slice(&altered).unwrap());
        for line in [
            "breaking: removed property auditEvent.componentName",
            "breaking: retyped property auditEvent.category: Edm.String -> Edm.Int32",
            "breaking: property auditEvent.correlationId is now nullable",
            "breaking: removed function getAuditCategories()",
            "compatible: added property auditProperty.riskLevel: Edm.String",
            "compatible: added function getAuditCategoriesRenamed()",
        ] {
            assert!(text.contains(line), "{line}:\n{text}");
        }
        assert!(
            text.starts_with("the audit events slice changed: 4 breaking, 2 compatible"),
            "{text}"
        );
        assert_eq!(report(&old, &old), "the audit events slice is unchanged");
    }

    #[test]
    fn an_enumeration_a_required_property_and_overloads_are_read_and_judged() {
        let old = slice(&committed()).unwrap();
        let altered = committed()
            .replace(
                "<Property Name=\"displayName\" Type=\"Edm.String\" />\n        <Property Name=\"id\"",
                "<Property Name=\"displayName\" Type=\"Edm.String\" />\n        <Property Name=\"severity\" Type=\"graph.auditSeverity\" Nullable=\"false\" />\n        <Property Name=\"id\"",
            )
            .replace(
                "    </Schema>",
                "      <EnumType Name=\"auditSeverity\">\n        <Member Name=\"low\" Value=\"0\" />\n      </EnumType>\n      <Function Name=\"getAuditCategories\" IsBound=\"true\">\n        <Parameter Name=\"bindingParameter\" Type=\"Collection(graph.auditEvent)\" />\n        <Parameter Name=\"since\" Type=\"Edm.DateTimeOffset\" />\n        <ReturnType Type=\"Collection(Edm.String)\" />\n      </Function>\n    </Schema>",
            );
        let new = slice(&altered).unwrap();
        assert_eq!(new.types["auditSeverity"].kind, "EnumType");
        let text = report(&old, &new);
        for line in [
            "breaking: added property auditEvent.severity: graph.auditSeverity (not nullable)",
            "compatible: added type auditSeverity",
            "compatible: added function getAuditCategories(since)",
        ] {
            assert!(text.contains(line), "{line}:\n{text}");
        }
        assert!(
            !text.contains("removed function"),
            "an overload is not a change: {text}"
        );
    }

    #[test]
    fn a_file_without_the_audit_types_is_refused_with_the_reason() {
        for (text, reason) in [
            ("not xml <", "not XML"),
            ("<a/>", "no Schema of namespace microsoft.graph"),
            (
                "<Schema Namespace=\"microsoft.graph\"><EntityType Name=\"other\"/></Schema>",
                "no type auditEvent",
            ),
        ] {
            let error = format!("{:#}", slice(text).unwrap_err());
            assert!(error.contains(reason), "{text}: {error}");
        }
    }
}
