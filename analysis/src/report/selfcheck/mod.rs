//! `harness selfcheck`, simulated part: comparisons with a known truth run through the report's own statistics
//! (the clustered bootstrap interval of the ratio of medians with its small-sample correction, the rank test,
//! Holm, the verdict rule, the minimum detectable effect), so the error rates a report implies are measured,
//! not assumed.
//!
//! Each scenario draws a baseline and a candidate whose population medians differ by `effect` (1: an A/A
//! comparison), in the shapes real runs have: lognormal or heavy-tailed units, single invocations or batch
//! windows (values within a window share its level), one run or several (a level per run, shared by both
//! sides, as a boot or a day is). Each shape runs in three designs: a fixed unit count, and the precision rule
//! of `harness measure` in width and strict mode ([`adaptive`]). Measured per scenario and design: the share of
//! "faster/slower" verdicts where there is no difference (false positives), the share of intervals holding the
//! true ratio (coverage), and, at the median MDE the A/A comparisons state, the share of A/B comparisons that
//! find the difference (power).

mod adaptive;

use super::compare::{Sample, adjust, comparison};
use super::model::{Metric, Verdict};
use super::options::ReportOptions;
use crate::stats::bootstrap::Clustered;
use crate::stats::detectable::detectable_effect;
use crate::summary::median;
use harness_data::precision::PrecisionMode;
use harness_data::{CellKey, Mode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use adaptive::{FIRST_UNITS, MAX_UNITS};

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
    /// Units (invocations or windows) per side and run, in the fixed design.
    pub units: usize,
    /// Invocations per batch window (1: unbatched).
    pub batch: usize,
    pub runs: usize,
    /// Spread of a batch window's or run's level (lognormal sigma).
    pub level_sigma: f64,
}

/// How many units a comparison gets. In JSON as its label: `fixed`, `adaptive width`, `adaptive strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    /// The scenario's unit count, compared once at the report's level.
    Fixed,
    /// The precision rule: looks at doubling unit counts, stop once the interval is narrow enough.
    Adaptive(PrecisionMode),
}

impl Design {
    pub const ALL: [Design; 3] = [
        Design::Fixed,
        Design::Adaptive(PrecisionMode::Width),
        Design::Adaptive(PrecisionMode::Strict),
    ];

    pub fn label(self) -> String {
        match self {
            Design::Fixed => "fixed".into(),
            Design::Adaptive(mode) => format!("adaptive {}", mode.as_str()),
        }
    }
}

impl Serialize for Design {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.label())
    }
}

/// What one scenario's simulated comparisons gave in one design.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub design: Design,
    /// The level of the intervals and 1 - the alpha of the tests (strict mode: alpha / looks).
    pub level: f64,
    pub alpha: f64,
    pub comparisons: usize,
    /// A/A: share of faster/slower verdicts (should be at most `alpha`).
    pub false_positive_rate: f64,
    /// A/A and A/B: share of intervals holding the true ratio (should be about `level`).
    pub coverage: f64,
    /// Median minimum detectable effect of the A/A comparisons, in percent.
    pub mde_pct: f64,
    /// A/B at that effect: share of verdicts that found it in the right direction (stated: 80%).
    pub power_at_mde: f64,
    /// Mean units per side and run the comparisons ended with.
    pub mean_units: f64,
    /// Adaptive designs: the half-width asked of every interval, in percent.
    pub target_pct: Option<f64>,
    /// Adaptive designs: share of comparisons that ended at the most units allowed.
    pub at_max: Option<f64>,
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

/// Both sides of one comparison as drawn, per run: `[baseline, candidate]`, each its units' values.
struct Drawn {
    runs: Vec<[Vec<Vec<f64>>; 2]>,
}

impl Drawn {
    /// Per run a level both sides share, per unit a window level, per value its draw; `units` per side and run.
    fn new(s: &Scenario, effect: f64, units: usize, rng: &mut ChaCha8Rng) -> Drawn {
        let mut runs = Vec::new();
        for _ in 0..s.runs {
            let run_level = if s.runs > 1 {
                (s.level_sigma * normal(rng)).exp()
            } else {
                1.0
            };
            let mut side = |scale: f64| -> Vec<Vec<f64>> {
                (0..units)
                    .map(|_| {
                        let window = if s.batch > 1 {
                            (s.level_sigma * normal(rng)).exp()
                        } else {
                            1.0
                        };
                        (0..s.batch)
                            .map(|_| 1_000_000.0 * scale * run_level * window * draw(s.shape, rng))
                            .collect()
                    })
                    .collect()
            };
            let baseline = side(1.0);
            runs.push([baseline, side(effect)]);
        }
        Drawn { runs }
    }

    /// (candidate, baseline) from the first `units` units of every run: a run measured that far.
    fn first(&self, units: usize) -> (Clustered, Clustered) {
        let (mut candidate, mut baseline) = (Clustered::default(), Clustered::default());
        for (run, [base, cand]) in self.runs.iter().enumerate() {
            for (side, drawn) in [(&mut baseline, base), (&mut candidate, cand)] {
                for values in drawn.iter().take(units) {
                    side.clusters.push(values.clone());
                    side.run_of.push(run);
                }
            }
        }
        (candidate, baseline)
    }
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

/// One design's results over every scenario: comparisons, and the A/A false-positive rate and the coverage over
/// all of them, against the design's alpha and level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pooled {
    pub design: Design,
    pub alpha: f64,
    pub level: f64,
    pub comparisons: usize,
    pub false_positive_rate: f64,
    pub coverage: f64,
}

/// The results of `design`, pooled; `None` where there are none.
pub fn pooled(results: &[ScenarioResult], design: Design) -> Option<Pooled> {
    let of: Vec<&ScenarioResult> = results.iter().filter(|r| r.design == design).collect();
    let first = of.first()?;
    let comparisons: usize = of.iter().map(|r| r.comparisons).sum();
    // Half of each scenario's comparisons are A/A (where false positives are counted); coverage counts all.
    let false_positives: f64 = of
        .iter()
        .map(|r| r.false_positive_rate * (r.comparisons / 2) as f64)
        .sum();
    let covered: f64 = of.iter().map(|r| r.coverage * r.comparisons as f64).sum();
    Some(Pooled {
        design,
        alpha: first.alpha,
        level: first.level,
        comparisons,
        false_positive_rate: false_positives / (comparisons / 2).max(1) as f64,
        coverage: covered / comparisons.max(1) as f64,
    })
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

/// A design made concrete for one scenario: the options its comparisons use, and for the adaptive ones the
/// looks and the target.
struct Runner<'a> {
    scenario: &'a Scenario,
    options: ReportOptions,
    adaptive: Option<adaptive::Rule>,
}

/// The final comparison of one simulated measurement and the units per side and run it ended with.
struct Outcome {
    comparison: super::model::Comparison,
    units: usize,
}

impl Runner<'_> {
    fn run(&self, effect: f64, seed: u64, rng: &mut ChaCha8Rng) -> Outcome {
        let options = ReportOptions {
            seed,
            ..self.options.clone()
        };
        match &self.adaptive {
            Some(rule) => rule.run(self.scenario, effect, &options, rng),
            None => {
                let units = self.scenario.units;
                let (candidate, baseline) = Drawn::new(self.scenario, effect, units, rng).first(units);
                Outcome {
                    comparison: compare(&self.scenario.name, self.scenario.batch, candidate, baseline, &options),
                    units,
                }
            }
        }
    }
}

/// Runs `comparisons` A/A and as many A/B comparisons of scenario `s` in `design` (seeded: the same numbers
/// every time).
pub fn simulate(
    s: &Scenario,
    design: Design,
    comparisons: usize,
    options: &ReportOptions,
    seed: u64,
) -> ScenarioResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let runner = match design {
        Design::Fixed => Runner {
            scenario: s,
            options: options.clone(),
            adaptive: None,
        },
        Design::Adaptive(mode) => {
            let (options, rule) = adaptive::Rule::plan(s, mode, options, &mut rng);
            Runner {
                scenario: s,
                options,
                adaptive: Some(rule),
            }
        }
    };
    let alpha = runner.options.alpha;
    let (mut false_positives, mut covered, mut mdes, mut units, mut at_max) =
        (0usize, 0usize, Vec::new(), 0usize, 0usize);
    let max_units = runner.adaptive.as_ref().map(adaptive::Rule::max_units);
    let mut tally = |o: &Outcome| {
        units += o.units;
        at_max += usize::from(Some(o.units) == max_units);
    };
    for i in 0..comparisons {
        let o = runner.run(1.0, seed ^ i as u64, &mut rng);
        tally(&o);
        let c = o.comparison;
        false_positives += usize::from(directional(c.verdict));
        covered += usize::from(covers(&c, 1.0));
        if let Some(r) = c.ratio_of_medians
            && let Some(d) = detectable_effect(
                r.ci_low,
                r.ci_high,
                r.level,
                c.n_candidate,
                c.n_baseline,
                alpha,
                runner.options.equivalence_band,
            )
        {
            mdes.push(d.min_effect_pct);
        }
    }
    let mde_pct = median(&mdes).unwrap_or(f64::NAN);
    let effect = 1.0 + mde_pct / 100.0;
    let mut found = 0usize;
    for i in 0..comparisons {
        let o = runner.run(effect, seed ^ (i + comparisons) as u64, &mut rng);
        tally(&o);
        found += usize::from(o.comparison.verdict == Verdict::Slower);
        covered += usize::from(covers(&o.comparison, effect));
    }
    let n = comparisons.max(1) as f64;
    ScenarioResult {
        scenario: s.clone(),
        design,
        level: runner.options.level,
        alpha,
        comparisons: 2 * comparisons,
        false_positive_rate: false_positives as f64 / n,
        coverage: covered as f64 / (2.0 * n),
        mde_pct,
        power_at_mde: found as f64 / n,
        mean_units: units as f64 / (2.0 * n),
        target_pct: runner.adaptive.as_ref().map(|r| r.target * 100.0),
        at_max: max_units.map(|_| at_max as f64 / (2.0 * n)),
    }
}

/// Every scenario in every design, `comparisons` A/A (and as many A/B) each, spread over the machine's cores.
/// Results in order: designs as given, scenarios within; scenario `i` of design `d` is seeded with
/// `seed + 100 d + i`.
pub fn simulate_all(
    designs: &[Design],
    scenarios: &[Scenario],
    comparisons: usize,
    options: &ReportOptions,
    seed: u64,
) -> Vec<ScenarioResult> {
    let jobs: Vec<(u64, Design, &Scenario)> = designs
        .iter()
        .enumerate()
        .flat_map(|(d, &design)| {
            scenarios
                .iter()
                .enumerate()
                .map(move |(i, s)| (seed.wrapping_add((100 * d + i) as u64), design, s))
        })
        .collect();
    let results: Mutex<Vec<Option<ScenarioResult>>> = Mutex::new(vec![None; jobs.len()]);
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(seed, design, s)) = jobs.get(j) else {
                        break;
                    };
                    let r = simulate(s, design, comparisons, options, seed);
                    if let Ok(mut results) = results.lock() {
                        results[j] = Some(r);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default().into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's statistics hold their stated error rates in every design: over at least 2,000 simulated
    /// comparisons each, at most alpha + 1 point of A/A verdicts say faster/slower, and at least 94% of
    /// intervals hold the truth; and the adaptive designs stop early in some comparisons and reach the most
    /// units in others.
    #[test]
    fn the_reports_verdicts_and_intervals_keep_their_error_rates_fixed_and_adaptive() {
        let options = ReportOptions {
            resamples: 300,
            ..ReportOptions::default()
        };
        let results = simulate_all(&Design::ALL, &scenarios(), 130, &options, 1000);
        for r in &results {
            eprintln!(
                "{:<16} {:<42} fp {:.3} coverage {:.3} mde {:.1}% power {:.2} units {:.1} at max {:?}",
                r.design.label(),
                r.scenario.name,
                r.false_positive_rate,
                r.coverage,
                r.mde_pct,
                r.power_at_mde,
                r.mean_units,
                r.at_max
            );
        }
        for design in Design::ALL {
            let all = pooled(&results, design).unwrap();
            let (comparisons, fpr, coverage) = (all.comparisons, all.false_positive_rate, all.coverage);
            eprintln!(
                "{}: fp {fpr:.4} (alpha {}) coverage {coverage:.4} over {comparisons}",
                design.label(),
                all.alpha
            );
            assert!(comparisons >= 2000, "{comparisons}");
            assert!(fpr <= all.alpha + 0.01, "{}: false-positive rate {fpr}", design.label());
            assert!(coverage >= 0.94, "{}: coverage {coverage}", design.label());
        }
        for r in results.iter().filter(|r| r.design != Design::Fixed) {
            let at_max = r.at_max.unwrap();
            assert!(at_max > 0.0 && at_max < 1.0, "{}: {at_max}", r.scenario.name);
            assert!(
                r.mean_units > FIRST_UNITS as f64,
                "{}: {}",
                r.scenario.name,
                r.mean_units
            );
        }
    }
}
