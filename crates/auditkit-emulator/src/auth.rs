//! The two token endpoints (Entra ID client credentials, Adobe IMS server-to-server) and the
//! opaque bearer tokens they issue.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

use crate::server::{Ctx, Shared, read_body};

/// Which API a token opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Graph,
    Adobe,
}

#[derive(Debug)]
struct Issued {
    audience: Audience,
    client_id: String,
    expires: Instant,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Unknown,
    Expired,
}

/// How long an expired token is still known, so its bearer is told it expired rather than
/// that the emulator never issued it.
const EXPIRED_KEPT_FOR: Duration = Duration::from_secs(3600);

/// Issued tokens, by their text, at most `capacity` of them.
///
/// Every token has the same lifetime, so issue order is expiry order: the oldest token is
/// always at the front of `order`, and forgetting expired ones is a pop per token (amortised
/// O(1) per issue), never a scan. `check` is one map lookup.
pub struct Tokens {
    lifetime: Duration,
    capacity: usize,
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    by_text: HashMap<String, Issued>,
    /// The same tokens, oldest first.
    order: VecDeque<String>,
}

impl std::fmt::Debug for Tokens {
    /// Counts only: token texts are bearer secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("lifetime", &self.lifetime)
            .field("capacity", &self.capacity)
            .field("kept", &self.len())
            .finish()
    }
}

impl Tokens {
    /// Tokens valid for `lifetime`; past `capacity` (at least 1) the oldest is forgotten.
    pub fn new(lifetime: Duration, capacity: usize) -> Self {
        Self {
            lifetime,
            capacity: capacity.max(1),
            state: Mutex::new(TokenState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many tokens are kept now.
    pub fn len(&self) -> usize {
        self.lock().by_text.len()
    }

    /// A new random opaque token.
    pub fn issue(&self, audience: Audience, client_id: &str) -> String {
        self.issue_at(audience, client_id, Instant::now())
    }

    /// [`Tokens::issue`] at `now`: forgets the tokens that expired long enough ago, then the
    /// oldest while the store is full, so a client fetching a token per request (or an
    /// attacker) cannot grow it without bound.
    fn issue_at(&self, audience: Audience, client_id: &str, now: Instant) -> String {
        let mut random = [0u8; 32];
        random[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        random[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let prefix = match audience {
            Audience::Graph => "emu-graph.",
            Audience::Adobe => "emu-ims.",
        };
        let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random));
        let mut state = self.lock();
        let TokenState { by_text, order } = &mut *state;
        while let Some(oldest) = order.front() {
            let forgettable = by_text
                .get(oldest)
                .is_none_or(|old| old.expires + EXPIRED_KEPT_FOR <= now);
            if !forgettable && order.len() < self.capacity {
                break;
            }
            if let Some(oldest) = order.pop_front() {
                by_text.remove(&oldest);
            }
        }
        by_text.insert(
            token.clone(),
            Issued {
                audience,
                client_id: client_id.to_owned(),
                expires: now + self.lifetime,
            },
        );
        order.push_back(token.clone());
        token
    }

    /// The client id a valid token was issued to.
    pub fn check(&self, headers: &HeaderMap, audience: Audience) -> Result<String, TokenProblem> {
        self.check_at(headers, audience, Instant::now())
    }

    fn check_at(
        &self,
        headers: &HeaderMap,
        audience: Audience,
        now: Instant,
    ) -> Result<String, TokenProblem> {
        let token = bearer(headers).ok_or(TokenProblem::Missing)?;
        let state = self.lock();
        let found = state
            .by_text
            .get(token)
            .filter(|found| found.audience == audience)
            .ok_or(TokenProblem::Unknown)?;
        if found.expires <= now {
            return Err(TokenProblem::Expired);
        }
        Ok(found.client_id.clone())
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The form fields of a token request, or an error when the body is not a form.
fn form(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let text =
        std::str::from_utf8(body).map_err(|_| "the request body is not valid UTF-8".to_owned())?;
    let mut fields = HashMap::new();
    for (name, value) in crate::server::parse_pairs(text)? {
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

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn entra_token(
    shared: &Shared,
    ctx: &Ctx,
    tenant: &str,
    request: axum::extract::Request,
) -> Response {
    if request.method() != axum::http::Method::POST {
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
    let basic = basic_auth(request.headers());
    let body = match read_body(request.into_body(), 64 * 1024).await {
        Ok(body) => body,
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
    let mut fields = match form(&body) {
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

/// `POST /ims/token/v3`.
pub async fn ims_token(shared: &Shared, request: axum::extract::Request) -> Response {
    if request.method() != axum::http::Method::POST {
        return ims_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the token endpoint only accepts POST",
        );
    }
    let body = match read_body(request.into_body(), 64 * 1024).await {
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

    fn bearer_headers(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        headers.insert(header::AUTHORIZATION, value);
        headers
    }

    #[test]
    fn keeps_at_most_capacity_tokens_forgetting_the_oldest() {
        let tokens = Tokens::new(Duration::from_secs(60), 3);
        let now = Instant::now();
        let issued: Vec<String> = (0..5)
            .map(|_| tokens.issue_at(Audience::Graph, "app", now))
            .collect();
        assert_eq!(tokens.len(), 3);
        assert_eq!(tokens.lock().order.len(), 3);
        for evicted in &issued[..2] {
            let problem = tokens.check_at(&bearer_headers(evicted), Audience::Graph, now);
            assert_eq!(problem, Err(TokenProblem::Unknown));
        }
        for kept in &issued[2..] {
            let app = tokens.check_at(&bearer_headers(kept), Audience::Graph, now);
            assert_eq!(app.as_deref(), Ok("app"));
        }
    }

    #[test]
    fn expired_tokens_are_told_expired_then_forgotten_without_a_scan() {
        let lifetime = Duration::from_secs(60);
        let tokens = Tokens::new(lifetime, 1000);
        let start = Instant::now();
        let first = tokens.issue_at(Audience::Adobe, "app", start);
        let second = tokens.issue_at(Audience::Adobe, "app", start + Duration::from_secs(30));
        let expired = start + lifetime;
        assert_eq!(
            tokens.check_at(&bearer_headers(&first), Audience::Adobe, expired),
            Err(TokenProblem::Expired)
        );
        assert_eq!(
            tokens
                .check_at(&bearer_headers(&second), Audience::Adobe, expired)
                .as_deref(),
            Ok("app")
        );
        // an hour after its expiry, the next issue forgets the first token only
        let later = expired + EXPIRED_KEPT_FOR;
        let third = tokens.issue_at(Audience::Adobe, "app", later);
        assert_eq!(tokens.len(), 2);
        assert_eq!(
            tokens.check_at(&bearer_headers(&first), Audience::Adobe, later),
            Err(TokenProblem::Unknown)
        );
        assert_eq!(
            tokens.check_at(&bearer_headers(&second), Audience::Adobe, later),
            Err(TokenProblem::Expired)
        );
        assert!(
            tokens
                .check_at(&bearer_headers(&third), Audience::Adobe, later)
                .is_ok()
        );
        // a token for one API opens no other
        assert_eq!(
            tokens.check_at(&bearer_headers(&third), Audience::Graph, later),
            Err(TokenProblem::Unknown)
        );
        assert!(!format!("{tokens:?}").contains(&third));
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
