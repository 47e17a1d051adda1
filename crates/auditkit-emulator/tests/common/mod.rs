//! Shared helpers: a plain reqwest client and token fetching.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auditkit_emulator::Emulator;
use serde_json::Value;

pub fn client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .no_proxy()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap()
}

pub fn token_url(emulator: &Emulator) -> String {
    format!(
        "{}{}/oauth2/v2.0/token",
        emulator.url(),
        emulator.credentials().tenant
    )
}

pub async fn graph_token(client: &reqwest::Client, emulator: &Emulator) -> String {
    let credentials = emulator.credentials();
    let response = client
        .post(token_url(emulator))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", credentials.graph_client_id.as_str()),
            ("client_secret", credentials.graph_client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub async fn ims_token(client: &reqwest::Client, emulator: &Emulator) -> String {
    let credentials = emulator.credentials();
    let response = client
        .post(format!("{}ims/token/v3", emulator.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", credentials.adobe_client_id.as_str()),
            ("client_secret", credentials.adobe_client_secret.as_str()),
            ("scope", "openid,AdobeID,read_organizations"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    body["access_token"].as_str().unwrap().to_owned()
}

pub fn events_url(emulator: &Emulator) -> String {
    format!("{}/deviceManagement/auditEvents", emulator.graph_url())
}

/// Asserts Graph's error shape and returns the code.
pub async fn odata_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert!(response.headers().contains_key("request-id"));
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["innerError"]["request-id"].is_string(), "{body}");
    assert!(error["innerError"]["date"].is_string(), "{body}");
    error["code"].as_str().unwrap().to_owned()
}

/// A unique scratch path under the temp dir.
pub fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "auditkit-emulator-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ))
}
