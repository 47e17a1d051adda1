//! Where every example's clients point: the real services when their variables are set
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or another Entra credential;
//! `ADOBE_CLIENT_ID`, `ADOBE_CLIENT_SECRET`, `ADOBE_SCOPES` and `AUDITKIT_ADOBE_URL`), the
//! in-process emulator otherwise, seeded with events.

// Each example uses part of this module.
#![allow(dead_code)]

use auditkit::{AdobeClient, EntraCredential, GraphClient, HttpClient, ImsCredential};
use auditkit_emulator::{Emulator, EmulatorConfig};

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The clients, and the emulator behind them when no credentials are set (stopped on drop of
/// the process; call [`Services::finish`] to stop it cleanly).
pub struct Services {
    pub graph: GraphClient,
    pub adobe: AdobeClient,
    emulator: Option<Emulator>,
}

impl Services {
    pub async fn start() -> Result<Self, Failure> {
        let graph_env = std::env::var_os("AZURE_CLIENT_ID").is_some();
        let adobe_env = std::env::var_os("ADOBE_CLIENT_ID").is_some()
            && std::env::var_os("AUDITKIT_ADOBE_URL").is_some();
        let emulator = if graph_env && adobe_env {
            None
        } else {
            Some(Emulator::start(EmulatorConfig::new().seed_events(250).rng_seed(3)).await?)
        };
        let graph = graph_client(emulator.as_ref().filter(|_| !graph_env), None)?;
        let adobe = match (&emulator, adobe_env) {
            (Some(emulator), false) => auditkit_testing::emulator_adobe(emulator).build()?,
            _ => AdobeClient::builder()
                .base_url(std::env::var("AUDITKIT_ADOBE_URL")?.parse()?)
                .credential(ImsCredential::from_env()?)
                .build()?,
        };
        match &emulator {
            Some(emulator) => eprintln!("(no credentials set: the emulator at {})", emulator.url()),
            None => eprintln!("(the real services, from their variables)"),
        }
        Ok(Self {
            graph,
            adobe,
            emulator,
        })
    }

    /// Whether the clients point at the emulator.
    pub fn emulated(&self) -> bool {
        self.emulator.is_some()
    }

    /// The emulator the Graph client points at, if it does.
    pub fn graph_emulator(&self) -> Option<&Emulator> {
        self.emulator
            .as_ref()
            .filter(|_| std::env::var_os("AZURE_CLIENT_ID").is_none())
    }

    pub async fn finish(self) {
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
    }
}

/// A Graph client: to `emulator` when given, else to the real service from the variables;
/// through `http` when given.
pub fn graph_client(
    emulator: Option<&Emulator>,
    http: Option<HttpClient>,
) -> Result<GraphClient, Failure> {
    let mut builder = match emulator {
        Some(emulator) => auditkit_testing::emulator_graph(emulator),
        None => GraphClient::builder().credential(EntraCredential::from_env()?),
    };
    if let Some(http) = http {
        builder = builder.http_client(http);
    }
    Ok(builder.build()?)
}
