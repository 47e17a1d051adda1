//! A local, wire-compatible server for Microsoft Graph's Intune audit events, the Adobe
//! Audit Service and both token endpoints, built on the generated models.
//!
//! Everything is served from one host (`http://127.0.0.1:PORT/`):
//!
//! | route | what |
//! |---|---|
//! | `POST /{tenant}/oauth2/v2.0/token` | Entra ID client credentials (secret or client assertion) |
//! | `POST /ims/token/v3` | Adobe IMS server-to-server |
//! | `/v1.0/deviceManagement/auditEvents…`, `/beta/…` | every operation of `openapi/graph-audit-events.yaml` |
//! | `POST /audits` | the Adobe Audit Service |
//!
//! Client assertions are checked for shape and claims (three base64url parts, `alg` PS256 or
//! RS256, `aud` the token URL, `iss` = `sub` = client id, `exp` in the future) but their
//! signature is NOT verified: the emulator has no registered certificate to verify it with.
//!
//! ```no_run
//! # async fn demo() -> Result<(), auditkit_emulator::EmulatorError> {
//! use auditkit_emulator::{Emulator, EmulatorConfig};
//! let emulator = Emulator::start(EmulatorConfig::new().seed_events(500).rng_seed(7)).await?;
//! println!("Graph at {}, tenant {}", emulator.graph_url(), emulator.credentials().tenant);
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

// Top to bottom, each module uses only those below it: the server starts the router, the
// router reaches the handlers, and the handlers share what sits under them.
mod server;

mod router;

mod adobe;
mod auth;
mod graph;

mod answer;
mod config;
mod faults;
pub mod odata;
mod request;
mod seed;
mod state;
mod store;
mod tokens;

pub use config::{EmulatorConfig, EmulatorCredentials, Fault, FaultConfig, ParseFaultError};
pub use server::{Emulator, EmulatorError, EmulatorStats};
pub use store::StoreError;
