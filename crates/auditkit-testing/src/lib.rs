//! Test support for code that uses auditkit: wiremock servers on 127.0.0.1 (port 0) that stand
//! in for Entra ID's and Adobe IMS's token endpoints, mocks of every operation of both APIs
//! ([`mock`]), and Graph and Adobe clients pointed at them, whose retries wait on a
//! `ManualClock` (recorded, not slept). Add it as a dev-dependency. auditkit's own tests use
//! it too, so it is the one place test servers, credentials and events are made.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use wiremock::matchers::{method, path};
//! use wiremock::{Mock, ResponseTemplate};
//!
//! let server = auditkit_testing::server().await;
//! Mock::given(method("GET"))
//!     .and(path(format!("{}/e1", auditkit_testing::EVENTS)))
//!     .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "e1"})))
//!     .mount(&server)
//!     .await;
//! let event = auditkit_testing::graph(&server).audit_events().get("e1").await.unwrap();
//! assert_eq!(event.id.as_deref(), Some("e1"));
//! # }
//! ```
//!
//! Test support panics on set-up failures: that is a failed test, not an error to handle.
#![warn(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod mock;

use std::sync::Arc;

use auditkit::{
    AdobeClient, AdobeClientBuilder, EntraCredential, GraphClient, GraphClientBuilder,
    ImsCredential, ImsEnvironment, ManualClock, RetryPolicy,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The Entra ID tenant of the Graph clients made here.
pub const TENANT: &str = "tenant";
/// The client secret of the Graph and Adobe clients made here: a value distinctive enough
/// for a test to assert that it never reaches logs or errors.
pub const SECRET: &str = "s3cr3t-client-value-that-must-never-leak";
/// The access token both token endpoints hand out.
pub const TOKEN: &str = "access-token-that-must-never-leak";
/// The path of the Entra ID token endpoint of [`TENANT`] that [`server`] mounts.
pub const TOKEN_PATH: &str = "/tenant/oauth2/v2.0/token";
/// The path of the Adobe IMS token endpoint that [`server`] mounts.
pub const IMS_TOKEN_PATH: &str = "/ims/token/v3";
/// The path of Graph's audit events collection, `/v1.0` included. The other operations'
/// paths extend it (`{EVENTS}/e1`, `{EVENTS}/$count`).
pub const EVENTS: &str = "/v1.0/deviceManagement/auditEvents";
/// The jitter seed of the clients made here, printed by [`graph_builder`] so a failing test
/// can be repeated.
pub const SEED: u64 = 20_261_125;

/// A server on 127.0.0.1, port 0, with nothing mounted.
pub async fn bare_server() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    MockServer::builder().listener(listener).start().await
}

/// A server whose Entra ID and IMS token endpoints hand out [`TOKEN`] for an hour.
pub async fn server() -> MockServer {
    let server = bare_server().await;
    for token_path in [TOKEN_PATH, IMS_TOKEN_PATH] {
        Mock::given(method("POST"))
            .and(path(token_path))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": TOKEN, "expires_in": 3600})),
            )
            .mount(&server)
            .await;
    }
    server
}

/// The base URL of `server` (`http://127.0.0.1:{port}`).
pub fn url(server: &MockServer) -> url::Url {
    url::Url::parse(&server.uri()).unwrap()
}

/// A new [`HttpClient`](auditkit::HttpClient) with auditkit's defaults, which sends
/// credentials over plain http to loopback hosts such as these servers.
pub fn http() -> auditkit::HttpClient {
    auditkit::HttpClient::new().unwrap()
}

/// A Graph client of `server` whose retries wait on a `ManualClock` (recorded, not slept).
pub fn graph_builder(server: &MockServer, clock: &ManualClock) -> GraphClientBuilder {
    let uri = url(server);
    eprintln!("jitter seed {SEED}");
    GraphClient::builder()
        .credential(
            EntraCredential::client_secret(TENANT, "app", SECRET).authority_host(uri.clone()),
        )
        .base_url(uri.join("/v1.0").unwrap())
        .http_client(http())
        .retry(RetryPolicy::default().jitter_seed(SEED))
        .time(Arc::new(clock.clone()), Arc::new(clock.clone()))
}

/// A Graph client of `server`, built from [`graph_builder`] with a new `ManualClock`.
pub fn graph(server: &MockServer) -> GraphClient {
    graph_builder(server, &ManualClock::new()).build().unwrap()
}

/// An Adobe client of `server`, for its API and its IMS token endpoint, whose retries wait on
/// `clock` (recorded, not slept). It uses client id `adobe-client`, [`SECRET`] and the org
/// `ORG@AdobeOrg`.
pub fn adobe_builder(server: &MockServer, clock: &ManualClock) -> AdobeClientBuilder {
    let uri = url(server);
    AdobeClient::builder()
        .base_url(uri.clone())
        .credential(
            ImsCredential::server_to_server("adobe-client", SECRET, ["openid"])
                .org_id("ORG@AdobeOrg")
                .environment(ImsEnvironment::Custom(uri)),
        )
        .http_client(http())
        .retry(RetryPolicy::default().jitter_seed(SEED))
        .time(Arc::new(clock.clone()), Arc::new(clock.clone()))
}

/// An Adobe client of `server`, built from [`adobe_builder`] with a new `ManualClock`.
pub fn adobe(server: &MockServer) -> AdobeClient {
    adobe_builder(server, &ManualClock::new()).build().unwrap()
}

/// A Graph client of the emulator: its token endpoint and its credentials.
pub fn emulator_graph(emulator: &auditkit_emulator::Emulator) -> GraphClientBuilder {
    let credentials = emulator.credentials();
    GraphClient::builder()
        .credential(
            EntraCredential::client_secret(
                &credentials.tenant,
                &credentials.graph_client_id,
                &credentials.graph_client_secret,
            )
            .authority_host(emulator.url()),
        )
        .base_url(emulator.graph_url())
}

/// An Adobe client of the emulator: its IMS and its credentials.
pub fn emulator_adobe(emulator: &auditkit_emulator::Emulator) -> AdobeClientBuilder {
    let credentials = emulator.credentials();
    AdobeClient::builder().base_url(emulator.url()).credential(
        ImsCredential::server_to_server(
            &credentials.adobe_client_id,
            &credentials.adobe_client_secret,
            ["openid"],
        )
        .org_id(&credentials.adobe_org_id)
        .environment(ImsEnvironment::Custom(emulator.url())),
    )
}

/// The requests that reached `server` other than token requests.
pub async fn api_requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() != TOKEN_PATH && r.url.path() != IMS_TOKEN_PATH)
        .collect()
}

/// An Adobe audit event with every required property set and no optional one, of the org
/// `ORG@AdobeOrg` the Adobe clients made here use.
pub fn adobe_event() -> auditkit::adobe::AdobeAuditEvent {
    serde_json::from_value(json!({
        "action": "create",
        "imsOrgId": "ORG@AdobeOrg",
        "resource": {"resourceId": "r1"},
        "service": {"serviceId": "s1"},
        "source": "azure",
        "timestamp": "2025-03-24T15:14:04.000Z",
        "userIdentifier": "ann@example.com"
    }))
    .unwrap()
}

/// Everything a `tracing` subscriber writes, kept for assertions: that an operation is
/// traced, and that no secret, token or filter value reaches the logs.
///
/// One subscriber serves every capture of a test binary: installed as the global default on
/// the first capture, enabled for every level, it writes each line to the capture running on
/// the thread the line comes from, at that capture's level, and drops the others. Scoped
/// subscribers (`set_default`) in tests that run in parallel race in `tracing`'s global
/// interest cache and can leave a capture with nothing; a global one cannot.
#[derive(Clone, Debug, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

thread_local! {
    static CAPTURING: std::cell::RefCell<Option<(Logs, tracing::Level)>> =
        const { std::cell::RefCell::new(None) };
}

/// The writer of the one subscriber: the line goes to the capture of its thread, if any.
struct ToCapture;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ToCapture {
    type Writer = CaptureWriter;

    fn make_writer(&'a self) -> CaptureWriter {
        CaptureWriter(CAPTURING.with(|c| c.borrow().as_ref().map(|(logs, _)| logs.clone())))
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> CaptureWriter {
        CaptureWriter(CAPTURING.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|(_, level)| meta.level() <= level)
                .map(|(logs, _)| logs.clone())
        }))
    }
}

struct CaptureWriter(Option<Logs>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(logs) => logs.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A future whose every poll runs with its capture in place and the previous one restored
/// after, so captures that are joined or nested each keep their own lines.
struct Captured<F> {
    future: F,
    logs: Logs,
    level: tracing::Level,
}

/// Puts back the capture that was in place before a poll, even when the poll panics.
struct Restore(Option<(Logs, tracing::Level)>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        CAPTURING.with(|c| *c.borrow_mut() = previous);
    }
}

impl<F: std::future::Future + Unpin> std::future::Future for Captured<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = &mut *self;
        let previous = CAPTURING.with(|c| c.borrow_mut().replace((this.logs.clone(), this.level)));
        let _restore = Restore(previous);
        std::pin::Pin::new(&mut this.future).poll(context)
    }
}

impl Logs {
    /// Runs `future` with what it logs at `level` or above (closed spans included) written
    /// here. Lines are taken from the polls of `future` on the thread polling it: what it
    /// spawns onto other tasks or threads is not captured.
    pub async fn capture<F: std::future::Future>(
        &self,
        level: tracing::Level,
        future: F,
    ) -> F::Output {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
                .with_writer(ToCapture)
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global tracing subscriber in a binary that captures logs");
        });
        Captured {
            future: std::pin::pin!(future),
            logs: self.clone(),
            level,
        }
        .await
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
