//! What a broken proxy, a captive portal, a buggy service or an attacker can send, over
//! loopback: redirects, ids and categories that would address other resources, `nextLink`s
//! that loop, byte order marks, and URLs with secrets in `Debug` and logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditkit::graph::AuditEvent;
use auditkit::{Error, ListQuery, ListingStop, ManualClock, RetryPolicy};
use auditkit_testing::*;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn redirect_to(status: u16, location: String) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header("Location", location)
}

// ---- redirects: none is followed --------------------------------------------------------

#[tokio::test]
async fn a_redirected_token_request_is_not_followed_and_the_secret_stays_home() {
    let home = bare_server().await;
    let elsewhere = server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(redirect_to(307, format!("{}{TOKEN_PATH}", elsewhere.uri())))
        .mount(&home)
        .await;
    let client = graph(&home);

    let error = client.audit_events().get("id-1").await.unwrap_err();
    let Error::Auth(auth) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        auth.status(),
        Some(307),
        "the redirect is the token endpoint's answer"
    );
    assert_eq!(error.status(), None, "the api never answered");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
    assert!(api_requests(&home).await.is_empty());
    assert!(!error.to_string().contains(SECRET));
}

#[tokio::test]
async fn a_redirected_read_is_the_answer_not_a_hop() {
    let home = server().await;
    let elsewhere = server().await;
    Mock::given(method("GET"))
        .respond_with(redirect_to(
            302,
            format!("{}{EVENTS}/id-1", elsewhere.uri()),
        ))
        .mount(&home)
        .await;

    let error = graph(&home).audit_events().get("id-1").await.unwrap_err();
    assert_eq!(error.status(), Some(302), "{error:?}");
    assert!(!error.is_retryable());
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_adobe_post_redirected_elsewhere_delivers_nothing_there_and_is_no_success() {
    let home = server().await;
    let elsewhere = server().await;
    Mock::given(method("POST"))
        .and(path("/audits"))
        .respond_with(redirect_to(307, format!("{}/audits", elsewhere.uri())))
        .mount(&home)
        .await;
    Mock::given(method("POST"))
        .and(path("/audits"))
        .respond_with(ResponseTemplate::new(201).set_body_json("stolen-1"))
        .mount(&elsewhere)
        .await;

    let error = adobe(&home).post_audit(&adobe_event()).await.unwrap_err();
    assert_eq!(error.status(), Some(307), "{error:?}");
    assert!(!error.api_accepted());
    let stolen = elsewhere.received_requests().await.unwrap();
    assert!(
        stolen.is_empty(),
        "x-api-key, the org id and the event went elsewhere: {stolen:?}"
    );
}

#[tokio::test]
async fn a_client_built_to_follow_redirects_still_follows_none() {
    let following = auditkit::HttpClient::from_builder(
        auditkit::http_client_builder()
            .unwrap()
            .redirect(reqwest::redirect::Policy::limited(5)),
    )
    .unwrap();
    // The API: a redirect to another path on the same host, answered 200 there.
    let home = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/id-1")))
        .respond_with(redirect_to(302, format!("{}/elsewhere", home.uri())))
        .mount(&home)
        .await;
    Mock::given(method("GET"))
        .and(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "forged"})))
        .mount(&home)
        .await;
    let client = graph_builder(&home, &ManualClock::new())
        .http_client(following.clone())
        .build()
        .unwrap();
    let error = client.audit_events().get("id-1").await.unwrap_err();
    assert_eq!(error.status(), Some(302), "{error:?}");
    let hops: Vec<_> = api_requests(&home).await;
    assert!(
        hops.iter().all(|r| r.url.path() != "/elsewhere"),
        "{hops:?}"
    );

    // A token endpoint's 307 to another origin: the secret is not re-posted there.
    let portal = bare_server().await;
    let issuer = server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(redirect_to(307, format!("{}{TOKEN_PATH}", issuer.uri())))
        .mount(&portal)
        .await;
    let credential = auditkit::EntraCredential::client_secret(TENANT, "app", SECRET)
        .authority_host(url(&portal))
        .http_client(following.clone());
    let client = graph_builder(&portal, &ManualClock::new())
        .credential(credential)
        .http_client(following)
        .build()
        .unwrap();
    let error = client.audit_events().get("id-1").await.unwrap_err();
    let Error::Auth(auth) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(auth.status(), Some(307));
    assert!(
        issuer.received_requests().await.unwrap().is_empty(),
        "the secret stayed home"
    );
    assert!(api_requests(&portal).await.is_empty());
}

// ---- ids: one path segment each ----------------------------------------------------------

#[tokio::test]
async fn ids_that_are_not_one_path_segment_are_refused_before_anything_is_sent() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "x"})))
        .mount(&server)
        .await;
    let client = graph(&server);
    let events = client.audit_events();
    for id in ["", " ", ".", "..", "../x", "a/b", "..\\x", "a\\b", "a\nb"] {
        let get = events.get(id).await.unwrap_err();
        let update = events.update(id, &AuditEvent::default()).await.unwrap_err();
        let delete = events.delete(id).await.unwrap_err();
        for error in [get, update, delete] {
            assert!(
                matches!(error, Error::InvalidRequest(_)),
                "{id:?}: {error:?}"
            );
            assert!(!error.may_have_reached_server());
        }
    }
    let category = events
        .activity_types("a\\..\\x")
        .try_collect::<Vec<_>>()
        .await;
    assert!(
        matches!(category, Err(Error::InvalidRequest(_))),
        "{category:?}"
    );
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "not even a token was fetched"
    );

    // Any other text is one segment on the wire, percent-encoded.
    events.get("a b%?#..").await.unwrap();
    let sent = api_requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url.path(), format!("{EVENTS}/a%20b%25%3F%23.."));
}

// ---- nextLinks that loop -----------------------------------------------------------------

/// Page `n` of a listing at `$skiptoken=n` links to `next(n)` (`None`: the last page).
async fn mount_linked_pages(server: &MockServer, pages: u32, next: impl Fn(u32) -> Option<u32>) {
    for n in 0..pages {
        let mut body = json!({"value": [{"id": format!("e{n}")}]});
        if let Some(to) = next(n) {
            body["@odata.nextLink"] = json!(format!("{}{EVENTS}?$skiptoken={to}", server.uri()));
        }
        let mock = Mock::given(method("GET")).and(path(EVENTS));
        let mock = if n == 0 {
            mock.and(query_param_is_missing("$skiptoken"))
        } else {
            mock.and(query_param("$skiptoken", n.to_string()))
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }
}

async fn ids_then_error(client: &auditkit::GraphClient) -> (Vec<String>, Option<Error>) {
    let mut stream = client.audit_events().list(ListQuery::new());
    let mut ids = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => ids.push(event.id.unwrap()),
            Err(error) => {
                assert!(stream.next().await.is_none(), "an error ends the stream");
                return (ids, Some(error));
            }
        }
    }
    (ids, None)
}

#[tokio::test]
async fn a_next_link_that_repeats_itself_stops_the_listing_with_a_typed_error() {
    let server = server().await;
    mount_linked_pages(&server, 3, |n| Some(if n == 0 { 1 } else { 2 })).await;
    let (ids, error) = ids_then_error(&graph(&server)).await;
    assert_eq!(ids, ["e0", "e1", "e2"]);
    match error {
        Some(Error::ListingStopped {
            reason: ListingStop::RepeatedLink,
            pages: 3,
            next_link,
        }) => {
            assert!(next_link.unwrap().as_str().ends_with("$skiptoken=2"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(api_requests(&server).await.len(), 3, "each page once");
}

#[tokio::test]
async fn a_cycle_of_next_links_stops_the_listing_too() {
    let server = server().await;
    // 0 -> 1 -> 2 -> 3 -> 1 -> …
    mount_linked_pages(&server, 4, |n| Some(if n == 3 { 1 } else { n + 1 })).await;
    let (ids, error) = ids_then_error(&graph(&server)).await;
    assert_eq!(ids, ["e0", "e1", "e2", "e3"]);
    assert!(
        matches!(
            error,
            Some(Error::ListingStopped {
                reason: ListingStop::RepeatedLink,
                ..
            })
        ),
        "{error:?}"
    );
    assert_eq!(api_requests(&server).await.len(), 4);
}

#[tokio::test]
async fn a_page_limit_stops_a_listing_with_the_link_to_resume_from() {
    let server = server().await;
    mount_linked_pages(&server, 5, |n| (n < 4).then_some(n + 1)).await;
    let client = graph(&server);
    let (ids, error) = ids_then_error(&client.with_max_pages(2)).await;
    assert_eq!(ids, ["e0", "e1"]);
    let Some(Error::ListingStopped {
        reason: ListingStop::PageLimit(2),
        pages: 2,
        next_link: Some(link),
    }) = error
    else {
        panic!("{error:?}")
    };
    let rest: Vec<String> = client
        .audit_events()
        .list_from(link)
        .map_ok(|event| event.id.unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rest, ["e2", "e3", "e4"]);
    let (all, error) = ids_then_error(&client).await;
    assert_eq!(
        (all.len(), error.is_none()),
        (5, true),
        "no limit by default"
    );
}

#[tokio::test]
async fn next_links_are_read_as_odata_allows_and_a_broken_one_is_the_services_fault() {
    let server = server().await;
    let page = |id: &str, next: Option<&str>| {
        let mut body = json!({"value": [{"id": id}]});
        if let Some(next) = next {
            body["@odata.nextLink"] = json!(next);
        }
        ResponseTemplate::new(200).set_body_json(body)
    };
    let upper = format!("HTTP://{}{EVENTS}?$skiptoken=4", server.address());
    let steps = [
        (
            None,
            page("e0", Some(&format!("{EVENTS}?$skiptoken=1#frag"))),
        ), // absolute path
        (Some("1"), page("e1", Some("auditEvents?$skiptoken=2"))), // relative to the page
        (
            Some("2"),
            page(
                "e2",
                Some(&format!("{}{EVENTS}/./?$skiptoken=3", server.uri())),
            ),
        ),
        (Some("3"), page("e3", Some(&upper))),
        // The same link in other letters: a repeat.
        (Some("4"), page("e4", Some(&upper.replace("HTTP", "http")))),
    ];
    for (token, answer) in steps {
        let mock = Mock::given(method("GET"));
        let mock = match token {
            None => mock
                .and(path(EVENTS))
                .and(query_param_is_missing("$skiptoken")),
            Some(token) => mock.and(query_param("$skiptoken", token)),
        };
        mock.respond_with(answer).mount(&server).await;
    }
    let (ids, error) = ids_then_error(&graph(&server)).await;
    assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4"]);
    assert!(
        matches!(
            error,
            Some(Error::ListingStopped {
                reason: ListingStop::RepeatedLink,
                ..
            })
        ),
        "{error:?}"
    );

    let broken = bare_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "t", "expires_in": 3600})),
        )
        .mount(&broken)
        .await;
    Mock::given(method("GET"))
        .respond_with(page("only", Some("http://[not a url")))
        .mount(&broken)
        .await;
    let (ids, error) = ids_then_error(&graph(&broken)).await;
    assert_eq!(ids, ["only"]);
    assert!(
        matches!(
            error,
            Some(Error::ListingStopped {
                reason: ListingStop::InvalidLink,
                pages: 1,
                ..
            })
        ),
        "stopped after the one page it delivered: {error:?}"
    );
}

// ---- byte order marks ----------------------------------------------------------------------

fn with_bom(body: &str) -> ResponseTemplate {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(body.as_bytes());
    ResponseTemplate::new(200).set_body_raw(bytes, "application/json")
}

#[tokio::test]
async fn a_byte_order_mark_before_any_answer_costs_nothing() {
    let server = bare_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(with_bom(r#"{"access_token": "t", "expires_in": 3600}"#))
        .mount(&server)
        .await;
    let next = format!("{}{EVENTS}?$skiptoken=1", server.uri());
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .and(query_param_is_missing("$skiptoken"))
        .respond_with(with_bom(
            &json!({"value": [{"id": "a"}], "@odata.nextLink": next}).to_string(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .and(query_param("$skiptoken", "1"))
        .respond_with(with_bom(r#"{"value": [{"id": "b"}]}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/a")))
        .respond_with(with_bom(r#"{"id": "a"}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/$count")))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(b"\xEF\xBB\xBF42".to_vec(), "text/plain"),
        )
        .mount(&server)
        .await;

    let events = graph(&server);
    let events = events.audit_events();
    let ids: Vec<String> = events
        .list(ListQuery::new())
        .map_ok(|event| event.id.unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(events.get("a").await.unwrap().id.as_deref(), Some("a"));
    assert_eq!(events.count(None).await.unwrap(), 42);
}

#[tokio::test]
async fn null_collections_on_any_page_cost_nothing() {
    let server = server().await;
    let link = |n: u32| format!("{}{EVENTS}?$skiptoken={n}", server.uri());
    let pages = [
        json!({"value": [{"id": "a", "resources": null, "userPermissions": null}], "@odata.nextLink": link(1)}),
        json!({"value": null, "@odata.nextLink": link(2)}),
        json!({"value": [{"id": "b", "actor": {"userPermissions": null, "userRoleScopeTags": null}}], "@odata.nextLink": null}),
    ];
    for (n, page) in pages.into_iter().enumerate() {
        let mock = Mock::given(method("GET")).and(path(EVENTS));
        let mock = if n == 0 {
            mock.and(query_param_is_missing("$skiptoken"))
        } else {
            mock.and(query_param("$skiptoken", n.to_string()))
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_json(page))
            .mount(&server)
            .await;
    }
    let events: Vec<AuditEvent> = graph(&server)
        .audit_events()
        .list(ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = events.iter().filter_map(|e| e.id.as_deref()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(events[0].resources.is_empty());
}

// ---- secrets in URLs: never in Debug or logs -------------------------------------------------

#[tokio::test]
async fn urls_are_redacted_in_debug_output_and_in_logs() {
    use auditkit::{EntraCredential, GraphClient, ImsCredential, ImsEnvironment, TokenCache};

    let secret_url = |host: &str| {
        url::Url::parse(&format!(
            "http://user:hunter2@{host}/v1.0?code=query-value-1"
        ))
        .unwrap()
    };
    let environment = ImsEnvironment::Custom(secret_url("127.0.0.1:9"));
    let cache = TokenCache::new();
    let graph = GraphClient::builder()
        .credential(
            EntraCredential::client_secret(TENANT, "app", SECRET)
                .authority_host(secret_url("127.0.0.1:1")),
        )
        .base_url(secret_url("127.0.0.1:1"))
        .token_cache(cache.clone())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let adobe = auditkit::AdobeClient::builder()
        .base_url(secret_url("127.0.0.1:1"))
        .credential(
            ImsCredential::server_to_server("id", SECRET, ["openid"])
                .environment(environment.clone()),
        )
        .build()
        .unwrap();

    // A transport failure of an API call with a $filter value, logged at DEBUG: tokens come
    // from a live server, the API is a closed port.
    let tokens = server().await;
    let unreachable = GraphClient::builder()
        .credential(
            EntraCredential::client_secret(TENANT, "app", SECRET).authority_host(url(&tokens)),
        )
        .base_url(url::Url::parse("http://127.0.0.1:1/v1.0").unwrap())
        .token_cache(cache.clone())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let logs = Logs::default();
    let filter = "actor/userPrincipalName eq 'ann@filter-value.example'";
    let listing = logs
        .capture(
            tracing::Level::DEBUG,
            unreachable
                .audit_events()
                .list_page(&ListQuery::new().filter(filter)),
        )
        .await;
    assert!(
        matches!(listing, Err(Error::Transport { .. })),
        "{listing:?}"
    );
    let logs = logs.text();
    assert!(logs.contains("not answered"), "{logs}");

    let stopped = Error::ListingStopped {
        reason: ListingStop::RepeatedLink,
        pages: 1,
        next_link: Some(auditkit::NextLink::new(format!(
            "{EVENTS}?$filter=filter-value"
        ))),
    };
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [],
            "@odata.nextLink": format!("{}{EVENTS}?$filter=filter-value", tokens.uri()),
        })))
        .mount(&tokens)
        .await;
    let page = auditkit_testing::graph(&tokens)
        .audit_events()
        .list_page(&ListQuery::new())
        .await
        .unwrap();
    assert!(
        page.next_link.as_deref().unwrap().contains("filter-value"),
        "kept whole"
    );
    let shown = [
        format!("{stopped:?}"),
        format!("{page:?}"),
        format!("{environment:?}"),
        format!("{graph:?}"),
        format!("{adobe:?}"),
        format!("{cache:?}"),
        format!("{listing:?}"),
        logs,
    ];
    for text in shown {
        for secret in ["hunter2", "query-value-1", "filter-value", SECRET] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[tokio::test]
async fn service_words_in_errors_carry_no_terminal_controls() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"code": "bad\u{1b}[2J", "message": "no\u{202e}txt.exe\u{1b}[31m"}}),
        ))
        .mount(&server)
        .await;
    let error = graph(&server).audit_events().get("x").await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("bad\u{FFFD}[2J") && text.contains("no\u{FFFD}txt.exe"),
        "{text}"
    );
    assert!(
        !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{text:?}"
    );
}
