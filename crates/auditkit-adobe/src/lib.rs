//! Models and client for the Adobe Audit Service, generated from
//! `openapi/adobe-audit-service.yaml` by `cargo xtask generate`.
//!
//! Most applications use the `auditkit` facade instead. Without the default `client` feature
//! this crate is the models alone (`types`), with no HTTP stack.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Generated items are documented by the spec's descriptions where it has them; the spec, not
// this crate, is where a missing one is added.
#[rustfmt::skip]
#[allow(
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations,
    missing_docs
)]
mod generated;

pub use generated::*;

/// Decoding rules the generated models use for what services really send; public for
/// hand-written models of the same answers (see the module docs).
#[doc(hidden)]
#[rustfmt::skip]
#[allow(missing_docs)]
#[path = "generated/lenient.rs"]
pub mod lenient;

mod timestamp;
pub use timestamp::Timestamp;

/// Adobe's error body as the runtime reads it: an `ErrorResponse`'s `reason` and `message`,
/// or the plain string the service sends for 400 and 401.
#[cfg(feature = "client")]
impl auditkit_runtime::ErrorBody for types::ErrorBody {
    fn code_and_message(&self) -> (Option<String>, Option<String>) {
        match self {
            types::ErrorBody::ErrorResponse(body) => (body.reason.clone(), body.message.clone()),
            types::ErrorBody::String(text) => (None, Some(text.clone())),
        }
    }
}
