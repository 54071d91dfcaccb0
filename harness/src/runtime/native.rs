//! `native`: the workload compiled for the host. Cold spawns its executable (one process per invocation);
//! warm calls the same code directly inside the harness.

use super::child::{run_child, run_child_capped};
use super::wasi::command::{self as wasi_command, Ended};
use super::wasi::output::{self, Capture};
use super::{Limits, Outcome, Runtime, ServedBy, SharedEngine, span};
use crate::artifacts::{CommandArtifacts, Guest, WorkloadArtifacts};
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use harness_probes::clock::monotonic_ns;
use harness_workloads::WorkloadSpec;
use std::process::Command;
use std::time::Duration;

pub struct NativeRuntime {
    timeout: Duration,
}

impl NativeRuntime {
    pub fn new(limits: Limits) -> NativeRuntime {
        quiet_workload_panics();
        NativeRuntime {
            timeout: Duration::from_millis(limits.timeout_ms),
        }
    }

    fn cold(&self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let mut phases = Phases::default();
        let run = match run_child(&mut Command::new(&workload.native), input, self.timeout) {
            Ok(run) => run,
            Err(e) => {
                return Outcome::failed(
                    phases,
                    Status::Error,
                    format!("spawning {}: {e}", workload.native.display()),
                );
            }
        };
        if let Some((main, input_done, executed)) = child_phases(&run.stderr) {
            phases.startup_ns = span(run.spawned_ns, main);
            phases.input_ns = span(main, input_done);
            phases.execute_ns = span(input_done, executed);
            phases.output_ns = span(executed, run.read_ns);
        }
        let message = run
            .stderr
            .lines()
            .filter(|l| !l.starts_with("HARNESS_PHASES"))
            .collect::<Vec<_>>()
            .join("; ");
        if run.killed {
            return Outcome::failed(
                phases,
                Status::Timeout,
                format!("killed after the {} ms deadline", self.timeout.as_millis()),
            );
        }
        match run.exit {
            Ok(status) if status.success() && run.read_ok => Outcome::ok(phases, run.output),
            Ok(status) if status.code() == Some(2) => {
                Outcome::failed(phases, Status::Error, format!("workload error: {message}"))
            }
            Ok(status) => Outcome::failed(phases, Status::Trap, format!("process exited with {status}: {message}")),
            Err(e) => Outcome::failed(phases, Status::Error, format!("waiting for the child: {e}")),
        }
    }

    /// A command workload's native twin, cold and warm alike (there is no in-process call of an external
    /// program): spawned in the module's directory with the plan's `args`, the input on stdin; its stdout is
    /// the output, checked as the Wasm runtimes' is. Its phases are inside the process, so none are recorded.
    fn command(&self, workload: &WorkloadArtifacts, command: &CommandArtifacts, input: &[u8]) -> Outcome {
        let phases = Phases::default();
        let mut child = Command::new(&workload.native);
        child.args(&command.args).current_dir(&command.dir);
        let run = match run_child_capped(&mut child, input, self.timeout, Capture::default()) {
            Ok(run) => run,
            Err(e) => {
                return Outcome::failed(
                    phases,
                    Status::Error,
                    format!("spawning {}: {e}", workload.native.display()),
                );
            }
        };
        if run.killed {
            return Outcome::failed(
                phases,
                Status::Timeout,
                format!("killed after the {} ms deadline", self.timeout.as_millis()),
            );
        }
        let ended = match run.exit {
            Ok(status) => match status.code() {
                Some(code) if run.read_ok => Ended::Exit(code),
                Some(_) => Ended::Failed(Status::Error, "reading the command's stdout failed".into()),
                None => Ended::Failed(Status::Trap, format!("process ended by {status}")),
            },
            Err(e) => Ended::Failed(Status::Error, format!("waiting for the child: {e}")),
        };
        let ended = output::over_cap(ended, run.over_cap);
        wasi_command::outcome(command, phases, ended, run.output, run.stderr.as_bytes())
    }

    fn warm(&self, spec: &WorkloadSpec, input: &[u8]) -> Outcome {
        let mut phases = Phases::default();
        let t0 = monotonic_ns();
        // A panicking workload is a trap, as in Wasm; the harness goes on. (An endless one cannot be stopped
        // in-process: use cold mode, which runs it in a process the deadline can kill.)
        IN_WORKLOAD.set(true);
        let result = std::panic::catch_unwind(|| (spec.run)(input));
        IN_WORKLOAD.set(false);
        phases.execute_ns = span(t0, monotonic_ns());
        match result {
            Ok(Ok(output)) => Outcome::ok(phases, output),
            Ok(Err(message)) => Outcome::failed(phases, Status::Error, format!("workload error: {message}")),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                Outcome::failed(phases, Status::Trap, format!("panic: {message}"))
            }
        }
    }
}

thread_local! {
    /// Set while a native warm invocation runs: its panic is a recorded trap, not a harness failure.
    static IN_WORKLOAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Keeps the panic message of a trapping workload (already in its row's `error`) off the terminal, and
/// leaves every other panic to the default hook.
fn quiet_workload_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_WORKLOAD.get() {
                default(info);
            }
        }));
    });
}

/// The child's `HARNESS_PHASES main=.. input=.. execute=..` line (see workloads/entry/src/main.rs).
fn child_phases(stderr: &str) -> Option<(u64, u64, u64)> {
    let line = stderr.lines().rev().find(|l| l.starts_with("HARNESS_PHASES "))?;
    let value = |key: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
    };
    Some((value("main")?, value("input")?, value("execute")?))
}

impl Runtime for NativeRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Native
    }

    fn prepare_warm(&mut self, _workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        // The code is linked into the harness: nothing to load.
        Ok(())
    }

    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        match (&workload.guest, mode) {
            (Guest::Command(command), _) => self.command(workload, command, input),
            (Guest::Builtin(_), Mode::Cold) => self.cold(workload, input),
            (Guest::Builtin(spec), Mode::Warm) => self.warm(spec, input),
        }
    }

    fn served_by(&self) -> Vec<ServedBy> {
        // Warm is a call inside the harness; a cold process lives for one invocation.
        Vec::new()
    }

    fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine> {
        // Each worker calls the workload directly: nothing to share or hold idle.
        None
    }

    fn defer_teardown(&mut self, _: &WorkloadArtifacts) -> (Teardown, &'static str) {
        // The child's exit is how its output ends (the pipe closes after its address space is torn down).
        (
            Teardown::InWindow,
            "in the window: each one-shot process's exit and reaping (its output ends only at its exit)",
        )
    }

    fn finish_teardown(&mut self) {}
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_child_phase_line() {
        let stderr = "some warning\nHARNESS_PHASES main=10 input=20 execute=35\n";
        assert_eq!(super::child_phases(stderr), Some((10, 20, 35)));
        assert_eq!(super::child_phases("no phases"), None);
    }
}
