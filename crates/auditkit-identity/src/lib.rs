//! Credentials for auditkit: Microsoft Entra ID for Graph, Adobe IMS for the Audit Service,
//! and the one token cache both use.
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
    AuthError, AuthErrorKind, BoxFuture, Credential, CredentialHeaders, Error,
};
pub use cache::{TokenCache, TokenKey};
pub use entra::{ClientAssertionCallback, EntraCredential, GraphCloud};
pub use ims::{ImsCredential, ImsEnvironment};
pub use token::CachedBearer;
