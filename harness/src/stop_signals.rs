//! The signals that end a process (SIGINT, SIGTERM, SIGHUP) end a run the way Ctrl-C does: the first one sets
//! the run's stop flag, the run drains its rows and writes a `partial` manifest, and the process exits with
//! 128 + the signal; a second one exits at once with that code.
//!
//! `timeout`, systemd and CI stop a job with SIGTERM, and a closed terminal sends SIGHUP: without a handler
//! each kills the process on the spot and leaves the manifest saying `running`.

use std::io::Read;
use std::os::fd::FromRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

/// The signals handled, with their names.
pub const HANDLED: [(i32, &str); 3] = [
    (libc::SIGINT, "SIGINT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGHUP, "SIGHUP"),
];

/// The first stop signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The run's stop flag, set by the handler itself (null: not installed). Set before [`RECEIVED`], so code that
/// sees a signal received always finds the flag set too: a run cannot go on to its end after a child saw the
/// signal and stopped (the watcher thread may run much later on a busy machine).
static STOP_FLAG: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());
/// The write end of the self-pipe the handler wakes the watcher thread through (-1: not installed).
static PIPE: AtomicI32 = AtomicI32::new(-1);

/// The first stop signal this process received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// A signal's name (`SIGTERM`), for messages and the manifest's reason.
pub fn name(signal: i32) -> &'static str {
    HANDLED
        .iter()
        .find(|(s, _)| *s == signal)
        .map_or("a signal", |(_, n)| n)
}

/// The name of the signal that stopped the run, SIGINT when the flag was set another way.
pub fn received_name() -> &'static str {
    name(received().unwrap_or(libc::SIGINT))
}

/// The exit code of a process stopped by `signal`: 128 + the signal, as a shell reports a process it killed.
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(130)
}

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe calls here: atomic stores and swaps, write(2) and _exit(2).
    let flag = STOP_FLAG.load(Ordering::SeqCst);
    if !flag.is_null() {
        // SAFETY: the pointer comes from an Arc that `install` leaked: it lives as long as the process.
        unsafe { (*flag).store(true, Ordering::SeqCst) };
    }
    let first = RECEIVED
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    let fd = PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: writing one byte from a live stack variable to a pipe this module opened and never closes.
        unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    }
    if !first {
        // SAFETY: _exit is async-signal-safe; a second signal means "stop now".
        unsafe { libc::_exit(i32::from(exit_code(signal))) };
    }
}

/// Installs the handlers: the first signal sets `stop` and says on stderr what happens next (from a watcher
/// thread, as printing is not allowed in a handler); a second exits at once.
pub fn install(stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fds[0] is the read end just opened, owned by the watcher from here on.
    let mut reader = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    PIPE.store(fds[1], Ordering::SeqCst);
    // Leaked on purpose: the handler may read it at any moment until the process ends.
    STOP_FLAG.store(Arc::into_raw(stop).cast_mut(), Ordering::SeqCst);
    std::thread::Builder::new().name("stop-signals".into()).spawn(move || {
        let mut byte = [0u8; 1];
        let mut announced = false;
        // The handler has set the stop flag already: this thread only says so.
        while reader.read_exact(&mut byte).is_ok() {
            if std::mem::replace(&mut announced, true) {
                continue;
            }
            eprintln!(
                "\n{}: finishing the invocation in flight and writing what was measured (send it again, or Ctrl-C, to abort)",
                received_name()
            );
        }
    })?;
    for (signal, _) in HANDLED {
        // SAFETY: a zeroed sigaction is a valid start; the handler only makes async-signal-safe calls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Sleeps for `pause`, cut short once `stop` is set: a stop never waits out a plan's cooldown.
pub fn sleep_unless_stopped(pause: std::time::Duration, stop: &AtomicBool) {
    let end = std::time::Instant::now() + pause;
    while !stop.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
    }
}
