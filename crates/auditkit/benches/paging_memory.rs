//! Paging memory: list N audit events in pages of 1,000 from a local server and report the
//! throughput and the peak resident memory of the process.
//!
//! ```text
//! cargo bench -p auditkit --bench paging_memory
//! PAGING_BENCH_EVENTS=2000000 cargo bench -p auditkit --bench paging_memory
//! PAGING_BENCH_SERVER=child cargo bench -p auditkit --bench paging_memory
//! ```
//!
//! The server is a wiremock `MockServer` on 127.0.0.1 whose responder *generates* page `n`
//! (from `$skiptoken=n`): 1,000 Intune-like events, each with its own id, and an
//! `@odata.nextLink` to page `n + 1` until the run's total is reached. The total travels in
//! the base path (`/n{total}/v1.0`), so one server serves every run.
//!
//! By default the server runs in this process (on wiremock's own thread), so the figures
//! include it. With `PAGING_BENCH_SERVER=child` the bench re-executes itself as a server-only
//! child process, and the figures are the client's alone (the child's peak is printed too).
//!
//! Peak memory is `VmHWM` from `/proc/self/status`. Before each run the high-water mark is
//! reset by writing `5` to `/proc/self/clear_refs` (Linux >= 4.0), so "run peak" is the peak
//! during that run only; "process peak" is the maximum over the whole process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::fmt::Write as _;
use std::io::{BufRead as _, Read as _};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

mod common;

use auditkit::{EntraCredential, GraphClient, ListQuery};
use common::{ID_PREFIX, write_event};
use futures::StreamExt;
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PAGE: usize = 1_000;
const TOKEN_PATH: &str = "/tenant/oauth2/v2.0/token";
const EVENTS: &str = "/v1.0/deviceManagement/auditEvents";
const DEFAULT_LARGEST: usize = 1_000_000;

/// Generates page `$skiptoken` of a listing whose total is the `n{total}` first path segment.
struct GeneratedPages {
    origin: String,
}

impl Respond for GeneratedPages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let total: usize = request
            .url
            .path_segments()
            .and_then(|mut segments| segments.next())
            .and_then(|first| first.strip_prefix('n'))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let page: usize = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "$skiptoken")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let start = (page * PAGE).min(total);
        let end = (start + PAGE).min(total);
        let mut body = String::with_capacity((end - start) * 900 + 256);
        body.push_str(
            "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#deviceManagement/auditEvents\",\"value\":[",
        );
        for seq in start..end {
            if seq > start {
                body.push(',');
            }
            write_event(&mut body, seq);
        }
        body.push(']');
        if end < total {
            write!(
                body,
                ",\"@odata.nextLink\":\"{}/n{total}{EVENTS}?$skiptoken={}\"",
                self.origin,
                page + 1
            )
            .unwrap();
        }
        body.push('}');
        ResponseTemplate::new(200).set_body_raw(body, "application/json")
    }
}

async fn start_server() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = MockServer::builder()
        .listener(listener)
        .disable_request_recording()
        .start()
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "t", "expires_in": 3600})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/n[0-9]+/v1\.0/deviceManagement/auditEvents$"))
        .respond_with(GeneratedPages {
            origin: server.uri(),
        })
        .mount(&server)
        .await;
    server
}

/// The pipeline as users get it: default retry policy, timeouts and HTTP client.
fn client(origin: &str, total: usize) -> GraphClient {
    let uri = url::Url::parse(origin).unwrap();
    GraphClient::builder()
        .credential(
            EntraCredential::client_secret("tenant", "app", "secret").authority_host(uri.clone()),
        )
        .base_url(uri.join(&format!("/n{total}/v1.0")).unwrap())
        .build()
        .unwrap()
}

/// `VmHWM` and `VmRSS` of a process, in kB.
fn memory(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the high-water mark of a process; false where the kernel does not allow it.
fn reset_peak(pid: &str) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Lists `total` events, checking that each one is the next expected one; returns
/// (events, pages, seconds).
async fn run(origin: &str, total: usize) -> (usize, usize, f64) {
    let client = client(origin, total);
    let started = Instant::now();
    let mut events = client.audit_events().list(ListQuery::new());
    let mut count = 0usize;
    while let Some(event) = events.next().await {
        let event = event.unwrap();
        let id = event.id.as_deref().unwrap();
        let seq: usize = id.strip_prefix(ID_PREFIX).unwrap().parse().unwrap();
        assert_eq!(seq, count, "every event once, in order");
        assert!(event.activity_date_time.is_some() && event.correlation_id.is_some());
        assert_eq!(event.resources[0].modified_properties.len(), 2);
        count += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(count, total, "every event of the listing");
    (count, total.div_ceil(PAGE), seconds)
}

fn serve_forever() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(start_server());
    println!("{}", server.uri());
    // Serves until the parent closes our stdin (or exits).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(server);
}

fn sizes() -> Vec<usize> {
    let largest = std::env::var("PAGING_BENCH_EVENTS")
        .ok()
        .map_or(DEFAULT_LARGEST, |v| {
            v.trim().replace('_', "").parse().unwrap()
        });
    let mut sizes: Vec<usize> = [10_000, 100_000]
        .into_iter()
        .filter(|&n| n < largest)
        .collect();
    sizes.push(largest);
    sizes
}

fn main() {
    if std::env::var_os("PAGING_BENCH_ROLE").is_some_and(|role| role == "server") {
        serve_forever();
        return;
    }
    let separate = std::env::var("PAGING_BENCH_SERVER").is_ok_and(|mode| mode == "child");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut child: Option<Child> = None;
    let mut in_process: Option<MockServer> = None;
    let origin = if separate {
        let mut spawned = Command::new(std::env::current_exe().unwrap())
            .env("PAGING_BENCH_ROLE", "server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(spawned.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        child = Some(spawned);
        line.trim().to_owned()
    } else {
        let server = runtime.block_on(start_server());
        let origin = server.uri();
        in_process = Some(server);
        origin
    };
    let child_pid = child.as_ref().map(|c| c.id().to_string());

    let (start_hwm, start_rss) = memory("self");
    println!(
        "paging_memory: pages of {PAGE}, server {}, {} cores",
        if separate {
            "in a child process (figures are the client's alone)"
        } else {
            "in this process (figures include wiremock)"
        },
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    println!(
        "before the first run: VmHWM {:.1} MiB, VmRSS {:.1} MiB",
        mb(start_hwm),
        mb(start_rss)
    );
    println!(
        "{:>10} {:>6} {:>8} {:>10} {:>14} {:>16} {:>10}{}",
        "events",
        "pages",
        "seconds",
        "events/s",
        "run peak MiB",
        "process peak MiB",
        "VmRSS MiB",
        if separate { "  server peak MiB" } else { "" }
    );
    let mut process_peak = start_hwm;
    let mut resettable = true;
    for total in sizes() {
        resettable &= reset_peak("self");
        if let Some(pid) = &child_pid {
            reset_peak(pid);
        }
        let (events, pages, seconds) = runtime.block_on(run(&origin, total));
        let (hwm, rss) = memory("self");
        process_peak = process_peak.max(hwm);
        let server = child_pid.as_deref().map_or(String::new(), |pid| {
            format!("  {:>14.1}", mb(memory(pid).0))
        });
        println!(
            "{events:>10} {pages:>6} {seconds:>8.2} {:>10.0} {:>14.1} {:>16.1} {:>10.1}{server}",
            events as f64 / seconds,
            mb(hwm),
            mb(process_peak),
            mb(rss),
        );
    }
    if !separate {
        println!(
            "note: wiremock 0.6 keeps a clone of every matched request (MountedMock::matched_requests) \
             even with request recording disabled, so the in-process figures grow with the number \
             of pages; PAGING_BENCH_SERVER=child gives the client's alone"
        );
    }
    if !resettable {
        println!(
            "note: /proc/self/clear_refs refused the reset; \"run peak\" is the process peak so far"
        );
    }

    drop(in_process);
    if let Some(mut child) = child {
        drop(child.stdin.take());
        let _ = child.wait();
    }
}
