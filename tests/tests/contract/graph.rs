//! `openapi/graph-audit-events.yaml`: each operation's request on the wire and its answers.

use auditkit_graph::Error;
use auditkit_graph::types::{AuditEvent, ODataError};
use auditkit_tests::{Spec, assert_no_forbidden_headers, contract_test};
use futures::TryStreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const EVENTS: &str = "/v1.0/deviceManagement/auditEvents";
const EVENT_ID: &str = "0e62bf01-bf01-0e62-01bf-620e01bf620e";

fn fixture_event() -> Value {
    serde_json::from_str(include_str!("../../fixtures/graph-audit-event.json")).unwrap()
}

fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

/// An error body as Graph sends it: `innerError.date` without a UTC offset, and keys the
/// schema does not name (`innerError.code`, a nested `innerError`).
fn odata_error(code: &str, message: &str) -> Value {
    json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2025-03-24T15:14:05",
                "request-id": "4b2c5e8d-1f3a-4c6b-9d7e-2a1b3c4d5e6f",
                "client-request-id": "9f8e7d6c-5b4a-4938-8271-605f4e3d2c1b",
                "code": "InternalDetail",
                "innerError": {"code": "deeper"}
            }
        }
    })
}

fn assert_json_accept(request: &wiremock::Request) {
    assert_eq!(request.headers.get("accept").unwrap(), "application/json");
    assert_no_forbidden_headers(request);
}

fn assert_decoded_fixture(event: &AuditEvent) {
    assert_eq!(event.id.as_deref(), Some(EVENT_ID));
    assert_eq!(
        event.odata_type.as_deref(),
        Some("#microsoft.graph.auditEvent")
    );
    assert_eq!(event.component_name.as_deref(), Some("DeviceConfiguration"));
    assert_eq!(event.activity_operation_type.as_deref(), Some("Patch"));
    assert_eq!(
        event.activity_date_time.unwrap().to_rfc3339(),
        "2025-03-24T15:14:04.218565+00:00"
    );
    assert_eq!(
        event.correlation_id.unwrap().to_string(),
        "2bd5f6a1-44b4-4d52-9e8a-3b2f4c0b8e11"
    );
    let actor = event.actor.as_ref().unwrap();
    assert_eq!(actor.type_.as_deref(), Some("ItPro"));
    assert_eq!(
        actor.user_permissions,
        ["Microsoft.Intune/DeviceConfigurations/Update"]
    );
    assert_eq!(actor.service_principal_name, None);
    assert_eq!(
        actor.user_role_scope_tags[0].role_scope_tag_id.as_deref(),
        Some("0")
    );
    let resource = &event.resources[0];
    assert_eq!(
        resource.resource_id.as_deref(),
        Some("b2ab1e0c-4c5f-4ac1-a6f4-0c8a8c3c2d11")
    );
    assert_eq!(resource.modified_properties[1].old_value, None);
    assert_eq!(
        resource.modified_properties[1].new_value.as_deref(),
        Some("rolled out")
    );
}

fn expect_odata_error<T: std::fmt::Debug>(
    result: Result<T, Error<ODataError>>,
    status: u16,
) -> ODataError {
    match result {
        Err(Error::ErrorResponse(answer)) => {
            assert_eq!(answer.status().as_u16(), status);
            answer.into_inner()
        }
        other => panic!("expected an ODataError answer with status {status}, got {other:?}"),
    }
}

contract_test!(list_sends_every_odata_option_once_and_decodes_the_page:
    Spec::Graph, "deviceManagement.ListAuditEvents", |server| {
    let page = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/auditEvents",
        "@odata.count": 2,
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/deviceManagement/auditEvents?$skiptoken=abc%3D%3D",
        "value": [fixture_event(), {"id": "second", "activityDateTime": "2025-03-24T15:14:04Z"}]
    });
    Mock::given(method("GET")).and(path(EVENTS)).respond_with(json_response(200, page)).mount(&server.mock).await;

    let answer = server
        .graph()
        .device_management_list_audit_events()
        .filter("componentName eq 'DeviceIntent' and activityDateTime gt 2025-03-24T15:14:04.218565Z and activityOperationType ne 'Get'")
        .orderby("activityDateTime desc,id")
        .select("id,activityDateTime")
        .expand("none")
        .top(50_u64)
        .skip(10_u64)
        .count(true)
        .send()
        .await
        .unwrap();

    let request = server.only_request().await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), EVENTS);
    assert_eq!(
        request.url.query().unwrap(),
        "%24count=true&%24expand=none\
         &%24filter=componentName+eq+%27DeviceIntent%27+and+activityDateTime+gt+2025-03-24T15%3A14%3A04.218565Z+and+activityOperationType+ne+%27Get%27\
         &%24orderby=activityDateTime+desc%2Cid&%24select=id%2CactivityDateTime&%24skip=10&%24top=50"
    );
    let orderby: Vec<_> = request.url.query_pairs().filter(|(k, _)| k == "$orderby").collect();
    assert_eq!(orderby.len(), 1, "OData rejects a repeated $orderby");
    assert_eq!(orderby[0].1, "activityDateTime desc,id");
    assert_json_accept(&request);
    assert!(request.body.is_empty());

    let page = answer.into_inner();
    assert_eq!(page.odata_count, Some(2));
    assert_eq!(
        page.odata_next_link.as_deref(),
        Some("https://graph.microsoft.com/v1.0/deviceManagement/auditEvents?$skiptoken=abc%3D%3D")
    );
    assert_eq!(page.value.len(), 2);
    assert_decoded_fixture(&page.value[0]);
    assert_eq!(page.value[1].id.as_deref(), Some("second"));
    assert_eq!(page.value[1].actor, None);
});

contract_test!(list_without_options_sends_no_query_and_accepts_an_empty_last_page:
    Spec::Graph, "deviceManagement.ListAuditEvents", |server| {
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .respond_with(json_response(200, json!({"value": []})))
        .mount(&server.mock)
        .await;
    let page = server.graph().device_management_list_audit_events().send().await.unwrap().into_inner();
    assert_eq!(server.only_request().await.url.query(), None);
    assert!(page.value.is_empty());
    assert_eq!(page.odata_next_link, None);
    assert_eq!(page.odata_count, None);
});

contract_test!(list_decodes_throttling_with_its_code_and_retry_after:
    Spec::Graph, "deviceManagement.ListAuditEvents", |server| {
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .respond_with(json_response(429, odata_error("TooManyRequests", "Too many requests")).insert_header("Retry-After", "7"))
        .mount(&server.mock)
        .await;
    match server.graph().device_management_list_audit_events().send().await {
        Err(Error::ErrorResponse(answer)) => {
            assert_eq!(answer.status().as_u16(), 429);
            assert_eq!(answer.headers().get("retry-after").unwrap(), "7");
            assert_eq!(answer.error.code, "TooManyRequests");
        }
        other => panic!("expected a 429 ODataError, got {other:?}"),
    }
});

contract_test!(list_keeps_the_raw_text_of_a_non_json_error_page:
    Spec::Graph, "deviceManagement.ListAuditEvents", |server| {
    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .respond_with(ResponseTemplate::new(502).set_body_raw(html, "text/html"))
        .mount(&server.mock)
        .await;
    match server.graph().device_management_list_audit_events().send().await {
        Err(Error::InvalidResponsePayload(raw, _)) => assert_eq!(raw.as_ref(), html.as_bytes()),
        other => panic!("expected the raw HTML kept in InvalidResponsePayload, got {other:?}"),
    }
});

contract_test!(get_sends_the_id_in_the_path_and_decodes_beta_and_unknown_fields:
    Spec::Graph, "deviceManagement.GetAuditEvents", |server| {
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/{EVENT_ID}")))
        .respond_with(json_response(200, fixture_event()))
        .mount(&server.mock)
        .await;
    let event = server
        .graph()
        .device_management_get_audit_events()
        .audit_event_id(EVENT_ID)
        .select("id,actor")
        .send()
        .await
        .unwrap()
        .into_inner();
    let request = server.only_request().await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), format!("{EVENTS}/{EVENT_ID}"));
    assert_eq!(request.url.query(), Some("%24select=id%2Cactor"));
    assert_json_accept(&request);
    assert_decoded_fixture(&event);
});

contract_test!(get_percent_encodes_an_id_with_reserved_characters:
    Spec::Graph, "deviceManagement.GetAuditEvents", |server| {
    Mock::given(method("GET")).respond_with(json_response(200, json!({"id": "a b#c"}))).mount(&server.mock).await;
    let event = server.graph().device_management_get_audit_events().audit_event_id("a b#c").send().await.unwrap();
    assert_eq!(server.only_request().await.url.path(), format!("{EVENTS}/a%20b%23c"));
    assert_eq!(event.id.as_deref(), Some("a b#c"));
});

contract_test!(get_decodes_item_not_found_with_an_offsetless_inner_error_date:
    Spec::Graph, "deviceManagement.GetAuditEvents", |server| {
    Mock::given(method("GET"))
        .respond_with(json_response(404, odata_error("itemNotFound", "{\"_version\": 3, \"Message\": \"Resource not found\"}")))
        .mount(&server.mock)
        .await;
    let result = server.graph().device_management_get_audit_events().audit_event_id("missing").send().await;
    let error = expect_odata_error(result, 404).error;
    assert_eq!(error.code, "itemNotFound");
    assert_eq!(error.message, "{\"_version\": 3, \"Message\": \"Resource not found\"}");
    let inner = error.inner_error.unwrap();
    assert_eq!(inner.date.as_deref(), Some("2025-03-24T15:14:05"));
    assert_eq!(inner.request_id.as_deref(), Some("4b2c5e8d-1f3a-4c6b-9d7e-2a1b3c4d5e6f"));
    assert_eq!(inner.client_request_id.as_deref(), Some("9f8e7d6c-5b4a-4938-8271-605f4e3d2c1b"));
});

contract_test!(create_posts_the_event_as_json_and_decodes_201:
    Spec::Graph, "deviceManagement.CreateAuditEvents", |server| {
    let mut created = fixture_event();
    created["id"] = json!("server-assigned");
    Mock::given(method("POST")).and(path(EVENTS)).respond_with(json_response(201, created)).mount(&server.mock).await;

    let event: AuditEvent = AuditEvent::builder()
        .odata_type("#microsoft.graph.auditEvent".to_owned())
        .display_name("Create DeviceConfiguration".to_owned())
        .component_name("DeviceConfiguration".to_owned())
        .activity("Create DeviceConfiguration".to_owned())
        .activity_date_time("2025-03-24T15:14:04.218Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap())
        .activity_type("Create DeviceConfiguration".to_owned())
        .activity_operation_type("Create".to_owned())
        .activity_result("Success".to_owned())
        .correlation_id("2bd5f6a1-44b4-4d52-9e8a-3b2f4c0b8e11".parse::<uuid::Uuid>().unwrap())
        .category("DeviceConfiguration".to_owned())
        .try_into()
        .unwrap();
    let answer = server.graph().device_management_create_audit_events().body(event).send().await.unwrap();

    let request = server.only_request().await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), EVENTS);
    assert_eq!(request.url.query(), None);
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    assert_json_accept(&request);
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "@odata.type": "#microsoft.graph.auditEvent",
            "displayName": "Create DeviceConfiguration",
            "componentName": "DeviceConfiguration",
            "activity": "Create DeviceConfiguration",
            "activityDateTime": "2025-03-24T15:14:04.218Z",
            "activityType": "Create DeviceConfiguration",
            "activityOperationType": "Create",
            "activityResult": "Success",
            "correlationId": "2bd5f6a1-44b4-4d52-9e8a-3b2f4c0b8e11",
            "category": "DeviceConfiguration"
        }),
        "unset properties are omitted, never sent as null"
    );
    assert_eq!(answer.status().as_u16(), 201);
    assert_eq!(answer.id.as_deref(), Some("server-assigned"));
});

contract_test!(create_decodes_a_validation_error:
    Spec::Graph, "deviceManagement.CreateAuditEvents", |server| {
    Mock::given(method("POST"))
        .respond_with(json_response(400, json!({"error": {
            "code": "invalidRequest",
            "message": "Invalid activityDateTime",
            "target": "activityDateTime",
            "details": [{"code": "badFormat", "message": "not a date", "target": "activityDateTime"}]
        }})))
        .mount(&server.mock)
        .await;
    let result = server.graph().device_management_create_audit_events().body(AuditEvent::default()).send().await;
    let error = expect_odata_error(result, 400).error;
    assert_eq!(error.code, "invalidRequest");
    assert_eq!(error.target.as_deref(), Some("activityDateTime"));
    assert_eq!(error.details[0].code, "badFormat");
    assert_eq!(error.inner_error, None);
    assert_eq!(server.only_request().await.body, b"{}");
});

contract_test!(update_patches_only_the_given_fields_and_decodes_200:
    Spec::Graph, "deviceManagement.UpdateAuditEvents", |server| {
    Mock::given(method("PATCH"))
        .and(path(format!("{EVENTS}/{EVENT_ID}")))
        .respond_with(json_response(200, fixture_event()))
        .mount(&server.mock)
        .await;
    let patch = AuditEvent { activity_result: Some("Failure".into()), ..Default::default() };
    let event = server
        .graph()
        .device_management_update_audit_events()
        .audit_event_id(EVENT_ID)
        .body(patch)
        .send()
        .await
        .unwrap()
        .into_inner();
    let request = server.only_request().await;
    assert_eq!(request.method.as_str(), "PATCH");
    assert_eq!(request.url.path(), format!("{EVENTS}/{EVENT_ID}"));
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    assert_json_accept(&request);
    assert_eq!(serde_json::from_slice::<Value>(&request.body).unwrap(), json!({"activityResult": "Failure"}));
    assert_decoded_fixture(&event);
});

contract_test!(update_answered_204_reaches_the_caller_as_an_unexpected_204_not_a_decode_error:
    Spec::Graph, "deviceManagement.UpdateAuditEvents", |server| {
    // Graph may answer 204 where Microsoft documents 200; the facade treats this as success.
    Mock::given(method("PATCH")).respond_with(ResponseTemplate::new(204)).mount(&server.mock).await;
    let result = server
        .graph()
        .device_management_update_audit_events()
        .audit_event_id(EVENT_ID)
        .body(AuditEvent::default())
        .send()
        .await;
    match result {
        Err(Error::UnexpectedResponse(response)) => assert_eq!(response.status().as_u16(), 204),
        other => panic!("expected the 204 handed over untouched, got {other:?}"),
    }
});

contract_test!(delete_sends_if_match_and_accepts_204:
    Spec::Graph, "deviceManagement.DeleteAuditEvents", |server| {
    Mock::given(method("DELETE"))
        .and(path(format!("{EVENTS}/{EVENT_ID}")))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server.mock)
        .await;
    let answer = server
        .graph()
        .device_management_delete_audit_events()
        .audit_event_id(EVENT_ID)
        .if_match("W/\"etag-1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 204);
    let request = server.only_request().await;
    assert_eq!(request.method.as_str(), "DELETE");
    assert_eq!(request.url.path(), format!("{EVENTS}/{EVENT_ID}"));
    assert_eq!(request.headers.get("if-match").unwrap(), "W/\"etag-1\"");
    assert!(request.body.is_empty());
    assert_json_accept(&request);
});

contract_test!(delete_without_if_match_sends_no_such_header_and_decodes_403:
    Spec::Graph, "deviceManagement.DeleteAuditEvents", |server| {
    Mock::given(method("DELETE")).respond_with(json_response(403, odata_error("accessDenied", "Forbidden"))).mount(&server.mock).await;
    let result = server.graph().device_management_delete_audit_events().audit_event_id(EVENT_ID).send().await;
    assert_eq!(expect_odata_error(result, 403).error.code, "accessDenied");
    assert!(server.only_request().await.headers.get("if-match").is_none());
});

contract_test!(count_sends_the_filter_and_returns_the_plain_text_integer:
    Spec::Graph, "deviceManagement.auditEvents.GetCount", |server| {
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/$count")))
        .respond_with(ResponseTemplate::new(200).set_body_raw("1234", "text/plain"))
        .mount(&server.mock)
        .await;
    let answer = server
        .graph()
        .device_management_audit_events_get_count()
        .filter("category eq 'Application'")
        .send()
        .await
        .unwrap();
    let request = server.only_request().await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), format!("{EVENTS}/$count"));
    assert_eq!(request.url.query(), Some("%24filter=category+eq+%27Application%27"));
    assert_no_forbidden_headers(&request);
    let bytes: Vec<u8> = answer.into_inner().into_inner().map_ok(|chunk| chunk.to_vec()).try_concat().await.unwrap();
    assert_eq!(std::str::from_utf8(&bytes).unwrap().parse::<u64>().unwrap(), 1234);
});

contract_test!(count_decodes_a_bad_filter_error:
    Spec::Graph, "deviceManagement.auditEvents.GetCount", |server| {
    Mock::given(method("GET"))
        .respond_with(json_response(400, odata_error("invalidRequest", "Invalid filter clause")))
        .mount(&server.mock)
        .await;
    match server.graph().device_management_audit_events_get_count().filter("nonsense eq").send().await {
        Err(Error::ErrorResponse(answer)) => {
            assert_eq!(answer.status().as_u16(), 400);
            assert_eq!(answer.error.message, "Invalid filter clause");
        }
        Err(other) => panic!("expected a 400 ODataError, got {other:?}"),
        Ok(_) => panic!("expected a 400 ODataError, got a count"),
    }
});

contract_test!(categories_sends_paging_options_and_decodes_the_string_collection:
    Spec::Graph, "deviceManagement.auditEvents.getAuditCategories", |server| {
    let page = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)",
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/deviceManagement/auditEvents/microsoft.graph.getAuditCategories()?$skiptoken=x",
        "value": ["Application", "Compliance", "DeviceConfiguration"]
    });
    Mock::given(method("GET"))
        .and(path(format!("{EVENTS}/microsoft.graph.getAuditCategories()")))
        .respond_with(json_response(200, page))
        .mount(&server.mock)
        .await;
    let page = server
        .graph()
        .device_management_audit_events_get_audit_categories()
        .top(2_u64)
        .skip(1_u64)
        .count(false)
        .send()
        .await
        .unwrap()
        .into_inner();
    let request = server.only_request().await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), format!("{EVENTS}/microsoft.graph.getAuditCategories()"));
    assert_eq!(request.url.query(), Some("%24count=false&%24skip=1&%24top=2"));
    assert_json_accept(&request);
    assert_eq!(page.value, ["Application", "Compliance", "DeviceConfiguration"]);
    assert!(page.odata_next_link.unwrap().ends_with("$skiptoken=x"));
});

contract_test!(categories_decodes_an_unauthenticated_error:
    Spec::Graph, "deviceManagement.auditEvents.getAuditCategories", |server| {
    Mock::given(method("GET"))
        .respond_with(json_response(401, odata_error("unauthenticated", "Access token is empty")))
        .mount(&server.mock)
        .await;
    let result = server.graph().device_management_audit_events_get_audit_categories().send().await;
    assert_eq!(expect_odata_error(result, 401).error.code, "unauthenticated");
});

contract_test!(activity_types_percent_encodes_the_quoted_category_literal:
    Spec::Graph, "deviceManagement.auditEvents.getAuditActivityTypes", |server| {
    Mock::given(method("GET"))
        .respond_with(json_response(200, json!({"value": ["Create App", "Delete App"]})))
        .mount(&server.mock)
        .await;
    // The caller (the facade) doubles `'` to write an OData string literal; the generated
    // client percent-encodes what it is given.
    let page = server
        .graph()
        .device_management_audit_events_get_audit_activity_types()
        .category("Bob''s Apps")
        .top(10_u64)
        .send()
        .await
        .unwrap()
        .into_inner();
    let request = server.only_request().await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(
        request.url.path(),
        format!("{EVENTS}/microsoft.graph.getAuditActivityTypes(category='Bob''s%20Apps')")
    );
    assert_eq!(request.url.query(), Some("%24top=10"));
    assert_json_accept(&request);
    assert_eq!(page.value, ["Create App", "Delete App"]);
});

contract_test!(activity_types_decodes_a_service_error:
    Spec::Graph, "deviceManagement.auditEvents.getAuditActivityTypes", |server| {
    Mock::given(method("GET"))
        .respond_with(json_response(503, odata_error("serviceNotAvailable", "Try again later")))
        .mount(&server.mock)
        .await;
    let result = server.graph().device_management_audit_events_get_audit_activity_types().category("Application").send().await;
    assert_eq!(expect_odata_error(result, 503).error.code, "serviceNotAvailable");
});
