//! How the shipper judges each answer on the wire: what is delivered, what is dead-lettered
//! (and when), what stays queued without counting, and that one failing event never holds
//! the others back.

use std::collections::HashMap;

use super::*;

/// The `n` of `event(n)`, from the correlation id on the wire.
fn event_number(id: &str) -> u128 {
    Uuid::parse_str(id).unwrap().as_u128() & 0xffff_ffff
}

type Script = dyn Fn(u128, usize) -> ResponseTemplate + Send + Sync;

/// Answers each event POST by the event's number and how many times that event was posted
/// before (0 for its first request), and counts the requests per event.
#[derive(Clone)]
struct ByEvent {
    seen: Arc<Mutex<HashMap<u128, usize>>>,
    answer: Arc<Script>,
}

impl ByEvent {
    fn new(answer: impl Fn(u128, usize) -> ResponseTemplate + Send + Sync + 'static) -> Self {
        Self {
            seen: Arc::default(),
            answer: Arc::new(answer),
        }
    }

    /// Requests per event number.
    fn seen(&self) -> HashMap<u128, usize> {
        self.seen.lock().unwrap().clone()
    }

    async fn mount(&self, server: &MockServer) {
        Mock::given(method("POST"))
            .and(path(EVENTS))
            .respond_with(self.clone())
            .mount(server)
            .await;
    }
}

impl Respond for ByEvent {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: serde_json::Value = request.body_json().unwrap();
        let n = event_number(body["correlationId"].as_str().unwrap());
        let before = {
            let mut seen = self.seen.lock().unwrap();
            let count = seen.entry(n).or_default();
            *count += 1;
            *count - 1
        };
        (self.answer)(n, before)
    }
}

fn accepted(n: u128) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"id": format!("stored-{n}")}))
}

fn odata_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"code": code, "message": message}}))
}

/// Events 0..20 fail with 500 on every attempt; the others are fine.
const POISON: u128 = 20;

fn poisoned() -> ByEvent {
    ByEvent::new(|n, _| {
        if n < POISON {
            odata_error(500, "InternalServerError", &format!("poison {n}"))
        } else {
            accepted(n)
        }
    })
}

#[tokio::test]
async fn failing_events_hold_no_other_event_back() {
    let server = start().await;
    let api = poisoned();
    api.mount(&server).await;
    let dir = TempDir::new("poison-first");
    // A backoff of an hour: a failing event is not tried again during this test, and a
    // shipper that paused every delivery after such a failure would deliver nothing more.
    let shipper = Shipper::builder(graph(&server), dir.spool())
        .concurrency(4)
        .retry_backoff(Duration::from_secs(3600), Duration::from_secs(3600))
        .jitter_seed(SEED)
        .open()
        .await
        .unwrap();
    shipper.send_all((0..POISON).map(event)).await.unwrap();
    eventually(async || (api.seen().len() == POISON as usize).then_some(())).await;
    shipper.send_all((POISON..80).map(event)).await.unwrap();
    let stats = eventually(async || {
        let stats = shipper.stats().await.unwrap();
        (stats.delivered == 60).then_some(stats)
    })
    .await;
    assert_eq!((stats.spooled, stats.retried), (20, 20), "{stats:?}");
    assert_eq!(stats.dead_letters, 0);
    let seen = api.seen();
    for n in 0..80 {
        assert_eq!(seen.get(&n), Some(&1), "requests for event {n}");
    }
    shipper.shutdown(Instant::now()).await.unwrap();
}

#[tokio::test]
async fn an_event_failing_on_its_own_is_dead_lettered_after_max_attempts_with_its_last_answer() {
    const ATTEMPTS: u32 = 3;
    let server = start().await;
    let api = poisoned();
    api.mount(&server).await;
    let dir = TempDir::new("poison");
    let shipper = Shipper::builder(graph(&server), dir.spool())
        .concurrency(4)
        .retry_backoff(Duration::from_millis(2), Duration::from_millis(20))
        .max_attempts(ATTEMPTS)
        .jitter_seed(SEED)
        .open()
        .await
        .unwrap();
    shipper.send_all((0..80).map(event)).await.unwrap();
    let stats = shipper.flush(deadline(20)).await.unwrap();
    assert_eq!(stats.spooled, 0, "{stats:?}");
    assert_eq!(stats.delivered, 60, "{stats:?}");
    assert_eq!((stats.dead_letters, stats.dead_lettered), (20, 20));
    assert_eq!(
        stats.retried,
        u64::from(ATTEMPTS - 1) * 20,
        "each failing event retried on its own"
    );

    let seen = api.seen();
    for n in 0..80 {
        let expected = if n < POISON { ATTEMPTS as usize } else { 1 };
        assert_eq!(seen.get(&n), Some(&expected), "requests for event {n}");
    }
    let letters = shipper.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 20);
    for letter in &letters {
        let n = event_number(&letter.event_id);
        assert!(n < POISON, "{}", letter.event_id);
        assert_eq!(letter.status, Some(500));
        assert_eq!(letter.attempts, ATTEMPTS);
        let body: serde_json::Value = serde_json::from_slice(&letter.error_body).unwrap();
        assert_eq!(body["error"]["message"], format!("poison {n}"));
        assert!(letter.error.contains("500"), "{}", letter.error);
        assert_eq!(
            letter.event.activity.as_deref(),
            Some(format!("event {n}").as_str())
        );
    }
    shipper.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn an_event_failing_on_its_own_past_max_age_is_dead_lettered_at_its_next_failure() {
    let server = start().await;
    // A 500 twice; a third request would be accepted.
    let api = ByEvent::new(|n, before| {
        if before < 2 {
            odata_error(500, "InternalServerError", "not now")
        } else {
            accepted(n)
        }
    });
    api.mount(&server).await;
    let dir = TempDir::new("max-age");
    let shipper = Shipper::builder(graph(&server), dir.spool())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .max_age(Duration::ZERO)
        .jitter_seed(SEED)
        .open()
        .await
        .unwrap();
    shipper.send(event(1)).await.unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.dead_letters), (0, 1), "{stats:?}");
    // The first own failure starts the clock; the second finds it run out.
    assert_eq!(api.seen().get(&1), Some(&2));
    let letters = shipper.dead_letters().await.unwrap();
    assert_eq!((letters[0].status, letters[0].attempts), (Some(500), 2));
    shipper.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn a_404_409_or_413_is_dead_lettered_at_once_with_the_answer() {
    let server = start().await;
    let refusals = [
        (404, "ResourceNotFound", "no such tenant"),
        (409, "Conflict", "already stored"),
        (413, "RequestEntityTooLarge", "event too large"),
    ];
    let api = ByEvent::new(move |n, _| match n {
        0..=2 => {
            let (status, code, message) = refusals[n as usize];
            odata_error(status, code, message)
        }
        _ => accepted(n),
    });
    api.mount(&server).await;
    let dir = TempDir::new("refused");
    let shipper = shipper(&server, &dir.spool()).await;
    shipper.send_all((0..4).map(event)).await.unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 1), "{stats:?}");
    assert_eq!((stats.dead_letters, stats.retried), (3, 0));
    let seen = api.seen();
    let mut letters = shipper.dead_letters().await.unwrap();
    letters.sort_by_key(|letter| event_number(&letter.event_id));
    assert_eq!(letters.len(), 3);
    for (n, (letter, (status, _, message))) in letters.iter().zip(refusals).enumerate() {
        assert_eq!(seen.get(&(n as u128)), Some(&1), "sent once");
        assert_eq!(letter.status, Some(status));
        assert_eq!(letter.attempts, 1);
        let body = String::from_utf8(letter.error_body.clone()).unwrap();
        assert!(body.contains(message), "{status}: {body}");
    }
    shipper.shutdown(deadline(5)).await.unwrap();
}

/// With `max_attempts(1)` any counted failure would dead-letter the event at once.
async fn strict_shipper(server: &MockServer, dir: &TempDir) -> GraphShipper {
    Shipper::builder(graph(server), dir.spool())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(10))
        .max_attempts(1)
        .jitter_seed(SEED)
        .open()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_401_or_403_keeps_the_event_queued_and_is_no_attempt() {
    let server = start().await;
    // Event 0: three 401s then accepted; event 1: three 403s then accepted.
    let api = ByEvent::new(|n, before| match (n, before) {
        (0, 0..3) => odata_error(401, "InvalidAuthenticationToken", "token expired"),
        (1, 0..3) => odata_error(403, "Forbidden", "missing permission"),
        _ => accepted(n),
    });
    api.mount(&server).await;
    let dir = TempDir::new("auth");
    let shipper = strict_shipper(&server, &dir).await;
    shipper.send_all((0..2).map(event)).await.unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 2), "{stats:?}");
    assert_eq!((stats.dead_letters, stats.dead_lettered), (0, 0));
    assert!(stats.retried >= 1, "{stats:?}");
    let seen = api.seen();
    assert_eq!(seen.get(&0), Some(&4), "three 401s, then the 201");
    assert_eq!(seen.get(&1), Some(&4), "three 403s, then the 201");
    shipper.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn throttling_and_unavailability_keep_the_event_queued_and_are_no_attempt() {
    let server = start().await;
    let api = ByEvent::new(|n, before| match before {
        0 => ResponseTemplate::new(429),
        1 => ResponseTemplate::new(429).insert_header("Retry-After", "0"),
        2 => ResponseTemplate::new(503),
        3 => odata_error(503, "ServiceUnavailable", "down"),
        _ => accepted(n),
    });
    api.mount(&server).await;
    let dir = TempDir::new("throttled");
    // No retries in the facade: each answer reaches the shipper.
    let client = graph_builder(&server.uri())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let shipper = Shipper::builder(client, dir.spool())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(10))
        .max_attempts(1)
        .jitter_seed(SEED)
        .open()
        .await
        .unwrap();
    shipper.send(event(5)).await.unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 1), "{stats:?}");
    assert_eq!((stats.dead_letters, stats.retried), (0, 4), "{stats:?}");
    assert_eq!(api.seen().get(&5), Some(&5));
    shipper.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn a_network_that_is_down_dead_letters_nothing() {
    let server = start().await;
    // A port that refuses connections: nothing reaches any server.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = url::Url::parse(&format!("http://{}/v1.0", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let client = graph_builder(&server.uri()).base_url(api).build().unwrap();
    let dir = TempDir::new("network");
    let shipper = Shipper::builder(client, dir.spool())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .max_attempts(1)
        .max_age(Duration::ZERO)
        .jitter_seed(SEED)
        .open()
        .await
        .unwrap();
    shipper.send_all((0..3).map(event)).await.unwrap();
    let stats = eventually(async || {
        let stats = shipper.stats().await.unwrap();
        (stats.retried >= 10 || stats.dead_letters > 0).then_some(stats)
    })
    .await;
    assert_eq!((stats.spooled, stats.delivered), (3, 0), "{stats:?}");
    assert_eq!((stats.dead_letters, stats.dead_lettered), (0, 0));
    shipper.shutdown(Instant::now()).await.unwrap();
}

/// A token endpoint (or whatever sits where it should be) that answers 200 with something
/// that is not a token: no event reaches the API, none counts as delivered, all stay spooled
/// (and none is dead-lettered: the credentials are not the events' fault).
#[tokio::test]
async fn a_token_endpoint_2xx_that_is_no_token_delivers_nothing_and_keeps_the_events() {
    let answers = [
        (
            "captive portal",
            ResponseTemplate::new(200).set_body_raw(
                "<html><body>Sign in to the hotel wifi</body></html>",
                "text/html",
            ),
        ),
        (
            "json without access_token",
            ResponseTemplate::new(200)
                .set_body_json(json!({"token_type": "Bearer", "expires_in": 3600})),
        ),
        (
            "non-numeric expires_in",
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "t", "expires_in": "soon"})),
        ),
    ];
    for (case, answer) in answers {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(answer)
            .mount(&server)
            .await;
        let recorder = Recorder::default();
        mount_events(&server, &recorder).await;
        let dir = TempDir::new("token-2xx");
        let shipper = strict_shipper(&server, &dir).await;
        shipper.send_all((0..3).map(event)).await.unwrap();
        // Several rounds of asking for a token, each refused (or, wrongly, an event gone).
        eventually(async || {
            let asked = server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .filter(|request| request.url.path() == TOKEN_PATH)
                .count();
            (asked >= 4 || shipper.spooled() < 3).then_some(())
        })
        .await;
        let stats = shipper.stats().await.unwrap();
        assert_eq!(stats.delivered, 0, "{case}: {stats:?}");
        assert_eq!(stats.spooled, 3, "{case}: {stats:?}");
        assert_eq!(stats.dead_letters, 0, "{case}: {stats:?}");
        let to_api = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|request| request.url.path() == EVENTS)
            .count();
        assert_eq!(to_api, 0, "{case}: nothing was sent to the api");
        assert!(recorder.accepted().is_empty());
        let left = shipper.shutdown(Instant::now()).await.unwrap();
        assert_eq!((left.spooled, left.delivered), (3, 0), "{case}");
    }
}

/// The API's 2xx is an acknowledgement whatever follows it: a body over the client's size
/// cap, a body that does not decode, a 2xx the spec does not list. The event is removed and
/// never sent again, not even by the next shipper on the spool.
#[tokio::test]
async fn an_api_2xx_whose_answer_cannot_be_read_is_delivered_once() {
    let server = start().await;
    let api = ByEvent::new(|n, _| match n {
        0 => ResponseTemplate::new(201).set_body_json(json!({
            "id": "big", "displayName": "x".repeat(64 * 1024)
        })),
        1 => ResponseTemplate::new(201)
            .set_body_raw("<html><body>Thanks!</body></html>", "text/html"),
        2 => ResponseTemplate::new(204),
        _ => accepted(n),
    });
    api.mount(&server).await;
    let dir = TempDir::new("accepted");
    let open = || {
        let client = graph_builder(&server.uri())
            .max_response_bytes(4096)
            .build()
            .unwrap();
        Shipper::builder(client, dir.spool())
            .retry_backoff(Duration::from_millis(1), Duration::from_millis(10))
            .jitter_seed(SEED)
            .open()
    };
    let shipper = open().await.unwrap();
    shipper.send_all((0..3).map(event)).await.unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 3), "{stats:?}");
    assert_eq!((stats.dead_letters, stats.retried), (0, 0), "{stats:?}");
    shipper.shutdown(deadline(5)).await.unwrap();

    let reopened = open().await.unwrap();
    assert_eq!(reopened.spooled(), 0, "nothing left to send again");
    let stats = reopened.flush(deadline(1)).await.unwrap();
    assert_eq!(stats.delivered, 0);
    reopened.shutdown(deadline(5)).await.unwrap();
    let seen = api.seen();
    for n in 0..3 {
        assert_eq!(seen.get(&n), Some(&1), "event {n} was sent once");
    }
}
