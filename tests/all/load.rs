//! Load mode end to end, on the real runtimes of this machine: every runtime closed loop, open loop and
//! burst; a rate beyond capacity is saturated (a finding, not a failure); a container killed under load fails
//! its requests and is replaced; Ctrl-C mid-level keeps finished levels and leaves no container; the memory
//! cap fails a request with its reason; the generator's send-lag bench writes its figures.

use crate::common::*;
use harness_data::{LoadKind, LoadRecord, RequestRecord, RunStatus, Status};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ALL_RUNTIMES: &[&str] = &[
    "native",
    "wasmtime-jit",
    "wasmtime-aot",
    "wasmi",
    "container",
    "node-wasm",
    "node-js",
];

/// A load plan: `runtimes` on one workload input, with the `[load]` table's lines.
fn load_plan(
    dir: &Path,
    runtimes: &[&str],
    workload: (&str, &str),
    load: &str,
    extra: &[(&str, i64)],
) -> std::path::PathBuf {
    let mut plan = PlanBuilder::new()
        .seed(11)
        .repetitions(1)
        .runtimes(runtimes)
        .modes(&["load"])
        .workload(workload.0, &[workload.1]);
    for (key, value) in extra {
        plan = plan.set(key, *value);
    }
    write_plan(dir, "load.toml", &format!("{}[load]\n{load}", plan.text()))
}

fn load_rows(run: &Path) -> Vec<LoadRecord> {
    csv_rows(&run.join("load.csv"))
}

fn requests(run: &Path) -> Vec<RequestRecord> {
    csv_rows(&run.join("requests.csv"))
}

#[test]
fn every_runtime_serves_closed_loop_open_loop_and_burst_levels() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(11)
        .repetitions(1)
        .baseline_ms(300)
        .runtimes(ALL_RUNTIMES)
        .modes(&["load"])
        .workload("noop", &["0"])
        .probe(Probe::new("model"))
        .text();
    let plan = write_plan(
        dir.path(),
        "load.toml",
        &format!(
            "{plan}[load]\nclients = [2]\nrates = [100.0]\nburst = [2]\nduration_ms = 500\nwarmup_ms = 100\nidle_ms = 100\ninstances = 2\n"
        ),
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    assert_eq!(manifest.serving.len(), ALL_RUNTIMES.len());
    assert!(manifest.serving["container"].contains("containerConcurrency = 1"));
    // The default shape: the in-process engines in threads; the plan as run has no `serving` key for it.
    let shapes: Vec<&str> = ALL_RUNTIMES
        .iter()
        .map(|r| manifest.serving_shape[*r].as_str())
        .collect();
    assert_eq!(
        shapes,
        [
            "threads",
            "threads",
            "threads",
            "threads",
            "containers",
            "processes",
            "processes"
        ]
    );
    let as_run = std::fs::read_to_string(run.join("manifest.json")).unwrap();
    assert!(!as_run.contains("\"serving\": \"threads\""), "{as_run}");
    assert_eq!(manifest.plan.load.as_ref().unwrap().clients, vec![2]);

    let rows = load_rows(&run);
    let cells: BTreeSet<(String, LoadKind)> = rows.iter().map(|r| (r.runtime.clone(), r.kind)).collect();
    assert_eq!(rows.len(), ALL_RUNTIMES.len() * 3);
    assert_eq!(cells.len(), rows.len(), "one row per runtime and level");
    let all_requests = requests(&run);
    for row in &rows {
        let what = format!("{} {} {}", row.runtime, row.kind, row.level);
        assert!(row.sent > 0 && row.completed == row.sent, "{what}: {row:?}");
        assert_eq!((row.failed, row.timed_out), (0, 0), "{what}");
        assert!(!row.partial, "{what}");
        let (p50, p99, p999) = (row.p50_ns.unwrap(), row.p99_ns.unwrap(), row.p999_ns.unwrap());
        assert!(p50 <= p99 && p99 <= p999, "{what}: {p50} {p99} {p999}");
        // A burst's window is milliseconds, too short for CPU counters: no share is given for it.
        if row.kind != LoadKind::Burst || row.duration_ns >= 100_000_000 {
            assert!(
                row.cpu_util.is_some_and(|u| u > 0.0 && u <= 1.05),
                "{what}: {:?}",
                row.cpu_util
            );
        } else {
            assert_eq!(row.cpu_util, None, "{what}");
        }
        assert!(row.harness_cpu_cores.is_some(), "{what}");
        assert_eq!(row.energy_channel, "model/cpu-estimate", "{what}");
        assert_eq!(row.estimated, Some(true), "{what}");
        // Its requests: the measured ones are exactly the row's, each in order on the clock.
        let mine: Vec<&RequestRecord> = all_requests.iter().filter(|q| q.sequence == row.sequence).collect();
        assert_eq!(mine.iter().filter(|q| !q.warmup).count() as u64, row.sent, "{what}");
        for q in &mine {
            assert!(
                q.intended_ns <= q.sent_ns && q.sent_ns <= q.start_ns && q.start_ns <= q.end_ns,
                "{what}: {q:?}"
            );
            assert!(q.instance < row.instances, "{what}");
            assert_eq!(q.status, Status::Ok, "{what}: {}", q.error);
        }
        match row.kind {
            LoadKind::Burst => {
                assert_eq!((row.instances, row.sent), (2, 2), "{what}");
                assert!(
                    row.offered_rps.is_some() && row.memory_per_instance_bytes.is_none(),
                    "{what}"
                );
            }
            LoadKind::Clients | LoadKind::Rate => {
                assert!(row.memory_bytes.is_some_and(|m| m > 0), "{what}");
                assert!(row.memory_per_instance_bytes.is_some(), "{what}");
                assert!(row.idle_start_ns.is_some() && row.idle_pool_w.is_some(), "{what}");
                assert!(row.energy_per_request_j.is_some(), "{what}");
                let source = match row.runtime.as_str() {
                    "container" => "cgroup",
                    "node-js" | "node-wasm" => "pss",
                    _ => "rss",
                };
                assert_eq!(row.memory_source, source, "{what}");
                assert!(row.serving_cpu_cores.is_some(), "{what}");
            }
        }
        if row.kind == LoadKind::Rate {
            assert_eq!(row.offered_rps, Some(100.0), "{what}");
            // 100 requests/s is far below every runtime's capacity, yet a machine kept busy by other jobs can
            // leave a level behind (answers after its window): the row must then say so, by its own numbers.
            let arrived_rps = row.sent as f64 / (row.duration_ns as f64 / 1e9);
            let behind = row.achieved_rps < harness_data::LoadRecord::SATURATION_SHARE * arrived_rps;
            assert_eq!(row.saturated, Some(behind), "{what}: {row:?}");
            assert!(row.send_lag_p99_ns.is_some(), "{what}");
        } else {
            assert_eq!(row.saturated, None, "{what}");
        }
    }
}

#[test]
fn a_rate_beyond_capacity_is_saturated_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    // fib(30) takes milliseconds natively: one instance cannot serve 2000 requests/s.
    let plan = load_plan(
        dir.path(),
        &["native"],
        ("fibonacci", "30"),
        "rates = [2000.0]\nduration_ms = 1000\nwarmup_ms = 0\nidle_ms = 0\ninstances = 1\n",
        &[("timeout_ms", 200)],
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(manifest(&run).status, RunStatus::Complete);
    let rows = load_rows(&run);
    let row = &rows[0];
    assert_eq!(row.saturated, Some(true), "{row:?}");
    assert!(row.achieved_rps < 0.9 * 2000.0, "{row:?}");
    // Requests left waiting past their deadline are timed out, not run: the tail shows the queueing.
    assert!(row.timed_out > 0 && row.completed > 0, "{row:?}");
    assert!(row.p99_ns.unwrap() >= 200_000_000, "{row:?}");
    let queued = requests(&run)
        .into_iter()
        .filter(|q| q.status == Status::Timeout)
        .all(|q| q.error.contains("not served within the timeout") || q.error.contains("still queued"));
    assert!(queued);
}

/// Waits until harness `pid` has `n` containers, and returns their ids.
fn wait_for_containers(pid: u32, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ids = containers_of(pid);
        if ids.len() >= n {
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "harness {pid} started no {n} containers within 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_container_killed_under_load_fails_its_requests_and_a_fresh_one_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let plan = load_plan(
        dir.path(),
        &["container"],
        ("noop", "0"),
        "clients = [2]\nduration_ms = 4000\nwarmup_ms = 0\nidle_ms = 0\n",
        &[],
    );
    let run = dir.path().join("run");
    let child = spawn_measure(&plan, &run, &[]);
    let pid = child.id();
    let ids = wait_for_containers(pid, 2);
    // Well inside the 4 s window.
    std::thread::sleep(Duration::from_millis(1500));
    let kill = Command::new("docker").args(["kill", &ids[0]]).output().unwrap();
    assert!(kill.status.success(), "{}", String::from_utf8_lossy(&kill.stderr));
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let row = &load_rows(&run)[0];
    assert!(row.failed >= 1, "{row:?}");
    assert!(row.completed > 10 * row.failed, "{row:?}");
    let requests = requests(&run);
    let failed: Vec<&RequestRecord> = requests.iter().filter(|q| q.status != Status::Ok).collect();
    assert!(
        failed
            .iter()
            .any(|q| q.error.contains("137") || q.error.contains("killed")),
        "{failed:?}"
    );
    // The instance that lost its container served again after the failure, on a fresh one.
    let first_failure = failed[0];
    assert!(
        requests.iter().any(|q| q.instance == first_failure.instance
            && q.start_ns > first_failure.end_ns
            && q.status == Status::Ok),
        "no request served by instance {} after its container died",
        first_failure.instance
    );
    assert_none_left(pid, Duration::from_secs(30));
}

#[test]
fn ctrl_c_mid_level_keeps_finished_levels_marks_the_partial_one_and_leaves_no_container() {
    let dir = tempfile::tempdir().unwrap();
    let plan = load_plan(
        dir.path(),
        &["native", "container"],
        ("noop", "0"),
        "clients = [1, 2]\nduration_ms = 2500\nwarmup_ms = 0\nidle_ms = 0\n",
        &[],
    );
    let run = dir.path().join("run");
    let child = spawn_measure(&plan, &run, &[]);
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Header plus two finished levels, then into the third.
    while std::fs::read_to_string(run.join("load.csv")).map_or(0, |t| t.lines().count()) < 3 {
        assert!(Instant::now() < deadline, "no two levels within 2 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1000));
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Partial);
    assert!(manifest.status_reason.unwrap().contains("load"));
    let rows = load_rows(&run);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows[..2].iter().all(|r| !r.partial));
    let last = &rows[2];
    assert!(last.partial && last.duration_ns < 2_500_000_000, "{last:?}");
    // Its requests are on disk too (none if the signal came while its pool was starting).
    let measured = requests(&run)
        .iter()
        .filter(|q| q.sequence == last.sequence && !q.warmup)
        .count();
    assert_eq!(measured as u64, last.sent, "{last:?}");
    assert_none_left(pid, Duration::from_secs(30));
}

#[test]
fn the_memory_cap_fails_a_wasm_request_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A 2 MiB blob cannot fit in linear memory capped at 2 MiB.
    let plan = load_plan(
        dir.path(),
        &["wasmtime-jit", "wasmi"],
        ("transfer", "2MiB"),
        "clients = [1]\nduration_ms = 300\nwarmup_ms = 0\nidle_ms = 0\nmemory_mb = 2\n",
        &[],
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    // Holding an idle instance fits; the first request does not, so the level's requests all fail.
    assert!(output.status.success(), "{}", stderr(&output));
    for row in load_rows(&run) {
        assert!(row.failed > 0 && row.completed == 0, "{row:?}");
    }
    every_request_trapped_at_the_2_mib_cap(&run);
}

/// Every request of `run` is a trap naming the plan's `memory_mb = 2`.
pub fn every_request_trapped_at_the_2_mib_cap(run: &Path) {
    let requests = requests(run);
    assert!(!requests.is_empty());
    for q in &requests {
        assert_eq!(q.status, Status::Trap);
        assert!(
            q.error.contains("memory cap reached") && q.error.contains("memory_mb = 2"),
            "{}",
            q.error
        );
    }
}

#[test]
fn the_generator_bench_writes_its_send_lag_figures() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let output = harness()
        .args([
            "bench-load",
            "--rates",
            "500,2000",
            "--duration-ms",
            "500",
            "--artifacts",
        ])
        .arg(artifacts())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let bench: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let figures = bench["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 2);
    let mut within = Vec::new();
    for figure in figures {
        assert!(figure["sent"].as_u64().unwrap() > 0);
        let lag = figure["send_lag_p99_ns"].as_u64().unwrap();
        let (offered, achieved) = (
            figure["offered_rps"].as_f64().unwrap(),
            figure["achieved_rps"].as_f64().unwrap(),
        );
        if (lag as f64) < 100_000.0 && achieved >= 0.9 * offered {
            within.push(figure["offered_rps"].as_f64().unwrap());
        }
    }
    // The answer is the highest rate sustained with a p99 lag under 100 us, as the figures say.
    let answer = bench["highest_rate_within"].as_f64();
    assert_eq!(answer, within.iter().cloned().reduce(f64::max));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("send lag under 100 us"), "{stdout}");
}
