//! Shipper throughput: events per second delivered to the emulator, durable spool versus
//! posting the same events one by one with the facade (no spool) and versus a spool that
//! skips the per-commit fsync (`Durability::Normal`).
//!
//! ```text
//! cargo bench -p auditkit-ship --bench ship_throughput
//! SHIP_BENCH_EVENTS=20000 cargo bench -p auditkit-ship --bench ship_throughput
//! ```
//!
//! The server is the auditkit emulator on 127.0.0.1 in this process (in-memory store, no
//! faults), which checks the token, validates and stores every event and answers 201; its
//! work is included in every figure. The spool lives in cargo's target tmp
//! directory (a real disk, so `synchronous=FULL` pays real fsyncs). "end to end" is from the
//! first send until the spool is empty (`flush`); "spooled" is until the last `send`
//! returned, i.e. until every event was durable.
//!
//! Producers: "one producer" awaits each `send` before the next (one commit per event);
//! "concurrent" issues all sends at once so group commit shares fsyncs between them;
//! "send_all batches of 100" is one producer awaiting `send_all` of 100 events at a time
//! (one commit per 100 events).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use auditkit::GraphClient;
use auditkit::graph::AuditEvent;
use auditkit_emulator::{Emulator, EmulatorConfig};
use auditkit_ship::{Durability, Shipper};
use uuid::Uuid;

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        correlation_id: Some(Uuid::new_v4()),
        activity: Some(format!("Create DeviceConfiguration {n}")),
        activity_type: Some("Create DeviceConfiguration".into()),
        activity_operation_type: Some("Create".into()),
        activity_result: Some("Success".into()),
        category: Some("DeviceConfiguration".into()),
        component_name: Some("DeviceConfiguration".into()),
        display_name: Some(format!("policy {n}")),
        ..AuditEvent::default()
    }
}

/// Where a run's spool lives: a real disk, or tmpfs, where fsync costs nothing (the
/// in-memory rate: every step of the durable path except the disk).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Medium {
    Disk,
    Tmpfs,
}

fn spool_path(name: &str, medium: Medium) -> PathBuf {
    let dir = match medium {
        Medium::Disk => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ship_throughput"),
        Medium::Tmpfs => PathBuf::from("/dev/shm/auditkit-ship-throughput"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

/// How the producer hands events to the shipper.
#[derive(Clone, Copy)]
enum Producer {
    /// One producer awaiting each `send`.
    OneByOne,
    /// All sends issued at once.
    Concurrent,
    /// One producer awaiting `send_all` of this many events at a time.
    Batches(u64),
}

async fn shipped(
    client: &GraphClient,
    name: &str,
    durability: Durability,
    producer: Producer,
    medium: Medium,
    events: u64,
) -> (f64, f64) {
    let path = spool_path(name, medium);
    let shipper = Shipper::builder(client.clone(), &path)
        .durability(durability)
        .open()
        .await
        .unwrap();
    let start = Instant::now();
    match producer {
        Producer::Concurrent => {
            futures::future::try_join_all((0..events).map(|n| shipper.send(event(n))))
                .await
                .unwrap();
        }
        Producer::OneByOne => {
            for n in 0..events {
                shipper.send(event(n)).await.unwrap();
            }
        }
        Producer::Batches(size) => {
            let mut next = 0;
            while next < events {
                let end = (next + size).min(events);
                shipper.send_all((next..end).map(event)).await.unwrap();
                next = end;
            }
        }
    }
    let spooled = start.elapsed();
    let stats = shipper
        .flush(Instant::now() + Duration::from_secs(600))
        .await
        .unwrap();
    let total = start.elapsed();
    assert_eq!(stats.spooled, 0, "{stats:?}");
    assert_eq!(stats.delivered, events);
    shipper
        .shutdown(Instant::now() + Duration::from_secs(10))
        .await
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    (rate(events, spooled), rate(events, total))
}

fn main() {
    let events: u64 = std::env::var("SHIP_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        // In-memory store, no faults: the emulator's own work (token check, validation,
        // storing) is in every figure, on both sides of each ratio.
        let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
        let client = auditkit_testing::emulator_graph(&emulator)
            .http_client(auditkit::HttpClient::new().unwrap())
            .build()
            .unwrap();
        // Warm up: token, connections.
        for n in 0..50 {
            client.audit_events().create(&event(n)).await.unwrap();
        }

        println!(
            "{events} events, {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        let start = Instant::now();
        for n in 0..events {
            client.audit_events().create(&event(n)).await.unwrap();
        }
        let direct = rate(events, start.elapsed());
        println!(
            "{:<56} {:>12.0} events/s",
            "(a) facade, one by one, no spool", direct
        );

        let runs = [
            (
                "durable (FULL), one producer",
                "full-seq",
                Durability::Full,
                Producer::OneByOne,
                Medium::Disk,
            ),
            (
                "durable (FULL), one producer, send_all batches of 100",
                "full-batch",
                Durability::Full,
                Producer::Batches(100),
                Medium::Disk,
            ),
            (
                "durable (FULL), concurrent producers",
                "full-conc",
                Durability::Full,
                Producer::Concurrent,
                Medium::Disk,
            ),
            (
                "Durability::Normal, one producer",
                "normal-seq",
                Durability::Normal,
                Producer::OneByOne,
                Medium::Disk,
            ),
            (
                "Durability::Normal, concurrent producers",
                "normal-conc",
                Durability::Normal,
                Producer::Concurrent,
                Medium::Disk,
            ),
            (
                "(b) in memory (spool on tmpfs), one producer",
                "mem-seq",
                Durability::Full,
                Producer::OneByOne,
                Medium::Tmpfs,
            ),
            (
                "(b) in memory (spool on tmpfs), concurrent producers",
                "mem-conc",
                Durability::Full,
                Producer::Concurrent,
                Medium::Tmpfs,
            ),
        ];
        println!(
            "{:<56} {:>12} {:>14}  {:>8}",
            "shipper", "spooled/s", "end to end/s", "vs (a)"
        );
        for (label, name, durability, producer, medium) in runs {
            if medium == Medium::Tmpfs && !std::path::Path::new("/dev/shm").is_dir() {
                println!("{label:<56} skipped: no /dev/shm");
                continue;
            }
            let (spooled, end_to_end) =
                shipped(&client, name, durability, producer, medium, events).await;
            println!(
                "{label:<56} {spooled:>12.0} {end_to_end:>14.0}  {:>7.2}x",
                end_to_end / direct
            );
        }
    });
}
