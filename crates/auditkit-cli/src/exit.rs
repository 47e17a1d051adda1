//! Exit codes scripts can rely on, and one-line error messages.

use auditkit::{AuthErrorKind, Error};

pub(crate) const UNEXPECTED: u8 = 1;
pub(crate) const USAGE: u8 = 2;
pub(crate) const AUTH: u8 = 3;
pub(crate) const NOT_FOUND: u8 = 4;
pub(crate) const RETRY_LATER: u8 = 5;
pub(crate) const REJECTED: u8 = 6;
pub(crate) const NETWORK: u8 = 7;
pub(crate) const BAD_INPUT: u8 = 8;

/// Why a command failed: printed as one line, returned as the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self::new(BAD_INPUT, message)
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }
}

/// The exit code of a library error. A token endpoint's failure is sorted by its kind before
/// anything else: a throttled or failing login service is "try later" (5) and an unreachable
/// one is a network failure (7), not wrong credentials (3), so a script does not give up on
/// credentials that are fine.
fn code(error: &Error) -> u8 {
    if let Error::Auth(auth) = error {
        return match auth.kind() {
            AuthErrorKind::Transport => NETWORK,
            _ if auth.is_transient() => RETRY_LATER,
            _ => AUTH,
        };
    }
    if matches!(error, Error::InvalidRequest(_)) {
        // The request could not be made from what was given (an id that is not one path
        // segment, say): nothing was sent.
        USAGE
    } else if error.is_auth() {
        AUTH
    } else if error.is_not_found() {
        NOT_FOUND
    } else if matches!(error, Error::Transport { .. } | Error::Timeout { .. }) {
        NETWORK
    } else if error.is_retryable() {
        RETRY_LATER
    } else if error
        .status()
        .is_some_and(|status| (400..500).contains(&status))
    {
        REJECTED
    } else {
        UNEXPECTED
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let mut message = error.to_string();
        if let Some(id) = error.request_id()
            && !message.contains(id)
        {
            message.push_str(&format!(" (request id {id})"));
        }
        Self::new(code(&error), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditkit::AuthError;

    fn token_failure(kind: AuthErrorKind, status: Option<u16>) -> Error {
        let error = AuthError::new("entra id", kind, "token endpoint said no");
        Error::from(match status {
            Some(status) => error.with_status(status),
            None => error,
        })
    }

    #[test]
    fn a_token_endpoint_failure_is_sorted_by_its_kind() {
        for (kind, status, expected) in [
            (AuthErrorKind::Unavailable, Some(429), RETRY_LATER),
            (AuthErrorKind::Unavailable, Some(503), RETRY_LATER),
            (AuthErrorKind::Transport, None, NETWORK),
            (AuthErrorKind::Rejected, Some(400), AUTH),
            (AuthErrorKind::Rejected, Some(401), AUTH),
            (AuthErrorKind::Configuration, None, AUTH),
            (AuthErrorKind::Insecure, None, AUTH),
            (AuthErrorKind::InvalidResponse, Some(200), AUTH),
        ] {
            assert_eq!(
                code(&token_failure(kind, status)),
                expected,
                "{kind:?} {status:?}"
            );
        }
    }
}
