//! `auditkit`: read and write audit events in Microsoft Graph (Intune) and the Adobe Audit
//! Service from the command line, or try everything against the built-in emulator.

// A command-line tool writes its results to standard output.
#![allow(clippy::print_stdout)]

mod commands;
mod exit;
mod output;
mod quickstart;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Start here (no account needed):
  auditkit quickstart                 the whole job against the built-in emulator

Point at the real services with Microsoft's and Adobe's variables:
  AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH,
  AZURE_FEDERATED_TOKEN_FILE); ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_SCOPES,
  ADOBE_IMS_ORG_ID. Or at an emulator: auditkit emulator --port 8080, then
  --base-url http://127.0.0.1:8080/v1.0 --authority-host http://127.0.0.1:8080/

Exit codes: 0 success, 1 unexpected failure, 2 usage error, 3 authentication failed,
4 not found, 5 throttled or service unavailable (retry later), 6 request rejected by the
service, 7 network failure or timeout, 8 unreadable input file.";

#[derive(Debug, Parser)]
#[command(name = "auditkit", version, about = "Read and write audit events in Microsoft Graph and the Adobe Audit Service", after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole job against a built-in emulator: tokens, create, list with a filter
    /// across pages, categories, activity types, Adobe posts, and a short report.
    Quickstart,
    /// Serve the emulator of both APIs and both token endpoints until Ctrl-C.
    Emulator(EmulatorArgs),
    /// Microsoft Graph Intune audit events.
    #[command(subcommand)]
    Graph(GraphCommand),
    /// The Adobe Audit Service.
    #[command(subcommand)]
    Adobe(AdobeCommand),
}

#[derive(Debug, Args)]
struct EmulatorArgs {
    /// Port on 127.0.0.1; 0 picks a free one and prints it.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Keep events in this SQLite file across restarts (memory otherwise).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Fill the store with this many realistic events.
    #[arg(long, default_value_t = 0)]
    seed: usize,
    /// Seed of the random generator (events and faults), to repeat a run.
    #[arg(long, default_value_t = 1)]
    rng_seed: u64,
    /// Inject a fault: 429, 429:SECONDS (with Retry-After), 503, 504, delay:250ms, hang.
    #[arg(long = "fault", value_name = "KIND")]
    faults: Vec<String>,
    /// Share of API requests answered with a fault, 0 to 1.
    #[arg(long, default_value_t = 0.1)]
    fault_rate: f64,
    /// Enforce Intune's published per-app limits (answers 429 past them).
    #[arg(long)]
    intune_limits: bool,
}

/// Where the Graph commands go and how they authenticate.
#[derive(Debug, Args)]
struct GraphTarget {
    /// Graph base URL, e.g. http://127.0.0.1:8080/v1.0 for an emulator [default: the cloud's]
    #[arg(long, global = true, env = "AUDITKIT_GRAPH_URL")]
    base_url: Option<url::Url>,
    /// Token authority host, e.g. http://127.0.0.1:8080/ [default: the cloud's; env AZURE_AUTHORITY_HOST]
    #[arg(long, global = true)]
    authority_host: Option<url::Url>,
    /// National cloud.
    #[arg(long, global = true, value_enum, default_value_t = Cloud::Global)]
    cloud: Cloud,
    /// Use the beta endpoint instead of v1.0.
    #[arg(long, global = true)]
    beta: bool,
    /// How results are printed.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Directory (tenant) id or domain [env: AZURE_TENANT_ID]
    #[arg(long, global = true)]
    tenant: Option<String>,
    /// Application (client) id [env: AZURE_CLIENT_ID]
    #[arg(long, global = true)]
    client_id: Option<String>,
    /// Client secret; prefer the AZURE_CLIENT_SECRET variable, which stays out of shell history.
    #[arg(long, global = true)]
    client_secret: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Cloud {
    Global,
    UsGov,
    UsGovDod,
    China,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Jsonl,
}

#[derive(Debug, Subcommand)]
enum GraphCommand {
    /// List audit events (newest first), following pages with --all.
    List {
        #[command(flatten)]
        target: GraphTarget,
        /// An OData $filter, e.g. "category eq 'Application'".
        #[arg(long, conflicts_with_all = ["since", "category"])]
        filter: Option<String>,
        /// Only events at or after this RFC 3339 time or date (2025-03-24).
        #[arg(long)]
        since: Option<String>,
        /// Only events of this category.
        #[arg(long)]
        category: Option<String>,
        /// Page size asked of the service.
        #[arg(long)]
        top: Option<u64>,
        /// Follow every page instead of printing the first one.
        #[arg(long)]
        all: bool,
    },
    /// Print one audit event.
    Get {
        #[command(flatten)]
        target: GraphTarget,
        id: String,
    },
    /// Create audit events from a JSON file (one event) or a JSONL file (one per line).
    Create {
        #[command(flatten)]
        target: GraphTarget,
        #[arg(long)]
        file: PathBuf,
    },
    /// Print every audit category.
    Categories {
        #[command(flatten)]
        target: GraphTarget,
    },
    /// Print the activity types of a category.
    ActivityTypes {
        #[command(flatten)]
        target: GraphTarget,
        category: String,
    },
    /// Print how many events match (all, or --filter).
    Count {
        #[command(flatten)]
        target: GraphTarget,
        #[arg(long)]
        filter: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AdobeCommand {
    /// Post audit events from a JSON file (one event), a JSONL file, or standard input.
    Post {
        /// The Audit Service base URL (Adobe publishes none) [env: AUDITKIT_ADOBE_URL]
        #[arg(long, env = "AUDITKIT_ADOBE_URL")]
        base_url: url::Url,
        /// IMS host, e.g. http://127.0.0.1:8080/ for an emulator [default: production; env ADOBE_IMS_HOST]
        #[arg(long)]
        ims_host: Option<url::Url>,
        /// Events as JSON (one or an array) or JSON Lines.
        #[arg(long, conflicts_with = "stdin", required_unless_present = "stdin")]
        file: Option<PathBuf>,
        /// Read the events from standard input.
        #[arg(long)]
        stdin: bool,
        /// Client id [env: ADOBE_CLIENT_ID]
        #[arg(long)]
        client_id: Option<String>,
        /// Client secret; prefer the ADOBE_CLIENT_SECRET variable.
        #[arg(long)]
        client_secret: Option<String>,
        /// Comma-separated scopes [env: ADOBE_SCOPES]
        #[arg(long)]
        scopes: Option<String>,
        /// IMS organisation id, sent as x-gw-ims-org-id [env: ADOBE_IMS_ORG_ID]
        #[arg(long)]
        org_id: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::UNEXPECTED);
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
