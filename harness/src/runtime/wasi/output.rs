//! The one output cap of command workloads, on every runtime that runs them: what a command writes to stdout and
//! stderr together is kept in memory up to [`OUTPUT_CAP`]; a write past it is refused (the engines stop the
//! guest there), and the row is an `error` saying so ([`over_cap`]), never `ok` with a cut output whose digest
//! would then differ between runtimes.

use super::command::Ended;
use harness_data::Status;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The most a command may write to stdout and stderr together: 256 MiB, as a built-in's largest input.
pub const OUTPUT_CAP: usize = 256 << 20;

/// Which of the command's streams a write is to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A command's stdout and stderr, shared by the writers of one invocation and held to [`OUTPUT_CAP`] together.
#[derive(Debug, Clone)]
pub struct Capture(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    streams: Mutex<(Vec<u8>, Vec<u8>)>,
    over: AtomicBool,
    limit: usize,
}

impl Default for Capture {
    /// A command's capture, held to [`OUTPUT_CAP`].
    fn default() -> Capture {
        Capture::with_limit(OUTPUT_CAP)
    }
}

impl Capture {
    fn with_limit(limit: usize) -> Capture {
        Capture(Arc::new(Shared {
            streams: Mutex::default(),
            over: AtomicBool::new(false),
            limit,
        }))
    }

    /// No limit: a built-in workload's own executable, whose output its input bounds (`transfer` prints up
    /// to 256 MiB, plus its phase line on stderr).
    pub fn unlimited() -> Capture {
        Capture::with_limit(usize::MAX)
    }

    /// Keeps `bytes` whole, or, when they would pass the cap, none of them: returns false and the capture is
    /// over the cap from then on.
    pub fn write(&self, stream: Stream, bytes: &[u8]) -> bool {
        let mut streams = self.0.streams.lock().unwrap_or_else(|p| p.into_inner());
        if self.over() || (streams.0.len() + streams.1.len()).saturating_add(bytes.len()) > self.0.limit {
            self.0.over.store(true, Ordering::Relaxed);
            return false;
        }
        match stream {
            Stream::Stdout => streams.0.extend_from_slice(bytes),
            Stream::Stderr => streams.1.extend_from_slice(bytes),
        }
        true
    }

    /// Whether a write was refused.
    pub fn over(&self) -> bool {
        self.0.over.load(Ordering::Relaxed)
    }

    /// The streams so far (stdout, stderr), leaving the capture empty.
    pub fn take(&self) -> (Vec<u8>, Vec<u8>) {
        std::mem::take(&mut *self.0.streams.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// An `std::io::Write` into one stream: a write past the cap is an error (`EFBIG`).
    pub fn writer(&self, stream: Stream) -> Writer {
        Writer {
            capture: self.clone(),
            stream,
        }
    }
}

/// See [`Capture::writer`].
#[derive(Debug, Clone)]
pub struct Writer {
    capture: Capture,
    stream: Stream,
}

impl std::io::Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.capture.write(self.stream, bytes) {
            Ok(bytes.len())
        } else {
            Err(std::io::Error::from_raw_os_error(libc::EFBIG))
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the row says when the command wrote past the cap.
pub fn over_cap_message() -> String {
    format!(
        "the command wrote more than {} MiB to stdout and stderr together, the harness's cap on a command's \
         output; it was stopped there and its output is not kept (write less, or write to a file in a \
         `preopen_writable` directory)",
        OUTPUT_CAP >> 20
    )
}

/// How the command ended, as its row records it: an `error` for output past the cap, whatever `_start` did
/// after the refused write (a trap, or an exit the guest chose on the write error).
pub fn over_cap(ended: Ended, over: bool) -> Ended {
    if over {
        Ended::Failed(Status::Error, over_cap_message())
    } else {
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn stdout_and_stderr_share_one_cap_and_a_refused_write_keeps_nothing_of_itself() {
        let capture = Capture::default();
        assert!(capture.write(Stream::Stdout, &vec![b'o'; OUTPUT_CAP - 10]));
        assert!(capture.write(Stream::Stderr, b"0123456789"));
        assert!(!capture.over());
        // One byte more, on either stream, is past the cap.
        assert!(!capture.write(Stream::Stdout, b"x"));
        assert!(capture.over());
        let mut stderr = capture.writer(Stream::Stderr);
        assert_eq!(stderr.write(b"y").unwrap_err().raw_os_error(), Some(libc::EFBIG));
        let (out, err) = capture.take();
        assert_eq!((out.len(), err.as_slice()), (OUTPUT_CAP - 10, b"0123456789".as_slice()));
        assert!(matches!(over_cap(Ended::Exit(0), true), Ended::Failed(Status::Error, m) if m.contains("256 MiB")));
        assert!(matches!(over_cap(Ended::Exit(0), false), Ended::Exit(0)));
    }
}
