//! auditkit: write and read audit events in Microsoft Graph (Intune audit events) and the
//! Adobe Audit Service.
//!
//! The examples below are the repository README, compiled as doctests so it stays true.
#![doc = include_str!("../../../README.md")]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adobe;
pub mod export;
/// The credentials and the token cache: the `auditkit-identity` crate, also usable alone.
pub use auditkit_identity as auth;
pub mod filter;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
mod options;

pub use adobe::{AdobeClient, AdobeClientBuilder};
pub use auditkit_identity::{
    EntraCredential, GraphCloud, ImsCredential, ImsEnvironment, TokenCache, TokenKey,
};
pub use auditkit_runtime::security::{printable, printable_json};
pub use auditkit_runtime::{
    AuthError, AuthErrorKind, CallDetails, Clock, Error, ListingStop, ManualClock, NextLink,
    RateLimit, RetryBudget, RetryPolicy, ServiceError, Sleeper, Timeouts,
};
pub use auditkit_runtime::{
    CertificateDer, HttpClient, http_client_builder, http_client_builder_with_roots,
};
pub use export::{Checkpoint, ExportOptions, FileExport};
pub use filter::{Field, Filter, OrderBy};
pub use graph::{
    AuditEvents, DEFAULT_MAX_PAGES, GraphClient, GraphClientBuilder, GraphVersion, ListQuery, Page,
};

/// The result of an auditkit call: [`Error`] unless another error type is given.
pub type Result<T, E = Error> = std::result::Result<T, E>;
