//! Scenarios that change something process-wide (the umask, a file-size limit, a signal's
//! handler) run in a child process: this test binary again, with `scenario` switched on by
//! environment variables, so the other tests in this process are not affected. Each child
//! asserts on its own and prints `SCENARIO OK` at the end.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::signal::unix::{SignalKind, signal};

use super::*;

const SCENARIO: &str = "AUDITKIT_SHIP_SCENARIO";
const SCENARIO_DIR: &str = "AUDITKIT_SHIP_SCENARIO_DIR";

/// Not a test of its own: the body of a child process. Without the environment variables it
/// does nothing.
#[test]
fn scenario() {
    let Ok(name) = std::env::var(SCENARIO) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(SCENARIO_DIR).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match name.as_str() {
        "disk-full" => runtime.block_on(disk_full(&dir)),
        "umask" => runtime.block_on(permissive_umask(&dir)),
        other => panic!("no scenario {other}"),
    }
    println!("SCENARIO OK");
}

/// Runs `name` in a child process and checks that it passed.
fn run_scenario(name: &str, dir: &TempDir) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "children::scenario",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO, name)
        .env(SCENARIO_DIR, &dir.0)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("SCENARIO OK"),
        "scenario {name} failed ({:?}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn a_new_spool_and_the_files_beside_it_are_owner_only_whatever_the_umask() {
    run_scenario("umask", &TempDir::new("umask"));
}

async fn permissive_umask(dir: &Path) {
    rustix::process::umask(rustix::fs::Mode::empty());
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let spool = dir.join("spool.db");
    let shipper = shipper(&server, &spool).await;
    shipper.send_all((0..5).map(event)).await.unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!(stats.delivered, 5);
    let modes = || {
        let mut modes: Vec<(String, u32)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let mode = std::os::unix::fs::PermissionsExt::mode(
                    &entry.metadata().unwrap().permissions(),
                );
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    mode & 0o777,
                )
            })
            .collect();
        modes.sort();
        modes
    };
    // Open, in write-ahead-log mode: the database and its log.
    let open = modes();
    assert!(
        open.iter().any(|(name, _)| name == "spool.db-wal"),
        "{open:?}"
    );
    for (name, mode) in &open {
        assert_eq!(*mode, 0o600, "{name} while open: {open:?}");
    }
    shipper.shutdown(deadline(5)).await.unwrap();
    for (name, mode) in modes() {
        assert_eq!(mode, 0o600, "{name} after close");
    }
}

#[test]
fn when_the_spool_cannot_record_nothing_accepted_is_sent_again_and_delivery_resumes() {
    run_scenario("disk-full", &TempDir::new("disk-full"));
}

/// A real SQLite write failure: a file-size limit of 0 bytes makes every write to the spool
/// fail with EFBIG (SIGXFSZ is caught so it does not kill the process), and lifting it lets
/// them work again.
async fn disk_full(dir: &Path) {
    let mut xfsz = signal(SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw())).unwrap();
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let shipper = Shipper::builder(graph(&server), dir.join("spool.db"))
        .concurrency(5)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(20))
        .jitter_seed(SEED)
        .start_paused(true)
        .open()
        .await
        .unwrap();
    shipper.send_all((0..8).map(event)).await.unwrap();

    let unlimited = getrlimit(Resource::Fsize);
    setrlimit(
        Resource::Fsize,
        Rlimit {
            current: Some(0),
            maximum: unlimited.maximum,
        },
    )
    .unwrap();
    shipper.resume();
    // The first five are accepted by the service; their removal cannot be recorded. Wait for
    // several rounds of trying again.
    eventually(async || {
        let stats = shipper.stats().await.unwrap();
        (stats.record_failures >= 5 * 5).then_some(())
    })
    .await;
    tokio::time::timeout(Duration::from_secs(5), xfsz.recv())
        .await
        .expect("the writes failed on the file-size limit");
    let mut sent = recorder.accepted();
    sent.sort();
    let first_five: Vec<String> = (0..5)
        .map(|n| event(n).correlation_id.unwrap().to_string())
        .collect();
    assert_eq!(
        sent, first_five,
        "each of the five reached the api once; no other delivery started"
    );
    let stats = shipper.stats().await.unwrap();
    assert_eq!(stats.unrecorded, 5, "{stats:?}");
    assert_eq!((stats.delivered, stats.spooled), (0, 8), "{stats:?}");
    // A producer learns at once that nothing is recorded now.
    let refused = shipper.send(event(100)).await.unwrap_err();
    assert!(matches!(refused, ShipError::Database(_)), "{refused:?}");

    setrlimit(Resource::Fsize, unlimited).unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 8), "{stats:?}");
    assert_eq!(stats.unrecorded, 0);
    let sent = recorder.accepted();
    let distinct: HashSet<&String> = sent.iter().collect();
    assert_eq!(
        (sent.len(), distinct.len()),
        (8, 8),
        "every event delivered exactly once: {sent:?}"
    );
    shipper.shutdown(deadline(5)).await.unwrap();
}
