//! Mann-Whitney U, two-sided, as SciPy's `mannwhitneyu(method="auto")`: the exact null distribution when
//! either sample has at most 8 values and there are no ties, else the normal approximation with tie and
//! continuity correction.
//!
//! The normal approximation is statrs's (`statrs::stats_tests::mannwhitneyu`). The exact path is computed
//! here: statrs 0.19.1 returns the complement of the exact p-value when the first sample is not the larger one
//! (`[1..=5]` against `[6..=10]` gives p = 1 instead of SciPy's 0.0079; see `analysis/tests/all/reference.rs`).

use super::{RankTest, RankTestResult, StatsError};
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::stats_tests::Alternative;
use statrs::stats_tests::mannwhitneyu::{MannWhitneyUMethod, mannwhitneyu};

/// Largest sample size (of the smaller side) for the exact distribution, as SciPy.
pub const EXACT_MAX: usize = 8;

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
    if n1.min(n2) <= EXACT_MAX && !ties {
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

/// The smallest two-sided p-value [`mann_whitney`] can return for sample sizes n1 and n2 without ties: that of
/// complete separation. Exact sizes give 2 / C(n1 + n2, n1) (2/70 for 4 against 4), larger ones the normal
/// approximation's tail at U = n1 * n2.
pub fn min_attainable_p(n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    if n1.min(n2) <= EXACT_MAX {
        return (2.0 * exact_sf(n1 * n2, n1, n2)).min(1.0);
    }
    let (a, b) = (n1 as f64, n2 as f64);
    let sigma = (a * b * (a + b + 1.0) / 12.0).sqrt();
    let z = (a * b / 2.0 - 0.5) / sigma;
    let normal = Normal::standard();
    (2.0 * normal.sf(z)).min(1.0)
}

/// Arithmetic for the counts of the U distribution: exact integers while they fit, floats beyond.
trait Count: Copy + std::ops::AddAssign + std::ops::SubAssign {
    const ZERO: Self;
    const ONE: Self;
    fn to_f64(self) -> f64;
}

impl Count for i128 {
    const ZERO: Self = 0;
    const ONE: Self = 1;
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Count for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn to_f64(self) -> f64 {
        self
    }
}

/// Counts of U = 0..=m*n over the C(m + n, m) rank arrangements: the coefficients of the Gaussian binomial
/// [m + n choose m]_q = prod_{j=1..m} (1 - q^(n+j)) / (1 - q^j), built one factor at a time (each partial
/// product is itself a Gaussian binomial, so every division is exact). O(m^2 n) for the smaller side m.
fn u_counts<T: Count>(m: usize, n: usize) -> Vec<T> {
    // Room for the product's degree before each division.
    let mut poly = vec![T::ZERO; m * n + m + 1];
    poly[0] = T::ONE;
    let mut degree = 0;
    for j in 1..=m {
        let step = n + j;
        // Multiply by (1 - q^step), high to low so each coefficient reads the old ones.
        for k in (step..=degree + step).rev() {
            let lower = poly[k - step];
            poly[k] -= lower;
        }
        degree += n;
        // Divide by (1 - q^j): c[k] = a[k] + c[k - j].
        for k in j..=degree {
            let lower = poly[k - j];
            poly[k] += lower;
        }
        // The product's top j coefficients belong to the factor just divided out.
        poly[degree + 1..=degree + j].fill(T::ZERO);
    }
    poly.truncate(m * n + 1);
    poly
}

/// P(U >= u) under the null for sample sizes n1, n2 without ties.
fn exact_sf(u: usize, n1: usize, n2: usize) -> f64 {
    let (m, n) = (n1.min(n2), n1.max(n2));
    // C(m + n, m) bounds every coefficient; i128 holds up to ~1.7e38.
    let log_total: f64 = (1..=m).map(|j| ((n + j) as f64 / j as f64).log10()).sum();
    let counts: Vec<f64> = if log_total < 36.0 {
        u_counts::<i128>(m, n).into_iter().map(Count::to_f64).collect()
    } else {
        u_counts::<f64>(m, n)
    };
    let total: f64 = counts.iter().sum();
    counts[u.min(m * n)..].iter().sum::<f64>() / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_tail_of_complete_separation() {
        // 5 vs 5: one arrangement of C(10, 5) = 252 gives U = 25.
        assert!((exact_sf(25, 5, 5) - 1.0 / 252.0).abs() < 1e-15);
        assert_eq!(exact_sf(0, 3, 4), 1.0);
        assert!((min_attainable_p(4, 4) - 2.0 / 70.0).abs() < 1e-15);
    }

    #[test]
    fn u_counts_are_the_arrangements_by_u() {
        // 2 vs 2: arrangements (aabb .. bbaa) give U = 0, 1, 2, 2, 3, 4.
        assert_eq!(u_counts::<i128>(2, 2), vec![1, 1, 2, 1, 1]);
        let floats = u_counts::<f64>(3, 7);
        let ints = u_counts::<i128>(3, 7);
        assert_eq!(ints.iter().sum::<i128>(), 120);
        assert!(floats.iter().zip(&ints).all(|(f, &i)| *f == i as f64));
    }
}
