//! Descriptive statistics of one sample: the quantiles are type 7 (`summary::quantile_sorted`, NumPy's default).

use crate::summary::quantile_sorted;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub p5: f64,
    pub p25: f64,
    pub p75: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// Sample standard deviation (n - 1 in the denominator); 0 for a single value.
    pub std_dev: f64,
    /// `std_dev / mean`; `None` when the mean is 0.
    pub cv: Option<f64>,
}

/// `None` for an empty sample or one holding NaN.
pub fn describe(values: &[f64]) -> Option<Summary> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let std_dev = if n > 1 {
        (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let q = |p| quantile_sorted(&sorted, p);
    Some(Summary {
        n,
        mean,
        median: q(0.5),
        min: sorted[0],
        p5: q(0.05),
        p25: q(0.25),
        p75: q(0.75),
        p95: q(0.95),
        p99: q(0.99),
        max: sorted[n - 1],
        std_dev,
        cv: (mean != 0.0).then(|| std_dev / mean),
    })
}
