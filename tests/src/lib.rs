//! Shared helpers of the contract tests.
