//! `harness bench`: the committed benchmark behind the speed figures in docs/benchmarks.md.
//!
//! 1. Warm noop latency per runtime (median of individually timed invocations).
//! 2. Cold start per runtime, with its phases: AoT (deserialize) against JIT (compile).
//! 3. The harness's own bookkeeping per invocation: `measure::invoke_and_record` (clock reads, the runtime
//!    wrapper, the row handed to the recorder) against a bare loop making the same wasmtime calls. Blocks of the
//!    two alternate, and the medians of the block means are compared, so drift affects both alike.
//! 4. The same for cold windows: per wasmtime-aot cold start, `invoke_and_record` in a cold window (teardown
//!    deferred) against bare cold starts with teardown deferred alike, and what deferral moves out of the window
//!    (bare cold starts that tear down inside).
//! 5. What deadlines cost: the execute phase of warm invocations of compute workloads with the deadline
//!    mechanism (wasmtime epoch interruption, wasmi fuel) against without (`interrupt = "none"`), through the
//!    runtimes `harness measure` uses; the two alternate, and the medians are compared.

use crate::artifacts::{self, WorkloadArtifacts};
use crate::measure::invoke_and_record;
use crate::recorder::{CellLabel, Recorder, SlotInfo};
use crate::runtime::wasi::shim::WasiState;
use crate::runtime::wasmtime::{self as wasmtime_rt};
use crate::runtime::{self, Limits};
use anyhow::Context;
use harness_analysis::summary::{median, quantile};
use harness_data::plan::Interrupt;
use harness_data::{Mode, RuntimeKind};
use harness_probes::clock::monotonic_ns;
use harness_probes::model::ContainerLedger;
use harness_probes::sampler::thread_cpu_ns;
use serde::Serialize;
use std::path::PathBuf;

/// Measure the harness's own speed: warm noop per runtime, AoT vs JIT cold start, bookkeeping overhead, and
/// what deadlines (epoch interruption, fuel) cost compute workloads.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  harness bench --json bench.json\n  harness bench --interrupt-only\n  harness bench --bookkeeping-only"
)]
pub struct BenchArgs {
    /// Warm invocations timed per runtime.
    #[arg(long, default_value_t = 5000)]
    pub warm: usize,
    /// Cold invocations timed per runtime.
    #[arg(long, default_value_t = 40)]
    pub cold: usize,
    /// Blocks of each loop in the bookkeeping comparison.
    #[arg(long, default_value_t = 21)]
    pub blocks: usize,
    /// Invocations per block.
    #[arg(long, default_value_t = 2000)]
    pub block_size: usize,
    /// Where the workloads are built [default: as `harness measure`].
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Timed invocations per engine, workload and interrupt setting in the deadline-cost table (0: skip it).
    #[arg(long, default_value_t = 11)]
    pub interrupt_reps: usize,
    /// Only the deadline-cost table.
    #[arg(long)]
    pub interrupt_only: bool,
    /// Only the bookkeeping comparison of warm invocations (part 3).
    #[arg(long, conflicts_with = "interrupt_only")]
    pub bookkeeping_only: bool,
}

#[derive(Debug, Serialize)]
pub struct LatencyFigure {
    pub runtime: String,
    pub mode: Mode,
    pub n: usize,
    pub median_us: f64,
    pub p5_us: f64,
    pub p95_us: f64,
    /// Medians of the phases, where the runtime reports them.
    pub startup_us: Option<f64>,
    pub compile_us: Option<f64>,
    pub instantiate_us: Option<f64>,
    pub execute_us: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct BookkeepingFigure {
    pub bare_ns_per_invocation: f64,
    /// The runtime's `invoke` alone (phase stamps, dispatch, outcome), no row recorded.
    pub runtime_ns_per_invocation: f64,
    pub harness_ns_per_invocation: f64,
    pub bookkeeping_ns: f64,
    pub bookkeeping_percent: f64,
    /// The same loops on the measuring thread's CPU clock (what other processes' work on a busy machine does
    /// not inflate).
    pub bare_cpu_ns_per_invocation: f64,
    pub harness_cpu_ns_per_invocation: f64,
    /// One read of the run's clock (`CLOCK_MONOTONIC`): a warm wasmtime invocation through the harness reads it 7 times.
    pub clock_read_ns: f64,
    /// CPU the recorder thread spent per row (hash, CSV, write), on the other core.
    pub writer_cpu_ns_per_row: f64,
    pub blocks: usize,
    pub block_size: usize,
}

/// The execute phase of one workload with and without a deadline mechanism.
#[derive(Debug, Serialize)]
pub struct InterruptCostFigure {
    pub runtime: String,
    /// `epoch` (wasmtime) or `fuel` (wasmi), against `none`.
    pub mechanism: String,
    pub workload: String,
    pub input: String,
    pub n: usize,
    /// Median execute phase with the mechanism, and without.
    pub with_ms: f64,
    pub without_ms: f64,
    /// with / without, the median over back-to-back pairs: how much slower the guest runs under the mechanism.
    pub ratio: f64,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub host_cpu: String,
    pub wasmtime: String,
    pub wasmi: String,
    pub latencies: Vec<LatencyFigure>,
    pub bookkeeping: Option<BookkeepingFigure>,
    pub cold_window: Option<ColdWindowFigure>,
    pub interrupt_cost: Vec<InterruptCostFigure>,
}

/// Per wasmtime-aot noop cold start in a cold window: the harness's bookkeeping, and the teardown it defers.
#[derive(Debug, Serialize)]
pub struct ColdWindowFigure {
    /// `runtime.invoke(cold)` back to back, teardown deferred, nothing else.
    pub bare_ns_per_cold_start: f64,
    /// `invoke_and_record` back to back in a cold window, as `harness measure` runs one.
    pub harness_ns_per_cold_start: f64,
    pub bookkeeping_ns: f64,
    pub bookkeeping_percent: f64,
    /// Bare cold starts that tear down inside the loop (no window): what deferral moves out of it.
    pub in_window_teardown_ns_per_cold_start: f64,
    /// The deferred teardown, done after the window, per cold start.
    pub deferred_teardown_ns_per_cold_start: f64,
    pub blocks: usize,
    pub block_size: usize,
}

const RUNTIMES: [RuntimeKind; 4] = [
    RuntimeKind::Native,
    RuntimeKind::WasmtimeJit,
    RuntimeKind::WasmtimeAot,
    RuntimeKind::Wasmi,
];

/// The compute workloads of the deadline-cost table: a call-heavy, a float-loop and a memory-loop workload, at
/// sizes that run for tens of milliseconds in wasmtime.
const INTERRUPT_WORKLOADS: [(&str, &str); 3] = [("fibonacci", "30"), ("mandelbrot", "800"), ("matmul", "256")];

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = args.artifacts.clone().unwrap_or_else(artifacts::default_dir);
    let (latencies, bookkeeping, cold_window) = if args.interrupt_only {
        (Vec::new(), None, None)
    } else if args.bookkeeping_only {
        let noop = WorkloadArtifacts::at(&dir, harness_workloads::find("noop").expect("noop exists"));
        runtime::ensure_artifacts(&[RuntimeKind::WasmtimeAot], &noop)?;
        (Vec::new(), Some(bookkeeping(&noop, args)?), None)
    } else {
        let (latencies, bookkeeping) = speed(&dir, args)?;
        let noop = WorkloadArtifacts::at(&dir, harness_workloads::find("noop").expect("noop exists"));
        (
            latencies,
            Some(bookkeeping),
            Some(cold_window_bookkeeping(&noop, args)?),
        )
    };
    let interrupt_reps = if args.bookkeeping_only { 0 } else { args.interrupt_reps };
    let interrupt_cost = interrupt_cost(&dir, interrupt_reps)?;
    let report = BenchReport {
        host_cpu: crate::host::fingerprint(std::path::Path::new("/")).cpu_model,
        wasmtime: env!("HARNESS_WASMTIME_VERSION").into(),
        wasmi: env!("HARNESS_WASMI_VERSION").into(),
        latencies,
        bookkeeping,
        cold_window,
        interrupt_cost,
    };
    print!("{}", render(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Parts 1-3: noop latencies per runtime and mode, and the bookkeeping comparison.
fn speed(dir: &std::path::Path, args: &BenchArgs) -> anyhow::Result<(Vec<LatencyFigure>, BookkeepingFigure)> {
    let noop = WorkloadArtifacts::at(dir, harness_workloads::find("noop").expect("noop exists"));
    runtime::ensure_artifacts(&RUNTIMES, &noop)?;
    let mut latencies = Vec::new();
    for name in RUNTIMES {
        let mut runtime = runtime::create(name, BENCH_LIMITS, &ContainerLedger::default())?;
        runtime.prepare_warm(&noop)?;
        for (mode, count) in [(Mode::Warm, args.warm), (Mode::Cold, args.cold)] {
            // Untimed warm-up: page in code, fill caches, let the allocator settle.
            for _ in 0..count.min(100) / 10 + 1 {
                runtime.invoke(mode, &noop, b"");
            }
            let mut outcomes = Vec::with_capacity(count);
            for _ in 0..count {
                let t0 = monotonic_ns();
                let outcome = runtime.invoke(mode, &noop, b"");
                outcomes.push(((monotonic_ns() - t0) as f64 / 1e3, outcome));
            }
            if let Some((_, failed)) = outcomes.iter().find(|(_, o)| o.status() != harness_data::Status::Ok) {
                anyhow::bail!("{name} {mode:?} noop failed: {}", failed.error);
            }
            let us: Vec<f64> = outcomes.iter().map(|(t, _)| *t).collect();
            let phase = |f: fn(&harness_data::Phases) -> Option<u64>| {
                let v: Vec<f64> = outcomes
                    .iter()
                    .filter_map(|(_, o)| f(&o.phases))
                    .map(|ns| ns as f64 / 1e3)
                    .collect();
                median(&v)
            };
            latencies.push(LatencyFigure {
                runtime: name.to_string(),
                mode,
                n: count,
                median_us: median(&us).unwrap_or(f64::NAN),
                p5_us: quantile(&us, 0.05).unwrap_or(f64::NAN),
                p95_us: quantile(&us, 0.95).unwrap_or(f64::NAN),
                startup_us: phase(|p| p.startup_ns),
                compile_us: phase(|p| p.compile_ns),
                instantiate_us: phase(|p| p.instantiate_ns),
                execute_us: phase(|p| p.execute_ns),
            });
        }
    }
    let bookkeeping = bookkeeping(&noop, args)?;
    Ok((latencies, bookkeeping))
}

/// Part 4: per engine and workload, the median execute phase of warm invocations with the deadline mechanism
/// and without. Both runtimes are the ones `harness measure` builds for `interrupt = "epoch"` and `"none"`; the
/// two alternate invocation by invocation, so drift (and the other core's load) affects both alike.
pub fn interrupt_cost(dir: &std::path::Path, reps: usize) -> anyhow::Result<Vec<InterruptCostFigure>> {
    let mut figures = Vec::new();
    if reps == 0 {
        return Ok(figures);
    }
    for (runtime_name, mechanism) in [(RuntimeKind::WasmtimeAot, "epoch"), (RuntimeKind::Wasmi, "fuel")] {
        for (workload, input) in INTERRUPT_WORKLOADS {
            let spec = harness_workloads::find(workload).expect("a known workload");
            let artifacts = WorkloadArtifacts::at(dir, spec);
            runtime::ensure_artifacts(&[runtime_name], &artifacts)?;
            let input_bytes = spec
                .prepare_input(input)
                .map_err(|e| anyhow::anyhow!("{workload} {input}: {e}"))?;
            let mut runtimes = Vec::new();
            for interrupt in [Interrupt::Epoch, Interrupt::None] {
                let limits = Limits {
                    timeout_ms: 600_000,
                    interrupt,
                    memory_mb: None,
                    wasm_stack: None,
                };
                let mut runtime = runtime::create(runtime_name, limits, &ContainerLedger::default())?;
                runtime.prepare_warm(&artifacts)?;
                runtimes.push(runtime);
            }
            let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
            let mut digests: [Option<Vec<u8>>; 2] = [None, None];
            // One untimed warm-up each (page in code and memory), then `reps` timed, alternating who goes first.
            for round in 0..reps + 1 {
                for turn in 0..2 {
                    let which = if round % 2 == 0 { turn } else { 1 - turn };
                    let outcome = runtimes[which].invoke(Mode::Warm, &artifacts, &input_bytes);
                    if outcome.status() != harness_data::Status::Ok {
                        anyhow::bail!("{runtime_name} {workload} {input} failed: {}", outcome.error);
                    }
                    if round > 0 {
                        let ns = outcome.phases.execute_ns.context("no execute phase")?;
                        times[which].push(ns as f64 / 1e6);
                    }
                    digests[which] = Some(outcome.output);
                }
            }
            // A mechanism that changed the result would make the comparison meaningless.
            if digests[0] != digests[1] {
                anyhow::bail!("{runtime_name} {workload} {input}: the output differs with and without {mechanism}");
            }
            let with_ms = median(&times[0]).unwrap_or(f64::NAN);
            let without_ms = median(&times[1]).unwrap_or(f64::NAN);
            // The ratio of each back-to-back pair, then their median: a load spike on the shared machine
            // lands on one pair rather than on one side.
            let ratios: Vec<f64> = times[0].iter().zip(&times[1]).map(|(w, wo)| w / wo).collect();
            figures.push(InterruptCostFigure {
                runtime: runtime_name.to_string(),
                mechanism: mechanism.into(),
                workload: workload.into(),
                input: input.into(),
                n: reps,
                with_ms,
                without_ms,
                ratio: median(&ratios).unwrap_or(f64::NAN),
            });
        }
    }
    Ok(figures)
}

/// The limits every bench runtime gets.
const BENCH_LIMITS: Limits = Limits {
    timeout_ms: 10_000,
    interrupt: Interrupt::Epoch,
    memory_mb: None,
    wasm_stack: None,
};

/// A recorder for wasmtime-aot noop rows of `mode`, writing into a scratch folder the caller removes.
fn scratch_recorder(mode: Mode) -> anyhow::Result<(Recorder, PathBuf)> {
    let scratch = std::env::temp_dir().join(format!("harness-bench-{}-{}", mode.as_str(), std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let label = CellLabel {
        key: harness_data::CellKey {
            workload: "noop".into(),
            input: "0".into(),
            runtime: RuntimeKind::WasmtimeAot.to_string(),
            mode,
        },
        group: 0,
    };
    Ok((Recorder::create(&scratch, vec![label])?, scratch))
}

fn bookkeeping(noop: &WorkloadArtifacts, args: &BenchArgs) -> anyhow::Result<BookkeepingFigure> {
    let mut harness_runtime = runtime::create(RuntimeKind::WasmtimeAot, BENCH_LIMITS, &ContainerLedger::default())?;
    harness_runtime.prepare_warm(noop)?;
    let (mut recorder, scratch) = scratch_recorder(Mode::Warm)?;

    // The bare loop: the same wasmtime calls the runtime makes, with nothing around them.
    let (engine, module, _) =
        wasmtime_rt::warm_engine_and_module(wasmtime_rt::Flavor::Aot, noop, Interrupt::Epoch, 1, None)?;
    let pre = wasmtime_rt::linker_for(&engine, &module)?.instantiate_pre(&module)?;
    let bare_once = || -> anyhow::Result<Vec<u8>> {
        let mut store = wasmtime::Store::new(&engine, WasiState::default());
        store.set_epoch_deadline(1_001);
        let instance = pre.instantiate(&mut store)?;
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ())?;
        }
        let memory = instance.get_memory(&mut store, "memory").context("memory")?;
        let alloc = instance.get_typed_func::<u32, u32>(&mut store, "harness_alloc")?;
        let run = instance.get_typed_func::<u32, u32>(&mut store, "harness_run")?;
        let out_ptr = instance.get_typed_func::<(), u32>(&mut store, "harness_output_ptr")?;
        let out_len = instance.get_typed_func::<(), u32>(&mut store, "harness_output_len")?;
        let ptr = alloc.call(&mut store, 0)?;
        memory.write(&mut store, ptr as usize, b"")?;
        run.call(&mut store, 0)?;
        let (p, l) = (
            out_ptr.call(&mut store, ())? as usize,
            out_len.call(&mut store, ())? as usize,
        );
        Ok(memory.data(&store)[p..p + l].to_vec())
    };
    // Three loops per block, in rotating order so none always runs on the caches another left: the bare
    // calls, the runtime's `invoke` alone (its phase stamps, dispatch and outcome), and `invoke_and_record`.
    // Each block is timed on the wall clock and on the measuring thread's CPU clock: on a shared machine the
    // other processes' work lands on the wall clock only.
    let mut means: [Vec<f64>; 3] = Default::default();
    let mut cpu_means: [Vec<f64>; 3] = Default::default();
    let mut sequence = 0u64;
    for block in 0..args.blocks + 1 {
        let mut block_ns = [0u64; 3];
        let mut block_cpu_ns = [0u64; 3];
        for turn in 0..3 {
            let which = (turn + block) % 3;
            let cpu0 = thread_cpu_ns();
            let t0 = monotonic_ns();
            match which {
                0 => {
                    for _ in 0..args.block_size {
                        std::hint::black_box(bare_once()?);
                    }
                }
                1 => {
                    for _ in 0..args.block_size {
                        std::hint::black_box(harness_runtime.invoke(Mode::Warm, noop, b""));
                    }
                }
                _ => {
                    for i in 0..args.block_size {
                        let slot = SlotInfo {
                            iteration: i as u32,
                            warmup: false,
                            sequence,
                            batch: None,
                        };
                        sequence += 1;
                        invoke_and_record(harness_runtime.as_mut(), 0, Mode::Warm, noop, b"", slot, &mut recorder);
                    }
                }
            }
            block_ns[which] = monotonic_ns() - t0;
            block_cpu_ns[which] = thread_cpu_ns() - cpu0;
        }
        // The first block of each is a warm-up.
        if block > 0 {
            for (mean, ns) in means.iter_mut().zip(block_ns) {
                mean.push(ns as f64 / args.block_size as f64);
            }
            for (mean, ns) in cpu_means.iter_mut().zip(block_cpu_ns) {
                mean.push(ns as f64 / args.block_size as f64);
            }
        }
    }
    let written = recorder.finish()?;
    let _ = std::fs::remove_dir_all(&scratch);
    let [bare_ns, runtime_ns, harness_ns] = means.map(|m| median(&m).unwrap_or(f64::NAN));
    let [bare_cpu_ns, _, harness_cpu_ns] = cpu_means.map(|m| median(&m).unwrap_or(f64::NAN));
    Ok(BookkeepingFigure {
        bare_ns_per_invocation: bare_ns,
        runtime_ns_per_invocation: runtime_ns,
        harness_ns_per_invocation: harness_ns,
        bookkeeping_ns: harness_ns - bare_ns,
        bookkeeping_percent: 100.0 * (harness_ns - bare_ns) / bare_ns,
        bare_cpu_ns_per_invocation: bare_cpu_ns,
        harness_cpu_ns_per_invocation: harness_cpu_ns,
        clock_read_ns: clock_read_ns(),
        writer_cpu_ns_per_row: written.writer_cpu_ns as f64 / written.rows.max(1) as f64,
        blocks: args.blocks,
        block_size: args.block_size,
    })
}

/// What one read of the run's clock costs on this machine: the median of 21 blocks of 100,000 reads.
fn clock_read_ns() -> f64 {
    const READS: u64 = 100_000;
    let blocks: Vec<f64> = (0..21)
        .map(|_| {
            let t0 = monotonic_ns();
            for _ in 0..READS {
                std::hint::black_box(monotonic_ns());
            }
            (monotonic_ns() - t0) as f64 / READS as f64
        })
        .collect();
    median(&blocks).unwrap_or(f64::NAN)
}

/// Part 4: cold windows. Three loops per block, in rotating order: bare cold starts with teardown deferred,
/// the harness's cold window (`invoke_and_record`, teardown deferred), and bare cold starts tearing down inside;
/// medians of the block means.
fn cold_window_bookkeeping(noop: &WorkloadArtifacts, args: &BenchArgs) -> anyhow::Result<ColdWindowFigure> {
    let mut runtime = runtime::create(RuntimeKind::WasmtimeAot, BENCH_LIMITS, &ContainerLedger::default())?;
    let (mut recorder, scratch) = scratch_recorder(Mode::Cold)?;
    let size = args.cold.max(1);
    let (mut bare, mut harnessed, mut inside, mut teardown) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sequence = 0u64;
    for block in 0..args.blocks + 1 {
        let mut block_ns = [0u64; 3];
        for turn in 0..3 {
            let which = (turn + block) % 3;
            if which < 2 {
                runtime.defer_teardown(noop);
            }
            let t0 = monotonic_ns();
            for i in 0..size {
                match which {
                    1 => {
                        let slot = SlotInfo {
                            iteration: i as u32,
                            warmup: false,
                            sequence: sequence + i as u64,
                            batch: Some(sequence),
                        };
                        invoke_and_record(runtime.as_mut(), 0, Mode::Cold, noop, b"", slot, &mut recorder);
                    }
                    _ => {
                        std::hint::black_box(runtime.invoke(Mode::Cold, noop, b""));
                    }
                }
            }
            block_ns[which] = monotonic_ns() - t0;
            sequence += size as u64;
            if which == 1 {
                recorder.settle();
            }
            if which < 2 {
                let t1 = monotonic_ns();
                runtime.finish_teardown();
                if block > 0 {
                    teardown.push((monotonic_ns() - t1) as f64 / size as f64);
                }
            }
        }
        // The first block is a warm-up.
        if block > 0 {
            bare.push(block_ns[0] as f64 / size as f64);
            harnessed.push(block_ns[1] as f64 / size as f64);
            inside.push(block_ns[2] as f64 / size as f64);
        }
    }
    recorder.finish()?;
    let _ = std::fs::remove_dir_all(&scratch);
    let bare_ns = median(&bare).unwrap_or(f64::NAN);
    let harness_ns = median(&harnessed).unwrap_or(f64::NAN);
    Ok(ColdWindowFigure {
        bare_ns_per_cold_start: bare_ns,
        harness_ns_per_cold_start: harness_ns,
        bookkeeping_ns: harness_ns - bare_ns,
        bookkeeping_percent: 100.0 * (harness_ns - bare_ns) / bare_ns,
        in_window_teardown_ns_per_cold_start: median(&inside).unwrap_or(f64::NAN),
        deferred_teardown_ns_per_cold_start: median(&teardown).unwrap_or(f64::NAN),
        blocks: args.blocks,
        block_size: size,
    })
}

/// The report as Markdown tables, as pasted into docs/benchmarks.md.
pub fn render(report: &BenchReport) -> String {
    let mut out = format!(
        "host: {} | wasmtime {} | wasmi {}\n",
        report.host_cpu, report.wasmtime, report.wasmi
    );
    if !report.latencies.is_empty() {
        out += "\n| runtime | mode | n | median (us) | p5 (us) | p95 (us) | startup | compile/load | instantiate | execute |\n|---|---|---|---|---|---|---|---|---|---|\n";
    }
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    for f in &report.latencies {
        out += &format!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |\n",
            f.runtime,
            f.mode.as_str(),
            f.n,
            f.median_us,
            f.p5_us,
            f.p95_us,
            cell(f.startup_us),
            cell(f.compile_us),
            cell(f.instantiate_us),
            cell(f.execute_us)
        );
    }
    if let Some(b) = &report.bookkeeping {
        out += &format!(
            "\nbookkeeping (wasmtime-aot warm noop, {} blocks x {}): bare loop {:.0} ns/invocation, through the harness {:.0} ns/invocation: {:.0} ns ({:.2}%) per invocation; of it the runtime's invoke alone {:.0} ns, stamps and the row to the recorder {:.0} ns; one clock read {:.1} ns; the recorder thread used {:.0} ns of CPU per row; on the measuring thread's CPU clock: bare {:.0} ns, through the harness {:.0} ns: {:.0} ns ({:.2}%)\n",
            b.blocks,
            b.block_size,
            b.bare_ns_per_invocation,
            b.harness_ns_per_invocation,
            b.bookkeeping_ns,
            b.bookkeeping_percent,
            b.runtime_ns_per_invocation - b.bare_ns_per_invocation,
            b.harness_ns_per_invocation - b.runtime_ns_per_invocation,
            b.clock_read_ns,
            b.writer_cpu_ns_per_row,
            b.bare_cpu_ns_per_invocation,
            b.harness_cpu_ns_per_invocation,
            b.harness_cpu_ns_per_invocation - b.bare_cpu_ns_per_invocation,
            100.0 * (b.harness_cpu_ns_per_invocation / b.bare_cpu_ns_per_invocation - 1.0)
        );
    }
    if let Some(c) = &report.cold_window {
        out += &format!(
            "\ncold windows (wasmtime-aot noop cold starts, {} blocks x {}): bare (teardown deferred) {:.0} ns/cold start, in a harness cold window {:.0} ns/cold start: {:.0} ns ({:.2}%) of bookkeeping; tearing down inside the loop instead: {:.0} ns/cold start; the deferred teardown after the window: {:.0} ns/cold start\n",
            c.blocks,
            c.block_size,
            c.bare_ns_per_cold_start,
            c.harness_ns_per_cold_start,
            c.bookkeeping_ns,
            c.bookkeeping_percent,
            c.in_window_teardown_ns_per_cold_start,
            c.deferred_teardown_ns_per_cold_start
        );
    }
    if !report.interrupt_cost.is_empty() {
        out += "\nwhat deadlines cost (warm, execute phase, medians; ratio: median of back-to-back pairs; `interrupt = \"epoch\"` against `\"none\"`):\n\n| runtime | mechanism | workload | input | n | with (ms) | without (ms) | ratio |\n|---|---|---|---|---|---|---|---|\n";
        for f in &report.interrupt_cost {
            out += &format!(
                "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2}x |\n",
                f.runtime, f.mechanism, f.workload, f.input, f.n, f.with_ms, f.without_ms, f.ratio
            );
        }
    }
    out
}
