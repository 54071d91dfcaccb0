//! `native`: the workload compiled for the host. Cold spawns its executable (one process per invocation);
//! warm calls the same code directly inside the harness.

use super::wasi::command::{self as wasi_command, Ended};
use super::wasi::output::{self, Capture, Stream};
use super::{Limits, Outcome, Runtime, ServedBy, SharedEngine, span};
use crate::artifacts::{CommandArtifacts, Guest, WorkloadArtifacts};
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use harness_probes::clock::monotonic_ns;
use harness_workloads::WorkloadSpec;
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
    /// Stdout and stderr together passed the capture's limit: reading stopped there (the child then meets a
    /// closed pipe).
    pub over_cap: bool,
}

/// Makes a child go away with the harness, even when the harness dies by SIGKILL: it leads its own process
/// group (so a deadline can kill everything it started, and a Ctrl-C meant for the harness does not hit it
/// mid-invocation), and the group is killed when the harness dies, by the group guard ([`GUARD_SCRIPT`]) once
/// [`guard_group`] has listed it. Where the guard cannot run, the child gets `PR_SET_PDEATHSIG` instead (it then
/// covers the child only, not what it spawns).
///
/// Not `PR_SET_PDEATHSIG` always: it needs a `pre_exec` hook, which turns the spawn into a full `fork` of the
/// harness and adds hundreds of microseconds to every measured cold start.
pub(crate) fn die_with_harness(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    if !guard_running() {
        set_death_signal(command);
    }
}

/// `PR_SET_PDEATHSIG` (SIGKILL) for the child of `command`. The signal follows the spawning *thread*: spawn
/// from a thread that outlives the child.
fn set_death_signal(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe and runs here, before the fork.
    let harness = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe functions (prctl,
    // getppid, _exit); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The harness died between the fork and the prctl: the signal will never come.
            if libc::getppid() != harness {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

/// The shell program of the group guard: it keeps the list of process groups the harness has running (`+pgid`
/// and `-pgid` lines on its stdin) and, when its stdin reaches EOF (the harness is gone, however it died), kills
/// the groups still listed: the children and whatever they spawned. It ignores the terminal's signals, which
/// are the harness's to handle.
const GUARD_SCRIPT: &str = r#"trap '' INT HUP QUIT
groups=" "
while read -r line; do
  case $line in
    +*) groups="$groups${line#+} " ;;
    -*) g=" ${line#-} "; case $groups in *"$g"*) groups="${groups%%"$g"*} ${groups#*"$g"}" ;; esac ;;
  esac
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done
"#;

/// The group guard's stdin: `None` until the first child, then `Some(None)` if it could not be started or
/// has died.
static GUARD: std::sync::Mutex<Option<Option<std::process::ChildStdin>>> = std::sync::Mutex::new(None);

fn lock_guard() -> std::sync::MutexGuard<'static, Option<Option<std::process::ChildStdin>>> {
    let mut guard = GUARD.lock().unwrap_or_else(|p| p.into_inner());
    guard.get_or_insert_with(|| {
        let mut command = Command::new("/bin/sh");
        command
            .args(["-c", GUARD_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own group: a Ctrl-C at the terminal must not take the guard down with the harness's children.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        // The child is never waited for: the guard outlives the harness by design.
        command.spawn().ok().and_then(|mut child| child.stdin.take())
    });
    guard
}

/// Whether the group guard runs (it is started here, at the first child).
fn guard_running() -> bool {
    matches!(*lock_guard(), Some(Some(_)))
}

/// Tells the group guard that the process group `pgid` started (`+`) or is gone (`-`).
fn guard(sign: char, pgid: libc::pid_t) {
    let mut guard = lock_guard();
    if let Some(stdin) = guard.as_mut()
        && let Some(pipe) = stdin
        && pipe.write_all(format!("{sign}{pgid}\n").as_bytes()).is_err()
    {
        *stdin = None;
    }
}

/// Lists a started child's process group with the guard (see [`GUARD_SCRIPT`]).
pub(crate) fn guard_group(pgid: libc::pid_t) {
    guard('+', pgid);
}

/// Takes a process group the harness has killed (or whose leader it reaped) off the guard's list.
pub(crate) fn unguard_group(pgid: libc::pid_t) {
    guard('-', pgid);
}

/// How long the output pipes may stay open after the child exited and its process group was killed: only a
/// process that left the group (`setsid`) still holds them, and the harness does not wait on it.
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// Spawns `command`, feeds it `input`, and collects what it says. A watchdog kills its whole process group at
/// the deadline; the watchdog starts before the clock runs (a thread start is not the workload's cost), learns
/// the pid once there is one, and is told when the child is done before the child is reaped, so the pid (and
/// the group id) cannot have been reused. What the child left running in its group is killed when it exits,
/// and a pipe a stray grandchild keeps open does not block the harness.
pub(crate) fn run_child(command: &mut Command, input: &[u8], timeout: Duration) -> std::io::Result<ChildRun> {
    run_child_capped(command, input, timeout, Capture::unlimited())
}

/// Reads `pipe` to its end into `capture`; stops (closing the pipe) at the capture's limit. Whether the read
/// ended without an error, and when.
fn read_into(mut pipe: impl Read, capture: &Capture, stream: Stream) -> (bool, u64) {
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => return (true, monotonic_ns()),
            Ok(n) if capture.write(stream, &chunk[..n]) => {}
            Ok(_) => return (true, monotonic_ns()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return (false, monotonic_ns()),
        }
    }
}

/// [`run_child`], its stdout and stderr together held to `capture`'s limit (a command's output cap).
pub(crate) fn run_child_capped(
    command: &mut Command,
    input: &[u8],
    timeout: Duration,
    capture: Capture,
) -> std::io::Result<ChildRun> {
    let (pid_tx, pid_rx) = mpsc::channel::<libc::pid_t>();
    let (done, deadline) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let Ok(pid) = pid_rx.recv() else { return false };
        if deadline.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
            // SAFETY: the child is not reaped until this thread is joined, so `pid` is still ours, and so is
            // the process group it leads.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            return true;
        }
        false
    });
    die_with_harness(command);
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
    let pid = child.id() as libc::pid_t;
    let _ = pid_tx.send(pid);
    guard_group(pid);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    // Readers on their own threads: the harness waits for the child, not for the pipes' ends, which a
    // grandchild may hold open forever.
    let (out_tx, out_rx) = mpsc::channel();
    let out_capture = capture.clone();
    std::thread::spawn(move || {
        let _ = out_tx.send(read_into(&mut stdout, &out_capture, Stream::Stdout));
    });
    let (err_tx, err_rx) = mpsc::channel();
    let err_capture = capture.clone();
    std::thread::spawn(move || {
        let _ = err_tx.send(read_into(&mut stderr, &err_capture, Stream::Stderr));
    });
    // The child reads all of stdin before it writes, so writing first cannot deadlock; a child that dies
    // early (or is killed at the deadline) closes the pipe and the write error is moot.
    let _ = stdin.write_all(input);
    drop(stdin);
    let exited = wait_without_reaping(pid);
    let _ = done.send(());
    let killed = watchdog.join().unwrap_or(false);
    // SAFETY: the child is a zombie, not reaped yet, so the group id is still its own.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    unguard_group(pid);
    let exit = exited.and_then(|_| child.wait());
    let (read_ok, read_ns) = out_rx
        .recv_timeout(PIPE_GRACE)
        .unwrap_or_else(|_| (false, monotonic_ns()));
    let _ = err_rx.recv_timeout(PIPE_GRACE);
    let (output, mut diagnostics) = capture.take();
    if !read_ok {
        diagnostics.extend_from_slice(
            b"\nthe output pipe stayed open after the workload exited (a process it started left its group)",
        );
    }
    Ok(ChildRun {
        spawned_ns,
        read_ns,
        output,
        read_ok,
        stderr: String::from_utf8_lossy(&diagnostics).into_owned(),
        killed,
        exit,
        over_cap: capture.over(),
    })
}

/// Waits until the child `pid` has exited, leaving it a zombie (`WNOWAIT`): its pid and process group id stay
/// reserved until [`std::process::Child::wait`] reaps it.
fn wait_without_reaping(pid: libc::pid_t) -> std::io::Result<()> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value for waitid to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes into `info`, which we own; `pid` is our unreaped child.
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
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
    fn the_death_signal_fallback_kills_the_child_with_its_spawning_thread() {
        let mut command = std::process::Command::new("sleep");
        command.arg("300");
        super::set_death_signal(&mut command);
        // The signal follows the spawning thread: its end stands in for the harness's death.
        let mut child = std::thread::spawn(move || command.spawn().unwrap()).join().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the child outlived its parent thread");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn parses_the_child_phase_line() {
        let stderr = "some warning\nHARNESS_PHASES main=10 input=20 execute=35\n";
        assert_eq!(super::child_phases(stderr), Some((10, 20, 35)));
        assert_eq!(super::child_phases("no phases"), None);
    }
}
