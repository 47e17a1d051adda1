//! What the facade's integration tests share: a wiremock server on 127.0.0.1 with a token
//! endpoint, and clients pointed at it. (Each test file includes it with `mod support;`;
//! not every file uses every helper.)

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auditkit::{
    AdobeClient, AdobeClientBuilder, EntraCredential, GraphClient, GraphClientBuilder,
    ImsCredential, ImsEnvironment, ManualClock, RetryPolicy,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const TENANT: &str = "tenant";
pub const SECRET: &str = "s3cr3t-client-value-that-must-never-leak";
pub const TOKEN: &str = "access-token-that-must-never-leak";
pub const TOKEN_PATH: &str = "/tenant/oauth2/v2.0/token";
pub const IMS_TOKEN_PATH: &str = "/ims/token/v3";
pub const EVENTS: &str = "/v1.0/deviceManagement/auditEvents";
pub const SEED: u64 = 20_261_203;

/// A server on 127.0.0.1, port 0, with nothing mounted.
pub async fn bare_server() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    MockServer::builder().listener(listener).start().await
}

/// A server whose Entra ID and IMS token endpoints hand out [`TOKEN`] for an hour.
pub async fn server() -> MockServer {
    let server = bare_server().await;
    for token_path in [TOKEN_PATH, IMS_TOKEN_PATH] {
        Mock::given(method("POST"))
            .and(path(token_path))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": TOKEN, "expires_in": 3600})),
            )
            .mount(&server)
            .await;
    }
    server
}

pub fn url(server: &MockServer) -> url::Url {
    url::Url::parse(&server.uri()).unwrap()
}

pub fn http() -> auditkit::HttpClient {
    auditkit::HttpClient::new().unwrap()
}

/// A Graph client of `server` whose retries wait on a `ManualClock` (recorded, not slept).
pub fn graph_builder(server: &MockServer, clock: &ManualClock) -> GraphClientBuilder {
    let uri = url(server);
    eprintln!("jitter seed {SEED}");
    GraphClient::builder()
        .credential(
            EntraCredential::client_secret(TENANT, "app", SECRET).authority_host(uri.clone()),
        )
        .base_url(uri.join("/v1.0").unwrap())
        .http_client(http())
        .retry(RetryPolicy::default().jitter_seed(SEED))
        .time(Arc::new(clock.clone()), Arc::new(clock.clone()))
}

pub fn graph(server: &MockServer) -> GraphClient {
    graph_builder(server, &ManualClock::new()).build().unwrap()
}

pub fn adobe_builder(server: &MockServer, clock: &ManualClock) -> AdobeClientBuilder {
    let uri = url(server);
    AdobeClient::builder()
        .base_url(uri.clone())
        .credential(
            ImsCredential::server_to_server("adobe-client", SECRET, ["openid"])
                .org_id("ORG@AdobeOrg")
                .environment(ImsEnvironment::Custom(uri)),
        )
        .http_client(http())
        .retry(RetryPolicy::default().jitter_seed(SEED))
        .time(Arc::new(clock.clone()), Arc::new(clock.clone()))
}

pub fn adobe(server: &MockServer) -> AdobeClient {
    adobe_builder(server, &ManualClock::new()).build().unwrap()
}

/// The requests that reached `server` other than token requests.
pub async fn api_requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() != TOKEN_PATH && r.url.path() != IMS_TOKEN_PATH)
        .collect()
}

pub fn adobe_event() -> auditkit::adobe::AdobeAuditEvent {
    serde_json::from_value(json!({
        "action": "create",
        "imsOrgId": "ORG@AdobeOrg",
        "resource": {"resourceId": "r1"},
        "service": {"serviceId": "s1"},
        "source": "azure",
        "timestamp": "2025-03-24T15:14:04.000Z",
        "userIdentifier": "ann@example.com"
    }))
    .unwrap()
}
