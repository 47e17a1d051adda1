//! `cargo xtask generate [--check]`: turns `openapi/*.yaml` into the committed clients.
//! `cargo xtask import-graph --csdl FILE [--check]`: the audit events slice of Microsoft's
//! Graph CSDL, with the report of what changed (see `csdl`); `import-graph --check`: whether
//! the Graph spec says what the committed slice says (see `graph_spec`).
//! `cargo xtask bench [--compile-only]`: the figures of BENCHMARKS.md in one session.
//!
//! This is the only writer of `crates/*/src/generated/`. `--check` regenerates in memory and
//! fails with a diff when the committed code is stale, so CI refuses a spec change whose
//! generated code was not refreshed. Both report the public API changes between the committed
//! code and the regenerated one, breaking or compatible (`api_diff`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

mod api_diff;
mod bench;
mod csdl;
mod generate;
mod graph_spec;
mod lenient;
mod properties;
mod validate;

use generate::TARGETS;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["generate"] => run(Mode::Write),
        ["generate", "--check"] => run(Mode::Check),
        ["import-graph", "--csdl", file] => import_graph(Path::new(file), Mode::Write),
        ["import-graph", "--check"] => spec_agrees_with_slice(),
        ["import-graph", "--csdl", file, "--check"]
        | ["import-graph", "--check", "--csdl", file] => import_graph(Path::new(file), Mode::Check),
        ["bench", options @ ..] => bench_options(options)
            .and_then(|(compile_only, rounds)| bench::run(&workspace_root(), compile_only, rounds))
            .map(|()| true),
        _ => {
            eprintln!(
                "usage: cargo xtask generate [--check] | cargo xtask import-graph [--csdl FILE] [--check] | cargo xtask bench [--compile-only] [--rounds N]"
            );
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--compile-only` and `--rounds N` (rounds of the compile-time comparison, default 2).
fn bench_options(options: &[&str]) -> Result<(bool, usize)> {
    let (mut compile_only, mut rounds) = (false, 2);
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match *option {
            "--compile-only" => compile_only = true,
            "--rounds" => {
                rounds = options
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .context("--rounds takes a positive number")?;
            }
            other => bail!("unknown option {other}"),
        }
    }
    Ok((compile_only, rounds))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    Check,
}

fn workspace_root() -> PathBuf {
    // xtask/ sits directly under the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cuts the audit events slice out of Microsoft's Graph CSDL at `csdl`, reports what changed
/// against the committed slice, and writes it (or, with `--check`, fails when it differs).
fn import_graph(csdl: &Path, mode: Mode) -> Result<bool> {
    let root = workspace_root();
    let bytes = std::fs::read(csdl).with_context(|| format!("cannot read {}", csdl.display()))?;
    let text = String::from_utf8(bytes.clone())
        .with_context(|| format!("{} is not UTF-8", csdl.display()))?;
    let new = csdl::slice(&text).with_context(|| format!("{}", csdl.display()))?;
    let name = csdl.file_name().map_or_else(
        || csdl.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let out_path = root.join(csdl::SLICE);
    let committed = match std::fs::read_to_string(&out_path) {
        Ok(old) => Some(csdl::slice(&old).with_context(|| csdl::SLICE.to_owned())?),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => bail!("cannot read {}: {err}", csdl::SLICE),
    };
    match &committed {
        Some(old) => eprintln!("{}", csdl::report(old, &new)),
        None => eprintln!("{}: new", csdl::SLICE),
    }
    let unchanged = committed.as_ref() == Some(&new);
    if mode == Mode::Check {
        return Ok(unchanged);
    }
    if !unchanged {
        let xml = csdl::to_xml(&new, &csdl::source(&name, &bytes));
        if let Some(dir) = out_path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&out_path, xml).with_context(|| format!("cannot write {}", csdl::SLICE))?;
        eprintln!("{}: written from {}", csdl::SLICE, csdl.display());
        // The spec is written by hand: say what of the new slice it does not say yet.
        return spec_agrees_with_slice();
    }
    Ok(true)
}

/// Whether the committed Graph spec says what the committed CSDL slice says (`graph_spec`);
/// prints each place it departs from it without saying so.
fn spec_agrees_with_slice() -> Result<bool> {
    let root = workspace_root();
    let slice = std::fs::read_to_string(root.join(csdl::SLICE))
        .with_context(|| format!("cannot read {}", csdl::SLICE))?;
    let slice = csdl::slice(&slice).with_context(|| csdl::SLICE.to_owned())?;
    let spec_path = "openapi/graph-audit-events.yaml";
    let spec = std::fs::read_to_string(root.join(spec_path))
        .with_context(|| format!("cannot read {spec_path}"))?;
    let spec: serde_json::Value =
        serde_yaml_ng::from_str(&spec).with_context(|| format!("{spec_path}: not YAML"))?;
    let found = graph_spec::disagreements(&slice, &spec);
    if found.is_empty() {
        eprintln!("{spec_path} agrees with {}", csdl::SLICE);
        return Ok(true);
    }
    eprintln!(
        "{spec_path} departs from {} without saying so:",
        csdl::SLICE
    );
    for line in &found {
        eprintln!("  {line}");
    }
    Ok(false)
}

/// Returns `Ok(false)` when `--check` found stale code.
fn run(mode: Mode) -> Result<bool> {
    let root = workspace_root();
    let mut up_to_date = true;
    for target in TARGETS {
        let spec_path = root.join(target.spec);
        let spec = std::fs::read_to_string(&spec_path)
            .with_context(|| format!("cannot read {}", target.spec))?;
        for (output, code) in generate::generate_all(target, &spec)? {
            let out_path = root.join(output);
            match mode {
                Mode::Write => write_if_changed(target.spec, output, &out_path, &code)?,
                Mode::Check => up_to_date &= check(target.spec, output, &out_path, &code)?,
            }
        }
    }
    if !up_to_date {
        eprintln!("generated code is stale: run `cargo xtask generate` and commit the result");
    }
    Ok(up_to_date)
}

fn write_if_changed(spec: &str, output: &str, out_path: &Path, code: &str) -> Result<()> {
    if std::fs::read_to_string(out_path).is_ok_and(|old| old == code) {
        eprintln!("{output}: unchanged");
        return Ok(());
    }
    if let Ok(old) = std::fs::read_to_string(out_path) {
        eprintln!("{}", api_diff::report(output, &old, code)?);
    }
    if let Some(dir) = out_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(out_path, code).with_context(|| format!("cannot write {output}"))?;
    eprintln!("{output}: written from {spec}");
    Ok(())
}

fn check(spec: &str, output: &str, out_path: &Path, code: &str) -> Result<bool> {
    let committed = match std::fs::read_to_string(out_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{output}: missing (generated from {spec})");
            return Ok(false);
        }
        Err(err) => bail!("cannot read {output}: {err}"),
    };
    if committed == code {
        eprintln!("{output}: up to date");
        return Ok(true);
    }
    eprintln!("{}", api_diff::report(output, &committed, code)?);
    let diff = similar::TextDiff::from_lines(&committed, code);
    eprintln!(
        "{output}: differs from what {spec} generates:\n{}",
        diff.unified_diff().context_radius(3).header(
            &format!("{output} (committed)"),
            &format!("{output} (generated)")
        )
    );
    Ok(false)
}

#[cfg(test)]
mod tests {
    /// `cargo xtask generate --check` inside `cargo test --workspace`: CI runs it here, from the
    /// workspace's one build, instead of building xtask's dependencies a second time under the
    /// feature set `cargo run -p xtask` resolves.
    #[test]
    fn the_committed_generated_code_is_what_the_specs_generate() {
        assert!(
            super::run(super::Mode::Check).unwrap(),
            "generated code is stale: run `cargo xtask generate` (the diff is above)"
        );
    }
}
