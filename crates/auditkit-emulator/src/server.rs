//! A running emulator: start (store, seed data, listener), its URLs and counters, shutdown.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt as _;
use tokio::sync::watch;

use crate::config::{EmulatorConfig, EmulatorCredentials};
use crate::faults::Faults;
use crate::state::{Counters, Shared};
use crate::store::{Store, StoreError, WriteError};
use crate::tokens::Tokens;

/// Why the emulator could not start.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listening socket could not be opened on the configured address, or its local
    /// address could not be read.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for with [`EmulatorConfig::bind`] (the bound one when it makes no
        /// URL).
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The SQLite file given with [`EmulatorConfig::db`] could not be opened or loaded.
    #[error("cannot open the event store")]
    Store(#[from] StoreError),
    /// The events asked for with [`EmulatorConfig::seed_events`] could not be stored.
    #[error("cannot store the seed events")]
    Seed(#[source] StoreError),
    /// The store refused the seed events themselves (an id already stored, or an event it
    /// cannot take), with why.
    #[error("the store refused the seed events: {0}")]
    SeedRefused(String),
}

/// Counters of a running emulator.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmulatorStats {
    /// Every HTTP request received, token routes included.
    pub requests: u64,
    /// Faults injected (including Intune-limit 429s).
    pub faults_injected: u64,
    /// Tokens issued by both token endpoints.
    pub tokens_issued: u64,
    /// Graph audit events in the store now.
    pub events_stored: u64,
    /// Adobe audit events in the store now.
    pub adobe_events_stored: u64,
}

/// A running emulator. Dropping it stops the server too; [`Emulator::shutdown`] waits for it.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    url: url::Url,
}

impl Emulator {
    /// Opens the store, seeds it if asked, binds and starts serving in the background.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let seed = config.rng_seed.unwrap_or_else(|| fastrand::u64(..));
        tracing::info!(rng_seed = seed, "auditkit emulator starting");
        let store = match &config.db {
            Some(path) => Store::open(path).await?,
            None => Store::memory(),
        };
        if config.seed_events > 0 && store.graph_len() == 0 {
            let events = crate::seed::events(config.seed_events, seed, chrono::Utc::now());
            store.insert_graph(events).await.map_err(|err| match err {
                WriteError::Store(err) => EmulatorError::Seed(err),
                WriteError::Exists => EmulatorError::SeedRefused("an id is already stored".into()),
                WriteError::NotFound => {
                    EmulatorError::SeedRefused("the store found no event to write".into())
                }
                WriteError::Invalid(why) => EmulatorError::SeedRefused(why),
            })?;
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let host = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        let address = SocketAddr::new(host, local.port());
        let url =
            url::Url::parse(&format!("http://{address}/")).map_err(|err| EmulatorError::Bind {
                addr: local,
                source: std::io::Error::other(err),
            })?;
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            faults: Faults::new(
                &config.faults,
                seed.wrapping_add(0x9e37_79b9_7f4a_7c15),
                shutdown.clone(),
            ),
            tokens: Tokens::new(config.token_lifetime, config.max_tokens),
            config,
            store,
            stats: Counters::default(),
            origin: url.as_str().trim_end_matches('/').to_owned(),
        });
        let app = crate::router::app(Arc::clone(&shared));
        let mut wait = shutdown;
        let task = tokio::spawn(async move {
            let service = app.into_make_service();
            let serve = axum::serve(listener, service).with_graceful_shutdown(async move {
                let _ = wait.wait_for(|stop| *stop).await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "the emulator stopped serving");
            }
        });
        tracing::info!(%url, "auditkit emulator listening");
        Ok(Emulator {
            shared,
            stop,
            task: Some(task),
            url,
        })
    }

    /// `http://127.0.0.1:PORT/`: the Entra ID authority host, the IMS host and the Adobe
    /// Audit Service base URL.
    pub fn url(&self) -> url::Url {
        self.url.clone()
    }

    /// `{url}v1.0`: the Graph base URL (`{url}beta` works too).
    pub fn graph_url(&self) -> url::Url {
        let mut url = self.url.clone();
        url.set_path("/v1.0");
        url
    }

    /// The tenant, client ids and secrets the token endpoints accept.
    pub fn credentials(&self) -> &EmulatorCredentials {
        &self.shared.config.credentials
    }

    /// The counters as they are now: totals since start, and the events stored at this
    /// moment.
    pub fn stats(&self) -> EmulatorStats {
        let counters = &self.shared.stats;
        EmulatorStats {
            requests: counters.requests(),
            faults_injected: self.shared.faults.injected(),
            tokens_issued: counters.tokens(),
            events_stored: self.shared.store.graph_len() as u64,
            adobe_events_stored: self.shared.store.adobe_len() as u64,
        }
    }

    /// Stops accepting, releases hanging requests and waits (up to 5 s) for the server.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
