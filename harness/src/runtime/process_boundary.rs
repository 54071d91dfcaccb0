//! The process boundary for Wasm cold starts (`cold_boundary = "process"` in a plan): each cold invocation is a
//! fresh `harness invoke-once` child process that loads the module and runs once, as `wasmtime run` would, so a
//! Wasm cold start can be set against a container's or a native process's at the same boundary. Warm
//! invocations are the wrapped runtime's own.
//!
//! The child runs the plan's `interrupt` setting. With `epoch` it enforces the deadline itself and the parent's
//! watchdog is a backstop; with `none` its engine has no deadline, and the watchdog kills it at `timeout_ms`.

use super::child::run_child;
use super::{Limits, Outcome, Runtime, ServedBy, SharedEngine, span};
use crate::artifacts::WorkloadArtifacts;
use harness_data::plan::Interrupt;
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use serde::{Deserialize, Serialize};
use std::process::Command;
use std::time::Duration;

/// What the child reports on its last stderr line, after `HARNESS_OUTCOME `.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChildOutcome {
    /// CLOCK_MONOTONIC at the child's `main`.
    pub main_ns: u64,
    /// When the cold invocation began inside the child (after argument parsing and runtime set-up).
    pub invoke_ns: u64,
    /// When it returned, before the output was written to stdout.
    pub done_ns: u64,
    pub phases: Phases,
    pub status: Status,
    pub error: String,
}

pub const OUTCOME_PREFIX: &str = "HARNESS_OUTCOME ";

pub struct ProcessBoundary {
    inner: Box<dyn Runtime>,
    limits: Limits,
}

impl ProcessBoundary {
    pub fn new(inner: Box<dyn Runtime>, limits: Limits) -> ProcessBoundary {
        ProcessBoundary { inner, limits }
    }

    fn cold(&self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let mut phases = Phases::default();
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => return Outcome::failed(phases, Status::Error, format!("locating the harness executable: {e}")),
        };
        // artifacts/wasm/<name>.wasm -> artifacts
        let artifacts = workload
            .wasm
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let mut command = Command::new(exe);
        command
            .args([
                "invoke-once",
                "--runtime",
                self.inner.kind().as_str(),
                "--workload",
                workload.name,
                "--timeout-ms",
            ])
            .arg(self.limits.timeout_ms.to_string())
            .args(["--interrupt", self.limits.interrupt.as_str()])
            .arg("--artifacts")
            .arg(artifacts);
        if let Some(stack) = self.limits.wasm_stack {
            command.arg("--wasm-stack-kib").arg(stack.kib.to_string());
        }
        let run = match run_child(&mut command, input, watchdog_after(self.limits)) {
            Ok(run) => run,
            Err(e) => return Outcome::failed(phases, Status::Error, format!("spawning harness invoke-once: {e}")),
        };
        if run.killed {
            return Outcome::failed(
                phases,
                Status::Timeout,
                format!(
                    "the invoke-once child was killed after the {} ms deadline (watchdog)",
                    self.limits.timeout_ms
                ),
            );
        }
        let reported = run
            .stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(OUTCOME_PREFIX))
            .and_then(|json| serde_json::from_str::<ChildOutcome>(json).ok());
        let Some(child) = reported else {
            let status = run.exit.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            return Outcome::failed(
                phases,
                Status::Error,
                format!("invoke-once ({status}) reported no outcome: {}", run.stderr.trim()),
            );
        };
        phases = child.phases;
        // Process start-up (spawn to main, then runtime set-up) comes before the engine's own start-up.
        let process_ns = span(run.spawned_ns, child.invoke_ns).unwrap_or(0);
        phases.startup_ns = Some(process_ns + phases.startup_ns.unwrap_or(0));
        // The output crossed a pipe too, after the invocation returned in the child.
        if let Some(output) = phases.output_ns {
            phases.output_ns = Some(output + run.read_ns.saturating_sub(child.done_ns));
        }
        match child.status {
            Status::Ok if run.read_ok => Outcome::ok(phases, run.output),
            Status::Ok => Outcome::failed(phases, Status::Error, "reading the child's output failed"),
            status => Outcome::failed(phases, status, child.error),
        }
    }
}

/// When the parent kills the child: at the deadline where nothing inside the child enforces it, else a backstop
/// late enough that the child's own deadline (and its report) comes first.
fn watchdog_after(limits: Limits) -> Duration {
    match limits.interrupt {
        Interrupt::None => Duration::from_millis(limits.timeout_ms),
        Interrupt::Epoch => Duration::from_millis(limits.timeout_ms + 5_000),
    }
}

impl Runtime for ProcessBoundary {
    fn kind(&self) -> RuntimeKind {
        self.inner.kind()
    }

    fn prepare_warm(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        self.inner.prepare_warm(workload)
    }

    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        match mode {
            Mode::Cold => self.cold(workload, input),
            Mode::Warm => self.inner.invoke(mode, workload, input),
        }
    }

    fn served_by(&self) -> Vec<ServedBy> {
        // Each cold child lives for one invocation; load mode's pools never wrap a runtime in the boundary.
        Vec::new()
    }

    fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine> {
        // Created per burst request, never pooled.
        None
    }

    fn defer_teardown(&mut self, _: &WorkloadArtifacts) -> (Teardown, &'static str) {
        (
            Teardown::InWindow,
            "in the window: each invoke-once child's exit and reaping (its answer ends only at its exit)",
        )
    }

    fn finish_teardown(&mut self) {}
}
