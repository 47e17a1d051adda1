//! Paging streams over loopback: `@odata.nextLink`, failed pages, resuming from a cursor (the
//! export from a checkpoint is in `export.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditkit::ListQuery;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

// The one place test servers and clients are made, under the names these tests use.
use auditkit_testing::{EVENTS, graph as client, server as start};

/// Serves `pages` of ids; page n links to page n+1 through `$skiptoken=n+1`.
async fn mount_pages(server: &MockServer, pages: &[&[&str]], wrong_count: bool) {
    for (n, ids) in pages.iter().enumerate() {
        let mut body = json!({"value": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()});
        if n + 1 < pages.len() {
            body["@odata.nextLink"] =
                json!(format!("{}{EVENTS}?$skiptoken={}", server.uri(), n + 1));
        }
        if wrong_count {
            body["@odata.count"] = json!(999);
        }
        let mock = Mock::given(method("GET")).and(path(EVENTS));
        let mock = if n == 0 {
            mock.and(wiremock::matchers::query_param_is_missing("$skiptoken"))
        } else {
            mock.and(query_param("$skiptoken", n.to_string()))
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }
}

fn ids(events: &[auditkit::graph::AuditEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone().unwrap()).collect()
}

#[tokio::test]
async fn five_pages_where_page_three_fails_once_yield_every_item_exactly_once() {
    let server = start().await;
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .and(query_param("$skiptoken", "2"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_pages(
        &server,
        &[&["a", "b"], &["c"], &["d", "e"], &["f"], &["g", "h"]],
        false,
    )
    .await;
    let events: Vec<_> = client(&server)
        .audit_events()
        .list(ListQuery::new().top(2))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&events), ["a", "b", "c", "d", "e", "f", "g", "h"]);
}

#[tokio::test]
async fn empty_pages_and_a_wrong_count_do_not_end_the_listing() {
    let server = start().await;
    mount_pages(&server, &[&["a"], &[], &[], &["b"]], true).await;
    let pages: Vec<_> = client(&server)
        .audit_events()
        .pages(ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 4);
    assert_eq!(
        pages[0].count,
        Some(999),
        "reported as sent, never trusted for the end"
    );
    let events: Vec<_> = client(&server)
        .audit_events()
        .list(ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&events), ["a", "b"]);
}

#[tokio::test]
async fn resuming_from_a_saved_cursor_continues_where_it_stopped() {
    let server = start().await;
    mount_pages(&server, &[&["a"], &["b"], &["c"], &["d"], &["e"]], false).await;
    let client = client(&server);
    let mut pages = Box::pin(client.audit_events().pages(ListQuery::new()));
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..2 {
        let page = pages.next().await.unwrap().unwrap();
        seen.extend(ids(&page.items));
        cursor = page.next_link.clone();
    }
    drop(pages); // the process "crashes" here, with the cursor saved
    let rest: Vec<_> = client
        .audit_events()
        .list_from(cursor.unwrap())
        .try_collect()
        .await
        .unwrap();
    seen.extend(ids(&rest));
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
}

#[tokio::test]
async fn a_failing_page_ends_the_stream_with_its_error_after_the_items_before_it() {
    let server = start().await;
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .and(query_param("$skiptoken", "1"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"code": "invalidRequest", "message": "expired skiptoken"}}),
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_pages(&server, &[&["a", "b"], &["c"]], false).await;
    let outcomes: Vec<_> = client(&server)
        .audit_events()
        .list(ListQuery::new())
        .collect()
        .await;
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes[0].is_ok() && outcomes[1].is_ok());
    let error = outcomes[2].as_ref().unwrap_err();
    assert_eq!(
        error.service().unwrap().code.as_deref(),
        Some("invalidRequest")
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_ends_the_stream_refused() {
    let server = start().await;
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": "a"}],
            "@odata.nextLink": "https://attacker.example/v1.0/deviceManagement/auditEvents?$skiptoken=1"
        })))
        .mount(&server)
        .await;
    let outcomes: Vec<_> = client(&server)
        .audit_events()
        .list(ListQuery::new())
        .collect()
        .await;
    assert_eq!(outcomes.len(), 2);
    assert!(
        matches!(outcomes[1], Err(auditkit::Error::Refused(_))),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "token and first page only"
    );
}

#[tokio::test]
async fn categories_and_activity_types_stream_across_pages() {
    let server = start().await;
    let functions = "/v1.0/deviceManagement/auditEvents/microsoft.graph.getAuditCategories()";
    Mock::given(method("GET"))
        .and(path(functions))
        .and(query_param("$skiptoken", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": ["Compliance"]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(functions))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": ["Application"],
            "@odata.nextLink": format!("{}{functions}?$skiptoken=2", server.uri())
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "{EVENTS}/microsoft.graph.getAuditActivityTypes(category='Bob''s%20Apps')"
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"value": ["Create", "Delete"]})),
        )
        .mount(&server)
        .await;
    let client = client(&server);
    let categories: Vec<String> = client
        .audit_events()
        .categories()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(categories, ["Application", "Compliance"]);
    let types: Vec<String> = client
        .audit_events()
        .activity_types("Bob's Apps")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(types, ["Create", "Delete"]);
}
