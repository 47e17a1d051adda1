//! What the Adobe IMS unit tests share: a token endpoint on loopback, credentials pointed at
//! it, readers of what was sent, and variable tables.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use auditkit_runtime::{AuthError, AuthErrorKind, CredentialHeaders, ManualClock};
#[cfg(feature = "ims-jwt")]
use base64::Engine as _;
#[cfg(feature = "ims-jwt")]
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) use crate::test_support::{http, server};
use crate::{ImsCredential, ImsEnvironment, TokenCache};

pub(crate) const SECRET: &str = "s2s-secret-7f3a9c";
pub(crate) const TOKEN: &str = "eyJ-access-token-1234";

pub(crate) fn custom(server: &MockServer) -> ImsEnvironment {
    ImsEnvironment::Custom(Url::parse(&server.uri()).unwrap())
}

pub(crate) fn token_answer(expires_in: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": TOKEN,
        "token_type": "bearer",
        "expires_in": expires_in,
    }))
}

/// IMS's error body: `{"error": code, "error_description": text}`.
pub(crate) fn ims_error(status: u16, code: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(serde_json::json!({"error": code, "error_description": description}))
}

pub(crate) fn s2s(server: &MockServer) -> ImsCredential {
    ImsCredential::server_to_server(
        "client-abc",
        SECRET,
        ["openid", "AdobeID", "read_organizations"],
    )
    .environment(custom(server))
}

pub(crate) fn auth(error: crate::Error) -> AuthError {
    match error {
        crate::Error::Auth(error) => *error,
        other => panic!("expected an auth error, got {other}"),
    }
}

pub(crate) async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

pub(crate) fn form(request: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

pub(crate) fn header<'a>(headers: &'a CredentialHeaders, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

/// Fetches, moves the clock, fetches again, and says how many token requests were made.
pub(crate) async fn requests_after(
    server: &MockServer,
    credential: &ImsCredential,
    steps: &[Duration],
) -> Vec<usize> {
    let clock = ManualClock::new();
    let cache = TokenCache::with_clock(Arc::new(clock.clone()));
    let bearer = credential.bearer(&http(), cache).unwrap();
    let mut counts = Vec::new();
    bearer.token().await.unwrap();
    counts.push(requests(server).await.len());
    for step in steps {
        clock.advance(*step);
        bearer.token().await.unwrap();
        counts.push(requests(server).await.len());
    }
    counts
}

pub(crate) const HOUR: Duration = Duration::from_secs(3600);
#[cfg(feature = "ims-jwt")]
pub(crate) const MINUTE: Duration = Duration::from_secs(60);

pub(crate) fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

pub(crate) const BASE: [(&str, &str); 3] = [
    ("ADOBE_CLIENT_ID", "client-abc"),
    ("ADOBE_CLIENT_SECRET", SECRET),
    ("ADOBE_SCOPES", "openid,AdobeID"),
];

pub(crate) fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    BASE.iter().chain(extra).copied().collect()
}

pub(crate) fn from_vars_error(pairs: &[(&str, &str)]) -> String {
    let error = auth(ImsCredential::from_vars(vars(pairs)).unwrap_err());
    assert_eq!(error.kind(), AuthErrorKind::Configuration);
    let text = error.to_string();
    assert!(!text.contains(SECRET), "{text}");
    text
}

#[cfg(feature = "ims-jwt")]
pub(crate) const KEY_PEM: &str = include_str!("../../testdata/ims/key.pem");
#[cfg(feature = "ims-jwt")]
pub(crate) const KEY_PKCS1_PEM: &str = include_str!("../../testdata/ims/key-pkcs1.pem");
#[cfg(feature = "ims-jwt")]
pub(crate) const JWT_SECRET: &str = "jwt-client-secret-91d2";
#[cfg(feature = "ims-jwt")]
pub(crate) const ORG: &str = "ORG1@AdobeOrg";
#[cfg(feature = "ims-jwt")]
pub(crate) const TECHNICAL: &str = "TECH1@techacct.adobe.com";

#[cfg(feature = "ims-jwt")]
pub(crate) fn key_path() -> String {
    format!("{}/testdata/ims/key.pem", env!("CARGO_MANIFEST_DIR"))
}

#[cfg(feature = "ims-jwt")]
pub(crate) fn jwt_credential(server: &MockServer) -> ImsCredential {
    ImsCredential::jwt(
        "client-abc",
        JWT_SECRET,
        ORG,
        TECHNICAL,
        KEY_PEM.as_bytes(),
        ["ent_auditservice_sdk", "ent_user_sdk"],
    )
    .unwrap()
    .environment(custom(server))
}

#[cfg(feature = "ims-jwt")]
pub(crate) fn jwt_answer(expires_in_ms: u64) -> ResponseTemplate {
    token_answer(expires_in_ms.into())
}

#[cfg(feature = "ims-jwt")]
pub(crate) async fn jwt_server(expires_in_ms: u64) -> MockServer {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/ims/exchange/jwt"))
        .respond_with(jwt_answer(expires_in_ms))
        .mount(&server)
        .await;
    server
}

#[cfg(feature = "ims-jwt")]
pub(crate) fn decode(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// An IMS answering Server-to-Server token requests with `answer`.
pub(crate) async fn s2s_server(answer: ResponseTemplate) -> MockServer {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/ims/token/v3"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

/// An IMS that refuses `old-secret` as `invalid_client` and gives a token for `new-secret`.
pub(crate) async fn rotation_server() -> MockServer {
    let server = server().await;
    let refusal = ims_error(401, "invalid_client", "invalid client_secret parameter");
    Mock::given(body_string_contains("client_secret=old-secret"))
        .respond_with(refusal)
        .mount(&server)
        .await;
    Mock::given(body_string_contains("client_secret=new-secret"))
        .respond_with(token_answer(86399.into()))
        .mount(&server)
        .await;
    server
}
