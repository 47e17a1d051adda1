//! The main job end to end with no account: the emulator in-process on a free loopback port,
//! tokens through the real credential flows, then every kind of call, each result checked.

use std::collections::BTreeSet;
use std::time::Instant;

use auditkit::adobe::{AdobeAuditEvent, Resource, Service, Timestamp};
use auditkit::graph::AuditEvent;
use auditkit::{
    AdobeClient, EntraCredential, Field, Filter, GraphClient, ImsCredential, ImsEnvironment,
    ListQuery, OrderBy,
};
use auditkit_emulator::{Emulator, EmulatorConfig};
use futures::TryStreamExt;

use crate::exit::{Failure, UNEXPECTED};
// The emulator here is in-process, but what it answers is printed like any service's.
use crate::terminal::clean;

const EVENTS: usize = 12;
const PAGE: u64 = 5;
const ADOBE_EVENTS: usize = 3;

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(Failure::new(UNEXPECTED, format!("quickstart: {}", what())))
    }
}

pub(crate) async fn run() -> Result<(), Failure> {
    let started = Instant::now();
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(40).rng_seed(7))
        .await
        .map_err(|err| {
            Failure::new(
                UNEXPECTED,
                format!("quickstart: cannot start the emulator: {err}"),
            )
        })?;
    let outcome = steps(&emulator).await;
    emulator.shutdown().await;
    outcome?;
    println!(
        "quickstart passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn steps(emulator: &Emulator) -> Result<(), Failure> {
    let credentials = emulator.credentials().clone();
    println!(
        "auditkit quickstart: the whole job against the built-in emulator at {}",
        emulator.url()
    );

    let graph = GraphClient::builder()
        .credential(
            EntraCredential::client_secret(
                &credentials.tenant,
                &credentials.graph_client_id,
                &credentials.graph_client_secret,
            )
            .authority_host(emulator.url()),
        )
        .base_url(emulator.graph_url())
        .build()?;

    let run = uuid::Uuid::new_v4().simple().to_string();
    let component = format!("quickstart-{}", &run[..8]);
    let mut created = BTreeSet::new();
    for n in 1..=EVENTS {
        let event = AuditEvent {
            display_name: Some(format!("Quickstart event {n}")),
            component_name: Some(component.clone()),
            category: Some("Quickstart".into()),
            activity: Some(format!("Check {n} of {EVENTS}")),
            activity_type: Some("Quickstart check".into()),
            activity_operation_type: Some("Create".into()),
            activity_result: Some("Success".into()),
            activity_date_time: Some(chrono::Utc::now()),
            correlation_id: Some(uuid::Uuid::new_v4()),
            ..Default::default()
        };
        let stored = graph.audit_events().create(&event).await?;
        created.insert(stored.id.unwrap_or_default());
    }
    check(created.len() == EVENTS, || {
        format!("created {} distinct ids, expected {EVENTS}", created.len())
    })?;
    println!(
        "  ok  entra id token (client credentials, client secret) from {}",
        emulator.url()
    );
    println!("  ok  created {EVENTS} audit events in graph (component {component})");

    let filter = Filter::field(Field::Category)
        .eq("Quickstart")
        .and(Filter::field(Field::ComponentName).eq(component.as_str()));
    let query = ListQuery::new()
        .filter(filter.clone())
        .order_by(OrderBy::asc(Field::ActivityDateTime))
        .top(PAGE);
    let pages: Vec<_> = graph.audit_events().pages(query).try_collect().await?;
    let listed: Vec<String> = pages
        .iter()
        .flat_map(|page| page.items.iter().filter_map(|e| e.id.clone()))
        .collect();
    let distinct: BTreeSet<String> = listed.iter().cloned().collect();
    check(listed.len() == EVENTS && distinct == created, || {
        format!(
            "listed {} events ({} distinct) back, expected the {EVENTS} created",
            listed.len(),
            distinct.len()
        )
    })?;
    check(pages.len() >= 3, || {
        format!("expected at least 3 pages of {PAGE}, got {}", pages.len())
    })?;
    println!(
        "  ok  listed them back with $filter {filter} across {} pages of at most {PAGE}: each once",
        pages.len()
    );

    let count = graph
        .audit_events()
        .count(Some(&filter.to_string()))
        .await?;
    check(count == EVENTS as u64, || {
        format!("$count said {count}, expected {EVENTS}")
    })?;
    println!("  ok  $count with the same filter: {count}");

    let categories: Vec<String> = graph.audit_events().categories().try_collect().await?;
    check(categories.iter().any(|c| c == "Quickstart"), || {
        format!("categories lack Quickstart: {categories:?}")
    })?;
    println!(
        "  ok  {} audit categories, e.g. {}",
        categories.len(),
        clean(
            &categories
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    );

    let types: Vec<String> = graph
        .audit_events()
        .activity_types("Quickstart")
        .try_collect()
        .await?;
    check(types.iter().any(|t| t == "Quickstart check"), || {
        format!("activity types of Quickstart: {types:?}")
    })?;
    println!(
        "  ok  activity types of category Quickstart: {}",
        clean(&types.join(", "))
    );

    let adobe = AdobeClient::builder()
        .base_url(emulator.url())
        .credential(
            ImsCredential::server_to_server(
                &credentials.adobe_client_id,
                &credentials.adobe_client_secret,
                ["openid", "AdobeID"],
            )
            .org_id(&credentials.adobe_org_id)
            .environment(ImsEnvironment::Custom(emulator.url())),
        )
        .build()?;
    let mut ids = Vec::new();
    for n in 1..=ADOBE_EVENTS {
        let event = AdobeAuditEvent {
            action: "create".into(),
            ims_org_id: credentials.adobe_org_id.clone(),
            resource: Resource {
                resource_id: format!("quickstart-stream-{n}"),
            },
            service: Service {
                service_id: "auditkit-quickstart".into(),
            },
            source: "auditkit".into(),
            tags: [("run".to_owned(), run.clone())].into_iter().collect(),
            timestamp: Timestamp::now(),
            user_identifier: "quickstart@example.com".into(),
        };
        ids.push(adobe.post_audit(&event).await?);
    }
    check(ids.iter().all(|id| !id.is_empty()), || {
        "adobe answered an empty id".into()
    })?;
    println!(
        "  ok  adobe ims token (oauth server-to-server) from {}",
        emulator.url()
    );
    println!(
        "  ok  posted {ADOBE_EVENTS} audit events to the adobe audit service: {}",
        clean(&ids.join(", "))
    );
    Ok(())
}
