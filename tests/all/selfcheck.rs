//! `harness selfcheck`: the simulated table and the real A/A run, from the command line.

use crate::common::*;

/// Every scenario in every design, the real A/A run, and the JSON; and per design, over 2,000 simulated
/// comparisons, at most alpha + 1 point of A/A verdicts faster or slower and at least 94% of intervals holding
/// the truth.
#[test]
fn selfcheck_prints_every_scenario_and_design_keeps_its_error_rates_and_writes_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("selfcheck.json");
    let output = harness()
        .args([
            "selfcheck",
            "--comparisons",
            "125",
            "--resamples",
            "300",
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
    for row in [
        "fixed            lognormal, 30 invocations, 1 run(s)",
        "adaptive width   heavy-tailed, 12 windows of 20, 3 run(s)",
        "adaptive strict  all scenarios",
    ] {
        assert!(stdout.contains(row), "{stdout}");
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
    assert_eq!(simulated.len(), 3 * 8);
    for s in simulated {
        assert_eq!(s["comparisons"], 250);
        let coverage = s["coverage"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&coverage), "{s}");
    }
    let pooled = report["pooled"].as_array().unwrap();
    let designs: Vec<&str> = pooled.iter().filter_map(|p| p["design"].as_str()).collect();
    assert_eq!(designs, ["fixed", "adaptive width", "adaptive strict"], "{pooled:?}");
    for p in pooled {
        let (alpha, fpr, coverage) = (
            p["alpha"].as_f64().unwrap(),
            p["false_positive_rate"].as_f64().unwrap(),
            p["coverage"].as_f64().unwrap(),
        );
        assert!(p["comparisons"].as_u64().unwrap() >= 2000, "{p}");
        assert!(fpr <= alpha + 0.01, "{p}");
        assert!(coverage >= 0.94, "{p}");
    }
    assert_eq!(report["real"]["invocations_per_arm"], 40);
}

#[test]
fn selfcheck_refuses_absurd_counts() {
    let output = harness().args(["selfcheck", "--comparisons", "0"]).output().unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--comparisons"), "{}", stderr(&output));
}
