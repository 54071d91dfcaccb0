//! The runtimes behind one trait. Cold and warm follow the table in MISSION.md:
//!
//! | runtime | cold | warm |
//! |---|---|---|
//! | `native` | spawn the workload's executable, run once, exit | direct call inside the harness |
//! | `wasmtime-jit` | new engine, Cranelift compile, instantiate, call | module compiled once; fresh instance |
//! | `wasmtime-aot` | new engine, deserialize the `.cwasm`, instantiate, call | as jit warm |
//! | `wasmi` | new engine, parse/validate, instantiate, call | module kept; fresh instance |
//! | `container` | create + start a container that serves one request | request to a running container |
//! | `node-wasm`, `node-js` | spawn node, load, serve one request | request to a running node process |

pub mod container;
pub mod docker_engine;
pub mod native;
pub mod node;
pub mod process_boundary;
pub mod served;
pub mod wasi_shim;
pub mod wasmi_rt;
pub mod wasmtime_rt;

use crate::artifacts::WorkloadArtifacts;
use crate::plan::{ColdBoundary, Interrupt, Plan};
use harness_data::{Mode, Phases, Status};
use std::collections::BTreeMap;

/// What one invocation produced. The scheduler stamps start and end around the call; the runtime fills in the
/// phases it can see, on the same clock.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub phases: Phases,
    pub status: Option<Status>,
    pub output: Vec<u8>,
    pub error: String,
}

impl Outcome {
    pub fn ok(phases: Phases, output: Vec<u8>) -> Outcome {
        Outcome {
            phases,
            status: Some(Status::Ok),
            output,
            error: String::new(),
        }
    }

    pub fn failed(phases: Phases, status: Status, error: impl Into<String>) -> Outcome {
        Outcome {
            phases,
            status: Some(status),
            output: Vec::new(),
            error: error.into(),
        }
    }

    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::Error)
    }
}

pub trait Runtime {
    /// The name plans use.
    fn name(&self) -> &'static str;

    /// Gets warm invocations of this workload ready (compile once, start a process). Not timed.
    fn prepare_warm(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()>;

    /// One invocation. Failures are outcomes, not errors: the run records them and goes on.
    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome;
}

/// Limits every runtime applies to a single invocation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout_ms: u64,
    /// How Wasm engines enforce `timeout_ms` in-process (epoch/fuel, or not at all).
    pub interrupt: Interrupt,
}

/// Creates the runtime a plan names, at the plan's cold boundary: with `Process`, Wasm cold invocations run
/// in a fresh `harness invoke-once` process (native, container and node cold starts already cross one).
/// `limits.interrupt` configures the Wasm engines (see [`interrupt_mechanism`] for what stops what).
pub fn create_at(name: &str, limits: Limits, boundary: ColdBoundary) -> anyhow::Result<Box<dyn Runtime>> {
    let runtime = create(name, limits)?;
    let wasm_in_process = matches!(name, "wasmtime-jit" | "wasmtime-aot" | "wasmi");
    Ok(if boundary == ColdBoundary::Process && wasm_in_process {
        Box::new(process_boundary::ProcessBoundary::new(runtime, limits))
    } else {
        runtime
    })
}

pub fn create(name: &str, limits: Limits) -> anyhow::Result<Box<dyn Runtime>> {
    Ok(match name {
        "native" => Box::new(native::NativeRuntime::new(limits)),
        "wasmtime-jit" => Box::new(wasmtime_rt::WasmtimeRuntime::new(wasmtime_rt::Flavor::Jit, limits)?),
        "wasmtime-aot" => Box::new(wasmtime_rt::WasmtimeRuntime::new(wasmtime_rt::Flavor::Aot, limits)?),
        "wasmi" => Box::new(wasmi_rt::WasmiRuntime::new(limits)),
        "container" => Box::new(container::ContainerRuntime::new(limits)?),
        "node-wasm" => Box::new(node::NodeRuntime::new(node::Flavor::Wasm, limits)?),
        "node-js" => Box::new(node::NodeRuntime::new(node::Flavor::Js, limits)?),
        other => anyhow::bail!(
            "unknown runtime `{other}`; valid runtimes: {}",
            crate::plan::RUNTIMES.join(", ")
        ),
    })
}

/// Adds the versions of the external engines the plan's runtimes use (node, the Docker engine) to the
/// manifest's engine list.
pub fn add_engine_versions(runtimes: &[String], engines: &mut harness_data::EngineVersions) {
    if runtimes.iter().any(|r| r.starts_with("node-"))
        && let Ok(version) = node::check_node(&node::node_binary())
    {
        engines.insert("node".into(), version);
    }
    if runtimes.iter().any(|r| r == "container")
        && let Some(version) = docker_engine::engine_version()
    {
        engines.insert("docker".into(), version);
    }
}

/// How an endless invocation of `runtime` in `mode` is stopped under `plan`: `epoch`, `fuel`, `watchdog` (a
/// process killed at the deadline) or `none` (in-process, nothing can stop it).
pub fn interrupt_mechanism(runtime: &str, mode: Mode, plan: &Plan) -> &'static str {
    let wasm = |checked: &'static str| match plan.interrupt {
        // The invoke-once child of the process boundary runs the same engine configuration.
        Interrupt::Epoch => checked,
        Interrupt::None if mode == Mode::Cold && plan.cold_boundary == ColdBoundary::Process => "watchdog",
        Interrupt::None => "none",
    };
    match runtime {
        "wasmtime-jit" | "wasmtime-aot" => wasm("epoch"),
        "wasmi" => wasm("fuel"),
        // Warm native is a direct call inside the harness.
        "native" if mode == Mode::Warm => "none",
        _ => "watchdog",
    }
}

/// Per runtime of the plan, the deadline mechanism its invocations ran under (for `Manifest.interrupt`). Where
/// the plan's modes differ (native: cold killed, warm not), the weaker guarantee, `none`, is recorded: some of
/// its invocations had no deadline.
pub fn interrupt_mechanisms(plan: &Plan) -> BTreeMap<String, String> {
    plan.runtimes
        .iter()
        .map(|runtime| {
            let mut mechanisms = plan.modes.iter().map(|&m| interrupt_mechanism(runtime, m, plan));
            let first = mechanisms.next().unwrap_or("none");
            let all_same = mechanisms.all(|m| m == first);
            (runtime.clone(), if all_same { first } else { "none" }.to_string())
        })
        .collect()
}

/// Nanoseconds between two clock readings.
#[inline]
pub(crate) fn span(from: u64, to: u64) -> Option<u64> {
    Some(to.saturating_sub(from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn plan(extra: &str, modes: &str) -> Plan {
        let text = format!(
            "{extra}repetitions = 1\nruntimes = [\"native\", \"wasmtime-jit\", \"wasmtime-aot\", \"wasmi\", \"container\", \"node-wasm\", \"node-js\"]\nmodes = {modes}\n[[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n"
        );
        Plan::parse(&text, Path::new("p.toml")).unwrap()
    }

    fn mechanisms(extra: &str, modes: &str) -> Vec<String> {
        let map = interrupt_mechanisms(&plan(extra, modes));
        crate::plan::RUNTIMES.iter().map(|r| map[*r].clone()).collect()
    }

    #[test]
    fn each_runtime_records_what_stops_it() {
        // native, wasmtime-jit, wasmtime-aot, wasmi, container, node-wasm, node-js
        let both = "[\"cold\", \"warm\"]";
        assert_eq!(
            mechanisms("", both),
            ["none", "epoch", "epoch", "fuel", "watchdog", "watchdog", "watchdog"]
        );
        assert_eq!(
            mechanisms("", "[\"cold\"]"),
            ["watchdog", "epoch", "epoch", "fuel", "watchdog", "watchdog", "watchdog"]
        );
        assert_eq!(
            mechanisms("interrupt = \"none\"\n", both),
            ["none", "none", "none", "none", "watchdog", "watchdog", "watchdog"]
        );
        let process = "interrupt = \"none\"\ncold_boundary = \"process\"\n";
        assert_eq!(
            mechanisms(process, "[\"cold\"]"),
            [
                "watchdog", "watchdog", "watchdog", "watchdog", "watchdog", "watchdog", "watchdog"
            ]
        );
        // Warm in-process invocations still have none: the weaker guarantee is what the runtime gets.
        assert_eq!(mechanisms(process, both)[1..4], ["none", "none", "none"]);
    }
}
