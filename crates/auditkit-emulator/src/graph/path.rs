//! What a path under `/v1.0` or `/beta` names, however the client spelled it (any case of
//! the collection, percent-encoded segments, a trailing slash, functions with or without
//! their namespace), and the one canonical path the router matches for it.

use axum::http::StatusCode;
use axum::response::Response;

use crate::answer::graph_error;
use crate::request::{Ctx, encode_segment, percent_decode};

/// The two API versions, which serve the same operations.
pub const VERSIONS: [&str; 2] = ["/v1.0", "/beta"];

/// The collection, as the router spells it after a version.
pub const COLLECTION_PATH: &str = "/deviceManagement/auditEvents";
/// The canonical last segments of `$count` and the functions.
pub const COUNT: &str = "$count";
pub const CATEGORIES: &str = "microsoft.graph.getAuditCategories()";
/// Followed by the category as a segment of its own, in quotes: the router cannot match a
/// parameter inside `(category='…')`, and the quotes keep an empty category a segment.
pub const ACTIVITY_TYPES: &str = "microsoft.graph.getAuditActivityTypes";

/// What a Graph path names.
#[derive(Debug)]
pub enum Target {
    Collection,
    Item(String),
    Count,
    Categories,
    ActivityTypes(String),
}

impl Target {
    /// The canonical path of this target under `version`, which the router matches: segments
    /// decoded once, then encoded again so that each stays one segment.
    pub fn route(&self, version: &str) -> String {
        let collection = format!("{version}{COLLECTION_PATH}");
        match self {
            Target::Collection => collection,
            Target::Item(id) => format!("{collection}/{}", encode_segment(id)),
            Target::Count => format!("{collection}/{COUNT}"),
            Target::Categories => format!("{collection}/{CATEGORIES}"),
            Target::ActivityTypes(category) => {
                format!(
                    "{collection}/{ACTIVITY_TYPES}/'{}'",
                    encode_segment(category)
                )
            }
        }
    }
}

/// The category of the canonical activity-types segment (see [`ACTIVITY_TYPES`]), decoded.
pub fn quoted_category(segment: &str) -> &str {
    segment
        .strip_prefix('\'')
        .and_then(|inner| inner.strip_suffix('\''))
        .unwrap_or(segment)
}

/// The version prefix of a Graph path and the rest after it.
pub fn split_version(path: &str) -> Option<(&'static str, &str)> {
    for version in VERSIONS {
        if let Some(rest) = path.strip_prefix(version)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Some((version, rest));
        }
    }
    None
}

const COLLECTION: [&str; 2] = ["deviceManagement", "auditEvents"];

pub fn parse_target(ctx: &Ctx, rest: &str) -> Result<Target, Response> {
    let not_found = |segment: &str| {
        graph_error(
            ctx,
            StatusCode::NOT_FOUND,
            "itemNotFound",
            &format!("Resource not found for the segment '{segment}'."),
        )
    };
    let bad =
        |message: String| graph_error(ctx, StatusCode::BAD_REQUEST, "invalidRequest", &message);
    let mut segments = Vec::new();
    for raw in rest.trim_start_matches('/').split('/') {
        segments.push(percent_decode(raw).map_err(bad)?);
    }
    if segments.last().is_some_and(String::is_empty) && segments.len() > 1 {
        segments.pop();
    }
    for (at, expected) in COLLECTION.iter().enumerate() {
        match segments.get(at) {
            Some(segment) if segment.eq_ignore_ascii_case(expected) => {}
            Some(segment) => return Err(not_found(segment)),
            None => return Err(not_found(rest.trim_start_matches('/'))),
        }
    }
    match &segments[COLLECTION.len()..] {
        [] => Ok(Target::Collection),
        [one] => Ok(parse_item(one).map_err(bad)?),
        [_, extra, ..] => Err(not_found(extra)),
    }
}

fn parse_item(segment: &str) -> Result<Target, String> {
    if segment == "$count" {
        return Ok(Target::Count);
    }
    let function = segment.strip_prefix("microsoft.graph.").unwrap_or(segment);
    if function == "getAuditCategories" || function == "getAuditCategories()" {
        return Ok(Target::Categories);
    }
    if let Some(args) = function.strip_prefix("getAuditActivityTypes") {
        return parse_category(args).map(Target::ActivityTypes);
    }
    if segment.is_empty() {
        return Err("an audit event id must not be empty".to_owned());
    }
    Ok(Target::Item(segment.to_owned()))
}

/// `(category='Device ''X''')` → `Device 'X'`.
fn parse_category(args: &str) -> Result<String, String> {
    let usage = || {
        "getAuditActivityTypes takes one parameter: getAuditActivityTypes(category='{category}')"
            .to_owned()
    };
    let inner = args
        .strip_prefix('(')
        .and_then(|args| args.strip_suffix(')'))
        .ok_or_else(usage)?;
    let value = inner.trim();
    let value = value
        .strip_prefix("category")
        .map(|rest| rest.trim_start())
        .and_then(|rest| rest.strip_prefix('='))
        .map(str::trim)
        .unwrap_or(value);
    let literal = value
        .strip_prefix('\'')
        .and_then(|value| value.strip_suffix('\''))
        .ok_or_else(usage)?;
    let mut out = String::with_capacity(literal.len());
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return Err("a ' inside the category must be doubled ('')".to_owned());
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_function_segments() {
        assert!(matches!(parse_item("$count"), Ok(Target::Count)));
        assert!(matches!(
            parse_item("microsoft.graph.getAuditCategories()"),
            Ok(Target::Categories)
        ));
        assert!(matches!(
            parse_item("getAuditCategories"),
            Ok(Target::Categories)
        ));
        match parse_item("microsoft.graph.getAuditActivityTypes(category='It''s')") {
            Ok(Target::ActivityTypes(category)) => assert_eq!(category, "It's"),
            other => panic!("{other:?}"),
        }
        assert!(parse_item("microsoft.graph.getAuditActivityTypes(category='a'b')").is_err());
        assert!(parse_item("microsoft.graph.getAuditActivityTypes(category=x)").is_err());
        assert!(matches!(parse_item("abc"), Ok(Target::Item(id)) if id == "abc"));
    }
}
