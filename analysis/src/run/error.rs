//! What reading a run directory can fail on: every error names the file, and for CSV the line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
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
