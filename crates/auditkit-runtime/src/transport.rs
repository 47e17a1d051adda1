//! The one place that builds auditkit's HTTP client, and the rules every request obeys on
//! the wire.
//!
//! **Redirects are never followed.** A token request that is redirected would re-send the
//! client secret to wherever the answer points (a 307 keeps the method and the form); a write
//! that is redirected would deliver the event, the bearer token and the API key there and
//! report success. Neither audit API redirects its reads, so reads follow none either: a 3xx
//! comes back to the caller as the answer it is (`Error::Service` with that status). This
//! also keeps the https and origin rules true for every hop, since there is only one.
//!
//! The rule cannot be undone from outside: auditkit takes its HTTP client only as an
//! [`HttpClient`], which it builds itself from a `reqwest::ClientBuilder` (yours, with a proxy
//! or the extra roots of [`http_client_builder_with_roots`], if you like) after setting the
//! redirect policy last. A `reqwest::Client`
//! built elsewhere, which might follow a 307 with the client secret, is never accepted.

use std::sync::Arc;
use std::time::Duration;

/// How long establishing a connection may take (TCP and TLS); an attempt's own timeout
/// still bounds the whole exchange.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `auditkit/<version>`, sent on every request.
pub const USER_AGENT: &str = concat!("auditkit/", env!("CARGO_PKG_VERSION"));

/// A `reqwest::ClientBuilder` set up the way auditkit needs: rustls with ring (configured on
/// the client, not as a process-wide default) and the platform's root certificates, a 10 s
/// connect timeout, `User-Agent: auditkit/<version>` and **no redirects** (see the module
/// documentation).
///
/// auditkit builds reqwest without a default TLS provider, so `reqwest::Client::new()` panics
/// in a program that depends on it and enables no other reqwest TLS feature: start from this
/// builder to bring your own client (a proxy, say), then hand it to
/// [`HttpClient::from_builder`]. The TLS settings are fixed here, so reqwest's own
/// `add_root_certificate` has no effect on this builder: trust a private CA (a TLS-inspecting
/// proxy, a test server) with [`http_client_builder_with_roots`]. The HTTP versions offered
/// are fixed here too (`h2` and `http/1.1` with the `http2` feature, `http/1.1` without), so
/// reqwest's `http1_only` does not stop HTTP/2 when the feature is on.
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, crate::Error> {
    http_client_builder_with_roots(Vec::new())
}

/// [`http_client_builder`], also trusting `extra_roots` beside the platform's roots.
pub fn http_client_builder_with_roots(
    extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
) -> Result<reqwest::ClientBuilder, crate::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_error =
        |err: rustls::Error| crate::Error::InvalidRequest(format!("cannot set up TLS: {err}"));
    let verifier = platform_verifier(extra_roots, provider.clone()).map_err(tls_error)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = alpn_protocols();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT))
}

/// What the TLS handshake offers. reqwest adds no ALPN protocol to a preconfigured rustls
/// config, and a server speaks HTTP/2 over TLS only when the client offered `h2`: without
/// this list the `http2` feature would change nothing on the wire.
fn alpn_protocols() -> Vec<Vec<u8>> {
    if cfg!(feature = "http2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    }
}

#[cfg(not(target_os = "android"))]
fn platform_verifier(
    extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, rustls::Error> {
    rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider)
}

#[cfg(target_os = "android")]
fn platform_verifier(
    extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, rustls::Error> {
    if !extra_roots.is_empty() {
        return Err(rustls::Error::General(
            "extra root certificates are not supported on Android".into(),
        ));
    }
    rustls_platform_verifier::Verifier::new(provider)
}

/// The HTTP client auditkit sends every request through: one it built, following no
/// redirect. Cheap to clone; clones share the connection pool, so one `HttpClient` can serve
/// every client and credential of an application.
///
/// It also carries the one transport rule: credentials (a token request, a bearer token)
/// travel over https only, or plain http to a loopback host (tests, the emulator), unless the
/// client was built with [`HttpClient::allow_insecure_http`].
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    allow_insecure_http: bool,
}

impl HttpClient {
    /// The client of [`http_client_builder`] as it is.
    pub fn new() -> Result<Self, crate::Error> {
        Self::from_builder(http_client_builder()?)
    }

    /// A client from your builder (start from [`http_client_builder`], or
    /// [`http_client_builder_with_roots`] for extra roots, and add a proxy): whatever redirect
    /// policy it had, the built client follows none.
    pub fn from_builder(builder: reqwest::ClientBuilder) -> Result<Self, crate::Error> {
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| {
                crate::Error::InvalidRequest(format!("cannot build the http client: {err}"))
            })?;
        Ok(Self {
            client,
            allow_insecure_http: false,
        })
    }

    /// Lets credentials travel over plain http to hosts that are not loopback: for a test
    /// server on another machine of a private network, never for production.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Whether [`HttpClient::allow_insecure_http`] was turned on for this client.
    pub fn allows_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    /// Whether credentials may travel to `url` through this client (see the type's docs);
    /// the reason when not.
    pub fn check(&self, url: &reqwest::Url) -> Result<(), String> {
        crate::security::check_transport(url, self.allow_insecure_http)
    }

    /// The `reqwest::Client` inside, for requests auditkit makes.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }
}

/// What went wrong with a request, for logs: reqwest's kind and the causes, without the URL
/// (whose query carries `$filter` values).
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "cannot read the answer"
    } else if error.is_request() {
        "cannot send the request"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
