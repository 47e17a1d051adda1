//! Measured speed: what the facade costs per call over a hand-written `reqwest` call, and
//! what decoding into the generated models costs over hand-written structs.
//!
//! ```text
//! cargo bench -p auditkit --features http2 --bench overhead
//! OVERHEAD_BENCH_LOG=off ...        # no tracing subscriber (default: fmt at INFO to a sink)
//! OVERHEAD_BENCH_ONLY=decode ...    # or =calls
//! OVERHEAD_BENCH_SCALE=0.1 ...      # fewer requests per round
//! OVERHEAD_BENCH_PROFILE=get OVERHEAD_BENCH_TRANSPORT=http valgrind --tool=callgrind \
//!     target/release/deps/overhead-<hash>   # one side's calls only, for a profile
//! ```
//!
//! 1. **Decoding.** A 1,000-event Graph list page (Intune-like events of about 900 bytes,
//!    built once) decoded with `serde_json::from_slice` into the generated
//!    `AuditEventCollectionResponse`, into hand-written structs with `String` dates and ids
//!    (the floor: no date or GUID parsing, only the fields the page carries) and into
//!    `serde_json::Value`, in alternating rounds.
//! 2. **Per call.** create (POST), get (GET by id) and one-page lists of 100 and 1,000 events
//!    against in-process hyper servers on 127.0.0.1 answering fixed, prebuilt bodies, over
//!    plain HTTP/1.1, HTTPS with HTTP/1.1 (the server offers only `http/1.1`) and HTTPS with
//!    HTTP/2 (it offers `h2` too; needs the `http2` feature), through
//!    - **facade**: `GraphClient` as users get it: a client-secret credential against a token
//!      route on the same server (fetched once, then from the warm cache), the default retry
//!      policy and timeouts, `client-request-id` and the `auditkit.call` span;
//!    - **raw**: one `reqwest` call with a static bearer header, `bytes()` and
//!      `serde_json::from_slice` into the same generated types, no timeout.
//!
//!    Both sides share one `reqwest::Client` (from `auditkit::http_client_builder_with_roots`
//!    with the servers' self-signed certificate), so one connection pool. Each row runs
//!    6 rounds; a round times N calls of each side, in an order that alternates between
//!    rounds, so drift on a shared machine falls on both alike. The figure is the median over
//!    the rounds of facade time / raw time, with the range.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use auditkit::graph::AuditEvent;
use auditkit::{CertificateDer, EntraCredential, GraphClient, ListQuery};
use auditkit_graph::types::AuditEventCollectionResponse;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{ID_PREFIX, write_event};

const TOKEN_PATH: &str = "/tenant/oauth2/v2.0/token";
const EVENTS_PATH: &str = "/v1.0/deviceManagement/auditEvents";
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.bench-access-token";
/// Events in the page of the decoding comparison and of the big list.
const BIG_PAGE: usize = 1_000;
/// Events in the page of the small list.
const SMALL_PAGE: usize = 100;
/// Rounds per row; the order of the sides alternates between rounds.
const ROUNDS: usize = 6;

// ---------------------------------------------------------------------------------------------
// Bodies

/// A Graph list page of `events` events, with an `@odata.nextLink` when `next` is set.
fn page_json(events: usize, next: bool) -> String {
    let mut body = String::with_capacity(events * 950 + 256);
    body.push_str(
        "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#deviceManagement/auditEvents\",\"value\":[",
    );
    for seq in 0..events {
        if seq > 0 {
            body.push(',');
        }
        write_event(&mut body, seq);
    }
    body.push(']');
    if next {
        body.push_str(
            ",\"@odata.nextLink\":\"https://graph.microsoft.com/v1.0/deviceManagement/auditEvents?$skiptoken=1\"",
        );
    }
    body.push('}');
    body
}

fn event_json(seq: usize) -> String {
    let mut body = String::new();
    write_event(&mut body, seq);
    body
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// The floor of decoding: only the fields the page carries, dates and ids as `String`.
#[allow(dead_code)] // Decoded to be measured, not read.
mod hand {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Page {
        #[serde(default)]
        pub value: Vec<Event>,
        #[serde(rename = "@odata.nextLink")]
        pub next_link: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Event {
        pub id: Option<String>,
        pub display_name: Option<String>,
        pub component_name: Option<String>,
        pub activity: Option<String>,
        pub activity_date_time: Option<String>,
        pub activity_type: Option<String>,
        pub activity_operation_type: Option<String>,
        pub activity_result: Option<String>,
        pub correlation_id: Option<String>,
        pub category: Option<String>,
        pub actor: Option<Actor>,
        #[serde(default)]
        pub resources: Vec<Resource>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Actor {
        #[serde(rename = "type")]
        pub kind: Option<String>,
        pub audit_actor_type: Option<String>,
        #[serde(default)]
        pub user_permissions: Vec<String>,
        pub application_id: Option<String>,
        pub user_principal_name: Option<String>,
        pub ip_address: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Resource {
        pub display_name: Option<String>,
        #[serde(rename = "type")]
        pub kind: Option<String>,
        pub resource_id: Option<String>,
        #[serde(default)]
        pub modified_properties: Vec<Property>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Property {
        pub display_name: Option<String>,
        pub old_value: Option<String>,
        pub new_value: Option<String>,
    }
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

fn range(samples: &[f64]) -> (f64, f64) {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

fn decode_bench() {
    let json = page_json(BIG_PAGE, true).into_bytes();
    let bytes = json.len();
    let typed = || {
        let page: AuditEventCollectionResponse = serde_json::from_slice(black_box(&json)).unwrap();
        black_box(page.value.len())
    };
    let hand = || {
        let page: hand::Page = serde_json::from_slice(black_box(&json)).unwrap();
        black_box(page.value.len())
    };
    let value = || {
        let page: serde_json::Value = serde_json::from_slice(black_box(&json)).unwrap();
        black_box(page["value"].as_array().map_or(0, Vec::len))
    };
    // Each decoder reads every field it knows: the comparison is fair only if all three
    // really decoded the page.
    let page: AuditEventCollectionResponse = serde_json::from_slice(&json).unwrap();
    assert!(page.value.iter().all(|event| {
        event.activity_date_time.is_some()
            && event.correlation_id.is_some()
            && event.resources[0].modified_properties.len() == 2
    }));
    let floor: hand::Page = serde_json::from_slice(&json).unwrap();
    assert!(floor.next_link.is_some());
    assert!(floor.value.iter().all(|event| {
        event.activity_date_time.is_some()
            && event.actor.as_ref().is_some_and(|a| a.ip_address.is_some())
            && event.resources[0].modified_properties.len() == 2
    }));
    assert_eq!((typed(), hand(), value()), (BIG_PAGE, BIG_PAGE, BIG_PAGE));

    /// ns per page over `iterations` decodes.
    fn time(iterations: u32, mut decode: impl FnMut() -> usize) -> f64 {
        let started = Instant::now();
        for _ in 0..iterations {
            black_box(decode());
        }
        started.elapsed().as_nanos() as f64 / f64::from(iterations)
    }
    for _ in 0..3 {
        time(5, typed);
        time(5, hand);
        time(5, value);
    }
    const DECODE_ROUNDS: usize = 10;
    const ITERATIONS: u32 = 20;
    let mut samples: [Vec<f64>; 3] = Default::default();
    for round in 0..DECODE_ROUNDS {
        let mut order = [0, 1, 2];
        order.rotate_left(round % 3);
        for which in order {
            let ns = match which {
                0 => time(ITERATIONS, typed),
                1 => time(ITERATIONS, hand),
                _ => time(ITERATIONS, value),
            };
            samples[which].push(ns);
        }
    }
    println!(
        "decoding: one Graph list page of {BIG_PAGE} events, {bytes} bytes ({:.0} B/event), \
         serde_json::from_slice; {DECODE_ROUNDS} rounds of {ITERATIONS} decodes per decoder, order \
         rotating; median round",
        bytes as f64 / BIG_PAGE as f64
    );
    println!(
        "  {:<48} {:>10} {:>8} {:>9} {:>18}",
        "into", "µs/page", "MB/s", "÷ floor", "rounds µs"
    );
    let floor = median(&samples[1]);
    for (name, ns) in [
        ("generated AuditEventCollectionResponse", &samples[0]),
        ("hand-written structs, String dates (floor)", &samples[1]),
        ("serde_json::Value", &samples[2]),
    ] {
        let (min, max) = range(ns);
        println!(
            "  {name:<48} {:>10.0} {:>8.1} {:>9.2} {:>8.0}..{:<8.0}",
            median(ns) / 1e3,
            bytes as f64 / median(ns) * 1e3,
            median(ns) / floor,
            min / 1e3,
            max / 1e3,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The local servers

/// The fixed answers, built once.
struct Bodies {
    token: Bytes,
    event: Bytes,
    small_page: Bytes,
    big_page: Bytes,
}

type Answer = (StatusCode, [(header::HeaderName, HeaderValue); 2], Bytes);

fn answer(status: StatusCode, body: &Bytes) -> Answer {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::HeaderName::from_static("request-id"),
                HeaderValue::from_static("6a1f0b7e-2c1d-4c8e-9d57-0f3b5e2a9c11"),
            ),
        ],
        body.clone(),
    )
}

async fn token(State(bodies): State<Arc<Bodies>>, _form: Bytes) -> impl IntoResponse {
    answer(StatusCode::OK, &bodies.token)
}

async fn one_event(State(bodies): State<Arc<Bodies>>) -> impl IntoResponse {
    answer(StatusCode::OK, &bodies.event)
}

async fn created(State(bodies): State<Arc<Bodies>>, _event: Bytes) -> impl IntoResponse {
    answer(StatusCode::CREATED, &bodies.event)
}

/// `$top=1000` asks for the big page; anything else gets the small one.
async fn list(
    State(bodies): State<Arc<Bodies>>,
    Query(query): Query<Vec<(String, String)>>,
) -> impl IntoResponse {
    let big = query
        .iter()
        .any(|(name, value)| name == "$top" && value == "1000");
    answer(
        StatusCode::OK,
        if big {
            &bodies.big_page
        } else {
            &bodies.small_page
        },
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Http,
    Https1,
    Https2,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Http => "http/1.1",
            Transport::Https1 => "https/1.1",
            Transport::Https2 => "https/2",
        }
    }

    fn version(self) -> reqwest::Version {
        match self {
            Transport::Http | Transport::Https1 => reqwest::Version::HTTP_11,
            Transport::Https2 => reqwest::Version::HTTP_2,
        }
    }

    fn all() -> Vec<Transport> {
        let mut all = vec![Transport::Http, Transport::Https1];
        if cfg!(feature = "http2") {
            all.push(Transport::Https2);
        }
        all
    }
}

/// The three servers (one router) on their own runtime: plain, TLS offering only
/// `http/1.1`, TLS offering `h2` and `http/1.1`.
struct Servers {
    http: SocketAddr,
    https1: SocketAddr,
    https2: SocketAddr,
    certificate: CertificateDer<'static>,
}

impl Servers {
    fn start() -> Self {
        let bodies = Arc::new(Bodies {
            token: Bytes::from(
                serde_json::json!({
                    "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                    "access_token": TOKEN,
                })
                .to_string(),
            ),
            event: Bytes::from(event_json(7)),
            small_page: Bytes::from(page_json(SMALL_PAGE, false)),
            big_page: Bytes::from(page_json(BIG_PAGE, false)),
        });
        let app = Router::new()
            .route(TOKEN_PATH, post(token))
            .route(EVENTS_PATH, get(list).post(created))
            .route(&format!("{EVENTS_PATH}/{{id}}"), get(one_event))
            .with_state(bodies);
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let certificate = certified.cert.der().clone();
        let key =
            rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let tls = |alpn: &[&[u8]]| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![certificate.clone()], key.clone_key())
                .unwrap();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        };
        let listeners: Vec<_> = (0..3)
            .map(|_| {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                listener.set_nonblocking(true).unwrap();
                listener
            })
            .collect();
        let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let acceptors = [tls(&[b"http/1.1"]), tls(&[b"h2", b"http/1.1"])];
        std::thread::Builder::new()
            .name("bench-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .thread_name("bench-server")
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let mut listeners = listeners.into_iter();
                    let plain =
                        tokio::net::TcpListener::from_std(listeners.next().unwrap()).unwrap();
                    tokio::spawn(axum::serve(plain, app.clone()).into_future());
                    for (listener, acceptor) in listeners.zip(acceptors) {
                        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                        tokio::spawn(serve_tls(listener, acceptor, app.clone()));
                    }
                    std::future::pending::<()>().await;
                });
            })
            .unwrap();
        Self {
            http: addrs[0],
            https1: addrs[1],
            https2: addrs[2],
            certificate,
        }
    }

    fn origin(&self, transport: Transport) -> url::Url {
        let text = match transport {
            Transport::Http => format!("http://{}", self.http),
            Transport::Https1 => format!("https://localhost:{}", self.https1.port()),
            Transport::Https2 => format!("https://localhost:{}", self.https2.port()),
        };
        url::Url::parse(&text).unwrap()
    }
}

async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The two clients

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Get,
    ListSmall,
    ListBig,
}

impl Op {
    const ALL: [Op; 4] = [Op::Create, Op::Get, Op::ListSmall, Op::ListBig];

    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Get => "get",
            Op::ListSmall => "list 100",
            Op::ListBig => "list 1000",
        }
    }

    fn events(self) -> usize {
        match self {
            Op::Create | Op::Get => 1,
            Op::ListSmall => SMALL_PAGE,
            Op::ListBig => BIG_PAGE,
        }
    }

    /// Calls per side and round at concurrency `c`: about the same bytes per round for
    /// every operation.
    fn calls(self, concurrency: usize) -> usize {
        let base = match self {
            Op::Create | Op::Get => 800,
            Op::ListSmall => 200,
            Op::ListBig => 40,
        };
        let per_round = if concurrency == 1 { base * 3 } else { base * 4 };
        ((per_round as f64 * scale()) as usize).max(concurrency)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Facade,
    Raw,
}

struct Clients {
    facade: GraphClient,
    http: reqwest::Client,
    bearer: reqwest::header::HeaderValue,
    events_url: String,
    big_page_url: String,
    event_url: String,
    new_event: AuditEvent,
    /// The id of the server's event (the raw side has it in `event_url`).
    id: String,
}

impl Clients {
    fn new(servers: &Servers, transport: Transport) -> Self {
        let origin = servers.origin(transport);
        let builder = auditkit::http_client_builder_with_roots(vec![servers.certificate.clone()])
            .unwrap()
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], 0)));
        let shared = auditkit::HttpClient::from_builder(builder).unwrap();
        let http = shared.reqwest().clone();
        let facade = GraphClient::builder()
            .credential(
                EntraCredential::client_secret("tenant", "app", "secret")
                    .authority_host(origin.clone()),
            )
            .base_url(origin.join("/v1.0").unwrap())
            .http_client(shared)
            .build()
            .unwrap();
        let mut new_event: AuditEvent = serde_json::from_str(&event_json(7)).unwrap();
        new_event.id = None;
        let events_url = format!("{}{}", origin.as_str().trim_end_matches('/'), EVENTS_PATH);
        Self {
            facade,
            http,
            bearer: reqwest::header::HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
            big_page_url: format!("{events_url}?$top={BIG_PAGE}"),
            event_url: format!("{events_url}/{ID_PREFIX}{:012}", 7),
            events_url,
            new_event,
            id: format!("{ID_PREFIX}{:012}", 7),
        }
    }

    async fn raw_send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        request
            .header(reqwest::header::AUTHORIZATION, self.bearer.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
    }

    async fn raw_decode<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> T {
        let response = self.raw_send(request).await;
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    /// One call; returns the number of events it brought back (checked in the warm-up).
    async fn call(&self, side: Side, op: Op) -> usize {
        match side {
            Side::Facade => self.facade_call(op).await,
            Side::Raw => self.raw_call(op).await,
        }
    }

    // Two functions, not one, so that a profile tells the sides apart.
    #[inline(never)]
    async fn facade_call(&self, op: Op) -> usize {
        let events = self.facade.audit_events();
        match op {
            Op::Create => {
                let event = events.create(&self.new_event).await.unwrap();
                usize::from(black_box(event).id.is_some())
            }
            Op::Get => {
                let event = events.get(&self.id).await.unwrap();
                usize::from(black_box(event).id.as_deref() == Some(self.id.as_str()))
            }
            Op::ListSmall => {
                let page = events.list_page(&ListQuery::new()).await.unwrap();
                black_box(page).items.len()
            }
            Op::ListBig => {
                let query = ListQuery::new().top(BIG_PAGE as u64);
                let page = events.list_page(&query).await.unwrap();
                black_box(page).items.len()
            }
        }
    }

    #[inline(never)]
    async fn raw_call(&self, op: Op) -> usize {
        match op {
            Op::Create => {
                let event: AuditEvent = self
                    .raw_decode(self.http.post(&self.events_url).json(&self.new_event))
                    .await;
                usize::from(black_box(event).id.is_some())
            }
            Op::Get => {
                let event: AuditEvent = self.raw_decode(self.http.get(&self.event_url)).await;
                usize::from(black_box(event).id.as_deref() == Some(self.id.as_str()))
            }
            Op::ListSmall | Op::ListBig => {
                let url = if op == Op::ListBig {
                    &self.big_page_url
                } else {
                    &self.events_url
                };
                let page: AuditEventCollectionResponse = self.raw_decode(self.http.get(url)).await;
                black_box(page).value.len()
            }
        }
    }

    /// The HTTP version the raw side negotiates (the facade shares its connections).
    async fn negotiated(&self) -> reqwest::Version {
        self.raw_send(self.http.get(&self.event_url))
            .await
            .version()
    }
}

/// The wall time of `total` calls made by `concurrency` tasks.
async fn drive(
    clients: &Arc<Clients>,
    side: Side,
    op: Op,
    total: usize,
    concurrency: usize,
) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let clients = clients.clone();
            let next = next.clone();
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    black_box(clients.call(side, op).await);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

fn scale() -> f64 {
    std::env::var("OVERHEAD_BENCH_SCALE")
        .ok()
        .map_or(1.0, |v| v.trim().parse().unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every side of every operation answers as expected, over the version the transport names.
async fn warm_up(clients: &Arc<Clients>, transport: Transport) {
    assert_eq!(
        clients.negotiated().await,
        transport.version(),
        "{transport:?}"
    );
    for op in Op::ALL {
        for side in [Side::Facade, Side::Raw] {
            assert_eq!(clients.call(side, op).await, op.events(), "{side:?} {op:?}");
        }
    }
    // 64 pooled connections (or streams), allocator, caches, CPU frequency.
    for op in Op::ALL {
        for side in [Side::Facade, Side::Raw] {
            drive(clients, side, op, op.calls(64) / 4, 64).await;
        }
    }
}

fn calls_bench() {
    let runtime = runtime();
    let servers = Servers::start();
    println!();
    println!(
        "per call: facade (GraphClient, whole pipeline) vs raw reqwest + serde_json into the \
         same generated types, one shared reqwest::Client, in-process hyper servers on \
         127.0.0.1 with fixed bodies: get/create one event ({} B), list one page of \
         {SMALL_PAGE} ({} B) or {BIG_PAGE} events ({} B)",
        event_json(7).len(),
        page_json(SMALL_PAGE, false).len(),
        page_json(BIG_PAGE, false).len(),
    );
    println!(
        "  {ROUNDS} rounds per row, sides alternating; ratio = facade time / raw time of a \
         round, median over the rounds (range in brackets); µs = wall time per call, medians"
    );
    println!(
        "  {:<10} {:<10} {:>3} {:>6} | {:>10} {:>10} | {:>6} {:>13}",
        "transport", "op", "c", "calls", "facade µs", "raw µs", "ratio", "rounds"
    );
    let only_transport = std::env::var("OVERHEAD_BENCH_TRANSPORT").ok();
    for transport in Transport::all() {
        if only_transport
            .as_deref()
            .is_some_and(|t| t != transport.name())
        {
            continue;
        }
        let clients = Arc::new(Clients::new(&servers, transport));
        runtime.block_on(warm_up(&clients, transport));
        for concurrency in [1usize, 64] {
            for op in Op::ALL {
                let calls = op.calls(concurrency);
                let (mut facade, mut raw, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
                runtime.block_on(async {
                    for round in 0..ROUNDS {
                        let order = if round % 2 == 0 {
                            [Side::Facade, Side::Raw]
                        } else {
                            [Side::Raw, Side::Facade]
                        };
                        let mut times = [Duration::ZERO; 2];
                        for side in order {
                            let wall = drive(&clients, side, op, calls, concurrency).await;
                            times[usize::from(side == Side::Raw)] = wall;
                        }
                        let per_call = |wall: Duration| wall.as_secs_f64() * 1e6 / calls as f64;
                        facade.push(per_call(times[0]));
                        raw.push(per_call(times[1]));
                        ratios.push(times[0].as_secs_f64() / times[1].as_secs_f64());
                    }
                });
                let (min, max) = range(&ratios);
                println!(
                    "  {:<10} {:<10} {:>3} {:>6} | {:>10.1} {:>10.1} | {:>6.3} [{:.2}..{:.2}]",
                    transport.name(),
                    op.name(),
                    concurrency,
                    calls,
                    median(&facade),
                    median(&raw),
                    median(&ratios),
                    min,
                    max,
                );
            }
        }
    }
}

/// `OVERHEAD_BENCH_PROFILE=get|create|list|list-big`: only that operation's calls, no
/// timing, for `valgrind --tool=callgrind` or `perf`. `OVERHEAD_BENCH_SIDE=facade|raw` keeps
/// one side, `OVERHEAD_BENCH_CONCURRENCY` (default 1) sets the callers,
/// `OVERHEAD_BENCH_TRANSPORT=http|https1|https2` (default http) the transport.
fn profile(op: &str) {
    let op = match op {
        "create" => Op::Create,
        "get" => Op::Get,
        "list" => Op::ListSmall,
        "list-big" => Op::ListBig,
        other => panic!("OVERHEAD_BENCH_PROFILE={other}: expected get, create, list or list-big"),
    };
    let sides: &[Side] = match std::env::var("OVERHEAD_BENCH_SIDE").as_deref() {
        Ok("facade") => &[Side::Facade],
        Ok("raw") => &[Side::Raw],
        Err(_) => &[Side::Facade, Side::Raw],
        Ok(other) => panic!("OVERHEAD_BENCH_SIDE={other}: expected facade or raw"),
    };
    let transport = match std::env::var("OVERHEAD_BENCH_TRANSPORT").as_deref() {
        Err(_) | Ok("http") => Transport::Http,
        Ok("https1") => Transport::Https1,
        Ok("https2") => Transport::Https2,
        Ok(other) => panic!("OVERHEAD_BENCH_TRANSPORT={other}: expected http, https1 or https2"),
    };
    let concurrency =
        std::env::var("OVERHEAD_BENCH_CONCURRENCY").map_or(1, |v| v.trim().parse().unwrap());
    let n = op.calls(concurrency) * 2;
    let runtime = runtime();
    let servers = Servers::start();
    let clients = Arc::new(Clients::new(&servers, transport));
    runtime.block_on(async {
        for &side in sides {
            for _ in 0..20 {
                clients.call(side, op).await;
            }
        }
        for &side in sides {
            drive(&clients, side, op, n, concurrency).await;
        }
    });
    println!(
        "profiled {n} {} calls per side ({sides:?}) over {} at concurrency {concurrency}",
        op.name(),
        transport.name()
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn main() {
    // The facade's `auditkit.call` span is INFO: a subscriber at INFO records it (and formats
    // its fields) on every call, as in a service that logs at INFO. `OVERHEAD_BENCH_LOG=off`
    // installs none.
    let logging = std::env::var("OVERHEAD_BENCH_LOG").unwrap_or_else(|_| "info".into());
    match logging.as_str() {
        "info" => tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_max_level(tracing::Level::INFO)
            .init(),
        "off" => {}
        other => panic!("OVERHEAD_BENCH_LOG={other}: expected info or off"),
    }
    if let Ok(op) = std::env::var("OVERHEAD_BENCH_PROFILE") {
        profile(&op);
        return;
    }
    let only = std::env::var("OVERHEAD_BENCH_ONLY").unwrap_or_default();
    println!(
        "overhead: {} cores, load average {} at start, tracing subscriber: {logging}, http2 \
         feature: {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average(),
        if cfg!(feature = "http2") {
            "on"
        } else {
            "off (no https/2 rows)"
        },
    );
    if only.is_empty() || only == "decode" {
        decode_bench();
    }
    if only.is_empty() || only == "calls" {
        calls_bench();
    }
    println!();
    println!("load average {} at end", load_average());
}
