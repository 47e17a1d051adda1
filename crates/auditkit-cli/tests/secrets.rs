//! How the `auditkit` binary takes a client secret: from a file or standard input without a
//! word, from `--client-secret` with a warning that it shows in process listings, from the
//! environment as before, and never quoted in a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Output};

use auditkit_emulator::{Emulator, EmulatorConfig};
use support::{Scratch, auditkit, run, run_with_stdin, text};

/// `graph count` against the emulator with tenant and client id as flags and `secret_args`.
fn count(emulator: &Emulator, secret_args: &[&str]) -> Command {
    let credentials = emulator.credentials();
    let mut command = auditkit();
    command
        .args(["graph", "count"])
        .args([
            "--base-url",
            emulator.graph_url().as_str(),
            "--authority-host",
            emulator.url().as_str(),
            "--tenant",
            &credentials.tenant,
            "--client-id",
            &credentials.graph_client_id,
        ])
        .args(secret_args);
    command
}

/// `adobe post --file FILE` against the emulator with `secret_args`.
fn post(emulator: &Emulator, file: &str, secret_args: &[&str]) -> Command {
    let credentials = emulator.credentials();
    let mut command = auditkit();
    command
        .args(["adobe", "post", "--file", file])
        .args([
            "--base-url",
            emulator.url().as_str(),
            "--ims-host",
            emulator.url().as_str(),
            "--client-id",
            &credentials.adobe_client_id,
            "--scopes",
            "openid",
        ])
        .args(secret_args);
    command
}

fn adobe_event(emulator: &Emulator) -> String {
    serde_json::json!({
        "action": "create", "imsOrgId": emulator.credentials().adobe_org_id,
        "resource": {"resourceId": "r"}, "service": {"serviceId": "s"}, "source": "cli",
        "timestamp": "2025-03-24T15:14:04Z", "userIdentifier": "u"
    })
    .to_string()
}

fn succeeded_quietly(output: &Output) {
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "", "no warning");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_from_a_file_or_standard_input_authenticates_without_a_warning() {
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(3))
        .await
        .unwrap();
    let credentials = emulator.credentials().clone();
    let scratch = Scratch::new("secret-file");

    for ending in ["", "\n", "\r\n"] {
        let file = scratch.path("graph.secret");
        std::fs::write(
            &file,
            format!("{}{ending}", credentials.graph_client_secret),
        )
        .unwrap();
        let output = run(count(&emulator, &["--client-secret-file", &file])).await;
        succeeded_quietly(&output);
        assert_eq!(text(&output.stdout), "3\n", "ending {ending:?}");
    }

    let output = run_with_stdin(
        count(&emulator, &["--client-secret-file", "-"]),
        format!("{}\n", credentials.graph_client_secret).as_bytes(),
    )
    .await;
    succeeded_quietly(&output);
    assert_eq!(text(&output.stdout), "3\n");

    let events = scratch.path("event.json");
    std::fs::write(&events, adobe_event(&emulator)).unwrap();
    let output = run_with_stdin(
        post(&emulator, &events, &["--client-secret-file", "-"]),
        format!("{}\n", credentials.adobe_client_secret).as_bytes(),
    )
    .await;
    succeeded_quietly(&output);
    assert_eq!(text(&output.stdout).lines().count(), 1);

    let lines = scratch.path("ship.jsonl");
    std::fs::write(&lines, adobe_event(&emulator) + "\n").unwrap();
    let secret_file = scratch.path("adobe.secret");
    std::fs::write(
        &secret_file,
        format!("{}\n", credentials.adobe_client_secret),
    )
    .unwrap();
    let mut ship = auditkit();
    ship.args(["ship", "--to", "adobe", &lines]).args([
        "--base-url",
        emulator.url().as_str(),
        "--ims-host",
        emulator.url().as_str(),
        "--client-id",
        &credentials.adobe_client_id,
        "--scopes",
        "openid",
        "--client-secret-file",
        &secret_file,
    ]);
    let output = run(ship).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(emulator.stats().adobe_events_stored, 2);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_on_the_command_line_still_works_and_warns_loudly() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let credentials = emulator.credentials().clone();
    let output = run(count(
        &emulator,
        &["--client-secret", &credentials.graph_client_secret],
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("warning: --client-secret shows the secret to every user of this machine in process listings (ps)")
            && stderr.contains("--client-secret-file")
            && stderr.contains("AZURE_CLIENT_SECRET"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&credentials.graph_client_secret),
        "{stderr}"
    );

    let scratch = Scratch::new("secret-flag");
    let events = scratch.path("event.json");
    std::fs::write(&events, adobe_event(&emulator)).unwrap();
    let output = run(post(
        &emulator,
        &events,
        &["--client-secret", &credentials.adobe_client_secret],
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("ADOBE_CLIENT_SECRET"),
        "{}",
        text(&output.stderr)
    );

    let output = run(count(&emulator, &["--client-secret", ""])).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("--client-secret is empty"));
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_secret_file_is_refused_and_no_secret_is_ever_quoted() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let credentials = emulator.credentials().clone();
    let scratch = Scratch::new("secret-bad");
    let refused = |output: &Output, code: i32, says: &str, secret: &str| {
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{says:?} missing from {stderr}");
        assert!(!stderr.contains(secret), "the secret is quoted: {stderr}");
    };

    for (name, bytes, says) in [
        ("empty", &b""[..], "is empty"),
        ("newline", b"\n", "is empty"),
        ("blank", b" \t\n", "is empty"),
        ("binary", b"\xfeNOT-PRINTED-7f3a\n", "is not UTF-8 text"),
    ] {
        let file = scratch.path(name);
        std::fs::write(&file, bytes).unwrap();
        let output = run(count(&emulator, &["--client-secret-file", &file])).await;
        refused(&output, 8, says, "NOT-PRINTED-7f3a");
        assert!(
            text(&output.stderr).contains(name),
            "the file is named: {}",
            text(&output.stderr)
        );
    }
    let output = run_with_stdin(count(&emulator, &["--client-secret-file", "-"]), b"\n").await;
    refused(
        &output,
        8,
        "the client secret in standard input is empty",
        "NOT-PRINTED",
    );

    let missing = scratch.path("missing.secret");
    let output = run(count(&emulator, &["--client-secret-file", &missing])).await;
    refused(
        &output,
        8,
        "cannot read the client secret from ",
        &credentials.graph_client_secret,
    );

    // Only one newline is dropped: the second is part of the (now wrong) secret.
    let file = scratch.path("two-newlines");
    std::fs::write(&file, format!("{}\n\n", credentials.graph_client_secret)).unwrap();
    let output = run(count(&emulator, &["--client-secret-file", &file])).await;
    refused(&output, 3, "AADSTS", &credentials.graph_client_secret);

    let file = scratch.path("wrong");
    std::fs::write(&file, "WRONG-SECRET-91c2\n").unwrap();
    let output = run(count(&emulator, &["--client-secret-file", &file])).await;
    refused(&output, 3, "AADSTS", "WRONG-SECRET-91c2");

    let output = run(count(
        &emulator,
        &[
            "--client-secret",
            "FLAG-SECRET-5d1e",
            "--client-secret-file",
            &file,
        ],
    ))
    .await;
    assert_eq!(output.status.code(), Some(2), "one secret, one way");
    assert!(!text(&output.stderr).contains("FLAG-SECRET-5d1e"));
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn standard_input_holds_either_the_secret_or_the_events() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let credentials = emulator.credentials().clone();
    let mut stdin_post = auditkit();
    stdin_post.args([
        "adobe",
        "post",
        "--stdin",
        "--client-secret-file",
        "-",
        "--client-id",
        &credentials.adobe_client_id,
        "--base-url",
        emulator.url().as_str(),
        "--ims-host",
        emulator.url().as_str(),
    ]);
    let mut create = auditkit();
    create.args([
        "graph",
        "create",
        "--file",
        "/dev/stdin",
        "--client-secret-file",
        "-",
        "--tenant",
        &credentials.tenant,
        "--client-id",
        &credentials.graph_client_id,
        "--base-url",
        emulator.graph_url().as_str(),
        "--authority-host",
        emulator.url().as_str(),
    ]);
    let mut ship = auditkit();
    ship.args([
        "ship",
        "--to",
        "graph",
        "/dev/stdin",
        "--spool",
        "/nonexistent/never.spool",
        "--client-secret-file",
        "-",
    ]);
    for (command, option) in [(stdin_post, "--stdin"), (create, "--file"), (ship, "FILE")] {
        let output = run_with_stdin(command, b"{}\n").await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "--client-secret-file - and {option} both read standard input"
            )),
            "{stderr}"
        );
    }
    assert_eq!(emulator.stats().events_stored, 0);
    assert_eq!(emulator.stats().adobe_events_stored, 0);
    emulator.shutdown().await;
}

#[test]
fn help_offers_the_secret_file_and_warns_about_the_flag() {
    for args in [
        &["graph", "list", "--help"][..],
        &["adobe", "post", "--help"],
        &["ship", "--help"],
    ] {
        let output = auditkit().args(args).output().unwrap();
        let help = text(&output.stdout);
        assert!(
            help.contains("--client-secret-file <PATH>")
                && help.contains("standard input")
                && help.contains("process listings"),
            "{args:?}:\n{help}"
        );
    }
    let help = text(&auditkit().arg("--help").output().unwrap().stdout);
    assert!(help.contains("--client-secret-file -"), "{help}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_setting_comes_from_its_flag_or_else_from_its_variable() {
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(2))
        .await
        .unwrap();
    let credentials = emulator.credentials().clone();
    let scratch = Scratch::new("secret-and-vars");
    let file = scratch.path("graph.secret");
    std::fs::write(&file, &credentials.graph_client_secret).unwrap();

    // The secret from a file, tenant and client id from Microsoft's variables.
    let mut command = auditkit();
    command
        .args(["graph", "count", "--client-secret-file", &file])
        .args(["--base-url", emulator.graph_url().as_str()])
        .args(["--authority-host", emulator.url().as_str()])
        .env("AZURE_TENANT_ID", &credentials.tenant)
        .env("AZURE_CLIENT_ID", &credentials.graph_client_id);
    let output = run(command).await;
    succeeded_quietly(&output);
    assert_eq!(text(&output.stdout).trim(), "2");

    // The secret from the variable, tenant and client id as flags.
    let mut command = count(&emulator, &[]);
    command.env("AZURE_CLIENT_SECRET", &credentials.graph_client_secret);
    let output = run(command).await;
    succeeded_quietly(&output);

    // What is missing is named.
    let output = run(count(&emulator, &[])).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("AZURE_CLIENT_SECRET"),
        "{}",
        text(&output.stderr)
    );
}
