//! Lab-device probes end to end: Jetson rails from a fake JetPack 5 tree, NVML's absence, and delay
//! calibration recovering a delay injected into a replayed trace.

use crate::common::*;
use harness_data::{EnergyQuality, PairedRecord, RunStatus};
use harness_probes::testing::FakeJetson;

#[test]
fn harness_probes_lists_jetpack5_rails_with_units_and_nvml_status() {
    let fake = FakeJetson::orin_nx();
    let output = harness()
        .args(["probes", "--sysfs-root"])
        .arg(fake.root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(text.contains("jetson: available"), "{text}");
    for rail in ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"] {
        assert!(
            text.lines()
                .any(|l| l.contains(rail) && l.contains("mW") && l.contains("Power")),
            "{rail}: {text}"
        );
    }
    assert!(
        text.contains("total input rail: VDD_IN") && text.contains("hwmon (ina3221, JetPack 5 and later)"),
        "{text}"
    );
    // This machine (and CI) has no NVIDIA driver: NVML says so instead of failing.
    assert!(
        text.contains("nvml: not available") || text.contains("nvml: available"),
        "{text}"
    );
}

#[test]
fn a_run_on_jetson_rails_attributes_their_power() {
    // Its windows are ~10 ms against a 1 ms rail: a sampler starved by another test's containers or builds
    // leaves a window without a sample (a gap), so it runs with the machine to itself.
    let _alone = crate::common::machine::alone();
    let fake = FakeJetson::orin_nx();
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(4)
        .repetitions(4)
        .warmup(0)
        .baseline_ms(200)
        .runtimes(&["native"])
        .modes(&["cold"])
        .workload("fibonacci", &["31"])
        .probe(
            Probe::new("jetson")
                .path("sysfs_root", fake.root())
                .set("interval_ms", 2),
        )
        .write(dir.path(), "jetson.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert!(
        manifest.probes[0]
            .notes
            .iter()
            .any(|n| n.contains("update_interval = 1"))
    );
    let vdd_in: Vec<PairedRecord> = paired(&run).into_iter().filter(|p| p.channel == "VDD_IN").collect();
    assert_eq!(vdd_in.len(), 4);
    for p in &vdd_in {
        // 5080 mV x 1234 mA, constant: every window's mean power is exactly that.
        assert_eq!(p.quality, EnergyQuality::Ok, "{p:?}");
        assert!((p.power_w.unwrap() - 6.26872).abs() < 1e-9, "{p:?}");
        assert!(p.net_j.unwrap().abs() < 1e-9, "idle draws the same: net 0");
    }
}

#[test]
fn calibration_recovers_a_delay_injected_into_a_replayed_trace() {
    // A 10 Hz meter trace that shows the calibration pattern 300 ms late: 2 W idle, 9 W while busy.
    let (unit, delay, period) = (100_000_000u64, 300_000_000u64, 100_000_000u64);
    let busy = harness_analysis::calibrate::pattern_spans(0, unit, 6);
    let end = busy.last().unwrap()[1] + 8_000_000_000;
    let mut trace = String::from("probe,channel,t_ns,value,unit,kind\n");
    for k in 0..end / period {
        let t = k * period;
        let seen = t.saturating_sub(delay);
        let watts = if busy.iter().any(|[a, b]| seen >= *a && seen < *b) {
            9.0
        } else {
            2.0
        };
        trace += &format!("meter,usb,{t},{watts},W,power\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("trace.csv");
    std::fs::write(&trace_path, trace).unwrap();
    let plan = PlanBuilder::new()
        .seed(4)
        .repetitions(2)
        .warmup(0)
        .baseline_ms(200)
        .set("calibrate_delay", true)
        .runtimes(&["native"])
        .modes(&["cold"])
        .workload("noop", &["0"])
        .probe(
            Probe::new("replay")
                .path("path", &trace_path)
                .set("align", "start")
                .set("interval_ms", 20),
        )
        .write(dir.path(), "calibrate.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("calibration: replay: delay"),
        "{}",
        stderr(&output)
    );
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    assert_eq!(manifest.calibration_busy_ns.len(), 6);
    let measured = manifest.probes[0].delay_ns.expect("a delay was measured");
    assert!(
        (measured - delay as i64).unsigned_abs() <= period,
        "injected {delay} ns, measured {measured} ns"
    );
}
