//! Foreign load: an idle baseline taken while another process keeps the machine busy is not the machine's idle
//! power. A model-probe run beside a CPU hog (one busy-loop `sh` per core, children of this test, not of the
//! harness) records the busy CPU of its idle spans in the manifest, flags the channel's baseline and its paired
//! rows `busy_baseline`, keeps their gross energy, and its terminal summary and report say why net is left out.

use crate::common::machine::alone;
use crate::common::*;
use harness_data::EnergyFlag;
use std::process::{Child, Command, Stdio};

/// One busy-loop shell per core, killed (and reaped) when dropped, also when the test fails.
struct Hog(Vec<Child>);

impl Hog {
    fn start() -> Hog {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Hog((0..cores)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("sh")
            })
            .collect())
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_model_run_beside_a_cpu_hog_flags_its_baseline_busy_and_keeps_gross_energy() {
    // The hog would also load every other test's run: this one takes the machine alone.
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(5)
        .repetitions(3)
        .warmup(1)
        .baseline_ms(300)
        .runtimes(&["wasmtime-aot", "native"])
        .modes(&["cold", "warm"])
        .workload("fibonacci", &["25"])
        .probe(Probe::new("model"))
        .write(dir.path(), "hog.toml");
    let run = dir.path().join("run");
    let output = {
        let _hog = Hog::start();
        measure(&plan, &run)
    };
    assert!(output.status.success(), "{}", stderr(&output));

    let manifest = manifest(&run);
    let before = manifest
        .baseline_load_before
        .clone()
        .expect("the span before has its busy CPU");
    let after = manifest
        .baseline_load_after
        .clone()
        .expect("the span after has its busy CPU");
    for load in [&before, &after] {
        assert!(load.is_busy() && load.foreign_cores > 0.5, "{load:?}");
        assert!(
            load.machine_cores >= load.foreign_cores && load.harness_cores < 0.5,
            "{load:?}"
        );
        assert_eq!(load.source, "/proc/stat");
    }
    let baseline = &manifest.probes[0].baselines["cpu-estimate"];
    let why = baseline.busy_baseline.as_deref().expect("the baseline is flagged");
    assert!(why.contains("other processes kept"), "{why}");
    let paired = paired(&run);
    assert!(!paired.is_empty());
    // Every row is flagged (a batch window the hog preempted may be flagged low_busy_share first).
    for p in &paired {
        assert!(
            matches!(p.flag, Some(EnergyFlag::BusyBaseline | EnergyFlag::LowBusyShare)),
            "{p:?}"
        );
    }
    assert!(paired.iter().any(|p| p.flag == Some(EnergyFlag::BusyBaseline)));
    // Gross energy stays: every row that resolved still has its figure, and the net one is written, flagged.
    assert!(paired.iter().any(|p| p.gross_j.is_some() && p.net_j.is_some()));

    // The terminal summary shows no net figure from it, and says why.
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains("net energy on model/cpu-estimate (estimated) left out of comparisons (busy_baseline)"),
        "{summary}"
    );
    // The report keeps gross comparisons, leaves net out, and says why.
    let report = dir.path().join("report");
    let output = harness()
        .args(["report", "--baseline", "native", "--out"])
        .arg(&report)
        .arg(&run)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let markdown = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(
        markdown.contains("left out of comparisons (busy_baseline): other processes kept"),
        "{markdown}"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("results.json")).unwrap()).unwrap();
    let energy: Vec<&serde_json::Value> = results["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["energy"].as_array().unwrap())
        .collect();
    assert!(!energy.is_empty());
    assert!(energy.iter().all(|e| e["net_j"].is_null()), "{energy:?}");
    assert!(energy.iter().any(|e| !e["gross_j"].is_null()), "{energy:?}");
}
