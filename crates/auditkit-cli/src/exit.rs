//! Exit codes scripts can rely on, and one-line error messages.

use auditkit::Error;

pub(crate) const UNEXPECTED: u8 = 1;
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
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let code = if error.is_auth() {
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
        };
        let mut message = error.to_string();
        if let Some(id) = error.request_id()
            && !message.contains(id)
        {
            message.push_str(&format!(" (request id {id})"));
        }
        Self::new(code, message)
    }
}
