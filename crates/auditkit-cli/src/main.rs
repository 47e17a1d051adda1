//! `auditkit`: read and write audit events in Microsoft Graph (Intune) and the Adobe Audit
//! Service from the command line, or try everything against the built-in emulator.

// A command-line tool writes its results to standard output.
#![allow(clippy::print_stdout)]

mod clients;
mod commands;
mod exit;
mod export;
mod output;
mod progress;
mod quickstart;
mod secret;
mod ship;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

const AFTER_HELP: &str = "\
Start here (no account needed):
  auditkit quickstart                 the whole job against the built-in emulator

Point at the real services with Microsoft's and Adobe's variables:
  AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH,
  AZURE_FEDERATED_TOKEN_FILE); ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_SCOPES,
  ADOBE_IMS_ORG_ID. Or at an emulator: auditkit emulator --port 8080, then
  --base-url http://127.0.0.1:8080/v1.0 --authority-host http://127.0.0.1:8080/

Secrets: every user of the machine can read a command line (ps), so pass a client secret in
its variable or with --client-secret-file PATH (one trailing newline is dropped), or
--client-secret-file - to read it from standard input; --client-secret works but warns.

Exit codes: 0 success, 1 unexpected failure, 2 usage error, 3 authentication failed
(credentials missing or refused), 4 not found, 5 throttled or unavailable, the API or its
token endpoint (retry later), 6 request rejected by the service, 7 network failure or
timeout, reaching the API or its token endpoint, 8 unreadable input file.";

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
    /// Deliver a JSON Lines file of events durably: each line is recorded in a local spool
    /// before it is sent, and a run that was killed resumes where it stopped.
    Ship(ShipArgs),
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
pub(crate) struct GraphTarget {
    /// Graph base URL, e.g. http://127.0.0.1:8080/v1.0 for an emulator [default: the cloud's]
    #[arg(long, global = true, env = "AUDITKIT_GRAPH_URL")]
    pub(crate) base_url: Option<url::Url>,
    /// Token authority host, e.g. http://127.0.0.1:8080/ [default: the cloud's; env AZURE_AUTHORITY_HOST]
    #[arg(long, global = true)]
    pub(crate) authority_host: Option<url::Url>,
    /// National cloud.
    #[arg(long, global = true, value_enum, default_value_t = Cloud::Global)]
    pub(crate) cloud: Cloud,
    /// Use the beta endpoint instead of v1.0.
    #[arg(long, global = true)]
    pub(crate) beta: bool,
    /// How results are printed: a table for people, or for programs json (one array, written
    /// as the events arrive; one cut short by an error is left unterminated) or jsonl (one
    /// JSON document a line).
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub(crate) output: Format,
    /// Directory (tenant) id or domain [env: AZURE_TENANT_ID]
    #[arg(long, global = true)]
    pub(crate) tenant: Option<String>,
    /// Application (client) id [env: AZURE_CLIENT_ID]
    #[arg(long, global = true)]
    pub(crate) client_id: Option<String>,
    #[command(flatten)]
    pub(crate) secret: SecretArgs,
}

/// How a command is given the client secret when not by the service's variable
/// (AZURE_CLIENT_SECRET, ADOBE_CLIENT_SECRET).
#[derive(Clone, Debug, Args)]
pub(crate) struct SecretArgs {
    /// Client secret, visible to every local user in process listings (ps): prefer
    /// --client-secret-file or the service's variable (AZURE_CLIENT_SECRET or
    /// ADOBE_CLIENT_SECRET). Warns when used.
    #[arg(long, global = true, value_name = "SECRET", value_parser = secret::parse_flag)]
    pub(crate) client_secret: Option<SecretString>,
    /// Read the client secret from this file, or from standard input with "-" (which then
    /// cannot also hold the events); one trailing newline is dropped.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        conflicts_with = "client_secret"
    )]
    pub(crate) client_secret_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Cloud {
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
        /// With --all, stop after this many pages (exit 1, with the link to resume from)
        /// [default: 100000]
        #[arg(long, requires = "all", value_parser = clap::value_parser!(u64).range(1..))]
        max_pages: Option<u64>,
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
    /// Write, as JSON Lines, the events not exported before; --follow keeps polling.
    Export(ExportArgs),
    /// Print how many events match (all, or --filter).
    Count {
        #[command(flatten)]
        target: GraphTarget,
        #[arg(long)]
        filter: Option<String>,
    },
}

const EXPORT_AFTER_HELP: &str = "\
The state FILE remembers the activityDateTime of the newest event exported and the ids
exported in the --overlap window before it. Each run asks again for everything from that
instant less the window, because events reach the service late, and skips the ids it wrote
before: no id is written twice across runs. The state is replaced atomically after each page
of events is on disk (fsynced), and with --out it records how long the file was, so a page a
killed run wrote without saving its state is cut off and written again: run the same command
after a crash or a kill and it resumes without a gap or a repeat. To standard output (no
--out) a run killed between a page and its state writes that page again.

An event that reaches the service more than --overlap after newer events were exported is
older than anything the next run asks for, and is missed: make --overlap as long as the
service's worst delay. Events the service hands back from before the window (it ignored
$filter) are not written and their ids are printed; a service that ignores $orderby stops the
export (exit 1) before that page is written. Events dated in the future are written, but the
export goes on from the present. --filter belongs to the state: another filter needs another
state file. --since starts a new state and is ignored when the state exists. The state file
and the output are locked while the export runs; files are created owner-only (0600). The
summary goes to standard error.

Exit codes as for the other commands; 8 when the state file is unreadable or no export
state; 2 when it belongs to another --filter, when --out names the state file, or for a
--filter whose parentheses or quotes do not close. With --follow, throttling and network failures
are reported and the next poll resumes.";

/// `auditkit graph export`.
#[derive(Debug, Args)]
#[command(after_help = EXPORT_AFTER_HELP)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) target: GraphTarget,
    /// Where the export keeps its state (created when missing).
    #[arg(long, value_name = "FILE")]
    pub(crate) state: PathBuf,
    /// Start a new export at this RFC 3339 time or date (2025-03-24) [default: the oldest
    /// event the service keeps].
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only events matching this OData $filter, e.g. "category eq 'Device'".
    #[arg(long)]
    pub(crate) filter: Option<String>,
    /// Keep polling, every INTERVAL (30s, 5m, 1h).
    #[arg(long, value_name = "INTERVAL", value_parser = export::interval)]
    pub(crate) follow: Option<std::time::Duration>,
    /// Append the events to this file [default: standard output].
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// How late an event may reach the service and still be exported.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = export::interval)]
    pub(crate) overlap: std::time::Duration,
    /// Page size asked of the service.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) top: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShipTo {
    Graph,
    Adobe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShipOutput {
    Text,
    Json,
}

const SHIP_AFTER_HELP: &str = "\
Every line of FILE is one event (blank lines are skipped). A line is recorded in the spool
(an SQLite file, fsynced) before it is sent, and the spool remembers how far into FILE it has
read, in the same commit. Run the same command again after a crash, a kill or a timeout: it
delivers what is still spooled and reads on from the first line not yet recorded, so no line
is lost and none is spooled twice. Lines appended to FILE since the last run are shipped by
the next run. An unreadable line stops reading there (exit 8): fix it and run again.

Events the service refuses for good are kept in the spool's dead-letter table (exit 6): a 4xx
answer other than 401, 403, 407, 408 and 429, or a 408 or 5xx (but 503) answer to the same
event past the retry limit; list them with --dead-letters. Throttling (429, 503), outages of
the token endpoint, network failures, refused credentials and redirects never dead-letter an
event: it stays spooled for the next run. The spool is created owner-only (0600).

Exit codes: 0 everything delivered; 1 the spool could not record deliveries (a full disk,
say): those events stay spooled and the next run sends them again, so the service may store
them twice; 3 the credentials were refused (the run stops at once, events stay spooled);
5 events still spooled when --timeout passed, the service throttling or unavailable (run
again); 6 events dead-lettered; 7 the service could not be reached; 8 unreadable FILE or
line.";

#[derive(Debug, Args)]
#[command(after_help = SHIP_AFTER_HELP)]
pub(crate) struct ShipArgs {
    /// The service the events go to.
    #[arg(long, value_enum)]
    pub(crate) to: ShipTo,
    /// The events, one JSON object per line.
    #[arg(required_unless_present = "dead_letters")]
    pub(crate) file: Option<PathBuf>,
    /// The spool file [default: FILE.spool, next to FILE].
    #[arg(long, required_unless_present = "file")]
    pub(crate) spool: Option<PathBuf>,
    /// Print the spool's dead letters as JSON Lines and exit.
    #[arg(long, conflicts_with = "restart")]
    pub(crate) dead_letters: bool,
    /// Read FILE from its first line again, ignoring how far an earlier run got (the events
    /// of that run are shipped again).
    #[arg(long)]
    pub(crate) restart: bool,
    /// Lines recorded per commit (one fsync each).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub(crate) batch: u64,
    /// Most events the spool holds; reading waits while it is full.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) capacity: u64,
    /// Deliveries under way at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub(crate) concurrency: u64,
    /// Seconds to wait for deliveries after the whole file is spooled; what is left stays
    /// spooled for the next run.
    #[arg(long, default_value_t = 600)]
    pub(crate) timeout: u64,
    /// How the summary is printed.
    #[arg(long, value_enum, default_value_t = ShipOutput::Text)]
    pub(crate) output: ShipOutput,
    /// The service's base URL. Graph: default the cloud's [env AUDITKIT_GRAPH_URL]; Adobe:
    /// required [env AUDITKIT_ADOBE_URL].
    #[arg(long)]
    pub(crate) base_url: Option<url::Url>,
    /// Graph: token authority host, e.g. http://127.0.0.1:8080/ [env AZURE_AUTHORITY_HOST]
    #[arg(long)]
    pub(crate) authority_host: Option<url::Url>,
    /// Graph: national cloud.
    #[arg(long, value_enum, default_value_t = Cloud::Global)]
    pub(crate) cloud: Cloud,
    /// Graph: use the beta endpoint.
    #[arg(long)]
    pub(crate) beta: bool,
    /// Graph: directory (tenant) id [env: AZURE_TENANT_ID]
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// Client id [env: AZURE_CLIENT_ID or ADOBE_CLIENT_ID]
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    #[command(flatten)]
    pub(crate) secret: SecretArgs,
    /// Adobe: IMS host, e.g. http://127.0.0.1:8080/ [default: production; env ADOBE_IMS_HOST]
    #[arg(long)]
    pub(crate) ims_host: Option<url::Url>,
    /// Adobe: comma-separated scopes [env: ADOBE_SCOPES]
    #[arg(long)]
    pub(crate) scopes: Option<String>,
    /// Adobe: IMS organisation id, sent as x-gw-ims-org-id [env: ADOBE_IMS_ORG_ID]
    #[arg(long)]
    pub(crate) org_id: Option<String>,
}

/// Where the Adobe commands go and how they authenticate.
#[derive(Debug, Args)]
pub(crate) struct AdobeTarget {
    /// The Audit Service base URL (Adobe publishes none) [env: AUDITKIT_ADOBE_URL]
    #[arg(long, env = "AUDITKIT_ADOBE_URL")]
    pub(crate) base_url: url::Url,
    /// IMS host, e.g. http://127.0.0.1:8080/ for an emulator [default: production; env ADOBE_IMS_HOST]
    #[arg(long)]
    pub(crate) ims_host: Option<url::Url>,
    /// Client id [env: ADOBE_CLIENT_ID]
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    #[command(flatten)]
    pub(crate) secret: SecretArgs,
    /// Comma-separated scopes [env: ADOBE_SCOPES]
    #[arg(long)]
    pub(crate) scopes: Option<String>,
    /// IMS organisation id, sent as x-gw-ims-org-id [env: ADOBE_IMS_ORG_ID]
    #[arg(long)]
    pub(crate) org_id: Option<String>,
}

#[derive(Debug, Subcommand)]
enum AdobeCommand {
    /// Post audit events from a JSON file (one event), a JSONL file, or standard input.
    Post {
        #[command(flatten)]
        target: AdobeTarget,
        /// Events as JSON (one or an array) or JSON Lines.
        #[arg(long, conflicts_with = "stdin", required_unless_present = "stdin")]
        file: Option<PathBuf>,
        /// Read the events from standard input.
        #[arg(long)]
        stdin: bool,
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
            let message = format!("cannot start the async runtime: {err}");
            eprintln!("error: {}", terminal::clean(&message));
            return ExitCode::from(exit::UNEXPECTED);
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // Messages quote services (and file names); the terminal gets them cleaned.
            eprintln!("error: {}", terminal::clean(&failure.message));
            ExitCode::from(failure.code)
        }
    }
}
