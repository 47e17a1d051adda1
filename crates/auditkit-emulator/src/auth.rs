//! The two token endpoints: Entra ID client credentials and Adobe IMS server-to-server. The
//! tokens they issue are kept in [`Tokens`](crate::tokens::Tokens).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

use crate::request::{Ctx, parse_pairs, read_body};
use crate::state::Shared;
use crate::tokens::Audience;

/// The largest token request body read (64 KiB): a form of a few fields.
const MAX_FORM: usize = 64 * 1024;

/// The form fields of a token request, or an error when the body is not a form.
fn form(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let text =
        std::str::from_utf8(body).map_err(|_| "the request body is not valid UTF-8".to_owned())?;
    let mut fields = HashMap::new();
    for (name, value) in parse_pairs(text)? {
        if fields.insert(name.clone(), value).is_some() {
            return Err(format!("the parameter '{name}' is given more than once"));
        }
    }
    Ok(fields)
}

// ---------------------------------------------------------------------------------------
// Entra ID
// ---------------------------------------------------------------------------------------

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn entra_error(
    ctx: &Ctx,
    status: StatusCode,
    error: &str,
    code: u32,
    description: &str,
) -> Response {
    let now = chrono::Utc::now();
    let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = ctx
        .client_request_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, no_store(), axum::Json(body)).into_response()
}

fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache"),
        ),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// `POST /{tenant}/oauth2/v2.0/token`; every other method gets Entra ID's own 405.
pub async fn entra_token(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (ctx, tenant) = (&ctx, tenant.as_str());
    if method != Method::POST {
        return entra_error(
            ctx,
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let credentials = &shared.config.credentials;
    if tenant != credentials.tenant {
        return entra_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. (The emulator knows the tenant '{}'.)",
                credentials.tenant
            ),
        );
    }
    let basic = basic_auth(&headers);
    // AADSTS900144: the request body is not a form Entra ID can read.
    let fields = match read_body(body, MAX_FORM).await {
        Ok(body) => form(&body),
        Err(message) => Err(message),
    };
    let mut fields = match fields {
        Ok(fields) => fields,
        Err(message) => {
            return entra_error(
                ctx,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                &message,
            );
        }
    };
    if let Some((id, secret)) = basic {
        fields.entry("client_id".to_owned()).or_insert(id);
        fields.entry("client_secret".to_owned()).or_insert(secret);
    }
    let missing = |name: &str| {
        entra_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    let Some(grant_type) = fields.get("grant_type") else {
        return missing("grant_type");
    };
    if grant_type != "client_credentials" {
        return entra_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type; the emulator supports 'client_credentials'.",
        );
    }
    let Some(client_id) = fields.get("client_id") else {
        return missing("client_id");
    };
    if *client_id != credentials.graph_client_id {
        return entra_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    }
    let Some(scope) = fields.get("scope") else {
        return missing("scope");
    };
    if !scope.ends_with("/.default") || scope.split_whitespace().count() != 1 {
        return entra_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    }
    match (fields.get("client_secret"), fields.get("client_assertion")) {
        (Some(secret), _) => {
            if *secret != credentials.graph_client_secret {
                return entra_error(
                    ctx,
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    &format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                );
            }
        }
        (None, Some(assertion)) => {
            if fields.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
                return entra_error(
                    ctx,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    700011,
                    &format!("client_assertion_type must be '{JWT_BEARER}'."),
                );
            }
            // The audience is the emulator's own token URL, as Entra ID's is its own: a
            // request's Host header names whatever the client chose and proves nothing.
            let token_url = format!("{}/{tenant}/oauth2/v2.0/token", shared.origin);
            if let Err((code, problem)) = check_assertion(assertion, client_id, &token_url) {
                return entra_error(
                    ctx,
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    code,
                    &problem,
                );
            }
        }
        (None, None) => {
            return entra_error(
                ctx,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
    }
    let lifetime = shared.config.token_lifetime;
    let token = shared.tokens.issue(Audience::Graph, client_id);
    shared.stats.token_issued();
    let seconds = lifetime.as_secs();
    let body = json!({
        "token_type": "Bearer",
        "expires_in": seconds,
        "ext_expires_in": seconds,
        "access_token": token,
    });
    (StatusCode::OK, no_store(), axum::Json(body)).into_response()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Checks the shape and claims of a client assertion. The signature is NOT verified: the
/// emulator has no registered certificate to verify it with.
fn check_assertion(jwt: &str, client_id: &str, token_url: &str) -> Result<(), (u32, String)> {
    let malformed = |what: &str| (50027, format!("JWT token is invalid or malformed: {what}."));
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|part| part.is_empty()) {
        return Err(malformed("a JWT has three non-empty base64url parts"));
    }
    let decode = |part: &str, what: &str| -> Result<serde_json::Value, (u32, String)> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| malformed(&format!("the {what} is not base64url")))?;
        serde_json::from_slice(&bytes).map_err(|_| malformed(&format!("the {what} is not JSON")))
    };
    let head = decode(parts[0], "header")?;
    let claims = decode(parts[1], "payload")?;
    URL_SAFE_NO_PAD
        .decode(parts[2].trim_end_matches('='))
        .map_err(|_| malformed("the signature is not base64url"))?;
    match head.get("alg").and_then(|alg| alg.as_str()) {
        Some("PS256" | "RS256") => {}
        other => {
            return Err((
                5002738,
                format!(
                    "The client assertion uses the algorithm {other:?}; PS256 or RS256 is required."
                ),
            ));
        }
    }
    let claim = |name: &str| claims.get(name).and_then(|value| value.as_str());
    let aud_ok = claim("aud").is_some_and(|aud| aud.trim_end_matches('/') == token_url);
    if !aud_ok {
        return Err((
            700212,
            format!(
                "The client assertion's audience claim {:?} does not match the token endpoint {token_url:?}.",
                claim("aud")
            ),
        ));
    }
    if claim("iss") != Some(client_id) || claim("sub") != Some(client_id) {
        return Err((
            700021,
            "The client assertion's iss and sub claims must both be the client id.".to_owned(),
        ));
    }
    let now = chrono::Utc::now().timestamp();
    match claims.get("exp").and_then(serde_json::Value::as_i64) {
        Some(exp) if exp > now => Ok(()),
        Some(_) => Err((
            700024,
            "Client assertion is not within its valid time range: it has expired.".to_owned(),
        )),
        None => Err(malformed("the exp claim is missing")),
    }
}

// ---------------------------------------------------------------------------------------
// Adobe IMS
// ---------------------------------------------------------------------------------------

fn ims_error(status: StatusCode, error: &str, description: &str) -> Response {
    let debug_id = uuid::Uuid::new_v4().to_string();
    let mut response = (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&debug_id) {
        response.headers_mut().insert("x-debug-id", value);
    }
    response
}

/// `POST /ims/token/v3`; every other method gets IMS's own 405.
pub async fn ims_token(State(shared): State<Arc<Shared>>, method: Method, body: Body) -> Response {
    if method != Method::POST {
        return ims_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the token endpoint only accepts POST",
        );
    }
    let body = match read_body(body, MAX_FORM).await {
        Ok(body) => body,
        Err(message) => return ims_error(StatusCode::BAD_REQUEST, "invalid_request", &message),
    };
    let fields = match form(&body) {
        Ok(fields) => fields,
        Err(message) => return ims_error(StatusCode::BAD_REQUEST, "invalid_request", &message),
    };
    let credentials = &shared.config.credentials;
    match fields.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return ims_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!(
                    "unsupported grant_type {other:?}; the emulator supports client_credentials"
                ),
            );
        }
        None => {
            return ims_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "missing grant_type parameter",
            );
        }
    }
    let Some(client_id) = fields.get("client_id") else {
        return ims_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "missing client_id parameter",
        );
    };
    let Some(secret) = fields.get("client_secret") else {
        return ims_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "missing client_secret parameter",
        );
    };
    if *client_id != credentials.adobe_client_id {
        return ims_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "invalid client_id parameter",
        );
    }
    if *secret != credentials.adobe_client_secret {
        return ims_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "invalid client_secret parameter",
        );
    }
    if fields
        .get("scope")
        .is_none_or(|scope| scope.trim().is_empty())
    {
        return ims_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "missing scope parameter",
        );
    }
    let lifetime = shared.config.token_lifetime;
    let token = shared.tokens.issue(Audience::Adobe, client_id);
    shared.stats.token_issued();
    let body = json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
    });
    (StatusCode::OK, no_store(), axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(head: serde_json::Value, claims: serde_json::Value) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(head.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(b"not-a-signature")
        )
    }

    #[test]
    fn checks_assertion_shape_and_claims() {
        let url = "http://127.0.0.1:1/emulator/oauth2/v2.0/token";
        let exp = chrono::Utc::now().timestamp() + 600;
        let good = json!({"aud": url, "iss": "app", "sub": "app", "exp": exp});
        assert!(check_assertion(&jwt(json!({"alg": "PS256"}), good.clone()), "app", url).is_ok());
        assert!(check_assertion(&jwt(json!({"alg": "RS256"}), good.clone()), "app", url).is_ok());
        assert!(check_assertion(&jwt(json!({"alg": "HS256"}), good.clone()), "app", url).is_err());
        assert!(
            check_assertion(&jwt(json!({"alg": "PS256"}), good.clone()), "other", url).is_err()
        );
        assert!(check_assertion("a.b", "app", url).is_err());
        assert!(check_assertion("a.b.c.d", "app", url).is_err());
        let expired = json!({"aud": url, "iss": "app", "sub": "app", "exp": 1});
        assert_eq!(
            check_assertion(&jwt(json!({"alg": "PS256"}), expired), "app", url)
                .unwrap_err()
                .0,
            700024
        );
        let elsewhere = json!({"aud": "https://login.example/t/oauth2/v2.0/token", "iss": "app", "sub": "app", "exp": exp});
        assert!(check_assertion(&jwt(json!({"alg": "PS256"}), elsewhere), "app", url).is_err());
    }
}
