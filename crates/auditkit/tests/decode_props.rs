//! Property tests: no answer, however malformed, makes a decoder panic; and a few properties
//! with meaning (models round-trip, Adobe timestamps keep their one shape, unusable token
//! lifetimes are refused).
//!
//! The same entry point is fuzzed by `fuzz/` (nightly, outside the workspace and CI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use auditkit::adobe::{AdobeAuditEvent, Resource, Service, Timestamp};
use auditkit::fuzzing::{decode_everything, entra_token_lifetime, ims_token_lifetime};
use auditkit::graph::{AuditActor, AuditEvent, AuditProperty, AuditResource};
use chrono::{DateTime, Datelike, FixedOffset, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The shortest and longest lifetimes a token may claim (1 s, 7 days), as `auth::Token::new`
/// enforces them.
const MIN_LIFETIME_SECS: f64 = 1.0;
const MAX_LIFETIME_SECS: f64 = 7.0 * 24.0 * 3600.0;
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years RFC 3339 writes in four digits.
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Statuses the decoders branch on, plus anything.
fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => prop::sample::select(vec![
            200u16, 201, 202, 204, 206, 301, 304, 400, 401, 403, 404, 409, 429, 500, 502, 503,
            504,
        ]),
        1 => any::<u16>(),
    ]
}

/// Keys the decoders look for, plus noise.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "value", "@odata.nextLink", "@odata.count", "id", "activityDateTime", "actor",
            "resources", "correlationId", "error", "code", "message", "details", "innerError",
            "access_token", "expires_in", "expires_on", "error_description", "reason",
            "timestamp", "tags", "resource", "service",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z@._-]{0,10}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // NaN and infinities become null through `From<f64>`.
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        // Strings that almost parse as what a field wants.
        prop::sample::select(vec![
            "",
            " ",
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "-0",
            "3600",
            " 3599 ",
            "0x10",
            "2017-10-31T00:02:04.232Z",
            "2017-10-31T00:02:04Z",
            "9999-12-31T23:59:60Z",
            "+275760-09-13T00:00:00Z",
            "00000000-0000-0000-0000-000000000000",
            "AADSTS",
            "AADSTS7000215: bad",
            "é",
        ])
        .prop_map(|text| Value::String(text.to_owned())),
    ]
}

/// Arbitrary JSON, at most four levels deep.
fn json_value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

/// An object holding some of `fields`, each with a random JSON value.
fn object_of(fields: &'static [&'static str]) -> impl Strategy<Value = Value> + Clone {
    prop::collection::vec(
        (prop::sample::select(fields), json_value()),
        0..=fields.len(),
    )
    .prop_map(|pairs| {
        Value::Object(
            pairs
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    })
}

/// Graph-shaped answers whose fields have random types: pages, single events, string pages,
/// OData errors; and Adobe's error and event shapes.
fn plausible_body() -> impl Strategy<Value = Value> {
    let event = object_of(&[
        "id",
        "activityDateTime",
        "actor",
        "resources",
        "correlationId",
        "displayName",
        "category",
        "activity",
        "@odata.type",
    ]);
    let page = (
        prop::collection::vec(event.clone(), 0..4),
        json_value(),
        json_value(),
    )
        .prop_map(|(events, next, count)| {
            json!({"value": events, "@odata.nextLink": next, "@odata.count": count})
        });
    let strings = (json_value(), json_value())
        .prop_map(|(value, next)| json!({"value": value, "@odata.nextLink": next}));
    let odata_error = object_of(&["code", "message", "details", "innerError", "target"])
        .prop_map(|main| json!({ "error": main }));
    let adobe_error = object_of(&["reason", "message"]);
    let adobe_event = object_of(&[
        "action",
        "imsOrgId",
        "resource",
        "service",
        "source",
        "tags",
        "timestamp",
        "userIdentifier",
    ]);
    prop_oneof![page, event, strings, odata_error, adobe_error, adobe_event]
}

/// `expires_in` values a token endpoint might send, sane or not.
fn expires_in() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-1e6f64..1e7).prop_map(Value::from),
        (1i64..=1_000_000).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            0.0f64,
            -0.0,
            -1.0,
            1e-300,
            f64::MIN_POSITIVE,
            MIN_LIFETIME_SECS,
            MIN_LIFETIME_SECS - 1e-9,
            999.0,
            1000.0,
            MAX_LIFETIME_SECS,
            MAX_LIFETIME_SECS + 1e-9,
            MAX_LIFETIME_SECS * 1000.0,
            MAX_LIFETIME_SECS * 1000.0 + 1.0,
            1e308,
            -1e308,
        ])
        .prop_map(Value::from),
        any::<i64>().prop_map(|n| Value::String(n.to_string())),
        any::<f64>().prop_map(|n| Value::String(format!(" {n} "))),
        prop::sample::select(vec![
            "NaN",
            "nan",
            "inf",
            "-inf",
            "infinity",
            "1e400",
            "-1e400",
            "3600",
            " 3600 ",
            "",
            "0",
            "-0",
            "604800",
            "604801",
            "1e3",
            "0x10",
            "99999999999999999999999999",
        ])
        .prop_map(|text| Value::String(text.to_owned())),
        leaf(),
    ]
}

/// Any time whose year RFC 3339 writes in four digits, to the nanosecond.
fn utc_time() -> impl Strategy<Value = DateTime<Utc>> {
    (MIN_SECS..=MAX_SECS, 0u32..1_000_000_000)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
}

fn opt_string() -> impl Strategy<Value = Option<String>> {
    prop::option::of(any::<String>())
}

fn graph_event() -> impl Strategy<Value = AuditEvent> {
    let actor = (
        opt_string(),
        opt_string(),
        opt_string(),
        opt_string(),
        prop::collection::vec(any::<String>(), 0..3),
    )
        .prop_map(|(upn, user_id, ip, app, permissions)| AuditActor {
            user_principal_name: upn,
            user_id,
            ip_address: ip,
            application_display_name: app,
            user_permissions: permissions,
            ..AuditActor::default()
        });
    let property =
        (opt_string(), opt_string(), opt_string()).prop_map(|(name, old, new)| AuditProperty {
            display_name: name,
            old_value: old,
            new_value: new,
            ..AuditProperty::default()
        });
    let resource = (
        opt_string(),
        opt_string(),
        prop::collection::vec(property, 0..3),
    )
        .prop_map(|(id, name, modified)| AuditResource {
            resource_id: id,
            display_name: name,
            modified_properties: modified,
            ..AuditResource::default()
        });
    (
        (opt_string(), opt_string(), opt_string(), opt_string()),
        (opt_string(), opt_string(), opt_string(), opt_string()),
        prop::option::of(utc_time()),
        prop::option::of(any::<u128>().prop_map(uuid::Uuid::from_u128)),
        prop::option::of(actor),
        prop::collection::vec(resource, 0..3),
    )
        .prop_map(
            |(
                (id, activity, activity_type, activity_result),
                (category, component, display_name, operation),
                when,
                correlation_id,
                actor,
                resources,
            )| AuditEvent {
                id,
                activity,
                activity_type,
                activity_result,
                category,
                component_name: component,
                display_name,
                activity_operation_type: operation,
                activity_date_time: when,
                correlation_id,
                actor,
                resources,
                ..AuditEvent::default()
            },
        )
}

fn adobe_event() -> impl Strategy<Value = AdobeAuditEvent> {
    (
        (any::<String>(), any::<String>(), any::<String>()),
        (any::<String>(), any::<String>(), any::<String>()),
        prop::collection::btree_map(any::<String>(), any::<String>(), 0..4),
        utc_time(),
    )
        .prop_map(
            |((action, org, source), (resource, service, user), tags, when): (
                _,
                _,
                BTreeMap<String, String>,
                _,
            )| AdobeAuditEvent {
                action,
                ims_org_id: org,
                resource: Resource {
                    resource_id: resource,
                },
                service: Service {
                    service_id: service,
                },
                source,
                tags,
                timestamp: Timestamp::from(when),
                user_identifier: user,
            },
        )
}

/// The collection properties of Graph's models (their `null` rule is checked property by
/// property in auditkit-graph's tests; here it meets whole pages).
const GRAPH_COLLECTIONS: &[&str] = &[
    "resources",
    "userPermissions",
    "userRoleScopeTags",
    "modifiedProperties",
];

/// Sends a page the way an odd service might: some absent collections as `null`, and `null`
/// items slipped into lists. `seed` drives the choices (xorshift), so a failure replays.
fn with_nulls(value: &mut Value, seed: &mut u64) {
    let mut coin = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        seed.is_multiple_of(3)
    };
    fn walk(value: &mut Value, coin: &mut dyn FnMut() -> bool) {
        match value {
            Value::Object(object) => {
                // Into every object: where the key is not a collection of that model it is
                // an unknown key, which is ignored anyway.
                for key in GRAPH_COLLECTIONS {
                    if !object.contains_key(*key) && coin() {
                        object.insert((*key).to_owned(), Value::Null);
                    }
                }
                for child in object.values_mut() {
                    walk(child, coin);
                }
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    walk(item, coin);
                }
                let mut index = 0;
                while index <= items.len() {
                    if coin() {
                        items.insert(index, Value::Null);
                        index += 1;
                    }
                    index += 1;
                }
            }
            _ => {}
        }
    }
    walk(value, &mut coin);
}

/// What the parsers read out of `expires_in`: a JSON number as f64, a string parsed after
/// trimming, anything else nothing.
fn seen_seconds(body: &[u8]) -> Option<f64> {
    let body: Value = serde_json::from_slice(body).unwrap();
    match &body["expires_in"] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

fn usable(seconds: f64) -> bool {
    seconds.is_finite() && (MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&seconds)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, checked character by character.
fn has_adobe_shape(text: &str) -> bool {
    text.len() == 24
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            23 => b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(
        status in status(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        decode_everything(status, &body);
    }

    #[test]
    fn arbitrary_json_never_panics(status in status(), value in json_value()) {
        decode_everything(status, &serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn plausible_answers_with_random_field_types_never_panic(
        status in status(),
        value in plausible_body(),
    ) {
        let body = serde_json::to_vec(&value).unwrap();
        decode_everything(status, &body);
        // Cut short, as a connection dropped mid-body would leave it.
        decode_everything(status, &body[..body.len() / 2]);
    }

    #[test]
    fn token_answers_with_random_lifetimes_never_panic(
        status in status(),
        access_token in prop_oneof![
            Just(Value::from("eyJ0.token")),
            Just(Value::from("  ")),
            leaf(),
        ],
        expires_in in expires_in(),
        expires_on in prop::option::of(expires_in()),
    ) {
        let mut answer = json!({"access_token": access_token, "expires_in": expires_in});
        if let Some(expires_on) = expires_on {
            answer["expires_on"] = expires_on;
        }
        decode_everything(status, &serde_json::to_vec(&answer).unwrap());
        let without_expires_in = json!({"access_token": "t", "expires_on": answer["expires_in"]});
        decode_everything(status, &serde_json::to_vec(&without_expires_in).unwrap());
    }

    #[test]
    fn an_unusable_expires_in_never_yields_a_token(expires_in in expires_in()) {
        let body = serde_json::to_vec(&json!({
            "access_token": "eyJ0.token",
            "token_type": "Bearer",
            "expires_in": expires_in,
        }))
        .unwrap();
        let seen = seen_seconds(&body);

        let entra = entra_token_lifetime(200, &body);
        let ims_seconds = ims_token_lifetime(200, &body, false);
        let ims_millis = ims_token_lifetime(200, &body, true);
        match seen {
            Some(seconds) if usable(seconds) => {
                prop_assert_eq!(entra, Some(Duration::from_secs_f64(seconds)));
                prop_assert_eq!(ims_seconds, Some(Duration::from_secs_f64(seconds)));
            }
            _ => {
                prop_assert_eq!(entra, None, "entra accepted expires_in {:?}", seen);
                prop_assert_eq!(ims_seconds, None, "ims accepted expires_in {:?}", seen);
            }
        }
        match seen.map(|ms| ms / 1000.0) {
            Some(seconds) if usable(seconds) => {
                prop_assert_eq!(ims_millis, Some(Duration::from_secs_f64(seconds)));
            }
            other => prop_assert_eq!(ims_millis, None, "ims (ms) accepted {:?} s", other),
        }
        for lifetime in [entra, ims_seconds, ims_millis].into_iter().flatten() {
            prop_assert!(lifetime >= Duration::from_secs(1));
            prop_assert!(lifetime <= Duration::from_secs(7 * 24 * 3600));
        }
        // A refusal status never yields a token, whatever the body.
        prop_assert_eq!(entra_token_lifetime(400, &body), None);
        prop_assert_eq!(ims_token_lifetime(503, &body, false), None);
    }

    #[test]
    fn graph_events_round_trip(event in graph_event()) {
        let text = serde_json::to_string(&event).unwrap();
        let back: AuditEvent = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, event);
    }

    #[test]
    fn a_page_with_null_collections_and_null_items_keeps_every_event(
        events in prop::collection::vec(graph_event(), 1..5),
        seed in 1u64..,
    ) {
        let clean = json!({"value": events, "@odata.nextLink": null});
        let mut odd = clean.clone();
        let mut state = seed;
        with_nulls(&mut odd, &mut state);
        let page: auditkit_graph::types::AuditEventCollectionResponse =
            serde_json::from_slice(&serde_json::to_vec(&odd).unwrap())
                .map_err(|err| TestCaseError::fail(format!("seed {seed}: {err}: {odd}")))?;
        prop_assert_eq!(page.value, events, "seed {}", seed);
        prop_assert_eq!(page.odata_next_link, None);
    }

    #[test]
    fn adobe_events_round_trip(event in adobe_event()) {
        let text = serde_json::to_string(&event).unwrap();
        let back: AdobeAuditEvent = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, event);
    }

    #[test]
    fn adobe_timestamps_have_one_shape_and_keep_the_millisecond(
        when in utc_time(),
        offset_minutes in -1439i32..=1439,
    ) {
        let stamp = Timestamp::from(when);
        let text = stamp.to_string();
        prop_assert!(has_adobe_shape(&text), "{}", text);
        prop_assert_eq!(serde_json::to_string(&stamp).unwrap(), format!("\"{text}\""));

        let back: Timestamp = text.parse().unwrap();
        prop_assert_eq!(back, stamp);
        prop_assert_eq!(back.as_datetime().timestamp_millis(), when.timestamp_millis());
        let from_json: Timestamp = serde_json::from_str(&format!("\"{text}\"")).unwrap();
        prop_assert_eq!(from_json, stamp);

        // The same instant seen from another offset is written the same way, in UTC.
        // RFC 3339 offsets are whole minutes.
        let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap();
        let elsewhere = when.with_timezone(&offset);
        prop_assert_eq!(Timestamp::from(elsewhere).to_string(), text.clone());
        // And an RFC 3339 text with an offset reads back to that instant (when its local
        // year still has four digits).
        if (1..=9999).contains(&elsewhere.year()) {
            let read: Timestamp = elsewhere.to_rfc3339().parse().unwrap();
            prop_assert_eq!(read, stamp);
        }
    }
}

/// Found by `an_unusable_expires_in_never_yields_a_token`: a positive `expires_in` below one
/// nanosecond (`1e-10`, `"0.000…38"`) used to pass the `<= 0` check and become a token with a
/// zero lifetime, fetched again on every call. Anything under a second is refused now.
#[test]
fn a_sub_second_expires_in_is_refused() {
    for expires_in in [
        json!(1e-10),
        json!("0.0000000001"),
        json!(f64::MIN_POSITIVE),
        json!(0.999),
        json!("0.5"),
    ] {
        let body =
            serde_json::to_vec(&json!({"access_token": "t", "expires_in": expires_in})).unwrap();
        assert_eq!(entra_token_lifetime(200, &body), None, "{expires_in}");
        assert_eq!(ims_token_lifetime(200, &body, false), None, "{expires_in}");
    }
    // The JWT exchange answers in milliseconds: 999 ms is under a second, 1000 ms is one.
    let millis = |ms: u64| serde_json::to_vec(&json!({"access_token": "t", "expires_in": ms}));
    assert_eq!(ims_token_lifetime(200, &millis(999).unwrap(), true), None);
    assert_eq!(
        ims_token_lifetime(200, &millis(1000).unwrap(), true),
        Some(Duration::from_secs(1))
    );
}
