//! What the Entra ID unit tests share: the test certificate and keys, a token endpoint on
//! loopback, and readers of what was posted to it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use auditkit_runtime::AuthError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use ring::digest;
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::ExposeSecret;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) use crate::test_support::{http, server};
use crate::{EntraCredential, GraphCloud, TokenCache};

pub(crate) const TENANT: &str = "contoso";
pub(crate) const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub(crate) const SECRET: &str = "s3cr3t~value-that-must-never-leak";
pub(crate) const CERT: &[u8] = include_bytes!("../../testdata/entra/cert.pem");
pub(crate) const KEY: &[u8] = include_bytes!("../../testdata/entra/key.pem");
pub(crate) const KEY_PKCS1: &[u8] = include_bytes!("../../testdata/entra/key-pkcs1.pem");
pub(crate) const OTHER_KEY: &[u8] = include_bytes!("../../testdata/entra/other-key.pem");
/// Computed with openssl from cert.pem: `openssl x509 -outform der | openssl dgst -sha256 -binary | base64url`.
pub(crate) const CERT_X5T_S256: &str = "Fi94Ml-lefTwi9VjfUJMBcTm6VXSegeibt10_PhlH7o";
pub(crate) const CERT_X5T_SHA1: &str = "FCTmzmkWqsmWmsXrHaEglWu6KtA";
pub(crate) const TOKEN_PATH: &str = "/contoso/oauth2/v2.0/token";

pub(crate) fn good_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "eyJ0.access.token"
    }))
}

pub(crate) async fn token_server(answer: ResponseTemplate) -> MockServer {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

pub(crate) fn host(server: &MockServer) -> Url {
    Url::parse(&server.uri()).unwrap()
}

pub(crate) fn token_url(server: &MockServer) -> String {
    format!("{}{TOKEN_PATH}", server.uri())
}

pub(crate) async fn fetch(credential: &EntraCredential) -> Result<String, crate::Error> {
    let bound = credential.bearer(GraphCloud::Global, &http(), TokenCache::new())?;
    Ok(bound.token().await?.expose_secret().to_owned())
}

pub(crate) fn auth_error(err: crate::Error) -> AuthError {
    match err {
        crate::Error::Auth(auth) => *auth,
        other => panic!("expected an auth error, got {other:?}"),
    }
}

/// The forms posted to the token endpoint, in order, each checked for its content type.
pub(crate) async fn posted_forms(server: &MockServer) -> Vec<Vec<(String, String)>> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .map(|request| {
            assert_eq!(request.method.as_str(), "POST");
            assert_eq!(request.url.path(), TOKEN_PATH);
            let content_type = request
                .headers
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap();
            assert_eq!(content_type, "application/x-www-form-urlencoded");
            url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect()
        })
        .collect()
}

pub(crate) fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Splits an assertion form into its fixed fields and the assertion itself.
pub(crate) fn assertion_of(form: &[(String, String)]) -> String {
    let fixed: Vec<_> = form
        .iter()
        .filter(|(k, _)| k != "client_assertion")
        .cloned()
        .collect();
    assert_eq!(
        fixed,
        pairs(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("scope", "https://graph.microsoft.com/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ),
        ])
    );
    let assertions: Vec<_> = form
        .iter()
        .filter(|(k, _)| k == "client_assertion")
        .collect();
    assert_eq!(assertions.len(), 1);
    assertions[0].1.clone()
}

pub(crate) fn decode_json(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub(crate) fn test_key() -> RsaKeyPair {
    match PrivateKeyDer::from_pem_slice(KEY).unwrap() {
        PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap(),
        _ => panic!("key.pem is PKCS#8"),
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Checks header, claims and signature of a certificate assertion.
pub(crate) fn check_assertion(jwt: &str, aud: &str, legacy: bool) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let header = decode_json(parts[0]);
    let claims = decode_json(parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let certificate = CertificateDer::from_pem_slice(CERT).unwrap();
    if legacy {
        let sha1 = URL_SAFE_NO_PAD.encode(digest::digest(
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            certificate.as_ref(),
        ));
        assert_eq!(sha1, CERT_X5T_SHA1);
        assert_eq!(
            header,
            serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": CERT_X5T_SHA1 })
        );
    } else {
        let sha256 = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, certificate.as_ref()));
        assert_eq!(sha256, CERT_X5T_S256);
        assert_eq!(
            header,
            serde_json::json!({ "alg": "PS256", "typ": "JWT", "x5t#S256": CERT_X5T_S256 })
        );
    }
    assert_eq!(claims["aud"], aud);
    assert_eq!(claims["iss"], CLIENT);
    assert_eq!(claims["sub"], CLIENT);
    let jti = claims["jti"].as_str().unwrap();
    let guid = uuid::Uuid::parse_str(jti).unwrap();
    assert_eq!(
        guid.hyphenated().to_string(),
        jti,
        "jti is a hyphenated GUID"
    );
    let now = now_secs();
    let (nbf, iat, exp) = (
        claims["nbf"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert!(nbf <= now && now <= exp, "nbf {nbf} now {now} exp {exp}");
    assert_eq!(iat, nbf);
    assert_eq!(exp - nbf, 600);
    assert_eq!(claims.as_object().unwrap().len(), 7, "{claims}");

    let key = test_key();
    let algorithm = if legacy {
        &RSA_PKCS1_2048_8192_SHA256
    } else {
        &RSA_PSS_2048_8192_SHA256
    };
    let signed = format!("{}.{}", parts[0], parts[1]);
    UnparsedPublicKey::new(algorithm, key.public().as_ref())
        .verify(signed.as_bytes(), &signature)
        .unwrap();
    jti.to_owned()
}

/// A file in the temp dir, removed when dropped.
pub(crate) struct TempFile(pub(crate) PathBuf);

impl TempFile {
    pub(crate) fn new(contents: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("auditkit-entra-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) fn vars(table: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = table
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}
