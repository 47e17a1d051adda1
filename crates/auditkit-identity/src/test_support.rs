//! What the unit tests of both providers share.

use std::net::TcpListener;

use wiremock::MockServer;

/// `reqwest::Client::new()` panics here: the crate enables reqwest's `rustls-no-provider`
/// and installs no process-wide provider, so tests use the runtime's own builder.
pub(crate) fn http() -> reqwest::Client {
    auditkit_runtime::http_client_builder()
        .unwrap()
        .build()
        .unwrap()
}

/// A mock server on an ephemeral loopback port.
pub(crate) async fn server() -> MockServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    MockServer::builder().listener(listener).start().await
}
