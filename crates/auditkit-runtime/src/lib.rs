//! The one request path of auditkit's generated clients.
//!
//! Every generated `Client` carries a [`Pipeline`] as progenitor's inner value and sends each
//! request through it from `ClientHooks::exec`. This crate knows no API: which headers a call
//! gets is configuration of the pipeline. Today the pipeline only removes what the generator
//! adds by mistake and sends; authentication, request ids, tracing, retries and timeouts are
//! added here by the facade and reliability work, behind the same seam.

/// The request path shared by every operation of a generated client. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {}

impl Pipeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends one request of the operation named `operation` (progenitor's method name).
    pub async fn execute(
        &self,
        client: &reqwest::Client,
        mut request: reqwest::Request,
        _operation: &'static str,
    ) -> reqwest::Result<reqwest::Response> {
        // progenitor stamps `api-version: <info.version>` on every request (no switch to turn
        // it off); neither service defines such a header.
        request.headers_mut().remove("api-version");
        client.execute(request).await
    }
}
