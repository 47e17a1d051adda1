//! Scenarios that change something process-wide (the umask) run in a child process: this test binary again, with `scenario` switched on by
//! environment variables, so the other tests in this process are not affected. Each child
//! asserts on its own and prints `SCENARIO OK` at the end.

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
