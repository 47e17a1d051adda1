//! Models and client for Microsoft Graph's Intune audit events, generated from
//! `openapi/graph-audit-events.yaml` by `cargo xtask generate`.
//!
//! Most applications use the `auditkit` facade instead. Without the default `client` feature
//! this crate is the models alone (`types` and their property table, `properties`), with no
//! HTTP stack.

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

/// The property table of every model, typed access to a model's values by JSON name, and the
/// typed constants of the filterable properties; generated from the spec like the models, and
/// built without the `client` feature too.
#[rustfmt::skip]
#[allow(clippy::all, missing_debug_implementations, missing_docs)]
#[path = "generated/properties.rs"]
pub mod properties;

/// Decoding rules the generated models use for what services really send; public for
/// hand-written models of the same answers, such as a collection page of one's own:
///
/// ```
/// #[derive(serde::Deserialize)]
/// #[serde(bound(deserialize = "T: serde::Deserialize<'de>"))]
/// struct Collection<T> {
///     #[serde(default, deserialize_with = "auditkit_graph::lenient::vec")]
///     value: Vec<T>,
/// }
///
/// let page: Collection<String> = serde_json::from_str(r#"{"value": null}"#).unwrap();
/// assert!(page.value.is_empty());
/// ```
#[doc(hidden)]
#[rustfmt::skip]
#[allow(missing_docs)]
#[path = "generated/lenient.rs"]
pub mod lenient;


/// Graph's error body as the runtime reads it: `error.code` and `error.message`.
#[cfg(feature = "client")]
impl auditkit_runtime::ErrorBody for types::ODataError {
    fn code_and_message(&self) -> (Option<String>, Option<String>) {
        (
            Some(self.error.code.clone()),
            Some(self.error.message.clone()),
        )
    }
}
