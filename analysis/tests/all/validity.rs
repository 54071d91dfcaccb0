//! The report's statistics on the unit that was sampled (batches, windows, runs) and its handling of energy it
//! must not use. Reference values for the exact Mann-Whitney are computed here by enumerating every rank
//! arrangement, independently of the implementation's recurrence.

use crate::common::paired_from;
use harness_analysis::report::model::{Metric, Report, Verdict};
use harness_analysis::report::render::render_markdown;
use harness_analysis::report::{ReportOptions, build_report};
use harness_analysis::run::Run;
use harness_analysis::stats::mann_whitney::{mann_whitney, min_attainable_p};
use harness_data::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every way to choose which k of n ranked positions belong to the first sample.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    fn go(start: usize, n: usize, k: usize, current: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if current.len() == k {
            out.push(current.clone());
            return;
        }
        for i in start..n {
            current.push(i);
            go(i + 1, n, k, current, out);
            current.pop();
        }
    }
    let mut out = Vec::new();
    go(0, n, k, &mut Vec::new(), &mut out);
    out
}

/// U of the first sample when it holds ranked positions `picked` (0-based, no ties).
fn u_of(picked: &[usize]) -> usize {
    picked.iter().enumerate().map(|(i, &p)| p - i).sum()
}

/// Two-sided exact p by enumeration, as SciPy: 2 * P(U >= max(U1, n1 n2 - U1)), at most 1.
fn enumerated_p(x: &[f64], y: &[f64]) -> f64 {
    let (n1, n2) = (x.len(), y.len());
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let observed: Vec<usize> = (0..all.len()).filter(|&i| all[i].1).collect();
    let u1 = u_of(&observed);
    let u = u1.max(n1 * n2 - u1);
    let arrangements = combinations(n1 + n2, n1);
    let extreme = arrangements.iter().filter(|c| u_of(c) >= u).count();
    (2.0 * extreme as f64 / arrangements.len() as f64).min(1.0)
}

#[test]
fn exact_mann_whitney_matches_enumeration_and_scipy() {
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    // scipy.stats.mannwhitneyu(x, y) (method="auto" is exact here).
    let p = mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap().p_value;
    assert!(close(p, 0.1), "{p}");
    let p = mann_whitney(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0])
        .unwrap()
        .p_value;
    assert!(close(p, 0.028_571_428_571_428_57), "{p}");
    let cases: Vec<(Vec<f64>, Vec<f64>)> = vec![
        (vec![1.0, 3.0, 5.0], vec![2.0, 4.0, 6.0, 7.0]),
        (vec![8.0, 1.5, 9.0, 2.5], vec![3.0, 4.0, 10.0, 11.0, 0.5]),
        // One side small, the other past 8: still exact, as SciPy's "auto".
        (
            (0..3).map(|i| 10.0 + i as f64 * 7.3).collect(),
            (0..20).map(|i| i as f64 * 1.9).collect(),
        ),
        (
            vec![100.0, 101.0],
            (0..15).map(|i| 90.0 + i as f64).map(|v| v + 0.5).collect(),
        ),
    ];
    for (x, y) in &cases {
        let expected = enumerated_p(x, y);
        let got = mann_whitney(x, y).unwrap().p_value;
        assert!(close(got, expected), "{x:?} vs {y:?}: {got} vs {expected}");
        let swapped = mann_whitney(y, x).unwrap().p_value;
        assert!(close(swapped, expected), "symmetric: {swapped} vs {expected}");
    }
    // [1, 3, 5] vs [2, 4, 6, 7]: U1 = 3 of 12. U over the 35 arrangements counts 1 1 2 3 4 4 5 4 4 3 2 1 1
    // (U = 0..=12), so 2 * P(U >= 9) = 2 * 7/35.
    assert!(close(enumerated_p(&cases[0].0, &cases[0].1), 14.0 / 35.0));
}

#[test]
fn four_against_four_never_goes_below_two_seventieths() {
    let floor = 2.0 / 70.0;
    assert!((min_attainable_p(4, 4) - floor).abs() < 1e-15);
    // Every arrangement of 4 against 4 distinct values.
    for picked in combinations(8, 4) {
        let x: Vec<f64> = picked.iter().map(|&i| i as f64).collect();
        let y: Vec<f64> = (0..8).filter(|i| !picked.contains(i)).map(|i| i as f64).collect();
        let p = mann_whitney(&x, &y).unwrap().p_value;
        assert!(p >= floor - 1e-15, "{x:?} vs {y:?}: p = {p}");
    }
    // Through the report: 4 batches a side of 100 invocations, the candidate 5x slower. Per invocation that
    // would be 400 vs 400 and p ~ 1e-130; per batch it is the floor.
    let report = report_of(&[batched_run("r", 4, 100, 0.01, 5.0, 1)], 0.05);
    let c = &report.comparisons[0];
    assert_eq!((c.n_candidate, c.n_baseline, c.unit.as_str()), (4, 4, "batch"));
    assert_eq!((c.invocations_candidate, c.invocations_baseline), (400, 400));
    let p = c.test.unwrap().p_value;
    assert!((p - floor).abs() < 1e-12, "{p}");
    assert_eq!(c.verdict, Verdict::Slower, "2/70 < 0.05 with one test in the family");
    assert_eq!(c.verdict_note, None);
}

#[test]
fn too_few_batches_say_why_the_verdict_is_inconclusive() {
    // 3 batches a side: complete separation gives p = 2/20 = 0.1, above alpha before Holm even starts.
    let report = report_of(&[batched_run("r", 3, 50, 0.01, 5.0, 1)], 0.05);
    let c = &report.comparisons[0];
    assert_eq!(c.verdict, Verdict::Inconclusive);
    assert_eq!(c.min_attainable_p, Some(0.1));
    let note = c.verdict_note.as_deref().unwrap();
    assert!(
        note.starts_with("inconclusive: 3 batches per side cannot reach alpha 0.05"),
        "{note}"
    );
    let md = render_markdown(&report);
    assert!(md.contains("inconclusive: 3 batches per side"), "{md}");
    assert!(md.contains("3 vs 3 batches"), "{md}");
    // No effect is detectable when the counts cannot reach alpha: the note says so, and no MDE is given.
    assert_eq!(c.detectable, None);
}

#[test]
fn an_inconclusive_verdict_says_what_its_data_could_have_detected() {
    // 12 batches a side, a 1% difference under 20% batch-to-batch spread: a wide interval, no verdict.
    let report = report_of(&[batched_run("r", 12, 20, 0.2, 1.01, 3)], 0.05);
    let c = &report.comparisons[0];
    assert_eq!(c.verdict, Verdict::Inconclusive);
    assert_eq!(c.verdict_note, None);
    // From the interval's width, at the Holm-adjusted alpha (one test: 0.05) and 80% power.
    let d = c
        .detectable
        .as_ref()
        .expect("an inconclusive verdict with an interval states its MDE");
    assert_eq!((d.alpha, d.power, d.target_pct), (0.05, 0.8, 2.0));
    let r = c.ratio_of_medians.unwrap();
    let half_width = (r.ci_high.ln() - r.ci_low.ln()) / 2.0;
    let expected = ((1.959_964 + 0.841_621) * half_width / 1.959_964).exp_m1() * 100.0;
    assert!((d.min_effect_pct - expected).abs() < 1e-3, "{d:?} vs {expected}");
    // The interval is wider than +-2%: more batches are needed, about (width / ln 1.02)^2 - 1 times the 24.
    let growth = (half_width / 1.02f64.ln()).powi(2);
    assert!(growth > 1.0, "{r:?}");
    assert_eq!(d.more_units, (24.0 * (growth - 1.0)).ceil() as u64);
    let md = render_markdown(&report);
    let line = format!(
        "inconclusive: could detect +-{:.1}% (alpha 0.05 after Holm, 80% power); about {} more batches would \
         resolve +-2%",
        d.min_effect_pct, d.more_units
    );
    assert!(md.contains(&line), "{line}\n{md}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["comparisons"][0]["detectable"]["more_units"], d.more_units);
}

/// Lognormal-ish factor: exp(sigma * z), z standard normal (Box-Muller).
fn lognormal(rng: &mut ChaCha8Rng, sigma: f64) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    (sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()).exp()
}

#[test]
fn batch_to_batch_spread_without_a_difference_is_rejected_at_most_at_alpha() {
    // 5 batches x 200 invocations a side, 3% spread between batches, 2% within, no true difference.
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let trials = 200;
    let (mut report_rejects, mut per_invocation_rejects) = (0, 0);
    for trial in 0..trials {
        let run = null_run(&mut rng, trial);
        // The interval plays no part in the test: few resamples keep the 200 reports quick.
        let options = ReportOptions {
            baseline: "native".into(),
            resamples: 10,
            ..ReportOptions::default()
        };
        let report = build_report(std::slice::from_ref(&run), &options).unwrap();
        let c = &report.comparisons[0];
        assert_eq!((c.n_candidate, c.n_baseline), (5, 5));
        if c.p_holm.unwrap() < 0.05 {
            report_rejects += 1;
        }
        // What the report did before: every invocation as an independent value.
        let side = |runtime: &str| -> Vec<f64> {
            run.invocations
                .iter()
                .filter(|r| r.runtime == runtime && !r.warmup)
                .map(|r| r.latency_ns as f64)
                .collect()
        };
        if mann_whitney(&side("wasmi"), &side("native")).unwrap().p_value < 0.05 {
            per_invocation_rejects += 1;
        }
    }
    let rate = report_rejects as f64 / trials as f64;
    let naive = per_invocation_rejects as f64 / trials as f64;
    eprintln!("false rejections: per batch {rate}, per invocation {naive}");
    assert!(rate <= 0.08, "false rejections per batch: {rate}");
    assert!(
        naive > 0.5,
        "the simulation must show the per-invocation test's problem: {naive}"
    );
}

fn null_run(rng: &mut ChaCha8Rng, trial: usize) -> Run {
    let mut rows = Vec::new();
    for runtime in ["native", "wasmi"] {
        for batch in 0..5u64 {
            let level = 1_000_000.0 * lognormal(rng, 0.03);
            for _ in 0..200 {
                let latency = (level * lognormal(rng, 0.02)) as u64;
                rows.push(invocation(runtime, rows.len() as u64, Some(batch), latency));
            }
        }
    }
    run_of(&format!("trial-{trial}"), rows, None, 1)
}

#[test]
fn several_runs_resample_runs_and_report_their_spread() {
    // Two runs whose levels differ by 20%: pooled, the interval would be narrow around a mixture.
    let one = report_of(&[batched_run("day-1", 8, 20, 0.01, 1.0, 1)], 0.05);
    let runs = [
        batched_run("day-1", 8, 20, 0.01, 1.0, 1),
        batched_run("day-2", 8, 20, 0.01, 1.2, 2),
    ];
    let two = report_of(&runs, 0.05);
    let wasmi = |r: &Report| r.groups.iter().find(|g| g.key.runtime == "wasmi").cloned().unwrap();
    assert_eq!((wasmi(&one).runs, wasmi(&one).between_run_cv), (1, None));
    let cv = wasmi(&two).between_run_cv.unwrap();
    // Per-run medians ~1.0e6 and ~1.2e6: CV = sd / mean = (0.2 / sqrt 2) / 1.1.
    assert!((cv - 0.2 / 2f64.sqrt() / 1.1).abs() < 0.02, "{cv}");
    let c = &two.comparisons[0];
    assert_eq!((c.runs_candidate, c.runs_baseline, c.n_candidate), (2, 2, 16));
    let width = |r: &Report| {
        let i = r.comparisons[0].ratio_of_medians.unwrap();
        i.ci_high - i.ci_low
    };
    assert!(width(&two) > 3.0 * width(&one), "{} vs {}", width(&two), width(&one));
    assert!(
        one.notes.iter().any(|n| n.contains("within-run variation only")),
        "{:?}",
        one.notes
    );
    assert!(
        !two.notes.iter().any(|n| n.contains("within-run variation only")),
        "{:?}",
        two.notes
    );
    assert!(render_markdown(&one).contains("One run: these intervals cover within-run variation only."));
    let md = render_markdown(&two);
    assert!(md.contains("between-run CV"), "{md}");
}

#[test]
fn flagged_energy_is_counted_named_and_never_compared() {
    let mut run = batched_run("r", 10, 1, 0.01, 1.0, 1);
    run.manifest.interrupt = [
        ("wasmi".to_string(), "fuel".to_string()),
        ("native".to_string(), "none".to_string()),
    ]
    .into();
    let mut paired = Vec::new();
    for r in run.invocations.iter().filter(|r| !r.warmup) {
        let (flag, quality, busy_share) = match (r.runtime.as_str(), r.sequence % 10) {
            // The harness-scoped model cannot see wasmi's work here: every wasmi row is unseen.
            ("wasmi", _) => (Some(EnergyFlag::Unseen), EnergyQuality::Estimated, Some(1.0)),
            ("native", 3) => (Some(EnergyFlag::LowBusyShare), EnergyQuality::Estimated, Some(0.5)),
            ("native", 4) => (None, EnergyQuality::BelowResolution, Some(1.0)),
            _ => (None, EnergyQuality::Estimated, Some(1.0)),
        };
        paired.push(paired_row(r, flag, quality, busy_share));
    }
    run.paired = Some(paired);
    let report = report_of(&[run], 0.05);
    let native = report.groups.iter().find(|g| g.key.runtime == "native").unwrap();
    let e = &native.energy[0];
    assert_eq!(e.scope, "harness");
    assert!(e.estimated);
    assert_eq!(e.flagged.get("low_busy_share"), Some(&1));
    assert_eq!(e.used, 8, "10 rows, one flagged, one below resolution");
    assert_eq!(e.gross_j.as_ref().unwrap().n, 8);
    // The low busy-share row has a large energy: it must not pull the median.
    assert!(e.gross_j.as_ref().unwrap().max < 1.0);
    let energy = report
        .comparisons
        .iter()
        .find(|c| matches!(c.metric, Metric::Energy { .. }))
        .unwrap();
    assert!(matches!(&energy.metric, Metric::Energy { scope, .. } if scope == "harness"));
    assert_eq!(energy.n_candidate, 0);
    assert!(energy.test.is_none());
    assert_eq!(energy.verdict, Verdict::Inconclusive);
    assert_eq!(energy.flagged_candidate.get("unseen"), Some(&10));
    let note = energy.verdict_note.as_deref().unwrap();
    assert!(
        note.contains("energy left out: wasmi rows flagged (10 unseen)"),
        "{note}"
    );
    assert!(
        report.notes.iter().any(
            |n| n.contains("energy of wasmi on model/cpu (estimated) left out of comparisons")
                && n.contains("harness-scoped channel cannot see its work")
        ),
        "{:?}",
        report.notes
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("1 batch window with busy share under 0.9")),
        "{:?}",
        report.notes
    );
    // Interrupt mechanisms: in the run table and on every comparison involving wasmi.
    assert!(
        report
            .comparisons
            .iter()
            .all(|c| c.interrupt.as_deref() == Some("wasmi: fuel, native: none"))
    );
    let md = render_markdown(&report);
    assert!(md.contains("| native none, wasmi fuel |"), "{md}");
    assert!(md.contains("wasmi: fuel, native: none"), "{md}");
    assert!(md.contains("model/cpu (estimated) [harness]"), "{md}");
}

fn paired_row(
    r: &InvocationRecord,
    flag: Option<EnergyFlag>,
    quality: EnergyQuality,
    busy_share: Option<f64>,
) -> PairedRecord {
    let watts = if flag == Some(EnergyFlag::LowBusyShare) {
        1e6
    } else {
        20.0
    };
    PairedRecord {
        uncertainty_j: None,
        quality,
        estimated: true,
        scope: harness_data::Scope::Harness,
        busy_share,
        flag,
        ..paired_from(r, "model", "cpu", watts, 4.0)
    }
}

fn report_of(runs: &[Run], alpha: f64) -> Report {
    let options = ReportOptions {
        baseline: "native".into(),
        resamples: 200,
        alpha,
        ..ReportOptions::default()
    };
    build_report(runs, &options).unwrap()
}

/// `batches` batches of `size` warm invocations per runtime (batch size 1: unbatched); wasmi is `factor` times
/// slower, and batch levels spread by `spread`.
fn batched_run(name: &str, batches: u64, size: u64, spread: f64, factor: f64, seed: u64) -> Run {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::new();
    for (runtime, scale) in [("native", 1.0), ("wasmi", factor)] {
        for batch in 0..batches {
            let level = 1_000_000.0 * lognormal(&mut rng, spread);
            for _ in 0..size {
                let latency = (scale * level * lognormal(&mut rng, 0.005)) as u64;
                let batch = (size > 1).then_some(batch);
                rows.push(invocation(runtime, rows.len() as u64, batch, latency));
            }
        }
    }
    // Runs of one plan differ only in their seed.
    run_of(name, rows, None, seed)
}

fn invocation(runtime: &str, sequence: u64, batch: Option<u64>, latency_ns: u64) -> InvocationRecord {
    InvocationRecord {
        workload: "fibonacci".into(),
        input: "25".into(),
        runtime: runtime.into(),
        mode: Mode::Warm,
        iteration: sequence as u32 + 1,
        warmup: false,
        sequence,
        batch,
        start_ns: 10_000_000 * sequence,
        end_ns: 10_000_000 * sequence + latency_ns,
        latency_ns,
        startup_ns: None,
        compile_ns: None,
        instantiate_ns: None,
        input_ns: None,
        execute_ns: Some(latency_ns),
        output_ns: None,
        input_bytes: 2,
        output_bytes: 5,
        status: Status::Ok,
        digest: "abcdef0123456789".into(),
        error: String::new(),
    }
}

fn run_of(name: &str, invocations: Vec<InvocationRecord>, paired: Option<Vec<PairedRecord>>, seed: u64) -> Run {
    let plan = serde_json::json!({"seed": seed, "repetitions": 0, "runtimes": ["native", "wasmi"],
        "modes": ["warm"], "workloads": [{"name": "fibonacci", "inputs": ["25"]}]});
    let n = invocations.len() as u64;
    Run {
        dir: format!("runs/{name}").into(),
        name: name.into(),
        manifest: Manifest {
            format_version: 1,
            harness_version: "0.1.0".into(),
            status: RunStatus::Complete,
            status_reason: None,
            seed,
            anchor: Anchor {
                monotonic_ns: 0,
                unix_ns: 1_763_856_000_000_000_000,
                uncertainty_ns: 100,
            },
            started_unix_ns: 1_763_856_000_000_000_000,
            finished_unix_ns: None,
            host: HostFingerprint {
                hostname: "lab".into(),
                ..Default::default()
            },
            engines: Default::default(),
            artifacts: Default::default(),
            plan: serde_json::from_value(plan).unwrap(),
            scheduled_invocations: n,
            recorded_invocations: n,
            probes: vec![],
            energy_estimated: false,
            batching: vec![],
            baseline_before_ns: None,
            baseline_after_ns: None,
            baseline_load_before: None,
            baseline_load_after: None,
            calibration_busy_ns: vec![],
            interrupt: Default::default(),
            stack: Default::default(),
            serving: Default::default(),
            serving_shape: Default::default(),
            precision: None,
            exec: None,
            browsers: Default::default(),
            skipped: Default::default(),
        },
        invocations,
        paired,
        load: Vec::new(),
        notes: Vec::new(),
    }
}
