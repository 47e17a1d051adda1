//! Entry points for the fuzz target and property tests, not API.
//!
//! Hidden from the documentation and exempt from semver: these functions exist so that
//! `fuzz/fuzz_targets/decode.rs` and `tests/decode_props.rs` can push arbitrary bytes through
//! the decoding the clients do, without a network: the API answers go through the real
//! clients — generated code, pipeline, and the one place errors are made — with the answer
//! produced in the process instead of received (`PipelineBuilder::local_answers`).
//! Everything here must return (never panic) whatever the input.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use auditkit_identity::fuzzing::{ExpiresIn, entra_answer, ims_answer};
use auditkit_runtime::{Pipeline, RetryPolicy};
use bytes::Bytes;
use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;

use crate::{AdobeClient, GraphClient, ListQuery};

/// Feeds `body`, answered with `status`, to every operation of both clients (each decoding
/// it as the real call does), to both token parsers (Entra; IMS in seconds and in
/// milliseconds), and renders every error that comes out. Results are ignored: the only
/// contract is that this returns.
///
/// `status` is clamped to 100..=599, the range `reqwest::StatusCode` accepts.
pub fn decode_everything(status: u16, body: &[u8]) {
    let status = status_code(status);
    let body = Bytes::copy_from_slice(body);

    // Token endpoints, without headers and with the body as `Retry-After` / `x-debug-id` when
    // it is a valid header value (exercises those parsers with the same bytes).
    for headers in [HeaderMap::new(), headers_from(&body)] {
        let _ = entra_lifetime(status, &body, headers.clone());
        let _ = ims_lifetime(status, &body, headers.clone(), ExpiresIn::Seconds);
        let _ = ims_lifetime(status, &body, headers, ExpiresIn::Milliseconds);
    }

    let bench = Bench::get();
    *bench.answer.lock().unwrap_or_else(|p| p.into_inner()) = (status, body.clone());
    bench
        .runtime
        .block_on(every_operation(&bench.graph, &bench.adobe));

    // The models on their own, whatever the status.
    use auditkit_adobe::types as adobe_types;
    use auditkit_graph::types as graph_types;
    decode_only::<graph_types::AuditEvent>(&body);
    decode_only::<graph_types::AuditEventCollectionResponse>(&body);
    decode_only::<graph_types::StringCollectionResponse>(&body);
    decode_only::<graph_types::ODataError>(&body);
    decode_only::<adobe_types::ErrorBody>(&body);
    decode_only::<adobe_types::AuditEvent>(&body);
    decode_only::<auditkit_adobe::Timestamp>(&body);
    if let Ok(text) = std::str::from_utf8(&body) {
        let _ = text.parse::<auditkit_adobe::Timestamp>();
    }
}

/// Clients whose every request is answered with the current input, built once per process
/// (a TLS setup per input would drown the fuzzer).
struct Bench {
    runtime: tokio::runtime::Runtime,
    graph: GraphClient,
    adobe: AdobeClient,
    answer: Arc<Mutex<(StatusCode, Bytes)>>,
}

impl Bench {
    fn get() -> &'static Bench {
        static BENCH: OnceLock<Bench> = OnceLock::new();
        BENCH.get_or_init(Bench::new)
    }

    #[allow(clippy::expect_used)] // set-up of the harness, not input handling
    fn new() -> Bench {
        let answer = Arc::new(Mutex::new((StatusCode::OK, Bytes::new())));
        let respond = {
            let answer = answer.clone();
            Arc::new(move |_: &reqwest::Request| {
                let (status, body) = answer.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let mut response = http::Response::new(body);
                *response.status_mut() = status;
                response
            })
        };
        let pipeline = Pipeline::builder()
            .retry(RetryPolicy::none())
            .local_answers(respond)
            .build()
            .expect("a pipeline without credential or URL always builds");
        let http = auditkit_runtime::HttpClient::new().expect("the http client builds");
        let base = |path: &str| {
            url::Url::parse(&format!("http://127.0.0.1:9{path}")).expect("a fixed URL")
        };
        Bench {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread runtime builds"),
            // Links of a fuzzed page are followed at most twice.
            graph: GraphClient::from_parts(base("/v1.0"), http.clone(), pipeline.clone(), 3),
            adobe: AdobeClient::from_parts(base("/"), http, pipeline),
            answer,
        }
    }
}

/// Every operation of both clients, rendering whatever comes back.
async fn every_operation(graph: &GraphClient, adobe: &AdobeClient) {
    let events = graph.audit_events();
    show(events.list_page(&ListQuery::new()).await);
    show(events.get("id").await);
    show(events.create(&Default::default()).await);
    show(events.update("id", &Default::default()).await);
    show(events.delete("id").await);
    show(events.count(None).await);
    show(
        events
            .next_page("http://127.0.0.1:9/v1.0/deviceManagement/auditEvents?$skiptoken=1")
            .await,
    );
    let listed: Vec<_> = events.list(ListQuery::new()).collect().await;
    show_all(listed);
    let categories: Vec<_> = events.categories().collect().await;
    show_all(categories);
    let types: Vec<_> = events.activity_types("Bob's Apps").collect().await;
    show_all(types);
    show(adobe.post_audit(&fuzz_adobe_event()).await);
}

fn fuzz_adobe_event() -> crate::adobe::AdobeAuditEvent {
    crate::adobe::AdobeAuditEvent {
        action: "create".to_owned(),
        ims_org_id: "org@AdobeOrg".to_owned(),
        resource: crate::adobe::Resource {
            resource_id: "r".to_owned(),
        },
        service: crate::adobe::Service {
            service_id: "s".to_owned(),
        },
        source: "fuzz".to_owned(),
        tags: Default::default(),
        timestamp: auditkit_adobe::Timestamp::from(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH),
        user_identifier: "u".to_owned(),
    }
}

fn show<T: std::fmt::Debug>(result: Result<T, crate::Error>) {
    match result {
        Ok(value) => {
            let _ = format!("{value:?}");
        }
        Err(error) => render(&error),
    }
}

fn show_all<T: std::fmt::Debug>(results: Vec<Result<T, crate::Error>>) {
    results.into_iter().for_each(show);
}

/// The lifetime of the token Entra ID's parser accepts from this answer, `None` when it
/// refuses it.
pub fn entra_token_lifetime(status: u16, body: &[u8]) -> Option<Duration> {
    entra_lifetime(
        status_code(status),
        &Bytes::copy_from_slice(body),
        HeaderMap::new(),
    )
}

/// The lifetime of the token Adobe IMS's parser accepts from this answer (`expires_in` in
/// milliseconds when `milliseconds`, the JWT exchange; in seconds otherwise), `None` when it
/// refuses it.
pub fn ims_token_lifetime(status: u16, body: &[u8], milliseconds: bool) -> Option<Duration> {
    let unit = if milliseconds {
        ExpiresIn::Milliseconds
    } else {
        ExpiresIn::Seconds
    };
    ims_lifetime(
        status_code(status),
        &Bytes::copy_from_slice(body),
        HeaderMap::new(),
        unit,
    )
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status.clamp(100, 599)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn headers_from(body: &Bytes) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(body) {
        headers.insert(RETRY_AFTER, value.clone());
        headers.insert("x-debug-id", value);
    }
    headers
}

fn entra_lifetime(status: StatusCode, body: &Bytes, headers: HeaderMap) -> Option<Duration> {
    match entra_answer(status, headers, body.clone()) {
        Ok(lifetime) => Some(lifetime),
        Err(error) => {
            render(&error);
            None
        }
    }
}

fn ims_lifetime(
    status: StatusCode,
    body: &Bytes,
    headers: HeaderMap,
    unit: ExpiresIn,
) -> Option<Duration> {
    match ims_answer(status, headers, body.clone(), unit) {
        Ok(lifetime) => Some(lifetime),
        Err(error) => {
            render(&error);
            None
        }
    }
}

fn decode_only<T: DeserializeOwned + serde::Serialize + std::fmt::Debug>(body: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(body) {
        let _ = format!("{value:?}");
        let _ = serde_json::to_vec(&value);
    }
}

/// Formats an error the ways a caller would (`Display`, `Debug`, the source chain): the
/// formatting is part of what must not panic.
fn render(error: &dyn std::error::Error) {
    let mut text = String::new();
    let _ = write!(text, "{error} {error:?}");
    let mut source = error.source();
    while let Some(inner) = source {
        let _ = write!(text, " {inner}");
        source = inner.source();
    }
}
