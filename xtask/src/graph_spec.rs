//! Whether `openapi/graph-audit-events.yaml` says what Microsoft's description says: every
//! type, property and function of the committed CSDL slice is in the spec with the same
//! OpenAPI type, format and nullability, and every property of those schemas that the slice
//! does not have is one the spec marks as its own (`@odata.type`, or "Beta only").
//!
//! The spec is still written by hand; this check is what ties it to the vendor's description
//! until it is derived from the slice. `cargo xtask import-graph --check` runs it, and so does
//! an xtask test in CI.

use serde_json::Value;

use crate::csdl::{Property, Slice};

/// The OpenAPI `type` and `format` of an Edm type, or `None` for a type the spec refers to.
fn openapi_scalar(edm: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match edm {
        "Edm.String" => ("string", None),
        "Edm.DateTimeOffset" => ("string", Some("date-time")),
        "Edm.Guid" => ("string", Some("uuid")),
        "Edm.Int32" => ("integer", Some("int32")),
        "Edm.Int64" => ("integer", Some("int64")),
        "Edm.Boolean" => ("boolean", None),
        "Edm.Double" => ("number", Some("double")),
        _ => return None,
    })
}

/// Where the spec's `schema` for one value disagrees with the Edm type `edm` (with its
/// nullability when `nullable` is given: collections and references cannot say it).
fn value_disagreement(schema: &Value, edm: &str, nullable: Option<bool>) -> Option<String> {
    if let Some(inner) = edm
        .strip_prefix("Collection(")
        .and_then(|t| t.strip_suffix(')'))
    {
        if schema["type"] != "array" {
            return Some(format!(
                "is {}, Microsoft's is a collection",
                describe(schema)
            ));
        }
        return value_disagreement(&schema["items"], inner, None).map(|why| format!("items {why}"));
    }
    if let Some(local) = edm.strip_prefix("graph.") {
        let wanted = format!("#/components/schemas/microsoft.graph.{local}");
        return (schema["$ref"] != wanted.as_str())
            .then(|| format!("is {}, Microsoft's is {wanted}", describe(schema)));
    }
    let Some((ty, format)) = openapi_scalar(edm) else {
        return Some(format!(
            "has the Edm type {edm}, which this check does not know"
        ));
    };
    if schema["type"] != ty || schema.get("format").and_then(Value::as_str) != format {
        return Some(format!("is {}, Microsoft's is {edm}", describe(schema)));
    }
    let declared = schema.get("nullable") == Some(&Value::Bool(true));
    match nullable {
        Some(true) if !declared => Some("is not nullable; Microsoft's is".into()),
        Some(false) if declared => Some("is nullable; Microsoft's is not".into()),
        _ => None,
    }
}

fn describe(schema: &Value) -> String {
    match (schema.get("$ref"), schema.get("type"), schema.get("format")) {
        (Some(reference), _, _) => reference.to_string(),
        (None, Some(ty), Some(format)) => format!("{ty} ({format})"),
        (None, Some(ty), None) => ty.to_string(),
        _ => schema.to_string(),
    }
}

/// Where `spec` (the Graph spec, parsed) departs from `slice` without saying so.
pub fn disagreements(slice: &Slice, spec: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (name, ty) in &slice.types {
        let schema_name = format!("microsoft.graph.{name}");
        let Some(schema) = spec.pointer(&format!("/components/schemas/{schema_name}")) else {
            found.push(format!(
                "{schema_name}: Microsoft's type is not in the spec"
            ));
            continue;
        };
        let properties = schema["properties"].as_object();
        for (property, Property { ty: edm, nullable }) in &ty.properties {
            match properties.and_then(|p| p.get(property)) {
                None => found.push(format!(
                    "{schema_name}.{property}: Microsoft's property is not in the spec"
                )),
                Some(declared) => {
                    if let Some(why) = value_disagreement(declared, edm, Some(*nullable)) {
                        found.push(format!("{schema_name}.{property} {why}"));
                    }
                }
            }
        }
        for (property, declared) in properties.into_iter().flatten() {
            let own = property == "@odata.type"
                || declared["description"]
                    .as_str()
                    .is_some_and(|text| text.contains("Beta only"));
            if !ty.properties.contains_key(property) && !own {
                found.push(format!(
                    "{schema_name}.{property}: not in Microsoft's description, and the spec does not say it is beta only"
                ));
            }
        }
    }
    let paths = spec["paths"].as_object();
    let has_path = |path: &str| paths.is_some_and(|p| p.contains_key(path));
    if slice.entity_set.is_some() {
        for path in [
            "/deviceManagement/auditEvents",
            "/deviceManagement/auditEvents/{auditEvent-id}",
        ] {
            if !has_path(path) {
                found.push(format!(
                    "{path}: Microsoft's entity set has no such path in the spec"
                ));
            }
        }
    }
    for (key, function) in &slice.functions {
        let name = key.split('(').next().unwrap_or(key);
        let arguments: Vec<String> = function
            .parameters
            .iter()
            .map(|(parameter, _)| format!("{parameter}='{{{parameter}}}'"))
            .collect();
        let path = format!(
            "/deviceManagement/auditEvents/microsoft.graph.{name}({})",
            arguments.join(",")
        );
        if !has_path(&path) {
            found.push(format!(
                "{path}: Microsoft's function {key} is not in the spec"
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed() -> (Slice, String) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let slice = std::fs::read_to_string(root.join(crate::csdl::SLICE)).unwrap();
        let spec = std::fs::read_to_string(root.join("openapi/graph-audit-events.yaml")).unwrap();
        (crate::csdl::slice(&slice).unwrap(), spec)
    }

    fn check(spec: &str) -> Vec<String> {
        let (slice, _) = committed();
        disagreements(&slice, &serde_yaml_ng::from_str(spec).unwrap())
    }

    /// CI's check: the hand-written spec says what Microsoft's slice says.
    #[test]
    fn the_committed_spec_agrees_with_microsofts_description() {
        let (_, spec) = committed();
        assert_eq!(check(&spec), Vec::<String>::new());
    }

    #[test]
    fn a_spec_that_departs_from_the_slice_unsaid_is_caught() {
        let (_, spec) = committed();
        let component =
            "        componentName:\n          type: string\n          nullable: true\n";
        assert!(spec.contains(component));
        for (altered, expected) in [
            (
                spec.replacen(component, "", 1),
                "microsoft.graph.auditEvent.componentName: Microsoft's property is not in the spec",
            ),
            (
                spec.replacen(
                    component,
                    "        componentName:\n          type: integer\n          nullable: true\n",
                    1,
                ),
                "microsoft.graph.auditEvent.componentName is \"integer\", Microsoft's is Edm.String",
            ),
            (
                spec.replacen(
                    component,
                    "        componentName:\n          type: string\n",
                    1,
                ),
                "microsoft.graph.auditEvent.componentName is not nullable; Microsoft's is",
            ),
            (
                spec.replacen(
                    component,
                    &format!("{component}        riskLevel:\n          type: string\n"),
                    1,
                ),
                "microsoft.graph.auditEvent.riskLevel: not in Microsoft's description",
            ),
            (
                spec.replace(
                    "/deviceManagement/auditEvents/microsoft.graph.getAuditCategories():",
                    "/deviceManagement/auditEvents/getAuditCategories():",
                ),
                "microsoft.graph.getAuditCategories(): Microsoft's function getAuditCategories() is not in the spec",
            ),
        ] {
            let found = check(&altered);
            assert!(
                found.iter().any(|line| line.contains(expected)),
                "{expected}: {found:?}"
            );
        }
    }
}
