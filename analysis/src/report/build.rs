//! From loaded runs to a [`Report`]: grouping, descriptive statistics, comparisons against the baseline.

use super::cold_premium::cold_premiums;
use super::compare::{SPREAD_RATIO, adjust, compare, interrupt_pair};
use super::energy::{between_run_cv, channel_energy};
use super::figures::{figures, gathered_energy, gathered_latencies};
use super::gather::{Gathered, gather, measured_ok};
use super::glance::{artifact_rows, glance_tables};
use super::load::section::{load_runtimes, load_sections};
use super::model::*;
use super::options::{ReportError, ReportOptions};
use super::precision::{precision_sections, strict_options};
use super::runs::{check_same_plan, incomplete_groups, notes};
use crate::energy_summary::{Resampling, figure_name, shown_channel, summarize};
use crate::run::Run;
use crate::stats::describe::describe;
use crate::stats::outliers::tukey_outliers;
use harness_data::Status;
use std::collections::{BTreeMap, BTreeSet};

pub fn build_report(runs: &[Run], options: &ReportOptions) -> Result<Report, ReportError> {
    if runs.is_empty() {
        return Err(ReportError::NoRuns);
    }
    check_same_plan(runs)?;
    let (options, strict_note) = &strict_options(runs, options);
    let gathered = gather(runs);
    let mut runtimes: BTreeSet<&str> = gathered.keys().map(|k| k.runtime.as_str()).collect();
    runtimes.extend(load_runtimes(runs));
    if !runtimes.contains(options.baseline.as_str()) {
        return Err(ReportError::MissingBaseline {
            baseline: options.baseline.clone(),
            present: runtimes.into_iter().collect::<Vec<_>>().join(", "),
        });
    }
    let energy_channel = shown_channel(runs);
    let resampling = Resampling {
        resamples: options.resamples,
        level: options.level,
        seed: options.seed,
    };
    let groups: Vec<GroupReport> = gathered
        .iter()
        .map(|(k, g)| GroupReport {
            energy_at_a_glance: energy_channel.as_ref().map(|ch| {
                let name = figure_name(&k.workload, &k.input, k.mode, &k.runtime, ch);
                summarize(ch, &g.paired, &name, resampling)
            }),
            ..group_report(k, g)
        })
        .collect();
    let cold_premium = energy_channel
        .as_ref()
        .map(|ch| cold_premiums(runs, ch, resampling))
        .unwrap_or_default();
    let interrupt = interrupt_of(runs);
    let mut comparisons = Vec::new();
    for (key, candidate) in &gathered {
        if key.runtime == options.baseline {
            continue;
        }
        let base_key = CellKey {
            runtime: options.baseline.clone(),
            ..key.clone()
        };
        if let Some(baseline) = gathered.get(&base_key) {
            let pair = interrupt_pair(&interrupt, &key.runtime, &options.baseline);
            comparisons.extend(compare(key, candidate, baseline, options, pair));
        }
    }
    adjust(&mut comparisons, options);
    let incomplete = incomplete_groups(runs);
    let mut notes = notes(runs, &gathered, options, &incomplete);
    notes.extend(strict_note.clone());
    let mut figures = figures(&gathered_latencies(&gathered), &gathered_energy(&gathered));
    let (load, load_figures) = load_sections(runs, &options.baseline);
    figures.extend(load_figures);
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
            ci_method: CI_METHOD.into(),
            test_unit: TEST_UNIT.into(),
            outlier_rule: "Tukey fences on type-7 quartiles: beyond 1.5 IQR mild, beyond 3 IQR severe; flagged, never dropped".into(),
            energy_metric: "gross energy per invocation (window energy / invocations in the window); rows below resolution or with a gap, and rows flagged unseen or low_busy_share, are counted, not used".into(),
        },
        runs: runs.iter().map(run_info).collect(),
        energy_channel,
        cold_premium,
        glance: glance_tables(runs, &options.baseline, &groups, &comparisons),
        artifacts: artifact_rows(runs),
        groups,
        comparisons,
        incomplete,
        figures,
        notes,
        load,
        precision: precision_sections(runs),
    })
}

const CI_METHOD: &str = "percentile bootstrap of the ratio of medians; resampled units: whole batch windows where warm invocations were batched, single invocations (or paired rows, for energy) otherwise; with several runs, hierarchical (Kalibera and Jones 2013): runs drawn with replacement, then each drawn run's units drawn with replacement; with one run, units only, so the interval covers within-run variation only; small-sample correction (Hesterberg 2015, expanded percentile interval): the percentile interval is taken at the level whose normal quantile is sqrt(n/(n-1)) t(n-1) of the stated level, n the smaller side's unit count (12 units: 97.8% for a stated 95%; 30: 96.2%; 300: 95.1%), and stated at the report's level; ChaCha8 seeded per comparison";

const TEST_UNIT: &str = "rank tests and Cliff's delta count one value per unit: a batch window's median latency (a median, so a spike inside a window does not move it and the test sees what the ratio of medians sees), a paired row's energy per invocation (one row per batch window), or a single invocation; n is that count, pooled across runs; Mann-Whitney is exact (no ties, a side of 8 units or fewer) as SciPy's method=auto";

/// Per runtime, its deadline mechanism across the runs (joined with `/` where runs differ).
fn interrupt_of(runs: &[Run]) -> BTreeMap<String, String> {
    let mut all: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for run in runs {
        for (runtime, mechanism) in &run.manifest.interrupt {
            all.entry(runtime.clone()).or_default().insert(mechanism.clone());
        }
    }
    all.into_iter()
        .map(|(runtime, m)| (runtime, m.into_iter().collect::<Vec<_>>().join("/")))
        .collect()
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
        interrupt: m.interrupt.clone(),
    }
}

fn group_report(key: &CellKey, g: &Gathered) -> GroupReport {
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
        runs: g.invocations.iter().map(|(run, _)| *run).collect::<BTreeSet<_>>().len(),
        between_run_cv: between_run_cv(ok.iter().map(|(run, r)| (*run, r.latency_ns as f64))),
        latency_ns: describe(&latencies),
        outliers,
        energy: channel_energy(g),
        energy_at_a_glance: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::verdict;
    use crate::stats::{Interval, RankTest, RankTestResult};
    use harness_data::Mode;

    fn comparison(metric: Metric, low: f64, high: f64, p_holm: f64) -> Comparison {
        Comparison {
            workload: "w".into(),
            input: "i".into(),
            mode: Mode::Warm,
            runtime: "r".into(),
            baseline: "b".into(),
            metric,
            unit: "invocation".into(),
            n_candidate: 30,
            n_baseline: 30,
            invocations_candidate: 30,
            invocations_baseline: 30,
            clusters_candidate: 30,
            clusters_baseline: 30,
            runs_candidate: 1,
            runs_baseline: 1,
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
            min_attainable_p: Some(1e-9),
            cliffs_delta: None,
            verdict: Verdict::Inconclusive,
            verdict_note: None,
            detectable: None,
            interrupt: None,
            flagged_candidate: BTreeMap::new(),
            flagged_baseline: BTreeMap::new(),
        }
    }

    #[test]
    fn verdicts_follow_the_interval_the_band_and_the_adjusted_p() {
        let o = ReportOptions::default();
        let energy = Metric::Energy {
            probe: "rapl".into(),
            channel: "package-0".into(),
            estimated: false,
            scope: "machine".into(),
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
}
