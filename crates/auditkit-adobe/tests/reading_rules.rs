//! `null` for a collection reads as empty, for every collection property the spec declares
//! (so a new one is covered without a new test), and what the models write is unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use auditkit_adobe::Timestamp;
use auditkit_adobe::types::{AuditEvent, ErrorResponse, Resource, Service};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn through<T: DeserializeOwned + serde::Serialize>(value: &Value) -> Result<Value, String> {
    let bytes = serde_json::to_vec(value).unwrap();
    serde_json::from_slice::<T>(&bytes)
        .map(|model| serde_json::to_value(model).unwrap())
        .map_err(|err| err.to_string())
}

type Through = fn(&Value) -> Result<Value, String>;

fn event() -> Value {
    json!({
        "action": "create",
        "imsOrgId": "org@AdobeOrg",
        "resource": {"resourceId": "r"},
        "service": {"serviceId": "s"},
        "source": "azure",
        "timestamp": "2017-10-31T00:02:04.232Z",
        "userIdentifier": "u",
    })
}

/// Every object schema of the spec: its model and the smallest valid instance.
fn models() -> Vec<(&'static str, Through, Value)> {
    vec![
        ("auditevent", through::<AuditEvent>, event()),
        ("resource", through::<Resource>, json!({"resourceId": "r"})),
        ("service", through::<Service>, json!({"serviceId": "s"})),
        ("ErrorResponse", through::<ErrorResponse>, json!({})),
    ]
}

fn object_schemas() -> Vec<(String, serde_json::Map<String, Value>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/adobe-audit-service.yaml"
    );
    let spec: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    spec["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, schema)| {
            let properties = schema.get("properties")?.as_object()?.clone();
            Some((name.clone(), properties))
        })
        .collect()
}

fn with(base: &Value, property: &str, value: Value) -> Value {
    let mut object = base.clone();
    object[property] = value;
    object
}

#[test]
fn every_collection_property_reads_null_as_empty_and_drops_null_entries() {
    let models = models();
    let mut checked = Vec::new();
    for (schema, properties) in object_schemas() {
        let Some((_, decode, base)) = models.iter().find(|(name, ..)| *name == schema) else {
            panic!("add {schema} to models() in this file");
        };
        for (property, declared) in &properties {
            let at = format!("{schema}.{property}");
            let (holed, clean) = match declared["type"].as_str() {
                Some("array") => (json!([null, "x", null]), json!(["x"])),
                Some("object") if declared.get("additionalProperties").is_some() => {
                    (json!({"a": null, "b": "x"}), json!({"b": "x"}))
                }
                _ => continue,
            };
            let absent = decode(base).unwrap();
            assert_eq!(
                decode(&with(base, property, Value::Null)),
                Ok(absent),
                "{at}"
            );
            let decoded =
                decode(&with(base, property, holed)).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(
                decoded,
                decode(&with(base, property, clean.clone())).unwrap(),
                "{at}"
            );
            assert_eq!(decoded[property], clean, "{at}");
            assert!(decode(&with(base, property, json!("x"))).is_err(), "{at}");
            checked.push(at);
        }
    }
    // The one map today; a new collection is checked without touching this test.
    assert!(
        checked.iter().any(|at| at == "auditevent.tags"),
        "{checked:?}"
    );
}

#[test]
fn an_event_with_null_tags_decodes() {
    let mut body = event();
    body["tags"] = Value::Null;
    let event: AuditEvent = serde_json::from_value(body).unwrap();
    assert!(event.tags.is_empty());
    assert_eq!(event.user_identifier, "u");
}

#[test]
fn what_the_models_write_is_unchanged() {
    let mut event = AuditEvent {
        action: "create".into(),
        ims_org_id: "org@AdobeOrg".into(),
        resource: Resource {
            resource_id: "r".into(),
        },
        service: Service {
            service_id: "s".into(),
        },
        source: "azure".into(),
        tags: BTreeMap::new(),
        timestamp: "2017-10-31T00:02:04.232Z".parse::<Timestamp>().unwrap(),
        user_identifier: "u".into(),
    };
    let without_tags = concat!(
        r#"{"action":"create","imsOrgId":"org@AdobeOrg","resource":{"resourceId":"r"},"#,
        r#""service":{"serviceId":"s"},"source":"azure","timestamp":"2017-10-31T00:02:04.232Z","#,
        r#""userIdentifier":"u"}"#
    );
    assert_eq!(serde_json::to_string(&event).unwrap(), without_tags);
    event.tags.insert("env".into(), "prod".into());
    assert!(
        serde_json::to_string(&event)
            .unwrap()
            .contains(r#""source":"azure","tags":{"env":"prod"},"timestamp""#)
    );
}
