//! Reading what a request carries: its ids, its body (bounded, without a byte order mark),
//! and percent-encoded text (query strings, form bodies, path segments).

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Per-request facts, set by the front door before routing: ids for correlation, and the
/// path as the client sent it, which links repeat (routing sees its canonical form).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub client_request_id: Option<String>,
    pub path: String,
}

impl Ctx {
    /// Fresh ids for a request: its `client-request-id` is kept only when it looks like one.
    pub fn new(headers: &HeaderMap, path: &str) -> Self {
        Ctx {
            request_id: uuid::Uuid::new_v4().to_string(),
            client_request_id: headers
                .get("client-request-id")
                .and_then(|value| value.to_str().ok())
                .filter(|id| is_request_id(id))
                .map(str::to_owned),
            path: path.to_owned(),
        }
    }
}

impl<S: Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    /// The front door's; a request that somehow bypassed it gets fresh ids of its own.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<Ctx>() {
            Some(ctx) => ctx.clone(),
            None => Ctx::new(&parts.headers, parts.uri.path()),
        })
    }
}

/// Whether a `client-request-id` is one to echo: a GUID or a similar short token. The id is
/// reflected into a header and into error bodies (Graph's `innerError`, Entra ID's
/// `correlation_id`), so anything else (kilobytes of text, quotes, spaces) is treated as
/// absent rather than handed back to the client.
fn is_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:{}".contains(&byte))
}

/// The largest request body the APIs accept (1 MiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// The UTF-8 encoding of U+FEFF, which some services and clients (.NET, PowerShell) put
/// before JSON and forms.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The whole body without a leading UTF-8 byte order mark, or a message when it is larger
/// than `limit` or cannot be read. Every request body is read here, so every route accepts
/// the mark the same way.
pub async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, String> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes).to_vec()),
        Err(err) => {
            if is_too_large(&err) {
                Err(format!("the request body is larger than {limit} bytes"))
            } else {
                Err("the request body could not be read".to_owned())
            }
        }
    }
}

fn is_too_large(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// Why the body of an API request was refused: 413 past 1 MiB, 400 when unreadable or not
/// UTF-8.
pub enum BodyError {
    TooLarge(String),
    Bad(String),
}

pub async fn read_api_body(body: Body) -> Result<String, BodyError> {
    let bytes = read_body(body, MAX_BODY).await.map_err(|message| {
        if message.contains("larger than") {
            BodyError::TooLarge(format!(
                "The request body is larger than the 1 MiB ({MAX_BODY} bytes) the service accepts."
            ))
        } else {
            BodyError::Bad(message)
        }
    })?;
    String::from_utf8(bytes)
        .map_err(|err| BodyError::Bad(format!("the request body is not valid UTF-8: {err}")))
}

/// Decodes `%XX` escapes; the result must be UTF-8.
///
/// Strict where the `percent-encoding` crate is lenient: it keeps a `%` that two hex digits
/// do not follow as text, so `%ZZ` would reach a filter or a tenant name as the three
/// characters it is, where a client meant something else. That is refused here; the decoding
/// itself is the crate's.
pub fn percent_decode(text: &str) -> Result<String, String> {
    check_escapes(text)?;
    decode_utf8(text)
}

/// Every `%` starts an escape of two hex digits.
fn check_escapes(text: &str) -> Result<(), String> {
    let well_formed = text.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if well_formed {
        Ok(())
    } else {
        Err(format!("'{text}' has a bad percent-escape"))
    }
}

fn decode_utf8(text: &str) -> Result<String, String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| "a percent-decoded value is not valid UTF-8".to_owned())
}

/// `a=1&b=2` (query string or form body), percent-decoded, `+` as space, in order.
///
/// Not `form_urlencoded::parse`, which replaces invalid UTF-8 and keeps bad escapes: a mangled
/// value must be refused, not read as different text.
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let decode = |raw: &str| {
        // Checked as sent, so a message quotes what the client wrote.
        check_escapes(raw)?;
        decode_utf8(&raw.replace('+', " "))
    };
    let mut pairs = Vec::new();
    for part in text.split('&').filter(|part| !part.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(pairs)
}

/// What a query value keeps unencoded: the characters OData queries are made of.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b':')
    .remove(b'*')
    .remove(b'!');

/// Percent-encodes a query value, keeping the characters OData queries are made of.
pub fn encode_query_value(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

/// Everything but unreserved characters: a decoded value put back into a path segment,
/// where it must stay one segment and decode to itself.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a decoded value as one path segment.
pub fn encode_segment(text: &str) -> String {
    utf8_percent_encode(text, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_encodes_query_text() {
        let pairs = parse_pairs("%24filter=category+eq+%27A%27&%24top=5&flag").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("$filter".to_owned(), "category eq 'A'".to_owned()),
                ("$top".to_owned(), "5".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert!(parse_pairs("a=%FF").is_err());
        assert!(parse_pairs("a=%G1").is_err());
        assert!(parse_pairs("a=%2").is_err());
        assert_eq!(
            encode_query_value("category eq 'A&B'"),
            "category%20eq%20'A%26B'"
        );
    }
}
