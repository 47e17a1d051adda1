//! The `auditkit` binary as a user runs it: against an emulator on loopback, checking stdout,
//! the one-line errors and the exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Output;

use auditkit_emulator::{Emulator, EmulatorConfig};
use support::{Scratch, against, assert_terminal_safe, auditkit, run, text};

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
        "ship",
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
async fn json_output_is_one_array_of_every_event_across_pages() {
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(45).rng_seed(11))
        .await
        .unwrap();
    let list = |format: &str, extra: &[&str]| {
        let mut args = vec!["graph", "list", "--all", "--top", "7", "--output", format];
        args.extend_from_slice(extra);
        against(&emulator, &args)
    };

    let output = run(list("json", &[])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let array: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", text(&output.stdout)));
    let output = run(list("jsonl", &[])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(array.len(), 45, "seven pages, every event");
    assert_eq!(
        array, lines,
        "the same events in the same order as JSON Lines"
    );
    let ids: std::collections::HashSet<&str> =
        array.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 45, "no event twice");

    for all in [&["--all"][..], &[]] {
        let mut args = vec![
            "graph",
            "list",
            "--category",
            "NoSuchCategory",
            "--output",
            "json",
        ];
        args.extend_from_slice(all);
        let output = run(against(&emulator, &args)).await;
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "[]\n", "an empty listing {all:?}");
    }

    let output = run(against(
        &emulator,
        &["graph", "categories", "--output", "json"],
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let categories: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(categories.len() >= 6, "{categories:?}");
    emulator.shutdown().await;
}

/// Event fields as an attacker (or a broken service) could store them.
const HOSTILE_CATEGORY: &str = "Hostile\u{1b}]0;owned\u{7}";
const HOSTILE_ACTIVITY: &str = "\u{1b}[2J\u{202e}gnp.exe";
const HOSTILE_TYPE: &str = "\u{9b}31mred\u{2066}";

#[tokio::test(flavor = "multi_thread")]
async fn service_strings_reach_the_terminal_cleaned_and_json_exact() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let scratch = Scratch::new("hostile");
    let file = scratch.path("hostile.json");
    let hostile = serde_json::json!({
        "displayName": "hostile",
        "category": HOSTILE_CATEGORY,
        "activity": HOSTILE_ACTIVITY,
        "activityType": HOSTILE_TYPE,
        "activityResult": "Ok\u{7f}\r",
    });
    std::fs::write(&file, hostile.to_string()).unwrap();
    let output = run(against(
        &emulator,
        &["graph", "create", "--file", &file, "--output", "jsonl"],
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_terminal_safe(&text(&output.stdout));
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for field in ["category", "activity", "activityType", "activityResult"] {
        assert_eq!(
            created[field], hostile[field],
            "JSON Lines keep {field} exact"
        );
    }

    let output = run(against(&emulator, &["graph", "list"])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let table = text(&output.stdout);
    assert_terminal_safe(&table);
    assert!(
        table.contains("Hostile\u{FFFD}]0;owned\u{FFFD}")
            && table.contains("\u{FFFD}[2J\u{FFFD}gnp.exe")
            && table.contains("Ok\u{FFFD}\u{FFFD}"),
        "what was taken out is marked: {table}"
    );

    let output = run(against(&emulator, &["graph", "categories"])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_terminal_safe(&text(&output.stdout));
    assert_eq!(text(&output.stdout), "Hostile\u{FFFD}]0;owned\u{FFFD}\n");

    let output = run(against(
        &emulator,
        &["graph", "activity-types", HOSTILE_CATEGORY],
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "\u{FFFD}31mred\u{FFFD}\n");

    for format in ["json", "jsonl"] {
        let output = run(against(
            &emulator,
            &[
                "graph",
                "activity-types",
                HOSTILE_CATEGORY,
                "--output",
                format,
            ],
        ))
        .await;
        assert_terminal_safe(&text(&output.stdout));
        let values: Vec<String> = text(&output.stdout)
            .lines()
            .flat_map(|line| match serde_json::from_str(line).unwrap() {
                serde_json::Value::Array(values) => values,
                value => vec![value],
            })
            .map(|value| value.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(values, [HOSTILE_TYPE], "--output {format} is exact");
    }
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

fn graph_line(n: usize) -> String {
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

fn ship_summary(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{err}: stdout {:?}, stderr {:?}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

/// The correlation ids of every event stored at the emulator, duplicates included.
async fn stored_correlation_ids(emulator: &Emulator) -> Vec<String> {
    let output = run(against(
        emulator,
        &[
            "graph", "list", "--all", "--output", "jsonl", "--top", "999",
        ],
    ))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            event["correlationId"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ship_delivers_a_file_and_a_rerun_ships_only_the_lines_appended_since() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let scratch = Scratch::new("ship");
    let file = scratch.path("events.jsonl");
    let mut lines: Vec<String> = (0..250).map(graph_line).collect();
    lines.insert(100, String::new());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let ship = |extra: &[&str]| {
        let mut args = vec!["ship", "--to", "graph", file.as_str(), "--output", "json"];
        args.extend_from_slice(extra);
        against(&emulator, &args)
    };

    let output = run(ship(&["--batch", "64"])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary = ship_summary(&output);
    assert_eq!(summary["first_line"], 1);
    assert_eq!(
        summary["lines_read"], 251,
        "blank lines are read and skipped"
    );
    assert_eq!(summary["events_spooled"], 250);
    assert_eq!(summary["delivered"], 250);
    assert_eq!(summary["still_spooled"], 0);
    assert_eq!(
        summary["spool"].as_str().unwrap(),
        std::fs::canonicalize(&file)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
            + ".spool",
        "the spool sits next to the file by default"
    );

    let output = run(ship(&[])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary = ship_summary(&output);
    assert_eq!(
        (&summary["first_line"], &summary["events_spooled"]),
        (&serde_json::json!(252), &serde_json::json!(0)),
        "a finished file is not shipped twice"
    );

    let mut appended = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    for n in 250..260 {
        use std::io::Write;
        writeln!(appended, "{}", graph_line(n)).unwrap();
    }
    drop(appended);
    let output = run(ship(&[])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary = ship_summary(&output);
    assert_eq!(summary["first_line"], 252);
    assert_eq!(summary["events_spooled"], 10);

    let mut ids = stored_correlation_ids(&emulator).await;
    ids.sort();
    let expected: Vec<String> = (0..260)
        .map(|n| format!("00000000-0000-4000-8000-{n:012}"))
        .collect();
    assert_eq!(ids, expected, "each line delivered exactly once");

    let output = run(ship(&["--restart"])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(ship_summary(&output)["events_spooled"], 260);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ship_stops_at_an_unreadable_line_and_resumes_there_once_it_is_fixed() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let scratch = Scratch::new("ship-bad-line");
    let file = scratch.path("events.jsonl");
    let mut lines: Vec<String> = (0..6).map(graph_line).collect();
    let fixed = std::mem::replace(&mut lines[3], "{\"displayName\": ".to_owned());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let output = run(against(&emulator, &["ship", "--to", "graph", &file])).await;
    assert_eq!(output.status.code(), Some(8), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("events.jsonl line 4: not an event") && stderr.contains("resume at line 4"),
        "{stderr}"
    );
    assert!(
        text(&output.stdout).contains("delivered 3, still spooled 0"),
        "the lines before it are delivered: {}",
        text(&output.stdout)
    );
    assert_eq!(emulator.stats().events_stored, 3);

    lines[3] = fixed;
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let output = run(against(&emulator, &["ship", "--to", "graph", &file])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("read 3 lines from line 4, spooled 3 events"),
        "{}",
        text(&output.stdout)
    );
    let mut ids = stored_correlation_ids(&emulator).await;
    ids.sort();
    assert_eq!(ids.len(), 6);
    ids.dedup();
    assert_eq!(ids.len(), 6, "no line was shipped twice");

    std::fs::write(&file, "").unwrap();
    let output = run(against(&emulator, &["ship", "--to", "graph", &file])).await;
    assert_eq!(output.status.code(), Some(8));
    assert!(
        text(&output.stderr).contains("--restart"),
        "a truncated file is named as such: {}",
        text(&output.stderr)
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_ship_resumes_where_it_stopped_and_loses_nothing() {
    use auditkit_emulator::{Fault, FaultConfig};
    const EVENTS: usize = 2_000;
    // Every request is slowed so the run is still going when it is killed.
    let emulator = Emulator::start(EmulatorConfig::new().faults(FaultConfig {
        rate: 1.0,
        kinds: vec!["delay:15ms".parse::<Fault>().unwrap()],
        intune_limits: false,
    }))
    .await
    .unwrap();
    let scratch = Scratch::new("ship-kill");
    let file = scratch.path("events.jsonl");
    let lines: Vec<String> = (0..EVENTS).map(graph_line).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let ship = || {
        against(
            &emulator,
            &[
                "ship",
                "--to",
                "graph",
                &file,
                "--batch",
                "50",
                "--capacity",
                "100",
                "--output",
                "json",
            ],
        )
    };

    let mut child = ship()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while emulator.stats().events_stored < 200 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the first run delivers nothing"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(!status.success(), "killed mid-run");
    let stored_at_kill = emulator.stats().events_stored;
    assert!(stored_at_kill < EVENTS as u64, "killed before the end");

    let output = run(ship()).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary = ship_summary(&output);
    let first_line = summary["first_line"].as_u64().unwrap();
    assert!(
        first_line > 1 && first_line < EVENTS as u64,
        "resumed mid-file, not restarted (the small spool held reading back): {summary}"
    );
    assert_eq!(
        summary["lines_read"].as_u64().unwrap() + first_line - 1,
        EVENTS as u64,
        "the rerun read exactly the lines the killed run had not spooled: {summary}"
    );

    let ids = stored_correlation_ids(&emulator).await;
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), EVENTS, "every line delivered");
    eprintln!(
        "killed after {stored_at_kill} deliveries; resumed at line {first_line}; {} duplicates (events in flight at the kill)",
        ids.len() - distinct.len()
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ship_keeps_refused_events_as_dead_letters_and_lists_them() {
    let emulator = Emulator::start(EmulatorConfig::new()).await.unwrap();
    let credentials = emulator.credentials().clone();
    let scratch = Scratch::new("ship-dead");
    let file = scratch.path("adobe.jsonl");
    let event = |action: &str| {
        serde_json::json!({
            "action": action, "imsOrgId": credentials.adobe_org_id, "resource": {"resourceId": "r"},
            "service": {"serviceId": "s"}, "source": "cli", "timestamp": "2025-03-24T15:14:04Z",
            "userIdentifier": "u"
        })
        .to_string()
    };
    std::fs::write(
        &file,
        [event("create"), event(" "), event("delete")].join("\n"),
    )
    .unwrap();
    let adobe = |args: &[&str]| {
        let mut command = auditkit();
        command.args(args).args([
            "--base-url",
            emulator.url().as_str(),
            "--ims-host",
            emulator.url().as_str(),
            "--client-id",
            &credentials.adobe_client_id,
            "--client-secret",
            &credentials.adobe_client_secret,
            "--scopes",
            "openid",
        ]);
        command
    };

    let output = run(adobe(&["ship", "--to", "adobe", &file])).await;
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("1 events were refused by the service"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(emulator.stats().adobe_events_stored, 2);

    let spool = format!("{}.spool", std::fs::canonicalize(&file).unwrap().display());
    let output = run(adobe(&[
        "ship",
        "--to",
        "adobe",
        "--spool",
        &spool,
        "--dead-letters",
    ]))
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let letters: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["status"], 400);
    assert_eq!(letters[0]["event"]["action"], " ");
    assert!(
        letters[0]["error_body"]
            .as_str()
            .unwrap()
            .contains("action must not be empty"),
        "{letters:?}"
    );

    let missing = scratch.path("typo.spool");
    let output = run(adobe(&[
        "ship",
        "--to",
        "adobe",
        "--spool",
        &missing,
        "--dead-letters",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(8));
    assert!(text(&output.stderr).contains("no spool at"));
    assert!(
        !std::path::Path::new(&missing).exists(),
        "no spool was created"
    );

    let output = run(against(
        &emulator,
        &["ship", "--to", "graph", "--spool", &spool, "--dead-letters"],
    ))
    .await;
    assert_eq!(output.status.code(), Some(8));
    assert!(
        text(&output.stderr).contains("is not an auditkit spool"),
        "an Adobe spool is not opened for Graph: {}",
        text(&output.stderr)
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_limit_ends_a_listing_with_exit_1_after_the_pages_it_allows() {
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(30).rng_seed(5))
        .await
        .unwrap();
    let args = [
        "graph",
        "list",
        "--all",
        "--top",
        "5",
        "--max-pages",
        "2",
        "--output",
        "jsonl",
    ];
    let output = run(against(&emulator, &args)).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the page limit of 2 was reached"),
        "{stderr}"
    );
    assert_eq!(
        text(&output.stdout).lines().count(),
        10,
        "two pages of five"
    );
    emulator.shutdown().await;
}

/// The ids of a JSON Lines export, in order, and the newest `activityDateTime` among them.
fn exported(out: &str) -> (Vec<String>, chrono::DateTime<chrono::Utc>) {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ids = events
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();
    let newest = events
        .iter()
        .map(|event| event["activityDateTime"].as_str().unwrap().parse().unwrap())
        .max()
        .unwrap_or_default();
    (ids, newest)
}

fn lines_in(path: &str) -> usize {
    std::fs::read(path).map_or(0, |bytes| bytes.iter().filter(|&&b| b == b'\n').count())
}

async fn wait_for_lines(path: &str, lines: usize, child: &mut std::process::Child) {
    let started = std::time::Instant::now();
    while lines_in(path) < lines {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{path} never reached {lines} lines"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the export ended early"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

async fn kill(mut child: std::process::Child) {
    child.kill().unwrap();
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_export_resumes_without_a_gap_or_a_repeat_and_follow_takes_new_events() {
    use auditkit_emulator::{Fault, FaultConfig};
    const EVENTS: usize = 300;
    // Every request is slowed so the first run is still going when it is killed.
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .seed_events(EVENTS)
            .faults(FaultConfig {
                rate: 1.0,
                kinds: vec!["delay:10ms".parse::<Fault>().unwrap()],
                intune_limits: false,
            }),
    )
    .await
    .unwrap();
    let scratch = Scratch::new("export");
    let (state, out) = (scratch.path("state.json"), scratch.path("events.jsonl"));
    let export = |extra: &[&str]| {
        let mut args = vec![
            "graph", "export", "--state", &state, "--out", &out, "--top", "5",
        ];
        args.extend_from_slice(extra);
        against(&emulator, &args)
    };
    let quiet = |mut command: std::process::Command| {
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let unique = |ids: &[String]| {
        let set: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(set.len(), ids.len(), "an id was written twice");
        set.len()
    };

    // SIGKILL midway.
    let mut child = quiet(export(&[]));
    wait_for_lines(&out, 40, &mut child).await;
    kill(child).await;
    let at_kill = lines_in(&out);
    assert!(at_kill < EVENTS, "killed before the end ({at_kill} lines)");

    let output = run(export(&[])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("exported"),
        "{}",
        text(&output.stderr)
    );
    let (ids, newest) = exported(&out);
    assert_eq!(unique(&ids), EVENTS, "every event, once, after the kill");

    // One event that reached the service late (older than the newest exported, inside the
    // window) and one newer: the next run writes those two and nothing else.
    let file = scratch.path("new.jsonl");
    let event = |at: chrono::DateTime<chrono::Utc>, name: &str| {
        serde_json::json!({
            "displayName": name,
            "category": "Export",
            "activityDateTime": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .to_string()
    };
    let minute = chrono::Duration::minutes(1);
    std::fs::write(
        &file,
        [
            event(newest - minute, "late"),
            event(newest + minute, "new"),
        ]
        .join("\n"),
    )
    .unwrap();
    let created = run(against(&emulator, &["graph", "create", "--file", &file])).await;
    assert!(created.status.success(), "{}", text(&created.stderr));
    let output = run(export(&[])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let (ids, _) = exported(&out);
    assert_eq!(unique(&ids), EVENTS + 2);

    // --follow keeps polling: an event created after its first pass is written, once.
    let log = scratch.path("follow.log");
    let mut follower = export(&["--follow", "1s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("exported")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no first pass"
        );
        assert!(follower.try_wait().unwrap().is_none(), "the follower ended");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    std::fs::write(&file, event(newest + minute * 2, "followed")).unwrap();
    let created = run(against(&emulator, &["graph", "create", "--file", &file])).await;
    assert!(created.status.success(), "{}", text(&created.stderr));
    wait_for_lines(&out, EVENTS + 3, &mut follower).await;
    // Written by a later pass than the first, which reports when it ends.
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&log)
        .unwrap()
        .matches("exported")
        .count()
        < 2
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no second pass"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    kill(follower).await;
    let (ids, _) = exported(&out);
    assert_eq!(unique(&ids), EVENTS + 3);
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(state["watermark"].is_string(), "{state}");
    emulator.shutdown().await;
}

#[test]
fn export_refuses_an_unreadable_state_and_a_state_that_is_its_output() {
    let scratch = Scratch::new("export-refused");
    let state = scratch.path("state.json");
    std::fs::write(&state, "not a checkpoint").unwrap();
    let output = auditkit()
        .args([
            "graph",
            "export",
            "--state",
            &state,
            "--tenant",
            "t",
            "--client-id",
            "c",
        ])
        .env("AZURE_CLIENT_SECRET", "s")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(8), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("not an export checkpoint"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "not a checkpoint",
        "left as it was"
    );

    // The state under another spelling, and a state not created yet, are caught too.
    let fresh = scratch.path("fresh.json");
    let dotted = scratch.path(".") + "/fresh.json";
    for (state, out) in [(&state, &state), (&fresh, &dotted)] {
        let output = auditkit()
            .args([
                "graph", "export", "--state", state, "--out", out, "--tenant", "t",
            ])
            .args(["--client-id", "c"])
            .env("AZURE_CLIENT_SECRET", "s")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{out}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains("own state file"),
            "{}",
            text(&output.stderr)
        );
    }
    for follow in ["soon", "10ms"] {
        let output = auditkit()
            .args([
                "graph", "export", "--state", &state, "--follow", follow, "--tenant", "t",
            ])
            .args(["--client-id", "c"])
            .env("AZURE_CLIENT_SECRET", "s")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{follow}: {}",
            text(&output.stderr)
        );
    }
}
