//! `harness export`: one tidy paired latency/energy CSV across runs and devices.

use super::Outcome;
use anyhow::{Context, bail};
use clap::Args;
use std::path::{Path, PathBuf};

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
    /// The CSV file to write (never inside a run directory: a run's own files are not overwritten).
    #[arg(long)]
    out: PathBuf,
    /// The `device` column for every run [default: each manifest's host.hostname].
    #[arg(long)]
    device: Option<String>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<Outcome> {
    use harness_analysis::export::{
        cold_premium_export_path, cold_premium_rows, cold_premium_to_csv, export_rows, load_export_path,
        load_export_rows, load_to_csv, to_csv,
    };
    refuse_run_file(&args.out)?;
    refuse_run_file(&load_export_path(&args.out))?;
    refuse_run_file(&cold_premium_export_path(&args.out))?;
    let mut runs = super::load_runs(&args.runs)?;
    harness_analysis::run::distinct_names(&mut runs);
    for run in &runs {
        for note in &run.notes {
            eprintln!("note: run {}: {note}", run.name);
        }
    }
    let rows: Vec<_> = runs
        .iter()
        .flat_map(|run| export_rows(run, args.device.as_deref()))
        .collect();
    write_whole(&args.out, &to_csv(&rows))?;
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
        write_whole(&path, &load_to_csv(&levels))?;
        eprintln!("export: {} load levels in {}", levels.len(), path.display());
    } else {
        remove_stale(&load_export_path(&args.out), "load levels")?;
    }
    let premiums: Vec<_> = runs
        .iter()
        .flat_map(|run| cold_premium_rows(run, args.device.as_deref()))
        .collect();
    if !premiums.is_empty() {
        let path = cold_premium_export_path(&args.out);
        write_whole(&path, &cold_premium_to_csv(&premiums))?;
        eprintln!(
            "export: {} cold premiums (cold start minus warm invocation) in {}",
            premiums.len(),
            path.display()
        );
    } else {
        remove_stale(&cold_premium_export_path(&args.out), "cold premiums")?;
    }
    Ok(Outcome::Complete)
}

/// A sibling file an earlier export to the same `--out` wrote, which these runs do not have rows for: left,
/// it would pass for part of this export (it is the export's own name, which a later export overwrites).
fn remove_stale(path: &Path, what: &str) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            eprintln!(
                "export: removed {}, left by an earlier export to this --out: these runs have no {what}",
                path.display()
            );
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing the stale {} of an earlier export", path.display())),
    }
}

/// Refuses an output inside a run directory (its folder holds a manifest.json or the run's claim) or named
/// like a run's file: `--out run/invocations.csv` would overwrite the measurement it exports.
fn refuse_run_file(out: &Path) -> anyhow::Result<()> {
    let folder = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let in_run = folder.join(harness_data::files::MANIFEST).exists() || folder.join(harness::run_dir::CLAIM).exists();
    if in_run || out.join(harness_data::files::MANIFEST).exists() {
        bail!(
            "{} is inside the run directory {} (or is one): an export there could overwrite the run's own files; write it elsewhere, e.g. --out study.csv",
            out.display(),
            folder.display()
        );
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically, so a failed write leaves no half file.
fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    harness_data::fsio::write_bytes_atomically(path, bytes).with_context(|| format!("writing {}", path.display()))
}
