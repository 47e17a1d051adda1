//! Shared helpers of the contract tests.
//!
//! Every contract test is declared with [`contract_test!`], which records the operationId it
//! covers (so a test can list the operations nobody covers, without a hand-kept list) and
//! checks after the test body that the server really received a request for that operation's
//! method and path template, so a recorded operation cannot go unexercised.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

pub use inventory;
use serde_json::Value;
use wiremock::MockServer;

/// The two specs in `openapi/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Spec {
    Graph,
    Adobe,
}

impl Spec {
    pub const ALL: [Spec; 2] = [Spec::Graph, Spec::Adobe];

    pub fn file(self) -> &'static str {
        match self {
            Spec::Graph => "openapi/graph-audit-events.yaml",
            Spec::Adobe => "openapi/adobe-audit-service.yaml",
        }
    }

    /// The path prefix a client of this spec is configured with in these tests.
    fn base_path(self) -> &'static str {
        match self {
            Spec::Graph => "/v1.0",
            Spec::Adobe => "",
        }
    }

    pub fn operations(self) -> Vec<Operation> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(self.file());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let spec: Value = serde_yaml_ng::from_str(&text).unwrap();
        let mut operations = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                    operations.push(Operation {
                        id: id.to_owned(),
                        method: method.to_uppercase(),
                        path_template: path.clone(),
                    });
                }
            }
        }
        operations
    }
}

#[derive(Clone, Debug)]
pub struct Operation {
    pub id: String,
    pub method: String,
    pub path_template: String,
}

impl Operation {
    /// Whether a request path (as sent, percent-encoded) fits this operation's template.
    fn matches(&self, method: &str, sent_path: &str) -> bool {
        if method != self.method {
            return false;
        }
        let decoded = percent_encoding::percent_decode_str(sent_path).decode_utf8_lossy();
        let mut pattern = String::from("^");
        for (i, part) in self.path_template.split(['{', '}']).enumerate() {
            if i % 2 == 0 {
                pattern.push_str(&regex::escape(part));
            } else {
                pattern.push_str("[^/]+");
            }
        }
        pattern.push('$');
        regex::Regex::new(&pattern).unwrap().is_match(&decoded)
    }
}

/// One contract test's record of the operation it covers.
#[derive(Debug)]
pub struct Covered {
    pub spec: Spec,
    pub operation_id: &'static str,
    pub test: &'static str,
}

inventory::collect!(Covered);

pub fn covered() -> impl Iterator<Item = &'static Covered> {
    inventory::iter::<Covered>.into_iter()
}

/// A wiremock server on 127.0.0.1 for one operation of one spec.
#[allow(missing_debug_implementations)]
pub struct ContractServer {
    pub mock: MockServer,
    spec: Spec,
    operation: Operation,
}

impl ContractServer {
    pub async fn start(spec: Spec, operation_id: &str) -> Self {
        let operation = spec
            .operations()
            .into_iter()
            .find(|op| op.id == operation_id)
            .unwrap_or_else(|| panic!("{operation_id} is not an operationId of {}", spec.file()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mock = MockServer::builder().listener(listener).start().await;
        Self {
            mock,
            spec,
            operation,
        }
    }

    pub fn uri(&self) -> String {
        self.mock.uri()
    }

    pub fn graph(&self) -> auditkit_graph::Client {
        assert_eq!(self.spec, Spec::Graph);
        auditkit_graph::Client::new_with_client(
            &format!("{}/v1.0", self.uri()),
            http(),
            contract_pipeline(),
        )
    }

    pub fn adobe(&self) -> auditkit_adobe::Client {
        assert_eq!(self.spec, Spec::Adobe);
        auditkit_adobe::Client::new_with_client(&self.uri(), http(), contract_pipeline())
    }

    /// The one request the server received; fails if there were none or several.
    pub async fn only_request(&self) -> wiremock::Request {
        let mut received = self.mock.received_requests().await.unwrap();
        assert_eq!(
            received.len(),
            1,
            "expected exactly one request, got {received:#?}"
        );
        received.remove(0)
    }

    /// Called by [`contract_test!`] after the body: the covered operation was exercised.
    pub async fn assert_operation_received(&self) {
        let received = self.mock.received_requests().await.unwrap();
        let prefix = self.spec.base_path();
        let hit = received.iter().any(|request| {
            request
                .url
                .path()
                .strip_prefix(prefix)
                .is_some_and(|path| self.operation.matches(request.method.as_str(), path))
        });
        assert!(
            hit,
            "the test records {} but sent no {} {} request; received: {:?}",
            self.operation.id,
            self.operation.method,
            self.operation.path_template,
            received
                .iter()
                .map(|r| format!("{} {}", r.method, r.url))
                .collect::<Vec<_>>()
        );
    }
}

/// Contract tests check one exchange on the wire: no retries.
fn contract_pipeline() -> auditkit_runtime::Pipeline {
    auditkit_runtime::Pipeline::builder()
        .retry(auditkit_runtime::RetryPolicy::none())
        .build()
        .unwrap()
}

/// auditkit's reqwest has no process-wide TLS provider: `reqwest::Client::new()` would panic.
fn http() -> reqwest::Client {
    auditkit::HttpClient::new().unwrap().reqwest().clone()
}

/// Header names that progenitor or the pipeline must never put on the wire.
pub const FORBIDDEN_HEADERS: &[&str] = &["api-version"];

pub fn assert_no_forbidden_headers(request: &wiremock::Request) {
    for name in FORBIDDEN_HEADERS {
        assert!(
            request.headers.get(*name).is_none(),
            "{name} was sent: {:?}",
            request.headers
        );
    }
}

/// Declares a contract test of one operation. The body sees `$server`, a [`ContractServer`].
#[macro_export]
macro_rules! contract_test {
    ($(#[$meta:meta])* $name:ident: $spec:expr, $operation_id:literal, |$server:ident| $body:block) => {
        $crate::inventory::submit! {
            $crate::Covered { spec: $spec, operation_id: $operation_id, test: stringify!($name) }
        }
        $(#[$meta])*
        #[tokio::test]
        async fn $name() {
            let $server = $crate::ContractServer::start($spec, $operation_id).await;
            $body
            $server.assert_operation_received().await;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_only_their_own_paths() {
        let op = Operation {
            id: "x".into(),
            method: "GET".into(),
            path_template: "/deviceManagement/auditEvents/microsoft.graph.getAuditActivityTypes(category='{category}')".into(),
        };
        assert!(op.matches(
            "GET",
            "/deviceManagement/auditEvents/microsoft.graph.getAuditActivityTypes(category='Bob''s%20Apps')"
        ));
        assert!(!op.matches(
            "POST",
            "/deviceManagement/auditEvents/microsoft.graph.getAuditActivityTypes(category='a')"
        ));
        assert!(!op.matches(
            "GET",
            "/deviceManagement/auditEvents/microsoft.graph.getAuditActivityTypes(category=a)"
        ));
        assert!(!op.matches(
            "GET",
            "/deviceManagement/auditEvents/x/microsoft.graph.getAuditActivityTypes(category='a')"
        ));
    }
}
