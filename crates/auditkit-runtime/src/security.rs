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
