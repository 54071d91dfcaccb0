//! `harness export`: one tidy paired latency/energy CSV across runs and devices.

use super::Outcome;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// One tidy paired latency/energy dataset (CSV) across runs and devices, and beside it `<stem>.load.csv` with
/// every load level when any run has some; datasets/SCHEMA.md describes both.
#[derive(Args)]
#[command(
    after_help = "Example:\n  harness export runs/xeon-* runs/jetson-* --out study.csv\n  harness export runs/a --device xeon-lab --out a.csv"
)]
pub struct ExportArgs {
    /// Run directories, from any plans and devices.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The CSV file to write.
    #[arg(long)]
    out: PathBuf,
    /// The `device` column for every run [default: each manifest's host.hostname].
    #[arg(long)]
    device: Option<String>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<Outcome> {
    use harness_analysis::export::{export_rows, load_export_path, load_export_rows, load_to_csv, to_csv};
    let runs = super::load_runs(&args.runs)?;
    for run in &runs {
        for note in &run.notes {
            eprintln!("note: run {}: {note}", run.name);
        }
    }
    let rows: Vec<_> = runs
        .iter()
        .flat_map(|run| export_rows(run, args.device.as_deref()))
        .collect();
    std::fs::write(&args.out, to_csv(&rows)).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "export: {} rows from {} runs in {}",
        rows.len(),
        runs.len(),
        args.out.display()
    );
    let levels: Vec<_> = runs
        .iter()
        .flat_map(|run| load_export_rows(run, args.device.as_deref()))
        .collect();
    if !levels.is_empty() {
        let path = load_export_path(&args.out);
        std::fs::write(&path, load_to_csv(&levels)).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("export: {} load levels in {}", levels.len(), path.display());
    }
    Ok(Outcome::Complete)
}
