//! Mann-Whitney U, two-sided, as SciPy's `mannwhitneyu(method="auto")`: the exact null distribution when both
//! samples have at most 8 values and there are no ties, else the normal approximation with tie and continuity
//! correction.
//!
//! The normal approximation is statrs's (`statrs::stats_tests::mannwhitneyu`). The exact path is computed
//! here: statrs 0.19.1 returns the complement of the exact p-value when the first sample is not the larger one
//! (`[1..=5]` against `[6..=10]` gives p = 1 instead of SciPy's 0.0079; see `tests/reference.rs`).

use super::{RankTest, RankTestResult, StatsError};
use statrs::stats_tests::Alternative;
use statrs::stats_tests::mannwhitneyu::{MannWhitneyUMethod, mannwhitneyu};

/// Largest sample size (each side) for the exact distribution, as SciPy.
const EXACT_MAX: usize = 8;

/// U is the statistic of `candidate` (SciPy's `U1` with `x = candidate`).
pub fn mann_whitney(candidate: &[f64], baseline: &[f64]) -> Result<RankTestResult, StatsError> {
    if candidate.is_empty() || baseline.is_empty() {
        return Err(StatsError::Empty);
    }
    if candidate.iter().chain(baseline).any(|v| v.is_nan()) {
        return Err(StatsError::NaN);
    }
    let (n1, n2) = (candidate.len(), baseline.len());
    let mut all: Vec<f64> = candidate.iter().chain(baseline).copied().collect();
    all.sort_by(f64::total_cmp);
    let ties = all.windows(2).any(|w| w[0] == w[1]);
    if n1 <= EXACT_MAX && n2 <= EXACT_MAX && !ties {
        let ranks = super::ranks::midranks(&[candidate, baseline].concat());
        let u1 = ranks[..n1].iter().sum::<f64>() - (n1 * (n1 + 1) / 2) as f64;
        let u_max = u1.max((n1 * n2) as f64 - u1);
        let p_value = (2.0 * exact_sf(u_max as usize, n1, n2)).min(1.0);
        return Ok(RankTestResult {
            test: RankTest::MannWhitney,
            statistic: u1,
            p_value,
        });
    }
    let (statistic, p_value) = mannwhitneyu(
        candidate,
        baseline,
        MannWhitneyUMethod::AsymptoticInclContinuityCorrection,
        Alternative::TwoSided,
    )
    .map_err(|e| StatsError::Statrs(e.to_string()))?;
    Ok(RankTestResult {
        test: RankTest::MannWhitney,
        statistic,
        p_value,
    })
}

/// P(U >= u) under the null for sample sizes n1, n2 without ties, by counting rank arrangements:
/// count(n1, n2, u) = count(n1 - 1, n2, u - n2) + count(n1, n2 - 1, u).
fn exact_sf(u: usize, n1: usize, n2: usize) -> f64 {
    let max_u = n1 * n2;
    // counts[i][j] = distribution of U for sizes (i, j), as a vector over u.
    let mut counts = vec![vec![Vec::<f64>::new(); n2 + 1]; n1 + 1];
    for i in 0..=n1 {
        for j in 0..=n2 {
            let mut dist = vec![0.0; i * j + 1];
            if i == 0 || j == 0 {
                dist[0] = 1.0;
            } else {
                // The largest value belongs to the first sample (it beats all j of the second) or to the second.
                for (k, c) in counts[i - 1][j].iter().enumerate() {
                    dist[k + j] += c;
                }
                for (k, c) in counts[i][j - 1].iter().enumerate() {
                    dist[k] += c;
                }
            }
            counts[i][j] = dist;
        }
    }
    let dist = &counts[n1][n2];
    let total: f64 = dist.iter().sum();
    dist[u.min(max_u)..].iter().sum::<f64>() / total
}

#[cfg(test)]
mod tests {
    #[test]
    fn exact_tail_of_complete_separation() {
        // 5 vs 5: one arrangement of C(10, 5) = 252 gives U = 25.
        assert!((super::exact_sf(25, 5, 5) - 1.0 / 252.0).abs() < 1e-15);
        assert_eq!(super::exact_sf(0, 3, 4), 1.0);
    }
}
