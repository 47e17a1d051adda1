//! Which handler answers which request: one route per operation, and the front door every
//! request passes first.
//!
//! The front door wraps the router, so it runs before routing: it counts the request, gives
//! it its ids, and rewrites a Graph path, however it is spelled, to the canonical form the
//! routes below are written in (`graph::path`), answering a path that names nothing there
//! itself. It also turns a panicking handler into a Graph-shaped 500 instead of a dropped
//! connection.
//!
//! Order of checks, as the services do it: path, then method (405 with `Allow`), then, in
//! the handler, credentials, Intune's limits and injected faults, then the query and the
//! body.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, any, get, post};
use tower::Layer;

use crate::answer::{bad_request, graph_error};
use crate::graph::path::{
    ACTIVITY_TYPES, CATEGORIES, COLLECTION_PATH, COUNT, VERSIONS, parse_target, split_version,
};
use crate::request::{Ctx, encode_segment, percent_decode};
use crate::state::Shared;
use crate::{adobe, auth, graph};

/// The whole emulator as one service: the front door around the router.
pub fn app(shared: Arc<Shared>) -> impl Service {
    let routes = routes().with_state(Arc::clone(&shared));
    with_front_door(shared, routes)
}

/// What `axum::serve` takes.
pub trait Service:
    tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> Service for S where
    S: tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

fn with_front_door(shared: Arc<Shared>, routes: Router) -> impl Service {
    middleware::from_fn_with_state(shared, front_door).layer(routes)
}

fn routes() -> Router<Arc<Shared>> {
    let mut router = Router::new();
    for version in VERSIONS {
        let collection = format!("{version}{COLLECTION_PATH}");
        router = router
            .route(
                &collection,
                graph_methods(get(graph::list).post(graph::create), "GET, POST"),
            )
            .route(
                &format!("{collection}/{COUNT}"),
                graph_methods(get(graph::count), "GET"),
            )
            .route(
                &format!("{collection}/{CATEGORIES}"),
                graph_methods(get(graph::categories), "GET"),
            )
            .route(
                &format!("{collection}/{ACTIVITY_TYPES}/{{category}}"),
                graph_methods(get(graph::activity_types), "GET"),
            )
            .route(
                &format!("{collection}/{{id}}"),
                graph_methods(
                    get(graph::get).patch(graph::update).delete(graph::delete),
                    "GET, PATCH, DELETE",
                ),
            );
    }
    let audits = || post(adobe::create).fallback(adobe::not_allowed);
    router
        .route("/audits", audits())
        .route("/audits/", audits())
        // `any`: the token endpoints answer other methods with their own 405 body and no
        // `Allow`, as before; axum's method routing would add one.
        .route("/ims/token/v3", any(auth::ims_token))
        .route("/{tenant}/oauth2/v2.0/token", any(auth::entra_token))
        .fallback(not_found)
}

/// Graph's 405 for every method `methods` has no handler for, `HEAD` included: axum would
/// otherwise answer `HEAD` with the `GET` handler, where Graph refuses it.
fn graph_methods(
    methods: MethodRouter<Arc<Shared>>,
    allow: &'static str,
) -> MethodRouter<Arc<Shared>> {
    let refuse = move |ctx: Ctx, method: Method| graph::not_allowed(ctx, method, allow);
    methods.head(refuse).fallback(refuse)
}

async fn not_found(ctx: Ctx) -> Response {
    unknown_path(&ctx)
}

fn unknown_path(ctx: &Ctx) -> Response {
    graph_error(
        ctx,
        StatusCode::NOT_FOUND,
        "itemNotFound",
        &format!(
            "Resource not found for the segment '{}'. The emulator serves /v1.0, /beta, /audits, /ims/token/v3 and /{{tenant}}/oauth2/v2.0/token.",
            ctx.path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
        ),
    )
}

async fn front_door(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    shared.stats.request();
    let ctx = Ctx::new(request.headers(), request.uri().path());
    request.extensions_mut().insert(ctx.clone());
    let routed = std::panic::AssertUnwindSafe(async {
        match canonical(&ctx, request.uri()) {
            Ok(Some(uri)) => *request.uri_mut() = uri,
            Ok(None) => {}
            Err(answer) => return answer,
        }
        next.run(request).await
    });
    // Handlers do not panic on input; should one ever panic anyway, the client still gets
    // a Graph-shaped 500 instead of a dropped connection.
    let mut response = match futures::FutureExt::catch_unwind(routed).await {
        Ok(response) => response,
        Err(_) => failed(&ctx),
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

/// The canonical URI of a Graph or token path (`None`: route it as it is), or the answer to
/// a path that names nothing: a Graph path's 404 or 400, a tenant that is not percent-encoded
/// UTF-8.
#[allow(clippy::result_large_err, reason = "the error is the finished answer")]
fn canonical(ctx: &Ctx, uri: &Uri) -> Result<Option<Uri>, Response> {
    let path = uri.path();
    let canonical = if let Some((version, rest)) = split_version(path) {
        parse_target(ctx, rest)?.route(version)
    } else {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let [tenant, "oauth2", "v2.0", "token"] = segments.as_slice() else {
            // The one path the tenant route would take as it is: an empty tenant, which
            // names no endpoint.
            if path == "//oauth2/v2.0/token" {
                return Err(unknown_path(ctx));
            }
            return Ok(None);
        };
        let tenant = percent_decode(tenant).map_err(|message| bad_request(ctx, &message))?;
        format!("/{}/oauth2/v2.0/token", encode_segment(&tenant))
    };
    let with_query = match uri.query() {
        Some(query) => format!("{canonical}?{query}"),
        None => canonical,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(with_query).map_err(|_| failed(ctx))?);
    Uri::from_parts(parts).map(Some).map_err(|_| failed(ctx))
}

/// The 500 of a request the emulator itself failed.
fn failed(ctx: &Ctx) -> Response {
    graph_error(
        ctx,
        StatusCode::INTERNAL_SERVER_ERROR,
        "generalException",
        "The emulator failed while handling this request.",
    )
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::config::{EmulatorConfig, FaultConfig};
    use crate::faults::Faults;
    use crate::state::Counters;
    use crate::store::Store;
    use crate::tokens::Tokens;

    /// One request over loopback to `service`; the raw answer.
    async fn exchange(service: impl Service, request: &str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, axum::ServiceExt::into_make_service(service)).await
        });
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        server.abort();
        answer
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_a_graph_500_with_its_ids() {
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            config: EmulatorConfig::new(),
            store: Store::memory(),
            tokens: Tokens::new(std::time::Duration::from_secs(60), 10),
            stats: Counters::default(),
            faults: Faults::new(&FaultConfig::default(), 1, shutdown),
            origin: "http://127.0.0.1:1".to_owned(),
        });
        let routes = Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("a handler bug");
                }
            }),
        );
        let answer = exchange(
            with_front_door(Arc::clone(&shared), routes),
            "GET /boom HTTP/1.1\r\nhost: x\r\nclient-request-id: abc-123\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 500 "), "{answer}");
        assert!(answer.contains("\"code\":\"generalException\""), "{answer}");
        assert!(answer.contains("request-id: "), "{answer}");
        assert!(answer.contains("client-request-id: abc-123"), "{answer}");
        assert!(
            answer.contains("\"client-request-id\":\"abc-123\""),
            "{answer}"
        );
        assert_eq!(shared.stats.requests(), 1);
    }
}
