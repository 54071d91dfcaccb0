//! The Brunner-Munzel test (Brunner & Munzel 2000), two-sided, t approximation: statrs has none. It tests
//! P(X < Y) + P(X = Y)/2 = 1/2 without assuming equal spreads, which latencies of different runtimes rarely
//! have. Follows the definition SciPy's `brunnermunzel` implements.

use super::ranks::midranks;
use super::{RankTest, RankTestResult, StatsError};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// `None` when the test is undefined: fewer than 2 values in a sample, or both samples without any
/// spread of placements (complete separation or all values equal), where the variance estimate is 0.
pub fn brunner_munzel(candidate: &[f64], baseline: &[f64]) -> Result<Option<RankTestResult>, StatsError> {
    if candidate.is_empty() || baseline.is_empty() {
        return Err(StatsError::Empty);
    }
    if candidate.iter().chain(baseline).any(|v| v.is_nan()) {
        return Err(StatsError::NaN);
    }
    let (nx, ny) = (candidate.len(), baseline.len());
    if nx < 2 || ny < 2 {
        return Ok(None);
    }
    let combined: Vec<f64> = candidate.iter().chain(baseline).copied().collect();
    let ranks_combined = midranks(&combined);
    let (rcx, rcy) = ranks_combined.split_at(nx);
    let rx = midranks(candidate);
    let ry = midranks(baseline);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mean_rcx, mean_rcy, mean_rx, mean_ry) = (mean(rcx), mean(rcy), mean(&rx), mean(&ry));
    let placement_variance = |rc: &[f64], r: &[f64], mean_rc: f64, mean_r: f64| {
        rc.iter()
            .zip(r)
            .map(|(c, own)| (c - own - mean_rc + mean_r).powi(2))
            .sum::<f64>()
            / (rc.len() - 1) as f64
    };
    let sx = placement_variance(rcx, &rx, mean_rcx, mean_rx);
    let sy = placement_variance(rcy, &ry, mean_rcy, mean_ry);
    let (nxf, nyf) = (nx as f64, ny as f64);
    let spread = nxf * sx + nyf * sy;
    if spread <= 0.0 {
        return Ok(None);
    }
    let statistic = nxf * nyf * (mean_rcy - mean_rcx) / ((nxf + nyf) * spread.sqrt());
    let df = spread.powi(2) / ((nxf * sx).powi(2) / (nxf - 1.0) + (nyf * sy).powi(2) / (nyf - 1.0));
    let t = StudentsT::new(0.0, 1.0, df).map_err(|e| StatsError::Statrs(e.to_string()))?;
    let p_value = (2.0 * t.cdf(statistic).min(t.sf(statistic))).min(1.0);
    Ok(Some(RankTestResult {
        test: RankTest::BrunnerMunzel,
        statistic,
        p_value,
    }))
}
