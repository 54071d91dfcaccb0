//! `native`: the workload compiled for the host. Cold spawns its executable (one process per invocation);
//! warm calls the same code directly inside the harness.

use super::{Limits, Outcome, Runtime, span};
use crate::artifacts::WorkloadArtifacts;
use harness_data::{Mode, Phases, RuntimeKind, Status};
use harness_probes::clock::monotonic_ns;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
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

    fn warm(&self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let mut phases = Phases::default();
        let t0 = monotonic_ns();
        // A panicking workload is a trap, as in Wasm; the harness goes on. (An endless one cannot be stopped
        // in-process: use cold mode, which runs it in a process the deadline can kill.)
        IN_WORKLOAD.set(true);
        let result = std::panic::catch_unwind(|| (workload.spec.run)(input));
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

/// A child process run once: input on stdin, output from stdout, stderr kept.
pub(crate) struct ChildRun {
    pub spawned_ns: u64,
    /// When stdout reached its end.
    pub read_ns: u64,
    pub output: Vec<u8>,
    pub read_ok: bool,
    pub stderr: String,
    pub killed: bool,
    pub exit: std::io::Result<std::process::ExitStatus>,
}

/// Spawns `command`, feeds it `input`, and collects what it says. A watchdog kills it at the deadline; the
/// watchdog starts before the clock runs (a thread start is not the workload's cost), learns the pid once
/// there is one, and is told when the child is done before the child is reaped, so the pid cannot have been
/// reused.
pub(crate) fn run_child(command: &mut Command, input: &[u8], timeout: Duration) -> std::io::Result<ChildRun> {
    let (pid_tx, pid_rx) = mpsc::channel::<libc::pid_t>();
    let (done, deadline) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let Ok(pid) = pid_rx.recv() else { return false };
        if deadline.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
            // SAFETY: the child is not reaped until this thread is joined, so `pid` is still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return true;
        }
        false
    });
    let spawned_ns = monotonic_ns();
    let mut child = match command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            drop(pid_tx);
            let _ = watchdog.join();
            return Err(e);
        }
    };
    let _ = pid_tx.send(child.id() as libc::pid_t);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    // The child reads all of stdin before it writes, so writing first cannot deadlock; a child that dies
    // early closes the pipe and the write error is moot.
    let _ = stdin.write_all(input);
    drop(stdin);
    let mut output = Vec::new();
    let read_ok = stdout.read_to_end(&mut output).is_ok();
    let read_ns = monotonic_ns();
    let mut diagnostics = Vec::new();
    let _ = stderr.read_to_end(&mut diagnostics);
    let _ = done.send(());
    let killed = watchdog.join().unwrap_or(false);
    let exit = child.wait();
    Ok(ChildRun {
        spawned_ns,
        read_ns,
        output,
        read_ok,
        stderr: String::from_utf8_lossy(&diagnostics).into_owned(),
        killed,
        exit,
    })
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
        match mode {
            Mode::Cold => self.cold(workload, input),
            Mode::Warm => self.warm(workload, input),
        }
    }
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
