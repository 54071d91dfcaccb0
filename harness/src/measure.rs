//! `harness measure`: runs a plan and writes the run directory as it goes.

use crate::artifacts::WorkloadArtifacts;
use crate::plan::Plan;
use crate::recorder::{CellLabel, Measured, Recorder, SlotInfo, write_manifest};
use crate::runtime::{self, Limits, Runtime};
use crate::scheduler::Schedule;
use anyhow::{Context, bail};
use harness_data::{EngineVersions, Manifest, Mode, RunStatus, Status, files};
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
    engines.insert(
        "wasmtime".to_string(),
        env!("HARNESS_WASMTIME_VERSION").to_string(),
    );
    engines.insert(
        "wasmi".to_string(),
        env!("HARNESS_WASMI_VERSION").to_string(),
    );
    engines.insert(
        "rustc".to_string(),
        env!("HARNESS_RUSTC_VERSION").to_string(),
    );
    engines
}

/// Runs the plan. `interrupted` is set by the Ctrl-C handler; the run then stops after the invocation in
/// flight, and the manifest says `partial`.
pub fn measure(
    options: &MeasureOptions,
    interrupted: &Arc<AtomicBool>,
) -> anyhow::Result<RunSummary> {
    let plan = Plan::load(&options.plan)?;
    let out = &options.out;
    if out.join(files::INVOCATIONS).exists() {
        bail!(
            "{} already holds a run: choose another --out, or delete it first",
            out.display()
        );
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
            .map(|i| {
                spec.prepare_input(i)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", entry.name))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        workloads.push((artifacts, inputs));
    }
    let limits = Limits {
        timeout_ms: plan.timeout_ms,
    };
    let mut runtimes: Vec<Box<dyn Runtime>> = plan
        .runtimes
        .iter()
        .map(|r| runtime::create(r, limits))
        .collect::<anyhow::Result<_>>()?;
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
        artifacts: workloads
            .iter()
            .map(|(a, _)| (a.name.to_string(), a.sizes()))
            .collect(),
        plan: serde_json::to_value(&plan)?,
        scheduled_invocations: schedule.slots.len() as u64,
        recorded_invocations: 0,
        probes: Vec::new(),
        energy_estimated: false,
        batching: Vec::new(),
    };
    runtime::add_engine_versions(&plan.runtimes, &mut manifest.engines);
    write_manifest(out, &manifest)?;

    let labels = schedule
        .cells
        .iter()
        .map(|c| CellLabel {
            workload: plan.workloads[c.workload].name.clone(),
            input: plan.workloads[c.workload].inputs[c.input].clone(),
            runtime: plan.runtimes[c.runtime].clone(),
            mode: c.mode,
            group: schedule
                .cells
                .iter()
                .position(|o| (o.workload, o.input) == (c.workload, c.input))
                .unwrap_or(0),
        })
        .collect();
    let mut recorder = Recorder::create(out, labels)?;
    let progress = progress_bar(options.progress, schedule.slots.len() as u64);
    let mut prepared: HashSet<(usize, usize)> = HashSet::new();
    let mut stop: Option<(RunStatus, String)> = None;
    for (sequence, slot) in schedule.slots.iter().enumerate() {
        if interrupted.load(Ordering::Relaxed) {
            stop = Some((
                RunStatus::Partial,
                "interrupted (SIGINT) before every invocation ran".into(),
            ));
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
        if cell.mode == Mode::Warm
            && prepared.insert((cell.runtime, cell.workload))
            && let Err(e) = runtime.prepare_warm(artifacts)
        {
            prepare_error = Some(format!("preparing warm invocations: {e:#}"));
        }
        let slot_info = SlotInfo {
            iteration: slot.iteration,
            warmup: slot.warmup,
            sequence: sequence as u64,
            batch: None,
        };
        match prepare_error {
            Some(message) => {
                let now = clock::monotonic_ns();
                let outcome = runtime::Outcome::failed(Default::default(), Status::Error, message);
                recorder.record(Measured {
                    cell: slot.cell,
                    slot: slot_info,
                    start_ns: now,
                    end_ns: now,
                    input_bytes: input.len() as u64,
                    outcome,
                });
            }
            None => invoke_and_record(
                runtime.as_mut(),
                slot.cell,
                cell.mode,
                artifacts,
                input,
                slot_info,
                &mut recorder,
            ),
        }
        progress.inc(1);
        if plan.cooldown_ms > 0 {
            std::thread::sleep(Duration::from_millis(plan.cooldown_ms));
        }
    }
    progress.finish_and_clear();
    let written = recorder.finish()?;
    // Rows travel in batches, so a mismatch is often found only once the last ones are written.
    let (status, reason) = match (stop, written.failure.clone()) {
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
    Ok(RunSummary {
        status,
        reason,
        rows: written.rows,
        failed_rows: written.failed_rows,
        scheduled: schedule.slots.len() as u64,
    })
}

/// The harness's whole per-invocation path: stamp, invoke, stamp, hand the row to the recorder. The overhead
/// benchmark (`harness bench`) times exactly this function against a bare wasmtime loop.
#[inline]
pub fn invoke_and_record(
    runtime: &mut dyn Runtime,
    cell: usize,
    mode: Mode,
    artifacts: &WorkloadArtifacts,
    input: &[u8],
    slot: SlotInfo,
    recorder: &mut Recorder,
) {
    let start_ns = clock::monotonic_ns();
    let outcome = runtime.invoke(mode, artifacts, input);
    let end_ns = clock::monotonic_ns();
    recorder.record(Measured {
        cell,
        slot,
        start_ns,
        end_ns,
        input_bytes: input.len() as u64,
        outcome,
    });
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} invocations ({eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}
