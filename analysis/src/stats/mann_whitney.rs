//! Mann-Whitney U, two-sided, from statrs (`statrs::stats_tests::mannwhitneyu`, method `Automatic`: exact when
//! both samples have at most 8 values and no ties, else the normal approximation with tie and continuity
//! correction, as SciPy's `mannwhitneyu(method="auto")`).

use super::{RankTest, RankTestResult, StatsError};
use statrs::stats_tests::Alternative;
use statrs::stats_tests::mannwhitneyu::{MannWhitneyUMethod, mannwhitneyu};

/// U is the statistic of `candidate` (SciPy's `U1` with `x = candidate`).
pub fn mann_whitney(candidate: &[f64], baseline: &[f64]) -> Result<RankTestResult, StatsError> {
    if candidate.is_empty() || baseline.is_empty() {
        return Err(StatsError::Empty);
    }
    if candidate.iter().chain(baseline).any(|v| v.is_nan()) {
        return Err(StatsError::NaN);
    }
    let (statistic, p_value) = mannwhitneyu(
        candidate,
        baseline,
        MannWhitneyUMethod::Automatic,
        Alternative::TwoSided,
    )
    .map_err(|e| StatsError::Statrs(e.to_string()))?;
    Ok(RankTestResult {
        test: RankTest::MannWhitney,
        statistic,
        p_value,
    })
}
