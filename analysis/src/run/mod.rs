//! Reading run directories: `manifest.json` (its format version checked), `invocations.csv`, `paired.csv`
//! when the run had energy probes, and `load.csv` when it served load levels. Every verb that reads a run
//! (report, export, pair, fit-model, the summary `measure` prints) reads it here. Every error names the
//! file, and for CSV the line.

mod error;
mod load;
mod names;
mod rows;

pub use error::RunError;
pub use load::read_load_rows;
pub use names::distinct_names;
pub use rows::read_csv;

use harness_data::{EnergyQuality, InvocationRecord, LoadRecord, Manifest, PairedRecord, RunStatus, files};
use rows::{Channels, read_run_csv};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `manifest.json` format this reader knows. (`results.json`, the report's output, has its own version.)
pub use harness_data::manifest::MANIFEST_FORMAT_VERSION;

/// One run directory as read from disk.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    /// The directory's own name (the `run` column of an export).
    pub name: String,
    pub manifest: Manifest,
    pub invocations: Vec<InvocationRecord>,
    /// `None` for a latency-only run.
    pub paired: Option<Vec<PairedRecord>>,
    /// One row per load level (`load.csv`); empty when the run served none.
    pub load: Vec<LoadRecord>,
    /// What the reader found and worked around or wants the user to know: a torn final row dropped from a
    /// partial run, a probe that produced no valid sample. `report` and `export` print them.
    pub notes: Vec<String>,
}

pub fn read_run(dir: &Path) -> Result<Run, RunError> {
    let manifest = read_manifest(dir)?;
    let mut notes = Vec::new();
    let invocations_path = dir.join(files::INVOCATIONS);
    let load_path = dir.join(files::LOAD);
    let invocations = if invocations_path.is_file() {
        let rows = read_run_csv(
            &invocations_path,
            &manifest,
            &mut notes,
            "sequence",
            |r: &InvocationRecord| r.sequence,
        )?;
        // A complete run's manifest counts its rows: a file cut at a line end (or appended to) shows here.
        if manifest.status == RunStatus::Complete && rows.len() as u64 != manifest.recorded_invocations {
            return Err(RunError::Csv {
                path: invocations_path,
                line: rows.len() as u64 + 1,
                message: format!(
                    "{} rows, but the manifest says the run is complete with {} invocations recorded: the file \
                     was cut or appended to after the run; restore it or measure again",
                    rows.len(),
                    manifest.recorded_invocations
                ),
            });
        }
        rows
    } else {
        read_invocations(dir, &manifest, &mut notes)?
    };
    let load = if load_path.is_file() {
        read_load_rows(&load_path)?
    } else {
        notes.extend(missing_load_csv(&load_path, &manifest));
        Vec::new()
    };
    let paired_path = dir.join(files::PAIRED);
    let paired = if paired_path.is_file() {
        let mut channels = Channels::default();
        let rows = read_run_csv(
            &paired_path,
            &manifest,
            &mut notes,
            "sequence, probe and channel",
            |r: &PairedRecord| (r.sequence, channels.index(&r.probe, &r.channel)),
        )?;
        notes.extend(probes_without_a_valid_sample(&paired_path, &rows));
        Some(rows)
    } else {
        None
    };
    let name = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Run {
        dir: dir.to_path_buf(),
        name,
        manifest,
        invocations,
        paired,
        load,
        notes,
    })
}

/// A run directory's `manifest.json`, its format version checked ([`Manifest::from_json`]): what every verb
/// that needs the manifest alone (`pair`, `fit-model`) reads it with.
pub fn read_manifest(dir: &Path) -> Result<Manifest, RunError> {
    let path = dir.join(files::MANIFEST);
    if !path.is_file() {
        return Err(RunError::NotARun {
            path: dir.to_path_buf(),
            missing: files::MANIFEST,
        });
    }
    let bytes = std::fs::read(&path).map_err(|source| RunError::Io {
        path: path.clone(),
        source,
    })?;
    Manifest::from_json(&bytes).map_err(|e| RunError::Manifest {
        path,
        message: e.to_string(),
    })
}

/// A plan with `[load]` levels whose run has no `load.csv`: its levels are not in the report or the export,
/// and the user must hear it (a deleted file once went unmentioned).
fn missing_load_csv(path: &Path, manifest: &Manifest) -> Option<String> {
    manifest.plan.load.as_ref()?;
    Some(match manifest.status {
        RunStatus::Complete => format!(
            "{} is missing, but the plan has `[load]` levels and the run is complete: the file was moved or              deleted, so no load level of this run is reported or exported; restore it or measure again",
            path.display()
        ),
        _ => format!(
            "{} is missing though the plan has `[load]` levels: the run stopped before its first level (or the              file was deleted), so no load level of this run is reported or exported",
            path.display()
        ),
    })
}

/// A probe channel whose every paired row is a gap measured nothing (a counter unreadable or garbage from the
/// start): its energy is missing, not zero, and the run must say so rather than pass for a complete energy run.
fn probes_without_a_valid_sample(path: &Path, rows: &[PairedRecord]) -> Vec<String> {
    let mut per_channel: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for row in rows {
        let (all, gaps) = per_channel.entry((&row.probe, &row.channel)).or_default();
        *all += 1;
        *gaps += usize::from(row.quality == EnergyQuality::Gap);
    }
    per_channel
        .into_iter()
        .filter(|(_, (all, gaps))| all == gaps)
        .map(|((probe, channel), (all, _))| {
            format!(
                "probe `{probe}` produced no valid sample on channel `{channel}`: all {all} of its rows in {} are \
                 gaps, so the run has no energy from it (missing, not zero); check the sensor with `harness \
                 probes` and measure again",
                path.display()
            )
        })
        .collect()
}

/// `invocations.csv` of a run directory, by the same rules as [`read_run`] (a torn final row of a partial
/// run is dropped with a note in `notes`; repeated rows are errors). A run that served load levels only may
/// lack it: with `load.csv` present, a missing `invocations.csv` reads as no invocations.
pub fn read_invocations(
    dir: &Path,
    manifest: &Manifest,
    notes: &mut Vec<String>,
) -> Result<Vec<InvocationRecord>, RunError> {
    let path = dir.join(files::INVOCATIONS);
    if path.is_file() {
        read_run_csv(&path, manifest, notes, "sequence", |r: &InvocationRecord| r.sequence)
    } else if dir.join(files::LOAD).is_file() {
        Ok(Vec::new())
    } else {
        Err(RunError::NotARun {
            path: dir.to_path_buf(),
            missing: files::INVOCATIONS,
        })
    }
}

#[cfg(test)]
mod tests;
