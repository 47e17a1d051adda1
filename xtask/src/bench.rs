//! `cargo xtask bench`: every measured-speed figure of BENCHMARKS.md in one session, so the
//! ratios come from the same machine under the same load: per-call overhead and decoding,
//! paging memory, and the clean-build time of a tiny application on auditkit versus on
//! graph-rs-sdk.

// The report is the output.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The comparison applications under `compare/`, each its own workspace.
const APPS: [&str; 2] = ["auditkit-app", "graph-rs-app"];

pub(crate) fn run(root: &Path, compile_only: bool, rounds: usize) -> Result<()> {
    machine();
    if !compile_only {
        // The whole overhead bench, then its calls without a tracing subscriber (what the INFO
        // span costs), then also with the raw side given the facade's per-attempt timeout
        // (what the timer costs).
        let overhead_runs: [&[(&str, &str)]; 3] = [
            &[],
            &[
                ("OVERHEAD_BENCH_ONLY", "calls"),
                ("OVERHEAD_BENCH_LOG", "off"),
            ],
            &[
                ("OVERHEAD_BENCH_ONLY", "calls"),
                ("OVERHEAD_BENCH_LOG", "off"),
                ("OVERHEAD_BENCH_RAW_TIMEOUT", "1"),
            ],
        ];
        for envs in overhead_runs {
            cargo(
                root,
                &["bench", "-p", "auditkit", "--bench", "overhead"],
                envs,
            )?;
        }
        cargo(
            root,
            &["bench", "-p", "auditkit", "--bench", "paging_memory"],
            &[("PAGING_BENCH_SERVER", "child")],
        )?;
    }
    compile_times(root, rounds)
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

/// Clean dev builds of each app, `rounds` times in the order A B B A so drift on a shared
/// machine falls on both alike, with the dependencies downloaded beforehand so the network is
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
    let order = [APPS[0], APPS[1], APPS[1], APPS[0]];
    let mut results: Vec<(&str, f64, usize)> = Vec::new();
    for app in order.iter().cycle().take(order.len() * rounds).copied() {
        let target = root.join("target").join("compare").join(app);
        if target.exists() {
            std::fs::remove_dir_all(&target)
                .with_context(|| format!("cannot remove {}", target.display()))?;
        }
        let started = Instant::now();
        let build = Command::new(env!("CARGO"))
            .args(["build", "--offline", "--manifest-path"])
            .arg(root.join("compare").join(app).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env("CARGO_TERM_COLOR", "never")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("cannot build {app}"))?;
        let seconds = started.elapsed().as_secs_f64();
        let log = String::from_utf8_lossy(&build.stderr);
        if !build.status.success() {
            bail!("building {app} failed:\n{log}");
        }
        let crates = log
            .lines()
            .filter(|line| line.trim_start().starts_with("Compiling "))
            .count();
        println!(
            "  {app:<14} {seconds:>7.1} s  {crates:>4} crates compiled  (load {})",
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
    let (ours, theirs) = (median(APPS[0]), median(APPS[1]));
    println!(
        "  median of {} builds each: auditkit-app {ours:.1} s, graph-rs-app {theirs:.1} s; \
         auditkit / graph-rs-sdk = {:.2} (target <= 0.50)",
        2 * rounds,
        ours / theirs
    );
    Ok(())
}
