//! Cold starts in joules: cold batch windows of K complete cold starts, teardown kept out of the window, against
//! a fake 1 ms powercap counter whose power is known at every instant, and a 1 Hz USB meter emulator.

use crate::common::*;
use harness_data::{EnergyQuality, Mode, PairedRecord, RunStatus, Teardown};
use harness_probes::testing::{FakePowercap, PowerWave};
use std::collections::BTreeMap;

const ALL_RUNTIMES: [&str; 7] = [
    "native",
    "container",
    "wasmtime-jit",
    "wasmtime-aot",
    "wasmi",
    "node-wasm",
    "node-js",
];

const IN_PROCESS: [&str; 3] = ["wasmtime-jit", "wasmtime-aot", "wasmi"];

/// 10 W and 40 W alternating every 50 ms: a window's edges rarely fall on a step, and when one does the
/// interpolation between 1 ms samples is off by at most what the stated uncertainty allows.
const WAVE: PowerWave = PowerWave {
    low_w: 10.0,
    high_w: 40.0,
    half_period_ns: 50_000_000,
};

#[test]
fn cold_windows_give_every_runtime_energy_per_cold_start_on_a_1ms_counter() {
    // The counter's driver thread must not be starved by other tests: a stalled driver is a stalled counter,
    // which no real RAPL counter does, and the true integral would no longer be what the counter holds.
    let _alone = crate::common::machine::alone();
    let fake = FakePowercap::new();
    fake.zone("intel-rapl:0", "package-0", 262_143_328_850, 0);
    let driver = fake.drive_wave("intel-rapl:0", WAVE, 100);
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(20)
        .repetitions(10)
        .warmup(1)
        .baseline_ms(200)
        .runtimes(&ALL_RUNTIMES)
        .modes(&["cold", "warm"])
        .workload("noop", &["0"])
        .workload("fibonacci", &["25"])
        .probe(Probe::new("rapl").path("sysfs_root", fake.root()).set("interval_ms", 1))
        .write(dir.path(), "cold.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);

    // Every cold cell has a cold window plan with its teardown; in-process engines, node and containers defer
    // it, a one-shot native process's exit is part of it.
    let cold_plans: Vec<_> = manifest.batching.iter().filter(|b| b.mode == Mode::Cold).collect();
    assert_eq!(cold_plans.len(), 2 * ALL_RUNTIMES.len(), "{:?}", manifest.batching);
    for plan in &cold_plans {
        let expected = if plan.runtime == "native" {
            Teardown::InWindow
        } else {
            Teardown::Deferred
        };
        assert_eq!(plan.teardown, Some(expected), "{plan:?}");
        assert!(!plan.teardown_note.is_empty());
        assert_eq!(plan.target_window_ns, 20_000_000);
    }
    // Sub-millisecond cold starts are measured many to a window.
    let aot_noop = cold_plans
        .iter()
        .find(|b| b.runtime == "wasmtime-aot" && b.workload == "noop")
        .unwrap();
    assert!(aot_noop.batch_size >= 5, "{aot_noop:?}");

    let package: Vec<PairedRecord> = paired(&run)
        .into_iter()
        .filter(|p| p.channel == "package-0" && p.mode == Mode::Cold)
        .collect();
    let mut cells: BTreeMap<(String, String), Vec<&PairedRecord>> = BTreeMap::new();
    for p in &package {
        cells
            .entry((p.workload.clone(), p.runtime.clone()))
            .or_default()
            .push(p);
    }
    assert_eq!(cells.len(), 2 * ALL_RUNTIMES.len());
    let mut errors = Vec::new();
    for ((workload, runtime), units) in &cells {
        assert_eq!(units.len(), 10, "{workload} {runtime}: one row per sampled unit");
        let resolved = units.iter().filter(|p| p.quality == EnergyQuality::Ok).count();
        assert!(
            resolved >= 9,
            "{workload} {runtime}: {resolved} of 10 windows have energy: {:?}",
            units
                .iter()
                .map(|p| (p.quality, p.count, p.samples, p.window_end_ns - p.window_start_ns))
                .collect::<Vec<_>>()
        );
        let plan = cold_plans
            .iter()
            .find(|b| &b.workload == workload && &b.runtime == runtime)
            .unwrap();
        for p in units {
            assert_eq!(p.teardown, plan.teardown, "{p:?}");
            assert_eq!(p.count, plan.batch_size, "{p:?}");
            if IN_PROCESS.contains(&runtime.as_str()) && p.count > 1 {
                // The time between cold starts is the harness's, and counts against it.
                assert!(p.busy_share.unwrap() >= 0.9, "{p:?}");
            }
            if p.quality != EnergyQuality::Ok {
                continue;
            }
            // Energy per cold start = window energy / K, against the true integral of the known wave.
            let truth = driver.true_energy_j(p.window_start_ns, p.window_end_ns) / f64::from(p.count);
            let gross = p.gross_j.unwrap();
            let error = (gross - truth).abs();
            assert!(
                error <= p.uncertainty_j.unwrap() + 0.01 * truth,
                "{workload} {runtime}: {gross} J per cold start, truly {truth} J, stated uncertainty {:?}",
                p.uncertainty_j
            );
            errors.push(error / truth);
        }
    }
    errors.sort_by(f64::total_cmp);
    let median_error = errors[errors.len() / 2];
    eprintln!(
        "relative error per cold start: median {median_error:.5}, max {:.5}",
        errors.last().unwrap()
    );
    assert!(median_error < 0.01, "median relative error {median_error}");

    // The cold premium: every runtime has one (native noop's warm call, 0.1 us, cannot fill a window even
    // 10,000 at a time, so its warm side is flagged and it has none), with its interval.
    let report = dir.path().join("report");
    let output = harness()
        .args(["report"])
        .arg(&run)
        .args(["--baseline", "native", "--out"])
        .arg(&report)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("results.json")).unwrap()).unwrap();
    let premiums = results["cold_premium"].as_array().unwrap();
    for workload in ["noop", "fibonacci"] {
        for runtime in ALL_RUNTIMES {
            let row = premiums
                .iter()
                .find(|p| p["workload"] == workload && p["runtime"] == runtime)
                .unwrap_or_else(|| panic!("no cold premium row for {workload} {runtime}"));
            let premium = &row["premium_j"];
            eprintln!(
                "cold premium {workload} {runtime}: cold {} J, premium {} J [{}, {}], K = {}",
                row["cold"]["figure"]["estimate"],
                premium["estimate"],
                premium["ci_low"],
                premium["ci_high"],
                cold_plans
                    .iter()
                    .find(|b| b.workload == workload && b.runtime == runtime)
                    .unwrap()
                    .batch_size
            );
            if (workload, runtime) != ("noop", "native") {
                assert!(premium["estimate"].is_f64(), "{row}");
                assert!(premium["ci_low"].as_f64() <= premium["ci_high"].as_f64(), "{row}");
            }
        }
    }
}

#[test]
fn a_1hz_usb_meter_gives_container_cold_starts_a_figure() {
    let meter = um25c();
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(3)
        .repetitions(2)
        .warmup(0)
        .baseline_ms(1500)
        .runtimes(&["container"])
        .modes(&["cold"])
        .workload("noop", &["0"])
        .probe(um25c_probe(meter.path(), Some(1000)))
        .write(dir.path(), "meter.toml");
    let run = dir.path().join("run");
    let child = spawn_measure(&plan, &run, &[]);
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    let cold = &manifest.batching[0];
    assert_eq!((cold.mode, cold.teardown), (Mode::Cold, Some(Teardown::Deferred)));
    // A 20 s window (20 updates of a 1 Hz meter) of container cold starts of ~0.1-0.3 s each.
    assert!(cold.batch_size > 10, "{cold:?}");
    let paired = paired(&run);
    assert_eq!(paired.len(), 2, "{paired:?}");
    for p in &paired {
        assert_um25c_window_split(p);
        assert_eq!(p.teardown, Some(Teardown::Deferred));
        let window_s = (p.window_end_ns - p.window_start_ns) as f64 * 1e-9;
        assert!(window_s > 2.0, "{window_s} s");
    }
    // Every cold container kept past its window was removed.
    assert_none_left(pid, std::time::Duration::from_secs(20));
}
