//! What each subcommand does, through the `auditkit` facade.

use std::path::Path;

use auditkit::adobe::AdobeAuditEvent;
use auditkit::graph::AuditEvent;
use auditkit::{Filter, ListQuery};
use auditkit_emulator::{Emulator, EmulatorConfig, Fault, FaultConfig};
use futures::TryStreamExt;

use crate::clients::{adobe_client, graph_client};
use crate::exit::{Failure, UNEXPECTED};
use crate::output::Printer;
use crate::progress::Progress;
use crate::{AdobeCommand, Command, EmulatorArgs, GraphCommand};

pub(crate) async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Quickstart => crate::quickstart::run().await,
        Command::Emulator(args) => emulator(args).await,
        Command::Graph(command) => graph(command).await,
        Command::Adobe(command) => adobe(command).await,
        Command::Ship(args) => crate::ship::run(args).await,
    }
}

async fn emulator(args: EmulatorArgs) -> Result<(), Failure> {
    let kinds = args
        .faults
        .iter()
        .map(|kind| {
            kind.parse::<Fault>()
                .map_err(|err| Failure::input(format!("--fault {kind}: {err}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(Failure::input(format!(
            "--fault-rate must be between 0 and 1, got {}",
            args.fault_rate
        )));
    }
    let rate = if kinds.is_empty() {
        0.0
    } else {
        args.fault_rate
    };
    let mut config = EmulatorConfig::new()
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)))
        .seed_events(args.seed)
        .rng_seed(args.rng_seed)
        .faults(FaultConfig {
            rate,
            kinds,
            intune_limits: args.intune_limits,
        });
    if let Some(db) = args.db {
        config = config.db(db);
    }
    let emulator = Emulator::start(config)
        .await
        .map_err(|err| Failure::new(UNEXPECTED, format!("cannot start the emulator: {err}")))?;
    let credentials = emulator.credentials().clone();
    println!("auditkit emulator listening on {}", emulator.url());
    println!("  graph base url   {}", emulator.graph_url());
    println!(
        "  authority host   {}  (tenant {})",
        emulator.url(),
        credentials.tenant
    );
    println!(
        "  graph client     {} / secret {}",
        credentials.graph_client_id, credentials.graph_client_secret
    );
    println!("  adobe base url   {}  (IMS host the same)", emulator.url());
    println!(
        "  adobe client     {} / secret {} / org {}",
        credentials.adobe_client_id, credentials.adobe_client_secret, credentials.adobe_org_id
    );
    println!("  random seed      {}", args.rng_seed);
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c()
        .await
        .map_err(|err| Failure::new(UNEXPECTED, format!("cannot wait for Ctrl-C: {err}")))?;
    emulator.shutdown().await;
    Ok(())
}

async fn graph(command: GraphCommand) -> Result<(), Failure> {
    match command {
        GraphCommand::List {
            target,
            filter,
            since,
            category,
            top,
            all,
            max_pages,
        } => {
            let mut client = graph_client(&target)?;
            if let Some(pages) = max_pages {
                client = client.with_max_pages(pages);
            }
            let mut query = ListQuery::new().order_by("activityDateTime desc");
            if let Some(filter) =
                filter.or(since_and_category(since.as_deref(), category.as_deref())?)
            {
                query = query.filter(filter);
            }
            if let Some(top) = top {
                query = query.top(top);
            }
            let mut printer = Printer::stdout(target.output);
            if all {
                let progress = Progress::spinner("events");
                let mut events = client.audit_events().list(query);
                while let Some(event) = events.try_next().await? {
                    progress.inc();
                    printer.event(&event)?;
                }
                progress.finish();
            } else {
                for event in client.audit_events().list_page(&query).await?.items {
                    printer.event(&event)?;
                }
            }
            printer.finish()
        }
        GraphCommand::Get { target, id } => {
            let event = graph_client(&target)?.audit_events().get(&id).await?;
            let mut printer = Printer::stdout(target.output);
            printer.event(&event)?;
            printer.finish()
        }
        GraphCommand::Create { target, file } => {
            crate::secret::stdin_read_once(
                target.secret.client_secret_file.as_deref(),
                crate::secret::is_stdin(&file),
                "--file",
            )?;
            let client = graph_client(&target)?;
            let events: Vec<AuditEvent> = read_events(&file).await?;
            let progress = Progress::bar(events.len() as u64, "created");
            let mut printer = Printer::stdout(target.output);
            for (number, event) in events.iter().enumerate() {
                match client.audit_events().create(event).await {
                    Ok(created) => printer.event(&created)?,
                    // Stored, though its answer is unreadable: go on, never send it again.
                    Err(error) if error.api_accepted() => accepted_unread(number, &error),
                    Err(error) => return Err(error.into()),
                }
                progress.inc();
            }
            progress.finish();
            printer.finish()
        }
        GraphCommand::Categories { target } => {
            let values = graph_client(&target)?.audit_events().categories();
            print_strings(values, target.output).await
        }
        GraphCommand::ActivityTypes { target, category } => {
            let values = graph_client(&target)?
                .audit_events()
                .activity_types(&category);
            print_strings(values, target.output).await
        }
        GraphCommand::Export(args) => crate::export::run(args).await,
        GraphCommand::Count { target, filter } => {
            let count = graph_client(&target)?
                .audit_events()
                .count(filter.as_deref())
                .await?;
            println!("{count}");
            Ok(())
        }
    }
}

async fn print_strings(
    mut values: futures::stream::BoxStream<'static, auditkit::Result<String>>,
    format: crate::Format,
) -> Result<(), Failure> {
    let mut printer = Printer::stdout(format);
    while let Some(value) = values.try_next().await? {
        printer.string(&value)?;
    }
    printer.finish()
}

/// `--since` and `--category` as one `$filter`, quoted and escaped by the filter builder.
fn since_and_category(
    since: Option<&str>,
    category: Option<&str>,
) -> Result<Option<String>, Failure> {
    let since = since
        .map(|text| {
            let field = Filter::field(auditkit::Field::ActivityDateTime);
            Ok::<_, Failure>(match moment("--since", text)? {
                Moment::Instant(at) => field.ge(at),
                Moment::Day(day) => field.ge(day),
            })
        })
        .transpose()?;
    let category = category.map(|name| Filter::field(auditkit::Field::Category).eq(name));
    Ok(match (since, category) {
        (Some(a), Some(b)) => Some(a.and(b).to_string()),
        (Some(a), None) | (None, Some(a)) => Some(a.to_string()),
        (None, None) => None,
    })
}

enum Moment {
    Instant(chrono::DateTime<chrono::Utc>),
    Day(chrono::NaiveDate),
}

fn moment(flag: &str, text: &str) -> Result<Moment, Failure> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        Ok(Moment::Instant(at.with_timezone(&chrono::Utc)))
    } else if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(Moment::Day(day))
    } else {
        Err(Failure::input(format!(
            "{flag} {text:?} is neither an RFC 3339 time nor a date (2025-03-24)"
        )))
    }
}

/// A flag's time, a date meaning its first instant in UTC.
pub(crate) fn instant(flag: &str, text: &str) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    Ok(match moment(flag, text)? {
        Moment::Instant(at) => at,
        Moment::Day(day) => day.and_time(chrono::NaiveTime::MIN).and_utc(),
    })
}

async fn adobe(command: AdobeCommand) -> Result<(), Failure> {
    let AdobeCommand::Post {
        target,
        file,
        stdin,
    } = command;
    crate::secret::stdin_read_once(
        target.secret.client_secret_file.as_deref(),
        stdin || file.as_deref().is_some_and(crate::secret::is_stdin),
        if stdin { "--stdin" } else { "--file" },
    )?;
    let client = adobe_client(target)?;
    let events: Vec<AdobeAuditEvent> = match (file, stdin) {
        (Some(file), _) => read_events(&file).await?,
        (None, _) => {
            use tokio::io::AsyncReadExt;
            let mut text = String::new();
            tokio::io::stdin()
                .read_to_string(&mut text)
                .await
                .map_err(|err| Failure::input(format!("cannot read standard input: {err}")))?;
            parse_events(&text, "standard input")?
        }
    };
    let progress = Progress::bar(events.len() as u64, "posted");
    for (number, event) in events.iter().enumerate() {
        match client.post_audit(event).await {
            // The id is whatever the service (or a gateway before it) answered.
            Ok(id) => println!("{}", crate::terminal::clean(&id)),
            Err(error) if error.api_accepted() => accepted_unread(number, &error),
            Err(error) => return Err(error.into()),
        }
        progress.inc();
    }
    progress.finish();
    Ok(())
}

/// The service accepted event `number` (0-based) with a 2xx whose answer could not be read:
/// it is stored, so it is reported on stderr and not sent again.
fn accepted_unread(number: usize, error: &auditkit::Error) {
    eprintln!(
        "warning: event {} was accepted ({}) but the answer could not be read; it is not sent again: {}",
        number + 1,
        error.status().unwrap_or_default(),
        crate::terminal::clean(&error.to_string())
    );
}

async fn read_events<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, Failure> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|err| Failure::input(format!("cannot read {}: {err}", path.display())))?;
    parse_events(&text, &path.display().to_string())
}

/// One JSON document, a JSON array, or JSON Lines.
fn parse_events<T: serde::de::DeserializeOwned>(
    text: &str,
    source: &str,
) -> Result<Vec<T>, Failure> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return serde_json::from_str(trimmed)
            .map_err(|err| Failure::input(format!("{source}: {err}")));
    }
    if let Ok(one) = serde_json::from_str::<T>(trimmed) {
        return Ok(vec![one]);
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line)
                .map_err(|err| Failure::input(format!("{source} line {}: {err}", n + 1)))
        })
        .collect()
}
