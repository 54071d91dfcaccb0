//! Invocations served by a separate process: the request/response framing that the workload entry's `--serve`
//! mode (containers) and `workloads/js/runner.js` (node) speak, and a child process driven through it.
//!
//! Request: `u32 len` + input. Response: `u32 status` (0 ok, 1 workload error, 2 trap), `u32 len`, six `u64`
//! CLOCK_MONOTONIC readings taken by the server (main, loaded, received, ready, input, executed), then the output
//! or the error text; all little-endian. Server and harness read the same kernel clock, so the readings split
//! the harness's latency into phases.

use super::{Outcome, span};
use harness_data::{Phases, Status};
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub const HEADER_LEN: usize = 56;

pub fn encode_request(input: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + input.len());
    frame.extend_from_slice(&(input.len() as u32).to_le_bytes());
    frame.extend_from_slice(input);
    frame
}

/// One decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u32,
    pub main_ns: u64,
    pub loaded_ns: u64,
    pub received_ns: u64,
    pub ready_ns: u64,
    pub input_ns: u64,
    pub executed_ns: u64,
    pub payload: Vec<u8>,
}

impl Response {
    /// The response at the start of `buf` and the bytes it took, or `None` while it is incomplete.
    pub fn parse(buf: &[u8]) -> Option<(Response, usize)> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"));
        let len = u32_at(4) as usize;
        if buf.len() < HEADER_LEN + len {
            return None;
        }
        Some((
            Response {
                status: u32_at(0),
                main_ns: u64_at(8),
                loaded_ns: u64_at(16),
                received_ns: u64_at(24),
                ready_ns: u64_at(32),
                input_ns: u64_at(40),
                executed_ns: u64_at(48),
                payload: buf[HEADER_LEN..HEADER_LEN + len].to_vec(),
            },
            HEADER_LEN + len,
        ))
    }

    /// The response as a server writes it (the inverse of [`Response::parse`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut frame = Vec::with_capacity(HEADER_LEN + self.payload.len());
        frame.extend_from_slice(&self.status.to_le_bytes());
        frame.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        for t in [
            self.main_ns,
            self.loaded_ns,
            self.received_ns,
            self.ready_ns,
            self.input_ns,
            self.executed_ns,
        ] {
            frame.extend_from_slice(&t.to_le_bytes());
        }
        frame.extend_from_slice(&self.payload);
        frame
    }

    /// The outcome of a request sent at `sent_ns` whose response was in hand at `answered_ns`. A cold
    /// invocation (the server started for it at `spawned_ns`) also has startup and load phases.
    pub fn outcome(self, spawned_ns: Option<u64>, sent_ns: u64, answered_ns: u64, instantiates: bool) -> Outcome {
        let mut phases = Phases::default();
        if let Some(spawned) = spawned_ns {
            phases.startup_ns = span(spawned, self.main_ns);
            if self.loaded_ns > self.main_ns {
                phases.compile_ns = span(self.main_ns, self.loaded_ns);
            }
        }
        // Input: the request's way in (from the send, or from the end of loading when the server was still
        // loading when the request arrived) plus copying it into the instance.
        let arrival_from = sent_ns.max(self.loaded_ns);
        phases.input_ns =
            Some(self.received_ns.saturating_sub(arrival_from) + self.input_ns.saturating_sub(self.ready_ns));
        if instantiates {
            phases.instantiate_ns = span(self.received_ns, self.ready_ns);
        }
        phases.execute_ns = span(self.input_ns, self.executed_ns);
        phases.output_ns = span(self.executed_ns, answered_ns);
        match self.status {
            0 => Outcome::ok(phases, self.payload),
            1 => Outcome::failed(
                phases,
                Status::Error,
                format!("workload error: {}", String::from_utf8_lossy(&self.payload)),
            ),
            _ => Outcome::failed(
                phases,
                Status::Trap,
                String::from_utf8_lossy(&self.payload).into_owned(),
            ),
        }
    }
}

/// Why a request got no response.
#[derive(Debug)]
pub enum RequestError {
    Timeout,
    /// The server exited or closed its output; the text is what it said on stderr.
    Died(String),
}

/// A child process serving requests on its stdin and stdout. A reader thread turns its stdout into responses,
/// so a request can wait with a deadline. Dropping it kills and reaps the child.
pub struct ServedProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    responses: mpsc::Receiver<Response>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
}

/// The most of the server's stderr kept for error messages.
const STDERR_TAIL: usize = 4096;

impl ServedProcess {
    pub fn spawn(mut command: Command) -> std::io::Result<ServedProcess> {
        // Its own process group: a Ctrl-C meant for the harness (which finishes the invocation in flight and
        // stops) does not kill the server mid-request. It dies with the harness, even mid-computation, when
        // its stdin's EOF would go unread.
        super::child::die_with_harness(&mut command);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        super::child::guard_group(child.id() as libc::pid_t);
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, responses) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                while let Some((response, used)) = Response::parse(&buf) {
                    buf.drain(..used);
                    if tx.send(response).is_err() {
                        return;
                    }
                }
                match stdout.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let tail = Arc::clone(&stderr_tail);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut chunk) {
                if n == 0 {
                    return;
                }
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                tail.extend_from_slice(&chunk[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL);
                tail.drain(..excess);
            }
        });
        Ok(ServedProcess {
            child,
            stdin,
            responses,
            stderr_tail,
        })
    }

    /// Sends one request and waits for its response, at most `timeout`. Returns the clock reading at the send
    /// and at the response's arrival.
    pub fn request(&mut self, input: &[u8], timeout: Duration) -> Result<(u64, Response, u64), RequestError> {
        self.exchange(&encode_request(input), timeout)
    }

    /// Sends `frame` as it is (a request, or a control frame of a server that has them) and waits for the
    /// response, at most `timeout`; the clock readings at the send and at the response's arrival.
    pub fn exchange(&mut self, frame: &[u8], timeout: Duration) -> Result<(u64, Response, u64), RequestError> {
        let sent_ns = harness_probes::clock::monotonic_ns();
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(frame).and_then(|_| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        let response = self.wait(timeout, written.err())?;
        Ok((sent_ns, response, harness_probes::clock::monotonic_ns()))
    }

    /// Waits for a response nothing asked for (a server's ready frame), at most `timeout`.
    pub fn receive(&mut self, timeout: Duration) -> Result<Response, RequestError> {
        self.wait(timeout, None)
    }

    /// The next response; a dead server shows as a closed response channel, and its stderr says why.
    fn wait(&mut self, timeout: Duration, write_error: Option<std::io::Error>) -> Result<Response, RequestError> {
        match self.responses.recv_timeout(timeout) {
            Ok(response) => Ok(response),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(RequestError::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Let the stderr thread catch up with the last words.
                std::thread::sleep(Duration::from_millis(20));
                let exit = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                let mut why = format!("the server process exited ({exit})");
                if let Some(e) = write_error {
                    why.push_str(&format!("; writing the request: {e}"));
                }
                let tail = self.stderr_tail();
                if !tail.is_empty() {
                    why.push_str(&format!(": {tail}"));
                }
                Err(RequestError::Died(why))
            }
        }
    }

    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&tail)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Closes the request stream: a server at EOF exits on its own.
    pub fn close(&mut self) {
        self.stdin = None;
    }

    /// Closes stdin and reaps the child, waiting at most `timeout` before killing it: a cold process's exit is
    /// part of its invocation, so its CPU time lands in the invocation's window, not the next one's.
    /// The server's process id (the load monitor reads its memory and CPU).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn reap(mut self, timeout: Duration) {
        self.close();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.try_reap() {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        // Drop kills and reaps it.
    }

    /// Reaps the child if it has exited; true when it has.
    pub fn try_reap(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for ServedProcess {
    fn drop(&mut self) {
        self.stdin = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: the child is not reaped yet (try_wait saw it running), so its group id is still its own;
            // the group holds whatever the server started.
            unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        }
        super::child::unguard_group(self.child.id() as libc::pid_t);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(status: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&status.to_le_bytes());
        f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        for t in [10u64, 20, 30, 35, 40, 90] {
            f.extend_from_slice(&t.to_le_bytes());
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn parses_complete_frames_only() {
        let f = frame(0, b"75025");
        assert_eq!(Response::parse(&f[..HEADER_LEN + 2]), None);
        let (r, used) = Response::parse(&f).unwrap();
        assert_eq!(used, f.len());
        assert_eq!(r.payload, b"75025");
        assert_eq!((r.main_ns, r.executed_ns), (10, 90));
    }

    #[test]
    fn phases_come_from_the_server_readings() {
        let (r, _) = Response::parse(&frame(0, b"x")).unwrap();
        let o = r.outcome(Some(4), 25, 100, true);
        assert_eq!(o.phases.startup_ns, Some(6));
        assert_eq!(o.phases.compile_ns, Some(10));
        assert_eq!(o.phases.instantiate_ns, Some(5));
        // From the send (25) to its arrival (30), plus the copy into the instance (35 to 40).
        assert_eq!(o.phases.input_ns, Some(5 + 5));
        assert_eq!(o.phases.execute_ns, Some(50));
        assert_eq!(o.phases.output_ns, Some(10));
        let (trap, _) = Response::parse(&frame(2, b"panic: boom")).unwrap();
        let o = trap.outcome(None, 25, 100, false);
        assert_eq!(o.status(), Status::Trap);
        assert_eq!(o.phases.startup_ns, None);
        assert_eq!(o.error, "panic: boom");
    }
}
