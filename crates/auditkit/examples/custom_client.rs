//! A reqwest client of your own settings (timeouts, pool, proxy, extra roots) under
//! auditkit's TLS and redirect rules: start from `http_client_builder`, then wrap the builder
//! with `HttpClient::from_builder`, which sets the redirect policy last.
//!
//! `cargo run -p auditkit --example custom_client`

// An example shows its results on standard output.
#![allow(clippy::print_stdout)]

mod common;

use std::time::Duration;

use auditkit::HttpClient;

#[tokio::main]
async fn main() -> Result<(), common::Failure> {
    let services = common::Services::start().await?;
    let builder = auditkit::http_client_builder()?
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4)
        // A proxy from the environment (HTTPS_PROXY) is used unless told otherwise.
        .no_proxy();
    let http = HttpClient::from_builder(builder)?;

    // The same client for the credential's token requests and for the API calls.
    let graph = common::graph_client(services.graph_emulator(), Some(http))?;
    let count = graph.audit_events().count(None).await?;
    println!("{count} events, through the custom client");
    services.finish().await;
    Ok(())
}
