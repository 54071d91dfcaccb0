//! `harness measure`: runs a plan and writes the run directory as it goes.

use crate::artifacts::WorkloadArtifacts;
use crate::plan::Plan;
use crate::recorder::{Measured, Recorder, write_manifest};
use crate::runtime::{self, Limits, Runtime};
use crate::scheduler::Schedule;
use anyhow::{Context, bail};
use harness_data::{EngineVersions, InvocationRecord, Manifest, Mode, RunStatus, Status, files};
use harness_probes::clock;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct MeasureOptions {
    pub plan: PathBuf,
    pub out: PathBuf,
    pub artifacts: PathBuf,
    pub progress: bool,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub status: RunStatus,
    pub reason: Option<String>,
    pub rows: u64,
    pub failed_rows: u64,
    pub scheduled: u64,
}

pub fn engine_versions() -> EngineVersions {
    let mut engines = BTreeMap::new();
    engines.insert("wasmtime".to_string(), env!("HARNESS_WASMTIME_VERSION").to_string());
    engines.insert("wasmi".to_string(), env!("HARNESS_WASMI_VERSION").to_string());
    engines.insert("rustc".to_string(), env!("HARNESS_RUSTC_VERSION").to_string());
    engines
}

/// Runs the plan. `interrupted` is set by the Ctrl-C handler; the run then stops after the invocation in
/// flight, and the manifest says `partial`.
pub fn measure(options: &MeasureOptions, interrupted: &Arc<AtomicBool>) -> anyhow::Result<RunSummary> {
    let plan = Plan::load(&options.plan)?;
    let out = &options.out;
    if out.join(files::INVOCATIONS).exists() {
        bail!("{} already holds a run: choose another --out, or delete it first", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    // Everything that can fail does so before the first invocation.
    let mut workloads = Vec::new();
    for entry in &plan.workloads {
        let spec = harness_workloads::find(&entry.name).expect("validated by Plan::parse");
        let artifacts = WorkloadArtifacts::at(&options.artifacts, spec);
        artifacts.ensure(&plan.runtimes)?;
        let inputs = entry
            .inputs
            .iter()
            .map(|i| spec.prepare_input(i).map_err(|e| anyhow::anyhow!("{}: {e}", entry.name)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        workloads.push((artifacts, inputs));
    }
    let limits = Limits { timeout_ms: plan.timeout_ms };
    let mut runtimes: Vec<Box<dyn Runtime>> =
        plan.runtimes.iter().map(|r| runtime::create(r, limits)).collect::<anyhow::Result<_>>()?;
    let schedule = Schedule::new(&plan);

    let mut manifest = Manifest {
        format_version: 1,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        status: RunStatus::Partial,
        status_reason: Some("running".into()),
        seed: plan.seed,
        anchor: clock::anchor(),
        started_unix_ns: clock::unix_ns(),
        finished_unix_ns: None,
        host: crate::host::fingerprint(Path::new("/")),
        engines: engine_versions(),
        artifacts: workloads.iter().map(|(a, _)| (a.name.to_string(), a.sizes())).collect(),
        plan: serde_json::to_value(&plan)?,
        scheduled_invocations: schedule.slots.len() as u64,
        recorded_invocations: 0,
    };
    write_manifest(out, &manifest)?;

    let recorder = Recorder::create(out)?;
    let progress = progress_bar(options.progress, schedule.slots.len() as u64);
    let mut prepared: HashSet<(usize, usize)> = HashSet::new();
    let mut stop: Option<(RunStatus, String)> = None;
    for (sequence, slot) in schedule.slots.iter().enumerate() {
        if interrupted.load(Ordering::Relaxed) {
            stop = Some((RunStatus::Partial, "interrupted (SIGINT) before every invocation ran".into()));
            break;
        }
        if let Some(failure) = recorder.failure() {
            stop = Some((RunStatus::Failed, failure));
            break;
        }
        let cell = &schedule.cells[slot.cell];
        let (artifacts, inputs) = &workloads[cell.workload];
        let input = &inputs[cell.input];
        let runtime = &mut runtimes[cell.runtime];
        let mut prepare_error = None;
        if cell.mode == Mode::Warm && prepared.insert((cell.runtime, cell.workload)) {
            if let Err(e) = runtime.prepare_warm(artifacts) {
                prepare_error = Some(format!("preparing warm invocations: {e:#}"));
            }
        }
        let label = &plan.workloads[cell.workload].inputs[cell.input];
        let slot_info = SlotInfo { iteration: slot.iteration, warmup: slot.warmup, sequence: sequence as u64 };
        match prepare_error {
            Some(message) => {
                let now = clock::monotonic_ns();
                let outcome = runtime::Outcome::failed(Default::default(), Status::Error, message);
                recorder.record(measured(runtime.name(), cell.mode, artifacts, label, input, slot_info, now, now, outcome));
            }
            None => invoke_and_record(runtime.as_mut(), cell.mode, artifacts, label, input, slot_info, &recorder),
        }
        progress.inc(1);
        if plan.cooldown_ms > 0 {
            std::thread::sleep(Duration::from_millis(plan.cooldown_ms));
        }
    }
    progress.finish_and_clear();
    let failure_at_end = recorder.failure();
    let written = recorder.finish()?;
    // A mismatch the writer found after the last invocation still fails the run.
    let (status, reason) = match (stop, failure_at_end) {
        (Some((RunStatus::Failed, why)), _) => (RunStatus::Failed, Some(why)),
        (_, Some(why)) => (RunStatus::Failed, Some(why)),
        (Some((status, why)), None) => (status, Some(why)),
        (None, None) => (RunStatus::Complete, None),
    };
    manifest.status = status;
    manifest.status_reason = reason.clone();
    manifest.finished_unix_ns = Some(clock::unix_ns());
    manifest.recorded_invocations = written.rows;
    write_manifest(out, &manifest)?;
    Ok(RunSummary { status, reason, rows: written.rows, failed_rows: written.failed_rows, scheduled: schedule.slots.len() as u64 })
}

/// Where an invocation sits in the schedule.
#[derive(Debug, Clone, Copy)]
pub struct SlotInfo {
    pub iteration: u32,
    pub warmup: bool,
    pub sequence: u64,
}

/// The harness's whole per-invocation path: stamp, invoke, stamp, hand the row to the recorder. The overhead
/// benchmark (`harness bench`) times exactly this function against a bare wasmtime loop.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn invoke_and_record(
    runtime: &mut dyn Runtime,
    mode: Mode,
    artifacts: &WorkloadArtifacts,
    input_label: &str,
    input: &[u8],
    slot: SlotInfo,
    recorder: &Recorder,
) {
    let start_ns = clock::monotonic_ns();
    let outcome = runtime.invoke(mode, artifacts, input);
    let end_ns = clock::monotonic_ns();
    recorder.record(measured(runtime.name(), mode, artifacts, input_label, input, slot, start_ns, end_ns, outcome));
}

#[allow(clippy::too_many_arguments)]
fn measured(
    runtime: &str,
    mode: Mode,
    artifacts: &WorkloadArtifacts,
    input_label: &str,
    input: &[u8],
    slot: SlotInfo,
    start_ns: u64,
    end_ns: u64,
    outcome: runtime::Outcome,
) -> Measured {
    let phases = outcome.phases;
    let status = outcome.status();
    Measured {
        record: InvocationRecord {
            workload: artifacts.name.to_string(),
            input: input_label.to_string(),
            runtime: runtime.to_string(),
            mode,
            iteration: slot.iteration,
            warmup: slot.warmup,
            sequence: slot.sequence,
            start_ns,
            end_ns,
            latency_ns: end_ns - start_ns,
            startup_ns: phases.startup_ns,
            compile_ns: phases.compile_ns,
            instantiate_ns: phases.instantiate_ns,
            input_ns: phases.input_ns,
            execute_ns: phases.execute_ns,
            output_ns: phases.output_ns,
            input_bytes: input.len() as u64,
            output_bytes: outcome.output.len() as u64,
            status,
            digest: String::new(),
            error: outcome.error,
        },
        output: outcome.output,
    }
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} invocations ({eta} left)") {
        bar.set_style(style);
    }
    bar
}
