//! The adaptive designs of the selfcheck: a precision run of `harness measure` simulated. Each comparison
//! starts at [`FIRST_UNITS`] units per side and run, looks (the report's comparison at the rule's level), stops
//! once the ratio's interval is within the target, and otherwise doubles its units with new draws appended, up
//! to [`MAX_UNITS`]; its last look is its result. Width mode keeps the report's level; strict mode takes every
//! interval and test at alpha / K for K planned looks.

use super::{Drawn, Outcome, Scenario, compare};
use crate::report::options::ReportOptions;
use crate::stats::precision::{geometric_looks, half_width, level_for, narrow_enough};
use crate::summary::median;
use harness_data::precision::PrecisionMode;
use rand_chacha::ChaCha8Rng;

/// Units per side and run at the first look.
pub const FIRST_UNITS: usize = 10;
/// Units per side and run a comparison may reach: looks at 10, 20, 40, 80.
pub const MAX_UNITS: usize = 80;
/// The target is the median half-width of A/A comparisons with this many units, so that a few comparisons
/// stop at 20 units, most at 40, and some need 80 (a half-width shrinks about as 1/sqrt(units)).
const PILOT_UNITS: usize = 30;
const PILOT_COMPARISONS: usize = 40;

/// The stopping rule for one scenario: the looks and the half-width asked of the interval.
pub(super) struct Rule {
    looks: Vec<usize>,
    pub target: f64,
}

impl Rule {
    /// The options the rule's comparisons use (strict: level 1 - (1 - level) / K, alpha as `harness measure`
    /// gives the report), and the rule, its target from a pilot of A/A comparisons drawn from `rng`.
    pub fn plan(
        s: &Scenario,
        mode: PrecisionMode,
        options: &ReportOptions,
        rng: &mut ChaCha8Rng,
    ) -> (ReportOptions, Rule) {
        let looks: Vec<usize> = geometric_looks(FIRST_UNITS as u32, MAX_UNITS as u32)
            .into_iter()
            .map(|n| n as usize)
            .collect();
        let level = level_for(mode, options.level, looks.len());
        let options = ReportOptions {
            level,
            alpha: options.alpha.min(1.0 - level),
            ..options.clone()
        };
        let widths: Vec<f64> = (0..PILOT_COMPARISONS)
            .filter_map(|i| {
                let (candidate, baseline) = Drawn::new(s, 1.0, PILOT_UNITS, rng).first(PILOT_UNITS);
                let pilot = ReportOptions {
                    seed: options.seed ^ (u64::MAX - i as u64),
                    ..options.clone()
                };
                compare(&s.name, s.batch, candidate, baseline, &pilot)
                    .ratio_of_medians
                    .as_ref()
                    .and_then(half_width)
            })
            .collect();
        let target = median(&widths).unwrap_or(f64::INFINITY);
        (options, Rule { looks, target })
    }

    pub fn max_units(&self) -> usize {
        self.looks.last().copied().unwrap_or(FIRST_UNITS)
    }

    /// One precision run of both sides with medians `effect` apart: looks until narrow enough or at the most
    /// units. The rule reads the interval's width only, never its place, the p-value or the verdict.
    pub fn run(&self, s: &Scenario, effect: f64, options: &ReportOptions, rng: &mut ChaCha8Rng) -> Outcome {
        let drawn = Drawn::new(s, effect, self.max_units(), rng);
        let look = |units: usize| {
            let (candidate, baseline) = drawn.first(units);
            Outcome {
                comparison: compare(&s.name, s.batch, candidate, baseline, options),
                units,
            }
        };
        for &units in &self.looks[..self.looks.len() - 1] {
            let outcome = look(units);
            let width = outcome.comparison.ratio_of_medians.as_ref().and_then(half_width);
            if narrow_enough(&[width], self.target) {
                return outcome;
            }
        }
        look(self.max_units())
    }
}
