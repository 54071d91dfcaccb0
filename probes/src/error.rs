use std::path::PathBuf;

/// Why a probe cannot start or read. Messages say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{probe}: not available: {reason}")]
    Unavailable { probe: &'static str, reason: String },
    #[error("{probe}: permission denied reading {path}: {fix}")]
    PermissionDenied {
        probe: &'static str,
        path: PathBuf,
        fix: String,
    },
    #[error("{probe}: cannot read {path}: {source}")]
    Io {
        probe: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{probe}: {path}: {message}")]
    Malformed {
        probe: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{probe}: bad option: {message}")]
    Option { probe: &'static str, message: String },
}
