//! Adobe Audit Service.

use std::fmt;
use std::sync::Arc;

use auditkit_identity::ImsCredential;
use auditkit_runtime::security::redact;
use auditkit_runtime::{Call, Error, Pipeline};
use reqwest::Url;
use reqwest::header::HeaderName;

use crate::options::{Common, common_setters};

pub use auditkit_adobe::Timestamp;
pub use auditkit_adobe::types::{AuditEvent as AdobeAuditEvent, Resource, Service};

/// An Adobe Audit Service client. Cheap to clone; clones share the connection pool and the
/// token cache.
#[derive(Clone)]
pub struct AdobeClient {
    base_url: Url,
    http: auditkit_runtime::HttpClient,
    pipeline: Pipeline,
    /// The generated client, built once and shared by every call.
    api: auditkit_adobe::Client,
}

impl fmt::Debug for AdobeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdobeClient")
            .field("base_url", &redact(&self.base_url))
            .field("pipeline", &self.pipeline)
            .finish()
    }
}

/// Builds an [`AdobeClient`]. The base URL is required: Adobe publishes no host for the
/// service.
#[derive(Default)]
#[must_use]
pub struct AdobeClientBuilder {
    base_url: Option<Url>,
    credential: Option<ImsCredential>,
    common: Common,
}

impl fmt::Debug for AdobeClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdobeClientBuilder")
            .field("base_url", &self.base_url.as_ref().map(redact))
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl AdobeClientBuilder {
    /// The Audit Service's base URL; required. Plain http only to loopback unless the HTTP
    /// client allows more ([`crate::HttpClient::allow_insecure_http`]).
    pub fn base_url(mut self, url: Url) -> Self {
        self.base_url = Some(url);
        self
    }

    /// The Adobe IMS credential the client's tokens come from; required.
    pub fn credential(mut self, credential: ImsCredential) -> Self {
        self.credential = Some(credential);
        self
    }

    common_setters!();

    /// The client; nothing is sent yet. Fails without a base URL or a credential
    /// ([`Error::InvalidRequest`]), and when the base URL or the credential is refused (plain
    /// http to a remote host, an empty client id or secret).
    pub fn build(self) -> Result<AdobeClient, Error> {
        let base_url = self.base_url.ok_or_else(|| {
            Error::InvalidRequest(
                "an adobe client needs a base_url: the service publishes no host".into(),
            )
        })?;
        let credential = self.credential.ok_or_else(|| {
            Error::InvalidRequest("an adobe client needs a credential (ImsCredential)".into())
        })?;
        let http = self.common.http(&base_url)?;
        let bearer = credential.bearer(&http, self.common.token_cache())?;
        let pipeline = self
            .common
            .pipeline(&base_url, Arc::new(bearer))
            .request_id_headers([
                HeaderName::from_static("x-debug-id"),
                HeaderName::from_static("x-request-id"),
            ])
            .build()?;
        Ok(AdobeClient::from_parts(base_url, http, pipeline))
    }
}

impl AdobeClient {
    pub(crate) fn from_parts(
        base_url: Url,
        http: auditkit_runtime::HttpClient,
        pipeline: Pipeline,
    ) -> Self {
        let base = base_url.as_str().trim_end_matches('/');
        let api =
            auditkit_adobe::Client::new_with_client(base, http.reqwest().clone(), pipeline.clone());
        Self {
            base_url,
            http,
            pipeline,
            api,
        }
    }

    /// This client with another retry policy, for the calls made through the copy (the retry
    /// budget stays shared).
    pub fn with_retry(&self, policy: auditkit_runtime::RetryPolicy) -> Self {
        let pipeline = self.pipeline.with_retry(policy);
        Self::from_parts(self.base_url.clone(), self.http.clone(), pipeline)
    }

    /// This client with other timeouts, for the calls made through the copy.
    pub fn with_timeouts(&self, timeouts: auditkit_runtime::Timeouts) -> Self {
        let pipeline = self.pipeline.with_timeouts(timeouts);
        Self::from_parts(self.base_url.clone(), self.http.clone(), pipeline)
    }

    /// Starts an [`AdobeClientBuilder`]; the base URL and the credential must be set.
    pub fn builder() -> AdobeClientBuilder {
        AdobeClientBuilder::default()
    }

    /// `POST /audits`. Returns what the service answered with its 201 (an id, as a JSON string
    /// or, from some gateways, as bare text).
    pub async fn post_audit(&self, event: &AdobeAuditEvent) -> Result<String, Error> {
        let call = Call::new();
        let request = self.api.create_audit_event().body(event.clone());
        call.finish_text(call.run(request.send()).await).await
    }
}
