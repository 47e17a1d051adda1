//! `openapi/adobe-audit-service.yaml`: `POST /audits` on the wire and every documented answer.

use std::collections::BTreeMap;

use auditkit_adobe::types::{AuditEvent, ErrorBody, ErrorResponse, Resource, Service};
use auditkit_adobe::{Error, Timestamp};
use auditkit_tests::{Spec, assert_no_forbidden_headers, contract_test};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn event() -> AuditEvent {
    // Given with a +02:00 offset and microseconds: Adobe must receive UTC milliseconds and `Z`.
    let when = chrono::DateTime::parse_from_rfc3339("2017-10-31T02:02:04.232911+02:00").unwrap();
    AuditEvent {
        action: "update".into(),
        ims_org_id: "ABCDEF0123456789@AdobeOrg".into(),
        resource: Resource {
            resource_id: "stream-42".into(),
        },
        service: Service {
            service_id: "SKMS-1234".into(),
        },
        source: "marketingcloud".into(),
        tags: BTreeMap::from([
            ("region".into(), "emea".into()),
            ("auditkit-event-id".into(), "e-1".into()),
        ]),
        timestamp: Timestamp::from(when),
        user_identifier: "jane@example.com".into(),
    }
}

fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

async fn post(
    server: &auditkit_tests::ContractServer,
) -> Result<auditkit_adobe::ResponseValue<String>, Error<ErrorBody>> {
    server
        .adobe()
        .create_audit_event()
        .body(event())
        .send()
        .await
}

fn expect_error_body(
    result: Result<auditkit_adobe::ResponseValue<String>, Error<ErrorBody>>,
    status: u16,
) -> ErrorBody {
    match result {
        Err(Error::ErrorResponse(answer)) => {
            assert_eq!(answer.status().as_u16(), status);
            answer.into_inner()
        }
        other => panic!("expected an error answer with status {status}, got {other:?}"),
    }
}

contract_test!(post_sends_the_documented_body_and_decodes_the_201_string:
    Spec::Adobe, "createAuditEvent", |server| {
    Mock::given(method("POST"))
        .and(path("/audits"))
        .respond_with(json_response(201, json!("5f1e2d3c-audit-id")))
        .mount(&server.mock)
        .await;
    let answer = post(&server).await.unwrap();

    let request = server.only_request().await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/audits");
    assert_eq!(request.url.query(), None);
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    assert_eq!(request.headers.get("accept").unwrap(), "application/json");
    assert_no_forbidden_headers(&request);
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "action": "update",
            "imsOrgId": "ABCDEF0123456789@AdobeOrg",
            "resource": {"resourceId": "stream-42"},
            "service": {"serviceId": "SKMS-1234"},
            "source": "marketingcloud",
            "tags": {"auditkit-event-id": "e-1", "region": "emea"},
            "timestamp": "2017-10-31T00:02:04.232Z",
            "userIdentifier": "jane@example.com"
        })
    );
    assert_eq!(answer.status().as_u16(), 201);
    assert_eq!(answer.into_inner(), "5f1e2d3c-audit-id");
});

contract_test!(post_without_tags_omits_the_key:
    Spec::Adobe, "createAuditEvent", |server| {
    Mock::given(method("POST")).respond_with(json_response(201, json!("id"))).mount(&server.mock).await;
    let untagged = AuditEvent { tags: BTreeMap::new(), ..event() };
    server.adobe().create_audit_event().body(untagged).send().await.unwrap();
    let body: Value = serde_json::from_slice(&server.only_request().await.body).unwrap();
    assert!(body.get("tags").is_none(), "{body}");
});

contract_test!(post_keeps_the_raw_bytes_of_a_201_that_is_not_a_json_string:
    Spec::Adobe, "createAuditEvent", |server| {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_raw("created-7", "text/plain"))
        .mount(&server.mock)
        .await;
    match post(&server).await {
        Err(Error::InvalidResponsePayload(raw, _)) => assert_eq!(raw.as_ref(), b"created-7"),
        other => panic!("expected the bare id kept as raw bytes, got {other:?}"),
    }
});

contract_test!(post_decodes_400_as_the_documented_string:
    Spec::Adobe, "createAuditEvent", |server| {
    Mock::given(method("POST"))
        .respond_with(json_response(400, json!("imsOrgId is required")))
        .mount(&server.mock)
        .await;
    assert_eq!(expect_error_body(post(&server).await, 400), ErrorBody::String("imsOrgId is required".into()));
});

contract_test!(post_decodes_401_as_the_documented_string:
    Spec::Adobe, "createAuditEvent", |server| {
    Mock::given(method("POST"))
        .respond_with(json_response(401, json!("Oauth token is not valid")))
        .mount(&server.mock)
        .await;
    assert_eq!(expect_error_body(post(&server).await, 401), ErrorBody::String("Oauth token is not valid".into()));
});

contract_test!(post_decodes_500_as_an_error_response:
    Spec::Adobe, "createAuditEvent", |server| {
    Mock::given(method("POST"))
        .respond_with(json_response(500, json!({"reason": "INTERNAL", "message": "database unavailable", "extra": 1})))
        .mount(&server.mock)
        .await;
    assert_eq!(
        expect_error_body(post(&server).await, 500),
        ErrorBody::ErrorResponse(ErrorResponse {
            reason: Some("INTERNAL".into()),
            message: Some("database unavailable".into())
        })
    );
});

contract_test!(post_decodes_503_as_an_error_response:
    Spec::Adobe, "createAuditEvent", |server| {
    Mock::given(method("POST"))
        .respond_with(json_response(503, json!({"reason": "MAINTENANCE", "message": "back soon"})).insert_header("Retry-After", "30"))
        .mount(&server.mock)
        .await;
    match post(&server).await {
        Err(Error::ErrorResponse(answer)) => {
            assert_eq!(answer.status().as_u16(), 503);
            assert_eq!(answer.headers().get("retry-after").unwrap(), "30");
            assert_eq!(
                answer.into_inner(),
                ErrorBody::ErrorResponse(ErrorResponse { reason: Some("MAINTENANCE".into()), message: Some("back soon".into()) })
            );
        }
        other => panic!("expected a 503 ErrorResponse, got {other:?}"),
    }
});

contract_test!(post_keeps_the_raw_text_of_a_non_json_error:
    Spec::Adobe, "createAuditEvent", |server| {
    let text = "upstream connect error or disconnect/reset before headers";
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_raw(text, "text/plain"))
        .mount(&server.mock)
        .await;
    match post(&server).await {
        Err(Error::InvalidResponsePayload(raw, _)) => assert_eq!(raw.as_ref(), text.as_bytes()),
        other => panic!("expected the gateway text kept as raw bytes, got {other:?}"),
    }
});
