//! One runtime against the baseline: the units a test may count, the bootstrap interval, the rank test, Holm
//! across the report's family, and what the unit counts let a verdict say.
//!
//! Invocations of one batch window were measured back to back and share its conditions: they are not
//! independent. Rank tests and Cliff's delta therefore count one value per batch (its median latency) or per
//! paired row (a window's energy per invocation), and the bootstrap resamples whole clusters (and whole runs
//! where the report has several).

use super::energy::{ChannelRows, channels, flag_counts, is_estimated, scope_of, usable};
use super::gather::{Gathered, measured_ok};
use super::model::*;
use super::options::ReportOptions;
use crate::energy_summary::{left_out_reason, majority, minority_reason};
use crate::stats::bootstrap::{Clustered, ratio_of_medians};
use crate::stats::brunner_munzel::brunner_munzel;
use crate::stats::cliff::cliffs_delta;
use crate::stats::detectable::detectable_effect;
use crate::stats::holm::holm;
use crate::stats::mann_whitney::{EXACT_MAX, mann_whitney, min_attainable_p};
use crate::stats::small_sample::expanded_level;
use crate::stats::{Interval, RankTestResult};
use crate::summary::quantile;
use std::collections::BTreeMap;

/// IQR ratio from which two samples count as differently spread.
pub(super) const SPREAD_RATIO: f64 = 2.0;

/// A sample ready to compare: its clusters (with their runs), the unit a cluster stands for, and the
/// invocations behind them.
pub(super) struct Sample {
    pub clusters: Clustered,
    pub unit: &'static str,
    pub invocations: u64,
}

/// Numbers runs in order of first appearance.
#[derive(Default)]
struct RunIndex<'a>(BTreeMap<&'a str, usize>);

impl<'a> RunIndex<'a> {
    fn of(&mut self, run: &'a str) -> usize {
        let next = self.0.len();
        *self.0.entry(run).or_insert(next)
    }
}

/// Latency as clusters: one per batch window (per run) where batched, else one per invocation.
pub(super) fn latency_sample(g: &Gathered) -> Sample {
    let mut runs = RunIndex::default();
    let mut batched: BTreeMap<(&str, u64), Vec<f64>> = BTreeMap::new();
    let mut clusters = Clustered::default();
    let mut invocations = 0;
    for &(run, r) in measured_ok(g) {
        invocations += 1;
        match r.batch {
            Some(b) => batched.entry((run, b)).or_default().push(r.latency_ns as f64),
            None => {
                clusters.clusters.push(vec![r.latency_ns as f64]);
                clusters.run_of.push(runs.of(run));
            }
        }
    }
    let unit = if batched.is_empty() { "invocation" } else { "batch" };
    for ((run, _), values) in batched {
        clusters.clusters.push(values);
        clusters.run_of.push(runs.of(run));
    }
    Sample {
        clusters,
        unit,
        invocations,
    }
}

/// Energy as one value per usable paired row (a batch window's energy per invocation, or an invocation's);
/// empty where fewer than half of the rows are usable (the majority rule of [`crate::energy_summary`]).
fn energy_sample(rows: &ChannelRows) -> Sample {
    let mut runs = RunIndex::default();
    let mut clusters = Clustered::default();
    let (mut invocations, mut windows) = (0, false);
    let used = rows.iter().filter(|(_, r)| usable(r).is_some()).count();
    let shown = majority(used, rows.len());
    for &(run, r) in rows.iter().filter(|_| shown) {
        if let Some(e) = usable(r) {
            clusters.clusters.push(vec![e]);
            clusters.run_of.push(runs.of(run));
            invocations += u64::from(r.count);
            windows |= r.count > 1;
        }
    }
    Sample {
        clusters,
        unit: if windows { "window" } else { "invocation" },
        invocations,
    }
}

/// Seed of one comparison: the report's seed mixed with the comparison's name (FNV-1a), so a comparison's
/// interval does not change when other groups are added to the report.
pub(super) fn comparison_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Mann-Whitney, or Brunner-Munzel where the spreads differ and both sides have more units than the exact
/// Mann-Whitney range: its t approximation is not trusted below ~10 values a side (Neubert and Brunner 2007).
pub(super) fn rank_test(candidate: &[f64], baseline: &[f64]) -> Option<RankTestResult> {
    if candidate.is_empty() || baseline.is_empty() {
        return None;
    }
    let iqr = |v: &[f64]| {
        quantile(v, 0.75)
            .zip(quantile(v, 0.25))
            .map(|(a, b)| a - b)
            .unwrap_or(0.0)
    };
    let (a, b) = (iqr(candidate), iqr(baseline));
    let differently_spread = if a.min(b) <= 0.0 {
        a.max(b) > 0.0
    } else {
        a.max(b) / a.min(b) >= SPREAD_RATIO
    };
    let large = candidate.len().min(baseline.len()) > EXACT_MAX;
    if large
        && differently_spread
        && let Ok(Some(result)) = brunner_munzel(candidate, baseline)
    {
        return Some(result);
    }
    mann_whitney(candidate, baseline).ok()
}

pub(super) fn comparison(
    key: &CellKey,
    options: &ReportOptions,
    metric: Metric,
    candidate: &Sample,
    baseline: &Sample,
) -> Comparison {
    let (c, b) = (candidate.clusters.unit_medians(), baseline.clusters.unit_medians());
    let name = format!(
        "{}/{}/{}/{}/{}",
        key.workload,
        key.input,
        key.mode.as_str(),
        key.runtime,
        metric.label()
    );
    // The percentile interval is too narrow with few units: it is taken at Hesterberg's expanded level for the
    // smaller side's unit count, and stated at the report's level.
    let units = candidate.clusters.clusters.len().min(baseline.clusters.clusters.len());
    let ratio: Option<Interval> = ratio_of_medians(
        &candidate.clusters,
        &baseline.clusters,
        options.resamples,
        expanded_level(options.level, units),
        comparison_seed(options.seed, &name),
    )
    .map(|r| Interval {
        level: options.level,
        ..r
    });
    let test = rank_test(&c, &b);
    // Mixed units (batched against unbatched) are named by the coarser one.
    let unit = if candidate.unit == baseline.unit || baseline.unit == "invocation" {
        candidate.unit
    } else {
        baseline.unit
    };
    Comparison {
        workload: key.workload.clone(),
        input: key.input.clone(),
        mode: key.mode,
        runtime: key.runtime.clone(),
        baseline: options.baseline.clone(),
        metric,
        unit: unit.into(),
        n_candidate: c.len(),
        n_baseline: b.len(),
        invocations_candidate: candidate.invocations,
        invocations_baseline: baseline.invocations,
        clusters_candidate: candidate.clusters.clusters.len(),
        clusters_baseline: baseline.clusters.clusters.len(),
        runs_candidate: candidate.clusters.runs().iter().filter(|r| !r.is_empty()).count(),
        runs_baseline: baseline.clusters.runs().iter().filter(|r| !r.is_empty()).count(),
        ratio_of_medians: ratio,
        test,
        p_holm: None,
        min_attainable_p: test.map(|_| min_attainable_p(c.len(), b.len())),
        cliffs_delta: cliffs_delta(&c, &b),
        verdict: Verdict::Inconclusive,
        verdict_note: None,
        detectable: None,
        interrupt: None,
        flagged_candidate: BTreeMap::new(),
        flagged_baseline: BTreeMap::new(),
    }
}

/// Rows left out, by reason in words.
fn left_out_counts(rows: &ChannelRows) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, r) in rows {
        if let Some(reason) = left_out_reason(r) {
            *counts.entry(reason.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// "unseen 24, low_busy_share 2"
fn flags_text(flags: &BTreeMap<String, usize>) -> String {
    flags
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The latency comparison and one per energy channel both sides have.
pub(super) fn compare(
    key: &CellKey,
    candidate: &Gathered,
    baseline: &Gathered,
    options: &ReportOptions,
    interrupt: Option<String>,
) -> Vec<Comparison> {
    let mut out = vec![comparison(
        key,
        options,
        Metric::Latency,
        &latency_sample(candidate),
        &latency_sample(baseline),
    )];
    let base_channels = channels(baseline);
    for ((probe, channel), rows) in channels(candidate) {
        let Some(base_rows) = base_channels.get(&(probe, channel)) else {
            continue;
        };
        let both: ChannelRows = rows.iter().chain(base_rows).copied().collect();
        let metric = Metric::Energy {
            probe: probe.into(),
            channel: channel.into(),
            estimated: both.iter().any(|(_, r)| is_estimated(r)),
            scope: scope_of(&both),
        };
        let mut c = comparison(key, options, metric, &energy_sample(&rows), &energy_sample(base_rows));
        c.flagged_candidate = flag_counts(&rows);
        c.flagged_baseline = flag_counts(base_rows);
        if c.test.is_none() {
            let side = |runtime: &str, n: usize, flags: &BTreeMap<String, usize>, rows: &ChannelRows| {
                let used = rows.iter().filter(|(_, r)| usable(r).is_some()).count();
                if used == 0 && !flags.is_empty() {
                    Some(format!("{runtime} rows flagged ({})", flags_text(flags)))
                } else {
                    (n == 0).then(|| format!("{runtime}: {}", minority_reason(rows.len(), &left_out_counts(rows))))
                }
            };
            let left_out: Vec<String> = [
                side(&c.runtime, c.n_candidate, &c.flagged_candidate, &rows),
                side(&c.baseline, c.n_baseline, &c.flagged_baseline, base_rows),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !left_out.is_empty() {
                c.verdict_note = Some(format!("energy left out: {}", left_out.join("; ")));
            }
        }
        out.push(c);
    }
    for c in &mut out {
        c.interrupt = interrupt.clone();
    }
    out
}

/// Holm across the report's whole family of tests, then the verdicts, and a note where the unit counts cannot
/// reach alpha: even complete separation's p, times the Holm multiplier it would get, is at least alpha.
pub(super) fn adjust(comparisons: &mut [Comparison], options: &ReportOptions) {
    let tested: Vec<usize> = (0..comparisons.len())
        .filter(|&i| comparisons[i].test.is_some())
        .collect();
    let p_values: Vec<f64> = tested
        .iter()
        .filter_map(|&i| comparisons[i].test.map(|t| t.p_value))
        .collect();
    for (&i, p) in tested.iter().zip(holm(&p_values)) {
        comparisons[i].p_holm = Some(p);
    }
    let family = tested.len();
    for (slot, &i) in tested.iter().enumerate() {
        let c = &comparisons[i];
        let Some(min_p) = c.min_attainable_p else {
            continue;
        };
        // Holm multiplies the r-th smallest p by (family - r + 1): at best, this one would come after every
        // other p below min_p.
        let below = p_values
            .iter()
            .enumerate()
            .filter(|&(j, &p)| j != slot && p < min_p)
            .count();
        let multiplier = family - below;
        if min_p * multiplier as f64 >= options.alpha {
            let counts = if c.n_candidate == c.n_baseline {
                format!("{} {} per side", c.n_candidate, plural(&c.unit))
            } else {
                format!("{} vs {} {}", c.n_candidate, c.n_baseline, plural(&c.unit))
            };
            comparisons[i].verdict_note = Some(format!(
                "inconclusive: {counts} cannot reach alpha {} after Holm (smallest attainable p {:.3} x {multiplier})",
                options.alpha, min_p
            ));
        }
    }
    let mut holm_alpha = vec![None; comparisons.len()];
    for (slot, &i) in tested.iter().enumerate() {
        // Holm's threshold at this comparison's place in the family (the r-th smallest p is held to
        // alpha / (family - r + 1)).
        let below = p_values
            .iter()
            .enumerate()
            .filter(|&(j, &p)| j != slot && p < p_values[slot])
            .count();
        holm_alpha[i] = Some(options.alpha / (family - below) as f64);
    }
    for (c, alpha) in comparisons.iter_mut().zip(holm_alpha) {
        c.verdict = verdict(c, options);
        // Where the unit counts cannot reach alpha at all, no effect is detectable: the note says why.
        let reachable = !c.verdict_note.as_deref().is_some_and(|n| n.starts_with("inconclusive"));
        c.detectable = match (c.verdict, c.ratio_of_medians, alpha.filter(|_| reachable)) {
            (Verdict::Inconclusive, Some(r), Some(alpha)) => detectable_effect(
                r.ci_low,
                r.ci_high,
                r.level,
                c.n_candidate,
                c.n_baseline,
                alpha,
                options.equivalence_band,
            ),
            _ => None,
        };
        // The note explains an inconclusive verdict; an equivalence needs no test.
        if c.verdict != Verdict::Inconclusive
            && c.verdict_note.as_deref().is_some_and(|n| n.starts_with("inconclusive"))
        {
            c.verdict_note = None;
        }
    }
}

/// "wasmtime-jit: epoch, native: none" when either runtime's deadline mechanism is known and not `none`.
pub(super) fn interrupt_pair(interrupt: &BTreeMap<String, String>, candidate: &str, baseline: &str) -> Option<String> {
    let of = |runtime: &str| interrupt.get(runtime).map(String::as_str);
    let (c, b) = (of(candidate), of(baseline));
    let active = |m: Option<&str>| m.is_some_and(|m| m != "none");
    (active(c) || active(b)).then(|| {
        format!(
            "{candidate}: {}, {baseline}: {}",
            c.unwrap_or("unknown"),
            b.unwrap_or("unknown")
        )
    })
}

/// Equivalent when the whole interval lies in the band; faster/slower (less/more energy) when the Holm-adjusted
/// test rejects and the whole interval lies on one side of 1; inconclusive otherwise.
pub fn verdict(c: &Comparison, options: &ReportOptions) -> Verdict {
    let Some(ratio) = c.ratio_of_medians else {
        return Verdict::Inconclusive;
    };
    if !(ratio.ci_low.is_finite() && ratio.ci_high.is_finite()) {
        return Verdict::Inconclusive;
    }
    let band = options.equivalence_band;
    if ratio.ci_low >= 1.0 - band && ratio.ci_high <= 1.0 + band {
        return Verdict::Equivalent;
    }
    let significant = c.p_holm.is_some_and(|p| p < options.alpha);
    let energy = matches!(c.metric, Metric::Energy { .. });
    match (significant, ratio.ci_high < 1.0, ratio.ci_low > 1.0, energy) {
        (true, true, _, false) => Verdict::Faster,
        (true, true, _, true) => Verdict::LessEnergy,
        (true, _, true, false) => Verdict::Slower,
        (true, _, true, true) => Verdict::MoreEnergy,
        _ => Verdict::Inconclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_data::{InvocationRecord, Mode, Status};

    #[test]
    fn batched_warm_rows_become_one_cluster_per_batch_and_run() {
        let row = |sequence: u64, batch: Option<u64>, warmup: bool| InvocationRecord {
            workload: "w".into(),
            input: "i".into(),
            runtime: "r".into(),
            mode: Mode::Warm,
            iteration: sequence as u32,
            warmup,
            sequence,
            batch,
            start_ns: 0,
            end_ns: 100 + sequence,
            latency_ns: 100 + sequence,
            startup_ns: None,
            compile_ns: None,
            instantiate_ns: None,
            input_ns: None,
            execute_ns: None,
            output_ns: None,
            input_bytes: 0,
            output_bytes: 0,
            status: Status::Ok,
            digest: String::new(),
            error: String::new(),
        };
        let rows = [
            row(0, None, true),
            row(1, Some(1), false),
            row(2, Some(1), false),
            row(3, Some(1), false),
            row(4, Some(4), false),
            row(5, Some(4), false),
            row(6, None, false),
        ];
        let mut g = Gathered::default();
        for r in &rows {
            g.invocations.push(("run-a", r));
        }
        // The same batch id in another run is another batch.
        g.invocations.push(("run-b", &rows[1]));
        let sample = latency_sample(&g);
        let mut sizes: Vec<usize> = sample.clusters.clusters.iter().map(Vec::len).collect();
        sizes.sort_unstable();
        assert_eq!(
            sizes,
            vec![1, 1, 2, 3],
            "warm-up left out; batches 1 and 4 of run-a, batch 1 of run-b, one single"
        );
    }

    #[test]
    fn comparison_seeds_depend_on_the_name_only() {
        assert_eq!(comparison_seed(1, "a/b"), comparison_seed(1, "a/b"));
        assert_ne!(comparison_seed(1, "a/b"), comparison_seed(1, "a/c"));
        assert_ne!(comparison_seed(1, "a/b"), comparison_seed(2, "a/b"));
    }
}
