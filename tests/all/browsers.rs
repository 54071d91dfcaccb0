//! The browser runtimes (issue 25, Chromium so far) with the real headless Chromium from Debian's packages
//! (scripts/setup-browser.sh): one digest per workload input with wasmtime, the page cross-origin isolated with
//! a fine timer, a run inside a network namespace that has only loopback, and no browser process left after
//! the harness is killed in the middle of a cold invocation.

use crate::common::*;
use harness_data::{Mode, RunStatus, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn browser_plan(dir: &std::path::Path, runtimes: &[&str], workloads: &[(&str, &str)]) -> std::path::PathBuf {
    PlanBuilder::new()
        .seed(25)
        .repetitions(2)
        .warmup(0)
        .runtimes(runtimes)
        .modes(&["cold", "warm"])
        .workloads(workloads)
        .write(dir, "browsers.toml")
}

#[test]
fn chromium_pages_compute_what_wasmtime_computes_with_an_isolated_fine_timer() {
    let dir = tempfile::tempdir().unwrap();
    let plan = browser_plan(
        dir.path(),
        &["chromium-wasm", "chromium-js", "wasmtime-aot"],
        &[("fibonacci", "20"), ("sha256", "16KiB"), ("fannkuch-redux", "8")],
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 3 * 3 * 2 * 2);
    let mut digests: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for r in &rows {
        assert_eq!(
            r.status,
            Status::Ok,
            "{} {} {:?}: {}",
            r.runtime,
            r.workload,
            r.mode,
            r.error
        );
        digests
            .entry((r.workload.clone(), r.input.clone()))
            .or_default()
            .insert(r.digest.clone());
        if r.runtime.starts_with("chromium") {
            // Phases from the page's clock, mapped onto the run's: inside the invocation's window.
            let phases = r.phases();
            let inside: u64 = [
                phases.instantiate_ns,
                phases.input_ns,
                phases.execute_ns,
                phases.output_ns,
            ]
            .into_iter()
            .flatten()
            .sum();
            assert!(inside <= r.latency_ns, "{r:?}");
            assert_eq!(phases.startup_ns.is_some(), r.mode == Mode::Cold, "{r:?}");
        }
    }
    assert!(digests.values().all(|d| d.len() == 1), "{digests:?}");
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    for runtime in ["chromium-wasm", "chromium-js"] {
        let facts = &manifest.browsers[runtime];
        assert!(facts.cross_origin_isolated, "{runtime}: {facts:?}");
        assert!(
            facts.timer_step_us > 0.0 && facts.timer_step_us <= 20.0,
            "{runtime}: {facts:?}"
        );
    }
    assert!(manifest.engines["chromium"].starts_with("Chromium "));
}

#[test]
fn a_run_in_a_network_namespace_with_only_loopback_works() {
    // Needs CAP_SYS_ADMIN for a network namespace (CI runs as root); elsewhere there is nothing to show.
    let probe = std::process::Command::new("unshare").args(["-n", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: unshare -n is not permitted here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plan = browser_plan(dir.path(), &["chromium-wasm", "chromium-js"], &[("fibonacci", "20")]);
    let run = dir.path().join("run");
    machine::share();
    let script = format!(
        "ip link set lo up && exec {} measure --plan {} --out {} --artifacts {}",
        env!("CARGO_BIN_EXE_harness"),
        plan.display(),
        run.display(),
        artifacts().display()
    );
    let output = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .env("CI", "true")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(rows(&run).iter().all(|r| r.status == Status::Ok));
}

/// Processes whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat.rfind(')').is_some_and(|i| stat[i + 2..].starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmdline).contains(needle)
        })
        .collect()
}

#[test]
fn no_browser_process_outlives_a_harness_killed_mid_cold_invocation() {
    let dir = tempfile::tempdir().unwrap();
    // fib(40) in the page takes seconds: the kill lands inside the cold invocation.
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(3)
        .warmup(0)
        .runtimes(&["chromium-wasm"])
        .modes(&["cold"])
        .workload("fibonacci", &["40"])
        .write(dir.path(), "long.toml");
    let run = dir.path().join("run");
    // Each browser's profile lives in a temporary directory named after the harness: its processes carry it.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut harness = spawn_measure(&plan, &run, &[("TMPDIR", tmp.to_str().unwrap())]);
    let needle = tmp.to_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_with(&needle).len() < 3 {
        assert!(Instant::now() < deadline, "no browser started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the page start computing, then kill the harness outright.
    std::thread::sleep(Duration::from_millis(1000));
    harness.kill().unwrap();
    harness.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = processes_with(&needle);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "browser processes left: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
