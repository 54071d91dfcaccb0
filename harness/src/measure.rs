//! `harness measure`: runs a plan and writes the run directory as it goes.
//!
//! A run is a [`Session`] taken through named steps, each of which leaves the run directory valid:
//! [`Session::prepare`] (everything that can fail before the first invocation) -> [`Session::start_energy`]
//! (sampler, calibration pattern, idle baseline) -> [`Session::run_slots`] (the shuffled schedule, warm cells
//! batched by the [`Batcher`] when a probe cannot resolve single invocations, cold cells in cold windows of K
//! complete cold starts with their teardown deferred past the window) -> [`Session::finish_energy`]
//! (idle baseline, stop the sampler, pair invocations with samples) -> [`Session::close`].

use crate::artifacts::WorkloadArtifacts;
use crate::batcher::{Batcher, pilot_invocations};
use crate::plan::Plan;
use crate::recorder::{CellLabel, Measured, Recorder, SlotInfo, Written, write_manifest};
use crate::runtime::setup;
pub use crate::runtime::setup::{Prepared, PreparedWorkload};
use crate::runtime::{Outcome, Runtime};
use crate::scheduler::{Schedule, Slot};
use anyhow::Context;
use harness_analysis::report::ReportOptions;
use harness_analysis::stats::precision::level_for;
use harness_data::{Manifest, Mode, RunStatus, Status};
use harness_probes::clock;
use harness_probes::model::ContainerLedger;
use harness_probes::open::{self, OpenProbe};
use harness_probes::sampler::Sampler;
use indicatif::{ProgressBar, ProgressStyle};
use precision::PrecisionRounds;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod energy;
mod load_levels;
mod manifest;
mod precision;

pub use manifest::engine_versions;
use manifest::{cell_labels, initial_manifest};

pub struct MeasureOptions {
    pub plan: PathBuf,
    pub out: PathBuf,
    pub artifacts: PathBuf,
    pub progress: bool,
    /// The device name recorded in the manifest (`host.device`); `None` leaves the hostname to name it.
    pub device: Option<String>,
    /// `${NAME}` values for the plan's paths (`--var NAME=VALUE`).
    pub vars: Vec<(String, String)>,
    /// `--precision`: sets or overrides the plan's `precision` target.
    pub precision: Option<f64>,
    /// `--baseline`: sets or overrides the plan's `baseline`.
    pub baseline: Option<String>,
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
    /// Load mode: levels written to load.csv.
    pub load_levels: Option<u64>,
}

/// The fewest batch windows a cell with an invocation budget gets: energy statistics count windows.
pub const MIN_WINDOWS: u32 = 10;

/// How long to wait for every probe's first sample before the idle baseline (a USB meter answers at 1 Hz).
const FIRST_SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the plan. `interrupted` is set by the handler of Ctrl-C, SIGTERM and SIGHUP
/// ([`crate::stop_signals`]); the run then stops after the invocation in flight, and the manifest says `partial`.
pub fn measure(options: &MeasureOptions, interrupted: &Arc<AtomicBool>) -> anyhow::Result<RunSummary> {
    Session::prepare(options)?.drive(interrupted, options.progress)
}

/// What a run made by another front end than a plan file (`harness run`) adds to [`measure_prepared`].
pub struct Extras {
    /// Each cell's repetitions back to back, cells in order (hyperfine's order), instead of the seeded shuffle.
    pub sequential: bool,
    /// Recorded in the manifest: what `harness run` was asked.
    pub exec: Option<harness_data::ExecRecord>,
    /// `harness run`'s run count: a cell measured in windows of K invocations stops once it has this many
    /// (in at least [`MIN_WINDOWS`] windows), rather than running `repetitions` windows of K.
    pub invocations_per_cell: Option<u32>,
    pub device: Option<String>,
}

/// Runs `plan` on runtimes and workloads already prepared, into `out`, as [`measure`] runs a plan file.
pub fn measure_prepared(
    plan: Plan,
    prepared: Prepared,
    out: &Path,
    extras: Extras,
    interrupted: &Arc<AtomicBool>,
    progress: bool,
) -> anyhow::Result<RunSummary> {
    crate::run_dir::check_free(out)?;
    Session::assemble(plan, prepared, out, extras, ContainerLedger::default())?.drive(interrupted, progress)
}

/// One run in progress.
struct Session {
    plan: Plan,
    out: PathBuf,
    workloads: Vec<PreparedWorkload>,
    runtimes: Vec<Box<dyn Runtime>>,
    schedule: Schedule,
    labels: Vec<CellLabel>,
    manifest: Manifest,
    /// Opened probes until the sampler takes them.
    probes: Vec<OpenProbe>,
    sampler: Option<Sampler>,
    /// Until the last row is written.
    recorder: Option<Recorder>,
    batcher: Batcher,
    /// Load levels written, when the plan has `[load]`.
    load_levels: Option<u64>,
    /// (runtime, workload) pairs whose warm state is prepared.
    prepared: HashSet<(usize, usize)>,
    /// Executed order of the next invocation.
    sequence: u64,
    /// The containers this run's runtimes start, for a harness-scoped model probe.
    containers: ContainerLedger,
    /// The plan's `precision`: looks and rounds after the first look.
    precision: Option<PrecisionRounds>,
    /// [`Extras::invocations_per_cell`], and the measured slots of each cell so far.
    invocations_per_cell: Option<u32>,
    measured_slots: Vec<u32>,
}

impl Session {
    /// Everything that can fail does so here, before the first invocation: plan, artifacts, inputs,
    /// runtimes, probes. Writes the manifest as `partial`.
    fn prepare(options: &MeasureOptions) -> anyhow::Result<Session> {
        let mut plan = Plan::load_with_vars(&options.plan, &options.vars)?;
        crate::plan::precision::apply_cli(&mut plan, options.precision, options.baseline.as_deref())
            .map_err(anyhow::Error::msg)?;
        crate::run_dir::check_free(&options.out)?;
        let containers = ContainerLedger::default();
        let prepared = setup::prepare(&mut plan, &options.artifacts, &containers)?;
        crate::runtime::instance_memory::check_instance_memory(&options.plan, &plan, &prepared.workloads)?;
        let extras = Extras {
            sequential: false,
            exec: None,
            invocations_per_cell: None,
            device: options.device.clone(),
        };
        Session::assemble(plan, prepared, &options.out, extras, containers)
    }

    /// The rest of [`Session::prepare`], from prepared runtimes: probes, schedule, the run directory claimed,
    /// manifest and recorder.
    fn assemble(
        plan: Plan,
        prepared: Prepared,
        out: &Path,
        extras: Extras,
        containers: ContainerLedger,
    ) -> anyhow::Result<Session> {
        let Prepared {
            workloads,
            runtimes,
            skipped,
        } = prepared;
        let out = out.to_path_buf();
        let probes =
            open::open_probes(&plan.probes, &containers).context("a probe cannot start, so nothing was measured")?;
        let schedule = if extras.sequential {
            Schedule::sequential(&plan)
        } else {
            Schedule::new(&plan)
        };
        // Atomic: of two runs into one folder, one stops here; an older run's files are never taken for ours.
        crate::run_dir::claim(&out)?;
        let mut manifest = initial_manifest(&plan, &workloads, &probes, &schedule)?;
        manifest.skipped = skipped;
        manifest.host.device = extras.device;
        manifest.exec = extras.exec.clone();
        write_manifest(&out, &manifest)?;
        let labels = cell_labels(&plan, &schedule);
        let cells = labels.len();
        let recorder = Recorder::create(&out, labels.clone())?;
        recorder.track_manifest(&out, &manifest)?;
        let precision = plan.precision.clone().map(|p| {
            let level = level_for(p.mode, ReportOptions::default().level, p.looks.len());
            PrecisionRounds::new(p, level, &labels, plan.seed)
        });
        let coarsest = probes
            .iter()
            .flat_map(|p| p.manifest.channels.iter())
            .map(|c| c.update_period_ns)
            .max()
            .unwrap_or(0);
        Ok(Session {
            plan,
            out,
            workloads,
            runtimes,
            schedule,
            labels,
            manifest,
            probes,
            sampler: None,
            recorder: Some(recorder),
            batcher: Batcher::new(coarsest),
            prepared: HashSet::new(),
            load_levels: None,
            sequence: 0,
            containers,
            measured_slots: vec![0; cells],
            invocations_per_cell: extras.invocations_per_cell.filter(|_| precision.is_none()),
            precision,
        })
    }

    /// Measures: energy started, the schedule (then precision's rounds and load levels), the runtimes closed,
    /// rows written, energy paired, the manifest closed.
    fn drive(mut self, interrupted: &Arc<AtomicBool>, progress: bool) -> anyhow::Result<RunSummary> {
        self.start_energy()?;
        let mut stop = self.run_slots(interrupted, progress);
        if stop.is_none() {
            stop = self.run_precision(interrupted, progress);
        } else if let Some(rounds) = self.precision.as_mut() {
            rounds.interrupted();
            self.manifest.precision = Some(rounds.record());
        }
        if stop.is_none() {
            stop = self.run_load(interrupted);
        }
        for (runtime, name) in self.runtimes.iter().zip(&self.plan.runtime_names) {
            if let Some(facts) = runtime.browser_facts() {
                self.manifest.browsers.insert(name.clone(), facts);
            }
        }
        // `--cleanup` runs whatever stopped the run; its failure is the run's when nothing else failed first.
        for runtime in &mut self.runtimes {
            if let Some(why) = runtime.close()
                && !matches!(stop, Some((RunStatus::Failed, _)))
            {
                stop = Some((RunStatus::Failed, why));
            }
        }
        // The idle baseline after the run is the machine's: warm pages, node servers and containers go first.
        self.runtimes.clear();
        let written = self.finish_recording()?;
        // Rows travel in batches, so a mismatch is often found only once the last ones are written.
        let (mut status, mut reason) = match (stop, written.failure.clone()) {
            (Some((RunStatus::Failed, why)), _) => (RunStatus::Failed, Some(why)),
            (_, Some(why)) => (RunStatus::Failed, Some(why)),
            (Some((status, why)), None) => (status, Some(why)),
            (None, None) => (RunStatus::Complete, None),
        };
        // A run that cannot be paired (a full disk) still closes, saying why, rather than staying `running`.
        let paired_rows = self.finish_energy(status).unwrap_or_else(|e| {
            let why = format!("pairing invocations with samples: {e:#}");
            reason = Some(reason.take().map_or(why.clone(), |r| format!("{r}; then {why}")));
            status = RunStatus::Failed;
            None
        });
        self.close(status, reason, &written, paired_rows)
    }

    /// Runs the schedule until its end, a stop signal, or a digest mismatch or write error. Returns why it
    /// stopped early.
    fn run_slots(&mut self, interrupted: &AtomicBool, progress: bool) -> Option<(RunStatus, String)> {
        let slots = std::mem::take(&mut self.schedule.slots);
        if let Some(rounds) = self.precision.as_mut() {
            rounds.start_clock();
        }
        let stop = self.run_these(&slots, interrupted, progress, false);
        self.schedule.slots = slots;
        stop
    }

    /// Runs `slots` in order until their end, a stop signal, or a digest mismatch or write error (returns
    /// why it stopped early); with `on_the_clock`, also until the precision budget's time runs out (returns
    /// `None`: the look after it says so).
    fn run_these(
        &mut self,
        slots: &[Slot],
        interrupted: &AtomicBool,
        progress: bool,
        on_the_clock: bool,
    ) -> Option<(RunStatus, String)> {
        let progress = progress_bar(progress, slots.len() as u64);
        let mut stop = None;
        for slot in slots {
            if on_the_clock && self.precision.as_ref().is_some_and(PrecisionRounds::out_of_time) {
                break;
            }
            if self.over_budget(slot) {
                continue;
            }
            if interrupted.load(Ordering::Relaxed) {
                stop = Some((
                    RunStatus::Partial,
                    format!(
                        "interrupted ({}) before every invocation ran",
                        crate::stop_signals::received_name()
                    ),
                ));
                break;
            }
            if let Some(failure) = self.recorder().failure() {
                stop = Some((RunStatus::Failed, failure));
                break;
            }
            self.run_slot(slot);
            if let Some(why) = self.runtimes[self.schedule.cells[slot.cell].runtime].failure() {
                stop = Some((RunStatus::Failed, why));
                break;
            }
            if !slot.warmup {
                self.measured_slots[slot.cell] += 1;
                if let Some(rounds) = self.precision.as_mut() {
                    rounds.units[slot.cell] += 1;
                }
            }
            progress.inc(1);
            if self.plan.cooldown_ms > 0 {
                crate::stop_signals::sleep_unless_stopped(Duration::from_millis(self.plan.cooldown_ms), interrupted);
            }
        }
        progress.finish_and_clear();
        // A signal in the last invocation stopped it too (a run that sees it kills its command): not complete.
        if stop.is_none() && interrupted.load(Ordering::SeqCst) {
            let why = format!(
                "interrupted ({}) in the last slot",
                crate::stop_signals::received_name()
            );
            stop = Some((RunStatus::Partial, why));
        }
        stop
    }

    /// Whether `slot` is past its cell's invocation budget ([`Extras::invocations_per_cell`]).
    fn over_budget(&self, slot: &Slot) -> bool {
        match (self.invocations_per_cell, self.batcher.size_of(slot.cell)) {
            (Some(budget), Some(size)) if !slot.warmup && size > 1 => {
                self.measured_slots[slot.cell] >= windows_for(budget, size, self.plan.repetitions)
            }
            _ => false,
        }
    }

    /// One slot between its runtime's untimed work before and after it (`harness run`'s hooks, browsers' freeze).
    fn run_slot(&mut self, slot: &Slot) {
        let cell = &self.schedule.cells[slot.cell];
        let runtime = cell.runtime;
        self.runtimes[runtime].before_slot(&self.workloads[cell.workload].artifacts);
        if self.runtimes[runtime].failure().is_none() {
            self.run_slot_timed(slot);
            self.runtimes[runtime].after_slot();
        }
    }

    /// One slot: prepares a warm cell on first use, sizes its batch with a pilot, then runs one invocation or
    /// one batch window.
    fn run_slot_timed(&mut self, slot: &Slot) {
        let cell = self.schedule.cells[slot.cell].clone();
        if cell.mode == Mode::Warm
            && self.prepared.insert((cell.runtime, cell.workload))
            && let Err(e) = self.runtimes[cell.runtime].prepare_warm(&self.workloads[cell.workload].artifacts)
        {
            let now = clock::monotonic_ns();
            let outcome = Outcome::failed(
                Default::default(),
                Status::Error,
                format!("preparing warm invocations: {e:#}"),
            );
            let info = self.next_slot_info(slot.iteration, slot.warmup, None);
            self.recorder().record(Measured {
                cell: slot.cell,
                slot: info,
                start_ns: now,
                end_ns: now,
                input_bytes: 0,
                outcome,
            });
            return;
        }
        let batchable = self.batcher.enabled() && self.runtimes[cell.runtime].batchable();
        let batch_size = if slot.warmup || !batchable {
            1
        } else {
            match self.batcher.size_of(slot.cell) {
                Some(size) => size,
                None => self.pilot(slot.cell),
            }
        };
        let cold_window = cell.mode == Mode::Cold && batchable && !slot.warmup;
        if cold_window {
            let runtime = self.runtimes[cell.runtime].as_mut();
            runtime.defer_teardown(&self.workloads[cell.workload].artifacts);
        }
        if batch_size == 1 {
            let info = self.next_slot_info(slot.iteration, slot.warmup, None);
            self.invoke(slot.cell, info);
        } else {
            self.run_batch(slot, batch_size);
        }
        if cold_window {
            // After the window, and after any wait for the writer: not timed, in no window.
            self.recorder().settle();
            self.runtimes[cell.runtime].finish_teardown();
        }
    }

    /// A few timed invocations (kept, as warm-up rows) size the cell's batch. Cold ones run as in their
    /// window: teardown deferred where the runtime allows, so the pilot times what the window will hold.
    fn pilot(&mut self, cell: usize) -> u32 {
        let mut pilot = Vec::new();
        let (mode, runtime, workload) = {
            let c = &self.schedule.cells[cell];
            (c.mode, c.runtime, c.workload)
        };
        let mut teardown = None;
        let pilot_length = pilot_invocations(mode);
        for i in 0..pilot_length {
            if mode == Mode::Cold {
                teardown = Some(self.runtimes[runtime].defer_teardown(&self.workloads[workload].artifacts));
            }
            let info = self.next_slot_info(self.plan.warmup + i, true, None);
            if let (latency, Status::Ok) = self.invoke(cell, info) {
                pilot.push(latency as f64);
            }
            if mode == Mode::Cold {
                self.runtimes[runtime].finish_teardown();
            }
        }
        let size = self.batcher.decide(cell, &self.labels[cell].key, pilot, teardown);
        self.manifest.scheduled_invocations += u64::from(pilot_length);
        if size > 1 {
            let windows = match self.invocations_per_cell {
                Some(budget) => windows_for(budget, size, self.plan.repetitions),
                None => self.plan.repetitions,
            };
            self.manifest.scheduled_invocations = (self.manifest.scheduled_invocations
                + u64::from(size) * u64::from(windows))
            .saturating_sub(u64::from(self.plan.repetitions));
        }
        size
    }

    /// A batch window: `size` invocations back to back (warm calls, or complete cold starts), each doing no
    /// more than its two clock reads and one row handed to the recorder, so the window stays busy with the
    /// cell's work.
    fn run_batch(&mut self, slot: &Slot, size: u32) {
        let cell = &self.schedule.cells[slot.cell];
        let runtime = self.runtimes[cell.runtime].as_mut();
        let workload = &self.workloads[cell.workload];
        let input = &workload.inputs[cell.input];
        let first = self.sequence;
        for k in 0..u64::from(size) {
            let info = SlotInfo {
                iteration: slot.iteration,
                warmup: false,
                sequence: first + k,
                batch: Some(first),
            };
            invoke_and_record(
                runtime,
                slot.cell,
                cell.mode,
                &workload.artifacts,
                input,
                info,
                self.recorder.as_mut().expect("recording"),
            );
        }
        self.sequence += u64::from(size);
        // Any wait for the writer comes after the window, not inside it.
        self.recorder().settle();
    }

    fn next_slot_info(&mut self, iteration: u32, warmup: bool, batch: Option<u64>) -> SlotInfo {
        let sequence = self.sequence;
        self.sequence += 1;
        SlotInfo {
            iteration,
            warmup,
            sequence,
            batch,
        }
    }

    fn invoke(&mut self, cell_index: usize, info: SlotInfo) -> (u64, Status) {
        let cell = &self.schedule.cells[cell_index];
        let workload = &self.workloads[cell.workload];
        invoke_and_record(
            self.runtimes[cell.runtime].as_mut(),
            cell_index,
            cell.mode,
            &workload.artifacts,
            &workload.inputs[cell.input],
            info,
            self.recorder.as_mut().expect("recording"),
        )
    }

    fn recorder(&mut self) -> &mut Recorder {
        self.recorder.as_mut().expect("recording")
    }

    /// Waits for the writer to write every row.
    fn finish_recording(&mut self) -> anyhow::Result<Written> {
        self.recorder.take().expect("recording").finish()
    }

    /// Writes the final manifest.
    fn close(
        mut self,
        status: RunStatus,
        reason: Option<String>,
        written: &Written,
        paired_rows: Option<usize>,
    ) -> anyhow::Result<RunSummary> {
        self.manifest.status = status;
        self.manifest.status_reason = reason.clone();
        self.manifest.finished_unix_ns = Some(clock::unix_ns());
        self.manifest.recorded_invocations = written.rows;
        // The space held back since the claim: on a full disk, the last manifest still fits.
        crate::run_dir::release_reserve(&self.out);
        write_manifest(&self.out, &self.manifest)?;
        Ok(RunSummary {
            status,
            reason,
            rows: written.rows,
            failed_rows: written.failed_rows,
            scheduled: self.manifest.scheduled_invocations,
            paired_rows,
            energy_estimated: self.manifest.energy_estimated,
            load_levels: self.load_levels,
        })
    }
}

/// Windows of `size` invocations that give a cell about `budget` invocations, at least [`MIN_WINDOWS`] and at
/// most the `repetitions` scheduled.
fn windows_for(budget: u32, size: u32, repetitions: u32) -> u32 {
    budget.div_ceil(size).max(MIN_WINDOWS).min(repetitions)
}

/// The harness's whole per-invocation path: stamp, invoke, stamp, hand the row to the recorder (which waits
/// for a writer that fell behind only here, after the end stamp). The overhead benchmark (`harness bench`)
/// times exactly this function against a bare wasmtime loop. Returns the latency and status, for the batching
/// pilot.
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
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} slots ({eta} left)");
    match (enabled, style) {
        (false, _) => ProgressBar::hidden(),
        (true, Ok(style)) => ProgressBar::new(total).with_style(style),
        (true, Err(_)) => ProgressBar::new(total),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_invocation_budget_gives_enough_windows_and_no_more_than_scheduled() {
        // 200 runs of a command run 200 to a window: the 10 windows energy statistics need.
        assert_eq!(super::windows_for(200, 200, 200), 10);
        assert_eq!(super::windows_for(200, 7, 200), 29);
        // Never more windows than the schedule holds.
        assert_eq!(super::windows_for(8, 12, 8), 8);
    }
}
