//! `auditkit-emulator`: serve the Graph audit events API, the Adobe Audit Service and both
//! token endpoints on one local port until Ctrl-C.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use auditkit_emulator::{Emulator, EmulatorConfig, Fault, FaultConfig};
use clap::Parser;

/// A local, wire-compatible emulator of Microsoft Graph Intune audit events, the Adobe Audit
/// Service, Entra ID and Adobe IMS token endpoints. The credentials it accepts are fixed
/// development values printed at start: they work nowhere else.
#[derive(Debug, Parser)]
#[command(name = "auditkit-emulator", version)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free port (printed).
    #[arg(long, default_value_t = 0, env = "AUDITKIT_EMULATOR_PORT")]
    port: u16,
    /// SQLite file that keeps events across restarts [default: memory only].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Fill an empty store with N realistic Graph audit events.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: usize,
    /// Seed of the seed data and of fault injection [default: random, printed].
    #[arg(long, value_name = "S")]
    rng_seed: Option<u64>,
    /// A fault to inject: 429, 429:SECONDS, 503, 504, delay:250ms, hang. Repeatable.
    #[arg(long = "fault", value_name = "KIND")]
    faults: Vec<Fault>,
    /// Share of API requests (0 to 1) that get a fault [default: 0.1 with --fault, else 0].
    #[arg(long, value_name = "R")]
    fault_rate: Option<f64>,
    /// Enforce Intune's per-app limits: 100 writes and 1000 requests per 20 s.
    #[arg(long)]
    intune_limits: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let rate = args
        .fault_rate
        .unwrap_or(if args.faults.is_empty() { 0.0 } else { 0.1 });
    if !(0.0..=1.0).contains(&rate) {
        eprintln!("error: --fault-rate must be between 0 and 1, got {rate}");
        return ExitCode::from(2);
    }
    let rng_seed = args.rng_seed.unwrap_or_else(|| fastrand::u64(..));
    let mut config = EmulatorConfig::new()
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .seed_events(args.seed)
        .rng_seed(rng_seed)
        .faults(FaultConfig {
            rate,
            kinds: args.faults,
            intune_limits: args.intune_limits,
        });
    if let Some(db) = args.db {
        config = config.db(db);
    }
    let emulator = match Emulator::start(config).await {
        Ok(emulator) => emulator,
        Err(err) => {
            let mut message = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let credentials = emulator.credentials();
    let url = emulator.url();
    let report = format!(
        "auditkit emulator listening on {url}\n\
         \n\
         Graph base URL      {graph}   (also {url}beta)\n\
         Entra ID authority  {url}   token: {url}{tenant}/oauth2/v2.0/token\n\
         Adobe IMS host      {url}   token: {url}ims/token/v3\n\
         Adobe Audit base    {url}   (POST {url}audits)\n\
         \n\
         Entra tenant        {tenant}\n\
         Graph client id     {graph_id}\n\
         Graph secret        {graph_secret}   (emulator only)\n\
         Adobe client id     {adobe_id}\n\
         Adobe secret        {adobe_secret}   (emulator only)\n\
         Adobe org id        {org}\n\
         \n\
         rng seed {rng_seed}; events stored {events}; fault rate {rate}\n\
         Ctrl-C stops.",
        graph = emulator.graph_url(),
        tenant = credentials.tenant,
        graph_id = credentials.graph_client_id,
        graph_secret = credentials.graph_client_secret,
        adobe_id = credentials.adobe_client_id,
        adobe_secret = credentials.adobe_client_secret,
        org = credentials.adobe_org_id,
        events = emulator.stats().events_stored,
    );
    #[allow(clippy::print_stdout)]
    {
        println!("{report}");
    }
    let _ = tokio::signal::ctrl_c().await;
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
