//! The one request path of auditkit's generated clients.
//!
//! Every generated `Client` carries a [`Pipeline`] as progenitor's inner value and sends each
//! request through it from `ClientHooks::exec`. This crate knows no API and no concrete
//! credential: which headers a call gets (bearer token, API key, `client-request-id`) is
//! configuration of the pipeline, and authentication comes from a [`Credential`].
//!
//! | module | what it owns |
//! |---|---|
//! | [`pipeline`] | the stages every request passes, in order (one doc comment) |
//! | [`transport`] | the one place the HTTP client is built: TLS, connect timeout, no redirects, user agent |
//! | `deadline` | one deadline per operation: pacing, credentials, attempts and backoffs |
//! | `retry` | the policy, the one transient classification, the budget, pacing, `Retry-After` |
//! | [`call`] | a call's record and the one place its typed [`Error`] is made |
//! | `error` | the error types |
//! | [`security`] | where credentials may travel, redaction, path segments, printable text |
//! | `body` | what every answer body passes: the size cap, a leading BOM dropped |
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
pub mod call;
mod clock;
mod credential;
mod deadline;
mod error;
pub mod pipeline;
mod retry;
pub mod security;
pub mod transport;

pub use call::{Call, ErrorBody};
pub use clock::{Clock, ManualClock, Sleeper, SystemClock, TokioSleeper};
pub use credential::{AuthError, AuthErrorKind, BoxFuture, Credential, CredentialHeaders};
pub use error::{CallDetails, Error, ListingStop, NextLink, ServiceError};
pub use pipeline::{DEFAULT_MAX_RESPONSE_BYTES, Pipeline, PipelineBuilder};
pub use retry::{RateLimit, RetryBudget, RetryPolicy, Timeouts, retry_after};
pub use rustls_pki_types::CertificateDer;
pub use transport::{HttpClient, http_client_builder, http_client_builder_with_roots};
