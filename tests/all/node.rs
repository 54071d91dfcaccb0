//! `node-js` and `node-wasm` on the real node of this machine: node's clock is the harness's, the JavaScript
//! ports and the module in node compute what wasmtime computes, and the faults (a wrong port, node missing or
//! too old, an unported workload, traps and endless loops) are reported as the issue asks.

use crate::common::*;
use harness_data::{Mode, RunStatus, Status};
use std::collections::HashMap;
use std::process::Command;

const PORTED: &[(&str, &str)] = &[
    ("noop", "0"),
    ("fibonacci", "22"),
    ("sieve", "1000000"),
    ("nbody", "10000"),
    ("mandelbrot", "129"),
    ("matmul", "48"),
    ("sha256", "100KiB"),
    ("json", "500"),
    ("fuzzy", "64KiB"),
    ("transfer", "1MiB"),
    ("fannkuch-redux", "8"),
];

#[test]
fn node_hrtime_reads_the_harness_clock() {
    machine::share();
    // process.hrtime.bigint() read by a child must fall between two CLOCK_MONOTONIC readings around it; a
    // realtime or process-relative clock would be far outside. (CLOCK_BOOTTIME equals CLOCK_MONOTONIC on a
    // machine that never suspended, so this cannot tell those two apart; libuv documents CLOCK_MONOTONIC.)
    for _ in 0..3 {
        let before = harness_probes::clock::monotonic_ns();
        let out = Command::new("node")
            .args(["-e", "process.stdout.write(String(process.hrtime.bigint()))"])
            .output()
            .expect("node");
        let after = harness_probes::clock::monotonic_ns();
        let node: u64 = String::from_utf8_lossy(&out.stdout).parse().expect("a number");
        assert!(before < node && node < after, "{before} < {node} < {after}");
    }
}

#[test]
fn node_js_and_node_wasm_digests_equal_wasmtime_cold_and_warm() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(2)
        .warmup(1)
        .runtimes(&["wasmtime-aot", "node-wasm", "node-js"])
        .modes(&["cold", "warm"])
        .workloads(PORTED)
        .write(dir.path(), "ported.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), PORTED.len() * 3 * 2 * 3);
    let mut wasmtime: HashMap<&str, &str> = HashMap::new();
    for r in rows.iter().filter(|r| r.runtime == "wasmtime-aot") {
        wasmtime.insert(&r.workload, &r.digest);
    }
    for r in &rows {
        assert_eq!(
            r.status,
            Status::Ok,
            "{} {} {:?}: {}",
            r.workload,
            r.runtime,
            r.mode,
            r.error
        );
        assert_eq!(
            wasmtime[r.workload.as_str()],
            r.digest,
            "{} on {} {:?}",
            r.workload,
            r.runtime,
            r.mode
        );
        if r.runtime.starts_with("node") {
            let sum: u64 = [
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
                sum <= r.latency_ns,
                "{} {}: phases {sum} > {}",
                r.workload,
                r.runtime,
                r.latency_ns
            );
            assert_eq!(r.startup_ns.is_some(), r.mode == Mode::Cold, "{r:?}");
            // Fresh instance per request in node-wasm, as in wasmtime; no instance in node-js.
            assert_eq!(r.instantiate_ns.is_some(), r.runtime == "node-wasm", "{r:?}");
        }
    }
    assert_eq!(manifest(&run).status, RunStatus::Complete);
}

#[test]
fn a_js_port_that_computes_something_else_fails_the_run_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let js = dir.path().join("js");
    std::fs::create_dir_all(&js).unwrap();
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/js");
    for entry in std::fs::read_dir(&real).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, js.join(path.file_name().unwrap())).unwrap();
    }
    // An off-by-one port: fib(n + 1).
    let fib = std::fs::read_to_string(js.join("fibonacci.js")).unwrap();
    std::fs::write(js.join("fibonacci.js"), fib.replace("fib(n) :", "fib(n + 1) :")).unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(3)
        .warmup(0)
        .runtimes(&["native", "node-js"])
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
        .arg(artifacts())
        .env("HARNESS_JS_DIR", &js)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(err.contains("node-js") && err.contains("native"), "{err}");
    assert_eq!(manifest(&run).status, RunStatus::Failed);
}

#[test]
fn node_missing_or_too_old_is_a_clear_error_with_the_version_needed() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .runtimes(&["node-wasm"])
        .modes(&["cold"])
        .workload("noop", &["0"])
        .write(dir.path(), "p.toml");
    let old = dir.path().join("old-node");
    std::fs::write(&old, "#!/bin/sh\necho v16.20.2\n").unwrap();
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let missing = dir.path().join("no-such-node");
    for (node, says) in [(&old, "v16.20.2"), (&missing, "could not be run")] {
        let run = dir
            .path()
            .join(format!("run-{}", node.file_name().unwrap().to_string_lossy()));
        let output = harness()
            .args(["measure", "--plan"])
            .arg(&plan)
            .arg("--out")
            .arg(&run)
            .arg("--artifacts")
            .arg(artifacts())
            .env("HARNESS_NODE", node)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let err = stderr(&output);
        assert!(err.contains("Node.js >= 20") && err.contains(says), "{err}");
        assert!(!run.join("invocations.csv").exists(), "no workload ran");
    }
}

#[test]
fn an_unported_workload_on_node_js_names_the_ported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .runtimes(&["node-js"])
        .modes(&["cold"])
        .workload("aes-gcm", &["1KiB"])
        .write(dir.path(), "p.toml");
    let output = measure(&plan, &dir.path().join("run"));
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("`aes-gcm` has no JavaScript port") && err.contains("fibonacci"),
        "{err}"
    );
}

#[test]
fn traps_and_endless_loops_in_node_are_recorded_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(1000)
        .runtimes(&["node-wasm", "node-js"])
        .modes(&["cold", "warm"])
        .workload("fault", &["trap", "loop"])
        .workload("fibonacci", &["15"])
        .write(dir.path(), "p.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 12);
    for r in &rows {
        let expected = match r.input.as_str() {
            "trap" => Status::Trap,
            "loop" => Status::Timeout,
            _ => Status::Ok,
        };
        assert_eq!(
            r.status, expected,
            "{} {} {:?}: {}",
            r.input, r.runtime, r.mode, r.error
        );
    }
    assert_eq!(manifest(&run).status, RunStatus::Complete);
}

#[test]
fn the_study_plans_are_valid_and_name_the_runtimes_they_compare() {
    let plans = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans");
    let lumos = harness::plan::Plan::load(&plans.join("lumos.toml")).unwrap();
    assert_eq!(
        lumos.runtimes,
        ["container", "wasmtime-aot", "wasmtime-jit", "wasmi", "native"]
    );
    assert_eq!(lumos.modes, [Mode::Cold, Mode::Warm]);
    let js = harness::plan::Plan::load(&plans.join("js-vs-wasm.toml")).unwrap();
    assert_eq!(js.runtimes, ["node-js", "node-wasm", "wasmtime-aot", "wasmtime-jit"]);
    // Every workload of the JS study has a port.
    for w in &js.workloads {
        assert!(
            harness::runtime::node::JS_PORTS.contains(&w.name.as_str()),
            "{}",
            w.name
        );
    }
}
