//! Microsoft Entra ID (the Microsoft identity platform): OAuth client credentials for Graph,
//! and managed identity. Each way of proving who the application is has its module: a client
//! secret (`secret`), a certificate (`certificate`), a client assertion from a callback or a
//! federated token file (`assertion`), a managed identity (`managed_identity`), and the
//! variables that pick one (`env`). This module holds the credential, the clouds, the
//! client-credentials token request and the reading of Entra's answers.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use auditkit_runtime::security::redact;
use auditkit_runtime::{AuthError, AuthErrorKind, BoxFuture, CredentialHeaders};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::token::{
    CachedBearer, Token, TokenEndpoint, TokenSource, excerpt, kind_for_status, retry_after,
    token_request_setters,
};
use crate::{TokenCache, TokenKey};

mod assertion;
mod certificate;
mod env;
mod managed_identity;
mod secret;
#[cfg(test)]
mod test_support;

pub use assertion::ClientAssertionCallback;
use certificate::CertificateKey;
use managed_identity::{ManagedIdentity, ManagedIdentitySource};

const PROVIDER: &str = "entra id";

/// `client_assertion_type` of a signed JWT (certificate or federated token).
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A Microsoft cloud: tokens from one never work in another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GraphCloud {
    /// The global service, GCC included.
    #[default]
    Global,
    /// US Government L4 (GCC High).
    UsGov,
    /// US Government L5 (DoD).
    UsGovDod,
    /// China, operated by 21Vianet.
    China,
}

impl GraphCloud {
    /// The host of this cloud's Entra ID token endpoint, e.g. `login.microsoftonline.com`,
    /// used unless [`EntraCredential::authority_host`] sets another.
    pub fn login_host(self) -> &'static str {
        match self {
            GraphCloud::Global => "login.microsoftonline.com",
            GraphCloud::UsGov | GraphCloud::UsGovDod => "login.microsoftonline.us",
            GraphCloud::China => "login.chinacloudapi.cn",
        }
    }

    /// The host of this cloud's Microsoft Graph, e.g. `graph.microsoft.com`.
    pub fn graph_host(self) -> &'static str {
        match self {
            GraphCloud::Global => "graph.microsoft.com",
            GraphCloud::UsGov => "graph.microsoft.us",
            GraphCloud::UsGovDod => "dod-graph.microsoft.us",
            GraphCloud::China => "microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The `.default` scope of this cloud's Graph: every permission granted to the app.
    pub fn scope(self) -> String {
        format!("https://{}/.default", self.graph_host())
    }

    /// This cloud's Graph as a resource (the scope without `/.default`): what managed identity
    /// endpoints ask for.
    pub fn resource(self) -> String {
        format!("https://{}", self.graph_host())
    }
}

/// How the application proves who it is.
#[derive(Clone)]
pub(crate) enum Method {
    Secret(SecretString),
    /// A JWT signed with the private key of a certificate registered on the application.
    Certificate {
        key: Arc<CertificateKey>,
        legacy_rs256: bool,
    },
    /// An assertion produced by the caller for each token request.
    AssertionCallback(Arc<ClientAssertionCallback>),
    /// An assertion read from a file for each token request (workload identity federation:
    /// the file is rotated underneath us).
    AssertionFile(PathBuf),
    ManagedIdentity(ManagedIdentity),
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::Secret(_) => f.write_str("ClientSecret(<redacted>)"),
            Method::Certificate { key, legacy_rs256 } => f
                .debug_struct("Certificate")
                .field("x5t#S256", &key.x5t_s256)
                .field("alg", &if *legacy_rs256 { "RS256" } else { "PS256" })
                .field("private_key", &"<redacted>")
                .finish(),
            Method::AssertionCallback(_) => f.write_str("ClientAssertion(<callback>)"),
            Method::AssertionFile(path) => {
                f.debug_tuple("ClientAssertionFile").field(path).finish()
            }
            Method::ManagedIdentity(identity) => identity.fmt(f),
        }
    }
}

/// A tenant as Entra ID names one in a token URL: a directory id (GUID), a domain name or a
/// well-known name such as `organizations` — letters, digits and hyphens in dot-separated
/// labels of 1 to 63 characters, none starting or ending with a hyphen. This is also exactly
/// one path segment, so it cannot address another endpoint.
fn check_tenant(tenant: &str) -> Result<(), crate::Error> {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if tenant.is_empty() {
        return Err(configuration("entra id tenant is empty"));
    }
    if tenant.len() > 253 || !tenant.split('.').all(label_ok) {
        return Err(configuration(format!(
            "entra id tenant {:?} is not a directory id (GUID), a domain name or a well-known name such as organizations",
            tenant
        )));
    }
    Ok(())
}

/// A configuration problem found before anything was sent.
fn configuration(message: impl Into<String>) -> crate::Error {
    crate::Error::from(AuthError::new(
        PROVIDER,
        AuthErrorKind::Configuration,
        message,
    ))
}

/// Entra ID application credentials for Microsoft Graph. Which cloud (and so which login host
/// and scope) is decided by the client it is given to; the authority host can be overridden
/// for tests and the emulator.
#[derive(Clone)]
pub struct EntraCredential {
    tenant: String,
    client_id: String,
    method: Method,
    authority_host: Option<Url>,
    http: Option<auditkit_runtime::HttpClient>,
    /// A builder option that does not fit the method (reported by `bind`).
    misuse: Option<&'static str>,
}

impl fmt::Debug for EntraCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraCredential")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .field("authority_host", &self.authority_host.as_ref().map(redact))
            .finish_non_exhaustive()
    }
}

impl EntraCredential {
    pub(crate) fn with_method(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        method: Method,
    ) -> Self {
        Self {
            tenant: tenant.into(),
            client_id: client_id.into(),
            method,
            authority_host: None,
            http: None,
            misuse: None,
        }
    }

    /// Sends token requests to this host instead of the cloud's login host (an emulator, a
    /// test server). Plain http is accepted for loopback hosts only, unless the HTTP client
    /// allows more ([`auditkit_runtime::HttpClient::allow_insecure_http`]).
    pub fn authority_host(mut self, url: Url) -> Self {
        self.authority_host = Some(url);
        self
    }

    token_request_setters!();

    /// The tenant; empty for a managed identity.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The application (client) id; for a managed identity, the user-assigned identity's, or
    /// empty for the system-assigned one.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The token endpoint this credential uses in `cloud`: `{authority}/{tenant}/oauth2/v2.0/token`.
    /// The tenant must be a directory id (GUID), a domain name (`contoso.onmicrosoft.com`) or
    /// a well-known name (`organizations`): anything else, a URL above all, could move the
    /// token request (and the secret) to another host or path, and is refused.
    pub fn token_url(&self, cloud: GraphCloud) -> Result<Url, crate::Error> {
        let authority = match &self.authority_host {
            Some(host) => host.clone(),
            None => Url::parse(&format!("https://{}/", cloud.login_host()))
                .map_err(|err| crate::Error::InvalidRequest(format!("bad login host: {err}")))?,
        };
        let tenant = self.tenant.trim();
        check_tenant(tenant)?;
        let mut url = authority.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| configuration("the authority host cannot take a path"))?
            // `https://host/prefix/` and `https://host/prefix` both keep `prefix`.
            .pop_if_empty()
            .extend([tenant, "oauth2", "v2.0", "token"]);
        if url.origin() != authority.origin() {
            return Err(configuration(format!(
                "the token url left the authority {}",
                auditkit_runtime::security::origin(&authority)
            )));
        }
        Ok(url)
    }

    /// Binds the credential to a cloud and a token cache: the result is the runtime's
    /// [`Credential`](auditkit_runtime::Credential) for Graph in `cloud`, and gives the token
    /// itself through [`CachedBearer::token`]. Token requests go through `default_http`
    /// unless [`EntraCredential::http_client`] set another client. Refuses, before anything is
    /// sent, a configuration that could not work (an option of another method, an empty
    /// client id, a tenant that is not a name, plain http to a remote host).
    pub fn bearer(
        &self,
        cloud: GraphCloud,
        default_http: &auditkit_runtime::HttpClient,
        cache: TokenCache,
    ) -> Result<CachedBearer, crate::Error> {
        if let Some(misuse) = self.misuse {
            return Err(configuration(misuse));
        }
        let http = self.http.clone().unwrap_or_else(|| default_http.clone());
        if let Method::ManagedIdentity(identity) = &self.method {
            let source = ManagedIdentitySource::new(identity, &self.client_id, cloud, http)?;
            return Ok(CachedBearer::new(
                Arc::new(source),
                cache,
                CredentialHeaders::new(),
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(crate::Error::InvalidRequest(
                "entra id client id is empty".into(),
            ));
        }
        let endpoint = TokenEndpoint::new(PROVIDER, self.token_url(cloud)?, http)?;
        let source = EntraSource {
            endpoint,
            scope: cloud.scope(),
            client_id: self.client_id.clone(),
            method: self.method.clone(),
        };
        Ok(CachedBearer::new(
            Arc::new(source),
            cache,
            CredentialHeaders::new(),
        ))
    }
}

struct EntraSource {
    endpoint: TokenEndpoint,
    scope: String,
    client_id: String,
    method: Method,
}

impl fmt::Debug for EntraSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraSource")
            .field("endpoint", &self.endpoint)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// What a token request proves the client with.
enum Proof<'a> {
    Secret(&'a SecretString),
    Assertion(SecretString),
}

impl EntraSource {
    async fn proof(&self) -> Result<Proof<'_>, AuthError> {
        match &self.method {
            Method::Secret(secret) => Ok(Proof::Secret(secret)),
            Method::Certificate { key, legacy_rs256 } => key
                .assertion(self.endpoint.url(), &self.client_id, *legacy_rs256)
                .map(Proof::Assertion),
            Method::AssertionCallback(produce) => assertion::from_callback(produce.as_ref())
                .await
                .map(Proof::Assertion),
            Method::AssertionFile(path) => assertion::from_file(path).await.map(Proof::Assertion),
            Method::ManagedIdentity(_) => Err(AuthError::new(
                PROVIDER,
                AuthErrorKind::Configuration,
                "a managed identity has no client credentials",
            )),
        }
    }
}

impl TokenSource for EntraSource {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn key(&self) -> TokenKey {
        self.endpoint.key(&self.client_id, self.scope.clone())
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Token, AuthError>> {
        Box::pin(async move {
            let proof = self.proof().await?;
            let mut form: Vec<(&str, &str)> = vec![
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("scope", &self.scope),
            ];
            match &proof {
                Proof::Secret(secret) => form.push(("client_secret", secret.expose_secret())),
                Proof::Assertion(assertion) => {
                    form.push(("client_assertion_type", ASSERTION_TYPE));
                    form.push(("client_assertion", assertion.expose_secret()));
                }
            }
            parse_token_answer(self.endpoint.post_form(&form).await?)
        })
    }
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    /// Managed identity endpoints: when the token expires, in epoch seconds.
    expires_on: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
    /// App Service's managed identity endpoint: `{"statusCode": 400, "message": "…"}`.
    message: Option<String>,
}

/// Entra's answer: `expires_in` in seconds (a number; managed identity endpoints send a
/// string, and App Service may send only `expires_on`, epoch seconds). Errors carry `error`,
/// an `AADSTS…` code inside the description, and trace ids.
pub(crate) fn parse_token_answer(answer: crate::token::TokenAnswer) -> Result<Token, AuthError> {
    let status = answer.status.as_u16();
    if !answer.status.is_success() {
        let base = AuthError::new(
            PROVIDER,
            kind_for_status(answer.status),
            "token request refused",
        )
        .with_status(status)
        .with_retry_after(retry_after(&answer.headers));
        return Err(match serde_json::from_slice::<ErrorBody>(&answer.body) {
            Ok(body) => {
                let description = body.error_description.or(body.message);
                let code = description.as_deref().and_then(aadsts_code);
                base.with_oauth_error(body.error, description)
                    .with_service_code(code)
                    .with_trace_ids(body.trace_id, body.correlation_id)
            }
            Err(_) => base.with_oauth_error(
                None,
                Some(format!("non-JSON answer: {}", excerpt(&answer.body))),
            ),
        });
    }
    let invalid = |what: &str| {
        AuthError::new(PROVIDER, AuthErrorKind::InvalidResponse, what.to_owned())
            .with_status(status)
    };
    let body: TokenBody = serde_json::from_slice(&answer.body).map_err(|err| {
        invalid(&format!(
            "token answer is not JSON: {}",
            excerpt(&answer.body)
        ))
        .with_source(err)
    })?;
    let access_token = body
        .access_token
        .ok_or_else(|| invalid("token answer has no access_token"))?;
    let lifetime = match (
        seconds(body.expires_in.as_ref()),
        seconds(body.expires_on.as_ref()),
    ) {
        (Some(expires_in), _) => expires_in,
        (None, Some(expires_on)) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|since| since.as_secs_f64())
                .unwrap_or_default();
            expires_on - now
        }
        (None, None) => {
            return Err(invalid(
                "token answer has no numeric expires_in or expires_on",
            ));
        }
    };
    Token::new(PROVIDER, access_token, lifetime)
}

/// A number of seconds sent as a JSON number or a string.
fn seconds(value: Option<&serde_json::Value>) -> Option<f64> {
    match value? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// `AADSTS7000215: Invalid client secret provided. …` → `AADSTS7000215`.
fn aadsts_code(description: &str) -> Option<String> {
    let start = description.find("AADSTS")?;
    let digits: String = description[start + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

#[cfg(test)]
mod tests {
    use wiremock::ResponseTemplate;

    use super::test_support::*;
    use super::*;

    #[test]
    fn clouds_have_their_hosts_and_scopes() {
        let table = [
            (
                GraphCloud::Global,
                "login.microsoftonline.com",
                "https://graph.microsoft.com/.default",
            ),
            (
                GraphCloud::UsGov,
                "login.microsoftonline.us",
                "https://graph.microsoft.us/.default",
            ),
            (
                GraphCloud::UsGovDod,
                "login.microsoftonline.us",
                "https://dod-graph.microsoft.us/.default",
            ),
            (
                GraphCloud::China,
                "login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn/.default",
            ),
        ];
        for (cloud, login, scope) in table {
            assert_eq!(cloud.login_host(), login);
            assert_eq!(cloud.scope(), scope);
            let url = EntraCredential::client_secret("contoso.onmicrosoft.com", "app", "s")
                .token_url(cloud)
                .unwrap();
            assert_eq!(
                url.as_str(),
                format!("https://{login}/contoso.onmicrosoft.com/oauth2/v2.0/token")
            );
        }
    }

    #[test]
    fn finds_the_aadsts_code() {
        assert_eq!(
            aadsts_code("AADSTS7000215: Invalid client secret provided.").as_deref(),
            Some("AADSTS7000215")
        );
        assert_eq!(aadsts_code("no code here"), None);
        assert_eq!(aadsts_code("AADSTS: nothing"), None);
    }

    async fn fetch_error(answer: ResponseTemplate) -> AuthError {
        let server = token_server(answer).await;
        let credential =
            EntraCredential::client_secret(TENANT, CLIENT, SECRET).authority_host(host(&server));
        let err = auth_error(fetch(&credential).await.unwrap_err());
        assert!(!err.to_string().contains(SECRET), "{err}");
        assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
        err
    }

    #[tokio::test]
    async fn bad_token_answers_are_typed_errors() {
        let html = ResponseTemplate::new(200)
            .set_body_raw("<html><body>Sign in failed</body></html>", "text/html");
        let err = fetch_error(html).await;
        assert_eq!(
            (err.kind(), err.status()),
            (AuthErrorKind::InvalidResponse, Some(200))
        );
        assert!(
            err.to_string()
                .contains("token answer is not JSON: <html><body>Sign in failed"),
            "{err}"
        );

        let cases = [
            (
                serde_json::json!({ "token_type": "Bearer", "expires_in": 3599 }),
                "no access_token",
            ),
            (
                serde_json::json!({ "access_token": "t" }),
                "no numeric expires_in or expires_on",
            ),
            (
                serde_json::json!({ "access_token": "t", "expires_in": -5 }),
                "unusable expires_in",
            ),
            (
                serde_json::json!({ "access_token": "t", "expires_in": 10 * 365 * 24 * 3600 }),
                "unusable expires_in",
            ),
            (
                serde_json::json!({ "access_token": "t", "expires_in": "soon" }),
                "no numeric expires_in",
            ),
            (
                serde_json::json!({ "access_token": "", "expires_in": 3599 }),
                "empty access_token",
            ),
            (serde_json::json!([1, 2]), "not JSON"),
        ];
        for (body, expected) in cases {
            let err = fetch_error(ResponseTemplate::new(200).set_body_json(&body)).await;
            assert_eq!(err.kind(), AuthErrorKind::InvalidResponse, "{body}");
            assert!(
                err.to_string().contains(expected),
                "{err} should say {expected:?}"
            );
        }

        let refusal = serde_json::json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided. Trace ID: t-1 Correlation ID: c-1",
            "error_codes": [7000215],
            "timestamp": "2024-01-01 00:00:00Z",
            "trace_id": "t-1",
            "correlation_id": "c-1"
        });
        let err = fetch_error(ResponseTemplate::new(400).set_body_json(&refusal)).await;
        assert_eq!(err.kind(), AuthErrorKind::Rejected);
        assert_eq!(err.status(), Some(400));
        assert_eq!(err.error_code(), Some("invalid_client"));
        assert_eq!(err.service_code(), Some("AADSTS7000215"));
        assert_eq!(err.trace_id(), Some("t-1"));
        assert_eq!(err.correlation_id(), Some("c-1"));
        assert!(!err.is_transient());
        assert!(err.to_string().contains("AADSTS7000215"), "{err}");

        let throttled = ResponseTemplate::new(429)
            .insert_header("retry-after", "7")
            .set_body_raw("slow down", "text/plain");
        let err = fetch_error(throttled).await;
        assert_eq!(err.kind(), AuthErrorKind::Unavailable);
        assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));
        assert!(
            err.to_string().contains("non-JSON answer: slow down"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let key_lines: Vec<String> = String::from_utf8_lossy(KEY)
            .lines()
            .chain(String::from_utf8_lossy(KEY_PKCS1).lines())
            .filter(|line| !line.starts_with("-----"))
            .map(|line| line[..16].to_owned())
            .collect();
        let file = TempFile::new(b"federated-token-contents");
        let http = http();
        let localhost = Url::parse("http://127.0.0.1:9/").unwrap();
        let credentials = [
            EntraCredential::client_secret(TENANT, CLIENT, SECRET),
            EntraCredential::certificate(TENANT, CLIENT, CERT, KEY).unwrap(),
            EntraCredential::certificate(TENANT, CLIENT, CERT, KEY_PKCS1)
                .unwrap()
                .legacy_rs256(),
            EntraCredential::client_assertion(TENANT, CLIENT, || {
                Box::pin(async { Ok("callback-assertion".to_owned()) })
            }),
            EntraCredential::client_assertion_file(TENANT, CLIENT, &file.0),
            EntraCredential::managed_identity(),
            EntraCredential::managed_identity()
                .app_service_endpoint(localhost, "identity-header-secret"),
        ];
        for credential in credentials {
            let bound = credential
                .bearer(GraphCloud::Global, &http, TokenCache::new())
                .unwrap();
            let debug = format!("{credential:?} {credential:#?} {bound:?}");
            for secret in [
                SECRET,
                "callback-assertion",
                "federated-token-contents",
                "identity-header-secret",
                "PRIVATE",
            ] {
                assert!(!debug.contains(secret), "{debug} shows {secret}");
            }
            for line in &key_lines {
                assert!(
                    !debug.contains(line.as_str()),
                    "{debug} shows the private key"
                );
            }
        }
    }

    #[test]
    fn plain_http_authority_needs_opting_in() {
        let http = http();
        let remote = Url::parse("http://10.1.2.3/").unwrap();
        let credential =
            EntraCredential::client_secret(TENANT, CLIENT, SECRET).authority_host(remote);
        let err = auth_error(
            credential
                .bearer(GraphCloud::Global, &http, TokenCache::new())
                .unwrap_err(),
        );
        assert_eq!(err.kind(), AuthErrorKind::Insecure);
        assert!(!err.to_string().contains(SECRET));
        credential
            .http_client(http.clone().allow_insecure_http(true))
            .bearer(GraphCloud::Global, &http, TokenCache::new())
            .unwrap();
        let loopback = EntraCredential::client_secret(TENANT, CLIENT, SECRET)
            .authority_host(Url::parse("http://localhost:1/").unwrap());
        loopback
            .bearer(GraphCloud::Global, &http, TokenCache::new())
            .unwrap();
    }

    #[tokio::test]
    async fn a_tenant_is_a_name_never_a_url_or_a_path() {
        let server = token_server(good_answer()).await;
        for tenant in [
            "https://evil.example",
            "//evil.example",
            "evil.example/x",
            "..",
            "../organizations",
            "a\\b",
            "contoso?x=1",
            "contoso#x",
            "%2e%2e",
            "con toso",
            "-contoso",
            "",
        ] {
            let credential = EntraCredential::client_secret(tenant, CLIENT, SECRET)
                .authority_host(host(&server));
            let err = auth_error(fetch(&credential).await.unwrap_err());
            assert_eq!(err.kind(), AuthErrorKind::Configuration, "{tenant:?}");
            assert!(!err.to_string().contains(SECRET));
        }
        assert!(
            server.received_requests().await.unwrap().is_empty(),
            "no token request left for a refused tenant"
        );

        for tenant in [
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "contoso.onmicrosoft.com",
            "organizations",
            "xn--bcher-kva.example",
        ] {
            let url = EntraCredential::client_secret(tenant, CLIENT, SECRET)
                .token_url(GraphCloud::UsGov)
                .unwrap();
            assert_eq!(
                url.as_str(),
                format!("https://login.microsoftonline.us/{tenant}/oauth2/v2.0/token")
            );
        }
        // An authority with a path prefix keeps it, with or without a trailing slash.
        for authority in ["http://127.0.0.1:9/prefix", "http://127.0.0.1:9/prefix/"] {
            let url = EntraCredential::client_secret(TENANT, CLIENT, SECRET)
                .authority_host(Url::parse(authority).unwrap())
                .token_url(GraphCloud::Global)
                .unwrap();
            assert_eq!(
                url.as_str(),
                "http://127.0.0.1:9/prefix/contoso/oauth2/v2.0/token"
            );
        }
    }
}
