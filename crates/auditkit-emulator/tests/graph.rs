//! Every Graph operation over real HTTP: status, body shape, paging, filters, bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use auditkit_emulator::{Emulator, EmulatorConfig};
use common::{client, events_url, graph_token, odata_error};
use serde_json::{Value, json};

async fn seeded(n: usize) -> (Emulator, reqwest::Client, String) {
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(n).rng_seed(11))
        .await
        .unwrap();
    let client = client();
    let token = graph_token(&client, &emulator).await;
    (emulator, client, token)
}

#[tokio::test]
async fn crud_count_and_functions() {
    let (emulator, client, token) = seeded(0).await;
    let url = events_url(&emulator);

    // create: 201, id, correlationId and activityDateTime assigned
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .header("client-request-id", "11111111-2222-3333-4444-555555555555")
        .json(&json!({"displayName": "Create thing", "category": "It's", "activityType": "Create Policy",
                      "actor": {"userPrincipalName": "a@contoso.com"}, "unknownField": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["client-request-id"],
        "11111111-2222-3333-4444-555555555555"
    );
    assert!(uuid::Uuid::parse_str(response.headers()["request-id"].to_str().unwrap()).is_ok());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert!(uuid::Uuid::parse_str(created["correlationId"].as_str().unwrap()).is_ok());
    assert!(created["activityDateTime"].as_str().unwrap().ends_with('Z'));
    assert!(
        created["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/$entity")
    );
    assert!(location.ends_with(&id));

    // given id kept; duplicate refused
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(
            &json!({"id": "fixed-id", "category": "Device", "activityType": "Delete ManagedDevice",
                      "activityDateTime": "2024-05-01T10:00:00Z"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"id": "fixed-id"}))
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 409).await, "conflict");

    // get
    let response = client
        .get(format!("{url}/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let got: Value = response.json().await.unwrap();
    assert_eq!(got["displayName"], "Create thing");
    let response = client
        .get(format!("{url}/{id}?$select=id,category"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let selected: Value = response.json().await.unwrap();
    assert_eq!(selected["category"], "It's");
    assert!(selected.get("displayName").is_none(), "{selected}");
    let response = client
        .get(format!("{url}/nope"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 404).await, "itemNotFound");

    // patch merges; a bad patch changes nothing
    let response = client
        .patch(format!("{url}/{id}"))
        .bearer_auth(&token)
        .json(&json!({"activityResult": "Failure", "displayName": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["displayName"], "Renamed");
    assert_eq!(patched["activityResult"], "Failure");
    assert_eq!(patched["actor"]["userPrincipalName"], "a@contoso.com");
    for bad in [
        json!({"activityDateTime": "yesterday"}),
        json!({"correlationId": "not-a-guid"}),
        json!({"activityDateTime": null}),
        json!({"id": "other"}),
        json!({"resources": "x"}),
    ] {
        let response = client
            .patch(format!("{url}/{id}"))
            .bearer_auth(&token)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(odata_error(response, 400).await, "invalidRequest", "{bad}");
    }
    let response = client
        .patch(format!("{url}/nope"))
        .bearer_auth(&token)
        .json(&json!({"displayName": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 404).await, "itemNotFound");
    let again: Value = client
        .get(format!("{url}/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["displayName"], "Renamed");
    assert_eq!(again["activityDateTime"], created["activityDateTime"]);

    // $count, with and without $filter (beta too)
    for (query, expected) in [("", "2"), ("?$filter=category eq 'Device'", "1")] {
        let response = client
            .get(format!("{url}/$count{query}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(response.text().await.unwrap(), expected);
    }
    let beta = format!("{}beta/deviceManagement/auditEvents/$count", emulator.url());
    let response = client.get(beta).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "2");

    // functions
    let body: Value = client
        .get(format!("{url}/microsoft.graph.getAuditCategories()"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"], json!(["Device", "It's"]));
    let body: Value = client
        .get(format!(
            "{url}/microsoft.graph.getAuditActivityTypes(category='It''s')"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"], json!(["Create Policy"]));
    let body: Value = client
        .get(format!(
            "{url}/microsoft.graph.getAuditActivityTypes(category=%27Device%27)"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"], json!(["Delete ManagedDevice"]));

    // delete
    let response = client
        .delete(format!("{url}/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = client
        .delete(format!("{url}/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 404).await, "itemNotFound");
    let stats = emulator.stats();
    assert_eq!(stats.events_stored, 1);
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.faults_injected, 0);
    assert!(stats.requests >= 20, "{stats:?}");

    // wrong method, unknown paths
    let response = client.put(&url).bearer_auth(&token).send().await.unwrap();
    assert!(response.headers().contains_key("allow"));
    assert_eq!(odata_error(response, 405).await, "notAllowed");
    let response = client
        .post(format!("{url}/$count"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 405).await, "notAllowed");
    for path in ["v1.0/deviceManagement/managedDevices", "v2.0/x", "nothing"] {
        let response = client
            .get(format!("{}{path}", emulator.url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(odata_error(response, 404).await, "itemNotFound", "{path}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn needs_a_valid_graph_token() {
    let (emulator, client, _token) = seeded(1).await;
    let url = events_url(&emulator);
    let response = client.get(&url).send().await.unwrap();
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(
        odata_error(response, 401).await,
        "InvalidAuthenticationToken"
    );
    let response = client
        .get(&url)
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(
        odata_error(response, 401).await,
        "InvalidAuthenticationToken"
    );
    let adobe = common::ims_token(&client, &emulator).await;
    let response = client.get(&url).bearer_auth(adobe).send().await.unwrap();
    assert_eq!(
        odata_error(response, 401).await,
        "InvalidAuthenticationToken"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn pages_with_opaque_skiptokens() {
    let (emulator, client, token) = seeded(230).await;
    let url = events_url(&emulator);
    let mut next = Some(format!(
        "{url}?$top=40&$count=true&$orderby=activityDateTime desc&$select=id,activityDateTime"
    ));
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut last_time = String::from("9999");
    while let Some(link) = next {
        let response = client.get(&link).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 200, "{link}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["@odata.count"], 230);
        assert!(
            body["@odata.context"]
                .as_str()
                .unwrap()
                .contains("$metadata#deviceManagement/auditEvents")
        );
        for event in body["value"].as_array().unwrap() {
            ids.push(event["id"].as_str().unwrap().to_owned());
            let time = event["activityDateTime"].as_str().unwrap().to_owned();
            assert!(time <= last_time, "{time} after {last_time}");
            last_time = time;
            assert!(event.get("category").is_none());
        }
        pages += 1;
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
        if let Some(link) = &next {
            // absolute, on the emulator's own URL, carrying an opaque token
            assert!(link.starts_with(&format!("{url}?")), "{link}");
            let token = link.split("$skiptoken=").nth(1).unwrap();
            assert!(!token.chars().all(|c| c.is_ascii_digit()), "{token}");
        }
    }
    assert_eq!(pages, 6);
    assert_eq!(ids.len(), 230);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 230);

    // server-driven page size (100) without $top, and $skip
    let body: Value = client
        .get(format!("{url}?$skip=200"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 30);
    assert!(body.get("@odata.nextLink").is_none());
    let body: Value = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 100);
    let link = body["@odata.nextLink"].as_str().unwrap().to_owned();

    // a skiptoken only fits its own query; garbage is refused
    let other = format!(
        "{url}?$filter=category eq 'Device'&$skiptoken={}",
        link.split("$skiptoken=").nth(1).unwrap()
    );
    let response = client.get(other).bearer_auth(&token).send().await.unwrap();
    assert_eq!(odata_error(response, 400).await, "invalidRequest");
    let response = client
        .get(format!("{url}?$skiptoken=100"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 400).await, "invalidRequest");
    emulator.shutdown().await;
}

async fn all_events(client: &reqwest::Client, url: &str, token: &str) -> Vec<Value> {
    let body: Value = client
        .get(format!("{url}?$top=1000"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn filters_with_every_operator() {
    let (emulator, client, token) = seeded(300).await;
    let url = events_url(&emulator);
    let all = all_events(&client, &url, &token).await;
    assert_eq!(all.len(), 300);
    let mut times: Vec<&str> = all
        .iter()
        .map(|event| event["activityDateTime"].as_str().unwrap())
        .collect();
    times.sort();
    let middle = times[150].to_owned();
    let text = |event: &Value, key: &str| event[key].as_str().unwrap_or_default().to_owned();
    let upn = |event: &Value| {
        event["actor"]["userPrincipalName"]
            .as_str()
            .map(str::to_owned)
    };
    type Check = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(String, Check)> = vec![
        (
            "category eq 'Compliance'".into(),
            Box::new(move |e| text(e, "category") == "Compliance"),
        ),
        (
            "category ne 'Application'".into(),
            Box::new(move |e| text(e, "category") != "Application"),
        ),
        (format!("activityDateTime gt {middle}"), {
            let m = middle.clone();
            Box::new(move |e| text(e, "activityDateTime") > m)
        }),
        (format!("activityDateTime ge {middle}"), {
            let m = middle.clone();
            Box::new(move |e| text(e, "activityDateTime") >= m)
        }),
        (format!("activityDateTime lt {middle}"), {
            let m = middle.clone();
            Box::new(move |e| text(e, "activityDateTime") < m)
        }),
        (format!("activityDateTime le {middle}"), {
            let m = middle.clone();
            Box::new(move |e| text(e, "activityDateTime") <= m)
        }),
        (
            "activityResult eq 'Failure' and activityOperationType ne 'Get'".into(),
            Box::new(move |e| {
                text(e, "activityResult") == "Failure" && text(e, "activityOperationType") != "Get"
            }),
        ),
        (
            "category eq 'Role' or category eq 'Enrollment'".into(),
            Box::new(move |e| ["Role", "Enrollment"].contains(&text(e, "category").as_str())),
        ),
        (
            "not (category eq 'Device')".into(),
            Box::new(move |e| text(e, "category") != "Device"),
        ),
        (
            "startswith(activityType,'Create ')".into(),
            Box::new(move |e| text(e, "activityType").starts_with("Create ")),
        ),
        (
            "contains(displayName,'Wi-Fi')".into(),
            Box::new(move |e| text(e, "displayName").contains("Wi-Fi")),
        ),
        (
            "endswith(actor/userPrincipalName,'contoso.onmicrosoft.com')".into(),
            Box::new(move |e| upn(e).is_some_and(|u| u.ends_with("contoso.onmicrosoft.com"))),
        ),
    ];
    for (filter, check) in cases {
        let expected = all.iter().filter(|event| check(event)).count();
        assert!(expected > 0 && expected < 300, "{filter}: {expected}");
        let response = client
            .get(&url)
            .query(&[
                ("$filter", filter.as_str()),
                ("$top", "1000"),
                ("$count", "true"),
            ])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{filter}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["@odata.count"], expected, "{filter}");
        assert!(
            body["value"].as_array().unwrap().iter().all(&check),
            "{filter}"
        );
        let count = client
            .get(format!("{url}/$count"))
            .query(&[("$filter", filter.as_str())])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(count, expected.to_string(), "{filter}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn refuses_bad_input_without_failing() {
    let (emulator, client, token) = seeded(5).await;
    let url = events_url(&emulator);
    let bad_queries = [
        "$top=1001",
        "$top=-1",
        "$top=abc",
        "$top=99999999999999999999999999",
        "$skip=-3",
        "$count=maybe",
        "$orderby=activityDateTime&$orderby=id",
        "$filter=category eq",
        "$filter=nosuchproperty eq 'x'",
        "$orderby=nosuchproperty desc",
        "$select=nosuchproperty",
        "$expand=actor",
        "$bogus=1",
        "$filter=%FF%FE",
    ];
    for query in bad_queries {
        let response = client
            .get(format!("{url}?{query}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            odata_error(response, 400).await,
            "invalidRequest",
            "{query}"
        );
    }
    let response = client
        .get(format!("{url}?$search=\"device\""))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 400).await, "notSupported");

    // 10,000-deep nesting
    let deep = format!(
        "{}category eq 'x'{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let response = client
        .get(&url)
        .query(&[("$filter", deep.as_str())])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 400).await, "invalidRequest");
    let deep = format!("{}category eq 'x'", "not ".repeat(10_000));
    let response = client
        .get(&url)
        .query(&[("$filter", deep.as_str())])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());

    // bodies: malformed, not an object, wrong types, invalid UTF-8, deep JSON, > 1 MiB
    let bodies: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"".to_vec(),
        b"[1,2]".to_vec(),
        b"\"text\"".to_vec(),
        br#"{"activityDateTime": 5}"#.to_vec(),
        br#"{"correlationId": "nope"}"#.to_vec(),
        b"{\"displayName\": \"\xff\xfe\"}".to_vec(),
        format!(
            "{{\"actor\": {}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        )
        .into_bytes(),
    ];
    for body in bodies {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            odata_error(response, 400).await,
            "invalidRequest",
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
    }
    let huge = json!({"displayName": "x".repeat(1024 * 1024)});
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 413).await, "requestEntityTooLarge");
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 415).await, "UnsupportedMediaType");

    // a body just under the limit is fine
    let fits = json!({"displayName": "x".repeat(1024 * 1024 - 100)});
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&fits)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // nothing was lost along the way
    assert_eq!(emulator.stats().events_stored, 6);
    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    emulator.shutdown().await;
}

#[tokio::test]
async fn links_name_the_emulator_whatever_the_host_header_says() {
    let (emulator, client, token) = seeded(3).await;
    let graph = emulator.graph_url().to_string();
    let url = events_url(&emulator);
    let forged = "evil.example";
    let get = |url: String| {
        client
            .get(url)
            .bearer_auth(&token)
            .header("host", forged)
            .send()
    };

    let page: Value = get(format!("{url}?$top=1&$select=id,category"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{graph}/deviceManagement/auditEvents?")),
        "{next}"
    );
    let context = page["@odata.context"].as_str().unwrap();
    assert_eq!(
        context,
        format!("{graph}/$metadata#deviceManagement/auditEvents(id,category)")
    );
    // the link works as given, forged host or not
    let second: Value = get(next.to_owned()).await.unwrap().json().await.unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 1);
    assert!(
        second["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with(&graph)
    );

    let response = client
        .post(&url)
        .bearer_auth(&token)
        .header("host", forged)
        .json(&json!({"id": "hosted", "category": "Device"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["location"],
        format!("{graph}/deviceManagement/auditEvents/hosted").as_str()
    );
    let created: Value = response.json().await.unwrap();
    let entity = format!("{graph}/$metadata#deviceManagement/auditEvents/$entity");
    assert_eq!(created["@odata.context"], entity.as_str());

    let item: Value = get(format!("{url}/hosted"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(item["@odata.context"], entity.as_str());
    let patched: Value = client
        .patch(format!("{url}/hosted"))
        .bearer_auth(&token)
        .header("host", forged)
        .json(&json!({"displayName": "patched"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["@odata.context"], entity.as_str());

    let categories: Value = get(format!("{url}/microsoft.graph.getAuditCategories()?$top=1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        categories["@odata.context"],
        format!("{graph}/$metadata#Collection(Edm.String)").as_str()
    );
    assert!(
        categories["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with(&graph)
    );

    let beta = format!("{}beta", emulator.url());
    let listed: Value = get(format!("{beta}/deviceManagement/auditEvents?$top=1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{beta}/deviceManagement/auditEvents?"))
    );
    assert!(!listed.to_string().contains(forged), "{listed}");
    emulator.shutdown().await;
}

/// PATCHes of different properties of one event, all in flight at once, over real HTTP:
/// each must land, none may undo another (a read-merge-replace that is not one step loses
/// updates).
async fn concurrent_patches_lose_nothing(config: EmulatorConfig) {
    const PROPERTIES: [&str; 7] = [
        "activity",
        "activityOperationType",
        "activityResult",
        "activityType",
        "category",
        "componentName",
        "displayName",
    ];
    let emulator = Emulator::start(config).await.unwrap();
    let client = client();
    let token = graph_token(&client, &emulator).await;
    let url = events_url(&emulator);
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"id": "contended"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let item = format!("{url}/contended");
    for round in 0..25 {
        let patches = PROPERTIES.map(|property| {
            let request = client
                .patch(&item)
                .bearer_auth(&token)
                .header("prefer", "return=minimal")
                .json(&json!({ property: format!("{property} {round}") }));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        });
        for patch in patches {
            assert_eq!(patch.await.unwrap(), 204);
        }
        let event: Value = client
            .get(&item)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for property in PROPERTIES {
            assert_eq!(
                event[property],
                format!("{property} {round}").as_str(),
                "round {round}: {event}"
            );
        }
    }
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_of_one_event_lose_nothing() {
    concurrent_patches_lose_nothing(EmulatorConfig::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_of_one_stored_event_lose_nothing() {
    let dir = common::scratch("patches");
    std::fs::create_dir_all(&dir).unwrap();
    concurrent_patches_lose_nothing(EmulatorConfig::new().db(dir.join("events.db"))).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn echoes_only_a_client_request_id_that_looks_like_one() {
    let (emulator, client, token) = seeded(1).await;
    let url = format!("{}/nope", events_url(&emulator));
    let guid = "11111111-2222-3333-4444-555555555555";
    let response = client
        .get(&url)
        .bearer_auth(&token)
        .header("client-request-id", guid)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["client-request-id"], guid);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["innerError"]["client-request-id"], guid);

    let hostile = [
        "a".repeat(10_000),
        "\"}, \"injected\": true".to_owned(),
        "<script>alert(1)</script>".to_owned(),
    ];
    for id in hostile {
        let response = client
            .get(&url)
            .bearer_auth(&token)
            .header("client-request-id", id.as_str())
            .send()
            .await
            .unwrap();
        assert!(!response.headers().contains_key("client-request-id"));
        let request_id = response.headers()["request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let text = response.text().await.unwrap();
        assert!(!text.contains(&id[..10]), "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body["error"]["innerError"]["client-request-id"],
            request_id.as_str()
        );

        // Entra ID's error carries it as correlation_id: the same rule
        let response = client
            .post(common::token_url(&emulator))
            .header("client-request-id", id.as_str())
            .form(&[("grant_type", "password")])
            .send()
            .await
            .unwrap();
        assert!(!response.headers().contains_key("client-request-id"));
        let text = response.text().await.unwrap();
        assert!(!text.contains(&id[..10]), "{text}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_created_id_is_bounded() {
    let (emulator, client, token) = seeded(0).await;
    let url = events_url(&emulator);
    let longest = "i".repeat(256);
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({ "id": longest }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with(&longest)
    );
    // an id that would put most of a MiB into Location
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({ "id": "i".repeat(900_000) }))
        .send()
        .await
        .unwrap();
    assert_eq!(odata_error(response, 400).await, "invalidRequest");
    assert_eq!(emulator.stats().events_stored, 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_created_id_is_one_path_segment() {
    let (emulator, client, token) = seeded(0).await;
    let url = events_url(&emulator);
    for id in [".", "..", "a/b", "../x", "a\\b", "a\nb"] {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "id": id }))
            .send()
            .await
            .unwrap();
        assert_eq!(odata_error(response, 400).await, "invalidRequest", "{id:?}");
    }
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({ "id": "a b%?#.." }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(emulator.stats().events_stored, 1);
    emulator.shutdown().await;
}

/// What the emulator answers where a peer fuzzer found it and the spec disagreeing: the spec
/// was changed where it promised what the service does not do, the emulator where it refused
/// what the spec allows.
#[tokio::test]
async fn the_emulator_answers_what_the_spec_declares() {
    let (emulator, client, token) = seeded(5).await;
    let url = events_url(&emulator);
    let get = |target: String| {
        let request = client.get(target).bearer_auth(&token);
        async move { request.send().await.unwrap() }
    };

    // An empty $select, $orderby or $expand (an empty array in the spec) asks for nothing.
    for query in ["$select=", "$orderby=", "$expand=", "$select=&$top=2"] {
        let response = get(format!("{url}?{query}")).await;
        assert_eq!(response.status(), 200, "{query}");
        let page: Value = response.json().await.unwrap();
        assert!(
            page["value"][0]["activityDateTime"].is_string(),
            "{query}: {page}"
        );
    }
    let page: Value = get(format!("{url}?$top=1")).await.json().await.unwrap();
    let id = page["value"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(get(format!("{url}/{id}?$select=")).await.status(), 200);
    // Empty, but given: still at most once, and only where the operation takes it.
    for query in [
        format!("{url}?$select=&$select=id"),
        format!("{url}/$count?$orderby="),
    ] {
        assert_eq!(get(query.clone()).await.status(), 400, "{query}");
    }

    // `$top=0` (the spec's minimum) is an empty page with no link to itself.
    let page: Value = get(format!("{url}?$top=0&$count=true"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["value"], json!([]));
    assert_eq!(page["@odata.count"], 5);
    assert!(page.get("@odata.nextLink").is_none(), "{page}");

    // The functions page ($top, $skip) and count ($count) as declared.
    let response = get(format!(
        "{url}/microsoft.graph.getAuditCategories()?$count=true&$top=1"
    ))
    .await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert!(page["@odata.count"].as_u64().unwrap() >= 1, "{page}");
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    // $search is not offered on this resource, nor $filter on the functions' strings: the
    // spec declares neither, and the emulator says so rather than ignoring them.
    for query in [
        format!("{url}?$search=%22device%22"),
        format!("{url}/$count?$search=%22device%22"),
        format!("{url}/microsoft.graph.getAuditCategories()?$filter=startswith(value,'A')"),
    ] {
        assert_eq!(get(query.clone()).await.status(), 400, "{query}");
    }

    // A PATCH may carry the event's own id (unchanged), never another one.
    let patch = |body: Value| {
        let request = client
            .patch(format!("{url}/{id}"))
            .bearer_auth(&token)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let response = patch(json!({"id": id, "displayName": "renamed"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["displayName"],
        "renamed"
    );
    assert_eq!(
        odata_error(patch(json!({"id": "another"})).await, 400).await,
        "invalidRequest"
    );
    // An id that travels percent-encoded compares as the text it encodes.
    for own in ["é x+1", "a%2Bb", "Mixed-Case"] {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"id": own}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{own}");
        let encoded: String = url::form_urlencoded::byte_serialize(own.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        let response = client
            .patch(format!("{url}/{encoded}"))
            .bearer_auth(&token)
            .json(&json!({"id": own, "category": "Renamed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "PATCH {own} as {encoded}");
    }

    // `null` only where the spec allows it, on create and update alike.
    for body in [
        json!({"id": null}),
        json!({"activityDateTime": null}),
        json!({"correlationId": null, "displayName": "x"}),
        json!({"resources": [null]}),
    ] {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            odata_error(response, 400).await,
            "invalidRequest",
            "POST {body}"
        );
        assert_eq!(
            odata_error(patch(body.clone()).await, 400).await,
            "invalidRequest",
            "PATCH {body}"
        );
    }
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"displayName": null, "actor": null, "category": "Device"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "nullable properties may be null");
    emulator.shutdown().await;
}
