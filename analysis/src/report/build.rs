//! From loaded runs to a [`Report`]: grouping, descriptive statistics, comparisons against the baseline.

use super::figures::figures;
use super::model::*;
use super::runs::{check_same_plan, incomplete_groups, notes};
use crate::load::Run;
use crate::stats::bootstrap::{Clustered, ratio_of_medians};
use crate::stats::brunner_munzel::brunner_munzel;
use crate::stats::cliff::cliffs_delta;
use crate::stats::describe::describe;
use crate::stats::holm::holm;
use crate::stats::mann_whitney::mann_whitney;
use crate::stats::outliers::tukey_outliers;
use crate::stats::{Interval, RankTestResult};
use crate::summary::quantile;
use harness_data::{EnergyQuality, InvocationRecord, Mode, PairedRecord, Status};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no run directories given")]
    NoRuns,
    #[error("the runs measured different plans; a report compares runs of one plan:\n{0}")]
    MixedPlans(String),
    #[error("baseline runtime `{baseline}` is not in the runs; runtimes present: {present}")]
    MissingBaseline { baseline: String, present: String },
}

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub baseline: String,
    pub resamples: usize,
    pub seed: u64,
    pub level: f64,
    pub equivalence_band: f64,
    pub alpha: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            baseline: "native".into(),
            resamples: 2000,
            seed: 2026,
            level: 0.95,
            equivalence_band: 0.02,
            alpha: 0.05,
        }
    }
}

/// IQR ratio from which two samples count as differently spread.
const SPREAD_RATIO: f64 = 2.0;

/// One group's rows, gathered across runs.
#[derive(Default)]
pub(super) struct Gathered<'a> {
    invocations: Vec<(&'a str, &'a InvocationRecord)>,
    paired: Vec<(&'a str, &'a PairedRecord)>,
}

pub fn build_report(runs: &[Run], options: &ReportOptions) -> Result<Report, ReportError> {
    if runs.is_empty() {
        return Err(ReportError::NoRuns);
    }
    check_same_plan(runs)?;
    let mut gathered: BTreeMap<GroupKey, Gathered> = BTreeMap::new();
    for run in runs {
        for row in &run.invocations {
            gathered
                .entry(key_of(&row.workload, &row.input, &row.runtime, row.mode))
                .or_default()
                .invocations
                .push((&run.name, row));
        }
        for row in run.paired.iter().flatten() {
            gathered
                .entry(key_of(&row.workload, &row.input, &row.runtime, row.mode))
                .or_default()
                .paired
                .push((&run.name, row));
        }
    }
    let runtimes: BTreeSet<&str> = gathered.keys().map(|k| k.runtime.as_str()).collect();
    if !runtimes.contains(options.baseline.as_str()) {
        return Err(ReportError::MissingBaseline {
            baseline: options.baseline.clone(),
            present: runtimes.into_iter().collect::<Vec<_>>().join(", "),
        });
    }
    let groups: Vec<GroupReport> = gathered.iter().map(|(k, g)| group_report(k, g)).collect();
    let mut comparisons = Vec::new();
    for (key, candidate) in &gathered {
        if key.runtime == options.baseline {
            continue;
        }
        let base_key = GroupKey {
            runtime: options.baseline.clone(),
            ..key.clone()
        };
        if let Some(baseline) = gathered.get(&base_key) {
            comparisons.extend(compare(key, candidate, baseline, options));
        }
    }
    // Holm across the report's whole family of tests, then the verdicts that depend on it.
    let tested: Vec<usize> = (0..comparisons.len())
        .filter(|&i| comparisons[i].test.is_some())
        .collect();
    let p_values: Vec<f64> = tested.iter().map(|&i| comparisons[i].test.unwrap().p_value).collect();
    for (&i, p) in tested.iter().zip(holm(&p_values)) {
        comparisons[i].p_holm = Some(p);
    }
    for c in &mut comparisons {
        c.verdict = verdict(c, options);
    }
    let incomplete = incomplete_groups(runs);
    let notes = notes(runs, &gathered, options, &incomplete);
    let figures = figures(&gathered_latencies(&gathered), &gathered_energy(&gathered));
    Ok(Report {
        format_version: RESULTS_FORMAT_VERSION,
        harness_version: env!("CARGO_PKG_VERSION").into(),
        baseline: options.baseline.clone(),
        settings: Settings {
            resamples: options.resamples,
            seed: options.seed,
            level: options.level,
            equivalence_band: options.equivalence_band,
            alpha: options.alpha,
            spread_ratio_for_brunner_munzel: SPREAD_RATIO,
            ci_method: "percentile bootstrap of the ratio of medians; whole batch windows resampled where warm invocations were batched, single invocations otherwise; ChaCha8 seeded per comparison".into(),
            outlier_rule: "Tukey fences on type-7 quartiles: beyond 1.5 IQR mild, beyond 3 IQR severe; flagged, never dropped".into(),
            energy_metric: "gross energy per invocation (window energy / invocations in the window); rows below resolution or with a gap are counted, not used".into(),
        },
        runs: runs.iter().map(run_info).collect(),
        groups,
        comparisons,
        incomplete,
        figures,
        notes,
    })
}

pub(super) fn key_of(workload: &str, input: &str, runtime: &str, mode: Mode) -> GroupKey {
    GroupKey {
        workload: workload.into(),
        input: input.into(),
        runtime: runtime.into(),
        mode,
    }
}

fn run_info(run: &Run) -> RunInfo {
    let m = &run.manifest;
    RunInfo {
        name: run.name.clone(),
        dir: run.dir.display().to_string(),
        hostname: m.host.hostname.clone(),
        cpu_model: m.host.cpu_model.clone(),
        status: m.status,
        status_reason: m.status_reason.clone(),
        scheduled_invocations: m.scheduled_invocations,
        recorded_invocations: m.recorded_invocations,
        has_energy: run.paired.is_some(),
        energy_estimated: m.energy_estimated,
        probes: m.probes.iter().map(|p| p.kind.clone()).collect(),
        engines: m.engines.clone(),
    }
}

fn measured_ok<'a>(g: &'a Gathered) -> impl Iterator<Item = &'a (&'a str, &'a InvocationRecord)> + 'a {
    g.invocations
        .iter()
        .filter(|(_, r)| !r.warmup && r.status == Status::Ok)
}

fn group_report(key: &GroupKey, g: &Gathered) -> GroupReport {
    let measured: Vec<_> = g.invocations.iter().filter(|(_, r)| !r.warmup).collect();
    let mut failed = BTreeMap::new();
    for (_, r) in &measured {
        if r.status != Status::Ok {
            *failed.entry(r.status.as_str().to_owned()).or_insert(0) += 1;
        }
    }
    let ok: Vec<_> = measured_ok(g).collect();
    let latencies: Vec<f64> = ok.iter().map(|(_, r)| r.latency_ns as f64).collect();
    let batches: BTreeSet<(&str, u64)> = ok.iter().filter_map(|(run, r)| r.batch.map(|b| (*run, b))).collect();
    let outliers = tukey_outliers(&latencies).map(|o| LatencyOutliers {
        fences_ns: o.fences,
        low_severe: o.low_severe,
        low_mild: o.low_mild,
        high_mild: o.high_mild,
        high_severe: o.high_severe,
        flagged: o
            .flagged
            .iter()
            .map(|&i| FlaggedInvocation {
                run: ok[i].0.to_owned(),
                sequence: ok[i].1.sequence,
                latency_ns: latencies[i],
            })
            .collect(),
    });
    GroupReport {
        key: key.clone(),
        measured: measured.len(),
        warmups: g.invocations.len() - measured.len(),
        ok: ok.len(),
        failed,
        batches: (!batches.is_empty()).then_some(batches.len()),
        latency_ns: describe(&latencies),
        outliers,
        energy: channel_energy(g),
    }
}

/// A paired row's energy counts when it was measured (or modelled) without a gap and is above resolution.
fn usable(r: &PairedRecord) -> Option<f64> {
    matches!(r.quality, EnergyQuality::Ok | EnergyQuality::Estimated)
        .then_some(r.gross_j)
        .flatten()
        .filter(|v| v.is_finite())
}

fn channels<'a>(g: &'a Gathered) -> BTreeMap<(&'a str, &'a str), Vec<&'a PairedRecord>> {
    let mut by_channel: BTreeMap<(&str, &str), Vec<&PairedRecord>> = BTreeMap::new();
    for (_, r) in &g.paired {
        by_channel
            .entry((r.probe.as_str(), r.channel.as_str()))
            .or_default()
            .push(r);
    }
    by_channel
}

fn channel_energy(g: &Gathered) -> Vec<ChannelEnergy> {
    channels(g)
        .into_iter()
        .map(|((probe, channel), rows)| {
            let mut quality = BTreeMap::new();
            for r in &rows {
                let name = serde_json::to_value(r.quality)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                *quality.entry(name).or_insert(0) += 1;
            }
            let used: Vec<&&PairedRecord> = rows.iter().filter(|r| usable(r).is_some()).collect();
            let collect =
                |f: &dyn Fn(&PairedRecord) -> Option<f64>| used.iter().filter_map(|r| f(r)).collect::<Vec<f64>>();
            let baselines: Vec<f64> = rows.iter().filter_map(|r| r.baseline_w).collect();
            ChannelEnergy {
                probe: probe.into(),
                channel: channel.into(),
                estimated: rows
                    .iter()
                    .any(|r| r.estimated || r.quality == EnergyQuality::Estimated),
                windows: rows.len(),
                invocations: rows.iter().map(|r| u64::from(r.count)).sum(),
                quality,
                gross_j: describe(&collect(&|r| r.gross_j)),
                net_j: describe(&collect(&|r| r.net_j)),
                power_w: describe(&collect(&|r| r.power_w)),
                edp_js: describe(&collect(&|r| r.gross_j.map(|e| e * r.latency_ns * 1e-9))),
                baseline_w: (!baselines.is_empty()).then(|| baselines.iter().sum::<f64>() / baselines.len() as f64),
            }
        })
        .collect()
}

/// Latency sample as bootstrap clusters: one per batch window (per run) where batched, else one per invocation.
fn latency_clusters(g: &Gathered) -> Clustered {
    let mut batched: BTreeMap<(&str, u64), Vec<f64>> = BTreeMap::new();
    let mut clusters = Vec::new();
    for (run, r) in measured_ok(g) {
        match r.batch {
            Some(b) => batched.entry((run, b)).or_default().push(r.latency_ns as f64),
            None => clusters.push(vec![r.latency_ns as f64]),
        }
    }
    clusters.extend(batched.into_values());
    Clustered { clusters }
}

/// Seed of one comparison: the report's seed mixed with the comparison's name (FNV-1a), so a comparison's
/// interval does not change when other groups are added to the report.
fn comparison_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn rank_test(candidate: &[f64], baseline: &[f64]) -> Option<RankTestResult> {
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
    if differently_spread && let Ok(Some(result)) = brunner_munzel(candidate, baseline) {
        return Some(result);
    }
    mann_whitney(candidate, baseline).ok()
}

fn comparison(
    key: &GroupKey,
    options: &ReportOptions,
    metric: Metric,
    candidate: &Clustered,
    baseline: &Clustered,
) -> Comparison {
    let c: Vec<f64> = candidate.values().collect();
    let b: Vec<f64> = baseline.values().collect();
    let name = format!(
        "{}/{}/{}/{}/{}",
        key.workload,
        key.input,
        key.mode.as_str(),
        key.runtime,
        metric.label()
    );
    let ratio: Option<Interval> = ratio_of_medians(
        candidate,
        baseline,
        options.resamples,
        options.level,
        comparison_seed(options.seed, &name),
    );
    Comparison {
        workload: key.workload.clone(),
        input: key.input.clone(),
        mode: key.mode,
        runtime: key.runtime.clone(),
        baseline: options.baseline.clone(),
        metric,
        n_candidate: c.len(),
        n_baseline: b.len(),
        clusters_candidate: candidate.clusters.len(),
        clusters_baseline: baseline.clusters.len(),
        ratio_of_medians: ratio,
        test: if c.is_empty() || b.is_empty() {
            None
        } else {
            rank_test(&c, &b)
        },
        p_holm: None,
        cliffs_delta: cliffs_delta(&c, &b),
        verdict: Verdict::Inconclusive,
    }
}

fn compare(key: &GroupKey, candidate: &Gathered, baseline: &Gathered, options: &ReportOptions) -> Vec<Comparison> {
    let mut out = vec![comparison(
        key,
        options,
        Metric::Latency,
        &latency_clusters(candidate),
        &latency_clusters(baseline),
    )];
    let base_channels = channels(baseline);
    for ((probe, channel), rows) in channels(candidate) {
        let Some(base_rows) = base_channels.get(&(probe, channel)) else {
            continue;
        };
        let energies = |rows: &[&PairedRecord]| rows.iter().filter_map(|r| usable(r)).collect::<Vec<f64>>();
        let estimated = rows
            .iter()
            .chain(base_rows)
            .any(|r| r.estimated || r.quality == EnergyQuality::Estimated);
        let metric = Metric::Energy {
            probe: probe.into(),
            channel: channel.into(),
            estimated,
        };
        out.push(comparison(
            key,
            options,
            metric,
            &Clustered::singletons(&energies(&rows)),
            &Clustered::singletons(&energies(base_rows)),
        ));
    }
    out
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

/// Per (workload, input, mode), per runtime: ok latencies in ns.
pub(super) type Latencies = BTreeMap<(String, String, Mode), BTreeMap<String, Vec<f64>>>;
/// Per (workload, input, mode, probe/channel), per runtime: (latency ns, gross J per invocation) and whether estimated.
pub(super) type EnergyPoints = BTreeMap<(String, String, Mode, String), (bool, BTreeMap<String, Vec<[f64; 2]>>)>;

fn gathered_latencies(gathered: &BTreeMap<GroupKey, Gathered>) -> Latencies {
    let mut out: Latencies = BTreeMap::new();
    for (k, g) in gathered {
        let values: Vec<f64> = measured_ok(g).map(|(_, r)| r.latency_ns as f64).collect();
        if !values.is_empty() {
            out.entry((k.workload.clone(), k.input.clone(), k.mode))
                .or_default()
                .insert(k.runtime.clone(), values);
        }
    }
    out
}

fn gathered_energy(gathered: &BTreeMap<GroupKey, Gathered>) -> EnergyPoints {
    let mut out: EnergyPoints = BTreeMap::new();
    for (k, g) in gathered {
        for ((probe, channel), rows) in channels(g) {
            let points: Vec<[f64; 2]> = rows
                .iter()
                .filter_map(|r| usable(r).map(|e| [r.latency_ns, e]))
                .collect();
            if points.is_empty() {
                continue;
            }
            let entry = out
                .entry((
                    k.workload.clone(),
                    k.input.clone(),
                    k.mode,
                    format!("{probe}/{channel}"),
                ))
                .or_default();
            entry.0 |= rows.iter().any(|r| r.estimated);
            entry.1.insert(k.runtime.clone(), points);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{RankTest, RankTestResult};

    fn comparison(metric: Metric, low: f64, high: f64, p_holm: f64) -> Comparison {
        Comparison {
            workload: "w".into(),
            input: "i".into(),
            mode: Mode::Warm,
            runtime: "r".into(),
            baseline: "b".into(),
            metric,
            n_candidate: 30,
            n_baseline: 30,
            clusters_candidate: 30,
            clusters_baseline: 30,
            ratio_of_medians: Some(Interval {
                estimate: (low + high) / 2.0,
                ci_low: low,
                ci_high: high,
                level: 0.95,
            }),
            test: Some(RankTestResult {
                test: RankTest::MannWhitney,
                statistic: 0.0,
                p_value: p_holm,
            }),
            p_holm: Some(p_holm),
            cliffs_delta: None,
            verdict: Verdict::Inconclusive,
        }
    }

    #[test]
    fn verdicts_follow_the_interval_the_band_and_the_adjusted_p() {
        let o = ReportOptions::default();
        let energy = Metric::Energy {
            probe: "rapl".into(),
            channel: "package-0".into(),
            estimated: false,
        };
        assert_eq!(
            verdict(&comparison(Metric::Latency, 0.99, 1.015, 0.9), &o),
            Verdict::Equivalent
        );
        assert_eq!(
            verdict(&comparison(Metric::Latency, 0.5, 0.6, 0.001), &o),
            Verdict::Faster
        );
        assert_eq!(
            verdict(&comparison(Metric::Latency, 1.5, 1.6, 0.001), &o),
            Verdict::Slower
        );
        assert_eq!(
            verdict(&comparison(energy.clone(), 0.5, 0.6, 0.001), &o),
            Verdict::LessEnergy
        );
        assert_eq!(verdict(&comparison(energy, 1.5, 1.6, 0.001), &o), Verdict::MoreEnergy);
        // Significant but the interval crosses 1, or one-sided but not significant after Holm.
        assert_eq!(
            verdict(&comparison(Metric::Latency, 0.9, 1.1, 0.001), &o),
            Verdict::Inconclusive
        );
        assert_eq!(
            verdict(&comparison(Metric::Latency, 0.5, 0.6, 0.2), &o),
            Verdict::Inconclusive
        );
        // A wider band makes a 4% difference equivalent.
        let wide = ReportOptions {
            equivalence_band: 0.05,
            ..ReportOptions::default()
        };
        assert_eq!(
            verdict(&comparison(Metric::Latency, 0.96, 0.97, 0.001), &wide),
            Verdict::Equivalent
        );
    }

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
        let clusters = latency_clusters(&g);
        let mut sizes: Vec<usize> = clusters.clusters.iter().map(Vec::len).collect();
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
