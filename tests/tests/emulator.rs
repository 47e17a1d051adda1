//! The facade against the emulator instead of wiremock: every operation of both specs through
//! real token flows, paging, every filter operator, token renewal and injected faults.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use auditkit::adobe::{AdobeAuditEvent, Resource, Service, Timestamp};
use auditkit::graph::AuditEvent;
use auditkit::{
    AdobeClient, Field, Filter, GraphClient, ListQuery, ManualClock, OrderBy, RetryPolicy,
};
use auditkit_emulator::{Emulator, EmulatorConfig, Fault, FaultConfig};
use futures::TryStreamExt;

#[path = "emulator/conformance.rs"]
mod conformance;

const SEED: u64 = 11;

fn graph(emulator: &Emulator) -> GraphClient {
    auditkit_testing::emulator_graph(emulator).build().unwrap()
}

fn adobe(emulator: &Emulator) -> AdobeClient {
    auditkit_testing::emulator_adobe(emulator).build().unwrap()
}

fn event(n: usize, category: &str) -> AuditEvent {
    AuditEvent {
        display_name: Some(format!("event {n}")),
        component_name: Some("contract".into()),
        category: Some(category.into()),
        activity: Some(format!("activity {n}")),
        activity_type: Some(format!("{category} type {}", n % 2)),
        activity_operation_type: Some(if n.is_multiple_of(2) {
            "Create".into()
        } else {
            "Delete".into()
        }),
        activity_result: Some("Success".into()),
        activity_date_time: Some(
            chrono::DateTime::parse_from_rfc3339("2025-03-24T10:00:00Z")
                .unwrap()
                .to_utc()
                + chrono::Duration::minutes(n as i64),
        ),
        correlation_id: Some(uuid::Uuid::new_v4()),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_graph_operation_against_the_emulator() {
    let emulator = Emulator::start(EmulatorConfig::new().rng_seed(SEED))
        .await
        .unwrap();
    let events = graph(&emulator);
    let api = events.audit_events();

    let created = api.create(&event(1, "Contract")).await.unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(
        api.get(&id).await.unwrap().display_name.as_deref(),
        Some("event 1")
    );
    let patched = api
        .update(
            &id,
            &AuditEvent {
                activity_result: Some("Failure".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    if let Some(patched) = patched {
        assert_eq!(patched.activity_result.as_deref(), Some("Failure"));
    }
    assert_eq!(
        api.get(&id).await.unwrap().activity_result.as_deref(),
        Some("Failure")
    );
    assert_eq!(api.count(None).await.unwrap(), 1);
    let categories: Vec<String> = api.categories().try_collect().await.unwrap();
    assert_eq!(categories, ["Contract"]);
    let types: Vec<String> = api.activity_types("Contract").try_collect().await.unwrap();
    assert_eq!(types, ["Contract type 1"]);
    let listed: Vec<AuditEvent> = api.list(ListQuery::new()).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    api.delete(&id).await.unwrap();
    assert!(api.get(&id).await.unwrap_err().is_not_found());
    assert!(api.delete(&id).await.unwrap_err().is_not_found());

    let beta = auditkit_testing::emulator_graph(&emulator)
        .base_url(emulator.url().join("beta").unwrap())
        .build()
        .unwrap();
    assert_eq!(beta.audit_events().count(None).await.unwrap(), 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn activity_types_of_a_category_with_a_quote() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let client = graph(&emulator);
    client
        .audit_events()
        .create(&event(1, "Bob's Apps"))
        .await
        .unwrap();
    let types: Vec<String> = client
        .audit_events()
        .activity_types("Bob's Apps")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(types, ["Bob's Apps type 1"]);
    emulator.shutdown().await;
}

#[tokio::test]
async fn paging_across_five_pages_and_every_filter_operator() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let client = graph(&emulator);
    for n in 0..23 {
        client
            .audit_events()
            .create(&event(n, if n < 13 { "Application" } else { "Compliance" }))
            .await
            .unwrap();
    }
    let pages: Vec<_> = client
        .audit_events()
        .pages(
            ListQuery::new()
                .order_by(OrderBy::asc(Field::ActivityDateTime))
                .top(5),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 5);
    let names: Vec<String> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|e| e.display_name.clone().unwrap()))
        .collect();
    assert_eq!(
        names,
        (0..23).map(|n| format!("event {n}")).collect::<Vec<_>>(),
        "every event once, in order"
    );

    let at = |n: i64| {
        chrono::DateTime::parse_from_rfc3339("2025-03-24T10:00:00Z")
            .unwrap()
            .to_utc()
            + chrono::Duration::minutes(n)
    };
    let time = || Filter::field(Field::ActivityDateTime);
    let category = || Filter::field(Field::Category);
    let cases: Vec<(Filter, u64)> = vec![
        (category().eq("Application"), 13),
        (category().ne("Application"), 10),
        (time().gt(at(20)), 2),
        (time().ge(at(20)), 3),
        (time().lt(at(2)), 2),
        (time().le(at(2)), 3),
        (category().eq("Application").and(time().ge(at(10))), 3),
        (category().eq("Compliance").or(time().lt(at(1))), 11),
        (Filter::not(category().eq("Application")), 10),
        (
            category().any_of(["Application", "Compliance"]).unwrap(),
            23,
        ),
        (
            Filter::field(Field::ActivityOperationType)
                .eq("Create")
                .and(category().eq("Compliance")),
            5,
        ),
    ];
    for (filter, expected) in cases {
        let text = filter.to_string();
        assert_eq!(
            client.audit_events().count(Some(&text)).await.unwrap(),
            expected,
            "$count {text}"
        );
        let listed: Vec<AuditEvent> = client
            .audit_events()
            .list(ListQuery::new().filter(text.clone()).top(4))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed.len() as u64, expected, "list {text}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn tokens_expire_and_are_renewed() {
    let emulator = Emulator::start(EmulatorConfig::new().token_lifetime(Duration::from_secs(2)))
        .await
        .unwrap();
    let client = graph(&emulator);
    client.audit_events().count(None).await.unwrap();
    let issued = emulator.stats().tokens_issued;
    // A 2 s token is refreshed once half its lifetime has passed; after that the emulator
    // refuses the old one, so a call only works with a renewed token.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    client.audit_events().count(None).await.unwrap();
    assert!(
        emulator.stats().tokens_issued > issued,
        "a fresh token was fetched"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn injected_throttling_and_outages_are_absorbed_by_the_retry_policy() {
    eprintln!("fault seed {SEED}");
    let faults = FaultConfig {
        rate: 0.3,
        kinds: vec![
            Fault::Throttle {
                retry_after: Some(1),
            },
            Fault::Throttle { retry_after: None },
            Fault::Unavailable,
        ],
        intune_limits: false,
    };
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .seed_events(40)
            .rng_seed(SEED)
            .faults(faults),
    )
    .await
    .unwrap();
    let clock = ManualClock::new();
    let client = auditkit_testing::emulator_graph(&emulator)
        .retry(RetryPolicy::default().max_attempts(8).jitter_seed(SEED))
        .time(Arc::new(clock.clone()), Arc::new(clock.clone()))
        .build()
        .unwrap();
    let listed: Vec<AuditEvent> = client
        .audit_events()
        .list(ListQuery::new().top(10))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 40);
    assert!(emulator.stats().faults_injected > 0, "the run met faults");
    assert!(
        !clock.sleeps().is_empty(),
        "and backed off instead of failing"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn adobe_posts_against_the_emulator() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let client = adobe(&emulator);
    let event = AdobeAuditEvent {
        action: "create".into(),
        ims_org_id: emulator.credentials().adobe_org_id.clone(),
        resource: Resource {
            resource_id: "r".into(),
        },
        service: Service {
            service_id: "s".into(),
        },
        source: "contract".into(),
        tags: Default::default(),
        timestamp: Timestamp::now(),
        user_identifier: "u".into(),
    };
    let id = client.post_audit(&event).await.unwrap();
    assert!(!id.is_empty());
    let refused = AdobeAuditEvent {
        user_identifier: String::new(),
        ..event
    };
    let error = client.post_audit(&refused).await.unwrap_err();
    assert_eq!(error.status(), Some(400), "{error}");
    assert!(error.service().unwrap().message.is_some());
    emulator.shutdown().await;
}
