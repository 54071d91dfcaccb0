//! What pairing can fail on.

use crate::run::RunError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error(
        "{path}: no samples to pair with ({why}); paired.csv and load.csv were left as they were: give a samples.csv with at least one sample (`--samples`)"
    )]
    NoSamples { path: PathBuf, why: &'static str },
}
