//! The browser runtimes (issue 25) with the real headless Chromium and Firefox from Debian's packages
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
fn browser_pages_compute_what_wasmtime_computes_with_an_isolated_fine_timer() {
    let dir = tempfile::tempdir().unwrap();
    let plan = browser_plan(
        dir.path(),
        &[
            "chromium-wasm",
            "chromium-js",
            "firefox-wasm",
            "firefox-js",
            "wasmtime-aot",
        ],
        &[("fibonacci", "20"), ("sha256", "16KiB"), ("fannkuch-redux", "8")],
    );
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 5 * 3 * 2 * 2);
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
        if !r.runtime.starts_with("wasmtime") {
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
    for runtime in ["chromium-wasm", "chromium-js", "firefox-wasm", "firefox-js"] {
        let facts = &manifest.browsers[runtime];
        assert!(facts.cross_origin_isolated, "{runtime}: {facts:?}");
        assert!(
            facts.timer_step_us > 0.0 && facts.timer_step_us <= 20.0,
            "{runtime}: {facts:?}"
        );
    }
    assert!(manifest.engines["chromium"].starts_with("Chromium "));
    assert!(manifest.engines["firefox"].starts_with("Mozilla Firefox "));
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
    let plan = browser_plan(dir.path(), &["chromium-wasm", "firefox-js"], &[("fibonacci", "20")]);
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

/// The process group of a process.
fn group_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split_whitespace().nth(2)?.parse().ok()
}

/// Live processes in process group `group`.
fn in_group(group: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat.rfind(')').is_some_and(|i| stat[i + 2..].starts_with('Z'));
            !zombie && group_of(pid) == Some(group)
        })
        .collect()
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
    for runtime in ["chromium-wasm", "firefox-wasm"] {
        let dir = tempfile::tempdir().unwrap();
        // fib(40) in the page takes seconds: the kill lands inside the cold invocation.
        let plan = PlanBuilder::new()
            .seed(1)
            .repetitions(3)
            .warmup(0)
            .runtimes(&[runtime])
            .modes(&["cold"])
            .workload("fibonacci", &["40"])
            .write(dir.path(), "long.toml");
        let run = dir.path().join("run");
        // Each browser's profile lives in a temporary directory named after the harness: its processes carry it.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let mut harness = spawn_measure(&plan, &run, &[("TMPDIR", tmp.to_str().unwrap())]);
        let needle = tmp.to_str().unwrap().to_string();
        // The browser's main process names its profile; its children share its process group.
        let deadline = Instant::now() + Duration::from_secs(60);
        let group = loop {
            if let Some(group) = processes_with(&needle).into_iter().find_map(group_of)
                && in_group(group).len() >= 3
            {
                break group;
            }
            assert!(Instant::now() < deadline, "{runtime}: no browser started");
            std::thread::sleep(Duration::from_millis(50));
        };
        // Let the page start computing, then kill the harness outright.
        std::thread::sleep(Duration::from_millis(1000));
        harness.kill().unwrap();
        harness.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = [processes_with(&needle), in_group(group)].concat();
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "{runtime}: browser processes left: {left:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
