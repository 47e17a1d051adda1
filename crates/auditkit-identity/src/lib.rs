//! Credentials for auditkit: Microsoft Entra ID for Graph, Adobe IMS for the Audit Service,
//! and the one token cache both use. The `auditkit` clients take them as they are; this crate
//! also works alone, for calling another API with the same tokens.
//!
//! - [`EntraCredential`]: an Entra ID application, proven by a client secret, a certificate
//!   (a PS256 or RS256 signed assertion), a client assertion from a callback or a federated
//!   token file (workload identity), or the managed identity of the Azure resource this runs
//!   on (the instance metadata service or App Service). [`EntraCredential::from_env`] reads
//!   the variables Microsoft's libraries read. [`GraphCloud`] picks the login host and scope.
//! - [`ImsCredential`]: an Adobe Developer Console project, OAuth Server-to-Server, or the
//!   deprecated Service Account (JWT) with the `ims-jwt` feature; client secrets can be
//!   rotated without downtime. [`ImsCredential::from_env`] reads `ADOBE_*` variables.
//!   [`ImsEnvironment`] picks production, stage or another host.
//! - [`TokenCache`]: tokens by authority, client and scope, refreshed before they expire with
//!   one request in flight per key; clones share it.
//!
//! Binding a credential to an HTTP client and a cache (`bearer`) gives a [`CachedBearer`]:
//! the runtime's [`Credential`] (what the `auditkit` clients call for every request), and
//! [`CachedBearer::token`] for the token itself. Token requests go to https endpoints only
//! (loopback excepted, for tests and the emulator), follow no redirect, and their answers are
//! bounded and validated; secrets are [`SecretString`]s and never appear in `Debug` output or
//! errors.
//!
//! ```no_run
//! use auditkit_identity::{Credential, EntraCredential, ExposeSecret, GraphCloud, TokenCache};
//!
//! # async fn example() -> Result<(), auditkit_identity::Error> {
//! let http = auditkit_identity::HttpClient::new()?;
//! let cache = TokenCache::new();
//! let bearer = EntraCredential::from_env()?.bearer(GraphCloud::Global, &http, cache)?;
//!
//! // The token, for a request of your own (cached until shortly before it expires) …
//! let token = bearer.token().await?;
//! let authorization = format!("Bearer {}", token.expose_secret());
//! // … or the headers a request needs, as the auditkit clients ask for them.
//! let headers = bearer.headers().await?;
//! # let _ = (authorization, headers);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod cache;
pub mod entra;
#[doc(hidden)]
pub mod fuzzing;
pub mod ims;
mod jwt;
mod secret;
#[cfg(test)]
mod test_support;
mod token;

pub use auditkit_runtime::{
    AuthError, AuthErrorKind, BoxFuture, Credential, CredentialHeaders, Error, HttpClient,
    http_client_builder,
};
pub use cache::{TokenCache, TokenKey};
pub use entra::{ClientAssertionCallback, EntraCredential, GraphCloud};
pub use ims::{ImsCredential, ImsEnvironment};
pub use secrecy::{ExposeSecret, SecretString};
pub use token::CachedBearer;
