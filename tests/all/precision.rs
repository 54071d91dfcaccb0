//! Precision you ask for (`precision` in a plan): rounds until every interval against the baseline is narrow
//! enough, looks recorded per cell, budgets that end the rounds and say by how much they missed, and a stop
//! signal between looks that keeps every row.

use crate::common::*;
use harness_data::RunStatus;
use harness_data::precision::PrecisionStop;
use std::time::{Duration, Instant};

/// Warm fib(20) on `runtimes` against wasmtime-aot, 10 repetitions to the first look, with `keys` set.
fn plan_of(dir: &std::path::Path, runtimes: &[&str], keys: &[(&str, toml::Value)]) -> std::path::PathBuf {
    let mut plan = PlanBuilder::new()
        .seed(7)
        .repetitions(10)
        .warmup(2)
        .runtimes(runtimes)
        .modes(&["warm"])
        .set("baseline", "wasmtime-aot");
    for (key, value) in keys {
        plan = plan.set(key, value.clone());
    }
    plan.workload("fibonacci", &["20"]).write(dir, "precision.toml")
}

/// `harness report` of `run` into `out` (the plan's baseline), and its results.json.
/// wasmtime-aot against wasmi.
fn plan(dir: &std::path::Path, keys: &[(&str, toml::Value)]) -> std::path::PathBuf {
    plan_of(dir, &["wasmtime-aot", "wasmi"], keys)
}

#[test]
fn a_precision_run_stops_once_the_interval_is_narrow_and_records_every_look() {
    let dir = tempfile::tempdir().unwrap();
    // wasmi runs fib(20) about 6x slower than wasmtime-aot: +-20% comes well before 320 repetitions, even on a
    // busy machine.
    let plan = plan(
        dir.path(),
        &[("precision", 0.2.into()), ("max_repetitions", 320.into())],
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("precision: +-20.0%"), "{}", stderr(&output));
    let manifest = manifest(&run);
    let record = manifest.precision.expect("the manifest records the precision run");
    assert_eq!(record.plan.looks, vec![10, 20, 40, 80, 160, 320]);
    assert_eq!(record.level, 0.95);
    let rows = rows(&run);
    for cell in &record.cells {
        assert!(cell.met && cell.stopped == PrecisionStop::Met, "{cell:?}");
        assert!(cell.repetitions < 320, "stopped early: {cell:?}");
        let looks: Vec<u32> = cell.looks.iter().map(|l| l.repetitions).collect();
        assert!(looks.iter().all(|n| record.plan.looks.contains(n)), "{looks:?}");
        assert_eq!(*looks.last().unwrap(), cell.repetitions);
        let last = cell.looks.last().unwrap();
        assert!(last.latency_half_width.unwrap() <= 0.2, "{cell:?}");
        assert_eq!(cell.latency_half_width, last.latency_half_width);
        // The rule stops at the first look that is narrow enough.
        let wasmi = cell.runtime == "wasmi";
        if wasmi {
            for look in &cell.looks[..cell.looks.len() - 1] {
                assert!(look.latency_half_width.unwrap() > 0.2, "{cell:?}");
            }
        }
        let measured = rows.iter().filter(|r| r.runtime == cell.runtime && !r.warmup).count();
        assert_eq!(measured as u32, cell.repetitions, "one row per repetition (unbatched)");
    }
    // The report takes the plan's baseline, and shows the looks.
    let out = dir.path().join("report");
    let json = report_results(&run, &["--resamples", "200"], &out);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Baseline runtime: wasmtime-aot"), "{md}");
    assert!(md.contains("## Precision: run run"), "{md}");
    assert_eq!(json["precision"][0]["record"]["cells"].as_array().unwrap().len(), 2);
}

#[test]
fn a_time_budget_ends_the_rounds_and_strict_mode_reports_at_alpha_over_k() {
    let dir = tempfile::tempdir().unwrap();
    // +-0.1% is out of reach: the 3 s budget ends the rounds.
    let plan = plan(
        dir.path(),
        &[
            ("precision", 0.001.into()),
            ("max_repetitions", 1_000_000.into()),
            ("max_duration", "3s".into()),
            ("precision_mode", "strict".into()),
        ],
    );
    let run = dir.path().join("run");
    let started = Instant::now();
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(60));
    let record = manifest(&run).precision.unwrap();
    let k = record.plan.looks.len();
    assert_eq!(k, 18, "{:?}", record.plan.looks);
    assert!((record.level - (1.0 - 0.05 / k as f64)).abs() < 1e-12);
    for cell in &record.cells {
        assert_eq!(cell.stopped, PrecisionStop::MaxDuration, "{cell:?}");
        assert!(!cell.met && cell.missed_by.unwrap() > 0.0, "{cell:?}");
        assert!(cell.repetitions < 1_000_000);
    }
    assert!(
        stderr(&output).contains("stopped at max_duration"),
        "{}",
        stderr(&output)
    );
    let out = dir.path().join("report");
    let json = report_results(&run, &["--resamples", "200"], &out);
    let level = json["settings"]["level"].as_f64().unwrap();
    assert!((level - record.level).abs() < 1e-12, "{level}");
    assert!(json["notes"].to_string().contains("strict precision mode"));
}

#[test]
fn a_stop_signal_between_looks_keeps_every_row_and_says_where_each_cell_stood() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(
        dir.path(),
        &[("precision", 0.001.into()), ("max_repetitions", 1_000_000.into())],
    );
    let run = dir.path().join("run");
    // Past the first look (2 x 10 repetitions and 4 warm-ups): in the rounds.
    let child = spawn_measure_until(&plan, &run, 400);
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Partial, "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(manifest.recorded_invocations, rows.len() as u64);
    let record = manifest.precision.unwrap();
    for cell in &record.cells {
        assert_eq!(cell.stopped, PrecisionStop::Interrupted, "{cell:?}");
        assert!(!cell.looks.is_empty() && cell.repetitions >= 10, "{cell:?}");
        let measured = rows.iter().filter(|r| r.runtime == cell.runtime && !r.warmup).count() as u32;
        assert_eq!(measured, cell.repetitions, "{cell:?}");
    }
}

#[test]
fn two_arms_of_one_runtime_come_out_equivalent_or_inconclusive_with_what_they_could_detect() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_of(
        dir.path(),
        &["wasmtime-aot", "wasmtime-aot:b"],
        &[("precision", 0.05.into()), ("max_repetitions", 160.into())],
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert_eq!(manifest.plan.arms, vec!["wasmtime-aot", "wasmtime-aot:b"]);
    assert!(rows(&run).iter().any(|r| r.runtime == "wasmtime-aot:b"));
    let out = dir.path().join("report");
    let json = report_results(&run, &["--resamples", "500"], &out);
    let comparison = &json["comparisons"][0];
    assert_eq!(comparison["runtime"], "wasmtime-aot:b");
    let verdict = comparison["verdict"].as_str().unwrap();
    let ratio = comparison["ratio_of_medians"]["estimate"].as_f64().unwrap();
    match verdict {
        "equivalent" => {}
        "inconclusive" => assert!(
            comparison["detectable"]["min_effect_pct"].as_f64().unwrap() > 0.0,
            "an inconclusive verdict states what it could have detected: {comparison}"
        ),
        // Two instances of one engine may differ a little for real (code and heap placement), and a test at
        // alpha calls chance differences significant 5% of the time; neither is a difference of runtimes.
        _ => assert!((0.95..=1.05).contains(&ratio), "{comparison}"),
    }
}
