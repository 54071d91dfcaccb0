//! The stopping rule of a precision run (`precision` in a plan), shared by `harness measure` and the
//! simulations of `harness selfcheck`: looks at geometrically growing repetition counts, each asking only
//! whether every interval is narrow enough. It never sees an estimate, a p-value or a verdict: stopping on a
//! p-value inflates false positives (about 14% at 5 looks for a nominal 5%), stopping on width distorts
//! little (Chow and Robbins 1965), and in strict mode the intervals are at alpha/K for K looks, which holds
//! whatever the rule (Jennison and Turnbull, ch. 9).

use super::Interval;
use harness_data::precision::PrecisionMode;

/// Repetitions per cell at each look: `first`, doubling, and `max` last (no look beyond it).
pub fn geometric_looks(first: u32, max: u32) -> Vec<u32> {
    let first = first.max(1);
    let mut looks = vec![first];
    let mut next = first.saturating_mul(2);
    while next < max {
        looks.push(next);
        next = next.saturating_mul(2);
    }
    if max > first {
        looks.push(max);
    }
    looks
}

/// The half-width of a ratio interval on the ratio's own (log) scale: `[lo, hi]` is `c */ (1 + h)` around its
/// geometric centre `c = sqrt(lo * hi)`, and "within +-2%" means `h <= 0.02`. It depends on the width alone,
/// not on where the interval lies. `None` for an interval that is not a positive ratio.
pub fn half_width(interval: &Interval) -> Option<f64> {
    let (lo, hi) = (interval.ci_low, interval.ci_high);
    (lo > 0.0 && hi >= lo && hi.is_finite()).then(|| (hi / lo).sqrt() - 1.0)
}

/// The confidence level of intervals (and 1 - the alpha of tests) a precision run uses: the report's `level`
/// in width mode; in strict mode, `1 - (1 - level) / looks` for the looks planned.
pub fn level_for(mode: PrecisionMode, level: f64, looks: usize) -> f64 {
    match mode {
        PrecisionMode::Width => level,
        PrecisionMode::Strict => 1.0 - (1.0 - level) / looks.max(1) as f64,
    }
}

/// Whether every half-width is at most `target`; a missing one (no interval yet) is not narrow enough.
pub fn narrow_enough(half_widths: &[Option<f64>], target: f64) -> bool {
    !half_widths.is_empty() && half_widths.iter().all(|h| h.is_some_and(|h| h <= target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(lo: f64, hi: f64) -> Interval {
        Interval {
            estimate: (lo * hi).sqrt(),
            ci_low: lo,
            ci_high: hi,
            level: 0.95,
        }
    }

    #[test]
    fn looks_double_from_the_first_and_end_at_the_budget() {
        assert_eq!(geometric_looks(10, 100), vec![10, 20, 40, 80, 100]);
        assert_eq!(geometric_looks(10, 80), vec![10, 20, 40, 80]);
        assert_eq!(geometric_looks(10, 10), vec![10]);
        assert_eq!(geometric_looks(10, 5), vec![10]);
        assert_eq!(geometric_looks(0, 3), vec![1, 2, 3]);
    }

    #[test]
    fn half_width_is_the_same_wherever_the_interval_lies() {
        let a = half_width(&interval(0.98, 0.98 * 1.0404)).unwrap();
        let b = half_width(&interval(4.9, 4.9 * 1.0404)).unwrap();
        assert!((a - 0.02).abs() < 1e-9 && (b - 0.02).abs() < 1e-9, "{a} {b}");
        assert_eq!(half_width(&interval(-1.0, 1.0)), None);
        assert_eq!(half_width(&interval(2.0, 1.0)), None);
    }

    #[test]
    fn strict_mode_spends_alpha_over_the_looks() {
        assert_eq!(level_for(PrecisionMode::Width, 0.95, 4), 0.95);
        assert!((level_for(PrecisionMode::Strict, 0.95, 4) - 0.9875).abs() < 1e-12);
    }

    #[test]
    fn a_missing_interval_is_never_narrow_enough() {
        assert!(narrow_enough(&[Some(0.01), Some(0.02)], 0.02));
        assert!(!narrow_enough(&[Some(0.01), None], 0.02));
        assert!(!narrow_enough(&[Some(0.021)], 0.02));
        assert!(!narrow_enough(&[], 0.02));
    }
}
