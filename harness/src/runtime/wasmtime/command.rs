//! WASI command workloads on `wasmtime-jit` and `wasmtime-aot`, with wasmtime's own WASI preview1
//! (`wasmtime_wasi::p1`, sync): a fresh WASI context per invocation (stdin from the input bytes, stdout and
//! stderr into memory, the module's directory preopened as `.`), and `bench.start`/`bench.end` stamped on the
//! run's clock.

use crate::artifacts::{CommandArtifacts, WorkloadArtifacts};
use crate::runtime::Outcome;
use crate::runtime::wasi::command::{self as wasi_command, Ended, Stamps};
use crate::runtime::wasi::contract::BENCH_MODULE;
use anyhow::Context;
use harness_data::{Phases, Status};
use harness_probes::clock::monotonic_ns;
use wasmtime::{Caller, Engine, InstancePre, Linker, Module, Store, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// The most a command may print on stdout or stderr (kept in memory); more is an error from the guest's write.
const OUTPUT_CAP: usize = 256 << 20;

/// A command instance's host state.
pub struct CommandState {
    wasi: WasiP1Ctx,
    bench_start: Option<u64>,
    bench_end: Option<u64>,
}

/// A linker with WASI preview1 and the `bench` imports.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<CommandState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut CommandState| &mut state.wasi)?;
    linker.func_wrap(BENCH_MODULE, "start", |mut caller: Caller<'_, CommandState>| {
        caller.data_mut().bench_start = Some(monotonic_ns());
    })?;
    linker.func_wrap(BENCH_MODULE, "end", |mut caller: Caller<'_, CommandState>| {
        caller.data_mut().bench_end = Some(monotonic_ns());
    })?;
    Ok(linker)
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

/// The guest's pipes, read back after `_start`.
pub struct Pipes {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

fn wasi_context(
    workload: &WorkloadArtifacts,
    command: &CommandArtifacts,
    input: &[u8],
) -> anyhow::Result<(WasiP1Ctx, Pipes)> {
    let pipes = Pipes {
        stdout: MemoryOutputPipe::new(OUTPUT_CAP),
        stderr: MemoryOutputPipe::new(OUTPUT_CAP),
    };
    let perms = if command.preopen_writable {
        FsPerms::ReadWrite
    } else {
        FsPerms::ReadOnly
    };
    let mut builder = WasiCtxBuilder::new();
    builder
        .args(&wasi_command::argv(&workload.wasm, command))
        .stdin(MemoryInputPipe::new(input.to_vec()))
        .stdout(pipes.stdout.clone())
        .stderr(pipes.stderr.clone())
        // Files are read on the invoking thread, as a native program's would be, not handed to a pool.
        .allow_blocking_current_thread(true)
        .preopened_dir(&command.dir, ".", perms)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("preopening {}", command.dir.display()))?;
    Ok((builder.build_p1(), pipes))
}

/// A store for one invocation (the caller sets its deadline, as for built-ins).
pub fn new_store(
    engine: &Engine,
    workload: &WorkloadArtifacts,
    command: &CommandArtifacts,
    input: &[u8],
) -> anyhow::Result<(Store<CommandState>, Pipes)> {
    let (wasi, pipes) = wasi_context(workload, command, input)?;
    let store = Store::new(
        engine,
        CommandState {
            wasi,
            bench_start: None,
            bench_end: None,
        },
    );
    Ok((store, pipes))
}

/// Instantiates from `pre` (linking done) and runs `_start`; `phases` holds what the caller timed so far.
pub fn run(
    mut store: Store<CommandState>,
    pipes: Pipes,
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
    let state = store.data();
    let stamps = Stamps {
        called,
        bench_start: state.bench_start,
        bench_end: state.bench_end,
        returned,
    };
    let stdout = pipes.stdout.contents().to_vec();
    let stderr = pipes.stderr.contents();
    let phases = wasi_command::phases_from(phases, stamps, monotonic_ns());
    wasi_command::outcome(command, phases, ended, stdout, &stderr)
}

fn classify(error: &wasmtime::Error) -> Ended {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return Ended::Exit(exit.0);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Ended::Failed(Status::Timeout, "deadline reached (epoch interruption)".into()),
        Some(trap) => Ended::Failed(Status::Trap, format!("trap: {trap}")),
        None => Ended::Failed(Status::Trap, format!("{error:#}")),
    }
}
