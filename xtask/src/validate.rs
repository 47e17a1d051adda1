//! Refuses specs the generator cannot handle, with a message naming the problem, before
//! progenitor gets a chance to panic on them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every problem found, one line each; empty when the spec is usable.
pub fn problems(spec: &Value) -> Vec<String> {
    let mut found = Vec::new();
    match spec.get("openapi").and_then(Value::as_str) {
        Some(version) if version.starts_with("3.0.") => {}
        Some(version) => found.push(format!(
            "`openapi: {version}` is not supported: the generator reads OpenAPI 3.0.x only"
        )),
        None => found.push("no `openapi` version field: not an OpenAPI 3.0.x document".into()),
    }

    let mut seen_ids: BTreeMap<String, String> = BTreeMap::new();
    let paths = spec.get("paths").and_then(Value::as_object);
    for (path, item) in paths.into_iter().flatten() {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let at = format!("{} {path}", method.to_uppercase());
            match operation.get("operationId").and_then(Value::as_str) {
                None | Some("") => found.push(format!("{at}: missing operationId")),
                Some(id) => {
                    if let Some(first) = seen_ids.insert(id.to_owned(), at.clone()) {
                        found.push(format!(
                            "{at}: duplicate operationId `{id}` (also on {first})"
                        ));
                    }
                }
            }
            found.extend(
                body_type_problems(spec, operation)
                    .into_iter()
                    .map(|p| format!("{at}: {p}")),
            );
        }
    }
    found
}

/// progenitor accepts one success body type and one error body type per operation; a
/// `default` response counts as both.
fn body_type_problems(spec: &Value, operation: &Value) -> Vec<String> {
    let mut success: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut error: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let responses = operation.get("responses").and_then(Value::as_object);
    for (status, response) in responses.into_iter().flatten() {
        let response = resolve(spec, response);
        let bodies = body_types(response);
        let class = status.chars().next();
        let targets: &mut [&mut BTreeMap<String, Vec<String>>] = match (status.as_str(), class) {
            ("default", _) => &mut [&mut success, &mut error],
            (_, Some('1' | '2' | '3')) => &mut [&mut success],
            (_, Some('4' | '5')) => &mut [&mut error],
            _ => continue,
        };
        for map in targets.iter_mut() {
            for body in &bodies {
                map.entry(body.clone()).or_default().push(status.clone());
            }
        }
    }
    let mut found = Vec::new();
    for (kind, map) in [("success", success), ("error", error)] {
        if map.len() > 1 {
            let listed: Vec<String> = map
                .iter()
                .map(|(body, statuses)| format!("{} → {body}", statuses.join("/")))
                .collect();
            found.push(format!(
                "more than one {kind} body type ({}); the generator accepts one success and one \
                 error type per operation: declare one schema (a oneOf if need be)",
                listed.join(", ")
            ));
        }
    }
    found
}

fn body_types(response: &Value) -> BTreeSet<String> {
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return BTreeSet::from(["no body".to_owned()]);
    };
    if content.is_empty() {
        return BTreeSet::from(["no body".to_owned()]);
    }
    content
        .iter()
        .map(|(media, entry)| match entry.get("schema") {
            Some(schema) => match schema.get("$ref").and_then(Value::as_str) {
                Some(reference) => format!("{media} {reference}"),
                None => format!("{media} {schema}"),
            },
            None => format!("{media} (no schema)"),
        })
        .collect()
}

fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
        return value;
    };
    let Some(pointer) = reference.strip_prefix('#') else {
        return value;
    };
    spec.pointer(pointer).unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec_with(operation: Value) -> Value {
        json!({"openapi": "3.0.3", "paths": {"/things": {"get": operation}}})
    }

    #[test]
    fn accepts_one_success_and_one_error_type() {
        let spec = spec_with(json!({
            "operationId": "listThings",
            "responses": {
                "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}},
                "4XX": {"$ref": "#/components/responses/error"},
                "5XX": {"$ref": "#/components/responses/error"}
            }
        }));
        assert_eq!(problems(&spec), Vec::<String>::new());
    }

    #[test]
    fn refuses_openapi_3_1() {
        let spec = json!({"openapi": "3.1.0", "paths": {}});
        assert_eq!(
            problems(&spec),
            ["`openapi: 3.1.0` is not supported: the generator reads OpenAPI 3.0.x only"]
        );
    }

    #[test]
    fn refuses_swagger_2() {
        let spec = json!({"swagger": "2.0", "paths": {}});
        assert_eq!(
            problems(&spec),
            ["no `openapi` version field: not an OpenAPI 3.0.x document"]
        );
    }

    #[test]
    fn refuses_missing_operation_id() {
        let spec = spec_with(json!({"responses": {"204": {"description": "ok"}}}));
        assert_eq!(problems(&spec), ["GET /things: missing operationId"]);
    }

    #[test]
    fn refuses_duplicate_operation_id() {
        let spec = json!({"openapi": "3.0.3", "paths": {
            "/a": {"get": {"operationId": "same", "responses": {}}},
            "/b": {"post": {"operationId": "same", "responses": {}}}
        }});
        assert_eq!(
            problems(&spec),
            ["POST /b: duplicate operationId `same` (also on GET /a)"]
        );
    }

    #[test]
    fn refuses_two_success_types_including_an_empty_one() {
        let spec = spec_with(json!({
            "operationId": "updateThing",
            "responses": {
                "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}},
                "204": {"description": "no content"}
            }
        }));
        let found = problems(&spec);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("GET /things: more than one success body type (200 → "),
            "{}",
            found[0]
        );
        assert!(found[0].contains("204 → no body"), "{}", found[0]);
    }

    #[test]
    fn refuses_two_error_types_and_counts_default_as_both() {
        let spec = spec_with(json!({
            "operationId": "postThing",
            "responses": {
                "201": {"content": {"application/json": {"schema": {"type": "string"}}}},
                "400": {"content": {"application/json": {"schema": {"type": "string"}}}},
                "default": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/E"}}}}
            }
        }));
        let found = problems(&spec);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("more than one success body type"));
        assert!(found[1].contains("more than one error body type"));
    }

    #[test]
    fn resolves_response_references_before_comparing() {
        let spec = json!({
            "openapi": "3.0.3",
            "paths": {"/things": {"get": {
                "operationId": "getThing",
                "responses": {
                    "4XX": {"$ref": "#/components/responses/error"},
                    "5XX": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Other"}}}}
                }
            }}},
            "components": {"responses": {"error": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}
            }}}}}
        });
        let found = problems(&spec);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("#/components/schemas/Error"),
            "{}",
            found[0]
        );
        assert!(
            found[0].contains("#/components/schemas/Other"),
            "{}",
            found[0]
        );
    }
}
