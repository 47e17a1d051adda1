//! What the unit tests of both providers share.

use std::net::TcpListener;

use wiremock::MockServer;

/// The runtime's client (`reqwest::Client::new()` would panic: no process-wide TLS
/// provider is installed).
pub(crate) fn http() -> auditkit_runtime::HttpClient {
    auditkit_runtime::HttpClient::new().unwrap()
}

/// A mock server on an ephemeral loopback port.
pub(crate) async fn server() -> MockServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    MockServer::builder().listener(listener).start().await
}
