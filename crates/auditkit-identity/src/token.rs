//! Tokens: what an issuer answered, the source that asks it, the cached bearer credential
//! the runtime calls, and the token HTTP requests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use auditkit_runtime::HttpClient;
use auditkit_runtime::{AuthError, AuthErrorKind, BoxFuture, Credential, CredentialHeaders};
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{StatusCode, Url};
use secrecy::SecretString;

use crate::cache::{self, TokenCache, TokenKey};

/// Tokens claiming to live longer than this, or less than a second, are refused as nonsense
/// (Entra: ~1 h, IMS: 24 h).
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Token endpoints answer in well under a second; a hung one must not hang every API call.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A token answer is a few kilobytes; a bigger one is an error page or worse.
const MAX_TOKEN_ANSWER: usize = 1024 * 1024;

/// An access token and how long it lives from the moment it was received.
pub(crate) struct Token {
    pub(crate) secret: SecretString,
    pub(crate) lifetime: Duration,
}

impl Token {
    /// Validates what a token endpoint said: a non-empty token and a positive, sane lifetime.
    pub(crate) fn new(
        provider: &'static str,
        access_token: String,
        lifetime_secs: f64,
    ) -> Result<Self, AuthError> {
        if access_token.trim().is_empty() {
            return Err(AuthError::new(
                provider,
                AuthErrorKind::InvalidResponse,
                "token answer has an empty access_token",
            ));
        }
        if !lifetime_secs.is_finite()
            || lifetime_secs < 1.0
            || lifetime_secs > MAX_TOKEN_LIFETIME.as_secs_f64()
        {
            return Err(AuthError::new(
                provider,
                AuthErrorKind::InvalidResponse,
                format!("token answer has an unusable expires_in ({lifetime_secs} s)"),
            ));
        }
        Ok(Self {
            secret: SecretString::from(access_token),
            lifetime: Duration::from_secs_f64(lifetime_secs),
        })
    }
}

/// Something that can ask an issuer for a token; the cache decides when.
pub(crate) trait TokenSource: Send + Sync + fmt::Debug {
    /// Names the issuer in errors ("entra id", "adobe ims").
    fn provider(&self) -> &'static str;
    fn key(&self) -> TokenKey;
    fn fetch(&self) -> BoxFuture<'_, Result<Token, AuthError>>;
}

/// A credential bound to its token endpoint and a [`TokenCache`]: the runtime's
/// [`Credential`], sending `Authorization: Bearer …` plus any fixed headers (Adobe's
/// `x-api-key`). Made by [`crate::EntraCredential::bearer`] and
/// [`crate::ImsCredential::bearer`]; cheap to clone, clones share the cached token.
#[derive(Clone)]
pub struct CachedBearer {
    source: Arc<dyn TokenSource>,
    cache: TokenCache,
    slot: Arc<cache::Slot>,
    fixed: CredentialHeaders,
}

impl fmt::Debug for CachedBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedBearer")
            .field("source", &self.source)
            .field("fixed", &self.fixed)
            .finish()
    }
}

impl CachedBearer {
    pub(crate) fn new(
        source: Arc<dyn TokenSource>,
        cache: TokenCache,
        fixed: CredentialHeaders,
    ) -> Self {
        Self {
            slot: cache.slot(source.key()),
            source,
            cache,
            fixed,
        }
    }

    /// The current access token, fetched if needed: for calling an API outside auditkit.
    pub async fn token(&self) -> Result<SecretString, AuthError> {
        self.cache.token(&self.slot, self.source.as_ref()).await
    }
}

impl Credential for CachedBearer {
    fn headers(&self) -> BoxFuture<'_, Result<CredentialHeaders, AuthError>> {
        Box::pin(async move {
            let value = self
                .cache
                .bearer(&self.slot, self.source.as_ref())
                .await?
                .ok_or_else(|| {
                    AuthError::new(
                        self.source.provider(),
                        AuthErrorKind::InvalidResponse,
                        "access token contains characters not allowed in a header",
                    )
                })?;
            let mut headers = self.fixed.clone();
            headers.insert(AUTHORIZATION, value);
            Ok(headers)
        })
    }

    fn invalidate(&self, used: &CredentialHeaders) {
        let bearer = used
            .get(AUTHORIZATION.as_str())
            .and_then(|value| value.to_str().ok());
        if let Some(token) = bearer.and_then(|value| value.strip_prefix("Bearer ")) {
            self.slot.invalidate(token);
        }
    }
}

/// What a token endpoint answered.
pub(crate) struct TokenAnswer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl TokenAnswer {
    pub(crate) fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }
}

/// The settings of how a credential sends its token requests, the same on every credential
/// (which have the field `http: Option<HttpClient>`).
macro_rules! token_request_setters {
    () => {
        /// The HTTP client for token requests (proxies, extra roots through
        /// `http_client_builder_with_roots`, and whether the
        /// secret may travel over plain http to a host that is not loopback); by default
        /// the one given to `bearer` (the facade's).
        pub fn http_client(mut self, http: auditkit_runtime::HttpClient) -> Self {
            self.http = Some(http);
            self
        }
    };
}

pub(crate) use token_request_setters;

/// Where a credential asks for its tokens, and how: the URL and the HTTP client, whose
/// transport rule is checked when it is made (neither can change afterwards).
pub(crate) struct TokenEndpoint {
    provider: &'static str,
    url: Url,
    http: HttpClient,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenEndpoint")
            .field(&auditkit_runtime::security::redact(&self.url))
            .finish()
    }
}

impl TokenEndpoint {
    pub(crate) fn new(
        provider: &'static str,
        url: Url,
        http: HttpClient,
    ) -> Result<Self, AuthError> {
        Self::with_plain_http(provider, url, http, false)
    }

    /// An endpoint that is plain http by design (the instance metadata service on its
    /// link-local address) when `plain_http` is set.
    pub(crate) fn with_plain_http(
        provider: &'static str,
        url: Url,
        http: HttpClient,
        plain_http: bool,
    ) -> Result<Self, AuthError> {
        let allow_insecure_http = plain_http || http.allows_insecure_http();
        auditkit_runtime::security::check_transport(&url, allow_insecure_http)
            .map_err(|why| AuthError::new(provider, AuthErrorKind::Insecure, why))?;
        Ok(Self {
            provider,
            url,
            http,
        })
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The cache key of `client_id`'s tokens for `scope` from this endpoint.
    pub(crate) fn key(&self, client_id: &str, scope: String) -> crate::TokenKey {
        crate::TokenKey::new(self.url.as_str(), client_id, scope)
    }

    /// POSTs a form (client credentials, a JWT exchange).
    pub(crate) async fn post_form(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, AuthError> {
        let request = self.http.reqwest().post(self.url.clone()).form(form);
        receive(&self.http, self.provider, request).await
    }

    /// GETs a token with `headers` (managed identity endpoints).
    pub(crate) async fn get(&self, headers: HeaderMap) -> Result<TokenAnswer, AuthError> {
        let request = self.http.reqwest().get(self.url.clone()).headers(headers);
        receive(&self.http, self.provider, request).await
    }
}

async fn receive(
    http: &HttpClient,
    provider: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<TokenAnswer, AuthError> {
    let transport = |err: reqwest::Error| {
        let what = if err.is_timeout() {
            "token endpoint did not answer in time"
        } else {
            "cannot reach the token endpoint"
        };
        // reqwest's error text can contain the URL; the form body never appears in it.
        AuthError::new(provider, AuthErrorKind::Transport, what).with_source(err.without_url())
    };
    let request = request
        .timeout(TOKEN_REQUEST_TIMEOUT)
        .build()
        .map_err(|err| {
            AuthError::new(
                provider,
                AuthErrorKind::Configuration,
                "cannot build the token request",
            )
            .with_source(err.without_url())
        })?;
    // An `HttpClient` follows no redirect: a 307 is answered here, never re-sent elsewhere
    // with the secret.
    let mut response = http.reqwest().execute(request).await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_TOKEN_ANSWER {
            return Err(AuthError::new(
                provider,
                AuthErrorKind::InvalidResponse,
                "token answer is larger than 1 MiB",
            )
            .with_status(status.as_u16()));
        }
    }
    // Some gateways put a byte order mark before the JSON, which serde_json refuses.
    let body = match body.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => Bytes::copy_from_slice(rest),
        None => Bytes::from(body),
    };
    Ok(TokenAnswer::new(status, headers, body))
}

/// How long a token endpoint asked to wait: the runtime's one `Retry-After` reading
/// (delta-seconds or an HTTP-date).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    auditkit_runtime::retry_after(headers, std::time::SystemTime::now())
}

/// The kind of a refusal by status: throttling and outages are transient.
pub(crate) fn kind_for_status(status: StatusCode) -> AuthErrorKind {
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        AuthErrorKind::Unavailable
    } else {
        AuthErrorKind::Rejected
    }
}

/// A short excerpt of a non-JSON answer for an error message (an HTML error page, say).
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(120).collect();
    // The one rule for what a terminal would act on (controls, bidi controls).
    auditkit_runtime::security::printable(text.trim()).into_owned()
}
