//! `harness bench-load --serving`: what the serving shape does to closed-loop throughput, against the bare
//! engine. Per workload and client count N, four figures of requests/s, each over its own window:
//!
//! - the bare floor in threads: one wasmtime engine (its pooling allocator sized for N, the harness's engine
//!   configuration), the module deserialized or compiled once, N threads each instantiating a fresh instance
//!   per request and calling it, with no harness bookkeeping (no log, no clock readings, no output check);
//! - the bare floor in processes: N `harness bench-floor` processes side by side, each the same loop with one
//!   thread and its own engine, started together;
//! - harness load mode's closed loop with `serving = "threads"` and with `serving = "processes"` (the warm
//!   pool and client loop `harness measure` runs, its requests tallied but not written).
//!
//! It is a benchmark: figures depend on the machine and what else runs on it.

use crate::artifacts::{WorkloadArtifacts, default_dir};
use crate::load::drive::{self, Servers, Target};
use crate::load::log::{LevelColumns, LevelLog};
use crate::load::output::ExpectedOutput;
use crate::load::summary::LevelTally;
use crate::runtime::wasi::shim::WasiState;
use crate::runtime::wasmtime::{self as wasmtime_rt, engine::Ticking};
use crate::runtime::{self, Limits};
use anyhow::{Context, bail};
use clap::Args;
use harness_data::plan::Interrupt;
use harness_data::{LoadKind, RuntimeKind, Serving};
use harness_probes::clock::monotonic_ns;
use harness_probes::model::ContainerLedger;
use serde::Serialize;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

/// A deadline no request here reaches (epoch ticks of 10 ms: a day).
const FAR_DEADLINE_TICKS: u64 = 8_640_000;

/// One (workload, input, clients) of the serving bench: requests/s of each shape.
#[derive(Debug, Serialize)]
pub struct ServingFigure {
    pub workload: String,
    pub input: String,
    pub clients: u32,
    pub bare_threads_rps: f64,
    pub bare_processes_rps: f64,
    pub harness_threads_rps: f64,
    pub harness_processes_rps: f64,
}

/// What `--serving` measures, from `harness bench-load`'s options.
pub struct ServingBench<'a> {
    pub runtime: RuntimeKind,
    pub workloads: &'a [String],
    pub clients: &'a [u32],
    pub duration_ms: u64,
    pub artifacts: PathBuf,
}

/// A workload and input given as `name:input`, its artifacts and its prepared input.
fn workload(artifacts: &Path, given: &str) -> anyhow::Result<(WorkloadArtifacts, String, Vec<u8>)> {
    let (name, input) = given
        .split_once(':')
        .with_context(|| format!("--workloads: `{given}` is not name:input (e.g. fibonacci:20)"))?;
    let spec = harness_workloads::find(name).with_context(|| format!("--workloads: unknown workload `{name}`"))?;
    let bytes = spec
        .prepare_input(input)
        .map_err(|e| anyhow::anyhow!("--workloads: {name} {input}: {e}"))?;
    Ok((WorkloadArtifacts::at(artifacts, spec), input.to_string(), bytes))
}

fn flavor(runtime: RuntimeKind) -> anyhow::Result<wasmtime_rt::Flavor> {
    match runtime {
        RuntimeKind::WasmtimeAot => Ok(wasmtime_rt::Flavor::Aot),
        RuntimeKind::WasmtimeJit => Ok(wasmtime_rt::Flavor::Jit),
        other => bail!("--runtime {other}: the bare floor is wasmtime's; use wasmtime-aot or wasmtime-jit"),
    }
}

/// The bare loop's engine, for `threads` requests at once: the harness's warm engine and module, nothing else.
struct BareEngine {
    engine: wasmtime::Engine,
    pre: wasmtime::InstancePre<WasiState>,
    _ticking: Ticking,
}

impl BareEngine {
    fn new(runtime: RuntimeKind, workload: &WorkloadArtifacts, threads: u32) -> anyhow::Result<BareEngine> {
        let (engine, module, _) =
            wasmtime_rt::warm_engine_and_module(flavor(runtime)?, workload, Interrupt::Epoch, threads, None)?;
        let pre = wasmtime_rt::linker_for(&engine, &module)?.instantiate_pre(&module)?;
        let ticking = Ticking::start(&engine, Interrupt::Epoch);
        Ok(BareEngine {
            engine,
            pre,
            _ticking: ticking,
        })
    }

    /// One request on a fresh instance; the output is copied out as a server would send it.
    fn request(&self, input: &[u8], output: &mut Vec<u8>) -> anyhow::Result<()> {
        let mut store = wasmtime::Store::new(&self.engine, WasiState::default());
        store.set_epoch_deadline(FAR_DEADLINE_TICKS);
        let instance = self.pre.instantiate(&mut store)?;
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ())?;
        }
        let memory = instance.get_memory(&mut store, "memory").context("no memory export")?;
        let alloc = instance.get_typed_func::<u32, u32>(&mut store, "harness_alloc")?;
        let run = instance.get_typed_func::<u32, u32>(&mut store, "harness_run")?;
        let out_ptr = instance.get_typed_func::<(), u32>(&mut store, "harness_output_ptr")?;
        let out_len = instance.get_typed_func::<(), u32>(&mut store, "harness_output_len")?;
        let ptr = alloc.call(&mut store, input.len() as u32)?;
        memory.write(&mut store, ptr as usize, input)?;
        if run.call(&mut store, input.len() as u32)? != 0 {
            bail!("the workload reported an error");
        }
        let (p, l) = (
            out_ptr.call(&mut store, ())? as usize,
            out_len.call(&mut store, ())? as usize,
        );
        output.clear();
        output.extend_from_slice(memory.data(&store).get(p..p + l).context("output outside memory")?);
        Ok(())
    }

    /// Requests answered by `threads` threads from `start_ns` (waited for) until `until_ns`.
    fn serve(&self, input: &[u8], threads: u32, [start_ns, until_ns]: [u64; 2]) -> anyhow::Result<u64> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(move || -> anyhow::Result<u64> {
                        let mut output = Vec::new();
                        let mut served = 0;
                        while monotonic_ns() < start_ns {
                            std::hint::spin_loop();
                        }
                        while monotonic_ns() < until_ns {
                            self.request(input, &mut output)?;
                            served += 1;
                        }
                        Ok(served)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("a bare serving thread panicked"))?
                })
                .sum()
        })
    }
}

/// The bare floor with N processes: each a `harness bench-floor` child with its own engine; all load, say
/// so, and are given one window to serve in.
fn bare_processes(bench: &ServingBench, given: &str, n: u32) -> anyhow::Result<f64> {
    let exe = std::env::current_exe().context("locating the harness executable")?;
    let mut children = Vec::new();
    for _ in 0..n {
        let mut command = Command::new(&exe);
        command
            .args(["bench-floor", "--runtime", bench.runtime.as_str(), "--workload", given])
            .arg("--artifacts")
            .arg(&bench.artifacts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        crate::runtime::child::die_with_harness(&mut command);
        let child = command.spawn().context("spawning harness bench-floor")?;
        crate::runtime::child::guard_group(child.id() as libc::pid_t);
        children.push(FloorChild::new(child));
    }
    for child in &mut children {
        let line = child.line()?;
        if line != "ready" {
            bail!("a bench-floor process said `{line}` instead of `ready`");
        }
    }
    let start = monotonic_ns() + 50_000_000;
    let window = [start, start + bench.duration_ms * 1_000_000];
    for child in &mut children {
        child.tell(window)?;
    }
    let mut served = 0;
    for child in &mut children {
        served += child.line()?.parse::<u64>().context("a bench-floor process's count")?;
    }
    Ok(served as f64 / (bench.duration_ms as f64 / 1e3))
}

/// A `bench-floor` child: its stdin and a line reader of its stdout; killed and reaped when dropped.
struct FloorChild {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl FloorChild {
    fn new(mut child: std::process::Child) -> FloorChild {
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        FloorChild { child, stdin, stdout }
    }

    fn line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.is_empty() {
            bail!("a bench-floor process ended early ({:?})", self.child.wait()?);
        }
        Ok(line.trim().to_string())
    }

    fn tell(&mut self, [start, until]: [u64; 2]) -> anyhow::Result<()> {
        writeln!(self.stdin, "{start} {until}")?;
        Ok(self.stdin.flush()?)
    }
}

impl Drop for FloorChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::runtime::child::unguard_group(self.child.id() as libc::pid_t);
    }
}

/// The child side of [`bare_processes`]: loads, says `ready`, reads its window, serves, prints its count.
pub fn floor_child(runtime: RuntimeKind, artifacts: &Path, given: &str) -> anyhow::Result<()> {
    let (workload, _, input) = workload(artifacts, given)?;
    let engine = BareEngine::new(runtime, &workload, 1)?;
    engine.request(&input, &mut Vec::new())?;
    println!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let window: Vec<u64> = line.split_whitespace().filter_map(|t| t.parse().ok()).collect();
    let [start, until] = window[..] else {
        bail!(
            "bench-floor expects `start_ns until_ns` on stdin, got `{}`",
            line.trim()
        );
    };
    println!("{}", engine.serve(&input, 1, [start, until])?);
    Ok(())
}

/// The harness's closed loop at `clients` with `serving`, its requests tallied only.
fn harness_closed_loop(
    bench: &ServingBench,
    workload: &WorkloadArtifacts,
    (input_name, input): (&str, &[u8]),
    clients: u32,
    serving: Serving,
) -> anyhow::Result<f64> {
    let limits = Limits {
        timeout_ms: 60_000,
        interrupt: Interrupt::Epoch,
        memory_mb: None,
        wasm_stack: None,
    };
    let mut pool = runtime::warm_pool(
        bench.runtime,
        limits,
        serving,
        workload,
        clients,
        &ContainerLedger::default(),
    )?;
    let expected = ExpectedOutput::default();
    let target = Target {
        artifacts: workload,
        input,
        in_process: serving == Serving::Threads,
        timeout_ns: limits.timeout_ms * 1_000_000,
        expected: &expected,
    };
    let servers: Servers = Mutex::new(pool.iter().map(|r| r.served_by()).collect());
    let start = monotonic_ns();
    let until = start + bench.duration_ms * 1_000_000;
    let columns = LevelColumns {
        workload: workload.name.to_string(),
        input: input_name.to_string(),
        runtime: bench.runtime.to_string(),
        kind: LoadKind::Clients,
        level: f64::from(clients),
        sequence: 0,
        window_start_ns: start,
    };
    let log = LevelLog::start(None, columns, LevelTally::new(start, until))?;
    let driven = drive::closed_loop(
        &mut pool,
        &target,
        until,
        &AtomicBool::new(false),
        &servers,
        log.sender(),
    );
    let tally = log.finish()?;
    driven?;
    let summary = tally.finish(start, until);
    if summary.failed + summary.timed_out > 0 {
        bail!(
            "{} of the harness's requests failed ({serving} serving)",
            summary.failed + summary.timed_out
        );
    }
    Ok(summary.achieved_rps)
}

/// Runs every (workload, clients) in the order given, each shape in turn, and prints a row per pair.
pub fn measure_serving(bench: &ServingBench) -> anyhow::Result<Vec<ServingFigure>> {
    flavor(bench.runtime)?;
    let mut figures = Vec::new();
    for given in bench.workloads {
        let (artifacts, input_name, input) = workload(&bench.artifacts, given)?;
        runtime::ensure_artifacts(&[bench.runtime], &artifacts)?;
        for &n in bench.clients {
            let bare = BareEngine::new(bench.runtime, &artifacts, n)?;
            bare.request(&input, &mut Vec::new())?;
            let start = monotonic_ns() + 10_000_000;
            let window = [start, start + bench.duration_ms * 1_000_000];
            let bare_threads = bare.serve(&input, n, window)? as f64 / (bench.duration_ms as f64 / 1e3);
            drop(bare);
            let figure = ServingFigure {
                workload: artifacts.name.to_string(),
                input: input_name.clone(),
                clients: n,
                bare_threads_rps: bare_threads,
                bare_processes_rps: bare_processes(bench, given, n)?,
                harness_threads_rps: harness_closed_loop(
                    bench,
                    &artifacts,
                    (&input_name, &input),
                    n,
                    Serving::Threads,
                )?,
                harness_processes_rps: harness_closed_loop(
                    bench,
                    &artifacts,
                    (&input_name, &input),
                    n,
                    Serving::Processes,
                )?,
            };
            println!(
                "{} {} on {}, {} client(s): bare threads {:.0} req/s, bare processes {:.0}, harness threads {:.0}, harness processes {:.0}",
                figure.workload,
                figure.input,
                bench.runtime,
                n,
                figure.bare_threads_rps,
                figure.bare_processes_rps,
                figure.harness_threads_rps,
                figure.harness_processes_rps
            );
            figures.push(figure);
        }
    }
    Ok(figures)
}

/// `harness bench-floor` (hidden): one process of the bare floor in processes.
#[derive(Args)]
pub struct BenchFloorArgs {
    #[arg(long)]
    pub runtime: RuntimeKind,
    /// name:input, e.g. fibonacci:20.
    #[arg(long)]
    pub workload: String,
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
}

pub fn run_floor(args: &BenchFloorArgs) -> anyhow::Result<()> {
    floor_child(
        args.runtime,
        &args.artifacts.clone().unwrap_or_else(default_dir),
        &args.workload,
    )
}
