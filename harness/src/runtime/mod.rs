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

pub mod browser;
pub mod child;
pub mod container;
pub mod instance_memory;
pub mod native;
pub mod node;
pub mod process_boundary;
pub mod served;
pub mod served_wasm;
pub mod setup;
pub mod teardown;
pub mod wasi;
pub mod wasmi;
pub mod wasmtime;

use crate::artifacts::{CommandArtifacts, Guest, WorkloadArtifacts};
use crate::plan::Plan;
use anyhow::Context;
use harness_data::plan::{ColdBoundary, Interrupt, WasmStack};
use harness_data::{Mode, Phases, RuntimeKind, Serving, Status, Teardown};
use harness_probes::model::ContainerLedger;
use std::collections::BTreeMap;

/// What one invocation produced. The scheduler stamps start and end around the call; the runtime fills in the
/// phases it can see, on the same clock.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub phases: Phases,
    pub status: Option<Status>,
    pub output: Vec<u8>,
    pub error: String,
    /// The process's usage, where the invocation was one whole process the harness reaped (`harness run`).
    pub usage: Option<harness_data::ProcessUsage>,
}

impl Outcome {
    pub fn ok(phases: Phases, output: Vec<u8>) -> Outcome {
        Outcome {
            phases,
            status: Some(Status::Ok),
            output,
            error: String::new(),
            usage: None,
        }
    }

    pub fn failed(phases: Phases, status: Status, error: impl Into<String>) -> Outcome {
        Outcome {
            phases,
            status: Some(status),
            output: Vec::new(),
            error: error.into(),
            usage: None,
        }
    }

    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::Error)
    }
}

/// What serves a runtime's invocations outside the harness process, for the load monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServedBy {
    Process(u32),
    Container(String),
}

pub trait Runtime: Send {
    /// The runtime this is.
    fn kind(&self) -> RuntimeKind;

    /// Gets warm invocations of this workload ready (compile once, start a process). Not timed.
    fn prepare_warm(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()>;

    /// One invocation. Failures are outcomes, not errors: the run records them and goes on.
    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome;

    /// The processes or containers serving warm invocations now; empty for a runtime that serves inside the
    /// harness process (native, in-process Wasm).
    fn served_by(&self) -> Vec<ServedBy>;

    /// The engine its warm instances share, for load mode's pools: in-process Wasm has one; `None` where each
    /// instance is its own (a node process, a container, native's direct call), so a pool of them is `n`
    /// runtimes, each prepared on its own.
    fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine>;

    /// Keeps one ready instance of `workload` idle until [`Runtime::drop_idle_instances`], for the memory of a
    /// warm pool: in-process Wasm holds one in its shared engine, a serve-wasm worker in its own process; a
    /// warm container or node process already is one, and native has none to keep.
    fn keep_idle_instance(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        match self.shared_engine() {
            Some(shared) => shared.hold_idle_instance(workload),
            None => Ok(()),
        }
    }

    /// Drops what [`Runtime::keep_idle_instance`] kept.
    fn drop_idle_instances(&mut self) {
        if let Some(shared) = self.shared_engine() {
            shared.release_idle();
        }
    }

    /// Opens a cold batch window for `workload`: until [`Runtime::finish_teardown`], what each cold start
    /// leaves behind and the next one does not need (an engine, a served process, a finished container) is
    /// kept rather than torn down, so the window holds cold starts only. Returns whether the window still
    /// holds a teardown, and what is deferred or not, in words (for the manifest).
    fn defer_teardown(&mut self, workload: &WorkloadArtifacts) -> (Teardown, &'static str);

    /// Closes the cold window: tears down what the cold starts since [`Runtime::defer_teardown`] left. Not
    /// timed, outside every window.
    fn finish_teardown(&mut self);

    /// Untimed work before each slot (one invocation or one batch window) of `workload`: `harness run`'s
    /// `--setup` (the first time) and `--prepare`; a browser resumes the warm page it froze after its last slot.
    fn before_slot(&mut self, _workload: &WorkloadArtifacts) {}

    /// Untimed work after each slot: `harness run`'s `--conclude`. A browser freezes (SIGSTOP) its warm pages
    /// here, as a serverless platform freezes an idle instance (Lambda does): an idle browser's timers and
    /// services would otherwise draw power in the other runtimes' windows. Node, containers and in-process
    /// engines are quiet when idle and keep running.
    fn after_slot(&mut self) {}

    /// Whether its invocations may share a batch window (nothing runs between two of them).
    fn batchable(&self) -> bool {
        true
    }

    /// Why the run must stop now (a command failed without `--ignore-failure`), once that happened.
    fn failure(&self) -> Option<String> {
        None
    }

    /// Untimed work once every invocation ran (`harness run`'s `--cleanup`); why it failed, if it did.
    fn close(&mut self) -> Option<String> {
        None
    }

    /// A browser runtime's page as it reported itself (timer, clock mapping), for the manifest.
    fn browser_facts(&self) -> Option<harness_data::BrowserFacts> {
        None
    }

    /// Brings the runtime up idle, for an idle span with it up (a browser, its page open, nothing running):
    /// whether it has such a state. Untimed, before the first invocation; [`Runtime::stop_idle`] ends it.
    fn start_idle(&mut self) -> anyhow::Result<bool> {
        Ok(false)
    }

    /// Ends what [`Runtime::start_idle`] brought up; `span_ns` is the idle span measured with it up, `load`
    /// what the machine's CPUs did over it.
    fn stop_idle(&mut self, _span_ns: [u64; 2], _load: Option<harness_data::IdleLoad>) {}
}

/// What an in-process Wasm runtime adds to serve load: one host, one engine and one compiled module shared by
/// the pool's workers, a fresh instance per request.
pub trait SharedEngine {
    /// Another worker sharing this runtime's engine and prepared modules.
    fn replicate(&self) -> Box<dyn Runtime>;

    /// Keeps one ready instance of `workload` (store, instance, `_initialize`) alive and idle until
    /// [`SharedEngine::release_idle`], for the memory of a warm pool. (A warm container or node process
    /// already is one, and native has none to keep.)
    fn hold_idle_instance(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()>;

    /// Drops what [`SharedEngine::hold_idle_instance`] kept.
    fn release_idle(&mut self);
}

/// `n` warm instances of `kind` ready to serve `workload`, the way its platform serves concurrency: in-process
/// Wasm, one engine (its instance pool sized for `n`) and one compiled module shared by `n` workers, each
/// request on a fresh instance, or with `Serving::Processes` `n` pre-forked `serve-wasm` processes, each with
/// its own engine and module; native, `n` workers calling the workload directly; containers and node, `n`
/// processes or containers, one request at a time each. Not timed.
pub fn warm_pool(
    kind: RuntimeKind,
    limits: Limits,
    serving: Serving,
    workload: &WorkloadArtifacts,
    n: u32,
    ledger: &ContainerLedger,
) -> anyhow::Result<Vec<Box<dyn Runtime>>> {
    if serving == Serving::Processes && kind.is_wasm_in_process() {
        // Started one after another: each worker has loaded its module before the next starts.
        return (0..n)
            .map(|_| {
                let mut worker: Box<dyn Runtime> = Box::new(served_wasm::ServedWasm::new(kind, limits)?);
                worker.prepare_warm(workload)?;
                Ok(worker)
            })
            .collect();
    }
    let mut first: Box<dyn Runtime> = match kind {
        RuntimeKind::WasmtimeJit | RuntimeKind::WasmtimeAot => {
            let flavor = if kind == RuntimeKind::WasmtimeJit {
                wasmtime::Flavor::Jit
            } else {
                wasmtime::Flavor::Aot
            };
            Box::new(wasmtime::WasmtimeRuntime::with_pool(flavor, limits, n)?)
        }
        _ => create(kind, limits, ledger)?,
    };
    first.prepare_warm(workload)?;
    let mut pool = Vec::with_capacity(n as usize);
    for _ in 1..n {
        let instance = match first.shared_engine() {
            Some(shared) => shared.replicate(),
            None => {
                let mut own = create(kind, limits, ledger)?;
                own.prepare_warm(workload)?;
                own
            }
        };
        pool.push(instance);
    }
    pool.insert(0, first);
    Ok(pool)
}

/// Limits every runtime applies to a single invocation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout_ms: u64,
    /// How Wasm engines enforce `timeout_ms` in-process (epoch/fuel, or not at all).
    pub interrupt: Interrupt,
    /// Memory cap of one instance: the container's cgroup, the Wasm store's linear memory, node's heap
    /// (`--max-old-space-size`). Native in-process work has none (it would cap the harness).
    pub memory_mb: Option<u64>,
    /// The plan's `wasm_stack_kib`: `None` is wasmtime's default for wasmtime and wasmi, and node's own.
    pub wasm_stack: Option<WasmStack>,
}

impl Limits {
    /// The stack the in-process engines (wasmtime, wasmi) get.
    pub fn engine_stack(&self) -> WasmStack {
        self.wasm_stack.unwrap_or_default()
    }
}

/// Creates the runtime a plan names, at the plan's cold boundary: with `Process`, Wasm cold invocations run
/// in a fresh `harness invoke-once` process (native, container and node cold starts already cross one).
/// `limits.interrupt` configures the Wasm engines (see [`interrupt_mechanism`] for what stops what).
/// A container runtime records every container it starts in `ledger`, for a harness-scoped model probe.
pub fn create_at(
    kind: RuntimeKind,
    limits: Limits,
    boundary: ColdBoundary,
    ledger: &ContainerLedger,
) -> anyhow::Result<Box<dyn Runtime>> {
    let runtime = create(kind, limits, ledger)?;
    Ok(if boundary == ColdBoundary::Process && kind.is_wasm_in_process() {
        Box::new(process_boundary::ProcessBoundary::new(runtime, limits))
    } else {
        runtime
    })
}

pub fn create(kind: RuntimeKind, limits: Limits, ledger: &ContainerLedger) -> anyhow::Result<Box<dyn Runtime>> {
    Ok(match kind {
        RuntimeKind::Native => Box::new(native::NativeRuntime::new(limits)),
        RuntimeKind::WasmtimeJit => Box::new(wasmtime::WasmtimeRuntime::new(wasmtime::Flavor::Jit, limits)?),
        RuntimeKind::WasmtimeAot => Box::new(wasmtime::WasmtimeRuntime::new(wasmtime::Flavor::Aot, limits)?),
        RuntimeKind::Wasmi => Box::new(wasmi::WasmiRuntime::new(limits)),
        RuntimeKind::Container => Box::new(container::ContainerRuntime::new(limits, ledger.clone())?),
        RuntimeKind::NodeWasm => Box::new(node::NodeRuntime::new(node::Flavor::Wasm, limits)?),
        RuntimeKind::NodeJs => Box::new(node::NodeRuntime::new(node::Flavor::Js, limits)?),
        RuntimeKind::ChromiumWasm | RuntimeKind::ChromiumJs | RuntimeKind::FirefoxWasm | RuntimeKind::FirefoxJs => {
            Box::new(browser::BrowserRuntime::new(kind, limits)?)
        }
        RuntimeKind::Exec => anyhow::bail!("`exec` runs only the commands of `harness run`"),
    })
}

/// Checks that `workload` has what `runtimes` need, and prepares what they derive from it: the `.cwasm`
/// (for both interrupt settings, so either loads, in this process or an `invoke-once` child) and the
/// container image. Errors say the command that fixes them. Runs before the first invocation.
pub fn ensure_artifacts(runtimes: &[RuntimeKind], workload: &WorkloadArtifacts) -> anyhow::Result<()> {
    if runtimes.iter().any(|r| r.runs_wasm()) {
        workload.require_wasm()?;
    }
    for &kind in runtimes {
        match kind {
            RuntimeKind::Native => workload.require_native()?,
            RuntimeKind::NodeJs | RuntimeKind::ChromiumJs | RuntimeKind::FirefoxJs => match &workload.guest {
                Guest::Command(command) if command.builtin.is_none() => {
                    node::user_js_module(workload.name, command)?;
                }
                Guest::Command(_) | Guest::Builtin(_) => {
                    node::js_port(workload.name)?;
                }
            },
            RuntimeKind::Container if workload.container_image.get().is_none() => {
                let image = match &workload.guest {
                    Guest::Command(command) => container_command_image(workload, command)
                        .with_context(|| format!("the container image of command workload `{}`", workload.name))?,
                    Guest::Builtin(_) => {
                        workload.require_musl()?;
                        container::docker_engine::ensure_image(workload.name, &workload.musl)
                            .with_context(|| format!("the container image of workload `{}`", workload.name))?
                    }
                };
                let _ = workload.container_image.set(image);
            }
            RuntimeKind::WasmtimeAot => {
                for interrupt in [Interrupt::Epoch, Interrupt::None] {
                    wasmtime::engine::ensure_cwasm(workload, interrupt)?;
                }
            }
            _ => {}
        }
        if matches!(workload.guest, Guest::Command(_))
            && matches!(kind, RuntimeKind::WasmtimeJit | RuntimeKind::WasmtimeAot)
        {
            wasmtime::command::start_host_io();
        }
    }
    Ok(())
}

/// A command workload's image: its static twin (a built-in's `benchmark.static`, or the plan's `native`, which
/// must then be statically linked to run `FROM scratch`), its directory's files, and the static `noop`
/// workload, whose serve loop keeps a warm container up.
fn container_command_image(
    workload: &WorkloadArtifacts,
    command: &CommandArtifacts,
) -> anyhow::Result<crate::artifacts::ContainerImage> {
    let executable = if command.builtin.is_some() {
        command.dir.join("benchmark.static")
    } else {
        workload.native.clone()
    };
    if !executable.is_file() {
        anyhow::bail!(
            "the static executable for its image is missing ({}): {}",
            executable.display(),
            if command.builtin.is_some() {
                format!("run `{}`", crate::artifacts::BUILD_COMMANDS_SCRIPT)
            } else {
                "give the plan's workload a statically linked `native` executable, or leave `container` out".into()
            }
        );
    }
    let keepalive = workload.musl.with_file_name("noop");
    if !keepalive.is_file() {
        anyhow::bail!(
            "warm command containers run the static `noop` workload ({}), which is missing: run \
             `scripts/build-musl-workloads.sh`",
            keepalive.display()
        );
    }
    container::docker_engine::ensure_command_image(workload.name, &executable, &keepalive, &command.dir)
}

/// Adds the versions of the external engines the plan's runtimes use (node, the Docker engine) to the
/// manifest's engine list.
pub fn add_engine_versions(runtimes: &[RuntimeKind], engines: &mut harness_data::EngineVersions) {
    if runtimes.iter().any(|r| r.is_node())
        && let Ok(version) = node::check_node(&node::node_binary())
    {
        engines.insert("node".into(), version);
    }
    if runtimes.contains(&RuntimeKind::Container)
        && let Some(version) = container::docker_engine::engine_version()
    {
        engines.insert("docker".into(), version);
    }
    if runtimes
        .iter()
        .any(|r| matches!(r, RuntimeKind::ChromiumWasm | RuntimeKind::ChromiumJs))
        && let Ok(binary) = browser::cdp::chromium_binary()
        && let Ok(out) = std::process::Command::new(binary).arg("--version").output()
    {
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        engines.insert("chromium".into(), version);
    }
    if runtimes
        .iter()
        .any(|r| matches!(r, RuntimeKind::FirefoxWasm | RuntimeKind::FirefoxJs))
        && let Ok(binary) = browser::bidi::firefox_binary()
        && let Ok(out) = std::process::Command::new(binary).arg("--version").output()
    {
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        engines.insert("firefox".into(), version);
    }
}

/// How an endless invocation of `runtime` in `mode` is stopped under `plan`: `epoch`, `fuel`, `watchdog` (a
/// process killed at the deadline) or `none` (in-process, nothing can stop it).
pub fn interrupt_mechanism(runtime: RuntimeKind, mode: Mode, plan: &Plan) -> &'static str {
    let wasm = |checked: &'static str| match plan.interrupt {
        // The invoke-once child of the process boundary runs the same engine configuration.
        Interrupt::Epoch => checked,
        Interrupt::None if mode == Mode::Cold && plan.cold_boundary == ColdBoundary::Process => "watchdog",
        Interrupt::None => "none",
    };
    match runtime {
        RuntimeKind::WasmtimeJit | RuntimeKind::WasmtimeAot => wasm("epoch"),
        RuntimeKind::Wasmi => wasm("fuel"),
        // `harness run` without --timeout gives its commands no deadline.
        RuntimeKind::Exec if plan.timeout_ms >= crate::plan::MAX_TIMEOUT_MS => "none",
        // Warm native is a direct call inside the harness.
        RuntimeKind::Native if mode == Mode::Warm => "none",
        _ => "watchdog",
    }
}

/// Per runtime of the plan, the deadline mechanism its invocations ran under (for `Manifest.interrupt`). Where
/// the plan's modes differ (native: cold killed, warm not), the weaker guarantee, `none`, is recorded: some of
/// its invocations had no deadline.
pub fn interrupt_mechanisms(plan: &Plan) -> BTreeMap<String, String> {
    plan.runtimes
        .iter()
        .zip(&plan.runtime_names)
        .map(|(runtime, name)| {
            let mut mechanisms = plan.modes.iter().map(|&m| interrupt_mechanism(*runtime, m, plan));
            let first = mechanisms.next().unwrap_or("none");
            let all_same = mechanisms.all(|m| m == first);
            (name.clone(), if all_same { first } else { "none" }.to_string())
        })
        .collect()
}

/// Per Wasm runtime of the plan, the stack its engine admits (for `Manifest.stack`): a program deeper than that
/// traps, so a comparison must say what each engine was given. Native and containers run on the OS's stack.
pub fn stack_limits(plan: &Plan) -> BTreeMap<String, String> {
    let engines = plan.wasm_stack_kib.unwrap_or_default();
    plan.runtimes
        .iter()
        .zip(&plan.runtime_names)
        .filter_map(|(runtime, name)| {
            let limit = match runtime {
                RuntimeKind::WasmtimeJit | RuntimeKind::WasmtimeAot => {
                    format!("{} KiB of Wasm stack (max_wasm_stack)", engines.kib)
                }
                RuntimeKind::Wasmi => format!(
                    "{} frames and a value stack of up to {} MiB (what {} KiB holds in wasmtime at 16 bytes a frame)",
                    engines.wasmi_frames(),
                    engines.wasmi_value_stack_bytes() >> 20,
                    engines.kib
                ),
                RuntimeKind::NodeWasm | RuntimeKind::NodeJs => match plan.wasm_stack_kib {
                    Some(stack) => format!("V8 --stack-size={} KiB (one stack for JS and Wasm)", stack.kib),
                    None => "V8's default, 984 KiB (one stack for JS and Wasm)".to_string(),
                },
                RuntimeKind::ChromiumWasm | RuntimeKind::ChromiumJs => {
                    "V8's default in the page (one stack for JS and Wasm)".to_string()
                }
                RuntimeKind::FirefoxWasm | RuntimeKind::FirefoxJs => {
                    "SpiderMonkey's default in the page (one stack for JS and Wasm)".to_string()
                }
                RuntimeKind::Native | RuntimeKind::Container | RuntimeKind::Exec => return None,
            };
            Some((name.clone(), limit))
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
            "{extra}repetitions = 1\nruntimes = [\"native\", \"wasmtime-jit\", \"wasmtime-aot\", \"wasmi\", \"container\", \"node-wasm\", \"node-js\", \"chromium-wasm\", \"chromium-js\", \"firefox-wasm\", \"firefox-js\"]\nmodes = {modes}\n[[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n"
        );
        Plan::parse(&text, Path::new("p.toml")).unwrap()
    }

    fn mechanisms(extra: &str, modes: &str) -> Vec<String> {
        let map = interrupt_mechanisms(&plan(extra, modes));
        RuntimeKind::ALL.iter().map(|r| map[r.as_str()].clone()).collect()
    }

    #[test]
    fn each_runtime_records_what_stops_it() {
        // native, wasmtime-jit, wasmtime-aot, wasmi, container, node-wasm, node-js, then the four browser runtimes
        let both = "[\"cold\", \"warm\"]";
        let w = "watchdog";
        assert_eq!(
            mechanisms("", both),
            ["none", "epoch", "epoch", "fuel", w, w, w, w, w, w, w]
        );
        assert_eq!(
            mechanisms("", "[\"cold\"]"),
            [w, "epoch", "epoch", "fuel", w, w, w, w, w, w, w]
        );
        assert_eq!(
            mechanisms("interrupt = \"none\"\n", both),
            ["none", "none", "none", "none", w, w, w, w, w, w, w]
        );
        let process = "interrupt = \"none\"\ncold_boundary = \"process\"\n";
        assert_eq!(mechanisms(process, "[\"cold\"]"), [w; 11]);
        // Warm in-process invocations still have none: the weaker guarantee is what the runtime gets.
        assert_eq!(mechanisms(process, both)[1..4], ["none", "none", "none"]);
    }
}
