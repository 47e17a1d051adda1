//! Retries, budgets, timeouts and caps over loopback. Waits go through a `ManualClock`, which
//! records them instead of sleeping; only the timeout tests spend real (sub-second) time,
//! because reqwest's own timers must run on real time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use auditkit::graph::AuditEvent;
use auditkit::{
    EntraCredential, Error, GraphClient, ManualClock, RateLimit, RetryBudget, RetryPolicy, Timeouts,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

// The one place test servers and clients are made, under the names these tests use.
use auditkit_testing::{
    EVENTS, SEED, TOKEN_PATH, api_requests, graph_builder as builder, server as start,
};

fn event(id: &str) -> serde_json::Value {
    json!({"id": id})
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn throttled_then_unavailable_then_ok_succeeds_in_three_attempts_with_the_right_waits() {
    let server = start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event("e")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let client = builder(&server, &clock).build().unwrap();

    let got = client.audit_events().get("e").await.unwrap();
    assert_eq!(got.id.as_deref(), Some("e"));

    let waits = clock.sleeps();
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert_eq!(
        waits[0],
        Duration::from_secs(2),
        "Retry-After is longer than the first backoff"
    );
    assert!(
        waits[1] >= Duration::from_secs(1) && waits[1] <= Duration::from_secs(2),
        "{waits:?}"
    );
    let requests = api_requests(&server).await;
    assert_eq!(requests.len(), 3);
    let ids: Vec<_> = requests
        .iter()
        .map(|r| header(r, "client-request-id").unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one client-request-id for the whole call: {ids:?}"
    );
    let attempts: Vec<_> = requests
        .iter()
        .map(|r| header(r, "retry-attempt"))
        .collect();
    assert_eq!(attempts, [None, Some("1"), Some("2")]);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let server = start().await;
    let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(6));
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", at.as_str()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event("e")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    builder(&server, &clock)
        .build()
        .unwrap()
        .audit_events()
        .get("e")
        .await
        .unwrap();
    let waits = clock.sleeps();
    assert_eq!(waits.len(), 1);
    assert!(
        waits[0] > Duration::from_secs(4) && waits[0] <= Duration::from_secs(6),
        "{waits:?}"
    );
}

#[tokio::test]
async fn a_429_without_retry_after_still_backs_off() {
    let server = start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event("e")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    builder(&server, &clock)
        .build()
        .unwrap()
        .audit_events()
        .get("e")
        .await
        .unwrap();
    let waits = clock.sleeps();
    assert_eq!(waits.len(), 2);
    assert!(
        waits[0] >= Duration::from_millis(500),
        "at least half the first backoff: {waits:?}"
    );
    assert!(
        waits[1] >= Duration::from_secs(1),
        "and it grows: {waits:?}"
    );
}

#[tokio::test]
async fn unavailable_on_every_attempt_gives_up_with_the_last_status_and_request_id() {
    let server = start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("request-id", "rid-last")
                .set_body_json(
                    json!({"error": {"code": "serviceNotAvailable", "message": "down"}}),
                ),
        )
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let error = builder(&server, &clock)
        .build()
        .unwrap()
        .audit_events()
        .get("e")
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.request_id(), Some("rid-last"));
    assert_eq!(error.details().unwrap().attempts, 3);
    assert!(error.is_retryable());
    assert_eq!(api_requests(&server).await.len(), 3);
    assert_eq!(clock.sleeps().len(), 2);
}

#[tokio::test]
async fn bad_request_is_never_retried() {
    let server = start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"code": "invalidRequest", "message": "no"}})),
        )
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let error = builder(&server, &clock)
        .build()
        .unwrap()
        .audit_events()
        .get("e")
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert!(!error.is_retryable());
    assert_eq!(api_requests(&server).await.len(), 1);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn a_post_that_timed_out_after_sending_is_not_retried_unless_asked() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(EVENTS))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(event("new"))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let timeouts = Timeouts {
        attempt: Duration::from_millis(200),
        operation: Duration::from_secs(60),
    };
    let client = builder(&server, &clock).timeouts(timeouts).build().unwrap();

    let error = client
        .audit_events()
        .create(&AuditEvent::default())
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.may_have_reached_server());
    assert_eq!(
        api_requests(&server).await.len(),
        1,
        "an ambiguous POST is not repeated"
    );

    let lenient = client.with_retry(
        RetryPolicy::default()
            .jitter_seed(SEED)
            .retry_ambiguous_writes(true),
    );
    let error = lenient
        .audit_events()
        .create(&AuditEvent::default())
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    assert_eq!(
        api_requests(&server).await.len(),
        1 + 3,
        "with the option, every attempt is used"
    );
}

#[tokio::test]
async fn a_post_answered_503_is_retried_because_it_was_not_processed() {
    let server = start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(event("new")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let created = builder(&server, &clock)
        .build()
        .unwrap()
        .audit_events()
        .create(&AuditEvent::default())
        .await
        .unwrap();
    assert_eq!(created.id.as_deref(), Some("new"));
    assert_eq!(api_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn the_retry_budget_stops_retries_after_a_burst_and_recovers_after_successes() {
    let server = start().await;
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/bad")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/good")))
        .respond_with(ResponseTemplate::new(200).set_body_json(event("good")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let budget = RetryBudget::new(10, 5, 10, 1);
    let client = builder(&server, &clock)
        .retry_budget(budget.clone())
        .build()
        .unwrap();

    client.audit_events().get("bad").await.unwrap_err(); // 3 attempts, spends 10
    assert_eq!(budget.available(), 0);
    let error = client.audit_events().get("bad").await.unwrap_err();
    assert_eq!(error.details().unwrap().attempts, 1, "no budget, no retry");
    for _ in 0..5 {
        client.audit_events().get("good").await.unwrap();
    }
    assert_eq!(budget.available(), 5);
    let error = client.audit_events().get("bad").await.unwrap_err();
    assert_eq!(
        error.details().unwrap().attempts,
        2,
        "one retry's worth refilled"
    );
}

#[tokio::test]
async fn a_hanging_next_link_times_out_and_is_retried() {
    let server = start().await;
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .and(wiremock::matchers::query_param("$skiptoken", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": [event("late")]}))
                .set_delay(Duration::from_secs(5)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .and(wiremock::matchers::query_param("$skiptoken", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [event("p2")]})))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let timeouts = Timeouts {
        attempt: Duration::from_millis(300),
        operation: Duration::from_secs(60),
    };
    let client = builder(&server, &clock).timeouts(timeouts).build().unwrap();
    let link = format!("{}{EVENTS}?$skiptoken=2", server.uri());
    let page = client.audit_events().next_page(&link).await.unwrap();
    assert_eq!(page.items[0].id.as_deref(), Some("p2"));
    assert_eq!(clock.sleeps().len(), 1);
}

#[tokio::test]
async fn a_50_mb_answer_is_cut_off_by_the_size_cap() {
    let server = start().await;
    let huge = format!(
        "{{\"value\": [{{\"id\": \"{}\"}}]}}",
        "x".repeat(50 * 1024 * 1024)
    );
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let client = builder(&server, &clock)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let error = client
        .audit_events()
        .list_page(&Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ResponseTooLarge { limit, .. } if limit == auditkit_runtime::DEFAULT_MAX_RESPONSE_BYTES),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_never_ending_answer_is_cut_off_by_the_attempt_timeout() {
    // A server that sends headers, then body bytes forever (bounded here to 10 s).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0_u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while tokio::time::Instant::now() < deadline {
                    if socket.write_all(b"1\r\n \r\n").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
    });
    let token_server = start().await;
    let clock = ManualClock::new();
    let client = GraphClient::builder()
        .credential(
            EntraCredential::client_secret("tenant", "app", "secret")
                .authority_host(url::Url::parse(&token_server.uri()).unwrap()),
        )
        .base_url(url::Url::parse(&format!("http://{address}/v1.0")).unwrap())
        .http_client(auditkit::HttpClient::new().unwrap())
        .retry(RetryPolicy::none())
        .timeouts(Timeouts {
            attempt: Duration::from_millis(500),
            operation: Duration::from_secs(5),
        })
        .time(Arc::new(clock.clone()), Arc::new(clock))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let error = client
        .audit_events()
        .list_page(&Default::default())
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after about the attempt timeout"
    );
}

#[tokio::test]
async fn a_client_side_rate_limit_paces_writes() {
    let server = start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(event("new")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event("e")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let client = builder(&server, &clock)
        .rate_limit(RateLimit::writes(2, Duration::from_secs(10)))
        .build()
        .unwrap();
    for _ in 0..4 {
        client
            .audit_events()
            .create(&AuditEvent::default())
            .await
            .unwrap();
    }
    for _ in 0..4 {
        client.audit_events().get("e").await.unwrap();
    }
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(5), Duration::from_secs(5)],
        "a burst of 2, then one every 5 s; reads pass"
    );
}

/// Serves one fixed chunked answer (no Content-Length) to every connection, as a gateway
/// streaming an endless or oversized page would.
async fn chunked_server(body: String) -> url::Url {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buffer).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                }
                let mut answer = String::from(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                );
                for chunk in body.as_bytes().chunks(1000) {
                    answer.push_str(&format!("{:x}\r\n", chunk.len()));
                    answer.push_str(std::str::from_utf8(chunk).unwrap());
                    answer.push_str("\r\n");
                }
                answer.push_str("0\r\n\r\n");
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    url::Url::parse(&format!("http://{address}/v1.0")).unwrap()
}

#[tokio::test]
async fn a_chunked_answer_without_content_length_is_cut_off_by_the_size_cap_too() {
    let server = start().await;
    let clock = ManualClock::new();
    let page = |id_len: usize| format!("{{\"value\": [{{\"id\": \"{}\"}}]}}", "x".repeat(id_len));
    let capped_at_4_kib = |base: url::Url| {
        builder(&server, &clock)
            .base_url(base)
            .retry(RetryPolicy::none())
            .max_response_bytes(4_096)
            .build()
            .unwrap()
    };

    let oversized = capped_at_4_kib(chunked_server(page(8_000)).await);
    let error = oversized
        .audit_events()
        .list_page(&Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ResponseTooLarge { limit: 4_096, .. }),
        "{error:?}"
    );

    let fits = capped_at_4_kib(chunked_server(page(3_000)).await);
    let page = fits
        .audit_events()
        .list_page(&Default::default())
        .await
        .unwrap();
    assert_eq!(page.items[0].id.as_deref().map(str::len), Some(3_000));
}

// ---- the operation deadline owns everything a call waits for ------------------------------

#[tokio::test]
async fn the_operation_deadline_covers_a_slow_token_endpoint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "t", "expires_in": 3600}))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let timeouts = Timeouts {
        attempt: Duration::from_secs(30),
        operation: Duration::from_millis(300),
    };
    let client = builder(&server, &clock).timeouts(timeouts).build().unwrap();

    let error = client.audit_events().get("a").await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(!error.may_have_reached_server(), "the api was never called");
    assert!(api_requests(&server).await.is_empty());
}

#[tokio::test]
async fn the_operation_deadline_covers_the_rate_limit_wait() {
    let server = start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(event("new")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let timeouts = Timeouts {
        attempt: Duration::from_secs(5),
        operation: Duration::from_secs(10),
    };
    let client = builder(&server, &clock)
        .timeouts(timeouts)
        .rate_limit(RateLimit::writes(1, Duration::from_secs(60)))
        .build()
        .unwrap();
    let events = client.audit_events();
    events.create(&AuditEvent::default()).await.unwrap();

    // The next slot is 60 s away, past the 10 s the call may take: it fails at once, without
    // waiting and without taking the slot.
    let error = events.create(&AuditEvent::default()).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(!error.may_have_reached_server());
    assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());
    assert_eq!(api_requests(&server).await.len(), 1);

    clock.advance(Duration::from_secs(55));
    events.create(&AuditEvent::default()).await.unwrap();
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(5)],
        "a wait that fits is waited"
    );
}

// ---- connections that fail -------------------------------------------------------------------

/// A loopback address whose TCP handshakes hang: a listener with a backlog of one, already
/// full, so the kernel drops further SYNs (kept alive by the returned sockets).
fn hanging_address() -> (std::net::SocketAddr, socket2::Socket, std::net::TcpStream) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let address = listener.local_addr().unwrap().as_socket().unwrap();
    let filler = std::net::TcpStream::connect(address).unwrap();
    (address, listener, filler)
}

#[tokio::test]
async fn a_connect_timeout_sent_nothing_and_is_retried_even_for_a_post() {
    let tokens = start().await;
    let (address, _listener, _filler) = hanging_address();
    let clock = ManualClock::new();
    let http = auditkit::HttpClient::from_builder(
        auditkit::http_client_builder()
            .unwrap()
            .connect_timeout(Duration::from_millis(150)),
    )
    .unwrap();
    let client = builder(&tokens, &clock)
        .base_url(url::Url::parse(&format!("http://{address}/v1.0")).unwrap())
        .http_client(http)
        .build()
        .unwrap();

    let error = client
        .audit_events()
        .create(&AuditEvent::default())
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(
        !error.may_have_reached_server(),
        "no connection, nothing sent"
    );
    assert_eq!(
        error.details().unwrap().attempts,
        3,
        "a write that never left is retried"
    );
    assert_eq!(clock.sleeps().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_reported_as_never_sent() {
    let tokens = start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let clock = ManualClock::new();
    let client = builder(&tokens, &clock)
        .base_url(url::Url::parse(&format!("http://{address}/v1.0")).unwrap())
        .build()
        .unwrap();

    let error = client
        .audit_events()
        .create(&AuditEvent::default())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert!(!error.may_have_reached_server());
    assert!(error.is_retryable());
    assert_eq!(error.details().unwrap().attempts, 3);
}

/// A sleeper that starts the API on `address` during the first wait, so the attempt after a
/// refused connection finds it.
#[derive(Debug)]
struct StartsServerOnFirstWait {
    address: std::net::SocketAddr,
    server: Arc<tokio::sync::Mutex<Option<MockServer>>>,
    waits: Arc<std::sync::Mutex<Vec<Duration>>>,
}

impl auditkit::Sleeper for StartsServerOnFirstWait {
    fn sleep(&self, duration: Duration) -> auditkit_runtime::BoxFuture<'static, ()> {
        self.waits.lock().unwrap().push(duration);
        let (address, server) = (self.address, self.server.clone());
        Box::pin(async move {
            let mut slot = server.lock().await;
            if slot.is_none() {
                let listener = std::net::TcpListener::bind(address).unwrap();
                let started = MockServer::builder().listener(listener).start().await;
                Mock::given(method("GET"))
                    .respond_with(ResponseTemplate::new(200).set_body_json(event("late")))
                    .mount(&started)
                    .await;
                *slot = Some(started);
            }
        })
    }
}

#[tokio::test]
async fn a_call_is_retried_after_a_connection_failure_and_succeeds() {
    let tokens = start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let sleeper = StartsServerOnFirstWait {
        address,
        server: Arc::default(),
        waits: Arc::default(),
    };
    let waits = sleeper.waits.clone();
    let started = sleeper.server.clone();
    let clock = ManualClock::new();
    let client = builder(&tokens, &clock)
        .base_url(url::Url::parse(&format!("http://{address}/v1.0")).unwrap())
        .time(Arc::new(clock.clone()), Arc::new(sleeper))
        .build()
        .unwrap();

    let event = client.audit_events().get("late").await.unwrap();
    assert_eq!(event.id.as_deref(), Some("late"));
    assert_eq!(
        waits.lock().unwrap().len(),
        1,
        "one backoff after the refusal"
    );
    let server = started.lock().await;
    assert_eq!(
        server
            .as_ref()
            .unwrap()
            .received_requests()
            .await
            .unwrap()
            .len(),
        1
    );
}

// ---- statuses on the wire --------------------------------------------------------------------

#[tokio::test]
async fn ambiguous_statuses_retry_reads_and_not_writes() {
    for status in [408, 500, 502, 504] {
        let server = start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(status))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(event("a")))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&server)
            .await;
        let clock = ManualClock::new();
        let client = builder(&server, &clock).build().unwrap();

        client.audit_events().get("a").await.unwrap();
        assert_eq!(
            api_requests(&server).await.len(),
            2,
            "{status}: the read is retried"
        );

        let error = client
            .audit_events()
            .create(&AuditEvent::default())
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(status));
        assert!(error.is_retryable() && error.may_have_reached_server());
        assert_eq!(
            api_requests(&server).await.len(),
            3,
            "{status}: the write is not"
        );

        let lenient = client.with_retry(RetryPolicy::default().retry_ambiguous_writes(true));
        lenient
            .audit_events()
            .create(&AuditEvent::default())
            .await
            .unwrap_err();
        assert_eq!(
            api_requests(&server).await.len(),
            6,
            "{status}: unless asked"
        );
    }
}

#[tokio::test]
async fn a_retry_after_a_timeout_costs_more_of_the_budget() {
    let server = start().await;
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/slow")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(event("slow"))
                .set_delay(Duration::from_secs(2)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/busy")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event("ok")))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let budget = RetryBudget::new(100, 5, 10, 1);
    let client = builder(&server, &clock)
        .retry_budget(budget.clone())
        .timeouts(Timeouts {
            attempt: Duration::from_millis(200),
            operation: Duration::from_secs(60),
        })
        .build()
        .unwrap();

    client.audit_events().get("slow").await.unwrap();
    assert_eq!(budget.available(), 100 - 10 + 1, "a timeout retry costs 10");
    client.audit_events().get("busy").await.unwrap();
    assert_eq!(budget.available(), 91 - 5 + 1, "another retry costs 5");
}

#[tokio::test]
async fn with_timeouts_applies_to_the_calls_of_the_copy_only() {
    let server = start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(event("a"))
                .set_delay(Duration::from_millis(600)),
        )
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let client = builder(&server, &clock).build().unwrap();
    let hasty = client.with_timeouts(Timeouts {
        attempt: Duration::from_millis(100),
        operation: Duration::from_millis(150),
    });

    let error = hasty.audit_events().get("a").await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    client.audit_events().get("a").await.unwrap();
}

#[tokio::test]
async fn with_retry_uses_the_jitter_seed_of_its_policy() {
    let server = start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let waits_with = |client_seed: u64, policy: RetryPolicy| {
        let server = &server;
        async move {
            let clock = ManualClock::new();
            let client = builder(server, &clock)
                .retry(RetryPolicy::default().jitter_seed(client_seed))
                .retry_budget(RetryBudget::unlimited())
                .build()
                .unwrap()
                .with_retry(policy);
            client.audit_events().get("a").await.unwrap_err();
            clock.sleeps()
        }
    };
    let policy = || RetryPolicy::default().max_attempts(4);
    let seven = waits_with(1, policy().jitter_seed(7)).await;
    assert_eq!(seven.len(), 3);
    assert_eq!(
        seven,
        waits_with(2, policy().jitter_seed(7)).await,
        "the policy's seed decides"
    );
    assert_ne!(seven, waits_with(1, policy().jitter_seed(8)).await);
}
