//! `harness selfcheck`: the simulated table and the real A/A run, from the command line.

use crate::common::*;

#[test]
fn selfcheck_prints_every_scenario_and_a_real_aa_run_and_writes_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("selfcheck.json");
    let output = harness()
        .args([
            "selfcheck",
            "--comparisons",
            "20",
            "--resamples",
            "200",
            "--real",
            "40",
            "--artifacts",
        ])
        .arg(artifacts())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let err = stderr(&output);
    for scenario in [
        "lognormal, 30 invocations, 1 run(s)",
        "heavy-tailed, 12 windows of 20, 3 run(s)",
    ] {
        assert!(stdout.contains(scenario), "{stdout}");
    }
    assert!(
        stdout.contains("A real A/A run here: wasmtime-aot warm noop, 40 invocations per arm"),
        "{stdout}"
    );
    // One runtime against itself: the command fails only if the verdict says it differs (a chance of alpha),
    // and then says so.
    if !output.status.success() {
        assert!(err.contains("the real A/A run's verdict is"), "{err}");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let simulated = report["simulated"].as_array().unwrap();
    assert_eq!(simulated.len(), 8);
    for s in simulated {
        assert_eq!(s["comparisons"], 40);
        let coverage = s["coverage"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&coverage), "{s}");
    }
    assert_eq!(report["real"]["invocations_per_arm"], 40);
}

#[test]
fn selfcheck_refuses_absurd_counts() {
    let output = harness().args(["selfcheck", "--comparisons", "0"]).output().unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--comparisons"), "{}", stderr(&output));
}
