//! Adobe IMS: OAuth Server-to-Server credentials for the Audit Service (`server_to_server`),
//! the deprecated Service Account (JWT) credential behind the `ims-jwt` feature (`jwt`), and
//! the variables that configure either (`env`). This module holds the credential, the IMS
//! hosts, the token request with client secret rotation and the reading of IMS's answers.

use std::fmt;
use std::sync::Arc;

use auditkit_runtime::security::redact;
use auditkit_runtime::{AuthError, AuthErrorKind, BoxFuture, CredentialHeaders};
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::token::{
    CachedBearer, Token, TokenAnswer, TokenEndpoint, TokenSource, excerpt, kind_for_status,
    retry_after, token_request_setters,
};
use crate::{TokenCache, TokenKey};

mod env;
#[cfg(feature = "ims-jwt")]
mod jwt;
mod server_to_server;
#[cfg(test)]
mod test_support;

const PROVIDER: &str = "adobe ims";

/// Which IMS issues the tokens.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImsEnvironment {
    /// Adobe's production IMS (`ims-na1.adobelogin.com`); the default.
    #[default]
    Production,
    /// Adobe's stage IMS (`ims-na1-stg1.adobelogin.com`).
    Stage,
    /// Another IMS host: an emulator or a test server.
    Custom(Url),
}

impl fmt::Debug for ImsEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImsEnvironment::Production => f.write_str("Production"),
            ImsEnvironment::Stage => f.write_str("Stage"),
            // A custom host may carry a password or a query.
            ImsEnvironment::Custom(url) => f.debug_tuple("Custom").field(&redact(url)).finish(),
        }
    }
}

impl ImsEnvironment {
    /// The IMS base URL that the token paths are joined onto; a custom host as given.
    pub fn host(&self) -> Result<Url, crate::Error> {
        let text = match self {
            ImsEnvironment::Production => "https://ims-na1.adobelogin.com/",
            ImsEnvironment::Stage => "https://ims-na1-stg1.adobelogin.com/",
            ImsEnvironment::Custom(url) => return Ok(url.clone()),
        };
        Url::parse(text).map_err(|err| crate::Error::InvalidRequest(format!("bad IMS host: {err}")))
    }
}

/// How the integration proves who it is (the client secrets are common to both flows).
#[derive(Clone)]
pub(crate) enum Method {
    ServerToServer {
        scopes: Vec<String>,
    },
    #[cfg(feature = "ims-jwt")]
    ServiceAccount(Arc<jwt::ServiceAccount>),
}

impl Method {
    /// Where this flow asks for tokens, relative to the IMS host.
    fn token_path(&self) -> &'static str {
        match self {
            Method::ServerToServer { .. } => "ims/token/v3",
            #[cfg(feature = "ims-jwt")]
            Method::ServiceAccount(_) => "ims/exchange/jwt",
        }
    }

    /// Server-to-Server answers `expires_in` in seconds; the JWT exchange in milliseconds.
    fn expires_in(&self) -> ExpiresIn {
        match self {
            Method::ServerToServer { .. } => ExpiresIn::Seconds,
            #[cfg(feature = "ims-jwt")]
            Method::ServiceAccount(_) => ExpiresIn::Milliseconds,
        }
    }

    fn scope(&self) -> String {
        match self {
            Method::ServerToServer { scopes } => scopes.join(","),
            #[cfg(feature = "ims-jwt")]
            Method::ServiceAccount(account) => account.metascopes.join(","),
        }
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::ServerToServer { scopes } => f
                .debug_struct("ServerToServer")
                .field("scopes", scopes)
                .finish(),
            #[cfg(feature = "ims-jwt")]
            Method::ServiceAccount(account) => fmt::Debug::fmt(account, f),
        }
    }
}

/// Shows how many secrets there are, never what they are.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} redacted>", self.0)
    }
}

/// Adobe IMS credentials for the Audit Service. Every API call also carries
/// `x-api-key: <client id>` and, when an org id is set, `x-gw-ims-org-id`.
///
/// A credential may hold several client secrets while one is being rotated: the first is
/// used, and when IMS refuses it as `invalid_client` the next is tried in the same fetch.
#[derive(Clone)]
pub struct ImsCredential {
    client_id: String,
    secrets: Vec<SecretString>,
    method: Method,
    org_id: Option<String>,
    environment: ImsEnvironment,
    http: Option<auditkit_runtime::HttpClient>,
}

impl fmt::Debug for ImsCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImsCredential")
            .field("client_id", &self.client_id)
            .field("client_secrets", &Redacted(self.secrets.len()))
            .field("method", &self.method)
            .field("org_id", &self.org_id)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

fn configuration(message: impl Into<String>) -> crate::Error {
    crate::Error::from(AuthError::new(
        PROVIDER,
        AuthErrorKind::Configuration,
        message,
    ))
}

impl ImsCredential {
    pub(crate) fn with_method(
        client_id: impl Into<String>,
        secret: SecretString,
        method: Method,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            secrets: vec![secret],
            method,
            org_id: None,
            environment: ImsEnvironment::default(),
            http: None,
        }
    }

    /// Another client secret to try, in order, when IMS refuses the ones before it as
    /// `invalid_client`: add the new secret while rotating, drop the old one afterwards.
    pub fn additional_secret(self, client_secret: impl Into<String>) -> Self {
        self.additional_secret_from(crate::secret::secret(client_secret.into()))
    }

    /// [`ImsCredential::additional_secret`] with a secret that already is a [`SecretString`],
    /// kept as it is.
    pub fn additional_secret_from(mut self, client_secret: SecretString) -> Self {
        self.secrets.push(client_secret);
        self
    }

    /// Sends `x-gw-ims-org-id` on every API call (`…@AdobeOrg`).
    pub fn org_id(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }

    /// Which IMS to ask for tokens; [`ImsEnvironment::Production`] by default.
    pub fn environment(mut self, environment: ImsEnvironment) -> Self {
        self.environment = environment;
        self
    }

    token_request_setters!();

    /// The client id (API key) of the Developer Console project, also sent as `x-api-key`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Binds the credential to a token cache: the result is the runtime's
    /// [`Credential`](auditkit_runtime::Credential) for the Audit Service (bearer token,
    /// `x-api-key`, `x-gw-ims-org-id`), and gives the token itself through
    /// [`CachedBearer::token`]. Token requests go through `default_http` unless
    /// [`ImsCredential::http_client`] set another client. Refuses, before anything is sent,
    /// an empty client id or secret, a value that cannot be a header, and plain http to a
    /// remote host.
    pub fn bearer(
        &self,
        default_http: &auditkit_runtime::HttpClient,
        cache: TokenCache,
    ) -> Result<CachedBearer, crate::Error> {
        let config = |what: &str| crate::Error::InvalidRequest(format!("adobe ims {what}"));
        if self.client_id.trim().is_empty() {
            return Err(config("client id is empty"));
        }
        if self
            .secrets
            .iter()
            .any(|secret| secret.expose_secret().trim().is_empty())
        {
            return Err(config("client secret is empty"));
        }
        let host = self.environment.host()?;
        let token_url = host
            .join(self.method.token_path())
            .map_err(|err| config(&format!("host cannot take a path: {err}")))?;
        let http = self.http.clone().unwrap_or_else(|| default_http.clone());
        let endpoint = TokenEndpoint::new(PROVIDER, token_url, http)?;

        let mut fixed = CredentialHeaders::new();
        let header = |value: &str, what: &str| {
            HeaderValue::from_str(value)
                .map_err(|_| config(&format!("{what} is not a valid header value")))
        };
        fixed.insert(
            HeaderName::from_static("x-api-key"),
            header(&self.client_id, "client id")?,
        );
        if let Some(org) = &self.org_id {
            fixed.insert(
                HeaderName::from_static("x-gw-ims-org-id"),
                header(org, "org id")?,
            );
        }
        let source = ImsSource {
            endpoint,
            ims_origin: host.origin().ascii_serialization(),
            client_id: self.client_id.clone(),
            secrets: self.secrets.clone(),
            method: self.method.clone(),
        };
        Ok(CachedBearer::new(Arc::new(source), cache, fixed))
    }
}

struct ImsSource {
    endpoint: TokenEndpoint,
    /// `scheme://host[:port]` of the IMS, for the JWT's audience and metascope claims.
    #[cfg_attr(not(feature = "ims-jwt"), allow(dead_code))]
    ims_origin: String,
    client_id: String,
    secrets: Vec<SecretString>,
    method: Method,
}

impl fmt::Debug for ImsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImsSource")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secrets", &Redacted(self.secrets.len()))
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl ImsSource {
    /// One token request with one client secret.
    async fn request(&self, secret: &SecretString) -> Result<TokenAnswer, AuthError> {
        let client_id = self.client_id.as_str();
        match &self.method {
            Method::ServerToServer { scopes } => {
                let scope = scopes.join(",");
                self.post(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret.expose_secret()),
                    ("scope", &scope),
                ])
                .await
            }
            // The exchange: client credentials and a JWT signed now.
            #[cfg(feature = "ims-jwt")]
            Method::ServiceAccount(account) => {
                let now = crate::jwt::unix_now(PROVIDER)?;
                let jwt = account.sign(client_id, &self.ims_origin, now)?;
                self.post(&[
                    ("client_id", client_id),
                    ("client_secret", secret.expose_secret()),
                    ("jwt_token", jwt.expose_secret()),
                ])
                .await
            }
        }
    }

    /// Posts `form` to the token endpoint.
    async fn post(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, AuthError> {
        self.endpoint.post_form(form).await
    }
}

impl TokenSource for ImsSource {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn key(&self) -> TokenKey {
        self.endpoint.key(&self.client_id, self.method.scope())
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Token, AuthError>> {
        Box::pin(async move {
            let count = self.secrets.len();
            for (index, secret) in self.secrets.iter().enumerate() {
                let answer = self.request(secret).await?;
                if index + 1 < count && refuses_client(&answer) {
                    tracing::warn!(
                        secret = index + 1,
                        of = count,
                        "adobe ims refused a client secret as invalid_client; trying the next one"
                    );
                    continue;
                }
                return parse_token_answer(answer, self.method.expires_in());
            }
            Err(AuthError::new(
                PROVIDER,
                AuthErrorKind::Configuration,
                "no client secret is configured",
            ))
        })
    }
}

/// IMS said the client (id or secret) is wrong: worth trying the next secret.
fn refuses_client(answer: &TokenAnswer) -> bool {
    matches!(answer.status.as_u16(), 400 | 401)
        && serde_json::from_slice::<ErrorBody>(&answer.body)
            .is_ok_and(|body| body.error.as_deref() == Some("invalid_client"))
}

/// Server-to-Server answers `expires_in` in seconds; the JWT exchange in milliseconds.
#[derive(Clone, Copy, Debug)]
pub enum ExpiresIn {
    /// `expires_in` counts seconds (Server-to-Server).
    Seconds,
    /// `expires_in` counts milliseconds (the Service Account JWT exchange).
    Milliseconds,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

pub(crate) fn parse_token_answer(answer: TokenAnswer, unit: ExpiresIn) -> Result<Token, AuthError> {
    let status = answer.status.as_u16();
    let debug_id = answer
        .headers
        .get("x-debug-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if !answer.status.is_success() {
        let base = AuthError::new(
            PROVIDER,
            kind_for_status(answer.status),
            "token request refused",
        )
        .with_status(status)
        .with_debug_id(debug_id)
        .with_retry_after(retry_after(&answer.headers));
        return Err(match serde_json::from_slice::<ErrorBody>(&answer.body) {
            Ok(body) => base.with_oauth_error(body.error, body.error_description),
            Err(_) => base.with_oauth_error(
                None,
                Some(format!("non-JSON answer: {}", excerpt(&answer.body))),
            ),
        });
    }
    let invalid = |what: &str| {
        AuthError::new(PROVIDER, AuthErrorKind::InvalidResponse, what.to_owned())
            .with_status(status)
            .with_debug_id(debug_id.clone())
    };
    // Only a body that is not JSON at all is quoted: a JSON one may hold the token.
    let body: serde_json::Value = serde_json::from_slice(&answer.body).map_err(|err| {
        invalid(&format!(
            "token answer is not JSON: {}",
            excerpt(&answer.body)
        ))
        .with_source(err)
    })?;
    let access_token = match body.get("access_token") {
        Some(serde_json::Value::String(token)) => token.clone(),
        _ => return Err(invalid("token answer has no access_token string")),
    };
    let expires_in = match body.get("expires_in") {
        Some(serde_json::Value::Number(number)) => number.as_f64(),
        Some(serde_json::Value::String(text)) => text.trim().parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid("token answer has no numeric expires_in"))?;
    let seconds = match unit {
        ExpiresIn::Seconds => expires_in,
        ExpiresIn::Milliseconds => expires_in / 1000.0,
    };
    Token::new(PROVIDER, access_token, seconds)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Duration;

    use auditkit_runtime::Credential;
    use wiremock::matchers::method;
    use wiremock::{Mock, ResponseTemplate};

    use super::test_support::*;
    use super::*;

    #[test]
    fn expires_in_units() {
        let answer = |expires_in: serde_json::Value| TokenAnswer {
            status: reqwest::StatusCode::OK,
            headers: reqwest::header::HeaderMap::new(),
            body: serde_json::to_vec(
                &serde_json::json!({"access_token": "t", "expires_in": expires_in}),
            )
            .unwrap()
            .into(),
        };
        let lifetime = |value: serde_json::Value, unit| {
            parse_token_answer(answer(value), unit).unwrap().lifetime
        };
        assert_eq!(
            lifetime(86399.into(), ExpiresIn::Seconds),
            Duration::from_secs(86399)
        );
        assert_eq!(
            lifetime(86_399_000.into(), ExpiresIn::Milliseconds),
            Duration::from_secs(86399)
        );
        assert_eq!(
            lifetime(600_000.into(), ExpiresIn::Milliseconds),
            Duration::from_secs(600)
        );
        assert_eq!(
            lifetime("86399".into(), ExpiresIn::Seconds),
            Duration::from_secs(86399)
        );
        // Milliseconds taken for seconds would be years: refused, not cached forever.
        assert!(parse_token_answer(answer(86_399_000.into()), ExpiresIn::Seconds).is_err());
    }

    #[tokio::test]
    async fn refusal_keeps_imss_diagnostics_and_never_the_secret() {
        let refusal = ims_error(400, "invalid_client", "invalid client_id parameter")
            .insert_header("x-debug-id", "dbg-1");
        let server = s2s_server(refusal).await;
        let bearer = s2s(&server).bearer(&http(), TokenCache::new()).unwrap();
        let error = bearer.token().await.unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::Rejected);
        assert_eq!(error.status(), Some(400));
        assert_eq!(error.error_code(), Some("invalid_client"));
        assert_eq!(error.description(), Some("invalid client_id parameter"));
        assert_eq!(error.debug_id(), Some("dbg-1"));
        assert!(!error.is_transient());
        let text = error.to_string();
        assert!(
            text.contains("invalid_client") && text.contains("dbg-1"),
            "{text}"
        );
        assert!(
            !text.contains(SECRET) && !format!("{error:?}").contains(SECRET),
            "{text}"
        );
    }

    #[tokio::test]
    async fn throttling_is_unavailable_with_retry_after() {
        let throttled =
            ims_error(429, "rate_limit", "too many requests").insert_header("retry-after", "5");
        let server = s2s_server(throttled).await;
        let bearer = s2s(&server).bearer(&http(), TokenCache::new()).unwrap();
        let error = bearer.token().await.unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::Unavailable);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(5)));
        assert_eq!(error.error_code(), Some("rate_limit"));
        assert!(error.is_transient());
    }

    #[tokio::test]
    async fn bad_answers_are_typed_errors() {
        let html = "<html><body><h1>Service Unavailable</h1></body></html>";
        let cases: Vec<(&str, ResponseTemplate, AuthErrorKind)> = vec![
            (
                "html page",
                ResponseTemplate::new(200).set_body_raw(html, "text/html"),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "empty body",
                ResponseTemplate::new(200),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "no access_token",
                ResponseTemplate::new(200).set_body_json(
                    serde_json::json!({"token_type": "bearer", "expires_in": 86399}),
                ),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "empty access_token",
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"access_token": "", "expires_in": 86399})),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "no expires_in",
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"access_token": TOKEN})),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "negative expires_in",
                token_answer((-5).into()),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "zero expires_in",
                token_answer(0.into()),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "absurd expires_in",
                token_answer(1e15.into()),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "not a number",
                token_answer("soon".into()),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "json array",
                ResponseTemplate::new(200).set_body_json(serde_json::json!([1, 2])),
                AuthErrorKind::InvalidResponse,
            ),
            (
                "html 502",
                ResponseTemplate::new(502).set_body_raw(html, "text/html"),
                AuthErrorKind::Unavailable,
            ),
            (
                "html 403",
                ResponseTemplate::new(403).set_body_raw(html, "text/html"),
                AuthErrorKind::Rejected,
            ),
        ];
        for (name, answer, kind) in cases {
            let server = s2s_server(answer).await;
            let bearer = s2s(&server).bearer(&http(), TokenCache::new()).unwrap();
            let error = bearer.token().await.expect_err(name);
            assert_eq!(error.kind(), kind, "{name}: {error}");
            let text = error.to_string();
            assert!(
                !text.contains(SECRET) && !text.contains(TOKEN),
                "{name}: {text}"
            );
        }
    }

    #[tokio::test]
    async fn a_token_in_a_malformed_answer_is_not_quoted() {
        let answer = ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"access_token": TOKEN, "expires_in": [1]}));
        let server = s2s_server(answer).await;
        let bearer = s2s(&server).bearer(&http(), TokenCache::new()).unwrap();
        let error = bearer.token().await.unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::InvalidResponse);
        assert!(!error.to_string().contains(TOKEN), "{error}");
        assert!(!format!("{error:?}").contains(TOKEN), "{error:?}");
    }

    #[tokio::test]
    async fn unreachable_ims_is_a_transport_error_without_the_secret() {
        // Bind a port, then free it: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let credential = ImsCredential::server_to_server("client-abc", SECRET, ["openid"])
            .environment(ImsEnvironment::Custom(url));
        let error = credential
            .bearer(&http(), TokenCache::new())
            .unwrap()
            .token()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::Transport);
        assert!(!error.to_string().contains(SECRET) && !format!("{error:?}").contains(SECRET));
    }

    #[tokio::test]
    async fn rotation_tries_the_next_secret_on_invalid_client() {
        let server = rotation_server().await;
        let credential = ImsCredential::server_to_server("client-abc", "old-secret", ["openid"])
            .additional_secret("new-secret")
            .environment(custom(&server));
        let bearer = credential.bearer(&http(), TokenCache::new()).unwrap();
        assert_eq!(bearer.token().await.unwrap().expose_secret(), TOKEN);
        let secrets: Vec<String> = requests(&server)
            .await
            .iter()
            .flat_map(|request| {
                form(request)
                    .into_iter()
                    .filter(|(k, _)| k == "client_secret")
                    .map(|(_, v)| v)
            })
            .collect();
        assert_eq!(secrets, ["old-secret", "new-secret"]);
    }

    #[tokio::test]
    async fn rotation_reports_the_last_refusal_when_every_secret_fails() {
        let server = server().await;
        let refusal = ims_error(400, "invalid_client", "invalid client_secret parameter")
            .insert_header("x-debug-id", "dbg-2");
        Mock::given(method("POST"))
            .respond_with(refusal)
            .expect(2)
            .mount(&server)
            .await;
        let credential = ImsCredential::server_to_server("client-abc", "old-secret", ["openid"])
            .additional_secret("new-secret")
            .environment(custom(&server));
        let error = credential
            .bearer(&http(), TokenCache::new())
            .unwrap()
            .token()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::Rejected);
        assert_eq!(error.error_code(), Some("invalid_client"));
        assert_eq!(error.debug_id(), Some("dbg-2"));
        let text = error.to_string();
        assert!(
            !text.contains("old-secret") && !text.contains("new-secret"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn rotation_does_not_retry_other_refusals() {
        let server = server().await;
        let refusal = ims_error(400, "invalid_scope", "bad scope");
        Mock::given(method("POST"))
            .respond_with(refusal)
            .expect(1)
            .mount(&server)
            .await;
        let credential = ImsCredential::server_to_server("client-abc", "old-secret", ["nope"])
            .additional_secret("new-secret")
            .environment(custom(&server));
        let error = credential
            .bearer(&http(), TokenCache::new())
            .unwrap()
            .token()
            .await
            .unwrap_err();
        assert_eq!(error.error_code(), Some("invalid_scope"));
    }

    #[tokio::test]
    async fn debug_output_never_shows_secrets_or_tokens() {
        let server = s2s_server(token_answer(86399.into())).await;
        let credential = s2s(&server)
            .additional_secret("second-secret-55")
            .org_id("ORG1@AdobeOrg");
        let bearer = credential.bearer(&http(), TokenCache::new()).unwrap();
        bearer.headers().await.unwrap();
        for text in [
            format!("{credential:?}"),
            format!("{credential:#?}"),
            format!("{bearer:?}"),
            format!("{bearer:#?}"),
        ] {
            assert!(text.contains("client-abc"), "{text}");
            for secret in [SECRET, "second-secret-55", TOKEN] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }

    #[test]
    fn plain_http_to_a_remote_ims_is_refused() {
        let remote = ImsEnvironment::Custom(Url::parse("http://ims.example.test/").unwrap());
        let credential =
            ImsCredential::server_to_server("client-abc", SECRET, ["openid"]).environment(remote);
        let error = auth(credential.bearer(&http(), TokenCache::new()).unwrap_err());
        assert_eq!(error.kind(), AuthErrorKind::Insecure);
        assert!(!error.to_string().contains(SECRET));
        assert!(
            credential
                .http_client(http().allow_insecure_http(true))
                .bearer(&http(), TokenCache::new())
                .is_ok()
        );
    }

    #[test]
    fn empty_settings_are_refused_by_bind() {
        let bind = |credential: ImsCredential| {
            credential
                .bearer(&http(), TokenCache::new())
                .unwrap_err()
                .to_string()
        };
        assert!(
            bind(ImsCredential::server_to_server("", SECRET, ["openid"]))
                .contains("client id is empty")
        );
        assert!(
            bind(ImsCredential::server_to_server("id", " ", ["openid"]))
                .contains("client secret is empty")
        );
        assert!(
            bind(ImsCredential::server_to_server("id", SECRET, ["openid"]).additional_secret(""))
                .contains("client secret is empty")
        );
    }
}
