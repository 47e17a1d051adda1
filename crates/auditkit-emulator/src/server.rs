//! The running server: shared state, the one dispatcher every request goes through, and the
//! helpers the API modules share (body limits, query parsing, Graph errors, faults).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::watch;

use crate::auth::Tokens;
use crate::config::{EmulatorConfig, EmulatorCredentials, Fault};
use crate::faults::{Decision, Injector, IntuneLimits};
use crate::store::{Store, StoreError, WriteError};

/// The largest request body the APIs accept (1 MiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// Why the emulator could not start.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the event store")]
    Store(#[from] StoreError),
    #[error("cannot store the seed events")]
    Seed(#[source] StoreError),
}

/// Counters of a running emulator.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmulatorStats {
    /// Every HTTP request received, token routes included.
    pub requests: u64,
    /// Faults injected (including Intune-limit 429s).
    pub faults_injected: u64,
    /// Tokens issued by both token endpoints.
    pub tokens_issued: u64,
    /// Graph audit events in the store now.
    pub events_stored: u64,
    /// Adobe audit events in the store now.
    pub adobe_events_stored: u64,
}

#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    faults: AtomicU64,
    tokens: AtomicU64,
}

impl Counters {
    pub fn token_issued(&self) {
        self.tokens.fetch_add(1, Ordering::Relaxed);
    }
    pub fn fault(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }
}

/// State shared by every request.
#[derive(Debug)]
pub struct Shared {
    pub config: EmulatorConfig,
    pub store: Store,
    pub tokens: Tokens,
    pub stats: Counters,
    pub injector: Injector,
    pub limits: Option<IntuneLimits>,
    /// `http://127.0.0.1:PORT`, what [`Emulator::url`] returns without its final `/`: the
    /// one origin of every absolute link and of the token URL assertions are minted for.
    /// Never taken from a request's `Host` header, which any client can forge.
    pub origin: String,
    pub shutdown: watch::Receiver<bool>,
}

/// Per-request facts: ids for correlation.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub client_request_id: Option<String>,
}

/// A running emulator. Dropping it stops the server too; [`Emulator::shutdown`] waits for it.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    url: url::Url,
}

impl Emulator {
    /// Opens the store, seeds it if asked, binds and starts serving in the background.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let seed = config.rng_seed.unwrap_or_else(|| fastrand::u64(..));
        tracing::info!(rng_seed = seed, "auditkit emulator starting");
        let store = match &config.db {
            Some(path) => Store::open(path).await?,
            None => Store::memory(),
        };
        if config.seed_events > 0 && store.graph_len() == 0 {
            let events = crate::seed::events(config.seed_events, seed, chrono::Utc::now());
            store.insert_graph(events).await.map_err(|err| match err {
                WriteError::Store(err) => EmulatorError::Seed(err),
                WriteError::Exists | WriteError::NotFound | WriteError::Invalid(_) => {
                    EmulatorError::Seed(StoreError::Stopped)
                }
            })?;
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let host = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        let address = SocketAddr::new(host, local.port());
        let url =
            url::Url::parse(&format!("http://{address}/")).map_err(|err| EmulatorError::Bind {
                addr: local,
                source: std::io::Error::other(err),
            })?;
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            injector: Injector::new(&config.faults, seed.wrapping_add(0x9e37_79b9_7f4a_7c15)),
            limits: config.faults.intune_limits.then(IntuneLimits::intune),
            tokens: Tokens::new(config.token_lifetime, config.max_tokens),
            config,
            store,
            stats: Counters::default(),
            origin: url.as_str().trim_end_matches('/').to_owned(),
            shutdown: shutdown.clone(),
        });
        let app = Router::new()
            .fallback(dispatch)
            .with_state(Arc::clone(&shared));
        let mut wait = shutdown;
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = wait.wait_for(|stop| *stop).await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "the emulator stopped serving");
            }
        });
        tracing::info!(%url, "auditkit emulator listening");
        Ok(Emulator {
            shared,
            stop,
            task: Some(task),
            url,
        })
    }

    /// `http://127.0.0.1:PORT/`: the Entra ID authority host, the IMS host and the Adobe
    /// Audit Service base URL.
    pub fn url(&self) -> url::Url {
        self.url.clone()
    }

    /// `{url}v1.0`: the Graph base URL (`{url}beta` works too).
    pub fn graph_url(&self) -> url::Url {
        let mut url = self.url.clone();
        url.set_path("/v1.0");
        url
    }

    /// The tenant, client ids and secrets the token endpoints accept.
    pub fn credentials(&self) -> &EmulatorCredentials {
        &self.shared.config.credentials
    }

    pub fn stats(&self) -> EmulatorStats {
        let counters = &self.shared.stats;
        EmulatorStats {
            requests: counters.requests.load(Ordering::Relaxed),
            faults_injected: counters.faults.load(Ordering::Relaxed),
            tokens_issued: counters.tokens.load(Ordering::Relaxed),
            events_stored: self.shared.store.graph_len() as u64,
            adobe_events_stored: self.shared.store.adobe_len() as u64,
        }
    }

    /// Stops accepting, releases hanging requests and waits (up to 5 s) for the server.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    let ctx = Ctx {
        request_id: uuid::Uuid::new_v4().to_string(),
        client_request_id: request
            .headers()
            .get("client-request-id")
            .and_then(|value| value.to_str().ok())
            .filter(|id| is_request_id(id))
            .map(str::to_owned),
    };
    // Handlers do not panic on input; should one ever panic anyway, the client still gets
    // a Graph-shaped 500 instead of a dropped connection.
    let routed = std::panic::AssertUnwindSafe(route(&shared, &ctx, request));
    let mut response = match futures::FutureExt::catch_unwind(routed).await {
        Ok(response) => response,
        Err(_) => graph_error(
            &ctx,
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "The emulator failed while handling this request.",
        ),
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert("request-id", value);
    }
    if let Some(value) = ctx
        .client_request_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        headers.insert("client-request-id", value);
    }
    response
}

async fn route(shared: &Shared, ctx: &Ctx, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if let Some(rest) = strip_version(&path) {
        return crate::graph::handle(shared, ctx, rest, request).await;
    }
    if path == "/audits" || path == "/audits/" {
        return crate::adobe::handle(shared, ctx, request).await;
    }
    if path == "/ims/token/v3" {
        return crate::auth::ims_token(shared, request).await;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let [tenant, "oauth2", "v2.0", "token"] = segments.as_slice() {
        return match percent_decode(tenant) {
            Ok(tenant) => crate::auth::entra_token(shared, ctx, &tenant, request).await,
            Err(message) => graph_error(ctx, StatusCode::BAD_REQUEST, "invalidRequest", &message),
        };
    }
    graph_error(
        ctx,
        StatusCode::NOT_FOUND,
        "itemNotFound",
        &format!(
            "Resource not found for the segment '{}'. The emulator serves /v1.0, /beta, /audits, /ims/token/v3 and /{{tenant}}/oauth2/v2.0/token.",
            path.trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
        ),
    )
}

/// Whether a `client-request-id` is one to echo: a GUID or a similar short token. The id is
/// reflected into a header and into error bodies (Graph's `innerError`, Entra ID's
/// `correlation_id`), so anything else (kilobytes of text, quotes, spaces) is treated as
/// absent rather than handed back to the client.
fn is_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:{}".contains(&byte))
}

/// The rest of a Graph path after `/v1.0` or `/beta`.
fn strip_version(path: &str) -> Option<&str> {
    for version in ["/v1.0", "/beta"] {
        if let Some(rest) = path.strip_prefix(version)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Some(rest);
        }
    }
    None
}

/// A Graph `ODataError` answer.
pub fn graph_error(ctx: &Ctx, status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": ctx.request_id,
                "client-request-id": ctx.client_request_id.clone().unwrap_or_else(|| ctx.request_id.clone()),
            }
        }
    });
    (status, axum::Json(body)).into_response()
}

/// The UTF-8 encoding of U+FEFF, which some services and clients (.NET, PowerShell) put
/// before JSON and forms.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The whole body without a leading UTF-8 byte order mark, or a message when it is larger
/// than `limit` or cannot be read. Every request body is read here, so every route accepts
/// the mark the same way.
pub async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, String> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes).to_vec()),
        Err(err) => {
            if is_too_large(&err) {
                Err(format!("the request body is larger than {limit} bytes"))
            } else {
                Err("the request body could not be read".to_owned())
            }
        }
    }
}

fn is_too_large(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// Reads the body of an API request: 413 past 1 MiB, 400 when unreadable or not UTF-8.
pub enum BodyError {
    TooLarge(String),
    Bad(String),
}

pub async fn read_api_body(body: Body) -> Result<String, BodyError> {
    let bytes = read_body(body, MAX_BODY).await.map_err(|message| {
        if message.contains("larger than") {
            BodyError::TooLarge(format!(
                "The request body is larger than the 1 MiB ({MAX_BODY} bytes) the service accepts."
            ))
        } else {
            BodyError::Bad(message)
        }
    })?;
    String::from_utf8(bytes)
        .map_err(|err| BodyError::Bad(format!("the request body is not valid UTF-8: {err}")))
}

/// Decodes `%XX` escapes; the result must be UTF-8.
pub fn percent_decode(text: &str) -> Result<String, String> {
    percent_decode_inner(text, false)
}

fn percent_decode_inner(text: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let hex = bytes
                    .get(at + 1..at + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| format!("'{text}' has a bad percent-escape"))?;
                out.push(hex);
                at += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                at += 1;
            }
            byte => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "a percent-decoded value is not valid UTF-8".to_owned())
}

/// `a=1&b=2` (query string or form body), percent-decoded, `+` as space, in order.
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for part in text.split('&').filter(|part| !part.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((
            percent_decode_inner(name, true)?,
            percent_decode_inner(value, true)?,
        ));
    }
    Ok(pairs)
}

/// Percent-encodes a query value, keeping the characters OData queries are made of.
pub fn encode_query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~$'(),:*!".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Which API a fault answer must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Graph,
    Adobe,
}

/// Draws a fault for an authenticated API request: `Some` answer to send instead, or `None`
/// to go on (after any injected delay). A hang lasts until the client gives up or shutdown.
/// Callers check credentials first, so a client with bad ones is never made to wait.
pub async fn inject_fault(shared: &Shared, ctx: &Ctx, api: Api) -> Option<Response> {
    let Decision::Fault(fault) = shared.injector.decide() else {
        return None;
    };
    shared.stats.fault();
    tracing::debug!(?fault, request_id = %ctx.request_id, "injecting a fault");
    match fault {
        Fault::Delay(delay) => {
            let mut shutdown = shared.shutdown.clone();
            tokio::select! {
                () = tokio::time::sleep(delay) => None,
                _ = shutdown.wait_for(|stop| *stop) => Some(unavailable(ctx, api)),
            }
        }
        Fault::Hang => {
            let mut shutdown = shared.shutdown.clone();
            let _ = shutdown.wait_for(|stop| *stop).await;
            Some(unavailable(ctx, api))
        }
        Fault::Throttle { retry_after } => Some(throttled(ctx, api, retry_after)),
        Fault::Unavailable => Some(unavailable(ctx, api)),
        Fault::GatewayTimeout => Some(match api {
            Api::Graph => graph_error(
                ctx,
                StatusCode::GATEWAY_TIMEOUT,
                "gatewayTimeout",
                "The gateway did not receive a timely response from the service (injected by the emulator).",
            ),
            Api::Adobe => adobe_error_response(
                StatusCode::GATEWAY_TIMEOUT,
                "Gateway Timeout",
                "the gateway did not receive a timely response (injected by the emulator)",
            ),
        }),
    }
}

pub fn throttled(ctx: &Ctx, api: Api, retry_after: Option<u64>) -> Response {
    let mut response = match api {
        Api::Graph => graph_error(
            ctx,
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests. Please retry after the time given in Retry-After, or back off.",
        ),
        Api::Adobe => adobe_error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "too many requests; retry later",
        ),
    };
    if let Some(seconds) = retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn unavailable(ctx: &Ctx, api: Api) -> Response {
    match api {
        Api::Graph => graph_error(
            ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable (injected by the emulator).",
        ),
        Api::Adobe => adobe_error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "the service is temporarily unavailable (injected by the emulator)",
        ),
    }
}

/// The Adobe `ErrorResponse` shape: `{"reason", "message"}`.
pub fn adobe_error_response(status: StatusCode, reason: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "reason": reason, "message": message })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_encodes_query_text() {
        let pairs = parse_pairs("%24filter=category+eq+%27A%27&%24top=5&flag").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("$filter".to_owned(), "category eq 'A'".to_owned()),
                ("$top".to_owned(), "5".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert!(parse_pairs("a=%FF").is_err());
        assert!(parse_pairs("a=%G1").is_err());
        assert!(parse_pairs("a=%2").is_err());
        assert_eq!(
            encode_query_value("category eq 'A&B'"),
            "category%20eq%20'A%26B'"
        );
    }
}
