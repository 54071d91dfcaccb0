//! `harness measure`: run a plan and write a run directory.

use super::Outcome;
use anyhow::Context;
use clap::Args;
use harness::measure::{MeasureOptions, measure};
use harness_data::RunStatus;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Run a plan and write a run directory (invocations.csv, manifest.json) as it measures.
#[derive(Args)]
#[command(after_help = "Example:\n  harness measure --plan plans/default.toml --out runs/$(hostname)-$(date +%F)")]
pub struct MeasureArgs {
    /// The plan (TOML): workloads, inputs, runtimes, modes, repetitions, seed.
    #[arg(long)]
    plan: PathBuf,
    /// The run directory to create: a new or empty folder (one run per folder; another run's files are refused).
    #[arg(long)]
    out: PathBuf,
    /// Where the built workloads are (scripts/build-workloads.sh writes them) [default: $HARNESS_ARTIFACTS, or the repository's artifacts/].
    #[arg(long)]
    artifacts: Option<PathBuf>,
    /// The device name for the manifest (`host.device`), which `report` and `export` use before the hostname:
    /// two boards with one hostname, or two hosts on one machine, stay two devices.
    #[arg(long, value_parser = device_name)]
    device: Option<String>,
    /// A value for `${NAME}` in the plan's paths (`--var SIGHTGLASS=../sightglass`); repeatable. Unset names
    /// are looked up in the environment.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Measure until every 95% interval of the ratio of medians against the baseline is within +-this (2% or
    /// 0.02), doubling each cell's repetitions at most up to the plan's `max_repetitions` (default 16 x
    /// `repetitions`) and within its `max_duration`. Sets or overrides the plan's `precision`.
    #[arg(long, value_parser = harness::plan::precision::parse_target)]
    precision: Option<f64>,
    /// The runtime comparisons are against, for --precision (overrides the plan's `baseline`).
    #[arg(long)]
    baseline: Option<String>,
    /// No progress bar (also off when stderr is not a terminal or CI is set).
    #[arg(long)]
    quiet: bool,
}

/// A device name is a dataset's `device` column: something, and no control characters.
fn device_name(name: &str) -> Result<String, String> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(
            "a device name must be non-empty text without control characters, e.g. --device jetson-orin-1".into(),
        );
    }
    Ok(name.to_owned())
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// Measures the plan; a partial run (Ctrl-C, SIGTERM, SIGHUP) is [`Outcome::Interrupted`], a failed one an error.
pub fn run(args: MeasureArgs) -> anyhow::Result<Outcome> {
    let interrupted = Arc::new(AtomicBool::new(false));
    // SIGTERM (timeout, systemd, CI) and SIGHUP end a run as Ctrl-C does: drained, manifest `partial`.
    harness::stop_signals::install(Arc::clone(&interrupted)).context("installing the signal handlers")?;
    let progress = !args.quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let options = MeasureOptions {
        plan: args.plan,
        out: args.out.clone(),
        artifacts: args.artifacts.unwrap_or_else(harness::artifacts::default_dir),
        progress,
        device: args.device,
        vars: args.vars,
        precision: args.precision,
        baseline: args.baseline,
    };
    let summary = measure(&options, &interrupted)?;
    let failed = if summary.failed_rows > 0 {
        format!(", {} failed", summary.failed_rows)
    } else {
        String::new()
    };
    if let Some(rows) = summary.paired_rows {
        let label = if summary.energy_estimated {
            " (energy ESTIMATED by the model probe)"
        } else {
            ""
        };
        eprintln!("paired.csv: {rows} rows{label}");
    }
    if let Some(levels) = summary.load_levels {
        eprintln!("load.csv: {levels} levels, requests.csv: one row per request");
    }
    eprintln!(
        "{}: {} of {} invocations recorded{failed} in {}",
        super::status_word(summary.status),
        summary.rows,
        summary.scheduled,
        args.out.display()
    );
    super::print_precision(&args.out);
    // Results at a glance, from the files as written (a partial run's too).
    if summary.status != RunStatus::Failed
        && let Ok(run) = harness_analysis::run::read_run(&args.out)
        && let Some(text) = harness::glance::summary(&run, &args.out.display().to_string())
    {
        println!("{text}");
    }
    super::run_outcome(summary.status, summary.reason)
}
