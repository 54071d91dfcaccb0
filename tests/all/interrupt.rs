//! `interrupt = "epoch" | "none"`: the engines without their deadline mechanism compute the same thing, the AoT
//! artifact is kept per setting, the manifest records what stopped each runtime, and at the process boundary a
//! watchdog stands in for the missing in-process deadline.

use crate::common::{PlanBuilder, artifacts, machine, manifest, measure, rows, stderr};
use harness::artifacts::WorkloadArtifacts;
use harness::plan::Interrupt;
use harness::runtime::wasmtime::engine as wasmtime_engine;
use harness::runtime::{self, Limits};
use harness_data::{Mode, RuntimeKind, Status};
use std::time::Duration;

fn limits(interrupt: Interrupt) -> Limits {
    Limits {
        timeout_ms: 60_000,
        interrupt,
        memory_mb: None,
        wasm_stack: None,
    }
}

#[test]
fn engines_without_deadlines_compute_the_same_digest_as_with_them() {
    // Runs the engines in this process, not through `harness()`.
    machine::share();
    let spec = harness_workloads::find("fibonacci").unwrap();
    let workload = WorkloadArtifacts::at(&artifacts(), spec);
    let names = [RuntimeKind::WasmtimeJit, RuntimeKind::WasmtimeAot, RuntimeKind::Wasmi];
    runtime::ensure_artifacts(&names, &workload).unwrap();
    let input = spec.prepare_input("25").unwrap();
    for name in names {
        let mut digests = Vec::new();
        for interrupt in [Interrupt::Epoch, Interrupt::None] {
            let mut runtime = runtime::create(name, limits(interrupt), &Default::default()).unwrap();
            runtime.prepare_warm(&workload).unwrap();
            for mode in [Mode::Cold, Mode::Warm] {
                let outcome = runtime.invoke(mode, &workload, &input);
                assert_eq!(
                    outcome.status(),
                    Status::Ok,
                    "{name} {interrupt:?} {mode:?}: {}",
                    outcome.error
                );
                digests.push(harness_workloads::digest(&outcome.output));
            }
        }
        assert!(
            digests.iter().all(|d| *d == harness_workloads::digest(b"75025")),
            "{name}: {digests:?}"
        );
    }
}

#[test]
fn the_aot_artifact_is_kept_per_interrupt_setting() {
    // Runs the engines in this process, not through `harness()`.
    machine::share();
    let workload = WorkloadArtifacts::at(&artifacts(), harness_workloads::find("noop").unwrap());
    runtime::ensure_artifacts(&[RuntimeKind::WasmtimeAot], &workload).unwrap();
    let (epoch, none) = (
        workload.cwasm_for(Interrupt::Epoch),
        workload.cwasm_for(Interrupt::None),
    );
    assert_ne!(epoch, none);
    assert_eq!(epoch, workload.cwasm, "the default artifact is the epoch one");
    assert!(epoch.is_file() && none.is_file());
    // Why the key is needed: wasmtime refuses a .cwasm compiled for the other setting.
    let engine = wasmtime_engine::new_engine(Interrupt::None, Default::default()).unwrap();
    // SAFETY: both files were written by `precompile` with this wasmtime version.
    assert!(unsafe { wasmtime::Module::deserialize_file(&engine, &epoch) }.is_err());
    // SAFETY: the artifact was precompiled by this build's wasmtime, for an engine configured like this one.
    assert!(unsafe { wasmtime::Module::deserialize_file(&engine, &none) }.is_ok());
}

#[test]
fn the_manifest_records_what_stopped_each_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(5)
        .repetitions(2)
        .warmup(0)
        .runtimes(&["native", "wasmtime-jit", "wasmtime-aot", "wasmi"])
        .modes(&["cold", "warm"])
        .workload("fibonacci", &["20"]);
    let cases = [
        ("default", plan.clone(), ["epoch", "epoch", "fuel"]),
        ("none", plan.clone().set("interrupt", "none"), ["none", "none", "none"]),
        (
            "none-process-cold",
            plan.set("interrupt", "none")
                .set("cold_boundary", "process")
                .modes(&["cold"]),
            ["watchdog", "watchdog", "watchdog"],
        ),
    ];
    for (name, plan, [jit, aot, wasmi]) in cases {
        let plan = plan.write(dir.path(), &format!("{name}.toml"));
        let run = dir.path().join(name);
        let output = measure(&plan, &run);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let rows = rows(&run);
        assert!(
            rows.iter()
                .all(|r| r.status == Status::Ok && r.digest == harness_workloads::digest(b"6765")),
            "{name}: every runtime computes fib(20) under either setting"
        );
        let interrupt = manifest(&run).interrupt;
        assert_eq!(interrupt["wasmtime-jit"], jit, "{name}: {interrupt:?}");
        assert_eq!(interrupt["wasmtime-aot"], aot, "{name}: {interrupt:?}");
        assert_eq!(interrupt["wasmi"], wasmi, "{name}: {interrupt:?}");
        // Native cold is killed at the deadline; native warm, a call inside the harness, cannot be stopped.
        let native = if name == "none-process-cold" {
            "watchdog"
        } else {
            "none"
        };
        assert_eq!(interrupt["native"], native, "{name}: {interrupt:?}");
    }
}

#[test]
fn without_deadlines_the_process_boundary_watchdog_stops_an_endless_cold_start() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::new()
        .seed(3)
        .repetitions(1)
        .warmup(0)
        .timeout_ms(300)
        .set("interrupt", "none")
        .set("cold_boundary", "process")
        .runtimes(&["wasmtime-aot", "wasmi"])
        .modes(&["cold"])
        .workload("fault", &["loop"])
        .write(dir.path(), "loop.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = rows(&run);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.status, Status::Timeout, "{}: {}", r.runtime, r.error);
        assert!(r.error.contains("watchdog"), "{}: {}", r.runtime, r.error);
        let latency = Duration::from_nanos(r.latency_ns);
        assert!(
            latency >= Duration::from_millis(300) && latency < Duration::from_secs(5),
            "{}: killed at the deadline, not after the backstop: {latency:?}",
            r.runtime
        );
    }
}
