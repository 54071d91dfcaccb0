//! `harness run`: any commands, hyperfine's interface, with joules and intervals.
//!
//! Each command (each parameter combination) becomes a runtime of an ordinary run (runtime kind `exec`, named by
//! the command's name), every run of it a cold invocation of one workload, `command`: so the measured path is
//! `harness measure`'s own (the seeded interleaving, idle baselines, resolution-aware cold windows of K runs
//! back to back, rows written as measured, probes on the same clock, pairing), and the run directory is one
//! that `report`, `export` and `pair` read. [`spec`] expands the command line, [`runtime`] runs a command as a
//! runtime ([`process`] one process of it), [`results`] gathers what hyperfine shows plus energy and the
//! report's comparisons, [`terminal`] and [`export`] render it.

pub mod export;
pub mod process;
pub mod results;
pub mod runtime;
pub mod spec;
pub mod terminal;

use crate::artifacts::{CommandArtifacts, Guest, WorkloadArtifacts};
use crate::measure::{Extras, Prepared, PreparedWorkload, RunSummary};
use crate::plan::Plan;
use crate::runtime::Runtime;
use anyhow::Context;
use harness_data::plan::{ColdBoundary, Interrupt, PlanWorkload};
use harness_data::{ExecCommand, ExecRecord, Mode, RuntimeKind};
use harness_probes::spec::ProbeSpec;
use process::{Output, RunSettings, Shell};
use runtime::CommandRuntime;
use spec::BenchCommand;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The workload every command's rows carry: the commands themselves are the runtimes compared.
pub const WORKLOAD: &str = "command";

/// How many runs each command gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunCount {
    /// `-r`: exactly.
    Exact(u32),
    /// hyperfine's default: as many as fit in about 3 s per command (from one trial run of each), at least
    /// `min` (10) and at most `max`.
    Estimate { min: u32, max: Option<u32> },
}

/// What `harness run` was asked, checked.
pub struct RunRequest {
    pub commands: Vec<BenchCommand>,
    pub settings: RunSettings,
    pub ignore_failure: bool,
    pub runs: RunCount,
    pub warmup: u32,
    pub seed: Option<u64>,
    pub sequential: bool,
    pub probes: Vec<ProbeSpec>,
    /// Idle time before and after the runs, for the idle baseline (ms).
    pub idle_ms: u64,
    pub out: PathBuf,
    pub precision: Option<f64>,
    pub progress: bool,
}

/// How long hyperfine's default aims to spend on each command.
const TARGET_TIME: Duration = Duration::from_secs(3);

/// Measures the commands into `request.out`; returns how the run ended.
pub fn run(request: &RunRequest, interrupted: &Arc<AtomicBool>) -> anyhow::Result<RunSummary> {
    let settings = Arc::new(request.settings.clone());
    let mut runtimes = request
        .commands
        .iter()
        .map(|c| CommandRuntime::new(c.clone(), Arc::clone(&settings), request.ignore_failure))
        .collect::<Result<Vec<_>, String>>()
        .map_err(anyhow::Error::msg)?;
    crate::run_dir::check_free(&request.out)?;
    let repetitions = match request.runs {
        RunCount::Exact(n) => n,
        RunCount::Estimate { min, max } => estimate_runs(&mut runtimes, min, max)?,
    };
    let mut plan = plan_for(request, repetitions);
    // The plan's baseline, so `harness report DIR` needs no --baseline: the reference, else the first command.
    let baseline = request
        .commands
        .iter()
        .find(|c| c.reference)
        .unwrap_or(&request.commands[0])
        .name
        .clone();
    crate::plan::precision::apply_cli(&mut plan, request.precision, Some(&baseline))
        .map_err(|e| anyhow::anyhow!(e.replace("--baseline", "--reference")))?;
    let scheduled = request.commands.len() as u128
        * (u128::from(plan.warmup)
            + u128::from(plan.precision.as_ref().map_or(plan.repetitions, |p| p.max_repetitions)));
    if scheduled > crate::plan::MAX_SCHEDULED {
        anyhow::bail!(
            "{scheduled} runs in all: more than the {} one run can hold; lower --runs or --max-runs",
            crate::plan::MAX_SCHEDULED
        );
    }
    let prepared = Prepared {
        workloads: vec![PreparedWorkload {
            artifacts: command_workload(),
            inputs: vec![Vec::new()],
        }],
        runtimes: runtimes.into_iter().map(|r| Box::new(r) as Box<dyn Runtime>).collect(),
        skipped: Default::default(),
    };
    let extras = Extras {
        sequential: request.sequential,
        exec: Some(record(request)),
        // `-r N` counts runs, as hyperfine's does: a command run K to a window gets N runs in all.
        invocations_per_cell: Some(repetitions),
        device: None,
    };
    crate::measure::measure_prepared(plan, prepared, &request.out, extras, interrupted, request.progress)
}

/// One trial run of each command (with its hooks), not recorded: how many runs fit in about 3 s per command
/// on average, between `min` and `max`. A command that cannot run stops here, before anything is measured.
fn estimate_runs(runtimes: &mut [CommandRuntime], min: u32, max: Option<u32>) -> anyhow::Result<u32> {
    let mut total = Duration::ZERO;
    for runtime in runtimes.iter_mut() {
        let took = runtime
            .trial()
            .map_err(|why| anyhow::anyhow!("{why} (in its trial run, before anything was measured)"))?;
        total += took;
    }
    let mean = total.as_secs_f64() / runtimes.len() as f64;
    let fit = if mean > 0.0 {
        (TARGET_TIME.as_secs_f64() / mean).ceil().min(f64::from(u32::MAX)) as u32
    } else {
        u32::MAX
    };
    Ok(fit.max(min).min(max.unwrap_or(u32::MAX)))
}

/// The plan of a `harness run`: one runtime per command, cold only, one workload.
fn plan_for(request: &RunRequest, repetitions: u32) -> Plan {
    let input = request
        .settings
        .input
        .as_ref()
        .map_or("-".to_string(), |p| p.display().to_string());
    Plan {
        seed: request.seed.unwrap_or_else(crate::plan::random_seed),
        repetitions,
        warmup: request.warmup,
        runtimes: vec![RuntimeKind::Exec; request.commands.len()],
        runtime_names: request.commands.iter().map(|c| c.name.clone()).collect(),
        modes: vec![Mode::Cold],
        cooldown_ms: 0,
        timeout_ms: request
            .settings
            .timeout
            .map_or(crate::plan::MAX_TIMEOUT_MS, |t| t.as_millis() as u64),
        cold_boundary: ColdBoundary::default(),
        interrupt: Interrupt::default(),
        wasm_stack_kib: None,
        baseline_ms: if request.probes.is_empty() { 0 } else { request.idle_ms },
        calibrate_delay: request.probes.iter().any(ProbeSpec::has_own_delay),
        skip_unavailable: false,
        workloads: vec![PlanWorkload {
            name: WORKLOAD.into(),
            inputs: vec![input],
            command: None,
        }],
        probes: request.probes.clone(),
        load: None,
        baseline: None,
        precision: None,
    }
}

/// A workload with no artifacts: a command brings its own program.
fn command_workload() -> WorkloadArtifacts {
    WorkloadArtifacts {
        name: WORKLOAD,
        guest: Guest::Command(Arc::new(CommandArtifacts::default())),
        cache_key: WORKLOAD.into(),
        wasm: PathBuf::new(),
        cwasm: PathBuf::new(),
        native: PathBuf::new(),
        musl: PathBuf::new(),
        container_image: Arc::default(),
    }
}

fn record(request: &RunRequest) -> ExecRecord {
    ExecRecord {
        shell: shell_name(&request.settings.shell),
        order: order_name(request.sequential).into(),
        commands: request
            .commands
            .iter()
            .map(|c| ExecCommand {
                name: c.name.clone(),
                command: c.command.clone(),
                parameters: c.parameters.clone(),
                reference: c.reference,
                setup: c.hooks.setup.clone(),
                prepare: c.hooks.prepare.clone(),
                conclude: c.hooks.conclude.clone(),
                cleanup: c.hooks.cleanup.clone(),
            })
            .collect(),
        input: request.settings.input.as_ref().map(|p| p.display().to_string()),
        output: match request.settings.output {
            Output::Null => "null",
            Output::Inherit => "inherit",
        }
        .into(),
        timeout_ms: request.settings.timeout.map(|t| t.as_millis() as u64),
        ignore_failure: request.ignore_failure,
        runs_from: match request.runs {
            RunCount::Exact(n) => format!("--runs {n}"),
            RunCount::Estimate { min, max } => format!(
                "one trial run per command: about 3 s per command, at least {min}{}",
                max.map_or(String::new(), |m| format!(", at most {m}"))
            ),
        },
    }
}

pub fn shell_name(shell: &Shell) -> String {
    match shell {
        Shell::Program(p) => p.clone(),
        Shell::None => "none".into(),
    }
}

pub fn order_name(sequential: bool) -> &'static str {
    if sequential { "sequential" } else { "interleaved" }
}

/// The results of a finished run in `dir`: the report built against `reference` (else the command with the
/// smallest median time), with the usage rows.
pub fn gather(
    dir: &std::path::Path,
    commands: &[BenchCommand],
    asked: &results::Asked,
) -> anyhow::Result<results::RunResults> {
    use harness_analysis::report::{ReportOptions, build_report};
    let run = harness_analysis::run::read_run(dir).with_context(|| format!("reading the run in {}", dir.display()))?;
    let baseline = match commands.iter().find(|c| c.reference) {
        Some(c) => c.name.clone(),
        None => fastest(&run, commands),
    };
    let options = ReportOptions {
        baseline,
        ..ReportOptions::default()
    };
    let mut report = build_report(std::slice::from_ref(&run), &options)?;
    report
        .notes
        .extend(run.notes.iter().map(|note| format!("run {}: {note}", run.name)));
    let usage = read_usage(dir)?;
    Ok(results::build(&run, &report, &usage, asked))
}

/// The command with the smallest median wall time over its counted runs (the first, when none counted).
fn fastest(run: &harness_analysis::run::Run, commands: &[BenchCommand]) -> String {
    let median = |name: &str| {
        let mut times: Vec<f64> = run
            .invocations
            .iter()
            .filter(|r| r.runtime == name && !r.warmup && r.status == harness_data::Status::Ok)
            .map(|r| r.latency_ns as f64)
            .collect();
        times.sort_by(f64::total_cmp);
        harness_analysis::summary::median(&times)
    };
    commands
        .iter()
        .filter_map(|c| Some((median(&c.name)?, &c.name)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or_else(|| commands[0].name.clone(), |(_, name)| name.clone())
}

/// `usage.csv`, empty where no run reached its end.
fn read_usage(dir: &std::path::Path) -> anyhow::Result<Vec<harness_data::UsageRecord>> {
    let path = dir.join(harness_data::files::USAGE);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
    reader
        .deserialize()
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", path.display()))
}
