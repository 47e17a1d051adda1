//! The facade end to end over loopback: tokens from a mocked token endpoint, API calls to a
//! mocked API, through the one pipeline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use auditkit::graph::AuditEvent;
use auditkit::{
    AdobeClient, EntraCredential, GraphClient, ImsCredential, ImsEnvironment, ListQuery,
    RetryPolicy, TokenCache,
};
use auditkit_runtime::ManualClock;
use futures::TryStreamExt;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "s3cr3t-client-value-~.";
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access-token-1";
const TOKEN_2: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access-token-2";
const TENANT: &str = "contoso.onmicrosoft.com";
const TOKEN_PATH: &str = "/contoso.onmicrosoft.com/oauth2/v2.0/token";

// The one place test servers are made, under the names these tests use.
use auditkit_testing::{bare_server as start, http};

fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token
    }))
}

fn graph(server: &MockServer, cache: TokenCache) -> GraphClient {
    let uri = url::Url::parse(&server.uri()).unwrap();
    GraphClient::builder()
        .credential(
            EntraCredential::client_secret(TENANT, "app-id", SECRET).authority_host(uri.clone()),
        )
        .base_url(uri.join("/v1.0").unwrap())
        .http_client(http())
        .token_cache(cache)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn requests_to(received: &[Request], wanted: &str) -> usize {
    received.iter().filter(|r| r.url.path() == wanted).count()
}

fn event_json(id: &str) -> serde_json::Value {
    json!({"@odata.type": "#microsoft.graph.auditEvent", "id": id, "activityDateTime": "2025-03-24T15:14:04Z"})
}

#[tokio::test]
async fn graph_calls_carry_the_token_a_fresh_guid_and_no_api_version() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 3599))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/deviceManagement/auditEvents/e1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(event_json("e1"))
                .insert_header("request-id", "rid-1"),
        )
        .mount(&server)
        .await;
    let client = graph(&server, TokenCache::new());
    let event = client.audit_events().get("e1").await.unwrap();
    assert_eq!(event.id.as_deref(), Some("e1"));
    client.audit_events().get("e1").await.unwrap();

    let received = server.received_requests().await.unwrap();
    let token_request = received
        .iter()
        .find(|r| r.url.path() == TOKEN_PATH)
        .unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&token_request.body)
        .into_owned()
        .collect();
    assert_eq!(
        form,
        [
            ("grant_type".into(), "client_credentials".into()),
            ("client_id".into(), "app-id".into()),
            (
                "scope".into(),
                "https://graph.microsoft.com/.default".into()
            ),
            ("client_secret".into(), SECRET.into()),
        ]
    );
    assert_eq!(
        requests_to(&received, TOKEN_PATH),
        1,
        "the second call reuses the cached token"
    );
    let calls: Vec<&Request> = received
        .iter()
        .filter(|r| r.url.path() != TOKEN_PATH)
        .collect();
    assert_eq!(calls.len(), 2);
    let mut ids = Vec::new();
    for call in &calls {
        assert_eq!(
            call.headers.get("authorization").unwrap(),
            &format!("Bearer {TOKEN}")
        );
        assert!(call.headers.get("api-version").is_none());
        assert_eq!(
            call.headers.get("user-agent").unwrap(),
            concat!("auditkit/", env!("CARGO_PKG_VERSION"))
        );
        let id = call
            .headers
            .get("client-request-id")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(
            uuid::Uuid::parse_str(id).unwrap().get_version_num(),
            4,
            "{id}"
        );
        ids.push(id.to_owned());
    }
    assert_ne!(ids[0], ids[1], "each call gets its own client-request-id");
}

#[tokio::test]
async fn fifty_concurrent_calls_on_a_cold_cache_fetch_one_token() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 3599).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event_json("x")))
        .mount(&server)
        .await;
    let client = graph(&server, TokenCache::new());
    let calls = (0..50).map(|i| {
        let client = client.clone();
        tokio::spawn(async move { client.audit_events().get(&format!("e{i}")).await })
    });
    for outcome in futures::future::join_all(calls).await {
        outcome.unwrap().unwrap();
    }
    let received = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&received, TOKEN_PATH), 1);
    assert_eq!(received.len(), 51);
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_before_use() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN_2, 3600))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event_json("x")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let client = graph(&server, TokenCache::with_clock(Arc::new(clock.clone())));

    client.audit_events().get("a").await.unwrap();
    clock.advance(Duration::from_secs(3600 - 6 * 60)); // 6 minutes left: still fresh
    client.audit_events().get("b").await.unwrap();
    clock.advance(Duration::from_secs(2 * 60)); // 4 minutes left: under the 5-minute margin
    client.audit_events().get("c").await.unwrap();

    let received = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&received, TOKEN_PATH), 2);
    let bearers: Vec<_> = received
        .iter()
        .filter(|r| r.url.path() != TOKEN_PATH)
        .map(|r| {
            r.headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        bearers,
        [
            format!("Bearer {TOKEN}"),
            format!("Bearer {TOKEN}"),
            format!("Bearer {TOKEN_2}")
        ]
    );
}

#[tokio::test]
async fn a_short_lived_token_is_not_fetched_on_every_call() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 120))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event_json("x")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let client = graph(&server, TokenCache::with_clock(Arc::new(clock.clone())));
    client.audit_events().get("a").await.unwrap();
    clock.advance(Duration::from_secs(50)); // refresh margin is half of 120 s, not 5 minutes
    client.audit_events().get("b").await.unwrap();
    assert_eq!(
        requests_to(&server.received_requests().await.unwrap(), TOKEN_PATH),
        1
    );
}

#[tokio::test]
async fn a_failing_refresh_keeps_a_still_valid_token_in_use() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"error": "temporarily_unavailable"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event_json("x")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let client = graph(&server, TokenCache::with_clock(Arc::new(clock.clone())));
    client.audit_events().get("a").await.unwrap();
    clock.advance(Duration::from_secs(3600 - 60)); // one minute left: refresh is due, and fails
    client.audit_events().get("b").await.unwrap();
    clock.advance(Duration::from_secs(120)); // expired: the failure surfaces
    let error = client.audit_events().get("c").await.unwrap_err();
    assert!(error.is_auth(), "{error}");
    assert!(
        matches!(error, auditkit::Error::Auth(ref auth) if auth.is_transient() && auth.status() == Some(503)),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_401_causes_one_refresh_and_one_replay_never_a_loop() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN_2, 3600))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"code": "InvalidAuthenticationToken", "message": "expired"}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header(
            "authorization",
            format!("Bearer {TOKEN_2}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(event_json("ok")))
        .mount(&server)
        .await;
    let client = graph(&server, TokenCache::new());
    let event = client.audit_events().get("a").await.unwrap();
    assert_eq!(event.id.as_deref(), Some("ok"));
    let received = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&received, TOKEN_PATH), 2);
    let api: Vec<_> = received
        .iter()
        .filter(|r| r.url.path() != TOKEN_PATH)
        .collect();
    assert_eq!(api.len(), 2);
    assert_eq!(
        api[0].headers.get("client-request-id"),
        api[1].headers.get("client-request-id"),
        "a replay is the same call"
    );

    // A service that refuses every token: one replay, then the 401 is the answer.
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 3600))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"code": "InvalidAuthenticationToken", "message": "no"}}),
        ))
        .mount(&server)
        .await;
    let error = graph(&server, TokenCache::new())
        .audit_events()
        .get("a")
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert!(error.is_auth());
    let received = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&received, TOKEN_PATH), 2);
    assert_eq!(
        received.len() - 2,
        2,
        "the request was sent twice, not more"
    );
}

#[tokio::test]
async fn every_graph_operation_through_the_facade() {
    use auditkit_testing::mock::graph as mock;
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 3600))
        .mount(&server)
        .await;
    let base = "/v1.0/deviceManagement/auditEvents";
    let listed: Vec<AuditEvent> = ["e1", "e2", "e3"].into_iter().map(mock::event).collect();
    mock::list(&server, &listed, 2).await;
    mock::create(&server).await;
    mock::respond(&server, "PATCH", "/e1", ResponseTemplate::new(204), None).await;
    mock::update(&server, &mock::event("e2")).await;
    mock::delete(&server, "e1").await;
    mock::count(&server, 42).await;
    mock::categories(&server, &["Application", "Compliance"]).await;
    mock::activity_types(&server, "Bob's Apps", &["Create Bob's App"]).await;
    mock::error(&server, "GET", "/missing", 404, "itemNotFound", "gone").await;

    let client = graph(&server, TokenCache::new());
    let events = client.audit_events();
    let query = ListQuery::new()
        .filter("category eq 'Application'")
        .order_by("activityDateTime desc")
        .order_by("id")
        .top(2);
    let first = events.list_page(&query).await.unwrap();
    assert_eq!(first.items, listed[..2]);
    let second = events
        .next_page(first.next_link.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(second.items[0].id.as_deref(), Some("e3"));
    assert_eq!(second.next_link, None);
    let created = events
        .create(&AuditEvent {
            display_name: Some("d".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(created.id.is_some(), "an id is assigned");
    assert_eq!(created.display_name.as_deref(), Some("d"));
    assert_eq!(
        events.update("e1", &AuditEvent::default()).await.unwrap(),
        None,
        "204 is success"
    );
    assert_eq!(
        events
            .update("e2", &AuditEvent::default())
            .await
            .unwrap()
            .unwrap()
            .id
            .as_deref(),
        Some("e2")
    );
    events.delete("e1").await.unwrap();
    assert_eq!(
        events
            .count(Some("category eq 'Application'"))
            .await
            .unwrap(),
        42
    );
    assert_eq!(
        events.categories().try_collect::<Vec<_>>().await.unwrap(),
        ["Application", "Compliance"]
    );
    assert_eq!(
        events
            .activity_types("Bob's Apps")
            .try_collect::<Vec<_>>()
            .await
            .unwrap(),
        ["Create Bob's App"]
    );
    let error = events.get("missing").await.unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert_eq!(error.request_id(), Some(mock::REQUEST_ID));
    assert_eq!(
        error.service().unwrap().code.as_deref(),
        Some("itemNotFound")
    );

    let received = server.received_requests().await.unwrap();
    let list = received
        .iter()
        .find(|r| r.url.path() == base && r.method.as_str() == "GET")
        .unwrap();
    assert_eq!(
        list.url.query(),
        Some(
            "%24filter=category+eq+%27Application%27&%24orderby=activityDateTime+desc%2Cid&%24top=2"
        )
    );
    let types = received
        .iter()
        .find(|r| r.url.path().contains("getAuditActivityTypes"))
        .unwrap();
    assert_eq!(
        types.url.path(),
        format!("{base}/microsoft.graph.getAuditActivityTypes(category='Bob''s%20Apps')")
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_without_sending_the_token() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 3600))
        .mount(&server)
        .await;
    let events = graph(&server, TokenCache::new());
    let error = events
        .audit_events()
        .next_page("https://evil.example/v1.0/deviceManagement/auditEvents?$skiptoken=x")
        .await
        .unwrap_err();
    assert!(matches!(error, auditkit::Error::Refused(_)), "{error:?}");
    assert!(
        error.to_string().contains("https://evil.example"),
        "{error}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn credentials_never_travel_over_plain_http_to_a_remote_host() {
    let remote = url::Url::parse("http://10.20.30.40:8080/").unwrap();
    let error = GraphClient::builder()
        .credential(
            EntraCredential::client_secret(TENANT, "app", SECRET).authority_host(remote.clone()),
        )
        .base_url(url::Url::parse("https://graph.example/v1.0").unwrap())
        .http_client(http())
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("plain http"), "{error}");
    let error = GraphClient::builder()
        .credential(EntraCredential::client_secret(TENANT, "app", SECRET))
        .base_url(remote.join("v1.0").unwrap())
        .http_client(http())
        .build()
        .unwrap_err();
    assert!(matches!(error, auditkit::Error::Refused(_)), "{error:?}");
    let error = AdobeClient::builder()
        .base_url(remote)
        .credential(ImsCredential::server_to_server("id", SECRET, ["s"]))
        .http_client(http())
        .build()
        .unwrap_err();
    assert!(matches!(error, auditkit::Error::Refused(_)), "{error:?}");
}

fn adobe(server: &MockServer) -> AdobeClient {
    let uri = url::Url::parse(&server.uri()).unwrap();
    AdobeClient::builder()
        .base_url(uri.clone())
        .credential(
            ImsCredential::server_to_server("adobe-client", SECRET, ["openid", "AdobeID"])
                .org_id("ORG@AdobeOrg")
                .environment(ImsEnvironment::Custom(uri)),
        )
        .http_client(http())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn adobe_event() -> auditkit::adobe::AdobeAuditEvent {
    auditkit::adobe::AdobeAuditEvent {
        action: "create".into(),
        ims_org_id: "ORG@AdobeOrg".into(),
        resource: auditkit::adobe::Resource {
            resource_id: "r".into(),
        },
        service: auditkit::adobe::Service {
            service_id: "s".into(),
        },
        source: "azure".into(),
        tags: Default::default(),
        timestamp: auditkit::adobe::Timestamp::now(),
        user_identifier: "u".into(),
    }
}

#[tokio::test]
async fn adobe_calls_carry_bearer_api_key_and_org_and_accept_a_bare_id() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path("/ims/token/v3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": TOKEN, "token_type": "bearer", "expires_in": 86399}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/audits"))
        .respond_with(ResponseTemplate::new(201).set_body_raw("\"id-1\"", "application/json"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/audits"))
        .respond_with(ResponseTemplate::new(201).set_body_raw("id-2", "text/plain"))
        .mount(&server)
        .await;
    let client = adobe(&server);
    assert_eq!(client.post_audit(&adobe_event()).await.unwrap(), "id-1");
    assert_eq!(client.post_audit(&adobe_event()).await.unwrap(), "id-2");
    let received = server.received_requests().await.unwrap();
    let token = received
        .iter()
        .find(|r| r.url.path() == "/ims/token/v3")
        .unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&token.body)
        .into_owned()
        .collect();
    assert!(
        form.contains(&("scope".into(), "openid,AdobeID".into())),
        "{form:?}"
    );
    for call in received.iter().filter(|r| r.url.path() == "/audits") {
        assert_eq!(
            call.headers.get("authorization").unwrap(),
            &format!("Bearer {TOKEN}")
        );
        assert_eq!(call.headers.get("x-api-key").unwrap(), "adobe-client");
        assert_eq!(call.headers.get("x-gw-ims-org-id").unwrap(), "ORG@AdobeOrg");
        assert!(call.headers.get("api-version").is_none());
        assert!(
            call.headers.get("client-request-id").is_none(),
            "a Graph convention, not sent to Adobe"
        );
    }
}

#[tokio::test]
async fn adobe_errors_are_typed() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path("/ims/token/v3"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": TOKEN, "expires_in": 86399})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/audits"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"reason": "MAINTENANCE", "message": "later"}))
                .insert_header("x-debug-id", "dbg-9")
                .insert_header("retry-after", "30"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/audits"))
        .respond_with(
            ResponseTemplate::new(502).set_body_raw("<html>bad gateway</html>", "text/html"),
        )
        .mount(&server)
        .await;
    let client = adobe(&server);
    let error = client.post_audit(&adobe_event()).await.unwrap_err();
    let service = error.service().unwrap();
    assert_eq!(
        (
            service.status,
            service.code.as_deref(),
            service.message.as_deref()
        ),
        (503, Some("MAINTENANCE"), Some("later"))
    );
    assert_eq!(service.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(error.request_id(), Some("dbg-9"));
    let error = client.post_audit(&adobe_event()).await.unwrap_err();
    assert_eq!(
        error.service().unwrap().message.as_deref(),
        Some("<html>bad gateway</html>")
    );
}

#[tokio::test]
async fn no_secret_or_token_in_debug_output_or_traces() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_answer(TOKEN, 3600))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(event_json("e1"))
                .insert_header("request-id", "rid-traced"),
        )
        .mount(&server)
        .await;
    let logs = auditkit_testing::Logs::default();
    let client = graph(&server, TokenCache::new());
    logs.capture(tracing::Level::TRACE, client.audit_events().get("e1"))
        .await
        .unwrap();
    let traces = logs.text();
    assert!(
        traces.contains("device_management_get_audit_events"),
        "the operation is traced: {traces}"
    );
    // OpenTelemetry's HTTP client names, and the service's request id.
    let port = format!(
        "server.port={}",
        url::Url::parse(&server.uri()).unwrap().port().unwrap()
    );
    let full = format!(
        "url.full={}/v1.0/deviceManagement/auditEvents/e1",
        server.uri()
    );
    for field in [
        "otel.kind=\"client\"",
        "http.request.method=GET",
        "server.address=127.0.0.1",
        &port,
        &full,
        "url.path=/v1.0/deviceManagement/auditEvents/e1",
        "http.response.status_code=200",
        "auditkit.operation=device_management_get_audit_events",
        "auditkit.request_id=rid-traced",
        "auditkit.client_request_id=",
        "auditkit.duration_ms=",
    ] {
        assert!(traces.contains(field), "{field} is traced: {traces}");
    }
    // Sent once and answered: no resend count, no error type.
    for absent in ["http.request.resend_count", "error.type"] {
        assert!(
            !traces.contains(absent),
            "{absent} on a first-time success: {traces}"
        );
    }
    let credential = EntraCredential::client_secret(TENANT, "app", SECRET);
    let ims = ImsCredential::server_to_server("id", SECRET, ["s"]);
    let debug = format!(
        "{traces}\n{client:?}\n{credential:?}\n{ims:?}\n{:?}",
        adobe(&server)
    );
    for secret in [SECRET, TOKEN, "access-token-1"] {
        assert!(!debug.contains(secret), "{secret} leaked into: {debug}");
    }
}

#[tokio::test]
async fn a_call_sent_again_or_failed_says_so_on_its_span() {
    use auditkit_testing::mock::graph as mock;
    // Token endpoints answered; retries wait on a manual clock.
    let server = auditkit_testing::server().await;
    mock::respond(&server, "GET", "/e1", mock::unavailable(None), Some(2)).await;
    mock::get(&server, &mock::event("e1")).await;
    mock::respond(&server, "GET", "/gone", ResponseTemplate::new(404), None).await;
    let client = auditkit_testing::graph(&server);
    let logs = auditkit_testing::Logs::default();
    logs.capture(tracing::Level::INFO, client.audit_events().get("e1"))
        .await
        .unwrap();
    let traces = logs.text();
    assert!(traces.contains("http.request.resend_count=2"), "{traces}");
    assert!(traces.contains("http.response.status_code=200"), "{traces}");
    assert!(!traces.contains("error.type"), "{traces}");

    let logs = auditkit_testing::Logs::default();
    let missing = logs
        .capture(tracing::Level::INFO, client.audit_events().get("gone"))
        .await;
    assert!(missing.is_err());
    let traces = logs.text();
    for field in ["http.response.status_code=404", "error.type=404"] {
        assert!(traces.contains(field), "{field}: {traces}");
    }
}

#[tokio::test]
async fn captures_run_side_by_side_each_keep_their_own_lines() {
    use auditkit_testing::mock::graph as mock;
    let server = auditkit_testing::server().await;
    mock::get(&server, &mock::event("one")).await;
    mock::get(&server, &mock::event("two")).await;
    let client = auditkit_testing::graph(&server);
    let events = client.audit_events();
    let (first, second) = (
        auditkit_testing::Logs::default(),
        auditkit_testing::Logs::default(),
    );
    let (a, b) = futures::join!(
        first.capture(tracing::Level::INFO, events.get("one")),
        second.capture(tracing::Level::INFO, events.get("two")),
    );
    a.unwrap();
    b.unwrap();
    let (first, second) = (first.text(), second.text());
    assert!(
        first.contains("auditEvents/one") && !first.contains("auditEvents/two"),
        "{first}"
    );
    assert!(
        second.contains("auditEvents/two") && !second.contains("auditEvents/one"),
        "{second}"
    );
}
