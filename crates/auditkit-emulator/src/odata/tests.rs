use std::cmp::Ordering;

use auditkit_graph::types::{AuditActor, AuditEvent};
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::lexer::lex;
use super::parser::Parser;
use super::*;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn event(id: &str) -> AuditEvent {
    AuditEvent {
        id: Some(id.into()),
        ..Default::default()
    }
}

/// Four events covering the real-world filters, a null-heavy one included.
fn events() -> Vec<AuditEvent> {
    vec![
        AuditEvent {
            display_name: Some("Bob's app".into()),
            component_name: Some("DeviceIntent".into()),
            category: Some("DeviceIntent".into()),
            activity_operation_type: Some("Patch".into()),
            activity_date_time: Some(
                at(2025, 3, 24, 15, 14, 4) + chrono::Duration::microseconds(218_566),
            ),
            correlation_id: Some(Uuid::parse_str("0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4b").unwrap()),
            actor: Some(AuditActor {
                user_principal_name: Some("alice@contoso.com".into()),
                application_id: Some("app-1".into()),
                ..Default::default()
            }),
            ..event("e1")
        },
        AuditEvent {
            display_name: Some("Get intent".into()),
            component_name: Some("DeviceIntent".into()),
            category: Some("DeviceIntent".into()),
            activity_operation_type: Some("Get".into()),
            activity_date_time: Some(at(2025, 3, 25, 8, 0, 0)),
            actor: Some(AuditActor {
                user_principal_name: Some("bob@contoso.com".into()),
                ..Default::default()
            }),
            ..event("e2")
        },
        AuditEvent {
            display_name: Some("Assign app".into()),
            component_name: Some("MobileApp".into()),
            category: Some("Application".into()),
            activity_operation_type: Some("Post".into()),
            activity_date_time: Some(at(2023, 1, 2, 3, 4, 5)),
            ..event("e3")
        },
        AuditEvent {
            component_name: Some("DeviceIntent".into()),
            category: Some("Compliance".into()),
            activity_date_time: Some(at(2022, 8, 21, 23, 59, 59)),
            ..event("e4")
        },
    ]
}

/// The ids of the sample events that `filter` matches.
fn ids(filter: &str) -> Vec<String> {
    let parsed = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    events()
        .iter()
        .filter(|e| parsed.matches(e))
        .filter_map(|e| e.id.clone())
        .collect()
}

fn error(filter: &str) -> String {
    match parse_filter(filter) {
        Ok(parsed) => panic!("{filter} parsed as {parsed:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn real_world_date_and_category() {
    let filter = "activityDateTime ge 2022-08-22 and category ne 'Application'";
    assert_eq!(ids(filter), ["e1", "e2"]);
    // The bare date is midnight UTC: e4 is one second before it.
    assert_eq!(ids("activityDateTime lt 2022-08-22"), ["e4"]);
    assert_eq!(
        ids("activityDateTime ge 2022-08-21T23:59:59Z and category ne 'Application'"),
        ["e1", "e2", "e4"]
    );
}

#[test]
fn real_world_component_time_operation_with_orderby() {
    let filter = "componentName eq 'DeviceIntent' and activityDateTime gt \
                  2025-03-24T15:14:04.218565Z and activityOperationType ne 'Get'";
    assert_eq!(ids(filter), ["e1"]);
    // Without the operation clause both intents are newer; e1 is 1 µs after the literal.
    let filter = "componentName eq 'DeviceIntent' and activityDateTime gt \
                  2025-03-24T15:14:04.218565Z";
    assert_eq!(ids(filter), ["e1", "e2"]);
    assert_eq!(
        ids("activityDateTime gt 2025-03-24T15:14:04.218566Z"),
        ["e2"],
        "instants compare to the microsecond"
    );

    let parsed = parse_filter(filter).unwrap();
    let order = parse_orderby("activityDateTime desc").unwrap();
    let mut matched: Vec<AuditEvent> = events().into_iter().filter(|e| parsed.matches(e)).collect();
    matched.sort_by(|a, b| order.compare(a, b));
    let sorted: Vec<_> = matched.iter().filter_map(|e| e.id.as_deref()).collect();
    assert_eq!(sorted, ["e2", "e1"]);
}

#[test]
fn offsets_are_instants() {
    // 17:14:04.218566+02:00 is e1's instant exactly.
    assert_eq!(
        ids("activityDateTime eq 2025-03-24T17:14:04.218566+02:00"),
        ["e1"]
    );
    assert_eq!(ids("activityDateTime ge 2025-03-25T09:00+01:00"), ["e2"]);
    assert_eq!(
        ids("activityDateTime lt 2025-03-24T22:00:00-10:00"),
        ["e1", "e3", "e4"]
    );
}

#[test]
fn every_operator_on_strings_and_date_times() {
    assert_eq!(ids("componentName eq 'MobileApp'"), ["e3"]);
    assert_eq!(ids("componentName ne 'MobileApp'"), ["e1", "e2", "e4"]);
    // Ordinal: "DeviceIntent" < "MobileApp".
    assert_eq!(ids("componentName gt 'DeviceIntent'"), ["e3"]);
    assert_eq!(
        ids("componentName ge 'DeviceIntent'"),
        ["e1", "e2", "e3", "e4"]
    );
    assert_eq!(ids("componentName lt 'MobileApp'"), ["e1", "e2", "e4"]);
    assert_eq!(ids("componentName le 'DeviceIntent'"), ["e1", "e2", "e4"]);
    assert_eq!(ids("activityDateTime eq 2023-01-02T03:04:05Z"), ["e3"]);
    assert_eq!(
        ids("activityDateTime ne 2023-01-02T03:04:05Z"),
        ["e1", "e2", "e4"]
    );
    assert_eq!(
        ids("activityDateTime gt 2023-01-02T03:04:05Z"),
        ["e1", "e2"]
    );
    assert_eq!(
        ids("activityDateTime ge 2023-01-02T03:04:05Z"),
        ["e1", "e2", "e3"]
    );
    assert_eq!(ids("activityDateTime lt 2023-01-02T03:04:05Z"), ["e4"]);
    assert_eq!(
        ids("activityDateTime le 2023-01-02T03:04:05Z"),
        ["e3", "e4"]
    );
    // Case-sensitive, like Graph's eq on these properties.
    assert!(ids("componentName eq 'mobileapp'").is_empty());
    // Literal on the left, guid property.
    assert_eq!(ids("'MobileApp' eq componentName"), ["e3"]);
    assert_eq!(
        ids("correlationId eq 0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4b"),
        ["e1"]
    );
    assert_eq!(
        ids("correlationId eq 0B1E5A2C-3D4E-4F60-8A7B-9C0D1E2F3A4B"),
        ["e1"]
    );
    assert_eq!(ids("1 eq 1 and true"), ["e1", "e2", "e3", "e4"]);
    assert!(ids("false").is_empty());
}

#[test]
fn not_and_precedence() {
    assert_eq!(ids("not (componentName eq 'DeviceIntent')"), ["e3"]);
    assert_eq!(ids("not not (componentName eq 'MobileApp')"), ["e3"]);
    // a or b and c  is  a or (b and c)
    let a = "componentName eq 'MobileApp'";
    let b = "category eq 'DeviceIntent'";
    let c = "activityOperationType eq 'Get'";
    assert_eq!(ids(&format!("{a} or {b} and {c}")), ["e2", "e3"]);
    assert_eq!(ids(&format!("{a} or ({b} and {c})")), ["e2", "e3"]);
    assert_eq!(ids(&format!("({a} or {b}) and {c}")), ["e2"]);
    // not binds tighter than and/or.
    assert_eq!(ids(&format!("not ({a}) and not ({b})")), ["e4"]);
    // ... and tighter than eq, as OData says: `not componentName` is not boolean.
    let message = error("not componentName eq 'x'");
    assert!(
        message.starts_with("'not' needs a boolean operand"),
        "{message}"
    );
    assert!(message.contains("at position 0"), "{message}");
}

#[test]
fn quotes_are_escaped_by_doubling() {
    assert_eq!(ids("displayName eq 'Bob''s app'"), ["e1"]);
    assert!(ids("displayName eq 'Bob''''s app'").is_empty());
    // A literal made of two escaped quotes.
    let quotes = parse_filter("displayName eq ''''''").unwrap();
    let e = AuditEvent {
        display_name: Some("''".into()),
        ..Default::default()
    };
    assert!(quotes.matches(&e));
    let filter = parse_filter("displayName eq 'it''s'''").unwrap();
    let e = AuditEvent {
        display_name: Some("it's'".into()),
        ..Default::default()
    };
    assert!(filter.matches(&e));
    // Unicode inside strings is fine, positions count characters.
    assert_eq!(
        ids("displayName eq 'é' or displayName eq 'Bob''s app'"),
        ["e1"]
    );
    assert_eq!(
        error("displayName eq 'é' eqq"),
        "unexpected token 'eqq' at position 19; expected 'and', 'or' or the end of the filter"
    );
}

#[test]
fn actor_paths() {
    assert_eq!(
        ids("actor/userPrincipalName eq 'alice@contoso.com'"),
        ["e1"]
    );
    assert_eq!(ids("actor/userPrincipalName eq 'x'"), Vec::<String>::new());
    assert_eq!(ids("actor/applicationId eq 'app-1'"), ["e1"]);
    assert!(error("actor / applicationId eq 'app-1'").starts_with("unexpected token '/'"));
    assert!(
        error("actor/ applicationId eq 'app-1'")
            .starts_with("unexpected token 'applicationId' at position 7")
    );
    assert_eq!(
        ids("actor/userPrincipalName ne 'x'"),
        ["e1", "e2", "e3", "e4"]
    );
    assert_eq!(
        error("actor/nope eq 'x'"),
        "unknown property 'actor/nope' at position 0"
    );
    let message = error("actor/ eq 'x'");
    assert!(
        message.starts_with("unexpected token 'eq' at position 7"),
        "{message}"
    );
}

#[test]
fn null_comparisons() {
    assert_eq!(ids("actor eq null"), ["e3", "e4"]);
    assert_eq!(ids("actor ne null"), ["e1", "e2"]);
    assert_eq!(ids("displayName eq null"), ["e4"]);
    assert_eq!(ids("null eq displayName"), ["e4"]);
    assert_eq!(ids("actor/userPrincipalName ne null"), ["e1", "e2"]);
    assert_eq!(ids("correlationId eq null"), ["e2", "e3", "e4"]);
    assert_eq!(ids("activityOperationType eq null"), ["e4"]);
    // A missing property is not equal to anything but null, so `ne` matches it.
    assert_eq!(ids("activityOperationType ne 'Get'"), ["e1", "e3", "e4"]);
    assert_eq!(ids("activityOperationType lt 'Z'"), ["e1", "e2", "e3"]);
    assert_eq!(ids("null eq null"), ["e1", "e2", "e3", "e4"]);
    let message = error("displayName gt null");
    assert_eq!(
        message,
        "'gt' cannot compare with null at position 12; use eq null or ne null"
    );
    assert!(error("actor eq 'x'").starts_with("cannot compare actor (a complex value)"));
}

#[test]
fn functions() {
    assert_eq!(ids("startswith(displayName,'Bob')"), ["e1"]);
    assert_eq!(ids("endswith(displayName, 'app')"), ["e1", "e3"]);
    assert_eq!(ids("contains(displayName,'int')"), ["e2"]);
    assert_eq!(
        ids("contains(actor/userPrincipalName,'@contoso')"),
        ["e1", "e2"]
    );
    assert!(
        ids("startswith(displayName,'bob')").is_empty(),
        "case-sensitive"
    );
    assert_eq!(ids("startswith(displayName,'Bob') eq true"), ["e1"]);
    assert_eq!(ids("startswith(displayName,'Bob') eq false"), ["e2", "e3"]);
    // Null argument: the function is null, and so is its negation.
    assert_eq!(ids("not startswith(displayName,'Bob')"), ["e2", "e3"]);
    assert_eq!(
        ids("not startswith(displayName,'Bob') or displayName eq null"),
        ["e2", "e3", "e4"]
    );
    assert_eq!(
        ids("contains(displayName,'app') and not (category eq 'Application')"),
        ["e1"]
    );
    assert_eq!(
        error("startswith(displayName)"),
        "'startswith' takes 2 arguments, not 1 at position 0"
    );
    assert_eq!(
        error("contains(activityDateTime,'2025')"),
        "'contains' needs string arguments, but argument 1 (activityDateTime) is a \
         date-time at position 9"
    );
    assert_eq!(
        error("substringof('a',displayName)"),
        "unknown function 'substringof' at position 0; supported: startswith, endswith, \
         contains"
    );
    let message = error("startswith(displayName,'a'");
    assert!(
        message.starts_with("missing ')' for the call to 'startswith'"),
        "{message}"
    );
}

#[test]
fn error_messages() {
    assert_eq!(
        error("componentName eqq 'x'"),
        "unexpected token 'eqq' at position 14; expected an operator: eq, ne, gt, ge, lt or le"
    );
    assert_eq!(
        error("unknownField eq 1"),
        "unknown property 'unknownField' at position 0"
    );
    assert_eq!(
        error("componentname eq 'x'"),
        "unknown property 'componentname' at position 0; did you mean 'componentName'? \
         names are case-sensitive"
    );
    assert_eq!(
        error("componentName eq 'abc"),
        "unterminated string literal at position 17; close it with ' and write a quote \
         inside it as ''"
    );
    assert_eq!(
        error("componentName eq 'x' garbage"),
        "unexpected token 'garbage' at position 21; expected 'and', 'or' or the end of the \
         filter"
    );
    assert_eq!(
        error("componentName eq 'x')"),
        "unexpected token ')' at position 20; expected 'and', 'or' or the end of the filter"
    );
    assert_eq!(error(""), "empty $filter");
    assert_eq!(error("   "), "empty $filter");
    assert!(error("componentName eq").starts_with("unexpected end of filter at position 16"));
    assert!(error("(componentName eq 'x'").starts_with("missing ')' for the '('"));
    assert_eq!(
        error("activityDateTime eq 'x'"),
        "cannot compare activityDateTime (a date-time) with 'x' (a string) using 'eq' at \
         position 17; write date-times unquoted, e.g. 2022-08-22 or 2025-03-24T15:14:04Z"
    );
    assert!(
        error("correlationId eq '0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4b'")
            .contains("guids are unquoted")
    );
    assert!(error("id eq 5").contains("quote strings"));
    assert!(error("componentName EQ 'x'").contains("keywords are lowercase: 'eq'"));
    assert!(error("componentName eq 'x' AND id eq 'y'").contains("'and'"));
    assert_eq!(
        error("componentName"),
        "the filter must be true or false, but componentName is a string at position 0; \
         write a comparison such as category eq 'x'"
    );
    assert!(error("activityDateTime ge 2022-13-01").starts_with("invalid date-time literal"));
    assert!(
        error("activityDateTime ge 2022-08-22T10:00:00")
            .starts_with("date-time literal '2022-08-22T10:00:00' has no time zone")
    );
    assert!(error("id eq 99999999999999999999").contains("out of range"));
    assert!(error("id eq 'a' and").starts_with("unexpected end of filter"));
    assert!(error("id eq 'a' # x").starts_with("unexpected character '#' at position 10"));
    assert!(error("resources eq null").contains("is a collection"));
    assert!(error("true gt false").contains("cannot order booleans"));
    assert!(error("id eq 'a' and 'b'").starts_with("'and' needs a boolean operand"));
    // Keyword in operand position.
    assert!(error("eq eq 'x'").starts_with("unexpected token 'eq' at position 0"));
    // Every error that has a place reports it.
    let e = parse_filter("componentName eqq 'x'").unwrap_err();
    assert_eq!(e.position(), Some(14));
}

#[test]
fn length_and_depth_limits_are_errors_not_overflows() {
    let parens = "(".repeat(10_000);
    assert_eq!(
        parse_filter(&parens).unwrap_err(),
        ODataError::TooLong {
            option: "$filter",
            length: 10_000,
            limit: MAX_FILTER_LENGTH
        }
    );
    // The same text past the length check still stops at the depth limit.
    let tokens = lex(&parens).unwrap();
    let mut parser = Parser {
        tokens,
        next: 0,
        nesting: 0,
    };
    assert!(matches!(
        parser.parse_or(),
        Err(ODataError::TooDeep { position: 32, .. })
    ));
    let deep = format!("{}true{}", "(".repeat(2000), ")".repeat(2000));
    assert_eq!(
        parse_filter(&deep).unwrap_err().to_string(),
        "filter nests deeper than 32 levels at position 32"
    );
    let ok = format!("{}true{}", "(".repeat(32), ")".repeat(32));
    assert!(parse_filter(&ok).unwrap().matches(&event("x")));
    let too_deep = format!("{}true{}", "(".repeat(33), ")".repeat(33));
    assert!(matches!(
        parse_filter(&too_deep),
        Err(ODataError::TooDeep { .. })
    ));
    // Nested function calls, `not` chains and `eq` chains are bounded too.
    let calls = format!("{}'a'{}", "startswith(".repeat(200), ",'b')".repeat(200));
    assert!(matches!(
        parse_filter(&calls),
        Err(ODataError::TooDeep { .. })
    ));
    let nots = format!("{}true", "not ".repeat(1000));
    assert!(matches!(
        parse_filter(&nots),
        Err(ODataError::TooDeep { .. })
    ));
    let chain = format!("true{}", " eq true".repeat(500));
    assert!(matches!(
        parse_filter(&chain),
        Err(ODataError::TooDeep { .. })
    ));
    // Long flat and/or chains are one level, not one per term.
    let flat = vec!["id ne 'z'"; 250].join(" and ");
    assert_eq!(ids(&flat).len(), 4);
    let long = "a".repeat(MAX_FILTER_LENGTH + 1);
    assert!(matches!(
        parse_filter(&long),
        Err(ODataError::TooLong { .. })
    ));
}

/// xorshift64*: deterministic garbage without a new dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

#[test]
fn garbage_never_panics() {
    const PIECES: &[&str] = &[
        "(",
        ")",
        "((",
        "))",
        ",",
        "/",
        "'",
        "''",
        "'x'",
        "'Bob''s'",
        " ",
        "  ",
        "eq",
        "ne",
        "gt",
        "ge",
        "lt",
        "le",
        "and",
        "or",
        "not",
        "EQ",
        "true",
        "false",
        "null",
        "0",
        "-1",
        "99999999999999999999",
        "1.5",
        "2022-08-22",
        "2025-03-24T15:14:04.218565Z",
        "2025-03-24T17:14+02:00",
        "2025-02-30",
        "2022-08-22T",
        "+",
        "-",
        ":",
        ".",
        "0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4b",
        "0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4",
        "id",
        "displayName",
        "componentName",
        "activityDateTime",
        "correlationId",
        "actor",
        "actor/userPrincipalName",
        "actor/",
        "resources",
        "startswith",
        "endswith(",
        "contains",
        "é",
        "日本",
        "\u{0}",
        "\t",
        "\n",
        "$",
        "*",
        "asc",
        "desc",
        "\u{1F600}",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let sample = events();
    let seeds = [
        "componentName eq 'DeviceIntent' and activityDateTime gt 2025-03-24T15:14:04.218565Z",
        "not (actor/userPrincipalName eq 'a') or startswith(displayName,'B''x')",
        "activityDateTime desc,id asc",
    ];
    for case in 0..6000 {
        let text: String = match case % 3 {
            // Concatenated fragments.
            0 => (0..rng.below(12))
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect::<Vec<_>>()
                .join(if rng.below(2) == 0 { " " } else { "" }),
            // Random characters, ASCII-heavy.
            1 => (0..rng.below(40))
                .map(|_| match rng.below(10) {
                    0 => char::from_u32(u32::try_from(rng.below(0x11_0000)).unwrap_or(0))
                        .unwrap_or('?'),
                    _ => char::from(u8::try_from(rng.below(95) + 32).unwrap_or(b'?')),
                })
                .collect(),
            // Mutations of valid inputs.
            _ => {
                let mut chars: Vec<char> = seeds[rng.below(seeds.len())].chars().collect();
                for _ in 0..=rng.below(4) {
                    let at = rng.below(chars.len() + 1);
                    match rng.below(3) {
                        0 if at < chars.len() => {
                            chars.remove(at);
                        }
                        1 => {
                            let piece = PIECES[rng.below(PIECES.len())];
                            for (k, c) in piece.chars().enumerate() {
                                chars.insert(at + k, c);
                            }
                        }
                        _ if at < chars.len() => chars.truncate(at),
                        _ => {}
                    }
                }
                chars.into_iter().collect()
            }
        };
        if let Ok(filter) = parse_filter(&text) {
            for e in &sample {
                let _ = filter.matches(e);
            }
        }
        if let Ok(order) = parse_orderby(&text) {
            let mut sorted = sample.clone();
            sorted.sort_by(|a, b| order.compare(a, b));
        }
        if let Ok(names) = parse_select(&text) {
            let _ = select(&sample[0], &names);
        }
        for result in [
            parse_filter(&text).map(|_| ()),
            parse_orderby(&text).map(|_| ()),
            parse_select(&text).map(|_| ()),
        ] {
            if let Err(e) = result {
                let message = e.to_string();
                assert!(!message.is_empty());
                assert!(
                    message.chars().next().is_some_and(|c| !c.is_uppercase()),
                    "{message}"
                );
            }
        }
    }
}

#[test]
fn orderby() {
    let order = parse_orderby("activityDateTime desc,id").unwrap();
    assert_eq!(
        order.keys().collect::<Vec<_>>(),
        [
            ("activityDateTime", Direction::Desc),
            ("id", Direction::Asc)
        ]
    );
    let order = parse_orderby("  componentName asc , activityDateTime  desc ").unwrap();
    let mut sample = events();
    sample.sort_by(|a, b| order.compare(a, b));
    let sorted: Vec<_> = sample.iter().filter_map(|e| e.id.as_deref()).collect();
    assert_eq!(sorted, ["e2", "e1", "e4", "e3"]);

    // Nulls first ascending, last descending.
    let order = parse_orderby("actor/userPrincipalName").unwrap();
    let mut sample = events();
    sample.sort_by(|a, b| order.compare(a, b).then_with(|| a.id.cmp(&b.id)));
    let sorted: Vec<_> = sample.iter().filter_map(|e| e.id.as_deref()).collect();
    assert_eq!(sorted, ["e3", "e4", "e1", "e2"]);
    let order = parse_orderby("actor/userPrincipalName desc").unwrap();
    sample.sort_by(|a, b| order.compare(a, b).then_with(|| a.id.cmp(&b.id)));
    let sorted: Vec<_> = sample.iter().filter_map(|e| e.id.as_deref()).collect();
    assert_eq!(sorted, ["e2", "e1", "e3", "e4"]);

    let order = parse_orderby("correlationId desc").unwrap();
    assert_eq!(order.compare(&events()[0], &events()[1]), Ordering::Less);

    let err = |text: &str| parse_orderby(text).unwrap_err().to_string();
    assert_eq!(err(""), "empty $orderby");
    assert_eq!(
        err("activityDateTime down"),
        "unexpected token 'down' at position 17; expected asc, desc or ','"
    );
    assert_eq!(
        err("activityDateTime DESC"),
        "unexpected token 'DESC' at position 17; expected asc, desc or ','"
    );
    assert_eq!(
        err("id asc desc"),
        "unexpected token 'desc' at position 7; expected ',' or the end of $orderby"
    );
    assert_eq!(err("id,,category"), "empty key in $orderby at position 3");
    assert_eq!(err("id,foo desc"), "unknown property 'foo' at position 3");
    assert!(err("actor").starts_with("cannot sort by 'actor', a complex value"));
    assert!(err("resources").contains("is a collection"));
}

#[test]
fn select_keeps_only_the_chosen_keys() {
    assert_eq!(
        parse_select("displayName, actor ,displayName").unwrap(),
        ["displayName", "actor"]
    );
    assert_eq!(parse_select("*").unwrap(), ["*"]);
    let err = |text: &str| parse_select(text).unwrap_err().to_string();
    assert_eq!(err(""), "empty $select");
    assert_eq!(
        err("displayName,,id"),
        "empty item in $select at position 12"
    );
    assert_eq!(
        err("displayname"),
        "unknown property 'displayname' at position 0; did you mean 'displayName'? names \
         are case-sensitive"
    );
    assert!(err("actor/userPrincipalName").starts_with("cannot select 'actor/userPrincipalName'"));
    assert!(err("id category").starts_with("unexpected token 'category' at position 3"));

    let mut e = events().remove(0);
    e.odata_type = Some("#microsoft.graph.auditEvent".into());
    let json = select(&e, &["displayName".into(), "actor".into()]);
    assert_eq!(
        json,
        serde_json::json!({
            "id": "e1",
            "@odata.type": "#microsoft.graph.auditEvent",
            "displayName": "Bob's app",
            "actor": {
                "userPrincipalName": "alice@contoso.com",
                "applicationId": "app-1",
            },
        })
    );
    // A selected property the event lacks is simply absent.
    let json = select(&events()[3], &["displayName".into()]);
    assert_eq!(json, serde_json::json!({ "id": "e4" }));
    let all = select(&e, &["*".into()]);
    assert_eq!(all, serde_json::to_value(&e).unwrap());
}

/// The emulator offers exactly what the generated property table says: a property the spec
/// adds or flags is filterable, sortable and selectable here with no change to this crate.
#[test]
fn every_property_of_the_table_and_nothing_else_is_accepted() {
    use auditkit_graph::properties::{AUDIT_EVENT, EdmType, Model};

    fn check(model: &Model, prefix: &str, reachable: bool) -> usize {
        let mut checked = 0;
        for property in model.properties {
            let name = format!("{prefix}{}", property.json_name);
            if name.contains('@') {
                // Control information: the lexer has no token for it.
                assert!(parse_filter(&format!("{name} eq null")).is_err(), "{name}");
                continue;
            }
            let filter = parse_filter(&format!("{name} eq null"));
            let order = parse_orderby(&name);
            if property.collection {
                let message = filter.unwrap_err().to_string();
                assert_eq!(
                    message.contains("is a collection"),
                    reachable,
                    "{name}: {message}"
                );
                assert!(order.is_err(), "{name} is not sortable");
                // What a collection holds needs any/all: never a path.
                checked += 1;
                continue;
            } else if property.filterable && reachable {
                assert!(filter.is_ok(), "{name}: {filter:?}");
                assert_eq!(order.is_ok(), property.sortable, "{name}: {order:?}");
            } else {
                assert!(filter.is_err(), "{name} is not filterable");
                assert!(order.is_err(), "{name} is not sortable");
            }
            if let EdmType::Complex(nested) = property.edm_type {
                checked += check(nested, &format!("{name}/"), property.filterable);
            }
            checked += 1;
        }
        checked
    }
    assert!(
        check(&AUDIT_EVENT, "", true) >= 20,
        "the walk reached the table"
    );

    let selectable: Vec<&str> = AUDIT_EVENT
        .properties
        .iter()
        .map(|p| p.json_name)
        .filter(|name| !name.starts_with('@'))
        .collect();
    assert_eq!(parse_select(&selectable.join(",")).unwrap(), selectable);
    assert!(parse_select("@odata.type").is_err());
}

#[test]
fn sort_gives_the_order_of_compare_and_keeps_ties_as_they_came() {
    let sample = events();
    for text in [
        "activityDateTime desc",
        "componentName asc, activityDateTime desc",
        "actor/userPrincipalName",
        "actor/userPrincipalName desc",
        "category",
    ] {
        let order = parse_orderby(text).unwrap();
        // `sort_by` is stable: the reference order, ties included.
        let mut expected: Vec<&AuditEvent> = sample.iter().collect();
        expected.sort_by(|a, b| order.compare(a, b));
        let sorted = order.sort(sample.iter().collect());
        let ids = |events: Vec<&AuditEvent>| -> Vec<Option<String>> {
            events.into_iter().map(|e| e.id.clone()).collect()
        };
        assert_eq!(ids(sorted), ids(expected), "{text}");
    }
    let order = parse_orderby("category").unwrap();
    let mut reversed: Vec<&AuditEvent> = sample.iter().collect();
    reversed.reverse();
    let ids: Vec<_> = order
        .sort(reversed.clone())
        .iter()
        .map(|e| e.id.clone())
        .collect();
    let mut expected = reversed;
    expected.sort_by(|a, b| order.compare(a, b));
    let expected: Vec<_> = expected.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, expected, "ties keep the order they came in");
}
