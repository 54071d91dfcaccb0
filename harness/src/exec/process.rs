//! One run of a command as `harness run` times it: a fresh process (`sh -c COMMAND`, or the program itself
//! with `-N`), stdin from `--input` or /dev/null, output to /dev/null or the terminal (`--show-output`). It
//! leads its own process group, listed with the group guard, so a deadline, a Ctrl-C or the harness's death
//! takes everything it started; once it exits, what it left in its group is killed before it is reaped, and
//! `wait4` gives its user and system time and peak RSS (its own and its waited-for children's).

use crate::runtime::child;
use harness_data::ProcessUsage;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a command line becomes a process.
#[derive(Debug, Clone, PartialEq)]
pub enum Shell {
    /// `PROGRAM -c COMMAND` (hyperfine's default, `sh`).
    Program(String),
    /// `-N`/`--shell none`: the line split as a shell would, run directly.
    None,
}

impl Shell {
    /// The argv of `command`, or why it cannot be split.
    pub fn argv(&self, command: &str) -> Result<Vec<String>, String> {
        match self {
            Shell::Program(shell) => Ok(vec![shell.clone(), "-c".into(), command.into()]),
            Shell::None => match shlex::split(command) {
                Some(argv) if !argv.is_empty() => Ok(argv),
                Some(_) => Err("the command is empty".into()),
                None => Err(format!(
                    "`{command}` cannot be split into arguments without a shell (an unclosed quote?): fix the quoting, \
                     or drop -N to run it through a shell"
                )),
            },
        }
    }
}

/// Where a run's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Output {
    /// /dev/null (hyperfine's default): a command that floods its output costs the harness nothing.
    Null,
    /// The harness's own (`--show-output`).
    Inherit,
}

/// What every run of a command shares.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub shell: Shell,
    /// `--input FILE`: each run's stdin, opened afresh.
    pub input: Option<PathBuf>,
    pub output: Output,
    /// `--timeout`: a run still going then is killed, with its group.
    pub timeout: Option<Duration>,
    /// Killed when the harness is asked to stop (Ctrl-C, SIGTERM): the measured runs; hooks run to their end,
    /// so a `--cleanup` still cleans up after a Ctrl-C (a second one ends the harness at once).
    pub stop_on_signal: bool,
}

/// How one process ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub usage: ProcessUsage,
    /// Killed at `--timeout`.
    pub timed_out: bool,
    /// Killed because the harness was asked to stop (Ctrl-C, SIGTERM).
    pub stopped: bool,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.usage.exit_code == Some(0)
    }

    /// How it ended, in words: `exit code 2`, `terminated by signal 9 (SIGKILL)`.
    pub fn describe(&self) -> String {
        match (self.usage.exit_code, self.usage.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("terminated by signal {signal} ({})", signal_name(signal)),
            (None, None) => "no exit status".into(),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// How often a wait looks whether the harness was asked to stop.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Runs `argv` once to its end (or its deadline). An error is a process that could not start.
pub fn run_once(argv: &[String], settings: &RunSettings) -> std::io::Result<Finished> {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    let stdin = match &settings.input {
        Some(path) => Stdio::from(
            std::fs::File::open(path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("opening --input {}: {e}", path.display())))?,
        ),
        None => Stdio::null(),
    };
    let output = || match settings.output {
        Output::Null => Stdio::null(),
        Output::Inherit => Stdio::inherit(),
    };
    command.stdin(stdin).stdout(output()).stderr(output());
    child::die_with_harness(&mut command);
    let process = command.spawn()?;
    let pid = process.id() as libc::pid_t;
    child::guard_group(pid);
    let exit_fd = child::pidfd_open(pid);
    let deadline = settings.timeout.map(|t| Instant::now() + t);
    let mut timed_out = false;
    let mut stopped = false;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) && !timed_out {
            timed_out = true;
            break;
        }
        if settings.stop_on_signal && crate::stop_signals::received().is_some() {
            stopped = true;
            break;
        }
        let slice = left.map_or(STOP_CHECK, |l| l.min(STOP_CHECK));
        if exited_within(pid, exit_fd.as_ref(), slice) {
            break;
        }
    }
    // SAFETY: the child is not reaped yet, so `pid` is still ours and so is the process group it leads: this
    // kills what it left running (or the whole group at a deadline or a stop) before the pid can be reused.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let usage = reap(pid);
    child::unguard_group(pid);
    drop(process);
    Ok(Finished {
        usage: usage?,
        timed_out,
        stopped,
    })
}

/// Whether our child `pid` exits within `wait` (it is left unreaped).
fn exited_within(pid: libc::pid_t, exit_fd: Option<&OwnedFd>, wait: Duration) -> bool {
    match exit_fd {
        Some(fd) => child::readable_within(fd.as_raw_fd(), wait).unwrap_or(false),
        None => {
            let end = Instant::now() + wait;
            loop {
                if child::has_exited(pid) {
                    return true;
                }
                let now = Instant::now();
                if now >= end {
                    return false;
                }
                std::thread::sleep((end - now).min(Duration::from_millis(1)));
            }
        }
    }
}

/// Reaps `pid` with `wait4`: its exit and its resource usage.
fn reap(pid: libc::pid_t) -> std::io::Result<ProcessUsage> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 writes the status and the rusage we own; `pid` is our child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    Ok(ProcessUsage {
        user_ns: ns(usage.ru_utime),
        sys_ns: ns(usage.ru_stime),
        // Linux reports kilobytes.
        max_rss_bytes: usage.ru_maxrss.max(0) as u64 * 1024,
        exit_code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(shell: Shell, timeout: Option<Duration>) -> RunSettings {
        RunSettings {
            shell,
            input: None,
            output: Output::Null,
            timeout,
            stop_on_signal: true,
        }
    }

    #[test]
    fn exit_codes_signals_and_usage_come_back() {
        let sh = settings(Shell::Program("sh".into()), None);
        let run = |s: &RunSettings, c: &str| run_once(&s.shell.argv(c).unwrap(), s).unwrap();
        assert!(run(&sh, "true").success());
        assert_eq!(run(&sh, "exit 3").usage.exit_code, Some(3));
        let killed = run(&sh, "kill -9 $$");
        assert_eq!(
            (killed.usage.signal, killed.describe().contains("SIGKILL")),
            (Some(9), true)
        );
        // Half a second of CPU shows up as user time, and the RSS of a real process is non-zero.
        let busy = run(&sh, "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done");
        assert!(busy.usage.user_ns + busy.usage.sys_ns > 10_000_000, "{busy:?}");
        assert!(busy.usage.max_rss_bytes > 100 * 1024, "{busy:?}");
    }

    #[test]
    fn a_deadline_kills_the_whole_group() {
        let s = settings(Shell::Program("sh".into()), Some(Duration::from_millis(200)));
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        // The background child would write the marker after the deadline, if it survived its group's kill.
        let command = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let started = Instant::now();
        let run = run_once(&s.shell.argv(&command).unwrap(), &s).unwrap();
        assert!(run.timed_out && started.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "a process of the killed group lived on");
    }

    #[test]
    fn no_shell_splits_like_a_shell_and_refuses_what_it_cannot() {
        assert_eq!(Shell::None.argv("echo 'a b' c").unwrap(), ["echo", "a b", "c"]);
        assert!(Shell::None.argv("echo 'a").unwrap_err().contains("unclosed quote"));
        let s = settings(Shell::None, None);
        let missing = run_once(&Shell::None.argv("no-such-program-here").unwrap(), &s).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
