//! The browser runtimes (issue 25) with the real headless Chromium and Firefox from Debian's packages
//! (scripts/setup-browser.sh): one digest per workload input with wasmtime, the page cross-origin isolated with
//! a fine timer, a run inside a network namespace that has only loopback, and no browser process left after
//! the harness is killed in the middle of a cold invocation.

use crate::common::*;
use harness_data::{Mode, RunStatus, Status, Teardown};
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

/// How a browser invocation ends early.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// The harness is sent this signal in the middle of a cold invocation.
    Signal(i32),
    /// The invocation runs past the plan's timeout, and the run goes on.
    Timeout,
}

/// Starts a cold invocation of fib(`n`) in `runtime` and waits until its browser is up: the harness, the
/// needle its browser's processes carry (their profile's temporary directory), the browser's process group.
fn cold_browser(dir: &std::path::Path, runtime: &str, n: &str, timeout_ms: u32) -> (std::process::Child, String, u32) {
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(timeout_ms)
        // The run stays up well after the invocation, so a browser left by it would be seen.
        .set("cooldown_ms", 10_000)
        .runtimes(&[runtime])
        .modes(&["cold"])
        .workload("fibonacci", &[n])
        .write(dir, "long.toml");
    let run = dir.join("run");
    // Each browser's profile lives in a temporary directory named after the harness: its processes carry it.
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let harness = spawn_measure(&plan, &run, &[("TMPDIR", tmp.to_str().unwrap())]);
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
    (harness, needle, group)
}

/// Waits until no process of the browser is left: none whose command line holds `needle`, none in `group`.
fn wait_browser_gone(what: &str, needle: &str, group: Option<u32>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = [processes_with(needle), group.map(in_group).unwrap_or_default()].concat();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: browser processes left: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn no_browser_process_outlives_a_harness_killed_mid_cold_invocation() {
    for runtime in ["chromium-wasm", "firefox-wasm"] {
        let dir = tempfile::tempdir().unwrap();
        // fib(45) in the page takes seconds even on a fast machine: the kill lands inside the cold invocation.
        let (mut harness, needle, group) = cold_browser(dir.path(), runtime, "45", 60_000);
        // Let the page start computing, then kill the harness outright.
        std::thread::sleep(Duration::from_millis(1000));
        harness.kill().unwrap();
        harness.wait().unwrap();
        wait_browser_gone(runtime, &needle, Some(group));
    }
}

#[test]
fn no_browser_process_outlives_a_timeout_ctrl_c_or_sigterm() {
    let faults = [
        Fault::Timeout,
        Fault::Signal(libc::SIGINT),
        Fault::Signal(libc::SIGTERM),
    ];
    for runtime in ["chromium-wasm", "firefox-js"] {
        for fault in faults {
            let what = format!("{runtime}, {fault:?}");
            let dir = tempfile::tempdir().unwrap();
            match fault {
                Fault::Timeout => {
                    // fib(55) takes minutes at the least (fib(45) took 5.8 s in Chromium on a fast CI host, and
                    // each +1 costs x1.6): far longer than the 8 s the invocation has, launch included.
                    let (mut harness, needle, group) = cold_browser(dir.path(), runtime, "55", 8_000);
                    // Gone while the harness still runs (the plan's cooldown keeps it up after the invocation).
                    wait_browser_gone(&what, &needle, Some(group));
                    assert!(harness.try_wait().unwrap().is_none(), "{what}: the harness ended first");
                    assert!(harness.wait().unwrap().success(), "{what}");
                    let row = &rows(&dir.path().join("run"))[0];
                    assert_eq!(row.status, Status::Timeout, "{what}: {row:?}");
                }
                Fault::Signal(signal) => {
                    let (mut harness, needle, group) = cold_browser(dir.path(), runtime, "45", 60_000);
                    std::thread::sleep(Duration::from_millis(1000));
                    // SAFETY: our child's pid.
                    unsafe { libc::kill(harness.id() as i32, signal) };
                    let status = harness.wait().unwrap();
                    assert_eq!(status.code(), Some(128 + signal), "{what}");
                    wait_browser_gone(&what, &needle, Some(group));
                    assert_eq!(manifest(&dir.path().join("run")).status, RunStatus::Partial, "{what}");
                }
            }
        }
    }
}

#[test]
fn every_browser_cell_gets_energy_per_invocation_and_the_report_nets_out_the_browsers_idle_power() {
    let dir = tempfile::tempdir().unwrap();
    // The model on the harness's own CPU time: it sees every process of each browser, which the harness
    // started; machine idle and each browser's idle span first.
    let plan = PlanBuilder::new()
        .seed(25)
        .repetitions(3)
        .warmup(1)
        .baseline_ms(1500)
        .runtimes(&["chromium-wasm", "firefox-js", "node-wasm"])
        .modes(&["cold", "warm"])
        .workload("fibonacci", &["20"])
        .probe(Probe::new("model").set("scope", "harness"))
        .write(dir.path(), "energy.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    for runtime in ["chromium-wasm", "firefox-js"] {
        let [start, end] = manifest.browsers[runtime]
            .idle_span_ns
            .expect("an idle span with the browser up");
        assert!(end - start >= 1_500_000_000, "{runtime}");
    }
    let paired = paired(&run);
    for runtime in ["chromium-wasm", "firefox-js", "node-wasm"] {
        for mode in [Mode::Cold, Mode::Warm] {
            let cell: Vec<_> = paired
                .iter()
                .filter(|p| p.runtime == runtime && p.mode == mode)
                .collect();
            // Energy per invocation for every cell, never zero: fib(20) warm is microseconds, so its windows
            // hold many invocations.
            assert!(!cell.is_empty(), "{runtime} {mode:?}");
            assert!(
                cell.iter().all(|p| p.gross_j.is_some_and(|j| j > 0.0) && p.estimated),
                "{runtime} {mode:?}: {cell:?}"
            );
            if mode == Mode::Warm {
                assert!(cell.iter().all(|p| p.count > 1), "{runtime} warm: {cell:?}");
            }
            // The browser's own idle power goes with its rows; node has none.
            let browser = runtime != "node-wasm";
            assert!(
                cell.iter()
                    .all(|p| p.idle_browser_w.is_some_and(f64::is_finite) == browser),
                "{runtime} {mode:?}: {cell:?}"
            );
        }
    }
    let report = dir.path().join("report");
    let results = report_results(&run, &["--baseline", "node-wasm"], &report);
    for group in results["groups"].as_array().unwrap() {
        let runtime = group["runtime"].as_str().unwrap();
        let energy = &group["energy"][0];
        let browser = runtime != "node-wasm";
        assert_eq!(energy["idle_browser_w"].is_f64(), browser, "{group}");
        if browser {
            // Net of the browser's idle power too: less than net of the machine's alone.
            // (No net figure at all where the machine was busy during its idle baseline.)
            let net = energy["net_j"]["median"].as_f64();
            let net_browser = energy["net_browser_j"]["median"].as_f64();
            assert_eq!(net.is_some(), net_browser.is_some(), "{group}");
            if let (Some(net), Some(net_browser)) = (net, net_browser)
                && energy["idle_browser_w"].as_f64().unwrap() > 0.0
            {
                assert!(net_browser < net, "{group}");
            }
        }
    }
    let markdown = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(markdown.contains("browser idle power") && markdown.contains("net of browser idle"));
}

/// The state letter of process `pid` (`R`, `S`, `T` stopped, ...).
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Whether every one of `pids` is stopped (or gone).
fn all_stopped(pids: &[u32]) -> bool {
    pids.iter().all(|&p| state_of(p).is_none_or(|s| s == 'T'))
}

/// The processes of each browser whose profile lies under `needle`, by process group: its main process leads
/// it, with its zygotes, renderers or content processes. (The crash handlers each browser starts put themselves
/// in a session of their own, wait on a socket and end with the browser: left out.)
fn browser_groups(needle: &str) -> Vec<Vec<u32>> {
    let groups: BTreeSet<u32> = processes_with(needle).into_iter().filter_map(group_of).collect();
    groups.iter().map(|&g| in_group(g)).filter(|g| g.len() >= 3).collect()
}

#[test]
fn warm_browsers_are_frozen_between_their_invocations_and_resume_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    // Two browsers, two warm pages each; the plan's cooldown keeps the run between two slots for a while.
    let plan = PlanBuilder::new()
        .seed(7)
        .repetitions(3)
        .warmup(1)
        .set("cooldown_ms", 1500)
        .runtimes(&["chromium-wasm", "firefox-js"])
        .modes(&["warm"])
        .workload("fibonacci", &["20"])
        .workload("sha256", &["16KiB"])
        .write(dir.path(), "frozen.toml");
    let run = dir.path().join("run");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Chromium's crash handler kept its database in $XDG_CONFIG_HOME/chromium (the user's ~/.config) whatever
    // the profile: it now lives in the profile, and goes with it.
    let config = dir.path().join("config");
    let env = [
        ("TMPDIR", tmp.to_str().unwrap()),
        ("XDG_CONFIG_HOME", config.to_str().unwrap()),
    ];
    let mut harness = spawn_measure(&plan, &run, &env);
    let needle = tmp.to_str().unwrap().to_string();
    // Between slots every process of every warm browser is stopped (`T`): seen at least once with all four
    // browsers up, in the cooldowns after their pages opened.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut all_frozen_seen = false;
    while harness.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run did not end");
        let browsers = browser_groups(&needle);
        if browsers.len() == 4 && browsers.iter().all(|b| all_stopped(b)) {
            all_frozen_seen = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(harness.wait().unwrap().success());
    assert!(
        all_frozen_seen,
        "never saw the four warm browsers all stopped between slots"
    );
    // Each slot resumed its page: every invocation answered, none ran into its deadline.
    let rows = rows(&run);
    assert_eq!(rows.len(), 2 * 2 * 4);
    assert!(rows.iter().all(|r| r.status == Status::Ok), "{rows:?}");
}

#[test]
fn a_coarse_meter_gives_browser_cold_starts_a_window_of_k_with_the_finished_browsers_frozen_then_gone() {
    let meter = um25c();
    let dir = tempfile::tempdir().unwrap();
    // A 4 Hz meter: a 5 s window (20 updates) holds several Chromium cold starts of about a second.
    let plan = PlanBuilder::new()
        .seed(3)
        .repetitions(2)
        .warmup(0)
        .baseline_ms(1000)
        .runtimes(&["chromium-wasm"])
        .modes(&["cold"])
        .workload("fibonacci", &["20"])
        .probe(um25c_probe(meter.path(), Some(250)))
        .write(dir.path(), "meter.toml");
    let run = dir.path().join("run");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut harness = spawn_measure(&plan, &run, &[("TMPDIR", tmp.to_str().unwrap())]);
    let needle = tmp.to_str().unwrap().to_string();
    // Inside a window, a cold start's browser is frozen once it answered and killed after the window.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut frozen_in_window = false;
    while harness.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run did not end");
        let browsers = browser_groups(&needle);
        frozen_in_window |= browsers.len() >= 2 && browsers.iter().any(|b| all_stopped(b));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(harness.wait().unwrap().success());
    assert!(
        frozen_in_window,
        "never saw a finished cold start's browser frozen beside the next"
    );
    let manifest = manifest(&run);
    let cold = &manifest.batching[0];
    assert_eq!((cold.mode, cold.teardown), (Mode::Cold, Some(Teardown::Deferred)));
    assert!(cold.batch_size > 1, "{cold:?}");
    let paired = paired(&run);
    assert_eq!(paired.len(), 2, "{paired:?}");
    paired.iter().for_each(assert_um25c_window_split);
    assert!(rows(&run).iter().all(|r| r.status == Status::Ok));
    // Every browser kept past its window is gone (its crash handler a moment later): none carries the
    // profile directory any more.
    wait_browser_gone("after the cold windows", &needle, None);
}
