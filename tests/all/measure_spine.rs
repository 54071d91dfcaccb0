//! The measurement spine end to end: the issue's plan, every workload on every runtime, the run directory.

use crate::common::*;
use harness_data::{Mode, RunStatus, Status};
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn the_issue_plan_gives_40_rows_with_identical_digests_and_a_complete_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = measure(&spine_plan(), &run);
    assert!(output.status.success(), "{}", stderr(&output));

    let rows = rows(&run);
    let measured: Vec<_> = rows.iter().filter(|r| !r.warmup).collect();
    assert_eq!(measured.len(), 40);

    // Results at a glance on stdout: per mode, each runtime's median, the fastest named, the next command.
    let summary = String::from_utf8_lossy(&output.stdout);
    for mode in ["fibonacci 25, cold", "fibonacci 25, warm"] {
        assert!(summary.contains(mode), "{summary}");
    }
    for runtime in ["native", "wasmtime-jit", "wasmtime-aot", "wasmi"] {
        assert_eq!(
            summary.matches(&format!("    {runtime} ")).count(),
            2,
            "{runtime}: {summary}"
        );
    }
    assert_eq!(summary.matches("fastest").count(), 2, "{summary}");
    assert!(summary.contains("x slower") && summary.contains("(n=5)"), "{summary}");
    assert!(
        summary.contains(&format!("Next: harness report {} --baseline ", run.display())),
        "{summary}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.warmup).count(),
        8,
        "one marked warm-up per cell"
    );
    assert!(rows.iter().all(|r| r.status == Status::Ok), "{rows:?}");
    let digests: BTreeSet<&str> = rows.iter().map(|r| r.digest.as_str()).collect();
    assert_eq!(digests.len(), 1, "fib(25) must hash the same everywhere: {digests:?}");
    assert_eq!(digests.into_iter().next().unwrap(), harness_workloads::digest(b"75025"));

    // Monotonic times: each row ends after it starts, and sequence follows time.
    for r in &rows {
        assert_eq!(r.latency_ns, r.end_ns - r.start_ns);
    }
    let mut by_sequence = rows.clone();
    by_sequence.sort_by_key(|r| r.sequence);
    assert!(by_sequence.windows(2).all(|w| w[0].end_ns <= w[1].start_ns));

    // Phases where the table says they exist.
    let cold_jit = rows
        .iter()
        .find(|r| r.runtime == "wasmtime-jit" && r.mode == Mode::Cold)
        .unwrap();
    assert!(cold_jit.compile_ns.is_some() && cold_jit.instantiate_ns.is_some() && cold_jit.execute_ns.is_some());
    let warm_aot = rows
        .iter()
        .find(|r| r.runtime == "wasmtime-aot" && r.mode == Mode::Warm)
        .unwrap();
    assert_eq!(warm_aot.compile_ns, None, "warm invocations compile nothing");
    let cold_native = rows
        .iter()
        .find(|r| r.runtime == "native" && r.mode == Mode::Cold)
        .unwrap();
    assert!(
        cold_native.startup_ns.unwrap() > 0,
        "the spawned process reports its phases on the same clock"
    );

    // The interpreter is far slower warm than the JIT (Lumos saw 30-55x).
    let warm_median = |runtime: &str| {
        median(
            rows.iter()
                .filter(|r| r.runtime == runtime && r.mode == Mode::Warm && !r.warmup)
                .map(|r| r.latency_ns)
                .collect(),
        )
    };
    let (wasmi, wasmtime) = (warm_median("wasmi"), warm_median("wasmtime-jit"));
    assert!(wasmi > 4 * wasmtime, "wasmi {wasmi} ns vs wasmtime {wasmtime} ns");

    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    assert_eq!(manifest.seed, 7);
    assert_eq!(manifest.recorded_invocations, 48);
    assert!(manifest.engines["wasmtime"].starts_with(char::is_numeric));
    assert!(manifest.engines["wasmi"].starts_with(char::is_numeric));
    let sizes = &manifest.artifacts["fibonacci"];
    assert!(sizes.native_bytes.unwrap() > 0 && sizes.wasm_bytes.unwrap() > 0 && sizes.cwasm_bytes.unwrap() > 0);
    assert!(manifest.host.logical_cores >= 1 && !manifest.host.kernel.is_empty());
    assert_eq!(manifest.plan.repetitions, 5);
    assert!(manifest.anchor.monotonic_ns <= rows.iter().map(|r| r.start_ns).min().unwrap());
}

#[test]
fn every_workload_runs_on_every_runtime_cold_and_warm_with_matching_digests() {
    let all: Vec<(&str, &str)> = harness_workloads::WORKLOADS
        .iter()
        .filter(|w| !w.test_only)
        .map(|w| (w.name, w.small_input))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .runtimes(&["native", "wasmtime-jit", "wasmtime-aot", "wasmi"])
        .modes(&["cold", "warm"])
        .workloads(&all)
        .write(dir.path(), "all.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    let workloads = harness_workloads::WORKLOADS.iter().filter(|w| !w.test_only).count();
    assert_eq!(rows.len(), workloads * 4 * 2);
    let mut digests: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &rows {
        assert_eq!(
            r.status,
            Status::Ok,
            "{} on {} {:?}: {}",
            r.workload,
            r.runtime,
            r.mode,
            r.error
        );
        digests.entry(&r.workload).or_default().insert(&r.digest);
    }
    for (workload, set) in digests {
        assert_eq!(set.len(), 1, "{workload}: {set:?}");
    }
    // transfer moves its blob both ways, timed apart from compute.
    let transfer = rows
        .iter()
        .find(|r| r.workload == "transfer" && r.runtime == "wasmtime-aot")
        .unwrap();
    assert_eq!((transfer.input_bytes, transfer.output_bytes), (65536, 65536));
    assert!(transfer.input_ns.is_some() && transfer.output_ns.is_some());
}

#[test]
fn an_existing_run_directory_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::spine()
        .repetitions(1)
        .runtimes(&["native", "wasmtime-aot", "wasmi"])
        .write(dir.path(), "p.toml");
    let run = dir.path().join("run");
    assert!(measure(&plan, &run).status.success());
    let again = measure(&plan, &run);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already holds a run"), "{}", stderr(&again));
}

#[test]
fn the_process_boundary_runs_each_wasm_cold_start_in_a_fresh_process() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(3)
        .repetitions(3)
        .warmup(0)
        .set("cold_boundary", "process")
        .runtimes(&["native", "wasmtime-aot", "wasmi"])
        .modes(&["cold", "warm"])
        .workload("fibonacci", &["20"])
        .workload("fault", &["trap"])
        .write(dir.path(), "process.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("panicked"),
        "trap messages belong in the rows: {}",
        stderr(&output)
    );
    let rows = rows(&run);
    let fib: Vec<_> = rows.iter().filter(|r| r.workload == "fibonacci").collect();
    assert!(
        fib.iter()
            .all(|r| r.status == Status::Ok && r.digest == harness_workloads::digest(b"6765"))
    );
    for r in fib.iter().filter(|r| r.mode == Mode::Cold && r.runtime != "native") {
        // Process start-up, then the engine's, then loading the module: all inside the latency.
        let startup = r.startup_ns.unwrap();
        assert!(
            startup > 100_000,
            "{}: a process start-up takes more than 0.1 ms, got {startup} ns",
            r.runtime
        );
        let phases: u64 = [
            r.startup_ns,
            r.compile_ns,
            r.instantiate_ns,
            r.input_ns,
            r.execute_ns,
            r.output_ns,
        ]
        .iter()
        .flatten()
        .sum();
        assert!(
            phases <= r.latency_ns,
            "{}: phases {phases} > latency {}",
            r.runtime,
            r.latency_ns
        );
    }
    let traps: Vec<_> = rows.iter().filter(|r| r.workload == "fault").collect();
    assert!(traps.iter().all(|r| r.status == Status::Trap), "{traps:?}");
    assert!(
        traps
            .iter()
            .any(|r| r.mode == Mode::Cold && r.runtime == "wasmi" && r.error.contains("fault workload asked to trap"))
    );
    assert_eq!(
        manifest(&run).plan.cold_boundary,
        harness_data::plan::ColdBoundary::Process
    );
}

#[test]
fn a_plan_that_skips_unavailable_runtimes_says_which_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(3)
        .repetitions(2)
        .runtimes(&["native", "node-js", "wasmi"])
        .modes(&["warm"])
        .set("skip_unavailable", true)
        .workload("noop", &["0"])
        .write(dir.path(), "skip.toml");
    let run = dir.path().join("run");
    // No node on this machine, as far as this run knows.
    let output = harness()
        .env("HARNESS_NODE", dir.path().join("no-such-node"))
        .args(["measure", "--plan"])
        .arg(&plan)
        .arg("--out")
        .arg(&run)
        .arg("--artifacts")
        .arg(artifacts())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("skipping node-js: "), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert_eq!(manifest.skipped.keys().collect::<Vec<_>>(), ["node-js"]);
    assert!(
        manifest.skipped["node-js"].contains("no-such-node"),
        "{:?}",
        manifest.skipped
    );
    let runtimes: BTreeSet<String> = rows(&run).into_iter().map(|r| r.runtime).collect();
    assert_eq!(runtimes, BTreeSet::from(["native".to_string(), "wasmi".to_string()]));
    // Without the key, the same plan fails before any invocation, naming node.
    let strict = plan.with_file_name("strict.toml");
    std::fs::write(
        &strict,
        std::fs::read_to_string(&plan)
            .unwrap()
            .replace("skip_unavailable = true\n", ""),
    )
    .unwrap();
    let failed = harness()
        .env("HARNESS_NODE", dir.path().join("no-such-node"))
        .args(["measure", "--plan"])
        .arg(&strict)
        .arg("--out")
        .arg(dir.path().join("strict"))
        .arg("--artifacts")
        .arg(artifacts())
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(stderr(&failed).contains("no-such-node"), "{}", stderr(&failed));
}
