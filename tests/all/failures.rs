//! Failures are recorded and the run goes on; interruptions keep what was measured; disagreeing runtimes
//! fail the run.

use crate::common::*;
use harness_data::{Mode, RunStatus, Status};
use std::time::{Duration, Instant};

#[test]
fn a_trapping_workload_is_recorded_on_every_runtime_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(3)
        .repetitions(2)
        .warmup(0)
        .runtimes(&["native", "wasmtime-jit", "wasmtime-aot", "wasmi"])
        .modes(&["cold", "warm"])
        .workload("fault", &["trap"])
        .workload("fibonacci", &["15"])
        .write(dir.path(), "trap.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    let traps: Vec<_> = rows.iter().filter(|r| r.workload == "fault").collect();
    assert_eq!(traps.len(), 16);
    for r in &traps {
        assert_eq!(r.status, Status::Trap, "{} {:?}: {}", r.runtime, r.mode, r.error);
        assert!(r.digest.is_empty());
        assert!(!r.error.is_empty());
    }
    // The guest's panic message reaches the row through the WASI shim's stderr.
    let wasm_trap = traps.iter().find(|r| r.runtime == "wasmi").unwrap();
    assert!(
        wasm_trap.error.contains("fault workload asked to trap"),
        "{}",
        wasm_trap.error
    );
    assert!(
        rows.iter()
            .filter(|r| r.workload == "fibonacci")
            .all(|r| r.status == Status::Ok)
    );
    assert_eq!(manifest(&run).status, RunStatus::Complete);
}

#[test]
fn an_endless_workload_is_stopped_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    // Native warm runs in-process and cannot be interrupted, so native is measured cold only.
    let endless = PlanBuilder::new()
        .seed(3)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(300)
        .workload("fault", &["loop"]);
    let wasm = endless
        .clone()
        .runtimes(&["wasmtime-jit", "wasmtime-aot", "wasmi"])
        .modes(&["cold", "warm"])
        .write(dir.path(), "loop.toml");
    let native = endless
        .runtimes(&["native"])
        .modes(&["cold"])
        .write(dir.path(), "loop-native.toml");
    for (plan, expected) in [(wasm, 6), (native, 1)] {
        let run = dir.path().join(plan.file_stem().unwrap());
        let started = Instant::now();
        let output = measure(&plan, &run);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(started.elapsed() < Duration::from_secs(60));
        let rows = rows(&run);
        assert_eq!(rows.len(), expected);
        for r in &rows {
            assert_eq!(r.status, Status::Timeout, "{} {:?}: {}", r.runtime, r.mode, r.error);
            if r.runtime != "wasmi" {
                // Time-based deadlines stop within a few ticks of the timeout (fuel is not time).
                assert!(
                    r.latency_ns >= 300_000_000 && r.latency_ns < 5_000_000_000,
                    "{}: {}",
                    r.runtime,
                    r.latency_ns
                );
            }
        }
    }
}

fn long_plan(dir: &std::path::Path) -> std::path::PathBuf {
    PlanBuilder::new()
        .seed(5)
        .repetitions(2000)
        .warmup(0)
        .runtimes(&["wasmtime-aot", "wasmi"])
        .modes(&["warm", "cold"])
        .workload("fibonacci", &["18"])
        .write(dir, "long.toml")
}

fn spawn_long_run(dir: &std::path::Path) -> (std::process::Child, std::path::PathBuf) {
    let run = dir.join("run");
    // 50 rows on disk before the test interrupts the run.
    let child = spawn_measure_until(&long_plan(dir), &run, 50);
    (child, run)
}

#[test]
fn ctrl_c_keeps_every_row_and_marks_the_run_partial() {
    let dir = tempfile::tempdir().unwrap();
    let (child, run) = spawn_long_run(dir.path());
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    let rows = rows(&run);
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Partial);
    assert!(manifest.status_reason.unwrap().contains("interrupted"));
    assert_eq!(
        manifest.recorded_invocations,
        rows.len() as u64,
        "every recorded row is on disk"
    );
    assert!((rows.len() as u64) < manifest.scheduled_invocations);
    assert!(rows.len() >= 50);
}

#[test]
fn a_killed_run_leaves_a_readable_csv_and_a_partial_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, run) = spawn_long_run(dir.path());
    child.kill().unwrap(); // SIGKILL: no handler runs.
    child.wait().unwrap();
    let rows = rows(&run);
    assert!(rows.len() >= 50);
    assert!(rows.iter().all(|r| r.mode == Mode::Warm || r.mode == Mode::Cold));
    assert_eq!(
        manifest(&run).status,
        RunStatus::Partial,
        "the manifest is written as partial before measuring"
    );
}

#[test]
fn runtimes_that_compute_different_things_fail_the_run_naming_both() {
    // An artifacts folder whose fibonacci module is really the sieve: wasm and native now disagree.
    let dir = tempfile::tempdir().unwrap();
    let real = artifacts();
    let fake = dir.path().join("artifacts");
    std::fs::create_dir_all(fake.join("wasm")).unwrap();
    std::fs::create_dir_all(fake.join("native")).unwrap();
    std::fs::copy(real.join("wasm/sieve.wasm"), fake.join("wasm/fibonacci.wasm")).unwrap();
    std::fs::copy(real.join("native/fibonacci"), fake.join("native/fibonacci")).unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(3)
        .warmup(0)
        .runtimes(&["native", "wasmi"])
        .modes(&["warm"])
        .workload("fibonacci", &["20"])
        .write(dir.path(), "p.toml");
    let run = dir.path().join("run");
    let output = harness()
        .args(["measure", "--plan"])
        .arg(&plan)
        .arg("--out")
        .arg(&run)
        .arg("--artifacts")
        .arg(&fake)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("digest mismatch") && err.contains("native") && err.contains("wasmi"),
        "{err}"
    );
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Failed);
    assert!(manifest.status_reason.unwrap().contains("digest mismatch"));
}
