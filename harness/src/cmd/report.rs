//! `harness report`: statistics of runs against a baseline runtime.

use super::Outcome;
use clap::Args;
use std::path::PathBuf;

/// Statistics of one or more runs of one plan against a baseline runtime: report.md, a self-contained
/// report.html with plots, results.json, and each plot as an SVG file.
#[derive(Args)]
#[command(after_help = "Example:\n  harness report runs/xeon-2026-11-23 --baseline wasmtime-aot --out report/")]
pub struct ReportArgs {
    /// Run directories (each holds manifest.json and invocations.csv, and paired.csv when probes ran).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The runtime every other runtime is compared against (e.g. native, wasmtime-aot) [default: the plan's
    /// `baseline`].
    #[arg(long)]
    baseline: Option<String>,
    /// Directory for report.md, report.html, results.json and the SVG plots (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// Bootstrap resamples per comparison (1 to 1000000).
    #[arg(long, default_value_t = 2000)]
    resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Relative half-width of the equivalence band (0.02: ratios of medians within [0.98, 1.02]).
    #[arg(long, default_value_t = 0.02)]
    band: f64,
}

pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    use harness_analysis::report::{ReportOptions, build_report, write_report};
    let mut options = ReportOptions {
        baseline: String::new(),
        resamples: args.resamples,
        seed: args.seed,
        equivalence_band: args.band,
        ..ReportOptions::default()
    };
    // Before any run is read: a bad option is the user's to fix, whatever the runs hold.
    options.check()?;
    let runs = super::load_runs(&args.runs)?;
    options.baseline = match args.baseline {
        Some(b) => b,
        None => runs
            .iter()
            .find_map(|r| r.manifest.plan.baseline.clone())
            .ok_or_else(|| anyhow::anyhow!("give --baseline RUNTIME: the runs' plan names no `baseline`"))?,
    };
    let mut report = build_report(&runs, &options)?;
    // What the reader worked around (a torn final row, a probe of gaps only) goes into the report itself.
    report.notes.extend(
        runs.iter()
            .flat_map(|run| run.notes.iter().map(move |note| format!("run {}: {note}", run.name))),
    );
    write_report(&report, &args.out)?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "report: {} groups, {} comparisons, {} figures in {}",
        report.groups.len(),
        report.comparisons.len(),
        report.figures.len(),
        args.out.display()
    );
    Ok(Outcome::Complete)
}
