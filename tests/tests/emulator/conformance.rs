//! The emulator against the Graph spec, driven by the spec: for every operation, requests made
//! from the parameters and the body schema it declares (a fixed seed, a bounded number of
//! cases), and every answer checked against what the spec declares for it.
//!
//! Two kinds of request, as a property-based API fuzzer makes them:
//!
//! - **conforming**: every value fits its schema and means something (a `$filter` built from
//!   the property table, an existing id). The answer must be the operation's documented
//!   success. A refusal here is the emulator and the spec disagreeing, which is what this
//!   check exists to catch. The only refusals allowed are the ones the emulator documents
//!   beyond the spec, each named below.
//! - **arbitrary**: values that fit the schema's type only (any string as `$filter`, any id).
//!   The answer may be a success or a 4xx, never a 5xx.
//!
//! Every answer must be declared for the operation, and its body must fit the declared
//! schema: the collection, the entity, the plain-text count, or `ODataError`.
//!
//! `CONFORMANCE_SEED` and `CONFORMANCE_CASES` (per operation and kind) change the run; a
//! failure prints the seed and the request.

use std::collections::BTreeMap;

use auditkit_emulator::{Emulator, EmulatorConfig};
use auditkit_graph::properties::{AUDIT_EVENT, EdmType, Model};
use serde_json::{Map, Value, json};

const DEFAULT_SEED: u64 = 0x5eed_2026;
const DEFAULT_CASES: usize = 40;

/// SplitMix64: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Strings a fuzzer tries: empty, quotes, slashes, non-ASCII, controls, long.
const ARBITRARY_TEXT: &[&str] = &[
    "",
    "a",
    "O'Brien",
    "''",
    "x/y",
    "..",
    "é 漢字 🙂",
    "\u{0}\u{7}",
    "%2F",
    " spaced ",
    "eq",
    "(",
    "null",
    "1e309",
];

fn arbitrary_text(rng: &mut Rng) -> String {
    if rng.chance(15) {
        "x".repeat(1 + rng.below(5000))
    } else {
        (*rng.pick(ARBITRARY_TEXT)).to_owned()
    }
}

/// A text that names nothing special: letters and digits.
fn plain_text(rng: &mut Rng) -> String {
    let len = 1 + rng.below(12);
    (0..len).map(|_| *rng.pick(b"aBc7-xZ") as char).collect()
}

fn date_time(rng: &mut Rng) -> String {
    let seconds = 1_600_000_000 + rng.below(200_000_000) as i64;
    let at = chrono::DateTime::from_timestamp(seconds, (rng.below(10_000_000) * 100) as u32)
        .expect("in range");
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn guid(rng: &mut Rng) -> String {
    uuid::Uuid::from_u64_pair(rng.next(), rng.next()).to_string()
}

struct Spec {
    root: Value,
}

impl Spec {
    fn load() -> Self {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../openapi/graph-audit-events.yaml");
        let text = std::fs::read_to_string(&path).expect("the Graph spec");
        Self {
            root: serde_yaml_ng::from_str(&text).expect("YAML"),
        }
    }

    /// `value`, with a `$ref` followed (within this document).
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.resolve(
                    self.root
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("the spec's {reference} points nowhere")),
                )
            }
            None => value,
        }
    }

    /// A value that fits `schema`.
    fn instance(&self, schema: &Value, rng: &mut Rng, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if schema.get("nullable") == Some(&Value::Bool(true)) && rng.chance(15) {
            return Value::Null;
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => match schema.get("format").and_then(Value::as_str) {
                Some("date-time") => json!(date_time(rng)),
                Some("uuid") => json!(guid(rng)),
                _ => json!(if rng.chance(50) {
                    plain_text(rng)
                } else {
                    arbitrary_text(rng)
                }),
            },
            Some("integer") => json!(rng.below(1000)),
            Some("number") => json!(rng.below(1000) as f64 / 8.0),
            Some("boolean") => json!(rng.chance(50)),
            Some("array") => {
                let items = if depth > 3 { 0 } else { rng.below(3) };
                Value::Array(
                    (0..items)
                        .map(|_| self.instance(&schema["items"], rng, depth + 1))
                        .collect(),
                )
            }
            _ => {
                let mut object = Map::new();
                if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                    // `@odata.type` names the schema; arbitrary text there is not a value a
                    // client sends, so it is left out.
                    for (name, property) in properties.iter().filter(|(n, _)| *n != "@odata.type") {
                        if depth < 4 && rng.chance(40) {
                            object.insert(name.clone(), self.instance(property, rng, depth + 1));
                        }
                    }
                }
                if rng.chance(10) {
                    object.insert("somethingNewer".into(), json!(plain_text(rng)));
                }
                Value::Object(object)
            }
        }
    }

    /// Where `value` breaks `schema`, if it does.
    fn violation(&self, schema: &Value, value: &Value, at: &str) -> Option<String> {
        let schema = self.resolve(schema);
        if value.is_null() {
            // A nested object's nullability cannot be written beside a `$ref` in OpenAPI
            // 3.0: the reading rules take `null` there, and for collections (read as empty).
            let lenient =
                schema.get("properties").is_some() || schema.get("type") == Some(&json!("array"));
            return (schema.get("nullable") != Some(&Value::Bool(true)) && !lenient)
                .then(|| format!("{at}: null where the spec allows none"));
        }
        let fits = match schema.get("type").and_then(Value::as_str) {
            Some("string") => value.as_str().is_some_and(|text| {
                match schema.get("format").and_then(Value::as_str) {
                    Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
                    Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
                    _ => true,
                }
            }),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some("array") => {
                let Some(items) = value.as_array() else {
                    return Some(format!("{at}: {value} is not an array"));
                };
                return items.iter().enumerate().find_map(|(n, item)| {
                    self.violation(&schema["items"], item, &format!("{at}/{n}"))
                });
            }
            _ => {
                let Some(object) = value.as_object() else {
                    return Some(format!("{at}: {value} is not an object"));
                };
                if let Some(required) = schema.get("required").and_then(Value::as_array) {
                    for name in required.iter().filter_map(Value::as_str) {
                        if !object.contains_key(name) {
                            return Some(format!("{at}: required {name} missing"));
                        }
                    }
                }
                let properties = schema.get("properties").and_then(Value::as_object);
                // An answer that holds none of its schema's properties (`{}`, an error body
                // where an entity was declared) is not that schema's object. (Nested objects
                // may be empty: a client may store `{}` as a resource.)
                if at == "body"
                    && let Some(declared) = properties
                    && !declared.is_empty()
                    && !object.keys().any(|key| declared.contains_key(key))
                {
                    return Some(format!(
                        "{at}: {value} holds none of the declared properties"
                    ));
                }
                return object.iter().find_map(|(name, item)| {
                    let property = properties?.get(name)?;
                    self.violation(property, item, &format!("{at}/{name}"))
                });
            }
        };
        (!fits).then(|| format!("{at}: {value} does not fit {schema}"))
    }
}

/// A `$filter` that means something: comparisons of filterable properties (nested ones by
/// path) with literals of their type, combined with `and`, `or`, `not`.
fn filter(rng: &mut Rng, depth: usize) -> String {
    if depth < 2 && rng.chance(30) {
        let joiner = if rng.chance(50) { "and" } else { "or" };
        return format!(
            "({}) {joiner} ({})",
            filter(rng, depth + 1),
            filter(rng, depth + 1)
        );
    }
    if depth < 2 && rng.chance(10) {
        return format!("not ({})", filter(rng, depth + 1));
    }
    let mut paths = Vec::new();
    scalar_paths(&AUDIT_EVENT, "", &mut paths, |p| p.filterable);
    let (path, edm) = rng.pick(&paths).clone();
    let literal = match edm {
        EdmType::DateTimeOffset => date_time(rng),
        EdmType::Guid => guid(rng),
        EdmType::Int32 | EdmType::Int64 => rng.below(100).to_string(),
        EdmType::Double => "1.5".to_owned(),
        EdmType::Boolean => rng.chance(50).to_string(),
        _ => {
            let text = if rng.chance(50) {
                plain_text(rng)
            } else {
                arbitrary_text(rng)
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(50)
                    .collect()
            };
            let literal = format!("'{}'", text.replace('\'', "''"));
            if rng.chance(30) {
                let function = rng.pick(&["startswith", "endswith", "contains"]);
                return format!("{function}({path},{literal})");
            }
            literal
        }
    };
    let operator = rng.pick(&["eq", "ne", "gt", "ge", "lt", "le"]);
    format!("{path} {operator} {literal}")
}

/// `(path, type)` of every scalar property `keep` accepts, nested objects by path.
fn scalar_paths(
    model: &'static Model,
    prefix: &str,
    paths: &mut Vec<(String, EdmType)>,
    keep: fn(&auditkit_graph::properties::Property) -> bool,
) {
    for property in model.properties.iter().filter(|p| keep(p) && !p.collection) {
        let path = format!("{prefix}{}", property.json_name);
        match property.edm_type {
            EdmType::Complex(inner) => scalar_paths(inner, &format!("{path}/"), paths, keep),
            edm => paths.push((path, edm)),
        }
    }
}

fn orderby(rng: &mut Rng) -> String {
    let mut paths = Vec::new();
    scalar_paths(&AUDIT_EVENT, "", &mut paths, |p| {
        p.sortable || (p.filterable && p.is_object())
    });
    (0..rng.below(3))
        .map(|_| {
            let (path, _) = rng.pick(&paths);
            format!("{path}{}", rng.pick(&["", " asc", " desc"]))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn select(rng: &mut Rng) -> String {
    (0..rng.below(4))
        .map(|_| rng.pick(AUDIT_EVENT.properties).json_name)
        .filter(|name| !name.starts_with('@'))
        .collect::<Vec<_>>()
        .join(",")
}

/// A value of a declared query parameter.
fn parameter(spec: &Spec, name: &str, schema: &Value, conforming: bool, rng: &mut Rng) -> String {
    if !conforming {
        if rng.chance(30) {
            // Values a schema's type or bounds refuse: a fuzzer's negative cases.
            return (*rng.pick(&[
                "-1",
                "abc",
                "1001",
                "99999999999999999999",
                "maybe",
                "",
                "1.5",
            ]))
            .to_owned();
        }
        return match spec.instance(schema, rng, 0) {
            Value::String(text) if rng.chance(50) => text,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => arbitrary_text(rng),
        };
    }
    match name {
        "$filter" => filter(rng, 0),
        "$orderby" => orderby(rng),
        "$select" => select(rng),
        // auditEvent has no navigation property: an empty list is the only expansion.
        "$expand" => String::new(),
        // The emulator's page limit, as Graph's: up to 1000; the bounds first, as a fuzzer
        // tries them.
        "$top" => [0, 1, 1000, rng.below(1001)][rng.below(4)].to_string(),
        "$skip" => [0, rng.below(100)][rng.below(2)].to_string(),
        _ => match spec.instance(schema, rng, 0) {
            Value::String(text) => text,
            other => other.to_string(),
        },
    }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

struct Case {
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
    conforming: bool,
    /// Where the body breaks its schema (a `null` where none is allowed): it must be refused
    /// with a 400 that names the place.
    null_at: Option<String>,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        if let Some(body) = &self.body {
            write!(f, " {body}")?;
        }
        Ok(())
    }
}

/// What the emulator refuses beyond the spec, each a documented rule: a created id must be
/// one URL path segment of at most 256 bytes (it comes back in `Location`), and is unique.
fn documented_refusal(case: &Case, status: u16) -> bool {
    let id = case
        .body
        .as_ref()
        .and_then(|b| b.get("id"))
        .and_then(Value::as_str);
    match (case.method.as_str(), status) {
        ("POST", 400) => id.is_some_and(|id| {
            id.trim().is_empty()
                || id.len() > 256
                || id == "."
                || id == ".."
                || id.contains(['/', '\\'])
                || id.chars().any(char::is_control)
        }),
        ("POST", 409) => id.is_some(),
        // A PATCH body's id must be the event's own: a key never changes.
        ("PATCH", 400) => id.is_some(),
        _ => false,
    }
}

/// The responses the spec declares for an operation: a status (`200`) or a range (`4XX`).
fn declared(operation: &Value, status: u16) -> Option<(String, &Value)> {
    let responses = operation["responses"].as_object()?;
    let exact = status.to_string();
    let range = format!("{}XX", status / 100);
    responses
        .get(&exact)
        .map(|r| (exact.clone(), r))
        .or_else(|| responses.get(&range).map(|r| (range.clone(), r)))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_conforms_to_the_graph_spec() {
    let seed = std::env::var("CONFORMANCE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let cases = std::env::var("CONFORMANCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let spec = Spec::load();
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(60).rng_seed(seed))
        .await
        .unwrap();
    let client = auditkit::http_client_builder().unwrap().build().unwrap();
    let token = graph_token(&client, &emulator).await;
    let base = emulator
        .graph_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let mut rng = Rng(seed);
    // Per operation: answers by (kind, status), so a run shows what it exercised.
    let mut sent: BTreeMap<String, BTreeMap<(&str, u16), usize>> = BTreeMap::new();
    let mut failures = Vec::new();

    let paths = spec.root["paths"].as_object().unwrap().clone();
    for (template, item) in &paths {
        for (method, operation) in item.as_object().unwrap() {
            // A path item also holds shared `parameters` and a `description`.
            let Some(operation_id) = operation.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let operation_id = operation_id.to_owned();
            for n in 0..cases * 2 {
                let conforming = n % 2 == 0;
                // Ids and categories that exist now, for conforming cases.
                let page: Value = client
                    .get(format!(
                        "{base}/deviceManagement/auditEvents?$top=50&$select=id,category"
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let known: Vec<(String, String)> = page["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        (
                            e["id"].as_str().unwrap_or_default().to_owned(),
                            e["category"].as_str().unwrap_or("Device").to_owned(),
                        )
                    })
                    .collect();
                let (known_id, known_category) = rng.pick(&known).clone();

                // A body that breaks its schema goes to an event that exists, so that only
                // the body can be the reason for a refusal.
                let breaking =
                    !conforming && operation.get("requestBody").is_some() && rng.chance(40);
                let mut path = template.clone();
                let mut query = Vec::new();
                // The path item's parameters (the id), then the operation's own.
                let shared = item.get("parameters").and_then(Value::as_array);
                let own = operation.get("parameters").and_then(Value::as_array);
                for parameter_ref in shared.into_iter().chain(own).flatten() {
                    let declared = spec.resolve(parameter_ref);
                    let name = declared["name"].as_str().unwrap();
                    let schema = &declared["schema"];
                    match declared["in"].as_str() {
                        Some("path") => {
                            let value = match (conforming || breaking, name) {
                                (true, "category") => known_category.clone(),
                                (true, _) => known_id.clone(),
                                (false, _) => arbitrary_text(&mut rng),
                            };
                            // A category is an OData string literal inside the segment.
                            let value = if name == "category" {
                                value.replace('\'', "''")
                            } else {
                                value
                            };
                            path = path.replace(&format!("{{{name}}}"), &encode(&value));
                        }
                        Some("query") if rng.chance(50) => {
                            let value = parameter(&spec, name, schema, conforming, &mut rng);
                            query.push(format!("{}={}", encode(name), encode(&value)));
                        }
                        _ => {}
                    }
                }
                let mut null_at = None;
                let body = operation.get("requestBody").map(|body| {
                    let schema = &body["content"]["application/json"]["schema"];
                    let mut value = spec.instance(schema, &mut rng, 0);
                    if let Some(object) = value.as_object_mut() {
                        // A PATCH names the event it patches, if at all.
                        if method == "patch" && (conforming || breaking) {
                            object.remove("id");
                        }
                        if breaking {
                            // What a negative fuzzer sends: `null` where the schema has none,
                            // at the top or deep inside.
                            let strict: Vec<&str> = AUDIT_EVENT
                                .properties
                                .iter()
                                .filter(|p| !p.nullable && (!p.is_object() || p.collection))
                                .map(|p| p.json_name)
                                .collect();
                            let (key, nested, path) = match rng.below(3) {
                                0 => {
                                    let key = *rng.pick(&strict);
                                    (key, Value::Null, key.to_owned())
                                }
                                1 => ("resources", json!([null]), "resources/0".to_owned()),
                                _ => (
                                    "resources",
                                    json!([{"modifiedProperties": [{"displayName": "x"}, null]}]),
                                    "resources/0/modifiedProperties/1".to_owned(),
                                ),
                            };
                            object.insert(key.to_owned(), nested);
                            null_at = Some(path);
                        }
                    }
                    value
                });
                let url = if query.is_empty() {
                    format!("{base}{path}")
                } else {
                    format!("{base}{path}?{}", query.join("&"))
                };
                let case = Case {
                    method: method.to_uppercase().parse().unwrap(),
                    url,
                    body,
                    conforming,
                    null_at,
                };
                let mut request = client
                    .request(case.method.clone(), &case.url)
                    .bearer_auth(&token);
                if let Some(body) = &case.body {
                    request = request.json(body);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let kind = match (conforming, breaking) {
                    (true, _) => "conforming",
                    (false, true) => "breaking",
                    (false, false) => "arbitrary",
                };
                *sent
                    .entry(operation_id.clone())
                    .or_default()
                    .entry((kind, status))
                    .or_default() += 1;
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let text = response.text().await.unwrap();
                if let Some(failure) = check(&spec, operation, &case, status, &content_type, &text)
                {
                    failures.push(format!(
                        "{operation_id}: {case}\n    -> {status}: {failure}"
                    ));
                }
            }
        }
    }
    emulator.shutdown().await;
    let total: usize = sent.values().flat_map(BTreeMap::values).sum();
    eprintln!("conformance: seed {seed}, {total} requests");
    for (operation, answers) in &sent {
        eprintln!("  {operation}: {answers:?}");
    }
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {total} answers disagree with the spec:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(sent.len(), 8, "every operation was exercised: {sent:?}");
    for (operation, answers) in &sent {
        let succeeded = answers
            .iter()
            .filter(|((kind, status), _)| *kind == "conforming" && (200..300).contains(status))
            .map(|(_, n)| n)
            .sum::<usize>();
        assert!(
            succeeded * 2 >= cases,
            "{operation}: only {succeeded} of {cases} conforming requests succeeded: {answers:?}"
        );
    }
}

async fn graph_token(client: &reqwest::Client, emulator: &Emulator) -> String {
    let credentials = emulator.credentials();
    let answer: Value = client
        .post(format!(
            "{}{}/oauth2/v2.0/token",
            emulator.url(),
            credentials.tenant
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", credentials.graph_client_id.as_str()),
            ("client_secret", credentials.graph_client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

/// Why an answer disagrees with the spec, if it does.
fn check(
    spec: &Spec,
    operation: &Value,
    case: &Case,
    status: u16,
    content_type: &str,
    text: &str,
) -> Option<String> {
    if status >= 500 {
        return Some(format!("a server error: {text}"));
    }
    let Some((key, response)) = declared(operation, status) else {
        return Some("a status the spec does not declare".into());
    };
    let success = (200..300).contains(&status);
    if let Some(place) = &case.null_at
        && !(status == 400 && text.contains(&format!("'{place}'")))
    {
        return Some(format!(
            "a body with null at {place} was not refused for it: {text}"
        ));
    }
    if case.conforming && !success {
        let allowed =
            status == 404 && !case.method.as_str().eq("POST") || documented_refusal(case, status);
        if !allowed {
            return Some(format!("a conforming request refused: {text}"));
        }
    }
    let response = spec.resolve(response);
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return (!text.is_empty()).then(|| format!("{key} declares no body, got {text:?}"));
    };
    if content.contains_key("text/plain") {
        return (!content_type.starts_with("text/plain") || text.trim().parse::<u64>().is_err())
            .then(|| format!("not the declared plain-text integer: {content_type} {text:?}"));
    }
    let Some(json) = content.get("application/json") else {
        return Some(format!("{key} declares no JSON body"));
    };
    if !content_type.starts_with("application/json") {
        return Some(format!(
            "content type {content_type}, the spec declares JSON"
        ));
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => return Some(format!("not JSON ({err}): {text}")),
    };
    spec.violation(&json["schema"], &value, "body")
}
