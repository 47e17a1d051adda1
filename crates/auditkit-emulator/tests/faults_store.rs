//! Seeded fault injection, Intune limits, hangs, and SQLite persistence across restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use auditkit_emulator::{Emulator, EmulatorConfig, Fault, FaultConfig};
use common::{client, events_url, graph_token, ims_token, scratch};
use serde_json::{Value, json};

async fn fault_sequence(seed: u64) -> Vec<(u16, Option<String>)> {
    let faults = FaultConfig {
        rate: 0.5,
        kinds: vec![
            "429:2".parse().unwrap(),
            "429".parse().unwrap(),
            "503".parse().unwrap(),
            "504".parse().unwrap(),
            "delay:10ms".parse().unwrap(),
        ],
        intune_limits: false,
    };
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .rng_seed(seed)
            .faults(faults)
            .seed_events(3),
    )
    .await
    .unwrap();
    let client = client();
    // token routes are never faulted
    let token = graph_token(&client, &emulator).await;
    let url = events_url(&emulator);
    let mut seen = Vec::new();
    for _ in 0..40 {
        let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().to_owned());
        if status != 200 {
            let body: Value = response.json().await.unwrap();
            assert!(body["error"]["code"].is_string(), "{body}");
        }
        seen.push((status, retry_after));
    }
    assert!(emulator.stats().faults_injected > 0);
    emulator.shutdown().await;
    seen
}

#[tokio::test]
async fn same_seed_same_faults() {
    let first = fault_sequence(2024).await;
    let second = fault_sequence(2024).await;
    assert_eq!(first, second, "rng seed 2024");
    let statuses: std::collections::BTreeSet<u16> =
        first.iter().map(|(status, _)| *status).collect();
    assert!(statuses.contains(&200), "{first:?}");
    assert!(statuses.len() >= 3, "{first:?}");
    assert!(first.contains(&(429, Some("2".to_owned()))), "{first:?}");
    assert!(
        first
            .iter()
            .all(|(status, after)| *status == 429 || after.is_none())
    );
}

#[tokio::test]
async fn adobe_faults_use_error_response() {
    let faults = FaultConfig {
        rate: 1.0,
        kinds: vec![Fault::Unavailable],
        intune_limits: false,
    };
    let emulator = Emulator::start(EmulatorConfig::new().rng_seed(1).faults(faults))
        .await
        .unwrap();
    let client = client();
    let token = ims_token(&client, &emulator).await;
    let response = client
        .post(format!("{}audits", emulator.url()))
        .bearer_auth(token)
        .header("x-api-key", emulator.credentials().adobe_client_id.as_str())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["reason"].is_string() && body["message"].is_string(),
        "{body}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_hang_blocks_only_its_own_request() {
    let faults = FaultConfig {
        rate: 1.0,
        kinds: vec![Fault::Hang],
        intune_limits: false,
    };
    let emulator = Emulator::start(EmulatorConfig::new().faults(faults))
        .await
        .unwrap();
    let client = client();
    let token = graph_token(&client, &emulator).await;
    let url = events_url(&emulator);
    let hanging = {
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(token)
                .timeout(Duration::from_millis(300))
                .send()
                .await
        })
    };
    // the token route still answers while the API request hangs
    let started = Instant::now();
    graph_token(&client, &emulator).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let result = hanging.await.unwrap();
    assert!(result.unwrap_err().is_timeout());
    // a hang still in progress does not stop shutdown
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.get(url).bearer_auth(token).send().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    emulator.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let answer = pending.await.unwrap();
    if let Ok(response) = answer {
        assert_eq!(response.status(), 503);
    }
}

#[tokio::test]
async fn intune_limits_throttle_writes_per_app() {
    let faults = FaultConfig {
        rate: 0.0,
        kinds: Vec::new(),
        intune_limits: true,
    };
    let emulator = Emulator::start(EmulatorConfig::new().faults(faults))
        .await
        .unwrap();
    let client = client();
    let token = graph_token(&client, &emulator).await;
    let url = events_url(&emulator);
    for n in 0..100 {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"displayName": format!("event {n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "write {n}");
    }
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"displayName": "one too many"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    // reads still pass
    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(emulator.stats().events_stored, 100);
    emulator.shutdown().await;
}

#[tokio::test]
async fn sqlite_keeps_events_across_restarts() {
    let dir = scratch("sqlite");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("events.db");
    let client = client();

    let emulator = Emulator::start(EmulatorConfig::new().db(&db).seed_events(25).rng_seed(5))
        .await
        .unwrap();
    let token = graph_token(&client, &emulator).await;
    let url = events_url(&emulator);
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"id": "kept", "displayName": "survives", "category": "Device"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = client
        .patch(format!("{url}/kept"))
        .bearer_auth(&token)
        .json(&json!({"displayName": "survives, patched"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // a bad later request loses nothing
    let response = client
        .patch(format!("{url}/kept"))
        .bearer_auth(&token)
        .json(&json!({"activityDateTime": "never"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let first: Value = client
        .get(format!("{url}?$top=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_id = first["value"][0]["id"].as_str().unwrap().to_owned();
    let response = client
        .delete(format!("{url}/{first_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let adobe = ims_token(&client, &emulator).await;
    let response = client
        .post(format!("{}audits", emulator.url()))
        .bearer_auth(adobe)
        .header("x-api-key", emulator.credentials().adobe_client_id.as_str())
        .json(&json!({
            "action": "delete", "imsOrgId": "X@AdobeOrg", "resource": {"resourceId": "r"},
            "service": {"serviceId": "s"}, "source": "azure",
            "timestamp": "2024-01-02T03:04:05.678Z", "userIdentifier": "u"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(emulator.stats().events_stored, 25);
    emulator.shutdown().await;

    // restart: nothing reseeded, everything kept, the old token is gone
    let emulator = Emulator::start(EmulatorConfig::new().db(&db).seed_events(25).rng_seed(6))
        .await
        .unwrap();
    let stats = emulator.stats();
    assert_eq!(stats.events_stored, 25);
    assert_eq!(stats.adobe_events_stored, 1);
    let url = events_url(&emulator);
    let response = client
        .get(format!("{url}/kept"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let token = graph_token(&client, &emulator).await;
    let kept: Value = client
        .get(format!("{url}/kept"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kept["displayName"], "survives, patched");
    let response = client
        .get(format!("{url}/{first_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn faults_never_reach_an_unauthenticated_request() {
    let faults = FaultConfig {
        rate: 1.0,
        kinds: vec![Fault::Hang],
        intune_limits: true,
    };
    let emulator = Emulator::start(EmulatorConfig::new().faults(faults))
        .await
        .unwrap();
    let client = client();
    let url = events_url(&emulator);
    let audits = format!("{}audits", emulator.url());
    let adobe_token = ims_token(&client, &emulator).await;
    // The timeout only turns a hang (which lasts until shutdown) into a failure; a correct
    // emulator answers at once.
    let patience = Duration::from_secs(10);
    let graph_requests = [
        client.get(&url),
        client.get(&url).bearer_auth("emu-graph.never-issued"),
        client.post(&url).bearer_auth(&adobe_token).json(&json!({})),
        client.delete(format!("{url}/some-id")),
    ];
    for request in graph_requests {
        let response = request.timeout(patience).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("www-authenticate"));
    }
    let adobe_requests = [
        client.post(&audits).json(&json!({})),
        client.post(&audits).bearer_auth("emu-ims.never-issued"),
        // a valid token but no x-api-key is not authenticated either
        client
            .post(&audits)
            .bearer_auth(&adobe_token)
            .json(&json!({})),
    ];
    for request in adobe_requests {
        let response = request.timeout(patience).send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert!(body.is_string(), "{body}");
    }
    assert_eq!(emulator.stats().faults_injected, 0);

    // an authenticated request still gets its fault
    let token = graph_token(&client, &emulator).await;
    let result = client
        .get(&url)
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert_eq!(emulator.stats().faults_injected, 1);
    emulator.shutdown().await;
}

/// The emulator's tables, as it creates them, with triggers that fail chosen writes the way
/// a full disk or a broken file would: inside the commit.
fn poisoned_db(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE graph_audit_events (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             id TEXT NOT NULL UNIQUE,
             activity_date_time TEXT,
             json TEXT NOT NULL
         );
         CREATE TABLE adobe_audit_events (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             id TEXT NOT NULL UNIQUE,
             timestamp TEXT NOT NULL,
             json TEXT NOT NULL
         );
         CREATE TRIGGER poison_insert BEFORE INSERT ON graph_audit_events
             WHEN NEW.id = 'poison' BEGIN SELECT RAISE(ABORT, 'disk says no'); END;
         CREATE TRIGGER poison_update BEFORE UPDATE ON graph_audit_events
             WHEN OLD.id = 'doomed-update' BEGIN SELECT RAISE(ABORT, 'disk says no'); END;
         CREATE TRIGGER poison_delete BEFORE DELETE ON graph_audit_events
             WHEN OLD.id = 'doomed-delete' BEGIN SELECT RAISE(ABORT, 'disk says no'); END;
         CREATE TRIGGER poison_adobe BEFORE INSERT ON adobe_audit_events
             WHEN NEW.json LIKE '%\"poison\"%' BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
    )
    .unwrap();
}

fn adobe_event(action: &str) -> Value {
    json!({
        "action": action, "imsOrgId": "X@AdobeOrg", "resource": {"resourceId": "r"},
        "service": {"serviceId": "s"}, "source": "azure",
        "timestamp": "2024-01-02T03:04:05.678Z", "userIdentifier": "u"
    })
}

#[tokio::test]
async fn a_failed_commit_changes_nothing_a_client_can_see() {
    let dir = scratch("poison");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("events.db");
    poisoned_db(&db);
    let client = client();
    let emulator = Emulator::start(EmulatorConfig::new().db(&db))
        .await
        .unwrap();
    let token = graph_token(&client, &emulator).await;
    let url = events_url(&emulator);
    for id in ["doomed-update", "doomed-delete"] {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"id": id, "displayName": "before"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let get = |id: &str| client.get(format!("{url}/{id}")).bearer_auth(&token).send();
    let ids = || async {
        let page: Value = client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut ids: Vec<String> = page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };

    // a create whose commit fails: 500, and no one ever sees the event
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"id": "poison", "displayName": "never stored"}))
        .send()
        .await
        .unwrap();
    assert_eq!(common::odata_error(response, 500).await, "generalException");
    assert_eq!(get("poison").await.unwrap().status(), 404);
    assert_eq!(ids().await, ["doomed-delete", "doomed-update"]);
    assert_eq!(emulator.stats().events_stored, 2);
    // the id is free: the failed create reserved nothing in memory
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"id": "poison"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);

    // an update whose commit fails: the old event stays
    let response = client
        .patch(format!("{url}/doomed-update"))
        .bearer_auth(&token)
        .json(&json!({"displayName": "after"}))
        .send()
        .await
        .unwrap();
    assert_eq!(common::odata_error(response, 500).await, "generalException");
    let event: Value = get("doomed-update").await.unwrap().json().await.unwrap();
    assert_eq!(event["displayName"], "before");

    // a delete whose commit fails: the event stays
    let response = client
        .delete(format!("{url}/doomed-delete"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(common::odata_error(response, 500).await, "generalException");
    assert_eq!(get("doomed-delete").await.unwrap().status(), 200);
    assert_eq!(ids().await, ["doomed-delete", "doomed-update"]);

    // an Adobe event whose commit fails is not counted as stored
    let adobe = ims_token(&client, &emulator).await;
    let audits = format!("{}audits", emulator.url());
    let post = |action: &str| {
        client
            .post(&audits)
            .bearer_auth(&adobe)
            .header("x-api-key", emulator.credentials().adobe_client_id.as_str())
            .json(&adobe_event(action))
            .send()
    };
    let response = post("poison").await.unwrap();
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert!(body["reason"].is_string(), "{body}");
    assert_eq!(emulator.stats().adobe_events_stored, 0);
    assert_eq!(post("create").await.unwrap().status(), 201);
    assert_eq!(emulator.stats().adobe_events_stored, 1);

    // later writes go on, and memory matched the disk all along: a restart shows the same
    let response = client
        .patch(format!("{url}/doomed-delete"))
        .bearer_auth(&token)
        .json(&json!({"displayName": "patched"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    emulator.shutdown().await;
    let emulator = Emulator::start(EmulatorConfig::new().db(&db))
        .await
        .unwrap();
    let stats = emulator.stats();
    assert_eq!((stats.events_stored, stats.adobe_events_stored), (2, 1));
    let token = graph_token(&client, &emulator).await;
    let url = events_url(&emulator);
    for (id, name) in [("doomed-update", "before"), ("doomed-delete", "patched")] {
        let event: Value = client
            .get(format!("{url}/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(event["displayName"], name, "{event}");
    }
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
