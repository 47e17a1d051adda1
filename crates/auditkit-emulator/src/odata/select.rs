//! `$select`: which top-level properties an answer keeps.

use auditkit_graph::types::AuditEvent;

use super::lexer::{split_commas, words};
use super::property::{did_you_mean, selectable};
use super::{ODataError, check_length};

/// Parses a `$select` value: comma-separated top-level property names of `auditEvent`, or `*`.
/// Duplicates are dropped; the order is kept.
pub fn parse_select(text: &str) -> Result<Vec<String>, ODataError> {
    check_length("$select", text)?;
    let mut names: Vec<String> = Vec::new();
    for (start, piece) in split_commas(text) {
        let words = words(&piece, start);
        let name = match words.as_slice() {
            [] => {
                return Err(ODataError::invalid("empty item in $select", start));
            }
            [(_, name)] => name,
            [_, (pos, extra), ..] => {
                return Err(ODataError::invalid_hint(
                    format!("unexpected token '{extra}'"),
                    *pos,
                    "expected ',' or the end of $select",
                ));
            }
        };
        let pos = words.first().map_or(start, |(pos, _)| *pos);
        if name != "*" && !selectable().any(|known| known == name) {
            if name.contains('/') {
                return Err(ODataError::invalid_hint(
                    format!("cannot select '{name}'"),
                    pos,
                    "$select takes top-level properties only, e.g. actor",
                ));
            }
            return Err(ODataError::UnknownProperty {
                name: name.clone(),
                position: pos,
                hint: did_you_mean(name, selectable()),
            });
        }
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    Ok(names)
}

/// The event as JSON (its serde form: camelCase wire names, absent properties omitted) with
/// only the keys in `properties`, plus `id` and `@odata.type` when the event has them. `*`
/// keeps every key.
pub fn select(event: &AuditEvent, properties: &[String]) -> serde_json::Value {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(event) else {
        return serde_json::Value::Object(serde_json::Map::new());
    };
    if properties.iter().any(|p| p == "*") {
        return serde_json::Value::Object(map);
    }
    let kept = map
        .into_iter()
        .filter(|(key, _)| key == "id" || key == "@odata.type" || properties.contains(key))
        .collect();
    serde_json::Value::Object(kept)
}
