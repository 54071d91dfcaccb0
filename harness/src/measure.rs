//! `harness measure`: runs a plan and writes the run directory as it goes.
//!
//! Order of a run: open probes and start the sampler (a probe that cannot start fails the run before any
//! workload runs) -> idle baseline -> the shuffled schedule, warm cells batched when a probe cannot resolve
//! single invocations -> idle baseline -> stop the sampler -> pair invocations with samples (`paired.csv`).

use crate::artifacts::WorkloadArtifacts;
use crate::energy::{self, OpenProbe};
use crate::plan::Plan;
use crate::recorder::{CellLabel, Measured, Recorder, SlotInfo, write_manifest};
use crate::runtime::{self, Limits, Outcome, Runtime};
use crate::scheduler::Schedule;
use anyhow::{Context, bail};
use harness_data::{BatchPlan, EngineVersions, Manifest, Mode, RunStatus, Status, files};
use harness_probes::clock;
use harness_probes::sampler::Sampler;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, HashMap, HashSet};
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
    /// Rows of `paired.csv`, when probes ran.
    pub paired_rows: Option<usize>,
    pub energy_estimated: bool,
}

pub fn engine_versions() -> EngineVersions {
    let mut engines = BTreeMap::new();
    engines.insert("wasmtime".to_string(), env!("HARNESS_WASMTIME_VERSION").to_string());
    engines.insert("wasmi".to_string(), env!("HARNESS_WASMI_VERSION").to_string());
    engines.insert("rustc".to_string(), env!("HARNESS_RUSTC_VERSION").to_string());
    engines
}

/// Pilot invocations that size a batch (recorded as warm-up rows).
const PILOT_INVOCATIONS: u32 = 5;
/// A batch window must cover this many update periods of the coarsest channel.
const RESOLUTION_FACTOR: u64 = 20;
/// At most this many invocations per batch window: a sub-microsecond native call would otherwise need
/// millions per window (and millions of rows); such windows stay shorter than the target and the paired rows
/// say `below_resolution` where they are.
const MAX_BATCH: u64 = 10_000;

/// Runs the plan. `interrupted` is set by the Ctrl-C handler; the run then stops after the invocation in
/// flight, and the manifest says `partial`.
pub fn measure(options: &MeasureOptions, interrupted: &Arc<AtomicBool>) -> anyhow::Result<RunSummary> {
    let plan = Plan::load(&options.plan)?;
    let out = &options.out;
    if out.join(files::INVOCATIONS).exists() {
        bail!(
            "{} already holds a run: choose another --out, or delete it first",
            out.display()
        );
    }

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
        interrupt: plan.interrupt,
    };
    let mut runtimes: Vec<Box<dyn Runtime>> = plan
        .runtimes
        .iter()
        .map(|r| runtime::create_at(r, limits, plan.cold_boundary))
        .collect::<anyhow::Result<_>>()?;
    let mut probes: Vec<OpenProbe> = Vec::new();
    for spec in &plan.probes {
        probes.push(energy::open_probe(spec).context("a probe cannot start, so nothing was measured")?);
    }
    let schedule = Schedule::new(&plan);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    let channels: Vec<_> = probes.iter().flat_map(|p| p.manifest.channels.iter()).collect();
    let energy_estimated = !channels.is_empty() && channels.iter().all(|c| c.estimated);
    // Warm invocations shorter than this are batched (0: no probes, no batching).
    let batch_window_ns = channels.iter().map(|c| c.update_period_ns).max().unwrap_or(0) * RESOLUTION_FACTOR;
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
        probes: probes.iter().map(|p| p.manifest.clone()).collect(),
        energy_estimated,
        batching: Vec::new(),
        baseline_before_ns: None,
        baseline_after_ns: None,
        calibration_busy_ns: Vec::new(),
        interrupt: Default::default(),
    };
    runtime::add_engine_versions(&plan.runtimes, &mut manifest.engines);
    manifest.interrupt = runtime::interrupt_mechanisms(&plan);
    write_manifest(out, &manifest)?;

    let sampler = if probes.is_empty() {
        None
    } else {
        let runs = probes.into_iter().map(|p| p.run).collect();
        Some(Sampler::start(runs, &out.join(files::SAMPLES)).context("starting the sampler")?)
    };
    if sampler.is_some() && plan.calibrate_delay {
        let channels: Vec<_> = manifest.probes.iter().flat_map(|p| p.channels.clone()).collect();
        manifest.calibration_busy_ns = energy::play_calibration_pattern(energy::calibration_unit_ns(&channels));
        write_manifest(out, &manifest)?;
    }
    if sampler.is_some() && plan.baseline_ms > 0 {
        manifest.baseline_before_ns = Some(idle(plan.baseline_ms));
        write_manifest(out, &manifest)?;
    }

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
        .collect::<Vec<_>>();
    let mut recorder = Recorder::create(out, labels.clone())?;
    let progress = progress_bar(options.progress, schedule.slots.len() as u64);
    let mut prepared: HashSet<(usize, usize)> = HashSet::new();
    // Batch size of each warm cell, decided by its pilot.
    let mut batch_sizes: HashMap<usize, u32> = HashMap::new();
    // Executed order; a Cell so the invoke closure and the batch bookkeeping can both read it.
    let sequence = std::cell::Cell::new(0u64);
    let mut stop: Option<(RunStatus, String)> = None;
    for slot in &schedule.slots {
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
        let runtime = runtimes[cell.runtime].as_mut();
        if cell.mode == Mode::Warm
            && prepared.insert((cell.runtime, cell.workload))
            && let Err(e) = runtime.prepare_warm(artifacts)
        {
            let now = clock::monotonic_ns();
            let outcome = Outcome::failed(
                Default::default(),
                Status::Error,
                format!("preparing warm invocations: {e:#}"),
            );
            let info = SlotInfo {
                iteration: slot.iteration,
                warmup: slot.warmup,
                sequence: sequence.get(),
                batch: None,
            };
            sequence.set(sequence.get() + 1);
            recorder.record(Measured {
                cell: slot.cell,
                slot: info,
                start_ns: now,
                end_ns: now,
                input_bytes: 0,
                outcome,
            });
            progress.inc(1);
            continue;
        }
        let mut invoke = |iteration: u32, warmup: bool, batch: Option<u64>, recorder: &mut Recorder| {
            let info = SlotInfo {
                iteration,
                warmup,
                sequence: sequence.get(),
                batch,
            };
            sequence.set(sequence.get() + 1);
            invoke_and_record(runtime, slot.cell, cell.mode, artifacts, input, info, recorder)
        };
        let batch_size = if slot.warmup || cell.mode == Mode::Cold || batch_window_ns == 0 {
            1
        } else if let Some(&size) = batch_sizes.get(&slot.cell) {
            size
        } else {
            // Pilot: a few timed invocations (kept, as warm-up rows) size the batch.
            let mut pilot: Vec<f64> = (0..PILOT_INVOCATIONS)
                .filter_map(|i| match invoke(plan.warmup + i, true, None, &mut recorder) {
                    (latency, Status::Ok) => Some(latency as f64),
                    _ => None,
                })
                .collect();
            pilot.sort_by(f64::total_cmp);
            // A failing pilot leaves the cell unbatched: its failures are recorded one by one.
            let pilot_ns = harness_analysis::summary::median(&pilot).map_or(u64::MAX, |m| m as u64);
            let size = if pilot_ns >= batch_window_ns {
                1
            } else {
                batch_window_ns.div_ceil(pilot_ns.max(1)).min(MAX_BATCH) as u32
            };
            batch_sizes.insert(slot.cell, size);
            if size > 1 {
                let label = &labels[slot.cell];
                manifest.batching.push(BatchPlan {
                    workload: label.workload.clone(),
                    input: label.input.clone(),
                    runtime: label.runtime.clone(),
                    batch_size: size,
                    pilot_latency_ns: pilot_ns,
                    target_window_ns: batch_window_ns,
                });
                manifest.scheduled_invocations += u64::from(size - 1) * u64::from(plan.repetitions);
            }
            manifest.scheduled_invocations += u64::from(PILOT_INVOCATIONS);
            size
        };
        if batch_size == 1 {
            invoke(slot.iteration, slot.warmup, None, &mut recorder);
        } else {
            let first = sequence.get();
            for _ in 0..batch_size {
                invoke(slot.iteration, false, Some(first), &mut recorder);
            }
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

    let mut paired_rows = None;
    if let Some(sampler) = sampler {
        if plan.baseline_ms > 0 && status == RunStatus::Complete {
            manifest.baseline_after_ns = Some(idle(plan.baseline_ms));
        }
        let stats = sampler.stop();
        for (probe, stat) in manifest.probes.iter_mut().zip(&stats) {
            for note in &stat.notes {
                if !probe.notes.contains(note) {
                    probe.notes.push(note.clone());
                }
            }
            probe
                .notes
                .push(format!("{} polls, {} rows, {} gaps", stat.polls, stat.rows, stat.gaps));
            if let Some(why) = &stat.first_gap {
                probe.notes.push(format!("first gap: {why}"));
            }
        }
        for line in energy::calibrate_delays(out, &mut manifest)? {
            eprintln!("calibration: {line}");
        }
        let pairing = energy::pair_run(out, &manifest, None)?;
        for probe in &mut manifest.probes {
            for channel in &probe.channels {
                if let Some(b) = pairing.baselines.get(&(channel.probe.clone(), channel.channel.clone())) {
                    probe.baselines.insert(channel.channel.clone(), b.clone());
                }
            }
        }
        paired_rows = Some(pairing.rows);
    }
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
        scheduled: manifest.scheduled_invocations,
        paired_rows,
        energy_estimated,
    })
}

/// Idles for `ms` with the sampler running, and returns the span on the run clock.
fn idle(ms: u64) -> [u64; 2] {
    let start = clock::monotonic_ns();
    std::thread::sleep(Duration::from_millis(ms));
    [start, clock::monotonic_ns()]
}

/// The harness's whole per-invocation path: stamp, invoke, stamp, hand the row to the recorder. The overhead
/// benchmark (`harness bench`) times exactly this function against a bare wasmtime loop. Returns the latency
/// and status, for the batching pilot.
#[inline]
pub fn invoke_and_record(
    runtime: &mut dyn Runtime,
    cell: usize,
    mode: Mode,
    artifacts: &WorkloadArtifacts,
    input: &[u8],
    slot: SlotInfo,
    recorder: &mut Recorder,
) -> (u64, Status) {
    let start_ns = clock::monotonic_ns();
    let outcome = runtime.invoke(mode, artifacts, input);
    let end_ns = clock::monotonic_ns();
    let status = outcome.status();
    recorder.record(Measured {
        cell,
        slot,
        start_ns,
        end_ns,
        input_bytes: input.len() as u64,
        outcome,
    });
    (end_ns - start_ns, status)
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} slots ({eta} left)")
    {
        bar.set_style(style);
    }
    bar
}
