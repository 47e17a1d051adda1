//! Managed identity: the Azure resource this runs on has an identity, and a local endpoint
//! hands out its tokens (the instance metadata service, or App Service's `IDENTITY_ENDPOINT`).

use std::fmt;
use std::net::Ipv4Addr;

use auditkit_runtime::security::redact;
use auditkit_runtime::{AuthError, BoxFuture};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::{EntraCredential, GraphCloud, Method, PROVIDER, configuration, parse_token_answer};
use crate::TokenKey;
use crate::token::{Token, TokenEndpoint, TokenSource};

/// The Azure instance metadata service: plain http to a link-local address, by design.
const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const IMDS_HOST: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";

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

impl EntraCredential {
    /// The managed identity of the Azure resource this runs on, system-assigned unless
    /// [`EntraCredential::managed_identity_client_id`] names a user-assigned one. Tokens come
    /// from the instance metadata service (`http://169.254.169.254`), or from App Service's
    /// endpoint when [`EntraCredential::app_service_endpoint`] sets it (see
    /// [`EntraCredential::managed_identity_from_env`]). The authority host is not used. The
    /// metadata service is plain http to `169.254.169.254` by design, and needs no
    /// [`HttpClient::allow_insecure_http`](auditkit_runtime::HttpClient::allow_insecure_http).
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
                    header: crate::secret::secret(header_secret.into()),
                };
            }
            _ => {
                self.misuse =
                    Some("app_service_endpoint applies to managed identity credentials only")
            }
        }
        self
    }
}

/// Tokens from a managed identity endpoint: a GET with the resource in the query.
pub(super) struct ManagedIdentitySource {
    /// The endpoint with its query.
    endpoint: TokenEndpoint,
    headers: HeaderMap,
    key: TokenKey,
}

impl fmt::Debug for ManagedIdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentitySource")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentitySource {
    pub(super) fn new(
        identity: &ManagedIdentity,
        client_id: &str,
        cloud: GraphCloud,
        http: auditkit_runtime::HttpClient,
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
        let by_design = is_imds_host(&url);
        let endpoint = TokenEndpoint::with_plain_http(PROVIDER, url, http, by_design)?;
        let client_id = if client_id.trim().is_empty() {
            "system-assigned"
        } else {
            client_id.trim()
        };
        let key = TokenKey::new(authority.as_str(), client_id, resource);
        Ok(Self {
            endpoint,
            headers,
            key,
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
        Box::pin(async move { parse_token_answer(self.endpoint.get(self.headers.clone()).await?) })
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::test_support::*;
    use super::*;
    use crate::{AuthErrorKind, TokenCache};

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
            .http_client(http.clone().allow_insecure_http(true))
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
}
