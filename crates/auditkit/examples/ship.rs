//! Durable shipping: each event is committed to a local SQLite spool before `send` returns,
//! and workers deliver it; what a killed process left is delivered by the next one.
//!
//! `cargo run -p auditkit --example ship`

// An example shows its results on standard output.
#![allow(clippy::print_stdout)]

mod common;

use std::time::{Duration, Instant};

use auditkit::graph::AuditEvent;
use auditkit_ship::Shipper;

#[tokio::main]
async fn main() -> Result<(), common::Failure> {
    let services = common::Services::start().await?;
    let dir = std::env::temp_dir().join(format!("auditkit-ship-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let shipper = Shipper::builder(services.graph.clone(), dir.join("audit.spool"))
        .open()
        .await?;
    for n in 1..=20 {
        // Durable once it returns: a crash from here on loses nothing.
        shipper
            .send(AuditEvent {
                display_name: Some(format!("shipped example event {n}")),
                category: Some("Example".into()),
                ..AuditEvent::default()
            })
            .await?;
    }
    let stats = shipper
        .shutdown(Instant::now() + Duration::from_secs(30))
        .await?;
    println!("{stats:?}");
    std::fs::remove_dir_all(&dir)?;
    services.finish().await;
    Ok(())
}
