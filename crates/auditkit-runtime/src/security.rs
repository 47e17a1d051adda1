//! Where credentials may travel.

use std::net::IpAddr;

use reqwest::Url;

/// Loopback hosts: `localhost`, 127.0.0.0/8 and `::1`. Tests and the emulator live there.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Credentials go over https only; plain http to loopback, or to another host when the caller
/// opted in with `allow_insecure_http` (a test server elsewhere on a private network).
pub fn check_transport(url: &Url, allow_insecure_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) || allow_insecure_http => Ok(()),
        "http" => Err(format!(
            "{} uses plain http to a host that is not loopback; credentials only travel over https \
             (set allow_insecure_http to override for a test server)",
            origin(url)
        )),
        other => Err(format!(
            "{}: scheme {other:?} is not http or https",
            origin(url)
        )),
    }
}

/// Whether `url` points at the same scheme, host and port as `api`: a bearer token is only
/// attached to requests for the configured API.
pub fn same_origin(url: &Url, api: &Url) -> bool {
    url.origin() == api.origin()
}

/// `scheme://host:port` of a URL, without path or query (which may carry filter values).
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// A URL as it may be shown in logs, errors and `Debug`: user-info and query values replaced
/// by `***` (query names kept, for diagnosis), the fragment dropped. A URL can carry a
/// password (`https://user:pass@host`), and a query carries `$filter` values (user names,
/// IP addresses) or a managed identity's parameters.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_fragment(None);
    if !shown.username().is_empty() {
        let _ = shown.set_username("***");
    }
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    let names: Vec<String> = url
        .query_pairs()
        .map(|(name, _)| name.into_owned())
        .collect();
    if names.is_empty() {
        shown.set_query(None);
    } else {
        let query: Vec<String> = names.iter().map(|name| format!("{name}=***")).collect();
        shown.set_query(Some(&query.join("&")));
    }
    shown.to_string()
}

/// [`redact`] for a URL held as text; text that is not a URL is not shown at all.
pub fn redact_text(text: &str) -> String {
    Url::parse(text).map_or_else(|_| "<not a url>".to_owned(), |url| redact(&url))
}

/// `text` (a service's message, an id it chose) safe to show on a terminal or in a log line,
/// borrowed when there is nothing to replace. Characters a terminal acts on rather than
/// shows become U+FFFD, so a reader sees that something was there: C0 (this covers ESC, so
/// every ANSI sequence loses its introducer), DEL and C1 (U+0080–U+009F, where CSI and OSC
/// have one-character forms), and Unicode's Bidi_Control set (ALM, LRM/RLM, the embeddings
/// and overrides U+202A–U+202E, the isolates U+2066–U+2069), which show text in another
/// order than its bytes ("Trojan Source").
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(acted_on_by_terminals) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if acted_on_by_terminals(c) {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// JSON text with the characters [`printable`] replaces written as `\uXXXX` escapes instead:
/// the same JSON value, byte for byte safe on a terminal. (serde_json escapes only C0; DEL,
/// C1 and bidi controls can only stand inside strings, since JSON's own syntax is ASCII.)
pub fn printable_json(json: &str) -> std::borrow::Cow<'_, str> {
    // A raw C0 character in JSON text is the whitespace between tokens (a serializer escapes
    // the ones inside strings): it stays.
    let escaped = |c: char| acted_on_by_terminals(c) && u32::from(c) >= 0x20;
    if !json.chars().any(escaped) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escaped(c) {
            // Every such character is in the Basic Multilingual Plane: one escape each.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn acted_on_by_terminals(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Checks that `value` (an id, a tenant) is exactly one path segment, so that it names one
/// resource: not empty, not `.` or `..` (URL parsing turns those into "this" and "the parent"
/// directory, even percent-encoded), without `/` or `\` (which a URL parser or a server
/// splits on), without control characters. `what` names the value in the message.
pub fn check_path_segment(what: &str, value: &str) -> Result<(), crate::Error> {
    let refuse = |why: &str| {
        Err(crate::Error::InvalidRequest(format!(
            "{what} {:?} {why}; it must be one path segment",
            value
        )))
    };
    if value.trim().is_empty() {
        return refuse("is empty");
    }
    if value == "." || value == ".." {
        return refuse("would address another resource");
    }
    if value.contains(['/', '\\']) {
        return refuse("contains a path separator");
    }
    if value.chars().any(char::is_control) {
        return refuse("contains a control character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn https_always_passes_and_http_only_to_loopback() {
        assert!(check_transport(&url("https://graph.microsoft.com/v1.0"), false).is_ok());
        assert!(check_transport(&url("http://127.0.0.1:8080/"), false).is_ok());
        assert!(check_transport(&url("http://127.3.4.5/"), false).is_ok());
        assert!(check_transport(&url("http://localhost:1/"), false).is_ok());
        assert!(check_transport(&url("http://[::1]:9/"), false).is_ok());
        let refused =
            check_transport(&url("http://10.0.0.5:8080/token?secret=x"), false).unwrap_err();
        assert!(
            refused.starts_with("http://10.0.0.5:8080 uses plain http"),
            "{refused}"
        );
        assert!(
            !refused.contains("secret"),
            "the query never appears: {refused}"
        );
        assert!(check_transport(&url("http://10.0.0.5:8080/"), true).is_ok());
        assert!(check_transport(&url("ftp://example.com/"), true).is_err());
    }

    #[test]
    fn redaction_hides_user_info_and_query_values() {
        assert_eq!(
            redact(&url(
                "https://user:hunter2@ims.example:8443/ims/token?client_secret=s&scope=x#frag"
            )),
            "https://***:***@ims.example:8443/ims/token?client_secret=***&scope=***"
        );
        assert_eq!(
            redact(&url(
                "http://127.0.0.1:9/v1.0/deviceManagement/auditEvents?$filter=actor/userPrincipalName%20eq%20'ann'"
            )),
            "http://127.0.0.1:9/v1.0/deviceManagement/auditEvents?$filter=***"
        );
        assert_eq!(
            redact(&url("https://graph.microsoft.com/v1.0")),
            "https://graph.microsoft.com/v1.0"
        );
        assert_eq!(redact_text("https://a:b@h/"), "https://***:***@h/");
        assert_eq!(redact_text("not a url with secret"), "<not a url>");
    }

    #[test]
    fn printable_text_has_no_terminal_controls() {
        assert_eq!(printable("plain text, é"), "plain text, é");
        assert_eq!(
            printable("\u{1b}[31mred\u{7}\r\n\u{9b}x\u{202e}cba\u{7f}"),
            "\u{FFFD}[31mred\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}x\u{FFFD}cba\u{FFFD}"
        );
    }

    #[test]
    fn printable_json_is_the_same_value_in_safe_bytes() {
        let value = serde_json_value();
        let json = value.to_string();
        let safe = printable_json(&json);
        assert!(!safe.chars().any(acted_on_by_terminals), "{safe}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            value
        );
        assert_eq!(printable_json("{\"a\":1}"), "{\"a\":1}");
        assert_eq!(
            printable_json("[\n  1\r\n]\n"),
            "[\n  1\r\n]\n",
            "whitespace stays"
        );
    }

    fn serde_json_value() -> serde_json::Value {
        serde_json::json!({"x": "a\u{9b}31m\u{202e}b\u{7f}c\u{1b}d"})
    }

    #[test]
    fn a_path_segment_names_one_resource() {
        for good in [
            "8c1b2a3e-0000-4000-8000-000000000000",
            "a b",
            "50%",
            "x.y",
            "...",
            "Bob's Apps",
        ] {
            assert!(check_path_segment("id", good).is_ok(), "{good}");
        }
        for bad in ["", " ", ".", "..", "../x", "a/b", "..\\x", "a\nb", "\u{7}"] {
            assert!(check_path_segment("id", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let api = url("https://graph.microsoft.com/v1.0");
        assert!(same_origin(
            &url("https://graph.microsoft.com/v1.0/x?$skiptoken=1"),
            &api
        ));
        assert!(!same_origin(
            &url("https://graph.microsoft.com.evil.example/v1.0"),
            &api
        ));
        assert!(!same_origin(&url("http://graph.microsoft.com/v1.0"), &api));
        assert!(!same_origin(
            &url("https://graph.microsoft.com:8443/v1.0"),
            &api
        ));
    }
}
