//! `cargo xtask bench`: every measured-speed figure of BENCHMARKS.md in one session, so the
//! ratios come from the same machine under the same load: per-call overhead (with and without
//! a subscriber) and decoding, paging memory, the CLI's memory listing 100,000 emulator
//! events, and the clean-build time of a tiny application on auditkit versus on graph-rs-sdk.

// The report is the output.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The comparison applications under `compare/`, each its own workspace: auditkit's, the
/// same job with graph-rs-sdk, and auditkit's HTTP stack alone with no SDK (the floor no
/// SDK on that stack can build below).
const APPS: [&str; 3] = ["auditkit-app", "graph-rs-app", "http-stack-app"];

pub(crate) fn run(root: &Path, compile_only: bool, rounds: usize) -> Result<()> {
    machine();
    if !compile_only {
        // Decoding and the calls with an INFO subscriber, then the calls without one. The
        // `http2` feature adds the HTTPS rows over HTTP/2.
        let overhead = [
            "bench",
            "-p",
            "auditkit",
            "--features",
            "http2",
            "--bench",
            "overhead",
        ];
        cargo(root, &overhead, &[])?;
        cargo(
            root,
            &overhead,
            &[
                ("OVERHEAD_BENCH_ONLY", "calls"),
                ("OVERHEAD_BENCH_LOG", "off"),
            ],
        )?;
        cargo(
            root,
            &["bench", "-p", "auditkit", "--bench", "paging_memory"],
            &[("PAGING_BENCH_SERVER", "child")],
        )?;
        cli_memory(root)?;
    }
    compile_times(root, rounds)
}

/// Events the CLI lists in the memory figure.
const CLI_EVENTS: usize = 100_000;

/// Peak RSS of `auditkit graph list --all` (release build) over every event of an emulator
/// seeded with [`CLI_EVENTS`], in each output format, the output thrown away.
fn cli_memory(root: &Path) -> Result<()> {
    cargo(root, &["build", "--release", "-p", "auditkit-cli"], &[])?;
    let cli = root.join("target").join("release").join("auditkit");
    let port = free_port()?;
    println!(
        "\ncli memory: `auditkit graph list --all --output <format> > /dev/null` against \
         `auditkit emulator --seed {CLI_EVENTS}` (release build), peak RSS of the listing process"
    );
    let mut emulator = Command::new(&cli)
        .args(["emulator", "--port", &port.to_string(), "--seed"])
        .arg(CLI_EVENTS.to_string())
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start the emulator")?;
    let outcome = (|| -> Result<()> {
        wait_for_port(port)?;
        let origin = format!("http://127.0.0.1:{port}");
        let report =
            std::env::temp_dir().join(format!("auditkit-bench-rss-{}", std::process::id()));
        for format in ["table", "json", "jsonl"] {
            let mut listing = under_time(&report, &cli);
            listing
                .args(["graph", "list", "--all", "--output", format, "--base-url"])
                .arg(format!("{origin}/v1.0"))
                .args(["--authority-host", &origin])
                .env("AZURE_TENANT_ID", "emulator")
                .env("AZURE_CLIENT_ID", "00000000-0000-4000-8000-000000000001")
                .env("AZURE_CLIENT_SECRET", "emulator-only-graph-secret");
            let outcome = lines_out(listing);
            let kib = read_peak_kib(&report);
            let _ = std::fs::remove_file(&report);
            let ((seconds, lines), kib) = (outcome?, kib?);
            println!(
                "  {format:<6} {:>7.1} MiB peak RSS  {seconds:>5.1} s  {lines} lines out",
                kib as f64 / 1024.0
            );
        }
        Ok(())
    })();
    let _ = emulator.kill();
    let _ = emulator.wait();
    outcome
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wait_for_port(port: u16) -> Result<()> {
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!("the emulator did not listen on port {port} within 120 s")
}

/// `program` under `/usr/bin/time`, which writes the peak RSS of the largest process it ran
/// (getrusage's maxrss, KiB) to `report`.
fn under_time(report: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("/usr/bin/time");
    command.args(["-f", "%M", "-o"]).arg(report).arg(program);
    command
}

/// What [`under_time`] wrote: the last line of `report` (a line saying the command failed
/// may come before it).
fn read_peak_kib(report: &Path) -> Result<u64> {
    std::fs::read_to_string(report)?
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .context("no peak RSS from /usr/bin/time (Debian package `time`)")
}

/// Runs `command`, counting its output lines as they come and throwing them away (like
/// `> /dev/null`): its wall time and line count.
fn lines_out(mut command: Command) -> Result<(f64, usize)> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot run /usr/bin/time (Debian package `time`)")?;
    let mut lines = 0;
    if let Some(mut stdout) = child.stdout.take() {
        let mut chunk = [0_u8; 64 * 1024];
        loop {
            let read = std::io::Read::read(&mut stdout, &mut chunk)?;
            if read == 0 {
                break;
            }
            lines += chunk[..read].iter().filter(|&&b| b == b'\n').count();
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("the measured command failed: {status}");
    }
    Ok((started.elapsed().as_secs_f64(), lines))
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let rustc = output("rustc", &["--version"]).unwrap_or_default();
    println!("machine: {cpu}, {cores} cores, {rustc}, load {}", load());
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program).args(args).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cargo(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    println!("\n$ {}cargo {}", env_prefix(envs), args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed: {status}", args.join(" "));
    }
    Ok(())
}

fn env_prefix(envs: &[(&str, &str)]) -> String {
    envs.iter().map(|(k, v)| format!("{k}={v} ")).collect()
}

/// Clean dev builds of each app, `rounds` times in the order A B C C B A so drift on a shared
/// machine falls on all alike, with the dependencies downloaded beforehand so the network is
/// not timed. The ratio is of the medians.
fn compile_times(root: &Path, rounds: usize) -> Result<()> {
    println!("\ncompile time: clean `cargo build` (dev profile, --offline) of compare/<app>");
    for app in APPS {
        let manifest = root.join("compare").join(app).join("Cargo.toml");
        let status = Command::new(env!("CARGO"))
            .args(["fetch", "--manifest-path"])
            .arg(&manifest)
            .status()?;
        if !status.success() {
            bail!("cargo fetch for {app} failed");
        }
    }
    let order = [APPS[0], APPS[1], APPS[2], APPS[2], APPS[1], APPS[0]];
    let mut results: Vec<(&str, f64, usize)> = Vec::new();
    for app in order.iter().cycle().take(order.len() * rounds).copied() {
        let target = root.join("target").join("compare").join(app);
        if target.exists() {
            std::fs::remove_dir_all(&target)
                .with_context(|| format!("cannot remove {}", target.display()))?;
        }
        std::fs::create_dir_all(&target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        let report = target.join("peak-rss");
        let started = Instant::now();
        let build = under_time(&report, env!("CARGO"))
            .args(["build", "--offline", "--manifest-path"])
            .arg(root.join("compare").join(app).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env("CARGO_TERM_COLOR", "never")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("cannot build {app} under /usr/bin/time"))?;
        let seconds = started.elapsed().as_secs_f64();
        let log = String::from_utf8_lossy(&build.stderr);
        if !build.status.success() {
            bail!("building {app} failed:\n{log}");
        }
        let crates = log
            .lines()
            .filter(|line| line.trim_start().starts_with("Compiling "))
            .count();
        // The largest process of the build (a rustc), as getrusage reports it.
        let peak_mib = read_peak_kib(&report)? as f64 / 1024.0;
        println!(
            "  {app:<14} {seconds:>7.1} s  {crates:>4} crates compiled  peak RSS {peak_mib:>6.0} MiB  (load {})",
            load()
        );
        results.push((app, seconds, crates));
    }
    let median = |app: &str| {
        let mut runs: Vec<f64> = results
            .iter()
            .filter(|(name, ..)| *name == app)
            .map(|(_, seconds, _)| *seconds)
            .collect();
        runs.sort_by(f64::total_cmp);
        let middle = runs.len() / 2;
        if runs.len().is_multiple_of(2) {
            (runs[middle - 1] + runs[middle]) / 2.0
        } else {
            runs[middle]
        }
    };
    let (ours, theirs, floor) = (median(APPS[0]), median(APPS[1]), median(APPS[2]));
    println!(
        "  median of {} builds each: auditkit-app {ours:.1} s, graph-rs-app {theirs:.1} s, \
         http-stack-app {floor:.1} s; auditkit / graph-rs-sdk = {:.2} (target <= 0.40), \
         the HTTP stack alone / graph-rs-sdk = {:.2}",
        2 * rounds,
        ours / theirs,
        floor / theirs
    );
    Ok(())
}
