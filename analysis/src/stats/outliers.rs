//! Outliers by Tukey's fences on the type-7 quartiles (as criterion.rs): beyond 1.5 IQR mild, beyond 3 IQR
//! severe. Robust because the fences come from quartiles, which outliers barely move. Flagged, never dropped.

use crate::summary::quantile_sorted;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outliers {
    /// `[low severe, low mild, high mild, high severe]` fences.
    pub fences: [f64; 4],
    pub low_severe: usize,
    pub low_mild: usize,
    pub high_mild: usize,
    pub high_severe: usize,
    /// Indices (into the sample as given) of every value outside the mild fences.
    pub flagged: Vec<usize>,
}

impl Outliers {
    pub fn total(&self) -> usize {
        self.low_severe + self.low_mild + self.high_mild + self.high_severe
    }
}

/// `None` for an empty sample.
pub fn tukey_outliers(values: &[f64]) -> Option<Outliers> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (q1, q3) = (quantile_sorted(&sorted, 0.25), quantile_sorted(&sorted, 0.75));
    let iqr = q3 - q1;
    let fences = [q1 - 3.0 * iqr, q1 - 1.5 * iqr, q3 + 1.5 * iqr, q3 + 3.0 * iqr];
    let mut outliers = Outliers {
        fences,
        low_severe: 0,
        low_mild: 0,
        high_mild: 0,
        high_severe: 0,
        flagged: Vec::new(),
    };
    for (i, &v) in values.iter().enumerate() {
        let class = if v < fences[0] {
            &mut outliers.low_severe
        } else if v < fences[1] {
            &mut outliers.low_mild
        } else if v > fences[3] {
            &mut outliers.high_severe
        } else if v > fences[2] {
            &mut outliers.high_mild
        } else {
            continue;
        };
        *class += 1;
        outliers.flagged.push(i);
    }
    Some(outliers)
}
