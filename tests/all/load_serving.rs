//! Serving shapes under load (issue 22, item 4): `[load] serving = "processes"` serves wasmtime-aot and wasmi
//! from pre-forked `harness serve-wasm` workers, one per instance; the manifest says so per runtime; the rows
//! have memory per instance and energy per request; deadlines hold in the workers; `harness bench-load
//! --serving` writes the bare floor beside both shapes. No figure is compared with another: the machine may be
//! busy.

use crate::common::*;
use harness_data::{LoadKind, LoadRecord, RequestRecord, RunStatus, Serving, Status};
use std::path::Path;

fn load_rows(run: &Path) -> Vec<LoadRecord> {
    csv_rows(&run.join("load.csv"))
}

fn requests(run: &Path) -> Vec<RequestRecord> {
    csv_rows(&run.join("requests.csv"))
}

#[test]
fn processes_serve_wasmtime_aot_and_wasmi_levels_with_their_digests_memory_and_energy() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(5)
        .repetitions(3)
        .baseline_ms(300)
        .runtimes(&["native", "wasmtime-aot", "wasmi"])
        .modes(&["warm", "load"])
        .workload("fibonacci", &["15"])
        .probe(Probe::new("model"))
        .text();
    let plan = write_plan(
        dir.path(),
        "load.toml",
        &format!(
            "{plan}[load]\nclients = [1, 2]\nduration_ms = 400\nwarmup_ms = 100\nidle_ms = 100\nserving = \"processes\"\n"
        ),
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    // Every answer is checked against the level's first and against the warm invocations' digest.
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    assert_eq!(manifest.plan.load.as_ref().unwrap().serving, Serving::Processes);
    for (runtime, shape) in [
        ("native", "threads"),
        ("wasmtime-aot", "processes"),
        ("wasmi", "processes"),
    ] {
        assert_eq!(manifest.serving_shape[runtime], shape, "{runtime}");
    }
    assert!(manifest.serving["wasmi"].contains("serve-wasm"));

    let rows = load_rows(&run);
    assert_eq!(rows.len(), 3 * 2);
    let all_requests = requests(&run);
    for row in rows.iter().filter(|r| r.runtime != "native") {
        let what = format!("{} {} {}", row.runtime, row.kind, row.level);
        assert_eq!(row.kind, LoadKind::Clients, "{what}");
        assert!(row.sent > 0 && row.completed == row.sent, "{what}: {row:?}");
        assert_eq!((row.failed, row.timed_out), (0, 0), "{what}");
        assert_eq!(row.instances, row.level as u32, "{what}");
        // The workers' own memory, proportional: PSS, not the harness's RSS.
        assert_eq!(row.memory_source, "pss", "{what}");
        assert!(row.memory_bytes.is_some_and(|m| m > 0), "{what}");
        assert!(row.memory_per_instance_bytes.is_some_and(|m| m > 0.0), "{what}");
        assert!(row.serving_cpu_cores.is_some(), "{what}");
        assert!(row.energy_per_request_j.is_some(), "{what}");
        let mine: Vec<&RequestRecord> = all_requests.iter().filter(|q| q.sequence == row.sequence).collect();
        assert_eq!(mine.iter().filter(|q| !q.warmup).count() as u64, row.sent, "{what}");
        assert!(
            mine.iter()
                .all(|q| q.status == Status::Ok && q.instance < row.instances)
        );
    }
    // Native has no serve-wasm worker: it still serves in the harness's threads.
    let native = rows.iter().find(|r| r.runtime == "native").unwrap();
    assert_eq!(native.memory_source, "rss");
}

#[test]
fn a_serve_wasm_worker_past_its_deadline_is_a_timeout_and_a_fresh_one_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    for interrupt in ["epoch", "none"] {
        let plan = PlanBuilder::new()
            .seed(5)
            .repetitions(1)
            .timeout_ms(300)
            .set("interrupt", interrupt)
            .runtimes(&["wasmtime-aot", "wasmi"])
            .modes(&["load"])
            .workload("fault", &["loop"])
            .text();
        let plan = write_plan(
            dir.path(),
            &format!("{interrupt}.toml"),
            &format!(
                "{plan}[load]\nclients = [1]\nduration_ms = 1000\nwarmup_ms = 0\nidle_ms = 0\nserving = \"processes\"\n"
            ),
        );
        let run = dir.path().join(interrupt);
        let output = measure(&plan, &run);
        assert!(output.status.success(), "{interrupt}: {}", stderr(&output));
        for row in load_rows(&run) {
            assert!(row.timed_out >= 2 && row.completed == 0, "{interrupt}: {row:?}");
        }
        for q in requests(&run) {
            assert_eq!(q.status, Status::Timeout, "{interrupt}: {}", q.error);
            // With `none` nothing in the worker stops the guest: the parent's watchdog kills the worker.
            if interrupt == "none" {
                assert!(q.error.contains("watchdog"), "{}", q.error);
            }
        }
    }
}

#[test]
fn the_memory_cap_reaches_a_serve_wasm_worker() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(5)
        .repetitions(1)
        .runtimes(&["wasmtime-aot", "wasmi"])
        .modes(&["load"])
        .workload("transfer", &["2MiB"])
        .text();
    let plan = write_plan(
        dir.path(),
        "cap.toml",
        &format!(
            "{plan}[load]\nclients = [1]\nduration_ms = 300\nwarmup_ms = 0\nidle_ms = 0\nmemory_mb = 2\nserving = \"processes\"\n"
        ),
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    crate::load::every_request_trapped_at_the_2_mib_cap(&run);
}

#[test]
fn the_serving_bench_writes_the_bare_floor_beside_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("serving.json");
    let output = harness()
        .args([
            "bench-load",
            "--serving",
            "--workloads",
            "noop:0",
            "--clients",
            "1,2",
            "--duration-ms",
            "200",
            "--artifacts",
        ])
        .arg(artifacts())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let figures: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let figures = figures.as_array().unwrap();
    assert_eq!(figures.len(), 2);
    for (figure, clients) in figures.iter().zip([1, 2]) {
        assert_eq!(figure["clients"], clients);
        for shape in [
            "bare_threads_rps",
            "bare_processes_rps",
            "harness_threads_rps",
            "harness_processes_rps",
        ] {
            assert!(figure[shape].as_f64().unwrap() > 0.0, "{shape}: {figure}");
        }
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("bare processes"), "{stdout}");
}

#[test]
fn a_bad_serving_value_is_refused_at_its_line_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(5)
        .repetitions(1)
        .runtimes(&["wasmtime-aot"])
        .modes(&["load"])
        .workload("noop", &["0"])
        .text();
    let lines = plan.lines().count();
    let plan = write_plan(
        dir.path(),
        "bad.toml",
        &format!("{plan}[load]\nclients = [1]\nserving = \"forked\"\n"),
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("bad.toml:{}:", lines + 3)) && err.contains("load.serving") && err.contains("processes"),
        "{err}"
    );
    assert!(!run.join("load.csv").exists());
}
