//! Adobe IMS: OAuth Server-to-Server credentials for the Audit Service, and (behind the
//! `ims-jwt` feature) the deprecated Service Account (JWT) credential.

use std::fmt;
use std::sync::Arc;

use auditkit_runtime::security::redact;
use auditkit_runtime::{AuthError, AuthErrorKind, BoxFuture, CredentialHeaders};
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::token::{
    CachedBearer, Token, TokenAnswer, TokenSource, excerpt, kind_for_status, post_form, retry_after,
};
use crate::{TokenCache, TokenKey};

const PROVIDER: &str = "adobe ims";

/// Which IMS issues the tokens.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImsEnvironment {
    #[default]
    Production,
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
    allow_insecure_http: bool,
    http: Option<reqwest::Client>,
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
    /// OAuth Server-to-Server: the project's client id, a client secret and its scopes.
    pub fn server_to_server<S: Into<String>>(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        let method = Method::ServerToServer {
            scopes: scopes.into_iter().map(Into::into).collect(),
        };
        Self::with_method(client_id, SecretString::from(client_secret.into()), method)
    }

    /// Service Account (JWT), deprecated by Adobe (end of life 2025, credentials converted to
    /// Server-to-Server by March 2026). Signs an RS256 JWT with `private_key_pem` (PKCS#8
    /// `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`) for every token request and
    /// exchanges it at `/ims/exchange/jwt`. `org_id` (`…@AdobeOrg`) is the JWT's issuer and is
    /// also sent as `x-gw-ims-org-id`. A metascope is a name (`ent_auditservice_sdk`), turned
    /// into the claim `{ims host}/s/{name}`, or a full claim URL, used as given.
    #[cfg(feature = "ims-jwt")]
    pub fn jwt<S: Into<String>>(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        org_id: impl Into<String>,
        technical_account_id: impl Into<String>,
        private_key_pem: &[u8],
        metascopes: impl IntoIterator<Item = S>,
    ) -> Result<Self, crate::Error> {
        let org_id = org_id.into();
        let key = jwt::rsa_key(private_key_pem).map_err(configuration)?;
        let metascopes = metascopes.into_iter().map(Into::into).collect();
        let account =
            jwt::ServiceAccount::new(org_id.clone(), technical_account_id.into(), key, metascopes)
                .map_err(configuration)?;
        let method = Method::ServiceAccount(Arc::new(account));
        Ok(
            Self::with_method(client_id, SecretString::from(client_secret.into()), method)
                .org_id(org_id),
        )
    }

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
            allow_insecure_http: false,
            http: None,
        }
    }

    /// Another client secret to try, in order, when IMS refuses the ones before it as
    /// `invalid_client`: add the new secret while rotating, drop the old one afterwards.
    pub fn additional_secret(mut self, client_secret: impl Into<String>) -> Self {
        self.secrets.push(SecretString::from(client_secret.into()));
        self
    }

    /// Sends `x-gw-ims-org-id` on every API call (`…@AdobeOrg`).
    pub fn org_id(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }

    pub fn environment(mut self, environment: ImsEnvironment) -> Self {
        self.environment = environment;
        self
    }

    /// Lets the secret travel over plain http to a host that is not loopback. For test servers.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The HTTP client for token requests (proxies, custom roots); by default the facade's.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Reads the credential from the process environment; see [`ImsCredential::from_vars`].
    pub fn from_env() -> Result<Self, crate::Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the credential from `lookup` (the environment, a config map, a test's table):
    ///
    /// - `ADOBE_CLIENT_ID`, `ADOBE_CLIENT_SECRET`: required;
    /// - `ADOBE_SCOPES`: required for Server-to-Server, comma-separated;
    /// - `ADOBE_IMS_ORG_ID`: optional, sent as `x-gw-ims-org-id`;
    /// - `ADOBE_IMS_ENV` (`production` or `stage`) or `ADOBE_IMS_HOST` (a URL, for an emulator):
    ///   optional, production by default;
    /// - with the `ims-jwt` feature, `ADOBE_TECHNICAL_ACCOUNT_ID` and `ADOBE_PRIVATE_KEY_PATH`
    ///   select the Service Account (JWT) flow, which also needs `ADOBE_IMS_ORG_ID` and
    ///   `ADOBE_METASCOPES` (comma-separated).
    ///
    /// Errors (kind [`AuthErrorKind::Configuration`]) name the missing or malformed variable,
    /// and a near-miss such as `ADOBE_CLIENT_SECRETS` set in place of `ADOBE_CLIENT_SECRET`.
    pub fn from_vars<F>(lookup: F) -> Result<Self, crate::Error>
    where
        F: Fn(&str) -> Option<String>,
    {
        let vars = Vars(&lookup);
        let client_id = vars.required(&CLIENT_ID)?;
        let client_secret = vars.required(&CLIENT_SECRET)?;
        let org_id = vars.optional(&ORG_ID)?;
        let environment = vars.environment()?;
        #[cfg(feature = "ims-jwt")]
        if let Some(credential) =
            vars.service_account(&client_id, &client_secret, org_id.as_deref())?
        {
            return Ok(credential.environment(environment));
        }
        let scopes = vars.list(&SCOPES)?;
        let credential =
            Self::server_to_server(client_id, client_secret, scopes).environment(environment);
        Ok(match org_id {
            Some(org_id) => credential.org_id(org_id),
            None => credential,
        })
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
        default_http: &reqwest::Client,
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
        auditkit_runtime::security::check_transport(&token_url, self.allow_insecure_http).map_err(
            |why| crate::Error::from(AuthError::new(PROVIDER, AuthErrorKind::Insecure, why)),
        )?;

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
            token_url,
            ims_origin: host.origin().ascii_serialization(),
            client_id: self.client_id.clone(),
            secrets: self.secrets.clone(),
            method: self.method.clone(),
            allow_insecure_http: self.allow_insecure_http,
            http: self.http.clone().unwrap_or_else(|| default_http.clone()),
        };
        Ok(CachedBearer::new(Arc::new(source), cache, fixed))
    }
}

struct ImsSource {
    token_url: Url,
    /// `scheme://host[:port]` of the IMS, for the JWT's audience and metascope claims.
    #[cfg_attr(not(feature = "ims-jwt"), allow(dead_code))]
    ims_origin: String,
    client_id: String,
    secrets: Vec<SecretString>,
    method: Method,
    allow_insecure_http: bool,
    http: reqwest::Client,
}

impl fmt::Debug for ImsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImsSource")
            .field("token_url", &redact(&self.token_url))
            .field("client_id", &self.client_id)
            .field("client_secrets", &Redacted(self.secrets.len()))
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl ImsSource {
    /// One token request with one client secret.
    async fn request(&self, secret: &SecretString) -> Result<TokenAnswer, AuthError> {
        match &self.method {
            Method::ServerToServer { scopes } => {
                let scope = scopes.join(",");
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", self.client_id.as_str()),
                    ("client_secret", secret.expose_secret()),
                    ("scope", scope.as_str()),
                ];
                post_form(
                    &self.http,
                    PROVIDER,
                    &self.token_url,
                    &form,
                    self.allow_insecure_http,
                )
                .await
            }
            #[cfg(feature = "ims-jwt")]
            Method::ServiceAccount(account) => {
                let jwt = account.sign(&self.client_id, &self.ims_origin, jwt::unix_now()?)?;
                let form = [
                    ("client_id", self.client_id.as_str()),
                    ("client_secret", secret.expose_secret()),
                    ("jwt_token", jwt.expose_secret()),
                ];
                post_form(
                    &self.http,
                    PROVIDER,
                    &self.token_url,
                    &form,
                    self.allow_insecure_http,
                )
                .await
            }
        }
    }
}

impl TokenSource for ImsSource {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn key(&self) -> TokenKey {
        TokenKey {
            authority: self.token_url.to_string(),
            client_id: self.client_id.clone(),
            scope: self.method.scope(),
        }
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
    Seconds,
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

/// A variable [`ImsCredential::from_vars`] reads, and names people put there by mistake.
struct Var {
    name: &'static str,
    near_misses: &'static [&'static str],
}

const CLIENT_ID: Var = Var {
    name: "ADOBE_CLIENT_ID",
    near_misses: &["ADOBE_CLIENT_IDS", "ADOBE_CLIENTID", "ADOBE_API_KEY"],
};
const CLIENT_SECRET: Var = Var {
    name: "ADOBE_CLIENT_SECRET",
    near_misses: &["ADOBE_CLIENT_SECRETS", "ADOBE_CLIENTSECRET", "ADOBE_SECRET"],
};
const SCOPES: Var = Var {
    name: "ADOBE_SCOPES",
    near_misses: &["ADOBE_SCOPE", "ADOBE_IMS_SCOPES"],
};
const ORG_ID: Var = Var {
    name: "ADOBE_IMS_ORG_ID",
    near_misses: &["ADOBE_ORG_ID", "ADOBE_IMS_ORG"],
};
const IMS_ENV: Var = Var {
    name: "ADOBE_IMS_ENV",
    near_misses: &["ADOBE_IMS_ENVIRONMENT"],
};
const IMS_HOST: Var = Var {
    name: "ADOBE_IMS_HOST",
    near_misses: &["ADOBE_IMS_URL"],
};
#[cfg(feature = "ims-jwt")]
const TECHNICAL_ACCOUNT_ID: Var = Var {
    name: "ADOBE_TECHNICAL_ACCOUNT_ID",
    near_misses: &["ADOBE_TECHNICAL_ACCOUNT", "ADOBE_TECH_ACCOUNT_ID"],
};
#[cfg(feature = "ims-jwt")]
const PRIVATE_KEY_PATH: Var = Var {
    name: "ADOBE_PRIVATE_KEY_PATH",
    near_misses: &[
        "ADOBE_PRIVATE_KEY_FILE",
        "ADOBE_PRIVATE_KEY",
        "ADOBE_KEY_PATH",
    ],
};
#[cfg(feature = "ims-jwt")]
const METASCOPES: Var = Var {
    name: "ADOBE_METASCOPES",
    near_misses: &["ADOBE_METASCOPE", "ADOBE_META_SCOPES"],
};

/// Named lookups over the caller's closure, with errors that name the variable.
struct Vars<'a, F>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    /// The trimmed value, `None` when unset or blank; a near-miss set instead is an error.
    fn optional(&self, var: &Var) -> Result<Option<String>, crate::Error> {
        if let Some(value) = (self.0)(var.name)
            .map(|value| value.trim().to_owned())
            .filter(|v| !v.is_empty())
        {
            return Ok(Some(value));
        }
        match var.near_misses.iter().find(|near| (self.0)(near).is_some()) {
            Some(near) => Err(configuration(format!(
                "{name} is not set, but {near} is: did you mean {name}?",
                name = var.name
            ))),
            None => Ok(None),
        }
    }

    fn required(&self, var: &Var) -> Result<String, crate::Error> {
        match self.optional(var)? {
            Some(value) => Ok(value),
            None if (self.0)(var.name).is_some() => {
                Err(configuration(format!("{} is set but empty", var.name)))
            }
            None => Err(configuration(format!("{} is not set", var.name))),
        }
    }

    /// A comma-separated list: entries trimmed, empty ones dropped, at least one left.
    fn list(&self, var: &Var) -> Result<Vec<String>, crate::Error> {
        let text = self.required(var)?;
        let items: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        if items.is_empty() {
            return Err(configuration(format!(
                "{} has no entries (expected a comma-separated list)",
                var.name
            )));
        }
        Ok(items)
    }

    fn environment(&self) -> Result<ImsEnvironment, crate::Error> {
        match (self.optional(&IMS_ENV)?, self.optional(&IMS_HOST)?) {
            (Some(_), Some(_)) => Err(configuration(
                "ADOBE_IMS_ENV and ADOBE_IMS_HOST are both set: set one",
            )),
            (Some(env), None) => match env.to_ascii_lowercase().as_str() {
                "production" => Ok(ImsEnvironment::Production),
                "stage" => Ok(ImsEnvironment::Stage),
                _ => Err(configuration(format!(
                    "ADOBE_IMS_ENV must be production or stage, got {env:?}"
                ))),
            },
            (None, Some(host)) => custom_host(&host).map(ImsEnvironment::Custom),
            (None, None) => Ok(ImsEnvironment::Production),
        }
    }

    /// The Service Account (JWT) flow, when its variables are set.
    #[cfg(feature = "ims-jwt")]
    fn service_account(
        &self,
        client_id: &str,
        client_secret: &str,
        org_id: Option<&str>,
    ) -> Result<Option<ImsCredential>, crate::Error> {
        let (technical_account_id, key_path) = match (
            self.optional(&TECHNICAL_ACCOUNT_ID)?,
            self.optional(&PRIVATE_KEY_PATH)?,
        ) {
            (None, None) => return Ok(None),
            (Some(technical), Some(path)) => (technical, path),
            (Some(_), None) => {
                return Err(configuration(
                    "ADOBE_PRIVATE_KEY_PATH is not set (ADOBE_TECHNICAL_ACCOUNT_ID selects the jwt flow)",
                ));
            }
            (None, Some(_)) => {
                return Err(configuration(
                    "ADOBE_TECHNICAL_ACCOUNT_ID is not set (ADOBE_PRIVATE_KEY_PATH selects the jwt flow)",
                ));
            }
        };
        let org_id = org_id.ok_or_else(|| {
            configuration("ADOBE_IMS_ORG_ID is not set (the service account (jwt) flow needs it)")
        })?;
        let metascopes = self.list(&METASCOPES)?;
        let pem = std::fs::read(&key_path)
            .map(secrecy::SecretSlice::from)
            .map_err(|err| {
                configuration(format!(
                    "cannot read ADOBE_PRIVATE_KEY_PATH ({key_path}): {err}"
                ))
            })?;
        let key = jwt::rsa_key(pem.expose_secret())
            .map_err(|why| configuration(format!("ADOBE_PRIVATE_KEY_PATH ({key_path}): {why}")))?;
        let account =
            jwt::ServiceAccount::new(org_id.to_owned(), technical_account_id, key, metascopes)
                .map_err(configuration)?;
        let secret = SecretString::from(client_secret.to_owned());
        Ok(Some(
            ImsCredential::with_method(
                client_id,
                secret,
                Method::ServiceAccount(Arc::new(account)),
            )
            .org_id(org_id),
        ))
    }
}

/// `ADOBE_IMS_HOST`: an http(s) URL, with a trailing slash so the token paths join under it.
/// The value is not quoted back: a URL may carry a password.
fn custom_host(text: &str) -> Result<Url, crate::Error> {
    let mut url = Url::parse(text)
        .map_err(|err| configuration(format!("ADOBE_IMS_HOST is not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(configuration(format!(
            "ADOBE_IMS_HOST must be an http or https URL, got scheme {:?}",
            url.scheme()
        )));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The Service Account (JWT) flow: an RS256 JWT signed with the integration's private key,
/// exchanged for an access token.
#[cfg(feature = "ims-jwt")]
mod jwt {
    use std::fmt;
    use std::time::{SystemTime, UNIX_EPOCH};

    use auditkit_runtime::{AuthError, AuthErrorKind};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ring::rand::SystemRandom;
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::{self, PemObject};
    use secrecy::SecretString;
    use serde_json::{Map, Value};

    use super::PROVIDER;

    /// How long a signed JWT is valid: IMS only needs it for the exchange.
    pub(crate) const JWT_LIFETIME_SECS: u64 = 300;

    pub(crate) struct ServiceAccount {
        pub(crate) org_id: String,
        pub(crate) technical_account_id: String,
        pub(crate) metascopes: Vec<String>,
        pub(crate) key: RsaKeyPair,
    }

    impl fmt::Debug for ServiceAccount {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ServiceAccount")
                .field("org_id", &self.org_id)
                .field("technical_account_id", &self.technical_account_id)
                .field("metascopes", &self.metascopes)
                .field("private_key", &"<redacted>")
                .finish()
        }
    }

    /// An RSA private key from PEM, PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE
    /// KEY`). The messages never quote the PEM text.
    pub(crate) fn rsa_key(pem_text: &[u8]) -> Result<RsaKeyPair, String> {
        let der = PrivateKeyDer::from_pem_slice(pem_text).map_err(|err| match err {
            pem::Error::NoItemsFound => "no private key found in the PEM text".to_owned(),
            _ => "the private key PEM is malformed".to_owned(),
        })?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(key) => RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(key) => RsaKeyPair::from_der(key.secret_pkcs1_der()),
            _ => return Err("the private key is not an RSA key".to_owned()),
        };
        key.map_err(|rejected| format!("the private key is not a usable RSA key ({rejected})"))
    }

    impl ServiceAccount {
        pub(crate) fn new(
            org_id: String,
            technical_account_id: String,
            key: RsaKeyPair,
            metascopes: Vec<String>,
        ) -> Result<Self, String> {
            if org_id.trim().is_empty() {
                return Err(
                    "org id is empty (it is the issuer of the service account jwt)".to_owned(),
                );
            }
            if technical_account_id.trim().is_empty() {
                return Err("technical account id is empty".to_owned());
            }
            let metascopes: Vec<String> = metascopes
                .iter()
                .map(|m| m.trim())
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect();
            if metascopes.is_empty() {
                return Err(
                    "the service account (jwt) flow needs at least one metascope".to_owned(),
                );
            }
            Ok(Self {
                org_id,
                technical_account_id,
                metascopes,
                key,
            })
        }

        /// The JWT's claims; `ims_origin` is `https://ims-na1.adobelogin.com` in production.
        pub(crate) fn claims(
            &self,
            client_id: &str,
            ims_origin: &str,
            now: u64,
        ) -> Map<String, Value> {
            let mut claims = Map::new();
            claims.insert("exp".to_owned(), Value::from(now + JWT_LIFETIME_SECS));
            claims.insert("iss".to_owned(), Value::from(self.org_id.as_str()));
            claims.insert(
                "sub".to_owned(),
                Value::from(self.technical_account_id.as_str()),
            );
            claims.insert(
                "aud".to_owned(),
                Value::from(format!("{ims_origin}/c/{client_id}")),
            );
            for metascope in &self.metascopes {
                let claim = if metascope.contains("://") {
                    metascope.clone()
                } else {
                    format!("{ims_origin}/s/{metascope}")
                };
                claims.insert(claim, Value::Bool(true));
            }
            claims
        }

        /// The signed JWT, itself a credential for five minutes.
        pub(crate) fn sign(
            &self,
            client_id: &str,
            ims_origin: &str,
            now: u64,
        ) -> Result<SecretString, AuthError> {
            let fail = |what: &str| {
                AuthError::new(PROVIDER, AuthErrorKind::Configuration, what.to_owned())
            };
            let claims = serde_json::to_vec(&self.claims(client_id, ims_origin, now))
                .map_err(|_| fail("cannot encode the jwt claims"))?;
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
            let mut jwt = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
            let mut signature = vec![0; self.key.public().modulus_len()];
            self.key
                .sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    jwt.as_bytes(),
                    &mut signature,
                )
                .map_err(|_| fail("cannot sign the jwt with the private key"))?;
            jwt.push('.');
            jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
            Ok(SecretString::from(jwt))
        }
    }

    /// Seconds since the Unix epoch, for `exp`.
    pub(crate) fn unix_now() -> Result<u64, AuthError> {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .map_err(|_| {
                AuthError::new(
                    PROVIDER,
                    AuthErrorKind::Configuration,
                    "the system clock is before 1970; cannot date the jwt",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::TcpListener;
    use std::time::Duration;

    use auditkit_runtime::{Credential, ManualClock};
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const SECRET: &str = "s2s-secret-7f3a9c";
    const TOKEN: &str = "eyJ-access-token-1234";

    /// auditkit's reqwest has no default TLS provider, so `reqwest::Client::new()` panics.
    fn http() -> reqwest::Client {
        auditkit_runtime::http_client_builder()
            .unwrap()
            .build()
            .unwrap()
    }

    async fn server() -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        MockServer::builder().listener(listener).start().await
    }

    fn custom(server: &MockServer) -> ImsEnvironment {
        ImsEnvironment::Custom(Url::parse(&server.uri()).unwrap())
    }

    fn token_answer(expires_in: serde_json::Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": TOKEN,
            "token_type": "bearer",
            "expires_in": expires_in,
        }))
    }

    /// IMS's error body: `{"error": code, "error_description": text}`.
    fn ims_error(status: u16, code: &str, description: &str) -> ResponseTemplate {
        ResponseTemplate::new(status)
            .set_body_json(serde_json::json!({"error": code, "error_description": description}))
    }

    fn s2s(server: &MockServer) -> ImsCredential {
        ImsCredential::server_to_server(
            "client-abc",
            SECRET,
            ["openid", "AdobeID", "read_organizations"],
        )
        .environment(custom(server))
    }

    fn auth(error: crate::Error) -> AuthError {
        match error {
            crate::Error::Auth(error) => *error,
            other => panic!("expected an auth error, got {other}"),
        }
    }

    async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
        server.received_requests().await.unwrap()
    }

    fn form(request: &wiremock::Request) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect()
    }

    fn header<'a>(headers: &'a CredentialHeaders, name: &str) -> Option<&'a str> {
        headers.get(name).map(|value| value.to_str().unwrap())
    }

    #[tokio::test]
    async fn s2s_posts_the_form_and_sends_the_headers() {
        let server = server().await;
        Mock::given(method("POST"))
            .and(path("/ims/token/v3"))
            .respond_with(token_answer(86399.into()))
            .mount(&server)
            .await;
        let bearer = s2s(&server)
            .org_id("ORG1@AdobeOrg")
            .bearer(&http(), TokenCache::new())
            .unwrap();

        let headers = bearer.headers().await.unwrap();
        assert_eq!(
            header(&headers, "authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(header(&headers, "x-api-key"), Some("client-abc"));
        assert_eq!(header(&headers, "x-gw-ims-org-id"), Some("ORG1@AdobeOrg"));

        let sent = requests(&server).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].url.query(),
            None,
            "nothing travels in the query string"
        );
        let content_type = sent[0]
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            content_type.starts_with("application/x-www-form-urlencoded"),
            "{content_type}"
        );
        let expected = [
            ("grant_type", "client_credentials"),
            ("client_id", "client-abc"),
            ("client_secret", SECRET),
            ("scope", "openid,AdobeID,read_organizations"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(form(&sent[0]), expected);
    }

    #[tokio::test]
    async fn s2s_without_org_id_sends_no_org_header() {
        let server = server().await;
        Mock::given(method("POST"))
            .and(path("/ims/token/v3"))
            .respond_with(token_answer(86399.into()))
            .mount(&server)
            .await;
        let bearer = s2s(&server).bearer(&http(), TokenCache::new()).unwrap();
        let headers = bearer.headers().await.unwrap();
        assert_eq!(header(&headers, "x-api-key"), Some("client-abc"));
        assert_eq!(header(&headers, "x-gw-ims-org-id"), None);
        assert_eq!(bearer.token().await.unwrap().expose_secret(), TOKEN);
    }

    /// Fetches, moves the clock, fetches again, and says how many token requests were made.
    async fn requests_after(
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

    const HOUR: Duration = Duration::from_secs(3600);
    #[cfg(feature = "ims-jwt")]
    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn s2s_expires_in_is_seconds() {
        let server = server().await;
        Mock::given(method("POST"))
            .and(path("/ims/token/v3"))
            .respond_with(token_answer(86399.into()))
            .mount(&server)
            .await;
        // 1 h later the ~24 h token is still cached; 24 h later it is fetched again.
        assert_eq!(
            requests_after(&server, &s2s(&server), &[HOUR, 23 * HOUR]).await,
            [1, 1, 2]
        );
    }

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
        let server = server().await;
        let refusal = ims_error(400, "invalid_client", "invalid client_id parameter")
            .insert_header("x-debug-id", "dbg-1");
        Mock::given(method("POST"))
            .and(path("/ims/token/v3"))
            .respond_with(refusal)
            .mount(&server)
            .await;
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
        let server = server().await;
        let throttled =
            ims_error(429, "rate_limit", "too many requests").insert_header("retry-after", "5");
        Mock::given(method("POST"))
            .and(path("/ims/token/v3"))
            .respond_with(throttled)
            .mount(&server)
            .await;
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
            let server = server().await;
            Mock::given(method("POST"))
                .and(path("/ims/token/v3"))
                .respond_with(answer)
                .mount(&server)
                .await;
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
        let server = server().await;
        let answer = ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"access_token": TOKEN, "expires_in": [1]}));
        Mock::given(method("POST"))
            .and(path("/ims/token/v3"))
            .respond_with(answer)
            .mount(&server)
            .await;
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
        let server = server().await;
        Mock::given(method("POST"))
            .and(path("/ims/token/v3"))
            .respond_with(token_answer(86399.into()))
            .mount(&server)
            .await;
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
                .allow_insecure_http(true)
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

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("ADOBE_CLIENT_ID", "client-abc"),
        ("ADOBE_CLIENT_SECRET", SECRET),
        ("ADOBE_SCOPES", "openid,AdobeID"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    fn from_vars_error(pairs: &[(&str, &str)]) -> String {
        let error = auth(ImsCredential::from_vars(vars(pairs)).unwrap_err());
        assert_eq!(error.kind(), AuthErrorKind::Configuration);
        let text = error.to_string();
        assert!(!text.contains(SECRET), "{text}");
        text
    }

    #[test]
    fn from_vars_reads_server_to_server() {
        let credential = ImsCredential::from_vars(vars(&with(&[
            ("ADOBE_IMS_ORG_ID", "ORG1@AdobeOrg"),
            ("ADOBE_SCOPES", " openid, ,AdobeID ,, read_organizations,"),
        ])))
        .unwrap();
        assert_eq!(credential.client_id(), "client-abc");
        assert_eq!(credential.secrets.len(), 1);
        assert_eq!(credential.secrets[0].expose_secret(), SECRET);
        match &credential.method {
            Method::ServerToServer { scopes } => {
                assert_eq!(scopes, &["openid", "AdobeID", "read_organizations"])
            }
            #[allow(unreachable_patterns)]
            other => panic!("{other:?}"),
        }
        assert_eq!(credential.org_id.as_deref(), Some("ORG1@AdobeOrg"));
        assert_eq!(credential.environment, ImsEnvironment::Production);

        let minimal = ImsCredential::from_vars(vars(&BASE)).unwrap();
        assert_eq!(minimal.org_id, None);
        assert_eq!(minimal.environment, ImsEnvironment::Production);
    }

    #[test]
    fn from_vars_names_what_is_missing() {
        for missing in ["ADOBE_CLIENT_ID", "ADOBE_CLIENT_SECRET", "ADOBE_SCOPES"] {
            let pairs: Vec<_> = BASE
                .iter()
                .filter(|(k, _)| *k != missing)
                .copied()
                .collect();
            assert!(
                from_vars_error(&pairs).contains(&format!("{missing} is not set")),
                "{missing}"
            );
            let blank: Vec<_> = BASE
                .iter()
                .map(|&(k, v)| if k == missing { (k, "  ") } else { (k, v) })
                .collect();
            assert!(
                from_vars_error(&blank).contains(&format!("{missing} is set but empty")),
                "{missing}"
            );
        }
        let text = from_vars_error(&with(&[("ADOBE_SCOPES", " , ,")]));
        assert!(text.contains("ADOBE_SCOPES has no entries"), "{text}");
    }

    #[test]
    fn from_vars_spots_near_misses() {
        let pairs = [
            ("ADOBE_CLIENT_ID", "client-abc"),
            ("ADOBE_CLIENT_SECRETS", SECRET),
            ("ADOBE_SCOPES", "openid"),
        ];
        let text = from_vars_error(&pairs);
        assert!(text.contains("ADOBE_CLIENT_SECRET is not set"), "{text}");
        assert!(text.contains("ADOBE_CLIENT_SECRETS"), "{text}");
        assert!(text.contains("did you mean ADOBE_CLIENT_SECRET?"), "{text}");

        let pairs = [
            ("ADOBE_CLIENT_ID", "client-abc"),
            ("ADOBE_CLIENT_SECRET", SECRET),
            ("ADOBE_SCOPE", "openid"),
        ];
        assert!(from_vars_error(&pairs).contains("did you mean ADOBE_SCOPES?"));
        assert!(
            from_vars_error(&with(&[("ADOBE_ORG_ID", "ORG1@AdobeOrg")]))
                .contains("did you mean ADOBE_IMS_ORG_ID?")
        );
        // The right name wins over a near-miss.
        assert!(
            ImsCredential::from_vars(vars(&with(&[("ADOBE_CLIENT_SECRETS", "other")]))).is_ok()
        );
    }

    #[test]
    fn from_vars_picks_the_ims() {
        let env = |value: &'static str| {
            ImsCredential::from_vars(vars(&with(&[("ADOBE_IMS_ENV", value)])))
        };
        assert_eq!(env("stage").unwrap().environment, ImsEnvironment::Stage);
        assert_eq!(
            env("Production").unwrap().environment,
            ImsEnvironment::Production
        );
        assert_eq!(
            env("stage").unwrap().environment.host().unwrap().as_str(),
            "https://ims-na1-stg1.adobelogin.com/"
        );
        let text = from_vars_error(&with(&[("ADOBE_IMS_ENV", "prod")]));
        assert!(
            text.contains(r#"ADOBE_IMS_ENV must be production or stage, got "prod""#),
            "{text}"
        );

        let host = |value: &'static str| {
            ImsCredential::from_vars(vars(&with(&[("ADOBE_IMS_HOST", value)])))
        };
        assert_eq!(
            host("http://127.0.0.1:9000").unwrap().environment,
            ImsEnvironment::Custom(Url::parse("http://127.0.0.1:9000/").unwrap())
        );
        assert_eq!(
            host("http://localhost:9000/emulator").unwrap().environment,
            ImsEnvironment::Custom(Url::parse("http://localhost:9000/emulator/").unwrap())
        );
        assert!(
            from_vars_error(&with(&[("ADOBE_IMS_HOST", "not a url")]))
                .contains("ADOBE_IMS_HOST is not a URL")
        );
        assert!(
            from_vars_error(&with(&[("ADOBE_IMS_HOST", "localhost:9000")]))
                .contains("ADOBE_IMS_HOST must be an http")
        );
        let both = from_vars_error(&with(&[
            ("ADOBE_IMS_ENV", "stage"),
            ("ADOBE_IMS_HOST", "http://127.0.0.1:9000"),
        ]));
        assert!(both.contains("both set"), "{both}");
    }

    #[tokio::test]
    async fn from_vars_credential_works_against_an_emulator() {
        let server = server().await;
        Mock::given(method("POST"))
            .and(path("/ims/token/v3"))
            .respond_with(token_answer(86399.into()))
            .mount(&server)
            .await;
        let uri = server.uri();
        let lookup = move |name: &str| match name {
            "ADOBE_IMS_HOST" => Some(uri.clone()),
            other => vars(&BASE)(other),
        };
        let bearer = ImsCredential::from_vars(lookup)
            .unwrap()
            .bearer(&http(), TokenCache::new())
            .unwrap();
        assert_eq!(bearer.token().await.unwrap().expose_secret(), TOKEN);
    }

    #[cfg(not(feature = "ims-jwt"))]
    #[test]
    fn without_the_feature_jwt_variables_leave_server_to_server() {
        let credential = ImsCredential::from_vars(vars(&with(&[
            ("ADOBE_TECHNICAL_ACCOUNT_ID", "tech@techacct.adobe.com"),
            ("ADOBE_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
        ])))
        .unwrap();
        assert!(matches!(credential.method, Method::ServerToServer { .. }));
    }

    #[cfg(feature = "ims-jwt")]
    mod service_account {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

        use super::*;

        const KEY_PEM: &str = include_str!("../../testdata/ims/key.pem");
        const KEY_PKCS1_PEM: &str = include_str!("../../testdata/ims/key-pkcs1.pem");
        const JWT_SECRET: &str = "jwt-client-secret-91d2";
        const ORG: &str = "ORG1@AdobeOrg";
        const TECHNICAL: &str = "TECH1@techacct.adobe.com";

        fn key_path() -> String {
            format!("{}/testdata/ims/key.pem", env!("CARGO_MANIFEST_DIR"))
        }

        fn jwt_credential(server: &MockServer) -> ImsCredential {
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

        fn jwt_answer(expires_in_ms: u64) -> ResponseTemplate {
            token_answer(expires_in_ms.into())
        }

        async fn jwt_server(expires_in_ms: u64) -> MockServer {
            let server = server().await;
            Mock::given(method("POST"))
                .and(path("/ims/exchange/jwt"))
                .respond_with(jwt_answer(expires_in_ms))
                .mount(&server)
                .await;
            server
        }

        fn decode(part: &str) -> serde_json::Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
        }

        #[tokio::test]
        async fn exchanges_a_signed_jwt() {
            let server = jwt_server(86_399_000).await;
            let bearer = jwt_credential(&server)
                .bearer(&http(), TokenCache::new())
                .unwrap();
            let headers = bearer.headers().await.unwrap();
            assert_eq!(
                header(&headers, "authorization"),
                Some(format!("Bearer {TOKEN}").as_str())
            );
            assert_eq!(header(&headers, "x-api-key"), Some("client-abc"));
            assert_eq!(
                header(&headers, "x-gw-ims-org-id"),
                Some(ORG),
                "set from the org id automatically"
            );

            let sent = requests(&server).await;
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].url.query(), None);
            let fields = form(&sent[0]);
            let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, ["client_id", "client_secret", "jwt_token"]);
            assert_eq!(fields[0].1, "client-abc");
            assert_eq!(fields[1].1, JWT_SECRET);

            let jwt = &fields[2].1;
            let parts: Vec<&str> = jwt.split('.').collect();
            assert_eq!(parts.len(), 3);
            assert_eq!(
                decode(parts[0]),
                serde_json::json!({"alg": "RS256", "typ": "JWT"})
            );

            let origin = server.uri();
            let claims = decode(parts[1]);
            let claims = claims.as_object().unwrap();
            assert_eq!(claims.len(), 6, "{claims:?}");
            assert_eq!(claims["iss"], ORG);
            assert_eq!(claims["sub"], TECHNICAL);
            assert_eq!(claims["aud"], format!("{origin}/c/client-abc"));
            assert_eq!(claims[&format!("{origin}/s/ent_auditservice_sdk")], true);
            assert_eq!(claims[&format!("{origin}/s/ent_user_sdk")], true);
            let now = jwt::unix_now().unwrap();
            let exp = claims["exp"].as_u64().unwrap();
            assert!(
                (now + 290..=now + 310).contains(&exp),
                "exp {exp}, now {now}"
            );

            // The signature verifies with the public half of the test key.
            let key = jwt::rsa_key(KEY_PEM.as_bytes()).unwrap();
            let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
            let signed = format!("{}.{}", parts[0], parts[1]);
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public().as_ref())
                .verify(signed.as_bytes(), &signature)
                .unwrap();
            let mut tampered = signature.clone();
            tampered[0] ^= 1;
            assert!(
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public().as_ref())
                    .verify(signed.as_bytes(), &tampered)
                    .is_err()
            );
        }

        #[test]
        fn audience_and_metascopes_follow_the_ims_host() {
            let key = jwt::rsa_key(KEY_PEM.as_bytes()).unwrap();
            let account = jwt::ServiceAccount::new(
                ORG.to_owned(),
                TECHNICAL.to_owned(),
                key,
                vec![
                    "ent_auditservice_sdk".to_owned(),
                    "https://ims-na1.adobelogin.com/s/ent_other".to_owned(),
                ],
            )
            .unwrap();
            for (environment, origin) in [
                (ImsEnvironment::Production, "https://ims-na1.adobelogin.com"),
                (ImsEnvironment::Stage, "https://ims-na1-stg1.adobelogin.com"),
            ] {
                let host = environment.host().unwrap().origin().ascii_serialization();
                assert_eq!(host, origin);
                let claims = account.claims("client-abc", &host, 1_700_000_000);
                assert_eq!(claims["aud"], format!("{origin}/c/client-abc"));
                assert_eq!(claims[&format!("{origin}/s/ent_auditservice_sdk")], true);
                assert_eq!(
                    claims["https://ims-na1.adobelogin.com/s/ent_other"], true,
                    "a full claim is kept as given"
                );
                assert_eq!(claims["exp"], 1_700_000_300_u64);
            }
        }

        #[tokio::test]
        async fn expires_in_is_milliseconds() {
            let server = jwt_server(86_399_000).await;
            assert_eq!(
                requests_after(&server, &jwt_credential(&server), &[HOUR, 23 * HOUR]).await,
                [1, 1, 2]
            );
        }

        #[tokio::test]
        async fn a_600000_ms_answer_is_a_ten_minute_token() {
            let server = jwt_server(600_000).await;
            // Refreshed when less than min(5 min, half of 10 min) remains: still cached at
            // 4 minutes, fetched again by 9.
            assert_eq!(
                requests_after(&server, &jwt_credential(&server), &[4 * MINUTE, 5 * MINUTE]).await,
                [1, 1, 2]
            );
        }

        #[test]
        fn pkcs1_keys_work_and_bad_keys_are_configuration_errors() {
            let pkcs8 = jwt::rsa_key(KEY_PEM.as_bytes()).unwrap();
            let pkcs1 = jwt::rsa_key(KEY_PKCS1_PEM.as_bytes()).unwrap();
            assert_eq!(pkcs8.public().as_ref(), pkcs1.public().as_ref());

            let bad_keys: [&[u8]; 3] = [
                b"not a pem at all",
                b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
                b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
            ];
            for pem in bad_keys {
                let result = ImsCredential::jwt(
                    "client-abc",
                    JWT_SECRET,
                    ORG,
                    TECHNICAL,
                    pem,
                    ["ent_auditservice_sdk"],
                );
                let error = auth(result.unwrap_err());
                assert_eq!(error.kind(), AuthErrorKind::Configuration);
                let text = error.to_string();
                assert!(text.contains("private key"), "{text}");
                assert!(
                    !text.contains("MIIB") && !text.contains(JWT_SECRET),
                    "{text}"
                );
            }
            let no_metascopes = ImsCredential::jwt(
                "client-abc",
                JWT_SECRET,
                ORG,
                TECHNICAL,
                KEY_PEM.as_bytes(),
                [" "],
            );
            assert!(
                no_metascopes
                    .unwrap_err()
                    .to_string()
                    .contains("at least one metascope")
            );
            let no_org = ImsCredential::jwt(
                "client-abc",
                JWT_SECRET,
                "",
                TECHNICAL,
                KEY_PEM.as_bytes(),
                ["m"],
            );
            assert!(no_org.unwrap_err().to_string().contains("org id is empty"));
        }

        #[tokio::test]
        async fn debug_output_never_shows_the_key_secret_or_tokens() {
            let server = jwt_server(86_399_000).await;
            let credential = jwt_credential(&server);
            let bearer = credential.bearer(&http(), TokenCache::new()).unwrap();
            bearer.headers().await.unwrap();
            let jwt = form(&requests(&server).await[0]).pop().unwrap().1;
            let key_line = KEY_PEM.lines().nth(5).unwrap();
            for text in [
                format!("{credential:?}"),
                format!("{credential:#?}"),
                format!("{bearer:?}"),
                format!("{bearer:#?}"),
            ] {
                assert!(text.contains(TECHNICAL), "{text}");
                for secret in [JWT_SECRET, TOKEN, key_line, "PRIVATE KEY", jwt.as_str()] {
                    assert!(!text.contains(secret), "{secret} in {text}");
                }
            }
        }

        #[tokio::test]
        async fn from_vars_selects_the_service_account() {
            let server = jwt_server(86_399_000).await;
            let key_path = key_path();
            let uri = server.uri();
            let pairs = with(&[
                ("ADOBE_IMS_ORG_ID", ORG),
                ("ADOBE_TECHNICAL_ACCOUNT_ID", TECHNICAL),
                ("ADOBE_METASCOPES", "ent_auditservice_sdk, ent_user_sdk"),
            ]);
            let lookup = move |name: &str| match name {
                "ADOBE_PRIVATE_KEY_PATH" => Some(key_path.clone()),
                "ADOBE_IMS_HOST" => Some(uri.clone()),
                other => vars(&pairs)(other),
            };
            let credential = ImsCredential::from_vars(lookup).unwrap();
            match &credential.method {
                Method::ServiceAccount(account) => {
                    assert_eq!(account.metascopes, ["ent_auditservice_sdk", "ent_user_sdk"]);
                    assert_eq!(account.technical_account_id, TECHNICAL);
                }
                other => panic!("{other:?}"),
            }
            let bearer = credential.bearer(&http(), TokenCache::new()).unwrap();
            let headers = bearer.headers().await.unwrap();
            assert_eq!(header(&headers, "x-gw-ims-org-id"), Some(ORG));
        }

        #[test]
        fn from_vars_names_what_the_service_account_misses() {
            let key_path: &'static str = Box::leak(key_path().into_boxed_str());
            let full = [
                ("ADOBE_IMS_ORG_ID", ORG),
                ("ADOBE_TECHNICAL_ACCOUNT_ID", TECHNICAL),
                ("ADOBE_PRIVATE_KEY_PATH", key_path),
                ("ADOBE_METASCOPES", "ent_auditservice_sdk"),
            ];
            assert!(ImsCredential::from_vars(vars(&with(&full))).is_ok());
            for (missing, expected) in [
                ("ADOBE_IMS_ORG_ID", "ADOBE_IMS_ORG_ID is not set"),
                (
                    "ADOBE_TECHNICAL_ACCOUNT_ID",
                    "ADOBE_TECHNICAL_ACCOUNT_ID is not set",
                ),
                (
                    "ADOBE_PRIVATE_KEY_PATH",
                    "ADOBE_PRIVATE_KEY_PATH is not set",
                ),
                ("ADOBE_METASCOPES", "ADOBE_METASCOPES is not set"),
            ] {
                let pairs: Vec<_> = full
                    .iter()
                    .filter(|(k, _)| *k != missing)
                    .copied()
                    .collect();
                let text = from_vars_error(&with(&pairs));
                assert!(text.contains(expected), "{missing}: {text}");
            }
            let wrong_path = [
                ("ADOBE_IMS_ORG_ID", ORG),
                ("ADOBE_TECHNICAL_ACCOUNT_ID", TECHNICAL),
                ("ADOBE_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
                ("ADOBE_METASCOPES", "ent_auditservice_sdk"),
            ];
            let text = from_vars_error(&with(&wrong_path));
            assert!(
                text.contains("cannot read ADOBE_PRIVATE_KEY_PATH (/nonexistent/key.pem)"),
                "{text}"
            );
            let near = [
                ("ADOBE_TECHNICAL_ACCOUNT_ID", TECHNICAL),
                ("ADOBE_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----"),
            ];
            let text = from_vars_error(&with(&near));
            assert!(
                text.contains("did you mean ADOBE_PRIVATE_KEY_PATH?") && !text.contains("BEGIN"),
                "{text}"
            );
        }
    }
}
