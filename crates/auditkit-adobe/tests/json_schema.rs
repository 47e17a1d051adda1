//! With the `json-schema` feature every model implements `schemars::JsonSchema`, named and
//! shaped as in the spec, the hand-written `Timestamp` included.
#![cfg(feature = "json-schema")]
#![allow(clippy::unwrap_used)]

use auditkit_adobe::types::AuditEvent;

#[test]
fn the_audit_event_schema_requires_what_the_service_requires() {
    let schema = serde_json::to_value(schemars::schema_for!(AuditEvent)).unwrap();
    let required = schema["required"].as_array().unwrap();
    for field in [
        "action",
        "imsOrgId",
        "source",
        "timestamp",
        "userIdentifier",
    ] {
        assert!(required.iter().any(|r| r == field), "{field}: {schema}");
    }
    assert_eq!(
        schema["properties"]["timestamp"]["allOf"][0]["$ref"],
        "#/definitions/Timestamp"
    );
    assert_eq!(schema["definitions"]["Timestamp"]["format"], "date-time");
}
