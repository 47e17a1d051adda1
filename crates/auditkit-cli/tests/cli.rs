//! The `auditkit` binary as a user runs it: against an emulator on loopback, checking stdout,
//! the one-line errors and the exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use auditkit_emulator::{Emulator, EmulatorConfig};

fn auditkit() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditkit"));
    for name in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_AUTHORITY_HOST",
    ] {
        command.env_remove(name);
    }
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command on a blocking thread so the emulator in this process keeps serving.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn against(emulator: &Emulator, args: &[&str]) -> Command {
    let credentials = emulator.credentials();
    let mut command = auditkit();
    command
        .args(args)
        .args([
            "--base-url",
            emulator.graph_url().as_str(),
            "--authority-host",
            emulator.url().as_str(),
        ])
        .env("AZURE_TENANT_ID", &credentials.tenant)
        .env("AZURE_CLIENT_ID", &credentials.graph_client_id)
        .env("AZURE_CLIENT_SECRET", &credentials.graph_client_secret);
    command
}

#[test]
fn help_explains_the_commands_and_the_exit_codes() {
    let output = auditkit().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = text(&output.stdout);
    for expected in [
        "quickstart",
        "emulator",
        "graph",
        "adobe",
        "AZURE_CLIENT_SECRET",
        "Exit codes: 0 success",
    ] {
        assert!(
            help.contains(expected),
            "{expected} missing from --help:\n{help}"
        );
    }
    let output = auditkit()
        .args(["graph", "list", "--help"])
        .output()
        .unwrap();
    assert!(text(&output.stdout).contains("--filter"));
}

#[test]
fn quickstart_runs_the_whole_job_and_reports_it() {
    let output = auditkit().arg("quickstart").output().unwrap();
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&output.stderr)
    );
    for expected in [
        "auditkit quickstart: the whole job against the built-in emulator at http://127.0.0.1:",
        "  ok  entra id token",
        "  ok  created 12 audit events in graph",
        "  ok  listed them back with $filter category eq 'Quickstart' and componentName eq 'quickstart-",
        "  ok  $count with the same filter: 12",
        "  ok  activity types of category Quickstart: Quickstart check",
        "  ok  adobe ims token (oauth server-to-server)",
        "  ok  posted 3 audit events to the adobe audit service",
        "quickstart passed in ",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_commands_against_the_emulator() {
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(30).rng_seed(3))
        .await
        .unwrap();

    let output = run(against(
        &emulator,
        &["graph", "list", "--all", "--output", "jsonl", "--top", "7"],
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30, "--all follows every page");
    let first_id = lines[0]["id"].as_str().unwrap().to_owned();

    let output = run(against(
        &emulator,
        &["graph", "get", &first_id, "--output", "json"],
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let got: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(got[0]["id"], first_id.as_str());

    let output = run(against(&emulator, &["graph", "count"])).await;
    assert_eq!(text(&output.stdout).trim(), "30");

    let output = run(against(&emulator, &["graph", "categories"])).await;
    assert!(output.status.success());
    let category = text(&output.stdout).lines().next().unwrap().to_owned();

    let output = run(against(&emulator, &["graph", "activity-types", &category])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!text(&output.stdout).trim().is_empty());

    let output = run(against(
        &emulator,
        &[
            "graph",
            "list",
            "--category",
            &category,
            "--output",
            "jsonl",
        ],
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    for line in text(&output.stdout).lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["category"], category.as_str());
    }

    let file = std::env::temp_dir().join(format!("auditkit-cli-{}.jsonl", std::process::id()));
    std::fs::write(&file, "{\"displayName\": \"from the cli\", \"category\": \"Cli\"}\n{\"displayName\": \"second\", \"category\": \"Cli\"}\n").unwrap();
    let output = run(against(
        &emulator,
        &[
            "graph",
            "create",
            "--file",
            file.to_str().unwrap(),
            "--output",
            "jsonl",
        ],
    ))
    .await;
    std::fs::remove_file(&file).unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).lines().count(), 2);

    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_one_line_with_the_request_id_and_a_documented_exit_code() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();

    let output = run(against(&emulator, &["graph", "get", "no-such-event"])).await;
    assert_eq!(output.status.code(), Some(4), "not found");
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: service answered 404 itemNotFound"),
        "{stderr}"
    );
    assert!(stderr.contains("request id "), "{stderr}");

    let mut wrong_secret = against(&emulator, &["graph", "count"]);
    wrong_secret.env("AZURE_CLIENT_SECRET", "not-the-secret");
    let output = run(wrong_secret).await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "authentication failed: {}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stderr).contains("AADSTS"),
        "{}",
        text(&output.stderr)
    );
    assert!(!text(&output.stderr).contains("not-the-secret"));

    let output = run(against(
        &emulator,
        &["graph", "list", "--since", "yesterday"],
    ))
    .await;
    assert_eq!(output.status.code(), Some(8), "bad input");

    let mut no_credentials = auditkit();
    no_credentials.args(["graph", "count"]);
    let output = run(no_credentials).await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "missing credentials are an auth failure"
    );
    assert!(
        text(&output.stderr).contains("AZURE_TENANT_ID"),
        "{}",
        text(&output.stderr)
    );

    let mut bogus = auditkit();
    bogus.args(["graph", "list", "--bogus"]);
    let output = run(bogus).await;
    assert_eq!(output.status.code(), Some(2), "usage error");

    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn adobe_post_reads_a_file_and_prints_the_ids() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let credentials = emulator.credentials().clone();
    let event = serde_json::json!({
        "action": "create", "imsOrgId": credentials.adobe_org_id, "resource": {"resourceId": "r"},
        "service": {"serviceId": "s"}, "source": "cli", "timestamp": "2025-03-24T15:14:04Z", "userIdentifier": "u"
    });
    let file = std::env::temp_dir().join(format!("auditkit-cli-adobe-{}.json", std::process::id()));
    std::fs::write(
        &file,
        serde_json::to_string(&vec![event.clone(), event]).unwrap(),
    )
    .unwrap();
    let mut command = auditkit();
    command
        .args([
            "adobe",
            "post",
            "--file",
            file.to_str().unwrap(),
            "--base-url",
            emulator.url().as_str(),
            "--ims-host",
            emulator.url().as_str(),
        ])
        .args([
            "--client-id",
            &credentials.adobe_client_id,
            "--client-secret",
            &credentials.adobe_client_secret,
            "--scopes",
            "openid",
        ]);
    let output = run(command).await;
    std::fs::remove_file(&file).unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).lines().count(), 2);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_subcommand_serves_on_the_port_it_prints() {
    use std::io::BufRead;
    let mut child = auditkit()
        .args(["emulator", "--port", "0", "--seed", "5"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("auditkit emulator listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let printed: Vec<String> = lines.by_ref().take(7).map(Result::unwrap).collect();
    assert!(
        printed
            .iter()
            .any(|l| l.contains("graph client") && l.contains("secret")),
        "{printed:?}"
    );

    let defaults = auditkit_emulator::EmulatorCredentials::default();
    let mut count = auditkit();
    count
        .args([
            "graph",
            "count",
            "--base-url",
            &format!("{url}v1.0"),
            "--authority-host",
            &url,
        ])
        .args([
            "--tenant",
            &defaults.tenant,
            "--client-id",
            &defaults.graph_client_id,
            "--client-secret",
            &defaults.graph_client_secret,
        ]);
    let output = run(count).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), "5");
}
