//! With the `json-schema` feature every model implements `schemars::JsonSchema`, named and
//! shaped as in the spec.
#![cfg(feature = "json-schema")]
#![allow(clippy::unwrap_used)]

use auditkit_graph::types::AuditEvent;

#[test]
fn the_audit_event_schema_has_the_spec_properties() {
    let schema = serde_json::to_value(schemars::schema_for!(AuditEvent)).unwrap();
    let properties = &schema["properties"];
    assert_eq!(properties["activityDateTime"]["format"], "date-time");
    assert_eq!(properties["correlationId"]["format"], "uuid");
    assert!(properties["actor"].is_object(), "{schema}");
    assert!(
        schema["definitions"]["AuditResource"].is_object(),
        "{schema}"
    );
}
