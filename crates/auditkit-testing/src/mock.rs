//! wiremock mocks of every operation of both specs, their bodies made from the generated
//! models, so a mock answers what the real service would put on the wire: listings as pages
//! linked by `@odata.nextLink`, entities, the plain-text `$count`, the two functions, Adobe's
//! post, and every documented failure (OData errors, throttling with and without
//! `Retry-After`, Adobe's string and `ErrorResponse` bodies).
//!
//! Mount them on a [`server`](crate::server) (its token endpoints answer already) and point a
//! client at it with [`graph`](crate::graph) or [`adobe`](crate::adobe):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use auditkit::graph::AuditEvent;
//! use auditkit_testing::mock;
//! use futures::TryStreamExt;
//!
//! let server = auditkit_testing::server().await;
//! let events: Vec<AuditEvent> = (0..5).map(|n| mock::graph::event(&format!("e{n}"))).collect();
//! mock::graph::list(&server, &events, 2).await; // three pages
//! mock::graph::error(&server, "GET", "/missing", 404, "itemNotFound", "no such event").await;
//!
//! let client = auditkit_testing::graph(&server);
//! let listed: Vec<AuditEvent> = client.audit_events().list(Default::default()).try_collect().await.unwrap();
//! assert_eq!(listed, events);
//! let missing = client.audit_events().get("missing").await.unwrap_err();
//! assert_eq!(missing.status(), Some(404));
//! # }
//! ```

/// Microsoft Graph, `/v1.0/deviceManagement/auditEvents` ([`EVENTS`](crate::EVENTS)).
pub mod graph {
    use auditkit::graph::AuditEvent;
    use std::sync::atomic::{AtomicU64, Ordering};

    use auditkit_graph::types::{InnerError, MainError, ODataError};
    use serde_json::{Value, json};
    use wiremock::matchers::{method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    use crate::EVENTS;

    /// The `request-id` of every error answer made here.
    pub const REQUEST_ID: &str = "00000000-0000-0000-0000-00000000e77e";

    /// Matches a request whose path, percent-decoded, is this one: the generated client
    /// encodes an id or a category as the URL rules want, a test names it as text.
    struct DecodedPath(String);

    impl wiremock::Match for DecodedPath {
        fn matches(&self, request: &Request) -> bool {
            percent_encoding::percent_decode_str(request.url.path()).decode_utf8_lossy()
                == self.0.as_str()
        }
    }

    fn at(suffix: &str) -> DecodedPath {
        DecodedPath(format!("{EVENTS}{suffix}"))
    }

    /// An event with this id and the properties every Intune event carries.
    pub fn event(id: &str) -> AuditEvent {
        AuditEvent {
            id: Some(id.into()),
            display_name: Some(format!("event {id}")),
            category: Some("Device".into()),
            activity: Some("Patch ManagedDevice".into()),
            activity_type: Some("Patch ManagedDevice".into()),
            activity_operation_type: Some("Patch".into()),
            activity_result: Some("Success".into()),
            component_name: Some("Devices".into()),
            activity_date_time: "2025-03-24T15:14:04Z".parse().ok(),
            correlation_id: uuid_of(id),
            ..AuditEvent::default()
        }
    }

    fn uuid_of(id: &str) -> Option<uuid::Uuid> {
        let mut bytes = [0u8; 16];
        for (n, byte) in id.bytes().enumerate() {
            bytes[n % 16] ^= byte;
        }
        Some(uuid::Uuid::from_bytes(bytes))
    }

    /// The body Graph sends with an error status, `innerError` included (its `date` without
    /// a UTC offset, as Graph writes it).
    pub fn error_body(code: &str, message: &str) -> ODataError {
        ODataError {
            error: MainError {
                code: code.into(),
                message: message.into(),
                details: Vec::new(),
                inner_error: Some(InnerError {
                    client_request_id: Some(REQUEST_ID.into()),
                    date: Some("2025-03-24T15:14:05".into()),
                    odata_type: None,
                    request_id: Some(REQUEST_ID.into()),
                }),
                target: None,
            },
        }
    }

    /// An OData error answer: `status`, the error body, and Graph's `request-id`.
    pub fn error_answer(status: u16, code: &str, message: &str) -> ResponseTemplate {
        ResponseTemplate::new(status)
            .set_body_json(error_body(code, message))
            .insert_header("request-id", REQUEST_ID)
    }

    /// 429 `TooManyRequests`, with `Retry-After` in seconds when given.
    pub fn throttled(retry_after: Option<u64>) -> ResponseTemplate {
        with_retry_after(
            error_answer(429, "TooManyRequests", "Too many requests."),
            retry_after,
        )
    }

    /// 503 `serviceNotAvailable`, with `Retry-After` in seconds when given.
    pub fn unavailable(retry_after: Option<u64>) -> ResponseTemplate {
        with_retry_after(
            error_answer(503, "serviceNotAvailable", "The service is unavailable."),
            retry_after,
        )
    }

    fn with_retry_after(answer: ResponseTemplate, seconds: Option<u64>) -> ResponseTemplate {
        match seconds {
            Some(seconds) => answer.insert_header("retry-after", seconds.to_string()),
            None => answer,
        }
    }

    /// The listing of `events`, `page_size` a page: the first page at the collection, each
    /// next one at the `@odata.nextLink` of the one before (`$skiptoken`), the last without
    /// a link. Every query option is accepted and ignored.
    pub async fn list(server: &MockServer, events: &[AuditEvent], page_size: usize) {
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .respond_with(Pages {
                events: events.to_vec(),
                page_size: page_size.max(1),
                base: server.uri(),
            })
            .mount(server)
            .await;
    }

    struct Pages {
        events: Vec<AuditEvent>,
        page_size: usize,
        base: String,
    }

    impl Respond for Pages {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let start = request
                .url
                .query_pairs()
                .find(|(name, _)| name == "$skiptoken")
                .and_then(|(_, value)| value.parse::<usize>().ok())
                .unwrap_or(0);
            let end = (start + self.page_size).min(self.events.len());
            let mut body = json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/auditEvents",
                "value": self.events.get(start..end).unwrap_or_default(),
            });
            if end < self.events.len() {
                // Graph's links carry the request's own options, and a skiptoken.
                let mut link = url::Url::parse(&format!("{}{EVENTS}", self.base))
                    .expect("the mock server's own URL");
                {
                    let mut pairs = link.query_pairs_mut();
                    for (name, value) in request.url.query_pairs() {
                        if name != "$skiptoken" {
                            pairs.append_pair(&name, &value);
                        }
                    }
                    pairs.append_pair("$skiptoken", &end.to_string());
                }
                body["@odata.nextLink"] = json!(link.as_str());
            }
            ResponseTemplate::new(200).set_body_json(body)
        }
    }

    /// One page of the listing, whatever is asked: `events`, and `next_link` when given.
    pub async fn page(server: &MockServer, events: &[AuditEvent], next_link: Option<&str>) {
        let mut body = json!({ "value": events });
        if let Some(link) = next_link {
            body["@odata.nextLink"] = json!(link);
        }
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .and(query_param_is_missing("$skiptoken"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }

    /// `GET …/{id}` answers `event` (by its id).
    pub async fn get(server: &MockServer, event: &AuditEvent) {
        let id = event.id.clone().unwrap_or_default();
        Mock::given(method("GET"))
            .and(at(&format!("/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(event))
            .mount(server)
            .await;
    }

    /// `POST` answers 201 with the posted event as stored: an id assigned when it had none.
    pub async fn create(server: &MockServer) {
        Mock::given(method("POST"))
            .and(path(EVENTS))
            .respond_with(Created(AtomicU64::new(0)))
            .mount(server)
            .await;
    }

    /// Assigns ids in order, so no two creates share one.
    struct Created(AtomicU64);

    impl Respond for Created {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            match serde_json::from_slice::<AuditEvent>(&request.body) {
                Ok(mut event) => {
                    let id = event
                        .id
                        .get_or_insert_with(|| {
                            format!("created-{}", self.0.fetch_add(1, Ordering::Relaxed) + 1)
                        })
                        .clone();
                    let location = format!("{}/{id}", request.url);
                    ResponseTemplate::new(201)
                        .set_body_json(event)
                        .insert_header("location", location)
                }
                Err(err) => error_answer(400, "BadRequest", &format!("not an auditEvent: {err}")),
            }
        }
    }

    /// `PATCH …/{id}` answers 200 with `updated`.
    pub async fn update(server: &MockServer, updated: &AuditEvent) {
        let id = updated.id.clone().unwrap_or_default();
        Mock::given(method("PATCH"))
            .and(at(&format!("/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(updated))
            .mount(server)
            .await;
    }

    /// `DELETE …/{id}` answers 204.
    pub async fn delete(server: &MockServer, id: &str) {
        Mock::given(method("DELETE"))
            .and(at(&format!("/{id}")))
            .respond_with(ResponseTemplate::new(204))
            .mount(server)
            .await;
    }

    /// `$count` answers `n` as plain text, after the byte order mark Graph puts first.
    pub async fn count(server: &MockServer, n: u64) {
        Mock::given(method("GET"))
            .and(path(format!("{EVENTS}/$count")))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(format!("\u{feff}{n}"), "text/plain"),
            )
            .mount(server)
            .await;
    }

    /// `getAuditCategories()` answers `categories`, in one page.
    pub async fn categories(server: &MockServer, categories: &[&str]) {
        strings(server, "/microsoft.graph.getAuditCategories()", categories).await;
    }

    /// `getAuditActivityTypes(category='…')` of `category` answers `types`, in one page.
    pub async fn activity_types(server: &MockServer, category: &str, types: &[&str]) {
        let literal = category.replace('\'', "''");
        let suffix = format!("/microsoft.graph.getAuditActivityTypes(category='{literal}')");
        strings(server, &suffix, types).await;
    }

    async fn strings(server: &MockServer, suffix: &str, values: &[&str]) {
        let body = auditkit_graph::types::StringCollectionResponse {
            value: values.iter().map(|v| (*v).to_owned()).collect(),
            ..Default::default()
        };
        let mut body = serde_json::to_value(body).unwrap_or(Value::Null);
        body["value"] = json!(values);
        Mock::given(method("GET"))
            .and(at(suffix))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }

    /// `http_method` of `EVENTS` + `suffix` (`"/e1"`, `""`, `"/$count"`) answers an OData
    /// error, ahead of any other mock of it.
    pub async fn error(
        server: &MockServer,
        http_method: &str,
        suffix: &str,
        status: u16,
        code: &str,
        message: &str,
    ) {
        respond(
            server,
            http_method,
            suffix,
            error_answer(status, code, message),
            None,
        )
        .await;
    }

    /// `http_method` of `EVENTS` + `suffix` answers `answer` the first `times` times (always
    /// when `None`), ahead of any other mock of it: throttling or an outage before the
    /// mocks mounted with the functions above answer.
    pub async fn respond(
        server: &MockServer,
        http_method: &str,
        suffix: &str,
        answer: ResponseTemplate,
        times: Option<u64>,
    ) {
        let mock = Mock::given(method(http_method))
            .and(at(suffix))
            .respond_with(answer)
            .with_priority(1);
        let mock = match times {
            Some(times) => mock.up_to_n_times(times),
            None => mock,
        };
        mock.mount(server).await;
    }

    /// A `$skiptoken` page of [`list`] answers `answer` the first `times` times.
    pub async fn fail_page(
        server: &MockServer,
        skiptoken: usize,
        answer: ResponseTemplate,
        times: u64,
    ) {
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .and(query_param("$skiptoken", skiptoken.to_string()))
            .respond_with(answer)
            .up_to_n_times(times)
            .with_priority(1)
            .mount(server)
            .await;
    }
}

/// The Adobe Audit Service, `POST /audits`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use auditkit_testing::mock::adobe;
///
/// let server = auditkit_testing::server().await;
/// adobe::post(&server, "stored-1").await;
/// // The first post meets maintenance, which the client's retry policy rides out.
/// adobe::fail_post(&server, adobe::error_response(503, "MAINTENANCE", "later"), 1).await;
///
/// let client = auditkit_testing::adobe(&server);
/// let id = client.post_audit(&auditkit_testing::adobe_event()).await.unwrap();
/// assert_eq!(id, "stored-1");
/// # }
/// ```
pub mod adobe {
    use auditkit_adobe::types::ErrorResponse;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// `POST /audits` answers 201 with `id`, a JSON string, as documented.
    pub async fn post(server: &MockServer, id: &str) {
        Mock::given(method("POST"))
            .and(path("/audits"))
            .respond_with(ResponseTemplate::new(201).set_body_json(id))
            .mount(server)
            .await;
    }

    /// An error answer with a JSON string body, as documented for 400 and 401.
    pub fn string_error(status: u16, text: &str) -> ResponseTemplate {
        ResponseTemplate::new(status)
            .set_body_json(text)
            .insert_header("x-debug-id", "debug-e77e")
    }

    /// An error answer with an `ErrorResponse` body, as documented for 500 and 503.
    pub fn error_response(status: u16, reason: &str, message: &str) -> ResponseTemplate {
        ResponseTemplate::new(status)
            .set_body_json(ErrorResponse {
                reason: Some(reason.into()),
                message: Some(message.into()),
            })
            .insert_header("x-debug-id", "debug-e77e")
    }

    /// 429 with `Retry-After` in seconds when given.
    pub fn throttled(retry_after: Option<u64>) -> ResponseTemplate {
        let answer = error_response(429, "TOO_MANY_REQUESTS", "Too many requests");
        match retry_after {
            Some(seconds) => answer.insert_header("retry-after", seconds.to_string()),
            None => answer,
        }
    }

    /// `POST /audits` answers `answer` the first `times` times, ahead of [`post`].
    pub async fn fail_post(server: &MockServer, answer: ResponseTemplate, times: u64) {
        Mock::given(method("POST"))
            .and(path("/audits"))
            .respond_with(answer)
            .up_to_n_times(times)
            .with_priority(1)
            .mount(server)
            .await;
    }
}

/// The token endpoints' failures ([`server`](crate::server) mounts their successes).
pub mod tokens {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::{IMS_TOKEN_PATH, TOKEN_PATH};

    /// Entra ID refuses the next `times` token requests with `error` (e.g. `invalid_client`).
    pub async fn entra_refuses(server: &MockServer, status: u16, error: &str, times: u64) {
        refuse(server, TOKEN_PATH, status, error, times).await;
    }

    /// Adobe IMS refuses the next `times` token requests with `error`.
    pub async fn ims_refuses(server: &MockServer, status: u16, error: &str, times: u64) {
        refuse(server, IMS_TOKEN_PATH, status, error, times).await;
    }

    async fn refuse(server: &MockServer, at: &str, status: u16, error: &str, times: u64) {
        Mock::given(method("POST"))
            .and(path(at))
            .respond_with(ResponseTemplate::new(status).set_body_json(
                json!({"error": error, "error_description": format!("{error}: refused by the test")}),
            ))
            .up_to_n_times(times)
            .with_priority(1)
            .mount(server)
            .await;
    }
}
