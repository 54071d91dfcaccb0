//! Cliff's delta: P(candidate > baseline) - P(candidate < baseline), in [-1, 1], with the magnitude labels of
//! Romano et al. (2006): |d| < 0.147 negligible, < 0.33 small, < 0.474 medium, else large.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Magnitude {
    Negligible,
    Small,
    Medium,
    Large,
}

impl Magnitude {
    pub fn of(delta: f64) -> Magnitude {
        match delta.abs() {
            d if d < 0.147 => Magnitude::Negligible,
            d if d < 0.33 => Magnitude::Small,
            d if d < 0.474 => Magnitude::Medium,
            _ => Magnitude::Large,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Magnitude::Negligible => "negligible",
            Magnitude::Small => "small",
            Magnitude::Medium => "medium",
            Magnitude::Large => "large",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CliffsDelta {
    pub estimate: f64,
    pub magnitude: Magnitude,
}

/// O((n + m) log m): each candidate value counts the baseline values below and above it by binary search.
/// Positive: the candidate tends to be larger (slower, or more energy). `None` when a sample is empty.
pub fn cliffs_delta(candidate: &[f64], baseline: &[f64]) -> Option<CliffsDelta> {
    if candidate.is_empty() || baseline.is_empty() {
        return None;
    }
    let mut sorted = baseline.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut dominance: i128 = 0;
    for &x in candidate {
        let below = sorted.partition_point(|&y| y < x) as i128;
        let not_above = sorted.partition_point(|&y| y <= x) as i128;
        let above = sorted.len() as i128 - not_above;
        dominance += below - above;
    }
    let estimate = dominance as f64 / (candidate.len() as f64 * baseline.len() as f64);
    Some(CliffsDelta {
        estimate,
        magnitude: Magnitude::of(estimate),
    })
}
