//! `auditkit ship` when its spool cannot be written: the run must say so and fail, not print
//! a success. The failure is real: the command runs under a file-size limit of 0 bytes (`sh`'s
//! `ulimit -f 0`, with SIGXFSZ ignored so that SQLite's writes fail with EFBIG rather than the
//! signal killing the process).

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use auditkit_emulator::{Emulator, EmulatorConfig};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command on a blocking thread so the emulator in this process keeps serving.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// `auditkit ship` against the emulator's Graph, with `secret` as the client secret, under a
/// file-size limit of `blocks` (512 bytes each) when given.
fn ship(emulator: &Emulator, file: &str, secret: &str, limit: Option<u32>) -> Command {
    ship_to(
        emulator,
        emulator.graph_url().as_str(),
        file,
        secret,
        limit,
        1,
    )
}

/// [`ship`] with the API at `api` (the emulator still issues the tokens).
fn ship_to(
    emulator: &Emulator,
    api: &str,
    file: &str,
    secret: &str,
    limit: Option<u32>,
    timeout_s: u32,
) -> Command {
    let credentials = emulator.credentials();
    let mut command = Command::new("sh");
    let limit = limit.map_or_else(String::new, |blocks| format!("ulimit -f {blocks}; "));
    command
        .arg("-c")
        .arg(format!("trap '' XFSZ; {limit}exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_auditkit"))
        .args(["ship", "--to", "graph", file, "--output", "json"])
        .args(["--timeout", &timeout_s.to_string()])
        .args(["--base-url", api])
        .args(["--authority-host", emulator.url().as_str()])
        .env("AZURE_TENANT_ID", &credentials.tenant)
        .env("AZURE_CLIENT_ID", &credentials.graph_client_id)
        .env("AZURE_CLIENT_SECRET", secret)
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("AZURE_AUTHORITY_HOST");
    command
}

fn summary(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{err}: stdout {:?}, stderr {:?}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

fn line(n: usize) -> String {
    serde_json::json!({
        "displayName": format!("ship {n}"),
        "componentName": "DeviceConfiguration",
        "activity": "Patch DeviceConfiguration",
        "activityDateTime": "2025-03-24T15:14:04.123Z",
        "activityType": "Patch DeviceConfiguration",
        "activityOperationType": "Patch",
        "activityResult": "Success",
        "category": "DeviceConfiguration",
        "correlationId": format!("00000000-0000-4000-8000-{n:012}"),
        "actor": {"userPrincipalName": "admin@contoso.com"},
        "resources": [],
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn ship_fails_clearly_when_its_spool_cannot_record_deliveries() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("auditkit-cli-full-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.jsonl");
    let lines: Vec<String> = (0..5).map(line).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let file = file.to_str().unwrap().to_owned();
    let secret = emulator.credentials().graph_client_secret.clone();

    // First run: the credentials are refused, so the five events are spooled and stay there;
    // the run says why at once (exit 3) instead of waiting out its timeout.
    let output = run(ship(&emulator, &file, "wrong secret", None)).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("the last failure: entra id"), "{stderr}");
    assert_eq!(summary(&output)["still_spooled"], 5);
    assert_eq!(emulator.stats().events_stored, 0);

    // Second run, with nothing writable: every event reaches the service once, and the run
    // says it could not record that, instead of reporting success.
    let output = run(ship(&emulator, &file, &secret, Some(0))).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not record the outcome of 5 deliveries")
            && stderr.contains("the next run sends them again"),
        "{stderr}"
    );
    let report = summary(&output);
    assert_eq!(report["delivered"], 0, "{report}");
    assert_eq!(report["unrecorded"], 5, "{report}");
    assert_eq!(report["still_spooled"], 5, "{report}");
    assert!(report["record_failures"].as_u64().unwrap() >= 5, "{report}");
    assert_eq!(
        emulator.stats().events_stored,
        5,
        "each sent once, no storm"
    );

    // Third run, writable again: what was not recorded is sent again (at least once).
    let output = run(ship(&emulator, &file, &secret, None)).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(summary(&output)["delivered"], 5);
    assert_eq!(emulator.stats().events_stored, 10);
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn ship_says_the_service_is_unreachable_with_exit_7() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("auditkit-cli-down-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.jsonl");
    std::fs::write(&file, line(1) + "\n").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}/v1.0", closed.local_addr().unwrap());
    drop(closed);
    let secret = emulator.credentials().graph_client_secret.clone();
    // Long enough for the client's own retries of the connection (at most 3 s) to end.
    let command = ship_to(
        &emulator,
        &nowhere,
        file.to_str().unwrap(),
        &secret,
        None,
        5,
    );
    let output = run(command).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("the last failure: could not complete the request"),
        "{stderr}"
    );
    assert_eq!(summary(&output)["still_spooled"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}
