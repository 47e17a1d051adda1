//! The pipeline on its own, over loopback: the stages of its module documentation, and how a
//! call's outcome comes back as a typed error. No API and no real credential: a generated
//! client is stood in for by plain requests, a credential by a fixed header.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use auditkit_runtime::{
    AuthError, AuthErrorKind, BoxFuture, Call, Credential, CredentialHeaders, Error, ManualClock,
    Pipeline, RetryPolicy,
};
use reqwest::header::{HeaderName, HeaderValue};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A credential that hands out `Bearer fixed`, or fails when `fail` is set.
#[derive(Debug, Default)]
struct Fixed {
    fail: bool,
    fetched: AtomicU32,
}

impl Credential for Fixed {
    fn headers(&self) -> BoxFuture<'_, Result<CredentialHeaders, AuthError>> {
        Box::pin(async move {
            self.fetched.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(AuthError::new("test", AuthErrorKind::Rejected, "no").with_status(200));
            }
            let mut headers = CredentialHeaders::new();
            headers.insert(
                reqwest::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer fixed"),
            );
            Ok(headers)
        })
    }

    fn invalidate(&self, _: &CredentialHeaders) {}
}

async fn server() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    MockServer::builder().listener(listener).start().await
}

fn pipeline(api: &MockServer, credential: Arc<dyn Credential>) -> Pipeline {
    let clock = ManualClock::new();
    Pipeline::builder()
        .credential(url::Url::parse(&api.uri()).unwrap(), credential)
        .client_request_id_header(HeaderName::from_static("client-request-id"))
        .retry(RetryPolicy::default().jitter_seed(3))
        .time(Arc::new(clock.clone()), Arc::new(clock))
        .build()
        .unwrap()
}

fn get(http: &reqwest::Client, url: &str) -> reqwest::Request {
    http.get(url).header("api-version", "v1.0").build().unwrap()
}

#[tokio::test]
async fn every_attempt_carries_the_calls_headers_and_only_the_api_is_called() {
    let api = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&api)
        .await;
    let other = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&other)
        .await;
    let http = auditkit_runtime::HttpClient::new()
        .unwrap()
        .reqwest()
        .clone();
    let pipeline = pipeline(&api, Arc::new(Fixed::default()));

    let call = Call::new();
    let answer = call
        .run(pipeline.execute(&http, get(&http, &format!("{}/x", api.uri())), "op"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let sent = api.received_requests().await.unwrap();
    assert_eq!(sent.len(), 2);
    let header = |n: usize, name: &str| {
        sent[n]
            .headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    for n in 0..2 {
        assert_eq!(
            header(n, "api-version"),
            None,
            "progenitor's header is dropped"
        );
        assert_eq!(header(n, "authorization").as_deref(), Some("Bearer fixed"));
        assert!(header(n, "user-agent").unwrap().starts_with("auditkit/"));
    }
    assert_eq!(
        header(0, "client-request-id"),
        header(1, "client-request-id")
    );
    assert_eq!(header(0, "retry-attempt"), None);
    assert_eq!(header(1, "retry-attempt").as_deref(), Some("1"));
    assert_eq!(call.details().attempts, 2);
    assert_eq!(call.waits().len(), 1);

    // A request for another origin is refused: nothing, token or not, goes there.
    let call = Call::new();
    let outcome = call
        .run(pipeline.execute(&http, get(&http, &format!("{}/y", other.uri())), "op"))
        .await;
    let error = call
        .finish_json::<serde_json::Value, Never>(outcome)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Refused(_)), "{error:?}");
    assert!(other.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_refusal_is_the_calls_typed_error_and_a_local_answer_without_a_call() {
    let api = server().await;
    let http = auditkit_runtime::HttpClient::new()
        .unwrap()
        .reqwest()
        .clone();
    let failing = Arc::new(Fixed {
        fail: true,
        ..Fixed::default()
    });
    let pipeline = pipeline(&api, failing.clone());
    let url = format!("{}/x", api.uri());

    let call = Call::new();
    let outcome = call
        .run(pipeline.execute(&http, get(&http, &url), "op"))
        .await;
    let error = call
        .finish_json::<serde_json::Value, Never>(outcome)
        .await
        .unwrap_err();
    let Error::Auth(auth) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(auth.status(), Some(200));
    assert_eq!(
        error.status(),
        None,
        "a token endpoint's 200 is not the api's"
    );

    let answer = pipeline
        .execute(&http, get(&http, &url), "op")
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), auditkit_runtime::call::REFUSED);
    assert!(answer.text().await.unwrap().contains("test: no"));
    assert!(
        api.received_requests().await.unwrap().is_empty(),
        "nothing was sent"
    );
    assert_eq!(failing.fetched.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn local_answers_go_through_every_other_stage() {
    let answered = Arc::new(AtomicU32::new(0));
    let pipeline = Pipeline::builder()
        .local_answers({
            let answered = answered.clone();
            Arc::new(move |request: &reqwest::Request| {
                answered.fetch_add(1, Ordering::SeqCst);
                assert!(request.headers().get("api-version").is_none());
                let mut body = b"\xEF\xBB\xBF".to_vec();
                body.extend_from_slice(br#"{"value": 1}"#);
                http::Response::new(bytes::Bytes::from(body))
            })
        })
        .build()
        .unwrap();
    let http = auditkit_runtime::HttpClient::new()
        .unwrap()
        .reqwest()
        .clone();
    let call = Call::new();
    let outcome = call
        .run(pipeline.execute(&http, get(&http, "http://127.0.0.1:9/"), "op"))
        .await;
    let value: serde_json::Value = call.finish_json::<_, Never>(outcome).await.unwrap();
    assert_eq!(value["value"], 1, "the BOM was dropped on the way");
    assert_eq!(answered.load(Ordering::SeqCst), 1);
}

/// An error body no answer here has.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Never {}

impl auditkit_runtime::ErrorBody for Never {
    fn code_and_message(&self) -> (Option<String>, Option<String>) {
        (None, None)
    }
}

/// A server that answers its first request with a 503 and then stops listening: the retry
/// cannot connect, yet the call did reach the server once.
#[tokio::test]
async fn a_retry_that_cannot_connect_after_an_answer_may_still_have_reached_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0_u8; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        socket
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        // The listener is dropped here: the next connection is refused.
    });
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder()
        .retry(RetryPolicy::default().max_attempts(2).jitter_seed(3))
        .time(Arc::new(clock.clone()), Arc::new(clock))
        .build()
        .unwrap();
    let http = auditkit_runtime::http_client_builder()
        .unwrap()
        .build()
        .unwrap();
    let call = Call::new();
    let request = get(&http, &format!("{base}/x"));
    let outcome = call.run(pipeline.execute(&http, request, "op")).await;
    served.await.unwrap();
    let error = call
        .finish_json::<serde_json::Value, Never>(outcome)
        .await
        .unwrap_err();
    match error {
        Error::Transport {
            may_have_reached_server,
            ..
        } => assert!(may_have_reached_server, "the first attempt was answered"),
        other => panic!("expected a transport error, got {other:?}"),
    }
}
