//! Which answer each request path and method gets: every route, the spellings Graph accepts
//! (prefixed and bare function names, percent-encoded segments, trailing slashes, any case of
//! the collection), unknown paths, wrong methods, and the order path → method → token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use auditkit_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

/// Which credentials a request carries.
#[derive(Clone, Copy)]
enum Auth {
    None,
    Graph,
    Adobe,
}

/// The answer in one line: status, `Allow`, and what the body says (links with the emulator's
/// URL written `{BASE}`). Every answer must carry a `request-id`.
async fn summary(response: reqwest::Response, base: &str) -> String {
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("request-id"), "{status}");
    let allow = response
        .headers()
        .get("allow")
        .map(|value| format!(" [{}]", value.to_str().unwrap()))
        .unwrap_or_default();
    let plain = response
        .headers()
        .get("content-type")
        .is_some_and(|value| value.to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap().replace(base, "{BASE}");
    let head = format!("{status}{allow}");
    if text.is_empty() {
        return format!("{head} (no body)");
    }
    if plain {
        return format!("{head} text {text}");
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    if let Some(error) = body["error"].as_object() {
        return format!(
            "{head} {}: {}",
            error["code"].as_str().unwrap(),
            error["message"].as_str().unwrap()
        );
    }
    if let Some(error) = body["error"].as_str() {
        let description = body["error_description"].as_str().unwrap();
        return match body.get("trace_id") {
            Some(_) => format!(
                "{head} entra {error}: {}",
                description.split(" Trace ID").next().unwrap()
            ),
            None => format!("{head} ims {error}: {description}"),
        };
    }
    if let Some(text) = body.as_str() {
        return format!("{head} \"{text}\"");
    }
    if let Some(id) = body["id"].as_str() {
        return format!(
            "{head} {} id={id}",
            body["@odata.context"].as_str().unwrap()
        );
    }
    format!(
        "{head} {} next={} values={}",
        body["@odata.context"].as_str().unwrap(),
        body["@odata.nextLink"].as_str().unwrap_or("-"),
        body["value"].as_array().unwrap().len()
    )
}

const NOT_SERVED: &str =
    "The emulator serves /v1.0, /beta, /audits, /ims/token/v3 and /{tenant}/oauth2/v2.0/token.";

#[tokio::test]
async fn every_path_and_method_gets_its_answer() {
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(3).rng_seed(11))
        .await
        .unwrap();
    let client = common::client();
    let graph = common::graph_token(&client, &emulator).await;
    let ims = common::ims_token(&client, &emulator).await;
    let base = emulator.url().to_string();
    let base = base.trim_end_matches('/');
    let api_key = emulator.credentials().adobe_client_id.clone();
    let events = "/v1.0/deviceManagement/auditEvents";
    let list = |version: &str, next: &str| {
        format!(
            "200 {{BASE}}/{version}/$metadata#deviceManagement/auditEvents(id) next={{BASE}}{next}?$top=1&$select=id&$skiptoken=eyJoIjoiNmJjN2NmNDg5OTg4OGMxOSIsIm8iOjEsInYiOjF9 values=1"
        )
    };
    let strings = |values: usize| {
        format!("200 {{BASE}}/v1.0/$metadata#Collection(Edm.String) next=- values={values}")
    };
    let not_found = |segment: &str| {
        format!("404 itemNotFound: Resource not found for the segment '{segment}'.")
    };
    let not_served = |segment: &str| {
        format!("404 itemNotFound: Resource not found for the segment '{segment}'. {NOT_SERVED}")
    };
    let no_event = "404 itemNotFound: The requested auditEvent was not found.".to_owned();
    let not_allowed = |allow: &str, method: &str| {
        format!(
            "405 [{allow}] notAllowed: The HTTP method '{method}' is not allowed on this resource."
        )
    };
    let usage = "400 invalidRequest: getAuditActivityTypes takes one parameter: getAuditActivityTypes(category='{category}')".to_owned();
    let count = "200 text 4".to_owned();
    let entity =
        "200 {BASE}/v1.0/$metadata#deviceManagement/auditEvents/$entity id=It's é".to_owned();
    let tenant = emulator.credentials().tenant.clone();
    let token_path = format!("/{tenant}/oauth2/v2.0/token");
    let no_grant = "400 entra invalid_request: AADSTS900144: The request body must contain the following parameter: 'grant_type'.".to_owned();
    let unknown_tenant = |name: &str| {
        format!(
            "400 entra invalid_request: AADSTS90002: Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. (The emulator knows the tenant '{tenant}'.)"
        )
    };

    let cases: Vec<(&str, String, Auth, String)> = vec![
        // the collection, however it is spelled; links repeat the path as it was sent
        ("GET", format!("{events}?$top=1&$select=id"), Auth::Graph, list("v1.0", events)),
        ("GET", format!("{events}/?$top=1&$select=id"), Auth::Graph, list("v1.0", &format!("{events}/"))),
        ("GET", "/v1.0/DEVICEMANAGEMENT/AuditEvents?$top=1&$select=id".into(), Auth::Graph, list("v1.0", "/v1.0/DEVICEMANAGEMENT/AuditEvents")),
        ("GET", "/v1.0//deviceManagement/auditEvents?$top=1&$select=id".into(), Auth::Graph, list("v1.0", "/v1.0//deviceManagement/auditEvents")),
        ("GET", "/v1.0/%64eviceManagement/auditEvents?$top=1&$select=id".into(), Auth::Graph, list("v1.0", "/v1.0/%64eviceManagement/auditEvents")),
        ("GET", "/beta/deviceManagement/auditEvents?$top=1&$select=id".into(), Auth::Graph, list("beta", "/beta/deviceManagement/auditEvents")),
        // paths under a version that name nothing
        ("GET", "/v1.0".into(), Auth::Graph, not_found("")),
        ("GET", "/v1.0/".into(), Auth::Graph, not_found("")),
        ("GET", "/v1.0/deviceManagement".into(), Auth::Graph, not_found("deviceManagement")),
        ("GET", "/v1.0/deviceManagement/".into(), Auth::Graph, not_found("deviceManagement/")),
        ("GET", "/v1.0/deviceManagement/managedDevices".into(), Auth::Graph, not_found("managedDevices")),
        ("GET", format!("{events}/a/b"), Auth::Graph, not_found("b")),
        ("POST", "/v1.0/deviceManagement/x".into(), Auth::None, not_found("x")),
        ("POST", "/v1.0/oauth2/v2.0/token".into(), Auth::None, not_found("oauth2")),
        // ids are percent-decoded once
        ("GET", format!("{events}/a%2Fb"), Auth::Graph, no_event.clone()),
        ("GET", format!("{events}/%2524count"), Auth::Graph, no_event.clone()),
        ("GET", format!("{events}/It%27s%20%C3%A9"), Auth::Graph, entity.clone()),
        ("GET", format!("{events}/It's%20%c3%a9/"), Auth::Graph, entity.clone()),
        ("HEAD", format!("{events}/x"), Auth::Graph, "405 [GET, PATCH, DELETE] (no body)".into()),
        ("HEAD", format!("{events}/$count"), Auth::Graph, "405 [GET] (no body)".into()),
        ("GET", format!("{events}/%ZZ"), Auth::Graph, "400 invalidRequest: '%ZZ' has a bad percent-escape".into()),
        ("GET", format!("{events}/%FF"), Auth::Graph, "400 invalidRequest: a percent-decoded value is not valid UTF-8".into()),
        ("GET", format!("{events}//"), Auth::Graph, "400 invalidRequest: an audit event id must not be empty".into()),
        // $count and the two functions, with and without the namespace
        ("GET", format!("{events}/$count"), Auth::Graph, count.clone()),
        ("GET", format!("{events}/%24count"), Auth::Graph, count.clone()),
        ("GET", format!("{events}/$count/"), Auth::Graph, count.clone()),
        ("GET", format!("{events}/$COUNT"), Auth::Graph, no_event.clone()),
        ("GET", format!("{events}/getAuditCategories"), Auth::Graph, strings(3)),
        ("GET", format!("{events}/getAuditCategories()"), Auth::Graph, strings(3)),
        ("GET", format!("{events}/microsoft.graph.getAuditCategories"), Auth::Graph, strings(3)),
        ("GET", format!("{events}/microsoft.graph.getAuditCategories()/"), Auth::Graph, strings(3)),
        ("GET", format!("{events}/microsoft.graph.getAuditCategories()?$top=1"), Auth::Graph,
            format!("200 {{BASE}}/v1.0/$metadata#Collection(Edm.String) next={{BASE}}{events}/microsoft.graph.getAuditCategories()?$top=1&$skiptoken=eyJoIjoiYzNjN2RiMjQwMjE5MGMzYyIsIm8iOjEsInYiOjF9 values=1")),
        ("GET", format!("{events}/getAuditCategories(x)"), Auth::Graph, no_event.clone()),
        ("GET", format!("{events}/getAuditActivityTypes(category='Device')"), Auth::Graph, strings(0)),
        ("GET", format!("{events}/microsoft.graph.getAuditActivityTypes(category=%27Device%27)"), Auth::Graph, strings(0)),
        ("GET", format!("{events}/microsoft.graph.getAuditActivityTypes('Device')"), Auth::Graph, strings(0)),
        ("GET", format!("{events}/microsoft.graph.getAuditActivityTypes(%20category%20=%20'Device'%20)"), Auth::Graph, strings(0)),
        ("GET", format!("{events}/microsoft.graph.getAuditActivityTypes(category='')"), Auth::Graph, strings(0)),
        ("GET", format!("{events}/getAuditActivityTypes(category='a%2F''b')"), Auth::Graph, strings(0)),
        ("GET", format!("{events}/microsoft.graph.getAuditActivityTypes(category=x)"), Auth::Graph, usage.clone()),
        ("GET", format!("{events}/microsoft.graph.getAuditActivityTypes"), Auth::Graph, usage.clone()),
        ("GET", format!("{events}/microsoft.graph.getAuditActivityTypes(category='a'b')"), Auth::Graph,
            "400 invalidRequest: a ' inside the category must be doubled ('')".into()),
        // a bad path is answered before the method, the method before the token
        ("POST", format!("{events}/microsoft.graph.getAuditActivityTypes(category=x)"), Auth::None, usage.clone()),
        ("PUT", events.into(), Auth::None, not_allowed("GET, POST", "PUT")),
        ("HEAD", events.into(), Auth::None, "405 [GET, POST] (no body)".into()),
        ("HEAD", events.into(), Auth::Graph, "405 [GET, POST] (no body)".into()),
        ("OPTIONS", events.into(), Auth::Graph, not_allowed("GET, POST", "OPTIONS")),
        ("POST", format!("{events}/x"), Auth::None, not_allowed("GET, PATCH, DELETE", "POST")),
        ("PUT", format!("{events}/x/"), Auth::Graph, not_allowed("GET, PATCH, DELETE", "PUT")),
        ("POST", format!("{events}/$count"), Auth::Graph, not_allowed("GET", "POST")),
        ("DELETE", format!("{events}/getAuditCategories()"), Auth::Graph, not_allowed("GET", "DELETE")),
        ("PATCH", "/beta/deviceManagement/auditEvents/microsoft.graph.getAuditActivityTypes(category='a')".into(), Auth::Graph, not_allowed("GET", "PATCH")),
        ("GET", events.into(), Auth::None, "401 InvalidAuthenticationToken: Access token is empty.".into()),
        // Adobe
        ("GET", "/audits".into(), Auth::Adobe, "405 [POST] \"Request method 'GET' not supported\"".into()),
        ("HEAD", "/audits".into(), Auth::Adobe, "405 [POST] (no body)".into()),
        ("GET", "/audits/".into(), Auth::None, "405 [POST] \"Request method 'GET' not supported\"".into()),
        ("POST", "/audits".into(), Auth::None, "401 \"Oauth token is missing\"".into()),
        ("POST", "/audits/".into(), Auth::None, "401 \"Oauth token is missing\"".into()),
        ("POST", "/audits/x".into(), Auth::Adobe, not_served("audits")),
        ("POST", "/Audits".into(), Auth::Adobe, not_served("Audits")),
        // the token endpoints
        ("GET", "/ims/token/v3".into(), Auth::None, "405 ims invalid_request: the token endpoint only accepts POST".into()),
        ("POST", "/ims/token/v3".into(), Auth::None, "400 ims invalid_request: missing grant_type parameter".into()),
        ("POST", "/ims/token/v3/".into(), Auth::None, not_served("ims")),
        ("GET", token_path.clone(), Auth::None, "405 entra invalid_request: AADSTS900561: The endpoint only accepts POST requests.".into()),
        ("HEAD", token_path.clone(), Auth::None, "405 (no body)".into()),
        ("POST", token_path.clone(), Auth::None, no_grant.clone()),
        ("POST", format!("/{token_path}"), Auth::None, no_grant.clone()),
        ("POST", format!("{token_path}/"), Auth::None, not_served(&tenant)),
        ("POST", "/%FF/oauth2/v2.0/token".into(), Auth::None, "400 invalidRequest: a percent-decoded value is not valid UTF-8".into()),
        ("POST", "/%ZZ/oauth2/v2.0/token".into(), Auth::None, "400 invalidRequest: '%ZZ' has a bad percent-escape".into()),
        ("POST", "/other/oauth2/v2.0/token".into(), Auth::None, unknown_tenant("other")),
        ("POST", "/a%20b/oauth2/v2.0/token".into(), Auth::None, unknown_tenant("a b")),
        ("POST", "/audits/oauth2/v2.0/token".into(), Auth::None, unknown_tenant("audits")),
        ("POST", "/ims/oauth2/v2.0/token".into(), Auth::None, unknown_tenant("ims")),
        ("POST", "//oauth2/v2.0/token".into(), Auth::None, not_served("oauth2")),
        ("POST", "/beta/oauth2/v2.0/token".into(), Auth::None, not_found("oauth2")),
        ("POST", "/v1.0x/oauth2/v2.0/token".into(), Auth::None, unknown_tenant("v1.0x")),
        // everything else
        ("GET", "/v1.0x/deviceManagement/auditEvents".into(), Auth::Graph, not_served("v1.0x")),
        ("GET", "/betax".into(), Auth::Graph, not_served("betax")),
        ("GET", "/v2.0/x".into(), Auth::Graph, not_served("v2.0")),
        ("GET", "//v1.0/deviceManagement/auditEvents".into(), Auth::Graph, not_served("v1.0")),
        ("GET", "/nothing".into(), Auth::None, not_served("nothing")),
        ("GET", "/".into(), Auth::None, not_served("")),
        ("GET", "/nothing/else/".into(), Auth::None, not_served("nothing")),
        ("GET", "/%FF".into(), Auth::None, not_served("%FF")),
    ];
    // An id that needs percent-encoding in a path.
    let created = client
        .post(common::events_url(&emulator))
        .bearer_auth(&graph)
        .json(&serde_json::json!({"id": "It's é"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut wrong = Vec::new();
    for (method, path, auth, expected) in &cases {
        let mut request = client.request(method.parse().unwrap(), format!("{base}{path}"));
        request = match auth {
            Auth::None => request,
            Auth::Graph => request.bearer_auth(&graph),
            Auth::Adobe => request.bearer_auth(&ims).header("x-api-key", &api_key),
        };
        let got = summary(request.send().await.unwrap(), base).await;
        if got != *expected {
            wrong.push(format!(
                "{method} {path}\n  expected {expected}\n  got      {got}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    emulator.shutdown().await;
}
