//! The one request path of auditkit's generated clients.
//!
//! Every generated `Client` carries a [`Pipeline`] as progenitor's inner value and sends each
//! request through it from `ClientHooks::exec`. This crate knows no API and no concrete
//! credential: which headers a call gets (bearer token, API key, `client-request-id`) is
//! configuration of the pipeline, and authentication comes from a [`Credential`].
//!
//! `exec` can only return `reqwest::Result`, so the pipeline writes what happened to a
//! per-call [`CallRecord`]; the facade reads it to build its typed [`Error`].

mod body;
mod clock;
mod credential;
mod error;
mod pipeline;
mod retry;
mod retry_after;
pub mod security;
pub mod transport;

pub use clock::{Clock, ManualClock, Sleeper, SystemClock, TokioSleeper};
pub use credential::{AuthError, AuthErrorKind, BoxFuture, Credential, CredentialHeaders};
pub use error::{CallDetails, Error, ListingStop, ServiceError};
pub use pipeline::{CallRecord, CallReport, DEFAULT_MAX_RESPONSE_BYTES, Pipeline, PipelineBuilder};
pub use retry::{RateLimit, RetryBudget, RetryPolicy, Timeouts};
pub use retry_after::retry_after;
pub use transport::{http_client, http_client_builder};
