//! `node-wasm` (the workload's `.wasm` in Node's WebAssembly with `node:wasi`) and `node-js` (a JavaScript port
//! from `workloads/js/`), both served by `workloads/js/runner.js` over the framing of [`super::served`].
//!
//! Cold: spawn node, which loads the module or port, serves the one request and exits (`--once`); phases are
//! timed from the spawn to the response, and the invocation ends once the process is reaped (its exit is part
//! of its cost, and its CPU time must land in its own energy window). Warm: one running node process per workload; node-wasm instantiates the compiled
//! module afresh per request, as the wasmtime and wasmi hosts do. node's `process.hrtime.bigint()` reads
//! CLOCK_MONOTONIC on Linux, the harness's clock (checked by tests/all/node.rs).

use super::served::{RequestError, Response, ServedProcess};
use super::wasi::command::{self as wasi_command, Ended, Stamps};
use super::wasi::output;
use super::{Limits, Outcome, Runtime, ServedBy, SharedEngine, span};
use crate::artifacts::{CommandArtifacts, Guest, WorkloadArtifacts};
use anyhow::{Context, bail};
use harness_data::plan::WasmStack;
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use harness_probes::clock::monotonic_ns;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The oldest Node.js with `node:wasi` preview1 as used here (`version: 'preview1'`, `initialize`).
pub const MIN_NODE_MAJOR: u32 = 20;

/// The workloads with a JavaScript port (`workloads/js/<name>.js`).
pub const JS_PORTS: &[&str] = &[
    "noop",
    "fibonacci",
    "sieve",
    "nbody",
    "mandelbrot",
    "matmul",
    "sha256",
    "json",
    "fuzzy",
    "transfer",
    "fannkuch-redux",
    "fault",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Wasm,
    Js,
}

/// The node executable: `$HARNESS_NODE`, else `node` on the PATH.
pub fn node_binary() -> PathBuf {
    std::env::var_os("HARNESS_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"))
}

/// Where the JavaScript directory (runner.js and the ports) is looked for, in order: `$HARNESS_JS_DIR`; next to
/// the executable (`<exe dir>/js`, `<exe dir>/workloads/js`, then `workloads/js` in each folder above it, which
/// finds a checkout's from its `target/release/harness`); then `workloads/js` in the current directory and
/// each folder above it. Never a path compiled into the binary: a copied harness must not read the checkout
/// it was built in.
pub fn js_dir_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        candidates.push(exe_dir.join("js"));
        candidates.extend(exe_dir.ancestors().map(|d| d.join("workloads/js")));
    }
    if let Ok(cwd) = std::env::current_dir() {
        candidates.extend(cwd.ancestors().map(|d| d.join("workloads/js")));
    }
    candidates.dedup();
    candidates
}

/// The JavaScript directory (see [`js_dir_candidates`] for the search order), or an error saying where it
/// looked and what to set.
pub fn js_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("HARNESS_JS_DIR") {
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            bail!(
                "HARNESS_JS_DIR is {}, and that directory does not exist: set it to the workloads/js directory \
                 of the harness sources (it holds runner.js), or unset it to search next to the harness",
                dir.display()
            );
        }
        return Ok(dir);
    }
    let candidates = js_dir_candidates();
    if let Some(found) = candidates.iter().find(|d| d.join("runner.js").is_file()) {
        return Ok(found.clone());
    }
    bail!(
        "node-js and node-wasm need the harness's JavaScript directory (workloads/js, with runner.js), and it \
         is in none of: {}; set HARNESS_JS_DIR to it, or put it next to the harness executable as `js`",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The JavaScript port of `workload`, or an error naming the ported ones.
pub fn js_port(workload: &str) -> anyhow::Result<PathBuf> {
    if !JS_PORTS.contains(&workload) {
        bail!(
            "workload `{workload}` has no JavaScript port for node-js; ported: {}",
            JS_PORTS.join(", ")
        );
    }
    let dir = js_dir()?;
    let path = dir.join(format!("{workload}.js"));
    if !path.is_file() {
        bail!(
            "the JavaScript port of `{workload}` is missing from {}: {} does not exist (is it an older or \
             incomplete copy of workloads/js?)",
            dir.display(),
            path.display()
        );
    }
    Ok(path)
}

/// Checks that node is there and new enough; returns its version (`v20.20.2`).
pub fn check_node(node: &Path) -> anyhow::Result<String> {
    let output = Command::new(node).arg("--version").output().with_context(|| {
        format!(
            "node-js and node-wasm need Node.js >= {MIN_NODE_MAJOR}, and `{}` could not be run: install it \
             (e.g. `apt-get install nodejs`, or from nodejs.org) or set HARNESS_NODE to its path",
            node.display()
        )
    })?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= MIN_NODE_MAJOR => Ok(version),
        _ => bail!(
            "node-js and node-wasm need Node.js >= {MIN_NODE_MAJOR} (for node:wasi preview1); `{}` is {}: \
             install a newer one or set HARNESS_NODE to its path",
            node.display(),
            if version.is_empty() {
                "of unknown version".into()
            } else {
                version
            }
        ),
    }
}

pub struct NodeRuntime {
    flavor: Flavor,
    node: PathBuf,
    runner: PathBuf,
    timeout: Duration,
    /// `--max-old-space-size`: the plan's `memory_mb` caps node's heap.
    memory_mb: Option<u64>,
    /// V8's `--stack-size` (one stack for JS and Wasm), when the plan sets `wasm_stack_kib`.
    stack: Option<WasmStack>,
    warm: HashMap<&'static str, ServedProcess>,
    /// In an open cold window (`Some`): the cold node processes that answered, kept serving idle until the
    /// window closed, then killed and reaped.
    cold_window: Option<Vec<ServedProcess>>,
}

impl NodeRuntime {
    pub fn new(flavor: Flavor, limits: Limits) -> anyhow::Result<NodeRuntime> {
        let node = node_binary();
        check_node(&node)?;
        let dir = js_dir()?;
        let runner = dir.join("runner.js");
        if !runner.is_file() {
            bail!(
                "the node runner {} is missing: set HARNESS_JS_DIR to the workloads/js directory of the harness \
                 sources",
                runner.display()
            );
        }
        Ok(NodeRuntime {
            flavor,
            node,
            runner,
            timeout: Duration::from_millis(limits.timeout_ms),
            memory_mb: limits.memory_mb,
            stack: limits.wasm_stack,
            warm: HashMap::new(),
            cold_window: None,
        })
    }

    fn command(&self, workload: &WorkloadArtifacts, once: bool) -> anyhow::Result<Command> {
        let mut command = Command::new(&self.node);
        command.arg("--no-warnings");
        if let Some(mb) = self.memory_mb {
            command.arg(format!("--max-old-space-size={mb}"));
        }
        if let Some(stack) = self.stack {
            command.arg(format!("--stack-size={}", stack.kib));
        }
        command.arg(&self.runner);
        match (self.flavor, &workload.guest) {
            (Flavor::Js, Guest::Command(wasi)) => command.arg("js").arg(user_js_module(workload.name, wasi)?),
            (Flavor::Js, Guest::Builtin(_)) => command.arg("js").arg(js_port(workload.name)?),
            (Flavor::Wasm, Guest::Command(wasi)) => command
                .arg("command")
                .arg(&workload.wasm)
                .arg(&wasi.dir)
                .arg(serde_json::to_string(&wasi.args)?),
            (Flavor::Wasm, Guest::Builtin(_)) => command.arg("wasm").arg(&workload.wasm),
        };
        if once {
            command.arg("--once");
        }
        if let Guest::Command(_) = &workload.guest {
            command.arg(format!("--output-cap={}", output::OUTPUT_CAP));
        }
        Ok(command)
    }

    fn failed(&self, failure: RequestError) -> Outcome {
        match failure {
            RequestError::Timeout => Outcome::failed(
                Phases::default(),
                Status::Timeout,
                format!("node killed after the {} ms deadline", self.timeout.as_millis()),
            ),
            RequestError::Died(why) => Outcome::failed(Phases::default(), Status::Trap, why),
        }
    }

    fn cold(&mut self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        // In a cold window node is not told to exit after its answer (`--once`): it idles until the window closed.
        let command = match self.command(workload, self.cold_window.is_none()) {
            Ok(c) => c,
            Err(e) => return Outcome::failed(Phases::default(), Status::Error, format!("{e:#}")),
        };
        let spawned_ns = monotonic_ns();
        let mut process = match ServedProcess::spawn(command) {
            Ok(p) => p,
            Err(e) => {
                return Outcome::failed(
                    Phases::default(),
                    Status::Error,
                    format!("spawning {}: {e}", self.node.display()),
                );
            }
        };
        match process.request(input, self.timeout) {
            Ok((sent_ns, response, answered_ns)) => {
                match &mut self.cold_window {
                    Some(kept) => kept.push(process),
                    None => process.reap(self.timeout),
                }
                self.outcome(workload, response, Some(spawned_ns), sent_ns, answered_ns)
            }
            // Dropping the process kills and reaps it.
            Err(failure) => self.failed(failure),
        }
    }

    fn warm(&mut self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        if !self.warm.contains_key(workload.name)
            && let Err(e) = self.prepare_warm(workload)
        {
            return Outcome::failed(Phases::default(), Status::Error, format!("{e:#}"));
        }
        let process = self.warm.get_mut(workload.name).expect("prepared above");
        match process.request(input, self.timeout) {
            Ok((sent_ns, response, answered_ns)) => self.outcome(workload, response, None, sent_ns, answered_ns),
            Err(failure) => {
                // A dead or stuck server is replaced now, inside this failed invocation.
                self.warm.remove(workload.name);
                let outcome = self.failed(failure);
                let _ = self.prepare_warm(workload);
                outcome
            }
        }
    }
}

impl NodeRuntime {
    /// The row of a response: a built-in's as [`Response::outcome`] maps it; a command's with its own
    /// phases (the `bench` span where the module has one) and its output checked as every runtime checks it.
    fn outcome(
        &self,
        workload: &WorkloadArtifacts,
        response: Response,
        spawned_ns: Option<u64>,
        sent_ns: u64,
        answered_ns: u64,
    ) -> Outcome {
        let command = match &workload.guest {
            Guest::Command(command) => command,
            Guest::Builtin(_) => {
                return response.outcome(spawned_ns, sent_ns, answered_ns, self.flavor == Flavor::Wasm);
            }
        };
        if response.status == OVER_CAP {
            return Outcome::failed(Phases::default(), Status::Error, output::over_cap_message());
        }
        if self.flavor == Flavor::Js {
            // A user's JavaScript module: its output is held to the same expected stdout as the module's.
            let outcome = response.outcome(spawned_ns, sent_ns, answered_ns, false);
            if outcome.status() == Status::Ok
                && let Some(expected) = &command.expected_stdout
                && let Some(difference) = wasi_command::first_difference(expected, &outcome.output)
            {
                return Outcome::failed(outcome.phases, Status::Error, format!("stdout {difference}"));
            }
            return outcome;
        }
        let mut phases = Phases::default();
        if let Some(spawned) = spawned_ns {
            phases.startup_ns = span(spawned, response.main_ns);
            phases.compile_ns = span(response.main_ns, response.loaded_ns);
        }
        phases.input_ns = span(sent_ns.max(response.loaded_ns), response.received_ns);
        if response.status != 0 {
            let message = String::from_utf8_lossy(&response.payload).into_owned();
            return Outcome::failed(phases, Status::Trap, message);
        }
        let Some((code, stamps, stdout, stderr)) = decode_command_payload(&response.payload) else {
            return Outcome::failed(phases, Status::Error, "node's command response is malformed");
        };
        phases.instantiate_ns = span(response.received_ns, stamps.called);
        let phases = wasi_command::phases_from(phases, stamps, answered_ns);
        wasi_command::outcome(command, phases, Ended::Exit(code), stdout.to_vec(), stderr)
    }
}

/// runner.js's status for a command whose output passed `--output-cap` (not read back).
const OVER_CAP: u32 = 3;

/// runner.js's command payload: exit code, four clock readings (0: not taken), stdout length, stdout, stderr.
fn decode_command_payload(payload: &[u8]) -> Option<(i32, Stamps, &[u8], &[u8])> {
    let u64_at = |i: usize| {
        payload
            .get(i..i + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let code = i32::from_le_bytes(payload.get(0..4)?.try_into().ok()?);
    let nonzero = |t: u64| (t != 0).then_some(t);
    let stamps = Stamps {
        called: u64_at(4)?,
        returned: u64_at(12)?,
        bench_start: nonzero(u64_at(20)?),
        bench_end: nonzero(u64_at(28)?),
    };
    let len = u32::from_le_bytes(payload.get(36..40)?.try_into().ok()?) as usize;
    let stdout = payload.get(40..40 + len)?;
    Some((code, stamps, stdout, &payload[40 + len..]))
}

/// A plan's own JavaScript module for node-js (`js = "..."`), or an error saying how to give one.
pub fn user_js_module(workload: &str, command: &CommandArtifacts) -> anyhow::Result<PathBuf> {
    match &command.js {
        Some(path) if path.is_file() => Ok(path.clone()),
        Some(path) => bail!(
            "the JavaScript module of workload `{workload}` ({}) does not exist",
            path.display()
        ),
        None => bail!(
            "workload `{workload}` has no JavaScript module for node-js: add `js = \"<module>.js\"` to its plan table \
             (a CommonJS module exporting `run(input: Buffer) -> Buffer`, see docs/commands.md), or leave node-js out"
        ),
    }
}

impl Runtime for NodeRuntime {
    fn kind(&self) -> RuntimeKind {
        match self.flavor {
            Flavor::Wasm => RuntimeKind::NodeWasm,
            Flavor::Js => RuntimeKind::NodeJs,
        }
    }

    fn prepare_warm(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        let command = self.command(workload, false)?;
        let process = ServedProcess::spawn(command).with_context(|| format!("spawning {}", self.node.display()))?;
        self.warm.insert(workload.name, process);
        Ok(())
    }

    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        match mode {
            Mode::Cold => self.cold(workload, input),
            Mode::Warm => self.warm(workload, input),
        }
    }

    fn served_by(&self) -> Vec<ServedBy> {
        self.warm.values().map(|p| ServedBy::Process(p.pid())).collect()
    }

    fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine> {
        // Each instance is its own node process, already idle between requests.
        None
    }

    fn defer_teardown(&mut self, _: &WorkloadArtifacts) -> (Teardown, &'static str) {
        self.cold_window = Some(Vec::new());
        (
            Teardown::Deferred,
            "deferred: each cold node process answers and then idles (no --once); it is killed and reaped after \
             the window",
        )
    }

    fn finish_teardown(&mut self) {
        // Dropping a served process kills and reaps it.
        self.cold_window = None;
    }
}
