//! The `auditkit` binary against wiremock on loopback: what a throttled, failing, unreachable
//! or misbehaving service or token endpoint makes of the exit code and the error line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Output};

use support::{assert_terminal_safe, auditkit, closed_port, run, text};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TENANT: &str = "contoso";
const EVENTS: &str = "/v1.0/deviceManagement/auditEvents";

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

fn token_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0.wire.token"
    }))
}

/// `graph <args>` with the API at `api` and the token endpoint at `authority`.
fn graph(api: &str, authority: &str, args: &[&str]) -> Command {
    let mut command = auditkit();
    command
        .arg("graph")
        .args(args)
        .args([
            "--base-url",
            &format!("{}/v1.0", api.trim_end_matches('/')),
            "--authority-host",
            authority,
        ])
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", "wire-client")
        .env("AZURE_CLIENT_SECRET", "wire-secret");
    command
}

/// A server whose token endpoint hands out tokens and whose event list answers `answer`.
async fn graph_server(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(token_ok())
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

fn one_error_line(output: &Output) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("wire-secret"), "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_1_when_the_api_answers_200_with_something_that_is_not_json() {
    let server = graph_server(
        ResponseTemplate::new(200).set_body_raw("<html>captive portal</html>", "text/html"),
    )
    .await;
    let output = run(graph(&server.uri(), &server.uri(), &["list"])).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = one_error_line(&output);
    assert!(
        stderr.contains("could not decode the 200 answer"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_5_when_the_token_endpoint_throttles_or_fails() {
    for answer in [
        ResponseTemplate::new(429)
            .insert_header("retry-after", "30")
            .set_body_raw("slow down", "text/plain"),
        ResponseTemplate::new(503).set_body_raw("<h1>Service Unavailable</h1>", "text/html"),
        ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "error": "temporarily_unavailable", "error_description": "AADSTS50196: try later"
        })),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(token_path()))
            .respond_with(answer)
            .mount(&server)
            .await;
        let output = run(graph(&server.uri(), &server.uri(), &["list"])).await;
        assert_eq!(
            output.status.code(),
            Some(5),
            "a throttled or failing token endpoint is not wrong credentials: {}",
            text(&output.stderr)
        );
        let stderr = one_error_line(&output);
        assert!(stderr.starts_with("error: entra id: "), "{stderr}");
        let api_calls = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|request| request.url.path() == EVENTS)
            .count();
        assert_eq!(api_calls, 0, "the api is not called without a token");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_5_when_the_adobe_ims_token_endpoint_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/ims/token/v3"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let scratch = support::Scratch::new("wire-adobe");
    let file = scratch.path("event.json");
    std::fs::write(&file, adobe_event()).unwrap();
    let mut command = auditkit();
    command
        .args(["adobe", "post", "--file", &file])
        .args(["--base-url", &server.uri(), "--ims-host", &server.uri()])
        .env("ADOBE_CLIENT_ID", "wire-client")
        .env("ADOBE_CLIENT_SECRET", "wire-secret")
        .env("ADOBE_SCOPES", "openid");
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output.stderr));
    assert!(one_error_line(&output).starts_with("error: adobe ims: "));
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_5_when_the_api_throttles_or_is_unavailable() {
    for status in [429, 503] {
        // A Retry-After beyond what the retry policy waits: the CLI gives up at once.
        let server = graph_server(
            ResponseTemplate::new(status)
                .insert_header("retry-after", "3600")
                .set_body_json(serde_json::json!({
                    "error": {"code": "TooManyRequests", "message": "come back later"}
                })),
        )
        .await;
        let output = run(graph(&server.uri(), &server.uri(), &["list"])).await;
        assert_eq!(output.status.code(), Some(5), "{}", text(&output.stderr));
        let stderr = one_error_line(&output);
        assert!(
            stderr.starts_with(&format!("error: service answered {status} TooManyRequests")),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_6_when_the_api_rejects_the_request() {
    let server = graph_server(ResponseTemplate::new(400).set_body_json(serde_json::json!({
        "error": {"code": "BadRequest", "message": "Invalid filter clause"}
    })))
    .await;
    let output = run(graph(&server.uri(), &server.uri(), &["list"])).await;
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    assert!(one_error_line(&output).contains("Invalid filter clause"));
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_7_when_the_token_endpoint_cannot_be_reached() {
    let server = graph_server(ResponseTemplate::new(200)).await;
    let nowhere = format!("http://127.0.0.1:{}/", closed_port());
    let output = run(graph(&server.uri(), &nowhere, &["list"])).await;
    assert_eq!(output.status.code(), Some(7), "{}", text(&output.stderr));
    let stderr = one_error_line(&output);
    assert!(
        stderr.contains("cannot reach the token endpoint"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_7_when_the_api_refuses_the_connection() {
    let tokens = graph_server(ResponseTemplate::new(200)).await;
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    let output = run(graph(&nowhere, &tokens.uri(), &["list"])).await;
    assert_eq!(output.status.code(), Some(7), "{}", text(&output.stderr));
    let stderr = one_error_line(&output);
    assert!(stderr.contains("nothing was sent"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_error_line_carries_no_escape_or_bidi_control_from_the_service() {
    let server = graph_server(ResponseTemplate::new(400).set_body_json(serde_json::json!({
        "error": {"code": "Bad\u{1b}[5mRequest", "message": "\u{1b}]0;owned\u{7}\u{1b}[2Jbad \u{202e}txt.exe\u{9b}0m"}
    })))
    .await;
    let output = run(graph(&server.uri(), &server.uri(), &["list"])).await;
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert_terminal_safe(&stderr);
    assert!(
        stderr.contains("Bad\u{FFFD}[5mRequest: \u{FFFD}]0;owned\u{FFFD}\u{FFFD}[2Jbad \u{FFFD}txt.exe\u{FFFD}0m"),
        "{stderr}"
    );

    // The token endpoint's words too.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: \u{1b}[8mInvalid client secret\u{2067} provided.",
        })))
        .mount(&server)
        .await;
    let output = run(graph(&server.uri(), &server.uri(), &["list"])).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert_terminal_safe(&stderr);
    assert!(
        stderr.contains("AADSTS7000215: \u{FFFD}[8mInvalid client secret\u{FFFD} provided."),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_posted_adobe_event_id_is_printed_cleaned() {
    for (answer, printed) in [
        (
            ResponseTemplate::new(201).set_body_raw("id-1\u{1b}[2J\u{202e}", "text/plain"),
            "id-1\u{FFFD}[2J\u{FFFD}",
        ),
        (
            ResponseTemplate::new(201).set_body_json("\u{9b}31mid-2\u{7}"),
            "\u{FFFD}31mid-2\u{FFFD}",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/ims/token/v3"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "eyJ0.adobe.token", "token_type": "bearer", "expires_in": 86399
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/audits"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let scratch = support::Scratch::new("wire-adobe-id");
        let file = scratch.path("event.json");
        std::fs::write(&file, adobe_event()).unwrap();
        let mut command = auditkit();
        command
            .args(["adobe", "post", "--file", &file])
            .args(["--base-url", &server.uri(), "--ims-host", &server.uri()])
            .env("ADOBE_CLIENT_ID", "wire-client")
            .env("ADOBE_CLIENT_SECRET", "wire-secret")
            .env("ADOBE_SCOPES", "openid");
        let output = run(command).await;
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_terminal_safe(&text(&output.stdout));
        assert_eq!(text(&output.stdout), format!("{printed}\n"));
    }
}

fn adobe_event() -> String {
    serde_json::json!({
        "action": "create", "imsOrgId": "ORG@AdobeOrg", "resource": {"resourceId": "r"},
        "service": {"serviceId": "s"}, "source": "cli", "timestamp": "2025-03-24T15:14:04Z",
        "userIdentifier": "u"
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_2_and_nothing_sent_for_an_id_that_is_not_one_path_segment() {
    let server = graph_server(ResponseTemplate::new(200)).await;
    for id in ["..", ".", "../x", "a/b", "..\\x"] {
        let output = run(graph(&server.uri(), &server.uri(), &["get", id])).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{id}: {}",
            text(&output.stderr)
        );
        assert!(one_error_line(&output).contains("one path segment"));
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_given_as_a_url_never_receives_the_secret() {
    let server = graph_server(ResponseTemplate::new(200)).await;
    let thief = MockServer::start().await;
    let mut command = graph(&server.uri(), &server.uri(), &["list"]);
    command.env("AZURE_TENANT_ID", thief.uri());
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(one_error_line(&output).contains("is not a directory id"));
    assert!(thief.received_requests().await.unwrap().is_empty());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_accepted_event_whose_answer_is_unreadable_is_not_a_failure_and_not_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(token_ok())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(EVENTS))
        .respond_with(ResponseTemplate::new(201).set_body_raw("<html>ok</html>", "text/html"))
        .mount(&server)
        .await;
    let scratch = support::Scratch::new("accepted-unread");
    let file = scratch.path("events.jsonl");
    std::fs::write(
        &file,
        "{\"activity\":\"a\"}\n{\"activity\":\"b\"}\n{\"activity\":\"c\"}\n",
    )
    .unwrap();

    let output = run(graph(
        &server.uri(),
        &server.uri(),
        &["create", "--file", &file],
    ))
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr
            .matches("was accepted (201) but the answer could not be read")
            .count(),
        3,
        "{stderr}"
    );
    let posted = server.received_requests().await.unwrap();
    assert_eq!(
        posted.iter().filter(|r| r.url.path() == EVENTS).count(),
        3,
        "each once"
    );
}
