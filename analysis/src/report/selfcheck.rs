//! `harness selfcheck`, simulated part: comparisons with a known truth run through the report's own statistics
//! (the clustered bootstrap interval of the ratio of medians, the rank test, Holm, the verdict rule, the
//! minimum detectable effect), so the error rates a report implies are measured, not assumed.
//!
//! Each scenario draws a baseline and a candidate whose population medians differ by `effect` (1: an A/A
//! comparison), in the shapes real runs have: lognormal or heavy-tailed units, single invocations or batch
//! windows (values within a window share its level), one run or several (a level per run, shared by both
//! sides, as a boot or a day is). Measured per scenario: the share of "faster/slower" verdicts where there is
//! no difference (false positives), the share of intervals holding the true ratio (coverage), and, at the
//! median MDE the A/A comparisons state, the share of A/B comparisons that find the difference (power).

use super::compare::{Sample, adjust, comparison};
use super::model::{Metric, Verdict};
use super::options::ReportOptions;
use crate::stats::bootstrap::Clustered;
use crate::stats::detectable::detectable_effect;
use crate::summary::median;
use harness_data::{CellKey, Mode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The distribution of one unit's value around its level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// exp(N(0, sigma)): latency of a well-behaved invocation.
    Lognormal { sigma: f64 },
    /// Lognormal with 5% of values multiplied by 1 + a Pareto(1.5) draw: interrupts, page faults, GC.
    HeavyTailed { sigma: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub shape: Shape,
    /// Units (invocations or windows) per side and run.
    pub units: usize,
    /// Invocations per batch window (1: unbatched).
    pub batch: usize,
    pub runs: usize,
    /// Spread of a batch window's or run's level (lognormal sigma).
    pub level_sigma: f64,
}

/// What one scenario's simulated comparisons gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub comparisons: usize,
    /// A/A: share of faster/slower verdicts (should be at most alpha).
    pub false_positive_rate: f64,
    /// A/A and A/B: share of intervals holding the true ratio (should be about the level).
    pub coverage: f64,
    /// Median minimum detectable effect of the A/A comparisons, in percent.
    pub mde_pct: f64,
    /// A/B at that effect: share of verdicts that found it in the right direction (stated: 80%).
    pub power_at_mde: f64,
}

/// The scenarios `harness selfcheck` runs: every shape with and without batching, one run and three.
pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for (shape_name, shape) in [
        ("lognormal", Shape::Lognormal { sigma: 0.1 }),
        ("heavy-tailed", Shape::HeavyTailed { sigma: 0.1 }),
    ] {
        for (batch, units) in [(1, 30), (20, 12)] {
            for runs in [1, 3] {
                let batching = if batch == 1 {
                    "invocations".to_string()
                } else {
                    format!("windows of {batch}")
                };
                out.push(Scenario {
                    name: format!("{shape_name}, {units} {batching}, {runs} run(s)"),
                    shape,
                    units,
                    batch,
                    runs,
                    level_sigma: 0.05,
                });
            }
        }
    }
    out
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn draw(shape: Shape, rng: &mut ChaCha8Rng) -> f64 {
    match shape {
        Shape::Lognormal { sigma } => (sigma * normal(rng)).exp(),
        Shape::HeavyTailed { sigma } => {
            let base = (sigma * normal(rng)).exp();
            if rng.random::<f64>() < 0.05 {
                let pareto = rng.random::<f64>().max(1e-12).powf(-1.0 / 1.5);
                base * (1.0 + pareto)
            } else {
                base
            }
        }
    }
}

/// Both sides of one comparison: per run a level both share, per unit a window level, per value its draw.
fn sides(s: &Scenario, effect: f64, rng: &mut ChaCha8Rng) -> (Clustered, Clustered) {
    let (mut candidate, mut baseline) = (Clustered::default(), Clustered::default());
    for run in 0..s.runs {
        let run_level = if s.runs > 1 {
            (s.level_sigma * normal(rng)).exp()
        } else {
            1.0
        };
        for (side, scale) in [(&mut baseline, 1.0), (&mut candidate, effect)] {
            for _ in 0..s.units {
                let window = if s.batch > 1 {
                    (s.level_sigma * normal(rng)).exp()
                } else {
                    1.0
                };
                let values = (0..s.batch)
                    .map(|_| 1_000_000.0 * scale * run_level * window * draw(s.shape, rng))
                    .collect();
                side.clusters.push(values);
                side.run_of.push(run);
            }
        }
    }
    (candidate, baseline)
}

/// One comparison through the report's path, as `harness report` makes it for a single-comparison family:
/// `batch` invocations a cluster, `name` the cell's input.
fn compare(
    name: &str,
    batch: usize,
    candidate: Clustered,
    baseline: Clustered,
    options: &ReportOptions,
) -> super::model::Comparison {
    let key = CellKey {
        workload: "selfcheck".into(),
        input: name.into(),
        runtime: "candidate".into(),
        mode: Mode::Warm,
    };
    let unit = if batch > 1 { "batch" } else { "invocation" };
    let sample = |clusters: Clustered| Sample {
        invocations: (clusters.clusters.len() * batch) as u64,
        clusters,
        unit,
    };
    let mut c = [comparison(
        &key,
        options,
        Metric::Latency,
        &sample(candidate),
        &sample(baseline),
    )];
    adjust(&mut c, options);
    let [c] = c;
    c
}

/// Two samples of single invocations compared through the report's path (`harness selfcheck`'s real A/A run).
pub fn compare_invocations(candidate: &[f64], baseline: &[f64], options: &ReportOptions) -> super::model::Comparison {
    compare(
        "a/a on this machine",
        1,
        Clustered::singletons(candidate),
        Clustered::singletons(baseline),
        options,
    )
}

/// Every scenario's results taken together: comparisons, and the A/A false-positive rate and the coverage over
/// all of them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pooled {
    pub comparisons: usize,
    pub false_positive_rate: f64,
    pub coverage: f64,
}

pub fn pooled(results: &[ScenarioResult]) -> Pooled {
    let comparisons: usize = results.iter().map(|r| r.comparisons).sum();
    // Half of each scenario's comparisons are A/A (where false positives are counted); coverage counts all.
    let false_positives: f64 = results
        .iter()
        .map(|r| r.false_positive_rate * (r.comparisons / 2) as f64)
        .sum();
    let covered: f64 = results.iter().map(|r| r.coverage * r.comparisons as f64).sum();
    Pooled {
        comparisons,
        false_positive_rate: false_positives / (comparisons / 2).max(1) as f64,
        coverage: covered / comparisons.max(1) as f64,
    }
}

fn covers(c: &super::model::Comparison, truth: f64) -> bool {
    c.ratio_of_medians
        .is_some_and(|r| r.ci_low <= truth && truth <= r.ci_high)
}

fn directional(v: Verdict) -> bool {
    matches!(
        v,
        Verdict::Faster | Verdict::Slower | Verdict::LessEnergy | Verdict::MoreEnergy
    )
}

/// Runs `comparisons` A/A and as many A/B comparisons of scenario `s` (seeded: the same numbers every time).
pub fn simulate(s: &Scenario, comparisons: usize, options: &ReportOptions, seed: u64) -> ScenarioResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut false_positives, mut covered, mut mdes) = (0usize, 0usize, Vec::new());
    for i in 0..comparisons {
        let (candidate, baseline) = sides(s, 1.0, &mut rng);
        let options = ReportOptions {
            seed: seed ^ i as u64,
            ..options.clone()
        };
        let c = compare(&s.name, s.batch, candidate, baseline, &options);
        false_positives += usize::from(directional(c.verdict));
        covered += usize::from(covers(&c, 1.0));
        if let Some(r) = c.ratio_of_medians
            && let Some(d) = detectable_effect(
                r.ci_low,
                r.ci_high,
                r.level,
                c.n_candidate,
                c.n_baseline,
                options.alpha,
                options.equivalence_band,
            )
        {
            mdes.push(d.min_effect_pct);
        }
    }
    let mde_pct = median(&mdes).unwrap_or(f64::NAN);
    let effect = 1.0 + mde_pct / 100.0;
    let mut found = 0usize;
    for i in 0..comparisons {
        let (candidate, baseline) = sides(s, effect, &mut rng);
        let options = ReportOptions {
            seed: seed ^ (i + comparisons) as u64,
            ..options.clone()
        };
        let c = compare(&s.name, s.batch, candidate, baseline, &options);
        found += usize::from(c.verdict == Verdict::Slower);
        covered += usize::from(covers(&c, effect));
    }
    let n = comparisons.max(1) as f64;
    ScenarioResult {
        scenario: s.clone(),
        comparisons: 2 * comparisons,
        false_positive_rate: false_positives as f64 / n,
        coverage: covered as f64 / (2.0 * n),
        mde_pct,
        power_at_mde: found as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's statistics hold their stated error rates: over at least 2,000 simulated comparisons, at
    /// most alpha + 1 point of A/A verdicts say faster/slower, and at least 94% of intervals hold the truth.
    #[test]
    fn the_reports_verdicts_and_intervals_keep_their_error_rates() {
        let options = ReportOptions {
            resamples: 400,
            ..ReportOptions::default()
        };
        let mut results = Vec::new();
        for (i, s) in scenarios().iter().enumerate() {
            let r = simulate(s, 130, &options, 1000 + i as u64);
            eprintln!(
                "{:<45} fp {:.3} coverage {:.3} mde {:.1}% power {:.2}",
                s.name, r.false_positive_rate, r.coverage, r.mde_pct, r.power_at_mde
            );
            results.push(r);
        }
        let all = pooled(&results);
        let (comparisons, fpr, coverage) = (all.comparisons, all.false_positive_rate, all.coverage);
        assert!(comparisons >= 2000, "{comparisons}");
        eprintln!("all: fp {fpr:.4} coverage {coverage:.4} over {comparisons}");
        assert!(fpr <= options.alpha + 0.01, "false-positive rate {fpr}");
        assert!(coverage >= 0.94, "coverage {coverage}");
    }
}
