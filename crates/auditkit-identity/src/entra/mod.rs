//! Microsoft Entra ID (the Microsoft identity platform): OAuth client credentials for Graph
//! (client secret, certificate, client assertion, workload identity federation) and managed
//! identity.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use auditkit_runtime::security::redact;
use auditkit_runtime::{AuthError, AuthErrorKind, BoxFuture, CredentialHeaders};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::token::{
    CachedBearer, Token, TokenSource, excerpt, get_token, kind_for_status, post_form, retry_after,
};
use crate::{TokenCache, TokenKey};

const PROVIDER: &str = "entra id";

/// `client_assertion_type` of a signed JWT (certificate or federated token).
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a certificate-signed assertion is valid; it is used once, right away.
const ASSERTION_LIFETIME_SECS: u64 = 10 * 60;
/// The Azure instance metadata service: plain http to a link-local address, by design.
const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const IMDS_HOST: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";

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
    pub fn login_host(self) -> &'static str {
        match self {
            GraphCloud::Global => "login.microsoftonline.com",
            GraphCloud::UsGov | GraphCloud::UsGovDod => "login.microsoftonline.us",
            GraphCloud::China => "login.chinacloudapi.cn",
        }
    }

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

/// Produces a client assertion (a JWT from another issuer, say) for each token request.
pub type ClientAssertionCallback =
    dyn Fn() -> BoxFuture<'static, Result<String, AuthError>> + Send + Sync;

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

/// Where a managed identity gets its tokens.
#[derive(Clone)]
pub(crate) enum ManagedIdentity {
    /// The Azure instance metadata service (VMs, AKS nodes …); `None` is the real one.
    Imds(Option<Url>),
    /// App Service and Functions: `IDENTITY_ENDPOINT` and its `IDENTITY_HEADER` secret.
    AppService { endpoint: Url, header: SecretString },
}

impl fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagedIdentity::Imds(url) => f
                .debug_struct("ManagedIdentity")
                .field(
                    "imds",
                    &url.as_ref()
                        .map_or_else(|| IMDS_ENDPOINT.to_owned(), redact),
                )
                .finish(),
            ManagedIdentity::AppService { endpoint, .. } => f
                .debug_struct("ManagedIdentity")
                .field("app_service", &redact(endpoint))
                .field("identity_header", &"<redacted>")
                .finish(),
        }
    }
}

/// A certificate's RSA private key and the thumbprints Entra ID finds it by.
pub(crate) struct CertificateKey {
    key: RsaKeyPair,
    /// base64url(SHA-256(certificate DER)).
    x5t_s256: String,
    /// base64url(SHA-1(certificate DER)), for the legacy RS256 header.
    x5t_sha1: String,
}

impl CertificateKey {
    /// The first certificate of `cert_pem` and the first private key of `key_pem` (PKCS#8 or
    /// PKCS#1 RSA). `cert_what`/`key_what` name the inputs in errors.
    fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_what: &str,
        key_what: &str,
    ) -> Result<Self, crate::Error> {
        let cert = match CertificateDer::pem_slice_iter(cert_pem).next() {
            Some(Ok(cert)) => cert,
            Some(Err(err)) => {
                return Err(configuration(format!(
                    "{cert_what} is not valid PEM: {err}"
                )));
            }
            None => return Err(configuration(format!("{cert_what} holds no certificate"))),
        };
        let rejected = |err: ring::error::KeyRejected| {
            configuration(format!(
                "{key_what} holds a private key that is not a usable RSA key ({err})"
            ))
        };
        let key = match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(PrivateKeyDer::Pkcs8(der)) => {
                RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(rejected)?
            }
            Ok(PrivateKeyDer::Pkcs1(der)) => {
                RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(rejected)?
            }
            Ok(_) => {
                return Err(configuration(format!(
                    "{key_what} holds a private key that is not RSA; entra id certificates need an RSA key"
                )));
            }
            Err(pem::Error::NoItemsFound)
                if contains(key_pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") =>
            {
                return Err(configuration(format!(
                    "{key_what} holds an encrypted private key; give the key unencrypted (openssl pkcs8 -nocrypt)"
                )));
            }
            Err(pem::Error::NoItemsFound) => {
                return Err(configuration(format!("{key_what} holds no private key")));
            }
            Err(err) => return Err(configuration(format!("{key_what} is not valid PEM: {err}"))),
        };
        // The certificate embeds the DER RSA public key in its SubjectPublicKeyInfo: a key that
        // does not match would only show up as an AADSTS error at every token request.
        if !contains(cert.as_ref(), key.public().as_ref()) {
            return Err(configuration(format!(
                "the certificate in {cert_what} does not belong to the private key"
            )));
        }
        let thumbprint =
            |algorithm| URL_SAFE_NO_PAD.encode(digest::digest(algorithm, cert.as_ref()));
        Ok(Self {
            x5t_s256: thumbprint(&digest::SHA256),
            x5t_sha1: thumbprint(&digest::SHA1_FOR_LEGACY_USE_ONLY),
            key,
        })
    }

    /// A client assertion for one token request: `aud` the token endpoint, `iss` = `sub` the
    /// client id, valid from now for ten minutes.
    fn assertion(
        &self,
        token_url: &Url,
        client_id: &str,
        legacy_rs256: bool,
    ) -> Result<SecretString, AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or_default();
        let header = if legacy_rs256 {
            serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": self.x5t_sha1 })
        } else {
            serde_json::json!({ "alg": "PS256", "typ": "JWT", "x5t#S256": self.x5t_s256 })
        };
        let claims = serde_json::json!({
            "aud": token_url.as_str(),
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let padding: &'static dyn RsaEncoding = if legacy_rs256 {
            &RSA_PKCS1_SHA256
        } else {
            &RSA_PSS_SHA256
        };
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                padding,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                AuthError::new(
                    PROVIDER,
                    AuthErrorKind::Configuration,
                    "cannot sign the client assertion",
                )
            })?;
        Ok(SecretString::from(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
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
            tenant.escape_debug().to_string()
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
    allow_insecure_http: bool,
    http: Option<reqwest::Client>,
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
    /// An application (client) id and one of its client secrets.
    pub fn client_secret(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self::with_method(
            tenant,
            client_id,
            Method::Secret(SecretString::from(secret.into())),
        )
    }

    /// An application (client) id and a certificate registered on it: `cert_pem` holds the
    /// certificate, `key_pem` its RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY`, unencrypted). Each token request carries a fresh JWT signed with
    /// PS256; see [`EntraCredential::legacy_rs256`].
    pub fn certificate(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, crate::Error> {
        let key =
            CertificateKey::from_pem(cert_pem, key_pem, "certificate PEM", "private key PEM")?;
        Ok(Self::with_method(
            tenant,
            client_id,
            Method::Certificate {
                key: Arc::new(key),
                legacy_rs256: false,
            },
        ))
    }

    /// Like [`EntraCredential::certificate`], from one PEM file holding both the certificate
    /// and the private key (what `AZURE_CLIENT_CERTIFICATE_PATH` names). Read once, now.
    pub fn certificate_from_pem_file(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        path: impl AsRef<Path>,
    ) -> Result<Self, crate::Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|err| {
            crate::Error::from(
                AuthError::new(
                    PROVIDER,
                    AuthErrorKind::Configuration,
                    format!("cannot read certificate file {}", path.display()),
                )
                .with_source(err),
            )
        })?;
        let what = format!("certificate file {}", path.display());
        let key = CertificateKey::from_pem(&pem, &pem, &what, &what)?;
        Ok(Self::with_method(
            tenant,
            client_id,
            Method::Certificate {
                key: Arc::new(key),
                legacy_rs256: false,
            },
        ))
    }

    /// Signs certificate assertions the way older Entra ID documentation describes: `RS256`
    /// (PKCS#1 v1.5) with an `x5t` SHA-1 thumbprint instead of `PS256` and `x5t#S256`. For
    /// certificate credentials only.
    pub fn legacy_rs256(mut self) -> Self {
        match &mut self.method {
            Method::Certificate { legacy_rs256, .. } => *legacy_rs256 = true,
            _ => self.misuse = Some("legacy_rs256 applies to certificate credentials only"),
        }
        self
    }

    /// An application (client) id and a client assertion produced by `assertion` for every
    /// token request: a signed JWT, or a token from another identity provider that the
    /// application trusts (federated credentials).
    pub fn client_assertion<F>(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        assertion: F,
    ) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<String, AuthError>> + Send + Sync + 'static,
    {
        Self::with_method(
            tenant,
            client_id,
            Method::AssertionCallback(Arc::new(assertion)),
        )
    }

    /// Workload identity federation: the client assertion is the content of `path`
    /// (`AZURE_FEDERATED_TOKEN_FILE`), read again for every token request since the platform
    /// rotates it.
    pub fn client_assertion_file(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Self {
        Self::with_method(tenant, client_id, Method::AssertionFile(path.into()))
    }

    /// The managed identity of the Azure resource this runs on, system-assigned unless
    /// [`EntraCredential::managed_identity_client_id`] names a user-assigned one. Tokens come
    /// from the instance metadata service (`http://169.254.169.254`), or from App Service's
    /// endpoint when [`EntraCredential::app_service_endpoint`] sets it (see
    /// [`EntraCredential::managed_identity_from_env`]). The authority host is not used.
    pub fn managed_identity() -> Self {
        Self::with_method("", "", Method::ManagedIdentity(ManagedIdentity::Imds(None)))
    }

    /// [`EntraCredential::managed_identity`], using App Service's endpoint when its
    /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set.
    pub fn managed_identity_from_env() -> Result<Self, crate::Error> {
        Self::managed_identity_from_vars(|name| std::env::var(name).ok())
    }

    /// [`EntraCredential::managed_identity_from_env`] with the variables from `lookup`.
    pub fn managed_identity_from_vars(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::Error> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        match (get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER")) {
            (None, None) => Ok(Self::managed_identity()),
            (Some(_), None) => Err(configuration(
                "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not",
            )),
            (None, Some(_)) => Err(configuration(
                "IDENTITY_HEADER is set but IDENTITY_ENDPOINT is not",
            )),
            (Some(endpoint), Some(header)) => {
                let url = Url::parse(endpoint.trim()).map_err(|err| {
                    configuration(format!(
                        "IDENTITY_ENDPOINT is not a URL: {endpoint:?} ({err})"
                    ))
                })?;
                Ok(Self::managed_identity().app_service_endpoint(url, header))
            }
        }
    }

    /// Uses the user-assigned managed identity with this client id instead of the
    /// system-assigned one.
    pub fn managed_identity_client_id(mut self, client_id: impl Into<String>) -> Self {
        match self.method {
            Method::ManagedIdentity(_) => self.client_id = client_id.into(),
            _ => {
                self.misuse =
                    Some("managed_identity_client_id applies to managed identity credentials only")
            }
        }
        self
    }

    /// Asks this instance metadata endpoint instead of `http://169.254.169.254/…` (tests).
    pub fn imds_endpoint(mut self, url: Url) -> Self {
        match &mut self.method {
            Method::ManagedIdentity(identity) => *identity = ManagedIdentity::Imds(Some(url)),
            _ => self.misuse = Some("imds_endpoint applies to managed identity credentials only"),
        }
        self
    }

    /// Asks App Service's managed identity endpoint (`IDENTITY_ENDPOINT`), proving locality
    /// with `header_secret` (`IDENTITY_HEADER`).
    pub fn app_service_endpoint(mut self, url: Url, header_secret: impl Into<String>) -> Self {
        match &mut self.method {
            Method::ManagedIdentity(identity) => {
                *identity = ManagedIdentity::AppService {
                    endpoint: url,
                    header: SecretString::from(header_secret.into()),
                };
            }
            _ => {
                self.misuse =
                    Some("app_service_endpoint applies to managed identity credentials only")
            }
        }
        self
    }

    /// Credentials from the variables Microsoft's libraries read: `AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID`, then the first of `AZURE_CLIENT_SECRET`,
    /// `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM file with certificate and key) and
    /// `AZURE_FEDERATED_TOKEN_FILE`; `AZURE_AUTHORITY_HOST` overrides the login host.
    pub fn from_env() -> Result<Self, crate::Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`EntraCredential::from_env`] with the variables from `lookup`. Empty values count as
    /// not set.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, crate::Error> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let required =
            |name: &str| get(name).ok_or_else(|| configuration(format!("{name} is not set")));
        let tenant = required("AZURE_TENANT_ID")?.trim().to_owned();
        let client_id = required("AZURE_CLIENT_ID")?.trim().to_owned();
        let mut credential = if let Some(secret) = get("AZURE_CLIENT_SECRET") {
            Self::client_secret(tenant, client_id, secret)
        } else if let Some(path) = get("AZURE_CLIENT_CERTIFICATE_PATH") {
            if get("AZURE_CLIENT_CERTIFICATE_PASSWORD").is_some() {
                return Err(configuration(
                    "AZURE_CLIENT_CERTIFICATE_PASSWORD is set, but only unencrypted PEM keys are supported",
                ));
            }
            Self::certificate_from_pem_file(tenant, client_id, path)?
        } else if let Some(path) = get("AZURE_FEDERATED_TOKEN_FILE") {
            Self::client_assertion_file(tenant, client_id, path)
        } else {
            return Err(configuration(
                "none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE is set",
            ));
        };
        if let Some(host) = get("AZURE_AUTHORITY_HOST") {
            let url = Url::parse(host.trim()).map_err(|err| {
                configuration(format!(
                    "AZURE_AUTHORITY_HOST is not a URL: {host:?} ({err})"
                ))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(configuration(format!(
                    "AZURE_AUTHORITY_HOST is not an http(s) URL: {host:?}"
                )));
            }
            credential = credential.authority_host(url);
        }
        Ok(credential)
    }

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
            allow_insecure_http: false,
            http: None,
            misuse: None,
        }
    }

    /// Sends token requests to this host instead of the cloud's login host (an emulator, a
    /// test server). Plain http is accepted for loopback hosts only, unless
    /// [`EntraCredential::allow_insecure_http`] says otherwise.
    pub fn authority_host(mut self, url: Url) -> Self {
        self.authority_host = Some(url);
        self
    }

    /// Lets the secret travel over plain http to a host that is not loopback. For test servers.
    /// (The instance metadata service at `169.254.169.254` is always plain http.)
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The HTTP client for token requests (proxies, custom roots); by default the facade's.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

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
        default_http: &reqwest::Client,
        cache: TokenCache,
    ) -> Result<CachedBearer, crate::Error> {
        if let Some(misuse) = self.misuse {
            return Err(configuration(misuse));
        }
        let http = self.http.clone().unwrap_or_else(|| default_http.clone());
        if let Method::ManagedIdentity(identity) = &self.method {
            let source = ManagedIdentitySource::new(
                identity,
                &self.client_id,
                cloud,
                self.allow_insecure_http,
                http,
            )?;
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
        let token_url = self.token_url(cloud)?;
        auditkit_runtime::security::check_transport(&token_url, self.allow_insecure_http).map_err(
            |why| crate::Error::from(AuthError::new(PROVIDER, AuthErrorKind::Insecure, why)),
        )?;
        let source = EntraSource {
            token_url,
            scope: cloud.scope(),
            client_id: self.client_id.clone(),
            method: self.method.clone(),
            allow_insecure_http: self.allow_insecure_http,
            http,
        };
        Ok(CachedBearer::new(
            Arc::new(source),
            cache,
            CredentialHeaders::new(),
        ))
    }
}

struct EntraSource {
    token_url: Url,
    scope: String,
    client_id: String,
    method: Method,
    allow_insecure_http: bool,
    http: reqwest::Client,
}

impl fmt::Debug for EntraSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraSource")
            .field("token_url", &redact(&self.token_url))
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
        let config =
            |message: String| AuthError::new(PROVIDER, AuthErrorKind::Configuration, message);
        match &self.method {
            Method::Secret(secret) => Ok(Proof::Secret(secret)),
            Method::Certificate { key, legacy_rs256 } => key
                .assertion(&self.token_url, &self.client_id, *legacy_rs256)
                .map(Proof::Assertion),
            Method::AssertionCallback(produce) => {
                let assertion = SecretString::from(produce().await?);
                if assertion.expose_secret().trim().is_empty() {
                    return Err(config(
                        "the client assertion callback gave an empty assertion".into(),
                    ));
                }
                Ok(Proof::Assertion(assertion))
            }
            Method::AssertionFile(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|err| {
                    config(format!(
                        "cannot read the federated token file {}",
                        path.display()
                    ))
                    .with_source(err)
                })?;
                let assertion = SecretString::from(text.trim().to_owned());
                if assertion.expose_secret().is_empty() {
                    return Err(config(format!(
                        "federated token file {} is empty",
                        path.display()
                    )));
                }
                Ok(Proof::Assertion(assertion))
            }
            Method::ManagedIdentity(_) => Err(config(
                "a managed identity has no client credentials".into(),
            )),
        }
    }
}

impl TokenSource for EntraSource {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn key(&self) -> TokenKey {
        TokenKey {
            authority: self.token_url.to_string(),
            client_id: self.client_id.clone(),
            scope: self.scope.clone(),
        }
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
            let answer = post_form(
                &self.http,
                PROVIDER,
                &self.token_url,
                &form,
                self.allow_insecure_http,
            )
            .await?;
            parse_token_answer(answer)
        })
    }
}

/// Tokens from a managed identity endpoint: a GET with the resource in the query.
struct ManagedIdentitySource {
    /// The endpoint with its query.
    url: Url,
    headers: HeaderMap,
    key: TokenKey,
    allow_insecure_http: bool,
    http: reqwest::Client,
}

impl fmt::Debug for ManagedIdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentitySource")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentitySource {
    fn new(
        identity: &ManagedIdentity,
        client_id: &str,
        cloud: GraphCloud,
        allow_insecure_http: bool,
        http: reqwest::Client,
    ) -> Result<Self, crate::Error> {
        let resource = cloud.resource();
        let mut headers = HeaderMap::new();
        let (mut url, api_version) = match identity {
            ManagedIdentity::Imds(url) => {
                headers.insert(
                    HeaderName::from_static("metadata"),
                    HeaderValue::from_static("true"),
                );
                let url = match url {
                    Some(url) => url.clone(),
                    None => Url::parse(IMDS_ENDPOINT).map_err(|err| {
                        configuration(format!("bad instance metadata endpoint: {err}"))
                    })?,
                };
                (url, IMDS_API_VERSION)
            }
            ManagedIdentity::AppService { endpoint, header } => {
                let mut value = HeaderValue::from_str(header.expose_secret()).map_err(|_| {
                    configuration("the App Service identity header is not a valid header value")
                })?;
                value.set_sensitive(true);
                headers.insert(HeaderName::from_static("x-identity-header"), value);
                (endpoint.clone(), APP_SERVICE_API_VERSION)
            }
        };
        let authority = url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("api-version", api_version)
                .append_pair("resource", &resource);
            if !client_id.trim().is_empty() {
                query.append_pair("client_id", client_id.trim());
            }
        }
        // The metadata service is plain http to a link-local address by design.
        let allow_insecure_http = allow_insecure_http || is_imds_host(&url);
        auditkit_runtime::security::check_transport(&url, allow_insecure_http).map_err(|why| {
            crate::Error::from(AuthError::new(PROVIDER, AuthErrorKind::Insecure, why))
        })?;
        let client_id = if client_id.trim().is_empty() {
            "system-assigned"
        } else {
            client_id.trim()
        };
        let key = TokenKey {
            authority: authority.to_string(),
            client_id: client_id.to_owned(),
            scope: resource,
        };
        Ok(Self {
            url,
            headers,
            key,
            allow_insecure_http,
            http,
        })
    }
}

fn is_imds_host(url: &Url) -> bool {
    url.host() == Some(url::Host::Ipv4(IMDS_HOST))
}

impl TokenSource for ManagedIdentitySource {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn key(&self) -> TokenKey {
        self.key.clone()
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Token, AuthError>> {
        Box::pin(async move {
            let answer = get_token(
                &self.http,
                PROVIDER,
                &self.url,
                self.headers.clone(),
                self.allow_insecure_http,
            )
            .await?;
            parse_token_answer(answer)
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

    use std::collections::HashMap;
    use std::net::TcpListener;

    use ring::signature::{
        RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, UnparsedPublicKey,
    };
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TENANT: &str = "contoso";
    const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
    const SECRET: &str = "s3cr3t~value-that-must-never-leak";
    const CERT: &[u8] = include_bytes!("../../testdata/entra/cert.pem");
    const KEY: &[u8] = include_bytes!("../../testdata/entra/key.pem");
    const KEY_PKCS1: &[u8] = include_bytes!("../../testdata/entra/key-pkcs1.pem");
    const OTHER_KEY: &[u8] = include_bytes!("../../testdata/entra/other-key.pem");
    /// Computed with openssl from cert.pem: `openssl x509 -outform der | openssl dgst -sha256 -binary | base64url`.
    const CERT_X5T_S256: &str = "Fi94Ml-lefTwi9VjfUJMBcTm6VXSegeibt10_PhlH7o";
    const CERT_X5T_SHA1: &str = "FCTmzmkWqsmWmsXrHaEglWu6KtA";
    const TOKEN_PATH: &str = "/contoso/oauth2/v2.0/token";

    /// `reqwest::Client::new()` panics here: the crate enables reqwest's `rustls-no-provider`
    /// and installs no process-wide provider, so tests use the facade's own builder.
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

    fn good_answer() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "eyJ0.access.token"
        }))
    }

    async fn token_server(answer: ResponseTemplate) -> MockServer {
        let server = server().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(answer)
            .mount(&server)
            .await;
        server
    }

    fn host(server: &MockServer) -> Url {
        Url::parse(&server.uri()).unwrap()
    }

    fn token_url(server: &MockServer) -> String {
        format!("{}{TOKEN_PATH}", server.uri())
    }

    async fn fetch(credential: &EntraCredential) -> Result<String, crate::Error> {
        let bound = credential.bearer(GraphCloud::Global, &http(), TokenCache::new())?;
        Ok(bound.token().await?.expose_secret().to_owned())
    }

    fn auth_error(err: crate::Error) -> AuthError {
        match err {
            crate::Error::Auth(auth) => *auth,
            other => panic!("expected an auth error, got {other:?}"),
        }
    }

    /// The forms posted to the token endpoint, in order, each checked for its content type.
    async fn posted_forms(server: &MockServer) -> Vec<Vec<(String, String)>> {
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

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Splits an assertion form into its fixed fields and the assertion itself.
    fn assertion_of(form: &[(String, String)]) -> String {
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

    fn decode_json(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn test_key() -> RsaKeyPair {
        match PrivateKeyDer::from_pem_slice(KEY).unwrap() {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap(),
            _ => panic!("key.pem is PKCS#8"),
        }
    }

    fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// Checks header, claims and signature of a certificate assertion.
    fn check_assertion(jwt: &str, aud: &str, legacy: bool) -> String {
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
            let sha256 =
                URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, certificate.as_ref()));
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
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &[u8]) -> Self {
            let path =
                std::env::temp_dir().join(format!("auditkit-entra-{}", uuid::Uuid::new_v4()));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn vars(table: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = table
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[tokio::test]
    async fn client_secret_posts_the_documented_form() {
        let server = token_server(good_answer()).await;
        let credential =
            EntraCredential::client_secret(TENANT, CLIENT, SECRET).authority_host(host(&server));
        assert_eq!(fetch(&credential).await.unwrap(), "eyJ0.access.token");
        assert_eq!(
            posted_forms(&server).await,
            vec![pairs(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("scope", "https://graph.microsoft.com/.default"),
                ("client_secret", SECRET),
            ])]
        );
    }

    #[tokio::test]
    async fn certificate_assertion_is_ps256_signed_and_verifiable() {
        let server = token_server(good_answer()).await;
        let credential = EntraCredential::certificate(TENANT, CLIENT, CERT, KEY)
            .unwrap()
            .authority_host(host(&server));
        assert_eq!(fetch(&credential).await.unwrap(), "eyJ0.access.token");
        // A second request (fresh cache) gets a fresh assertion.
        fetch(&credential).await.unwrap();
        let forms = posted_forms(&server).await;
        assert_eq!(forms.len(), 2);
        let first = check_assertion(&assertion_of(&forms[0]), &token_url(&server), false);
        let second = check_assertion(&assertion_of(&forms[1]), &token_url(&server), false);
        assert_ne!(first, second, "every assertion has its own jti");
    }

    #[tokio::test]
    async fn certificate_file_with_pkcs1_key_signs_legacy_rs256() {
        let file = TempFile::new(&[CERT, KEY_PKCS1].concat());
        let server = token_server(good_answer()).await;
        let credential = EntraCredential::certificate_from_pem_file(TENANT, CLIENT, &file.0)
            .unwrap()
            .legacy_rs256()
            .authority_host(host(&server));
        fetch(&credential).await.unwrap();
        let forms = posted_forms(&server).await;
        check_assertion(&assertion_of(&forms[0]), &token_url(&server), true);
    }

    #[test]
    fn certificate_pem_problems_are_named() {
        let cases: [(&[u8], &[u8], &str); 7] = [
            (b"garbage", KEY, "certificate PEM holds no certificate"),
            (KEY, KEY, "certificate PEM holds no certificate"),
            (CERT, CERT, "private key PEM holds no private key"),
            (CERT, b"-----BEGIN PRIVATE KEY-----\nAAAA", "private key PEM is not valid PEM"),
            (CERT, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a usable RSA key"),
            (CERT, b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
            (CERT, OTHER_KEY, "does not belong to the private key"),
        ];
        for (cert, key, expected) in cases {
            let err =
                auth_error(EntraCredential::certificate(TENANT, CLIENT, cert, key).unwrap_err());
            assert_eq!(err.kind(), AuthErrorKind::Configuration);
            assert!(
                err.to_string().contains(expected),
                "{err} should say {expected:?}"
            );
        }
        let only_cert = TempFile::new(CERT);
        let err = auth_error(
            EntraCredential::certificate_from_pem_file(TENANT, CLIENT, &only_cert.0).unwrap_err(),
        );
        assert!(err.to_string().ends_with("holds no private key"), "{err}");
        assert!(err.to_string().contains("certificate file"), "{err}");
        assert!(
            err.to_string().contains(&only_cert.0.display().to_string()),
            "{err}"
        );
        let missing = std::env::temp_dir().join("auditkit-entra-does-not-exist.pem");
        let err = auth_error(
            EntraCredential::certificate_from_pem_file(TENANT, CLIENT, &missing).unwrap_err(),
        );
        assert_eq!(err.kind(), AuthErrorKind::Configuration);
        assert!(
            err.to_string().contains("cannot read certificate file"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn client_assertion_callback_is_posted() {
        let server = token_server(good_answer()).await;
        let credential = EntraCredential::client_assertion(TENANT, CLIENT, || {
            Box::pin(async { Ok("federated.jwt.from-callback".to_owned()) })
        })
        .authority_host(host(&server));
        fetch(&credential).await.unwrap();
        assert_eq!(
            assertion_of(&posted_forms(&server).await[0]),
            "federated.jwt.from-callback"
        );

        let failing = EntraCredential::client_assertion(TENANT, CLIENT, || {
            Box::pin(async {
                Err(AuthError::new(
                    "other idp",
                    AuthErrorKind::Unavailable,
                    "idp is down",
                ))
            })
        })
        .authority_host(host(&server));
        let err = auth_error(fetch(&failing).await.unwrap_err());
        assert_eq!(
            (err.provider(), err.kind()),
            ("other idp", AuthErrorKind::Unavailable)
        );
        let empty = EntraCredential::client_assertion(TENANT, CLIENT, || {
            Box::pin(async { Ok(" ".to_owned()) })
        })
        .authority_host(host(&server));
        assert_eq!(
            auth_error(fetch(&empty).await.unwrap_err()).kind(),
            AuthErrorKind::Configuration
        );
        assert_eq!(
            posted_forms(&server).await.len(),
            1,
            "failed assertions send nothing"
        );
    }

    #[tokio::test]
    async fn assertion_file_is_read_for_every_token_request() {
        let file = TempFile::new(b"first.federated.token\n");
        let server = token_server(good_answer()).await;
        let credential = EntraCredential::client_assertion_file(TENANT, CLIENT, &file.0)
            .authority_host(host(&server));
        fetch(&credential).await.unwrap();
        std::fs::write(&file.0, b"second.federated.token").unwrap();
        fetch(&credential).await.unwrap();
        let forms = posted_forms(&server).await;
        assert_eq!(assertion_of(&forms[0]), "first.federated.token");
        assert_eq!(assertion_of(&forms[1]), "second.federated.token");

        std::fs::write(&file.0, b"  \n").unwrap();
        let err = auth_error(fetch(&credential).await.unwrap_err());
        assert_eq!(err.kind(), AuthErrorKind::Configuration);
        assert_eq!(
            err.to_string(),
            format!(
                "entra id: federated token file {} is empty",
                file.0.display()
            )
        );
        std::fs::remove_file(&file.0).unwrap();
        let err = auth_error(fetch(&credential).await.unwrap_err());
        assert!(
            err.to_string()
                .contains("cannot read the federated token file"),
            "{err}"
        );
        assert_eq!(posted_forms(&server).await.len(), 2);
    }

    async fn identity_server(path_: &str, answer: ResponseTemplate) -> MockServer {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path(path_))
            .respond_with(answer)
            .mount(&server)
            .await;
        server
    }

    fn only_request(requests: &[wiremock::Request]) -> &wiremock::Request {
        assert_eq!(requests.len(), 1);
        &requests[0]
    }

    fn query(request: &wiremock::Request) -> Vec<(String, String)> {
        request.url.query_pairs().into_owned().collect()
    }

    #[tokio::test]
    async fn managed_identity_asks_imds() {
        let answer = ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "imds.token", "expires_in": "3599", "expires_on": "1506484173",
            "resource": "https://graph.microsoft.com", "token_type": "Bearer"
        }));
        let server = identity_server("/metadata/identity/oauth2/token", answer).await;
        let imds = Url::parse(&format!("{}/metadata/identity/oauth2/token", server.uri())).unwrap();
        let credential = EntraCredential::managed_identity().imds_endpoint(imds.clone());
        assert_eq!(fetch(&credential).await.unwrap(), "imds.token");
        let user_assigned = EntraCredential::managed_identity()
            .managed_identity_client_id(CLIENT)
            .imds_endpoint(imds);
        assert_eq!(fetch(&user_assigned).await.unwrap(), "imds.token");

        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 2);
        for request in &requests {
            assert_eq!(request.method.as_str(), "GET");
            assert_eq!(request.headers.get("metadata").unwrap(), "true");
            assert!(request.headers.get("x-identity-header").is_none());
        }
        assert_eq!(
            requests[0].url.query(),
            Some("api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com")
        );
        assert_eq!(
            query(&requests[1]),
            pairs(&[
                ("api-version", "2018-02-01"),
                ("resource", "https://graph.microsoft.com"),
                ("client_id", CLIENT)
            ])
        );
    }

    #[tokio::test]
    async fn managed_identity_asks_app_service_and_takes_expires_on() {
        let expires_on = now_secs() + 3600;
        let answer = ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "app.service.token", "expires_on": expires_on.to_string(),
            "resource": "https://graph.microsoft.us", "token_type": "Bearer", "client_id": CLIENT
        }));
        let server = identity_server("/msi/token", answer).await;
        let endpoint = format!("{}/msi/token", server.uri());
        let credential = EntraCredential::managed_identity_from_vars(vars(&[
            ("IDENTITY_ENDPOINT", &endpoint),
            ("IDENTITY_HEADER", "identity-header-secret"),
        ]))
        .unwrap();
        let bound = credential
            .bearer(GraphCloud::UsGov, &http(), TokenCache::new())
            .unwrap();
        assert_eq!(
            bound.token().await.unwrap().expose_secret(),
            "app.service.token"
        );
        let requests = server.received_requests().await.unwrap();
        let request = only_request(&requests);
        assert_eq!(
            request.headers.get("x-identity-header").unwrap(),
            "identity-header-secret"
        );
        assert!(request.headers.get("metadata").is_none());
        assert_eq!(
            query(request),
            pairs(&[
                ("api-version", "2019-08-01"),
                ("resource", "https://graph.microsoft.us")
            ])
        );
        let debug = format!("{credential:?} {bound:?}");
        assert!(!debug.contains("identity-header-secret"), "{debug}");

        // expires_on in the past is no token.
        let stale = ResponseTemplate::new(200).set_body_json(
            serde_json::json!({ "access_token": "t", "expires_on": now_secs() - 10 }),
        );
        let server = identity_server("/msi/token", stale).await;
        let url = Url::parse(&format!("{}/msi/token", server.uri())).unwrap();
        let credential = EntraCredential::managed_identity().app_service_endpoint(url, "h");
        assert_eq!(
            auth_error(fetch(&credential).await.unwrap_err()).kind(),
            AuthErrorKind::InvalidResponse
        );
    }

    #[test]
    fn managed_identity_transport_and_env_rules() {
        let http = http();
        // The real IMDS is plain http to 169.254.169.254: allowed without opting in.
        EntraCredential::managed_identity()
            .bearer(GraphCloud::Global, &http, TokenCache::new())
            .unwrap();
        let elsewhere = Url::parse("http://10.1.2.3/metadata/identity/oauth2/token").unwrap();
        let err = EntraCredential::managed_identity()
            .imds_endpoint(elsewhere.clone())
            .bearer(GraphCloud::Global, &http, TokenCache::new())
            .unwrap_err();
        assert_eq!(auth_error(err).kind(), AuthErrorKind::Insecure);
        EntraCredential::managed_identity()
            .imds_endpoint(elsewhere)
            .allow_insecure_http(true)
            .bearer(GraphCloud::Global, &http, TokenCache::new())
            .unwrap();

        let imds = EntraCredential::managed_identity_from_vars(vars(&[])).unwrap();
        assert!(
            format!("{imds:?}").contains("http://169.254.169.254/metadata/identity/oauth2/token"),
            "{imds:?}"
        );
        let err = auth_error(
            EntraCredential::managed_identity_from_vars(vars(&[(
                "IDENTITY_ENDPOINT",
                "http://127.0.0.1:1/",
            )]))
            .unwrap_err(),
        );
        assert_eq!(
            err.to_string(),
            "entra id: IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not"
        );

        for misuse in [
            EntraCredential::client_secret(TENANT, CLIENT, SECRET).legacy_rs256(),
            EntraCredential::client_secret(TENANT, CLIENT, SECRET).managed_identity_client_id("x"),
            EntraCredential::client_secret(TENANT, CLIENT, SECRET)
                .imds_endpoint(Url::parse("http://127.0.0.1/").unwrap()),
            EntraCredential::managed_identity().legacy_rs256(),
        ] {
            let err = auth_error(
                misuse
                    .bearer(GraphCloud::Global, &http, TokenCache::new())
                    .unwrap_err(),
            );
            assert_eq!(err.kind(), AuthErrorKind::Configuration);
            assert!(err.to_string().contains("applies to"), "{err}");
        }
    }

    #[tokio::test]
    async fn from_vars_picks_the_method_from_the_variables() {
        let server = token_server(good_answer()).await;
        let authority = server.uri();
        let base = [
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_AUTHORITY_HOST", authority.as_str()),
        ];

        // The secret wins over the others.
        let cert_file = TempFile::new(&[CERT, KEY].concat());
        let cert_path = cert_file.0.display().to_string();
        let token_file = TempFile::new(b"federated.from.env");
        let token_path = token_file.0.display().to_string();
        let all = [
            &base[..],
            &[
                ("AZURE_CLIENT_SECRET", SECRET),
                ("AZURE_CLIENT_CERTIFICATE_PATH", cert_path.as_str()),
                ("AZURE_FEDERATED_TOKEN_FILE", token_path.as_str()),
            ],
        ]
        .concat();
        let credential = EntraCredential::from_vars(vars(&all)).unwrap();
        assert_eq!(
            (credential.tenant(), credential.client_id()),
            (TENANT, CLIENT)
        );
        fetch(&credential).await.unwrap();
        // Then the certificate, then the federated token file; empty values count as unset.
        let cert = [
            &base[..],
            &[
                ("AZURE_CLIENT_SECRET", ""),
                ("AZURE_CLIENT_CERTIFICATE_PATH", &cert_path),
                ("AZURE_FEDERATED_TOKEN_FILE", &token_path),
            ],
        ]
        .concat();
        fetch(&EntraCredential::from_vars(vars(&cert)).unwrap())
            .await
            .unwrap();
        let federated = [
            &base[..],
            &[("AZURE_FEDERATED_TOKEN_FILE", token_path.as_str())],
        ]
        .concat();
        fetch(&EntraCredential::from_vars(vars(&federated)).unwrap())
            .await
            .unwrap();

        let forms = posted_forms(&server).await;
        assert_eq!(
            forms.len(),
            3,
            "AZURE_AUTHORITY_HOST is where the requests went"
        );
        assert!(forms[0].contains(&("client_secret".to_owned(), SECRET.to_owned())));
        check_assertion(&assertion_of(&forms[1]), &token_url(&server), false);
        assert_eq!(assertion_of(&forms[2]), "federated.from.env");

        // An authority host with a path keeps it.
        let prefixed = [
            &federated[..2],
            &[
                ("AZURE_FEDERATED_TOKEN_FILE", token_path.as_str()),
                ("AZURE_AUTHORITY_HOST", "https://login.example/prefix"),
            ],
        ]
        .concat();
        let url = EntraCredential::from_vars(vars(&prefixed))
            .unwrap()
            .token_url(GraphCloud::Global)
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://login.example/prefix/contoso/oauth2/v2.0/token"
        );
        let default = EntraCredential::from_vars(vars(
            &all[..2]
                .iter()
                .chain(&all[3..4])
                .copied()
                .collect::<Vec<_>>(),
        ))
        .unwrap();
        assert_eq!(
            default.token_url(GraphCloud::UsGov).unwrap().as_str(),
            "https://login.microsoftonline.us/contoso/oauth2/v2.0/token"
        );
    }

    #[test]
    fn from_vars_names_what_is_missing_or_malformed() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[("AZURE_CLIENT_ID", CLIENT), ("AZURE_CLIENT_SECRET", SECRET)],
                "entra id: AZURE_TENANT_ID is not set",
            ),
            (
                &[
                    ("AZURE_TENANT_ID", " "),
                    ("AZURE_CLIENT_ID", CLIENT),
                    ("AZURE_CLIENT_SECRET", SECRET),
                ],
                "entra id: AZURE_TENANT_ID is not set",
            ),
            (
                &[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_SECRET", SECRET)],
                "entra id: AZURE_CLIENT_ID is not set",
            ),
            (
                &[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)],
                "entra id: none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE is set",
            ),
            (
                &[
                    ("AZURE_TENANT_ID", TENANT),
                    ("AZURE_CLIENT_ID", CLIENT),
                    ("AZURE_CLIENT_SECRET", SECRET),
                    ("AZURE_AUTHORITY_HOST", "login.example"),
                ],
                "entra id: AZURE_AUTHORITY_HOST is not a URL: \"login.example\"",
            ),
            (
                &[
                    ("AZURE_TENANT_ID", TENANT),
                    ("AZURE_CLIENT_ID", CLIENT),
                    ("AZURE_CLIENT_CERTIFICATE_PATH", "/x.pem"),
                    ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pw"),
                ],
                "entra id: AZURE_CLIENT_CERTIFICATE_PASSWORD is set",
            ),
        ];
        for (table, expected) in cases {
            let err = auth_error(EntraCredential::from_vars(vars(table)).unwrap_err());
            assert_eq!(err.kind(), AuthErrorKind::Configuration);
            assert!(
                err.to_string().starts_with(expected),
                "{err} should start with {expected:?}"
            );
            assert!(!err.to_string().contains(SECRET));
        }
        let err = auth_error(
            EntraCredential::from_vars(vars(&[
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_ID", CLIENT),
                ("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/auditkit.pem"),
            ]))
            .unwrap_err(),
        );
        assert!(
            err.to_string()
                .contains("cannot read certificate file /nonexistent/auditkit.pem"),
            "{err}"
        );
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
            .allow_insecure_http(true)
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
