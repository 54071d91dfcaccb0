//! What an inconclusive comparison could have seen: the minimum detectable effect (MDE) of its ratio of
//! medians at the Holm-adjusted alpha and 80% power, and roughly how many more sampled units would narrow its
//! interval to a target. Computed from the interval's width alone (never from the estimate or the p-value), so
//! it is a property of the design, not "observed power".
//!
//! On the log scale the bootstrap interval of the ratio is about estimate +- z * SE, so SE = width / (2 z);
//! a two-sided test at level a detects with power 1 - b an effect of (z_{1-a/2} + z_{1-b}) * SE; and SE shrinks
//! as 1/sqrt(n) when both sides grow by the same factor.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// Power the minimum detectable effect is stated at.
pub const POWER: f64 = 0.8;

/// What a comparison's data could have detected, and what would resolve it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectableEffect {
    /// The test level the effect is stated at: alpha after Holm, at this comparison's place in the family.
    pub alpha: f64,
    pub power: f64,
    /// The smallest change of the ratio of medians, in percent (+- this), detectable at `alpha` and `power`.
    pub min_effect_pct: f64,
    /// The precision target, in percent: the interval within +- this (the report's equivalence band).
    pub target_pct: f64,
    /// The interval's half-width now, in percent (on the log scale, as `target_pct`).
    pub half_width_pct: f64,
    /// About how many more sampled units, both sides together, would bring the interval within
    /// +-`target_pct` (0 when it already is).
    pub more_units: u64,
}

fn z(p: f64) -> f64 {
    Normal::new(0.0, 1.0).map(|n| n.inverse_cdf(p)).unwrap_or(f64::NAN)
}

/// The detectable effect of a ratio whose `level` interval is [`low`, `high`] from `n_candidate` and
/// `n_baseline` units, tested at `alpha` (already Holm-adjusted), against a precision target of +-`target`
/// (a fraction, e.g. 0.02). `None` where the interval is not a finite, positive, non-empty one.
pub fn detectable_effect(
    low: f64,
    high: f64,
    level: f64,
    n_candidate: usize,
    n_baseline: usize,
    alpha: f64,
    target: f64,
) -> Option<DetectableEffect> {
    let valid = low.is_finite() && high.is_finite() && low > 0.0 && high > low;
    if !valid || !(0.0..1.0).contains(&level) || !(0.0..1.0).contains(&alpha) || target <= 0.0 {
        return None;
    }
    let half_width = (high.ln() - low.ln()) / 2.0;
    let se = half_width / z(0.5 + level / 2.0);
    let effect = (z(1.0 - alpha / 2.0) + z(POWER)) * se;
    let target_half_width = (1.0 + target).ln();
    let growth = (half_width / target_half_width).powi(2);
    let more_units = if growth <= 1.0 {
        0
    } else {
        ((n_candidate + n_baseline) as f64 * (growth - 1.0)).ceil() as u64
    };
    Some(DetectableEffect {
        alpha,
        power: POWER,
        min_effect_pct: effect.exp_m1() * 100.0,
        target_pct: target * 100.0,
        half_width_pct: half_width.exp_m1() * 100.0,
        more_units,
    })
}

impl DetectableEffect {
    /// "could detect +-3.1% (alpha 0.0125 after Holm, 80% power); about 240 more windows would resolve +-2%"
    pub fn describe(&self, units: &str) -> String {
        let detect = format!(
            "could detect +-{:.1}% (alpha {} after Holm, {:.0}% power)",
            self.min_effect_pct,
            significant(self.alpha),
            self.power * 100.0
        );
        if self.more_units == 0 {
            format!(
                "{detect}; its interval is within +-{}% already",
                significant(self.target_pct)
            )
        } else {
            format!(
                "{detect}; about {} more {units} would resolve +-{}%",
                self.more_units,
                significant(self.target_pct)
            )
        }
    }
}

/// Three significant digits, trailing zeros dropped: 0.0125, 2, 0.05.
fn significant(x: f64) -> String {
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{x:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effect_and_the_units_follow_from_the_width_alone() {
        // A 95% interval of +-5% on the log scale from 20 + 20 units, tested at 0.05.
        let (low, high) = ((-0.05f64).exp(), 0.05f64.exp());
        let d = detectable_effect(low, high, 0.95, 20, 20, 0.05, 0.02).unwrap();
        // SE = 0.05 / 1.95996; effect = (1.95996 + 0.84162) * SE = 0.071470 on the log scale (Python's
        // statistics.NormalDist gives the same to 6 digits).
        assert!((d.min_effect_pct - 7.4086).abs() < 1e-3, "{d:?}");
        assert!((d.half_width_pct - 5.1271).abs() < 1e-3, "{d:?}");
        // (0.05 / ln 1.02)^2 = 6.3752: 40 units x 5.3752 = 215.008 more, rounded up.
        assert_eq!(d.more_units, 216);
        // A stricter alpha (Holm's first step in a family of 4) needs a larger effect.
        let strict = detectable_effect(low, high, 0.95, 20, 20, 0.0125, 0.02).unwrap();
        assert!(strict.min_effect_pct > d.min_effect_pct);
        assert_eq!(strict.more_units, d.more_units);
        assert_eq!(
            d.describe("windows"),
            "could detect +-7.4% (alpha 0.05 after Holm, 80% power); about 216 more windows would resolve +-2%"
        );
    }

    #[test]
    fn a_narrow_interval_needs_no_more_units_and_a_broken_one_has_no_effect() {
        let d = detectable_effect(0.995, 1.005, 0.95, 100, 100, 0.05, 0.02).unwrap();
        assert_eq!(d.more_units, 0);
        assert!(
            d.describe("invocations")
                .ends_with("its interval is within +-2% already")
        );
        for (low, high) in [
            (0.0, 1.0),
            (1.0, 1.0),
            (f64::NAN, 1.0),
            (1.2, 1.1),
            (0.9, f64::INFINITY),
        ] {
            assert_eq!(detectable_effect(low, high, 0.95, 10, 10, 0.05, 0.02), None);
        }
    }
}
