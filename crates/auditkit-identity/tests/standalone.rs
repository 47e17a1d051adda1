//! The crate on its own, through its public API only: what an application that calls another
//! API with these tokens relies on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;

use auditkit_identity::{
    Credential, EntraCredential, ExposeSecret, GraphCloud, ImsCredential, ImsEnvironment,
    SecretString, TokenCache,
};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn server() -> MockServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    MockServer::builder().listener(listener).start().await
}

fn answer(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "token_type": "Bearer", "expires_in": expires_in, "access_token": token
    }))
}

#[tokio::test]
async fn an_entra_token_for_a_request_of_ones_own_shared_through_one_cache() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/contoso/oauth2/v2.0/token"))
        .and(body_string_contains("client_secret=from-a-file"))
        .respond_with(answer("entra.token", 3599))
        .expect(1)
        .mount(&server)
        .await;
    let http = auditkit_identity::HttpClient::new().unwrap();
    let cache = TokenCache::new();
    let credential =
        EntraCredential::client_secret_from("contoso", "app", SecretString::from("from-a-file"))
            .authority_host(server.uri().parse().unwrap());

    let bearer = credential
        .bearer(GraphCloud::Global, &http, cache.clone())
        .unwrap();
    assert_eq!(bearer.token().await.unwrap().expose_secret(), "entra.token");
    // A second bearer of the same credential on the same cache asks for nothing new.
    let again = credential.bearer(GraphCloud::Global, &http, cache).unwrap();
    let headers = again.headers().await.unwrap();
    assert_eq!(
        headers.get("authorization").unwrap().to_str().unwrap(),
        "Bearer entra.token"
    );
    // `expect(1)` is checked when the server drops.
}

#[tokio::test]
async fn an_ims_credential_gives_the_audit_service_headers() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/ims/token/v3"))
        .respond_with(answer("ims.token", 86399))
        .expect(1)
        .mount(&server)
        .await;
    let http = auditkit_identity::HttpClient::new().unwrap();
    let bearer = ImsCredential::server_to_server("client-abc", "s2s-secret", ["openid"])
        .org_id("ORG1@AdobeOrg")
        .environment(ImsEnvironment::Custom(server.uri().parse().unwrap()))
        .bearer(&http, TokenCache::new())
        .unwrap();
    let headers = bearer.headers().await.unwrap();
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("authorization"), "Bearer ims.token");
    assert_eq!(header("x-api-key"), "client-abc");
    assert_eq!(header("x-gw-ims-org-id"), "ORG1@AdobeOrg");
    assert!(!format!("{bearer:?}").contains("s2s-secret"));
}
