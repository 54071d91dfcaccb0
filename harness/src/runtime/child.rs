//! The child processes the harness starts: one-shot children (a native cold start, a command's native twin, an
//! `invoke-once` process boundary) run to their end by [`run_child`], and the group guard that kills every
//! child's process group when the harness dies ([`die_with_harness`]).
//!
//! [`run_child`] runs on the calling thread alone: one `ppoll` over the child's stdin, stdout, stderr and a
//! pidfd, with the deadline as its timeout. No thread is started per child: each thread's start and exit (a
//! stack mapped and unmapped, a clone, a join) cost tens of microseconds on a VM, inside every measured cold
//! start, and three of them per child made a native cold start 14-30% slower than `hyperfine -N`'s.

use super::wasi::output::{Capture, Stream};
use harness_probes::clock::monotonic_ns;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

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

/// The shell program of the group guard. The harness keeps the list of process groups it has running in a
/// table the guard holds as its stdout (a memfd of [`SLOT`]-byte lines, `+pgid` for a listed group), and never
/// writes to the guard's stdin: when that reaches EOF (the harness is gone, however it died), the guard reads
/// the table and kills the groups still listed, the children and whatever they spawned. So listing a child wakes
/// nothing (a pipe message woke the shell twice per child, on the CPU the child was starting on). It ignores the
/// terminal's signals, which are the harness's to handle.
const GUARD_SCRIPT: &str = r#"trap '' INT HUP QUIT
while read -r _; do :; done
while read -r line; do
  case $line in
    +*) kill -9 "-${line#+}" 2>/dev/null ;;
  esac
done </proc/self/fd/1
"#;

/// One line of the guard's table: a sign, the group id padded with spaces (which `read` strips), a newline.
const SLOT: usize = 12;

/// The running group guard.
struct Guard {
    process: std::process::Child,
    /// Its stdin, kept open and never written: its end is the guard's signal.
    _alive: std::process::ChildStdin,
    /// The table the guard reads at the end, and which of its slots hold which group (0: free).
    table: std::fs::File,
    slots: Vec<libc::pid_t>,
}

/// The group guard: `None` until the first child, then `Some(None)` if it could not be started or has died.
static GUARD: std::sync::Mutex<Option<Option<Guard>>> = std::sync::Mutex::new(None);

fn start_guard() -> Option<Guard> {
    // SAFETY: memfd_create takes a name and flags, and returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(c"harness-group-guard".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a new descriptor, ours alone.
    let table = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", GUARD_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(table.try_clone().ok()?))
        .stderr(Stdio::null());
    // Its own group: a Ctrl-C at the terminal must not take the guard down with the harness's children.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut process = command.spawn().ok()?;
    let alive = process.stdin.take()?;
    Some(Guard {
        process,
        _alive: alive,
        table,
        slots: Vec::new(),
    })
}

fn lock_guard() -> std::sync::MutexGuard<'static, Option<Option<Guard>>> {
    let mut guard = GUARD.lock().unwrap_or_else(|p| p.into_inner());
    guard.get_or_insert_with(start_guard);
    guard
}

/// Whether the group guard runs (it is started here, at the first child).
fn guard_running() -> bool {
    let mut guard = lock_guard();
    let Some(running) = guard.as_mut() else { return false };
    // A guard that died (killed by someone) protects nothing: later children get the death signal instead.
    if running
        .as_mut()
        .is_some_and(|g| !matches!(g.process.try_wait(), Ok(None)))
    {
        *running = None;
    }
    running.is_some()
}

/// Writes `+pgid` (listed) or `-pgid` (gone) into a slot of the guard's table: one 12-byte `pwrite`, whole or not
/// at all however the harness dies.
fn guard(sign: char, pgid: libc::pid_t) {
    use std::os::unix::fs::FileExt;
    let mut lock = lock_guard();
    let Some(Some(guard)) = lock.as_mut() else { return };
    let (slot, free) = if sign == '+' {
        (guard.slots.iter().position(|&g| g == 0), pgid)
    } else {
        (guard.slots.iter().position(|&g| g == pgid), 0)
    };
    let slot = match slot {
        Some(slot) => slot,
        // A group not listed: nothing to take off.
        None if sign == '-' => return,
        None => {
            guard.slots.push(0);
            guard.slots.len() - 1
        }
    };
    guard.slots[slot] = free;
    let line = format!("{sign}{pgid:<width$}\n", width = SLOT - 2);
    if line.len() != SLOT || guard.table.write_all_at(line.as_bytes(), (slot * SLOT) as u64).is_err() {
        *lock = Some(None);
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

/// Without a pidfd (Linux before 5.3), how often the wait looks whether the child has exited.
const EXIT_CHECK: Duration = Duration::from_millis(1);

/// Spawns `command`, feeds it `input`, and collects what it says, until it exits. At the deadline its whole
/// process group is killed; the kill comes before the child is reaped, so the pid (and the group id) cannot have
/// been reused. What the child left running in its group is killed when it exits, and a pipe a stray
/// grandchild keeps open does not block the harness.
pub(crate) fn run_child(command: &mut Command, input: &[u8], timeout: Duration) -> std::io::Result<ChildRun> {
    run_child_capped(command, input, timeout, Capture::unlimited())
}

/// [`run_child`], its stdout and stderr together held to `capture`'s limit (a command's output cap).
pub(crate) fn run_child_capped(
    command: &mut Command,
    input: &[u8],
    timeout: Duration,
    capture: Capture,
) -> std::io::Result<ChildRun> {
    die_with_harness(command);
    let spawned_ns = monotonic_ns();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    guard_group(pid);
    let deadline = Instant::now() + timeout;
    let exit_fd = pidfd_open(pid);
    let mut streams = Streams::new(&mut child, input, capture.clone());
    streams.feed();
    let mut killed = false;
    // The child reads all of stdin before it writes, yet the input is fed as the pipe takes it, so a child
    // that does not read cannot block the harness past the deadline.
    let exited = loop {
        let now = Instant::now();
        if !killed && now >= deadline {
            // SAFETY: the child is not reaped before this loop ends, so `pid` is still ours, and so is the
            // process group it leads.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            killed = true;
        }
        // Once killed, the child's end is near: wait for it without a limit.
        let wait = (!killed).then(|| deadline - now);
        let wait = match exit_fd {
            Some(_) => wait,
            None => Some(wait.map_or(EXIT_CHECK, |w| w.min(EXIT_CHECK))),
        };
        match streams.poll(exit_fd.as_ref(), wait) {
            Ok(true) => break Ok(()),
            Ok(false) if exit_fd.is_none() && has_exited(pid) => break Ok(()),
            Ok(false) => {}
            Err(e) => break Err(e),
        }
    };
    // SAFETY: the child has exited (or the wait failed) and is not reaped yet, so the group id is still its own.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    unguard_group(pid);
    let reaped = child.wait();
    let exit = exited.and(reaped);
    // What the child wrote before its exit is in the pipes; a grandchild that left the group may hold them.
    streams.stdin = None;
    let grace_end = Instant::now() + PIPE_GRACE;
    while streams.reading() {
        let now = Instant::now();
        if now >= grace_end || streams.poll(None, Some(grace_end - now)).is_err() {
            break;
        }
    }
    let (read_ok, read_ns) = streams.stdout_end.unwrap_or_else(|| (false, monotonic_ns()));
    drop(streams);
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

/// A one-shot child's pipes, served by one thread.
struct Streams<'a> {
    stdin: Option<ChildStdin>,
    input: &'a [u8],
    /// Bytes of `input` written so far.
    fed: usize,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    capture: Capture,
    /// Whether stdout's read ended without an error, and when: at its end, or where the capture's limit stopped it.
    stdout_end: Option<(bool, u64)>,
    /// One read's bytes; never zeroed (read writes into its spare capacity).
    chunk: Vec<u8>,
}

impl<'a> Streams<'a> {
    fn new(child: &mut std::process::Child, input: &'a [u8], capture: Capture) -> Streams<'a> {
        let stdin = child.stdin.take();
        if let Some(pipe) = &stdin
            && input.len() > libc::PIPE_BUF
        {
            // Written as the pipe takes it, between reads: a full pipe must not block the thread that reads. An
            // input that fits the new, empty pipe at once is written without (two syscalls fewer per child).
            set_nonblocking(pipe.as_raw_fd());
        }
        Streams {
            stdin,
            input,
            fed: 0,
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            capture,
            stdout_end: None,
            chunk: Vec::with_capacity(64 << 10),
        }
    }

    /// Whether stdout or stderr may still say something.
    fn reading(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some()
    }

    /// Writes what the stdin pipe takes now; closes it once the input is in (the child then sees its end), or
    /// when the child stopped reading.
    fn feed(&mut self) {
        let Some(pipe) = &mut self.stdin else { return };
        while self.fed < self.input.len() {
            match pipe.write(&self.input[self.fed..]) {
                Ok(n) => self.fed += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // The child is gone or closed its stdin: the rest of the input is moot.
                Err(_) => break,
            }
        }
        self.stdin = None;
    }

    /// Reads one chunk of `stream` into the capture; at its end, a read error or the capture's limit, the pipe
    /// is closed (a child writing past the limit meets a closed pipe).
    fn read(&mut self, stream: Stream) {
        let fd = match stream {
            Stream::Stdout => self.stdout.as_ref().map(|p| p.as_raw_fd()),
            Stream::Stderr => self.stderr.as_ref().map(|p| p.as_raw_fd()),
        };
        let Some(fd) = fd else { return };
        self.chunk.clear();
        // SAFETY: read writes at most `capacity` bytes into the chunk's spare capacity, which we own.
        let n = unsafe { libc::read(fd, self.chunk.as_mut_ptr().cast(), self.chunk.capacity()) };
        let ended_ok = match n {
            0 => Some(true),
            n if n > 0 => {
                // SAFETY: read initialised the first `n` bytes.
                unsafe { self.chunk.set_len(n as usize) };
                (!self.capture.write(stream, &self.chunk)).then_some(true)
            }
            _ => match std::io::Error::last_os_error().kind() {
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock => None,
                _ => Some(false),
            },
        };
        if let Some(ok) = ended_ok {
            match stream {
                Stream::Stdout => {
                    self.stdout = None;
                    self.stdout_end = Some((ok, monotonic_ns()));
                }
                Stream::Stderr => self.stderr = None,
            }
        }
    }

    /// Waits (at most `wait`; `None`: without a limit) until a pipe is ready or `exit` (a pidfd) says the child
    /// exited, and serves the pipes that are ready. Returns whether the child exited.
    fn poll(&mut self, exit: Option<&OwnedFd>, wait: Option<Duration>) -> std::io::Result<bool> {
        let entry = |fd: Option<RawFd>, events: libc::c_short| libc::pollfd {
            // A negative descriptor is skipped by ppoll.
            fd: fd.unwrap_or(-1),
            events,
            revents: 0,
        };
        let mut fds = [
            entry(self.stdin.as_ref().map(|p| p.as_raw_fd()), libc::POLLOUT),
            entry(self.stdout.as_ref().map(|p| p.as_raw_fd()), libc::POLLIN),
            entry(self.stderr.as_ref().map(|p| p.as_raw_fd()), libc::POLLIN),
            entry(exit.map(|fd| fd.as_raw_fd()), libc::POLLIN),
        ];
        let timeout = wait.map(|w| libc::timespec {
            tv_sec: w.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_nsec: w.subsec_nanos() as libc::c_long,
        });
        let timeout_ptr = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `fds` and `timeout` outlive the call; a null signal mask leaves the thread's as it is.
        let ready = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timeout_ptr,
                std::ptr::null(),
            )
        };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            return match error.kind() {
                std::io::ErrorKind::Interrupted => Ok(false),
                _ => Err(error),
            };
        }
        if fds[0].revents != 0 {
            self.feed();
        }
        if fds[1].revents != 0 {
            self.read(Stream::Stdout);
        }
        if fds[2].revents != 0 {
            self.read(Stream::Stderr);
        }
        Ok(fds[3].revents != 0)
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own, changing only its status flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// A pidfd of our child `pid`, readable once it has exited; `None` where the kernel has none (before 5.3).
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a non-negative return is a new descriptor, ours alone.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether `fd` (a pipe, an exited child's pidfd) is readable within `wait`; a signal in the wait is "not yet".
pub(crate) fn readable_within(fd: RawFd, wait: Duration) -> std::io::Result<bool> {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout = libc::timespec {
        tv_sec: wait.as_secs() as libc::time_t,
        tv_nsec: wait.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one pollfd we own, a timespec on the stack, no signal mask.
    match unsafe { libc::ppoll(&mut poll, 1, &timeout, std::ptr::null()) } {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// Kills the whole process group our unreaped child `process` leads, reaps the child, and takes the group off
/// the guard's list (a browser: its zygotes, renderers, GPU and utility processes go with it).
pub(crate) fn kill_group(mut process: std::process::Child) {
    let pid = process.id() as libc::pid_t;
    // SAFETY: the child is not reaped yet, so its pid is ours and so is the group it leads.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let _ = process.wait();
    unguard_group(pid);
}

/// Stops (`SIGSTOP`) or resumes (`SIGCONT`) every process of the group our unreaped child `pgid` leads: a warm
/// browser frozen between its invocations, as a serverless platform freezes an idle instance.
pub(crate) fn signal_group(pgid: u32, signal: libc::c_int) {
    // SAFETY: the leader is our unreaped child (its owner kills and reaps it only on drop), so the group is ours.
    unsafe { libc::kill(-(pgid as libc::pid_t), signal) };
}

/// Whether our child `pid` has exited, leaving it a zombie (`WNOWAIT`): its pid and process group id stay
/// reserved until it is reaped.
pub(crate) fn has_exited(pid: libc::pid_t) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to overwrite.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes into `info`, which we own; `pid` is our unreaped child.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: waitid filled `info` in; si_pid is 0 when no child had changed state.
    r == 0 && unsafe { info.si_pid() } != 0
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
}
