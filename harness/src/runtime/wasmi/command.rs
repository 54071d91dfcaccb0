//! WASI command workloads on `wasmi`, with wasmi's own WASI crate (`wasmi_wasi`, preview1 on wasi-common): a
//! fresh WASI context per invocation (stdin from the input bytes, stdout and stderr into one [`Capture`] under
//! the output cap, the module's directory preopened as `.`), and `bench.start`/`bench.end` stamped on the run's
//! clock.
//!
//! wasi-common grants a preopened directory whatever the operating system allows, so a read-only preopen is
//! [`ReadOnlyDir`]: opening for writing or creating, and every change to the tree, is refused (`EPERM`/`ENOTSUP`).
//!
//! Fuel counts guest instructions only, so a guest that spends its time in host calls (a sleep, a loop of reads
//! past the end of its input) would outlive its deadline by far. With a deadline, the plan's timeout is also
//! kept on the wall clock: [`DeadlineSched`] wakes a sleep at the deadline, and a call hook ends the guest at
//! its first host call past it (or past the output cap).

use crate::artifacts::{CommandArtifacts, WorkloadArtifacts};
use crate::runtime::Outcome;
use crate::runtime::wasi::command::{self as wasi_command, Ended, Stamps};
use crate::runtime::wasi::contract::BENCH_MODULE;
use crate::runtime::wasi::output::{self, Capture, Stream};
use anyhow::Context;
use harness_data::{Phases, Status};
use harness_probes::clock::monotonic_ns;
use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasi_common::dir::{OpenResult, ReaddirCursor, ReaddirEntity};
use wasi_common::file::{FdFlags, Filestat, OFlags};
use wasi_common::pipe::{ReadPipe, WritePipe};
use wasi_common::sched::{Poll, WasiSched};
use wasi_common::{Error, ErrorExt, WasiDir};
use wasmi::{CallHook, Caller, Engine, Linker, Module, Store, TrapCode};
use wasmi_wasi::wasi_common;

/// An invocation's wall-clock deadline, and whether the guest was stopped there.
#[derive(Debug)]
struct Deadline {
    at: Instant,
    reached: AtomicBool,
}

impl Deadline {
    fn stop(&self) -> Error {
        self.reached.store(true, Ordering::Relaxed);
        Error::trap(anyhow::anyhow!("deadline reached"))
    }
}

/// wasi-common's scheduler (sleeps, `poll_oneoff`), with no wait past the deadline: one that would end after it
/// ends at it, and the guest is stopped there.
struct DeadlineSched {
    inner: Box<dyn WasiSched>,
    deadline: Arc<Deadline>,
}

#[async_trait::async_trait]
impl WasiSched for DeadlineSched {
    async fn poll_oneoff<'a>(&self, poll: &mut Poll<'a>) -> Result<(), Error> {
        let remaining = self.deadline.at.saturating_duration_since(Instant::now());
        // Stdio and preopened files are always ready, so only a poll of clocks alone can wait.
        let waits_past = poll
            .earliest_clock_deadline()
            .is_some_and(|clock| clock.duration_until().unwrap_or_default() > remaining);
        if waits_past && poll.rw_subscriptions().next().is_none() {
            std::thread::sleep(remaining);
            return Err(self.deadline.stop());
        }
        self.inner.poll_oneoff(poll).await
    }

    async fn sched_yield(&self) -> Result<(), Error> {
        self.inner.sched_yield().await
    }

    async fn sleep(&self, duration: Duration) -> Result<(), Error> {
        let remaining = self.deadline.at.saturating_duration_since(Instant::now());
        if duration > remaining {
            std::thread::sleep(remaining);
            return Err(self.deadline.stop());
        }
        self.inner.sleep(duration).await
    }
}

pub struct CommandState {
    wasi: wasmi_wasi::WasiCtx,
    bench_start: Option<u64>,
    bench_end: Option<u64>,
    capture: Capture,
    deadline: Option<Arc<Deadline>>,
}

/// Run before and after every host call when there is a deadline: the guest stops at its first host call past
/// the deadline or the output cap (a refused write is an error the guest could ignore and loop on).
fn at_host_call(state: &mut CommandState, hook: CallHook) -> Result<(), wasmi::Error> {
    if !matches!(hook, CallHook::CallingHost | CallHook::ReturningFromHost) {
        return Ok(());
    }
    if state.capture.over() {
        return Err(wasmi::Error::new(output::over_cap_message()));
    }
    match &state.deadline {
        Some(deadline) if Instant::now() >= deadline.at => {
            deadline.reached.store(true, Ordering::Relaxed);
            Err(wasmi::Error::new("deadline reached"))
        }
        _ => Ok(()),
    }
}

pub fn linker(engine: &Engine) -> anyhow::Result<Linker<CommandState>> {
    let mut linker = Linker::new(engine);
    wasmi_wasi::add_to_linker(&mut linker, |state: &mut CommandState| &mut state.wasi)
        .map_err(|e| anyhow::anyhow!("adding WASI to the wasmi linker: {e}"))?;
    linker.func_wrap(BENCH_MODULE, "start", |mut caller: Caller<'_, CommandState>| {
        caller.data_mut().bench_start = Some(monotonic_ns());
    })?;
    linker.func_wrap(BENCH_MODULE, "end", |mut caller: Caller<'_, CommandState>| {
        caller.data_mut().bench_end = Some(monotonic_ns());
    })?;
    Ok(linker)
}

fn wasi_context(
    workload: &WorkloadArtifacts,
    command: &CommandArtifacts,
    input: &[u8],
    capture: &Capture,
    deadline: Option<&Arc<Deadline>>,
) -> anyhow::Result<wasmi_wasi::WasiCtx> {
    let sched = match deadline {
        Some(deadline) => Box::new(DeadlineSched {
            inner: wasi_common::sync::sched_ctx(),
            deadline: Arc::clone(deadline),
        }) as Box<dyn WasiSched>,
        None => wasi_common::sync::sched_ctx(),
    };
    // As wasi-common's builder makes it, with the scheduler above.
    let mut ctx = wasmi_wasi::WasiCtx::new(
        wasi_common::sync::random_ctx(),
        wasi_common::sync::clocks_ctx(),
        sched,
        wasi_common::Table::new(),
    );
    for arg in wasi_command::argv(&workload.wasm, command) {
        ctx.push_arg(&arg)
            .map_err(|e| anyhow::anyhow!("the command's arguments: {e}"))?;
    }
    ctx.set_stdin(Box::new(ReadPipe::new(std::io::Cursor::new(input.to_vec()))));
    ctx.set_stdout(Box::new(WritePipe::new(capture.writer(Stream::Stdout))));
    ctx.set_stderr(Box::new(WritePipe::new(capture.writer(Stream::Stderr))));
    let dir = wasmi_wasi::Dir::open_ambient_dir(&command.dir, wasmi_wasi::ambient_authority())
        .with_context(|| format!("preopening {}", command.dir.display()))?;
    let dir: Box<dyn WasiDir> = Box::new(wasi_common::sync::dir::Dir::from_cap_std(dir));
    let dir = if command.preopen_writable {
        dir
    } else {
        Box::new(ReadOnlyDir(dir))
    };
    ctx.push_preopened_dir(dir, ".")
        .map_err(|e| anyhow::anyhow!("preopening {}: {e}", command.dir.display()))?;
    Ok(ctx)
}

/// A parsed module and its linker, in the engine they belong to.
pub struct Loaded<'a> {
    pub engine: &'a Engine,
    pub module: &'a Module,
    pub linker: &'a Linker<CommandState>,
}

/// Store, WASI context, instance and `_start` for one invocation; `phases` holds what the caller timed.
pub fn run(
    loaded: Loaded<'_>,
    workload: &WorkloadArtifacts,
    command: &CommandArtifacts,
    input: &[u8],
    fuel: Option<u64>,
    mut phases: Phases,
) -> Outcome {
    let Loaded { engine, module, linker } = loaded;
    let t0 = monotonic_ns();
    // The fuel budget is the plan's timeout in FUEL_PER_MS units: the same timeout, on the wall clock.
    let deadline = fuel.map(|fuel| {
        Arc::new(Deadline {
            at: Instant::now() + Duration::from_millis(fuel / super::FUEL_PER_MS),
            reached: AtomicBool::new(false),
        })
    });
    let capture = Capture::default();
    let wasi = match wasi_context(workload, command, input, &capture, deadline.as_ref()) {
        Ok(c) => c,
        Err(e) => return Outcome::failed(phases, Status::Error, format!("{e:#}")),
    };
    let mut store = Store::new(
        engine,
        CommandState {
            wasi,
            bench_start: None,
            bench_end: None,
            capture: capture.clone(),
            deadline: deadline.clone(),
        },
    );
    if deadline.is_some() {
        store.call_hook(at_host_call);
    }
    if let Some(fuel) = fuel
        && let Err(e) = store.set_fuel(fuel)
    {
        return Outcome::failed(phases, Status::Error, format!("setting fuel: {e}"));
    }
    let start = linker
        .instantiate_and_start(&mut store, module)
        .map_err(|e| {
            // A start section runs here: its deadline (fuel) or trap is the row's status, as in `_start`.
            let status = match e.as_trap_code() {
                Some(TrapCode::OutOfFuel) => Status::Timeout,
                Some(_) => Status::Trap,
                None => Status::Error,
            };
            (status, format!("instantiating: {e}"))
        })
        .and_then(|instance| {
            instance
                .get_typed_func::<(), ()>(&store, "_start")
                .map_err(|e| (Status::Error, format!("the command's `_start`: {e}")))
        });
    let start = match start {
        Ok(f) => f,
        Err((status, message)) => return Outcome::failed(phases, status, message),
    };
    let called = monotonic_ns();
    phases.instantiate_ns = Some(phases.instantiate_ns.unwrap_or(0) + called.saturating_sub(t0));
    let result = super::call_in_time(start.func(), &mut store, &[], &mut [], fuel, t0);
    let returned = monotonic_ns();
    let ended = match result {
        Ok(()) => Ended::Exit(0),
        Err(_) if deadline.as_ref().is_some_and(|d| d.reached.load(Ordering::Relaxed)) => Ended::Failed(
            Status::Timeout,
            "deadline reached in a host call (a sleep, or I/O past the deadline)".into(),
        ),
        Err(e) => classify(&e, fuel),
    };
    let ended = output::over_cap(ended, capture.over());
    let stamps = Stamps {
        called,
        bench_start: store.data().bench_start,
        bench_end: store.data().bench_end,
        returned,
    };
    drop(store);
    let (stdout, stderr) = capture.take();
    let phases = wasi_command::phases_from(phases, stamps, monotonic_ns());
    wasi_command::outcome(command, phases, ended, stdout, &stderr)
}

fn classify(error: &wasmi::Error, fuel: Option<u64>) -> Ended {
    if let Some(code) = error.i32_exit_status() {
        return Ended::Exit(code);
    }
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => Ended::Failed(Status::Timeout, super::deadline_message(fuel)),
        _ => Ended::Failed(Status::Trap, format!("trap: {error}")),
    }
}

/// A preopened directory the guest may read and list but not change.
struct ReadOnlyDir(Box<dyn WasiDir>);

#[async_trait::async_trait]
impl WasiDir for ReadOnlyDir {
    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn open_file(
        &self,
        symlink_follow: bool,
        path: &str,
        oflags: OFlags,
        read: bool,
        write: bool,
        fdflags: FdFlags,
    ) -> Result<OpenResult, Error> {
        if write || oflags.intersects(OFlags::CREATE | OFlags::TRUNCATE | OFlags::EXCLUSIVE) {
            return Err(Error::perm());
        }
        match self
            .0
            .open_file(symlink_follow, path, oflags, read, false, fdflags)
            .await?
        {
            OpenResult::Dir(dir) => Ok(OpenResult::Dir(Box::new(ReadOnlyDir(dir)))),
            file => Ok(file),
        }
    }

    async fn readdir(
        &self,
        cursor: ReaddirCursor,
    ) -> Result<Box<dyn Iterator<Item = Result<ReaddirEntity, Error>> + Send>, Error> {
        self.0.readdir(cursor).await
    }

    async fn read_link(&self, path: &str) -> Result<PathBuf, Error> {
        self.0.read_link(path).await
    }

    async fn get_filestat(&self) -> Result<Filestat, Error> {
        self.0.get_filestat().await
    }

    async fn get_path_filestat(&self, path: &str, follow_symlinks: bool) -> Result<Filestat, Error> {
        self.0.get_path_filestat(path, follow_symlinks).await
    }
}
