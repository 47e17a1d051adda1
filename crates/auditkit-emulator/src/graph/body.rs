//! What a create or update body may hold beyond what decodes: `null` only where the spec
//! allows it, read from the generated property table (`nullable` in the spec).

use auditkit_graph::properties::{EdmType, Model};
use serde_json::{Map, Value};

/// The path (`id`, `resources/0`, `resources/0/modifiedProperties`) of the first `null` the
/// spec does not allow in `object`, a body of `model`. A nested object's own nullability
/// cannot be written in the spec (OpenAPI 3.0 ignores `nullable` beside a `$ref`), so a
/// nested object may be `null`; its properties follow their own rule. Unknown properties are
/// the client's business: Graph types allow additional properties.
pub fn disallowed_null(model: &'static Model, object: &Map<String, Value>) -> Option<String> {
    object.iter().find_map(|(key, value)| {
        let property = model.property(key)?;
        let nested = |value: &Value, path: String| match (property.edm_type, value) {
            (EdmType::Complex(inner), Value::Object(object)) => {
                disallowed_null(inner, object).map(|below| format!("{path}/{below}"))
            }
            _ => None,
        };
        match value {
            Value::Null if property.nullable || (property.is_object() && !property.collection) => {
                None
            }
            Value::Null => Some(key.clone()),
            Value::Array(items) if property.collection => {
                items.iter().enumerate().find_map(|(n, item)| match item {
                    Value::Null => Some(format!("{key}/{n}")),
                    item => nested(item, format!("{key}/{n}")),
                })
            }
            value => nested(value, key.clone()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditkit_graph::properties::AUDIT_EVENT;
    use serde_json::json;

    fn null_in(body: Value) -> Option<String> {
        disallowed_null(&AUDIT_EVENT, body.as_object().unwrap())
    }

    #[test]
    fn null_is_refused_where_the_spec_does_not_allow_it_at_any_depth() {
        for (body, path) in [
            (json!({"id": null}), "id"),
            (json!({"activityDateTime": null}), "activityDateTime"),
            (json!({"correlationId": null}), "correlationId"),
            (json!({"resources": null}), "resources"),
            (json!({"resources": [null]}), "resources/0"),
            (
                json!({"resources": [{"modifiedProperties": [{"displayName": "x"}, null]}]}),
                "resources/0/modifiedProperties/1",
            ),
        ] {
            assert_eq!(null_in(body.clone()).as_deref(), Some(path), "{body}");
        }
    }

    #[test]
    fn null_stays_allowed_where_the_spec_allows_it() {
        for body in [
            json!({"displayName": null, "category": null, "activity": null}),
            json!({"actor": null}),
            json!({"actor": {"userPrincipalName": null}}),
            json!({"resources": [{"displayName": null, "modifiedProperties": []}]}),
            json!({"somethingNewer": null}),
        ] {
            assert_eq!(null_in(body.clone()), None, "{body}");
        }
    }
}
