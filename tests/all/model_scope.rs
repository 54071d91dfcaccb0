//! What the CPU-time model sees, on this machine's real cgroups, node and Docker engine: with the default
//! `machine` scope, warm node-js and container invocations cost about as much energy per busy second as
//! wasmtime-aot (a package sensor would say the same); with `scope = "harness"` the daemon's share of a
//! container is not seen, so its rows are flagged and left out of comparisons. Also: the baseline before the
//! run exists, including in a run stopped by Ctrl-C, and replays of a model trace stay estimated.

// The machine scope counts every process on the machine, this binary's other tests included: these run alone.
use crate::common::machine::alone;
use crate::common::*;
use harness_data::{EnergyFlag, PairedRecord, RunStatus};
use std::collections::BTreeMap;
use std::path::Path;

fn plan(dir: &Path, runtimes: &[&str], scope: &str, repetitions: u32) -> std::path::PathBuf {
    PlanBuilder::new()
        .seed(3)
        .repetitions(repetitions)
        .warmup(1)
        .baseline_ms(300)
        .runtimes(runtimes)
        .modes(&["warm"])
        .timeout_ms(30000)
        .workload("fibonacci", &["27"])
        .probe(Probe::new("model").set("scope", scope))
        .write(dir, "scope.toml")
}

/// Median energy (`energy` of a row: gross or net, J per invocation) per busy second, in W, of each runtime's
/// usable rows.
fn watts(paired: &[PairedRecord], energy: impl Fn(&PairedRecord) -> Option<f64>) -> BTreeMap<String, f64> {
    let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // Rows flagged busy_baseline keep their gross figure (only their baseline is in doubt).
    for p in paired.iter().filter(|p| p.flag.is_none_or(|f| f.keeps_gross())) {
        if let Some(joules) = energy(p) {
            by.entry(p.runtime.clone())
                .or_default()
                .push(joules / (p.latency_ns * 1e-9));
        }
    }
    by.into_iter()
        .map(|(r, mut v)| {
            v.sort_by(f64::total_cmp);
            (r, v[v.len() / 2])
        })
        .collect()
}

#[test]
fn the_machine_scope_sees_node_servers_and_containers() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = measure(
        &plan(dir.path(), &["wasmtime-aot", "node-js", "container"], "machine", 4),
        &run,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    let probe = &manifest.probes[0];
    assert_eq!(probe.name, "model");
    assert!(probe.channels[0].estimated && probe.channels[0].scope == "machine");
    assert!(probe.baselines["cpu-estimate"].before_w.is_some());
    let paired = paired(&run);
    // No row is flagged, except busy_baseline on every row when the harness found the machine busy in an idle
    // span (another job on a shared CI host): then net energy is not checked, the flag is.
    let busy = probe.baselines["cpu-estimate"].busy_baseline.clone();
    let expected_flag = busy.as_ref().map(|_| EnergyFlag::BusyBaseline);
    assert!(
        paired
            .iter()
            .all(|p| p.estimated && p.scope == "machine" && p.flag == expected_flag),
        "baseline {busy:?}: {paired:?}"
    );
    // Batch windows are busy with the cell's work.
    assert!(paired.iter().all(|p| p.busy_share.unwrap() > 0.9), "{paired:?}");
    // Gross power per busy second: the old model, which saw only the harness and its reaped children, gave
    // node-js about 0.45x and the container about 0.5x of wasmtime-aot's here (idle power and little else).
    let gross = watts(&paired, |p| p.gross_j);
    let aot = gross["wasmtime-aot"];
    for runtime in ["node-js", "container"] {
        let ratio = gross[runtime] / aot;
        assert!(
            (0.75..=1.33).contains(&ratio),
            "{runtime}: gross {} W per busy second against wasmtime-aot's {aot} W",
            gross[runtime]
        );
    }
    // Net of the idle baseline, within 2x (the bar; the old model gave 0.02x and 0.05x). Net is only
    // as good as the baseline: when another process changed the machine's load between the idle spans before
    // and after (a build on a shared developer machine), the baseline is not this run's idle power and the
    // net figures say nothing; CI's machine runs nothing else.
    let baseline = &probe.baselines["cpu-estimate"];
    let stable = baseline
        .before_w
        .zip(baseline.after_w)
        .is_some_and(|(b, a)| (b - a).abs() < 1.0);
    let net = watts(&paired, |p| p.net_j);
    if let Some(why) = &busy {
        // The harness saw it: the net figures are flagged (asserted above) and the manifest says why.
        assert!(why.contains("other processes kept") || why.contains("differ"), "{why}");
        eprintln!("busy baseline ({why}): net {net:?} not checked, the flag is");
    } else if stable {
        for runtime in ["node-js", "container"] {
            let ratio = net[runtime] / net["wasmtime-aot"];
            assert!(
                (0.5..=2.0).contains(&ratio),
                "{runtime}: net {net:?}, baseline {baseline:?}"
            );
        }
    } else {
        eprintln!("the machine's load changed between the idle spans ({baseline:?}): net {net:?} not checked");
    }
}

#[test]
fn the_harness_scope_flags_what_it_cannot_see() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = measure(
        &plan(dir.path(), &["wasmtime-aot", "node-js", "container"], "harness", 3),
        &run,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert_eq!(manifest.probes[0].unseen, vec!["container".to_string()]);
    let paired = paired(&run);
    for p in &paired {
        assert_eq!(p.scope, "harness");
        assert_eq!(p.flag == Some(EnergyFlag::Unseen), p.runtime == "container", "{p:?}");
    }
    // A live node server is a descendant of the harness: seen while it runs.
    let gross = watts(&paired, |p| p.gross_j);
    let ratio = gross["node-js"] / gross["wasmtime-aot"];
    assert!((0.75..=1.33).contains(&ratio), "{gross:?}");
    // The report leaves the container's energy out, and says why.
    let report = dir.path().join("report");
    let results = report_results(&run, &["--baseline", "wasmtime-aot"], &report);
    let energy_tests: Vec<&serde_json::Value> = results["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["runtime"] == "container" && c["metric"]["kind"] == "energy")
        .collect();
    assert!(energy_tests.iter().all(|c| c["test"].is_null()), "{energy_tests:?}");
    let markdown = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(markdown.contains("unseen"), "{markdown}");
}

#[test]
fn a_run_stopped_by_ctrl_c_still_has_net_energy_from_the_baseline_before() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut child = spawn_measure_until(&plan(dir.path(), &["wasmi"], "machine", 2000), &run, 399);
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Partial);
    assert!(manifest.baseline_after_ns.is_none());
    let baseline = &manifest.probes[0].baselines["cpu-estimate"];
    assert!(baseline.before_w.is_some() && baseline.used_w == baseline.before_w);
    let paired = paired(&run);
    assert!(!paired.is_empty() && paired.iter().any(|p| p.net_j.is_some()));
}

#[test]
fn a_replayed_or_re_paired_model_trace_stays_estimated() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let recorded = dir.path().join("recorded");
    let output = measure(&plan(dir.path(), &["wasmtime-aot"], "machine", 3), &recorded);
    assert!(output.status.success(), "{}", stderr(&output));
    // Replayed onto a new run.
    let replay_plan = PlanBuilder::new()
        .seed(3)
        .repetitions(3)
        .warmup(0)
        .baseline_ms(100)
        .runtimes(&["wasmtime-aot"])
        .modes(&["cold"])
        .workload("fibonacci", &["27"])
        .probe(Probe::new("replay").path("path", &recorded.join("samples.csv")))
        .write(dir.path(), "replay.toml");
    let replayed = dir.path().join("replayed");
    let output = measure(&replay_plan, &replayed);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&replayed);
    assert!(manifest.probes[0].channels.iter().all(|c| c.estimated));
    assert!(manifest.energy_estimated);
    assert!(paired(&replayed).iter().all(|p| p.estimated));
    // Re-paired from the recorded samples.
    let output = harness()
        .arg("pair")
        .arg(&recorded)
        .arg("--samples")
        .arg(recorded.join("samples.csv"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(paired(&recorded).iter().all(|p| p.estimated));
}

#[test]
fn two_probes_of_one_kind_keep_their_own_names_and_series() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(3)
        .repetitions(2)
        .warmup(0)
        .baseline_ms(100)
        .runtimes(&["wasmtime-aot"])
        .modes(&["cold"])
        .workload("noop", &["0"])
        .probe(Probe::new("model"))
        .probe(Probe::new("model").set("scope", "harness"))
        .probe(Probe::new("model").set("name", "model-custom").set("idle_w", 3))
        .write(dir.path(), "two.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    let names: Vec<&str> = manifest.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["model", "model-2", "model-custom"]);
    for probe in &manifest.probes {
        assert_eq!(probe.channels[0].probe, probe.name);
        assert!(probe.baselines["cpu-estimate"].before_w.is_some(), "{}", probe.name);
    }
    let custom = manifest.probes[2].baselines["cpu-estimate"].before_w.unwrap();
    let default = manifest.probes[0].baselines["cpu-estimate"].before_w.unwrap();
    assert!(custom < default, "idle 3 W against 10 W: {custom} vs {default}");
    let probes: std::collections::BTreeSet<String> = paired(&run).into_iter().map(|p| p.probe).collect();
    assert_eq!(probes.len(), 3);
}
