//! `harness bench-load`: how fast the open-loop generator can offer load before it becomes the bottleneck it
//! measures. Native warm noop (about a microsecond of work) at rising Poisson rates; per rate, the send lag
//! (actual minus intended send time) and the generator's CPU. The answer is the highest rate the generator
//! sustains: achieved at least 90% of offered, with the p99 send lag under `--max-lag-us`.

use crate::artifacts::{WorkloadArtifacts, default_dir};
use crate::load::drive::{self, Servers, Target};
use crate::load::log::{LevelColumns, LevelLog};
use crate::load::summary::LevelTally;
use crate::runtime::{self, Limits};
use clap::Args;
use harness_data::RuntimeKind;
use harness_data::plan::Interrupt;
use harness_probes::clock::monotonic_ns;
use harness_probes::model::ContainerLedger;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

/// Open-loop generator capacity: send lag of native warm noop at rising rates. With `--serving`: closed-loop
/// throughput of the serving shapes (threads, processes) against the bare engine.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  harness bench-load --rates 1000,5000,20000 --duration-ms 3000\n  harness bench-load --serving --workloads noop:0,fibonacci:20 --clients 1,2 --duration-ms 3000"
)]
pub struct BenchLoadArgs {
    /// Compare serving shapes instead: per workload and client count, requests/s of the bare wasmtime floor
    /// (N threads of one engine; N processes side by side) and of load mode's closed loop with `serving =
    /// "threads"` and `"processes"`.
    #[arg(long)]
    pub serving: bool,
    /// With --serving: the runtime (wasmtime-aot or wasmtime-jit).
    #[arg(long, default_value = "wasmtime-aot")]
    pub runtime: RuntimeKind,
    /// With --serving: workloads as name:input.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["noop:0".to_string(), "fibonacci:20".to_string()])]
    pub workloads: Vec<String>,
    /// With --serving: the client counts (closed loop), in the order run.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2])]
    pub clients: Vec<u32>,
    /// Offered rates, requests per second, in the order run.
    #[arg(long, value_delimiter = ',', default_values_t = vec![200.0, 1000.0, 5000.0, 20000.0, 100000.0, 200000.0, 500000.0, 1000000.0])]
    pub rates: Vec<f64>,
    /// Measured time per rate.
    #[arg(long, default_value_t = 3000)]
    pub duration_ms: u64,
    /// Worker threads serving the requests.
    #[arg(long, default_value_t = 1)]
    pub instances: u32,
    /// The send-lag target for the answer, p99, microseconds.
    #[arg(long, default_value_t = 100.0)]
    pub max_lag_us: f64,
    /// Where the workloads are built [default: as `harness measure`].
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct GeneratorFigure {
    pub offered_rps: f64,
    pub achieved_rps: f64,
    pub sent: u64,
    pub send_lag_p50_ns: Option<u64>,
    pub send_lag_p99_ns: Option<u64>,
    pub latency_p99_ns: Option<u64>,
    /// Generator and worker threads outside the workload, in cores.
    pub harness_cpu_cores: f64,
}

#[derive(Debug, Serialize)]
pub struct GeneratorBench {
    pub figures: Vec<GeneratorFigure>,
    pub max_lag_us: f64,
    /// The highest rate run that achieved at least 90% of itself with its p99 send lag under `max_lag_us`
    /// (none if no rate did).
    pub highest_rate_within: Option<f64>,
}

/// Refuses what the generator cannot run, before anything starts: a NaN rate once spun until out of memory
/// and `--duration-ms 0` printed "inf cores". The bounds are the plan's `[load]` ones.
fn check_args(args: &BenchLoadArgs) -> anyhow::Result<()> {
    use crate::plan::{MAX_CONCURRENCY, check_duration_ms, check_rate, level_requests};
    check_duration_ms(args.duration_ms).map_err(|e| anyhow::anyhow!("--duration-ms: {e}"))?;
    if args.rates.is_empty() {
        anyhow::bail!("--rates is empty: give requests per second, e.g. --rates 1000,5000");
    }
    for &rate in &args.rates {
        check_rate(rate).map_err(|e| anyhow::anyhow!("--rates: {e}"))?;
        level_requests(rate, args.duration_ms).map_err(|e| anyhow::anyhow!("--rates: {e}"))?;
    }
    if !(1..=MAX_CONCURRENCY).contains(&args.instances) {
        anyhow::bail!(
            "--instances {} is not a pool size; use 1 to {MAX_CONCURRENCY}",
            args.instances
        );
    }
    if !(args.max_lag_us.is_finite() && args.max_lag_us > 0.0) {
        anyhow::bail!(
            "--max-lag-us {} is not a lag; use microseconds above 0",
            args.max_lag_us
        );
    }
    Ok(())
}

pub fn measure_generator(args: &BenchLoadArgs) -> anyhow::Result<GeneratorBench> {
    check_args(args)?;
    let spec = harness_workloads::find("noop").expect("noop is a workload");
    let artifacts = WorkloadArtifacts::at(&args.artifacts.clone().unwrap_or_else(default_dir), spec);
    runtime::ensure_artifacts(&[RuntimeKind::Native], &artifacts)?;
    let input = spec.prepare_input("0").map_err(|e| anyhow::anyhow!("noop 0: {e}"))?;
    let limits = Limits {
        timeout_ms: 10_000,
        interrupt: Interrupt::Epoch,
        memory_mb: None,
        wasm_stack: None,
    };
    let target = Target {
        artifacts: &artifacts,
        input: &input,
        in_process: true,
        timeout_ns: limits.timeout_ms * 1_000_000,
        expected: &crate::load::output::ExpectedOutput::default(),
    };
    let stop = AtomicBool::new(false);
    let mut figures = Vec::new();
    for (i, &rate) in args.rates.iter().enumerate() {
        let mut pool = runtime::warm_pool(
            RuntimeKind::Native,
            limits,
            harness_data::Serving::Threads,
            &artifacts,
            args.instances,
            &ContainerLedger::default(),
        )?;
        let servers: Servers = Mutex::new(vec![Vec::new(); args.instances as usize]);
        let start = monotonic_ns();
        let until = start + args.duration_ms * 1_000_000;
        let columns = LevelColumns {
            workload: "noop".into(),
            input: "0".into(),
            runtime: RuntimeKind::Native.to_string(),
            kind: harness_data::LoadKind::Rate,
            level: rate,
            sequence: i as u64,
            window_start_ns: start,
        };
        // Tallied only: the bench keeps no request log.
        let log = LevelLog::start(None, columns, LevelTally::new(start, until))?;
        let driven = drive::open_loop(
            &mut pool,
            &target,
            rate,
            start,
            until,
            1_000_000_000,
            i as u64,
            &stop,
            &servers,
            log.sender(),
        );
        let tally = log.finish()?;
        let driven = driven?;
        let summary = tally.finish(start, until);
        let figure = GeneratorFigure {
            offered_rps: rate,
            achieved_rps: summary.achieved_rps,
            sent: summary.sent,
            send_lag_p50_ns: summary.send_lag_p50_ns,
            send_lag_p99_ns: summary.send_lag_p99_ns,
            latency_p99_ns: summary.p99_ns,
            harness_cpu_cores: driven.dispatch_cpu_ns as f64 / (until - start) as f64,
        };
        eprintln!(
            "{:>9.0} req/s offered: {:>9.0} achieved, send lag p50 {:>7.1} us p99 {:>8.1} us, latency p99 {:>8.1} us, harness {:.2} cores",
            figure.offered_rps,
            figure.achieved_rps,
            figure.send_lag_p50_ns.unwrap_or(0) as f64 / 1e3,
            figure.send_lag_p99_ns.unwrap_or(0) as f64 / 1e3,
            figure.latency_p99_ns.unwrap_or(0) as f64 / 1e3,
            figure.harness_cpu_cores
        );
        figures.push(figure);
    }
    let highest_rate_within = figures
        .iter()
        .filter(|f| {
            f.send_lag_p99_ns
                .is_some_and(|lag| (lag as f64) < args.max_lag_us * 1e3)
        })
        .filter(|f| f.achieved_rps >= harness_data::LoadRecord::SATURATION_SHARE * f.offered_rps)
        .map(|f| f.offered_rps)
        .fold(None, |best: Option<f64>, r| Some(best.map_or(r, |b| b.max(r))));
    Ok(GeneratorBench {
        figures,
        max_lag_us: args.max_lag_us,
        highest_rate_within,
    })
}

pub fn run(args: &BenchLoadArgs) -> anyhow::Result<()> {
    if args.serving {
        return run_serving(args);
    }
    let bench = measure_generator(args)?;
    match bench.highest_rate_within {
        Some(rate) => println!(
            "highest open-loop rate sustained with p99 send lag under {} us: {rate:.0} req/s (native warm noop, {} instance(s))",
            bench.max_lag_us, args.instances
        ),
        None => println!(
            "no rate run was sustained with the p99 send lag under {} us",
            bench.max_lag_us
        ),
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&bench)?)?;
    }
    Ok(())
}

/// `--serving`: the serving shapes against the bare floor (see [`crate::bench_serving`]).
fn run_serving(args: &BenchLoadArgs) -> anyhow::Result<()> {
    use crate::plan::{MAX_CONCURRENCY, check_duration_ms};
    check_duration_ms(args.duration_ms).map_err(|e| anyhow::anyhow!("--duration-ms: {e}"))?;
    if let Some(bad) = args.clients.iter().find(|c| !(1..=MAX_CONCURRENCY).contains(*c)) {
        anyhow::bail!("--clients {bad} is not a level; use 1 to {MAX_CONCURRENCY}");
    }
    let bench = crate::bench_serving::ServingBench {
        runtime: args.runtime,
        workloads: &args.workloads,
        clients: &args.clients,
        duration_ms: args.duration_ms,
        artifacts: args.artifacts.clone().unwrap_or_else(default_dir),
    };
    let figures = crate::bench_serving::measure_serving(&bench)?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&figures)?)?;
    }
    Ok(())
}
