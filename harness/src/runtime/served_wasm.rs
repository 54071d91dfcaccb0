//! `[load] serving = "processes"`: the in-process Wasm engines (wasmtime-jit, wasmtime-aot, wasmi) served by
//! pre-forked host processes, one per instance, as a host that forks workers would run them. Each worker is a
//! `harness serve-wasm` child holding its own engine (created as the in-process runtime creates it, its
//! instance pool sized for one request), its own compiled or deserialized module, and serving one request at a
//! time on its stdin and stdout, a fresh instance per request.
//!
//! The framing is [`super::served`]'s, as containers and node speak it, with three additions: the worker
//! writes a ready frame once its module is loaded (so a pool is up before its level starts, and workers load
//! one after another, never racing to write a sized `.cwasm`); two control lengths ask it to keep an idle
//! instance for the pool's memory reading and to drop it; and its status codes name the outcome's status, with
//! the error text as the in-process runtime wrote it. Its six clock readings are the in-process phases laid end
//! to end from the request's arrival, so a row has the same phases in both shapes, plus the pipe each way.
//!
//! Deadlines: the worker runs the plan's `interrupt` (epoch or fuel stop a guest inside it and it answers
//! `timeout`); the parent's watchdog kills it at `timeout_ms` when nothing inside enforces one (`interrupt =
//! "none"`), else 5 s later as a backstop, and a fresh worker replaces it. Workers lead guarded process groups
//! ([`ServedProcess`]) and exit at their stdin's end: none outlives the harness.

use super::served::{RequestError, Response, ServedProcess};
use super::{Limits, Outcome, Runtime, ServedBy, SharedEngine};
use crate::artifacts::{Guest, WorkloadArtifacts};
use anyhow::{Context, bail};
use harness_data::plan::Interrupt;
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use harness_probes::clock::monotonic_ns;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Request lengths no input has (inputs are at most 256 MiB): keep one idle instance, drop it.
pub const HOLD_IDLE: u32 = u32::MAX;
pub const RELEASE_IDLE: u32 = u32::MAX - 1;

/// Response status codes: the outcome's status (0, 1 and 2 as the workloads' own `--serve` writes them).
const OK: u32 = 0;
const ERROR: u32 = 1;
const TRAP: u32 = 2;
const TIMEOUT: u32 = 4;

/// How long a worker may take to load its module before the pool gives up on it: a Cranelift compile of a
/// large module takes seconds on a small board.
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);

fn status_code(status: Status) -> u32 {
    match status {
        Status::Ok => OK,
        Status::Trap => TRAP,
        Status::Timeout => TIMEOUT,
        _ => ERROR,
    }
}

fn status_of(code: u32) -> Status {
    match code {
        OK => Status::Ok,
        TRAP => Status::Trap,
        TIMEOUT => Status::Timeout,
        _ => Status::Error,
    }
}

/// The worker's side: serves the requests on `input` with `runtime` (prepared for `workload`) until the
/// request stream ends, after writing the ready frame. `main_ns` and `loaded_ns` are the worker's start and the
/// end of its loading.
pub fn serve_requests(
    runtime: &mut dyn Runtime,
    workload: &WorkloadArtifacts,
    [main_ns, loaded_ns]: [u64; 2],
    mut input: impl Read,
    mut output: impl Write,
) -> std::io::Result<()> {
    let frame = |status: u32, payload: Vec<u8>, stamps: [u64; 4]| Response {
        status,
        main_ns,
        loaded_ns,
        received_ns: stamps[0],
        ready_ns: stamps[1],
        input_ns: stamps[2],
        executed_ns: stamps[3],
        payload,
    };
    output.write_all(&frame(OK, Vec::new(), [loaded_ns; 4]).encode())?;
    output.flush()?;
    loop {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let response = match u32::from_le_bytes(len) {
            HOLD_IDLE => match runtime.keep_idle_instance(workload) {
                Ok(()) => frame(OK, Vec::new(), [monotonic_ns(); 4]),
                Err(e) => frame(ERROR, format!("{e:#}").into_bytes(), [monotonic_ns(); 4]),
            },
            RELEASE_IDLE => {
                runtime.drop_idle_instances();
                frame(OK, Vec::new(), [monotonic_ns(); 4])
            }
            len => {
                let mut request = vec![0u8; len as usize];
                input.read_exact(&mut request)?;
                let received_ns = monotonic_ns();
                let outcome = runtime.invoke(Mode::Warm, workload, &request);
                // The in-process phases, end to end from the arrival: the parent reads them back as its own.
                let p = &outcome.phases;
                let ready_ns = received_ns + p.instantiate_ns.unwrap_or(0);
                let input_ns = ready_ns + p.input_ns.unwrap_or(0);
                let executed_ns = input_ns + p.execute_ns.unwrap_or(0);
                let status = status_code(outcome.status());
                let payload = if status == OK {
                    outcome.output
                } else {
                    outcome.error.into_bytes()
                };
                frame(status, payload, [received_ns, ready_ns, input_ns, executed_ns])
            }
        };
        output.write_all(&response.encode())?;
        output.flush()?;
    }
}

/// The artifacts folder `workload` was found in (`<artifacts>/wasm/<name>.wasm`), for a child harness.
pub fn artifacts_root(workload: &WorkloadArtifacts) -> PathBuf {
    workload
        .wasm
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The parent's side: one pre-forked worker process per prepared workload, one request at a time.
pub struct ServedWasm {
    kind: RuntimeKind,
    limits: Limits,
    workers: HashMap<&'static str, ServedProcess>,
}

impl ServedWasm {
    pub fn new(kind: RuntimeKind, limits: Limits) -> anyhow::Result<ServedWasm> {
        if !kind.is_wasm_in_process() {
            bail!("{kind} has no serve-wasm worker: only wasmtime-jit, wasmtime-aot and wasmi do");
        }
        Ok(ServedWasm {
            kind,
            limits,
            workers: HashMap::new(),
        })
    }

    /// When the parent gives up on an answer: at the deadline where nothing inside the worker enforces it,
    /// else a backstop late enough that the worker's own deadline (and its answer) comes first.
    fn watchdog(&self) -> Duration {
        match self.limits.interrupt {
            Interrupt::None => Duration::from_millis(self.limits.timeout_ms),
            Interrupt::Epoch => Duration::from_millis(self.limits.timeout_ms + 5_000),
        }
    }

    fn command(&self, workload: &WorkloadArtifacts) -> anyhow::Result<Command> {
        let exe = std::env::current_exe().context("locating the harness executable for its serve-wasm workers")?;
        let mut command = Command::new(exe);
        command
            .args([
                "serve-wasm",
                "--runtime",
                self.kind.as_str(),
                "--workload",
                workload.name,
            ])
            .arg("--artifacts")
            .arg(artifacts_root(workload))
            .args(["--timeout-ms", &self.limits.timeout_ms.to_string()])
            .args(["--interrupt", self.limits.interrupt.as_str()]);
        if let Some(mb) = self.limits.memory_mb {
            command.args(["--memory-mb", &mb.to_string()]);
        }
        if let Some(stack) = self.limits.wasm_stack {
            command.args(["--wasm-stack-kib", &stack.kib.to_string()]);
        }
        Ok(command)
    }

    /// Sends a control frame to the worker of `workload` and waits for its answer.
    fn control(&mut self, workload: &WorkloadArtifacts, code: u32) -> anyhow::Result<()> {
        let timeout = self.watchdog();
        let Some(worker) = self.workers.get_mut(workload.name) else {
            bail!("the serve-wasm worker of `{}` is not running", workload.name);
        };
        match worker.exchange(&code.to_le_bytes(), timeout) {
            Ok((_, response, _)) if response.status == OK => Ok(()),
            Ok((_, response, _)) => bail!("{}", String::from_utf8_lossy(&response.payload)),
            Err(RequestError::Timeout) => bail!("the serve-wasm worker did not answer within {timeout:?}"),
            Err(RequestError::Died(why)) => bail!("{why}"),
        }
    }

    fn warm(&mut self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        if !self.workers.contains_key(workload.name)
            && let Err(e) = self.prepare_warm(workload)
        {
            return Outcome::failed(Phases::default(), Status::Error, format!("{e:#}"));
        }
        let timeout = self.watchdog();
        let worker = self.workers.get_mut(workload.name).expect("prepared above");
        match worker.request(input, timeout) {
            Ok((sent_ns, response, answered_ns)) => {
                let status = status_of(response.status);
                let text = String::from_utf8_lossy(&response.payload).into_owned();
                let mut outcome = response.outcome(None, sent_ns, answered_ns, true);
                if status != Status::Ok {
                    outcome = Outcome::failed(outcome.phases, status, text);
                }
                outcome
            }
            Err(failure) => {
                // A stuck or dead worker is killed (dropped) and replaced now, inside this failed request.
                self.workers.remove(workload.name);
                let outcome = match failure {
                    RequestError::Timeout => Outcome::failed(
                        Phases::default(),
                        Status::Timeout,
                        format!(
                            "the serve-wasm worker was killed after the {} ms deadline (watchdog)",
                            self.limits.timeout_ms
                        ),
                    ),
                    RequestError::Died(why) => Outcome::failed(Phases::default(), Status::Trap, why),
                };
                let _ = self.prepare_warm(workload);
                outcome
            }
        }
    }
}

impl Runtime for ServedWasm {
    fn kind(&self) -> RuntimeKind {
        self.kind
    }

    fn prepare_warm(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        if self.workers.contains_key(workload.name) {
            return Ok(());
        }
        if let Guest::Command(_) = &workload.guest {
            bail!(
                "serve-wasm workers serve built-in workloads only, and `{}` is a WASI command",
                workload.name
            );
        }
        let mut worker = ServedProcess::spawn(self.command(workload)?).context("spawning a serve-wasm worker")?;
        match worker.receive(LOAD_TIMEOUT + self.watchdog()) {
            Ok(_) => {}
            Err(RequestError::Timeout) => bail!("a serve-wasm worker of `{}` did not load it in time", workload.name),
            Err(RequestError::Died(why)) => bail!("a serve-wasm worker of `{}` failed to start: {why}", workload.name),
        }
        self.workers.insert(workload.name, worker);
        Ok(())
    }

    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        match mode {
            Mode::Warm => self.warm(workload, input),
            // Load mode's bursts start engines at the plan's cold boundary, never through a pool.
            Mode::Cold => Outcome::failed(
                Phases::default(),
                Status::Error,
                "serve-wasm workers serve warm requests; cold starts follow the plan's cold_boundary",
            ),
        }
    }

    fn served_by(&self) -> Vec<ServedBy> {
        self.workers.values().map(|w| ServedBy::Process(w.pid())).collect()
    }

    fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine> {
        // Each instance is its own process, with its own engine.
        None
    }

    fn keep_idle_instance(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        self.control(workload, HOLD_IDLE)
            .context("keeping an idle instance in a serve-wasm worker")
    }

    fn drop_idle_instances(&mut self) {
        let names: Vec<&'static str> = self.workers.keys().copied().collect();
        for name in names {
            if let Some(worker) = self.workers.get_mut(name) {
                let _ = worker.exchange(&RELEASE_IDLE.to_le_bytes(), Duration::from_secs(5));
            }
        }
    }

    fn defer_teardown(&mut self, _: &WorkloadArtifacts) -> (Teardown, &'static str) {
        (
            Teardown::InWindow,
            "in the window: serve-wasm workers serve warm requests only",
        )
    }

    fn finish_teardown(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip_and_the_workloads_own_codes_keep_their_meaning() {
        for status in [Status::Ok, Status::Error, Status::Trap, Status::Timeout] {
            assert_eq!(status_of(status_code(status)), status);
        }
        assert_eq!((status_code(Status::Ok), status_code(Status::Trap)), (0, 2));
    }

    /// Answers by its input: `trap` traps, `slow` times out, anything else comes back reversed; counts the
    /// idle instances it was asked to keep.
    struct Echo {
        held: u32,
    }

    impl Runtime for Echo {
        fn kind(&self) -> RuntimeKind {
            RuntimeKind::Wasmi
        }
        fn prepare_warm(&mut self, _: &WorkloadArtifacts) -> anyhow::Result<()> {
            Ok(())
        }
        fn invoke(&mut self, _: Mode, _: &WorkloadArtifacts, input: &[u8]) -> Outcome {
            let phases = Phases {
                instantiate_ns: Some(5),
                input_ns: Some(7),
                execute_ns: Some(11),
                ..Phases::default()
            };
            match input {
                b"trap" => Outcome::failed(phases, Status::Trap, "trap: unreachable"),
                b"slow" => Outcome::failed(phases, Status::Timeout, "deadline reached (epoch interruption)"),
                other => Outcome::ok(phases, other.iter().rev().copied().collect()),
            }
        }
        fn served_by(&self) -> Vec<ServedBy> {
            Vec::new()
        }
        fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine> {
            None
        }
        fn keep_idle_instance(&mut self, _: &WorkloadArtifacts) -> anyhow::Result<()> {
            self.held += 1;
            Ok(())
        }
        fn drop_idle_instances(&mut self) {
            self.held = 0;
        }
        fn defer_teardown(&mut self, _: &WorkloadArtifacts) -> (Teardown, &'static str) {
            (Teardown::InWindow, "")
        }
        fn finish_teardown(&mut self) {}
    }

    fn responses(mut bytes: &[u8]) -> Vec<Response> {
        let mut all = Vec::new();
        while let Some((response, used)) = Response::parse(bytes) {
            all.push(response);
            bytes = &bytes[used..];
        }
        assert!(bytes.is_empty(), "a partial frame was left");
        all
    }

    #[test]
    fn a_worker_answers_ready_then_each_frame_with_the_in_process_phases_and_status() {
        let spec = harness_workloads::find("noop").unwrap();
        let workload = WorkloadArtifacts::at(Path::new("artifacts"), spec);
        let mut requests = Vec::new();
        requests.extend_from_slice(&HOLD_IDLE.to_le_bytes());
        for input in [&b"abc"[..], b"trap", b"slow"] {
            requests.extend(super::super::served::encode_request(input));
        }
        requests.extend_from_slice(&RELEASE_IDLE.to_le_bytes());
        let mut echo = Echo { held: 0 };
        let mut written = Vec::new();
        serve_requests(&mut echo, &workload, [100, 200], &requests[..], &mut written).unwrap();
        let all = responses(&written);
        assert_eq!(all.len(), 6, "ready, hold, three requests, release");
        assert!(all.iter().all(|r| (r.main_ns, r.loaded_ns) == (100, 200)));
        assert_eq!((all[0].status, all[1].status, all[5].status), (OK, OK, OK));
        assert_eq!(echo.held, 0, "released after it was held");
        let ok = &all[2];
        assert_eq!(ok.payload, b"cba");
        // The in-process phases laid end to end from the arrival.
        assert_eq!(
            (
                ok.ready_ns - ok.received_ns,
                ok.input_ns - ok.ready_ns,
                ok.executed_ns - ok.input_ns
            ),
            (5, 7, 11)
        );
        assert_eq!(
            (all[3].status, all[3].payload.as_slice()),
            (TRAP, &b"trap: unreachable"[..])
        );
        assert_eq!(status_of(all[4].status), Status::Timeout);
        // The parent reads the phases back from the stamps.
        let outcome = all[2]
            .clone()
            .outcome(None, all[2].received_ns - 3, all[2].executed_ns + 2, true);
        assert_eq!(
            (
                outcome.phases.instantiate_ns,
                outcome.phases.input_ns,
                outcome.phases.execute_ns,
                outcome.phases.output_ns
            ),
            (Some(5), Some(3 + 7), Some(11), Some(2))
        );
    }

    #[test]
    fn control_lengths_are_beyond_any_input() {
        let largest_input = 256u64 << 20;
        assert!(u64::from(RELEASE_IDLE) > largest_input && HOLD_IDLE != RELEASE_IDLE);
    }
}
