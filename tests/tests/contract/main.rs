//! Every operation of both specs on the wire against wiremock over 127.0.0.1: the exact request
//! (method, path, query, headers, body) and the decoding of every documented answer.

// Test helpers panic on purpose: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adobe;
mod coverage;
mod graph;
