//! What services really send beyond the spec, and that one odd value never costs a page:
//! `null` for a collection (and `null` items in it), times without an offset. Each rule is
//! checked against every property of its kind that the spec declares, so a property added to
//! the spec is covered without a new test. And what the models write stays as it was.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditkit_graph::types::{
    AuditActor, AuditEvent, AuditEventCollectionResponse, AuditProperty, AuditResource,
    ErrorDetails, InnerError, MainError, ODataError, RoleScopeTagInfo, StringCollectionResponse,
};
use chrono::{TimeZone, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Decodes the bytes of `value` as `T` and writes it back: what a reader of the model sees.
fn through<T: DeserializeOwned + serde::Serialize>(value: &Value) -> Result<Value, String> {
    let bytes = serde_json::to_vec(value).unwrap();
    serde_json::from_slice::<T>(&bytes)
        .map(|model| serde_json::to_value(model).unwrap())
        .map_err(|err| err.to_string())
}

type Through = fn(&Value) -> Result<Value, String>;

/// Every object schema of the spec: its model and the smallest valid instance.
fn models() -> Vec<(&'static str, Through, Value)> {
    vec![
        (
            "microsoft.graph.auditEvent",
            through::<AuditEvent>,
            json!({}),
        ),
        (
            "microsoft.graph.auditActor",
            through::<AuditActor>,
            json!({}),
        ),
        (
            "microsoft.graph.auditResource",
            through::<AuditResource>,
            json!({}),
        ),
        (
            "microsoft.graph.auditProperty",
            through::<AuditProperty>,
            json!({}),
        ),
        (
            "microsoft.graph.roleScopeTagInfo",
            through::<RoleScopeTagInfo>,
            json!({}),
        ),
        (
            "microsoft.graph.auditEventCollectionResponse",
            through::<AuditEventCollectionResponse>,
            json!({}),
        ),
        (
            "StringCollectionResponse",
            through::<StringCollectionResponse>,
            json!({}),
        ),
        (
            "microsoft.graph.ODataErrors.ODataError",
            through::<ODataError>,
            json!({"error": {"code": "c", "message": "m"}}),
        ),
        (
            "microsoft.graph.ODataErrors.MainError",
            through::<MainError>,
            json!({"code": "c", "message": "m"}),
        ),
        (
            "microsoft.graph.ODataErrors.ErrorDetails",
            through::<ErrorDetails>,
            json!({"code": "c", "message": "m"}),
        ),
        (
            "microsoft.graph.ODataErrors.InnerError",
            through::<InnerError>,
            json!({}),
        ),
    ]
}

fn spec() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/graph-audit-events.yaml"
    );
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (schema name, its properties) for every object schema with properties.
fn object_schemas(spec: &Value) -> Vec<(String, serde_json::Map<String, Value>)> {
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

/// A valid non-null item for a list whose items have this schema.
fn sample_item(items: &Value, models: &[(&str, Through, Value)]) -> Value {
    match items.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            models.iter().find(|(n, ..)| *n == name).unwrap().2.clone()
        }
        None => match items["type"].as_str() {
            Some("string") => json!("x"),
            Some("integer") => json!(1),
            other => panic!("no sample item for {other:?}"),
        },
    }
}

#[test]
fn every_model_of_the_spec_is_listed_here() {
    let models = models();
    for (schema, _) in object_schemas(&spec()) {
        assert!(
            models.iter().any(|(name, ..)| *name == schema),
            "add {schema} to models() in this file"
        );
    }
}

#[test]
fn every_collection_property_reads_null_as_empty_and_drops_null_items() {
    let models = models();
    let mut checked = Vec::new();
    for (schema, properties) in object_schemas(&spec()) {
        let (_, decode, base) = models.iter().find(|(name, ..)| *name == schema).unwrap();
        for (property, declared) in &properties {
            if declared["type"] != "array" {
                continue;
            }
            let at = format!("{schema}.{property}");
            let absent = decode(base).unwrap();

            let null = decode(&with(base, property, Value::Null));
            assert_eq!(null.as_ref(), Ok(&absent), "{at}: null");

            let item = sample_item(&declared["items"], &models);
            let holed = json!([null, item.clone(), null]);
            let decoded =
                decode(&with(base, property, holed)).unwrap_or_else(|e| panic!("{at}: {e}"));
            let clean = decode(&with(base, property, json!([item]))).unwrap();
            assert_eq!(decoded, clean, "{at}: null items");
            assert_eq!(decoded[property].as_array().map(Vec::len), Some(1), "{at}");

            // What is not a list stays an error: the rule is about null, not any shape.
            assert!(decode(&with(base, property, json!("x"))).is_err(), "{at}");
            checked.push(at);
        }
    }
    // The spec's seven lists today; a new one is checked without touching this test.
    assert!(checked.len() >= 7, "{checked:?}");
}

#[test]
fn every_date_time_property_reads_a_time_without_offset_as_utc() {
    let models = models();
    let mut checked = 0;
    for (schema, properties) in object_schemas(&spec()) {
        let (_, decode, base) = models.iter().find(|(name, ..)| *name == schema).unwrap();
        for (property, declared) in &properties {
            if declared["format"] != "date-time" {
                continue;
            }
            let at = format!("{schema}.{property}");
            let utc = decode(&with(base, property, json!("2024-05-06T07:08:09.1234567Z"))).unwrap();
            for text in [
                "2024-05-06T07:08:09.1234567",
                "2024-05-06T09:08:09.1234567+02:00",
            ] {
                let read = decode(&with(base, property, json!(text)));
                assert_eq!(read.as_ref(), Ok(&utc), "{at}: {text}");
            }
            assert_eq!(
                decode(&with(base, property, Value::Null)),
                decode(base),
                "{at}"
            );
            assert!(
                decode(&with(base, property, json!("06/05/2024"))).is_err(),
                "{at}"
            );
            assert!(decode(&with(base, property, json!(""))).is_err(), "{at}");
            checked += 1;
        }
    }
    assert!(checked >= 1);
}

#[test]
fn a_page_where_one_event_has_null_resources_decodes_every_event() {
    let page = br#"{
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/auditEvents",
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/deviceManagement/auditEvents?$skiptoken=2",
        "value": [
            {"id": "1", "resources": [{"resourceId": "r1", "modifiedProperties": []}]},
            {"id": "2", "resources": null, "actor": {"userPermissions": null, "userRoleScopeTags": null}},
            {"id": "3", "resources": [{"resourceId": "r3", "modifiedProperties": null}]}
        ]
    }"#;
    let page: AuditEventCollectionResponse = serde_json::from_slice(page).unwrap();
    let ids: Vec<_> = page
        .value
        .iter()
        .map(|e| e.id.as_deref().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert!(page.value[1].resources.is_empty());
    assert!(
        page.value[1]
            .actor
            .as_ref()
            .unwrap()
            .user_permissions
            .is_empty()
    );
    assert_eq!(
        page.value[2].resources[0].resource_id.as_deref(),
        Some("r3")
    );
    assert!(page.value[2].resources[0].modified_properties.is_empty());
    assert!(page.odata_next_link.unwrap().ends_with("$skiptoken=2"));
}

#[test]
fn a_last_page_with_null_value_and_null_next_link_is_an_empty_last_page() {
    let page: AuditEventCollectionResponse =
        serde_json::from_str(r#"{"value": null, "@odata.nextLink": null, "@odata.count": null}"#)
            .unwrap();
    assert_eq!(page, AuditEventCollectionResponse::default());
    let strings: StringCollectionResponse =
        serde_json::from_str(r#"{"value": ["Application", null, "Device"]}"#).unwrap();
    assert_eq!(strings.value, ["Application", "Device"]);
}

#[test]
fn times_read_as_graph_writes_them() {
    let at = |text: &str| {
        serde_json::from_value::<AuditEvent>(json!({ "activityDateTime": text }))
            .map(|e| e.activity_date_time.unwrap())
    };
    let expected = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap()
        + chrono::Duration::nanoseconds(123_456_700);
    assert_eq!(at("2024-05-06T07:08:09.1234567Z").unwrap(), expected);
    assert_eq!(at("2024-05-06T07:08:09.1234567").unwrap(), expected);
    // Microsoft's own pattern allows up to twelve fractional digits; past nine they are dropped.
    assert_eq!(at("2024-05-06T07:08:09.123456700000Z").unwrap(), expected);
    assert_eq!(
        at("2024-05-06T07:08:09Z").unwrap(),
        Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap()
    );
    let err = at("2024-13-06T07:08:09Z").unwrap_err().to_string();
    assert!(err.starts_with("not an RFC 3339 date-time"), "{err}");
    let err = serde_json::from_value::<AuditEvent>(json!({ "activityDateTime": 5 })).unwrap_err();
    assert!(
        err.to_string().contains("an RFC 3339 date-time or null"),
        "{err}"
    );
}

#[test]
fn values_outside_any_list_are_kept_as_sent() {
    // Every enum-like property is a string in the spec: a value added by Microsoft tomorrow
    // decodes as it is.
    let event: AuditEvent = serde_json::from_value(json!({
        "activityResult": "PartialSuccessNew",
        "activityOperationType": "Merge",
        "actor": {"auditActorType": "SomethingNew", "type": "x"},
        "category": "NotYetAKnownCategory",
    }))
    .unwrap();
    assert_eq!(event.activity_result.as_deref(), Some("PartialSuccessNew"));
    assert_eq!(
        event.actor.unwrap().audit_actor_type.as_deref(),
        Some("SomethingNew")
    );
}

#[test]
fn shapes_not_tolerated_stay_errors() {
    // Each is listed in openapi/README.md with why it is not tolerated.
    assert!(
        serde_json::from_str::<AuditEventCollectionResponse>(r#"{"@odata.count": "12"}"#).is_err()
    );
    assert!(serde_json::from_str::<AuditEvent>(r#"{"displayName": 12}"#).is_err());
    assert!(serde_json::from_str::<AuditEvent>(r#"{"correlationId": ""}"#).is_err());
    assert!(serde_json::from_str::<AuditEvent>(r#"{"resources": {}}"#).is_err());
}

#[test]
fn what_the_models_write_is_unchanged() {
    let event = AuditEvent {
        id: Some("e1".into()),
        activity_date_time: Some(
            Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap()
                + chrono::Duration::nanoseconds(123_456_700),
        ),
        actor: Some(AuditActor {
            user_permissions: vec!["*".into()],
            ..AuditActor::default()
        }),
        resources: vec![AuditResource {
            resource_id: Some("r1".into()),
            modified_properties: vec![AuditProperty {
                display_name: Some("Name".into()),
                new_value: Some("b".into()),
                old_value: Some("a".into()),
                ..AuditProperty::default()
            }],
            ..AuditResource::default()
        }],
        ..AuditEvent::default()
    };
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        concat!(
            r#"{"activityDateTime":"2024-05-06T07:08:09.123456700Z","actor":{"userPermissions":["*"]},"#,
            r#""id":"e1","resources":[{"#,
            r#""modifiedProperties":[{"displayName":"Name","newValue":"b","oldValue":"a"}],"resourceId":"r1"}]}"#
        )
    );
    // Empty collections and absent times are left out, as before.
    assert_eq!(serde_json::to_string(&AuditEvent::default()).unwrap(), "{}");
    assert_eq!(serde_json::to_string(&AuditActor::default()).unwrap(), "{}");
}

#[test]
fn a_hand_written_page_uses_the_same_rule() {
    // The shape of the facade's own page type for `@odata.nextLink` pages.
    #[derive(serde::Deserialize)]
    #[serde(bound(deserialize = "T: serde::Deserialize<'de>"))]
    struct Collection<T> {
        #[serde(default, deserialize_with = "auditkit_graph::lenient::vec")]
        value: Vec<T>,
        #[serde(rename = "@odata.nextLink")]
        next_link: Option<String>,
    }
    let page: Collection<AuditEvent> =
        serde_json::from_str(r#"{"value": null, "@odata.nextLink": null}"#).unwrap();
    assert!(page.value.is_empty() && page.next_link.is_none());
    let page: Collection<AuditEvent> =
        serde_json::from_str(r#"{"value": [null, {"id": "1", "resources": null}]}"#).unwrap();
    assert_eq!(page.value.len(), 1);
    let page: Collection<AuditEvent> = serde_json::from_str("{}").unwrap();
    assert!(page.value.is_empty());
}
