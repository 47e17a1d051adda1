//! The OData system query options of a Graph request, and the paging window they give.
//!
//! Helpers return `Result<_, Response>`: the error is the finished answer, built once per
//! request on its way out, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::answer::{bad_request, graph_error};
use crate::config::MAX_PAGE_SIZE;
use crate::odata;
use crate::request::{Ctx, parse_pairs};
use crate::state::Shared;

/// The OData system query options of one request (each at most once); other parameters are
/// kept so a `nextLink` carries them.
#[derive(Debug, Default)]
pub struct Query {
    filter: Option<String>,
    orderby: Option<String>,
    select: Option<String>,
    expand: Option<String>,
    search: Option<String>,
    top: Option<String>,
    skip: Option<String>,
    count: Option<String>,
    skiptoken: Option<String>,
    /// Every pair except `$skip` and `$skiptoken`, in order, for links.
    pub kept: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut query = Query::default();
        for (name, value) in parse_pairs(raw.unwrap_or_default())? {
            let lower = name.to_ascii_lowercase();
            let slot = match lower.as_str() {
                "$filter" => &mut query.filter,
                "$orderby" => &mut query.orderby,
                "$select" => &mut query.select,
                "$expand" => &mut query.expand,
                "$search" => &mut query.search,
                "$top" => &mut query.top,
                "$skip" => &mut query.skip,
                "$count" => &mut query.count,
                "$skiptoken" => &mut query.skiptoken,
                other if other.starts_with('$') => {
                    return Err(format!("The query parameter '{name}' is not supported."));
                }
                _ => {
                    query.kept.push((name, value));
                    continue;
                }
            };
            if slot.is_some() {
                return Err(format!(
                    "Query option '{name}' was specified more than once, but it must be specified at most once."
                ));
            }
            *slot = Some(value.clone());
            if lower != "$skip" && lower != "$skiptoken" {
                query.kept.push((name, value));
            }
        }
        Ok(query)
    }

    /// Refuses options the operation does not take.
    pub fn only(&self, ctx: &Ctx, allowed: &[&str]) -> Result<(), Response> {
        let given = [
            ("$filter", &self.filter),
            ("$orderby", &self.orderby),
            ("$select", &self.select),
            ("$expand", &self.expand),
            ("$search", &self.search),
            ("$top", &self.top),
            ("$skip", &self.skip),
            ("$count", &self.count),
            ("$skiptoken", &self.skiptoken),
        ];
        for (name, value) in given {
            if value.is_some() && !allowed.contains(&name) {
                return Err(bad_request(
                    ctx,
                    &format!("The query option '{name}' is not allowed on this request."),
                ));
            }
        }
        Ok(())
    }

    /// A hash of what decides the result list, so a skiptoken only fits its own query.
    pub fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [
            &self.filter,
            &self.orderby,
            &self.select,
            &self.search,
            &self.top,
            &self.count,
        ] {
            let text = part.as_deref().unwrap_or("\u{0}");
            for byte in text.bytes().chain([0xff]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }
}

impl<S: Sync> FromRequestParts<S> for Query {
    type Rejection = Response;

    /// A 400 for a query that is not well-formed or repeats an option.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Ok(ctx) = Ctx::from_request_parts(parts, state).await;
        Query::parse(parts.uri.query()).map_err(|message| bad_request(&ctx, &message))
    }
}

pub fn reject_search(ctx: &Ctx, query: &Query) -> Result<(), Response> {
    if query.search.is_some() {
        return Err(graph_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "notSupported",
            "$search is not supported on deviceManagement/auditEvents; use $filter instead.",
        ));
    }
    if query
        .expand
        .as_deref()
        .is_some_and(|text| !text.trim().is_empty())
    {
        return Err(bad_request(
            ctx,
            "$expand is not supported: auditEvent has no navigation properties.",
        ));
    }
    Ok(())
}

pub fn parse_count(ctx: &Ctx, query: &Query) -> Result<bool, Response> {
    match query
        .count
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(bad_request(
            ctx,
            &format!("The value '{other}' of $count is not valid: use true or false."),
        )),
    }
}

pub fn parse_filter(ctx: &Ctx, query: &Query) -> Result<Option<odata::Filter>, Response> {
    query
        .filter
        .as_deref()
        .map(|text| {
            odata::parse_filter(text)
                .map_err(|err| bad_request(ctx, &format!("Invalid $filter: {err}")))
        })
        .transpose()
}

/// An option given empty (`$select=`): an empty list asks for nothing, as if the option were
/// left out (the spec's lists may be empty). It still counts as given for the checks of which
/// options an operation takes and how often.
fn non_empty(option: &Option<String>) -> Option<&str> {
    option.as_deref().filter(|text| !text.trim().is_empty())
}

pub fn parse_select(ctx: &Ctx, query: &Query) -> Result<Option<Vec<String>>, Response> {
    non_empty(&query.select)
        .map(|text| {
            odata::parse_select(text)
                .map_err(|err| bad_request(ctx, &format!("Invalid $select: {err}")))
        })
        .transpose()
}

pub fn parse_orderby(ctx: &Ctx, query: &Query) -> Result<Option<odata::OrderBy>, Response> {
    non_empty(&query.orderby)
        .map(|text| {
            odata::parse_orderby(text)
                .map_err(|err| bad_request(ctx, &format!("Invalid $orderby: {err}")))
        })
        .transpose()
}

/// Where the page starts and how long it is.
pub fn page_window(shared: &Shared, ctx: &Ctx, query: &Query) -> Result<(usize, usize), Response> {
    let size = match query.top.as_deref() {
        None => shared.config.page_size.clamp(1, MAX_PAGE_SIZE),
        Some(text) => match text.trim().parse::<usize>() {
            // `$top=0` is OData's empty page (the spec's minimum is 0).
            Ok(top) if top <= MAX_PAGE_SIZE => top,
            _ => {
                return Err(bad_request(
                    ctx,
                    &format!(
                        "Invalid $top value '{text}': it must be an integer from 0 to {MAX_PAGE_SIZE}."
                    ),
                ));
            }
        },
    };
    let offset = match (&query.skiptoken, &query.skip) {
        (Some(token), _) => decode_skiptoken(token, query.fingerprint()).ok_or_else(|| {
            bad_request(
                ctx,
                "The $skiptoken is not valid for this query. Follow @odata.nextLink exactly as returned.",
            )
        })?,
        (None, Some(text)) => text.trim().parse::<usize>().map_err(|_| {
            bad_request(
                ctx,
                &format!("Invalid $skip value '{text}': it must be a non-negative integer."),
            )
        })?,
        (None, None) => 0,
    };
    Ok((offset, size))
}

pub fn encode_skiptoken(offset: usize, fingerprint: u64) -> String {
    let text = json!({ "v": 1, "o": offset, "h": format!("{fingerprint:016x}") }).to_string();
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_skiptoken(token: &str, fingerprint: u64) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    if value.get("h")?.as_str()? != format!("{fingerprint:016x}") {
        return None;
    }
    usize::try_from(value.get("o")?.as_u64()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skiptokens_fit_only_their_query() {
        let token = encode_skiptoken(300, 7);
        assert_eq!(decode_skiptoken(&token, 7), Some(300));
        assert_eq!(decode_skiptoken(&token, 8), None);
        assert_eq!(decode_skiptoken("garbage!", 7), None);
    }
}
