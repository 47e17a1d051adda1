//! The `$filter` / `$orderby` builder through its public API only, including the two filters
//! seen in real use on `/deviceManagement/auditEvents`, reproduced byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditkit::ListQuery;
use auditkit::filter::{Field, Filter, FilterError, OrderBy};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micros: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + chrono::Duration::microseconds(micros)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

// --- the two real-world filters -------------------------------------------------------------

#[test]
fn real_world_filter_with_a_bare_date() {
    let filter = Filter::field(Field::ActivityDateTime)
        .ge(date(2022, 8, 22))
        .and(Filter::field(Field::Category).ne("Application"));
    assert_eq!(
        filter.to_string(),
        "activityDateTime ge 2022-08-22 and category ne 'Application'"
    );
}

#[test]
fn real_world_filter_with_orderby() {
    let since = at(2025, 3, 24, 15, 14, 4, 218_565);
    let filter = Filter::field(Field::ComponentName)
        .eq("DeviceIntent")
        .and(Filter::activity_after(since))
        .and(Filter::field(Field::ActivityOperationType).ne("Get"));
    let order = OrderBy::desc(Field::ActivityDateTime);
    assert_eq!(
        filter.to_string(),
        "componentName eq 'DeviceIntent' and activityDateTime gt 2025-03-24T15:14:04.218565Z \
         and activityOperationType ne 'Get'"
    );
    assert_eq!(order.to_string(), "activityDateTime desc");

    // Both feed ListQuery as it is: the same as writing the strings by hand.
    let built = ListQuery::new().filter(filter).order_by(order);
    let by_hand = ListQuery::new()
        .filter(
            "componentName eq 'DeviceIntent' and activityDateTime gt \
             2025-03-24T15:14:04.218565Z and activityOperationType ne 'Get'",
        )
        .order_by("activityDateTime desc");
    assert_eq!(built, by_hand);
}

// --- one test per field ----------------------------------------------------------------------

#[test]
fn every_text_field_writes_its_wire_name_and_a_quoted_value() {
    let cases = [
        (Field::Id, "id"),
        (Field::DisplayName, "displayName"),
        (Field::ComponentName, "componentName"),
        (Field::Activity, "activity"),
        (Field::ActivityType, "activityType"),
        (Field::ActivityOperationType, "activityOperationType"),
        (Field::ActivityResult, "activityResult"),
        (Field::Category, "category"),
    ];
    for (field, name) in cases {
        assert_eq!(field.name(), name);
        assert_eq!(field.to_string(), name);
        assert_eq!(
            Filter::field(field).eq("x").to_string(),
            format!("{name} eq 'x'")
        );
    }
}

#[test]
fn activity_date_time_is_unquoted_utc_with_z() {
    assert_eq!(Field::ActivityDateTime.name(), "activityDateTime");
    let whole = at(2024, 1, 2, 3, 4, 5, 0);
    assert_eq!(
        Filter::field(Field::ActivityDateTime).eq(whole).to_string(),
        "activityDateTime eq 2024-01-02T03:04:05Z"
    );
    let fractional = at(2024, 1, 2, 3, 4, 5, 120_000);
    assert_eq!(
        Filter::field(Field::ActivityDateTime)
            .eq(fractional)
            .to_string(),
        "activityDateTime eq 2024-01-02T03:04:05.120Z"
    );
}

#[test]
fn activity_date_time_takes_a_bare_date() {
    assert_eq!(
        Filter::field(Field::ActivityDateTime)
            .lt(date(2023, 1, 5))
            .to_string(),
        "activityDateTime lt 2023-01-05"
    );
}

#[test]
fn correlation_id_is_an_unquoted_guid() {
    assert_eq!(Field::CorrelationId.name(), "correlationId");
    let id = Uuid::parse_str("0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9").unwrap();
    assert_eq!(
        Filter::field(Field::CorrelationId).eq(id).to_string(),
        "correlationId eq 0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
    );
    assert_eq!(
        Filter::field(Field::CorrelationId).ne(id).to_string(),
        "correlationId ne 0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
    );
}

#[test]
fn the_fields_are_the_filterable_properties_the_spec_declares() {
    use auditkit_graph::properties::{AUDIT_EVENT, EdmType};
    let declared: Vec<&str> = AUDIT_EVENT
        .properties
        .iter()
        .filter(|p| p.filterable && !p.collection && !p.is_object())
        .map(|p| p.json_name)
        .collect();
    assert_eq!(Field::NAMES, declared.as_slice());
    // The typed constants carry the kind the table gives their property.
    let edm = |name: &str| AUDIT_EVENT.property(name).unwrap().edm_type;
    assert_eq!(edm(Field::ActivityDateTime.name()), EdmType::DateTimeOffset);
    assert_eq!(edm(Field::CorrelationId.name()), EdmType::Guid);
    assert_eq!(edm(Field::Category.name()), EdmType::String);
}

// --- one test per operator kind --------------------------------------------------------------

#[test]
fn text_operators() {
    let f = || Filter::field(Field::ActivityResult);
    assert_eq!(f().eq("Success").to_string(), "activityResult eq 'Success'");
    assert_eq!(f().ne("Success").to_string(), "activityResult ne 'Success'");
    assert_eq!(f().gt("M").to_string(), "activityResult gt 'M'");
    assert_eq!(f().ge("M").to_string(), "activityResult ge 'M'");
    assert_eq!(f().lt("M").to_string(), "activityResult lt 'M'");
    assert_eq!(f().le("M").to_string(), "activityResult le 'M'");
}

#[test]
fn date_time_operators() {
    let t = at(2025, 6, 1, 0, 0, 0, 0);
    let f = || Filter::field(Field::ActivityDateTime);
    let lit = "2025-06-01T00:00:00Z";
    assert_eq!(f().eq(t).to_string(), format!("activityDateTime eq {lit}"));
    assert_eq!(f().ne(t).to_string(), format!("activityDateTime ne {lit}"));
    assert_eq!(f().gt(t).to_string(), format!("activityDateTime gt {lit}"));
    assert_eq!(f().ge(t).to_string(), format!("activityDateTime ge {lit}"));
    assert_eq!(f().lt(t).to_string(), format!("activityDateTime lt {lit}"));
    assert_eq!(f().le(t).to_string(), format!("activityDateTime le {lit}"));
}

#[test]
fn guid_operators() {
    let id = Uuid::nil();
    let f = || Filter::field(Field::CorrelationId);
    let lit = "00000000-0000-0000-0000-000000000000";
    for (filter, op) in [
        (f().eq(id), "eq"),
        (f().ne(id), "ne"),
        (f().gt(id), "gt"),
        (f().ge(id), "ge"),
        (f().lt(id), "lt"),
        (f().le(id), "le"),
    ] {
        assert_eq!(filter.to_string(), format!("correlationId {op} {lit}"));
    }
}

#[test]
fn activity_shortcuts() {
    let from = at(2025, 1, 1, 0, 0, 0, 0);
    let to = at(2025, 2, 1, 0, 0, 0, 0);
    assert_eq!(
        Filter::activity_after(from).to_string(),
        "activityDateTime gt 2025-01-01T00:00:00Z"
    );
    assert_eq!(
        Filter::activity_before(to).to_string(),
        "activityDateTime lt 2025-02-01T00:00:00Z"
    );
    // Half-open: ge from, lt to.
    assert_eq!(
        Filter::activity_between(from, to).to_string(),
        "activityDateTime ge 2025-01-01T00:00:00Z and activityDateTime lt 2025-02-01T00:00:00Z"
    );
    assert_eq!(
        Filter::activity_between(date(2025, 1, 1), date(2025, 2, 1)).to_string(),
        "activityDateTime ge 2025-01-01 and activityDateTime lt 2025-02-01"
    );
}

// --- quote escaping --------------------------------------------------------------------------

#[test]
fn a_single_quote_is_doubled() {
    assert_eq!(
        Filter::field(Field::DisplayName).eq("'").to_string(),
        "displayName eq ''''"
    );
}

#[test]
fn two_quotes_become_four() {
    assert_eq!(
        Filter::field(Field::DisplayName).eq("''").to_string(),
        "displayName eq ''''''"
    );
}

#[test]
fn an_injection_attempt_stays_inside_its_literal() {
    let filter = Filter::field(Field::Category)
        .eq("' or 1 eq 1 or '")
        .and(Filter::field(Field::ActivityType).eq("Delete"));
    assert_eq!(
        filter.to_string(),
        "category eq ''' or 1 eq 1 or ''' and activityType eq 'Delete'"
    );
}

#[test]
fn injection_through_any_of_and_owned_strings_is_escaped_too() {
    let hostile = vec![String::from("a') or (1 eq 1"), String::from("O'Brien")];
    let filter = Filter::field(Field::Activity).any_of(&hostile).unwrap();
    assert_eq!(
        filter.to_string(),
        "(activity eq 'a'') or (1 eq 1' or activity eq 'O''Brien')"
    );
}

#[test]
fn unicode_passes_through_unchanged() {
    assert_eq!(
        Filter::field(Field::DisplayName)
            .eq("Gerät löschen — 日本語 🎉")
            .to_string(),
        "displayName eq 'Gerät löschen — 日本語 🎉'"
    );
}

#[test]
fn an_empty_string_is_an_empty_literal() {
    assert_eq!(
        Filter::field(Field::ActivityResult).eq("").to_string(),
        "activityResult eq ''"
    );
}

#[test]
fn escaping_round_trips() {
    // Undoing the escaping gives the original value back, whatever it was.
    for value in ["", "'", "''", "' or 1 eq 1 or '", "a'b'c", "x''", "'''"] {
        let written = Filter::field(Field::Category).eq(value).to_string();
        let literal = written.strip_prefix("category eq ").unwrap();
        let inner = literal
            .strip_prefix('\'')
            .and_then(|l| l.strip_suffix('\''))
            .unwrap();
        assert!(
            !inner.replace("''", "").contains('\''),
            "lone quote in {written}"
        );
        assert_eq!(inner.replace("''", "'"), value);
    }
}

// --- nesting and parentheses ---------------------------------------------------------------

#[test]
fn an_and_chain_has_no_parentheses() {
    let filter = Filter::field(Field::Category)
        .eq("a")
        .and(Filter::field(Field::ActivityType).eq("b"))
        .and(Filter::field(Field::ActivityResult).eq("c"));
    assert_eq!(
        filter.to_string(),
        "category eq 'a' and activityType eq 'b' and activityResult eq 'c'"
    );
}

#[test]
fn and_of_ands_flattens() {
    let left = Filter::field(Field::Category)
        .eq("a")
        .and(Filter::field(Field::Category).eq("b"));
    let right = Filter::field(Field::Category)
        .eq("c")
        .and(Filter::field(Field::Category).eq("d"));
    assert_eq!(
        left.and(right).to_string(),
        "category eq 'a' and category eq 'b' and category eq 'c' and category eq 'd'"
    );
}

#[test]
fn an_or_inside_an_and_is_parenthesised() {
    let either = Filter::field(Field::Category)
        .eq("Application")
        .or(Filter::field(Field::Category).eq("Compliance"));
    let filter = Filter::activity_after(date(2025, 1, 1))
        .and(either)
        .and(Filter::field(Field::ActivityOperationType).ne("Get"));
    assert_eq!(
        filter.to_string(),
        "activityDateTime gt 2025-01-01 and (category eq 'Application' or category eq \
         'Compliance') and activityOperationType ne 'Get'"
    );
}

#[test]
fn an_and_inside_an_or_relies_on_precedence() {
    let both = Filter::field(Field::Category)
        .eq("a")
        .and(Filter::field(Field::ActivityType).eq("b"));
    let filter = both.or(Filter::field(Field::Category).eq("c"));
    assert_eq!(
        filter.to_string(),
        "(category eq 'a' and activityType eq 'b' or category eq 'c')"
    );
}

#[test]
fn or_chains_flatten_into_one_group() {
    let filter = Filter::field(Field::Category)
        .eq("a")
        .or(Filter::field(Field::Category).eq("b"))
        .or(Filter::field(Field::Category).eq("c"));
    assert_eq!(
        filter.to_string(),
        "(category eq 'a' or category eq 'b' or category eq 'c')"
    );
}

#[test]
fn not_always_parenthesises_its_operand() {
    let get = Filter::field(Field::ActivityOperationType).eq("Get");
    assert_eq!(
        Filter::not(get.clone()).to_string(),
        "not (activityOperationType eq 'Get')"
    );
    let both = get
        .clone()
        .and(Filter::field(Field::Category).eq("Application"));
    assert_eq!(
        Filter::not(both).to_string(),
        "not (activityOperationType eq 'Get' and category eq 'Application')"
    );
    let either = get.or(Filter::field(Field::Category).eq("Application"));
    assert_eq!(
        Filter::not(either).to_string(),
        "not (activityOperationType eq 'Get' or category eq 'Application')"
    );
}

#[test]
fn not_inside_and_and_or() {
    let not_get = Filter::not(Filter::field(Field::ActivityOperationType).eq("Get"));
    let filter = Filter::field(Field::Category).eq("Device").and(
        not_get
            .clone()
            .or(Filter::field(Field::ActivityResult).eq("Failure")),
    );
    assert_eq!(
        filter.to_string(),
        "category eq 'Device' and (not (activityOperationType eq 'Get') or activityResult eq \
         'Failure')"
    );
    assert_eq!(
        Filter::not(Filter::not(not_get)).to_string(),
        "not (not (not (activityOperationType eq 'Get')))"
    );
}

// --- any_of ----------------------------------------------------------------------------------

#[test]
fn any_of_one_value_is_a_plain_eq() {
    let filter = Filter::field(Field::Category)
        .any_of(["Application"])
        .unwrap();
    assert_eq!(filter.to_string(), "category eq 'Application'");
    // ... so it needs no parentheses inside an and either.
    assert_eq!(
        filter
            .and(Filter::field(Field::ActivityResult).eq("Success"))
            .to_string(),
        "category eq 'Application' and activityResult eq 'Success'"
    );
}

#[test]
fn any_of_several_values_is_a_parenthesised_or() {
    let filter = Filter::field(Field::Category)
        .any_of(["Application", "Compliance"])
        .unwrap();
    assert_eq!(
        filter.to_string(),
        "(category eq 'Application' or category eq 'Compliance')"
    );
    let filter = Filter::activity_after(date(2025, 1, 1)).and(
        Filter::field(Field::ComponentName)
            .any_of(vec!["DeviceIntent", "DeviceConfiguration", "Enrollment"])
            .unwrap(),
    );
    assert_eq!(
        filter.to_string(),
        "activityDateTime gt 2025-01-01 and (componentName eq 'DeviceIntent' or componentName \
         eq 'DeviceConfiguration' or componentName eq 'Enrollment')"
    );
}

#[test]
fn any_of_guids() {
    let a = Uuid::from_u128(1);
    let b = Uuid::from_u128(2);
    assert_eq!(
        Filter::field(Field::CorrelationId)
            .any_of([a, b])
            .unwrap()
            .to_string(),
        "(correlationId eq 00000000-0000-0000-0000-000000000001 or correlationId eq \
         00000000-0000-0000-0000-000000000002)"
    );
}

#[test]
fn any_of_nothing_is_an_error() {
    let err = Filter::field(Field::Category)
        .any_of(Vec::<&str>::new())
        .unwrap_err();
    assert_eq!(
        err,
        FilterError::EmptyAnyOf {
            property: "category"
        }
    );
    assert_eq!(
        err.to_string(),
        "any_of on `category` needs at least one value"
    );
}

// --- orderby ---------------------------------------------------------------------------------

#[test]
fn orderby_single_keys() {
    assert_eq!(
        OrderBy::asc(Field::ActivityDateTime).to_string(),
        "activityDateTime asc"
    );
    assert_eq!(
        OrderBy::desc(Field::ActivityDateTime).to_string(),
        "activityDateTime desc"
    );
}

#[test]
fn orderby_several_keys_are_comma_joined_in_order() {
    let order = OrderBy::desc(Field::ActivityDateTime)
        .then_asc(Field::Id)
        .then_desc(Field::CorrelationId);
    assert_eq!(
        order.to_string(),
        "activityDateTime desc,id asc,correlationId desc"
    );
    assert_eq!(
        order.keys().collect::<Vec<_>>(),
        ["activityDateTime desc", "id asc", "correlationId desc"]
    );
    let as_string: String = order.into();
    assert_eq!(as_string, "activityDateTime desc,id asc,correlationId desc");
}

#[test]
fn orderby_feeds_list_query_as_one_comma_joined_key() {
    let order = OrderBy::desc(Field::ActivityDateTime).then_asc(Field::Id);
    assert_eq!(
        ListQuery::new().order_by(order),
        ListQuery::new().order_by("activityDateTime desc,id asc")
    );
}

// --- into ListQuery --------------------------------------------------------------------------

#[test]
fn filter_converts_into_the_string_list_query_takes() {
    let filter = Filter::field(Field::Category).eq("Application");
    let as_string: String = filter.clone().into();
    assert_eq!(as_string, filter.to_string());
    assert_eq!(
        ListQuery::new().filter(filter),
        ListQuery::new().filter("category eq 'Application'")
    );
}
