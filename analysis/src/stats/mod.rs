//! The statistics a report uses, each a plain function with a test against independently computed values
//! (`analysis/tests/fixtures/`, made by `make_fixtures.py` with SciPy/NumPy).

pub mod bootstrap;
pub mod brunner_munzel;
pub mod cliff;
pub mod describe;
pub mod detectable;
pub mod holm;
pub mod mann_whitney;
pub mod outliers;
pub mod precision;
pub mod ranks;
pub mod small_sample;

use serde::{Deserialize, Serialize};

/// A point estimate with its confidence interval. Every interval in `results.json` has this shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
}

/// The outcome of a two-sided rank test of "the two samples come from the same distribution".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankTestResult {
    pub test: RankTest,
    pub statistic: f64,
    pub p_value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RankTest {
    /// Mann-Whitney U (statrs; U of the candidate, exact for small samples without ties, else normal
    /// approximation with tie and continuity correction).
    MannWhitney,
    /// Brunner-Munzel W (t approximation with Satterthwaite degrees of freedom): valid when the spreads differ.
    BrunnerMunzel,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StatsError {
    #[error("a sample is empty")]
    Empty,
    #[error("a sample holds NaN")]
    NaN,
    #[error("{0}")]
    Statrs(String),
}
