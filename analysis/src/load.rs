//! Reading run directories: `manifest.json`, `invocations.csv`, `paired.csv` when the run had energy probes,
//! and `load.csv` when it served load levels. Every error names the file, and for CSV the line.

use harness_data::{InvocationRecord, LoadRecord, Manifest, PairedRecord, files};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{path}: not a run directory (no {missing}); a run directory holds manifest.json and invocations.csv (or load.csv)"
    )]
    NotARun { path: PathBuf, missing: &'static str },
    #[error("{path}: invalid manifest: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Csv { path: PathBuf, line: u64, message: String },
}

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
}

pub fn load_run(dir: &Path) -> Result<Run, LoadError> {
    let manifest_path = dir.join(files::MANIFEST);
    if !manifest_path.is_file() {
        return Err(LoadError::NotARun {
            path: dir.to_path_buf(),
            missing: files::MANIFEST,
        });
    }
    let bytes = std::fs::read(&manifest_path).map_err(|source| LoadError::Io {
        path: manifest_path.clone(),
        source,
    })?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| LoadError::Manifest {
        path: manifest_path.clone(),
        message: e.to_string(),
    })?;
    let invocations = read_invocations(dir)?;
    let load_path = dir.join(files::LOAD);
    let load = if load_path.is_file() {
        read_csv(&load_path)?
    } else {
        Vec::new()
    };
    let paired_path = dir.join(files::PAIRED);
    let paired = if paired_path.is_file() {
        Some(read_csv(&paired_path)?)
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
    })
}

/// `invocations.csv` of a run directory. A run that served load levels only may lack it: with `load.csv`
/// present, a missing `invocations.csv` reads as no invocations.
pub fn read_invocations(dir: &Path) -> Result<Vec<InvocationRecord>, LoadError> {
    let path = dir.join(files::INVOCATIONS);
    if path.is_file() {
        read_csv(&path)
    } else if dir.join(files::LOAD).is_file() {
        Ok(Vec::new())
    } else {
        Err(LoadError::NotARun {
            path: dir.to_path_buf(),
            missing: files::INVOCATIONS,
        })
    }
}

/// Every row of a CSV file with a header; a row that does not parse is an error naming its line (1-based,
/// the header being line 1).
pub fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, LoadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let row = record.deserialize(Some(&headers)).map_err(|e| LoadError::Csv {
            path: path.to_path_buf(),
            line,
            message: describe_csv_error(&e, &headers, Some(&record)),
        })?;
        rows.push(row);
    }
    Ok(rows)
}

fn csv_error(path: &Path, error: csv::Error) -> LoadError {
    if let csv::ErrorKind::Io(_) = error.kind() {
        let csv::ErrorKind::Io(source) = error.into_kind() else {
            unreachable!()
        };
        return LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
    }
    LoadError::Csv {
        path: path.to_path_buf(),
        line: error.position().map_or(0, |p| p.line()),
        message: describe_csv_error(&error, &csv::StringRecord::new(), None),
    }
}

/// The csv crate's message, with the column where it is known. serde reports an unknown enum variant without
/// the field, so the column is then found by the value the message quotes.
fn describe_csv_error(error: &csv::Error, headers: &csv::StringRecord, record: Option<&csv::StringRecord>) -> String {
    match error.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            let quoted = err.kind().to_string();
            let quoted = quoted.split('`').nth(1).map(str::to_owned);
            let column = err.field().map(|i| i as usize).or_else(|| {
                let value = quoted?;
                record?.iter().position(|field| field == value)
            });
            match column {
                Some(i) => format!("column {} ({}): {}", i + 1, headers.get(i).unwrap_or("?"), err.kind()),
                None => err.kind().to_string(),
            }
        }
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields where the header has {expected_len}")
        }
        _ => error.to_string(),
    }
}
