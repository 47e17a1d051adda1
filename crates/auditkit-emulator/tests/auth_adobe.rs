//! Both token endpoints, token expiry, and the Adobe Audit Service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use auditkit_emulator::{Emulator, EmulatorConfig};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{client, events_url, graph_token, ims_token, odata_error, token_url};
use serde_json::{Value, json};

async fn entra(
    client: &reqwest::Client,
    emulator: &Emulator,
    url: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = client.post(url).form(form).send().await.unwrap();
    let status = response.status().as_u16();
    let _ = emulator;
    (status, response.json().await.unwrap())
}

fn assertion(head: Value, claims: Value) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(head.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"unverified-signature")
    )
}

#[tokio::test]
async fn entra_token_endpoint() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let client = client();
    let url = token_url(&emulator);
    let credentials = emulator.credentials().clone();
    let id = credentials.graph_client_id.as_str();
    let scope = "https://graph.microsoft.com/.default";

    let (status, body) = entra(
        &client,
        &emulator,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", &credentials.graph_client_secret),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["ext_expires_in"], 3600);
    assert!(body["access_token"].as_str().unwrap().len() > 20);

    let (status, body) = entra(
        &client,
        &emulator,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", "wrong"),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: Invalid client secret provided.")
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[key].is_string(), "{key}");
    }

    let other_tenant = format!("{}someone-else/oauth2/v2.0/token", emulator.url());
    let (status, body) = entra(
        &client,
        &emulator,
        &other_tenant,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_codes"], json!([90002]));

    let (status, body) = entra(
        &client,
        &emulator,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", &credentials.graph_client_secret),
            ("scope", "https://graph.microsoft.com/AuditLog.Read.All"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // a client assertion: shape and claims checked, signature not verifiable
    let exp = chrono::Utc::now().timestamp() + 600;
    let good = assertion(
        json!({"alg": "PS256", "typ": "JWT"}),
        json!({"aud": url, "iss": id, "sub": id, "exp": exp, "jti": "x"}),
    );
    let jwt_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let (status, body) = entra(
        &client,
        &emulator,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_assertion_type", jwt_type),
            ("client_assertion", &good),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let expired = assertion(
        json!({"alg": "RS256"}),
        json!({"aud": url, "iss": id, "sub": id, "exp": 1000}),
    );
    let wrong_aud = assertion(
        json!({"alg": "PS256"}),
        json!({"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token", "iss": id, "sub": id, "exp": exp}),
    );
    for bad in [expired.as_str(), wrong_aud.as_str(), "not.a-jwt", "a.b.c"] {
        let (status, body) = entra(
            &client,
            &emulator,
            &url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_assertion_type", jwt_type),
                ("client_assertion", bad),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_client");
    }
    assert_eq!(emulator.stats().tokens_issued, 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn tokens_expire() {
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .seed_events(3)
            .token_lifetime(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let client = client();
    let token = graph_token(&client, &emulator).await;
    let url = events_url(&emulator);
    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(
        odata_error(response, 401).await,
        "InvalidAuthenticationToken"
    );
    let fresh = graph_token(&client, &emulator).await;
    let response = client.get(&url).bearer_auth(&fresh).send().await.unwrap();
    assert_eq!(response.status(), 200);
    emulator.shutdown().await;
}

fn adobe_event() -> Value {
    json!({
        "action": "create",
        "imsOrgId": "EMULATOR0000000000000000@AdobeOrg",
        "resource": {"resourceId": "stream-1"},
        "service": {"serviceId": "SKMS-42"},
        "source": "marketingcloud",
        "tags": {"env": "test"},
        "timestamp": "2017-10-31T00:02:04.232Z",
        "userIdentifier": "user@example.com"
    })
}

#[tokio::test]
async fn ims_and_adobe_audits() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let client = client();
    let credentials = emulator.credentials().clone();
    let ims = format!("{}ims/token/v3", emulator.url());
    let response = client
        .post(&ims)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", credentials.adobe_client_id.as_str()),
            ("client_secret", "wrong"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("x-debug-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string());

    let token = ims_token(&client, &emulator).await;
    let audits = format!("{}audits", emulator.url());
    let post = |body: Value, token: Option<&str>, key: Option<&str>| {
        let mut request = client.post(&audits).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send()
    };
    let key = Some(credentials.adobe_client_id.as_str());

    let response = post(adobe_event(), Some(&token), key).await.unwrap();
    assert_eq!(response.status(), 201);
    let id: Value = response.json().await.unwrap();
    assert!(id.is_string(), "{id}");

    // auth: missing token, graph token, missing or wrong api key → 401 with a JSON string
    let graph = graph_token(&client, &emulator).await;
    for (token, key) in [
        (None, key),
        (Some(graph.as_str()), key),
        (Some(token.as_str()), None),
        (Some(token.as_str()), Some("other-client")),
    ] {
        let response = post(adobe_event(), token, key).await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert!(body.is_string(), "{body}");
    }

    // each required field missing, wrong shapes, timestamps without milliseconds
    let mut bad_bodies = Vec::new();
    for field in [
        "action",
        "imsOrgId",
        "resource",
        "service",
        "source",
        "timestamp",
        "userIdentifier",
    ] {
        let mut body = adobe_event();
        body.as_object_mut().unwrap().remove(field);
        bad_bodies.push(body);
    }
    for (path, value) in [
        ("/resource", json!({})),
        ("/service", json!({"serviceId": 5})),
        ("/timestamp", json!("2017-10-31T00:02:04Z")),
        ("/timestamp", json!("2017-10-31T00:02:04.232+01:00")),
        ("/timestamp", json!("yesterday")),
        ("/tags", json!({"a": 1})),
        ("/action", json!(7)),
    ] {
        let mut body = adobe_event();
        *body.pointer_mut(path).unwrap() = value;
        bad_bodies.push(body);
    }
    bad_bodies.push(json!([1]));
    for body in bad_bodies {
        let response = post(body.clone(), Some(&token), key).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let message: Value = response.json().await.unwrap();
        assert!(message.as_str().is_some_and(|m| !m.is_empty()), "{message}");
    }
    let response = client
        .post(&audits)
        .bearer_auth(&token)
        .header("x-api-key", credentials.adobe_client_id.as_str())
        .header("content-type", "application/json")
        .body(b"{\"action\": \"\xff\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = client
        .post(&audits)
        .bearer_auth(&token)
        .header("x-api-key", credentials.adobe_client_id.as_str())
        .json(&json!({"action": "x".repeat(1024 * 1024)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let response = client.get(&audits).send().await.unwrap();
    assert_eq!(response.status(), 405);

    let stats = emulator.stats();
    assert_eq!(stats.adobe_events_stored, 1);
    assert_eq!(stats.tokens_issued, 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_client_assertion_is_for_the_emulator_whatever_the_host_header_says() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let client = client();
    let url = token_url(&emulator);
    let id = emulator.credentials().graph_client_id.clone();
    let exp = chrono::Utc::now().timestamp() + 600;
    let for_audience = |aud: &str| {
        assertion(
            json!({"alg": "PS256"}),
            json!({"aud": aud, "iss": id, "sub": id, "exp": exp}),
        )
    };
    let send = |jwt: String| {
        client
            .post(&url)
            .header("host", "evil.example")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", jwt.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
    };
    // minted for another server, sent with that server's name as Host: still refused
    let elsewhere = for_audience("http://evil.example/emulator/oauth2/v2.0/token");
    let response = send(elsewhere).await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([700212]));
    // minted for the emulator's own token URL: accepted whatever Host says
    let response = send(for_audience(&url)).await.unwrap();
    assert_eq!(response.status(), 200);
    emulator.shutdown().await;
}

#[tokio::test]
async fn past_max_tokens_the_oldest_token_is_forgotten() {
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(1).max_tokens(2))
        .await
        .unwrap();
    let client = client();
    let url = events_url(&emulator);
    let oldest = graph_token(&client, &emulator).await;
    let adobe = ims_token(&client, &emulator).await;
    let newest = graph_token(&client, &emulator).await;
    let response = client.get(&url).bearer_auth(&oldest).send().await.unwrap();
    assert_eq!(
        odata_error(response, 401).await,
        "InvalidAuthenticationToken"
    );
    let response = client.get(&url).bearer_auth(&newest).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // tokens of both endpoints share the bound; the IMS token is still the second newest
    let response = client
        .post(format!("{}audits", emulator.url()))
        .bearer_auth(&adobe)
        .header("x-api-key", emulator.credentials().adobe_client_id.as_str())
        .json(&adobe_event())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(emulator.stats().tokens_issued, 3);
    // Debug shows no token, and no secret
    let debug = format!("{emulator:?}");
    assert!(
        !debug.contains(&newest) && !debug.contains(&adobe),
        "{debug}"
    );
    let credentials = emulator.credentials();
    assert!(debug.contains(&credentials.graph_client_id), "{debug}");
    for secret in [
        &credentials.graph_client_secret,
        &credentials.adobe_client_secret,
    ] {
        assert!(!debug.contains(secret.as_str()), "{debug}");
    }
    emulator.shutdown().await;
}

/// `body` after a UTF-8 byte order mark, as some services and clients (.NET, PowerShell)
/// write JSON and forms.
fn with_bom(body: &str) -> Vec<u8> {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

#[tokio::test]
async fn bodies_may_start_with_a_utf8_byte_order_mark() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let client = client();
    let credentials = emulator.credentials().clone();
    let form = "application/x-www-form-urlencoded";
    let json = "application/json";

    let response = client
        .post(token_url(&emulator))
        .header("content-type", form)
        .body(with_bom(&format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
            credentials.graph_client_id, credentials.graph_client_secret
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let graph = body["access_token"].as_str().unwrap().to_owned();

    let response = client
        .post(format!("{}ims/token/v3", emulator.url()))
        .header("content-type", form)
        .body(with_bom(&format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=openid",
            credentials.adobe_client_id, credentials.adobe_client_secret
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let ims = body["access_token"].as_str().unwrap().to_owned();

    let url = events_url(&emulator);
    let response = client
        .post(&url)
        .bearer_auth(&graph)
        .header("content-type", json)
        .body(with_bom(r#"{"id": "bom", "displayName": "with a BOM"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = client
        .patch(format!("{url}/bom"))
        .bearer_auth(&graph)
        .header("content-type", json)
        .body(with_bom(r#"{"category": "Device"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let event: Value = response.json().await.unwrap();
    assert_eq!(
        (&event["displayName"], &event["category"]),
        (&json!("with a BOM"), &json!("Device"))
    );

    let response = client
        .post(format!("{}audits", emulator.url()))
        .bearer_auth(&ims)
        .header("x-api-key", credentials.adobe_client_id.as_str())
        .header("content-type", json)
        .body(with_bom(&adobe_event().to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // only one mark, and only at the start
    let response = client
        .post(&url)
        .bearer_auth(&graph)
        .header("content-type", json)
        .body(with_bom(&String::from_utf8(with_bom("{}")).unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(emulator.stats().events_stored, 1);
    emulator.shutdown().await;
}
