//! WASI command workloads on `wasmtime-jit` and `wasmtime-aot`, with wasmtime's own WASI preview1
//! (`wasmtime_wasi::p1`, sync): a fresh WASI context per invocation (stdin from the input bytes, stdout and
//! stderr into one [`Capture`] under the output cap, the module's directory preopened as `.`), and
//! `bench.start`/`bench.end` stamped on the run's clock.
//!
//! Epoch interruption stops a guest at its loop headers, never inside a host call, so `poll_oneoff` (a sleep) is
//! wrapped: a poll that would wait past the invocation's deadline waits only until it, and ends the invocation
//! as a timeout there ([`poll_within_deadline`]).

use crate::artifacts::{CommandArtifacts, WorkloadArtifacts};
use crate::runtime::Outcome;
use crate::runtime::wasi::command::{self as wasi_command, Ended, Stamps};
use crate::runtime::wasi::contract::BENCH_MODULE;
use crate::runtime::wasi::output::{self, Capture, OUTPUT_CAP, Stream};
use anyhow::Context;
use harness_data::{Phases, Status};
use harness_probes::clock::monotonic_ns;
use std::time::{Duration, Instant, SystemTime};
use wasmtime::{Caller, Engine, InstancePre, Linker, Module, Store, Trap};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// A command instance's host state.
pub struct CommandState {
    wasi: WasiP1Ctx,
    bench_start: Option<u64>,
    bench_end: Option<u64>,
    /// When the invocation's deadline passes (`None`: no deadline, `interrupt = "none"`).
    deadline: Option<Instant>,
    /// When the WASI context was built, the origin of its monotonic clock (for absolute clock subscriptions).
    clock_origin: Instant,
}

const WASI: &str = "wasi_snapshot_preview1";

/// A linker with WASI preview1 (its `poll_oneoff` held to the deadline) and the `bench` imports.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<CommandState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut CommandState| &mut state.wasi)?;
    linker.allow_shadowing(true);
    linker.func_wrap(
        WASI,
        "poll_oneoff",
        |caller: Caller<'_, CommandState>, subs: i32, events: i32, count: i32, written: i32| {
            poll_within_deadline(caller, [subs, events, count, written])
        },
    )?;
    linker.allow_shadowing(false);
    linker.func_wrap(BENCH_MODULE, "start", |mut caller: Caller<'_, CommandState>| {
        caller.data_mut().bench_start = Some(monotonic_ns());
    })?;
    linker.func_wrap(BENCH_MODULE, "end", |mut caller: Caller<'_, CommandState>| {
        caller.data_mut().bench_end = Some(monotonic_ns());
    })?;
    Ok(linker)
}

/// The invocation slept in `poll_oneoff` until its deadline.
#[derive(Debug)]
struct SleptToDeadline;

impl std::fmt::Display for SleptToDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline reached while the command waited in `poll_oneoff` (a sleep)")
    }
}

impl std::error::Error for SleptToDeadline {}

/// A preview1 subscription is 48 bytes: userdata (u64), tag (u8: 0 is a clock) at 8, then a clock's id (u32)
/// at 16, timeout (u64, ns) at 24, precision at 32 and flags (u16; 1: absolute) at 40.
const SUBSCRIPTION_BYTES: usize = 48;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;

/// How long from now a clock subscription waits; `None` for a clock id WASI does not have (wasi-common's poll
/// refuses it).
fn clock_wait(id: u32, timeout_ns: u64, absolute: bool, clock_origin: Instant) -> Option<Duration> {
    if !absolute {
        return Some(Duration::from_nanos(timeout_ns));
    }
    let now_ns = match id {
        CLOCK_REALTIME => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
        CLOCK_MONOTONIC => clock_origin.elapsed().as_nanos(),
        _ => return None,
    };
    Some(Duration::from_nanos(
        u64::try_from(u128::from(timeout_ns).saturating_sub(now_ns)).unwrap_or(u64::MAX),
    ))
}

/// `poll_oneoff`, held to the deadline: every clock subscription that would wake after it is rewritten, for
/// this call, as a relative wait until it (the guest's bytes are put back after), then wasmtime-wasi's own
/// `poll_oneoff` runs. If a rewritten clock was what woke it, the invocation ends there as a timeout.
fn poll_within_deadline(mut caller: Caller<'_, CommandState>, args: [i32; 4]) -> wasmtime::Result<i32> {
    let Some(memory) = caller.get_export("memory").and_then(|e| e.into_memory()) else {
        return Err(wasmtime::format_err!(
            "the command exports no `memory` for `poll_oneoff`"
        ));
    };
    let [subs, events, count, written] = args;
    // wasmtime-wasi's own `poll_oneoff`, as its linker glue calls it.
    let wasi_poll = |caller: &mut Caller<'_, CommandState>| {
        let (data, state) = memory.data_and_store_mut(caller);
        let mut guest = wiggle::GuestMemory::Unshared(data);
        wasmtime_wasi::runtime::in_tokio(wasmtime_wasi::p1::wasi_snapshot_preview1::poll_oneoff(
            &mut state.wasi,
            &mut guest,
            subs,
            events,
            count,
            written,
        ))
    };
    let Some(deadline) = caller.data().deadline else {
        return wasi_poll(&mut caller);
    };
    let clock_origin = caller.data().clock_origin;
    let remaining = deadline.saturating_duration_since(Instant::now());
    let mut rewritten: Vec<(usize, [u8; SUBSCRIPTION_BYTES])> = Vec::new();
    let data = memory.data_mut(&mut caller);
    for i in 0..(count as u32 as usize) {
        let at = (subs as u32 as usize).saturating_add(i * SUBSCRIPTION_BYTES);
        // Out of bounds: wasmtime-wasi's poll says so to the guest.
        let Some(bytes) = data.get_mut(at..at.saturating_add(SUBSCRIPTION_BYTES)) else {
            break;
        };
        let field = |range: std::ops::Range<usize>| {
            u64::from_le_bytes({
                let mut b = [0u8; 8];
                b[..range.len()].copy_from_slice(&bytes[range]);
                b
            })
        };
        let (tag, id, timeout, flags) = (bytes[8], field(16..20) as u32, field(24..32), field(40..42));
        let Some(wait) = (tag == 0)
            .then(|| clock_wait(id, timeout, flags & 1 != 0, clock_origin))
            .flatten()
        else {
            continue;
        };
        if wait > remaining {
            let saved: [u8; SUBSCRIPTION_BYTES] = (&*bytes).try_into().expect("48 bytes");
            rewritten.push((at, saved));
            bytes[16..20].copy_from_slice(&CLOCK_MONOTONIC.to_le_bytes());
            bytes[24..32].copy_from_slice(&(remaining.as_nanos() as u64).to_le_bytes());
            bytes[40..42].copy_from_slice(&0u16.to_le_bytes());
        }
    }
    let result = wasi_poll(&mut caller);
    let data = memory.data_mut(&mut caller);
    for (at, saved) in &rewritten {
        data[*at..at + SUBSCRIPTION_BYTES].copy_from_slice(saved);
    }
    if !rewritten.is_empty() && Instant::now() >= deadline {
        return Err(wasmtime::Error::new(SleptToDeadline));
    }
    result
}

/// Starts wasmtime-wasi's I/O runtime (a process-wide tokio runtime its sync preview1 runs on), so that its
/// one-time start (about 4 ms, worker threads) is not billed to the first invocation that reads stdin. Called
/// before measuring, once per process, as the epoch thread is started before any guest runs.
pub fn start_host_io() {
    wasmtime_wasi::runtime::in_tokio(async {});
}

/// Compiled once for warm invocations.
pub type WarmCommand = InstancePre<CommandState>;

pub fn prepare(engine: &Engine, module: &Module) -> anyhow::Result<WarmCommand> {
    linker(engine)?
        .instantiate_pre(module)
        .map_err(anyhow::Error::from)
        .context("linking the command's WASI imports")
}

/// One of the guest's output streams, into the invocation's [`Capture`]: a write past the cap traps, so the
/// guest stops there.
#[derive(Clone)]
struct CappedPipe {
    capture: Capture,
    stream: Stream,
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        if self.capture.write(self.stream, &bytes) {
            Ok(())
        } else {
            Err(StreamError::Trap(wasmtime::format_err!(
                "{}",
                output::over_cap_message()
            )))
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // wasmtime-wasi writes stdio 4 KiB at a time; the cap is checked on each write.
        Ok(OUTPUT_CAP)
    }
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(std::io::Write::write(&mut self.capture.writer(self.stream), bytes))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

fn wasi_context(
    workload: &WorkloadArtifacts,
    command: &CommandArtifacts,
    input: &[u8],
    capture: &Capture,
) -> anyhow::Result<WasiP1Ctx> {
    let perms = if command.preopen_writable {
        FsPerms::ReadWrite
    } else {
        FsPerms::ReadOnly
    };
    let mut builder = WasiCtxBuilder::new();
    builder
        .args(&wasi_command::argv(&workload.wasm, command))
        .stdin(MemoryInputPipe::new(input.to_vec()))
        .stdout(CappedPipe {
            capture: capture.clone(),
            stream: Stream::Stdout,
        })
        .stderr(CappedPipe {
            capture: capture.clone(),
            stream: Stream::Stderr,
        })
        // Files are read on the invoking thread, as a native program's would be, not handed to a pool.
        .allow_blocking_current_thread(true)
        .preopened_dir(&command.dir, ".", perms)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("preopening {}", command.dir.display()))?;
    Ok(builder.build_p1())
}

/// A store for one invocation, and the capture of its output. The caller sets its epoch deadline, as for
/// built-ins; `deadline` (the same instant) is where a `poll_oneoff` stops waiting.
pub fn new_store(
    engine: &Engine,
    workload: &WorkloadArtifacts,
    command: &CommandArtifacts,
    input: &[u8],
    deadline: Option<Instant>,
) -> anyhow::Result<(Store<CommandState>, Capture)> {
    let capture = Capture::default();
    let clock_origin = Instant::now();
    let wasi = wasi_context(workload, command, input, &capture)?;
    let store = Store::new(
        engine,
        CommandState {
            wasi,
            bench_start: None,
            bench_end: None,
            deadline,
            clock_origin,
        },
    );
    Ok((store, capture))
}

/// Instantiates from `pre` (linking done) and runs `_start`; `phases` holds what the caller timed so far.
pub fn run(
    mut store: Store<CommandState>,
    capture: Capture,
    pre: &WarmCommand,
    command: &CommandArtifacts,
    mut phases: Phases,
) -> Outcome {
    let t0 = monotonic_ns();
    let instance = match pre.instantiate(&mut store) {
        Ok(i) => i,
        Err(e) => {
            // A start section runs here: its deadline or trap is the row's status, as in `_start`.
            let status = match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => Status::Timeout,
                Some(_) => Status::Trap,
                None => Status::Error,
            };
            return Outcome::failed(phases, status, format!("instantiating: {e:#}"));
        }
    };
    let start = match instance.get_typed_func::<(), ()>(&mut store, "_start") {
        Ok(f) => f,
        Err(e) => return Outcome::failed(phases, Status::Error, format!("the command's `_start`: {e:#}")),
    };
    let called = monotonic_ns();
    phases.instantiate_ns = Some(phases.instantiate_ns.unwrap_or(0) + called.saturating_sub(t0));
    let result = start.call(&mut store, ());
    let returned = monotonic_ns();
    let ended = match result {
        Ok(()) => Ended::Exit(0),
        Err(e) => classify(&e),
    };
    let ended = output::over_cap(ended, capture.over());
    let state = store.data();
    let stamps = Stamps {
        called,
        bench_start: state.bench_start,
        bench_end: state.bench_end,
        returned,
    };
    let (stdout, stderr) = capture.take();
    let phases = wasi_command::phases_from(phases, stamps, monotonic_ns());
    wasi_command::outcome(command, phases, ended, stdout, &stderr)
}

fn classify(error: &wasmtime::Error) -> Ended {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return Ended::Exit(exit.0);
    }
    if let Some(slept) = error.downcast_ref::<SleptToDeadline>() {
        return Ended::Failed(Status::Timeout, slept.to_string());
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Ended::Failed(Status::Timeout, "deadline reached (epoch interruption)".into()),
        Some(trap) => Ended::Failed(Status::Trap, format!("trap: {trap}")),
        None => Ended::Failed(Status::Trap, format!("{error:#}")),
    }
}
