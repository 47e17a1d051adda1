//! Measured speed: what the facade costs per call over a hand-written `reqwest` call, and
//! what decoding into the typed model costs over decoding into `serde_json::Value`.
//!
//! ```text
//! cargo bench -p auditkit --bench overhead
//! OVERHEAD_BENCH_ONLY=decode cargo bench -p auditkit --bench overhead   # or =calls
//! OVERHEAD_BENCH_SCALE=0.1 cargo bench -p auditkit --bench overhead    # fewer requests
//! OVERHEAD_BENCH_LOG=off cargo bench -p auditkit --bench overhead      # no tracing subscriber
//! OVERHEAD_BENCH_RAW_TIMEOUT=1 cargo bench -p auditkit --bench overhead # raw side gets a timeout
//! OVERHEAD_BENCH_PROFILE=get valgrind --tool=callgrind target/release/deps/overhead-<hash>
//! ```
//!
//! 1. **Decoding.** A 1,000-event Graph list page (Intune-like events of about 900 bytes each,
//!    built once) is decoded with `serde_json::from_slice` into
//!    `auditkit_graph::types::AuditEventCollectionResponse` and into `serde_json::Value`,
//!    alternating, in the same run. Prints ns/page and MB/s for both.
//! 2. **Per-call overhead.** create (POST), get (GET by id) and a one-page list (GET, 100
//!    events) against one in-process axum (hyper) server on 127.0.0.1 that answers fixed,
//!    prebuilt bodies, through
//!    - **facade**: `GraphClient` as users get it: `EntraCredential::client_secret` against a
//!      token route on the same server (the token is fetched once, then comes from the warm
//!      cache), default retry policy and timeouts, `client-request-id`, the `auditkit.call`
//!      span with a `tracing_subscriber::fmt` subscriber at INFO writing to `io::sink`;
//!    - **raw**: one `reqwest` call with a static bearer header, `bytes()` and
//!      `serde_json::from_slice` into `auditkit::graph::AuditEvent` / the page type.
//!
//!    Both sides use the same `reqwest::Client` (from `auditkit::http_client_builder()`), so
//!    the same connection pool. At concurrency 1 and 64, each side sends 2,000 and 20,000
//!    requests per operation, in four rounds whose order alternates (facade, raw, raw,
//!    facade) so drift on a shared machine falls on both sides alike. Prints requests per
//!    second, p50 and p99 latency, and the ratios facade/raw.
//!
//! Paging memory is a separate bench: `cargo bench -p auditkit --bench paging_memory`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use auditkit::graph::AuditEvent;
use auditkit::{EntraCredential, GraphClient, ListQuery};
use auditkit_graph::types::AuditEventCollectionResponse;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{ID_PREFIX, write_event};

const TOKEN_PATH: &str = "/tenant/oauth2/v2.0/token";
const EVENTS_PATH: &str = "/v1.0/deviceManagement/auditEvents";
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.bench-access-token";
/// Events in the page of the per-call `list`.
const LIST_EVENTS: usize = 100;
/// Events in the page of the decoding comparison.
const DECODE_EVENTS: usize = 1_000;
/// Rounds per (operation, concurrency); the order of the sides alternates between rounds.
const ROUNDS: usize = 4;

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

fn decode_bench() {
    let json = page_json(DECODE_EVENTS, true).into_bytes();
    let bytes = json.len();
    let typed = || {
        let page: AuditEventCollectionResponse = serde_json::from_slice(black_box(&json)).unwrap();
        black_box(page)
    };
    let value = || {
        let page: serde_json::Value = serde_json::from_slice(black_box(&json)).unwrap();
        black_box(page)
    };
    let page = typed();
    assert_eq!(page.value.len(), DECODE_EVENTS);
    assert!(page.value.iter().all(|event| {
        event.activity_date_time.is_some()
            && event.correlation_id.is_some()
            && event.resources[0].modified_properties.len() == 2
    }));
    assert_eq!(value()["value"].as_array().unwrap().len(), DECODE_EVENTS);

    /// ns per page over `iterations` decodes.
    fn time<T>(iterations: u32, mut decode: impl FnMut() -> T) -> f64 {
        let started = Instant::now();
        for _ in 0..iterations {
            drop(decode());
        }
        started.elapsed().as_nanos() as f64 / f64::from(iterations)
    }
    // Warm-up: caches, allocator arenas, CPU frequency.
    time(10, typed);
    time(10, value);

    const DECODE_ROUNDS: usize = 10;
    const ITERATIONS: u32 = 20;
    let (mut typed_ns, mut value_ns) = (Vec::new(), Vec::new());
    for round in 0..DECODE_ROUNDS {
        if round % 2 == 0 {
            typed_ns.push(time(ITERATIONS, typed));
            value_ns.push(time(ITERATIONS, value));
        } else {
            value_ns.push(time(ITERATIONS, value));
            typed_ns.push(time(ITERATIONS, typed));
        }
    }
    let median = |samples: &mut Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let (typed_median, value_median) = (median(&mut typed_ns), median(&mut value_ns));
    println!(
        "decoding: one Graph list page of {DECODE_EVENTS} events, {bytes} bytes ({:.0} B/event), \
         serde_json::from_slice; {DECODE_ROUNDS} alternating rounds of {ITERATIONS} decodes, median round",
        bytes as f64 / DECODE_EVENTS as f64
    );
    println!(
        "  {:<42} {:>12} {:>9} {:>22}",
        "into", "ns/page", "MB/s", "rounds min..max ns"
    );
    for (name, median, samples) in [
        (
            "AuditEventCollectionResponse (typed)",
            typed_median,
            &typed_ns,
        ),
        ("serde_json::Value", value_median, &value_ns),
    ] {
        println!(
            "  {name:<42} {median:>12.0} {:>9.1} {:>10.0}..{:<10.0}",
            bytes as f64 / median * 1e3,
            samples[0],
            samples[samples.len() - 1],
        );
    }
    println!(
        "  typed time / Value time = {:.2} (below 1: typed is faster)",
        typed_median / value_median
    );
}

// ---------------------------------------------------------------------------------------------
// The local server

/// The fixed answers, built once.
struct Bodies {
    token: Bytes,
    event: Bytes,
    page: Bytes,
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

async fn list(State(bodies): State<Arc<Bodies>>) -> impl IntoResponse {
    answer(StatusCode::OK, &bodies.page)
}

/// Starts the server on its own runtime and thread; returns its origin.
fn start_server() -> url::Url {
    let bodies = Arc::new(Bodies {
        token: Bytes::from(
            serde_json::json!({
                "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                "access_token": TOKEN,
            })
            .to_string(),
        ),
        event: Bytes::from(event_json(7)),
        page: Bytes::from(page_json(LIST_EVENTS, false)),
    });
    let app = Router::new()
        .route(TOKEN_PATH, post(token))
        .route(EVENTS_PATH, get(list).post(created))
        .route(&format!("{EVENTS_PATH}/{{id}}"), get(one_event))
        .with_state(bodies);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let origin = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    std::thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("bench-server")
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        })
        .unwrap();
    origin
}

// ---------------------------------------------------------------------------------------------
// The two clients

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Get,
    List,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Get => "get",
            Op::List => "list",
        }
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
    /// See [`raw_timeout`].
    raw_timeout: Option<Duration>,
    events_url: String,
    event_url: String,
    new_event: AuditEvent,
    /// The id of the server's event (the raw side has it in `event_url`).
    id: String,
}

impl Clients {
    fn new(origin: &url::Url) -> Self {
        let shared = auditkit::HttpClient::new().unwrap();
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
        Self {
            facade,
            http,
            bearer: reqwest::header::HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
            raw_timeout: raw_timeout(),
            events_url: format!("{}{}", origin.as_str().trim_end_matches('/'), EVENTS_PATH),
            event_url: format!(
                "{}{}/{ID_PREFIX}{:012}",
                origin.as_str().trim_end_matches('/'),
                EVENTS_PATH,
                7
            ),
            new_event,
            id: format!("{ID_PREFIX}{:012}", 7),
        }
    }

    async fn raw_send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let request = request
            .header(reqwest::header::AUTHORIZATION, self.bearer.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        let request = match self.raw_timeout {
            Some(timeout) => request.timeout(timeout),
            None => request,
        };
        request.send().await.unwrap().error_for_status().unwrap()
    }

    async fn raw_event(&self, request: reqwest::RequestBuilder) -> AuditEvent {
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

    // Two functions, not one, so that a profile (callgrind) tells the sides apart.
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
            Op::List => {
                let page = events.list_page(&ListQuery::new()).await.unwrap();
                black_box(page).items.len()
            }
        }
    }

    #[inline(never)]
    async fn raw_call(&self, op: Op) -> usize {
        match op {
            Op::Create => {
                let event = self
                    .raw_event(self.http.post(&self.events_url).json(&self.new_event))
                    .await;
                usize::from(black_box(event).id.is_some())
            }
            Op::Get => {
                let event = self.raw_event(self.http.get(&self.event_url)).await;
                usize::from(black_box(event).id.as_deref() == Some(self.id.as_str()))
            }
            Op::List => {
                let response = self.raw_send(self.http.get(&self.events_url)).await;
                let page: AuditEventCollectionResponse =
                    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
                black_box(page).value.len()
            }
        }
    }
}

/// Latencies (ns) of `total` calls made by `concurrency` tasks, and the wall time of all.
async fn drive(
    clients: &Arc<Clients>,
    side: Side,
    op: Op,
    total: usize,
    concurrency: usize,
) -> (Vec<u64>, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let clients = clients.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(total / concurrency + 1);
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let sent = Instant::now();
                    black_box(clients.call(side, op).await);
                    latencies.push(sent.elapsed().as_nanos() as u64);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    (all, started.elapsed())
}

struct Stats {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
    round_rates: Vec<f64>,
}

fn stats(mut latencies: Vec<u64>, wall: Duration, round_rates: Vec<f64>) -> Stats {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Stats {
        per_second: latencies.len() as f64 / wall.as_secs_f64(),
        p50_us: at(0.50) as f64 / 1e3,
        p99_us: at(0.99) as f64 / 1e3,
        round_rates,
    }
}

fn scale() -> f64 {
    std::env::var("OVERHEAD_BENCH_SCALE")
        .ok()
        .map_or(1.0, |v| v.trim().parse().unwrap())
}

fn calls_bench() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let origin = start_server();
    let clients = Arc::new(Clients::new(&origin));
    let ops = [Op::Create, Op::Get, Op::List];
    let expected = |op: Op| if op == Op::List { LIST_EVENTS } else { 1 };

    runtime.block_on(async {
        // The first facade call fetches the token; every later one takes it from the cache.
        for op in ops {
            for side in [Side::Facade, Side::Raw] {
                assert_eq!(
                    clients.call(side, op).await,
                    expected(op),
                    "{side:?} {op:?}"
                );
            }
        }
        // Warm-up: 64 pooled connections, allocator, caches, CPU frequency.
        for op in ops {
            for side in [Side::Facade, Side::Raw] {
                drive(&clients, side, op, 2_000, 64).await;
            }
        }
    });

    println!();
    println!(
        "per-call overhead: facade (GraphClient, full pipeline) vs raw reqwest + serde_json, same \
         reqwest::Client, in-process axum server on 127.0.0.1 with fixed bodies; list = one page \
         of {LIST_EVENTS} events ({} bytes), get/create = one event ({} bytes)",
        page_json(LIST_EVENTS, false).len(),
        event_json(7).len(),
    );
    println!(
        "  {ROUNDS} rounds per row, order alternating facade/raw; req/s = requests / summed wall \
         time; latency percentiles over all requests of the row"
    );
    println!(
        "  {:<7} {:>4} {:>7} | {:>9} {:>9} | {:>8} {:>8} | {:>8} {:>8} | {:>7} {:>7} {:>7} | {:>15}",
        "op",
        "c",
        "n",
        "facade/s",
        "raw/s",
        "f p50 µs",
        "r p50 µs",
        "f p99 µs",
        "r p99 µs",
        "thr f/r",
        "p50 f/r",
        "p99 f/r",
        "rounds thr f/r"
    );
    for (concurrency, total) in [(1usize, 2_000usize), (64, 20_000)] {
        let total = ((total as f64 * scale()) as usize).max(ROUNDS * concurrency);
        let per_round = total / ROUNDS;
        for op in ops {
            let mut results = Vec::new();
            for side in [Side::Facade, Side::Raw] {
                results.push((side, Vec::new(), Duration::ZERO, Vec::new()));
            }
            runtime.block_on(async {
                for round in 0..ROUNDS {
                    let order = if round % 2 == 0 {
                        [Side::Facade, Side::Raw]
                    } else {
                        [Side::Raw, Side::Facade]
                    };
                    for side in order {
                        let (latencies, wall) =
                            drive(&clients, side, op, per_round, concurrency).await;
                        let slot = results.iter_mut().find(|r| r.0 == side).unwrap();
                        slot.3.push(latencies.len() as f64 / wall.as_secs_f64());
                        slot.1.extend(latencies);
                        slot.2 += wall;
                    }
                }
            });
            let mut sides = results
                .into_iter()
                .map(|(_, latencies, wall, rates)| stats(latencies, wall, rates));
            let (facade, raw) = (sides.next().unwrap(), sides.next().unwrap());
            let round_ratios: Vec<String> = facade
                .round_rates
                .iter()
                .zip(&raw.round_rates)
                .map(|(f, r)| format!("{:.2}", f / r))
                .collect();
            println!(
                "  {:<7} {:>4} {:>7} | {:>9.0} {:>9.0} | {:>8.1} {:>8.1} | {:>8.1} {:>8.1} | {:>7.3} {:>7.3} {:>7.3} | {}",
                op.name(),
                concurrency,
                per_round * ROUNDS,
                facade.per_second,
                raw.per_second,
                facade.p50_us,
                raw.p50_us,
                facade.p99_us,
                raw.p99_us,
                facade.per_second / raw.per_second,
                facade.p50_us / raw.p50_us,
                facade.p99_us / raw.p99_us,
                round_ratios.join(" "),
            );
        }
    }
    println!(
        "  thr f/r: facade throughput / raw (1.0 = same; target >= 0.90); p50/p99 f/r: facade \
         latency / raw (target p50 <= 1.10)"
    );
}

/// `OVERHEAD_BENCH_PROFILE=get|create|list`: only `n` calls of that operation, facade then
/// raw, with no timing; for `valgrind --tool=callgrind` or `perf stat`.
/// `OVERHEAD_BENCH_SIDE=facade|raw` keeps one side, `OVERHEAD_BENCH_CONCURRENCY` (default 1)
/// sets the number of concurrent callers.
fn profile(op: &str) {
    let op = match op {
        "create" => Op::Create,
        "get" => Op::Get,
        "list" => Op::List,
        other => panic!("OVERHEAD_BENCH_PROFILE={other}: expected get, create or list"),
    };
    let n = ((2_000.0 * scale()) as usize).max(1);
    let sides: &[Side] = match std::env::var("OVERHEAD_BENCH_SIDE").as_deref() {
        Ok("facade") => &[Side::Facade],
        Ok("raw") => &[Side::Raw],
        Err(_) => &[Side::Facade, Side::Raw],
        Ok(other) => panic!("OVERHEAD_BENCH_SIDE={other}: expected facade or raw"),
    };
    let concurrency =
        std::env::var("OVERHEAD_BENCH_CONCURRENCY").map_or(1, |v| v.trim().parse().unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let clients = Arc::new(Clients::new(&start_server()));
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
        "profiled {n} {} calls per side ({sides:?}) at concurrency {concurrency}",
        op.name()
    );
}

/// `OVERHEAD_BENCH_RAW_TIMEOUT=1` gives the raw side the facade's default per-attempt
/// timeout, which shows what a tokio timer per request costs.
fn raw_timeout() -> Option<Duration> {
    std::env::var("OVERHEAD_BENCH_RAW_TIMEOUT")
        .is_ok_and(|v| v == "1")
        .then(|| auditkit::Timeouts::default().attempt)
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
    // installs none, which shows what the span costs.
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
        "overhead: {} cores, load average {} at start, tracing subscriber: {logging}, raw \
         per-request timeout: {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average(),
        raw_timeout().map_or("none".to_owned(), |t| format!("{t:?}")),
    );
    if only.is_empty() || only == "decode" {
        decode_bench();
    }
    if only.is_empty() || only == "calls" {
        calls_bench();
    }
    println!();
    println!("load average {} at end", load_average());
    println!(
        "paging memory (issue item 3) is its own bench; in the same session run: \
         cargo bench -p auditkit --bench paging_memory"
    );
}
