//! Entry points for auditkit's fuzz target and property tests, not API.
//!
//! Hidden from the documentation and exempt from semver: they let the facade's
//! `auditkit::fuzzing` push arbitrary answers through the token parsers the credentials use,
//! without a network. Each must return (never panic) whatever the input.

use std::time::Duration;

use auditkit_runtime::AuthError;
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

pub use crate::ims::ExpiresIn;
use crate::token::TokenAnswer;

/// The lifetime of the token Entra ID's parser accepts from this answer, or its refusal.
pub fn entra_answer(
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Duration, AuthError> {
    crate::entra::parse_token_answer(TokenAnswer::new(status, headers, body))
        .map(|token| token.lifetime)
}

/// The lifetime of the token Adobe IMS's parser accepts from this answer (`expires_in` in
/// `unit`), or its refusal.
pub fn ims_answer(
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    unit: ExpiresIn,
) -> Result<Duration, AuthError> {
    crate::ims::parse_token_answer(TokenAnswer::new(status, headers, body), unit)
        .map(|token| token.lifetime)
}
